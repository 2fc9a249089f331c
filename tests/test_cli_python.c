/*  `sbx python` and `sbx call python.exec` end to end against a real sbxd
    with the python feature (client/cli/python.c, docs/cli.md): each test
    spawns build/sbx with its stdin on a pipe (or a pseudo-terminal for
    the prompts), collects stdout and stderr, and waits for it with a
    deadline. Nothing sleeps to synchronise. */
#include "sandbox_util.h"

#include <poll.h>
#include <pty.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

extern char **environ;

#define S_WAIT 30000            //  ms: generous for the sanitizer build

static sbx_test_daemon_t *s_sbxd;
static pid_t s_child = -1;

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
}

//  Spawns build/sbx with `args` and the daemon's endpoint, its stdin,
//  stdout and stderr on the given descriptors, in a session of its own.
static pid_t
s_spawn (int fd_in, int fd_out, int fd_err, const char *const *args)
{
    const char *argv [32] = {SBX_BUILD_DIR "/sbx"};
    size_t argc = 1;
    for (size_t i = 0; args [i] && argc < 31; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    char endpoint [300];
    snprintf (endpoint, sizeof endpoint, "SBX_ENDPOINT=%s", s_sbxd->requests);
    const char *env [] = {"PATH=/usr/bin:/bin", "TERM=xterm", "HOME=/nonexistent", endpoint, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, fd_in, 0);
    posix_spawn_file_actions_adddup2 (&actions, fd_out, 1);
    posix_spawn_file_actions_adddup2 (&actions, fd_err, 2);
    posix_spawnattr_t attributes;
    posix_spawnattr_init (&attributes);
    posix_spawnattr_setflags (&attributes, POSIX_SPAWN_SETSID);
    pid_t pid = -1;
    int rc = posix_spawn (&pid, argv [0], &actions, &attributes, (char *const *) argv, (char *const *) env);
    posix_spawnattr_destroy (&attributes);
    posix_spawn_file_actions_destroy (&actions);
    cr_assert_eq (rc, 0, "cannot spawn sbx: %s", strerror (rc));
    return pid;
}

typedef struct {
    int code;
    char *out, *err;
} s_result_t;

//  Runs sbx with `input` on its stdin; collects its output until it exits.
static s_result_t
s_sbx (const char *input, const char *const *args)
{
    int in [2], out [2], err [2];
    cr_assert_eq (pipe2 (in, O_CLOEXEC), 0);
    cr_assert_eq (pipe2 (out, O_CLOEXEC), 0);
    cr_assert_eq (pipe2 (err, O_CLOEXEC), 0);
    pid_t pid = s_spawn (in [0], out [1], err [1], args);
    close (in [0]);
    close (out [1]);
    close (err [1]);
    size_t length = input ? strlen (input) : 0;
    cr_assert_eq (write (in [1], input ? input : "", length), (ssize_t) length);
    close (in [1]);
    s_result_t result = {0};
    size_t sizes [2] = {0, 0};
    sbx_test_append (&result.out, &sizes [0], "", 0);
    sbx_test_append (&result.err, &sizes [1], "", 0);
    int64_t deadline = zclock_mono () + S_WAIT;
    int fds [2] = {out [0], err [0]};
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

//  Reads the terminal into `screen` until it holds `needle` after `from`.
static bool
s_read_until (int fd, char **screen, size_t *used, size_t from, const char *needle)
{
    int64_t deadline = zclock_mono () + S_WAIT;
    while (!(*screen && strstr (*screen + from, needle))) {
        int64_t left = deadline - zclock_mono ();
        struct pollfd item = {fd, POLLIN, 0};
        if (left <= 0 || poll (&item, 1, (int) left) < 0)
            return false;
        char chunk [4096];
        ssize_t n = item.revents ? read (fd, chunk, sizeof chunk) : 0;
        if (n < 0)
            return false;
        sbx_test_append (screen, used, chunk, (size_t) n);
    }
    return true;
}

//  Waits until the line editor has the terminal (it reads keys one by
//  one, out of canonical mode), reading what is drawn meanwhile.
static bool
s_wait_editing (int master, char **screen, size_t *used)
{
    int64_t deadline = zclock_mono () + S_WAIT;
    while (zclock_mono () < deadline) {
        struct termios modes;
        if (tcgetattr (master, &modes) == 0 && !(modes.c_lflag & ICANON))
            return true;
        struct pollfd item = {master, POLLIN, 0};
        if (poll (&item, 1, 10) > 0) {
            char chunk [4096];
            ssize_t n = read (master, chunk, sizeof chunk);
            if (n <= 0)
                return false;
            sbx_test_append (screen, used, chunk, (size_t) n);
        }
    }
    return false;
}

//  Types `keys` once the editor reads, and waits for `expected`.
static void
s_type (int master, char **screen, size_t *used, const char *keys, const char *expected)
{
    cr_assert (s_wait_editing (master, screen, used), "%s", *screen ? *screen : "");
    size_t mark = *used;
    cr_assert_eq (write (master, keys, strlen (keys)), (ssize_t) strlen (keys));
    cr_assert (s_read_until (master, screen, used, mark, expected), "after '%s': %s", keys, *screen + mark);
}

Test (cli_python, prompts_on_a_terminal)
{
    s_start (NULL);
    int master = -1, slave = -1;
    struct winsize size = {.ws_row = 24, .ws_col = 80};
    cr_assert_eq (openpty (&master, &slave, NULL, NULL, &size), 0);
    fcntl (master, F_SETFD, FD_CLOEXEC);
    fcntl (slave, F_SETFD, FD_CLOEXEC);
    s_child = s_spawn (slave, slave, slave, (const char *const []) {"python", "--session-id", "tty", NULL});
    close (slave);
    char *screen = NULL;
    size_t used = 0;
    cr_assert (s_read_until (master, &screen, &used, 0, ">>> "), "%s", screen ? screen : "(nothing)");
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
