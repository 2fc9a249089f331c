/*  bench_harness - see bench/harness.h */
#include "bench/harness.h"
#include "messages/mp.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>

//  --- The command line -----------------------------------------------------

#define S_MAX_SECTIONS 8

static bool s_quick = false;
static const char *s_only [S_MAX_SECTIONS];
static int s_only_count = 0;

void
bench_args (int argc, char *argv [])
{
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--quick"))
            s_quick = true;
        else
        if (s_only_count < S_MAX_SECTIONS)
            s_only [s_only_count++] = argv [i];
    }
}

bool
bench_quick (void)
{
    return s_quick;
}

bool
bench_wanted (const char *section)
{
    bool wanted = s_only_count == 0;
    for (int i = 0; i < s_only_count; i++)
        wanted |= streq (s_only [i], section);
    return wanted;
}

//  --- Time and samples -----------------------------------------------------

int64_t
bench_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
bench_sample (bench_samples_t *self, double value)
{
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 1024;
        self->values = (double *) realloc (self->values, self->capacity * sizeof (double));
        if (!self->values)
            abort ();           //  out of memory, as everywhere in sbx
    }
    self->values [self->count++] = value;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

double
bench_percentile (bench_samples_t *self, double p)
{
    if (!self->count)
        return NAN;
    qsort (self->values, self->count, sizeof (double), s_compare);
    size_t index = (size_t) (p * (double) (self->count - 1) + 0.5);
    return self->values [index];
}

void
bench_samples_free (bench_samples_t *self)
{
    free (self->values);
    memset (self, 0, sizeof *self);
}

//  --- Rows and the table ---------------------------------------------------

typedef struct {
    char name [96];
    char unit [16];
    double value, baseline;
    char target [48];
    int verdict;            //  1 holds, 0 misses, -1 no target
} s_row_t;

//  A whole run prints about 120 rows.
#define S_MAX_ROWS 256

static s_row_t s_rows [S_MAX_ROWS];
static size_t s_row_count;

void
bench_row (const char *unit, double value, double baseline, const char *target,
           bool holds, const char *format, ...)
{
    char name [96];
    va_list args;
    va_start (args, format);
    vsnprintf (name, sizeof name, format, args);
    va_end (args);
    int verdict = target ? holds : -1;
    printf ("  %-44s %12.1f %-8s baseline %12.1f  ratio %6.2f  %s%s\n", name, value, unit, baseline,
            baseline > 0 ? value / baseline : NAN, target ? target : "",
            verdict < 0 ? "" : verdict ? "  [holds]" : "  [MISSES]");
    fflush (stdout);
    if (s_row_count == S_MAX_ROWS)
        return;
    s_row_t *row = &s_rows [s_row_count++];
    snprintf (row->name, sizeof row->name, "%s", name);
    snprintf (row->unit, sizeof row->unit, "%s", unit);
    row->value = value;
    row->baseline = baseline;
    snprintf (row->target, sizeof row->target, "%s", target ? target : "");
    row->verdict = verdict;
}

void
bench_row_usage (const char *who, const char *unit, bench_usage_t usage, double count,
                 bench_usage_t base, double base_count)
{
    count = count > 0 ? count : 1;
    base_count = base_count > 0 ? base_count : 1;
    bench_row ("us", usage.cpu_us / count, base.cpu_us / base_count, NULL, false,
               "%s: sbxd CPU per %s", who, unit);
    bench_row ("", usage.switches / count, base.switches / base_count, NULL, false,
               "%s: sbxd wake-ups per %s", who, unit);
}

void
bench_print_table (void)
{
    printf ("\n| measure | sbx | baseline (same run) | ratio | target |\n");
    printf ("| --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < s_row_count; i++) {
        s_row_t *row = &s_rows [i];
        char ratio [32] = "-";
        if (row->baseline > 0)
            snprintf (ratio, sizeof ratio, "%.2f", row->value / row->baseline);
        char baseline [32] = "-";
        if (!isnan (row->baseline))
            snprintf (baseline, sizeof baseline, "%.1f", row->baseline);
        printf ("| %s | %.1f %s | %s | %s | %s%s |\n", row->name, row->value, row->unit,
                baseline, ratio, row->target,
                row->verdict < 0 ? "" : row->verdict ? " (holds)" : " (misses)");
    }
}

//  --- Processes, from /proc ------------------------------------------------

//  Voluntary and involuntary context switches of one thread.
static double
s_task_switches (pid_t pid, const char *task)
{
    char path [300];
    snprintf (path, sizeof path, "/proc/%d/task/%s/status", (int) pid, task);
    FILE *status = fopen (path, "r");
    if (!status)
        return 0;
    double switches = 0;
    char line [256];
    unsigned long count;
    while (fgets (line, sizeof line, status))
        if (sscanf (line, "voluntary_ctxt_switches: %lu", &count) == 1
        ||  sscanf (line, "nonvoluntary_ctxt_switches: %lu", &count) == 1)
            switches += (double) count;
    fclose (status);
    return switches;
}

bench_usage_t
bench_usage (pid_t pid)
{
    bench_usage_t usage = {0, 0};
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (file) {
        //  Fields 14 and 15 (utime, stime) follow the ')' of the name.
        char line [1024];
        if (fgets (line, sizeof line, file)) {
            char *end = strrchr (line, ')');
            unsigned long utime = 0, stime = 0;
            if (end && sscanf (end + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                               &utime, &stime) == 2)
                usage.cpu_us = (double) (utime + stime) * 1e6 / (double) sysconf (_SC_CLK_TCK);
        }
        fclose (file);
    }
    snprintf (path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *tasks = opendir (path);
    struct dirent *entry;
    while (tasks && (entry = readdir (tasks)))
        if (entry->d_name [0] != '.')
            usage.switches += s_task_switches (pid, entry->d_name);
    if (tasks)
        closedir (tasks);
    return usage;
}

long
bench_rss_kib (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    char line [256];
    long rss = -1;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "VmRSS: %ld kB", &rss) == 1)
            break;
    if (file)
        fclose (file);
    return rss;
}

//  --- Daemons under test ---------------------------------------------------

//  Asks `hello` until the environment answers "online", up to timeout_ms:
//  on the admin endpoint when there is one (it speaks no CURVE, whatever
//  the request endpoint does).
static bool
s_online (sbx_test_daemon_t *daemon, int timeout_ms)
{
    zsock_t *dealer = daemon->admin [0] ? sbx_test_connect_admin (daemon) : sbx_test_connect (daemon);
    int64_t deadline = bench_now_us () + (int64_t) timeout_ms * 1000;
    sbx_request_t hello = {.op = SBX_OP_HELLO};
    bool online = false;
    while (!online && bench_now_us () < deadline) {
        sbx_reply_t *reply = bench_request (dealer, &hello, timeout_ms);
        const char *status = reply ? sbx_reply_get_str (reply, "status") : NULL;
        online = status && streq (status, "online");
        sbx_reply_destroy (&reply);
    }
    zsock_destroy (&dealer);
    return online;
}

sbx_test_daemon_t *
bench_daemon_start (const char *config, int timeout_ms)
{
    json_error_t problem;
    json_t *json = json_loads (config, 0, &problem);
    if (!json) {
        fprintf (stderr, "bench: bad daemon config: %s\n", problem.text);
        return NULL;
    }
    const char *quiet [] = {"-q", NULL};
    sbx_test_daemon_t *daemon = sbx_test_daemon_start (json, quiet);
    json_decref (json);
    if (!daemon)
        return NULL;
    //  The log is not part of what is measured: drop it.
    unlink (daemon->log_path);
    if (!s_online (daemon, timeout_ms)) {
        fprintf (stderr, "bench: sbxd did not come online within %d ms\n", timeout_ms);
        bench_daemon_stop (&daemon);
    }
    return daemon;
}

sbx_test_daemon_t *
bench_daemon_testing (unsigned size, bool proactive, bool feature, unsigned journal,
                      int timeout_ms)
{
    char config [1024];
    snprintf (config, sizeof config,
        "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": %u, \"max\": %u},"
        " \"proactive_session_setup\": %s, \"keepalive_interval_s\": null,"
        " \"stats_report_interval_s\": null, \"outage_retry_interval_s\": 0.01},"
        " \"sandbox\": {\"kind\": \"testing\"},"
        " \"features\": {%s},"
        " \"events\": {\"log\": null, \"journal\": %u}}",
        size, size, proactive ? "true" : "false", feature ? "\"f\": {\"kind\": \"testing\"}" : "",
        journal);
    return bench_daemon_start (config, timeout_ms);
}

void
bench_daemon_stop (sbx_test_daemon_t **daemon_p)
{
    if (*daemon_p) {
        sbx_test_daemon_shutdown (*daemon_p);
        sbx_test_daemon_destroy (daemon_p);
    }
}

//  --- Requests -------------------------------------------------------------

sbx_reply_t *
bench_request (zsock_t *dealer, const sbx_request_t *request, int timeout_ms)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_request_encode (request, &body);
    sbx_reply_t *reply = sbx_test_request_raw (dealer, body.data, body.size, timeout_ms);
    msgpack_sbuffer_destroy (&body);
    return reply;
}

void
bench_code (char *code, size_t size)
{
    memset (code, 'x', size - 1);
    code [size - 1] = 0;
}

void
bench_args_pack (msgpack_sbuffer *out, const char *key, const char *value)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    sbx_mp_pack_str (&pk, key);
    sbx_mp_pack_str (&pk, value);
}

//  --- SUB sockets ----------------------------------------------------------

bool
bench_readable (zsock_t *sock, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve (sock), 0, ZMQ_POLLIN, 0};
    return zmq_poll (&item, 1, timeout_ms) == 1;
}

bool
bench_sub_wait (zsock_t *sub, uint64_t count)
{
    uint64_t received = 0;
    while (received < count) {
        if (!bench_readable (sub, 5000))
            return false;
        while (zsock_events (sub) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (sub);
            zmsg_destroy (&msg);
            received++;
        }
    }
    return true;
}

bool
bench_sub_handshake (zsock_t *sub, void (*send_one) (void *arg), void *arg)
{
    bool subscribed = false;
    for (int attempt = 0; attempt < 100 && !subscribed; attempt++) {
        send_one (arg);
        subscribed = bench_readable (sub, 50) && bench_sub_wait (sub, 1);
    }
    return subscribed;
}
