/*  Tests of sbx_request: decoding, validation and encoding of requests. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages/event.h"
#include "messages/mp.h"
#include "messages/request.h"
#include "testutil.h"

//  Packs a JSON text as a msgpack body (for readable test inputs).
static void
s_body (msgpack_sbuffer *buffer, const char *text)
{
    json_error_t json_error;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &json_error);
    cr_assert_not_null (json, "%s: %s", text, json_error.text);
    msgpack_sbuffer_init (buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, buffer, msgpack_sbuffer_write);
    sbx_mp_from_json (&pk, json);
    json_decref (json);
}

static sbx_error_t *
s_decode_json (const char *text, sbx_request_t *req)
{
    msgpack_sbuffer buffer;
    s_body (&buffer, text);
    sbx_error_t *error = sbx_request_decode (buffer.data, buffer.size, NULL, req);
    msgpack_sbuffer_destroy (&buffer);
    return error;
}

static void
s_assert_bad_error (sbx_error_t *error, const char *needle, const char *what)
{
    cr_assert_not_null (error, "%s: accepted, expected '%s'", what, needle);
    cr_assert_str_eq (sbx_error_type (error), SBX_BAD_REQUEST);
    cr_assert (strstr (sbx_error_message (error), needle),
               "%s: message '%s' lacks '%s'", what, sbx_error_message (error), needle);
    sbx_error_destroy (&error);
}

static void
s_assert_bad_bytes (const void *data, size_t size, const char *needle)
{
    sbx_request_t req;
    s_assert_bad_error (sbx_request_decode (data, size, NULL, &req), needle, needle);
    cr_assert_null (req.sandbox);
    cr_assert_null (req.args);
    sbx_request_reset (&req);
}

#define BAD_LIT(lit, needle) s_assert_bad_bytes (lit, sizeof (lit) - 1, needle)

static void
s_assert_bad_json (const char *text, const char *needle)
{
    sbx_request_t req;
    s_assert_bad_error (s_decode_json (text, &req), needle, text);
    sbx_request_reset (&req);
}

static void
s_assert_ok_json (const char *text, sbx_request_t *req)
{
    sbx_error_t *error = s_decode_json (text, req);
    cr_assert_null (error, "%s: %s", text, sbx_error_message (error));
}

static void
s_assert_req_eq (const sbx_request_t *a, const sbx_request_t *b)
{
    cr_assert_eq (a->op, b->op);
    cr_assert_eq (a->has_id, b->has_id);
    cr_assert_eq (a->id, b->id);
    sbx_test_assert_str (a->sandbox, b->sandbox, "sandbox");
    sbx_test_assert_str (a->token, b->token, "token");
    sbx_test_assert_str (a->session_id, b->session_id, "session_id");
    sbx_test_assert_str (a->feature, b->feature, "feature");
    sbx_test_assert_str (a->method, b->method, "method");
    cr_assert_eq (a->args_size, b->args_size);
    cr_assert_eq (a->args == NULL, b->args == NULL);
    if (a->args)
        cr_assert (memcmp (a->args, b->args, a->args_size) == 0);
    cr_assert_eq (a->has_timeout, b->has_timeout);
    cr_assert_eq (a->timeout_ms, b->timeout_ms);
    cr_assert_eq (a->has_since, b->has_since);
    cr_assert_eq (a->since, b->since);
    cr_assert_eq (a->has_max, b->has_max);
    cr_assert_eq (a->max, b->max);
    cr_assert_eq (a->stream, b->stream);
    cr_assert_eq (a->input, b->input);
    cr_assert_eq (a->has_call, b->has_call);
    cr_assert_eq (a->call, b->call);
    cr_assert_eq (a->eof, b->eof);
    cr_assert_eq (a->data_size, b->data_size);
    cr_assert_eq (a->data == NULL, b->data == NULL);
    if (a->data)
        cr_assert_arr_eq (a->data, b->data, a->data_size);
}

static char *
s_strdup (const char *s)
{
    char *copy = strdup (s);
    cr_assert_not_null (copy);
    return copy;
}

//  A request with every key `op` reads, set to recognisable values.
static void
s_fill (sbx_request_t *req, sbx_op_t op, bool full)
{
    memset (req, 0, sizeof *req);
    req->op = op;
    if (full) {
        req->has_id = true;
        req->id = 1000 + (uint64_t) op;
    }
    switch (op) {
        case SBX_OP_ACQUIRE:
            req->has_timeout = full;
            req->timeout_ms = full ? 2500 : 0;
            break;
        case SBX_OP_SESSION_START:
            req->sandbox = s_strdup ("testing-env/0:0");
            if (full) {
                req->token = s_strdup ("0123456789abcdef0123456789abcdef");
                req->session_id = s_strdup ("session1");
            }
            break;
        case SBX_OP_SESSION_OPEN:
            if (full) {
                req->session_id = s_strdup ("session1");
                req->has_timeout = true;
                req->timeout_ms = 0;
            }
            break;
        case SBX_OP_CALL:
            req->method = s_strdup ("shell");
            if (full) {
                req->sandbox = s_strdup ("testing-env/0:0");
                req->token = s_strdup ("tok");
                req->feature = s_strdup ("feature1");
                req->session_id = s_strdup ("s");
                req->has_timeout = true;
                req->timeout_ms = UINT64_MAX;
                req->stream = true;
                req->input = true;
                //  {"code": "echo \"hello\"", "n": [1, -2, 0.5, null, true]}
                static const char args [] =
                    "\x82\xa4" "code" "\xac" "echo \"hello\"" "\xa1n"
                    "\x95\x01\xfe\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00\xc0\xc3";
                req->args_size = sizeof args - 1;
                req->args = (uint8_t *) malloc (req->args_size);
                memcpy (req->args, args, req->args_size);
            }
            break;
        case SBX_OP_SESSION_END:
        case SBX_OP_HEARTBEAT:
            req->sandbox = s_strdup ("testing-env/1:7");
            if (full)
                req->token = s_strdup ("tok");
            break;
        case SBX_OP_STATUS:
            if (full)
                req->sandbox = s_strdup ("testing-env/0:0");
            break;
        case SBX_OP_INPUT:
            req->sandbox = s_strdup ("testing-env/0:0");
            req->has_call = true;
            req->call = full ? 77 : 0;
            if (full) {
                req->token = s_strdup ("tok");
                req->data_size = 3;
                req->data = (uint8_t *) malloc (3);
                memcpy (req->data, "a\0b", 3);
                req->eof = true;
            }
            break;
        case SBX_OP_EVENTS_REPLAY:
            req->has_since = true;
            req->since = full ? 123456789012ull : 0;
            req->has_max = full;
            req->max = full ? 100 : 0;
            break;
        default:
            break;
    }
}

Test (request, op_names)
{
    static const char *names [SBX_OP_COUNT] = {
        "hello", "acquire", "session.start", "session.open", "call",
        "session.end", "heartbeat", "status", "stats", "events.replay", "shutdown",
        "input"
    };
    for (int op = 0; op < SBX_OP_COUNT; op++) {
        cr_assert_str_eq (sbx_op_name ((sbx_op_t) op), names [op]);
        cr_assert_eq (sbx_op_parse (names [op], strlen (names [op])), op);
    }
    cr_assert_null (sbx_op_name (SBX_OP_COUNT));
    cr_assert_null (sbx_op_name ((sbx_op_t) -1));
    cr_assert_eq (sbx_op_parse ("call", 3), -1);
    cr_assert_eq (sbx_op_parse ("calls", 5), -1);
    cr_assert_eq (sbx_op_parse ("", 0), -1);
    cr_assert_eq (sbx_op_parse (NULL, 0), -1);
}

Test (request, round_trip_every_op)
{
    for (int full = 0; full <= 1; full++)
        for (int op = 0; op < SBX_OP_COUNT; op++) {
            sbx_request_t req;
            s_fill (&req, (sbx_op_t) op, full);
            msgpack_sbuffer buffer;
            msgpack_sbuffer_init (&buffer);
            sbx_request_encode (&req, &buffer);
            sbx_request_t back;
            sbx_error_t *error = sbx_request_decode (buffer.data, buffer.size,
                                                     NULL, &back);
            cr_assert_null (error, "%s: %s", sbx_op_name (op), sbx_error_message (error));
            s_assert_req_eq (&req, &back);
            sbx_request_reset (&back);
            sbx_request_reset (&req);
            msgpack_sbuffer_destroy (&buffer);
        }
}

Test (request, encode_writes_present_keys_only)
{
    sbx_request_t req = { .op = SBX_OP_HELLO };
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_request_encode (&req, &buffer);
    cr_assert_eq (buffer.size, 10);
    cr_assert (memcmp (buffer.data, "\x81\xa2op\xa5hello", 10) == 0);
    msgpack_sbuffer_destroy (&buffer);

    req.op = SBX_OP_STATUS;
    req.has_id = true;
    req.id = 5;
    msgpack_sbuffer_init (&buffer);
    sbx_request_encode (&req, &buffer);
    static const char expected [] = "\x82\xa2op\xa6status\xa2id\x05";
    cr_assert_eq (buffer.size, sizeof expected - 1);
    cr_assert (memcmp (buffer.data, expected, buffer.size) == 0);
    msgpack_sbuffer_destroy (&buffer);
}

Test (request, decode_fields)
{
    sbx_request_t req;
    s_assert_ok_json ("{\"op\": \"call\", \"id\": 42, \"sandbox\": \"testing-env/0:0\","
                      " \"token\": \"t\", \"method\": \"shell\", \"feature\": \"f\","
                      " \"args\": {\"code\": \"ls\"}, \"timeout_ms\": 10}", &req);
    cr_assert_eq (req.op, SBX_OP_CALL);
    cr_assert (req.has_id);
    cr_assert_eq (req.id, 42);
    cr_assert_str_eq (req.sandbox, "testing-env/0:0");
    cr_assert_str_eq (req.token, "t");
    cr_assert_str_eq (req.method, "shell");
    cr_assert_str_eq (req.feature, "f");
    cr_assert_null (req.session_id);
    cr_assert (req.has_timeout);
    cr_assert_eq (req.timeout_ms, 10);
    cr_assert_not (req.has_since);
    static const char args [] = "\x81\xa4" "code" "\xa2ls";
    cr_assert_eq (req.args_size, sizeof args - 1);
    cr_assert (memcmp (req.args, args, req.args_size) == 0);
    sbx_request_reset (&req);
    sbx_request_reset (&req);       //  twice is safe
    cr_assert_null (req.sandbox);
}

Test (request, args_are_kept_after_the_input_is_freed)
{
    msgpack_sbuffer buffer;
    s_body (&buffer, "{\"op\": \"call\", \"method\": \"m\","
                     " \"args\": {\"a\": [1, {\"b\": \"c\"}], \"e\": {}}}");
    sbx_request_t req;
    sbx_error_t *error = sbx_request_decode (buffer.data, buffer.size, NULL, &req);
    cr_assert_null (error);
    msgpack_sbuffer_destroy (&buffer);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    cr_assert_eq (msgpack_unpack_next (&unpacked, (const char *) req.args,
                                       req.args_size, &offset), MSGPACK_UNPACK_SUCCESS);
    json_t *json = sbx_mp_to_json (&unpacked.data);
    char *text = json_dumps (json, JSON_COMPACT);
    cr_assert_str_eq (text, "{\"a\":[1,{\"b\":\"c\"}],\"e\":{}}");
    free (text);
    json_decref (json);
    msgpack_unpacked_destroy (&unpacked);
    sbx_request_reset (&req);
}

Test (request, nil_counts_as_absent)
{
    sbx_request_t req;
    s_assert_ok_json ("{\"op\": \"call\", \"id\": null, \"method\": \"m\", \"sandbox\": null,"
                      " \"args\": null, \"timeout_ms\": null}", &req);
    cr_assert_not (req.has_id);
    cr_assert_null (req.sandbox);
    cr_assert_null (req.args);
    cr_assert_not (req.has_timeout);
    sbx_request_reset (&req);
    //  ... so a required key that is nil is missing.
    s_assert_bad_json ("{\"op\": \"heartbeat\", \"sandbox\": null}", "missing key 'sandbox'");
    s_assert_bad_json ("{\"op\": null}", "missing key 'op'");
}

Test (request, unknown_and_unused_keys_are_ignored)
{
    sbx_request_t req;
    s_assert_ok_json ("{\"op\": \"hello\", \"sandbox\": 5, \"args\": [1], \"max\": -1,"
                      " \"future\": {\"x\": 1}}", &req);
    cr_assert_eq (req.op, SBX_OP_HELLO);
    cr_assert_null (req.sandbox);
    cr_assert_null (req.args);
    cr_assert_not (req.has_max);
    sbx_request_reset (&req);
    s_assert_ok_json ("{\"op\": \"status\", \"token\": [], \"method\": 1}", &req);
    cr_assert_null (req.token);
    cr_assert_null (req.method);
    sbx_request_reset (&req);
}

Test (request, duplicate_keys_last_wins)
{
    static const char body [] = "\x83\xa2op\xa5hello\xa2op\xa6status\xa7sandbox\xa1s";
    sbx_request_t req;
    sbx_error_t *error = sbx_request_decode (body, sizeof body - 1, NULL, &req);
    cr_assert_null (error, "%s", sbx_error_message (error));
    cr_assert_eq (req.op, SBX_OP_STATUS);
    cr_assert_str_eq (req.sandbox, "s");
    sbx_request_reset (&req);
}

Test (request, required_keys)
{
    s_assert_bad_json ("{\"op\": \"session.start\", \"token\": \"t\"}",
                       "missing key 'sandbox' (op 'session.start'");
    s_assert_bad_json ("{\"op\": \"session.end\"}", "missing key 'sandbox' (op 'session.end'");
    s_assert_bad_json ("{\"op\": \"heartbeat\"}", "missing key 'sandbox' (op 'heartbeat'");
    s_assert_bad_json ("{\"op\": \"call\", \"sandbox\": \"s\"}",
                       "missing key 'method' (op 'call'");
    s_assert_bad_json ("{\"op\": \"events.replay\", \"max\": 3}",
                       "missing key 'since' (op 'events.replay'");
    s_assert_bad_json ("{\"op\": \"input\", \"call\": 1}", "missing key 'sandbox' (op 'input'");
    s_assert_bad_json ("{\"op\": \"input\", \"sandbox\": \"s\"}", "missing key 'call' (op 'input'");
    s_assert_bad_json ("{\"op\": \"call\", \"method\": \"m\", \"input\": true}",
                       "a call with 'input' needs an 'id'");
    const char *fine [] = {
        "{\"op\": \"input\", \"sandbox\": \"s\", \"call\": 0}",
        "{\"op\": \"call\", \"method\": \"m\", \"input\": false}",
        "{\"op\": \"call\", \"id\": 1, \"method\": \"m\", \"input\": true}",
        "{\"op\": \"hello\"}", "{\"op\": \"acquire\"}", "{\"op\": \"session.open\"}",
        "{\"op\": \"status\"}", "{\"op\": \"stats\"}", "{\"op\": \"shutdown\"}",
        "{\"op\": \"call\", \"method\": \"m\"}",
        "{\"op\": \"events.replay\", \"since\": 0}",
        "{\"op\": \"session.start\", \"sandbox\": \"s\"}",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine [0]; i++) {
        sbx_request_t req;
        s_assert_ok_json (fine [i], &req);
        sbx_request_reset (&req);
    }
}

Test (request, bad_not_msgpack)
{
    BAD_LIT ("\xc1", "0xc1 at byte offset 0");
    BAD_LIT ("\x81\xa2op\xc1", "0xc1 at byte offset 4");
    BAD_LIT ("", "truncated at byte offset 0");
}

Test (request, bad_truncated)
{
    BAD_LIT ("\x81\xa2op\xa5hel", "truncated at byte offset 4");
    BAD_LIT ("\x82\xa2op\xa5hello", "truncated at byte offset 10");
}

Test (request, bad_trailing_bytes)
{
    BAD_LIT ("\x81\xa2op\xa5hello\x81", "trailing bytes at offset 10");
}

Test (request, bad_not_a_map)
{
    s_assert_bad_json ("[1, 2]", "request body must be a map, got array");
    s_assert_bad_json ("\"hello\"", "request body must be a map, got string");
    s_assert_bad_json ("7", "request body must be a map, got integer");
    BAD_LIT ("\xc0", "request body must be a map, got nil");
}

Test (request, bad_missing_op)
{
    sbx_request_t req;
    s_assert_bad_error (s_decode_json ("{\"id\": 3}", &req), "missing key 'op'", "no op");
    //  The id is echoed.
    cr_assert (req.has_id);
    cr_assert_eq (req.id, 3);
    sbx_request_reset (&req);
    s_assert_bad_json ("{}", "missing key 'op'");
}

Test (request, bad_unknown_op)
{
    s_assert_bad_json ("{\"op\": \"foo\"}", "unknown op 'foo'");
    s_assert_bad_json ("{\"op\": \"\"}", "unknown op ''");
    //  Client bytes are sanitised and cut short in the message.
    s_assert_bad_json ("{\"op\": \"a\\nb'c\"}", "unknown op 'a\\x0ab\\x27c'");
    s_assert_bad_json ("{\"op\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                       "unknown op 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
    BAD_LIT ("\x81\xa2op\xa3" "a\x00" "b", "unknown op 'a\\x00b'");
}

Test (request, bad_key_types)
{
    static const struct {
        const char *json;
        const char *needle;
    } cases [] = {
        { "{\"op\": 5}", "key 'op' must be a string, got integer" },
        { "{\"op\": [\"call\"]}", "key 'op' must be a string, got array" },
        { "{\"op\": \"session.start\", \"sandbox\": 5}",
          "key 'sandbox' must be a string, got integer" },
        { "{\"op\": \"session.start\", \"sandbox\": \"s\", \"token\": true}",
          "key 'token' must be a string, got boolean" },
        { "{\"op\": \"session.open\", \"session_id\": 1.5}",
          "key 'session_id' must be a string, got float" },
        { "{\"op\": \"call\", \"method\": {}}", "key 'method' must be a string, got map" },
        { "{\"op\": \"call\", \"method\": \"m\", \"feature\": -1}",
          "key 'feature' must be a string, got negative integer" },
        { "{\"op\": \"call\", \"method\": \"m\", \"args\": [1]}",
          "key 'args' must be a map, got array" },
        { "{\"op\": \"call\", \"method\": \"m\", \"args\": \"x\"}",
          "key 'args' must be a map, got string" },
        { "{\"op\": \"acquire\", \"timeout_ms\": \"10\"}",
          "key 'timeout_ms' must be a non-negative integer, got string" },
        { "{\"op\": \"acquire\", \"timeout_ms\": -10}",
          "key 'timeout_ms' must be a non-negative integer, got negative integer" },
        { "{\"op\": \"events.replay\", \"since\": 1.0}",
          "key 'since' must be a non-negative integer, got float" },
        { "{\"op\": \"events.replay\", \"since\": 1, \"max\": false}",
          "key 'max' must be a non-negative integer, got boolean" },
        { "{\"op\": \"hello\", \"id\": \"7\"}",
          "key 'id' must be a non-negative integer, got string" },
        { "{\"op\": \"call\", \"method\": \"m\", \"stream\": 1}",
          "key 'stream' must be true or false, got integer" },
        { "{\"op\": \"call\", \"id\": 1, \"method\": \"m\", \"input\": \"yes\"}",
          "key 'input' must be true or false, got string" },
        { "{\"op\": \"input\", \"sandbox\": \"s\", \"call\": -1}",
          "key 'call' must be a non-negative integer, got negative integer" },
        { "{\"op\": \"input\", \"sandbox\": \"s\", \"call\": 1, \"data\": [1]}",
          "key 'data' must be bytes or a string, got array" },
        { "{\"op\": \"input\", \"sandbox\": \"s\", \"call\": 1, \"eof\": 0}",
          "key 'eof' must be true or false, got integer" },
        { "{\"op\": \"hello\", \"id\": -7}",
          "key 'id' must be a non-negative integer, got negative integer" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        s_assert_bad_json (cases [i].json, cases [i].needle);
    //  bin is not a string.
    BAD_LIT ("\x82\xa2op\xa6status\xa7sandbox\xc4\x01x",
             "key 'sandbox' must be a string, got binary");
}

Test (request, bad_non_string_key)
{
    BAD_LIT ("\x82\xa2op\xa5hello\x01\x02",
             "request body keys must be strings, got integer");
}

Test (request, errors_echo_the_id)
{
    sbx_request_t req;
    //  The id comes after the bad key and is still echoed.
    s_assert_bad_error (s_decode_json ("{\"op\": \"nope\", \"id\": 77}", &req),
                        "unknown op 'nope'", "id after op");
    cr_assert (req.has_id);
    cr_assert_eq (req.id, 77);
    sbx_request_reset (&req);
    s_assert_bad_error (s_decode_json ("{\"op\": \"session.start\", \"sandbox\": 1,"
                                       " \"id\": 9223372036854775807}", &req),
                        "key 'sandbox'", "max id");
    cr_assert (req.has_id);
    cr_assert_eq (req.id, INT64_MAX);
    sbx_request_reset (&req);
    //  Only the id is kept.
    s_assert_bad_error (s_decode_json ("{\"op\": \"call\", \"id\": 1, \"sandbox\": \"s\","
                                       " \"args\": {\"a\": 1}, \"method\": 3}", &req),
                        "key 'method'", "partial");
    cr_assert (req.has_id);
    cr_assert_null (req.sandbox);
    cr_assert_null (req.args);
    sbx_request_reset (&req);
}

Test (request, bad_nesting_10000_deep)
{
    //  {"op": "call", "method": "m", "args": {"a": [[[[...]]]]}}
    static const char head [] = "\x83\xa2op\xa4" "call\xa6method\xa1m\xa4" "args\x81\xa1" "a";
    size_t depth = 10000;
    size_t size = sizeof head - 1 + depth + 1;
    uint8_t *data = (uint8_t *) malloc (size);
    memcpy (data, head, sizeof head - 1);
    memset (data + sizeof head - 1, 0x91, depth);
    data [size - 1] = 0xc0;
    s_assert_bad_bytes (data, size, "nesting deeper than");
    s_assert_bad_bytes (data, size, "at byte offset");
    free (data);
    //  Without the map around it.
    data = (uint8_t *) malloc (depth + 1);
    memset (data, 0x91, depth);
    data [depth] = 0xc0;
    s_assert_bad_bytes (data, depth + 1, "nesting deeper than");
    free (data);
}

//  A call whose args nest `depth` levels in all (the body map included).
static uint8_t *
s_call_nested (size_t depth, size_t *size_p)
{
    static const char head [] = "\x83\xa2op\xa4" "call\xa6method\xa1m\xa4" "args";
    size_t inner = depth - 2;       //  body map, args map, then arrays
    size_t size = sizeof head - 1 + 3 + inner + 1;
    uint8_t *data = (uint8_t *) malloc (size);
    memcpy (data, head, sizeof head - 1);
    memcpy (data + sizeof head - 1, "\x81\xa1" "a", 3);
    memset (data + sizeof head - 1 + 3, 0x91, inner);
    data [size - 1] = 0xc0;
    *size_p = size;
    return data;
}

//  msgpack-c's C unpacker holds at most 32 open containers, so that is
//  the decoder's real limit whatever the configured one.
Test (request, depth_limit_is_what_msgpack_c_can_unpack)
{
    size_t size;
    uint8_t *data = s_call_nested (32, &size);
    sbx_request_t req;
    sbx_error_t *error = sbx_request_decode (data, size, NULL, &req);
    cr_assert_null (error, "%s", sbx_error_message (error));
    sbx_request_reset (&req);
    free (data);

    data = s_call_nested (33, &size);
    s_assert_bad_bytes (data, size, "nesting deeper than 32 at byte offset");
    free (data);

    //  A smaller configured limit is honoured.
    data = s_call_nested (5, &size);
    sbx_limits_t limits = { 1024, 4 };
    s_assert_bad_error (sbx_request_decode (data, size, &limits, &req),
                        "nesting deeper than 4", "limit 4");
    sbx_request_reset (&req);
    free (data);
}

Test (request, bad_huge_array_header)
{
    BAD_LIT ("\xdd\x80\x00\x00\x00",
             "array at byte offset 0 claims 2147483648 items but only 0 bytes remain");
    //  Inside args.
    static const char body [] = "\x83\xa2op\xa4" "call\xa6method\xa1m\xa4" "args"
                                "\x81\xa1" "a" "\xdd\x80\x00\x00\x00";
    s_assert_bad_bytes (body, sizeof body - 1, "array at byte offset 26 claims 2147483648");
    BAD_LIT ("\xdf\x80\x00\x00\x00", "map at byte offset 0 claims 2147483648");
}

Test (request, bad_over_size_limit)
{
    msgpack_sbuffer buffer;
    s_body (&buffer, "{\"op\": \"call\", \"method\": \"m\", \"args\": {\"code\":"
                     " \"0123456789012345678901234567890123456789\"}}");
    sbx_limits_t limits = { buffer.size - 1, SBX_MP_MAX_DEPTH };
    sbx_request_t req;
    char needle [128];
    snprintf (needle, sizeof needle,
              "request body of %zu bytes is over the limit of %zu bytes",
              buffer.size, buffer.size - 1);
    s_assert_bad_error (sbx_request_decode (buffer.data, buffer.size, &limits, &req),
                        needle, "limit");
    sbx_request_reset (&req);
    //  At the limit exactly is fine.
    limits.max_body_bytes = buffer.size;
    cr_assert_null (sbx_request_decode (buffer.data, buffer.size, &limits, &req));
    sbx_request_reset (&req);
    msgpack_sbuffer_destroy (&buffer);

    //  The size is checked before anything is decoded: garbage over the
    //  limit gets the size message, not a parse error.
    char garbage [64];
    memset (garbage, 0xc1, sizeof garbage);
    limits.max_body_bytes = 10;
    s_assert_bad_error (sbx_request_decode (garbage, sizeof garbage, &limits, &req),
                        "request body of 64 bytes is over the limit of 10 bytes", "garbage");
    sbx_request_reset (&req);
}

Test (request, default_limits)
{
    //  16 MiB + 1 is refused (without reading the bytes: the buffer is
    //  never touched past the size check, so NULL would do, but be honest).
    size_t size = 16u * 1024 * 1024 + 1;
    char *data = (char *) calloc (1, size);
    sbx_request_t req;
    s_assert_bad_error (sbx_request_decode (data, size, NULL, &req),
                        "over the limit of 16777216 bytes", "default");
    sbx_limits_t zero = { 0, 0 };
    s_assert_bad_error (sbx_request_decode (data, size, &zero, &req),
                        "over the limit of 16777216 bytes", "zeroed limits");
    sbx_request_reset (&req);
    free (data);
}

Test (request, bad_utf8)
{
    //  {"op": "status", "sandbox": "\xff"}
    BAD_LIT ("\x82\xa2op\xa6status\xa7sandbox\xa1\xff",
             "invalid UTF-8 in string at byte offset 19");
    //  Overlong '/' and a surrogate.
    BAD_LIT ("\x82\xa2op\xa6status\xa7sandbox\xa2\xc0\xaf",
             "invalid UTF-8 in string at byte offset 19");
    BAD_LIT ("\x82\xa2op\xa6status\xa7sandbox\xa3\xed\xa0\x80",
             "invalid UTF-8 in string at byte offset 19");
    //  In a key.
    BAD_LIT ("\x82\xa2op\xa5hello\xa1\xfe\x01",
             "invalid UTF-8 in string at byte offset 10");
}

Test (request, bad_nul_in_string)
{
    //  {"op": "status", "sandbox": "a\0b"}
    BAD_LIT ("\x82\xa2op\xa6status\xa7sandbox\xa3" "a\x00" "b",
             "key 'sandbox' must not contain NUL bytes");
    //  {"op": "call", "method": "\0"}
    BAD_LIT ("\x82\xa2op\xa4" "call\xa6method\xa1\x00",
             "key 'method' must not contain NUL bytes");
}

//  Fuzzing regression: maps used as keys of maps used as keys escape each
//  other's JSON text once per level. A call's args reach the event log as
//  JSON (session.activity), so a small request could make the server ask
//  for gigabytes. Key texts are now cut; the log line stays small.
Test (request, regression_nested_map_keys_stay_small_as_json)
{
    //  {"op": "call", "method": "m", "args": {{{...{"\"": "\\"}...: 1}: 1}: 1}}
    static const char head [] = "\x83\xa2op\xa4" "call\xa6method\xa1m\xa4" "args";
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_sbuffer_write (&buffer, head, sizeof head - 1);
    //  16 levels: uncut, the JSON line would be ~330 KB (and double with
    //  each further level); large enough to fail, small enough to fail fast.
    for (int i = 0; i < 16; i++)
        msgpack_sbuffer_write (&buffer, "\x81", 1);
    msgpack_sbuffer_write (&buffer, "\xa1\"\xa1\\", 4);
    for (int i = 0; i < 15; i++)
        msgpack_sbuffer_write (&buffer, "\x01", 1);
    sbx_request_t req;
    sbx_error_t *error = sbx_request_decode (buffer.data, buffer.size, NULL, &req);
    cr_assert_null (error, "%s", sbx_error_message (error));
    msgpack_sbuffer_destroy (&buffer);

    sbx_event_t event = {
        .kind = SBX_EV_SESSION_ACTIVITY, .seq = 1, .environment = "testing-env",
        .sandbox = "testing-env/0:0", .session = "s", .name = req.method,
        .args = req.args, .args_size = req.args_size
    };
    json_t *json = sbx_event_to_json (&event);
    char *line = json_dumps (json, JSON_COMPACT);
    cr_assert_lt (strlen (line), 4096, "%zu bytes", strlen (line));
    free (line);
    json_decref (json);
    char *text = sbx_event_text (&event);
    cr_assert_str_eq (text, "[testing-env/0:0/s] m: None");
    free (text);
    sbx_request_reset (&req);
}
