/*  bench_scale - see bench/scale.h */
#include "bench/scale.h"
#include "bench/harness.h"
#include "bench/baselines.h"

void
bench_scale_run (void)
{
    printf ("\n4. scale (pools of testing sandboxes with one testing feature)\n");
    unsigned sizes [] = {100, 1000, 5000};
    size_t count = bench_quick () ? 2 : 3;
    sbx_test_daemon_t *empty = bench_daemon_testing (0, true, true, BENCH_JOURNAL_DEFAULT, 30000);
    long base_rss = empty ? bench_rss_kib (empty->pid) : 0;
    bench_daemon_stop (&empty);
    for (size_t i = 0; i < count; i++) {
        unsigned n = sizes [i];
        int64_t start = bench_now_us ();
        sbx_test_daemon_t *daemon = bench_daemon_testing (n, true, true, BENCH_JOURNAL_DEFAULT, 120000);
        double ready_ms = (double) (bench_now_us () - start) / 1e3;
        if (!daemon)
            continue;
        long rss = bench_rss_kib (daemon->pid);
        start = bench_now_us ();
        int code = sbx_test_daemon_shutdown (daemon);
        double stop_ms = (double) (bench_now_us () - start) / 1e3;
        sbx_test_daemon_destroy (&daemon);
        bench_actors_t actors = bench_bare_actors (n);

        bench_row ("ms", ready_ms, actors.start_ms, n == 1000 ? "<= 300 ms" : NULL, ready_ms <= 300,
                   "%u sandboxes: start to online", n);
        double per = (double) (rss - base_rss) / n;
        bench_row ("KiB", per, (double) actors.rss_kib / n, n == 5000 ? "<= 64 KiB" : NULL, per <= 64,
                   "%u sandboxes: RSS per sandbox", n);
        bench_row ("ms", stop_ms, actors.stop_ms, n == 5000 ? "<= 2000 ms" : NULL, stop_ms <= 2000,
                   "%u sandboxes: shutdown (exit %d)", n, code);
    }
}
