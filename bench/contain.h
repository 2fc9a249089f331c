/*  bench_contain - section 8, containment (docs/sandboxes.md "cgroups",
    "A clean slate"), three measures, each beside its floor in the same
    run:

    - `shell.run echo hi` in a bwrap sandbox with every containment limit
      on (a cgroup with memory, pids and cpu, a tmpfs disk quota) beside
      the same run in one with `limits: null`, alternating in rounds of
      10 commands (target: p50 <= 1.1x); and, for scale, a session's end
      and the next one's open (kill, empty every writable path, clean
      IPC) in each;
    - bringing up N bwrap sandboxes (1,000; 200 in QUICK) with cgroups
      (memory, pids, cpu), beside N bare `bwrap --unshare-all ... true`
      started at once (target: ready within 1.1x the floor), and their
      shutdown (target: within 2 s) beside N bare bwraps running `sleep`
      killed at once; the floors and sbxd take turns, twice (once in
      QUICK), and the best of each counts;
    - memory per bwrap sandbox as PSS (smaps_rollup) of sbxd and every
      process below it, divided by N: bwrap, sbx-init and sbxd's share
      (target: < 512 KiB).
*/
#ifndef BENCH_CONTAIN_H
#define BENCH_CONTAIN_H

void
    bench_contain_run (void);

#endif
