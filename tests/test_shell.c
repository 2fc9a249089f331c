/*  The shell feature on a real sbxd (features/shell.c, docs/sandboxes.md):
    exit codes, stdin, env, cwd, large output, timeouts, sessions. */
#include "sandbox_util.h"
#include "messages/event.h"

#include <sys/stat.h>

static void
s_init (void)
{
    s_become_reaper ();
}

TestSuite (shell, .init = s_init, .fini = s_fini, .timeout = 120);

Test (shell, exit_codes_and_signals)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_sh (dealer, &session, "echo hello; echo oops >&2");
    char text [256];
    cr_assert_eq (s_result_int (reply, "exit_code"), 0);
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), "hello\n");
    cr_assert_str_eq (s_result_text (reply, "stderr", text, sizeof text, NULL), "oops\n");
    cr_assert_not (s_result_bool (reply, "timed_out"));
    cr_assert_not (s_result_bool (reply, "truncated"));
    cr_assert (s_result (reply, "signal")->type == MSGPACK_OBJECT_NIL);
    const msgpack_object *duration = s_result (reply, "duration_ms");
    cr_assert (duration && duration->type == MSGPACK_OBJECT_FLOAT64 && duration->via.f64 > 0);
    cr_assert_eq (s_result_int (reply, "timeout_ms"), 60000, "the feature's own limit");
    sbx_reply_destroy (&reply);

    reply = s_sh (dealer, &session, "exit 3");
    cr_assert_eq (s_result_int (reply, "exit_code"), 3);
    sbx_reply_destroy (&reply);

    reply = s_sh (dealer, &session, "kill -9 $$");
    cr_assert_eq (s_result_int (reply, "exit_code"), 128 + 9);
    cr_assert_eq (s_result_int (reply, "signal"), 9);
    sbx_reply_destroy (&reply);

    reply = s_sh (dealer, &session, "no-such-command-here");
    cr_assert_eq (s_result_int (reply, "exit_code"), 127);
    sbx_reply_destroy (&reply);

    s_end_clean (&daemon, &dealer, &session);
}

Test (shell, stdin_text_and_binary)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_call (dealer, &session, "shell", "run", "{\"cmd\": \"cat; echo .\", \"stdin\": \"line one\\nline two\\n\"}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    char text [256];
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), "line one\nline two\n.\n");
    sbx_reply_destroy (&reply);

    //  Every byte value through cat: not UTF-8, so it comes back as bin.
    char bytes [256];
    for (int i = 0; i < 256; i++)
        bytes [i] = (char) i;
    reply = s_call_bin (dealer, &session, "shell", "run", "cmd", "cat", "stdin", bytes, sizeof bytes, 30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    const msgpack_object *out = s_result (reply, "stdout");
    cr_assert_eq (out->type, MSGPACK_OBJECT_BIN);
    cr_assert_eq (out->via.bin.size, sizeof bytes);
    cr_assert_eq (memcmp (out->via.bin.ptr, bytes, sizeof bytes), 0);
    sbx_reply_destroy (&reply);

    //  A command that never reads its stdin does not hang the call.
    reply = s_call (dealer, &session, "shell", "run", "{\"cmd\": \"exit 0\", \"stdin\": \"%0*d\"}", 4000, 0);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);

    s_end_clean (&daemon, &dealer, &session);
}

Test (shell, clean_environment_with_overrides)
{
    //  sbxd's own environment must not reach commands.
    setenv ("SBX_TEST_LEAK", "leaked", 1);
    sbx_test_daemon_t *daemon = s_daemon (NULL,
        "{\"shell\": {\"kind\": \"shell\", \"env\": {\"FROM_CONFIG\": \"c\", \"LANG\": null}}}");
    unsetenv ("SBX_TEST_LEAK");
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_call (dealer, &session, "shell", "run",
        "{\"cmd\": \"echo $FOO/$FROM_CONFIG/${LANG-unset}/${SBX_TEST_LEAK-none}; echo $PATH; cd && pwd\","
        " \"env\": {\"FOO\": \"bar baz\", \"FROM_CONFIG\": \"call\"}}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    char text [1024], expected [1024];
    snprintf (expected, sizeof expected, "bar baz/call/unset/none\n"
              "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n%s/penv/0:0/workspace\n", daemon->root_dir);
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), expected);
    sbx_reply_destroy (&reply);

    s_end_clean (&daemon, &dealer, &session);
}

Test (shell, cwd_is_confined)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    char text [1024];
    s_sh_out (dealer, &session, "mkdir -p sub/dir && touch file && ln -s / root && ln -s sub/dir inside", text, sizeof text);
    sbx_reply_t *reply = s_call (dealer, &session, "shell", "run", "{\"cmd\": \"pwd\", \"cwd\": \"sub/dir\"}");
    char expected [1024];
    snprintf (expected, sizeof expected, "%s/penv/0:0/workspace/sub/dir\n", daemon->root_dir);
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), expected);
    sbx_reply_destroy (&reply);
    reply = s_call (dealer, &session, "shell", "run", "{\"cmd\": \"pwd\", \"cwd\": \"inside/\"}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "a link that stays inside is fine: %s", s_why (reply));
    sbx_reply_destroy (&reply);

    static const struct {
        const char *cwd, *type;
    } bad [] = {
        {"..", "PermissionError"}, {"sub/../..", "PermissionError"}, {"/etc", "PermissionError"},
        {"root", "PermissionError"}, {"root/etc", "PermissionError"}, {"nope", "FileNotFoundError"},
        {"file", "NotADirectoryError"}
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        reply = s_call (dealer, &session, "shell", "run", "{\"cmd\": \"pwd\", \"cwd\": \"%s\"}", bad [i].cwd);
        cr_assert_str_eq (sbx_test_reply_type (reply), bad [i].type, "cwd %s: %s", bad [i].cwd, s_why (reply));
        sbx_reply_destroy (&reply);
    }
    //  The session goes on.
    s_sh_says (dealer, &session, "ls", "file\ninside\nroot\nsub\n");

    s_end_clean (&daemon, &dealer, &session);
}

Test (shell, large_output_is_capped_without_deadlock)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    //  64 MiB on each stream at once; the default cap keeps 1 MiB of each.
    sbx_reply_t *reply = s_sh (dealer, &session,
        "(head -c 67108864 /dev/zero | tr '\\0' a) & (head -c 67108864 /dev/zero | tr '\\0' b >&2); wait; echo done >&2");
    cr_assert_eq (s_result_int (reply, "exit_code"), 0);
    cr_assert (s_result_bool (reply, "truncated"));
    cr_assert_not (s_result_bool (reply, "timed_out"));
    const msgpack_object *out = s_result (reply, "stdout"), *err = s_result (reply, "stderr");
    cr_assert_eq (out->type, MSGPACK_OBJECT_STR);
    cr_assert_eq (out->via.str.size, 1024 * 1024);
    cr_assert_eq (err->via.str.size, 1024 * 1024);
    cr_assert (out->via.str.ptr [0] == 'a' && out->via.str.ptr [1024 * 1024 - 1] == 'a');
    cr_assert (err->via.str.ptr [0] == 'b');
    sbx_reply_destroy (&reply);

    s_end_clean (&daemon, &dealer, &session);
}

Test (shell, large_stdin_and_output_together)
{
    //  8 MiB in through cat and 8 MiB out, under a cap that keeps it all:
    //  writing stdin before reading stdout would deadlock.
    sbx_test_daemon_t *daemon = s_daemon (NULL,
        "{\"shell\": {\"kind\": \"shell\", \"max_output_bytes\": 8388608}}");
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    size_t size = 8 * 1024 * 1024;
    char *data = (char *) malloc (size);
    for (size_t i = 0; i < size; i++)
        data [i] = (char) ('a' + i % 26);
    sbx_reply_t *reply = s_call_bin (dealer, &session, "shell", "run", "cmd", "cat; cat /dev/null >&2", "stdin", data,
                                     size, 60000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    cr_assert_not (s_result_bool (reply, "truncated"));
    const msgpack_object *out = s_result (reply, "stdout");
    cr_assert_eq (out->via.str.size, size);
    cr_assert_eq (memcmp (out->via.str.ptr, data, size), 0);
    sbx_reply_destroy (&reply);
    free (data);

    s_end_clean (&daemon, &dealer, &session);
}

Test (shell, timeout_kills_the_whole_tree)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_call (dealer, &session, "shell", "run",
        "{\"cmd\": \"sleep 100 & setsid sleep 100 & (sh -c 'sleep 100 & sleep 100' &); echo started; sleep 100\","
        " \"timeout_ms\": 500}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "a timeout is not an error: %s", s_why (reply));
    cr_assert (s_result_bool (reply, "timed_out"));
    cr_assert_eq (s_result_int (reply, "exit_code"), -1);
    cr_assert_eq (s_result_int (reply, "timeout_ms"), 500, "the limit it ran under");
    char text [256];
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), "started\n");
    //  Its own clock says it ran to the limit, not past the reply.
    const msgpack_object *ran = s_result (reply, "duration_ms");
    cr_assert (ran && ran->type == MSGPACK_OBJECT_FLOAT64 && ran->via.f64 >= 500.0, "duration_ms %g",
               ran ? ran->via.f64 : -1.0);
    sbx_reply_destroy (&reply);
    //  Killed before the reply: nothing of it is left, and the session
    //  goes on.
    cr_assert_eq (s_tagged (s_tag ()), 0, "processes survived the timeout");
    s_sh_says (dealer, &session, "echo alive", "alive\n");

    s_end_clean (&daemon, &dealer, &session);
}

Test (shell, shutdown_does_not_wait_for_a_running_command)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    //  A command allowed ten minutes.
    s_call_later (dealer, &session, "shell", "run", "{\"cmd\": \"sleep 600 & sleep 600\", \"timeout_ms\": 600000}");
    //  A second call queues behind it: by its turn the shutdown has begun,
    //  and it does not start at all.
    s_call_later (dealer, &session, "shell", "run", "{\"cmd\": \"echo started; sleep 600\"}");
    //  The shutdown comes on another connection, which the environment may
    //  read first: the answer to a later request on this one says both
    //  calls were read (and passed on to the sandbox) before it. The
    //  shutdown (30 s at most here, or the daemon is killed and the exit
    //  code says so) kills the command and answers the call first.
    char root [320];
    s_shutdown_after_calls (daemon, dealer, root, sizeof root);
    sbx_reply_t *reply = sbx_test_reply_recv (dealer, 1000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    cr_assert (s_result_bool (reply, "cancelled"));
    cr_assert_not (s_result_bool (reply, "timed_out"));
    cr_assert_eq (s_result_int (reply, "exit_code"), -1);
    sbx_reply_destroy (&reply);
    reply = sbx_test_reply_recv (dealer, 1000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    cr_assert (s_result_bool (reply, "cancelled"));
    cr_assert_eq (s_result_int (reply, "exit_code"), -1);
    char text [64];
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), "", "it ran");
    //  Never started: no time between start and exit.
    const msgpack_object *duration = sbx_mp_map_get (sbx_reply_get (reply, "result"), "duration_ms");
    cr_assert (duration && duration->type == MSGPACK_OBJECT_FLOAT64 && duration->via.f64 == 0.0,
               "the queued command started (duration_ms %g)", duration ? duration->via.f64 : -1.0);
    sbx_reply_destroy (&reply);
    s_nothing_left (&daemon, &dealer, root, "the command");
}

Test (shell, state_kept_in_session_wiped_between)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    char text [1024];
    s_sh_out (dealer, &session, "echo kept > f && mkdir -p d/e && touch .hidden d/e/x && (sleep 1000 &)", text, sizeof text);
    s_sh_says (dealer, &session, "cat f; ls -A", "kept\n.hidden\nd\nf\n");
    cr_assert_eq (s_tagged (s_tag ()), 1, "the background sleep runs on within the session");
    s_close_session (dealer, &session);
    //  Session teardown happened before the reply.
    cr_assert_eq (s_tagged (s_tag ()), 0, "session end kills what the session left running");

    s_session_t next;
    s_open (dealer, &next);
    cr_assert_str_eq (next.sandbox, session.sandbox, "a pool of one reuses its sandbox");
    s_sh_out (dealer, &next, "ls -A | wc -l", text, sizeof text);
    cr_assert_str_eq (text, "0\n", "the next session starts from a clean directory");
    s_close_session (dealer, &next);

    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (shell, bad_arguments_are_value_errors)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    static const struct {
        const char *args, *key;
    } bad [] = {
        {"{}", "'cmd'"}, {"{\"cmd\": 5}", "'cmd'"}, {"{\"cmd\": \"true\", \"timeout_ms\": 0}", "'timeout_ms'"},
        {"{\"cmd\": \"true\", \"timeout_ms\": \"soon\"}", "'timeout_ms'"},
        {"{\"cmd\": \"true\", \"timeout_ms\": 99999999999}", "'timeout_ms'"},
        {"{\"cmd\": \"true\", \"stdin\": 5}", "'stdin'"}, {"{\"cmd\": \"true\", \"env\": [1]}", "'env'"},
        {"{\"cmd\": \"true\", \"env\": {\"A=B\": \"x\"}}", "'env'"}, {"{\"cmd\": \"true\", \"env\": {\"A\": 1}}", "'env'"},
        {"{\"cmd\": \"true\", \"cwd\": 1}", "'cwd'"}, {"{\"cmd\": \"true\", \"bogus\": 1}", "'bogus'"}
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        sbx_reply_t *reply = s_call (dealer, &session, "shell", "run", "%s", bad [i].args);
        cr_assert_str_eq (sbx_test_reply_type (reply), "ValueError", "%s: %s", bad [i].args, s_why (reply));
        cr_assert (strstr (s_why (reply), bad [i].key), "%s: message '%s' names %s", bad [i].args,
                   s_why (reply), bad [i].key);
        sbx_reply_destroy (&reply);
    }
    s_sh_says (dealer, &session, "echo still here", "still here\n");

    s_end_clean (&daemon, &dealer, &session);
}

//  A command longer than Linux takes for one argument (128 KiB) fails in
//  exec, inside the sandbox: the start failure comes back as a user error
//  and the sandbox goes on.
Test (shell, a_command_that_cannot_start_is_an_os_error)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    size_t size = 140 * 1024;
    char *cmd = (char *) malloc (size + 1);
    memcpy (cmd, "echo ", 5);
    memset (cmd + 5, 'x', size - 5);
    cmd [size] = 0;
    sbx_reply_t *reply = s_call_bin (dealer, &session, "shell", "run", "cmd", cmd, NULL, NULL, 0, 30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "OSError", "%s", s_why (reply));
    cr_assert (strstr (s_why (reply), "too long"), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    free (cmd);
    s_sh_says (dealer, &session, "echo still here", "still here\n");
    s_end_clean (&daemon, &dealer, &session);
}

Test (shell, ephemeral_call)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    zsock_t *dealer = sbx_test_connect (daemon);
    sbx_reply_t *reply = sbx_test_request (dealer,
        "{\"op\": \"call\", \"feature\": \"shell\", \"method\": \"run\", \"args\": {\"cmd\": \"echo once > f; cat f\"}}", 30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    char text [64];
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), "once\n");
    sbx_reply_destroy (&reply);
    reply = sbx_test_request (dealer,
        "{\"op\": \"call\", \"feature\": \"shell\", \"method\": \"run\", \"args\": {\"cmd\": \"ls\"}}", 30000);
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), "",
                      "each ephemeral call is a session of its own");
    sbx_reply_destroy (&reply);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

//  Status and events are live while a call runs (docs/architecture.md): an
//  ephemeral command that waits for the test to let it end; meanwhile the
//  sandbox shows `in_session` in `status`, and the session's start is on
//  the event socket. Nothing here depends on how long anything takes: the
//  command ends only when the test has seen both.
Test (shell, status_and_events_are_live_while_a_call_runs)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    zsock_t *sub = zsock_new_sub (daemon->events, "session.start");
    cr_assert_not_null (sub);
    zsock_t *dealer = sbx_test_connect (daemon);
    zsock_t *watcher = sbx_test_connect (daemon);
    //  The subscription reaches the daemon before any session starts:
    //  the XPUB answers a subscription's welcome (none here), so instead
    //  make a first session and wait until its start arrives.
    sbx_reply_t *reply = NULL;
    zmsg_t *event = NULL;
    for (int tries = 0; tries < 100 && !event; tries++) {
        reply = sbx_test_request (dealer, "{\"op\": \"call\", \"feature\": \"shell\", \"method\": \"run\","
                                  " \"args\": {\"cmd\": \"true\"}}", 10000);
        cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
        sbx_reply_destroy (&reply);
        zpoller_t *poller = zpoller_new (sub, NULL);
        if (zpoller_wait (poller, 100))
            event = zmsg_recv (sub);
        zpoller_destroy (&poller);
    }
    cr_assert_not_null (event, "the subscriber never received a session.start");
    zmsg_destroy (&event);
    //  Drain any other start of the warm-up.
    while (zsock_events (sub) & ZMQ_POLLIN) {
        event = zmsg_recv (sub);
        zmsg_destroy (&event);
    }

    char release [512];
    snprintf (release, sizeof release, "%s/release", daemon->dir);
    char request [1024];
    snprintf (request, sizeof request,
              "{\"op\": \"call\", \"feature\": \"shell\", \"method\": \"run\", \"session_id\": \"held\","
              " \"args\": {\"cmd\": \"while [ ! -e %s ]; do sleep 0.01; done; echo released\","
              " \"timeout_ms\": 60000}}", release);
    reply = sbx_test_request (dealer, request, 0);
    cr_assert_null (reply);

    //  session.start of "held" arrives while the command runs.
    bool started = false;
    zpoller_t *poller = zpoller_new (sub, NULL);
    while (!started && zpoller_wait (poller, 10000)) {
        event = zmsg_recv (sub);
        zframe_t *body = zmsg_last (event);
        sbx_event_t *decoded = sbx_event_decode (zframe_data (body), zframe_size (body), NULL);
        started = decoded && decoded->session && streq (decoded->session, "held");
        sbx_event_destroy (&decoded);
        zmsg_destroy (&event);
    }
    zpoller_destroy (&poller);
    cr_assert (started, "no session.start for the running call");

    //  `status` shows the sandbox in that session (the environment has
    //  heard by then: the event travelled through it).
    reply = sbx_test_request (watcher, "{\"op\": \"status\"}", 10000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok");
    const msgpack_object *sandboxes = sbx_reply_get (reply, "sandboxes");
    bool in_session = false;
    for (uint32_t i = 0; sandboxes && i < sandboxes->via.array.size; i++) {
        const msgpack_object *row = &sandboxes->via.array.ptr [i];
        const msgpack_object *status = sbx_mp_map_get (row, "status");
        const msgpack_object *session = sbx_mp_map_get (row, "session_id");
        in_session |= status && sbx_mp_str_eq (status, "in_session")
                   && session && sbx_mp_str_eq (session, "held");
    }
    sbx_reply_destroy (&reply);
    cr_assert (in_session, "status does not show the running call's session");
    reply = sbx_test_request (watcher, "{\"op\": \"stats\"}", 10000);
    const msgpack_object *counts = sbx_reply_get (reply, "sandbox");
    const msgpack_object *count = counts ? sbx_mp_map_get (counts, "in_session") : NULL;
    cr_assert (count && count->type == MSGPACK_OBJECT_POSITIVE_INTEGER && count->via.u64 == 1,
               "stats does not count the sandbox in session");
    sbx_reply_destroy (&reply);

    //  Only now may the command end.
    s_touch (release);
    reply = sbx_test_reply_recv (dealer, 30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    char text [64];
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), "released\n");
    sbx_reply_destroy (&reply);
    zsock_destroy (&sub);
    zsock_destroy (&watcher);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

//  A message of the streamed call below: its id; progress data as bin,
//  without `ok`; a reply whose output was all streamed.
static void
s_check_streamed (const msgpack_object *map)
{
    const msgpack_object *id = sbx_mp_map_get (map, "id");
    cr_assert (id && id->via.u64 == 7);
    if (sbx_mp_map_get (map, "stream")) {
        cr_assert_null (sbx_mp_map_get (map, "ok"), "a progress message with `ok`");
        const msgpack_object *data = sbx_mp_map_get (map, "data");
        cr_assert (data && data->type == MSGPACK_OBJECT_BIN);
    }
    else {
        const msgpack_object *result = sbx_mp_map_get (map, "result");
        const msgpack_object *streamed = sbx_mp_map_get (result, "streamed");
        cr_assert (streamed && streamed->via.boolean);
        const msgpack_object *stdout_ = sbx_mp_map_get (result, "stdout");
        cr_assert (stdout_ && stdout_->type == MSGPACK_OBJECT_STR && stdout_->via.str.size == 0);
    }
}

//  A call with `stream: true` (docs/protocol.md "Streaming"): its output
//  comes as progress messages, in order, ahead of its one reply; the first
//  arrives while the command still runs (it waits for the test). Without
//  `stream`, nothing but the reply.
Test (shell, streamed_output_comes_ahead_of_the_reply)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    zsock_t *dealer = sbx_test_connect (daemon);
    char release [512], request [1024];
    snprintf (release, sizeof release, "%s/release", daemon->dir);
    snprintf (request, sizeof request,
              "{\"op\": \"call\", \"id\": 7, \"stream\": true, \"feature\": \"shell\", \"method\": \"run\","
              " \"args\": {\"cmd\": \"echo one; while [ ! -e %s ]; do sleep 0.01; done; echo two; echo three >&2\"}}",
              release);
    cr_assert_null (sbx_test_request (dealer, request, 0));
    char out [64] = "", err [64] = "";
    s_read_streamed (dealer, release, out, err, 10000, s_check_streamed);
    cr_assert_str_eq (out, "one\ntwo\n");
    cr_assert_str_eq (err, "three\n");
    //  No `stream`: the output is in the result, as before.
    sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"call\", \"feature\": \"shell\", \"method\": \"run\","
                                           " \"args\": {\"cmd\": \"echo plain\"}}", 10000);
    char text [64];
    cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), "plain\n");
    cr_assert_not (s_result_bool (reply, "streamed"));
    sbx_reply_destroy (&reply);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}
