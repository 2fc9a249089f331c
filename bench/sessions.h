/*  bench_sessions - section 3, sessions: C clients (1, 8, 32, and 32
    pipelining over one socket) loop session.open -> call -> session.end
    on a pool of C testing sandboxes with one testing feature, with
    proactive session setup on, then off, beside the echo making three
    round trips per "session", in 4 alternating rounds. Rows per variant:
    sessions/s (target at 32 with proactive setup: >= 25,000/s), the p50
    of each op, sbxd CPU and wake-ups per session beside the echo
    server's, and failed ops (target there: none). Last, for scale, the
    echo with no hop beside the echo with one, 32 clients on one socket.
*/
#ifndef BENCH_SESSIONS_H
#define BENCH_SESSIONS_H

void
    bench_sessions_run (void);

#endif
