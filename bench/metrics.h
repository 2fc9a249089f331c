/*  bench_metrics - section 10, metrics: what recording them costs, and what
    a scrape costs (docs/metrics.md). Two daemons alike but for
    endpoints.metrics (on, and null: nothing recorded), each with a pool
    of C testing sandboxes and C clients in their sessions, in alternating
    rounds. Rows, metrics on beside off: call p50 with 1 client (target
    <= 1.03x off), calls/s with 32 clients (target >= 0.97x off), their
    p50 and p99, and sbxd's CPU and wake-ups per call. Then a pool of
    1,000 testing sandboxes with one testing feature, after sessions with
    calls and user errors: the time of a scrape of its figures (p50 and
    the slowest, target < 100 ms) beside a GET the endpoint answers 404,
    and the scrape's size.
*/
#ifndef BENCH_METRICS_H
#define BENCH_METRICS_H

void
    bench_metrics_run (void);

#endif
