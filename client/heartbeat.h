/*  sbx_heartbeat - the client's heartbeat actor (internal): keeps the
    leases of a client's open sessions alive (PROTOCOL.md "Lease").

    Created by the client on its first session:
        sbx_actor_new (sbx_heartbeat_actor, (void *) endpoint)
    `endpoint` is copied before the handshake. The actor has its own DEALER
    to that endpoint and blocks every signal, so a Ctrl-C reaches the
    program's own thread.

    For each session it sends a `heartbeat` at once (to learn `lease_ms`),
    then every lease_ms / 3. A reply of NotFound or Unauthorized means the
    session is gone: the actor stops renewing it. Unanswered heartbeats are
    not retried early; the next one is due on schedule anyway.

    Pipe commands (no answers):
        "ADD" sandbox token     start renewing this sandbox's lease
        "REMOVE" sandbox        stop renewing it
        $TERM                   end the actor
*/
#ifndef SBX_HEARTBEAT_H
#define SBX_HEARTBEAT_H

#include <czmq.h>

void
    sbx_heartbeat_actor (zsock_t *pipe, void *args);

#endif
