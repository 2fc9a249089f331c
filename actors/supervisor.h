/*  sbx_supervisor - the parent of every sandbox actor. It starts them,
    joins and frees them once they have finished, and at its own end joins
    whatever is left. It never blocks the environment: creating and joining
    threads happens here.

    Created by the environment: sbx_actor_new (sbx_supervisor_actor, NULL).
    Pipe commands:
        "SPAWN" [ptr sbx_spawn_t]  start a sandbox actor (takes the spawn);
                                   answers "SPAWNED" <slot index> <ok 1|0>
        "REAP" <sandbox id>        $TERM the actor and join it (no answer);
                                   joins wait until no command is pending,
                                   so a burst of REAPs ends actors in parallel
        $TERM                      join every actor left (each is sent $TERM)

    Retry, backoff and outage decisions are the environment's (it is the
    one that sees a sandbox's start result, in event order); the
    supervisor owns the threads.
*/
#ifndef SBX_SUPERVISOR_H
#define SBX_SUPERVISOR_H

#include <czmq.h>

void
    sbx_supervisor_actor (zsock_t *pipe, void *args);

#endif
