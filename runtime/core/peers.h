/*  sbx_peers - counts the connections of a socket that binds, from
    libzmq's socket monitor: open now, closed so far, handshakes failed.

    The request ROUTER (actors/frontend.c) and the event XPUB
    (actors/eventbus.c) each have one, in the thread that owns the socket;
    the ZAP handler (actors/auth.h) reads the counts to refuse connections
    past limits.peers, so `connected` is atomic: the event bus writes its
    own, the environment's thread reads it.
*/
#ifndef SBX_PEERS_H
#define SBX_PEERS_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    _Atomic uint64_t connected; //  open now (handshake done or not)
    uint64_t disconnected;      //  closed, by either side
    uint64_t failed;            //  handshakes that failed (with no detail, or
                                //  a protocol error)
    void *socket;               //  watched (borrowed, raw)
    void *monitor;              //  PAIR: its events (raw)
} sbx_peers_t;

//  Watches the raw libzmq socket `socket`. 0, or -1 when the monitor
//  cannot be made.
int
    sbx_peers_watch (sbx_peers_t *self, void *socket);

//  Stops watching; before the socket is closed.
void
    sbx_peers_unwatch (sbx_peers_t *self);

//  Handles one event of the monitor (to poll: self->monitor). 0, or -1
//  when none was waiting.
int
    sbx_peers_handle (sbx_peers_t *self);

#endif
