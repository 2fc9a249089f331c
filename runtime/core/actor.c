/*  sbx_actor - a czmq-style actor whose thread is joined (actor.h). */
#include "runtime/core/actor.h"

#include <pthread.h>
#include <signal.h>

struct sbx_actor_t {
    zsock_t *pipe;              //  the parent's end
    pthread_t thread;
};

typedef struct {
    zactor_fn *handler;
    zsock_t *pipe;              //  the thread's end
    void *args;
} s_shim_t;

static void *
s_run (void *args)
{
    //  Signals are for the application's threads (in sbxd a signalfd, in
    //  the sbx tool the main thread's wait), never for an actor.
    sigset_t all;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, NULL);
    s_shim_t *shim = (s_shim_t *) args;
    shim->handler (shim->pipe, shim->args);
    zsock_destroy (&shim->pipe);
    free (shim);
    return NULL;
}

sbx_actor_t *
sbx_actor_new (zactor_fn handler, void *args)
{
    sbx_actor_t *self = (sbx_actor_t *) zmalloc (sizeof (sbx_actor_t));
    s_shim_t *shim = (s_shim_t *) zmalloc (sizeof (s_shim_t));
    shim->handler = handler;
    shim->args = args;
    self->pipe = zsys_create_pipe (&shim->pipe);
    if (!self->pipe || pthread_create (&self->thread, NULL, s_run, shim) != 0) {
        zsock_destroy (&shim->pipe);
        zsock_destroy (&self->pipe);
        free (shim);
        free (self);
        return NULL;
    }
    zsock_wait (self->pipe);
    return self;
}

void
sbx_actor_destroy (sbx_actor_t **self_p)
{
    sbx_actor_t *self = *self_p;
    if (!self)
        return;
    //  The handler may have returned already: do not block on the send.
    zsock_set_sndtimeo (self->pipe, 0);
    zstr_send (self->pipe, "$TERM");
    pthread_join (self->thread, NULL);
    zsock_destroy (&self->pipe);
    free (self);
    *self_p = NULL;
}

zsock_t *
sbx_actor_pipe (sbx_actor_t *self)
{
    return self->pipe;
}
