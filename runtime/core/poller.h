/*  sbx_poller - waits on a few ZeroMQ sockets with one poll(2) and as few
    ZMQ_EVENTS questions as correctness allows.

    zmq_poll asks every socket for ZMQ_EVENTS twice per wake-up, and each
    question costs a poll(2) and a getpid(2) inside libzmq when the socket
    has nothing: with five sockets, half of sbxd's system calls per request.
    A socket's ZMQ_FD is edge-like: it turns readable when commands reach
    the socket, and any call on the socket (send, recv, getsockopt) may
    consume that without the caller seeing input. So the poller asks
    ZMQ_EVENTS only of sockets that were used since they were last asked
    ("touched") or whose descriptor fired, and sleeps in poll(2) on the
    descriptors otherwise.

    The owner's contract: call sbx_poller_touch for a socket after any call
    on it that the poller did not report (a send, typically). A socket
    reported ready counts as touched: the caller is about to use it; when
    the caller then drains it to EAGAIN and calls nothing else on it,
    sbx_poller_settle says so.
    One thread only, like the sockets.
*/
#ifndef SBX_POLLER_H
#define SBX_POLLER_H

#include <stdbool.h>

typedef struct sbx_poller_t sbx_poller_t;

//  A poller for at most `capacity` sockets (aborts when out of memory,
//  as czmq's zmalloc does).
sbx_poller_t *
    sbx_poller_new (int capacity);

//  Frees it (the sockets are the caller's) and nulls *self_p.
void
    sbx_poller_destroy (sbx_poller_t **self_p);

//  Adds a raw libzmq socket (zsock_resolve it); returns its index (the
//  order of adding), or -1 when full or when its ZMQ_FD cannot be read.
int
    sbx_poller_add (sbx_poller_t *self, void *socket);

//  The socket at `index` was used: ask it before sleeping.
void
    sbx_poller_touch (sbx_poller_t *self, int index);

//  The socket at `index` answered a non-blocking receive with EAGAIN and
//  has not been used since: that receive looked at its commands, so it
//  has no input and its descriptor fires on new input. It need not be
//  asked (saves a poll(2) and a getpid(2) inside libzmq).
void
    sbx_poller_settle (sbx_poller_t *self, int index);

//  Waits until some socket has input, or timeout_ms (-1: no limit). When
//  a socket it asked has input, it still glances (poll with 0) at the
//  others' descriptors, so that a socket that stays busy cannot hide them.
//  Returns how many have input (0 after the timeout), or -1 with errno set
//  (EINTR included).
int
    sbx_poller_wait (sbx_poller_t *self, int timeout_ms);

//  Whether the socket at `index` had input at the last wait; true also
//  marks it touched.
bool
    sbx_poller_ready (sbx_poller_t *self, int index);

#endif
