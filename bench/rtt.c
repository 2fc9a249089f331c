/*  bench_rtt - see bench/rtt.h */
#include "bench/rtt.h"
#include "bench/versus.h"

void
bench_rtt_run (void)
{
    printf ("\n1. call round trip (one client, one session, back-to-back calls)\n");
    size_t sizes [] = {64, 1024};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes [0]; s++) {
        char code [2048];
        bench_code (code, sizes [s]);
        bench_versus_t setup = {
            .clients = 1, .proactive = true, .mode = BENCH_CALLS, .code = code,
            .duration_us = 60000000, .max_ops = bench_quick () ? 3000 : 20000, .rounds = 10
        };
        bench_turn_t sbx, echo;
        if (!bench_versus_run (&setup, &sbx, &echo))
            continue;
        bench_samples_t *calls = &sbx.load.latency [BENCH_OP_CALL];
        bench_samples_t *echoes = &echo.load.latency [BENCH_OP_CALL];
        double p50 = bench_percentile (calls, 0.5);
        double echo_p50 = bench_percentile (echoes, 0.5);
        bench_row ("us", p50, echo_p50, "<= 1.2x echo", p50 <= 1.2 * echo_p50,
                   "call p50, %zu B code", sizes [s]);
        bench_row ("us", bench_percentile (calls, 0.99), bench_percentile (echoes, 0.99), NULL, false,
                   "call p99, %zu B code", sizes [s]);
        bench_load_free (&sbx.load);
        bench_load_free (&echo.load);
    }
}
