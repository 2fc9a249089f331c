/*  bench_growth - see bench/growth.h */
#include "bench/growth.h"
#include "bench/clients.h"

#include <math.h>

#define S_POOLS 3

void
bench_growth_run (void)
{
    printf ("\n7. cost growth (8 clients in session, pools of 10, 100, 1000)\n");
    unsigned sizes [S_POOLS] = {10, 100, 1000};
    char code [64];
    bench_code (code, sizeof code);
    sbx_test_daemon_t *daemons [S_POOLS] = {NULL, NULL, NULL};
    bench_turn_t turns [S_POOLS];
    memset (turns, 0, sizeof turns);
    bool ready = true;
    for (size_t i = 0; i < S_POOLS && ready; i++) {
        daemons [i] = bench_daemon_testing (sizes [i], true, false, BENCH_JOURNAL_DEFAULT, 60000);
        ready = daemons [i] != NULL;
        if (ready) {
            turns [i].clients = bench_clients_new (8, false, false, daemons [i]->requests);
            turns [i].mode = BENCH_CALLS;
            ready = bench_clients_open (turns [i].clients);
        }
    }
    if (ready)
        bench_clients_turns (turns, S_POOLS, code, bench_quick () ? 500000 : 2000000, 0, 4);
    double first = ready ? bench_load_rate (&turns [0].load) : NAN;
    for (size_t i = 0; ready && i < S_POOLS; i++) {
        double rate = bench_load_rate (&turns [i].load);
        bench_row ("/s", rate, first, i ? ">= 0.9x pool 10" : NULL, rate >= 0.9 * first,
                   "pool %u: calls/s", sizes [i]);
        bench_row ("us", bench_percentile (&turns [i].load.latency [BENCH_OP_CALL], 0.5), NAN,
                   NULL, false, "pool %u: call p50", sizes [i]);
    }
    for (size_t i = 0; i < S_POOLS; i++) {
        bench_load_free (&turns [i].load);
        bench_clients_destroy (&turns [i].clients);
        bench_daemon_stop (&daemons [i]);
    }
}
