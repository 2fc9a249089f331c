/*  sbx_peers - see peers.h */
#include "runtime/core/peers.h"

#include <czmq.h>
#include <string.h>

int
sbx_peers_watch (sbx_peers_t *self, void *socket)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://sbx-peers-%p", (void *) self);
    self->socket = socket;
    self->monitor = zmq_socket (zsys_init (), ZMQ_PAIR);
    if (!self->monitor
    ||  zmq_socket_monitor (socket, endpoint, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED
                            | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0
    ||  zmq_connect (self->monitor, endpoint) != 0) {
        sbx_peers_unwatch (self);
        return -1;
    }
    return 0;
}

void
sbx_peers_unwatch (sbx_peers_t *self)
{
    if (!self->monitor)
        return;
    zmq_socket_monitor (self->socket, NULL, 0);
    zmq_close (self->monitor);
    self->monitor = NULL;
}

int
sbx_peers_handle (sbx_peers_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (!self->monitor || zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return -1;
    }
    uint16_t event = 0;
    if (zmq_msg_size (&frame) >= 2)
        memcpy (&event, zmq_msg_data (&frame), 2);
    //  The second frame names the endpoint; drain it.
    while (zmq_msg_more (&frame)) {
        zmq_msg_close (&frame);
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->monitor, 0) < 0)
            break;
    }
    zmq_msg_close (&frame);
    if (event == ZMQ_EVENT_ACCEPTED)
        atomic_fetch_add (&self->connected, 1);
    else
    if (event == ZMQ_EVENT_DISCONNECTED) {
        if (atomic_load (&self->connected))
            atomic_fetch_sub (&self->connected, 1);
        self->disconnected++;
    }
    else
        self->failed++;
    return 0;
}
