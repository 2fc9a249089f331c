/*  bench_growth - section 7, cost growth: 8 clients, each in its session
    with one call in flight, on pools of 10, 100 and 1,000 testing
    sandboxes that run side by side and take turns in 4 rounds. Rows per
    pool: calls/s beside pool 10's (target: >= 0.9x pool 10; faster is
    noise, not growth) and call p50.
*/
#ifndef BENCH_GROWTH_H
#define BENCH_GROWTH_H

void
    bench_growth_run (void);

#endif
