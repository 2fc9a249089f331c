/*  sbx_client, sbx_session - see include/sbx/client.h */
#include <sbx/client.h>
#include "runtime/core/actor.h"
#include "client/heartbeat.h"
#include "client/link.h"
#include "messages/event.h"
#include "messages/mp.h"

#include <czmq.h>
#include <string.h>

#define S_TIMEOUT_MS 30000
//  How much longer than the acquire wait it asked for the client waits for
//  the daemon's answer, so that an EnvironmentOverloadError wins the race.
#define S_SLACK_MS 1000

struct sbx_client_t {
    sbx_link_t *link;
    sbx_curve_t *curve;             //  NULL: no CURVE
    sbx_output_fn *output;          //  sbx_client_set_output's, kept for a
    void *output_arg;               //  new link (sbx_client_set_curve)
    int input;                      //  sbx_client_set_input's (-1: none)
    sbx_client_options_t options;
    sbx_actor_t *heartbeat;         //  started with the first session
    char *last_sandbox;
    char *last_session_id;
    zlistx_t *sessions;             //  open sessions (not owned)
};

struct sbx_session_t {
    sbx_client_t *client;
    char *sandbox;
    char *token;
    char *session_id;
};

static void s_renew (sbx_client_t *self, sbx_session_t *session);

static void
s_set_error (sbx_error_t **error_p, sbx_error_t *error)
{
    if (error_p)
        *error_p = error;
    else
        sbx_error_destroy (&error);
}

bool
sbx_error_is_local (const sbx_error_t *error)
{
    return sbx_error_is (error, SBX_UNREACHABLE) || sbx_error_is (error, SBX_TIMEOUT)
        || sbx_error_is (error, SBX_INTERRUPTED);
}

//  --- Client -----------------------------------------------------------------

sbx_client_t *
sbx_client_new (const char *endpoints, const sbx_client_options_t *options, sbx_error_t **error_p)
{
    sbx_client_options_t settings = {0};
    if (options)
        settings = *options;
    if (settings.timeout_ms == 0)
        settings.timeout_ms = S_TIMEOUT_MS;
    sbx_curve_t *curve = NULL;
    sbx_link_t *link = sbx_link_open (endpoints, settings.connect_timeout_ms, settings.server_cert,
                                      settings.cert, &curve, error_p);
    if (!link)
        return NULL;
    sbx_client_t *self = (sbx_client_t *) zmalloc (sizeof (sbx_client_t));
    self->link = link;
    self->curve = curve;
    //  The paths are the caller's: only the keys are kept.
    settings.server_cert = settings.cert = NULL;
    self->options = settings;
    self->sessions = zlistx_new ();
    self->input = -1;
    return self;
}

void
sbx_client_destroy (sbx_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_client_t *self = *self_p;
    //  Sessions that outlive their client can only be destroyed.
    for (sbx_session_t *session = (sbx_session_t *) zlistx_first (self->sessions); session;
         session = (sbx_session_t *) zlistx_next (self->sessions))
        session->client = NULL;
    zlistx_destroy (&self->sessions);
    sbx_actor_destroy (&self->heartbeat);
    sbx_link_destroy (&self->link);
    sbx_curve_destroy (&self->curve);
    free (self->last_sandbox);
    free (self->last_session_id);
    free (self);
    *self_p = NULL;
}

const char *
sbx_client_endpoint (const sbx_client_t *self)
{
    return sbx_link_endpoint (self->link);
}

const json_t *
sbx_client_hello (const sbx_client_t *self)
{
    return sbx_link_hello (self->link);
}

const char *
sbx_client_feature_of_kind (const sbx_client_t *self, const char *kind)
{
    const json_t *features = json_object_get (sbx_link_hello (self->link), "features");
    const json_t *named = json_object_get (features, kind);
    if (named && json_is_string (json_object_get (named, "kind"))
    &&  streq (json_string_value (json_object_get (named, "kind")), kind))
        return json_object_iter_key (json_object_iter_at ((json_t *) features, kind));
    const char *name;
    json_t *feature;
    json_object_foreach ((json_t *) features, name, feature) {
        const json_t *its_kind = json_object_get (feature, "kind");
        if (json_is_string (its_kind) && streq (json_string_value (its_kind), kind))
            return name;
    }
    return NULL;
}

int
sbx_client_set_curve (sbx_client_t *self, const char *server_cert, const char *cert,
                      sbx_error_t **error_p)
{
    sbx_error_t *error = NULL;
    sbx_curve_t *curve = sbx_curve_load (server_cert, cert, &error);
    sbx_link_t *link = curve ? sbx_link_new (sbx_link_endpoint (self->link),
                                             self->options.connect_timeout_ms, curve, &error) : NULL;
    if (!link) {
        sbx_curve_destroy (&curve);
        s_set_error (error_p, error);
        return -1;
    }
    sbx_link_destroy (&self->link);
    sbx_curve_destroy (&self->curve);
    self->link = link;
    self->curve = curve;
    sbx_link_set_output (self->link, self->output, self->output_arg);
    sbx_link_set_input (self->link, self->input);
    //  The heartbeats go over the new keys too: a new actor, told every
    //  session again.
    if (self->heartbeat) {
        sbx_actor_destroy (&self->heartbeat);
        for (sbx_session_t *session = (sbx_session_t *) zlistx_first (self->sessions); session;
             session = (sbx_session_t *) zlistx_next (self->sessions))
            s_renew (self, session);
    }
    return 0;
}

void
sbx_client_set_timeout (sbx_client_t *self, int timeout_ms)
{
    self->options.timeout_ms = timeout_ms == 0 ? S_TIMEOUT_MS : timeout_ms;
}

void
sbx_client_set_wait (sbx_client_t *self, int wait_ms)
{
    self->options.wait_ms = wait_ms;
}

//  The reply wait of an op; one that acquires a sandbox may first wait
//  for one as long as it asked the daemon to.
static int
s_wait_ms (const sbx_client_t *self, bool acquires)
{
    int timeout = self->options.timeout_ms;
    if (timeout < 0 || !acquires)
        return timeout;
    int64_t total = (int64_t) timeout + S_SLACK_MS;
    if (self->options.wait_ms > 0)
        total += self->options.wait_ms;
    return total > INT32_MAX ? INT32_MAX : (int) total;
}

static void
s_ask_acquire_timeout (const sbx_client_t *self, sbx_request_t *request)
{
    int wait = self->options.wait_ms ? self->options.wait_ms : self->options.timeout_ms;
    if (wait >= 0) {
        request->has_timeout = true;
        request->timeout_ms = (uint64_t) wait;
    }
}

//  Sends a request and waits as long as its op may (s_wait_ms) for a
//  successful reply; NULL with *error_p when none came.
static sbx_reply_t *
s_request (sbx_client_t *self, sbx_request_t *request, bool acquires, sbx_error_t **error_p)
{
    sbx_error_t *error = NULL;
    sbx_reply_t *reply = sbx_link_call (self->link, request, s_wait_ms (self, acquires), &error);
    if (!reply)
        s_set_error (error_p, error);
    return reply;
}

//  A request whose successful reply comes back as JSON result keys.
static json_t *
s_json_request (sbx_client_t *self, sbx_request_t *request, sbx_error_t **error_p)
{
    sbx_reply_t *reply = s_request (self, request, false, error_p);
    if (!reply)
        return NULL;
    json_t *json = sbx_link_reply_json (reply);
    sbx_reply_destroy (&reply);
    return json;
}

json_t *
sbx_client_hello_refresh (sbx_client_t *self, sbx_error_t **error_p)
{
    sbx_request_t request = {.op = SBX_OP_HELLO};
    return s_json_request (self, &request, error_p);
}

json_t *
sbx_client_status (sbx_client_t *self, const char *sandbox, sbx_error_t **error_p)
{
    sbx_request_t request = {.op = SBX_OP_STATUS, .sandbox = (char *) sandbox};
    return s_json_request (self, &request, error_p);
}

json_t *
sbx_client_stats (sbx_client_t *self, sbx_error_t **error_p)
{
    sbx_request_t request = {.op = SBX_OP_STATS};
    return s_json_request (self, &request, error_p);
}

int
sbx_client_shutdown (sbx_client_t *self, sbx_error_t **error_p)
{
    sbx_request_t request = {.op = SBX_OP_SHUTDOWN};
    json_t *json = s_json_request (self, &request, error_p);
    if (!json)
        return -1;
    json_decref (json);
    return 0;
}

//  Packs JSON args (an object, or NULL) into `out`; -1 when not an object.
static int
s_pack_args (const json_t *args, msgpack_sbuffer *out, sbx_error_t **error_p)
{
    if (!args)
        return 0;
    if (!json_is_object (args)) {
        s_set_error (error_p, sbx_error_new (SBX_BAD_REQUEST, "args must be a JSON object"));
        return -1;
    }
    msgpack_packer packer;
    msgpack_packer_init (&packer, out, msgpack_sbuffer_write);
    sbx_mp_from_json (&packer, args);
    return 0;
}

//  Turns a msgpack result into JSON; NULL with an error when it is not one
//  object.
static json_t *
s_result_json (const msgpack_sbuffer *result, sbx_error_t **error_p)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    json_t *json = NULL;
    if (msgpack_unpack_next (&unpacked, result->data, result->size, &offset) == MSGPACK_UNPACK_SUCCESS)
        json = sbx_mp_to_json (&unpacked.data);
    else
        s_set_error (error_p, sbx_error_new (SBX_BAD_REQUEST, "the reply's result is not msgpack"));
    msgpack_unpacked_destroy (&unpacked);
    return json;
}

//  A call with JSON args (an object, or NULL) and a JSON result: in
//  `session`, or, when that is NULL, an ephemeral one of `client`.
static json_t *
s_call_json (sbx_client_t *client, sbx_session_t *session, const char *feature, const char *method,
             const json_t *args, const char *session_id, sbx_error_t **error_p)
{
    msgpack_sbuffer packed, result;
    msgpack_sbuffer_init (&packed);
    msgpack_sbuffer_init (&result);
    json_t *json = NULL;
    int rc = s_pack_args (args, &packed, error_p);
    if (rc == 0)
        rc = session ? sbx_session_call (session, feature, method, packed.data, packed.size, &result, error_p)
                     : sbx_client_call (client, feature, method, packed.data, packed.size, session_id,
                                        &result, error_p);
    if (rc == 0)
        json = s_result_json (&result, error_p);
    msgpack_sbuffer_destroy (&packed);
    msgpack_sbuffer_destroy (&result);
    return json;
}

//  Sends a call and appends its `result` to `result`. For an ephemeral call
//  also records the sandbox and session id.
static int
s_call (sbx_client_t *self, sbx_request_t *request, msgpack_sbuffer *result,
        sbx_error_t **error_p)
{
    bool ephemeral = request->sandbox == NULL;
    if (ephemeral)
        s_ask_acquire_timeout (self, request);
    sbx_reply_t *reply = s_request (self, request, ephemeral, error_p);
    if (!reply)
        return -1;
    const msgpack_object *value = sbx_reply_get (reply, "result");
    msgpack_packer packer;
    msgpack_packer_init (&packer, result, msgpack_sbuffer_write);
    if (value)
        msgpack_pack_object (&packer, *value);
    else
        msgpack_pack_nil (&packer);
    if (ephemeral) {
        free (self->last_sandbox);
        free (self->last_session_id);
        self->last_sandbox = sbx_mp_strdup (sbx_reply_get (reply, "sandbox"));
        self->last_session_id = sbx_mp_strdup (sbx_reply_get (reply, "session_id"));
    }
    sbx_reply_destroy (&reply);
    return 0;
}

int
sbx_client_call (sbx_client_t *self, const char *feature, const char *method,
                 const void *args, size_t args_size, const char *session_id,
                 msgpack_sbuffer *result, sbx_error_t **error_p)
{
    sbx_request_t request = {
        .op = SBX_OP_CALL, .feature = (char *) feature, .method = (char *) method,
        .session_id = (char *) session_id, .args = (uint8_t *) args, .args_size = args_size
    };
    return s_call (self, &request, result, error_p);
}

json_t *
sbx_client_call_json (sbx_client_t *self, const char *feature, const char *method,
                      const json_t *args, const char *session_id, sbx_error_t **error_p)
{
    return s_call_json (self, NULL, feature, method, args, session_id, error_p);
}

void
sbx_client_set_output (sbx_client_t *self, sbx_output_fn *fn, void *arg)
{
    self->output = fn;
    self->output_arg = arg;
    sbx_link_set_output (self->link, fn, arg);
}

void
sbx_client_set_input (sbx_client_t *self, int fd)
{
    self->input = fd;
    sbx_link_set_input (self->link, fd);
}

bool
sbx_client_can_input (const sbx_client_t *self)
{
    return sbx_link_can (self->link, "input");
}

bool
sbx_client_can_stream (const sbx_client_t *self)
{
    return sbx_link_can (self->link, "stream");
}

const char *
sbx_client_last_sandbox (const sbx_client_t *self)
{
    return self->last_sandbox;
}

const char *
sbx_client_last_session_id (const sbx_client_t *self)
{
    return self->last_session_id;
}

void
sbx_events_free (sbx_event_t ***events_p, size_t count)
{
    if (!events_p || !*events_p)
        return;
    for (size_t i = 0; i < count; i++)
        sbx_event_destroy (&(*events_p) [i]);
    free (*events_p);
    *events_p = NULL;
}

int
sbx_client_decode_replay (const sbx_reply_t *reply, sbx_event_t ***events_p, size_t *count_p,
                          uint64_t *next_p, bool *truncated_p, sbx_error_t **error_p)
{
    const msgpack_object *list = sbx_reply_get (reply, "events");
    const msgpack_object *next = sbx_reply_get (reply, "next");
    const msgpack_object *truncated = sbx_reply_get (reply, "truncated");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY
    ||  !next || next->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        s_set_error (error_p, sbx_error_new (SBX_BAD_REQUEST,
                     "events.replay reply without an `events` array and a `next` seq"));
        return -1;
    }
    size_t count = list->via.array.size;
    sbx_event_t **events = (sbx_event_t **) zmalloc ((count + 1) * sizeof (sbx_event_t *));
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    for (size_t i = 0; i < count; i++) {
        body.size = 0;
        msgpack_pack_object (&packer, list->via.array.ptr [i]);
        sbx_error_t *error = NULL;
        events [i] = sbx_event_decode (body.data, body.size, &error);
        if (!events [i]) {
            s_set_error (error_p, sbx_error_new (SBX_BAD_REQUEST, "bad event %zu in replay: %s",
                                                 i, sbx_error_message (error)));
            sbx_error_destroy (&error);
            msgpack_sbuffer_destroy (&body);
            sbx_events_free (&events, i);
            return -1;
        }
    }
    msgpack_sbuffer_destroy (&body);
    *events_p = events;
    *count_p = count;
    if (next_p)
        *next_p = next->via.u64;
    if (truncated_p)
        *truncated_p = truncated && truncated->type == MSGPACK_OBJECT_BOOLEAN && truncated->via.boolean;
    return 0;
}

int
sbx_client_replay (sbx_client_t *self, uint64_t since, size_t max,
                   sbx_event_t ***events_p, size_t *count_p,
                   uint64_t *next_p, bool *truncated_p, sbx_error_t **error_p)
{
    sbx_request_t request = {
        .op = SBX_OP_EVENTS_REPLAY, .has_since = true, .since = since,
        .has_max = max > 0, .max = max
    };
    sbx_reply_t *reply = s_request (self, &request, false, error_p);
    if (!reply)
        return -1;
    int rc = sbx_client_decode_replay (reply, events_p, count_p, next_p, truncated_p, error_p);
    sbx_reply_destroy (&reply);
    return rc;
}

//  --- Sessions ---------------------------------------------------------------

static void
s_renew (sbx_client_t *self, sbx_session_t *session)
{
    if (self->options.no_heartbeat)
        return;
    if (!self->heartbeat) {
        sbx_heartbeat_args_t args = {sbx_link_endpoint (self->link), self->curve};
        self->heartbeat = sbx_actor_new (sbx_heartbeat_actor, &args);
    }
    if (self->heartbeat)
        zstr_sendx (sbx_actor_pipe (self->heartbeat), "ADD", session->sandbox, session->token, NULL);
}

static void
s_forget (sbx_session_t *session)
{
    sbx_client_t *client = session->client;
    if (!client)
        return;
    if (client->heartbeat)
        zstr_sendx (sbx_actor_pipe (client->heartbeat), "REMOVE", session->sandbox, NULL);
    void *handle = zlistx_find (client->sessions, session);
    if (handle)
        zlistx_delete (client->sessions, handle);
}

static sbx_error_t *
s_orphan (void)
{
    return sbx_error_new (SBX_BAD_REQUEST, "the session's client was destroyed");
}

static sbx_session_t *
s_session_new (sbx_client_t *client, const char *sandbox, const char *token, const char *session_id)
{
    sbx_session_t *self = (sbx_session_t *) zmalloc (sizeof (sbx_session_t));
    self->client = client;
    self->sandbox = strdup (sandbox);
    self->token = strdup (token);
    self->session_id = session_id ? strdup (session_id) : NULL;
    zlistx_add_end (client->sessions, self);
    s_renew (client, self);
    return self;
}

sbx_session_t *
sbx_client_session_open (sbx_client_t *self, const char *session_id, sbx_error_t **error_p)
{
    sbx_request_t request = {.op = SBX_OP_SESSION_OPEN, .session_id = (char *) session_id};
    s_ask_acquire_timeout (self, &request);
    sbx_reply_t *reply = s_request (self, &request, true, error_p);
    if (!reply)
        return NULL;
    const char *sandbox = sbx_reply_get_str (reply, "sandbox");
    const char *token = sbx_reply_get_str (reply, "token");
    const char *id = sbx_reply_get_str (reply, "session_id");
    sbx_session_t *session = NULL;
    if (sandbox && token)
        session = s_session_new (self, sandbox, token, id);
    else
        s_set_error (error_p, sbx_error_new (SBX_BAD_REQUEST,
                     "session.open reply without `sandbox` and `token`"));
    sbx_reply_destroy (&reply);
    return session;
}

sbx_session_t *
sbx_client_session_attach (sbx_client_t *self, const char *sandbox, const char *token,
                           const char *session_id)
{
    if (!sandbox || !token)
        return NULL;
    return s_session_new (self, sandbox, token, session_id);
}

const char *
sbx_session_id (const sbx_session_t *self)
{
    return self->session_id;
}

const char *
sbx_session_sandbox (const sbx_session_t *self)
{
    return self->sandbox;
}

const char *
sbx_session_token (const sbx_session_t *self)
{
    return self->token;
}

int
sbx_session_call (sbx_session_t *self, const char *feature, const char *method,
                  const void *args, size_t args_size, msgpack_sbuffer *result,
                  sbx_error_t **error_p)
{
    if (!self->client) {
        s_set_error (error_p, s_orphan ());
        return -1;
    }
    sbx_request_t request = {
        .op = SBX_OP_CALL, .sandbox = self->sandbox, .token = self->token,
        .feature = (char *) feature, .method = (char *) method,
        .args = (uint8_t *) args, .args_size = args_size
    };
    return s_call (self->client, &request, result, error_p);
}

json_t *
sbx_session_call_json (sbx_session_t *self, const char *feature, const char *method,
                       const json_t *args, sbx_error_t **error_p)
{
    return s_call_json (NULL, self, feature, method, args, NULL, error_p);
}

int64_t
sbx_session_heartbeat (sbx_session_t *self, sbx_error_t **error_p)
{
    if (!self->client) {
        s_set_error (error_p, s_orphan ());
        return -1;
    }
    sbx_request_t request = {.op = SBX_OP_HEARTBEAT, .sandbox = self->sandbox, .token = self->token};
    sbx_reply_t *reply = s_request (self->client, &request, false, error_p);
    if (!reply)
        return -1;
    const msgpack_object *lease = sbx_reply_get (reply, "lease_ms");
    int64_t lease_ms = lease && lease->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                     ? (int64_t) lease->via.u64 : 0;
    sbx_reply_destroy (&reply);
    return lease_ms;
}

int
sbx_session_end (sbx_session_t **self_p, sbx_error_t **error_p)
{
    if (!self_p || !*self_p)
        return 0;
    sbx_session_t *self = *self_p;
    if (!self->client) {
        s_set_error (error_p, s_orphan ());
        return -1;
    }
    sbx_request_t request = {.op = SBX_OP_SESSION_END, .sandbox = self->sandbox, .token = self->token};
    sbx_error_t *error = NULL;
    sbx_reply_t *reply = sbx_link_request (self->client->link, &request,
                                           s_wait_ms (self->client, false), &error);
    if (!reply) {
        s_set_error (error_p, error);
        return -1;              //  not heard: the caller may retry
    }
    int rc = 0;
    if (!sbx_reply_is_ok (reply)) {
        const sbx_error_t *failure = sbx_reply_get_error (reply);
        s_set_error (error_p, failure ? sbx_error_dup (failure)
                                      : sbx_error_new (SBX_BAD_REQUEST, "error reply without an error"));
        rc = -1;
    }
    sbx_reply_destroy (&reply);
    sbx_session_destroy (self_p);
    return rc;
}

void
sbx_session_destroy (sbx_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_session_t *self = *self_p;
    s_forget (self);
    free (self->sandbox);
    free (self->token);
    free (self->session_id);
    free (self);
    *self_p = NULL;
}
