/*  bench_concurrency - section 2, concurrency: C clients (1, 8, 32, 128),
    each in its session with one call in flight, on a pool of C, beside
    the echo with C workers, in 4 alternating rounds. Rows per C: calls/s
    (target at 32: >= 0.7x echo), p50, p99 (target at 32: <= 2x echo),
    p999, sbxd CPU and wake-ups per call beside the echo server's, and
    errors (target at 32: none).
*/
#ifndef BENCH_CONCURRENCY_H
#define BENCH_CONCURRENCY_H

void
    bench_concurrency_run (void);

#endif
