/*  sbxd's command line: what it says about a configuration it refuses
    (with exit code 2, before anything is bound), and the lines it logs.
    Each test runs build/sbxd and reads its stderr. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "testutil.h"

#define S_WAIT 20000

static sbx_test_daemon_t *s_daemon;
static char s_dir [64];

static void
s_init (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/sbx-test-sbxd-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
s_fini (void)
{
    if (s_daemon) {
        sbx_test_daemon_shutdown (s_daemon);
        sbx_test_daemon_destroy (&s_daemon);
    }
    char path [128];
    snprintf (path, sizeof path, "%s/config.json", s_dir);
    unlink (path);
    rmdir (s_dir);
}

TestSuite (sbxd, .init = s_init, .fini = s_fini, .timeout = 120);

//  Writes `config` to the suite's directory; returns the path.
static const char *
s_config (const char *config)
{
    static char path [128];
    snprintf (path, sizeof path, "%s/config.json", s_dir);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    fputs (config, file);
    fclose (file);
    return path;
}

Test (sbxd, a_bad_endpoint_is_refused_with_its_path)
{
    static const struct {
        const char *endpoints, *says;
    } bad [] = {
        {"{\"requests\": \"tcp//127.0.0.1:1\"}", "endpoints.requests: 'tcp//127.0.0.1:1' is not an endpoint"},
        {"{\"requests\": \"tcp://127.0.0.1\"}", "endpoints.requests: 'tcp://127.0.0.1' is not an endpoint"},
        {"{\"events\": \"tcp://127.0.0.1:x\"}", "endpoints.events: 'tcp://127.0.0.1:x' is not an endpoint"},
        {"{\"events\": \"tcp://127.0.0.1:70000\"}", "endpoints.events"},
        {"{\"events\": \"tcp://:5556\"}", "endpoints.events"},
        {"{\"requests\": \"ipc://\"}", "endpoints.requests"},
        {"{\"requests\": \"udp://127.0.0.1:5555\"}", "endpoints.requests"},
    };
    char err [4096];
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char config [512];
        snprintf (config, sizeof config, "{\"endpoints\": %s}", bad [i].endpoints);
        const char *path = s_config (config);
        int code = sbx_test_sbxd (NULL, (const char *const []) {"--check", "-c", path, NULL}, err, sizeof err);
        cr_assert_eq (code, 2, "%s: exit %d", config, code);
        cr_assert_not_null (strstr (err, bad [i].says), "%s: '%s'", config, err);
        cr_assert_not_null (strstr (err, "expected tcp://HOST:PORT"), "%s", err);
        //  Not only --check: the start is refused the same way.
        code = sbx_test_sbxd (NULL, (const char *const []) {"-c", path, NULL}, err, sizeof err);
        cr_assert_eq (code, 2, "%s: exit %d", config, code);
        cr_assert_not_null (strstr (err, bad [i].says), "%s: '%s'", config, err);
    }
    //  The flags too, by name.
    int code = sbx_test_sbxd (NULL, (const char *const []) {"--check", "--requests", "tcp//x:1", NULL},
                              err, sizeof err);
    cr_assert_eq (code, 2);
    cr_assert_not_null (strstr (err, "--requests: 'tcp//x:1' is not an endpoint"), "%s", err);
    //  What binds: ports, any free port, IPv6, ipc, inproc.
    const char *path = s_config ("{\"endpoints\": {\"requests\": \"tcp://[::1]:*\", \"events\": \"tcp://*:5556\"}}");
    code = sbx_test_sbxd (NULL, (const char *const []) {"--check", "-c", path, "--events", "ipc:///tmp/sbx-events",
                          NULL}, err, sizeof err);
    cr_assert_eq (code, 0, "%s", err);
    path = s_config ("{\"endpoints\": {\"requests\": \"inproc://requests\", \"events\": \"tcp://127.0.0.1:!\"}}");
    code = sbx_test_sbxd (NULL, (const char *const []) {"--check", "-c", path, NULL}, err, sizeof err);
    cr_assert_eq (code, 0, "%s", err);
}

Test (sbxd, a_file_it_cannot_read_is_named_with_the_reason)
{
    char err [4096], path [128];
    snprintf (path, sizeof path, "%s/missing.json", s_dir);
    int code = sbx_test_sbxd (NULL, (const char *const []) {"--check", "-c", path, NULL}, err, sizeof err);
    cr_assert_eq (code, 2);
    char expected [256];
    snprintf (expected, sizeof expected, "sbxd: bad configuration: cannot read %s: No such file or directory\n",
              path);
    cr_assert_str_eq (err, expected);
    code = sbx_test_sbxd (NULL, (const char *const []) {"-c", s_dir, NULL}, err, sizeof err);
    cr_assert_eq (code, 2);
    snprintf (expected, sizeof expected, "sbxd: bad configuration: cannot read %s: Is a directory\n", s_dir);
    cr_assert_str_eq (err, expected);
    //  Bad JSON still says where.
    code = sbx_test_sbxd (NULL, (const char *const []) {"--check", "-c", s_config ("{\"environment\": }"), NULL},
                          err, sizeof err);
    cr_assert_eq (code, 2);
    cr_assert_not_null (strstr (err, "line 1 column"), "%s", err);
}

Test (sbxd, log_lines_carry_the_full_date)
{
    s_daemon = sbx_test_daemon_start_text ("{\"environment\": {\"id\": \"log-env\", \"pool\": {\"min\": 1, \"max\": 1},"
                                           " \"keepalive_interval_s\": null}, \"sandbox\": {\"kind\": \"testing\"}}");
    cr_assert_not_null (s_daemon);
    cr_assert (sbx_test_wait_log (s_daemon, "[log-env] environment started", 1, S_WAIT));
    cr_assert_eq (sbx_test_daemon_shutdown (s_daemon), 0);
    //  What it logged, as the harness kept it.
    pthread_mutex_lock (&s_daemon->stderr_lock);
    char *text = strdup (s_daemon->stderr_text ? s_daemon->stderr_text : "");
    pthread_mutex_unlock (&s_daemon->stderr_lock);
    time_t now = time (NULL);
    struct tm local;
    localtime_r (&now, &local);
    int dated = 0;
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        if (strncmp (line, "I: ", 3) != 0)
            continue;
        //  I: YYYY-MM-DD HH:MM:SS.mmm [who] text
        struct tm parsed = {0};
        int millis = -1, used = 0;
        const char *rest = strptime (line + 3, "%Y-%m-%d %H:%M:%S", &parsed);
        cr_assert_not_null (rest, "%s", line);
        cr_assert (sscanf (rest, ".%3d [%n", &millis, &used) == 1 && used == 6, "%s", line);
        cr_assert_eq (parsed.tm_year, local.tm_year, "%s", line);
        dated++;
    }
    free (text);
    cr_assert_gt (dated, 1, "no info lines in the log");
    sbx_test_daemon_destroy (&s_daemon);
}
