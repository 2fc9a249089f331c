/*  sbx_request - see messages/request.h */
#include "messages/request.h"
#include "messages/mp.h"

#include <msgpack/unpack_define.h>
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_op_names [SBX_OP_COUNT] = {
    "hello", "acquire", "session.start", "session.open", "call",
    "session.end", "heartbeat", "status", "stats", "events.replay",
    "shutdown", "input"
};

//  The keys each op reads (PROTOCOL.md "Operations"); an op ignores the
//  others like unknown keys, so they stay absent in the struct.
enum {
    K_SANDBOX    = 1 << 0,
    K_TOKEN      = 1 << 1,
    K_SESSION_ID = 1 << 2,
    K_FEATURE    = 1 << 3,
    K_METHOD     = 1 << 4,
    K_ARGS       = 1 << 5,
    K_TIMEOUT    = 1 << 6,
    K_SINCE      = 1 << 7,
    K_MAX        = 1 << 8,
    K_STREAM     = 1 << 9,
    K_INPUT      = 1 << 10,
    K_CALL       = 1 << 11,
    K_DATA       = 1 << 12,
    K_EOF        = 1 << 13
};

static const struct {
    unsigned uses;
    unsigned requires;
} s_op_keys [SBX_OP_COUNT] = {
    [SBX_OP_HELLO]         = { 0, 0 },
    [SBX_OP_ACQUIRE]       = { K_TIMEOUT, 0 },
    [SBX_OP_SESSION_START] = { K_SANDBOX | K_TOKEN | K_SESSION_ID, K_SANDBOX },
    [SBX_OP_SESSION_OPEN]  = { K_SESSION_ID | K_TIMEOUT, 0 },
    [SBX_OP_CALL]          = { K_SANDBOX | K_TOKEN | K_FEATURE | K_METHOD | K_ARGS
                             | K_SESSION_ID | K_TIMEOUT | K_STREAM | K_INPUT, K_METHOD },
    [SBX_OP_SESSION_END]   = { K_SANDBOX | K_TOKEN, K_SANDBOX },
    [SBX_OP_HEARTBEAT]     = { K_SANDBOX | K_TOKEN, K_SANDBOX },
    [SBX_OP_STATUS]        = { K_SANDBOX, 0 },
    [SBX_OP_STATS]         = { 0, 0 },
    [SBX_OP_EVENTS_REPLAY] = { K_SINCE | K_MAX, K_SINCE },
    [SBX_OP_SHUTDOWN]      = { 0, 0 },
    [SBX_OP_INPUT]         = { K_SANDBOX | K_TOKEN | K_CALL | K_DATA | K_EOF, K_SANDBOX | K_CALL },
};

const char *
sbx_op_name (sbx_op_t op)
{
    return sbx_mp_name_at (s_op_names, SBX_OP_COUNT, (int) op);
}

int
sbx_op_parse (const char *name, size_t len)
{
    return sbx_mp_name_index (s_op_names, SBX_OP_COUNT, name, len);
}

//  A short printable sample of client bytes for an error message: at most
//  32 bytes, non-printables as \xNN, so a hostile name cannot forge lines.
static void
s_sample (const char *ptr, size_t len, char *buffer, size_t size)
{
    size_t used = 0;
    buffer [0] = 0;
    for (size_t i = 0; i < len && i < 32; i++) {
        unsigned char c = (unsigned char) ptr [i];
        int n = (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
              ? snprintf (buffer + used, size - used, "%c", c)
              : snprintf (buffer + used, size - used, "\\x%02x", c);
        if (n < 0 || (size_t) n >= size - used)
            return;
        used += (size_t) n;
    }
    if (len > 32)
        snprintf (buffer + used, size - used, "...");
}

//  Reads an optional non-negative integer key.
static sbx_error_t *
s_get_uint (const msgpack_object *root, const char *key,
            bool *has_p, uint64_t *value_p)
{
    const msgpack_object *o;
    sbx_error_t *error = sbx_mp_get_object (root, key, MSGPACK_OBJECT_POSITIVE_INTEGER,
                                            "a non-negative integer", &o);
    if (o) {
        *has_p = true;
        *value_p = o->via.u64;
    }
    return error;
}

//  Reads an optional boolean key.
static sbx_error_t *
s_get_bool (const msgpack_object *root, const char *key, bool *value_p)
{
    const msgpack_object *o;
    sbx_error_t *error = sbx_mp_get_object (root, key, MSGPACK_OBJECT_BOOLEAN, "true or false", &o);
    if (o)
        *value_p = o->via.boolean;
    return error;
}

//  `data`: bytes, as bin or str, copied (the request outlives its frame).
static sbx_error_t *
s_get_data (const msgpack_object *root, sbx_request_t *req)
{
    const msgpack_object *o = sbx_mp_map_get (root, "data");
    if (sbx_mp_absent (o))
        return NULL;
    if (o->type != MSGPACK_OBJECT_BIN && o->type != MSGPACK_OBJECT_STR)
        return sbx_error_new (SBX_BAD_REQUEST, "key 'data' must be bytes or a string, got %s",
                              sbx_mp_type_name (o));
    const char *bytes = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.ptr : o->via.str.ptr;
    req->data_size = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.size : o->via.str.size;
    req->data = (uint8_t *) malloc (req->data_size ? req->data_size : 1);
    assert (req->data);
    if (req->data_size)
        memcpy (req->data, bytes, req->data_size);
    return NULL;
}

static sbx_error_t *
s_decode (const msgpack_object *root, sbx_request_t *req)
{
    if (root->type != MSGPACK_OBJECT_MAP)
        return sbx_error_new (SBX_BAD_REQUEST, "request body must be a map, got %s",
                              sbx_mp_type_name (root));
    //  `id` first, so that whatever else is wrong can be echoed to the
    //  client under the id it is waiting for.
    sbx_error_t *error = s_get_uint (root, "id", &req->has_id, &req->id);
    if (error)
        return error;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *key = &root->via.map.ptr [i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            return sbx_error_new (SBX_BAD_REQUEST,
                "request body keys must be strings, got %s (entry %" PRIu32 ")",
                sbx_mp_type_name (key), i);
    }
    const msgpack_object *op;
    error = sbx_mp_get_name (root, "op", &op);
    if (error)
        return error;
    int parsed = sbx_op_parse (op->via.str.ptr, op->via.str.size);
    if (parsed < 0) {
        char sample [160];
        s_sample (op->via.str.ptr, op->via.str.size, sample, sizeof sample);
        return sbx_error_new (SBX_BAD_REQUEST, "unknown op '%s'", sample);
    }
    req->op = (sbx_op_t) parsed;

    const struct {
        unsigned flag;
        const char *key;
        char **field_p;
    } strings [] = {
        { K_SANDBOX,    "sandbox",    &req->sandbox },
        { K_TOKEN,      "token",      &req->token },
        { K_SESSION_ID, "session_id", &req->session_id },
        { K_FEATURE,    "feature",    &req->feature },
        { K_METHOD,     "method",     &req->method },
    };
    const struct {
        unsigned flag;
        const char *key;
        bool *has_p;
        uint64_t *value_p;
    } uints [] = {
        { K_TIMEOUT, "timeout_ms", &req->has_timeout, &req->timeout_ms },
        { K_SINCE,   "since",      &req->has_since,   &req->since },
        { K_MAX,     "max",        &req->has_max,     &req->max },
        { K_CALL,    "call",       &req->has_call,    &req->call },
    };
    unsigned uses = s_op_keys [req->op].uses;
    unsigned present = 0;
    for (size_t i = 0; i < sizeof strings / sizeof strings [0]; i++) {
        if (!(uses & strings [i].flag))
            continue;
        error = sbx_mp_get_str (root, strings [i].key, strings [i].field_p);
        if (error)
            return error;
        if (*strings [i].field_p)
            present |= strings [i].flag;
    }
    for (size_t i = 0; i < sizeof uints / sizeof uints [0]; i++) {
        if (!(uses & uints [i].flag))
            continue;
        error = s_get_uint (root, uints [i].key, uints [i].has_p, uints [i].value_p);
        if (error)
            return error;
        if (*uints [i].has_p)
            present |= uints [i].flag;
    }
    //  The request must outlive the frame it came in: args are copied.
    if ((uses & K_ARGS) && (error = sbx_mp_get_map (root, "args", &req->args, &req->args_size)))
        return error;
    const struct {
        unsigned flag;
        const char *key;
        bool *value_p;
    } bools [] = {
        { K_STREAM, "stream", &req->stream },
        { K_INPUT,  "input",  &req->input },
        { K_EOF,    "eof",    &req->eof },
    };
    for (size_t i = 0; i < sizeof bools / sizeof bools [0]; i++)
        if ((uses & bools [i].flag) && (error = s_get_bool (root, bools [i].key, bools [i].value_p)))
            return error;
    if ((uses & K_DATA) && (error = s_get_data (root, req)))
        return error;
    unsigned missing = s_op_keys [req->op].requires & ~present;
    for (size_t i = 0; missing && i < sizeof strings / sizeof strings [0]; i++)
        if (missing & strings [i].flag)
            return sbx_error_new (SBX_BAD_REQUEST, "missing key '%s' (op '%s' needs it)",
                                 strings [i].key, s_op_names [req->op]);
    for (size_t i = 0; missing && i < sizeof uints / sizeof uints [0]; i++)
        if (missing & uints [i].flag)
            return sbx_error_new (SBX_BAD_REQUEST, "missing key '%s' (op '%s' needs it)",
                                  uints [i].key, s_op_names [req->op]);
    if (req->input && !req->has_id)
        return sbx_error_new (SBX_BAD_REQUEST, "a call with 'input' needs an 'id': its input "
                              "requests name it");
    return NULL;
}

sbx_error_t *
sbx_request_decode (const void *data, size_t size,
                    const sbx_limits_t *limits, sbx_request_t *req)
{
    static const sbx_limits_t defaults = SBX_LIMITS_DEFAULT;
    memset (req, 0, sizeof *req);
    //  A zero limit would refuse every body; it means "not set".
    size_t max_body = limits && limits->max_body_bytes
                    ? limits->max_body_bytes : defaults.max_body_bytes;
    unsigned max_depth = limits && limits->max_depth
                       ? limits->max_depth : defaults.max_depth;
    //  msgpack-c's C unpacker gives up beyond this many open containers
    //  (compiled into the library), so check against the smaller limit and
    //  refuse deeper bodies with a clear message instead of a failed unpack.
    if (max_depth > MSGPACK_EMBED_STACK_SIZE)
        max_depth = MSGPACK_EMBED_STACK_SIZE;

    if (size > max_body)
        return sbx_error_new (SBX_BAD_REQUEST,
            "request body of %zu bytes is over the limit of %zu bytes",
            size, max_body);
    sbx_error_t *error = sbx_mp_check (data, size, max_depth);
    if (error)
        return error;

    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    if (msgpack_unpack_next (&unpacked, (const char *) data, size, &offset)
        == MSGPACK_UNPACK_SUCCESS)
        error = s_decode (&unpacked.data, req);
    else
        error = sbx_error_new (SBX_BAD_REQUEST, "request body is not msgpack");
    msgpack_unpacked_destroy (&unpacked);

    if (error) {
        //  Keep only the id, for the error reply.
        bool has_id = req->has_id;
        uint64_t id = req->id;
        sbx_request_reset (req);
        req->has_id = has_id;
        req->id = id;
    }
    return error;
}

void
sbx_request_reset (sbx_request_t *req)
{
    if (!req)
        return;
    free (req->sandbox);
    free (req->token);
    free (req->session_id);
    free (req->feature);
    free (req->method);
    free (req->args);
    free (req->data);
    memset (req, 0, sizeof *req);
}

void
sbx_request_encode (const sbx_request_t *req, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    const struct {
        const char *key;
        const char *value;
    } strings [] = {
        { "sandbox",    req->sandbox },
        { "token",      req->token },
        { "session_id", req->session_id },
        { "feature",    req->feature },
        { "method",     req->method },
    };
    const struct {
        const char *key;
        bool has;
        uint64_t value;
    } uints [] = {
        { "timeout_ms", req->has_timeout, req->timeout_ms },
        { "since",      req->has_since,   req->since },
        { "max",        req->has_max,     req->max },
        { "call",       req->has_call,    req->call },
    };
    const struct {
        const char *key;
        bool value;
    } bools [] = {
        { "stream", req->stream },
        { "input",  req->input },
        { "eof",    req->eof },
    };
    bool has_args = req->args && req->args_size > 0;
    size_t count = 1 + (req->has_id ? 1 : 0) + (has_args ? 1 : 0) + (req->data ? 1 : 0);
    for (size_t i = 0; i < sizeof bools / sizeof bools [0]; i++)
        count += bools [i].value ? 1 : 0;
    for (size_t i = 0; i < sizeof strings / sizeof strings [0]; i++)
        count += strings [i].value ? 1 : 0;
    for (size_t i = 0; i < sizeof uints / sizeof uints [0]; i++)
        count += uints [i].has ? 1 : 0;

    msgpack_pack_map (&pk, count);
    sbx_mp_pack_str (&pk, "op");
    sbx_mp_pack_str (&pk, sbx_op_name (req->op));
    if (req->has_id) {
        sbx_mp_pack_str (&pk, "id");
        msgpack_pack_uint64 (&pk, req->id);
    }
    for (size_t i = 0; i < sizeof strings / sizeof strings [0]; i++)
        if (strings [i].value) {
            sbx_mp_pack_str (&pk, strings [i].key);
            sbx_mp_pack_str (&pk, strings [i].value);
        }
    if (has_args) {
        sbx_mp_pack_str (&pk, "args");
        msgpack_sbuffer_write (out, (const char *) req->args, req->args_size);
    }
    for (size_t i = 0; i < sizeof uints / sizeof uints [0]; i++)
        if (uints [i].has) {
            sbx_mp_pack_str (&pk, uints [i].key);
            msgpack_pack_uint64 (&pk, uints [i].value);
        }
    for (size_t i = 0; i < sizeof bools / sizeof bools [0]; i++)
        if (bools [i].value) {
            sbx_mp_pack_str (&pk, bools [i].key);
            msgpack_pack_true (&pk);
        }
    if (req->data) {
        sbx_mp_pack_str (&pk, "data");
        msgpack_pack_bin (&pk, req->data_size);
        msgpack_pack_bin_body (&pk, req->data, req->data_size);
    }
}
