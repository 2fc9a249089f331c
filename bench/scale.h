/*  bench_scale - section 4, scale: pools of 100, 1,000 and (not in QUICK
    mode) 5,000 testing sandboxes with one testing feature, beside as many
    bare czmq actors. Rows per pool: start to online (target at 1,000:
    <= 300 ms), RSS per sandbox over an empty pool's daemon (target at
    5,000: <= 64 KiB), and the shutdown with its exit code (target at
    5,000: <= 2 s). It runs last.
*/
#ifndef BENCH_SCALE_H
#define BENCH_SCALE_H

void
    bench_scale_run (void);

#endif
