/*  The python feature on a real sbxd (features/python.c,
    docs/python-feature.md): state across calls and sessions, exceptions
    as results, timeouts (interrupted, then killed), interpreters that die,
    output caps and streaming, and what it shares with the sandbox.
    tests/test_interpreter_limits.c has limits, bwrap, options and
    shutdown. */
#include "interpreter_util.h"

TestSuite (interpreter, .init = s_py_init, .fini = s_fini, .timeout = 180);

Test (interpreter, state_is_kept_across_calls)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_py_ok (dealer, &session, "x = 40\nimport math", 0);
    s_py_expect (reply, NULL, "", NULL);
    cr_assert_not (s_result_bool (reply, "restarted"));
    sbx_reply_destroy (&reply);
    s_py_check (dealer, &session, "x += 1\nprint('x is', x)\nx + 1", 0, "42", "x is 41\n", NULL);
    //  A statement last, or a trailing ';': nothing to show.
    s_py_check (dealer, &session, "y = math.floor(2.5)", 0, NULL, "", NULL);
    s_py_check (dealer, &session, "y;", 0, NULL, "", NULL);
    s_py_check (dealer, &session, "None", 0, NULL, "", NULL);
    //  The repr, as a notebook shows it; `_` holds the last one.
    s_py_check (dealer, &session, "{'y': y, 's': 'it\\'s'}", 0, "{'y': 2, 's': \"it's\"}", "", NULL);
    s_py_check (dealer, &session, "_['y']", 0, "2", "", NULL);
    //  The working directory and functions stay too; the code runs as
    //  __main__.
    s_py_check (dealer, &session, "import os\nos.mkdir('sub')\nos.chdir('sub')\n"
                "def f(n):\n    return n * x\n__name__", 0, "'__main__'", "", NULL);
    s_py_check (dealer, &session, "os.path.basename(os.getcwd()), f(2)", 0, "('sub', 82)", "", NULL);

    s_end_clean (&daemon, &dealer, &session);
}

Test (interpreter, a_new_session_starts_a_fresh_interpreter)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    sbx_reply_t *reply = s_py_ok (dealer, &session, "import os\nsecret = 7\nopen('f', 'w').write('x')\nos.getpid()", 0);
    char first_pid [32];
    s_result_text (reply, "result", first_pid, sizeof first_pid, NULL);
    sbx_reply_destroy (&reply);
    cr_assert_eq (s_tagged (s_tag ()), 1, "one interpreter runs");
    s_close_session (dealer, &session);
    int ppid;
    char state = s_proc_state (first_pid, &ppid);
    cr_assert (state == '?', "the session's interpreter is still there (%c)", state);

    s_session_t next;
    s_open (dealer, &next);
    cr_assert_str_eq (next.sandbox, session.sandbox, "a pool of one reuses its sandbox");
    //  Started with the session, not by the first exec: it appears
    //  without another request (session.open does not wait for Python).
    cr_assert_eq (s_tagged_reaches (s_tag (), 1, 10000), 1, "the next session's interpreter was started with it");
    reply = s_py_ok (dealer, &next, "secret", 0);
    s_py_expect_error (reply, "NameError", "name 'secret' is not defined");
    cr_assert_not (s_result_bool (reply, "restarted"), "a new session is not a restart");
    sbx_reply_destroy (&reply);
    char code [128];
    snprintf (code, sizeof code, "import os\nos.listdir('.'), os.getpid() != %s", first_pid);
    reply = s_py_ok (dealer, &next, code, 0);
    s_py_expect (reply, "([], True)", "", NULL);
    sbx_reply_destroy (&reply);
    s_close_session (dealer, &next);

    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (interpreter, an_exception_is_the_cells_outcome)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_py_ok (dealer, &session, "kept = 1\nprint('before')\n"
                                  "def g():\n    raise ValueError('bad value')\ng()\nkept = 2", 0);
    s_py_expect (reply, NULL, "before\n", NULL);
    s_py_expect_error (reply, "ValueError", "bad value");
    char traceback [2048];
    s_py_error_text (reply, "traceback", traceback, sizeof traceback);
    cr_assert (strstr (traceback, "Traceback (most recent call last):\n  File \"<cell 1>\", line 5, in <module>\n"
                                  "    g()\n"), "%s", traceback);
    cr_assert (strstr (traceback, "line 4, in g\n    raise ValueError('bad value')\nValueError: bad value\n"),
               "%s", traceback);
    cr_assert_null (strstr (traceback, "<string>"), "the driver's frames show: %s", traceback);
    sbx_reply_destroy (&reply);

    //  A syntax error: where it is, no frames.
    reply = s_py_ok (dealer, &session, "x = 1\ny = = 2", 0);
    s_py_expect_error (reply, "SyntaxError", NULL);
    s_py_error_text (reply, "traceback", traceback, sizeof traceback);
    cr_assert (strncmp (traceback, "  File \"<cell 2>\", line 2\n    y = = 2\n", 34) == 0, "%s", traceback);
    sbx_reply_destroy (&reply);

    //  SystemExit and KeyboardInterrupt raised by the code are outcomes
    //  too; a message with a lone surrogate comes escaped.
    reply = s_py_ok (dealer, &session, "import sys\nsys.exit(4)", 0);
    s_py_expect_error (reply, "SystemExit", "4");
    sbx_reply_destroy (&reply);
    reply = s_py_ok (dealer, &session, "raise ValueError('a\\udc80')", 0);
    s_py_expect_error (reply, "ValueError", "a\\udc80");
    cr_assert_not (s_result_bool (reply, "timed_out"));
    sbx_reply_destroy (&reply);

    //  The session and its state go on.
    s_py_check_restarted (dealer, &session, "kept", "1", false);
    s_end_clean (&daemon, &dealer, &session);
}

Test (interpreter, an_endless_loop_is_interrupted_at_its_timeout)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_py_ok (dealer, &session, "n = 0\nwhile True:\n    n += 1", 300);
    s_py_expect_error (reply, "KeyboardInterrupt", "");
    cr_assert (s_result_bool (reply, "timed_out"));
    sbx_reply_destroy (&reply);
    //  The interpreter lives on, with what the loop did.
    reply = s_py_ok (dealer, &session, "n > 0", 0);
    s_py_expect (reply, "True", "", NULL);
    cr_assert_not (s_result_bool (reply, "restarted"));
    cr_assert_not (s_result_bool (reply, "timed_out"));
    sbx_reply_destroy (&reply);
    //  A subprocess gets the interrupt as well (the process group).
    reply = s_py_ok (dealer, &session, "import subprocess\nsubprocess.run(['sleep', '100'])", 300);
    s_py_expect_error (reply, "KeyboardInterrupt", "");
    sbx_reply_destroy (&reply);
    cr_assert_eq (s_tagged (s_tag ()), 1, "the sleep is gone, the interpreter runs");
    s_end_clean (&daemon, &dealer, &session);
}

//  SIGINT blocked, or the interpreter stopped: killed after the grace
//  period, TimeoutError, and the next exec starts a new one.
Test (interpreter, a_hung_interpreter_is_killed_and_replaced)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    static const char *const hangs [] = {
        "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\ntime.sleep(100)",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)",
        //  A subprocess left behind goes with it.
        "import subprocess, signal\nsubprocess.Popen(['sleep', '1000'])\nsignal.signal(signal.SIGINT, "
        "signal.SIG_IGN)\nwhile True: pass"
    };
    for (size_t i = 0; i < sizeof hangs / sizeof hangs [0]; i++) {
        sbx_reply_t *reply = s_py_ok (dealer, &session, "state = 'old'", 0);
        sbx_reply_destroy (&reply);
        s_py_fails (dealer, &session, hangs [i], 300, "TimeoutError", "killed");
        cr_assert_eq (s_tagged (s_tag ()), 0, "the interpreter and its children are gone with the reply");
        reply = s_py_ok (dealer, &session, "state", 0);
        s_py_expect_error (reply, "NameError", NULL);
        cr_assert (s_result_bool (reply, "restarted"));
        sbx_reply_destroy (&reply);
        s_py_check_restarted (dealer, &session, "1 + 1", "2", false);
    }
    s_end_clean (&daemon, &dealer, &session);
}

Test (interpreter, a_dead_interpreter_is_reported_and_replaced)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    static const struct {
        const char *code, *says;
    } deaths [] = {
        {"import os, sys\nprint('last words', file=sys.stderr)\nos._exit(3)",
         "exited with status 3: last words"},
        {"import ctypes\nctypes.string_at(0)", "killed by signal 11"},
        {"import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9"},
        //  Its socket closed: the driver cannot answer; it exits.
        {"import os\nfor fd in range(3, 1100):\n    try: os.close(fd)\n    except OSError: pass",
         "exited with status 1"},
    };
    for (size_t i = 0; i < sizeof deaths / sizeof deaths [0]; i++) {
        sbx_reply_t *reply = s_py_ok (dealer, &session, "state = 'old'", 0);
        sbx_reply_destroy (&reply);
        s_py_fails (dealer, &session, deaths [i].code, 0, "InterpreterDied", deaths [i].says);
        s_py_check_restarted (dealer, &session, "'state' in globals()", "False", true);
    }
    //  The sandbox is fine: shell still runs.
    s_sh_says (dealer, &session, "echo fine", "fine\n");
    s_end_clean (&daemon, &dealer, &session);
}

//  The interpreter dies while another command runs (its exit reaches
//  that command's loop first): the next exec knows, and starts anew.
Test (interpreter, an_exit_seen_by_another_command_is_not_lost)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    sbx_reply_t *reply = s_py_ok (dealer, &session,
        "import os, threading, time\n"
        "def wait():\n"
        "    while not os.path.exists('die'):\n"
        "        time.sleep(0.005)\n"
        "    os._exit(5)\n"
        "threading.Thread(target=wait, daemon=True).start()\n"
        "os.getpid()", 0);
    char pid [32], cmd [256], text [64];
    s_result_text (reply, "result", pid, sizeof pid, NULL);
    sbx_reply_destroy (&reply);
    snprintf (cmd, sizeof cmd, "touch die; while kill -0 %s 2>/dev/null; do sleep 0.005; done; echo gone", pid);
    s_sh_out (dealer, &session, cmd, text, sizeof text);
    cr_assert_str_eq (text, "gone\n");
    s_py_check_restarted (dealer, &session, "6 * 7", "42", true);
    s_end_clean (&daemon, &dealer, &session);
}

Test (interpreter, output_is_capped_binary_kept_stdin_empty)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    //  50 MiB on stdout, and as much through a subprocess on stderr.
    sbx_reply_t *reply = s_py_ok (dealer, &session,
        "import sys, subprocess\nsys.stdout.write('a' * (50 << 20))\n"
        "subprocess.run('head -c 52428800 /dev/zero | tr \"\\\\0\" b >&2', shell=True)\n'done'", 0);
    s_py_expect (reply, "'done'", NULL, NULL);
    cr_assert (s_result_bool (reply, "truncated"));
    const msgpack_object *out = s_result (reply, "stdout"), *err = s_result (reply, "stderr");
    cr_assert (out->type == MSGPACK_OBJECT_STR && out->via.str.size == 1024 * 1024, "%u", out->via.str.size);
    cr_assert (err->type == MSGPACK_OBJECT_STR && err->via.str.size == 1024 * 1024, "%u", err->via.str.size);
    cr_assert (out->via.str.ptr [0] == 'a' && err->via.str.ptr [1024 * 1024 - 1] == 'b');
    sbx_reply_destroy (&reply);
    //  A long repr is cut too.
    reply = s_py_ok (dealer, &session, "'x' * (3 << 20)", 0);
    const msgpack_object *result = s_result (reply, "result");
    cr_assert (result->type == MSGPACK_OBJECT_STR && result->via.str.size == 1024 * 1024);
    cr_assert (s_result_bool (reply, "truncated"));
    sbx_reply_destroy (&reply);

    //  Bytes that are not UTF-8 come as bin, on fd 1 as through sys.stdout.
    reply = s_py_ok (dealer, &session, "import os\nsys.stdout.buffer.write(bytes(range(256)))\nos.write(1, b'\\xff')\n"
                                       "print('\\u00e9t\\u00e9', file=sys.stderr)", 0);
    out = s_result (reply, "stdout");
    cr_assert (out->type == MSGPACK_OBJECT_BIN && out->via.bin.size == 257);
    cr_assert ((uint8_t) out->via.bin.ptr [200] == 200 && (uint8_t) out->via.bin.ptr [256] == 0xff);
    s_py_expect (reply, NULL, NULL, "\xc3\xa9t\xc3\xa9\n");
    cr_assert_not (s_result_bool (reply, "truncated"));
    sbx_reply_destroy (&reply);
    //  stdin is empty, whichever way it is read.
    reply = s_py_ok (dealer, &session, "print(repr(sys.stdin.read()), repr(os.read(0, 10)))\ninput()", 0);
    s_py_expect (reply, NULL, "'' b''\n", NULL);
    s_py_expect_error (reply, "EOFError", NULL);
    sbx_reply_destroy (&reply);
    s_end_clean (&daemon, &dealer, &session);
}

//  The reply of the streamed call below: its output was all streamed.
static void
s_check_streamed (const msgpack_object *map)
{
    if (sbx_mp_map_get (map, "stream"))
        return;
    const msgpack_object *result = sbx_mp_map_get (map, "result");
    cr_assert (sbx_mp_map_get (result, "streamed")->via.boolean);
    cr_assert_eq (sbx_mp_map_get (result, "stdout")->via.str.size, 0);
    cr_assert (sbx_mp_str_eq (sbx_mp_map_get (result, "result"), "'done'"));
}

Test (interpreter, streamed_output_comes_ahead_of_the_reply)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    zsock_t *dealer = sbx_test_connect (daemon);
    char release [512], code [1024];
    snprintf (release, sizeof release, "%s/release", daemon->dir);
    snprintf (code, sizeof code, "import os, sys, time\nprint('one')\nwhile not os.path.exists('%s'):\n"
              "    time.sleep(0.01)\nprint('two')\nprint('three', file=sys.stderr)\n'done'", release);
    json_t *request = json_pack ("{s:s, s:i, s:b, s:s, s:s, s:{s:s}}", "op", "call", "id", 7, "stream", 1,
                                 "feature", "python", "method", "exec", "args", "code", code);
    char *text = json_dumps (request, 0);
    json_decref (request);
    cr_assert_null (sbx_test_request (dealer, text, 0));
    free (text);
    char out [64] = "", err [64] = "";
    s_read_streamed (dealer, release, out, err, 20000, s_check_streamed);
    cr_assert_str_eq (out, "one\ntwo\n");
    cr_assert_str_eq (err, "three\n");
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (interpreter, reset_check_and_bad_arguments)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_py_ok (dealer, &session, "x = 1", 0);
    sbx_reply_destroy (&reply);
    reply = s_call (dealer, &session, "python", "reset", "{}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    reply = s_py_ok (dealer, &session, "'x' in dir()", 0);
    s_py_expect (reply, "False", "", NULL);
    cr_assert_not (s_result_bool (reply, "restarted"), "asked for: not a restart");
    sbx_reply_destroy (&reply);

    static const struct {
        const char *code, *status;
    } checks [] = {
        {"1 + 1", "complete"}, {"if x:", "incomplete"}, {"if x:\n    y = 1", "incomplete"},
        {"if x:\n    y = 1\n", "complete"}, {"d = {", "incomplete"}, {"1 +* 2", "invalid"},
        {"s = '''", "incomplete"}
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks [0]; i++) {
        reply = s_py_call (dealer, &session, "check", checks [i].code, -1);
        cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
        char status [32];
        s_result_text (reply, "status", status, sizeof status, NULL);
        cr_assert_str_eq (status, checks [i].status, "check %s", checks [i].code);
        sbx_reply_destroy (&reply);
    }

    static const char *const bad [] = {
        "{}", "{\"code\": 1}", "{\"code\": \"1\", \"timeout_ms\": 0}", "{\"code\": \"1\", \"timeout_ms\": 4000000}",
        "{\"code\": \"1\", \"bogus\": 1}"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        reply = s_call (dealer, &session, "python", "exec", "%s", bad [i]);
        cr_assert_str_eq (sbx_test_reply_type (reply), "ValueError", "%s: %s", bad [i], s_why (reply));
        sbx_reply_destroy (&reply);
    }
    reply = s_call (dealer, &session, "python", "reset", "{\"x\": 1}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ValueError", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    s_py_check (dealer, &session, "'still here'", 0, "'still here'", "", NULL);
    s_end_clean (&daemon, &dealer, &session);
}

Test (interpreter, session_end_kills_what_the_code_started)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    sbx_reply_t *reply = s_py_ok (dealer, &session,
        "import subprocess, os\nsubprocess.Popen(['sleep', '1000'])\nsubprocess.Popen(['setsid', 'sleep', '1000'])\n"
        "if os.fork() == 0:\n    import time\n    time.sleep(1000)\n'started'", 0);
    s_py_expect (reply, "'started'", "", NULL);
    sbx_reply_destroy (&reply);
    //  `setsid` execs `sleep` after Popen has returned: read until its
    //  exec is done.
    cr_assert_eq (s_tagged_reaches (s_tag (), 4, 10000), 4, "the interpreter, two sleeps and a fork");
    s_close_session (dealer, &session);
    //  The next session's interpreter may be up already; nothing else.
    cr_assert_leq (s_tagged (s_tag ()), 1, "what the session started survived it");
    //  An ephemeral call is a session of its own.
    reply = sbx_test_request (dealer, "{\"op\": \"call\", \"feature\": \"python\", \"method\": \"exec\","
                              " \"args\": {\"code\": \"import os\\nos.getcwd() == os.environ['HOME']\"}}", 30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    s_py_expect (reply, "True", "", NULL);
    sbx_reply_destroy (&reply);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}
