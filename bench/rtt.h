/*  bench_rtt - section 1, call round trip: one client in one session
    makes back-to-back calls carrying 64 B and 1 KiB of code, beside the
    same calls to the echo, in 10 alternating rounds. Rows: call p50
    (target <= 1.2x echo) and p99, per size.
*/
#ifndef BENCH_RTT_H
#define BENCH_RTT_H

void
    bench_rtt_run (void);

#endif
