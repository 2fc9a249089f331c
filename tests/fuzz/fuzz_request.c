/*  libFuzzer target for the codecs: whatever bytes a client sends, the
    decoders must answer with a value or a BadRequest, never crash, leak or
    read out of bounds; and what they accept must survive a round trip.

    Build and run: make fuzz FUZZ_SECONDS=60 (clang, in build-fuzz/).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages/event.h"
#include "messages/mp.h"
#include "messages/reply.h"
#include "messages/request.h"

//  A broken invariant: say which, then crash so libFuzzer keeps the input.
#define S_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf (stderr, "fuzz_request: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort (); \
        } \
    } while (0)

static bool
s_str_eq (const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp (a, b) == 0);
}

static void
s_check_error (sbx_error_t **error_p)
{
    S_CHECK (*error_p);
    S_CHECK (sbx_error_is (*error_p, SBX_BAD_REQUEST));
    S_CHECK (sbx_error_message (*error_p) && *sbx_error_message (*error_p));
    sbx_error_destroy (error_p);
}

static void
s_fuzz_request (const uint8_t *data, size_t size)
{
    //  A small size limit, so that the size check is exercised too.
    sbx_limits_t limits = { 2048, SBX_MP_MAX_DEPTH };
    sbx_request_t req;
    sbx_error_t *error = sbx_request_decode (data, size, &limits, &req);
    if (error) {
        s_check_error (&error);
        //  Only the id survives a failure.
        S_CHECK (!req.sandbox && !req.token && !req.session_id && !req.feature
              && !req.method && !req.args);
        sbx_request_reset (&req);
        return;
    }
    msgpack_sbuffer first;
    msgpack_sbuffer_init (&first);
    sbx_request_encode (&req, &first);
    sbx_request_t again;
    error = sbx_request_decode (first.data, first.size, NULL, &again);
    S_CHECK (!error);
    S_CHECK (again.op == req.op);
    S_CHECK (again.has_id == req.has_id && again.id == req.id);
    S_CHECK (s_str_eq (again.sandbox, req.sandbox));
    S_CHECK (s_str_eq (again.token, req.token));
    S_CHECK (s_str_eq (again.session_id, req.session_id));
    S_CHECK (s_str_eq (again.feature, req.feature));
    S_CHECK (s_str_eq (again.method, req.method));
    S_CHECK (again.args_size == req.args_size);
    S_CHECK (again.args_size == 0 || memcmp (again.args, req.args, req.args_size) == 0);
    S_CHECK (again.has_timeout == req.has_timeout && again.timeout_ms == req.timeout_ms);
    S_CHECK (again.has_since == req.has_since && again.since == req.since);
    S_CHECK (again.has_max == req.has_max && again.max == req.max);
    //  Encoding is canonical: a second pass gives the same bytes.
    msgpack_sbuffer second;
    msgpack_sbuffer_init (&second);
    sbx_request_encode (&again, &second);
    S_CHECK (second.size == first.size && memcmp (second.data, first.data, first.size) == 0);
    msgpack_sbuffer_destroy (&second);
    msgpack_sbuffer_destroy (&first);
    sbx_request_reset (&again);
    sbx_request_reset (&req);
}

static void
s_fuzz_event (const uint8_t *data, size_t size)
{
    sbx_error_t *error = NULL;
    sbx_event_t *event = sbx_event_decode (data, size, &error);
    if (!event) {
        s_check_error (&error);
        return;
    }
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_event_encode (event, &buffer);
    S_CHECK ((uint8_t) buffer.data [SBX_EVENT_SEQ_OFFSET - 1] == 0xcf);
    sbx_event_t *again = sbx_event_decode (buffer.data, buffer.size, &error);
    S_CHECK (again);
    S_CHECK (again->kind == event->kind && again->seq == event->seq
          && again->ts_ns == event->ts_ns);
    S_CHECK (s_str_eq (again->environment, event->environment));
    S_CHECK (s_str_eq (again->sandbox, event->sandbox));
    S_CHECK (s_str_eq (again->session, event->session));
    S_CHECK (s_str_eq (again->name, event->name));
    S_CHECK (s_str_eq (sbx_error_type (again->error), sbx_error_type (event->error)));
    char *text = sbx_event_text (event);
    char *text_again = sbx_event_text (again);
    S_CHECK (text && text_again && strcmp (text, text_again) == 0);

    //  The JSON form is faithful except where JSON cannot be: a seq beyond
    //  int64 becomes a real, and bin/ext args become strings (which may
    //  change an activity's `code` text).
    json_t *json = sbx_event_to_json (event);
    S_CHECK (json);
    sbx_event_t *from_json = sbx_event_from_json (json, &error);
    if (event->seq <= (uint64_t) INT64_MAX) {
        S_CHECK (from_json);
        S_CHECK (from_json->kind == event->kind && from_json->seq == event->seq);
        char *text_json = sbx_event_text (from_json);
        S_CHECK (event->kind == SBX_EV_SESSION_ACTIVITY || strcmp (text, text_json) == 0);
        free (text_json);
    }
    else
        sbx_error_destroy (&error);
    sbx_event_destroy (&from_json);
    json_decref (json);

    free (text);
    free (text_again);
    sbx_event_destroy (&again);
    msgpack_sbuffer_destroy (&buffer);
    sbx_event_destroy (&event);
}

static void
s_fuzz_reply (const uint8_t *data, size_t size)
{
    sbx_error_t *error = NULL;
    sbx_reply_t *reply = sbx_reply_decode (data, size, &error);
    if (!reply) {
        s_check_error (&error);
        return;
    }
    S_CHECK (sbx_reply_is_ok (reply) == !sbx_reply_get_error (reply));
    const msgpack_object *map = sbx_reply_map (reply);
    S_CHECK (map && map->type == MSGPACK_OBJECT_MAP);
    //  Every key is reachable, and str values read as C strings.
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *key = &map->via.map.ptr [i].key;
        char *name = sbx_mp_strdup (key);
        if (!name)
            continue;
        S_CHECK (sbx_reply_get (reply, name));
        const char *value = sbx_reply_get_str (reply, name);
        if (value)
            S_CHECK (strlen (value) <= sbx_reply_get (reply, name)->via.str.size);
        free (name);
    }
    json_t *json = sbx_mp_to_json (map);
    S_CHECK (json);
    json_decref (json);
    sbx_reply_destroy (&reply);
}

//  Whatever the validator accepts, msgpack-c must unpack as one object.
static void
s_fuzz_check (const uint8_t *data, size_t size)
{
    sbx_error_t *error = sbx_mp_check (data, size, 32);
    if (error) {
        s_check_error (&error);
        return;
    }
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    int rc = msgpack_unpack_next (&unpacked, (const char *) data, size, &offset);
    S_CHECK (rc == MSGPACK_UNPACK_SUCCESS && offset == size);
    msgpack_unpacked_destroy (&unpacked);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_fuzz_check (data, size);
    s_fuzz_request (data, size);
    s_fuzz_event (data, size);
    s_fuzz_reply (data, size);
    return 0;
}
