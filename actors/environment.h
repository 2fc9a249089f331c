/*  sbx_environment - the environment actor: the request ROUTER frontend,
    the pool (SPEC §4), sessions, tokens and leases (PROTOCOL.md), and the
    parent of the event bus and supervisor actors.

    It decodes requests, checks tokens, picks sandboxes round robin from a
    ready bitmap, queues waiting acquires in FIFO order and serves them the
    moment a sandbox reports ready, forwards calls to the owning sandbox
    actor (one inproc hop) and routes the answer back by the client's
    envelope. It never blocks on another actor.

    Created by sbxd: sbx_actor_new (sbx_environment_actor, config); the config
    must outlive the actor.
    Pipe commands:
        "START"     bind the endpoints and start the pool; answers
                    "OK" <requests endpoint> <events endpoint> <metrics
                    URL, "" when metrics are off>, or
                    "ERROR" <message> (nothing is left running)
        "SHUTDOWN"  begin a graceful shutdown (as the `shutdown` op does)
        "ABORT"     the shutdown took too long: publish environment.shutdown
                    with a ShutdownTimeout error naming the sandboxes not
                    yet offline, wait (2 s at most) until the event bus has
                    published and logged everything, and answer "ABORTED"
                    <their ids, space-separated>; the caller then exits
                    without waiting for those sandboxes' threads
        $TERM       end; only after "DONE" (or a failed START)
    Messages it sends on its own:
        "STOPPING"           a shutdown has begun (whoever asked for it)
        "DONE" <exit code>   the environment is offline and every event has
                             been handed to the event bus; 0 after a
                             graceful shutdown, 1 when it failed to start or
                             went offline after an outage
*/
#ifndef SBX_ENVIRONMENT_H
#define SBX_ENVIRONMENT_H

#include <czmq.h>

void
    sbx_environment_actor (zsock_t *pipe, void *args);

#endif
