/*  sbx_link - see link.h */
#include "client/link.h"
#include "messages/mp.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

struct sbx_link_t {
    zsock_t *dealer;
    char *endpoint;
    json_t *hello;
    uint64_t next_id;
    sbx_output_fn *output;      //  progress messages of streaming calls go here
    void *output_arg;
    int input;                  //  calls in a session read their input here; -1: none
};

//  Input as it comes for the call being waited for (docs/protocol.md
//  "Input"): read from the link's descriptor as the daemon takes it.
#define S_CONNECT_TIMEOUT_MS 2000
#define S_INPUT_CHUNK (64 * 1024)
#define S_INPUT_WINDOW 4        //  input requests unanswered at most

typedef struct {
    const sbx_request_t *call;  //  NULL: the request takes no input
    bool ended;                 //  its end was sent, or the daemon takes no more
    int unanswered;
    uint64_t first, last;       //  ids of the input requests sent (first > last: none)
} s_feed_t;

//  Reads what the descriptor has and sends it as one input request (its
//  end at EOF, or when it cannot be read). False when it cannot be sent.
static bool
s_feed (sbx_link_t *self, zsock_t *dealer, s_feed_t *feed)
{
    char *chunk = (char *) malloc (S_INPUT_CHUNK);
    assert (chunk);
    ssize_t n = read (self->input, chunk, S_INPUT_CHUNK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        free (chunk);
        return true;
    }
    sbx_request_t input = {
        .op = SBX_OP_INPUT, .has_id = true, .id = self->next_id++, .sandbox = feed->call->sandbox,
        .token = feed->call->token, .has_call = true, .call = feed->call->id,
        .data = n > 0 ? (uint8_t *) chunk : NULL, .data_size = n > 0 ? (size_t) n : 0, .eof = n <= 0
    };
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_request_encode (&input, &body);
    int rc = zmq_send (zsock_resolve (dealer), body.data, body.size, 0);
    msgpack_sbuffer_destroy (&body);
    free (chunk);
    if (feed->first > feed->last)
        feed->first = input.id;
    feed->last = input.id;
    feed->unanswered++;
    feed->ended |= input.eof;
    return rc >= 0;
}

//  A progress message of a streaming call - {id, stream, data}, no `ok` -
//  for request `id`: handed to the link's output. False when the message
//  is something else (a reply).
static bool
s_progress (sbx_link_t *self, const void *data, size_t size, uint64_t id)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    bool progress = false;
    if (msgpack_unpack_next (&unpacked, (const char *) data, size, NULL) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP && sbx_mp_absent (sbx_mp_map_get (&unpacked.data, "ok"))) {
        const msgpack_object *stream = sbx_mp_map_get (&unpacked.data, "stream");
        const msgpack_object *chunk = sbx_mp_map_get (&unpacked.data, "data");
        const msgpack_object *of = sbx_mp_map_get (&unpacked.data, "id");
        progress = stream && stream->type == MSGPACK_OBJECT_STR;
        if (progress && self->output && of && of->type == MSGPACK_OBJECT_POSITIVE_INTEGER
        &&  of->via.u64 == id && chunk && (chunk->type == MSGPACK_OBJECT_BIN || chunk->type == MSGPACK_OBJECT_STR)) {
            char name [32];
            snprintf (name, sizeof name, "%.*s", (int) stream->via.str.size, stream->via.str.ptr);
            self->output (self->output_arg, name,
                          chunk->type == MSGPACK_OBJECT_BIN ? chunk->via.bin.ptr : chunk->via.str.ptr,
                          chunk->type == MSGPACK_OBJECT_BIN ? chunk->via.bin.size : chunk->via.str.size);
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    return progress;
}

//  A DEALER that drops what it still holds when it is closed, and does
//  not queue requests for an endpoint that never answered (nor, with
//  CURVE, for one whose handshake was not done).
static zsock_t *
s_dealer (const char *endpoint, const sbx_curve_t *curve)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    zsock_set_linger (dealer, 0);
    zsock_set_immediate (dealer, 1);
    sbx_curve_apply (curve, dealer);
    if (zsock_connect (dealer, "%s", endpoint) != 0) {
        zsock_destroy (&dealer);
        return NULL;
    }
    return dealer;
}

static int64_t
s_left (int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - zclock_mono ();
    return left > 0 ? left : 0;
}

//  Waits for the reply with `id`; NULL with *error_p on failure. Meanwhile
//  a call that takes input (`feed`) gets it.
static sbx_reply_t *
s_wait_reply (sbx_link_t *self, zsock_t *dealer, const char *endpoint, uint64_t id, int timeout_ms,
              s_feed_t *feed, sbx_error_t **error_p)
{
    int64_t deadline = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
    while (true) {
        zmq_pollitem_t items [2] = {{zsock_resolve (dealer), 0, ZMQ_POLLIN, 0}};
        bool feeding = feed->call && !feed->ended && feed->unanswered < S_INPUT_WINDOW;
        if (feeding)
            items [1] = (zmq_pollitem_t) {NULL, self->input, ZMQ_POLLIN, 0};
        int rc = zmq_poll (items, feeding ? 2 : 1, (long) s_left (deadline));
        if (rc < 0 && zmq_errno () == EINTR) {
            *error_p = sbx_error_new (SBX_INTERRUPTED, "interrupted while waiting for %s", endpoint);
            return NULL;
        }
        if (rc <= 0) {
            if (rc == 0 && deadline >= 0 && zclock_mono () < deadline)
                continue;
            *error_p = sbx_error_new (SBX_TIMEOUT, "no reply from %s within %d ms",
                                      endpoint, timeout_ms);
            return NULL;
        }
        if (feeding && items [1].revents && !s_feed (self, dealer, feed)) {
            *error_p = sbx_error_new (SBX_UNREACHABLE, "cannot send input to %s: %s", endpoint,
                                      zmq_strerror (zmq_errno ()));
            return NULL;
        }
        if (!(items [0].revents & ZMQ_POLLIN))
            continue;
        zmsg_t *msg = zmsg_recv (dealer);
        if (!msg)
            continue;
        //  A reply is one body frame (a REQ-style empty delimiter is
        //  tolerated: the body is the last frame).
        zframe_t *body = zmsg_last (msg);
        if (body && self && s_progress (self, zframe_data (body), zframe_size (body), id)) {
            zmsg_destroy (&msg);
            continue;
        }
        sbx_error_t *problem = NULL;
        sbx_reply_t *reply = body ? sbx_reply_decode (zframe_data (body), zframe_size (body), &problem)
                                  : NULL;
        zmsg_destroy (&msg);
        if (!reply) {
            *error_p = sbx_error_new (SBX_BAD_REQUEST, "undecodable reply from %s: %s", endpoint,
                                      problem ? sbx_error_message (problem) : "empty message");
            sbx_error_destroy (&problem);
            return NULL;
        }
        if (sbx_reply_has_id (reply) && sbx_reply_id (reply) == id)
            return reply;
        if (sbx_reply_has_id (reply) && sbx_reply_id (reply) >= feed->first
        &&  sbx_reply_id (reply) <= feed->last) {
            //  Input taken; or not (`closed`, an error): then no more.
            const msgpack_object *closed = sbx_reply_get (reply, "closed");
            feed->unanswered--;
            if (!sbx_reply_is_ok (reply) || (closed && closed->type == MSGPACK_OBJECT_BOOLEAN
                                             && closed->via.boolean))
                feed->ended = true;
        }
        //  Else a late answer to an earlier request that timed out.
        sbx_reply_destroy (&reply);
    }
}

static sbx_reply_t *
s_request (sbx_link_t *self, zsock_t *dealer, const char *endpoint, sbx_request_t *request,
           int timeout_ms, sbx_error_t **error_p)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_request_encode (request, &body);
    int rc = zmq_send (zsock_resolve (dealer), body.data, body.size, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy (&body);
    if (rc < 0) {
        //  With ZMQ_IMMEDIATE, a DEALER without a completed connection
        //  refuses to queue: the daemon is not (or no longer) there.
        if (zmq_errno () == EAGAIN) {
            //  The TCP handshake may still be in flight: wait for it, within
            //  the same timeout, by polling for writability.
            int64_t deadline = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
            while (rc < 0 && zmq_errno () == EAGAIN) {
                zmq_pollitem_t item = {zsock_resolve (dealer), 0, ZMQ_POLLOUT, 0};
                int ready = zmq_poll (&item, 1, (long) s_left (deadline));
                if (ready < 0 && zmq_errno () == EINTR) {
                    *error_p = sbx_error_new (SBX_INTERRUPTED, "interrupted while connecting to %s",
                                              endpoint);
                    return NULL;
                }
                if (ready <= 0) {
                    *error_p = sbx_error_new (SBX_UNREACHABLE, "cannot connect to %s within %d ms",
                                              endpoint, timeout_ms);
                    return NULL;
                }
                msgpack_sbuffer_init (&body);
                sbx_request_encode (request, &body);
                rc = zmq_send (zsock_resolve (dealer), body.data, body.size, ZMQ_DONTWAIT);
                msgpack_sbuffer_destroy (&body);
            }
        }
        if (rc < 0) {
            *error_p = sbx_error_new (SBX_UNREACHABLE, "cannot send to %s: %s", endpoint,
                                      zmq_strerror (zmq_errno ()));
            return NULL;
        }
    }
    s_feed_t feed = {request->input ? request : NULL, false, 0, 1, 0};
    return s_wait_reply (self, dealer, endpoint, request->id, timeout_ms, &feed, error_p);
}

json_t *
sbx_link_reply_json (const sbx_reply_t *reply)
{
    json_t *json = sbx_mp_to_json (sbx_reply_map (reply));
    if (!json_is_object (json)) {
        json_decref (json);
        return json_object ();
    }
    json_object_del (json, "id");
    json_object_del (json, "ok");
    return json;
}

sbx_link_t *
sbx_link_new (const char *endpoints, int connect_timeout_ms, const sbx_curve_t *curve,
              sbx_error_t **error_p)
{
    if (!endpoints || !*endpoints)
        endpoints = SBX_DEFAULT_ENDPOINT;
    if (connect_timeout_ms <= 0)
        connect_timeout_ms = S_CONNECT_TIMEOUT_MS;
    char *list = strdup (endpoints);
    char *tried = NULL;
    sbx_error_t *last = NULL;
    sbx_link_t *self = NULL;
    char *saveptr = NULL;
    for (char *endpoint = strtok_r (list, ", ", &saveptr); endpoint && !self;
         endpoint = strtok_r (NULL, ", ", &saveptr)) {
        char *more = zsys_sprintf ("%s%s%s", tried ? tried : "", tried ? ", " : "", endpoint);
        zstr_free (&tried);
        tried = more;
        zsock_t *dealer = s_dealer (endpoint, curve);
        if (!dealer) {
            sbx_error_destroy (&last);
            last = sbx_error_new (SBX_UNREACHABLE, "bad endpoint '%s': %s", endpoint,
                                  zmq_strerror (zmq_errno ()));
            continue;
        }
        sbx_request_t hello = {.op = SBX_OP_HELLO, .has_id = true, .id = 1};
        sbx_error_t *error = NULL;
        sbx_reply_t *reply = s_request (NULL, dealer, endpoint, &hello, connect_timeout_ms, &error);
        if (reply && !sbx_reply_is_ok (reply))
            error = sbx_error_dup (sbx_reply_get_error (reply));
        if (error) {
            sbx_reply_destroy (&reply);
            zsock_destroy (&dealer);
            sbx_error_destroy (&last);
            last = error;
            if (sbx_error_is (last, SBX_INTERRUPTED))
                break;
            continue;
        }
        self = (sbx_link_t *) zmalloc (sizeof (sbx_link_t));
        self->dealer = dealer;
        self->endpoint = strdup (endpoint);
        self->hello = sbx_link_reply_json (reply);
        self->next_id = 2;
        self->input = -1;
        sbx_reply_destroy (&reply);
    }
    if (!self) {
        if (!last)
            last = sbx_error_new (SBX_UNREACHABLE, "no endpoint given");
        else if (sbx_error_is (last, SBX_TIMEOUT) || sbx_error_is (last, SBX_UNREACHABLE)) {
            sbx_error_destroy (&last);
            last = sbx_error_new (SBX_UNREACHABLE, "no sbx daemon answered at %s within %d ms%s",
                                  tried ? tried : endpoints, connect_timeout_ms, curve
                                  ? " (with CURVE: a daemon refuses keys it does not list, and "
                                    "answers no client without keys; see docs/security.md; it also "
                                    "refuses connections past its limits.peers)"
                                  : " (a daemon also refuses connections past its limits.peers, "
                                    "and logs it)");
        }
        if (error_p)
            *error_p = last;
        else
            sbx_error_destroy (&last);
    }
    else
        sbx_error_destroy (&last);
    zstr_free (&tried);
    free (list);
    return self;
}

sbx_link_t *
sbx_link_open (const char *endpoints, int connect_timeout_ms, const char *server_cert, const char *cert,
               sbx_curve_t **curve_p, sbx_error_t **error_p)
{
    sbx_curve_t *curve = NULL;
    if ((server_cert || cert) && !(curve = sbx_curve_load (server_cert, cert, error_p)))
        return NULL;
    sbx_link_t *link = sbx_link_new (endpoints, connect_timeout_ms, curve, error_p);
    if (link)
        *curve_p = curve;
    else
        sbx_curve_destroy (&curve);
    return link;
}

void
sbx_link_destroy (sbx_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_link_t *self = *self_p;
    zsock_destroy (&self->dealer);
    json_decref (self->hello);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

const char *
sbx_link_endpoint (const sbx_link_t *self)
{
    return self->endpoint;
}

const json_t *
sbx_link_hello (const sbx_link_t *self)
{
    return self->hello;
}

sbx_reply_t *
sbx_link_request (sbx_link_t *self, sbx_request_t *request, int timeout_ms, sbx_error_t **error_p)
{
    request->has_id = true;
    request->id = self->next_id++;
    sbx_error_t *error = NULL;
    request->stream = request->op == SBX_OP_CALL && self->output && sbx_link_can (self, "stream");
    request->input = request->op == SBX_OP_CALL && request->sandbox && self->input >= 0
                  && sbx_link_can (self, "input");
    sbx_reply_t *reply = s_request (self, self->dealer, self->endpoint, request, timeout_ms, &error);
    if (error) {
        if (error_p)
            *error_p = error;
        else
            sbx_error_destroy (&error);
    }
    return reply;
}

void
sbx_link_set_output (sbx_link_t *self, sbx_output_fn *fn, void *arg)
{
    self->output = fn;
    self->output_arg = arg;
}

void
sbx_link_set_input (sbx_link_t *self, int fd)
{
    self->input = fd;
}

bool
sbx_link_can (const sbx_link_t *self, const char *capability)
{
    const json_t *list = self->hello ? json_object_get (self->hello, "capabilities") : NULL;
    size_t index;
    json_t *item;
    json_array_foreach (list, index, item)
        if (json_is_string (item) && streq (json_string_value (item), capability))
            return true;
    return false;
}

sbx_reply_t *
sbx_link_call (sbx_link_t *self, sbx_request_t *request, int timeout_ms, sbx_error_t **error_p)
{
    sbx_reply_t *reply = sbx_link_request (self, request, timeout_ms, error_p);
    if (reply && !sbx_reply_is_ok (reply)) {
        const sbx_error_t *error = sbx_reply_get_error (reply);
        if (error_p)
            *error_p = error ? sbx_error_dup (error)
                             : sbx_error_new (SBX_BAD_REQUEST, "error reply without an error");
        sbx_reply_destroy (&reply);
    }
    return reply;
}
