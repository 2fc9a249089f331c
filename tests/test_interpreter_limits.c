/*  The python feature within its sandbox (features/python.c,
    docs/python-feature.md): the sandbox's limits hold the code, bwrap
    isolates it, options (startup, interpreter) and their errors, and a
    shutdown that does not wait for a running cell. */
#include "interpreter_util.h"

TestSuite (interpreter_limits, .init = s_py_init, .fini = s_fini, .timeout = 180);

Test (interpreter_limits, a_fork_bomb_and_a_memory_hog_are_held_by_the_limits)
{
    sbx_test_daemon_t *daemon = s_py_daemon (
        "{\"kind\": \"process\", \"limits\": {\"processes\": 32, \"address_space_mb\": 512}}", NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    //  Forks until the process limit says no; every child waits.
    sbx_reply_t *reply = s_py_ok (dealer, &session,
        "import os, time\nchildren = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(1000)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as e:\n"
        "    stopped = type(e).__name__\n"
        "children < 32, stopped", 0);
    s_py_expect (reply, "(True, 'BlockingIOError')", "", NULL);
    sbx_reply_destroy (&reply);
    int held = s_tagged (s_tag ());
    cr_assert (held > 1 && held <= 32, "%d processes", held);
    //  The interpreter goes on; the children go with the session.
    s_py_check (dealer, &session, "children > 0", 0, "True", "", NULL);

    //  Allocations past the address space fail: MemoryError, state kept.
    reply = s_py_ok (dealer, &session, "big = bytearray(1 << 30)", 0);
    s_py_expect_error (reply, "MemoryError", NULL);
    sbx_reply_destroy (&reply);
    reply = s_py_ok (dealer, &session, "hog = []\nwhile True:\n    hog.append(bytearray(16 << 20))", 0);
    s_py_expect_error (reply, "MemoryError", NULL);
    sbx_reply_destroy (&reply);
    s_py_check_restarted (dealer, &session, "del hog\nlen(bytearray(1 << 20)), stopped",
                          "(1048576, 'BlockingIOError')", false);
    s_close_session (dealer, &session);
    cr_assert_leq (s_tagged (s_tag ()), 1, "the forks survived the session");
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

//  The sandbox's memory_mb (its cgroup) holds the interpreter too: a cell
//  that fills memory is killed inside the sandbox (commands go first,
//  oom_score_adj 1000), the call says the interpreter died, and the next
//  one has a fresh interpreter in the same sandbox.
Test (interpreter_limits, memory_mb_holds_the_interpreter)
{
    sbx_test_daemon_t *daemon = s_py_daemon ("{\"kind\": \"process\", \"limits\": {\"memory_mb\": 128}}", NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    sbx_reply_t *reply = s_py_ok (dealer, &session, "state = 'old'", 0);
    sbx_reply_destroy (&reply);
    //  Written bytes, not zero pages: each chunk is charged.
    s_py_fails (dealer, &session, "hog = []\nwhile True:\n    hog.append(b'x' * (8 << 20))", 0,
                "InterpreterDied", "killed by signal 9");
    s_py_check_restarted (dealer, &session, "'state' in globals(), len(b'y' * (16 << 20))", "(False, 16777216)",
                          true);
    s_end_clean (&daemon, &dealer, &session);
}

Test (interpreter_limits, under_bwrap)
{
    sbx_test_daemon_t *daemon = s_py_daemon ("{\"kind\": \"process\", \"isolation\": \"bwrap\"}", NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    s_py_check (dealer, &session, "import os\nx = 1\nos.getcwd(), os.getpid() < 10", 0,
                "('/workspace', True)", "", NULL);
    sbx_reply_t *reply = s_py_ok (dealer, &session,
                                  "x += 1\nopen('kept', 'w').write('here')\nopen('/usr/nope', 'w')", 0);
    s_py_expect_error (reply, "OSError", "[Errno 30] Read-only file system: '/usr/nope'");
    sbx_reply_destroy (&reply);
    reply = s_py_ok (dealer, &session, "while True: pass", 300);
    s_py_expect_error (reply, "KeyboardInterrupt", "");
    sbx_reply_destroy (&reply);
    s_py_check (dealer, &session, "x, open('kept').read()", 0, "(2, 'here')", "", NULL);
    s_py_fails (dealer, &session, "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", 300, "TimeoutError", NULL);
    s_py_fails (dealer, &session, "import os\nos._exit(7)", 0, "InterpreterDied", "status 7");
    reply = s_py_ok (dealer, &session, "import socket\ns = socket.socket()\ns.connect(('192.0.2.1', 80))", 0);
    s_py_expect_error (reply, "OSError", "[Errno 101] Network is unreachable");
    cr_assert (s_result_bool (reply, "restarted"));
    sbx_reply_destroy (&reply);
    s_end_clean (&daemon, &dealer, &session);
}

Test (interpreter_limits, startup_code_runs_in_each_new_interpreter)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, "\"startup\": \"import math\\nprint('noise')\\nready = 'yes'\"");
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    s_py_check (dealer, &session, "ready, math.floor(math.pi)", 0, "('yes', 3)", "", "");
    sbx_reply_t *reply = s_call (dealer, &session, "python", "reset", "{}");
    sbx_reply_destroy (&reply);
    s_py_check (dealer, &session, "ready", 0, "'yes'", "", NULL);
    s_end_clean (&daemon, &dealer, &session);
}

Test (interpreter_limits, a_broken_start_is_a_user_error)
{
    static const struct {
        const char *options, *type, *says;
    } broken [] = {
        {"\"startup\": \"import no_such_module\"", "StartupError",
         "ModuleNotFoundError: No module named 'no_such_module'"},
        {"\"startup\": \"import os\\nos._exit(9)\"", "StartupError", "exited with status 9"},
        {"\"interpreter\": \"no-such-python\"", "FileNotFoundError", "no interpreter 'no-such-python'"},
        {"\"interpreter\": \"/bin/true\"", "StartupError", "did not start: the interpreter exited with status 0"},
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken [0]; i++) {
        sbx_test_daemon_t *daemon = s_py_daemon (NULL, broken [i].options);
        s_session_t session;
        zsock_t *dealer = s_connect_open (daemon, &session);
        for (int attempt = 0; attempt < 2; attempt++) {
            sbx_reply_t *reply = s_py_call (dealer, &session, "exec", "1", 0);
            cr_assert_str_eq (sbx_test_reply_type (reply), broken [i].type, "%s: %s", broken [i].options,
                              s_why (reply));
            cr_assert (strstr (s_why (reply), broken [i].says), "%s", s_why (reply));
            sbx_reply_destroy (&reply);
        }
        //  The sandbox is not broken by it.
        s_sh_says (dealer, &session, "echo fine", "fine\n");
        s_end_clean (&daemon, &dealer, &session);
    }
    //  The interpreter by its path works as well.
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, "\"interpreter\": \"/usr/bin/python3\"");
    zsock_t *dealer = sbx_test_connect (daemon);
    sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"call\", \"feature\": \"python\", \"method\": \"exec\","
                                           " \"args\": {\"code\": \"import sys\\nsys.executable\"}}", 30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    s_py_expect (reply, "'/usr/bin/python3'", "", NULL);
    sbx_reply_destroy (&reply);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (interpreter_limits, bad_options_are_refused_with_their_path)
{
    static const struct {
        const char *python, *says;
    } bad [] = {
        {"\"bogus\": 1", "features.py.bogus"},
        {"\"interpreter\": \"\"", "features.py.interpreter"},
        {"\"startup\": 3", "features.py.startup"},
        {"\"timeout_ms\": 0", "features.py.timeout_ms"},
        {"\"timeout_ms\": 10, \"max_timeout_ms\": 5", "features.py.timeout_ms"},
        {"\"grace_ms\": -1", "features.py.grace_ms"},
        {"\"max_output_bytes\": \"1\"", "features.py.max_output_bytes"},
        {"\"env\": {\"A=B\": \"x\"}", "features.py.env"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char config [1024], err [2048];
        snprintf (config, sizeof config, "{\"sandbox\": {\"kind\": \"process\"},"
                  " \"features\": {\"py\": {\"kind\": \"python\", %s}}}", bad [i].python);
        int code = sbx_test_sbxd (config, (const char *const []) {"--check", NULL}, err, sizeof err);
        cr_assert_eq (code, 2, "%s: exit %d", config, code);
        cr_assert (strstr (err, bad [i].says), "%s: stderr '%s' should say '%s'", config, err, bad [i].says);
    }
}

//  A shutdown kills a running cell at once, and answers the call.
Test (interpreter_limits, shutdown_does_not_wait_for_a_running_cell)
{
    sbx_test_daemon_t *daemon = s_py_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    s_call_later (dealer, &session, "python", "exec",
                  "{\"code\": \"import time\\ntime.sleep(600)\", \"timeout_ms\": 600000}");
    //  The call was read before a later request on the same connection.
    char root [320];
    s_shutdown_after_calls (daemon, dealer, root, sizeof root);
    sbx_reply_t *reply = sbx_test_reply_recv (dealer, 1000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "Cancelled", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    s_nothing_left (&daemon, &dealer, root, "the interpreter");
}
