/*  sbx_mp - see messages/mp.h */
#include "messages/mp.h"

#include <msgpack/unpack_define.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Validator

static uint64_t
s_be (const uint8_t *p, size_t width)
{
    uint64_t value = 0;
    for (size_t i = 0; i < width; i++)
        value = (value << 8) | p [i];
    return value;
}

//  Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
//  U+10FFFF. The second byte's range carries all three rules.
bool
sbx_mp_utf8_valid (const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s [i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t trail;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            trail = 1;
        else
        if (c == 0xe0) {
            trail = 2;
            lo = 0xa0;
        }
        else
        if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
            trail = 2;
        else
        if (c == 0xed) {
            trail = 2;
            hi = 0x9f;
        }
        else
        if (c == 0xf0) {
            trail = 3;
            lo = 0x90;
        }
        else
        if (c >= 0xf1 && c <= 0xf3)
            trail = 3;
        else
        if (c == 0xf4) {
            trail = 3;
            hi = 0x8f;
        }
        else
            return false;
        if (len - i - 1 < trail)
            return false;
        if (s [i + 1] < lo || s [i + 1] > hi)
            return false;
        for (size_t k = 2; k <= trail; k++)
            if ((s [i + k] & 0xc0) != 0x80)
                return false;
        i += trail + 1;
    }
    return true;
}

sbx_error_t *
sbx_mp_check (const void *data, size_t size, unsigned max_depth)
{
    //  One counter of items still expected per open container; the array
    //  is the whole stack, so hostile nesting costs nothing.
    uint64_t stack [SBX_MP_MAX_DEPTH];
    if (max_depth > SBX_MP_MAX_DEPTH)
        max_depth = SBX_MP_MAX_DEPTH;
    const uint8_t *p = (const uint8_t *) data;
    size_t pos = 0;
    unsigned depth = 0;

    if (!p && size > 0)
        return sbx_error_new (SBX_BAD_REQUEST, "no data");
    while (true) {
        if (pos >= size)
            return sbx_error_new (SBX_BAD_REQUEST,
                "truncated at byte offset %zu", pos);
        size_t start = pos;
        uint8_t b = p [pos++];
        size_t width = 0;       //  bytes of the length/count field
        uint64_t payload = 0;   //  bytes after the length field
        uint64_t count = 0;     //  items of a container
        const char *what = NULL;
        bool container = false;
        bool is_map = false;
        bool is_str = false;

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            ;   //  fixint, nil, bool: the byte is the whole object
        else
        if (b <= 0x8f) {
            container = is_map = true;
            what = "map";
            count = (uint64_t) (b & 0x0f) * 2;
        }
        else
        if (b <= 0x9f) {
            container = true;
            what = "array";
            count = b & 0x0f;
        }
        else
        if (b <= 0xbf) {
            is_str = true;
            what = "str";
            payload = b & 0x1f;
        }
        else
        switch (b) {
            case 0xc1:
                return sbx_error_new (SBX_BAD_REQUEST,
                    "invalid byte 0xc1 at byte offset %zu (not msgpack)", start);
            case 0xc4: what = "bin"; width = 1; break;
            case 0xc5: what = "bin"; width = 2; break;
            case 0xc6: what = "bin"; width = 4; break;
            case 0xc7: what = "ext"; width = 1; payload = 1; break;
            case 0xc8: what = "ext"; width = 2; payload = 1; break;
            case 0xc9: what = "ext"; width = 4; payload = 1; break;
            case 0xca: what = "float 32"; payload = 4; break;
            case 0xcb: what = "float 64"; payload = 8; break;
            case 0xcc: what = "uint 8"; payload = 1; break;
            case 0xcd: what = "uint 16"; payload = 2; break;
            case 0xce: what = "uint 32"; payload = 4; break;
            case 0xcf: what = "uint 64"; payload = 8; break;
            case 0xd0: what = "int 8"; payload = 1; break;
            case 0xd1: what = "int 16"; payload = 2; break;
            case 0xd2: what = "int 32"; payload = 4; break;
            case 0xd3: what = "int 64"; payload = 8; break;
            case 0xd4: what = "fixext 1"; payload = 1 + 1; break;
            case 0xd5: what = "fixext 2"; payload = 1 + 2; break;
            case 0xd6: what = "fixext 4"; payload = 1 + 4; break;
            case 0xd7: what = "fixext 8"; payload = 1 + 8; break;
            case 0xd8: what = "fixext 16"; payload = 1 + 16; break;
            case 0xd9: what = "str"; width = 1; is_str = true; break;
            case 0xda: what = "str"; width = 2; is_str = true; break;
            case 0xdb: what = "str"; width = 4; is_str = true; break;
            case 0xdc: what = "array"; width = 2; container = true; break;
            case 0xdd: what = "array"; width = 4; container = true; break;
            case 0xde: what = "map"; width = 2; container = is_map = true; break;
            case 0xdf: what = "map"; width = 4; container = is_map = true; break;
            default:
                //  Every byte value is handled above; keep the compiler
                //  and the next reader sure of it.
                return sbx_error_new (SBX_BAD_REQUEST,
                    "invalid byte 0x%02x at byte offset %zu", b, start);
        }
        if (width > 0) {
            if (size - pos < width)
                return sbx_error_new (SBX_BAD_REQUEST,
                    "truncated at byte offset %zu (%s header)", start, what);
            uint64_t n = s_be (p + pos, width);
            pos += width;
            if (container)
                count = is_map ? n * 2 : n;
            else
                payload += n;
        }
        size_t remain = size - pos;
        if (container) {
            //  Each item takes at least one byte, so a count larger than
            //  what remains is a lie we can refuse before allocating.
            if (count > remain) {
                if (is_map)
                    return sbx_error_new (SBX_BAD_REQUEST,
                        "map at byte offset %zu claims %" PRIu64 " entries"
                        " but only %zu bytes remain", start, count / 2, remain);
                return sbx_error_new (SBX_BAD_REQUEST,
                    "array at byte offset %zu claims %" PRIu64 " items"
                    " but only %zu bytes remain", start, count, remain);
            }
            if (depth + 1 > max_depth)
                return sbx_error_new (SBX_BAD_REQUEST,
                    "nesting deeper than %u at byte offset %zu", max_depth, start);
            if (count > 0) {
                stack [depth++] = count;
                continue;
            }
        }
        else {
            if (payload > remain)
                return sbx_error_new (SBX_BAD_REQUEST,
                    "truncated at byte offset %zu (%s claims %" PRIu64
                    " bytes but only %zu remain)", start, what, payload, remain);
            if (is_str && !sbx_mp_utf8_valid (p + pos, (size_t) payload))
                return sbx_error_new (SBX_BAD_REQUEST,
                    "invalid UTF-8 in string at byte offset %zu", start);
            pos += (size_t) payload;
        }
        //  One object is complete: close every container it completes.
        while (depth > 0 && --stack [depth - 1] == 0)
            depth--;
        if (depth == 0)
            break;
    }
    if (pos != size)
        return sbx_error_new (SBX_BAD_REQUEST,
            "trailing bytes at offset %zu (%zu bytes after the object)",
            pos, size - pos);
    return NULL;
}

sbx_error_t *
sbx_mp_check_body (const void *data, size_t size)
{
    //  msgpack-c's C unpacker stops at this many open containers.
    unsigned max_depth = SBX_MP_MAX_DEPTH < MSGPACK_EMBED_STACK_SIZE
                       ? SBX_MP_MAX_DEPTH : MSGPACK_EMBED_STACK_SIZE;
    return sbx_mp_check (data, size, max_depth);
}

//  --------------------------------------------------------------------------
//  Packing

void
sbx_mp_pack_str (msgpack_packer *pk, const char *s)
{
    if (s)
        sbx_mp_pack_strn (pk, s, strlen (s));
    else
        msgpack_pack_nil (pk);
}

void
sbx_mp_pack_strn (msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, s, len);
}

static void
s_pack_error (msgpack_packer *pk, const sbx_error_t *error)
{
    size_t count = sbx_error_count (error);
    const char *sandbox = sbx_error_sandbox (error);
    msgpack_pack_map (pk, 2 + (sandbox ? 1 : 0) + (count > 0 ? 1 : 0));
    sbx_mp_pack_str (pk, "type");
    sbx_mp_pack_str (pk, sbx_error_type (error));
    sbx_mp_pack_str (pk, "message");
    sbx_mp_pack_str (pk, sbx_error_message (error));
    if (sandbox) {
        sbx_mp_pack_str (pk, "sandbox");
        sbx_mp_pack_str (pk, sandbox);
    }
    if (count > 0) {
        sbx_mp_pack_str (pk, "errors");
        msgpack_pack_map (pk, count);
        for (size_t i = 0; i < count; i++) {
            const char *feature = NULL;
            const sbx_error_t *sub = sbx_error_at (error, i, &feature);
            sbx_mp_pack_str (pk, feature);
            //  Errors are built by us, so this recursion is as deep as
            //  our own composites (one level in practice).
            s_pack_error (pk, sub);
        }
    }
}

void
sbx_mp_pack_error (msgpack_packer *pk, const sbx_error_t *error)
{
    if (error)
        s_pack_error (pk, error);
    else
        msgpack_pack_nil (pk);
}

//  --------------------------------------------------------------------------
//  Reading

const msgpack_object *
sbx_mp_map_get (const msgpack_object *o, const char *key)
{
    if (!o || o->type != MSGPACK_OBJECT_MAP || !key)
        return NULL;
    //  The last of duplicate keys wins, as in JSON objects (jansson) and
    //  the Python client, so every reader of a body sees the same value.
    for (uint32_t i = o->via.map.size; i > 0; i--) {
        const msgpack_object_kv *kv = &o->via.map.ptr [i - 1];
        if (sbx_mp_str_eq (&kv->key, key))
            return &kv->val;
    }
    return NULL;
}

char *
sbx_mp_strdup (const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return NULL;
    size_t len = o->via.str.size;
    if (len > 0 && memchr (o->via.str.ptr, 0, len))
        return NULL;
    char *s = (char *) malloc (len + 1);
    if (!s)
        abort ();
    if (len > 0)
        memcpy (s, o->via.str.ptr, len);
    s [len] = 0;
    return s;
}

bool
sbx_mp_str_eq (const msgpack_object *o, const char *s)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || !s)
        return false;
    size_t len = strlen (s);
    return o->via.str.size == len
        && (len == 0 || memcmp (o->via.str.ptr, s, len) == 0);
}

static bool
s_is_nil (const msgpack_object *o)
{
    return !o || o->type == MSGPACK_OBJECT_NIL;
}

//  Sub-errors nest one level on the wire; allow a few more for our own
//  composites, and never recurse without bound on input.
#define S_ERROR_MAX_DEPTH 4

static sbx_error_t *
s_unpack_error (const msgpack_object *o, const char **problem_p, int depth)
{
    const char *problem = NULL;
    sbx_error_t *error = NULL;
    char *type = NULL, *message = NULL, *sandbox = NULL;

    if (!o || o->type != MSGPACK_OBJECT_MAP) {
        problem = "error is not a map";
        goto done;
    }
    type = sbx_mp_strdup (sbx_mp_map_get (o, "type"));
    if (!type) {
        problem = "error has no string 'type'";
        goto done;
    }
    message = sbx_mp_strdup (sbx_mp_map_get (o, "message"));
    if (!message) {
        problem = "error has no string 'message'";
        goto done;
    }
    const msgpack_object *sandbox_o = sbx_mp_map_get (o, "sandbox");
    if (!s_is_nil (sandbox_o)) {
        sandbox = sbx_mp_strdup (sandbox_o);
        if (!sandbox) {
            problem = "error 'sandbox' is not a string";
            goto done;
        }
    }
    const msgpack_object *errors = sbx_mp_map_get (o, "errors");
    if (!s_is_nil (errors) && errors->type != MSGPACK_OBJECT_MAP) {
        problem = "error 'errors' is not a map";
        goto done;
    }
    if (!s_is_nil (errors) && errors->via.map.size > 0 && depth >= S_ERROR_MAX_DEPTH) {
        problem = "error 'errors' nested too deep";
        goto done;
    }
    error = sbx_error_new (type, "%s", message);
    if (sandbox)
        sbx_error_set_sandbox (error, sandbox);
    if (!s_is_nil (errors)) {
        for (uint32_t i = 0; i < errors->via.map.size; i++) {
            const msgpack_object_kv *kv = &errors->via.map.ptr [i];
            char *feature = sbx_mp_strdup (&kv->key);
            if (!feature) {
                problem = "error 'errors' has a key that is not a string";
                sbx_error_destroy (&error);
                goto done;
            }
            sbx_error_t *sub = s_unpack_error (&kv->val, &problem, depth + 1);
            if (!sub) {
                free (feature);
                sbx_error_destroy (&error);
                goto done;
            }
            sbx_error_add (error, feature, &sub);
            free (feature);
        }
    }
done:
    free (type);
    free (message);
    free (sandbox);
    if (!error && problem_p)
        *problem_p = problem;
    return error;
}

sbx_error_t *
sbx_mp_unpack_error (const msgpack_object *o, const char **problem_p)
{
    return s_unpack_error (o, problem_p, 0);
}

void
sbx_mp_give_error (sbx_error_t *error, sbx_error_t **error_p)
{
    if (error_p)
        *error_p = error;
    else
        sbx_error_destroy (&error);
}

//  --------------------------------------------------------------------------
//  JSON

static json_t *
s_bytes_to_json (const char *ptr, size_t size)
{
    json_t *json = json_stringn (ptr, size);
    if (json)
        return json;
    json = json_array ();
    for (size_t i = 0; i < size; i++)
        json_array_append_new (json, json_integer ((uint8_t) ptr [i]));
    return json;
}

static json_t *
s_real (double value)
{
    //  JSON has no NaN or infinity; jansson refuses them.
    json_t *json = isfinite (value) ? json_real (value) : NULL;
    return json ? json : json_null ();
}

//  Longest JSON text of a non-string key. Keys that are maps with map keys
//  escape their inner text once per level, which doubles it each time: a
//  500-byte body could ask for gigabytes (found by fuzzing). Cut, the text
//  stays proportional to the body.
#define S_KEY_TEXT_MAX 128

static void
s_cut_key (char *text)
{
    if (!text || strlen (text) <= S_KEY_TEXT_MAX)
        return;
    size_t cut = S_KEY_TEXT_MAX - 3;
    while (cut > 0 && ((uint8_t) text [cut] & 0xc0) == 0x80)
        cut--;              //  not inside a UTF-8 sequence
    memcpy (text + cut, "...", 4);
}

json_t *
sbx_mp_to_json (const msgpack_object *o)
{
    if (!o)
        return json_null ();
    switch (o->type) {
        case MSGPACK_OBJECT_NIL:
            return json_null ();
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (o->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            //  json_int_t is signed; beyond it only a real can hold it.
            if (o->via.u64 > (uint64_t) INT64_MAX)
                return s_real ((double) o->via.u64);
            return json_integer ((json_int_t) o->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer ((json_int_t) o->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return s_real (o->via.f64);
        case MSGPACK_OBJECT_STR:
            return s_bytes_to_json (o->via.str.ptr, o->via.str.size);
        case MSGPACK_OBJECT_BIN:
            return s_bytes_to_json (o->via.bin.ptr, o->via.bin.size);
        case MSGPACK_OBJECT_EXT:
            return s_bytes_to_json (o->via.ext.ptr, o->via.ext.size);
        case MSGPACK_OBJECT_ARRAY: {
            json_t *json = json_array ();
            for (uint32_t i = 0; i < o->via.array.size; i++)
                json_array_append_new (json, sbx_mp_to_json (&o->via.array.ptr [i]));
            return json;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *json = json_object ();
            for (uint32_t i = 0; i < o->via.map.size; i++) {
                const msgpack_object_kv *kv = &o->via.map.ptr [i];
                json_t *value = sbx_mp_to_json (&kv->val);
                if (kv->key.type == MSGPACK_OBJECT_STR
                &&  json_object_setn (json, kv->key.via.str.ptr,
                                      kv->key.via.str.size, value) == 0) {
                    json_decref (value);
                    continue;
                }
                //  A non-string (or non-UTF-8) key becomes its JSON text.
                json_t *key = sbx_mp_to_json (&kv->key);
                char *text = json_dumps (key, JSON_ENCODE_ANY | JSON_COMPACT);
                json_decref (key);
                s_cut_key (text);
                json_object_set (json, text ? text : "", value);
                free (text);
                json_decref (value);
            }
            return json;
        }
    }
    return json_null ();
}

void
sbx_mp_from_json (msgpack_packer *pk, const json_t *json)
{
    switch (json ? json_typeof (json) : JSON_NULL) {
        case JSON_OBJECT: {
            msgpack_pack_map (pk, json_object_size (json));
            const char *key;
            size_t key_len;
            json_t *value;
            //  jansson keeps insertion order, so the map keeps the JSON's.
            json_object_keylen_foreach ((json_t *) json, key, key_len, value) {
                sbx_mp_pack_strn (pk, key, key_len);
                sbx_mp_from_json (pk, value);
            }
            break;
        }
        case JSON_ARRAY: {
            size_t size = json_array_size (json);
            msgpack_pack_array (pk, size);
            for (size_t i = 0; i < size; i++)
                sbx_mp_from_json (pk, json_array_get (json, i));
            break;
        }
        case JSON_STRING:
            sbx_mp_pack_strn (pk, json_string_value (json), json_string_length (json));
            break;
        case JSON_INTEGER:
            msgpack_pack_int64 (pk, (int64_t) json_integer_value (json));
            break;
        case JSON_REAL:
            msgpack_pack_double (pk, json_real_value (json));
            break;
        case JSON_TRUE:
            msgpack_pack_true (pk);
            break;
        case JSON_FALSE:
            msgpack_pack_false (pk);
            break;
        case JSON_NULL:
            msgpack_pack_nil (pk);
            break;
    }
}

const char *
sbx_mp_type_name (const msgpack_object *o)
{
    switch (o->type) {
        case MSGPACK_OBJECT_NIL:              return "nil";
        case MSGPACK_OBJECT_BOOLEAN:          return "boolean";
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return "integer";
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer";
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:          return "float";
        case MSGPACK_OBJECT_STR:              return "string";
        case MSGPACK_OBJECT_BIN:              return "binary";
        case MSGPACK_OBJECT_ARRAY:            return "array";
        case MSGPACK_OBJECT_MAP:              return "map";
        case MSGPACK_OBJECT_EXT:              return "extension";
    }
    return "unknown";
}

bool
sbx_mp_absent (const msgpack_object *o)
{
    return !o || o->type == MSGPACK_OBJECT_NIL;
}

sbx_error_t *
sbx_mp_get_object (const msgpack_object *map, const char *key, msgpack_object_type type,
                   const char *what, const msgpack_object **o_p)
{
    const msgpack_object *o = sbx_mp_map_get (map, key);
    *o_p = NULL;
    if (sbx_mp_absent (o))
        return NULL;
    if (o->type != type)
        return sbx_error_new (SBX_BAD_REQUEST, "key '%s' must be %s, got %s",
                              key, what, sbx_mp_type_name (o));
    *o_p = o;
    return NULL;
}

sbx_error_t *
sbx_mp_get_str (const msgpack_object *map, const char *key, char **field_p)
{
    const msgpack_object *o;
    sbx_error_t *error = sbx_mp_get_object (map, key, MSGPACK_OBJECT_STR, "a string", &o);
    if (error || !o)
        return error;
    *field_p = sbx_mp_strdup (o);
    if (!*field_p)
        return sbx_error_new (SBX_BAD_REQUEST, "key '%s' must not contain NUL bytes", key);
    return NULL;
}

sbx_error_t *
sbx_mp_get_name (const msgpack_object *map, const char *key, const msgpack_object **o_p)
{
    sbx_error_t *error = sbx_mp_get_object (map, key, MSGPACK_OBJECT_STR, "a string", o_p);
    if (!error && !*o_p)
        error = sbx_error_new (SBX_BAD_REQUEST, "missing key '%s'", key);
    return error;
}

sbx_error_t *
sbx_mp_get_map (const msgpack_object *map, const char *key, uint8_t **data_p,
                size_t *size_p)
{
    const msgpack_object *o;
    sbx_error_t *error = sbx_mp_get_object (map, key, MSGPACK_OBJECT_MAP, "a map", &o);
    if (error || !o)
        return error;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    if (msgpack_pack_object (&pk, *o) != 0) {
        msgpack_sbuffer_destroy (&buffer);
        abort ();               //  out of memory, as everywhere in sbx
    }
    *size_p = buffer.size;
    *data_p = (uint8_t *) msgpack_sbuffer_release (&buffer);
    return NULL;
}

int
sbx_mp_name_index (const char *const *names, int count, const char *name, size_t len)
{
    for (int i = 0; name && i < count; i++)
        if (strlen (names [i]) == len && memcmp (names [i], name, len) == 0)
            return i;
    return -1;
}

const char *
sbx_mp_name_at (const char *const *names, int count, int index)
{
    return index >= 0 && index < count ? names [index] : NULL;
}
