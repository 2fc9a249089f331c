/*  bench_commands - section 6, real commands: `echo hi` through shell.run
    in a process sandbox (isolation none, then bwrap) beside spawning it
    directly (posix_spawn with a pipe; for bwrap, a shell loop already
    running in a bwrap namespace), each measure and its baseline
    alternating in rounds of 10 commands. Rows: the p50 of each (targets
    <= 1.15x posix_spawn, <= 1.3x spawn in namespace) and, for scale, a
    fresh bwrap per command and the echo round trip with one hop that any
    remote command pays before it runs; then what sbx adds over the spawn
    (shell.run p50 minus the spawn's), streamed and not, beside that echo
    round trip (target <= 1.5x).
*/
#ifndef BENCH_COMMANDS_H
#define BENCH_COMMANDS_H

void
    bench_commands_run (void);

#endif
