/*  sbx_sandbox - the sandbox actor: one thread per sandbox, running the
    lifecycle of SPEC §3 exactly (start, acquire, sessions, calls,
    housekeeping, shutdown), one message at a time.

    Started by the supervisor on a thread of its own, with one end of a
    PAIR pipe (a raw libzmq socket, which czmq's zstr and zsock_signal take
    as they are) and the sbx_spawn_t, which it owns from then on. It
    signals once when it has set up (the handshake), then
    once more: 0 when its DEALER to the environment is
    connected, 1 when it could not be created (then it only waits for
    $TERM). It then starts itself (§3.1) and sends the environment an
    SBX_JOB_START job with the result.

    Pipe (supervisor):
        $TERM                end the thread; the sandbox must be offline
                             already (the environment makes sure) - if it
                             is not, it is shut down first.
    DEALER (environment, identity = sandbox id): sbx_job_t pointers, see
    actors/proto.h. Every job gets exactly one answer (the same job). When
    an answer can be given before the work is over (the next session's
    proactive setup, the shutdown after a critical error), it is sent first
    and the rest is reported by an SBX_JOB_NOTICE.
*/
#ifndef SBX_SANDBOX_H
#define SBX_SANDBOX_H

#include <czmq.h>

void
    sbx_sandbox_actor (void *pipe, void *args);

#endif
