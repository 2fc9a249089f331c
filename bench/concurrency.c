/*  bench_concurrency - see bench/concurrency.h */
#include "bench/concurrency.h"
#include "bench/versus.h"

void
bench_concurrency_run (void)
{
    printf ("\n2. concurrency (C clients, one request in flight each, pool of C)\n");
    int levels [] = {1, 8, 32, 128};
    char code [64];
    bench_code (code, sizeof code);
    for (size_t l = 0; l < sizeof levels / sizeof levels [0]; l++) {
        int count = levels [l];
        bench_versus_t setup = {
            .clients = count, .proactive = true, .mode = BENCH_CALLS, .code = code,
            .duration_us = bench_quick () ? 500000 : 2000000, .rounds = 4
        };
        bench_turn_t sbx, echo;
        if (!bench_versus_run (&setup, &sbx, &echo))
            continue;
        bool target = count == 32;
        double rate = bench_load_rate (&sbx.load);
        double echo_rate = bench_load_rate (&echo.load);
        bench_row ("/s", rate, echo_rate, target ? ">= 0.7x echo" : NULL, rate >= 0.7 * echo_rate,
                   "%d clients: calls/s", count);
        bench_samples_t *calls = &sbx.load.latency [BENCH_OP_CALL];
        bench_samples_t *echoes = &echo.load.latency [BENCH_OP_CALL];
        bench_row ("us", bench_percentile (calls, 0.5), bench_percentile (echoes, 0.5), NULL, false,
                   "%d clients: p50", count);
        double p99 = bench_percentile (calls, 0.99);
        double echo_p99 = bench_percentile (echoes, 0.99);
        bench_row ("us", p99, echo_p99, target ? "<= 2x echo" : NULL, p99 <= 2 * echo_p99,
                   "%d clients: p99", count);
        bench_row ("us", bench_percentile (calls, 0.999), bench_percentile (echoes, 0.999), NULL, false,
                   "%d clients: p999", count);
        char who [32];
        snprintf (who, sizeof who, "%d clients", count);
        bench_row_usage (who, "call", sbx.usage, (double) sbx.load.done,
                         echo.usage, (double) echo.load.done);
        bench_row ("", (double) sbx.load.errors, 0, target ? "0" : NULL, sbx.load.errors == 0,
                   "%d clients: errors", count);
        bench_load_free (&sbx.load);
        bench_load_free (&echo.load);
    }
}
