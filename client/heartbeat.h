/*  sbx_heartbeat - the client's heartbeat actor (internal): keeps the
    leases of a client's open sessions alive (PROTOCOL.md "Lease").

    Created by the client on its first session:
        sbx_heartbeat_args_t args = {endpoint, curve};
        sbx_actor_new (sbx_heartbeat_actor, &args)
    The args are read before the handshake (borrowed until it). The actor
    has its own DEALER to that endpoint - a CURVE client with the client's
    keys when `curve` is not NULL - and blocks every signal, so a Ctrl-C
    reaches the program's own thread.

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
#include "client/curve.h"

typedef struct {
    const char *endpoint;
    const sbx_curve_t *curve;   //  NULL: no CURVE
} sbx_heartbeat_args_t;

void
    sbx_heartbeat_actor (zsock_t *pipe, void *args);

#endif
