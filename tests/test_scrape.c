/*  The metrics endpoint of a real sbxd (docs/metrics.md): a scripted run
    of the testing kinds, then a scrape whose every counter must agree
    with the run's event log (tests/metrics_check.py, with the text format
    checked by promtool too); scrapes while 32 clients load the daemon;
    metrics turned off; addresses refused. Nothing here asserts how long
    anything takes: tests/bench measure that. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "actors/metrics.h"
#include "messages/mp.h"
#include "testutil.h"

extern char **environ;

#define S_WAIT 20000

TestSuite (scrape, .timeout = 180);

//  A GET that must succeed; the body (caller frees).
static char *
s_scrape (sbx_test_daemon_t *daemon)
{
    char *body = NULL;
    size_t size = 0;
    int status = sbx_test_http_get (daemon->metrics, &body, &size, NULL, 0, S_WAIT);
    cr_assert_eq (status, 200, "GET %s: %d", daemon->metrics, status);
    return body;
}

//  The sum of every sample of the family `name` (a counter or gauge, or
//  a histogram's `_count`).
static double
s_total (const char *text, const char *name)
{
    double total = 0;
    char prefix [128];
    snprintf (prefix, sizeof prefix, "\n%s{", name);
    for (const char *at = strstr (text, prefix); at; at = strstr (at + 1, prefix)) {
        const char *value = strstr (at + 1, "} ");
        if (value)
            total += strtod (value + 2, NULL);
    }
    return total;
}

//  A scrape taken while nothing was recorded: two in a row that count as
//  many events, the first returned (caller frees).
static char *
s_quiet_scrape (sbx_test_daemon_t *daemon)
{
    char *first = s_scrape (daemon);
    int64_t deadline = zclock_mono () + S_WAIT;
    while (zclock_mono () < deadline) {
        char *second = s_scrape (daemon);
        bool quiet = s_total (first, "sbx_events_total") == s_total (second, "sbx_events_total");
        free (first);
        first = second;
        if (quiet)
            break;
    }
    return first;
}

static void
s_write (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file, "%s", path);
    fputs (text, file);
    fclose (file);
}

//  Runs a program; its exit code.
static int
s_run (const char *const *argv, const char *in_path)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    if (in_path)
        posix_spawn_file_actions_addopen (&actions, 0, in_path, O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawn (&pid, argv [0], &actions, NULL, (char *const *) argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    cr_assert_eq (rc, 0, "cannot run %s: %s", argv [0], strerror (rc));
    int status = 0;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static sbx_reply_t *
s_ok (zsock_t *dealer, const char *request)
{
    sbx_reply_t *reply = sbx_test_request (dealer, request, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", request);
    return reply;
}

static void
s_fails (zsock_t *dealer, const char *request, const char *type)
{
    sbx_reply_t *reply = sbx_test_request (dealer, request, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), type, "%s", request);
    sbx_reply_destroy (&reply);
}

//  Opens a session; its sandbox and token in `call` as the start of a
//  call request: {"op": "call", "sandbox": ..., "token": ...
static void
s_open (zsock_t *dealer, const char *session, char *call, size_t size)
{
    char request [256];
    snprintf (request, sizeof request, "{\"op\": \"session.open\", \"session_id\": \"%s\", \"timeout_ms\": 15000}",
              session);
    sbx_reply_t *reply = s_ok (dealer, request);
    snprintf (call, size, "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\"",
              sbx_reply_get_str (reply, "sandbox"), sbx_reply_get_str (reply, "token"));
    sbx_reply_destroy (&reply);
}

Test (scrape, every_counter_agrees_with_the_event_log)
{
    sbx_test_daemon_t *daemon = sbx_test_daemon_start_text (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 1, \"max\": 1},"
        "  \"keepalive_interval_s\": null, \"stats_report_interval_s\": null, \"session_lease_s\": 2},"
        " \"sandbox\": {\"kind\": \"testing\"},"
        " \"features\": {\"f\": {\"kind\": \"testing\", \"housekeep_interval_s\": 0.05}},"
        " \"limits\": {\"waiting\": 1}}");
    cr_assert_not_null (daemon, "%s", sbx_test_daemon_failure ());
    cr_assert (strncmp (daemon->metrics, "http://127.0.0.1:", 17) == 0, "metrics=%s", daemon->metrics);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:0/f] feature housekeep", 1, S_WAIT));
    zsock_t *dealer = sbx_test_connect (daemon);
    char call [256], request [512];

    //  A session: calls that succeed, user errors of two types.
    s_open (dealer, "s1", call, sizeof call);
    snprintf (request, sizeof request, "%s, \"method\": \"shell\", \"args\": {\"code\": \"echo one\"}}", call);
    sbx_reply_destroy (&(sbx_reply_t *) {s_ok (dealer, request)});
    snprintf (request, sizeof request, "%s, \"method\": \"shell\", \"args\": {\"code\": \"x\", "
              "\"raise_error\": \"ValueError\"}}", call);
    s_fails (dealer, request, "ValueError");
    snprintf (request, sizeof request, "%s, \"method\": \"shell\", \"args\": {\"code\": \"y\", "
              "\"raise_error\": \"KeyError\"}}", call);
    s_fails (dealer, request, "KeyError");
    snprintf (request, sizeof request, "%s, \"feature\": \"f\", \"method\": \"num_shell_calls\"}", call);
    sbx_reply_destroy (&(sbx_reply_t *) {s_ok (dealer, request)});

    //  The only sandbox is busy: an acquire waits (and gives up), the
    //  next is refused at once (limits.waiting 1).
    zsock_t *waiter = sbx_test_connect (daemon);
    zsock_t *refused = sbx_test_connect (daemon);
    zstr_send (waiter, "");     //  nothing: a bad request, answered
    sbx_reply_t *reply = sbx_test_reply_recv (waiter, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), SBX_BAD_REQUEST);
    sbx_reply_destroy (&reply);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    json_t *acquire = json_pack ("{s:s, s:i}", "op", "acquire", "timeout_ms", 300);
    sbx_mp_from_json (&pk, acquire);
    json_decref (acquire);
    zmq_send (zsock_resolve (waiter), body.data, body.size, 0);
    msgpack_sbuffer_destroy (&body);
    bool waiting = false;
    int64_t deadline = zclock_mono () + S_WAIT;
    while (!waiting && zclock_mono () < deadline) {
        sbx_reply_t *stats = s_ok (dealer, "{\"op\": \"stats\"}");
        json_t *json = sbx_mp_to_json (sbx_reply_map (stats));
        waiting = json_integer_value (json_object_get (json_object_get (json_object_get (json, "metrics"),
                                                                        "gauges"), "acquires_waiting")) == 1;
        json_decref (json);
        sbx_reply_destroy (&stats);
    }
    cr_assert (waiting, "the acquire did not wait");
    s_fails (refused, "{\"op\": \"acquire\", \"timeout_ms\": 1000}", SBX_OVERLOAD_ERROR);
    reply = sbx_test_reply_recv (waiter, S_WAIT);
    cr_assert_str_eq (sbx_test_reply_type (reply), SBX_OVERLOAD_ERROR);
    sbx_reply_destroy (&reply);
    zsock_destroy (&waiter);
    zsock_destroy (&refused);

    //  A critical error: the sandbox breaks, its slot is refilled.
    snprintf (request, sizeof request, "%s, \"feature\": \"f\", \"method\": \"bad_shell_call\"}", call);
    s_fails (dealer, request, SBX_STATE_ERROR);
    //  A session whose lease lapses; then an ephemeral call.
    s_open (dealer, "s2", call, sizeof call);
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:1] session 's2' ended with LeaseExpired", 1, S_WAIT));
    sbx_reply_destroy (&(sbx_reply_t *) {s_ok (dealer, "{\"op\": \"call\", \"method\": \"shell\", "
                                                       "\"args\": {\"code\": \"eph\"}}")});
    cr_assert (sbx_test_wait_log (daemon, "[testing-env/0:1/f] feature housekeep", 1, S_WAIT));

    //  A scrape taken while nothing happened, and the stats: nothing
    //  happened until the next quiet scrape either.
    char *text = NULL;
    json_t *stats = NULL;
    bool still = false;
    deadline = zclock_mono () + S_WAIT;
    while (!still && zclock_mono () < deadline) {
        free (text);
        json_decref (stats);
        text = s_quiet_scrape (daemon);
        reply = s_ok (dealer, "{\"op\": \"stats\"}");
        stats = sbx_mp_to_json (sbx_reply_map (reply));
        sbx_reply_destroy (&reply);
        char *after = s_quiet_scrape (daemon);
        still = s_total (text, "sbx_events_total") == s_total (after, "sbx_events_total");
        free (after);
    }
    cr_assert (still, "the daemon never kept still");
    //  The stats say where the metrics are served.
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (stats, "metrics"), "endpoint")),
                      daemon->metrics);
    //  The bus logs an event just after recording it.
    cr_assert (sbx_test_wait_log_events (daemon, (size_t) s_total (text, "sbx_events_total"), S_WAIT));
    char scrape_path [400], stats_path [400];
    snprintf (scrape_path, sizeof scrape_path, "%s/scrape.txt", daemon->dir);
    snprintf (stats_path, sizeof stats_path, "%s/stats.json", daemon->dir);
    s_write (scrape_path, text);
    cr_assert_eq (json_dump_file (stats, stats_path, 0), 0);
    json_decref (stats);
    const char *check [] = {"/usr/bin/python3", SBX_SOURCE_DIR "/tests/metrics_check.py", scrape_path,
                            daemon->log_path, stats_path, NULL};
    cr_assert_eq (s_run (check, NULL), 0, "the scrape and the event log disagree (above)");
    const char *promtool [] = {"/usr/bin/promtool", "check", "metrics", NULL};
    cr_assert_eq (s_run (promtool, scrape_path), 0, "promtool check metrics (above)");
    free (text);
    zsock_destroy (&dealer);
    cr_assert_eq (sbx_test_daemon_shutdown (daemon), 0);
    sbx_test_daemon_destroy (&daemon);
}

//  --- Under load ------------------------------------------------------------------

#define S_CLIENTS 32

typedef struct {
    zsock_t *dealer;            //  made by the main thread: czmq's first
    atomic_bool *stop;          //  socket must not be made on many at once
    uint64_t replies;           //  out: calls answered
    bool failed;
} s_client_t;

static void *
s_client (void *args)
{
    s_client_t *self = (s_client_t *) args;
    zsock_t *dealer = self->dealer;
    sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"session.open\", \"timeout_ms\": 30000}", S_WAIT);
    if (!reply || !sbx_reply_is_ok (reply)) {
        self->failed = true;
        sbx_reply_destroy (&reply);
        return NULL;
    }
    char call [512];
    snprintf (call, sizeof call, "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"method\": \"shell\","
              " \"args\": {\"code\": \"load\"}}", sbx_reply_get_str (reply, "sandbox"),
              sbx_reply_get_str (reply, "token"));
    char end [512];
    snprintf (end, sizeof end, "{\"op\": \"session.end\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
              sbx_reply_get_str (reply, "sandbox"), sbx_reply_get_str (reply, "token"));
    sbx_reply_destroy (&reply);
    while (!atomic_load (self->stop) && !self->failed) {
        reply = sbx_test_request (dealer, call, S_WAIT);
        if (reply && sbx_reply_is_ok (reply))
            self->replies++;
        else
            self->failed = true;
        sbx_reply_destroy (&reply);
    }
    reply = sbx_test_request (dealer, end, S_WAIT);
    self->failed |= !reply || !sbx_reply_is_ok (reply);
    sbx_reply_destroy (&reply);
    return NULL;
}

Test (scrape, answers_whole_while_32_clients_load_the_daemon)
{
    sbx_test_daemon_t *daemon = sbx_test_daemon_start_text (
        "{\"environment\": {\"id\": \"testing-env\", \"pool\": {\"min\": 32, \"max\": 32},"
        "  \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {}, \"events\": {\"log\": null}}");
    cr_assert_not_null (daemon, "%s", sbx_test_daemon_failure ());
    atomic_bool stop = false;
    s_client_t clients [S_CLIENTS];
    pthread_t threads [S_CLIENTS];
    for (int i = 0; i < S_CLIENTS; i++) {
        clients [i] = (s_client_t) {.dealer = sbx_test_connect (daemon), .stop = &stop};
        pthread_create (&threads [i], NULL, s_client, &clients [i]);
    }
    //  Every scrape is whole: every family, every line ended, and the
    //  calls only go up.
    double calls = 0;
    for (int i = 0; i < 40 || calls < 1000; i++) {
        char *text = s_scrape (daemon);
        size_t size = strlen (text);
        cr_assert (size > 0 && text [size - 1] == '\n');
        int families = 0;
        for (const char *at = strstr (text, "# TYPE "); at; at = strstr (at + 1, "# TYPE "))
            families++;
        cr_assert_eq (families, SBX_METRIC_COUNT + 1);
        double now = s_total (text, "sbx_calls_total");
        cr_assert_geq (now, calls);
        calls = now;
        free (text);
        cr_assert_lt (i, 100000, "no calls were counted");
    }
    atomic_store (&stop, true);
    uint64_t replies = 0;
    for (int i = 0; i < S_CLIENTS; i++) {
        pthread_join (threads [i], NULL);
        zsock_destroy (&clients [i].dealer);
        cr_assert (!clients [i].failed, "client %d failed", i);
        replies += clients [i].replies;
    }
    //  Once it is quiet, every call answered is counted, once.
    char *text = NULL;
    int64_t deadline = zclock_mono () + S_WAIT;
    do {
        free (text);
        text = s_quiet_scrape (daemon);
    } while (s_total (text, "sbx_session_end_total") < S_CLIENTS && zclock_mono () < deadline);
    cr_assert_eq (s_total (text, "sbx_calls_total"), (double) replies);
    cr_assert_eq (s_total (text, "sbx_call_duration_seconds_count"), (double) replies);
    cr_assert_eq (s_total (text, "sbx_session_end_total"), S_CLIENTS);
    free (text);
    cr_assert_eq (sbx_test_daemon_shutdown (daemon), 0);
    sbx_test_daemon_destroy (&daemon);
}

//  --- Off, and refused --------------------------------------------------------------

Test (scrape, null_turns_metrics_off)
{
    sbx_test_daemon_t *daemon = sbx_test_daemon_start_text (
        "{\"environment\": {\"id\": \"testing-env\", \"keepalive_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\"}, \"endpoints\": {\"metrics\": null}}");
    cr_assert_not_null (daemon, "%s", sbx_test_daemon_failure ());
    cr_assert_str_eq (daemon->metrics, "");
    zsock_t *dealer = sbx_test_connect (daemon);
    sbx_reply_t *reply = s_ok (dealer, "{\"op\": \"stats\"}");
    cr_assert_null (sbx_reply_get (reply, "metrics"));
    cr_assert_not_null (sbx_reply_get (reply, "counters"));
    sbx_reply_destroy (&reply);
    zsock_destroy (&dealer);
    cr_assert_eq (sbx_test_daemon_shutdown (daemon), 0);
    sbx_test_daemon_destroy (&daemon);
}

Test (scrape, only_loopback_is_served_and_a_taken_port_fails_the_start)
{
    char dir [] = "/tmp/sbx-test-scrape-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char config [1024], err [2048];
    const char *base = "{\"environment\": {\"id\": \"scrape-%d\", \"root_dir\": \"%s/root\"},"
                       " \"sandbox\": {\"kind\": \"testing\"}, \"endpoints\": {\"requests\": \"tcp://127.0.0.1:*\","
                       " \"events\": \"tcp://127.0.0.1:*\", \"metrics\": \"%s\"}}";
    snprintf (config, sizeof config, base, getpid (), dir, "http://0.0.0.0:9555/metrics");
    const char *flags [] = {"--check", NULL};
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq (sbx_test_sbxd (config, (const char *const []) {flags [i], NULL},
                                     err, sizeof err), 2, "%s", err);
        cr_assert (strstr (err, "sbxd: bad configuration: endpoints.metrics: 'http://0.0.0.0:9555/metrics' "
                                "is not a loopback address"), "%s", err);
    }
    //  A port another program holds.
    int holder = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    cr_assert_eq (bind (holder, (struct sockaddr *) &address, sizeof address), 0);
    cr_assert_eq (listen (holder, 1), 0);
    cr_assert_eq (getsockname (holder, (struct sockaddr *) &address, &length), 0);
    char url [64];
    snprintf (url, sizeof url, "http://127.0.0.1:%u/metrics", ntohs (address.sin_port));
    snprintf (config, sizeof config, base, getpid (), dir, url);
    cr_assert_eq (sbx_test_sbxd (config, NULL, err, sizeof err), 1, "%s", err);
    cr_assert (strstr (err, "cannot bind metrics endpoint"), "%s", err);
    close (holder);
    char command [400];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_assert_eq (system (command), 0);
}
