/*  sbx_init_kill - finding the processes below sbx-init and killing
    process trees (protocol.h: KILL, KILL_ALL).

    sbx-init is a child subreaper, so everything its commands start stays
    below it. The processes are found by walking the children lists of
    /proc from sbx-init down (so the cost follows the sandbox's processes,
    not the host's), or, on a kernel without them, by reading every
    process of /proc and following the parent links.

    Functions only; part of sbx-init, single-threaded.
*/
#ifndef SBX_INIT_KILL_H
#define SBX_INIT_KILL_H

#include <stdint.h>
#include <sys/types.h>

//  SIGKILLs, until none is left, every process below sbx-init (root <= 0)
//  or the tree of command `root` (protocol.h: KILL): its session, its
//  process group, every descendant still attached, and the sessions and
//  groups of everything killed on the way. Calls `reap` after each pass,
//  so that the dead are collected. Returns how many were killed, or -1
//  when some survived 5 s.
int
    sbx_init_kill (pid_t root, void (*reap) (void));

#endif
