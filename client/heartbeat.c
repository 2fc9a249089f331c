/*  sbx_heartbeat - see heartbeat.h */
#include "client/heartbeat.h"
#include "messages/request.h"
#include "messages/reply.h"

#include <signal.h>
#include <string.h>

//  Until the first reply tells the lease, renew this often.
#define S_FIRST_INTERVAL_MS 1000
#define S_MIN_INTERVAL_MS 10

typedef struct {
    char *sandbox;
    char *token;
    int64_t interval;           //  ms between heartbeats
    int64_t due;                //  zclock_mono of the next one
    uint64_t last_id;           //  id of the last heartbeat sent
} s_lease_t;

typedef struct {
    zsock_t *pipe;
    zsock_t *dealer;
    zhashx_t *leases;           //  sandbox id -> s_lease_t
    uint64_t next_id;
    bool terminated;
} self_t;

static void
s_lease_destroy (void **item_p)
{
    s_lease_t *lease = (s_lease_t *) *item_p;
    if (!lease)
        return;
    free (lease->sandbox);
    free (lease->token);
    free (lease);
    *item_p = NULL;
}

static void
s_send (self_t *self, s_lease_t *lease, int64_t now)
{
    sbx_request_t request = {
        .op = SBX_OP_HEARTBEAT, .has_id = true, .id = self->next_id++,
        .sandbox = lease->sandbox, .token = lease->token
    };
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_request_encode (&request, &body);
    //  Never block the actor: when the daemon is not reachable the
    //  heartbeat is simply lost; the next one is due on schedule.
    zmq_send (zsock_resolve (self->dealer), body.data, body.size, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy (&body);
    lease->last_id = request.id;
    lease->due = now + lease->interval;
}

static void
s_handle_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (!command)
        ;
    else if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "ADD")) {
        char *sandbox = zmsg_popstr (msg);
        char *token = zmsg_popstr (msg);
        if (sandbox && token) {
            s_lease_t *lease = (s_lease_t *) zmalloc (sizeof (s_lease_t));
            lease->sandbox = sandbox;
            lease->token = token;
            lease->interval = S_FIRST_INTERVAL_MS;
            sandbox = token = NULL;
            //  Replaces (and frees) an older lease on the same sandbox.
            zhashx_update (self->leases, lease->sandbox, lease);
            s_send (self, lease, zclock_mono ());
        }
        zstr_free (&sandbox);
        zstr_free (&token);
    }
    else if (streq (command, "REMOVE")) {
        char *sandbox = zmsg_popstr (msg);
        if (sandbox)
            zhashx_delete (self->leases, sandbox);
        zstr_free (&sandbox);
    }
    zstr_free (&command);
    zmsg_destroy (&msg);
}

static s_lease_t *
s_lease_by_id (self_t *self, uint64_t id)
{
    for (s_lease_t *lease = (s_lease_t *) zhashx_first (self->leases); lease;
         lease = (s_lease_t *) zhashx_next (self->leases))
        if (lease->last_id == id)
            return lease;
    return NULL;
}

static void
s_handle_reply (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->dealer);
    zframe_t *body = msg ? zmsg_last (msg) : NULL;
    sbx_reply_t *reply = body ? sbx_reply_decode (zframe_data (body), zframe_size (body), NULL)
                              : NULL;
    zmsg_destroy (&msg);
    s_lease_t *lease = reply && sbx_reply_has_id (reply)
                     ? s_lease_by_id (self, sbx_reply_id (reply)) : NULL;
    if (lease && sbx_reply_is_ok (reply)) {
        const msgpack_object *lease_ms = sbx_reply_get (reply, "lease_ms");
        if (lease_ms && lease_ms->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            int64_t interval = (int64_t) (lease_ms->via.u64 / 3);
            if (interval < S_MIN_INTERVAL_MS)
                interval = S_MIN_INTERVAL_MS;
            if (interval != lease->interval) {
                lease->due += interval - lease->interval;
                lease->interval = interval;
            }
        }
    }
    else if (lease) {
        const sbx_error_t *error = sbx_reply_get_error (reply);
        //  The session is gone (ended, lease lapsed, sandbox shut down).
        if (sbx_error_is (error, SBX_NOT_FOUND) || sbx_error_is (error, SBX_UNAUTHORIZED))
            zhashx_delete (self->leases, lease->sandbox);
    }
    sbx_reply_destroy (&reply);
}

void
sbx_heartbeat_actor (zsock_t *pipe, void *args)
{
    //  Signals are for the program's own threads.
    sigset_t all;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, NULL);

    self_t self = {.pipe = pipe, .next_id = 1};
    self.leases = zhashx_new ();
    zhashx_set_destructor (self.leases, s_lease_destroy);
    const sbx_heartbeat_args_t *settings = (const sbx_heartbeat_args_t *) args;
    self.dealer = zsock_new (ZMQ_DEALER);
    if (self.dealer) {
        zsock_set_linger (self.dealer, 0);
        sbx_curve_apply (settings->curve, self.dealer);
        zsock_connect (self.dealer, "%s", settings->endpoint);
    }
    zsock_signal (pipe, 0);

    while (!self.terminated) {
        int64_t now = zclock_mono ();
        int64_t wait = -1;
        for (s_lease_t *lease = (s_lease_t *) zhashx_first (self.leases); lease;
             lease = (s_lease_t *) zhashx_next (self.leases)) {
            if (lease->due <= now)
                s_send (&self, lease, now);
            int64_t left = lease->due - now;
            if (wait < 0 || left < wait)
                wait = left;
        }
        zmq_pollitem_t items [] = {
            {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
            {self.dealer ? zsock_resolve (self.dealer) : NULL, 0, ZMQ_POLLIN, 0}
        };
        int rc = zmq_poll (items, self.dealer ? 2 : 1, (long) wait);
        if (rc < 0 && zmq_errno () != EINTR)
            break;              //  context terminated
        if (rc > 0 && (items [0].revents & ZMQ_POLLIN))
            s_handle_pipe (&self);
        if (rc > 0 && self.dealer && (items [1].revents & ZMQ_POLLIN))
            s_handle_reply (&self);
    }
    zhashx_destroy (&self.leases);
    zsock_destroy (&self.dealer);
}
