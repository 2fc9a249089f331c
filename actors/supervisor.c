/*  sbx_supervisor - see supervisor.h */
#include "actors/supervisor.h"
#include "actors/proto.h"
#include "actors/sandbox.h"
#include "runtime/core/log.h"

#include <pthread.h>
#include <string.h>

//  A sandbox thread and our end of its pipe. Like a zactor, but its two
//  PAIR sockets are raw libzmq sockets: czmq keeps every zsock in one list,
//  under one lock, that each close walks, and 5,000 sandboxes made that
//  quadratic (docs/benchmarks.md). czmq's zstr/zsock_signal calls take raw
//  sockets as they are.
typedef struct {
    void *pipe;
    pthread_t thread;
} s_child_t;

typedef struct {
    void *pipe;                 //  the sandbox's end
    sbx_spawn_t *spawn;
} s_start_t;

typedef struct {
    zsock_t *pipe;
    zhashx_t *children;         //  sandbox id -> s_child_t *
    zlistx_t *dying;            //  s_child_t * told $TERM, not yet joined
    unsigned pipes;             //  for unique inproc endpoints
    bool terminated;
} self_t;

static void *
s_child_main (void *args)
{
    s_start_t *start = (s_start_t *) args;
    sbx_sandbox_actor (start->pipe, start->spawn);
    zmq_close (start->pipe);
    free (start);
    return NULL;
}

static void *
s_pair (const char *endpoint, bool bind)
{
    void *socket = zmq_socket (zsys_init (), ZMQ_PAIR);
    int zero = 0;
    if (socket) {
        zmq_setsockopt (socket, ZMQ_SNDHWM, &zero, sizeof zero);
        zmq_setsockopt (socket, ZMQ_RCVHWM, &zero, sizeof zero);
        zmq_setsockopt (socket, ZMQ_LINGER, &zero, sizeof zero);
        if ((bind ? zmq_bind (socket, endpoint) : zmq_connect (socket, endpoint)) != 0) {
            zmq_close (socket);
            socket = NULL;
        }
    }
    return socket;
}

//  Tells the child to end (it must be offline: the environment makes sure).
static void
s_child_term (s_child_t *child)
{
    zstr_send (child->pipe, "$TERM");
}

//  Waits for the child's thread and frees it.
static void
s_child_join (s_child_t **child_p)
{
    s_child_t *child = *child_p;
    pthread_join (child->thread, NULL);
    zmq_close (child->pipe);
    free (child);
    *child_p = NULL;
}

static void
s_spawn (self_t *self, sbx_spawn_t *spawn)
{
    char id [256];
    snprintf (id, sizeof id, "%s", spawn->sandbox_id);
    unsigned slot = spawn->slot;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://sbx-pipe-%p-%u", (void *) self, self->pipes++);
    s_child_t *child = (s_child_t *) zmalloc (sizeof (s_child_t));
    s_start_t *start = (s_start_t *) zmalloc (sizeof (s_start_t));
    child->pipe = s_pair (endpoint, true);
    start->pipe = child->pipe ? s_pair (endpoint, false) : NULL;
    //  The pipe is made; its name is not needed any more. libzmq scans
    //  every bound inproc name each time any socket closes, so 5,000
    //  names left bound made a pool's shutdown quadratic.
    if (start->pipe)
        zmq_unbind (child->pipe, endpoint);
    start->spawn = spawn;
    bool ok = start->pipe && pthread_create (&child->thread, NULL, s_child_main, start) == 0;
    //  Two signals: the actor's handshake, then whether its DEALER is up.
    if (ok)
        ok = zsock_wait (child->pipe) == 0 && zsock_wait (child->pipe) == 0;
    else {
        if (start->pipe)
            zmq_close (start->pipe);
        if (child->pipe)
            zmq_close (child->pipe);
        sbx_spawn_destroy (&start->spawn);
        free (start);
        free (child);
        child = NULL;
    }
    if (ok)
        zhashx_update (self->children, id, child);
    else {
        sbx_log_error ("supervisor", "cannot start sandbox %s (socket or thread limit?)", id);
        if (child) {
            s_child_term (child);
            s_child_join (&child);
        }
    }
    zsock_send (self->pipe, "s44", "SPAWNED", slot, ok ? 1 : 0);
}

void
sbx_supervisor_actor (zsock_t *pipe, void *args)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    self->pipe = pipe;
    self->children = zhashx_new ();     //  no destructor: see REAP and the end
    self->dying = zlistx_new ();
    zsock_signal (pipe, 0);

    while (!self->terminated) {
        //  Joins wait until no command is pending: actors told $TERM in a
        //  burst (a shutdown) then end side by side, not one after another.
        if (zlistx_size (self->dying) && !(zsock_events (pipe) & ZMQ_POLLIN)) {
            s_child_t *child;
            while ((child = (s_child_t *) zlistx_first (self->dying))) {
                zlistx_delete (self->dying, zlistx_cursor (self->dying));
                s_child_join (&child);
            }
        }
        zmsg_t *msg = zmsg_recv (pipe);
        if (!msg)
            break;
        char *command = zmsg_popstr (msg);
        if (command && streq (command, "$TERM"))
            self->terminated = true;
        else
        if (command && streq (command, "SPAWN")) {
            zframe_t *frame = zmsg_pop (msg);
            sbx_spawn_t *spawn = NULL;
            if (frame && zframe_size (frame) == sizeof spawn)
                memcpy (&spawn, zframe_data (frame), sizeof spawn);
            zframe_destroy (&frame);
            if (spawn)
                s_spawn (self, spawn);
        }
        else
        if (command && streq (command, "REAP")) {
            char *id = zmsg_popstr (msg);
            s_child_t *child = id ? (s_child_t *) zhashx_lookup (self->children, id) : NULL;
            if (child) {
                //  $TERM now, join later.
                zhashx_delete (self->children, id);
                s_child_term (child);
                zlistx_add_end (self->dying, child);
            }
            zstr_free (&id);
        }
        else
            sbx_log_error ("supervisor", "unexpected command '%s'", command ? command : "");
        zstr_free (&command);
        zmsg_destroy (&msg);
    }
    s_child_t *child;
    while ((child = (s_child_t *) zlistx_first (self->dying))) {
        zlistx_delete (self->dying, zlistx_cursor (self->dying));
        s_child_join (&child);
    }
    zlistx_destroy (&self->dying);
    //  Children still here were never reaped: end them all, then join.
    for (child = (s_child_t *) zhashx_first (self->children); child;
         child = (s_child_t *) zhashx_next (self->children))
        s_child_term (child);
    for (child = (s_child_t *) zhashx_first (self->children); child;
         child = (s_child_t *) zhashx_next (self->children))
        s_child_join (&child);
    zhashx_destroy (&self->children);
    free (self);
}
