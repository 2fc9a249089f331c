/*  Integration tests of the runtime: a real sbxd on loopback ports, real
    DEALER/SUB sockets, the event log read back in the text form. Each test
    proves one behaviour of SPEC.md / PROTOCOL.md and can fail if it breaks.
    Nothing sleeps to synchronise: every wait is on a reply, an event log
    line or a poll with a deadline. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/resource.h>

#include "messages/mp.h"
#include "testutil.h"

#define S_WAIT 10000            //  ms: generous for the sanitizer build

//  The common parts of most configs: "testing" kinds, timers off. The
//  grace period is also the default wait limit of an acquire (SPEC §6):
//  with 0, a session.open right after a session.end can fail with
//  EnvironmentOverloadError, because the sandbox prepares the next session
//  after its reply (SPEC §3.4). So most tests use 30 s; the tests about
//  waits and outages set their own.
#define S_TIMERS                                                                \
    "\"outage_grace_period_s\": 30, \"outage_retry_interval_s\": 0, \"keepalive_interval_s\": null"
#define S_FEATURE_F "\"f\": {\"kind\": \"testing\"}"

//  A "testing-env" config: the environment's keys, the testing sandbox's
//  keys after its kind, the features' members, then more top-level keys.
#define S_CONFIG(environment, sandbox, features, more)                          \
    "{\"environment\": {\"id\": \"testing-env\", " environment "},"            \
    " \"sandbox\": {\"kind\": \"testing\"" sandbox "},"                          \
    " \"features\": {" features "}" more "}"
#define S_ENV(extra) S_CONFIG (S_TIMERS extra, "", S_FEATURE_F, "")

//  --- Cleanup when an assertion aborts a test ---------------------------------

//  What a test made; the fini destroys what is left (a test that passes
//  has destroyed everything itself).
static sbx_test_daemon_t *s_daemons [4];
static zsock_t *s_socks [80];

static sbx_test_daemon_t *
s_track_daemon (sbx_test_daemon_t *daemon)
{
    for (size_t i = 0; i < sizeof s_daemons / sizeof s_daemons [0]; i++)
        if (!s_daemons [i]) {
            s_daemons [i] = daemon;
            break;
        }
    return daemon;
}

static void
s_untrack_daemon (sbx_test_daemon_t *daemon)
{
    for (size_t i = 0; i < sizeof s_daemons / sizeof s_daemons [0]; i++)
        if (s_daemons [i] == daemon)
            s_daemons [i] = NULL;
}

static zsock_t *
s_track_sock (zsock_t *sock)
{
    for (size_t i = 0; i < sizeof s_socks / sizeof s_socks [0]; i++)
        if (!s_socks [i]) {
            s_socks [i] = sock;
            break;
        }
    return sock;
}

static void
s_close (zsock_t **sock_p)
{
    for (size_t i = 0; *sock_p && i < sizeof s_socks / sizeof s_socks [0]; i++)
        if (s_socks [i] == *sock_p)
            s_socks [i] = NULL;
    zsock_destroy (sock_p);
}

static void
s_cleanup (void)
{
    for (size_t i = 0; i < sizeof s_socks / sizeof s_socks [0]; i++)
        zsock_destroy (&s_socks [i]);
    for (size_t i = 0; i < sizeof s_daemons / sizeof s_daemons [0]; i++)
        sbx_test_daemon_destroy (&s_daemons [i]);
}

TestSuite (runtime, .fini = s_cleanup, .timeout = 60);

//  --- Helpers --------------------------------------------------------------------

static int64_t
s_now_ms (void)
{
    return zclock_mono ();
}

//  Starts sbxd, without waiting for its pool.
static sbx_test_daemon_t *
s_daemon_starting (const char *config)
{
    sbx_test_daemon_t *daemon = sbx_test_daemon_start_text (config);
    cr_assert_not_null (daemon, "sbxd did not start on %s", config);
    return s_track_daemon (daemon);
}

//  Starts sbxd and waits until the pool is filled (environment started).
static sbx_test_daemon_t *
s_daemon (const char *config)
{
    sbx_test_daemon_t *daemon = s_daemon_starting (config);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env] environment started", 1, S_WAIT),
               "the environment did not start");
    return daemon;
}

//  --- The invariants of SPEC §3.8, over a complete event log ----------------------

typedef struct {
    char sandbox [256];
    char status [32];           //  last `new` status
    int offline;                //  times it reached offline
    bool shut;                  //  sandbox.shutdown seen
    zhashx_t *counts;           //  "kind/feature" -> count (as pointer value)
} s_track_t;

//  Counts live in the hash as pointer values off a bias, so that a count
//  of 0 is not a NULL item (which would end an iteration).
#define S_BIAS 1000000

static intptr_t
s_count (zhashx_t *counts, const char *key)
{
    void *value = zhashx_lookup (counts, key);
    return value ? (intptr_t) value - S_BIAS : 0;
}

static void
s_bump (zhashx_t *counts, const char *key, int delta)
{
    zhashx_update (counts, key, (void *) (s_count (counts, key) + delta + S_BIAS));
}

static const char *
s_json_str (json_t *event, const char *key)
{
    const char *value = json_string_value (json_object_get (event, key));
    return value ? value : "";
}

//  Reads the JSON-lines log of a daemon that has exited and checks: seq
//  1..n without gaps; per sandbox, statuses chain from `created` and never
//  change to themselves, `offline` is reached exactly once and nothing of
//  the sandbox follows its sandbox.shutdown; setup/teardown and
//  setup_session/teardown_session are paired per feature; each successful
//  session.start has exactly one session.end; environment.shutdown is last;
//  seq has no gap and ts_ns never decreases along it.
static void
s_check_invariants (sbx_test_daemon_t *daemon)
{
    FILE *file = fopen (daemon->log_path, "r");
    cr_assert_not_null (file);
    zhashx_t *sandboxes = zhashx_new ();
    zhashx_t *sessions = zhashx_new ();     //  session -> open count
    char *line = NULL;
    size_t size = 0;
    uint64_t expected_seq = 1;
    int64_t last_ts = 0;
    bool ended = false;
    while (getline (&line, &size, file) > 0) {
        json_t *event = json_loads (line, 0, NULL);
        cr_assert_not_null (event, "bad log line: %s", line);
        uint64_t seq = (uint64_t) json_integer_value (json_object_get (event, "seq"));
        cr_assert_eq (seq, expected_seq, "seq %llu after %llu", (unsigned long long) seq,
                      (unsigned long long) expected_seq - 1);
        expected_seq++;
        //  ts_ns never runs backwards in seq order (docs/protocol.md).
        int64_t ts = (int64_t) json_integer_value (json_object_get (event, "ts_ns"));
        cr_assert_geq (ts, last_ts, "seq %llu: ts_ns %lld is before the previous event's %lld",
                       (unsigned long long) seq, (long long) ts, (long long) last_ts);
        last_ts = ts;
        cr_assert_not (ended, "an event after environment.shutdown: %s", line);
        const char *kind = s_json_str (event, "event");
        bool failed = !json_is_null (json_object_get (event, "error"))
                   && json_object_get (event, "error") != NULL;
        if (streq (kind, "environment.shutdown"))
            ended = true;
        const char *sandbox = s_json_str (event, "sandbox");
        if (*sandbox) {
            s_track_t *track = (s_track_t *) zhashx_lookup (sandboxes, sandbox);
            if (!track) {
                track = (s_track_t *) zmalloc (sizeof (s_track_t));
                snprintf (track->sandbox, sizeof track->sandbox, "%s", sandbox);
                snprintf (track->status, sizeof track->status, "created");
                track->counts = zhashx_new ();
                zhashx_insert (sandboxes, sandbox, track);
            }
            cr_assert_not (track->shut, "%s: event %s after its sandbox.shutdown", sandbox, kind);
            char key [128];
            snprintf (key, sizeof key, "%s", s_json_str (event, "feature"));
            if (streq (kind, "sandbox.status")) {
                const char *old_status = s_json_str (event, "old");
                const char *new_status = s_json_str (event, "new");
                cr_assert_str_eq (old_status, track->status, "%s: %s -> %s, but it was %s", sandbox,
                                  old_status, new_status, track->status);
                cr_assert_str_neq (old_status, new_status, "%s: status changed to itself", sandbox);
                snprintf (track->status, sizeof track->status, "%s", new_status);
                track->offline += streq (new_status, "offline");
            }
            else
            if (streq (kind, "sandbox.shutdown"))
                track->shut = true;
            else
            if (streq (kind, "feature.setup"))
                s_bump (track->counts, key, 1);
            else
            if (streq (kind, "feature.teardown"))
                s_bump (track->counts, key, -1);
            else
            if (streq (kind, "feature.setup_session")) {
                snprintf (key, sizeof key, "session/%s", s_json_str (event, "feature"));
                s_bump (track->counts, key, 1);
            }
            else
            if (streq (kind, "feature.teardown_session")) {
                snprintf (key, sizeof key, "session/%s", s_json_str (event, "feature"));
                s_bump (track->counts, key, -1);
            }
            else
            if (streq (kind, "session.start") && !failed)
                s_bump (sessions, s_json_str (event, "session"), 1);
            else
            if (streq (kind, "session.end")) {
                const char *session = s_json_str (event, "session");
                cr_assert_eq (s_count (sessions, session), 1,
                              "session.end of '%s' without one open session.start", session);
                s_bump (sessions, session, -1);
            }
        }
        json_decref (event);
    }
    free (line);
    fclose (file);
    cr_assert (ended, "the log does not end with environment.shutdown");
    cr_assert_gt (zhashx_size (sandboxes), 0, "no sandbox in the log");
    for (s_track_t *track = (s_track_t *) zhashx_first (sandboxes); track;
         track = (s_track_t *) zhashx_next (sandboxes)) {
        cr_assert_eq (track->offline, 1, "%s reached offline %d times", track->sandbox, track->offline);
        cr_assert (track->shut, "%s: no sandbox.shutdown", track->sandbox);
        for (void *count = zhashx_first (track->counts); count; count = zhashx_next (track->counts))
            cr_assert_eq ((intptr_t) count - S_BIAS, 0, "%s: '%s' setups and teardowns are not paired (%d)",
                          track->sandbox, (const char *) zhashx_cursor (track->counts),
                          (int) ((intptr_t) count - S_BIAS));
        zhashx_destroy (&track->counts);
        free (track);
    }
    for (void *count = zhashx_first (sessions); count; count = zhashx_next (sessions))
        cr_assert_eq ((intptr_t) count - S_BIAS, 0, "session '%s' never ended",
                      (const char *) zhashx_cursor (sessions));
    zhashx_destroy (&sandboxes);
    zhashx_destroy (&sessions);
}

//  After sbxd has exited: its log must keep the invariants.
static void
s_finish_exited (sbx_test_daemon_t **daemon_p)
{
    s_check_invariants (*daemon_p);
    s_untrack_daemon (*daemon_p);
    sbx_test_daemon_destroy (daemon_p);
}

//  Graceful shutdown (the `shutdown` op); sbxd must exit 0 and its log
//  must keep the invariants.
static void
s_finish (sbx_test_daemon_t **daemon_p)
{
    int code = sbx_test_daemon_shutdown (*daemon_p);
    cr_assert_eq (code, 0, "sbxd exited with %d after shutdown", code);
    s_finish_exited (daemon_p);
}

//  How many lines the text form of the log has.
static size_t
s_log_size (sbx_test_daemon_t *daemon)
{
    size_t count = 0;
    char **lines = sbx_test_log_lines (daemon, &count);
    sbx_test_lines_free (&lines);
    return count;
}

//  The last line of the log, which has ended, is environment.shutdown's.
static void
s_assert_log_ends_with_shutdown (sbx_test_daemon_t *daemon)
{
    size_t count = 0;
    char **lines = sbx_test_log_lines (daemon, &count);
    cr_assert_gt (count, 0);
    cr_assert_str_eq (lines [count - 1], "[testing-env] environment shutdown");
    sbx_test_lines_free (&lines);
}

static zsock_t *
s_connect (sbx_test_daemon_t *daemon)
{
    zsock_t *dealer = sbx_test_connect (daemon);
    cr_assert_not_null (dealer);
    return s_track_sock (dealer);
}

//  Sends a request written as JSON (printf format) without waiting.
#define s_sendf(dealer, ...) cr_assert_eq (sbx_test_sendf ((dealer), __VA_ARGS__), 0)

//  True when nothing arrives on `sock` within timeout_ms.
static bool
s_silent (zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    return which == NULL;
}

//  Waits for one reply (one frame); NULL on timeout.
static sbx_reply_t *
s_recv (zsock_t *dealer, int timeout_ms)
{
    if (s_silent (dealer, timeout_ms))
        return NULL;
    zframe_t *frame = zframe_recv (dealer);
    if (!frame)
        return NULL;
    cr_assert (!zframe_more (frame), "a reply came with more than one frame");
    sbx_error_t *error = NULL;
    sbx_reply_t *reply = sbx_reply_decode (zframe_data (frame), zframe_size (frame), &error);
    cr_assert_not_null (reply, "undecodable reply: %s", sbx_error_message (error));
    zframe_destroy (&frame);
    return reply;
}

//  Request/reply round trip; the reply must come and have `type` ("ok" or
//  an error type). Returns the reply (caller destroys).
static sbx_reply_t *
s_expect (zsock_t *dealer, const char *type, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static sbx_reply_t *
s_expect (zsock_t *dealer, const char *type, const char *format, ...)
{
    char text [8192];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    sbx_reply_t *reply = sbx_test_request (dealer, text, S_WAIT);
    const sbx_error_t *error = reply ? sbx_reply_get_error (reply) : NULL;
    cr_assert_str_eq (sbx_test_reply_type (reply), type, "%s -> %s (%s)", text,
                      sbx_test_reply_type (reply), error ? sbx_error_message (error) : "");
    return reply;
}

//  Same, when the reply itself is not needed.
#define s_check(dealer, type, ...)                                              \
    do {                                                                        \
        sbx_reply_t *reply_ = s_expect (dealer, type, __VA_ARGS__);             \
        sbx_reply_destroy (&reply_);                                            \
    } while (0)

typedef struct {
    char sandbox [256];
    char token [64];
    char session [160];
} s_session_t;

static void
s_read_session (sbx_reply_t *reply, s_session_t *session, bool with_session)
{
    const char *sandbox = sbx_reply_get_str (reply, "sandbox");
    const char *token = sbx_reply_get_str (reply, "token");
    cr_assert_not_null (sandbox);
    cr_assert_not_null (token);
    cr_assert_eq (strlen (token), 32, "token '%s' is not 32 hex characters", token);
    cr_assert_eq (strspn (token, "0123456789abcdef"), 32, "token '%s' is not hex", token);
    snprintf (session->sandbox, sizeof session->sandbox, "%s", sandbox);
    snprintf (session->token, sizeof session->token, "%s", token);
    session->session [0] = 0;
    if (with_session) {
        const char *id = sbx_reply_get_str (reply, "session_id");
        cr_assert_not_null (id);
        snprintf (session->session, sizeof session->session, "%s", id);
    }
}

//  session.open, which must succeed.
static s_session_t
s_open (zsock_t *dealer)
{
    s_session_t session;
    sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"session.open\"}");
    s_read_session (reply, &session, true);
    sbx_reply_destroy (&reply);
    return session;
}

//  acquire, which must succeed (no session yet).
static s_session_t
s_acquire (zsock_t *dealer)
{
    s_session_t session;
    sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"acquire\"}");
    s_read_session (reply, &session, false);
    sbx_reply_destroy (&reply);
    return session;
}

//  The answer to a session.open sent earlier with `id`, which must succeed.
static s_session_t
s_recv_session (zsock_t *dealer, uint64_t id)
{
    s_session_t session;
    sbx_reply_t *reply = s_recv (dealer, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok");
    cr_assert_eq (sbx_reply_id (reply), id);
    s_read_session (reply, &session, true);
    sbx_reply_destroy (&reply);
    return session;
}

//  A `shell` call on the session's sandbox; returns its result string
//  (checked against the testing sandbox's answer).
static void
s_shell (zsock_t *dealer, const s_session_t *session, const char *code)
{
    sbx_reply_t *reply = s_expect (dealer, "ok",
        "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"method\": \"shell\","
        " \"args\": {\"code\": \"%s\"}}", session->sandbox, session->token, code);
    char expected [512];
    snprintf (expected, sizeof expected, "shell \"%s\" succeeded", code);
    const char *result = sbx_reply_get_str (reply, "result");
    cr_assert_not_null (result);
    cr_assert_str_eq (result, expected);
    //  A call inside a session names neither sandbox nor session.
    cr_assert_null (sbx_reply_get (reply, "session_id"));
    sbx_reply_destroy (&reply);
}

static void
s_end (zsock_t *dealer, const s_session_t *session)
{
    s_check (dealer, "ok", "{\"op\": \"session.end\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
             session->sandbox, session->token);
}

//  A key of a map object; the path is dot separated ("counters.calls").
static const msgpack_object *
s_path (const msgpack_object *object, const char *path)
{
    char copy [256];
    snprintf (copy, sizeof copy, "%s", path);
    char *rest = copy;
    char *key;
    while (object && (key = strsep (&rest, ".")))
        object = sbx_mp_map_get (object, key);
    return object;
}

static uint64_t
s_uint (const msgpack_object *object, const char *path)
{
    const msgpack_object *value = s_path (object, path);
    cr_assert_not_null (value, "no key '%s'", path);
    cr_assert_eq (value->type, MSGPACK_OBJECT_POSITIVE_INTEGER, "key '%s' is not a uint", path);
    return value->via.u64;
}

static bool
s_str_is (const msgpack_object *object, const char *path, const char *expected)
{
    const msgpack_object *value = s_path (object, path);
    return value && sbx_mp_str_eq (value, expected);
}

//  One value of the `stats` reply, e.g. "counters.acquires_waited".
static uint64_t
s_stat (zsock_t *dealer, const char *path)
{
    sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"stats\"}");
    uint64_t value = s_uint (sbx_reply_map (reply), path);
    sbx_reply_destroy (&reply);
    return value;
}

//  Asks `stats` until path == value (each answer is a round trip, so this
//  waits on the server, not on a clock). False at the deadline.
static bool
s_wait_stat (zsock_t *dealer, const char *path, uint64_t value, int timeout_ms)
{
    int64_t deadline = s_now_ms () + timeout_ms;
    while (s_now_ms () < deadline) {
        if (s_stat (dealer, path) == value)
            return true;
        //  Paces the loop on the request socket, which stays silent.
        s_silent (dealer, 5);
    }
    return false;
}

//  Number of lines starting with `prefix` and containing `part`.
static int
s_log_count_like (sbx_test_daemon_t *daemon, const char *prefix, const char *part)
{
    char **lines = sbx_test_log_lines (daemon, NULL);
    int count = 0;
    for (size_t i = 0; lines [i]; i++)
        count += strncmp (lines [i], prefix, strlen (prefix)) == 0 && strstr (lines [i], part);
    sbx_test_lines_free (&lines);
    return count;
}

//  --- 1. hello -------------------------------------------------------------------

Test (runtime, hello_describes_the_environment, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 2, \"max\": 4},"
        " \"outage_grace_period_s\": 0, \"outage_retry_interval_s\": 0, \"keepalive_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\"},"
        " \"features\": {\"f\": {\"kind\": \"testing\"}, \"g\": {\"kind\": \"testing\"}}}");
    zsock_t *dealer = s_connect (daemon);
    sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"hello\", \"id\": 42}");
    cr_assert (sbx_reply_has_id (reply));
    cr_assert_eq (sbx_reply_id (reply), 42);
    const msgpack_object *map = sbx_reply_map (reply);
    cr_assert_eq (s_uint (map, "protocol"), 1);
    cr_assert_str_eq (sbx_reply_get_str (reply, "environment"), "testing-env");
    cr_assert_str_eq (sbx_reply_get_str (reply, "status"), "online");
    cr_assert_not_null (sbx_reply_get_str (reply, "version"));

    //  Both features, in template order, with their kind and methods.
    const msgpack_object *features = sbx_reply_get (reply, "features");
    cr_assert_not_null (features);
    cr_assert_eq (features->type, MSGPACK_OBJECT_MAP);
    cr_assert_eq (features->via.map.size, 2);
    cr_assert (sbx_mp_str_eq (&features->via.map.ptr [0].key, "f"));
    cr_assert (sbx_mp_str_eq (&features->via.map.ptr [1].key, "g"));
    const char *const expected [] = {"num_shell_calls", "bad_shell_call", "show_session_id", "configure"};
    for (int f = 0; f < 2; f++) {
        const msgpack_object *feature = &features->via.map.ptr [f].val;
        cr_assert (s_str_is (feature, "kind", "testing"));
        const msgpack_object *methods = sbx_mp_map_get (feature, "methods");
        cr_assert_not_null (methods);
        cr_assert_eq (methods->type, MSGPACK_OBJECT_ARRAY);
        cr_assert_eq (methods->via.array.size, 4);
        for (int m = 0; m < 4; m++)
            cr_assert (sbx_mp_str_eq (&methods->via.array.ptr [m], expected [m]),
                       "method %d is not %s", m, expected [m]);
    }
    const msgpack_object *sandbox_methods = sbx_reply_get (reply, "sandbox_methods");
    cr_assert_not_null (sandbox_methods);
    cr_assert_eq (sandbox_methods->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq (sandbox_methods->via.array.size, 1);
    cr_assert (sbx_mp_str_eq (&sandbox_methods->via.array.ptr [0], "shell"));
    sbx_reply_destroy (&reply);

    //  Without an id, the reply has none.
    reply = s_expect (dealer, "ok", "{\"op\": \"hello\"}");
    cr_assert_not (sbx_reply_has_id (reply));
    sbx_reply_destroy (&reply);

    s_close (&dealer);
    s_finish (&daemon);
}

//  hello is answered while the pool fills, with status `created`.
Test (runtime, hello_answers_while_the_pool_fills, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon_starting (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 1},"
        " \"outage_grace_period_s\": 30, \"keepalive_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\"},"
        " \"features\": {\"f\": {\"kind\": \"testing\", \"setup_session_delay_ms\": 1500}}}");
    zsock_t *dealer = s_connect (daemon);
    sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"hello\"}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "status"), "created");
    sbx_reply_destroy (&reply);
    //  A session.open meanwhile waits for the pool, then succeeds.
    s_session_t session = s_open (dealer);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env] environment started", 1, S_WAIT));
    reply = s_expect (dealer, "ok", "{\"op\": \"hello\"}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "status"), "online");
    sbx_reply_destroy (&reply);
    s_shell (dealer, &session, "after the fill");
    s_end (dealer, &session);
    s_close (&dealer);
    s_finish (&daemon);
}

//  A REQ client (empty delimiter frame) is served like a DEALER.
Test (runtime, req_clients_are_served, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}"));
    zsock_t *req = s_track_sock (zsock_new_req (daemon->requests));
    cr_assert_not_null (req);
    for (int i = 0; i < 3; i++) {
        sbx_reply_t *reply = s_expect (req, "ok", "{\"op\": \"call\", \"id\": %d, \"method\": \"shell\","
                                       " \"args\": {\"code\": \"req %d\"}}", i, i);
        cr_assert_eq (sbx_reply_id (reply), (uint64_t) i);
        char expected [64];
        snprintf (expected, sizeof expected, "shell \"req %d\" succeeded", i);
        cr_assert_str_eq (sbx_reply_get_str (reply, "result"), expected);
        sbx_reply_destroy (&reply);
    }
    s_close (&req);
    s_finish (&daemon);
}

//  --- 2. pool growth -------------------------------------------------------------

Test (runtime, pool_grows_to_max_on_demand, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 3},"
        " \"outage_grace_period_s\": 0, \"outage_retry_interval_s\": 0, \"keepalive_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {\"f\": {\"kind\": \"testing\"}}}");
    zsock_t *admin = s_connect (daemon);
    cr_assert_eq (s_stat (admin, "pool.size"), 1);
    cr_assert_eq (s_stat (admin, "pool.min"), 1);
    cr_assert_eq (s_stat (admin, "pool.max"), 3);

    //  Three clients at once: two of them need new sandboxes. No
    //  timeout_ms and a grace period of 0: growing the pool is a bring-up
    //  (SPEC §4.3), not a wait on a busy pool, so no overload applies.
    zsock_t *clients [3];
    for (int i = 0; i < 3; i++) {
        clients [i] = s_connect (daemon);
        s_sendf (clients [i], "{\"op\": \"session.open\", \"id\": %d}", i);
    }
    s_session_t sessions [3];
    for (int i = 0; i < 3; i++) {
        sbx_reply_t *reply = s_recv (clients [i], S_WAIT);
        cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "client %d: %s", i,
                          reply && sbx_reply_get_error (reply)
                          ? sbx_error_message (sbx_reply_get_error (reply)) : "no reply");
        cr_assert_eq (sbx_reply_id (reply), (uint64_t) i);
        s_read_session (reply, &sessions [i], true);
        sbx_reply_destroy (&reply);
    }
    //  Three distinct sandboxes, one per slot.
    bool seen [3] = {false, false, false};
    for (int i = 0; i < 3; i++) {
        unsigned slot = 99, generation = 99;
        cr_assert_eq (sscanf (sessions [i].sandbox, "testing-env/%u:%u", &slot, &generation), 2,
                      "sandbox id '%s'", sessions [i].sandbox);
        cr_assert_lt (slot, 3);
        cr_assert_eq (generation, 0);
        cr_assert_not (seen [slot], "two sessions on %s", sessions [i].sandbox);
        seen [slot] = true;
        cr_assert_str_neq (sessions [i].session, sessions [(i + 1) % 3].session);
    }
    cr_assert_eq (s_stat (admin, "pool.size"), 3);
    cr_assert_eq (s_stat (admin, "sandbox.in_session"), 3);
    //  All seven statuses are counted, even at 0.
    sbx_reply_t *stats = s_expect (admin, "ok", "{\"op\": \"stats\"}");
    const msgpack_object *counts = sbx_reply_get (stats, "sandbox");
    cr_assert (counts && counts->type == MSGPACK_OBJECT_MAP && counts->via.map.size == 7);
    for (int i = 0; i < SBX_STATUS_COUNT; i++)
        s_uint (counts, sbx_status_names [i]);
    sbx_reply_destroy (&stats);
    cr_assert_eq (s_stat (admin, "counters.sandboxes_started"), 3);
    for (int i = 0; i < 3; i++)
        s_shell (clients [i], &sessions [i], "grown");

    //  At max, a fourth client cannot make the pool grow.
    s_check (admin, "EnvironmentOverloadError", "{\"op\": \"session.open\", \"timeout_ms\": 100}");
    cr_assert_eq (s_stat (admin, "pool.size"), 3);

    for (int i = 0; i < 3; i++) {
        s_end (clients [i], &sessions [i]);
        s_close (&clients [i]);
    }
    s_close (&admin);
    s_finish (&daemon);
}

//  --- 3. overload, FIFO waiters -----------------------------------------------------

Test (runtime, waiters_are_served_in_fifo_order, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}"));
    zsock_t *admin = s_connect (daemon);
    zsock_t *a = s_connect (daemon);
    zsock_t *b = s_connect (daemon);
    zsock_t *c = s_connect (daemon);
    s_session_t session_a = s_open (a);

    s_sendf (b, "{\"op\": \"session.open\", \"id\": 2, \"timeout_ms\": 30000}");
    cr_assert (s_wait_stat (admin, "counters.acquires_waited", 1, S_WAIT), "B is not waiting");
    s_sendf (c, "{\"op\": \"session.open\", \"id\": 3, \"timeout_ms\": 30000}");
    cr_assert (s_wait_stat (admin, "counters.acquires_waited", 2, S_WAIT), "C is not waiting");
    cr_assert (s_silent (b, 0) && s_silent (c, 0), "a waiter was answered while A holds the sandbox");

    //  A ends: B (first in line) gets the sandbox, C keeps waiting.
    s_end (a, &session_a);
    s_session_t session_b = s_recv_session (b, 2);
    cr_assert_str_eq (session_b.sandbox, session_a.sandbox);
    cr_assert_str_neq (session_b.token, session_a.token);
    cr_assert (s_silent (c, 200), "C was served while B holds the only sandbox");
    s_shell (b, &session_b, "b");

    //  B ends: C gets it.
    s_end (b, &session_b);
    s_session_t session_c = s_recv_session (c, 3);
    cr_assert_str_eq (session_c.sandbox, session_a.sandbox);
    s_shell (c, &session_c, "c");

    //  A waiter with a limit gives up after it with EnvironmentOverloadError
    //  (when exactly: test_pool, on an injected clock).
    s_check (a, "EnvironmentOverloadError", "{\"op\": \"session.open\", \"timeout_ms\": 200}");
    cr_assert_eq (s_stat (admin, "counters.acquires_overloaded"), 1);
    //  Same for acquire and an ephemeral call.
    s_check (a, "EnvironmentOverloadError", "{\"op\": \"acquire\", \"timeout_ms\": 50}");
    s_check (a, "EnvironmentOverloadError",
             "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"x\"}, \"timeout_ms\": 50}");
    //  C was not disturbed.
    s_shell (c, &session_c, "c2");
    s_end (c, &session_c);

    s_close (&a);
    s_close (&b);
    s_close (&c);
    s_close (&admin);
    s_finish (&daemon);
}

//  --- 4. outage ---------------------------------------------------------------------

Test (runtime, outage_after_the_grace_period_exits_non_zero, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 1},"
        " \"outage_grace_period_s\": 0.3, \"outage_retry_interval_s\": 0.05, \"keepalive_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\", \"simulate_start_error\": \"1*off->SandboxStateError\"},"
        " \"features\": {\"f\": {\"kind\": \"testing\"}}}");
    zsock_t *dealer = s_connect (daemon);
    s_session_t session = s_open (dealer);
    cr_assert_str_eq (session.sandbox, "testing-env/0:0");

    //  A critical error breaks the only sandbox; no replacement can start.
    sbx_reply_t *reply = s_expect (dealer, "SandboxStateError",
        "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"method\": \"shell\","
        " \"args\": {\"code\": \"x\", \"raise_error\": \"RuntimeError\"}}", session.sandbox, session.token);
    cr_assert_str_eq (sbx_error_sandbox (sbx_reply_get_error (reply)), "testing-env/0:0");
    sbx_reply_destroy (&reply);

    int code = sbx_test_daemon_wait (daemon, 20000);
    cr_assert_eq (code, 1, "sbxd exited with %d after an outage", code);

    //  The outage is not environment.shutdown's error (SPEC §4).
    s_assert_log_ends_with_shutdown (daemon);
    char line [512];
    snprintf (line, sizeof line, "[testing-env/0:0] session '%s' ended with SandboxStateError", session.session);
    cr_assert_eq (sbx_test_log_count (daemon, line), 1);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] sandbox shutdown"), 1);
    //  The refill was retried (every 50 ms for 300 ms) and each attempt
    //  is a new generation of slot 0 that failed to start. However slow
    //  the machine, the first failure is retried at least once (0.3 s of
    //  grace has not passed at it), and the daemon's timers allow seven
    //  attempts at most (failures at >= 0, 50, ..., 300 ms); the exact
    //  arithmetic is test_pool's, on an injected clock.
    int attempts = s_log_count_like (daemon, "[testing-env/0:", "] sandbox started with SandboxStateError");
    cr_assert_geq (attempts, 2, "only %d attempt(s) in the grace period", attempts);
    cr_assert_leq (attempts, 7, "%d attempts: retried faster than every 50 ms", attempts);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:1] sandbox started with SandboxStateError"), 1);
    cr_assert_eq (s_log_count_like (daemon, "[testing-env/0:", "] sandbox started"), attempts + 1);
    //  Every generation reached offline.
    cr_assert_eq (s_log_count_like (daemon, "[testing-env/0:", "] sandbox shutdown"), attempts + 1);

    s_close (&dealer);
    s_finish_exited (&daemon);
}

//  An outage while the pool first fills: sbxd exits non-zero as well.
Test (runtime, outage_at_start_exits_non_zero, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon_starting (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 2, \"max\": 2},"
        " \"outage_grace_period_s\": 0.1, \"outage_retry_interval_s\": 0.02, \"keepalive_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\", \"simulate_start_error\": \"SandboxStateError\"},"
        " \"features\": {\"f\": {\"kind\": \"testing\"}}}");
    int code = sbx_test_daemon_wait (daemon, 20000);
    cr_assert_eq (code, 1, "sbxd exited with %d", code);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env] environment started with EnvironmentOutageError"), 1);
    s_assert_log_ends_with_shutdown (daemon);
    s_finish_exited (&daemon);
}

//  --- 5. replacement ----------------------------------------------------------------

Test (runtime, broken_sandbox_is_replaced_with_next_generation, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}"));
    zsock_t *dealer = s_connect (daemon);
    s_session_t session = s_open (dealer);
    cr_assert_str_eq (session.sandbox, "testing-env/0:0");
    s_shell (dealer, &session, "before");

    sbx_reply_t *reply = s_expect (dealer, "SandboxStateError",
        "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"method\": \"shell\","
        " \"args\": {\"code\": \"x\", \"raise_error\": \"RuntimeError\"}}", session.sandbox, session.token);
    const char *message = sbx_error_message (sbx_reply_get_error (reply));
    cr_assert (strstr (message, "shell") && strstr (message, "RuntimeError"),
               "the state error does not name the method and the error: %s", message);
    sbx_reply_destroy (&reply);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:1] sandbox started", 1, S_WAIT));

    //  Generations never overlap: 0:0 is offline before 0:1 comes up.
    char **lines = sbx_test_log_lines (daemon, NULL);
    int offline = -1, replaced = -1;
    for (int i = 0; lines [i]; i++) {
        if (streq (lines [i], "[testing-env/0:0] sandbox shutdown"))
            offline = i;
        if (strncmp (lines [i], "[testing-env/0:1]", 17) == 0 && replaced < 0)
            replaced = i;
    }
    sbx_test_lines_free (&lines);
    cr_assert_geq (offline, 0);
    cr_assert_gt (replaced, offline, "0:1 appeared before 0:0 was offline");

    //  The old sandbox is gone; the new one serves sessions.
    s_check (dealer, "NotFound", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", "
             "\"method\": \"shell\", \"args\": {\"code\": \"y\"}}", session.sandbox, session.token);
    s_session_t next = s_open (dealer);
    cr_assert_str_eq (next.sandbox, "testing-env/0:1");
    s_shell (dealer, &next, "after");

    reply = s_expect (dealer, "ok", "{\"op\": \"status\"}");
    const msgpack_object *sandboxes = sbx_reply_get (reply, "sandboxes");
    cr_assert_not_null (sandboxes);
    cr_assert_eq (sandboxes->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq (sandboxes->via.array.size, 1);
    const msgpack_object *row = &sandboxes->via.array.ptr [0];
    cr_assert (s_str_is (row, "id", "testing-env/0:1"));
    cr_assert (s_str_is (row, "status", "in_session"));
    cr_assert (s_str_is (row, "session_id", next.session));
    const msgpack_object *errors = sbx_mp_map_get (row, "state_errors");
    cr_assert (errors && errors->type == MSGPACK_OBJECT_ARRAY && errors->via.array.size == 0);
    cr_assert (s_str_is (sbx_reply_map (reply), "environment.id", "testing-env"));
    cr_assert (s_str_is (sbx_reply_map (reply), "environment.status", "online"));
    cr_assert_not_null (s_path (sbx_reply_map (reply), "environment.uptime_s"));
    sbx_reply_destroy (&reply);

    cr_assert_eq (s_stat (dealer, "counters.sandboxes_replaced"), 1);
    cr_assert_eq (s_stat (dealer, "counters.sandboxes_started"), 2);
    s_end (dealer, &next);
    s_close (&dealer);
    s_finish (&daemon);
}

//  --- 6. a client vanishes --------------------------------------------------------

Test (runtime, vanished_client_loses_its_session_to_the_lease, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}, \"session_lease_s\": 0.3"));
    zsock_t *gone = s_connect (daemon);
    s_session_t session = s_open (gone);
    s_shell (gone, &session, "then vanish");
    s_close (&gone);

    char line [512];
    snprintf (line, sizeof line, "[testing-env/0:0] session '%s' ended with LeaseExpired", session.session);
    cr_assert (sbx_test_wait_log (daemon, line, 1, S_WAIT), "no '%s'", line);

    //  The sandbox went back to the pool: the next client gets it at once.
    zsock_t *next = s_connect (daemon);
    s_session_t other = s_open (next);
    cr_assert_str_eq (other.sandbox, "testing-env/0:0");
    s_shell (next, &other, "next");
    s_end (next, &other);
    cr_assert_eq (s_stat (next, "counters.leases_expired"), 1);
    cr_assert_eq (s_stat (next, "counters.sandboxes_started"), 1);
    //  A lapsed lease is not a state error: nothing was shut down.
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] sandbox shutdown"), 0);
    s_close (&next);
    s_finish (&daemon);
}

//  --- 7. tokens ---------------------------------------------------------------------

Test (runtime, wrong_or_missing_tokens_are_refused, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 2, \"max\": 2}"));
    zsock_t *owner = s_connect (daemon);
    zsock_t *intruder = s_connect (daemon);
    s_session_t session = s_open (owner);
    s_session_t theirs = s_open (intruder);
    cr_assert_str_neq (session.sandbox, theirs.sandbox);
    cr_assert_str_neq (session.token, theirs.token);

    const char *sandbox = session.sandbox;
    const char *const wrong [] = {
        "00000000000000000000000000000000", "abc", "", theirs.token, NULL
    };
    for (int round = 0; round < 2; round++) {
        //  Missing token.
        s_check (intruder, "Unauthorized", "{\"op\": \"call\", \"sandbox\": \"%s\", \"method\": \"shell\","
                 " \"args\": {\"code\": \"steal\"}}", sandbox);
        s_check (intruder, "Unauthorized", "{\"op\": \"session.end\", \"sandbox\": \"%s\"}", sandbox);
        s_check (intruder, "Unauthorized", "{\"op\": \"heartbeat\", \"sandbox\": \"%s\"}", sandbox);
        //  Wrong tokens, another sandbox's included.
        for (int i = 0; wrong [i]; i++) {
            s_check (intruder, "Unauthorized", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
                     " \"method\": \"shell\", \"args\": {\"code\": \"steal\"}}", sandbox, wrong [i]);
            s_check (intruder, "Unauthorized", "{\"op\": \"session.end\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
                     sandbox, wrong [i]);
            s_check (intruder, "Unauthorized", "{\"op\": \"heartbeat\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
                     sandbox, wrong [i]);
            s_check (intruder, "Unauthorized", "{\"op\": \"session.start\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
                     sandbox, wrong [i]);
        }
        //  The owner's session still works.
        s_shell (owner, &session, round ? "second" : "first");
        sbx_reply_t *reply = s_expect (owner, "ok", "{\"op\": \"heartbeat\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
                                       sandbox, session.token);
        cr_assert_eq (s_uint (sbx_reply_map (reply), "lease_ms"), 300000);
        sbx_reply_destroy (&reply);
    }
    //  Unknown sandbox, feature or method: NotFound.
    s_check (owner, "NotFound", "{\"op\": \"call\", \"sandbox\": \"testing-env/9:0\", \"token\": \"%s\","
             " \"method\": \"shell\", \"args\": {\"code\": \"x\"}}", session.token);
    s_check (owner, "NotFound", "{\"op\": \"heartbeat\", \"sandbox\": \"nowhere\", \"token\": \"%s\"}",
             session.token);
    s_check (owner, "NotFound", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
             " \"feature\": \"nope\", \"method\": \"num_shell_calls\"}", sandbox, session.token);
    s_check (owner, "NotFound", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
             " \"feature\": \"f\", \"method\": \"nope\"}", sandbox, session.token);
    s_check (owner, "NotFound", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
             " \"method\": \"nope\"}", sandbox, session.token);
    s_check (owner, "NotFound", "{\"op\": \"status\", \"sandbox\": \"testing-env/9:0\"}");

    //  No refused op reached the sandbox: only the owner's calls ran.
    cr_assert_eq (s_log_count_like (daemon, "[", "shell: steal"), 0);
    sbx_reply_t *reply = s_expect (owner, "ok", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
                                   " \"feature\": \"f\", \"method\": \"show_session_id\"}", sandbox, session.token);
    const char *shown = sbx_reply_get_str (reply, "result");
    cr_assert (shown && strstr (shown, session.session), "the session changed: %s", shown ? shown : "(nil)");
    sbx_reply_destroy (&reply);

    s_end (owner, &session);
    //  After the end, the old token is worth nothing.
    s_check (owner, "Unauthorized", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
             " \"method\": \"shell\", \"args\": {\"code\": \"late\"}}", sandbox, session.token);
    s_end (intruder, &theirs);
    s_close (&owner);
    s_close (&intruder);
    s_finish (&daemon);
}

//  --- 8. heartbeat ---------------------------------------------------------------------

//  Told by order, not by clocks: A's session is opened before B's, so
//  without renewals A's lease would run out no later than B's. B is left
//  alone and lapses while A heartbeats; A is still A's after that, so the
//  heartbeats renewed it. Then A stops, and lapses too.
Test (runtime, heartbeat_renews_the_lease, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_ENV (", \"pool\": {\"min\": 2, \"max\": 2}, \"session_lease_s\": 1"));
    zsock_t *dealer = s_connect (daemon);
    s_session_t a = s_open (dealer);
    s_session_t b = s_open (dealer);
    char a_lapsed [512], b_lapsed [512];
    snprintf (a_lapsed, sizeof a_lapsed, "[%s] session '%s' ended with LeaseExpired", a.sandbox, a.session);
    snprintf (b_lapsed, sizeof b_lapsed, "[%s] session '%s' ended with LeaseExpired", b.sandbox, b.session);
    int beats = 0;
    //  A heartbeat, then up to 50 ms for B's lapse: the log is what we
    //  wait on; the 50 ms only paces the heartbeats.
    do {
        sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"heartbeat\", \"sandbox\": \"%s\", "
                                       "\"token\": \"%s\", \"id\": %d}", a.sandbox, a.token, beats);
        cr_assert_eq (s_uint (sbx_reply_map (reply), "lease_ms"), 1000);
        cr_assert_eq (sbx_reply_id (reply), (uint64_t) beats);
        sbx_reply_destroy (&reply);
        beats++;
    } while (!sbx_test_wait_log (daemon, b_lapsed, 1, 50) && beats < 1000);
    cr_assert_lt (beats, 1000, "B's lease never lapsed");
    //  Had A's lease run out, it would have gone in that same check: A's
    //  token still works, so it did not.
    s_shell (dealer, &a, "still mine");
    cr_assert_eq (sbx_test_log_count (daemon, a_lapsed), 0, "the lease lapsed in spite of the heartbeats");

    //  Without heartbeats A's lease lapses as well.
    cr_assert (sbx_test_wait_log (daemon, a_lapsed, 1, S_WAIT));
    s_check (dealer, "Unauthorized", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
             " \"method\": \"shell\", \"args\": {\"code\": \"too late\"}}", a.sandbox, a.token);
    s_close (&dealer);
    s_finish (&daemon);
}

//  --- 9. events.replay ---------------------------------------------------------------------

//  Seq of event i of a replay reply.
static uint64_t
s_event_seq (const msgpack_object *events, uint32_t i)
{
    return s_uint (&events->via.array.ptr [i], "seq");
}

static const msgpack_object *
s_replay (zsock_t *dealer, sbx_reply_t **reply_p, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static const msgpack_object *
s_replay (zsock_t *dealer, sbx_reply_t **reply_p, const char *format, ...)
{
    char text [512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    *reply_p = s_expect (dealer, "ok", "%s", text);
    const msgpack_object *events = sbx_reply_get (*reply_p, "events");
    cr_assert_not_null (events);
    cr_assert_eq (events->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_not_null (sbx_reply_get (*reply_p, "next"));
    return events;
}

Test (runtime, events_replay_fills_a_subscriber_gap, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}"));
    zsock_t *dealer = s_connect (daemon);
    for (int i = 0; i < 3; i++) {
        s_session_t session = s_open (dealer);
        s_shell (dealer, &session, "work");
        s_end (dealer, &session);
    }
    //  The log is written by the same bus: wait until the last session is
    //  fully torn down (ready again) so that the count is stable.
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0] setting_up -> ready", 4, S_WAIT));
    size_t logged = s_log_size (daemon);

    //  Since 0: every event from seq 1, consecutive, in log order.
    sbx_reply_t *reply;
    const msgpack_object *events = s_replay (dealer, &reply, "{\"op\": \"events.replay\", \"since\": 0}");
    uint32_t total = events->via.array.size;
    cr_assert_eq (total, logged, "replay has %u events, the log %zu", total, logged);
    for (uint32_t i = 0; i < total; i++)
        cr_assert_eq (s_event_seq (events, i), i + 1);
    cr_assert (s_str_is (&events->via.array.ptr [0], "event", "sandbox.status"));
    int starts = 0, ends = 0;
    for (uint32_t i = 0; i < total; i++) {
        starts += s_str_is (&events->via.array.ptr [i], "event", "session.start");
        ends += s_str_is (&events->via.array.ptr [i], "event", "session.end");
        cr_assert (s_str_is (&events->via.array.ptr [i], "environment", "testing-env"));
    }
    cr_assert_eq (starts, 3);
    cr_assert_eq (ends, 3);
    cr_assert_eq (s_uint (sbx_reply_map (reply), "next"), total);
    const msgpack_object *truncated = sbx_reply_get (reply, "truncated");
    cr_assert (!truncated || (truncated->type == MSGPACK_OBJECT_BOOLEAN && !truncated->via.boolean));
    sbx_reply_destroy (&reply);

    //  Since N: N+1 onwards.
    events = s_replay (dealer, &reply, "{\"op\": \"events.replay\", \"since\": 5}");
    cr_assert_eq (events->via.array.size, total - 5);
    cr_assert_eq (s_event_seq (events, 0), 6);
    cr_assert_eq (s_uint (sbx_reply_map (reply), "next"), total);
    sbx_reply_destroy (&reply);

    //  max limits the count and `next` continues where it stopped.
    uint64_t since = 0, collected = 0;
    for (int pages = 0; pages < 1000; pages++) {
        events = s_replay (dealer, &reply, "{\"op\": \"events.replay\", \"since\": %llu, \"max\": 4}",
                           (unsigned long long) since);
        uint32_t count = events->via.array.size;
        uint64_t next = s_uint (sbx_reply_map (reply), "next");
        cr_assert_leq (count, 4);
        for (uint32_t i = 0; i < count; i++)
            cr_assert_eq (s_event_seq (events, i), since + 1 + i);
        sbx_reply_destroy (&reply);
        if (count == 0) {
            cr_assert_eq (next, since, "an empty page must not move `next`");
            break;
        }
        cr_assert_eq (next, since + count);
        if (since + 4 <= total)
            cr_assert_eq (count, 4);
        collected += count;
        since = next;
    }
    cr_assert_eq (collected, total);

    //  A subscriber that joins late: it sees only new events; the replay
    //  gives it the same bodies for the seqs it missed and saw.
    zsock_t *sub = s_track_sock (zsock_new_sub (daemon->events, ""));
    cr_assert_not_null (sub);
    zmsg_t *first = NULL;
    for (int tries = 0; tries < 100 && !first; tries++) {
        //  The subscription takes a moment to reach the server: keep making
        //  events until one arrives.
        s_check (dealer, "ok", "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"late\"}}");
        if (!s_silent (sub, 100))
            first = zmsg_recv (sub);
    }
    cr_assert_not_null (first, "the subscriber never received an event");
    cr_assert_eq (zmsg_size (first), 2);
    char *topic = zmsg_popstr (first);
    zframe_t *body = zmsg_pop (first);
    msgpack_unpacked live;
    msgpack_unpacked_init (&live);
    cr_assert_eq (msgpack_unpack_next (&live, (const char *) zframe_data (body), zframe_size (body), NULL),
                  MSGPACK_UNPACK_SUCCESS);
    uint64_t seen = s_uint (&live.data, "seq");
    cr_assert (s_str_is (&live.data, "event", topic), "topic '%s' is not the event name", topic);
    cr_assert_gt (seen, total, "a late subscriber saw an old event");

    events = s_replay (dealer, &reply, "{\"op\": \"events.replay\", \"since\": %llu}", (unsigned long long) total);
    cr_assert_geq (events->via.array.size, seen - total);
    for (uint32_t i = 0; i < events->via.array.size; i++)
        cr_assert_eq (s_event_seq (events, i), total + 1 + i);
    cr_assert (msgpack_object_equal (live.data, events->via.array.ptr [seen - total - 1]),
               "the replayed event %llu differs from the published one", (unsigned long long) seen);
    uint64_t last = s_uint (sbx_reply_map (reply), "next");
    sbx_reply_destroy (&reply);
    msgpack_unpacked_destroy (&live);
    zframe_destroy (&body);
    zstr_free (&topic);
    zmsg_destroy (&first);

    //  Since beyond the end: nothing, and `next` is the last seq.
    events = s_replay (dealer, &reply, "{\"op\": \"events.replay\", \"since\": %llu}",
                       (unsigned long long) last + 1000);
    cr_assert_eq (events->via.array.size, 0);
    //  `next` never points past the events that exist.
    cr_assert_lt (s_uint (sbx_reply_map (reply), "next"), last + 1000);
    sbx_reply_destroy (&reply);

    //  The largest `since` there is: nothing either (no wrap to seq 1).
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 2);
    sbx_mp_pack_str (&packer, "op");
    sbx_mp_pack_str (&packer, "events.replay");
    sbx_mp_pack_str (&packer, "since");
    msgpack_pack_uint64 (&packer, UINT64_MAX);
    reply = sbx_test_request_raw (dealer, buffer.data, buffer.size, S_WAIT);
    msgpack_sbuffer_destroy (&buffer);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok");
    events = sbx_reply_get (reply, "events");
    cr_assert (events && events->type == MSGPACK_OBJECT_ARRAY);
    cr_assert_eq (events->via.array.size, 0, "since 2^64-1 replayed %u events", events->via.array.size);
    truncated = sbx_reply_get (reply, "truncated");
    cr_assert (!truncated || (truncated->type == MSGPACK_OBJECT_BOOLEAN && !truncated->via.boolean));
    sbx_reply_destroy (&reply);

    s_close (&sub);
    s_close (&dealer);
    s_finish (&daemon);
}

Test (runtime, events_replay_older_than_the_journal_is_truncated, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_CONFIG (S_TIMERS ", \"pool\": {\"min\": 1, \"max\": 1}", "", S_FEATURE_F,
                  ", \"events\": {\"journal\": 16}"));
    zsock_t *dealer = s_connect (daemon);
    for (int i = 0; i < 3; i++)
        s_check (dealer, "ok", "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"x\"}}");
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0] setting_up -> ready", 4, S_WAIT));
    size_t logged = s_log_size (daemon);
    cr_assert_gt (logged, 16);

    sbx_reply_t *reply;
    const msgpack_object *events = s_replay (dealer, &reply, "{\"op\": \"events.replay\", \"since\": 0}");
    cr_assert_eq (events->via.array.size, 16);
    cr_assert_eq (s_event_seq (events, 0), logged - 15);
    cr_assert_eq (s_event_seq (events, 15), logged);
    const msgpack_object *truncated = sbx_reply_get (reply, "truncated");
    cr_assert (truncated && truncated->type == MSGPACK_OBJECT_BOOLEAN && truncated->via.boolean);
    sbx_reply_destroy (&reply);

    //  Since the seq just before the oldest kept: complete, not truncated.
    events = s_replay (dealer, &reply, "{\"op\": \"events.replay\", \"since\": %zu}", logged - 16);
    cr_assert_eq (events->via.array.size, 16);
    truncated = sbx_reply_get (reply, "truncated");
    cr_assert (!truncated || (truncated->type == MSGPACK_OBJECT_BOOLEAN && !truncated->via.boolean));
    sbx_reply_destroy (&reply);
    s_close (&dealer);
    s_finish (&daemon);
}

//  --- 10. bad requests ---------------------------------------------------------------

//  Sends `frames` (count frames) and returns the frames of the answer;
//  the body must be the last.
static zmsg_t *
s_raw_multi (zsock_t *dealer, const zframe_t *const *frames, size_t count)
{
    zmsg_t *msg = zmsg_new ();
    for (size_t i = 0; i < count; i++)
        zmsg_append (msg, &(zframe_t *) {zframe_dup ((zframe_t *) frames [i])});
    cr_assert_eq (zmsg_send (&msg, dealer), 0);
    if (s_silent (dealer, S_WAIT))
        return NULL;
    return zmsg_recv (dealer);
}

//  The body of `answer` (its last frame) is a BadRequest; destroys the
//  answer.
static void
s_assert_bad_body (zmsg_t **answer_p)
{
    zframe_t *last = zmsg_last (*answer_p);
    sbx_error_t *error = NULL;
    sbx_reply_t *reply = sbx_reply_decode (zframe_data (last), zframe_size (last), &error);
    cr_assert_not_null (reply);
    cr_assert_str_eq (sbx_test_reply_type (reply), "BadRequest");
    sbx_reply_destroy (&reply);
    zmsg_destroy (answer_p);
}

//  Sends one raw body; the answer must be a BadRequest (with `id` when the
//  body held one).
static void
s_expect_bad (zsock_t *dealer, const char *what, const void *data, size_t size, int64_t id)
{
    sbx_reply_t *reply = sbx_test_request_raw (dealer, data, size, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), "BadRequest", "%s -> %s", what, sbx_test_reply_type (reply));
    if (id >= 0) {
        cr_assert (sbx_reply_has_id (reply), "%s: the reply does not echo the id", what);
        cr_assert_eq (sbx_reply_id (reply), (uint64_t) id);
    }
    sbx_reply_destroy (&reply);
}

Test (runtime, bad_requests_are_answered_and_harm_nobody, .timeout = 60)
{
    //  16 KiB: over the 10,000-deep body below (which must fail on depth,
    //  not size) and under the 32 KiB one (which must fail on size).
    sbx_test_daemon_t *daemon = s_daemon (
        S_CONFIG (S_TIMERS ", \"pool\": {\"min\": 1, \"max\": 1}", "", S_FEATURE_F,
                  ", \"limits\": {\"max_body_bytes\": 16384}"));
    zsock_t *worker = s_connect (daemon);
    zsock_t *bad = s_connect (daemon);
    s_session_t session = s_open (worker);
    int calls = 0;
    char code [64];
#define S_WORK()                                                                \
    do {                                                                        \
        snprintf (code, sizeof code, "work %d", calls++);                       \
        s_shell (worker, &session, code);                                       \
    } while (0)

    S_WORK ();
    const uint8_t not_msgpack [] = {0xc1};
    s_expect_bad (bad, "byte c1", not_msgpack, sizeof not_msgpack, -1);
    S_WORK ();
    const uint8_t truncated [] = {0x82, 0xa2, 'o', 'p', 0xa5, 'h', 'e'};
    s_expect_bad (bad, "truncated map", truncated, sizeof truncated, -1);
    S_WORK ();
    const uint8_t empty [] = {0};
    s_expect_bad (bad, "empty body", empty, 0, -1);
    S_WORK ();
    const uint8_t array [] = {0x93, 0x01, 0x02, 0x03};
    s_expect_bad (bad, "array body", array, sizeof array, -1);
    S_WORK ();
    const uint8_t string [] = {0xa5, 'h', 'e', 'l', 'l', 'o'};
    s_expect_bad (bad, "string body", string, sizeof string, -1);
    S_WORK ();
    const uint8_t two_objects [] = {0x81, 0xa2, 'o', 'p', 0xa5, 'h', 'e', 'l', 'l', 'o', 0xc0};
    s_expect_bad (bad, "trailing bytes", two_objects, sizeof two_objects, -1);
    S_WORK ();

    const char *const bad_json [] = {
        "{\"id\": 7}",                                                  //  missing op
        "{\"op\": \"frobnicate\", \"id\": 7}",                          //  unknown op
        "{\"op\": 5, \"id\": 7}",                                       //  op not a str
        "{\"op\": \"call\", \"method\": 5, \"id\": 7}",                 //  wrong-typed key
        "{\"op\": \"call\", \"id\": 7}",                                //  missing method
        "{\"op\": \"call\", \"method\": \"shell\", \"args\": [1], \"id\": 7}",
        "{\"op\": \"acquire\", \"timeout_ms\": \"soon\", \"id\": 7}",
        "{\"op\": \"acquire\", \"timeout_ms\": -5, \"id\": 7}",
        "{\"op\": \"session.end\", \"id\": 7}",                         //  missing sandbox
        "{\"op\": \"heartbeat\", \"sandbox\": 1, \"token\": \"x\", \"id\": 7}",
        "{\"op\": \"events.replay\", \"id\": 7}",                       //  missing since
        "{\"op\": \"session.open\", \"session_id\": \"\", \"id\": 7}",
        NULL
    };
    for (int i = 0; bad_json [i]; i++) {
        msgpack_sbuffer buffer;
        cr_assert_eq (sbx_test_pack_json (&buffer, bad_json [i]), 0);
        s_expect_bad (bad, bad_json [i], buffer.data, buffer.size, 7);
        msgpack_sbuffer_destroy (&buffer);
        S_WORK ();
    }

    //  A map with a non-string key.
    const uint8_t int_key [] = {0x82, 0xa2, 'o', 'p', 0xa5, 'h', 'e', 'l', 'l', 'o', 0x01, 0x02};
    s_expect_bad (bad, "integer key", int_key, sizeof int_key, -1);
    S_WORK ();

    //  Nesting 10,000 deep, as the body and inside `args`.
    size_t depth = 10000;
    uint8_t *deep = (uint8_t *) malloc (depth + 64);
    memset (deep, 0x91, depth);
    deep [depth] = 0xc0;
    s_expect_bad (bad, "10,000 nested arrays", deep, depth + 1, -1);
    S_WORK ();
    size_t head = 0;
    const uint8_t call_prefix [] = {0x83, 0xa2, 'o', 'p', 0xa4, 'c', 'a', 'l', 'l',
                                    0xa6, 'm', 'e', 't', 'h', 'o', 'd', 0xa5, 's', 'h', 'e', 'l', 'l',
                                    0xa4, 'a', 'r', 'g', 's', 0x81, 0xa1, 'x'};
    uint8_t *nested = (uint8_t *) malloc (sizeof call_prefix + depth + 1);
    memcpy (nested, call_prefix, sizeof call_prefix);
    head = sizeof call_prefix;
    memset (nested + head, 0x91, depth);
    nested [head + depth] = 0xc0;
    s_expect_bad (bad, "args nested 10,000 deep", nested, head + depth + 1, -1);
    free (nested);
    free (deep);
    S_WORK ();

    //  Headers claiming 2^31 items, alone and inside a map.
    const uint8_t huge_array [] = {0xdd, 0x80, 0x00, 0x00, 0x00};
    s_expect_bad (bad, "array of 2^31", huge_array, sizeof huge_array, -1);
    S_WORK ();
    const uint8_t huge_map [] = {0xdf, 0x80, 0x00, 0x00, 0x00, 0xa2, 'o', 'p'};
    s_expect_bad (bad, "map of 2^31", huge_map, sizeof huge_map, -1);
    S_WORK ();
    const uint8_t huge_str [] = {0x81, 0xa2, 'o', 'p', 0xdb, 0x80, 0x00, 0x00, 0x00, 'h'};
    s_expect_bad (bad, "str of 2^31", huge_str, sizeof huge_str, -1);
    S_WORK ();

    //  Over the size limit (refused before decoding: valid msgpack inside).
    size_t big = 32768;
    uint8_t *oversize = (uint8_t *) malloc (big);
    const uint8_t big_prefix [] = {0x82, 0xa2, 'o', 'p', 0xa5, 'h', 'e', 'l', 'l', 'o',
                                   0xa3, 'p', 'a', 'd', 0xda, 0, 0};
    memcpy (oversize, big_prefix, sizeof big_prefix);
    size_t pad = big - sizeof big_prefix;
    oversize [15] = (uint8_t) (pad >> 8);
    oversize [16] = (uint8_t) (pad & 0xff);
    memset (oversize + sizeof big_prefix, 'a', pad);
    sbx_reply_t *reply = sbx_test_request_raw (bad, oversize, big, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), "BadRequest");
    cr_assert (strstr (sbx_error_message (sbx_reply_get_error (reply)), "limit"),
               "not refused for its size: %s", sbx_error_message (sbx_reply_get_error (reply)));
    sbx_reply_destroy (&reply);
    //  The same body under the limit is fine (so the limit is what refused it).
    size_t small = 2048;
    pad = small - sizeof big_prefix;
    oversize [15] = (uint8_t) (pad >> 8);
    oversize [16] = (uint8_t) (pad & 0xff);
    reply = sbx_test_request_raw (bad, oversize, small, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok");
    sbx_reply_destroy (&reply);
    free (oversize);
    S_WORK ();

    //  Invalid UTF-8, in the op and in a call's args.
    const uint8_t bad_utf8 [] = {0x81, 0xa2, 'o', 'p', 0xa5, 'h', 'e', 0xff, 'l', 'o'};
    s_expect_bad (bad, "invalid UTF-8", bad_utf8, sizeof bad_utf8, -1);
    S_WORK ();
    const uint8_t overlong [] = {0x81, 0xa2, 'o', 'p', 0xa2, 0xc0, 0xaf};
    s_expect_bad (bad, "overlong UTF-8", overlong, sizeof overlong, -1);
    S_WORK ();

    //  Multi-frame garbage: the frames before the body come back as the
    //  envelope, the body answers BadRequest.
    zframe_t *frames [3] = {
        zframe_new ("\xc1\xc1", 2), zframe_new ("\xff", 1), zframe_new ("\xc1", 1)
    };
    zmsg_t *answer = s_raw_multi (bad, (const zframe_t *const *) frames, 3);
    cr_assert_not_null (answer, "no answer to a multi-frame message");
    cr_assert_eq (zmsg_size (answer), 3);
    cr_assert (zframe_eq (zmsg_first (answer), frames [0]));
    cr_assert (zframe_eq (zmsg_next (answer), frames [1]));
    s_assert_bad_body (&answer);
    for (int i = 0; i < 3; i++)
        zframe_destroy (&frames [i]);
    S_WORK ();

    //  Too many frames before the body.
    zframe_t *many [24];
    for (int i = 0; i < 24; i++)
        many [i] = zframe_new ("\xc1", 1);
    answer = s_raw_multi (bad, (const zframe_t *const *) many, 24);
    cr_assert_not_null (answer, "no answer to a 24-frame message");
    s_assert_bad_body (&answer);
    for (int i = 0; i < 24; i++)
        zframe_destroy (&many [i]);
    S_WORK ();

    //  A valid request after all that, from the same client.
    s_check (bad, "ok", "{\"op\": \"hello\"}");
    uint64_t refused = s_stat (bad, "counters.bad_requests");
    cr_assert_geq (refused, 25, "only %llu bad requests counted", (unsigned long long) refused);
    cr_assert_eq (s_stat (bad, "counters.calls_failed"), 0);
    cr_assert_eq (s_stat (bad, "sandbox.in_session"), 1);
    //  Every call of the worker ran, in its session.
    char line [512];
    snprintf (line, sizeof line, "[testing-env/0:0/%s] shell: work %d", session.session, calls - 1);
    cr_assert (sbx_test_wait_log (daemon, line, 1, S_WAIT), "no '%s'", line);
    cr_assert_eq (sbx_test_log_count (daemon, line), 1);
    s_end (worker, &session);
#undef S_WORK
    s_close (&bad);
    s_close (&worker);
    s_finish (&daemon);
}

//  --- 11. many clients pipelining ----------------------------------------------------------

#define S_SESSION_CLIENTS 8
#define S_EPHEMERAL_CLIENTS 56
#define S_CLIENTS (S_SESSION_CLIENTS + S_EPHEMERAL_CLIENTS)
#define S_SESSION_CALLS 100
#define S_EPHEMERAL_CALLS 20

Test (runtime, pipelined_replies_are_never_lost_or_misrouted, .timeout = 180)
{
    sbx_test_daemon_t *daemon = s_daemon (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 16, \"max\": 16},"
        " \"outage_grace_period_s\": 50, \"outage_retry_interval_s\": 0, \"keepalive_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {\"f\": {\"kind\": \"testing\"}}}");
    zsock_t *clients [S_CLIENTS];
    s_session_t sessions [S_SESSION_CLIENTS];
    for (int c = 0; c < S_CLIENTS; c++)
        clients [c] = s_connect (daemon);
    //  8 clients hold sessions (8 sandboxes); 56 share the other 8 with
    //  ephemeral calls.
    for (int c = 0; c < S_SESSION_CLIENTS; c++)
        sessions [c] = s_open (clients [c]);

    int sent [S_CLIENTS];
    static bool answered [S_CLIENTS][S_SESSION_CALLS];
    memset (answered, 0, sizeof answered);
    int expected = 0;
    //  Send everything first, interleaving clients, then collect.
    for (int n = 0; n < S_SESSION_CALLS; n++) {
        for (int c = 0; c < S_CLIENTS; c++) {
            bool session = c < S_SESSION_CLIENTS;
            if (n == 0)
                sent [c] = 0;
            if (!session && n >= S_EPHEMERAL_CALLS)
                continue;
            if (session)
                s_sendf (clients [c], "{\"op\": \"call\", \"id\": %d, \"sandbox\": \"%s\", \"token\": \"%s\","
                         " \"method\": \"shell\", \"args\": {\"code\": \"c%d-r%d\"}}",
                         n, sessions [c].sandbox, sessions [c].token, c, n);
            else
                s_sendf (clients [c], "{\"op\": \"call\", \"id\": %d, \"method\": \"shell\","
                         " \"args\": {\"code\": \"c%d-r%d\"}}", n, c, n);
            sent [c]++;
            expected++;
        }
    }
    zmq_pollitem_t items [S_CLIENTS];
    for (int c = 0; c < S_CLIENTS; c++)
        items [c] = (zmq_pollitem_t) {zsock_resolve (clients [c]), 0, ZMQ_POLLIN, 0};
    int received = 0;
    int64_t deadline = s_now_ms () + 45000;
    while (received < expected && s_now_ms () < deadline) {
        int rc = zmq_poll (items, S_CLIENTS, (long) (deadline - s_now_ms ()));
        if (rc <= 0)
            continue;
        for (int c = 0; c < S_CLIENTS; c++) {
            if (!(items [c].revents & ZMQ_POLLIN))
                continue;
            while (zsock_events (clients [c]) & ZMQ_POLLIN) {
                sbx_reply_t *reply = s_recv (clients [c], 0);
                cr_assert_not_null (reply);
                const sbx_error_t *error = sbx_reply_get_error (reply);
                cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "client %d: %s", c,
                                  error ? sbx_error_message (error) : "");
                cr_assert (sbx_reply_has_id (reply), "client %d: reply without id", c);
                uint64_t id = sbx_reply_id (reply);
                cr_assert_lt (id, (uint64_t) sent [c], "client %d got id %llu it never sent", c,
                              (unsigned long long) id);
                cr_assert_not (answered [c][id], "client %d got id %llu twice", c, (unsigned long long) id);
                answered [c][id] = true;
                char result [64];
                snprintf (result, sizeof result, "shell \"c%d-r%llu\" succeeded", c, (unsigned long long) id);
                const char *got = sbx_reply_get_str (reply, "result");
                cr_assert_not_null (got);
                cr_assert_str_eq (got, result, "client %d id %llu: misrouted result", c, (unsigned long long) id);
                if (c >= S_SESSION_CLIENTS) {
                    const char *sandbox = sbx_reply_get_str (reply, "sandbox");
                    cr_assert_not_null (sandbox);
                    cr_assert_not_null (sbx_reply_get_str (reply, "session_id"));
                    for (int s = 0; s < S_SESSION_CLIENTS; s++)
                        cr_assert_str_neq (sandbox, sessions [s].sandbox,
                                           "an ephemeral call ran in a held session's sandbox");
                }
                sbx_reply_destroy (&reply);
                received++;
            }
        }
    }
    cr_assert_eq (received, expected, "%d of %d replies", received, expected);
    //  And nothing more than one reply per request.
    cr_assert_eq (zmq_poll (items, S_CLIENTS, 200), 0, "extra replies arrived");

    zsock_t *admin = s_connect (daemon);
    cr_assert_eq (s_stat (admin, "counters.calls"), (uint64_t) expected);
    cr_assert_eq (s_stat (admin, "counters.calls_failed"), 0);
    cr_assert_eq (s_stat (admin, "pool.size"), 16);
    for (int c = 0; c < S_SESSION_CLIENTS; c++)
        s_end (clients [c], &sessions [c]);
    for (int c = 0; c < S_CLIENTS; c++)
        s_close (&clients [c]);
    s_close (&admin);
    s_finish (&daemon);
}

//  --- 12. acquire, session.start ---------------------------------------------------------

Test (runtime, acquire_then_session_start_and_unused_acquire_lapses, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}, \"session_lease_s\": 0.3"));
    zsock_t *dealer = s_connect (daemon);
    sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"acquire\"}");
    s_session_t session;
    s_read_session (reply, &session, false);
    cr_assert_null (sbx_reply_get (reply, "session_id"));
    sbx_reply_destroy (&reply);
    cr_assert_str_eq (session.sandbox, "testing-env/0:0");
    reply = s_expect (dealer, "ok", "{\"op\": \"status\", \"sandbox\": \"%s\"}", session.sandbox);
    cr_assert (s_str_is (&sbx_reply_get (reply, "sandboxes")->via.array.ptr [0], "status", "acquired"));
    sbx_reply_destroy (&reply);

    reply = s_expect (dealer, "ok", "{\"op\": \"session.start\", \"sandbox\": \"%s\", \"token\": \"%s\","
                      " \"session_id\": \"my-session\"}", session.sandbox, session.token);
    cr_assert_str_eq (sbx_reply_get_str (reply, "session_id"), "my-session");
    sbx_reply_destroy (&reply);
    snprintf (session.session, sizeof session.session, "my-session");
    //  A second session.start on the same sandbox is refused.
    s_check (dealer, "BadRequest", "{\"op\": \"session.start\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
             session.sandbox, session.token);
    s_shell (dealer, &session, "in my session");
    s_end (dealer, &session);
    //  The reply may overtake the events: wait for them.
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0] session 'my-session' ended", 1, S_WAIT));
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0/my-session] shell: in my session"), 1);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] session 'my-session' started"), 1);

    //  Acquired and never used: when its lease lapses it is shut down, and
    //  the slot refilled.
    s_session_t idle = s_acquire (dealer);
    cr_assert_str_eq (idle.sandbox, "testing-env/0:0");
    cr_assert_str_neq (idle.token, session.token);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0] sandbox shutdown", 1, S_WAIT),
               "an acquired sandbox outlived its lease");
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:1] sandbox started", 1, S_WAIT));
    cr_assert_eq (s_stat (dealer, "counters.leases_expired"), 1);
    //  It had no session: no session ended with LeaseExpired.
    cr_assert_eq (s_log_count_like (daemon, "[testing-env/0:0] session", "LeaseExpired"), 0);
    s_check (dealer, "NotFound", "{\"op\": \"session.start\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
             idle.sandbox, idle.token);

    //  acquire + session.end without a session releases (and retires) it.
    idle = s_acquire (dealer);
    cr_assert_str_eq (idle.sandbox, "testing-env/0:1");
    s_end (dealer, &idle);
    s_close (&dealer);
    s_finish (&daemon);
}

//  --- 13. bad configs -------------------------------------------------------------------------

//  Runs sbxd -c on `config` text; returns the exit code, stderr in `err`.
//  A bad config is refused before anything is bound: it exits at once.
static int
s_run_sbxd (const char *config, char *err, size_t err_size)
{
    int code = sbx_test_sbxd (config, NULL, err, err_size);
    cr_assert_neq (code, -1, "sbxd kept running on a bad config: %s", err);
    return code;
}

Test (runtime, bad_configs_are_refused_with_their_json_path, .timeout = 60)
{
    char err [4096];
    int code = s_run_sbxd ("{\"environment\": {\"id\": \"testing-env\", \"bogus\": 1},"
                           " \"sandbox\": {\"kind\": \"testing\"}}", err, sizeof err);
    cr_assert_eq (code, 2, "exit %d: %s", code, err);
    cr_assert (strstr (err, "environment.bogus"), "stderr: %s", err);

    code = s_run_sbxd ("{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 3, \"max\": 2}},"
                       " \"sandbox\": {\"kind\": \"testing\"}}", err, sizeof err);
    cr_assert_eq (code, 2, "exit %d: %s", code, err);
    cr_assert (strstr (err, "environment.pool.min"), "stderr: %s", err);

    code = s_run_sbxd ("{\"environment\": {\"id\": \"testing-env\"}, \"sandbox\": {\"kind\": \"nonesuch\"}}",
                       err, sizeof err);
    cr_assert_eq (code, 2, "exit %d: %s", code, err);
    cr_assert (strstr (err, "sandbox.kind") && strstr (err, "nonesuch"), "stderr: %s", err);

    code = s_run_sbxd ("{\"environment\": {\"id\": \"testing-env\"}, \"sandbox\": {\"kind\": \"testing\"},"
                       " \"features\": {\"f\": {\"kind\": \"nonesuch\"}}}", err, sizeof err);
    cr_assert_eq (code, 2, "exit %d: %s", code, err);
    cr_assert (strstr (err, "features.f.kind"), "stderr: %s", err);

    code = s_run_sbxd ("{\"environment\": {\"id\": \"testing-env\", \"session_lease_s\": \"long\"},"
                       " \"sandbox\": {\"kind\": \"testing\"}}", err, sizeof err);
    cr_assert_eq (code, 2, "exit %d: %s", code, err);
    cr_assert (strstr (err, "environment.session_lease_s"), "stderr: %s", err);

    code = s_run_sbxd ("{\"environment\": {\"id\": \"testing-env\"},", err, sizeof err);
    cr_assert_eq (code, 2, "exit %d: %s", code, err);
}

//  A pool that cannot fit in the file descriptor limit is refused at start
//  with the numbers, instead of aborting inside czmq at ~512 actors.
Test (runtime, impossible_pool_is_refused, .timeout = 60)
{
    struct rlimit limit;
    getrlimit (RLIMIT_NOFILE, &limit);
    if (limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= 300400)
        cr_skip_test ("RLIMIT_NOFILE's hard limit (%llu) fits any pool sbx accepts",
                      (unsigned long long) limit.rlim_max);
    char err [4096];
    int code = s_run_sbxd ("{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 100000}},"
                           " \"sandbox\": {\"kind\": \"testing\"}}", err, sizeof err);
    cr_assert_eq (code, 2, "exit %d: %s", code, err);
    cr_assert (strstr (err, "pool.max 100000") && strstr (err, "RLIMIT_NOFILE"), "stderr: %s", err);
}

//  --- 14. SIGTERM ----------------------------------------------------------------------------

Test (runtime, sigterm_shuts_down_gracefully, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 2, \"max\": 2}"));
    zsock_t *dealer = s_connect (daemon);
    s_session_t session = s_open (dealer);
    s_shell (dealer, &session, "working");

    pid_t pid = daemon->pid;
    cr_assert_eq (kill (pid, SIGTERM), 0);
    int code = sbx_test_daemon_wait (daemon, 20000);
    cr_assert_eq (code, 0, "sbxd exited with %d on SIGTERM", code);
    //  Reaped: nothing of it (threads included) is left.
    char proc [64];
    snprintf (proc, sizeof proc, "/proc/%d", (int) pid);
    struct stat st;
    cr_assert_neq (stat (proc, &st), 0, "the process is still there");
    cr_assert_eq (waitpid (-1, NULL, WNOHANG), -1, "a child process is left");

    s_assert_log_ends_with_shutdown (daemon);
    //  The open session was ended and every sandbox shut down cleanly.
    char line [512];
    snprintf (line, sizeof line, "[%s] session '%s' ended", session.sandbox, session.session);
    cr_assert_eq (sbx_test_log_count (daemon, line), 1, "no '%s'", line);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] sandbox shutdown"), 1);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/1:0] sandbox shutdown"), 1);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] shutting_down -> offline"), 1);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/1:0] shutting_down -> offline"), 1);
    //  Every event, environment.shutdown included, was published once.
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env] environment shutdown"), 1);

    s_close (&dealer);
    s_finish_exited (&daemon);
}

//  --- No pooling ---------------------------------------------------------------------------

//  min 0: every session gets a new sandbox <env>/<n>:0, n counting up, shut
//  down when its session ends; a user error at start is returned at once,
//  not retried, and the environment stays online.
Test (runtime, without_pooling_every_sandbox_is_new, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_CONFIG (S_TIMERS ", \"pool\": {\"min\": 0, \"max\": 0}",
                  ", \"simulate_start_error\": \"2*off->ValueError\"", S_FEATURE_F, ""));
    zsock_t *dealer = s_connect (daemon);
    s_session_t session = s_open (dealer);
    cr_assert_str_eq (session.sandbox, "testing-env/0:0");
    s_shell (dealer, &session, "first");
    s_end (dealer, &session);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0] sandbox shutdown", 1, S_WAIT),
               "a sandbox without pooling outlived its session");

    sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"eph\"}}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "sandbox"), "testing-env/1:0");
    cr_assert_str_eq (sbx_reply_get_str (reply, "result"), "shell \"eph\" succeeded");
    sbx_reply_destroy (&reply);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/1:0] sandbox shutdown", 1, S_WAIT));

    //  The third start fails with a user error: returned at once.
    reply = s_expect (dealer, "ValueError", "{\"op\": \"session.open\"}");
    cr_assert_str_eq (sbx_error_sandbox (sbx_reply_get_error (reply)), "testing-env/2:0");
    sbx_reply_destroy (&reply);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/2:0] sandbox started with ValueError", 1, S_WAIT));
    cr_assert_eq (s_log_count_like (daemon, "[testing-env/", "] sandbox started with ValueError"), 1);
    //  Still online, and the next sandbox is the next number.
    reply = s_expect (dealer, "ok", "{\"op\": \"hello\"}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "status"), "online");
    sbx_reply_destroy (&reply);
    reply = s_expect (dealer, "ValueError", "{\"op\": \"acquire\"}");
    cr_assert_str_eq (sbx_error_sandbox (sbx_reply_get_error (reply)), "testing-env/3:0",
                      "sandbox numbers skip: %s", sbx_error_sandbox (sbx_reply_get_error (reply)));
    sbx_reply_destroy (&reply);
    cr_assert_eq (s_stat (dealer, "pool.size"), 0);
    s_close (&dealer);
    s_finish (&daemon);
}

//  min 0 and a start that keeps failing with a state error: the acquire
//  retries until the grace period, then the environment goes offline.
Test (runtime, without_pooling_an_outage_fails_the_request_and_exits, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 0, \"max\": 0},"
        " \"outage_grace_period_s\": 0.2, \"outage_retry_interval_s\": 0.05, \"keepalive_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\", \"simulate_start_error\": \"SandboxStateError\"},"
        " \"features\": {\"f\": {\"kind\": \"testing\"}}}");
    zsock_t *dealer = s_connect (daemon);
    s_check (dealer, "EnvironmentOutageError", "{\"op\": \"session.open\"}");
    cr_assert_eq (sbx_test_daemon_wait (daemon, 20000), 1);
    //  Retried within the 0.2 s grace: at least twice, at most five times
    //  (failures at >= 0, 50, 100, 150, 200 ms).
    int attempts = s_log_count_like (daemon, "[testing-env/", "] sandbox started with SandboxStateError");
    cr_assert_geq (attempts, 2);
    cr_assert_leq (attempts, 5);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env] environment shutdown"), 1);
    s_close (&dealer);
    s_finish_exited (&daemon);
}

//  --- Lease and slow work -------------------------------------------------------------------

//  The lease is for a client that went away, not for one waiting on the
//  server: a session.start that takes longer than the lease (a slow
//  setup_session) must leave the session to its client.
Test (runtime, lease_does_not_lapse_while_the_sandbox_works_for_its_owner, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_CONFIG (S_TIMERS ", \"pool\": {\"min\": 1, \"max\": 1},"
                  " \"proactive_session_setup\": false, \"session_lease_s\": 0.2", "",
                  "\"f\": {\"kind\": \"testing\", \"setup_session_delay_ms\": 600}", ""));
    zsock_t *dealer = s_connect (daemon);
    s_session_t session = s_acquire (dealer);
    sbx_reply_t *reply = s_expect (dealer, "ok", "{\"op\": \"session.start\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
                      session.sandbox, session.token);
    snprintf (session.session, sizeof session.session, "%s", sbx_reply_get_str (reply, "session_id"));
    sbx_reply_destroy (&reply);
    //  At once, well within a fresh lease.
    s_shell (dealer, &session, "right after the start");
    char line [512];
    snprintf (line, sizeof line, "[testing-env/0:0] session '%s' ended with LeaseExpired", session.session);
    cr_assert_eq (sbx_test_log_count (daemon, line), 0);

    //  session.open with a slow setup: same.
    s_end (dealer, &session);
    session = s_open (dealer);
    s_shell (dealer, &session, "right after the open");
    s_end (dealer, &session);
    cr_assert_eq (s_stat (dealer, "counters.leases_expired"), 0);
    s_close (&dealer);
    s_finish (&daemon);
}

//  --- Errors through the wire (SPEC §2, §3.4, §3.6) -----------------------------------------

//  A user error in teardown_session: session.end returns a
//  SessionTeardownError naming the feature; the sandbox is reused.
Test (runtime, session_teardown_user_error_is_returned_and_sandbox_reused, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_CONFIG (S_TIMERS ", \"pool\": {\"min\": 1, \"max\": 1}", "",
                  "\"f\": {\"kind\": \"testing\", \"simulate_teardown_session_error\": \"ValueError\"},"
                  " \"g\": {\"kind\": \"testing\"}", ""));
    zsock_t *dealer = s_connect (daemon);
    s_session_t session = s_open (dealer);
    //  A user error in a call: returned, the session goes on.
    sbx_reply_t *reply = s_expect (dealer, "ValueError", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
                                   " \"method\": \"shell\", \"args\": {\"code\": \"x\", \"raise_error\": \"ValueError\"}}",
                                   session.sandbox, session.token);
    sbx_reply_destroy (&reply);
    s_shell (dealer, &session, "still in session");

    reply = s_expect (dealer, "SessionTeardownError", "{\"op\": \"session.end\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
                      session.sandbox, session.token);
    const sbx_error_t *error = sbx_reply_get_error (reply);
    cr_assert_eq (sbx_error_count (error), 1);
    const char *feature = NULL;
    const sbx_error_t *sub = sbx_error_at (error, 0, &feature);
    cr_assert_str_eq (feature, "f");
    cr_assert_str_eq (sbx_error_type (sub), "ValueError");
    sbx_reply_destroy (&reply);

    //  Not a state error: the same sandbox serves the next session.
    s_session_t next = s_open (dealer);
    cr_assert_str_eq (next.sandbox, "testing-env/0:0");
    s_shell (dealer, &next, "next");
    s_check (dealer, "SessionTeardownError", "{\"op\": \"session.end\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
             next.sandbox, next.token);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] sandbox shutdown"), 0);
    cr_assert_eq (s_stat (dealer, "counters.sandboxes_started"), 1);
    s_close (&dealer);
    s_finish (&daemon);
}

//  A feature method whose nested shell call hits a critical error: the
//  state error travels out, the outer activity is published, and the
//  sandbox shuts down once (SPEC §3.6, fix).
Test (runtime, nested_critical_error_shuts_the_sandbox_down_once, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}"));
    zsock_t *dealer = s_connect (daemon);
    s_session_t session = s_open (dealer);
    sbx_reply_t *reply = s_expect (dealer, "SandboxStateError", "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
                                   " \"feature\": \"f\", \"method\": \"bad_shell_call\"}", session.sandbox, session.token);
    sbx_reply_destroy (&reply);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:1] sandbox started", 1, S_WAIT));

    char **lines = sbx_test_log_lines (daemon, NULL);
    char inner [512], outer [512], ended [512];
    snprintf (inner, sizeof inner, "[testing-env/0:0/%s] shell: bad command with RuntimeError", session.session);
    snprintf (outer, sizeof outer, "[testing-env/0:0/%s] bad_shell_call: None with SandboxStateError", session.session);
    snprintf (ended, sizeof ended, "[testing-env/0:0] session '%s' ended with SandboxStateError", session.session);
    int at_inner = -1, at_outer = -1, at_end = -1, at_offline = -1, offline = 0;
    for (int i = 0; lines [i]; i++) {
        if (streq (lines [i], inner))
            at_inner = i;
        if (streq (lines [i], outer))
            at_outer = i;
        if (streq (lines [i], ended))
            at_end = i;
        if (streq (lines [i], "[testing-env/0:0] shutting_down -> offline")) {
            at_offline = i;
            offline++;
        }
    }
    sbx_test_lines_free (&lines);
    cr_assert_geq (at_inner, 0, "no '%s'", inner);
    cr_assert_gt (at_outer, at_inner, "no '%s' after the inner call", outer);
    cr_assert_gt (at_end, at_outer, "the session ended before the outer activity");
    cr_assert_gt (at_offline, at_end);
    cr_assert_eq (offline, 1);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] sandbox shutdown"), 1);
    s_close (&dealer);
    s_finish (&daemon);
}

//  setup_session fails with a user error (no proactive setup): the error
//  is returned with its own type, teardown_session pairs every
//  setup_session called, and the sandbox is replaced.
Test (runtime, session_start_user_error_is_returned_and_sandbox_replaced, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_CONFIG (S_TIMERS ", \"pool\": {\"min\": 1, \"max\": 1}, \"proactive_session_setup\": false", "",
                  S_FEATURE_F ", \"g\": {\"kind\": \"testing\", \"simulate_setup_session_error\": \"1*off->ValueError\"}",
                  ""));
    zsock_t *dealer = s_connect (daemon);
    s_session_t session = s_open (dealer);
    s_end (dealer, &session);
    sbx_reply_t *reply = s_expect (dealer, "ValueError", "{\"op\": \"session.open\", \"session_id\": \"doomed\"}");
    cr_assert_str_eq (sbx_error_sandbox (sbx_reply_get_error (reply)), "testing-env/0:0");
    sbx_reply_destroy (&reply);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:1] sandbox started", 1, S_WAIT));
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] session 'doomed' started with ValueError"), 1);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0/f] feature teardown session"), 2);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0/g] feature teardown session"), 2);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0/g] feature setup session with ValueError"), 1);
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0] sandbox shutdown"), 1);
    //  The token of the failed open was never given out; the new sandbox works.
    session = s_acquire (dealer);
    cr_assert_str_eq (session.sandbox, "testing-env/0:1");
    s_end (dealer, &session);
    s_close (&dealer);
    s_finish (&daemon);
}

//  A shutdown while clients wait: they get EnvironmentOutageError, the
//  session in progress is ended, and sbxd exits 0.
Test (runtime, shutdown_answers_waiting_clients, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}, \"session_lease_s\": 30"));
    zsock_t *holder = s_connect (daemon);
    zsock_t *waiter = s_connect (daemon);
    zsock_t *admin = sbx_test_connect_admin (daemon);
    s_session_t session = s_open (holder);
    s_sendf (waiter, "{\"op\": \"session.open\", \"id\": 9, \"timeout_ms\": 30000}");
    cr_assert (s_wait_stat (admin, "counters.acquires_waited", 1, S_WAIT));
    //  An admin op: refused on the request socket, taken on the admin one.
    s_check (holder, "Unauthorized", "{\"op\": \"shutdown\"}");
    s_check (admin, "ok", "{\"op\": \"shutdown\"}");
    sbx_reply_t *reply = s_recv (waiter, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), "EnvironmentOutageError");
    cr_assert_eq (sbx_reply_id (reply), 9);
    sbx_reply_destroy (&reply);
    cr_assert_eq (sbx_test_daemon_wait (daemon, 20000), 0);
    char line [512];
    snprintf (line, sizeof line, "[testing-env/0:0] session '%s' ended", session.session);
    cr_assert_eq (sbx_test_log_count (daemon, line), 1);
    s_close (&holder);
    s_close (&waiter);
    s_close (&admin);
    s_finish_exited (&daemon);
}

//  SIGINT is a graceful shutdown too.
Test (runtime, sigint_shuts_down_gracefully, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}"));
    cr_assert_eq (kill (daemon->pid, SIGINT), 0);
    int code = sbx_test_daemon_wait (daemon, 20000);
    cr_assert_eq (code, 0, "sbxd exited with %d on SIGINT", code);
    s_assert_log_ends_with_shutdown (daemon);
    s_finish_exited (&daemon);
}

//  Session ids show in logs and in the text form ("[sandbox/session] ..."):
//  empty, over-long, '/' or control characters are refused; a good one is
//  used as given.
Test (runtime, session_ids_are_checked, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (S_ENV (", \"pool\": {\"min\": 1, \"max\": 1}"));
    zsock_t *client = s_connect (daemon);
    char long_id [200];
    memset (long_id, 'a', sizeof long_id - 1);
    long_id [sizeof long_id - 1] = 0;
    const char *bad [] = {"", "a/b", "line\\nbreak", "tab\\there", long_id};
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_check (client, "BadRequest", "{\"op\": \"session.open\", \"session_id\": \"%s\"}", bad [i]);
        s_check (client, "BadRequest", "{\"op\": \"call\", \"method\": \"shell\", \"session_id\": \"%s\","
                 " \"args\": {\"code\": \"x\"}}", bad [i]);
    }
    sbx_reply_t *reply = s_expect (client, "ok", "{\"op\": \"session.open\", \"session_id\": \"my session-1.a\"}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "session_id"), "my session-1.a");
    s_session_t session;
    s_read_session (reply, &session, true);
    sbx_reply_destroy (&reply);
    s_end (client, &session);
    s_finish (&daemon);
}

//  SPEC §3.7: housekeeping runs on the sandbox's own timer; a user error is
//  published and the sandbox goes on, a state error shuts it down and the
//  slot is refilled.
Test (runtime, housekeeping_errors, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        S_CONFIG (S_TIMERS ", \"pool\": {\"min\": 1, \"max\": 1}", "",
                  "\"f\": {\"kind\": \"testing\", \"housekeep_interval_s\": 0.02,"
                  " \"simulate_housekeep_error\": \"1*off->ValueError\"},"
                  " \"g\": {\"kind\": \"testing\", \"housekeep_interval_s\": 0.02,"
                  " \"simulate_housekeep_error\": \"4*off->SandboxStateError\"}", ""));
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0/f] feature housekeep", 1, S_WAIT));
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0/f] feature housekeep with ValueError", 1, S_WAIT));
    //  The user error left the sandbox running: g's state error is what
    //  ends it, after its four good rounds.
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0/g] feature housekeep with SandboxStateError", 1, S_WAIT));
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0] ready -> shutting_down", 1, S_WAIT));
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:1] sandbox started", 1, S_WAIT));
    cr_assert_eq (sbx_test_log_count (daemon, "[testing-env/0:0/g] feature housekeep"), 4);
    s_finish (&daemon);
}

//  SPEC §3.7: the keepalive pings the backend; a state error from the ping
//  shuts the sandbox down and the slot is refilled with the next generation.
Test (runtime, keepalive_ping_failure_replaces_the_sandbox, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 1},"
        " \"outage_grace_period_s\": 30, \"outage_retry_interval_s\": 0, \"keepalive_interval_s\": 0.02},"
        " \"sandbox\": {\"kind\": \"testing\", \"simulate_ping_error\": \"2*off->SandboxStateError\"},"
        " \"features\": {\"f\": {\"kind\": \"testing\"}}}");
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0] ready -> shutting_down", 1, S_WAIT));
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:1] sandbox started", 1, S_WAIT));
    zsock_t *client = s_connect (daemon);
    sbx_reply_t *reply = s_expect (client, "ok", "{\"op\": \"status\"}");
    sbx_reply_destroy (&reply);
    s_finish (&daemon);
}

//  Restart intensity (docs/lifecycle.md): a sandbox that dies as soon as it
//  has started is refilled at full speed 10 times per second at most; the
//  next refill in the same second waits, so a broken slot cannot spin a
//  core. Each generation here fails its first keepalive ping (1 ms after
//  it is ready) with a state error. How long the wait is, is test_pool's
//  (restart_intensity_backs_off_the_eleventh_refill, on an injected
//  clock); here: the limit is reached, said, and the slot goes on.
Test (runtime, restart_intensity_backs_off, .timeout = 60)
{
    sbx_test_daemon_t *daemon = s_daemon (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 1},"
        " \"outage_grace_period_s\": 30, \"outage_retry_interval_s\": 0, \"keepalive_interval_s\": 0.001},"
        " \"sandbox\": {\"kind\": \"testing\", \"simulate_ping_error\": \"SandboxStateError\"},"
        " \"features\": {}}");
    cr_assert (sbx_test_wait_stderr (daemon, "slot 0 restarted 10 times within 1000 ms: next refill in 100 ms",
                                     S_WAIT), "the restart limit was never reached");
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:12] sandbox started", 1, S_WAIT));
    s_finish (&daemon);
}
