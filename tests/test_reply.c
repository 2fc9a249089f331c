/*  Tests of sbx_reply: every encoder, and the generic decoder. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages/event.h"
#include "messages/mp.h"
#include "messages/reply.h"
#include "testutil.h"

//  Decodes what an encoder wrote, and frees the buffer: the reply must not
//  depend on it.
static sbx_reply_t *
s_decode (msgpack_sbuffer *buffer)
{
    sbx_error_t *error = NULL;
    sbx_reply_t *reply = sbx_reply_decode (buffer->data, buffer->size, &error);
    cr_assert_not_null (reply, "%s", sbx_error_message (error));
    cr_assert_null (error);
    memset (buffer->data, 0, buffer->size);
    msgpack_sbuffer_destroy (buffer);
    return reply;
}

//  A key of the reply as compact JSON text, for readable comparisons.
static void
s_assert_key_json (const sbx_reply_t *reply, const char *key, const char *expected)
{
    const msgpack_object *o = sbx_reply_get (reply, key);
    cr_assert_not_null (o, "no key '%s'", key);
    json_t *json = sbx_mp_to_json (o);
    char *text = json_dumps (json, JSON_ENCODE_ANY | JSON_COMPACT);
    cr_assert_str_eq (text, expected, "key '%s'", key);
    free (text);
    json_decref (json);
}

static void
s_assert_whole_json (const sbx_reply_t *reply, const char *expected)
{
    json_t *json = sbx_mp_to_json (sbx_reply_map (reply));
    char *text = json_dumps (json, JSON_COMPACT);
    cr_assert_str_eq (text, expected);
    free (text);
    json_decref (json);
}

Test (reply, status_names)
{
    const char *expected [SBX_STATUS_COUNT] = {
        "created", "setting_up", "ready", "acquired", "in_session",
        "shutting_down", "offline"
    };
    for (int i = 0; i < SBX_STATUS_COUNT; i++)
        cr_assert_str_eq (sbx_status_names [i], expected [i]);
}

Test (reply, ok_bytes)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_ok (&buffer, true, 5);
    static const char expected [] = "\x82\xa2id\x05\xa2ok\xc3";
    cr_assert_eq (buffer.size, sizeof expected - 1);
    cr_assert (memcmp (buffer.data, expected, buffer.size) == 0);
    sbx_reply_t *reply = s_decode (&buffer);
    cr_assert (sbx_reply_is_ok (reply));
    cr_assert (sbx_reply_has_id (reply));
    cr_assert_eq (sbx_reply_id (reply), 5);
    cr_assert_null (sbx_reply_get_error (reply));
    sbx_reply_destroy (&reply);
    cr_assert_null (reply);
    sbx_reply_destroy (&reply);

    msgpack_sbuffer_init (&buffer);
    sbx_reply_ok (&buffer, false, 5);
    reply = s_decode (&buffer);
    cr_assert_not (sbx_reply_has_id (reply));
    s_assert_whole_json (reply, "{\"ok\":true}");
    sbx_reply_destroy (&reply);
}

Test (reply, error)
{
    sbx_error_t *error = sbx_error_new (SBX_SESSION_TEARDOWN_ERROR, "teardown");
    sbx_error_set_sandbox (error, "testing-env/0:0");
    sbx_error_t *sub = sbx_error_new ("ValueError", "v");
    sbx_error_add (error, "feature1", &sub);

    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_error (&buffer, true, UINT64_MAX, error);
    sbx_reply_t *reply = s_decode (&buffer);
    cr_assert_not (sbx_reply_is_ok (reply));
    cr_assert_eq (sbx_reply_id (reply), UINT64_MAX);
    const sbx_error_t *back = sbx_reply_get_error (reply);
    cr_assert_str_eq (sbx_error_type (back), SBX_SESSION_TEARDOWN_ERROR);
    cr_assert_str_eq (sbx_error_message (back), "teardown");
    cr_assert_str_eq (sbx_error_sandbox (back), "testing-env/0:0");
    cr_assert_eq (sbx_error_count (back), 1);
    const char *feature = NULL;
    cr_assert_str_eq (sbx_error_type (sbx_error_at (back, 0, &feature)), "ValueError");
    cr_assert_str_eq (feature, "feature1");
    s_assert_key_json (reply, "error",
        "{\"type\":\"SessionTeardownError\",\"message\":\"teardown\","
        "\"sandbox\":\"testing-env/0:0\","
        "\"errors\":{\"feature1\":{\"type\":\"ValueError\",\"message\":\"v\"}}}");
    sbx_reply_destroy (&reply);
    sbx_error_destroy (&error);
}

Test (reply, hello)
{
    const char *shell [] = { "shell", "num_shell_calls", NULL };
    const sbx_feature_info_t features [] = {
        { "feature1", "testing", shell },
        { "feature2", "testing", NULL },
    };
    const char *sandbox_methods [] = { "shell", NULL };
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_hello (&buffer, true, 1, "0.1.0", "testing-env", "online", "tcp://127.0.0.1:5556",
                     features, 2, sandbox_methods);
    sbx_reply_t *reply = s_decode (&buffer);
    s_assert_whole_json (reply,
        "{\"id\":1,\"ok\":true,\"protocol\":1,\"version\":\"0.1.0\","
        "\"environment\":\"testing-env\",\"status\":\"online\","
        "\"events_endpoint\":\"tcp://127.0.0.1:5556\","
        "\"features\":{\"feature1\":{\"kind\":\"testing\","
        "\"methods\":[\"shell\",\"num_shell_calls\"]},"
        "\"feature2\":{\"kind\":\"testing\",\"methods\":[]}},"
        "\"sandbox_methods\":[\"shell\"],\"capabilities\":[\"stream\",\"input\"]}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "status"), "online");
    sbx_reply_destroy (&reply);

    msgpack_sbuffer_init (&buffer);
    sbx_reply_hello (&buffer, false, 0, "0.1.0", "e", "created", NULL, NULL, 0, NULL);
    reply = s_decode (&buffer);
    s_assert_key_json (reply, "features", "{}");
    s_assert_key_json (reply, "sandbox_methods", "[]");
    sbx_reply_destroy (&reply);
}

Test (reply, acquire_session_start_session_open)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_acquire (&buffer, true, 2, "testing-env/0:0", "00112233445566778899aabbccddeeff");
    sbx_reply_t *reply = s_decode (&buffer);
    s_assert_whole_json (reply, "{\"id\":2,\"ok\":true,\"sandbox\":\"testing-env/0:0\","
                                "\"token\":\"00112233445566778899aabbccddeeff\"}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "sandbox"), "testing-env/0:0");
    cr_assert_str_eq (sbx_reply_get_str (reply, "token"), "00112233445566778899aabbccddeeff");
    sbx_reply_destroy (&reply);

    msgpack_sbuffer_init (&buffer);
    sbx_reply_session_start (&buffer, false, 0, "session1");
    reply = s_decode (&buffer);
    s_assert_whole_json (reply, "{\"ok\":true,\"session_id\":\"session1\"}");
    sbx_reply_destroy (&reply);

    msgpack_sbuffer_init (&buffer);
    sbx_reply_session_open (&buffer, true, 3, "testing-env/0:1", "tok", "s1");
    reply = s_decode (&buffer);
    s_assert_whole_json (reply, "{\"id\":3,\"ok\":true,\"sandbox\":\"testing-env/0:1\","
                                "\"token\":\"tok\",\"session_id\":\"s1\"}");
    sbx_reply_destroy (&reply);
}

Test (reply, call)
{
    //  {"out": [1, "x"]}
    static const char result [] = "\x81\xa3out\x92\x01\xa1x";
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_call (&buffer, true, 9, result, sizeof result - 1, NULL, NULL);
    sbx_reply_t *reply = s_decode (&buffer);
    s_assert_whole_json (reply, "{\"id\":9,\"ok\":true,\"result\":{\"out\":[1,\"x\"]}}");
    sbx_reply_destroy (&reply);

    //  Ephemeral: sandbox and session too; a scalar result.
    msgpack_sbuffer_init (&buffer);
    sbx_reply_call (&buffer, false, 0, "\x2a", 1, "testing-env/0:0", "s");
    reply = s_decode (&buffer);
    s_assert_whole_json (reply, "{\"ok\":true,\"result\":42,"
                                "\"sandbox\":\"testing-env/0:0\",\"session_id\":\"s\"}");
    sbx_reply_destroy (&reply);

    //  No result is nil.
    msgpack_sbuffer_init (&buffer);
    sbx_reply_call (&buffer, false, 0, NULL, 0, NULL, "s");
    reply = s_decode (&buffer);
    s_assert_whole_json (reply, "{\"ok\":true,\"result\":null,\"session_id\":\"s\"}");
    sbx_reply_destroy (&reply);
}

Test (reply, heartbeat)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_heartbeat (&buffer, true, 4, 30000);
    sbx_reply_t *reply = s_decode (&buffer);
    s_assert_whole_json (reply, "{\"id\":4,\"ok\":true,\"lease_ms\":30000}");
    cr_assert_null (sbx_reply_get_str (reply, "lease_ms"));     //  not a str
    sbx_reply_destroy (&reply);
}

Test (reply, input)
{
    for (int closed = 0; closed <= 1; closed++) {
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        sbx_reply_input (&buffer, true, 9, closed);
        sbx_reply_t *reply = s_decode (&buffer);
        s_assert_whole_json (reply, closed ? "{\"id\":9,\"ok\":true,\"closed\":true}"
                                           : "{\"id\":9,\"ok\":true,\"closed\":false}");
        sbx_reply_destroy (&reply);
    }
}

Test (reply, status)
{
    sbx_error_t *state = sbx_error_new (SBX_STATE_ERROR, "disk gone");
    sbx_error_set_sandbox (state, "testing-env/0:1");
    sbx_error_t *other = sbx_error_new (SBX_STATE_ERROR, "again");
    const sbx_error_t *errors [] = { state, other };
    const sbx_sandbox_info_t sandboxes [] = {
        { "testing-env/0:0", "in_session", "session1", NULL, 0 },
        { "testing-env/0:1", "offline", NULL, errors, 2 },
    };
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_status (&buffer, true, 6, "testing-env", "online", 12.5, "bwrap", sandboxes, 2);
    sbx_reply_t *reply = s_decode (&buffer);
    s_assert_whole_json (reply,
        "{\"id\":6,\"ok\":true,"
        "\"environment\":{\"id\":\"testing-env\",\"status\":\"online\",\"uptime_s\":12.5,"
        "\"isolation\":\"bwrap\"},"
        "\"sandboxes\":["
        "{\"id\":\"testing-env/0:0\",\"status\":\"in_session\",\"session_id\":\"session1\","
        "\"state_errors\":[]},"
        "{\"id\":\"testing-env/0:1\",\"status\":\"offline\",\"state_errors\":["
        "{\"type\":\"SandboxStateError\",\"message\":\"disk gone\","
        "\"sandbox\":\"testing-env/0:1\"},"
        "{\"type\":\"SandboxStateError\",\"message\":\"again\"}]}]}");
    //  uptime is a float on the wire.
    const msgpack_object *env = sbx_reply_get (reply, "environment");
    cr_assert_eq (sbx_mp_map_get (env, "uptime_s")->type, MSGPACK_OBJECT_FLOAT64);
    //  State errors unpack as errors.
    const msgpack_object *rows = sbx_reply_get (reply, "sandboxes");
    const msgpack_object *list = sbx_mp_map_get (&rows->via.array.ptr [1], "state_errors");
    sbx_error_t *back = sbx_mp_unpack_error (&list->via.array.ptr [0], NULL);
    cr_assert (sbx_error_is_state (back));
    sbx_error_destroy (&back);
    sbx_reply_destroy (&reply);

    msgpack_sbuffer_init (&buffer);
    sbx_reply_status (&buffer, false, 0, "e", "offline", 0, NULL, NULL, 0);
    reply = s_decode (&buffer);
    s_assert_key_json (reply, "sandboxes", "[]");
    //  A kind with nothing to say about isolation: nil.
    s_assert_key_json (reply, "environment", "{\"id\":\"e\",\"status\":\"offline\",\"uptime_s\":0.0,"
                       "\"isolation\":null}");
    sbx_reply_destroy (&reply);
    sbx_error_destroy (&state);
    sbx_error_destroy (&other);
}

Test (reply, stats)
{
    sbx_stats_t stats = {
        .sandbox = { 1, 2, 3, 4, 5, 6, 7 },
        .pool_min = 1, .pool_max = 4, .pool_size = 3,
        .sessions_started = 10, .sessions_ended = 11, .calls = 12, .calls_failed = 13,
        .sandboxes_started = 14, .sandboxes_replaced = 15, .acquires_waited = 16,
        .acquires_overloaded = 17, .leases_expired = 18, .bad_requests = 19,
    };
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_stats (&buffer, true, 8, &stats);
    sbx_reply_t *reply = s_decode (&buffer);
    s_assert_whole_json (reply,
        "{\"id\":8,\"ok\":true,"
        "\"sandbox\":{\"created\":1,\"setting_up\":2,\"ready\":3,\"acquired\":4,"
        "\"in_session\":5,\"shutting_down\":6,\"offline\":7},"
        "\"pool\":{\"min\":1,\"max\":4,\"size\":3},"
        "\"counters\":{\"sessions_started\":10,\"sessions_ended\":11,\"calls\":12,"
        "\"calls_failed\":13,\"sandboxes_started\":14,\"sandboxes_replaced\":15,"
        "\"acquires_waited\":16,\"acquires_overloaded\":17,\"leases_expired\":18,"
        "\"bad_requests\":19,\"acquires_refused\":0,\"calls_refused\":0,\"replies_dropped\":0,"
        "\"peers_disconnected\":0,\"peers_refused\":0}}");
    sbx_reply_destroy (&reply);
}

//  With metrics on, the histogram summaries and gauges follow (docs/metrics.md).
Test (reply, stats_with_metrics)
{
    sbx_stats_histogram_t histograms [] = {
        {"call_duration_seconds", 4, 0.5, 0.125, 0.25, 0.375},
    };
    sbx_stats_gauge_t gauges [] = {{"subscribers", 2}};
    sbx_stats_t stats = {
        .pool_min = 1, .pool_max = 1, .pool_size = 1, .peers_refused = 3,
        .histograms = histograms, .histogram_count = 1, .gauges = gauges, .gauge_count = 1,
        .metrics_endpoint = "http://127.0.0.1:9555/metrics"
    };
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_stats (&buffer, false, 0, &stats);
    sbx_reply_t *reply = s_decode (&buffer);
    json_t *json = sbx_mp_to_json (sbx_reply_map (reply));
    char *text = json_dumps (json_object_get (json, "metrics"), JSON_COMPACT);
    cr_assert_str_eq (text, "{\"endpoint\":\"http://127.0.0.1:9555/metrics\",\"histograms\":{\"call_duration_seconds\":{\"count\":4,\"sum_s\":0.5,"
                      "\"p50_s\":0.125,\"p90_s\":0.25,\"p99_s\":0.375}},\"gauges\":{\"subscribers\":2}}");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (json, "counters"), "peers_refused")), 3);
    free (text);
    json_decref (json);
    sbx_reply_destroy (&reply);
}

Test (reply, events)
{
    //  Three bodies laid end to end, as the journal keeps them.
    msgpack_sbuffer bodies;
    msgpack_sbuffer_init (&bodies);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        sbx_event_t event = {
            .kind = SBX_EV_SANDBOX_START, .seq = seq, .ts_ns = 100,
            .environment = "testing-env", .sandbox = "testing-env/0:0"
        };
        sbx_event_encode (&event, &bodies);
    }
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_reply_events (&buffer, true, 10, bodies.data, bodies.size, 3, 4, true, true);
    msgpack_sbuffer_destroy (&bodies);
    sbx_reply_t *reply = s_decode (&buffer);
    s_assert_key_json (reply, "next", "4");
    s_assert_key_json (reply, "truncated", "true");
    s_assert_key_json (reply, "more", "true");
    const msgpack_object *events = sbx_reply_get (reply, "events");
    cr_assert_eq (events->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq (events->via.array.size, 3);
    for (uint32_t i = 0; i < 3; i++) {
        //  Each element is an event body again.
        msgpack_sbuffer one;
        msgpack_sbuffer_init (&one);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &one, msgpack_sbuffer_write);
        msgpack_pack_object (&pk, events->via.array.ptr [i]);
        sbx_event_t *event = sbx_event_decode (one.data, one.size, NULL);
        cr_assert_not_null (event);
        cr_assert_eq (event->seq, i + 1);
        char *text = sbx_event_text (event);
        cr_assert_str_eq (text, "[testing-env/0:0] sandbox started");
        free (text);
        sbx_event_destroy (&event);
        msgpack_sbuffer_destroy (&one);
    }
    sbx_reply_destroy (&reply);

    msgpack_sbuffer_init (&buffer);
    sbx_reply_events (&buffer, false, 0, NULL, 0, 0, 1, false, false);
    reply = s_decode (&buffer);
    s_assert_whole_json (reply, "{\"ok\":true,\"events\":[],\"next\":1,\"truncated\":false,\"more\":false}");
    sbx_reply_destroy (&reply);
}

Test (reply, get_str)
{
    //  {"ok": true, "a": "x", "n": 1, "z": "a\0b"}
    static const char body [] = "\x84\xa2ok\xc3\xa1" "a" "\xa1x\xa1n\x01\xa1z\xa3" "a\x00" "b";
    sbx_reply_t *reply = sbx_reply_decode (body, sizeof body - 1, NULL);
    cr_assert_not_null (reply);
    cr_assert_str_eq (sbx_reply_get_str (reply, "a"), "x");
    //  The same pointer each time: owned by the reply.
    cr_assert_eq (sbx_reply_get_str (reply, "a"), sbx_reply_get_str (reply, "a"));
    cr_assert_null (sbx_reply_get_str (reply, "n"));
    cr_assert_null (sbx_reply_get_str (reply, "z"));
    cr_assert_null (sbx_reply_get_str (reply, "missing"));
    cr_assert_not_null (sbx_reply_get (reply, "z"));
    cr_assert_null (sbx_reply_get (reply, "missing"));
    sbx_reply_destroy (&reply);

    cr_assert_null (sbx_reply_get_str (NULL, "a"));
    cr_assert_null (sbx_reply_get (NULL, "a"));
    cr_assert_null (sbx_reply_map (NULL));
    cr_assert_null (sbx_reply_get_error (NULL));
    cr_assert_not (sbx_reply_is_ok (NULL));
    cr_assert_not (sbx_reply_has_id (NULL));
}

Test (reply, bad_input)
{
    static const struct {
        const char *bytes;
        size_t size;
        const char *needle;
    } cases [] = {
#define CASE(lit, needle) { lit, sizeof (lit) - 1, needle }
        CASE ("\xc1", "0xc1 at byte offset 0"),
        CASE ("", "truncated at byte offset 0"),
        CASE ("\x81\xa2ok", "truncated at byte offset 4"),
        CASE ("\x91\xc3", "reply body must be a map"),
        CASE ("\x80", "missing key 'ok'"),
        CASE ("\x81\xa2ok\x01", "key 'ok' must be a boolean"),
        CASE ("\x82\xa2ok\xc3\xa2id\xff", "key 'id' must be a non-negative integer"),
        CASE ("\x81\xa2ok\xc2", "failed reply without a valid error: missing key 'error'"),
        CASE ("\x82\xa2ok\xc2\xa5" "error" "\xc0", "failed reply without a valid error"),
        CASE ("\x82\xa2ok\xc2\xa5" "error" "\x81\xa4type\xa1T",
              "error has no string 'message'"),
        CASE ("\xdd\x80\x00\x00\x00", "claims 2147483648 items"),
        CASE ("\x81\xa2ok\xc3\xc0", "trailing bytes at offset 5"),
#undef CASE
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        sbx_error_t *error = NULL;
        sbx_reply_t *reply = sbx_reply_decode (cases [i].bytes, cases [i].size, &error);
        cr_assert_null (reply, "case %zu accepted", i);
        cr_assert_not_null (error);
        cr_assert_str_eq (sbx_error_type (error), SBX_BAD_REQUEST);
        cr_assert (strstr (sbx_error_message (error), cases [i].needle),
                   "'%s' lacks '%s'", sbx_error_message (error), cases [i].needle);
        sbx_error_destroy (&error);
        cr_assert_null (sbx_reply_decode (cases [i].bytes, cases [i].size, NULL));
    }
    //  A reply nested 10,000 deep.
    size_t depth = 10000;
    uint8_t *data = (uint8_t *) malloc (depth + 8);
    memcpy (data, "\x82\xa2ok\xc3\xa1r", 7);
    memset (data + 7, 0x91, depth);
    data [7 + depth] = 0xc0;
    sbx_error_t *error = NULL;
    cr_assert_null (sbx_reply_decode (data, depth + 8, &error));
    cr_assert (strstr (sbx_error_message (error), "nesting deeper than"));
    sbx_error_destroy (&error);
    free (data);
}
