/*  A daemon no client can exhaust (docs/configuration.md "limits"): each
    limit reached gives a clear error and harms no one else. Memory figures
    are the benchmark's (bench/limits.c); here, the behaviour: what is
    refused, dropped, summarised, bounded, and what a stuck shutdown, a
    second daemon or a crashed one leave. */
#include "sandbox_util.h"
#include "messages/event.h"
#include "messages/request.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

static void
s_init (void)
{
    s_become_reaper ();
}

TestSuite (limits, .init = s_init, .fini = s_fini, .timeout = 120);

#define S_WAIT 10000
#define S_TESTING(environment, sections)                                          \
    "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 1}," \
    " \"keepalive_interval_s\": null" environment "},"                             \
    " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {\"f\": {\"kind\": \"testing\"}}" sections "}"

//  A testing-env daemon, once online.
static sbx_test_daemon_t *
s_started (const char *config)
{
    sbx_test_daemon_t *daemon = s_start_reachable (config);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env] environment started", 1, S_WAIT), "it did not start");
    return daemon;
}

static void
s_ok (zsock_t *dealer, const char *request)
{
    sbx_reply_t *reply = sbx_test_request (dealer, request, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s -> %s", request, s_why (reply));
    sbx_reply_destroy (&reply);
}

//  A body `size` bytes long: {"op": "hello", "x": "aaa..."}.
static uint8_t *
s_hello_of (size_t size)
{
    uint8_t *body = (uint8_t *) zmalloc (size);
    memcpy (body, "\x82\xa2op\xa5hello\xa1x\xdb", 13);
    uint32_t length = htonl ((uint32_t) (size - 17));
    memcpy (body + 13, &length, 4);
    memset (body + 17, 'a', size - 17);
    return body;
}

//  A body just over the limit is read and answered BadRequest; one more
//  than twice over it is never buffered: libzmq closes the connection.
Test (limits, oversized_bodies)
{
    sbx_test_daemon_t *daemon = s_started (S_TESTING ("", ", \"limits\": {\"max_body_bytes\": 65536}"));
    zsock_t *admin = sbx_test_connect (daemon);
    zsock_t *client = sbx_test_connect (daemon);
    uint8_t *body = s_hello_of (100000);
    sbx_reply_t *reply = sbx_test_request_raw (client, body, 100000, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), SBX_BAD_REQUEST);
    sbx_reply_destroy (&reply);
    free (body);
    uint64_t before = s_counter (admin, "peers_disconnected", S_WAIT);

    body = s_hello_of (1 << 20);
    cr_assert_null (sbx_test_request_raw (client, body, 1 << 20, 500), "a body of 1 MiB was answered");
    free (body);
    //  The close is counted (the monitor's events come in their own time).
    bool closed = false;
    for (int tries = 0; tries < 200 && !closed; tries++)
        closed = s_counter (admin, "peers_disconnected", S_WAIT) > before;
    cr_assert (closed, "the connection that sent 1 MiB was not closed");
    //  The client reconnects by itself, and is served.
    s_ok (client, "{\"op\": \"hello\"}");
    zsock_destroy (&client);
    zsock_destroy (&admin);
    s_finish (&daemon);
}

//  A client that sends and never reads: past its queue (limits.client_hwm)
//  its replies are dropped and counted, not kept; others are served.
Test (limits, replies_to_a_client_that_never_reads_are_dropped)
{
    sbx_test_daemon_t *daemon = s_started (S_TESTING ("",
        ", \"limits\": {\"client_hwm\": 4}, \"events\": {\"replay_bytes\": 65536}"));
    zsock_t *admin = sbx_test_connect (daemon);
    //  Events enough that a replay answer is its 64 KiB.
    for (int i = 0; i < 300; i++)
        s_ok (admin, "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"fill the journal\"}}");
    zsock_t *greedy = sbx_test_connect (daemon);
    zsock_set_rcvhwm (greedy, 1);
    zsock_set_rcvbuf (greedy, 4096);
    msgpack_sbuffer request;
    msgpack_sbuffer_init (&request);
    sbx_request_t replay = {.op = SBX_OP_EVENTS_REPLAY, .has_since = true, .since = 0};
    sbx_request_encode (&replay, &request);
    uint64_t dropped = 0;
    for (int round = 0; round < 50 && !dropped; round++) {
        for (int i = 0; i < 100; i++)
            cr_assert_eq (zmq_send (zsock_resolve (greedy), request.data, request.size, 0), (int) request.size);
        dropped = s_counter (admin, "replies_dropped", S_WAIT);
    }
    //  The bus answers replays in turn: on a slow machine the ones sent
    //  are still being answered (or dropped) when the sending is done.
    for (int64_t deadline = zclock_mono () + S_WAIT; !dropped && zclock_mono () < deadline; )
        dropped = s_counter (admin, "replies_dropped", S_WAIT);
    msgpack_sbuffer_destroy (&request);
    cr_assert_gt (dropped, 0, "no reply was dropped");
    s_ok (admin, "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"still served\"}}");
    zsock_destroy (&greedy);
    zsock_destroy (&admin);
    s_finish (&daemon);
}

//  Past limits.queued_per_sandbox jobs owed by one sandbox, more calls are
//  refused with EnvironmentOverloadError; those queued are answered.
Test (limits, a_sandbox_queue_is_bounded)
{
    sbx_test_daemon_t *daemon = s_start_reachable (
        "{\"environment\": {\"id\": \"q\", \"pool\": {\"min\": 1, \"max\": 1}},"
        " \"sandbox\": {\"kind\": \"process\"}, \"features\": {\"shell\": {\"kind\": \"shell\"}},"
        " \"limits\": {\"queued_per_sandbox\": 4}}");
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char release [512], request [1024];
    snprintf (release, sizeof release, "%s/release", daemon->dir);
    snprintf (request, sizeof request,
              "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
              " \"method\": \"run\", \"args\": {\"cmd\": \"while [ ! -e %s ]; do sleep 0.01; done\"}}",
              session.sandbox, session.token, release);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    json_t *json = json_loads (request, 0, NULL);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    sbx_mp_from_json (&packer, json);
    json_decref (json);
    for (int i = 0; i < 20; i++)
        cr_assert_eq (zmq_send (zsock_resolve (dealer), body.data, body.size, 0), (int) body.size);
    msgpack_sbuffer_destroy (&body);
    //  The first four are the sandbox's (one runs, three wait); the other
    //  sixteen are refused at once, before any of those ends.
    for (int i = 0; i < 16; i++) {
        sbx_reply_t *reply = sbx_test_reply_recv (dealer, S_WAIT);
        cr_assert_str_eq (sbx_test_reply_type (reply), SBX_OVERLOAD_ERROR, "%s", s_why (reply));
        cr_assert (strstr (sbx_error_message (sbx_reply_get_error (reply)), "limits.queued_per_sandbox"));
        sbx_reply_destroy (&reply);
    }
    FILE *file = fopen (release, "w");
    cr_assert_not_null (file);
    fclose (file);
    for (int i = 0; i < 4; i++) {
        sbx_reply_t *reply = sbx_test_reply_recv (dealer, S_WAIT);
        cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
        sbx_reply_destroy (&reply);
    }
    cr_assert_eq (s_counter (dealer, "calls_refused", S_WAIT), 16);
    s_end_clean (&daemon, &dealer, &session);
}

//  Past limits.waiting requests waiting for a sandbox, the next is refused
//  at once.
Test (limits, waiting_acquires_are_bounded)
{
    sbx_test_daemon_t *daemon = s_started (S_TESTING ("", ", \"limits\": {\"waiting\": 2}"));
    zsock_t *holder = sbx_test_connect (daemon);
    s_ok (holder, "{\"op\": \"session.open\"}");
    zsock_t *waiters = sbx_test_connect (daemon);
    cr_assert_null (sbx_test_request (waiters, "{\"op\": \"session.open\", \"id\": 1}", 0));
    cr_assert_null (sbx_test_request (waiters, "{\"op\": \"session.open\", \"id\": 2}", 0));
    zsock_t *late = sbx_test_connect (daemon);
    //  The two are queued once stats (after them on the same pipe) answers.
    while (s_counter (late, "acquires_waited", S_WAIT) < 2)
        ;
    sbx_reply_t *reply = sbx_test_request (late, "{\"op\": \"session.open\", \"timeout_ms\": 60000}", S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), SBX_OVERLOAD_ERROR);
    cr_assert (strstr (sbx_error_message (sbx_reply_get_error (reply)), "limits.waiting"));
    sbx_reply_destroy (&reply);
    cr_assert_eq (s_counter (late, "acquires_refused", S_WAIT), 1);
    zsock_destroy (&late);
    zsock_destroy (&waiters);
    zsock_destroy (&holder);
    s_finish (&daemon);
}

//  The JSON args of the session.activity of session `session` in the log.
static json_t *
s_activity_args (sbx_test_daemon_t *daemon, const char *session)
{
    FILE *file = fopen (daemon->log_path, "r");
    cr_assert_not_null (file);
    char *line = NULL;
    size_t size = 0;
    json_t *args = NULL;
    while (!args && getline (&line, &size, file) > 0) {
        json_t *event = json_loads (line, 0, NULL);
        const char *name = json_string_value (json_object_get (event, "event"));
        const char *id = json_string_value (json_object_get (event, "session"));
        if (name && streq (name, "session.activity") && id && streq (id, session))
            args = json_incref (json_object_get (event, "args"));
        json_decref (event);
    }
    free (line);
    fclose (file);
    cr_assert_not_null (args, "no activity of session %s", session);
    return args;
}

//  session.activity args are summarised by default: data and stdin become
//  their size, env its number of variables, a long string is cut and says
//  its length, long binary data becomes its size; with events.args "full"
//  they are as given. The event log is its owner's only.
Test (limits, activity_args_are_summarised_and_the_log_is_private)
{
    char note [1001];
    memset (note, 'n', 1000);
    note [1000] = 0;
    char request [4096];
    snprintf (request, sizeof request,
              "{\"op\": \"call\", \"method\": \"shell\", \"session_id\": \"s\","
              " \"args\": {\"code\": \"c\", \"data\": \"secret file\", \"stdin\": \"secret input\","
              " \"env\": {\"TOKEN\": \"secret\", \"B\": \"2\"}, \"note\": \"%s\"}}", note);
    for (int full = 0; full <= 1; full++) {
        sbx_test_daemon_t *daemon = s_started (full ? S_TESTING ("", ", \"events\": {\"args\": \"full\"}")
                                                    : S_TESTING ("", ""));
        zsock_t *dealer = sbx_test_connect (daemon);
        s_ok (dealer, request);
        cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0] session 's' ended", 1, S_WAIT));
        struct stat info;
        cr_assert_eq (stat (daemon->log_path, &info), 0);
        cr_assert_eq (info.st_mode & 0777, 0600, "the event log is %o", info.st_mode & 0777);
        json_t *args = s_activity_args (daemon, "s");
        char *text = json_dumps (args, JSON_COMPACT | JSON_SORT_KEYS);
        if (full) {
            cr_assert (strstr (text, "\"data\":\"secret file\""), "%s", text);
            cr_assert (strstr (text, note), "%s", text);
        }
        else {
            cr_assert_null (strstr (text, "secret"), "a secret reached the log: %s", text);
            cr_assert_eq (json_integer_value (json_object_get (args, "data")), 11);
            cr_assert_eq (json_integer_value (json_object_get (args, "stdin")), 12);
            cr_assert_eq (json_integer_value (json_object_get (args, "env")), 2);
            const char *cut = json_string_value (json_object_get (args, "note"));
            cr_assert_not_null (cut);
            cr_assert (strstr (cut, " ... (1000 bytes)"), "note: %s", cut);
            cr_assert_lt (strlen (cut), 300);
            cr_assert_str_eq (json_string_value (json_object_get (args, "code")), "c");
        }
        free (text);
        json_decref (args);
        zsock_destroy (&dealer);
        s_finish (&daemon);
    }
}

//  The journal holds at most events.journal_bytes; a replay answer at
//  most events.replay_bytes (and says there is more).
Test (limits, journal_and_replays_are_bounded_in_bytes)
{
    sbx_test_daemon_t *daemon = s_started (S_TESTING ("",
        ", \"events\": {\"journal_bytes\": 65536, \"replay_bytes\": 4096}"));
    zsock_t *dealer = sbx_test_connect (daemon);
    for (int i = 0; i < 200; i++)
        s_ok (dealer, "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"grow the journal\"}}");
    size_t kept = 0;
    uint64_t since = 0;
    bool truncated_seen = false;
    while (true) {
        char request [128];
        snprintf (request, sizeof request, "{\"op\": \"events.replay\", \"since\": %llu}", (unsigned long long) since);
        sbx_reply_t *reply = sbx_test_request (dealer, request, S_WAIT);
        cr_assert_str_eq (sbx_test_reply_type (reply), "ok");
        const msgpack_object *events = sbx_reply_get (reply, "events");
        const msgpack_object *more = sbx_reply_get (reply, "more");
        const msgpack_object *truncated = sbx_reply_get (reply, "truncated");
        truncated_seen |= truncated && truncated->type == MSGPACK_OBJECT_BOOLEAN && truncated->via.boolean;
        msgpack_sbuffer packed;
        msgpack_sbuffer_init (&packed);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &packed, msgpack_sbuffer_write);
        msgpack_pack_object (&packer, *events);
        cr_assert_leq (packed.size, 4096 + 8, "a replay answer held %zu bytes of events", packed.size);
        msgpack_sbuffer_destroy (&packed);
        kept += events->via.array.size;
        since = sbx_reply_get (reply, "next")->via.u64;
        bool again = more && more->type == MSGPACK_OBJECT_BOOLEAN && more->via.boolean;
        cr_assert (again || events->via.array.size == 0 || since > 0);
        sbx_reply_destroy (&reply);
        if (!again)
            break;
    }
    cr_assert (truncated_seen, "the journal kept everything");
    //  About 200 bytes an event: 64 KiB hold a few hundred, not the ~2,000.
    cr_assert_lt (kept, 600, "%zu events kept in 64 KiB", kept);
    cr_assert_gt (kept, 100);
    zsock_destroy (&dealer);
    s_finish (&daemon);
}

//  One daemon per environment: a second one on the same root_dir and id
//  exits 2 naming the first's pid.
Test (limits, a_second_daemon_for_the_environment_is_refused)
{
    sbx_test_daemon_t *first = s_started (S_TESTING ("", ""));
    char config [2048], path [600];
    snprintf (config, sizeof config, S_TESTING (", \"root_dir\": \"%s\"", ""), first->root_dir);
    snprintf (path, sizeof path, "%s/second.json", first->dir);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    fputs (config, file);
    fclose (file);
    char command [1024];
    snprintf (command, sizeof command, "%s/sbxd -c %s --requests tcp://127.0.0.1:* --events tcp://127.0.0.1:* 2>&1",
              SBX_BUILD_DIR, path);
    FILE *second = popen (command, "r");
    cr_assert_not_null (second);
    char said [1024] = "";
    size_t n = fread (said, 1, sizeof said - 1, second);
    said [n] = 0;
    int status = pclose (second);
    cr_assert_eq (WEXITSTATUS (status), 2, "the second daemon exited %d: %s", WEXITSTATUS (status), said);
    char pid [32];
    snprintf (pid, sizeof pid, "pid %d", (int) first->pid);
    cr_assert (strstr (said, pid), "it does not name the first's pid: %s", said);
    //  The first goes on.
    zsock_t *dealer = sbx_test_connect (first);
    s_ok (dealer, "{\"op\": \"session.open\"}");
    zsock_destroy (&dealer);
    s_finish (&first);
}

//  After kill -9, the next daemon on the same root removes what the dead
//  one left (its sandbox directories, user files in them) and says so.
Test (limits, a_crashed_run_is_cleaned_up_at_the_next_start)
{
    const char *config_text =
        "{\"environment\": {\"id\": \"penv\", \"pool\": {\"min\": 1, \"max\": 1}},"
        " \"sandbox\": {\"kind\": \"process\"}, \"features\": {\"fs\": {\"kind\": \"fs\"}}}";
    sbx_test_daemon_t *first = s_start_reachable (config_text);
    s_session_t session;
    zsock_t *dealer = s_connect_open (first, &session);
    sbx_reply_t *reply = sbx_test_requestf (dealer, S_WAIT,
        "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"fs\", \"method\": \"write\","
        " \"args\": {\"path\": \"left.txt\", \"data\": \"user file\"}}", session.sandbox, session.token);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    zsock_destroy (&dealer);
    char left [600];
    snprintf (left, sizeof left, "%s/penv/0:0/workspace/left.txt", first->root_dir);
    cr_assert_eq (access (left, F_OK), 0, "no %s", left);
    kill (first->pid, SIGKILL);
    cr_assert_eq (sbx_test_daemon_wait (first, S_WAIT), 128 + SIGKILL);

    sbx_test_daemon_t *second = s_start_after (first, config_text);
    char removed [700];
    snprintf (removed, sizeof removed, "removed %s/penv/0:0, left by an earlier run", first->root_dir);
    cr_assert (sbx_test_wait_stderr (second, removed, S_WAIT), "it did not say '%s'", removed);
    cr_assert (sbx_test_wait_log (second, "[penv/0:0] sandbox started", 1, S_WAIT));
    cr_assert_neq (access (left, F_OK), 0, "the old user file is still there");
    cr_assert_eq (sbx_test_daemon_shutdown (second), 0);
    s_destroy_after (&second, &first);
}

//  A hook that hangs cannot hold the daemon: past shutdown_timeout_s it
//  publishes what it can, names the stuck sandbox and exits 1 - or at once
//  on a second signal.
Test (limits, a_stuck_shutdown_gives_up)
{
    for (int second_signal = 0; second_signal <= 1; second_signal++) {
        sbx_test_daemon_t *daemon = s_start_reachable (second_signal
            ? "{\"environment\": {\"id\": \"stuck\", \"pool\": {\"min\": 1, \"max\": 1},"
              " \"shutdown_timeout_s\": 3600, \"keepalive_interval_s\": null},"
              " \"sandbox\": {\"kind\": \"process\"},"
              " \"features\": {\"f\": {\"kind\": \"testing\", \"setup_session_delay_ms\": 3600000}}}"
            : "{\"environment\": {\"id\": \"stuck\", \"pool\": {\"min\": 1, \"max\": 1},"
              " \"shutdown_timeout_s\": 0.3, \"keepalive_interval_s\": null},"
              " \"sandbox\": {\"kind\": \"process\"},"
              " \"features\": {\"f\": {\"kind\": \"testing\", \"setup_session_delay_ms\": 3600000}}}");
        //  The sandbox's proactive setup_session hangs: it never starts.
        cr_assert (sbx_test_wait_log (daemon, "[stuck/0:0/f] feature setup", 1, S_WAIT));
        cr_assert_eq (kill (daemon->pid, SIGTERM), 0);
        if (second_signal) {
            cr_assert (sbx_test_wait_stderr (daemon, "shutting down", S_WAIT));
            cr_assert_eq (kill (daemon->pid, SIGTERM), 0);
        }
        cr_assert_eq (sbx_test_daemon_wait (daemon, 20000), 1);
        cr_assert (sbx_test_wait_stderr (daemon, "giving up on sandboxes: stuck/0:0", 0));
        size_t count = 0;
        char **lines = sbx_test_log_lines (daemon, &count);
        cr_assert_gt (count, 0);
        cr_assert_str_eq (lines [count - 1], "[stuck] environment shutdown with ShutdownTimeout");
        sbx_test_lines_free (&lines);
        cr_assert_eq (s_children (getpid ()), 0, "processes of sbxd survived it");
        cr_assert (sbx_test_dir_entries (daemon->root_dir) <= 0 ||
                   sbx_test_dir_entries (daemon->root_dir) == 1, "entries left under %s", daemon->root_dir);
        char env_dir [400];
        snprintf (env_dir, sizeof env_dir, "%s/stuck", daemon->root_dir);
        cr_assert (sbx_test_dir_entries (env_dir) <= 0, "sandbox directories left under %s", env_dir);
        s_running = NULL;
        sbx_test_daemon_destroy (&daemon);
    }
}

//  1,500 connections held open without a word (half-open as far as
//  ZeroMQ knows: they never finish the handshake, and libzmq closes them
//  after 10 s), with sbxd started at a soft descriptor limit of 1,024: it
//  raises the limit, and sessions, commands and files work, with no state
//  error.
Test (limits, held_connections_do_not_starve_sandboxes, .timeout = 180)
{
    sbx_test_nofile_soft = 1024;
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    sbx_test_nofile_soft = 0;
    int port = 0;
    cr_assert_eq (sscanf (strrchr (daemon->requests, ':') + 1, "%d", &port), 1);
    enum { S_HELD = 1500 };
    int *held = (int *) zmalloc (S_HELD * sizeof (int));
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    for (int i = 0; i < S_HELD; i++) {
        held [i] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq (held [i], 0, "socket %d: %s", i, strerror (errno));
        cr_assert_eq (connect (held [i], (struct sockaddr *) &address, sizeof address), 0,
                      "connect %d: %s", i, strerror (errno));
    }
    //  It raised its soft descriptor limit to the hard one.
    char path [64], limits [4096];
    snprintf (path, sizeof path, "/proc/%d/limits", (int) daemon->pid);
    cr_assert_gt (s_read_proc (path, limits, sizeof limits), 0);
    unsigned long soft = 0, hard = 0;
    const char *line = strstr (limits, "Max open files");
    cr_assert (line && sscanf (line, "Max open files %lu %lu", &soft, &hard) == 2);
    cr_assert_eq (soft, hard, "the soft limit stayed at %lu (hard %lu)", soft, hard);
    zsock_t *dealer = sbx_test_connect (daemon);
    for (int round = 0; round < 3; round++) {
        s_session_t session;
        s_open (dealer, &session);
        char out [64];
        cr_assert_str_eq (s_sh_out (dealer, &session, "echo still working", out, sizeof out), "still working\n");
        sbx_reply_t *reply = sbx_test_requestf (dealer, S_WAIT,
            "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"fs\", \"method\": \"write\","
            " \"args\": {\"path\": \"f.txt\", \"data\": \"x\"}}", session.sandbox, session.token);
        cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
        sbx_reply_destroy (&reply);
        s_close_session (dealer, &session);
    }
    sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"status\"}", S_WAIT);
    const msgpack_object *sandboxes = sbx_reply_get (reply, "sandboxes");
    for (uint32_t i = 0; i < sandboxes->via.array.size; i++) {
        const msgpack_object *errors = sbx_mp_map_get (&sandboxes->via.array.ptr [i], "state_errors");
        cr_assert (!errors || errors->via.array.size == 0, "a sandbox met a state error");
    }
    sbx_reply_destroy (&reply);
    for (int i = 0; i < S_HELD; i++)
        close (held [i]);
    free (held);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

//  Past limits.peers connections to the request and event endpoints
//  together, the next handshake is refused (logged, counted) on either
//  socket, and those in are still served; once connections close, a new
//  one gets in. (libzmq does not retry a connection whose handshake was
//  refused: the client connects again.) The admin endpoint is not counted.
Test (limits, connections_past_limits_peers_are_refused)
{
    sbx_test_daemon_t *daemon = s_started (S_TESTING ("", ", \"limits\": {\"peers\": 3}"));
    zsock_t *admin = sbx_test_connect_admin (daemon);
    cr_assert_not_null (admin);
    zsock_t *clients [3];
    for (int i = 0; i < 3; i++) {
        clients [i] = sbx_test_connect (daemon);
        s_ok (clients [i], "{\"op\": \"hello\"}");
    }
    zsock_t *subscriber = zsock_new_sub (daemon->events, "");
    cr_assert_not_null (subscriber);
    cr_assert (sbx_test_wait_stderr (daemon, "refused a handshake on the events socket from", S_WAIT),
               "a fourth connection, to the events endpoint, was not refused");
    zsock_t *late = sbx_test_connect (daemon);
    msgpack_sbuffer hello;
    msgpack_sbuffer_init (&hello);
    sbx_request_t request = {.op = SBX_OP_HELLO, .has_id = true, .id = 7};
    sbx_request_encode (&request, &hello);
    //  Without blocking: a connection refused before this send leaves the
    //  socket nowhere to send, and libzmq does not connect again.
    zmq_send (zsock_resolve (late), hello.data, hello.size, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy (&hello);
    cr_assert (sbx_test_wait_stderr (daemon, "refused a handshake on the requests socket from", S_WAIT),
               "a fourth connection, to the request endpoint, was not refused");
    cr_assert (sbx_test_wait_stderr (daemon, "limits.peers (3) connections are open", S_WAIT));
    cr_assert_geq (s_counter (admin, "peers_refused", S_WAIT), 2);
    //  Those in are still served.
    s_ok (clients [2], "{\"op\": \"status\"}");
    cr_assert_null (sbx_test_reply_recv (late, 0), "the refused connection was answered");
    zsock_destroy (&late);
    zsock_destroy (&subscriber);
    //  Room again: a new connection is served.
    zsock_destroy (&clients [0]);
    bool served = false;
    for (int tries = 0; tries < 100 && !served; tries++) {
        //  Until the daemon has seen the close, a new one may be refused.
        zsock_t *again = sbx_test_connect (daemon);
        sbx_reply_t *reply = sbx_test_request (again, "{\"op\": \"hello\"}", 100);
        served = reply && streq (sbx_test_reply_type (reply), "ok");
        sbx_reply_destroy (&reply);
        zsock_destroy (&again);
    }
    cr_assert (served, "no new connection was served once one had closed");
    zsock_destroy (&clients [1]);
    zsock_destroy (&clients [2]);
    zsock_destroy (&admin);
    s_finish (&daemon);
}

//  ipc:// socket files go with the daemon.
Test (limits, ipc_socket_files_are_removed)
{
    char dir [] = "/tmp/sbx-ipc-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char config [1024];
    snprintf (config, sizeof config, S_TESTING ("",
              ", \"endpoints\": {\"requests\": \"ipc://%s/req\", \"events\": \"ipc://%s/ev\"}"), dir, dir);
    sbx_test_daemon_t *daemon = s_started (config);
    cr_assert_eq (sbx_test_dir_entries (dir), 2);
    s_finish (&daemon);
    cr_assert_eq (sbx_test_dir_entries (dir), 0, "socket files left in %s", dir);
    rmdir (dir);
}
