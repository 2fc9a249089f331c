/*  sbx_actor - a czmq-style actor (a thread and a PAIR pipe to it) whose
    thread is joined when it is destroyed.

    czmq's zactor signals its parent and only then closes its end of the
    pipe, on a detached thread. A parent that destroys its last actor and
    exits can find that socket still open; czmq's exit handler then sleeps
    200 ms for it. sbx_actor_destroy returns only when the thread is gone,
    with every socket it had.

    The handler is a zactor_fn: it gets its end of the pipe and `args`,
    signals once when it is ready (zsock_signal (pipe, 0)), and returns on
    "$TERM". The pipe has no high-water mark (zsys_set_pipehwm). The
    thread blocks every signal: they are for the application's threads.
*/
#ifndef SBX_ACTOR_H
#define SBX_ACTOR_H

#include <czmq.h>

typedef struct sbx_actor_t sbx_actor_t;

//  Starts the thread and waits for the handler's first signal. Returns
//  NULL when the pipe or the thread cannot be made.
sbx_actor_t *
    sbx_actor_new (zactor_fn handler, void *args);

//  Sends "$TERM" (without blocking) and joins the thread, then frees the
//  actor and nulls *self_p. Safe on NULL.
void
    sbx_actor_destroy (sbx_actor_t **self_p);

//  The parent's end of the pipe, for zstr_send, zsock_recv, polling.
//  The actor owns it.
zsock_t *
    sbx_actor_pipe (sbx_actor_t *self);

#endif
