/*  bench_curve - section 11, CURVE (docs/security.md): the same load on
    two daemons of the same configuration, one with `security` (CURVE on
    its sockets, one listed client key) and one without, in alternating
    rounds, so that the cost of the encryption and the ZAP check shows as
    a ratio. One client making back-to-back calls (64 B code): call p50
    with CURVE beside it without (target <= 1.15x) and p99; 32 clients,
    one call in flight each, on 32 sandboxes: calls/s beside without
    (target >= 0.85x), p99, and sbxd's CPU and wake-ups per call.
*/
#ifndef BENCH_CURVE_H
#define BENCH_CURVE_H

void
    bench_curve_run (void);

#endif
