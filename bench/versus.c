/*  bench_versus - see bench/versus.h */
#include "bench/versus.h"
#include "bench/baselines.h"

bool
bench_versus_run (const bench_versus_t *setup, bench_turn_t *sbx, bench_turn_t *echo)
{
    sbx_test_daemon_t *daemon = bench_daemon_testing ((unsigned) setup->clients, setup->proactive,
                                                      setup->feature, BENCH_JOURNAL_DEFAULT, 60000);
    if (!daemon)
        return false;
    bench_echo_t *server = bench_echo_new (setup->clients);
    if (!server) {
        bench_daemon_stop (&daemon);
        return false;
    }
    bench_turn_t turns [2] = {
        {.clients = bench_clients_new (setup->clients, setup->shared, false, daemon->requests),
         .mode = setup->mode, .pid = daemon->pid},
        {.clients = bench_clients_new (setup->clients, setup->shared, true,
                                       bench_echo_endpoint (server)),
         .mode = BENCH_CALLS, .pid = bench_echo_pid (server)}
    };
    //  A session that fails to open shows in the rows as errors.
    if (setup->mode == BENCH_CALLS)
        bench_clients_open (turns [0].clients);
    bench_clients_turns (turns, 2, setup->code, setup->duration_us, setup->max_ops, setup->rounds);
    bench_clients_destroy (&turns [0].clients);
    bench_clients_destroy (&turns [1].clients);
    *sbx = turns [0];
    *echo = turns [1];
    bench_echo_destroy (&server);
    bench_daemon_stop (&daemon);
    return true;
}
