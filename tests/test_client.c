/*  The client library (include/sbx/client.h) against a real sbxd with the
    testing kinds. Every wait is a library wait with a timeout (a reply,
    or sbx_events_next); nothing sleeps to synchronise. */
#include <criterion/criterion.h>
#include <string.h>

#include <sbx/client.h>
#include "testutil.h"

#define S_WAIT 10000            //  ms: generous for the sanitizer build

#define S_CONFIG(env_extra, top_extra)                                           \
    "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 2},"\
    " \"outage_grace_period_s\": 0, \"outage_retry_interval_s\": 0,"              \
    " \"keepalive_interval_s\": null" env_extra "},"                              \
    " \"sandbox\": {\"kind\": \"testing\"},"                                      \
    " \"features\": {\"f\": {\"kind\": \"testing\"}}" top_extra "}"

//  What a test made; the fini destroys what an aborted test left.
static sbx_test_daemon_t *s_daemon;
static sbx_client_t *s_client;
static sbx_client_t *s_other;
static sbx_events_t *s_events;
static sbx_session_t *s_session;

static void
s_fini (void)
{
    sbx_session_destroy (&s_session);
    sbx_events_destroy (&s_events);
    sbx_client_destroy (&s_client);
    sbx_client_destroy (&s_other);
    if (s_daemon) {
        sbx_test_daemon_shutdown (s_daemon);
        sbx_test_daemon_destroy (&s_daemon);
    }
}

static void
s_start (const char *config)
{
    s_daemon = sbx_test_daemon_start_text (config);
    cr_assert_not_null (s_daemon, "sbxd did not start");
    sbx_error_t *error = NULL;
    sbx_client_options_t options = {.timeout_ms = S_WAIT};
    s_client = sbx_client_new (s_daemon->requests, &options, &error);
    cr_assert_not_null (s_client, "connect: %s", error ? sbx_error_message (error) : "?");
}

static void
s_stop (void)
{
    sbx_client_destroy (&s_client);
    cr_assert_eq (sbx_test_daemon_shutdown (s_daemon), 0);
    sbx_test_daemon_destroy (&s_daemon);
}

static sbx_events_t *
s_subscribe (uint64_t since, const char *const *prefixes)
{
    sbx_events_options_t options = {
        .endpoints = s_daemon->requests, .events_endpoint = s_daemon->events,
        .since = since, .prefixes = prefixes, .timeout_ms = S_WAIT
    };
    sbx_error_t *error = NULL;
    sbx_events_t *events = sbx_events_new (&options, &error);
    cr_assert_not_null (events, "subscribe: %s", error ? sbx_error_message (error) : "?");
    return events;
}

static const char *
s_type (const sbx_error_t *error)
{
    return error ? sbx_error_type (error) : "(none)";
}

//  Waits for an event named `kind` (about `session` when not NULL);
//  returns it (caller destroys) or NULL after `timeout_ms`. Checks that
//  seqs go up by one from what the subscription delivered before.
static sbx_event_t *
s_wait_event (sbx_events_t *events, sbx_event_kind_t kind, const char *session, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return NULL;
        uint64_t before = sbx_events_last_seq (events);
        sbx_error_t *error = NULL;
        sbx_event_t *event = sbx_events_next (events, (int) left, &error);
        cr_assert_null (error, "events: %s", error ? sbx_error_message (error) : "");
        if (!event)
            return NULL;
        cr_assert_gt (event->seq, before);
        if (event->kind == kind && (!session || (event->session && streq (event->session, session))))
            return event;
        sbx_event_destroy (&event);
    }
}

TestSuite (client, .fini = s_fini, .timeout = 120);

Test (client, connects_and_says_hello)
{
    s_start (S_CONFIG ("", ""));
    const json_t *hello = sbx_client_hello (s_client);
    cr_assert_str_eq (json_string_value (json_object_get (hello, "environment")), "testing-env");
    cr_assert_eq (json_integer_value (json_object_get (hello, "protocol")), 1);
    cr_assert_str_eq (sbx_client_feature_of_kind (s_client, "testing"), "f");
    cr_assert_null (sbx_client_feature_of_kind (s_client, "shell"));
    cr_assert_str_eq (sbx_client_endpoint (s_client), s_daemon->requests);
    s_stop ();
}

Test (client, endpoint_list_is_tried_in_order)
{
    s_start (S_CONFIG ("", ""));
    //  A port nobody listens on (the daemon's own port + 1 is not
    //  guaranteed free, so use the discard port of loopback: refused).
    char list [600];
    snprintf (list, sizeof list, "tcp://127.0.0.1:9,%s", s_daemon->requests);
    sbx_client_options_t options = {.connect_timeout_ms = 300};
    sbx_error_t *error = NULL;
    s_other = sbx_client_new (list, &options, &error);
    cr_assert_not_null (s_other, "%s", error ? sbx_error_message (error) : "");
    cr_assert_str_eq (sbx_client_endpoint (s_other), s_daemon->requests);
    sbx_client_destroy (&s_other);

    s_other = sbx_client_new ("tcp://127.0.0.1:9", &options, &error);
    cr_assert_null (s_other);
    cr_assert_str_eq (s_type (error), SBX_UNREACHABLE);
    cr_assert (sbx_error_is_local (error));
    cr_assert_not_null (strstr (sbx_error_message (error), "tcp://127.0.0.1:9"));
    sbx_error_destroy (&error);
    s_stop ();
}

Test (client, session_open_call_end)
{
    s_start (S_CONFIG ("", ""));
    sbx_error_t *error = NULL;
    s_session = sbx_client_session_open (s_client, "session1", &error);
    cr_assert_not_null (s_session, "open: %s", error ? sbx_error_message (error) : "");
    cr_assert_str_eq (sbx_session_id (s_session), "session1");
    cr_assert_str_eq (sbx_session_sandbox (s_session), "testing-env/0:0");
    cr_assert_eq (strlen (sbx_session_token (s_session)), 32);

    //  A sandbox service, in JSON.
    json_t *args = json_pack ("{s:s}", "code", "echo \"hello\"");
    json_t *result = sbx_session_call_json (s_session, NULL, "shell", args, &error);
    json_decref (args);
    cr_assert_not_null (result, "%s", error ? sbx_error_message (error) : "");
    cr_assert_str_eq (json_string_value (result), "shell \"echo \"hello\"\" succeeded");
    json_decref (result);

    //  A feature method, in msgpack.
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    cr_assert_eq (sbx_session_call (s_session, "f", "show_session_id", NULL, 0, &buffer, &error), 0);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    cr_assert_eq (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, NULL), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq (unpacked.data.type, MSGPACK_OBJECT_STR);
    cr_assert_eq (unpacked.data.via.str.size, 8);
    cr_assert (memcmp (unpacked.data.via.str.ptr, "session1", 8) == 0);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);

    cr_assert_eq (sbx_session_end (&s_session, &error), 0, "%s", error ? sbx_error_message (error) : "");
    cr_assert_null (s_session);
    cr_assert (sbx_test_wait_log (s_daemon, "[testing-env/0:0] session 'session1' ended", 1, S_WAIT));
    s_stop ();
}

Test (client, ephemeral_call)
{
    s_start (S_CONFIG ("", ""));
    sbx_error_t *error = NULL;
    json_t *result = sbx_client_call_json (s_client, "f", "show_session_id", NULL, "eph-1", &error);
    cr_assert_not_null (result, "%s", error ? sbx_error_message (error) : "");
    cr_assert_str_eq (json_string_value (result), "eph-1");
    cr_assert_str_eq (sbx_client_last_session_id (s_client), "eph-1");
    cr_assert_not_null (sbx_client_last_sandbox (s_client));
    json_decref (result);

    //  A generated session id, and msgpack args.
    msgpack_sbuffer args, out;
    msgpack_sbuffer_init (&args);
    msgpack_sbuffer_init (&out);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &args, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 1);
    msgpack_pack_str_with_body (&packer, "code", 4);
    msgpack_pack_str_with_body (&packer, "ls", 2);
    cr_assert_eq (sbx_client_call (s_client, NULL, "shell", args.data, args.size, NULL, &out, &error), 0);
    cr_assert_eq (strncmp (sbx_client_last_session_id (s_client), "session-", 8), 0);
    msgpack_sbuffer_destroy (&args);
    msgpack_sbuffer_destroy (&out);
    cr_assert (sbx_test_wait_log (s_daemon, "[testing-env/0:0] session 'eph-1' ended", 1, S_WAIT));
    s_stop ();
}

Test (client, errors_come_back_with_their_types)
{
    s_start (S_CONFIG ("", ""));
    sbx_error_t *error = NULL;
    json_t *result = sbx_client_call_json (s_client, "f", "nope", NULL, NULL, &error);
    cr_assert_null (result);
    cr_assert_str_eq (s_type (error), SBX_NOT_FOUND);
    cr_assert_str_eq (sbx_error_message (error), "no method 'f.nope'");
    cr_assert_not (sbx_error_is_local (error));
    sbx_error_destroy (&error);

    json_t *bad = json_integer (3);
    cr_assert_null (sbx_client_call_json (s_client, "f", "num_shell_calls", bad, NULL, &error));
    cr_assert_str_eq (s_type (error), SBX_BAD_REQUEST);
    sbx_error_destroy (&error);
    json_decref (bad);

    //  A user error inside a session keeps the session.
    s_session = sbx_client_session_open (s_client, NULL, &error);
    cr_assert_not_null (s_session);
    json_t *args = json_pack ("{s:s, s:s}", "code", "x", "raise_error", "ValueError");
    cr_assert_null (sbx_session_call_json (s_session, NULL, "shell", args, &error));
    json_decref (args);
    cr_assert_str_eq (s_type (error), "ValueError");
    sbx_error_destroy (&error);
    result = sbx_session_call_json (s_session, "f", "num_shell_calls", NULL, &error);
    cr_assert_not_null (result, "%s", error ? sbx_error_message (error) : "");
    json_decref (result);

    //  Someone else's token.
    sbx_session_t *thief = sbx_client_session_attach (s_client, sbx_session_sandbox (s_session),
                                                      "0123456789abcdef0123456789abcdef", NULL);
    cr_assert_null (sbx_session_call_json (thief, "f", "num_shell_calls", NULL, &error));
    cr_assert_str_eq (s_type (error), SBX_UNAUTHORIZED);
    sbx_error_destroy (&error);
    sbx_session_destroy (&thief);

    //  A composite error carries the per-feature map.
    args = json_pack ("{s:s}", "simulate_teardown_session_error", "ValueError");
    result = sbx_session_call_json (s_session, "f", "configure", args, &error);
    json_decref (args);
    cr_assert_not_null (result, "%s", error ? sbx_error_message (error) : "");
    json_decref (result);
    cr_assert_eq (sbx_session_end (&s_session, &error), -1);
    cr_assert_null (s_session, "the session is over after an error reply");
    cr_assert_str_eq (s_type (error), SBX_SESSION_TEARDOWN_ERROR);
    cr_assert_eq (sbx_error_count (error), 1);
    const char *feature = NULL;
    const sbx_error_t *sub = sbx_error_at (error, 0, &feature);
    cr_assert_str_eq (feature, "f");
    cr_assert_str_eq (sbx_error_type (sub), "ValueError");
    sbx_error_destroy (&error);
    s_stop ();
}

Test (client, heartbeat_keeps_a_short_lease_alive)
{
    s_start (S_CONFIG (", \"session_lease_s\": 0.3", ""));
    sbx_error_t *error = NULL;
    s_events = s_subscribe (SBX_EVENTS_NOW, (const char *[]) {"session.", NULL});
    s_session = sbx_client_session_open (s_client, "kept", &error);
    cr_assert_not_null (s_session, "%s", error ? sbx_error_message (error) : "");
    sbx_event_t *event = s_wait_event (s_events, SBX_EV_SESSION_START, "kept", S_WAIT);
    cr_assert_not_null (event);
    sbx_event_destroy (&event);

    //  Idle for five leases: the library's own wait is the pacing. The
    //  heartbeat actor must keep the session: no session.end arrives.
    event = s_wait_event (s_events, SBX_EV_SESSION_END, "kept", 1500);
    cr_assert_null (event, "the session ended while idle: %s",
                    event && event->error ? sbx_error_type (event->error) : "no error");
    json_t *result = sbx_session_call_json (s_session, "f", "show_session_id", NULL, &error);
    cr_assert_not_null (result, "%s", error ? sbx_error_message (error) : "");
    cr_assert_str_eq (json_string_value (result), "kept");
    json_decref (result);
    cr_assert_eq (sbx_session_end (&s_session, &error), 0);

    //  The control: without heartbeats the same lease lapses.
    sbx_client_options_t options = {.timeout_ms = S_WAIT, .no_heartbeat = true};
    s_other = sbx_client_new (s_daemon->requests, &options, NULL);
    cr_assert_not_null (s_other);
    s_session = sbx_client_session_open (s_other, "dropped", &error);
    cr_assert_not_null (s_session);
    event = s_wait_event (s_events, SBX_EV_SESSION_END, "dropped", S_WAIT);
    cr_assert_not_null (event, "the lease did not lapse");
    cr_assert_str_eq (s_type (event->error), SBX_LEASE_EXPIRED);
    sbx_event_destroy (&event);
    cr_assert_null (sbx_session_call_json (s_session, "f", "show_session_id", NULL, &error));
    cr_assert_str_eq (s_type (error), SBX_UNAUTHORIZED);
    sbx_error_destroy (&error);
    sbx_session_destroy (&s_session);
    sbx_events_destroy (&s_events);
    sbx_client_destroy (&s_other);
    s_stop ();
}

//  Runs one session (open, one call, end) so that events happen.
static void
s_one_session (const char *id)
{
    sbx_error_t *error = NULL;
    sbx_session_t *session = sbx_client_session_open (s_client, id, &error);
    cr_assert_not_null (session, "%s", error ? sbx_error_message (error) : "");
    json_t *args = json_pack ("{s:s}", "code", "echo \"hello\"");
    json_t *result = sbx_session_call_json (session, NULL, "shell", args, &error);
    json_decref (args);
    cr_assert_not_null (result);
    json_decref (result);
    cr_assert_eq (sbx_session_end (&session, &error), 0);
}

Test (client, late_subscriber_gets_every_event_from_seq_1)
{
    s_start (S_CONFIG ("", ""));
    s_one_session ("session1");
    cr_assert (sbx_test_wait_log (s_daemon, "[testing-env/0:0] session 'session1' ended", 1, S_WAIT));

    size_t count = 0;
    char **lines = sbx_test_log_lines (s_daemon, &count);
    s_events = s_subscribe (0, NULL);
    for (size_t i = 0; i < count; i++) {
        sbx_error_t *error = NULL;
        sbx_event_t *event = sbx_events_next (s_events, S_WAIT, &error);
        cr_assert_not_null (event, "event %zu missing (%s)", i + 1, error ? sbx_error_message (error) : "timeout");
        cr_assert_eq (event->seq, i + 1);
        char *text = sbx_event_text (event);
        cr_assert_str_eq (text, lines [i]);
        free (text);
        sbx_event_destroy (&event);
    }
    cr_assert_eq (sbx_events_lost (s_events), 0);
    sbx_test_lines_free (&lines);

    //  And the live ones after the history.
    s_one_session ("session2");
    sbx_event_t *event = s_wait_event (s_events, SBX_EV_SESSION_END, "session2", S_WAIT);
    cr_assert_not_null (event);
    sbx_event_destroy (&event);
    sbx_events_destroy (&s_events);
    s_stop ();
}

Test (client, prefixes_select_event_families)
{
    s_start (S_CONFIG ("", ""));
    s_one_session ("session1");
    s_events = s_subscribe (0, (const char *[]) {"session.", "environment.", NULL});
    uint64_t last = 0;
    bool ended = false;
    while (!ended) {
        sbx_event_t *event = sbx_events_next (s_events, S_WAIT, NULL);
        cr_assert_not_null (event);
        cr_assert_gt (event->seq, last);
        last = event->seq;
        const char *name = sbx_event_kind_name (event->kind);
        cr_assert (strncmp (name, "session.", 8) == 0 || strncmp (name, "environment.", 12) == 0,
                   "unexpected %s", name);
        ended = event->kind == SBX_EV_SESSION_END;
        sbx_event_destroy (&event);
    }
    sbx_events_destroy (&s_events);
    s_stop ();
}

Test (client, gaps_are_filled_from_the_journal)
{
    s_start (S_CONFIG ("", ""));
    s_events = s_subscribe (SBX_EVENTS_NOW, NULL);
    uint64_t first = sbx_events_last_seq (s_events) + 1;
    //  Warm up: by the time this session's end is read, the subscription
    //  is in place on the daemon.
    s_one_session ("warmup");
    sbx_event_t *event = s_wait_event (s_events, SBX_EV_SESSION_END, "warmup", S_WAIT);
    cr_assert_not_null (event);
    sbx_event_destroy (&event);

    //  Lose the next three live events, as a full high-water mark would.
    sbx_events_test_drop (s_events, 3);
    uint64_t from = sbx_events_last_seq (s_events);
    s_one_session ("gappy");
    bool ended = false;
    uint64_t expected = from + 1;
    while (!ended) {
        event = sbx_events_next (s_events, S_WAIT, NULL);
        cr_assert_not_null (event, "event %llu missing", (unsigned long long) expected);
        cr_assert_eq (event->seq, expected, "got seq %llu, expected %llu",
                      (unsigned long long) event->seq, (unsigned long long) expected);
        expected++;
        ended = event->kind == SBX_EV_SESSION_END && streq (event->session, "gappy");
        sbx_event_destroy (&event);
    }
    cr_assert_geq (sbx_events_gap_replays (s_events), 1, "no gap was seen");
    cr_assert_eq (sbx_events_lost (s_events), 0);
    cr_assert_gt (from, first);
    sbx_events_destroy (&s_events);
    s_stop ();
}

Test (client, journal_truncation_is_counted)
{
    //  The smallest journal, and more events than it holds.
    s_start (S_CONFIG ("", ", \"events\": {\"journal\": 16}"));
    s_one_session ("a");
    s_one_session ("b");
    cr_assert (sbx_test_wait_log (s_daemon, "[testing-env/0:0] session 'b' ended", 1, S_WAIT));
    size_t count = 0;
    char **lines = sbx_test_log_lines (s_daemon, &count);
    sbx_test_lines_free (&lines);
    cr_assert_gt (count, 16);

    s_events = s_subscribe (0, NULL);
    sbx_event_t *event = sbx_events_next (s_events, S_WAIT, NULL);
    cr_assert_not_null (event);
    cr_assert_gt (event->seq, 1);
    cr_assert_eq (sbx_events_lost (s_events), event->seq - 1);
    sbx_event_destroy (&event);
    sbx_events_destroy (&s_events);
    s_stop ();
}

Test (client, replay_pages_through_the_journal)
{
    s_start (S_CONFIG ("", ""));
    s_one_session ("session1");
    cr_assert (sbx_test_wait_log (s_daemon, "[testing-env/0:0] session 'session1' ended", 1, S_WAIT));
    sbx_event_t **events = NULL;
    size_t count = 0;
    uint64_t next = 0;
    bool truncated = true;
    sbx_error_t *error = NULL;
    cr_assert_eq (sbx_client_replay (s_client, 0, 3, &events, &count, &next, &truncated, &error), 0);
    cr_assert_eq (count, 3);
    cr_assert_eq (next, 3);
    cr_assert_not (truncated);
    cr_assert_eq (events [0]->seq, 1);
    cr_assert_eq (events [2]->seq, 3);
    sbx_events_free (&events, count);
    cr_assert_eq (sbx_client_replay (s_client, 3, 0, &events, &count, &next, NULL, &error), 0);
    cr_assert_gt (count, 3);
    cr_assert_eq (events [0]->seq, 4);
    cr_assert_eq (next, events [count - 1]->seq);
    sbx_events_free (&events, count);
    s_stop ();
}

Test (client, status_and_stats)
{
    s_start (S_CONFIG ("", ""));
    sbx_error_t *error = NULL;
    s_session = sbx_client_session_open (s_client, "session1", &error);
    cr_assert_not_null (s_session);
    json_t *status = sbx_client_status (s_client, NULL, &error);
    cr_assert_not_null (status, "%s", error ? sbx_error_message (error) : "");
    json_t *environment = json_object_get (status, "environment");
    cr_assert_str_eq (json_string_value (json_object_get (environment, "id")), "testing-env");
    json_t *sandboxes = json_object_get (status, "sandboxes");
    cr_assert (json_is_array (sandboxes));
    bool found = false;
    size_t i;
    json_t *row;
    json_array_foreach (sandboxes, i, row) {
        if (streq (json_string_value (json_object_get (row, "id")), sbx_session_sandbox (s_session))) {
            found = true;
            cr_assert_str_eq (json_string_value (json_object_get (row, "status")), "in_session");
            cr_assert_str_eq (json_string_value (json_object_get (row, "session_id")), "session1");
        }
    }
    cr_assert (found);
    json_decref (status);

    status = sbx_client_status (s_client, "testing-env/9:9", &error);
    cr_assert_null (status);
    cr_assert_str_eq (s_type (error), SBX_NOT_FOUND);
    sbx_error_destroy (&error);

    json_t *stats = sbx_client_stats (s_client, &error);
    cr_assert_not_null (stats);
    json_t *pool = json_object_get (stats, "pool");
    cr_assert_eq (json_integer_value (json_object_get (pool, "min")), 1);
    cr_assert_eq (json_integer_value (json_object_get (pool, "max")), 2);
    json_t *counters = json_object_get (stats, "counters");
    cr_assert_geq (json_integer_value (json_object_get (counters, "sessions_started")), 1);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (stats, "sandbox"), "in_session")), 1);
    json_decref (stats);
    cr_assert_eq (sbx_session_end (&s_session, &error), 0);
    s_stop ();
}

Test (client, session_outliving_its_client_can_be_destroyed)
{
    s_start (S_CONFIG ("", ""));
    sbx_error_t *error = NULL;
    s_session = sbx_client_session_open (s_client, NULL, &error);
    cr_assert_not_null (s_session);
    sbx_client_destroy (&s_client);
    cr_assert_eq (sbx_session_end (&s_session, &error), -1);
    cr_assert_not_null (s_session);
    sbx_error_destroy (&error);
    sbx_session_destroy (&s_session);
    cr_assert_eq (sbx_test_daemon_shutdown (s_daemon), 0);
    sbx_test_daemon_destroy (&s_daemon);
}

Test (client, wait_bounds_the_wait_for_a_sandbox_apart_from_the_reply)
{
    s_start ("{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 1},"
             " \"outage_grace_period_s\": 0, \"outage_retry_interval_s\": 0,"
             " \"keepalive_interval_s\": null},"
             " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {\"f\": {\"kind\": \"testing\"}}}");
    sbx_error_t *error = NULL;
    s_session = sbx_client_session_open (s_client, "holder", &error);
    cr_assert_not_null (s_session);
    //  The only sandbox is taken. A reply timeout shorter than the wait
    //  asked for: the daemon's answer (overloaded, after the wait) still
    //  arrives, since the client waits for the sandbox, then the reply -
    //  a local Timeout would say otherwise.
    sbx_client_options_t options = {.timeout_ms = 200, .wait_ms = 1500};
    s_other = sbx_client_new (s_daemon->requests, &options, &error);
    cr_assert_not_null (s_other);
    json_t *result = sbx_client_call_json (s_other, "f", "num_shell_calls", NULL, NULL, &error);
    cr_assert_null (result);
    cr_assert_str_eq (s_type (error), SBX_OVERLOAD_ERROR, "%s", sbx_error_message (error));
    sbx_error_destroy (&error);
    //  A short wait under a reply timeout that never ends: the daemon's
    //  overload answer, not a wait for the holder to let go.
    sbx_client_set_timeout (s_other, -1);
    sbx_client_set_wait (s_other, 50);
    result = sbx_client_call_json (s_other, "f", "num_shell_calls", NULL, NULL, &error);
    cr_assert_null (result);
    cr_assert_str_eq (s_type (error), SBX_OVERLOAD_ERROR);
    sbx_error_destroy (&error);
    sbx_client_destroy (&s_other);
    cr_assert_eq (sbx_session_end (&s_session, &error), 0);
    s_stop ();
}
