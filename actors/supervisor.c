/*  sbx_supervisor - see supervisor.h */
#include "actors/supervisor.h"
#include "actors/proto.h"
#include "actors/sandbox.h"
#include "runtime/log.h"

#include <string.h>

typedef struct {
    zsock_t *pipe;
    zhashx_t *children;         //  sandbox id -> zactor_t *
    zlistx_t *dying;            //  zactor_t * told $TERM, not yet joined
    bool terminated;
} self_t;

static void
s_spawn (self_t *self, sbx_spawn_t *spawn)
{
    char id [256];
    snprintf (id, sizeof id, "%s", spawn->sandbox_id);
    unsigned slot = spawn->slot;
    //  zactor_new aborts past czmq's socket limit: sbxd sizes the limit
    //  from the pool's max before anything starts (runtime/sbxd.c).
    zactor_t *actor = zactor_new (sbx_sandbox_actor, spawn);
    bool ok = actor && zsock_wait (actor) == 0;
    if (actor && ok)
        zhashx_update (self->children, id, actor);
    else {
        sbx_log_error ("supervisor", "cannot start sandbox %s", id);
        zactor_destroy (&actor);
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
            zactor_t *actor;
            while ((actor = (zactor_t *) zlistx_first (self->dying))) {
                zlistx_delete (self->dying, zlistx_cursor (self->dying));
                zactor_destroy (&actor);
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
            zactor_t *actor = id ? (zactor_t *) zhashx_lookup (self->children, id) : NULL;
            if (actor) {
                //  $TERM now, join later (zactor_destroy's own $TERM then
                //  finds the actor gone and only collects its exit signal).
                zhashx_delete (self->children, id);
                zstr_send (actor, "$TERM");
                zlistx_add_end (self->dying, actor);
            }
            zstr_free (&id);
        }
        else
            sbx_log_error ("supervisor", "unexpected command '%s'", command ? command : "");
        zstr_free (&command);
        zmsg_destroy (&msg);
    }
    zactor_t *actor;
    while ((actor = (zactor_t *) zlistx_first (self->dying))) {
        zlistx_delete (self->dying, zlistx_cursor (self->dying));
        zactor_destroy (&actor);
    }
    zlistx_destroy (&self->dying);
    for (actor = (zactor_t *) zhashx_first (self->children); actor;
         actor = (zactor_t *) zhashx_next (self->children))
        zactor_destroy (&actor);
    zhashx_destroy (&self->children);
    free (self);
}
