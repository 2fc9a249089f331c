/*  bench_limits - section 8, the bounds of a daemon no client can exhaust
    (docs/configuration.md "limits"): each scenario runs against a fresh
    sbxd and prints its peak (or resident) memory beside the same daemon's
    idle figure, with the bound as the target:
    - four clients sending a 256 MiB body each at once, limit 1 MiB:
      peak rise <= 32 MiB;
    - 1,250 events.replay requests never read: peak rise <= 64 MiB, and
      back within 8 MiB once the client has gone;
    - 4,000 pipelined calls of 64 KiB on one session: peak rise <= 64 MiB;
    - 50 fs.write of 4 MiB (event log on): peak rise <= 32 MiB, the log
      grows <= 1 MiB, events.replay of 10 answers in < 50 ms;
    - 20 subscribers that never read: peak rise <= 16 MiB, and back within
      8 MiB once they have closed.
*/
#ifndef BENCH_LIMITS_H
#define BENCH_LIMITS_H

void
    bench_limits_run (void);

#endif
