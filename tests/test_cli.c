/*  The sbx command-line tool (build/sbx) end to end against a real sbxd:
    each test spawns build/sbx with posix_spawn, captures its stdout and
    stderr through pipes (or a pseudo-terminal for `sbx top`), and waits
    for it with a deadline. Nothing sleeps to synchronise. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include <sbx/client.h>
#include "cli_util.h"

extern char **environ;

#define S_WAIT 20000            //  ms: generous for the sanitizer build

#define S_CONFIG                                                                   \
    "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 2},"  \
    " \"outage_grace_period_s\": 0, \"outage_retry_interval_s\": 0,"                \
    " \"keepalive_interval_s\": null},"                                             \
    " \"sandbox\": {\"kind\": \"testing\"},"                                        \
    " \"features\": {\"f\": {\"kind\": \"testing\"}}}"

static sbx_test_daemon_t *s_daemon;
static pid_t s_child = -1;              //  a background sbx, killed by the fini
static const char *s_session_env;       //  SBX_SESSION for the children, or NULL
static const char *s_state_home;        //  XDG_STATE_HOME for the children, or NULL
static char **s_child_env;              //  the last s_env, freed by the next one or the fini

static char s_temp_dir [64];            //  a test's own directory, or ""

static int
s_remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path) == 0 ? 0 : -1;
}

//  Makes the test's own directory (removed with all it holds by the fini).
static const char *
s_make_temp_dir (const char *name)
{
    snprintf (s_temp_dir, sizeof s_temp_dir, "/tmp/sbx-cli-%s-XXXXXX", name);
    cr_assert_not_null (mkdtemp (s_temp_dir));
    return s_temp_dir;
}

static void
s_fini (void)
{
    if (*s_temp_dir) {
        nftw (s_temp_dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        *s_temp_dir = 0;
    }
    if (s_child > 0) {
        kill (s_child, SIGKILL);
        waitpid (s_child, NULL, 0);
        s_child = -1;
    }
    if (s_daemon) {
        sbx_test_daemon_shutdown (s_daemon);
        sbx_test_daemon_destroy (&s_daemon);
    }
    sbx_test_lines_free (&s_child_env);
}

//  Starts sbxd and waits until its environment is online (the pool is
//  full), so that what the tests print is settled.
static void
s_start_env (const char *config, const char *env_id)
{
    s_daemon = sbx_test_daemon_start_text (config);
    cr_assert_not_null (s_daemon, "sbxd did not start");
    char line [128];
    snprintf (line, sizeof line, "[%s] environment started", env_id);
    cr_assert (sbx_test_wait_log (s_daemon, line, 1, S_WAIT), "the environment did not start");
}

static void
s_start (const char *config)
{
    s_start_env (config, "testing-env");
}

static void
s_stop (void)
{
    cr_assert_eq (sbx_test_daemon_shutdown (s_daemon), 0);
    sbx_test_daemon_destroy (&s_daemon);
}

static int64_t
s_now (void)
{
    return zclock_mono ();
}

//  The environment for a child: ours plus SBX_ENDPOINT/SBX_EVENTS of the
//  test daemon and TERM. Valid until the next call.
static char **
s_env (void)
{
    sbx_test_lines_free (&s_child_env);
    size_t count = 0;
    while (environ [count])
        count++;
    char **env = (char **) zmalloc ((count + 6) * sizeof (char *));
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp (environ [i], "SBX_", 4) && strncmp (environ [i], "TERM=", 5)
        &&  strncmp (environ [i], "XDG_STATE_HOME=", 15))
            env [n++] = strdup (environ [i]);
    if (s_daemon) {
        env [n++] = zsys_sprintf ("SBX_ENDPOINT=%s", s_daemon->requests);
        env [n++] = zsys_sprintf ("SBX_EVENTS=%s", s_daemon->events);
    }
    if (s_session_env)
        env [n++] = zsys_sprintf ("SBX_SESSION=%s", s_session_env);
    if (s_state_home)
        env [n++] = zsys_sprintf ("XDG_STATE_HOME=%s", s_state_home);
    env [n++] = strdup ("TERM=xterm");
    s_child_env = env;
    return env;
}

typedef struct {
    int code;                   //  exit code, -1 on timeout
    char *out;
    char *err;
} s_result_t;

static void
s_result_free (s_result_t *result)
{
    free (result->out);
    free (result->err);
    memset (result, 0, sizeof *result);
}

//  Spawns build/sbx with `argv` (NULL-terminated, without argv [0]),
//  with stdin from `stdin_fd` when >= 0, else a pipe to which it writes
//  `input_size` bytes of `input` (or nothing); collects stdout (keeping
//  its size) and stderr until it exits or `timeout_ms` passes.
static s_result_t
s_sbx_run (const char *input, size_t input_size, int stdin_fd, int timeout_ms, const char *const *args,
           size_t *out_size_p)
{
    const char *argv [64] = {SBX_BUILD_DIR "/sbx"};
    size_t argc = 1;
    for (size_t i = 0; args [i] && argc < 63; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    int in [2], out [2], err [2];
    cr_assert_eq (pipe2 (in, O_CLOEXEC), 0);
    cr_assert_eq (pipe2 (out, O_CLOEXEC), 0);
    cr_assert_eq (pipe2 (err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, stdin_fd >= 0 ? stdin_fd : in [0], 0);
    posix_spawn_file_actions_adddup2 (&actions, out [1], 1);
    posix_spawn_file_actions_adddup2 (&actions, err [1], 2);
    pid_t pid;
    int rc = posix_spawn (&pid, argv [0], &actions, NULL, (char *const *) argv, s_env ());
    posix_spawn_file_actions_destroy (&actions);
    close (in [0]);
    close (out [1]);
    close (err [1]);
    cr_assert_eq (rc, 0, "cannot spawn %s: %s", argv [0], strerror (rc));
    //  stdin is written while the output is read: sbx passes it on as it
    //  comes, so it may well write before it has read it all.
    signal (SIGPIPE, SIG_IGN);      //  sbx may end before it reads it all
    size_t done = 0;
    if (!input || done == input_size)
        close (in [1]);
    fcntl (in [1], F_SETFL, O_NONBLOCK);
    s_result_t result = {0};
    size_t out_size = 0, err_size = 0;
    sbx_test_append (&result.out, &out_size, "", 0);
    sbx_test_append (&result.err, &err_size, "", 0);
    int64_t deadline = s_now () + timeout_ms;
    bool out_open = true, err_open = true, in_open = input && done < input_size;
    while ((out_open || err_open) && s_now () < deadline) {
        struct pollfd items [3] = {{out_open ? out [0] : -1, POLLIN, 0}, {err_open ? err [0] : -1, POLLIN, 0},
                                   {in_open ? in [1] : -1, POLLOUT, 0}};
        if (poll (items, 3, (int) (deadline - s_now ())) <= 0)
            continue;
        if (items [2].revents) {
            ssize_t written = write (in [1], input + done, input_size - done);
            if (written > 0)
                done += (size_t) written;
            if (done == input_size || (written < 0 && errno != EAGAIN)) {
                close (in [1]);
                in_open = false;
            }
        }
        char buffer [4096];
        for (int i = 0; i < 2; i++) {
            if (!(items [i].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t n = read (items [i].fd, buffer, sizeof buffer);
            if (n <= 0) {
                if (i == 0)
                    out_open = false;
                else
                    err_open = false;
            }
            else if (i == 0)
                sbx_test_append (&result.out, &out_size, buffer, (size_t) n);
            else
                sbx_test_append (&result.err, &err_size, buffer, (size_t) n);
        }
    }
    if (in_open)
        close (in [1]);
    close (out [0]);
    close (err [0]);
    result.code = sbx_test_wait_pid (pid, (int) (deadline > s_now () ? deadline - s_now () : 0));
    if (out_size_p)
        *out_size_p = out_size;
    return result;
}

static s_result_t
s_sbx_argv (const char *input, int timeout_ms, const char *const *args)
{
    return s_sbx_run (input, input ? strlen (input) : 0, -1, timeout_ms, args, NULL);
}

#define s_sbx(input, ...) s_sbx_argv ((input), S_WAIT, (const char *const []) {__VA_ARGS__, NULL})

//  Lines of `text` (a copy each), NULL-terminated.
static char **
s_lines (const char *text, size_t *count_p)
{
    size_t count = 0;
    char **lines = (char **) zmalloc (sizeof (char *));
    const char *start = text;
    while (*start) {
        const char *end = strchr (start, '\n');
        size_t length = end ? (size_t) (end - start) : strlen (start);
        lines = (char **) realloc (lines, (count + 2) * sizeof (char *));
        lines [count++] = strndup (start, length);
        start += length + (end ? 1 : 0);
    }
    lines [count] = NULL;
    if (count_p)
        *count_p = count;
    return lines;
}

//  True when `expected` appear in `lines` in this order (not necessarily
//  next to each other).
static bool
s_in_order (char **lines, const char *const *expected, const char **missing_p)
{
    size_t at = 0;
    for (size_t e = 0; expected [e]; e++) {
        while (lines [at] && !streq (lines [at], expected [e]))
            at++;
        if (!lines [at]) {
            *missing_p = expected [e];
            return false;
        }
        at++;
    }
    return true;
}

static bool
s_one_line (const char *text)
{
    size_t length = strlen (text);
    return length > 0 && text [length - 1] == '\n' && strchr (text, '\n') == text + length - 1;
}

TestSuite (cli, .fini = s_fini, .timeout = 180);

Test (cli, help_on_every_command)
{
    const char *commands [] = {"run", "shell", "call", "events", "status", "stats", "top"};
    for (size_t i = 0; i < sizeof commands / sizeof commands [0]; i++) {
        s_result_t result = s_sbx (NULL, commands [i], "--help");
        cr_assert_eq (result.code, 0, "sbx %s --help: %d", commands [i], result.code);
        char usage [64];
        snprintf (usage, sizeof usage, "usage: sbx %s", commands [i]);
        cr_assert (strncmp (result.out, usage, strlen (usage)) == 0, "%s", result.out);
        cr_assert_not_null (strstr (result.out, "Exit codes"));
        s_result_free (&result);
    }
    s_result_t result = s_sbx (NULL, "--help");
    cr_assert_eq (result.code, 0);
    cr_assert_not_null (strstr (result.out, "usage: sbx"));
    s_result_free (&result);
    result = s_sbx (NULL, "frobnicate");
    cr_assert_eq (result.code, 2);
    cr_assert (s_one_line (result.err), "%s", result.err);
    s_result_free (&result);
}

Test (cli, call_prints_a_number)
{
    s_start (S_CONFIG);
    s_result_t result = s_sbx (NULL, "call", "f.num_shell_calls", "{}");
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.err, "");
    char *end = NULL;
    strtol (result.out, &end, 10);
    cr_assert (end != result.out && streq (end, "\n"), "not a number: '%s'", result.out);
    s_result_free (&result);

    //  A sandbox service with args, JSON out; global options after the
    //  command name.
    char endpoint [300];
    snprintf (endpoint, sizeof endpoint, "--endpoint=%s", s_daemon->requests);
    result = s_sbx (NULL, "call", endpoint, "shell", "{\"code\": \"echo hi\"}", "--session-id", "named");
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.out, "\"shell \\\"echo hi\\\" succeeded\"\n");
    s_result_free (&result);
    cr_assert (sbx_test_wait_log (s_daemon, "[testing-env/0:0] session 'named' ended", 1, S_WAIT));
    s_stop ();
}

Test (cli, call_errors_are_one_line_and_non_zero)
{
    s_start (S_CONFIG);
    s_result_t result = s_sbx (NULL, "call", "f.num_shell_calls", "{bad json");
    cr_assert_eq (result.code, 2);
    cr_assert_str_eq (result.out, "");
    cr_assert (s_one_line (result.err), "'%s'", result.err);
    cr_assert (strncmp (result.err, "sbx call: bad JSON args: ", 25) == 0, "%s", result.err);
    s_result_free (&result);

    result = s_sbx (NULL, "call", "f.nope", "{}");
    cr_assert_eq (result.code, 1);
    cr_assert_str_eq (result.out, "");
    char expected [400];
    snprintf (expected, sizeof expected, "sbx: %s: NotFound: no method 'f.nope'\n", s_daemon->requests);
    cr_assert_str_eq (result.err, expected);
    s_result_free (&result);

    //  A user error from the sandbox keeps its type.
    result = s_sbx (NULL, "call", "shell", "{\"code\": \"x\", \"raise_error\": \"ValueError\"}");
    cr_assert_eq (result.code, 1);
    snprintf (expected, sizeof expected, "sbx: %s: ValueError: shell \"x\" failed\n", s_daemon->requests);
    cr_assert_str_eq (result.err, expected);
    s_result_free (&result);

    //  Nobody there: exit 3, naming the endpoint.
    result = s_sbx (NULL, "--endpoint", "tcp://127.0.0.1:9", "status");
    cr_assert_eq (result.code, 3);
    cr_assert (s_one_line (result.err), "'%s'", result.err);
    cr_assert (strncmp (result.err, "sbx: tcp://127.0.0.1:9: Unreachable: ", 37) == 0, "%s", result.err);
    s_result_free (&result);
    s_stop ();
}

static const char *const s_lifecycle [] = {
    "[testing-env] environment started",
    "[testing-env/0:0] ready -> acquired",
    "[testing-env/0:0] acquired -> setting_up",
    "[testing-env/0:0] setting_up -> in_session",
    "[testing-env/0:0] session 's1' started",
    "[testing-env/0:0/s1] shell: echo one",
    "[testing-env/0:0/s1] shell: echo two",
    "[testing-env/0:0/f] feature teardown session",
    "[testing-env/0:0] session 's1' ended",
    "[testing-env/0:0] in_session -> setting_up",
    "[testing-env/0:0/f] feature setup session",
    "[testing-env/0:0] setting_up -> ready",
    NULL
};

Test (cli, shell_runs_lines_in_one_session_and_events_show_its_lifecycle)
{
    s_start (S_CONFIG);
    //  The testing sandbox has no shell feature: `sbx shell` uses its own
    //  `shell` service.
    s_result_t result = s_sbx ("echo one\n\necho two\n", "shell", "--session-id", "s1");
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.out, "shell \"echo one\" succeeded\nshell \"echo two\" succeeded\n");
    s_result_free (&result);
    //  The next session's proactive setup is over: the second "ready".
    cr_assert (sbx_test_wait_log (s_daemon, "[testing-env/0:0] setting_up -> ready", 2, S_WAIT));

    result = s_sbx (NULL, "events", "--no-time");
    cr_assert_eq (result.code, 0, "%s", result.err);
    char **lines = s_lines (result.out, NULL);
    const char *missing = NULL;
    cr_assert (s_in_order (lines, s_lifecycle, &missing), "missing or out of order: %s\n%s",
               missing, result.out);
    sbx_test_lines_free (&lines);
    s_result_free (&result);

    //  The JSON lines form, filtered by prefix: seqs go up.
    result = s_sbx (NULL, "events", "--json", "session.");
    cr_assert_eq (result.code, 0);
    size_t count = 0;
    lines = s_lines (result.out, &count);
    cr_assert_geq (count, 4, "%s", result.out);   //  start, activities, end
    cr_assert_not_null (strstr (lines [0], "\"event\":\"session.start\""), "%s", lines [0]);
    cr_assert_not_null (strstr (lines [count - 1], "\"event\":\"session.end\""), "%s", lines [count - 1]);
    json_int_t last = 0;
    for (size_t i = 0; i < count; i++) {
        json_t *json = json_loads (lines [i], 0, NULL);
        cr_assert_not_null (json, "%s", lines [i]);
        cr_assert_gt (json_integer_value (json_object_get (json, "seq")), last);
        last = json_integer_value (json_object_get (json, "seq"));
        cr_assert (strncmp (json_string_value (json_object_get (json, "event")), "session.", 8) == 0);
        json_decref (json);
    }
    sbx_test_lines_free (&lines);
    s_result_free (&result);
    s_stop ();
}

Test (cli, late_events_print_everything_from_seq_1)
{
    s_start (S_CONFIG);
    for (int i = 0; i < 3; i++) {
        s_result_t result = s_sbx (NULL, "call", "f.num_shell_calls");
        cr_assert_eq (result.code, 0);
        s_result_free (&result);
    }
    cr_assert (sbx_test_wait_log (s_daemon, "[testing-env/0:0] setting_up -> ready", 4, S_WAIT));
    size_t count = 0;
    char **expected = sbx_test_log_lines (s_daemon, &count);
    s_result_t result = s_sbx (NULL, "events", "--no-time");
    cr_assert_eq (result.code, 0);
    size_t got = 0;
    char **lines = s_lines (result.out, &got);
    cr_assert_eq (got, count, "%zu lines, the log has %zu", got, count);
    for (size_t i = 0; i < count; i++)
        cr_assert_str_eq (lines [i], expected [i], "line %zu", i + 1);
    sbx_test_lines_free (&lines);
    s_result_free (&result);

    //  --since skips what came before.
    result = s_sbx (NULL, "events", "--since", "3", "--no-time");
    lines = s_lines (result.out, &got);
    cr_assert_eq (got, count - 3);
    cr_assert_str_eq (lines [0], expected [3]);
    sbx_test_lines_free (&lines);
    s_result_free (&result);
    sbx_test_lines_free (&expected);
    s_stop ();
}

Test (cli, events_follow_prints_live_events_until_interrupted)
{
    s_start (S_CONFIG);
    int out [2];
    cr_assert_eq (pipe2 (out, O_CLOEXEC), 0);
    int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
    s_child = s_spawn_sbx (null, out [1], null, (const char *const []) {"events", "--follow", "--no-time", "session.", NULL},
                           s_env ());
    close (out [1]);
    close (null);

    //  Made after the follower started: it must see them, whenever its
    //  subscription took effect.
    sbx_client_t *client = sbx_client_new (s_daemon->requests, NULL, NULL);
    cr_assert_not_null (client);
    json_t *result = sbx_client_call_json (client, "f", "show_session_id", NULL, "live-1", NULL);
    cr_assert_not_null (result);
    json_decref (result);
    sbx_client_destroy (&client);

    char *text = NULL;
    size_t size = 0;
    bool seen = s_read_until (out [0], &text, &size, "[testing-env/0:0] session 'live-1' ended\n", S_WAIT);
    cr_assert (seen, "follower printed: %s", text ? text : "(nothing)");
    char **lines = s_lines (text, NULL);
    const char *expected [] = {
        "[testing-env/0:0] session 'live-1' started",
        "[testing-env/0:0/live-1] show_session_id: None",
        "[testing-env/0:0] session 'live-1' ended",
        NULL
    };
    const char *missing = NULL;
    cr_assert (s_in_order (lines, expected, &missing), "missing %s in %s", missing, text);
    sbx_test_lines_free (&lines);
    free (text);
    kill (s_child, SIGINT);
    cr_assert_eq (sbx_test_wait_pid (s_child, S_WAIT), 0);
    s_child = -1;
    close (out [0]);
    s_stop ();
}

Test (cli, status_and_stats_tables_and_json)
{
    s_start (S_CONFIG);
    s_result_t result = s_sbx (NULL, "status");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_not_null (strstr (result.out, "environment testing-env: online"), "%s", result.out);
    cr_assert_not_null (strstr (result.out, "SANDBOX"));
    cr_assert_not_null (strstr (result.out, "testing-env/0:0"));
    s_result_free (&result);

    result = s_sbx (NULL, "status", "--json");
    cr_assert_eq (result.code, 0);
    json_t *json = json_loads (result.out, 0, NULL);
    cr_assert_not_null (json, "%s", result.out);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (json, "environment"), "id")),
                      "testing-env");
    cr_assert_eq (json_array_size (json_object_get (json, "sandboxes")), 1);
    json_decref (json);
    s_result_free (&result);

    result = s_sbx (NULL, "status", "testing-env/7:7");
    cr_assert_eq (result.code, 1);
    cr_assert (s_one_line (result.err));
    cr_assert_not_null (strstr (result.err, ": NotFound: "));
    s_result_free (&result);

    result = s_sbx (NULL, "stats");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_not_null (strstr (result.out, "pool        min 1  max 2  size 1"), "%s", result.out);
    cr_assert_not_null (strstr (result.out, "sessions_started"));
    //  The metrics' durations and gauges (docs/metrics.md).
    cr_assert_not_null (strstr (result.out, "\nDURATION "), "%s", result.out);
    cr_assert_not_null (strstr (result.out, "\nsandbox_start_duration_seconds "), "%s", result.out);
    cr_assert_not_null (strstr (result.out, "\ngauges      subscribers "), "%s", result.out);
    s_result_free (&result);

    result = s_sbx (NULL, "stats", "--json");
    cr_assert_eq (result.code, 0);
    json = json_loads (result.out, 0, NULL);
    cr_assert_not_null (json, "%s", result.out);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (json, "pool"), "max")), 2);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (json, "sandbox"), "ready")), 1);
    json_decref (json);
    s_result_free (&result);
    s_stop ();
}

//  Reads the terminal until `pid` exits; returns its exit code and what
//  it drew in *screen_p.
static int
s_drain_until_exit (int master, pid_t pid, char **screen_p, size_t *used_p)
{
    int64_t deadline = s_now () + S_WAIT;
    while (s_now () < deadline) {
        int status = 0;
        if (waitpid (pid, &status, WNOHANG) == pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        if (s_read_some (master, screen_p, used_p, 50) < 0)
            return sbx_test_wait_pid (pid, S_WAIT);
    }
    return sbx_test_wait_pid (pid, 0);
}

Test (cli, top_renders_in_a_pseudo_terminal_and_quits_on_q)
{
    s_start (S_CONFIG);
    int master = -1;
    s_child = s_spawn_sbx_on_terminal (30, 100, (const char *const []) {"top", NULL}, s_env (), &master);

    char *screen = NULL;
    size_t used = 0;
    cr_assert (s_read_until (master, &screen, &used, "testing-env/0:0", S_WAIT),
               "top showed: %s", screen ? screen : "(nothing)");
    cr_assert_not_null (strstr (screen, "sbx top - testing-env - online"), "%s", screen);
    cr_assert_not_null (strstr (screen, "SANDBOX"));

    //  A session started now shows up, from the events.
    sbx_client_t *client = sbx_client_new (s_daemon->requests, NULL, NULL);
    cr_assert_not_null (client);
    sbx_session_t *session = sbx_client_session_open (client, "topsession", NULL);
    cr_assert_not_null (session);
    cr_assert (s_read_until (master, &screen, &used, "topsession", S_WAIT), "no session row");
    cr_assert_eq (sbx_session_end (&session, NULL), 0);
    sbx_client_destroy (&client);

    cr_assert_eq (write (master, "q", 1), 1);
    //  Keep draining the terminal while it exits.
    int code = s_drain_until_exit (master, s_child, &screen, &used);
    s_child = -1;
    cr_assert_eq (code, 0, "top did not quit on q (code %d)", code);
    free (screen);
    close (master);
    s_stop ();
}

Test (cli, run_needs_a_shell_feature)
{
    s_start (S_CONFIG);
    s_result_t result = s_sbx (NULL, "run", "--", "true");
    cr_assert_eq (result.code, 1);
    cr_assert (s_one_line (result.err), "%s", result.err);
    cr_assert_not_null (strstr (result.err, "NotFound: environment 'testing-env' has no feature of kind 'shell'"),
                        "%s", result.err);
    s_result_free (&result);
    result = s_sbx (NULL, "run");
    cr_assert_eq (result.code, 2);
    s_result_free (&result);
    s_stop ();
}

//  The real shell feature on process sandboxes.
#define S_PROCESS_CONFIG                                                           \
    "{\"environment\": {\"id\": \"process-env\", \"pool\": {\"min\": 1, \"max\": 2}},"  \
    " \"sandbox\": {\"kind\": \"process\"},"                                        \
    " \"features\": {\"shell\": {\"kind\": \"shell\"}}}"

Test (cli, run_gives_the_right_streams_and_exit_code)
{
    s_start_env (S_PROCESS_CONFIG, "process-env");
    const json_t *features = NULL;
    sbx_client_t *client = sbx_client_new (s_daemon->requests, NULL, NULL);
    cr_assert_not_null (client);
    features = json_object_get (sbx_client_hello (client), "features");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (features, "shell"), "kind")), "shell");
    sbx_client_destroy (&client);

    s_result_t result = s_sbx (NULL, "run", "--", "sh", "-c", "echo out; echo err >&2; exit 3");
    cr_assert_eq (result.code, 3, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.out, "out\n");
    cr_assert_str_eq (result.err, "err\n");
    s_result_free (&result);

    //  Arguments arrive as given, quotes and all.
    result = s_sbx (NULL, "run", "--session-id", "quoted", "--", "printf", "%s|", "a b", "it's", "$HOME");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "a b|it's|$HOME|");
    s_result_free (&result);

    result = s_sbx (NULL, "run", "--timeout", "0.5", "--", "sleep", "10");
    cr_assert_eq (result.code, 124, "exit %d: %s", result.code, result.err);
    s_result_free (&result);
    s_stop ();
}

//  `sbx run` prints what the command writes as it comes: the command
//  writes a line, then waits for the test; the line is on sbx's stdout
//  before the test lets the command go on.
Test (cli, run_streams_output_as_it_comes)
{
    s_start_env (S_PROCESS_CONFIG, "process-env");
    const char *dir = s_make_temp_dir ("stream");
    chmod (dir, 0711);          //  the sandbox's own user looks in
    char release [300], script [600];
    snprintf (release, sizeof release, "%s/release", dir);
    snprintf (script, sizeof script, "echo first; while [ ! -e %s ]; do sleep 0.01; done; echo second", release);
    int out [2];
    cr_assert_eq (pipe2 (out, O_CLOEXEC), 0);
    int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
    s_child = s_spawn_sbx (null, out [1], null, (const char *const []) {"run", "--", "sh", "-c", script, NULL}, s_env ());
    close (out [1]);
    close (null);
    char *text = NULL;
    size_t size = 0;
    cr_assert (s_read_until (out [0], &text, &size, "first\n", S_WAIT), "nothing streamed: '%s'",
               text ? text : "");
    cr_assert_null (strstr (text, "second"));
    FILE *file = fopen (release, "w");
    cr_assert_not_null (file);
    fclose (file);
    cr_assert (s_read_until (out [0], &text, &size, "second\n", S_WAIT), "got '%s'", text ? text : "");
    cr_assert_eq (sbx_test_wait_pid (s_child, S_WAIT), 0);
    s_child = -1;
    free (text);
    close (out [0]);
    //  --no-stream prints it at the end, all the same.
    s_result_t result = s_sbx (NULL, "run", "--no-stream", "--", "sh", "-c", "echo a; echo b >&2");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "a\n");
    cr_assert_str_eq (result.err, "b\n");
    s_result_free (&result);
    s_stop ();
}

//  --- stdin, env, cwd, timeouts, cp, open/close, shell, events -------------

#define S_TOOL_CONFIG                                                              \
    "{\"environment\": {\"id\": \"tool-env\", \"pool\": {\"min\": 1, \"max\": 2}},"    \
    " \"sandbox\": {\"kind\": \"process\"},"                                        \
    " \"features\": {\"shell\": {\"kind\": \"shell\"}, \"fs\": {\"kind\": \"fs\"}}}"

//  `sbx open [args]`: the handle it prints (caller frees).
static char *
s_open_handle (const char *session_id)
{
    s_result_t result = session_id ? s_sbx (NULL, "open", "--session-id", session_id) : s_sbx (NULL, "open");
    cr_assert_eq (result.code, 0, "sbx open: %d: %s", result.code, result.err);
    const char *prefix = "export SBX_SESSION=";
    cr_assert (strncmp (result.out, prefix, strlen (prefix)) == 0, "%s", result.out);
    cr_assert (s_one_line (result.out), "%s", result.out);
    char *handle = strndup (result.out + strlen (prefix), strlen (result.out) - strlen (prefix) - 1);
    s_result_free (&result);
    return handle;
}

//  Bytes that are not text: every byte value, NULs among them.
static char *
s_binary (size_t size)
{
    char *data = (char *) malloc (size);
    for (size_t i = 0; i < size; i++)
        data [i] = (char) ((i * 7 + i / 251) & 0xff);
    return data;
}

static void
s_write_file (const char *path, const char *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file, "%s: %s", path, strerror (errno));
    cr_assert_eq (fwrite (data, 1, size, file), size);
    fclose (file);
}

static char *
s_read_file (const char *path, size_t *size_p)
{
    FILE *file = fopen (path, "rb");
    cr_assert_not_null (file, "%s: %s", path, strerror (errno));
    char *data = NULL;
    size_t size = 0;
    char chunk [65536];
    size_t n;
    while ((n = fread (chunk, 1, sizeof chunk, file)) > 0)
        sbx_test_append (&data, &size, chunk, n);
    fclose (file);
    *size_p = size;
    return data;
}

Test (cli, run_forwards_stdin_text_and_binary)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    s_result_t result = s_sbx ("piped\n", "run", "--", "cat");
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.out, "piped\n");
    s_result_free (&result);

    //  Bytes, NULs and all, more than a pipe holds: back as they went.
    size_t size = 300000, got = 0;
    char *data = s_binary (size);
    result = s_sbx_run (data, size, -1, S_WAIT, (const char *const []) {"run", "--", "cat", NULL}, &got);
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_eq (got, size);
    cr_assert (memcmp (result.out, data, size) == 0, "the bytes came back changed");
    s_result_free (&result);
    free (data);

    //  --no-stdin: the command reads nothing.
    result = s_sbx ("ignored\n", "run", "--no-stdin", "--", "cat");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "");
    s_result_free (&result);

    //  More than one request carries (16 MiB): it goes in chunks.
    char path [] = "/tmp/sbx-cli-stdin-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    cr_assert_eq (ftruncate (fd, 17 * 1024 * 1024), 0);
    result = s_sbx_run (NULL, 0, fd, S_WAIT, (const char *const []) {"run", "--", "wc", "-c", NULL}, NULL);
    close (fd);
    unlink (path);
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.out, "17825792\n");
    s_result_free (&result);

    //  A command that reads none of it ends all the same.
    result = s_sbx ("ignored\n", "run", "--", "echo", "done");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "done\n");
    s_result_free (&result);
    s_stop ();
}

//  A pipe's lines reach the command as they are written: each one's
//  answer comes back before the next is even written.
Test (cli, run_reads_stdin_as_it_comes)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    int in [2], out [2];
    cr_assert_eq (pipe2 (in, O_CLOEXEC), 0);
    cr_assert_eq (pipe2 (out, O_CLOEXEC), 0);
    int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
    s_child = s_spawn_sbx (in [0], out [1], null, (const char *const []) {"run", "--", "cat", NULL}, s_env ());
    close (in [0]);
    close (out [1]);
    close (null);
    char *text = NULL;
    size_t size = 0;
    const char *lines [] = {"one\n", "two\n", "three\n"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (write (in [1], lines [i], strlen (lines [i])), (ssize_t) strlen (lines [i]));
        cr_assert (s_read_until (out [0], &text, &size, lines [i], S_WAIT), "'%s' did not come back: '%s'",
                   lines [i], text ? text : "");
    }
    close (in [1]);             //  the end: cat exits
    cr_assert_eq (sbx_test_wait_pid (s_child, S_WAIT), 0);
    s_child = -1;
    cr_assert_str_eq (text, "one\ntwo\nthree\n");
    free (text);
    close (out [0]);
    s_stop ();
}

Test (cli, run_sets_env_and_cwd)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    setenv ("TOOL_TEST_PASSED", "from here", 1);
    unsetenv ("TOOL_TEST_UNSET");
    s_result_t result = s_sbx (NULL, "run", "--env", "A=1", "-e", "B=two words", "--env", "TOOL_TEST_PASSED",
                               "--env", "TOOL_TEST_UNSET", "--", "sh", "-c",
                               "echo \"$A|$B|$TOOL_TEST_PASSED|${TOOL_TEST_UNSET-unset}\"");
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.out, "1|two words|from here|unset\n");
    s_result_free (&result);
    result = s_sbx (NULL, "run", "--env", "=x", "--", "true");
    cr_assert_eq (result.code, 2);
    cr_assert (s_one_line (result.err), "%s", result.err);
    s_result_free (&result);

    //  A directory made by one command is the next one's cwd.
    char *handle = s_open_handle ("cwd");
    result = s_sbx (NULL, "run", "--session", handle, "--", "mkdir", "-p", "sub/dir");
    cr_assert_eq (result.code, 0, "%s", result.err);
    s_result_free (&result);
    result = s_sbx (NULL, "run", "--session", handle, "--cwd", "sub/dir", "--", "sh", "-c", "pwd; ls ../..");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_not_null (strstr (result.out, "/sub/dir\nsub\n"), "%s", result.out);
    s_result_free (&result);
    result = s_sbx (NULL, "run", "--session", handle, "--cwd", "nowhere", "--", "pwd");
    cr_assert_eq (result.code, 1);
    cr_assert_not_null (strstr (result.err, "FileNotFoundError"), "%s", result.err);
    s_result_free (&result);
    result = s_sbx (NULL, "close", handle);
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "");
    s_result_free (&result);
    free (handle);
    s_stop ();
}

Test (cli, call_waits_as_long_as_the_timeout_ms_of_its_args)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    //  A reply wait of 1 s, a command of 2 s with a limit of 10 s: the
    //  reply wait follows the command's limit.
    s_result_t result = s_sbx (NULL, "--timeout", "1", "call", "--compact", "shell.run",
                               "{\"cmd\": \"sleep 2; echo done\", \"timeout_ms\": 10000}");
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_not_null (strstr (result.out, "\"stdout\":\"done\\n\""), "%s", result.out);
    s_result_free (&result);
    //  Without it, --timeout is the reply wait (and the wait for a
    //  sandbox: a second more in all).
    result = s_sbx (NULL, "--timeout", "1", "call", "shell.run", "{\"cmd\": \"sleep 5\"}");
    cr_assert_eq (result.code, 3, "exit %d: %s", result.code, result.err);
    cr_assert_not_null (strstr (result.err, "Timeout: "), "%s", result.err);
    s_result_free (&result);
    s_stop ();
}

Test (cli, a_command_that_times_out_says_so)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    s_result_t result = s_sbx (NULL, "run", "--timeout", "0.5", "--", "sleep", "10");
    cr_assert_eq (result.code, 124, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.err, "sbx: command timed out after 0.5 s\n");
    s_result_free (&result);

    result = s_sbx ("sleep 3; echo no\n", "shell", "--command-timeout", "0.5");
    cr_assert_eq (result.code, 124, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.out, "");
    cr_assert_not_null (strstr (result.err, "sbx: command timed out after 0.5 s\n"), "%s", result.err);
    s_result_free (&result);
    s_stop ();

    //  The feature's own limit: the time it ran says it.
    s_start_env ("{\"environment\": {\"id\": \"tool-env\", \"pool\": {\"min\": 1, \"max\": 1}},"
                 " \"sandbox\": {\"kind\": \"process\"},"
                 " \"features\": {\"shell\": {\"kind\": \"shell\", \"timeout_ms\": 400}}}", "tool-env");
    result = s_sbx (NULL, "run", "--", "sleep", "10");
    cr_assert_eq (result.code, 124, "exit %d: %s", result.code, result.err);
    cr_assert_str_eq (result.err, "sbx: command timed out after 0.4 s\n");
    s_result_free (&result);
    s_stop ();
}

Test (cli, cp_copies_binary_files_both_ways)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    const char *dir = s_make_temp_dir ("cp");
    char local [128], back [128], empty [128];
    snprintf (local, sizeof local, "%s/data.bin", dir);
    snprintf (back, sizeof back, "%s/back.bin", dir);
    snprintf (empty, sizeof empty, "%s/empty", dir);
    //  More than one part (1 MiB) and not a whole number of them.
    size_t size = 2 * 1024 * 1024 + 12345;
    char *data = s_binary (size);
    s_write_file (local, data, size);
    s_write_file (empty, "", 0);

    char *handle = s_open_handle ("cp");
    char remote [256];
    snprintf (remote, sizeof remote, "%s:in/data.bin", handle);
    s_result_t result = s_sbx (NULL, "cp", local, remote);
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    s_result_free (&result);
    result = s_sbx (NULL, "cp", remote, back);
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    s_result_free (&result);
    size_t got = 0;
    char *copy = s_read_file (back, &got);
    cr_assert_eq (got, size);
    cr_assert (memcmp (copy, data, size) == 0, "the copy differs");
    free (copy);

    //  The session of $SBX_SESSION: `:PATH`; stdout and stdin as `-`.
    s_session_env = handle;
    result = s_sbx_run (NULL, 0, -1, S_WAIT, (const char *const []) {"cp", ":in/data.bin", "-", NULL}, &got);
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    cr_assert_eq (got, size);
    cr_assert (memcmp (result.out, data, size) == 0);
    s_result_free (&result);
    result = s_sbx_run ("a\0b\0\xff", 5, -1, S_WAIT, (const char *const []) {"cp", "-", ":small.bin", NULL}, NULL);
    cr_assert_eq (result.code, 0, "exit %d: %s", result.code, result.err);
    s_result_free (&result);
    //  JSON shows bytes that are not text as base64, and takes them back.
    result = s_sbx (NULL, "call", "--compact", "fs.read", "{\"path\": \"small.bin\"}");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "{\"$base64\":\"YQBiAP8=\"}\n");
    s_result_free (&result);
    result = s_sbx (NULL, "call", "fs.write", "{\"path\": \"again.bin\", \"data\": {\"$base64\": \"YQBiAP8=\"}}");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "5\n");
    s_result_free (&result);
    result = s_sbx (NULL, "run", "--", "cmp", "small.bin", "again.bin");
    cr_assert_eq (result.code, 0, "%s%s", result.out, result.err);
    s_result_free (&result);
    //  Into a directory: the source's name; an empty file stays empty.
    result = s_sbx (NULL, "cp", empty, ":in/");
    cr_assert_eq (result.code, 0, "%s", result.err);
    s_result_free (&result);
    result = s_sbx (NULL, "run", "--", "sh", "-c", "ls in; wc -c < in/empty");
    cr_assert_str_eq (result.out, "data.bin\nempty\n0\n");
    s_result_free (&result);
    s_session_env = NULL;

    //  -:PATH is a fresh session: nothing there, and nothing made here.
    char missing [128];
    snprintf (missing, sizeof missing, "%s/missing", dir);
    result = s_sbx (NULL, "cp", "-:in/data.bin", missing);
    cr_assert_eq (result.code, 1);
    cr_assert_not_null (strstr (result.err, "FileNotFoundError"), "%s", result.err);
    cr_assert_neq (access (missing, F_OK), 0);
    s_result_free (&result);
    //  ...and a file that was there stays as it was.
    s_write_file (missing, "keep", 4);
    result = s_sbx (NULL, "cp", ":nope.bin", missing);
    cr_assert_eq (result.code, 2, "no session: %s", result.err);
    s_result_free (&result);
    result = s_sbx (NULL, "cp", "-:nope.bin", missing);
    cr_assert_eq (result.code, 1);
    s_result_free (&result);
    char *kept = s_read_file (missing, &got);
    cr_assert (got == 4 && memcmp (kept, "keep", 4) == 0);
    free (kept);
    unlink (missing);
    result = s_sbx (NULL, "cp", local, back);
    cr_assert_eq (result.code, 2, "two local paths: %s", result.err);
    s_result_free (&result);

    result = s_sbx (NULL, "close", handle);
    cr_assert_eq (result.code, 0, "%s", result.err);
    s_result_free (&result);
    free (handle);
    free (data);
    s_stop ();
}

Test (cli, open_run_close_hold_one_session)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    char *handle = s_open_handle ("held");
    size_t length = strlen (handle);
    cr_assert (length > 5 && streq (handle + length - 5, ",held"), "%s", handle);
    s_result_t result = s_sbx (NULL, "run", "--session", handle, "--", "sh", "-c", "echo kept > f");
    cr_assert_eq (result.code, 0, "%s", result.err);
    s_result_free (&result);
    result = s_sbx (NULL, "run", "--session", handle, "--", "cat", "f");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "kept\n");
    s_result_free (&result);
    result = s_sbx (NULL, "status");
    cr_assert_not_null (strstr (result.out, "in_session  held"), "%s", result.out);
    s_result_free (&result);

    //  $SBX_SESSION is the default; `--session -` asks for a fresh one.
    s_session_env = handle;
    result = s_sbx (NULL, "call", "--compact", "shell.run", "{\"cmd\": \"cat f\"}");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_not_null (strstr (result.out, "\"stdout\":\"kept\\n\""), "%s", result.out);
    s_result_free (&result);
    result = s_sbx (NULL, "run", "--session", "-", "--", "cat", "f");
    cr_assert_eq (result.code, 1, "%s", result.out);
    s_result_free (&result);
    //  close ends it and, as it is $SBX_SESSION's, says to forget it.
    result = s_sbx (NULL, "close");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "unset SBX_SESSION\n");
    s_result_free (&result);
    s_session_env = NULL;
    cr_assert (sbx_test_wait_log (s_daemon, "[tool-env/0:0] session 'held' ended", 1, S_WAIT));
    result = s_sbx (NULL, "run", "--session", handle, "--", "cat", "f");
    cr_assert_eq (result.code, 1);
    cr_assert_not_null (strstr (result.err, "Unauthorized"), "%s", result.err);
    s_result_free (&result);
    //  A $SBX_SESSION left behind: the error says what to do about it.
    s_session_env = handle;
    result = s_sbx (NULL, "run", "--", "cat", "f");
    cr_assert_eq (result.code, 1);
    cr_assert_not_null (strstr (result.err, "Unauthorized"), "%s", result.err);
    cr_assert_not_null (strstr (result.err, "\nsbx: note: that is the session of $SBX_SESSION, which has ended"),
                        "%s", result.err);
    s_result_free (&result);
    s_session_env = NULL;
    result = s_sbx (NULL, "close", "not-a-handle");
    cr_assert_eq (result.code, 2);
    s_result_free (&result);
    free (handle);
    s_stop ();
}

Test (cli, shell_ends_its_session_on_sighup_and_sigterm)
{
    s_start (S_CONFIG);
    const int signals [] = {SIGHUP, SIGTERM};
    const char *names [] = {"hup", "term"};
    for (size_t i = 0; i < 2; i++) {
        int in, out, err;
        s_child = s_spawn_sbx_piped (&in, &out, &err, (const char *const []) {"shell", "--session-id", names [i], NULL},
                                     s_env ());
        cr_assert_eq (write (in, "echo one\n", 9), 9);
        char *text = NULL;
        size_t size = 0;
        cr_assert (s_read_until (out, &text, &size, "shell \"echo one\" succeeded\n", S_WAIT), "%s", text);
        free (text);
        //  The session is open and idle (stdin stays open): a closed
        //  terminal, or a kill, ends it.
        kill (s_child, signals [i]);
        cr_assert_eq (sbx_test_wait_pid (s_child, S_WAIT), 128 + signals [i]);
        s_child = -1;
        char line [128];
        snprintf (line, sizeof line, "[testing-env/0:0] session '%s' ended", names [i]);
        cr_assert (sbx_test_wait_log (s_daemon, line, 1, S_WAIT), "no: %s", line);
        close (in);
        close (out);
        close (err);
    }
    s_stop ();
}

Test (cli, shell_explains_a_daemon_restart)
{
    //  A port far above where `*` starts (49152): the lowest free port is
    //  the next one any other daemon binds, and suites run side by side
    //  could take this one between the stop and the restart below.
    s_start ("{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 2},"
             " \"keepalive_interval_s\": null}, \"sandbox\": {\"kind\": \"testing\"},"
             " \"features\": {\"f\": {\"kind\": \"testing\"}},"
             " \"endpoints\": {\"requests\": \"tcp://127.0.0.1:*[60000-]\"}}");
    char requests [256];
    snprintf (requests, sizeof requests, "%s", s_daemon->requests);
    int in, out, err;
    s_child = s_spawn_sbx_piped (&in, &out, &err, (const char *const []) {"shell", "--session-id", "rs", NULL}, s_env ());
    cr_assert_eq (write (in, "echo one\n", 9), 9);
    char *text = NULL;
    size_t size = 0;
    cr_assert (s_read_until (out, &text, &size, "shell \"echo one\" succeeded\n", S_WAIT), "%s", text);
    free (text);
    //  Another daemon on the same endpoint: it knows nothing of 'rs'.
    s_stop ();
    char config [1024];
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 2},"
              " \"keepalive_interval_s\": null}, \"sandbox\": {\"kind\": \"testing\"},"
              " \"features\": {\"f\": {\"kind\": \"testing\"}}, \"endpoints\": {\"requests\": \"%s\"}}", requests);
    s_start (config);
    cr_assert_eq (write (in, "echo two\n", 9), 9);
    text = NULL;
    size = 0;
    bool said = s_read_until (err, &text, &size, "\n", S_WAIT);
    cr_assert (said, "%s", text ? text : "(nothing)");
    cr_assert_str_eq (text, "sbx: the daemon restarted: session 'rs' is gone; start `sbx shell` again\n");
    free (text);
    cr_assert_eq (sbx_test_wait_pid (s_child, S_WAIT), 1);
    s_child = -1;
    close (in);
    close (out);
    close (err);
    s_stop ();
}

//  Starts `sbx shell --session-id ID` on a new pseudo-terminal, with its
//  history under `state`, and waits for its prompt and its line editor;
//  returns the master side (the caller closes it).
static int
s_shell_on_terminal (const char *state, const char *id, char **screen_p, size_t *used_p)
{
    s_state_home = state;
    int master = -1;
    s_child = s_spawn_sbx_on_terminal (24, 80, (const char *const []) {"shell", "--session-id", id, NULL}, s_env (),
                                       &master);
    char prompt [64];
    snprintf (prompt, sizeof prompt, "%s$ ", id);
    cr_assert (s_read_until (master, screen_p, used_p, prompt, S_WAIT), "%s", *screen_p ? *screen_p : "(nothing)");
    cr_assert (s_wait_mode (master, false, screen_p, used_p, S_WAIT));
    return master;
}

//  Ctrl-D at the prompt of the shell s_shell_on_terminal started: its
//  session ends and it exits 0. Frees `screen`, closes `master`.
static void
s_shell_off_terminal (int master, char *screen, size_t used)
{
    cr_assert (s_wait_mode (master, false, &screen, &used, S_WAIT));
    cr_assert_eq (write (master, "\x04", 1), 1);
    cr_assert (s_read_until (master, &screen, &used, "sbx: session ended", S_WAIT), "%s", screen);
    cr_assert_eq (sbx_test_wait_pid (s_child, S_WAIT), 0);
    s_child = -1;
    s_state_home = NULL;
    free (screen);
    close (master);
}

Test (cli, shell_edits_lines_and_keeps_history_on_a_terminal)
{
    s_start (S_CONFIG);
    const char *state = s_make_temp_dir ("state");
    char *screen = NULL;
    size_t used = 0;
    int master = s_shell_on_terminal (state, "tty", &screen, &used);
    cr_assert_eq (write (master, "echo one\r", 9), 9);
    const char *ran = "shell \"echo one\" succeeded";
    cr_assert (s_read_until (master, &screen, &used, ran, S_WAIT), "%s", screen);
    //  Up arrow, Enter, once the editor reads again: the line before,
    //  again (not "\x1b[A", which the shell would have run). Between lines
    //  the terminal is back in its usual mode.
    size_t mark = used;
    cr_assert (s_wait_mode (master, false, &screen, &used, S_WAIT));
    mark = used;
    cr_assert_eq (write (master, "\x1b[A\r", 4), 4);
    cr_assert (s_read_until_after (master, &screen, &used, mark, ran, S_WAIT), "%s", screen + mark);
    cr_assert_null (strstr (screen, "[A"), "%s", screen);
    //  Ctrl-A, then typing at the start of the line: it is edited.
    mark = used;
    cr_assert (s_wait_mode (master, false, &screen, &used, S_WAIT));
    mark = used;
    cr_assert_eq (write (master, "echo three\x01x\r", 13), 13);
    cr_assert (s_read_until_after (master, &screen, &used, mark, "shell \"xecho three\" succeeded", S_WAIT),
               "%s", screen + mark);
    s_shell_off_terminal (master, screen, used);

    char path [128];
    snprintf (path, sizeof path, "%s/sbx/history", state);
    size_t length = 0;
    char *history = s_read_file (path, &length);
    //  libedit's format: spaces are written \040.
    cr_assert_not_null (strstr (history, "\necho\\040one\n"), "%s", history);
    cr_assert_not_null (strstr (history, "\nxecho\\040three\n"), "%s", history);
    struct stat st;
    cr_assert_eq (stat (path, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0600);
    free (history);
    s_stop ();
}

//  On a terminal, what is typed while a command runs is its stdin, line
//  by line as it is typed, and Ctrl-D its end: as in a shell.
Test (cli, shell_gives_a_running_command_what_is_typed)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    char *screen = NULL;
    size_t used = 0;
    int master = s_shell_on_terminal (s_make_temp_dir ("typed"), "tp", &screen, &used);
    const char *command = "while read l; do echo \"<$l>\"; done\r";
    cr_assert_eq (write (master, command, strlen (command)), (ssize_t) strlen (command));
    cr_assert (s_wait_mode (master, true, &screen, &used, S_WAIT));
    size_t mark = used;
    cr_assert_eq (write (master, "first\n", 6), 6);
    cr_assert (s_read_until_after (master, &screen, &used, mark, "<first>", S_WAIT), "%s", screen + mark);
    mark = used;
    cr_assert_eq (write (master, "second\n", 7), 7);
    cr_assert (s_read_until_after (master, &screen, &used, mark, "<second>", S_WAIT), "%s", screen + mark);
    //  Ctrl-D: the loop has its end and exits; the prompt comes back.
    mark = used;
    cr_assert_eq (write (master, "\x04", 1), 1);
    cr_assert (s_read_until_after (master, &screen, &used, mark, "tp$ ", S_WAIT), "%s", screen + mark);
    s_shell_off_terminal (master, screen, used);
    s_stop ();
}

Test (cli, events_show_the_command_of_shell_run_and_the_time)
{
    s_start_env (S_TOOL_CONFIG, "tool-env");
    s_result_t result = s_sbx (NULL, "run", "--session-id", "ev", "--", "echo", "hi", "there");
    cr_assert_eq (result.code, 0, "%s", result.err);
    s_result_free (&result);
    //  The text form names the command where the call has no `code`.
    cr_assert (sbx_test_wait_log (s_daemon, "[tool-env/0:0/ev] run: echo hi there", 1, S_WAIT));
    result = s_sbx (NULL, "events", "--no-time", "session.activity");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_str_eq (result.out, "[tool-env/0:0/ev] run: echo hi there\n");
    s_result_free (&result);
    //  With the local time in front: HH:MM:SS.mmm.
    result = s_sbx (NULL, "events");
    cr_assert_eq (result.code, 0, "%s", result.err);
    size_t count = 0;
    char **lines = s_lines (result.out, &count);
    cr_assert_gt (count, 3);
    bool found = false;
    for (size_t i = 0; i < count; i++) {
        const char *l = lines [i];
        bool timed = strlen (l) > 13 && l [2] == ':' && l [5] == ':' && l [8] == '.' && l [12] == ' '
                  && l [13] == '[';
        for (int k = 0; timed && k < 12; k++)
            timed = (k == 2 || k == 5 || k == 8) || (l [k] >= '0' && l [k] <= '9');
        cr_assert (timed, "line %zu: '%s'", i + 1, l);
        found = found || streq (l + 13, "[tool-env/0:0/ev] run: echo hi there");
    }
    cr_assert (found, "%s", result.out);
    sbx_test_lines_free (&lines);
    s_result_free (&result);

    //  Reals in JSON with the digits they have: 0.1, not 0.10000000000000001.
    result = s_sbx (NULL, "call", "--session-id", "real", "shell.run", "{\"cmd\": \"true\", \"x\": 0.1}");
    cr_assert_eq (result.code, 1, "an unknown argument: %s", result.err);
    s_result_free (&result);
    cr_assert (sbx_test_wait_log (s_daemon, "[tool-env/0:0/real] run: true with ValueError", 1, S_WAIT));
    result = s_sbx (NULL, "events", "--json", "session.activity");
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert_not_null (strstr (result.out, "\"args\":{\"cmd\":\"true\",\"x\":0.1}"), "%s", result.out);
    s_result_free (&result);
    s_stop ();
}

Test (cli, top_ends_quietly_on_sigterm_and_sigint)
{
    s_start (S_CONFIG);
    const int signals [] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < 2; i++) {
        int master = -1;
        s_child = s_spawn_sbx_on_terminal (24, 80, (const char *const []) {"top", NULL}, s_env (), &master);
        char *screen = NULL;
        size_t used = 0;
        cr_assert (s_read_until (master, &screen, &used, "testing-env/0:0", S_WAIT), "%s", screen);
        cr_assert_not_null (strstr (screen, "STATE ERRS"), "%s", screen);
        size_t mark = used;
        kill (s_child, signals [i]);
        int code = s_drain_until_exit (master, s_child, &screen, &used);
        s_child = -1;
        cr_assert_eq (code, 128 + signals [i], "top exited %d", code);
        cr_assert_null (strstr (screen + mark, "Interrupted"), "%s", screen + mark);
        cr_assert_null (strstr (screen + mark, "daemon:"), "%s", screen + mark);
        free (screen);
        close (master);
    }
    s_stop ();
}
