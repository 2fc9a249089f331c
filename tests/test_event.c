/*  Tests of sbx_event: body, JSON-lines form and text form of events. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages/event.h"
#include "messages/mp.h"
#include "testutil.h"

#define ENV "testing-env"
#define SB  "testing-env/0:0"

//  {"code": "echo \"hello\""}
static const char s_args [] = "\x81\xa4" "code" "\xac" "echo \"hello\"";

//  An event of `kind` with every key of its kind set, as an actor would
//  make it (fields borrowed).
static sbx_event_t
s_make (sbx_event_kind_t kind, const sbx_error_t *error)
{
    sbx_event_t event = {
        .kind = kind,
        .seq = 7 + (uint64_t) kind,
        .ts_ns = 1700000000123456789ll,
        .environment = ENV,
        .error = error
    };
    switch (kind) {
        case SBX_EV_SANDBOX_STATUS:
            event.old_status = "created";
            event.new_status = "setting_up";
            break;
        case SBX_EV_FEATURE_SETUP:
        case SBX_EV_FEATURE_TEARDOWN:
        case SBX_EV_FEATURE_HOUSEKEEP:
        case SBX_EV_FEATURE_SETUP_SESSION:
        case SBX_EV_FEATURE_TEARDOWN_SESSION:
            event.feature = "feature1";
            break;
        case SBX_EV_SESSION_ACTIVITY:
            event.feature = "feature1";
            event.name = "shell";
            event.args = (const uint8_t *) s_args;
            event.args_size = sizeof s_args - 1;
            break;
        default:
            break;
    }
    if (kind >= SBX_EV_SANDBOX_START)
        event.sandbox = SB;
    if (kind >= SBX_EV_FEATURE_SETUP_SESSION)
        event.session = "session1";
    return event;
}

//  The expected text of s_make (kind), without the error suffix.
static const char *s_texts [SBX_EV_COUNT] = {
    "[testing-env] environment started",
    "[testing-env] environment shutdown",
    "[testing-env/0:0] sandbox started",
    "[testing-env/0:0] sandbox shutdown",
    "[testing-env/0:0] created -> setting_up",
    "[testing-env/0:0/feature1] feature setup",
    "[testing-env/0:0/feature1] feature teardown",
    "[testing-env/0:0/feature1] feature housekeep",
    "[testing-env/0:0/feature1] feature setup session",
    "[testing-env/0:0/feature1] feature teardown session",
    "[testing-env/0:0] session 'session1' started",
    "[testing-env/0:0] session 'session1' ended",
    "[testing-env/0:0/session1] shell: echo \"hello\"",
};

static void
s_assert_error_eq (const sbx_error_t *a, const sbx_error_t *b)
{
    cr_assert_eq (a == NULL, b == NULL);
    if (!a)
        return;
    sbx_test_assert_str (sbx_error_type (a), sbx_error_type (b), "error type");
    sbx_test_assert_str (sbx_error_message (a), sbx_error_message (b), "error message");
    sbx_test_assert_str (sbx_error_sandbox (a), sbx_error_sandbox (b), "error sandbox");
    cr_assert_eq (sbx_error_count (a), sbx_error_count (b));
    for (size_t i = 0; i < sbx_error_count (a); i++) {
        const char *fa, *fb;
        const sbx_error_t *sa = sbx_error_at (a, i, &fa);
        const sbx_error_t *sb = sbx_error_at (b, i, &fb);
        cr_assert_str_eq (fa, fb);
        s_assert_error_eq (sa, sb);
    }
}

static void
s_assert_event_eq (const sbx_event_t *a, const sbx_event_t *b)
{
    cr_assert_eq (a->kind, b->kind);
    cr_assert_eq (a->seq, b->seq);
    cr_assert_eq (a->ts_ns, b->ts_ns);
    sbx_test_assert_str (a->environment, b->environment, "environment");
    sbx_test_assert_str (a->sandbox, b->sandbox, "sandbox");
    sbx_test_assert_str (a->old_status, b->old_status, "old");
    sbx_test_assert_str (a->new_status, b->new_status, "new");
    sbx_test_assert_str (a->feature, b->feature, "feature");
    sbx_test_assert_str (a->session, b->session, "session");
    sbx_test_assert_str (a->name, b->name, "name");
    //  No args and an empty map are the same on the wire.
    const uint8_t *args_a = a->args_size ? a->args : (const uint8_t *) "\x80";
    const uint8_t *args_b = b->args_size ? b->args : (const uint8_t *) "\x80";
    size_t size_a = a->args_size ? a->args_size : 1;
    size_t size_b = b->args_size ? b->args_size : 1;
    if (a->kind == SBX_EV_SESSION_ACTIVITY) {
        cr_assert_eq (size_a, size_b);
        cr_assert (memcmp (args_a, args_b, size_a) == 0);
    }
    s_assert_error_eq (a->error, b->error);
}

//  Initialises `buffer` and encodes `event` into it (caller destroys the
//  buffer).
static void
s_encode (const sbx_event_t *event, msgpack_sbuffer *buffer)
{
    msgpack_sbuffer_init (buffer);
    sbx_event_encode (event, buffer);
}

//  Same, and unpacks the body into `unpacked` (caller destroys it too);
//  returns the body.
static const msgpack_object *
s_encode_unpacked (const sbx_event_t *event, msgpack_sbuffer *buffer, msgpack_unpacked *unpacked)
{
    s_encode (event, buffer);
    msgpack_unpacked_init (unpacked);
    size_t offset = 0;
    cr_assert_eq (msgpack_unpack_next (unpacked, buffer->data, buffer->size, &offset), MSGPACK_UNPACK_SUCCESS);
    return &unpacked->data;
}

static sbx_event_t *
s_round_trip (const sbx_event_t *event)
{
    msgpack_sbuffer buffer;
    s_encode (event, &buffer);
    sbx_error_t *error = NULL;
    sbx_event_t *back = sbx_event_decode (buffer.data, buffer.size, &error);
    cr_assert_not_null (back, "%s: %s", sbx_event_kind_name (event->kind),
                        sbx_error_message (error));
    cr_assert_null (error);
    msgpack_sbuffer_destroy (&buffer);
    return back;
}

static void
s_assert_text (const sbx_event_t *event, const char *expected)
{
    char *text = sbx_event_text (event);
    cr_assert_str_eq (text, expected);
    free (text);
}

//  A composite error with a state and a user error inside.
static sbx_error_t *
s_composite (void)
{
    sbx_error_t *error = sbx_error_new (SBX_FEATURE_TEARDOWN_ERROR, "teardown failed");
    sbx_error_set_sandbox (error, SB);
    sbx_error_t *sub = sbx_error_new (SBX_STATE_ERROR, "disk gone");
    sbx_error_add (error, "feature1", &sub);
    sub = sbx_error_new ("ValueError", "bad");
    sbx_error_add (error, "feature2", &sub);
    return error;
}

Test (event, kind_names)
{
    for (int kind = 0; kind < SBX_EV_COUNT; kind++) {
        const char *name = sbx_event_kind_name ((sbx_event_kind_t) kind);
        cr_assert_not_null (name);
        cr_assert_eq (sbx_event_kind_parse (name, strlen (name)), kind);
    }
    cr_assert_str_eq (sbx_event_kind_name (SBX_EV_SANDBOX_STATUS), "sandbox.status");
    cr_assert_str_eq (sbx_event_kind_name (SBX_EV_FEATURE_TEARDOWN_SESSION),
                      "feature.teardown_session");
    cr_assert_str_eq (sbx_event_kind_name (SBX_EV_SESSION_ACTIVITY), "session.activity");
    cr_assert_null (sbx_event_kind_name (SBX_EV_COUNT));
    cr_assert_eq (sbx_event_kind_parse ("session.", 8), -1);
    cr_assert_eq (sbx_event_kind_parse (NULL, 0), -1);
}

Test (event, seq_is_at_a_fixed_offset)
{
    cr_assert_eq (SBX_EVENT_SEQ_OFFSET, 6);
    for (int kind = 0; kind < SBX_EV_COUNT; kind++)
        for (int with_error = 0; with_error <= 1; with_error++) {
            sbx_error_t *error = with_error ? s_composite () : NULL;
            sbx_event_t event = s_make ((sbx_event_kind_t) kind, error);
            event.seq = 0;      //  even a small seq takes all 8 bytes
            msgpack_sbuffer buffer;
            s_encode (&event, &buffer);
            uint8_t *body = (uint8_t *) buffer.data;
            cr_assert_eq (body [0] & 0xf0, 0x80, "fixmap");
            cr_assert (memcmp (body + 1, "\xa3seq\xcf", 5) == 0);
            sbx_event_patch_seq (body, 0x0102030405060708ull);
            cr_assert (memcmp (body + SBX_EVENT_SEQ_OFFSET,
                               "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
            sbx_event_t *back = s_round_trip (&event);
            sbx_event_destroy (&back);
            sbx_error_t *decode_error = NULL;
            back = sbx_event_decode (body, buffer.size, &decode_error);
            cr_assert_not_null (back);
            cr_assert_eq (back->seq, 0x0102030405060708ull);
            sbx_event_destroy (&back);
            msgpack_sbuffer_destroy (&buffer);
            sbx_error_destroy (&error);
        }
}

Test (event, ts_ns_is_at_a_fixed_offset_and_only_raised)
{
    cr_assert_eq (SBX_EVENT_TS_OFFSET, 21);
    for (int kind = 0; kind < SBX_EV_COUNT; kind++) {
        sbx_event_t event = s_make ((sbx_event_kind_t) kind, NULL);
        event.ts_ns = 5;        //  even a small time takes all 8 bytes
        msgpack_sbuffer buffer;
        s_encode (&event, &buffer);
        uint8_t *body = (uint8_t *) buffer.data;
        cr_assert (memcmp (body + SBX_EVENT_SEQ_OFFSET + 8, "\xa5ts_ns\xd3", 7) == 0);
        //  A floor below the time leaves it; one above raises it.
        cr_assert_eq (sbx_event_stamp_ts (body, 3), 5);
        cr_assert_eq (sbx_event_stamp_ts (body, 1700000000123456789ll), 1700000000123456789ll);
        cr_assert_eq (sbx_event_stamp_ts (body, 0), 1700000000123456789ll);
        sbx_error_t *decode_error = NULL;
        sbx_event_t *back = sbx_event_decode (body, buffer.size, &decode_error);
        cr_assert_not_null (back);
        cr_assert_eq (back->ts_ns, 1700000000123456789ll);
        sbx_event_destroy (&back);
        msgpack_sbuffer_destroy (&buffer);
    }
}

//  The error of the "every kind" tests: none (0), a plain one (1) or a
//  composite (2). Caller destroys.
static sbx_error_t *
s_error_of_kind (int which)
{
    return which == 0 ? NULL : which == 1 ? sbx_error_new ("ValueError", "v") : s_composite ();
}

Test (event, round_trip_every_kind)
{
    for (int kind = 0; kind < SBX_EV_COUNT; kind++)
        for (int with_error = 0; with_error <= 2; with_error++) {
            sbx_error_t *error = s_error_of_kind (with_error);
            sbx_event_t event = s_make ((sbx_event_kind_t) kind, error);
            event.ts_ns = kind % 2 ? -5 : event.ts_ns;
            sbx_event_t *back = s_round_trip (&event);
            s_assert_event_eq (&event, back);
            sbx_event_destroy (&back);
            cr_assert_null (back);
            sbx_event_destroy (&back);  //  twice is safe
            sbx_error_destroy (&error);
        }
}

Test (event, body_keys_in_order)
{
    sbx_event_t event = s_make (SBX_EV_SESSION_ACTIVITY, NULL);
    msgpack_sbuffer buffer;
    msgpack_unpacked unpacked;
    const msgpack_object *root = s_encode_unpacked (&event, &buffer, &unpacked);
    const char *keys [] = { "seq", "ts_ns", "event", "environment", "sandbox",
                            "feature", "session", "name", "args", "error" };
    cr_assert_eq (root->via.map.size, sizeof keys / sizeof keys [0]);
    for (size_t i = 0; i < root->via.map.size; i++)
        cr_assert (sbx_mp_str_eq (&root->via.map.ptr [i].key, keys [i]), "key %zu", i);
    cr_assert_eq (sbx_mp_map_get (root, "error")->type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
}

Test (event, extra_keys_per_kind)
{
    //  kind -> its keys after the four common ones, before `error`.
    static const char *expected [SBX_EV_COUNT] = {
        "", "", "sandbox", "sandbox", "sandbox,old,new",
        "sandbox,feature", "sandbox,feature", "sandbox,feature",
        "sandbox,feature,session", "sandbox,feature,session",
        "sandbox,session", "sandbox,session",
        "sandbox,feature,session,name,args",
    };
    for (int kind = 0; kind < SBX_EV_COUNT; kind++) {
        sbx_event_t event = s_make ((sbx_event_kind_t) kind, NULL);
        msgpack_sbuffer buffer;
        msgpack_unpacked unpacked;
        const msgpack_object *root = s_encode_unpacked (&event, &buffer, &unpacked);
        char keys [128] = "";
        size_t used = 0;
        for (size_t i = 4; i + 1 < root->via.map.size; i++) {
            const msgpack_object *key = &root->via.map.ptr [i].key;
            used += (size_t) snprintf (keys + used, sizeof keys - used, "%s%.*s",
                                       used ? "," : "", (int) key->via.str.size,
                                       key->via.str.ptr);
        }
        cr_assert_str_eq (keys, expected [kind], "%s", sbx_event_kind_name (kind));
        cr_assert (sbx_mp_str_eq (&root->via.map.ptr [root->via.map.size - 1].key, "error"));
        msgpack_unpacked_destroy (&unpacked);
        msgpack_sbuffer_destroy (&buffer);
    }
}

Test (event, nil_keys)
{
    //  A proactive feature.setup_session has no session; a sandbox service
    //  activity has no feature; an activity may have no args.
    sbx_event_t event = s_make (SBX_EV_FEATURE_SETUP_SESSION, NULL);
    event.session = NULL;
    sbx_event_t *back = s_round_trip (&event);
    cr_assert_null (back->session);
    s_assert_event_eq (&event, back);
    s_assert_text (back, "[testing-env/0:0/feature1] feature setup session");
    sbx_event_destroy (&back);

    event = s_make (SBX_EV_SESSION_ACTIVITY, NULL);
    event.feature = NULL;
    event.args = NULL;
    event.args_size = 0;
    event.name = "num_shell_calls";
    back = s_round_trip (&event);
    cr_assert_null (back->feature);
    cr_assert_eq (back->args_size, 1);      //  an empty map
    s_assert_event_eq (&event, back);
    s_assert_text (back, "[testing-env/0:0/session1] num_shell_calls: None");
    sbx_event_destroy (&back);
}

Test (event, text_every_kind)
{
    sbx_error_t *user = sbx_error_new ("ValueError", "v");
    sbx_error_t *composite = s_composite ();
    for (int kind = 0; kind < SBX_EV_COUNT; kind++) {
        sbx_event_t event = s_make ((sbx_event_kind_t) kind, NULL);
        s_assert_text (&event, s_texts [kind]);
        char expected [256];
        event.error = user;
        snprintf (expected, sizeof expected, "%s with ValueError", s_texts [kind]);
        s_assert_text (&event, expected);
        event.error = composite;
        snprintf (expected, sizeof expected, "%s with FeatureTeardownError", s_texts [kind]);
        s_assert_text (&event, expected);
    }
    sbx_error_destroy (&user);
    sbx_error_destroy (&composite);
}

//  Lines from /work/shared/conformance expected logs, rebuilt from events.
Test (event, text_conformance_lines)
{
    sbx_error_t *value = sbx_error_new ("ValueError", "x");
    sbx_error_t *state = sbx_error_new (SBX_STATE_ERROR, "x");
    sbx_error_t *runtime = sbx_error_new ("RuntimeError", "x");
    sbx_error_t *teardown = s_composite ();

    sbx_event_t event = s_make (SBX_EV_SANDBOX_STATUS, NULL);
    event.old_status = "in_session";
    event.new_status = "acquired";
    s_assert_text (&event, "[testing-env/0:0] in_session -> acquired");

    event = s_make (SBX_EV_SANDBOX_STATUS, NULL);
    event.sandbox = "testing-env/0:1";
    event.old_status = "shutting_down";
    event.new_status = "offline";
    s_assert_text (&event, "[testing-env/0:1] shutting_down -> offline");

    event = s_make (SBX_EV_FEATURE_SETUP_SESSION, value);
    event.feature = "feature2";
    s_assert_text (&event, "[testing-env/0:0/feature2] feature setup session with ValueError");

    event = s_make (SBX_EV_SESSION_START, value);
    s_assert_text (&event, "[testing-env/0:0] session 'session1' started with ValueError");

    event = s_make (SBX_EV_SESSION_END, state);
    s_assert_text (&event, "[testing-env/0:0] session 'session1' ended with SandboxStateError");

    event = s_make (SBX_EV_SANDBOX_SHUTDOWN, teardown);
    s_assert_text (&event, "[testing-env/0:0] sandbox shutdown with FeatureTeardownError");

    event = s_make (SBX_EV_FEATURE_TEARDOWN, state);
    s_assert_text (&event, "[testing-env/0:0/feature1] feature teardown with SandboxStateError");

    event = s_make (SBX_EV_ENVIRONMENT_SHUTDOWN, value);
    s_assert_text (&event, "[testing-env] environment shutdown with ValueError");

    static const char setup [] = "\x81\xa4" "code" "\xbc" "\"test_feature\" setup session";
    event = s_make (SBX_EV_SESSION_ACTIVITY, NULL);
    event.args = (const uint8_t *) setup;
    event.args_size = sizeof setup - 1;
    s_assert_text (&event, "[testing-env/0:0/session1] shell: \"test_feature\" setup session");

    static const char bad [] = "\x82\xa4" "code" "\xab" "bad command" "\xabraise_error\xa1x";
    event.args = (const uint8_t *) bad;
    event.args_size = sizeof bad - 1;
    event.error = runtime;
    s_assert_text (&event, "[testing-env/0:0/session1] shell: bad command with RuntimeError");

    event = s_make (SBX_EV_SESSION_ACTIVITY, state);
    event.feature = NULL;
    event.name = "bad_shell_call";
    event.args = (const uint8_t *) "\x80";
    event.args_size = 1;
    s_assert_text (&event, "[testing-env/0:0/session1] bad_shell_call: None"
                           " with SandboxStateError");

    sbx_error_destroy (&value);
    sbx_error_destroy (&state);
    sbx_error_destroy (&runtime);
    sbx_error_destroy (&teardown);
}

Test (event, text_activity_code_forms)
{
    static const struct {
        const char *args;
        size_t size;
        const char *code;
    } cases [] = {
#define CASE(lit, code) { lit, sizeof (lit) - 1, code }
        CASE ("\x81\xa4" "code" "\x2a", "42"),
        CASE ("\x81\xa4" "code" "\xc3", "true"),
        CASE ("\x81\xa4" "code" "\xc0", "None"),
        CASE ("\x81\xa4" "code" "\x92\xa1" "a" "\x01", "[\"a\", 1]"),
        CASE ("\x81\xa4" "code" "\x81\xa1x\x01", "{\"x\": 1}"),
        CASE ("\x81\xa4" "code" "\xa0", ""),
        CASE ("\x81\xa4" "code" "\xa3" "a\nb", "a\nb"),
        CASE ("\x82\xa4" "code" "\xa1x\xa4" "code" "\xa1y", "y"),    //  last wins
        //  No code: the shell feature's cmd, else None.
        CASE ("\x81\xa3" "cmd" "\xa1x", "x"),
        CASE ("\x82\xa3" "cmd" "\xa1x\xa4" "code" "\xa1y", "y"),  //  code first
        CASE ("\x82\xa4" "code" "\xc0\xa3" "cmd" "\xa1x", "x"),
        CASE ("\x81\xa3" "cmd" "\xc0", "None"),
        CASE ("\x81\xa5" "stdin" "\xa1x", "None"),
        CASE ("\x80", "None"),
        CASE ("\x91\x01", "None"),        //  not a map
        CASE ("\xc1", "None"),             //  not msgpack
        CASE ("\x81\xa4" "code", "None"), //  truncated
#undef CASE
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        sbx_event_t event = s_make (SBX_EV_SESSION_ACTIVITY, NULL);
        event.args = (const uint8_t *) cases [i].args;
        event.args_size = cases [i].size;
        char expected [128];
        snprintf (expected, sizeof expected, "[testing-env/0:0/session1] shell: %s",
                  cases [i].code);
        s_assert_text (&event, expected);
    }
}

Test (event, text_of_absent_fields)
{
    sbx_event_t event = { .kind = SBX_EV_SESSION_START };
    s_assert_text (&event, "[None] session 'None' started");
    event.kind = SBX_EV_COUNT;
    event.environment = ENV;
    s_assert_text (&event, "[testing-env] unknown event 13");
}

static char *
s_json_text (const sbx_event_t *event)
{
    json_t *json = sbx_event_to_json (event);
    cr_assert_not_null (json);
    char *text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    return text;
}

Test (event, json_form)
{
    sbx_event_t event = s_make (SBX_EV_SANDBOX_STATUS, NULL);
    char *text = s_json_text (&event);
    cr_assert_str_eq (text, "{\"seq\":11,\"ts_ns\":1700000000123456789,"
                            "\"event\":\"sandbox.status\",\"environment\":\"testing-env\","
                            "\"sandbox\":\"testing-env/0:0\",\"old\":\"created\","
                            "\"new\":\"setting_up\",\"error\":null}");
    free (text);

    sbx_error_t *error = sbx_error_new ("ValueError", "bad \"x\"");
    event = s_make (SBX_EV_SESSION_ACTIVITY, error);
    event.feature = NULL;
    text = s_json_text (&event);
    cr_assert_str_eq (text, "{\"seq\":19,\"ts_ns\":1700000000123456789,"
                            "\"event\":\"session.activity\",\"environment\":\"testing-env\","
                            "\"sandbox\":\"testing-env/0:0\",\"feature\":null,"
                            "\"session\":\"session1\",\"name\":\"shell\","
                            "\"args\":{\"code\":\"echo \\\"hello\\\"\"},"
                            "\"error\":{\"type\":\"ValueError\",\"message\":\"bad \\\"x\\\"\"}}");
    free (text);
    sbx_error_destroy (&error);

    event = s_make (SBX_EV_SESSION_ACTIVITY, NULL);
    event.args = NULL;
    event.args_size = 0;
    text = s_json_text (&event);
    cr_assert (strstr (text, "\"args\":{},\"error\":null}"), "%s", text);
    free (text);
}

//  duration_ns (an sbx extension) comes before error when the step was
//  timed, in every form, and stays out when it was not.
Test (event, duration_ns_is_kept_when_timed)
{
    for (int kind = 0; kind < SBX_EV_COUNT; kind++) {
        sbx_event_t event = s_make ((sbx_event_kind_t) kind, NULL);
        event.duration_ns = 1234567;
        sbx_event_t *back = s_round_trip (&event);
        cr_assert_eq (back->duration_ns, 1234567, "%s", sbx_event_kind_name ((sbx_event_kind_t) kind));
        sbx_event_destroy (&back);
        char *text = s_json_text (&event);
        cr_assert (strstr (text, ",\"duration_ns\":1234567,\"error\":null}"), "%s", text);
        free (text);
        event.duration_ns = 0;
        back = s_round_trip (&event);
        cr_assert_eq (back->duration_ns, 0);
        sbx_event_destroy (&back);
        text = s_json_text (&event);
        cr_assert_null (strstr (text, "duration_ns"), "%s", text);
        free (text);
    }
    json_t *json = json_loads ("{\"seq\": 1, \"ts_ns\": 2, \"event\": \"environment.start\", "
                               "\"environment\": \"e\", \"duration_ns\": \"slow\"}", 0, NULL);
    sbx_error_t *error = NULL;
    cr_assert_null (sbx_event_from_json (json, &error));
    cr_assert (strstr (sbx_error_message (error), "duration_ns"), "%s", sbx_error_message (error));
    sbx_error_destroy (&error);
    json_decref (json);
}

Test (event, json_round_trip_every_kind)
{
    for (int kind = 0; kind < SBX_EV_COUNT; kind++)
        for (int with_error = 0; with_error <= 2; with_error++) {
            sbx_error_t *error = s_error_of_kind (with_error);
            sbx_event_t event = s_make ((sbx_event_kind_t) kind, error);
            //  Through text, as an event log line is written and read.
            json_t *json = sbx_event_to_json (&event);
            char *line = json_dumps (json, JSON_COMPACT);
            json_decref (json);
            json_error_t json_error;
            json = json_loads (line, 0, &json_error);
            cr_assert_not_null (json, "%s", json_error.text);
            free (line);

            sbx_error_t *decode_error = NULL;
            sbx_event_t *back = sbx_event_from_json (json, &decode_error);
            cr_assert_not_null (back, "%s", sbx_error_message (decode_error));
            json_decref (json);
            s_assert_event_eq (&event, back);
            char *expected = sbx_event_text (&event);
            char *text = sbx_event_text (back);
            cr_assert_str_eq (text, expected);
            free (text);
            free (expected);
            sbx_event_destroy (&back);
            sbx_error_destroy (&error);
        }
}

static void
s_assert_bad_json (const char *text, const char *needle)
{
    json_error_t json_error;
    json_t *json = json_loads (text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &json_error);
    cr_assert_not_null (json, "%s: %s", text, json_error.text);
    sbx_error_t *error = NULL;
    sbx_event_t *event = sbx_event_from_json (json, &error);
    json_decref (json);
    cr_assert_null (event, "%s accepted", text);
    cr_assert_not_null (error);
    cr_assert_str_eq (sbx_error_type (error), SBX_BAD_REQUEST);
    cr_assert (strstr (sbx_error_message (error), needle),
               "%s: '%s' lacks '%s'", text, sbx_error_message (error), needle);
    sbx_error_destroy (&error);
}

#define HEAD "{\"seq\": 1, \"ts_ns\": 2, \"event\": "

Test (event, bad_input)
{
    s_assert_bad_json ("[1]", "event JSON must be an object");
    s_assert_bad_json ("{\"ts_ns\": 2, \"event\": \"environment.start\"}", "missing key 'seq'");
    s_assert_bad_json ("{\"seq\": -1, \"ts_ns\": 2, \"event\": \"environment.start\"}",
                       "key 'seq' must be a non-negative integer, got negative integer");
    s_assert_bad_json ("{\"seq\": 1, \"event\": \"environment.start\"}", "missing key 'ts_ns'");
    s_assert_bad_json ("{\"seq\": 1, \"ts_ns\": \"2\", \"event\": \"environment.start\"}",
                       "key 'ts_ns' must be a 64-bit integer, got string");
    s_assert_bad_json ("{\"seq\": 1, \"ts_ns\": 2}", "missing key 'event'");
    s_assert_bad_json (HEAD "\"sandbox.explode\"}", "unknown event 'sandbox.explode'");
    s_assert_bad_json (HEAD "7}", "key 'event' must be a string, got integer");
    s_assert_bad_json (HEAD "\"environment.start\", \"environment\": 1}",
                       "key 'environment' must be a string, got integer");
    s_assert_bad_json (HEAD "\"sandbox.start\", \"sandbox\": []}",
                       "key 'sandbox' must be a string, got array");
    s_assert_bad_json (HEAD "\"sandbox.status\", \"old\": 1}",
                       "key 'old' must be a string, got integer");
    s_assert_bad_json (HEAD "\"session.activity\", \"args\": [1]}",
                       "key 'args' must be a map, got array");
    s_assert_bad_json (HEAD "\"session.end\", \"error\": {\"type\": \"T\"}}",
                       "key 'error' is not valid: error has no string 'message'");
    s_assert_bad_json (HEAD "\"session.end\", \"session\": \"a\\u0000b\"}",
                       "key 'session' must not contain NUL bytes");
    //  Keys of other kinds are ignored, like unknown keys.
    json_t *json = json_loads (HEAD "\"environment.start\", \"sandbox\": 5, \"x\": {}}",
                               0, NULL);
    sbx_error_t *error = NULL;
    sbx_event_t *event = sbx_event_from_json (json, &error);
    cr_assert_not_null (event, "%s", sbx_error_message (error));
    cr_assert_null (event->sandbox);
    cr_assert_null (event->environment);
    sbx_event_destroy (&event);
    json_decref (json);
    //  error_p is optional.
    json = json_loads ("[]", 0, NULL);
    cr_assert_null (sbx_event_from_json (json, NULL));
    json_decref (json);
}

Test (event, bad_bytes)
{
    static const struct {
        const char *bytes;
        size_t size;
        const char *needle;
    } cases [] = {
        { "\xc1", 1, "0xc1 at byte offset 0" },
        { "\x81\xa3seq", 5, "truncated at byte offset 5" },
        { "\x91\x01", 2, "event body must be a map, got array" },
        { "\xdd\x80\x00\x00\x00", 5, "claims 2147483648 items" },
        { "\x81\xa3seq\xa1\xff", 7, "invalid UTF-8 in string at byte offset 5" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        sbx_error_t *error = NULL;
        sbx_event_t *event = sbx_event_decode (cases [i].bytes, cases [i].size, &error);
        cr_assert_null (event);
        cr_assert_not_null (error);
        cr_assert (strstr (sbx_error_message (error), cases [i].needle),
                   "'%s' lacks '%s'", sbx_error_message (error), cases [i].needle);
        sbx_error_destroy (&error);
        cr_assert_null (sbx_event_decode (cases [i].bytes, cases [i].size, NULL));
    }
    //  10,000 nested arrays in args.
    size_t depth = 10000;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_sbuffer_write (&buffer, "\x81\xa4" "args", 6);
    for (size_t i = 0; i < depth; i++)
        msgpack_sbuffer_write (&buffer, "\x91", 1);
    msgpack_sbuffer_write (&buffer, "\xc0", 1);
    sbx_error_t *error = NULL;
    cr_assert_null (sbx_event_decode (buffer.data, buffer.size, &error));
    cr_assert (strstr (sbx_error_message (error), "nesting deeper than"));
    sbx_error_destroy (&error);
    msgpack_sbuffer_destroy (&buffer);
}

Test (event, decoded_event_outlives_its_input)
{
    sbx_error_t *composite = s_composite ();
    sbx_event_t event = s_make (SBX_EV_SESSION_ACTIVITY, composite);
    msgpack_sbuffer buffer;
    s_encode (&event, &buffer);
    sbx_event_t *back = sbx_event_decode (buffer.data, buffer.size, NULL);
    memset (buffer.data, 0, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    s_assert_event_eq (&event, back);
    s_assert_text (back, "[testing-env/0:0/session1] shell: echo \"hello\""
                         " with FeatureTeardownError");
    sbx_event_destroy (&back);
    sbx_error_destroy (&composite);
}
