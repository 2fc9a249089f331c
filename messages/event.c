/*  sbx_event - see messages/event.h */
#include "messages/event.h"
#include "messages/mp.h"

#include <msgpack/unpack_define.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_kind_names [SBX_EV_COUNT] = {
    "environment.start", "environment.shutdown",
    "sandbox.start", "sandbox.shutdown", "sandbox.status",
    "feature.setup", "feature.teardown", "feature.housekeep",
    "feature.setup_session", "feature.teardown_session",
    "session.start", "session.end", "session.activity"
};

//  The kind's own keys (PROTOCOL.md, event table), packed in this order
//  after the common keys.
enum {
    E_SANDBOX = 1 << 0,
    E_OLD     = 1 << 1,
    E_NEW     = 1 << 2,
    E_FEATURE = 1 << 3,
    E_SESSION = 1 << 4,
    E_NAME    = 1 << 5,
    E_ARGS    = 1 << 6
};

static const unsigned s_kind_keys [SBX_EV_COUNT] = {
    [SBX_EV_ENVIRONMENT_START]       = 0,
    [SBX_EV_ENVIRONMENT_SHUTDOWN]    = 0,
    [SBX_EV_SANDBOX_START]           = E_SANDBOX,
    [SBX_EV_SANDBOX_SHUTDOWN]        = E_SANDBOX,
    [SBX_EV_SANDBOX_STATUS]          = E_SANDBOX | E_OLD | E_NEW,
    [SBX_EV_FEATURE_SETUP]           = E_SANDBOX | E_FEATURE,
    [SBX_EV_FEATURE_TEARDOWN]        = E_SANDBOX | E_FEATURE,
    [SBX_EV_FEATURE_HOUSEKEEP]       = E_SANDBOX | E_FEATURE,
    [SBX_EV_FEATURE_SETUP_SESSION]   = E_SANDBOX | E_FEATURE | E_SESSION,
    [SBX_EV_FEATURE_TEARDOWN_SESSION]= E_SANDBOX | E_FEATURE | E_SESSION,
    [SBX_EV_SESSION_START]           = E_SANDBOX | E_SESSION,
    [SBX_EV_SESSION_END]             = E_SANDBOX | E_SESSION,
    [SBX_EV_SESSION_ACTIVITY]        = E_SANDBOX | E_FEATURE | E_SESSION | E_NAME | E_ARGS,
};

//  A decoded event: the public struct first, so that the pointer we hand
//  out is also the one we free, then the storage its fields point into.
typedef struct {
    sbx_event_t event;
    char *environment;
    char *sandbox;
    char *old_status;
    char *new_status;
    char *feature;
    char *session;
    char *name;
    uint8_t *args;
    sbx_error_t *error;
} s_event_t;

const char *
sbx_event_kind_name (sbx_event_kind_t kind)
{
    return sbx_mp_name_at (s_kind_names, SBX_EV_COUNT, (int) kind);
}

int
sbx_event_kind_parse (const char *name, size_t len)
{
    return sbx_mp_name_index (s_kind_names, SBX_EV_COUNT, name, len);
}

static unsigned
s_keys (sbx_event_kind_t kind)
{
    return sbx_event_kind_name (kind) ? s_kind_keys [kind] : 0;
}

//  --------------------------------------------------------------------------
//  Encoding

void
sbx_event_encode (const sbx_event_t *event, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    unsigned keys = s_keys (event->kind);
    size_t count = 5;           //  seq, ts_ns, event, environment, error
    for (unsigned bit = keys; bit; bit &= bit - 1)
        count++;
    if (event->duration_ns > 0)
        count++;
    //  At most 13 keys: always a fixmap, so `seq` and `ts_ns` land at fixed
    //  offsets (1 byte map + 4 bytes "seq" + 0xcf = SBX_EVENT_SEQ_OFFSET;
    //  + 8 + 6 bytes "ts_ns" + 0xd3 = SBX_EVENT_TS_OFFSET).
    msgpack_pack_map (&pk, count);
    sbx_mp_pack_str (&pk, "seq");
    msgpack_pack_fix_uint64 (&pk, event->seq);
    sbx_mp_pack_str (&pk, "ts_ns");
    msgpack_pack_fix_int64 (&pk, event->ts_ns);
    sbx_mp_pack_str (&pk, "event");
    sbx_mp_pack_str (&pk, sbx_event_kind_name (event->kind));
    sbx_mp_pack_str (&pk, "environment");
    sbx_mp_pack_str (&pk, event->environment);

    const struct {
        unsigned flag;
        const char *key;
        const char *value;
    } strings [] = {
        { E_SANDBOX, "sandbox", event->sandbox },
        { E_OLD,     "old",     event->old_status },
        { E_NEW,     "new",     event->new_status },
        { E_FEATURE, "feature", event->feature },
        { E_SESSION, "session", event->session },
        { E_NAME,    "name",    event->name },
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings [0]; i++)
        if (keys & strings [i].flag) {
            sbx_mp_pack_str (&pk, strings [i].key);
            sbx_mp_pack_str (&pk, strings [i].value);
        }
    if (keys & E_ARGS) {
        sbx_mp_pack_str (&pk, "args");
        if (event->args && event->args_size > 0)
            msgpack_sbuffer_write (out, (const char *) event->args, event->args_size);
        else
            msgpack_pack_map (&pk, 0);
    }
    if (event->duration_ns > 0) {
        sbx_mp_pack_str (&pk, "duration_ns");
        msgpack_pack_int64 (&pk, event->duration_ns);
    }
    sbx_mp_pack_str (&pk, "error");
    sbx_mp_pack_error (&pk, event->error);
}

void
sbx_event_patch_seq (uint8_t *body, uint64_t seq)
{
    for (int i = 0; i < 8; i++)
        body [SBX_EVENT_SEQ_OFFSET + i] = (uint8_t) (seq >> (56 - 8 * i));
}

int64_t
sbx_event_stamp_ts (uint8_t *body, int64_t floor)
{
    uint64_t raw = 0;
    for (int i = 0; i < 8; i++)
        raw = raw << 8 | body [SBX_EVENT_TS_OFFSET + i];
    int64_t ts = (int64_t) raw;
    if (ts >= floor)
        return ts;
    for (int i = 0; i < 8; i++)
        body [SBX_EVENT_TS_OFFSET + i] = (uint8_t) ((uint64_t) floor >> (56 - 8 * i));
    return floor;
}

//  --------------------------------------------------------------------------
//  Activity arguments, summarised

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen (name)
        && memcmp (key->via.str.ptr, name, key->via.str.size) == 0;
}

//  The longest prefix of `s` no longer than `max` bytes that does not cut
//  a UTF-8 sequence.
static size_t
s_utf8_prefix (const char *s, size_t size, size_t max)
{
    size_t cut = size < max ? size : max;
    while (cut > 0 && cut < size && ((unsigned char) s [cut] & 0xc0) == 0x80)
        cut--;
    return cut;
}

static void
s_summarise (msgpack_packer *pk, const msgpack_object *o, int depth)
{
    switch (o->type) {
        case MSGPACK_OBJECT_STR:
            if (o->via.str.size <= SBX_EVENT_ARG_MAX)
                msgpack_pack_object (pk, *o);
            else {
                char text [SBX_EVENT_ARG_MAX + 64];
                size_t keep = s_utf8_prefix (o->via.str.ptr, o->via.str.size, SBX_EVENT_ARG_MAX);
                int n = snprintf (text, sizeof text, "%.*s ... (%u bytes)", (int) keep, o->via.str.ptr,
                                  (unsigned) o->via.str.size);
                sbx_mp_pack_strn (pk, text, (size_t) n < sizeof text ? (size_t) n : sizeof text - 1);
            }
            break;
        case MSGPACK_OBJECT_BIN:
            if (o->via.bin.size <= SBX_EVENT_ARG_MAX)
                msgpack_pack_object (pk, *o);
            else {
                char text [64];
                snprintf (text, sizeof text, "<%u bytes>", (unsigned) o->via.bin.size);
                sbx_mp_pack_str (pk, text);
            }
            break;
        case MSGPACK_OBJECT_ARRAY:
            msgpack_pack_array (pk, o->via.array.size);
            for (uint32_t i = 0; i < o->via.array.size; i++)
                s_summarise (pk, &o->via.array.ptr [i], depth + 1);
            break;
        case MSGPACK_OBJECT_MAP:
            msgpack_pack_map (pk, o->via.map.size);
            for (uint32_t i = 0; i < o->via.map.size; i++) {
                const msgpack_object *key = &o->via.map.ptr [i].key;
                const msgpack_object *value = &o->via.map.ptr [i].val;
                s_summarise (pk, key, depth + 1);
                if (depth == 0 && (s_key_is (key, "data") || s_key_is (key, "stdin")))
                    msgpack_pack_uint64 (pk, value->type == MSGPACK_OBJECT_STR ? value->via.str.size
                                           : value->type == MSGPACK_OBJECT_BIN ? value->via.bin.size : 0);
                else
                if (depth == 0 && s_key_is (key, "env"))
                    msgpack_pack_uint64 (pk, value->type == MSGPACK_OBJECT_MAP ? value->via.map.size : 0);
                else
                    s_summarise (pk, value, depth + 1);
            }
            break;
        default:
            msgpack_pack_object (pk, *o);
            break;
    }
}

void
sbx_event_summarise_args (const msgpack_object *args, size_t args_size, msgpack_sbuffer *out)
{
    size_t at = out->size;
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    s_summarise (&pk, args, 0);
    if (out->size - at > SBX_EVENT_ARGS_MAX) {
        out->size = at;
        msgpack_pack_map (&pk, 1);
        sbx_mp_pack_str (&pk, "args_bytes");
        msgpack_pack_uint64 (&pk, args_size);
    }
}

//  --------------------------------------------------------------------------
//  Decoding

static sbx_error_t *
s_decode (const msgpack_object *root, s_event_t *self)
{
    sbx_event_t *event = &self->event;
    if (root->type != MSGPACK_OBJECT_MAP)
        return sbx_error_new (SBX_BAD_REQUEST, "event body must be a map, got %s",
                              sbx_mp_type_name (root));

    const msgpack_object *o = sbx_mp_map_get (root, "seq");
    if (sbx_mp_absent (o))
        return sbx_error_new (SBX_BAD_REQUEST, "missing key 'seq'");
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return sbx_error_new (SBX_BAD_REQUEST,
            "key 'seq' must be a non-negative integer, got %s", sbx_mp_type_name (o));
    event->seq = o->via.u64;

    o = sbx_mp_map_get (root, "ts_ns");
    if (sbx_mp_absent (o))
        return sbx_error_new (SBX_BAD_REQUEST, "missing key 'ts_ns'");
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        event->ts_ns = o->via.i64;
    else
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t) INT64_MAX)
        event->ts_ns = (int64_t) o->via.u64;
    else
        return sbx_error_new (SBX_BAD_REQUEST,
            "key 'ts_ns' must be a 64-bit integer, got %s", sbx_mp_type_name (o));

    sbx_error_t *error = sbx_mp_get_name (root, "event", &o);
    if (error)
        return error;
    int kind = sbx_event_kind_parse (o->via.str.ptr, o->via.str.size);
    if (kind < 0)
        return sbx_error_new (SBX_BAD_REQUEST, "unknown event '%.*s'",
                              (int) (o->via.str.size > 64 ? 64 : o->via.str.size),
                              o->via.str.ptr);
    event->kind = (sbx_event_kind_t) kind;

    error = sbx_mp_get_str (root, "environment", &self->environment);
    if (error)
        return error;
    unsigned keys = s_kind_keys [kind];
    const struct {
        unsigned flag;
        const char *key;
        char **field_p;
    } strings [] = {
        { E_SANDBOX, "sandbox", &self->sandbox },
        { E_OLD,     "old",     &self->old_status },
        { E_NEW,     "new",     &self->new_status },
        { E_FEATURE, "feature", &self->feature },
        { E_SESSION, "session", &self->session },
        { E_NAME,    "name",    &self->name },
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings [0]; i++)
        if (keys & strings [i].flag) {
            error = sbx_mp_get_str (root, strings [i].key, strings [i].field_p);
            if (error)
                return error;
        }
    if (keys & E_ARGS) {
        error = sbx_mp_get_map (root, "args", &self->args, &event->args_size);
        if (error)
            return error;
    }
    o = sbx_mp_map_get (root, "duration_ns");
    if (!sbx_mp_absent (o)) {
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > (uint64_t) INT64_MAX)
            return sbx_error_new (SBX_BAD_REQUEST, "key 'duration_ns' must be a positive integer, got %s",
                                  sbx_mp_type_name (o));
        event->duration_ns = (int64_t) o->via.u64;
    }
    o = sbx_mp_map_get (root, "error");
    if (!sbx_mp_absent (o)) {
        const char *problem = "bad error";
        self->error = sbx_mp_unpack_error (o, &problem);
        if (!self->error)
            return sbx_error_new (SBX_BAD_REQUEST, "key 'error' is not valid: %s", problem);
    }
    event->environment = self->environment;
    event->sandbox = self->sandbox;
    event->old_status = self->old_status;
    event->new_status = self->new_status;
    event->feature = self->feature;
    event->session = self->session;
    event->name = self->name;
    event->args = self->args;
    event->error = self->error;
    return NULL;
}

sbx_event_t *
sbx_event_decode (const void *data, size_t size, sbx_error_t **error_p)
{
    sbx_error_t *error = sbx_mp_check_body (data, size);
    s_event_t *self = NULL;
    if (!error) {
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        size_t offset = 0;
        if (msgpack_unpack_next (&unpacked, (const char *) data, size, &offset)
            == MSGPACK_UNPACK_SUCCESS) {
            self = (s_event_t *) calloc (1, sizeof (s_event_t));
            if (!self)
                abort ();
            error = s_decode (&unpacked.data, self);
        }
        else
            error = sbx_error_new (SBX_BAD_REQUEST, "event body is not msgpack");
        msgpack_unpacked_destroy (&unpacked);
    }
    if (error) {
        sbx_event_t *event = self ? &self->event : NULL;
        sbx_event_destroy (&event);
        sbx_mp_give_error (error, error_p);
        return NULL;
    }
    return &self->event;
}

void
sbx_event_destroy (sbx_event_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_event_t *self = (s_event_t *) *self_p;
    free (self->environment);
    free (self->sandbox);
    free (self->old_status);
    free (self->new_status);
    free (self->feature);
    free (self->session);
    free (self->name);
    free (self->args);
    sbx_error_destroy (&self->error);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  JSON: through the msgpack body, so both forms have the same keys by
//  construction.

json_t *
sbx_event_to_json (const sbx_event_t *event)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_event_encode (event, &buffer);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    json_t *json = NULL;
    if (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset)
        == MSGPACK_UNPACK_SUCCESS)
        json = sbx_mp_to_json (&unpacked.data);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
    return json;
}

sbx_event_t *
sbx_event_from_json (const json_t *json, sbx_error_t **error_p)
{
    if (!json_is_object (json)) {
        sbx_mp_give_error (sbx_error_new (SBX_BAD_REQUEST, "event JSON must be an object"),
                           error_p);
        return NULL;
    }
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    sbx_mp_from_json (&pk, json);
    sbx_event_t *event = sbx_event_decode (buffer.data, buffer.size, error_p);
    msgpack_sbuffer_destroy (&buffer);
    return event;
}

//  --------------------------------------------------------------------------
//  Text form

//  printf into a new string of the right size. Caller frees.
static char *
s_format (const char *format, ...)
    __attribute__ ((format (printf, 1, 2)));

static char *
s_format (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    int size = vsnprintf (NULL, 0, format, args);
    va_end (args);
    if (size < 0)
        size = 0;
    char *text = (char *) malloc ((size_t) size + 1);
    if (!text)
        abort ();
    va_start (args, format);
    vsnprintf (text, (size_t) size + 1, format, args);
    va_end (args);
    return text;
}

//  The `code` argument of an activity as the text form shows it (or, when
//  there is none, its `cmd`: the shell feature's run): a str verbatim,
//  any other value as JSON, `None` when there is neither.
static char *
s_activity_code (const uint8_t *args, size_t size)
{
    char *text = NULL;
    if (!args || size == 0)
        return s_format ("None");
    //  Args of an event being encoded come from our own code, but a bad
    //  buffer must not become a bad allocation.
    sbx_error_t *error = sbx_mp_check (args, size, MSGPACK_EMBED_STACK_SIZE);
    if (error) {
        sbx_error_destroy (&error);
        return s_format ("None");
    }
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    if (msgpack_unpack_next (&unpacked, (const char *) args, size, &offset)
        == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *code = sbx_mp_map_get (&unpacked.data, "code");
        if (sbx_mp_absent (code))
            code = sbx_mp_map_get (&unpacked.data, "cmd");
        if (sbx_mp_absent (code))
            ;
        else
        if (code->type == MSGPACK_OBJECT_STR) {
            //  Not through printf: a precision is an int, a str is not.
            size_t len = code->via.str.size;
            text = (char *) malloc (len + 1);
            if (!text)
                abort ();
            if (len > 0)
                memcpy (text, code->via.str.ptr, len);
            text [len] = 0;
        }
        else {
            json_t *json = sbx_mp_to_json (code);
            text = json_dumps (json, JSON_ENCODE_ANY);
            json_decref (json);
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    return text ? text : s_format ("None");
}

static const char *
s_or_none (const char *s)
{
    return s ? s : "None";
}

char *
sbx_event_text (const sbx_event_t *event)
{
    const char *env = s_or_none (event->environment);
    const char *sb = s_or_none (event->sandbox);
    const char *feature = s_or_none (event->feature);
    const char *session = s_or_none (event->session);
    char *line = NULL;
    switch (event->kind) {
        case SBX_EV_ENVIRONMENT_START:
            line = s_format ("[%s] environment started", env);
            break;
        case SBX_EV_ENVIRONMENT_SHUTDOWN:
            line = s_format ("[%s] environment shutdown", env);
            break;
        case SBX_EV_SANDBOX_START:
            line = s_format ("[%s] sandbox started", sb);
            break;
        case SBX_EV_SANDBOX_SHUTDOWN:
            line = s_format ("[%s] sandbox shutdown", sb);
            break;
        case SBX_EV_SANDBOX_STATUS:
            line = s_format ("[%s] %s -> %s", sb, s_or_none (event->old_status),
                             s_or_none (event->new_status));
            break;
        case SBX_EV_FEATURE_SETUP:
            line = s_format ("[%s/%s] feature setup", sb, feature);
            break;
        case SBX_EV_FEATURE_TEARDOWN:
            line = s_format ("[%s/%s] feature teardown", sb, feature);
            break;
        case SBX_EV_FEATURE_HOUSEKEEP:
            line = s_format ("[%s/%s] feature housekeep", sb, feature);
            break;
        case SBX_EV_FEATURE_SETUP_SESSION:
            line = s_format ("[%s/%s] feature setup session", sb, feature);
            break;
        case SBX_EV_FEATURE_TEARDOWN_SESSION:
            line = s_format ("[%s/%s] feature teardown session", sb, feature);
            break;
        case SBX_EV_SESSION_START:
            line = s_format ("[%s] session '%s' started", sb, session);
            break;
        case SBX_EV_SESSION_END:
            line = s_format ("[%s] session '%s' ended", sb, session);
            break;
        case SBX_EV_SESSION_ACTIVITY: {
            char *code = s_activity_code (event->args, event->args_size);
            line = s_format ("[%s/%s] %s: %s", sb, session, s_or_none (event->name), code);
            free (code);
            break;
        }
        case SBX_EV_COUNT:
            break;
    }
    if (!line)
        line = s_format ("[%s] unknown event %d", env, (int) event->kind);
    if (event->error) {
        char *with = s_format ("%s with %s", line, sbx_error_type (event->error));
        free (line);
        line = with;
    }
    return line;
}
