/*  sbx_poller - poll(2) over ZeroMQ sockets' descriptors (poller.h). */
#include "runtime/core/poller.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>

struct sbx_poller_t {
    int capacity, count;
    void **sockets;
    struct pollfd *fds;
    bool *touched;
    bool *ready;
};

sbx_poller_t *
sbx_poller_new (int capacity)
{
    sbx_poller_t *self = (sbx_poller_t *) zmalloc (sizeof (sbx_poller_t));
    self->capacity = capacity;
    self->sockets = (void **) zmalloc ((size_t) capacity * sizeof (void *));
    self->fds = (struct pollfd *) zmalloc ((size_t) capacity * sizeof (struct pollfd));
    self->touched = (bool *) zmalloc ((size_t) capacity * sizeof (bool));
    self->ready = (bool *) zmalloc ((size_t) capacity * sizeof (bool));
    return self;
}

void
sbx_poller_destroy (sbx_poller_t **self_p)
{
    sbx_poller_t *self = *self_p;
    if (!self)
        return;
    free (self->sockets);
    free (self->fds);
    free (self->touched);
    free (self->ready);
    free (self);
    *self_p = NULL;
}

int
sbx_poller_add (sbx_poller_t *self, void *socket)
{
    int fd = -1;
    size_t size = sizeof fd;
    if (self->count == self->capacity || zmq_getsockopt (socket, ZMQ_FD, &fd, &size) != 0)
        return -1;
    int index = self->count++;
    self->sockets [index] = socket;
    self->fds [index] = (struct pollfd) {fd, POLLIN, 0};
    self->touched [index] = true;
    self->ready [index] = false;
    return index;
}

void
sbx_poller_touch (sbx_poller_t *self, int index)
{
    self->touched [index] = true;
}

void
sbx_poller_settle (sbx_poller_t *self, int index)
{
    self->touched [index] = false;
}

//  Asks the socket at `index` for ZMQ_EVENTS; marks it ready when it has
//  input. Its `touched` is cleared only once it has answered, and on an
//  error every socket found ready in this pass is touched again (the
//  question took their descriptors' wake-ups, and the caller may retry).
static int
s_ask (sbx_poller_t *self, int index)
{
    uint32_t events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt (self->sockets [index], ZMQ_EVENTS, &events, &size) != 0) {
        for (int i = 0; i < self->count; i++)
            if (self->ready [i])
                self->touched [i] = true;
        return -1;
    }
    self->touched [index] = false;
    if (events & ZMQ_POLLIN) {
        self->ready [index] = true;
        return 1;
    }
    return 0;
}

//  Asks every touched socket not yet found ready; adds those with input
//  to *ready_p. -1 on an error.
static int
s_ask_touched (sbx_poller_t *self, int *ready_p)
{
    for (int i = 0; i < self->count; i++) {
        if (!self->touched [i] || self->ready [i])
            continue;
        int rc = s_ask (self, i);
        if (rc < 0)
            return -1;
        *ready_p += rc;
    }
    return 0;
}

int
sbx_poller_wait (sbx_poller_t *self, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
    for (int i = 0; i < self->count; i++)
        self->ready [i] = false;
    while (true) {
        int ready = 0;
        if (s_ask_touched (self, &ready) != 0)
            return -1;
        int wait = -1;
        if (ready)
            wait = 0;           //  only a look at the others
        else
        if (deadline >= 0) {
            int64_t left = deadline - zclock_mono ();
            wait = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int) left;
        }
        int rc = poll (self->fds, (nfds_t) self->count, wait);
        if (rc < 0)
            return ready ? ready : -1;
        //  A descriptor fired: ask its socket (it may be nothing but
        //  commands, or output room). While some are ready, a socket left
        //  alone is seen only this way: without the look, one busy socket
        //  would hide the others for as long as it stays busy.
        for (int i = 0; i < self->count; i++)
            if (self->fds [i].revents)
                self->touched [i] = true;
        if (ready)
            return s_ask_touched (self, &ready) == 0 ? ready : -1;
        if (rc == 0)
            return 0;
    }
}

bool
sbx_poller_ready (sbx_poller_t *self, int index)
{
    if (!self->ready [index])
        return false;
    self->touched [index] = true;
    return true;
}
