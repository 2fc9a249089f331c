/*  sbx_frontend - see frontend.h; PROTOCOL.md "Requests and replies". */
#include "actors/frontend.h"
#include "actors/auth.h"
#include "messages/mp.h"
#include "runtime/core/log.h"

#include <string.h>
#include <sys/stat.h>

#define S_MAX_ENVELOPE 16       //  frames before the body
#define S_SESSION_ID_MAX 128

struct sbx_frontend_t {
    const sbx_config_t *config;
    sbx_frontend_role_t role;
    const char *endpoint;       //  to bind (the config's)
    bool curve;                 //  a CURVE server: its peers' User-Id is ZAP's
    zsock_t *router;
    sbx_limits_t limits;
    sbx_poller_t *poller;       //  the environment's, to mark sends
    int item;
    uint64_t bad_requests;
    uint64_t replies_dropped;   //  to clients whose queue was full, or gone
    sbx_peers_t peers;
    zhashx_t *replays;          //  routing id (hex) -> its replays at the bus
    size_t replays_out;         //  their sum
};

//  events.replay answers in the making at once (each up to
//  events.replay_bytes): per connection, and in all.
#define S_REPLAYS_PER_PEER 4
#define S_REPLAYS 64

sbx_frontend_t *
sbx_frontend_new (const sbx_config_t *config, sbx_frontend_role_t role)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (!router)
        return NULL;
    sbx_frontend_t *self = (sbx_frontend_t *) zmalloc (sizeof (sbx_frontend_t));
    self->config = config;
    self->role = role;
    self->endpoint = role == SBX_FRONTEND_ADMIN ? config->admin_endpoint : config->requests_endpoint;
    self->curve = role == SBX_FRONTEND_REQUESTS && sbx_config_curve (config);
    self->router = router;
    self->item = -1;
    self->replays = zhashx_new ();
    self->limits.max_body_bytes = config->max_body_bytes;
    self->limits.max_depth = SBX_MP_MAX_DEPTH;
    //  What one client can make the daemon hold (docs/configuration.md,
    //  "limits"): requests read ahead of the environment, replies it does
    //  not read (a reply to a full queue is dropped and counted, not
    //  buffered), a body far over the limit (the connection is closed
    //  before the body is buffered; one just over it is read and answered
    //  BadRequest), and a connection that never says hello.
    int64_t max_message = 2 * (int64_t) config->max_body_bytes;
    zsock_set_rcvhwm (router, 1000);
    zsock_set_sndhwm (router, config->client_hwm);
    zsock_set_router_mandatory (router, 1);
    zmq_setsockopt (zsock_resolve (router), ZMQ_MAXMSGSIZE, &max_message, sizeof max_message);
    zsock_set_handshake_ivl (router, 10000);
    zsock_set_linger (router, 0);
    if (role == SBX_FRONTEND_ADMIN)
        return self;
    //  Its connections, as libzmq reports them (runtime/core/peers.h).
    if (sbx_peers_watch (&self->peers, zsock_resolve (router)) != 0) {
        sbx_frontend_destroy (&self);
        return NULL;
    }
    return self;
}

void
sbx_frontend_destroy (sbx_frontend_t **self_p)
{
    sbx_frontend_t *self = *self_p;
    if (!self)
        return;
    sbx_peers_unwatch (&self->peers);
    zsock_destroy (&self->router);
    zhashx_destroy (&self->replays);
    free (self);
    *self_p = NULL;
}

//  A CURVE server with the daemon's secret key. 0, or -1 with *error_p.
static int
s_curve_server (sbx_frontend_t *self, char **error_p)
{
    zcert_t *cert = zcert_load (self->config->server_cert);
    if (!cert) {
        *error_p = zsys_sprintf ("cannot load security.server_cert %s", self->config->server_cert);
        return -1;
    }
    zcert_apply (cert, self->router);
    zcert_destroy (&cert);
    zsock_set_curve_server (self->router, 1);
    return 0;
}

//  The admin socket file: made with no permission for others (a umask
//  while it is bound, so nobody connects in between), then 0600 for
//  certain. Nothing else of the daemon makes files while it starts.
static int
s_bind_admin (sbx_frontend_t *self, char **error_p)
{
    const char *path = self->endpoint + 6;
    mode_t mask = umask (0077);
    int rc = zsock_bind (self->router, "%s", self->endpoint);
    int error = zmq_errno ();
    umask (mask);
    if (rc < 0) {
        *error_p = zsys_sprintf ("cannot bind admin endpoint %s: %s", self->endpoint, zmq_strerror (error));
        return -1;
    }
    if (chmod (path, 0600) != 0) {
        *error_p = zsys_sprintf ("cannot make admin endpoint %s private: %s", self->endpoint, strerror (errno));
        return -1;
    }
    return 0;
}

int
sbx_frontend_bind (sbx_frontend_t *self, char **error_p)
{
    if (self->role == SBX_FRONTEND_ADMIN)
        return s_bind_admin (self, error_p);
    //  The ZAP handler (actors/auth.h) is asked about each client: its key
    //  with CURVE, and always whether there is room for one more.
    zsock_set_zap_domain (self->router, SBX_AUTH_REQUESTS);
    if (self->curve && s_curve_server (self, error_p) != 0)
        return -1;
    if (zsock_bind (self->router, "%s", self->endpoint) >= 0)
        return 0;
    *error_p = zsys_sprintf ("cannot bind requests endpoint %s: %s", self->endpoint,
                             zmq_strerror (zmq_errno ()));
    return -1;
}

const char *
sbx_frontend_endpoint (sbx_frontend_t *self)
{
    return zsock_endpoint (self->router);
}

void *
sbx_frontend_socket (sbx_frontend_t *self)
{
    return zsock_resolve (self->router);
}

void
sbx_frontend_attach (sbx_frontend_t *self, sbx_poller_t *poller, int index)
{
    self->poller = poller;
    self->item = index;
}

uint64_t
sbx_frontend_bad_requests (sbx_frontend_t *self)
{
    return self->bad_requests;
}

uint64_t
sbx_frontend_replies_dropped (sbx_frontend_t *self)
{
    return self->replies_dropped;
}

sbx_peers_t *
sbx_frontend_peers (sbx_frontend_t *self)
{
    return &self->peers;
}

//  --- Replies -------------------------------------------------------------------

void
sbx_frontend_send (sbx_frontend_t *self, const sbx_job_t *job, const msgpack_sbuffer *body)
{
    if (!job->envelope)
        return;
    //  The first frame picks the client: when its queue is full, or it has
    //  gone, nothing is sent (ZMQ_ROUTER_MANDATORY) and the reply is
    //  dropped; once it is accepted, the rest of the message follows.
    zframe_t *frame = zmsg_first (job->envelope);
    if (zframe_send (&frame, self->router, ZFRAME_MORE | ZFRAME_REUSE | ZFRAME_DONTWAIT) != 0) {
        self->replies_dropped++;
        sbx_log_debug (self->config->env_id, "reply to %s (id %llu) dropped: %s",
                       sbx_op_name (job->request.op), (unsigned long long) job->request.id,
                       zmq_strerror (zmq_errno ()));
    }
    else {
        sbx_log_debug (self->config->env_id, "reply to %s (id %llu), %zu bytes",
                       sbx_op_name (job->request.op), (unsigned long long) job->request.id, body->size);
        while ((frame = zmsg_next (job->envelope)))
            zframe_send (&frame, self->router, ZFRAME_MORE | ZFRAME_REUSE | ZFRAME_DONTWAIT);
        zmq_send (zsock_resolve (self->router), body->data, body->size, ZMQ_DONTWAIT);
    }
    if (self->poller)
        sbx_poller_touch (self->poller, self->item);
}

void
sbx_frontend_fail (sbx_frontend_t *self, sbx_job_t **job_p, sbx_error_t *error)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_error (&body, (*job_p)->request.has_id, (*job_p)->request.id, error);
    sbx_frontend_send (self, *job_p, &body);
    msgpack_sbuffer_destroy (&body);
    sbx_error_destroy (&error);
    sbx_job_destroy (job_p);
}

//  The connection a request came on, as a key: its routing id, in hex.
static char *
s_peer_key (const sbx_job_t *job)
{
    zframe_t *routing = job->envelope ? zmsg_first (job->envelope) : NULL;
    return routing ? zframe_strhex (routing) : strdup ("");
}

bool
sbx_frontend_replay_take (sbx_frontend_t *self, sbx_job_t **job_p)
{
    char *peer = s_peer_key (*job_p);
    size_t mine = (size_t) (uintptr_t) zhashx_lookup (self->replays, peer);
    bool taken = mine < S_REPLAYS_PER_PEER && self->replays_out < S_REPLAYS;
    if (taken) {
        zhashx_update (self->replays, peer, (void *) (uintptr_t) (mine + 1));
        self->replays_out++;
    }
    else
        sbx_frontend_fail (self, job_p, mine >= S_REPLAYS_PER_PEER
            ? sbx_error_new (SBX_OVERLOAD_ERROR, "events.replay: this connection has %zu replays being "
                             "answered, at most %d at a time: read their answers first", mine, S_REPLAYS_PER_PEER)
            : sbx_error_new (SBX_OVERLOAD_ERROR, "events.replay: %zu replays are being answered, at most %d "
                             "at a time: retry", self->replays_out, S_REPLAYS));
    free (peer);
    return taken;
}

void
sbx_frontend_replayed (sbx_frontend_t *self, const sbx_job_t *job)
{
    char *peer = s_peer_key (job);
    size_t mine = (size_t) (uintptr_t) zhashx_lookup (self->replays, peer);
    if (mine > 1)
        zhashx_update (self->replays, peer, (void *) (uintptr_t) (mine - 1));
    else
        zhashx_delete (self->replays, peer);
    if (self->replays_out)
        self->replays_out--;
    free (peer);
}

void
sbx_frontend_ok (sbx_frontend_t *self, sbx_job_t **job_p)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_ok (&body, (*job_p)->request.has_id, (*job_p)->request.id);
    sbx_frontend_send (self, *job_p, &body);
    msgpack_sbuffer_destroy (&body);
    sbx_job_destroy (job_p);
}

void
sbx_frontend_answer (sbx_frontend_t *self, sbx_job_t *job, const char *sandbox, const char *token)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    const sbx_request_t *request = &job->request;
    if (job->error)
        sbx_reply_error (&body, request->has_id, request->id, job->error);
    else
    switch (job->kind) {
        case SBX_JOB_ACQUIRE:
            sbx_reply_acquire (&body, request->has_id, request->id, sandbox, token);
            break;
        case SBX_JOB_SESSION_OPEN:
            sbx_reply_session_open (&body, request->has_id, request->id, sandbox, token, job->session_id);
            break;
        case SBX_JOB_SESSION_START:
            sbx_reply_session_start (&body, request->has_id, request->id, job->session_id);
            break;
        case SBX_JOB_INPUT:
            sbx_reply_input (&body, request->has_id, request->id, job->closed);
            break;
        case SBX_JOB_CALL:
        case SBX_JOB_EPHEMERAL: {
            //  A call on an acquired sandbox with no session was ephemeral too.
            bool ephemeral = job->kind == SBX_JOB_EPHEMERAL || job->status != SBX_STATUS_IN_SESSION;
            sbx_reply_call (&body, request->has_id, request->id, job->result.data, job->result.size,
                            ephemeral ? sandbox : NULL, ephemeral ? job->session_id : NULL);
            break;
        }
        default:
            sbx_reply_ok (&body, request->has_id, request->id);
            break;
    }
    sbx_frontend_send (self, job, &body);
    msgpack_sbuffer_destroy (&body);
}

void
sbx_frontend_hello (sbx_frontend_t *self, sbx_job_t **job_p, const char *env_status,
                    const char *events_endpoint)
{
    const sbx_config_t *config = self->config;
    size_t count = config->feature_count;
    sbx_feature_info_t *features = (sbx_feature_info_t *) zmalloc ((count + 1) * sizeof (sbx_feature_info_t));
    const char ***lists = (const char ***) zmalloc ((count + 2) * sizeof (char **));
    for (size_t i = 0; i <= count; i++) {
        const sbx_method_t *methods = i < count ? config->features [i].kind->methods
                                                : config->sandbox_kind->methods;
        size_t n = 0;
        while (methods && methods [n].name)
            n++;
        lists [i] = (const char **) zmalloc ((n + 1) * sizeof (char *));
        for (size_t m = 0; m < n; m++)
            lists [i][m] = methods [m].name;
        if (i < count) {
            features [i].name = config->features [i].name;
            features [i].kind = config->features [i].kind->name;
            features [i].methods = lists [i];
        }
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_hello (&body, (*job_p)->request.has_id, (*job_p)->request.id, SBX_VERSION,
                     config->env_id, env_status, events_endpoint, features, count, lists [count]);
    sbx_frontend_send (self, *job_p, &body);
    msgpack_sbuffer_destroy (&body);
    for (size_t i = 0; i <= count; i++)
        free (lists [i]);
    free (lists);
    free (features);
    sbx_job_destroy (job_p);
}

void
sbx_frontend_status (sbx_frontend_t *self, sbx_job_t **job_p, sbx_pool_t *pool,
                     const char *env_status, double uptime_s)
{
    const char *only = (*job_p)->request.sandbox;
    size_t count = sbx_pool_size (pool);
    sbx_slot_t **slots = (sbx_slot_t **) zmalloc ((count + 1) * sizeof (sbx_slot_t *));
    count = sbx_pool_list (pool, slots, count);
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (!only || streq (only, sbx_slot_id (slots [i])))
            slots [n++] = slots [i];
    if (only && n == 0) {
        free (slots);
        sbx_frontend_fail (self, job_p, sbx_error_new (SBX_NOT_FOUND, "no sandbox '%s'", only));
        return;
    }
    sbx_sandbox_info_t *infos = (sbx_sandbox_info_t *) zmalloc ((n + 1) * sizeof (sbx_sandbox_info_t));
    const sbx_error_t ***errors = (const sbx_error_t ***) zmalloc ((n + 1) * sizeof (void *));
    for (size_t i = 0; i < n; i++) {
        zlistx_t *list = sbx_slot_state_errors (slots [i]);
        errors [i] = (const sbx_error_t **) zmalloc ((zlistx_size (list) + 1) * sizeof (void *));
        size_t e = 0;
        for (sbx_error_t *error = (sbx_error_t *) zlistx_first (list); error;
             error = (sbx_error_t *) zlistx_next (list))
            errors [i][e++] = error;
        infos [i].id = sbx_slot_id (slots [i]);
        infos [i].status = sbx_status_name (sbx_slot_status (slots [i]));
        infos [i].session_id = sbx_slot_session (slots [i]);
        infos [i].state_errors = errors [i];
        infos [i].state_error_count = e;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    const sbx_sandbox_kind_t *kind = self->config->sandbox_kind;
    const char *isolation = kind->isolation ? kind->isolation (self->config->sandbox_config) : NULL;
    sbx_reply_status (&body, (*job_p)->request.has_id, (*job_p)->request.id, self->config->env_id,
                      env_status, uptime_s, isolation, infos, n);
    sbx_frontend_send (self, *job_p, &body);
    msgpack_sbuffer_destroy (&body);
    for (size_t i = 0; i < n; i++)
        free (errors [i]);
    free (errors);
    free (infos);
    free (slots);
    sbx_job_destroy (job_p);
}

void
sbx_frontend_stats (sbx_frontend_t *self, sbx_job_t **job_p, const sbx_stats_t *stats)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_stats (&body, (*job_p)->request.has_id, (*job_p)->request.id, stats);
    sbx_frontend_send (self, *job_p, &body);
    msgpack_sbuffer_destroy (&body);
    sbx_job_destroy (job_p);
}

//  --- Checks --------------------------------------------------------------------

sbx_slot_t *
sbx_frontend_owner (sbx_frontend_t *self, sbx_pool_t *pool, sbx_job_t **job_p, int64_t lease_deadline)
{
    const sbx_request_t *request = &(*job_p)->request;
    sbx_slot_t *slot = sbx_pool_lookup (pool, request->sandbox);
    if (!slot || sbx_slot_phase (slot) == SBX_PHASE_SPAWNING) {
        sbx_frontend_fail (self, job_p, sbx_error_new (SBX_NOT_FOUND, "no sandbox '%s'", request->sandbox));
        return NULL;
    }
    if (!request->token) {
        sbx_frontend_fail (self, job_p, sbx_error_new (SBX_UNAUTHORIZED, "missing token for sandbox %s",
                                                       sbx_slot_id (slot)));
        return NULL;
    }
    if (!sbx_pool_owner_is (slot, request->token)) {
        sbx_frontend_fail (self, job_p, sbx_error_new (SBX_UNAUTHORIZED, "wrong token for sandbox %s "
                           "(it is not yours, or its lease lapsed)", sbx_slot_id (slot)));
        return NULL;
    }
    //  A token is good on the key that opened its session only: one that
    //  leaked to another worker is of no use to it.
    if (!streq (sbx_slot_owner_key (slot), (*job_p)->key)) {
        sbx_frontend_fail (self, job_p, sbx_error_new (SBX_UNAUTHORIZED, "the token of sandbox %s "
                           "belongs to another key: it works only over a connection with the key "
                           "that opened the session", sbx_slot_id (slot)));
        return NULL;
    }
    sbx_pool_renew (slot, lease_deadline);
    return slot;
}

//  NotFound unless `feature.method` exists in the template.
static sbx_error_t *
s_check_method (sbx_frontend_t *self, const sbx_request_t *request)
{
    const sbx_method_t *methods = self->config->sandbox_kind->methods;
    if (request->feature) {
        int index = sbx_config_feature_index (self->config, request->feature);
        if (index < 0)
            return sbx_error_new (SBX_NOT_FOUND, "no feature '%s'", request->feature);
        methods = self->config->features [index].kind->methods;
    }
    for (size_t i = 0; methods && methods [i].name; i++)
        if (streq (methods [i].name, request->method))
            return NULL;
    return sbx_error_new (SBX_NOT_FOUND, "no method '%s%s%s'", request->feature ? request->feature : "",
                          request->feature ? "." : "", request->method);
}

//  Session ids appear in logs and the text form: printable, no '/'.
static sbx_error_t *
s_check_session_id (const char *id)
{
    bool ok = !id || (*id && strlen (id) <= S_SESSION_ID_MAX);
    for (const char *c = id; ok && c && *c; c++)
        ok = (unsigned char) *c >= 0x20 && *c != 0x7f && *c != '/';
    return ok ? NULL : sbx_error_new (SBX_BAD_REQUEST, "key 'session_id' must be 1-128 printable "
                                      "characters without '/', got '%.40s'", id);
}

//  `shutdown` needs an admin: an admin key, or the admin endpoint.
static sbx_error_t *
s_check_admin (sbx_frontend_t *self, const sbx_job_t *job)
{
    if (job->admin)
        return NULL;
    const char *admin = self->config->admin_endpoint;
    return sbx_error_new (SBX_UNAUTHORIZED, "%s is an admin op: send it to the admin endpoint%s%s%s "
                          "(sbx shutdown), or with a key in security.admins; see docs/security.md",
                          sbx_op_name (job->request.op), admin ? " " : "", admin ? admin : "",
                          admin ? "" : " (none: endpoints.admin is null)");
}

//  What the request asks, as a job kind; its checks' error, if any.
static sbx_error_t *
s_classify (sbx_frontend_t *self, sbx_job_t *job)
{
    const sbx_request_t *request = &job->request;
    if (self->role == SBX_FRONTEND_ADMIN && request->op != SBX_OP_HELLO && request->op != SBX_OP_STATUS
    &&  request->op != SBX_OP_STATS && request->op != SBX_OP_SHUTDOWN)
        return sbx_error_new (SBX_UNAUTHORIZED, "the admin endpoint takes hello, status, stats and "
                              "shutdown only: send %s to the request endpoint", sbx_op_name (request->op));
    switch (request->op) {
        case SBX_OP_HELLO:
        case SBX_OP_STATUS:
        case SBX_OP_STATS:
        case SBX_OP_HEARTBEAT:
            job->kind = SBX_JOB_LOCAL;
            return NULL;
        case SBX_OP_SHUTDOWN:
            job->kind = SBX_JOB_LOCAL;
            return s_check_admin (self, job);
        case SBX_OP_EVENTS_REPLAY:
            job->kind = SBX_JOB_REPLAY;
            return NULL;
        case SBX_OP_ACQUIRE:
            job->kind = SBX_JOB_ACQUIRE;
            return NULL;
        case SBX_OP_SESSION_OPEN:
            job->kind = SBX_JOB_SESSION_OPEN;
            return s_check_session_id (request->session_id);
        case SBX_OP_SESSION_START:
            job->kind = SBX_JOB_SESSION_START;
            return s_check_session_id (request->session_id);
        case SBX_OP_SESSION_END:
            job->kind = SBX_JOB_SESSION_END;
            return NULL;
        case SBX_OP_CALL: {
            job->kind = request->sandbox ? SBX_JOB_CALL : SBX_JOB_EPHEMERAL;
            if (request->input && !request->sandbox)
                return sbx_error_new (SBX_BAD_REQUEST, "a call with 'input' needs a session (its "
                                      "'sandbox' and 'token'): input requests are sent there");
            sbx_error_t *error = s_check_method (self, request);
            return error ? error : s_check_session_id (request->session_id);
        }
        case SBX_OP_INPUT:
            job->kind = SBX_JOB_INPUT;
            return NULL;
        default:
            return sbx_error_new (SBX_BAD_REQUEST, "unsupported op");
    }
}

//  --- Reading ---------------------------------------------------------------------

//  One multipart message, or NULL when none is waiting (no blocking, no
//  extra poll per message). On a CURVE socket `user_id` gets the User-Id
//  the ZAP handler gave its connection. Only there: without CURVE nobody
//  asks ZAP, and a peer may name any property it likes in its handshake's
//  metadata, a "User-Id" among them (libzmq puts ZAP's properties before
//  the peer's, so that on a CURVE socket ZAP's is the one read).
static zmsg_t *
s_recv_message (sbx_frontend_t *self, char *user_id, size_t size)
{
    void *socket = zsock_resolve (self->router);
    zmq_msg_t part;
    zmq_msg_init (&part);
    user_id [0] = 0;
    if (zmq_msg_recv (&part, socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&part);
        return NULL;
    }
    zmsg_t *msg = zmsg_new ();
    while (true) {
        bool more = zmq_msg_more (&part);
        //  The frames from the peer carry its connection's properties (the
        //  routing id frame, made by the ROUTER, may not).
        const char *property = !self->curve || user_id [0] ? NULL : zmq_msg_gets (&part, "User-Id");
        if (property)
            snprintf (user_id, size, "%s", property);
        zmsg_append (msg, &(zframe_t *) {zframe_new (zmq_msg_data (&part), zmq_msg_size (&part))});
        zmq_msg_close (&part);
        if (!more)
            break;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, socket, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
    }
    return msg;
}

int
sbx_frontend_recv (sbx_frontend_t *self, sbx_job_t **job_p)
{
    *job_p = NULL;
    char user_id [64];
    zmsg_t *msg = s_recv_message (self, user_id, sizeof user_id);
    if (!msg)
        return -1;
    sbx_job_t *job = sbx_job_new (SBX_JOB_LOCAL);
    sbx_auth_peer (user_id, job->key, &job->admin);
    if (self->role == SBX_FRONTEND_ADMIN)
        job->admin = true;
    zframe_t *body = zmsg_last (msg);
    zmsg_remove (msg, body);
    job->envelope = msg;
    sbx_error_t *error = NULL;
    if (zmsg_size (msg) == 0 || zmsg_size (msg) > S_MAX_ENVELOPE || !body) {
        self->bad_requests++;
        if (zmsg_size (msg) == 0)
            sbx_job_destroy (&job);     //  nowhere to answer
        else
            error = sbx_error_new (SBX_BAD_REQUEST, "a request is one body frame after the envelope");
    }
    else
    if ((error = sbx_request_decode (zframe_data (body), zframe_size (body), &self->limits, &job->request))) {
        self->bad_requests++;
        sbx_log_debug (self->config->env_id, "bad request: %s", sbx_error_message (error));
    }
    else {
        error = s_classify (self, job);
        sbx_log_debug (self->config->env_id, "request %s (id %llu)%s%s", sbx_op_name (job->request.op),
                       (unsigned long long) job->request.id, job->request.sandbox ? " for " : "",
                       job->request.sandbox ? job->request.sandbox : "");
    }
    zframe_destroy (&body);
    if (error)
        sbx_frontend_fail (self, &job, error);
    *job_p = job;
    return 0;
}
