/*  bench_interpreter - section 9, the python feature: `python.exec` of
    `x += 1` in an open session on a process sandbox (isolation none),
    beside the echo round trip with one hop (what any remote call pays
    before it runs) and beside `shell.run python3 -c pass` (a fresh
    interpreter per command, what a stateless sandbox pays), alternating
    in rounds. Rows: the p50 of the exec beside each (targets: <= 3x the
    echo round trip, <= 0.1x a fresh python3), and the baselines.
*/
#ifndef BENCH_INTERPRETER_H
#define BENCH_INTERPRETER_H

void
    bench_interpreter_run (void);

#endif
