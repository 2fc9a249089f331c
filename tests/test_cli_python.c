/*  `sbx python` and `sbx call python.exec` end to end against a real sbxd
    with the python feature (client/cli/python.c, docs/cli.md): each test
    spawns build/sbx with its stdin on a pipe (or a pseudo-terminal for
    the prompts), collects stdout and stderr, and waits for it with a
    deadline. Nothing sleeps to synchronise. */
#include "sandbox_util.h"
#include "cli_util.h"

#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

#define S_WAIT 30000            //  ms: generous for the sanitizer build

static sbx_test_daemon_t *s_sbxd;
static pid_t s_child = -1;

//  The environment of sbx: a fixed one, with the daemon's endpoint.
static char s_endpoint [300];
static char *s_env [] = {"PATH=/usr/bin:/bin", "TERM=xterm", "HOME=/nonexistent", s_endpoint, NULL};

static void
s_cli_fini (void)
{
    if (s_child > 0) {
        kill (s_child, SIGKILL);
        waitpid (s_child, NULL, 0);
        s_child = -1;
    }
    s_fini ();
}

TestSuite (cli_python, .init = s_become_reaper, .fini = s_cli_fini, .timeout = 180);

static void
s_start (const char *features)
{
    s_sbxd = s_daemon (NULL, features ? features
                             : "{\"shell\": {\"kind\": \"shell\"}, \"py\": {\"kind\": \"python\", \"grace_ms\": 3000}}");
    snprintf (s_endpoint, sizeof s_endpoint, "SBX_ENDPOINT=%s", s_sbxd->requests);
}

typedef struct {
    int code;
    char *out, *err;
} s_result_t;

//  Runs sbx with `input` on its stdin; collects its output until it exits.
static s_result_t
s_sbx (const char *input, const char *const *args)
{
    int in, out, err;
    pid_t pid = s_spawn_sbx_piped (&in, &out, &err, args, s_env);
    size_t length = input ? strlen (input) : 0;
    cr_assert_eq (write (in, input ? input : "", length), (ssize_t) length);
    close (in);
    s_result_t result = {0};
    size_t sizes [2] = {0, 0};
    sbx_test_append (&result.out, &sizes [0], "", 0);
    sbx_test_append (&result.err, &sizes [1], "", 0);
    int64_t deadline = zclock_mono () + S_WAIT;
    int fds [2] = {out, err};
    while ((fds [0] >= 0 || fds [1] >= 0) && zclock_mono () < deadline) {
        struct pollfd items [2] = {{fds [0], POLLIN, 0}, {fds [1], POLLIN, 0}};
        if (poll (items, 2, (int) (deadline - zclock_mono ())) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (fds [i] < 0 || !(items [i].revents & (POLLIN | POLLHUP)))
                continue;
            char chunk [4096];
            ssize_t n = read (fds [i], chunk, sizeof chunk);
            if (n <= 0) {
                close (fds [i]);
                fds [i] = -1;
            }
            else
                sbx_test_append (i == 0 ? &result.out : &result.err, &sizes [i], chunk, (size_t) n);
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds [i] >= 0)
            close (fds [i]);
    result.code = sbx_test_wait_pid (pid, (int) (deadline > zclock_mono () ? deadline - zclock_mono () : 0));
    return result;
}

static void
s_result_free (s_result_t *result)
{
    free (result->out);
    free (result->err);
}

Test (cli_python, statements_run_in_one_interpreter)
{
    s_start (NULL);
    s_result_t result = s_sbx (
        "x = 20\n"
        "x + 1\n"
        "for i in range(2):\n"
        "    print('loop', i)\n"
        "\n"
        "def twice(n):\n"
        "    return 2 * n\n"
        "\n"
        "twice(x) + 2\n"
        "print('no repr for None')\n"
        "1 / 0\n"
        "'last'\n",
        (const char *const []) {"python", NULL});
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "21\nloop 0\nloop 1\n42\nno repr for None\n'last'\n");
    cr_assert (strstr (result.err, "  File \"<cell 7>\", line 1, in <module>\n    1 / 0\n"), "%s", result.err);
    cr_assert (strstr (result.err, "ZeroDivisionError: division by zero\n"), "%s", result.err);
    s_result_free (&result);
    zsock_t *dealer = sbx_test_connect (s_sbxd);
    zsock_destroy (&dealer);
    s_shutdown_clean (&s_sbxd);
}

Test (cli_python, failures_are_told_and_the_session_goes_on)
{
    s_start (NULL);
    s_result_t result = s_sbx (
        "kept = 1\n"
        "while True: pass\n"
        "\n"
        "kept\n"
        "import os; os._exit(4)\n"
        "'kept' in globals()\n"
        "raise ValueError('the end')\n",
        (const char *const []) {"python", "--command-timeout", "0.3", NULL});
    cr_assert_eq (result.code, 1, "the last statement raised: %s", result.err);
    cr_assert_str_eq (result.out, "1\nFalse\n");
    cr_assert (strstr (result.err, "KeyboardInterrupt\n"), "%s", result.err);
    cr_assert (strstr (result.err, "InterpreterDied: python: the interpreter exited with status 4"), "%s", result.err);
    cr_assert (strstr (result.err, "sbx: note: a new interpreter"), "%s", result.err);
    cr_assert (strstr (result.err, "ValueError: the end\n"), "%s", result.err);
    s_result_free (&result);

    //  Without a python feature: said, exit 1.
    s_shutdown_clean (&s_sbxd);
    s_start ("{\"shell\": {\"kind\": \"shell\"}}");
    result = s_sbx ("1\n", (const char *const []) {"python", NULL});
    cr_assert_eq (result.code, 1);
    cr_assert (strstr (result.err, "NotFound: environment 'penv' has no feature of kind 'python'"), "%s", result.err);
    s_result_free (&result);
    s_shutdown_clean (&s_sbxd);
}

Test (cli_python, call_prints_the_result_as_json)
{
    s_start (NULL);
    s_result_t result = s_sbx (NULL, (const char *const []) {"call", "--compact", "py.exec",
                                                             "{\"code\": \"print('hi')\\n6 * 7\"}", NULL});
    cr_assert_eq (result.code, 0, "%s", result.err);
    const char *expected = "{\"stdout\":\"hi\\n\",\"stderr\":\"\",\"result\":\"42\",\"error\":null,";
    cr_assert (strncmp (result.out, expected, strlen (expected)) == 0, "%s", result.out);
    s_result_free (&result);
    s_shutdown_clean (&s_sbxd);
}

//  Types `keys` once the editor reads, and waits for `expected`.
static void
s_type (int master, char **screen, size_t *used, const char *keys, const char *expected)
{
    cr_assert (s_wait_mode (master, false, screen, used, S_WAIT), "%s", *screen ? *screen : "");
    size_t mark = *used;
    cr_assert_eq (write (master, keys, strlen (keys)), (ssize_t) strlen (keys));
    cr_assert (s_read_until_after (master, screen, used, mark, expected, S_WAIT), "after '%s': %s", keys,
               *screen + mark);
}

Test (cli_python, prompts_on_a_terminal)
{
    s_start (NULL);
    int master = -1;
    s_child = s_spawn_sbx_on_terminal (24, 80, (const char *const []) {"python", "--session-id", "tty", NULL}, s_env,
                                       &master);
    char *screen = NULL;
    size_t used = 0;
    cr_assert (s_read_until (master, &screen, &used, ">>> ", S_WAIT), "%s", screen ? screen : "(nothing)");
    s_type (master, &screen, &used, "if True:\r", "... ");
    s_type (master, &screen, &used, "    n = 6\r", "... ");
    s_type (master, &screen, &used, "\r", ">>> ");
    s_type (master, &screen, &used, "n * 7\r", "42\r\n>>> ");
    s_type (master, &screen, &used, "\x04", "sbx: session ended");
    cr_assert_eq (sbx_test_wait_pid (s_child, S_WAIT), 0);
    s_child = -1;
    free (screen);
    close (master);
    s_shutdown_clean (&s_sbxd);
}
