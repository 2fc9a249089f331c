/*  sbx_poller - poll(2) over ZeroMQ sockets' descriptors (poller.h). */
#include "actors/poller.h"

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

int
sbx_poller_wait (sbx_poller_t *self, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
    while (true) {
        int ready = 0;
        for (int i = 0; i < self->count; i++) {
            self->ready [i] = false;
            if (!self->touched [i])
                continue;
            self->touched [i] = false;
            uint32_t events = 0;
            size_t size = sizeof events;
            if (zmq_getsockopt (self->sockets [i], ZMQ_EVENTS, &events, &size) != 0)
                return -1;
            if (events & ZMQ_POLLIN) {
                self->ready [i] = true;
                ready++;
            }
        }
        if (ready)
            return ready;
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - zclock_mono ();
            wait = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int) left;
        }
        int rc = poll (self->fds, (nfds_t) self->count, wait);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
        //  A descriptor fired: ask its socket (it may be nothing but
        //  commands, or output room).
        for (int i = 0; i < self->count; i++)
            if (self->fds [i].revents)
                self->touched [i] = true;
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
