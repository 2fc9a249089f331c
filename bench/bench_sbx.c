/*  bench_sbx - sbx's benchmarks, each printed beside a baseline measured in
    the same run on the same machine, and the ratio (docs/benchmarks.md).

    usage: bench_sbx [--quick] [SECTION...]
    sections: rtt concurrency sessions scale events commands growth

    The daemon under test is a real build/sbxd started per configuration;
    the baselines are written here: a DEALER/ROUTER echo over TCP with one
    inproc actor hop (the same path shape as sbx's, in a process of its own
    as sbxd is: `bench_sbx --echo-server WORKERS`), raw PUB/SUB, bare czmq
    actors, posix_spawn with a pipe. sbx and the echo run the same load in
    alternating rounds, so that both meet the same noise.
*/
#include <czmq.h>
#include <math.h>
#include <spawn.h>
#include <sys/wait.h>
#include <dirent.h>
#include <fcntl.h>

#include "tests/testutil.h"
#include "messages/mp.h"
#include "messages/request.h"
#include "messages/event.h"
#include "runtime/core/actor.h"
#include "actors/eventbus.h"
#include "actors/proto.h"
#include "runtime/core/config.h"
#include "runtime/daemon/registry.h"

extern char **environ;

static bool s_quick = false;

//  --- Measuring ---------------------------------------------------------------

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct {
    double *values;
    size_t count, capacity;
} s_samples_t;

static void
s_sample (s_samples_t *self, double value)
{
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 1024;
        self->values = (double *) realloc (self->values, self->capacity * sizeof (double));
    }
    self->values [self->count++] = value;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_percentile (s_samples_t *self, double p)
{
    if (!self->count)
        return NAN;
    qsort (self->values, self->count, sizeof (double), s_compare);
    size_t index = (size_t) (p * (double) (self->count - 1) + 0.5);
    return self->values [index];
}

static void
s_samples_free (s_samples_t *self)
{
    free (self->values);
    memset (self, 0, sizeof *self);
}

//  --- The result table ---------------------------------------------------------

typedef struct {
    char name [96];
    char unit [16];
    double value, baseline;
    bool higher_better;
    char target [48];
    int verdict;            //  1 holds, 0 misses, -1 no target
} s_row_t;

static s_row_t s_rows [128];
static size_t s_row_count;

static void
s_row (const char *name, const char *unit, double value, double baseline, bool higher_better,
       const char *target, int verdict)
{
    if (s_row_count == 128)
        return;
    s_row_t *row = &s_rows [s_row_count++];
    snprintf (row->name, sizeof row->name, "%s", name);
    snprintf (row->unit, sizeof row->unit, "%s", unit);
    row->value = value;
    row->baseline = baseline;
    row->higher_better = higher_better;
    snprintf (row->target, sizeof row->target, "%s", target ? target : "");
    row->verdict = verdict;
    printf ("  %-44s %12.1f %-8s baseline %12.1f  ratio %6.2f  %s%s\n", name, value, unit, baseline,
            baseline > 0 ? value / baseline : NAN, target ? target : "",
            verdict < 0 ? "" : verdict ? "  [holds]" : "  [MISSES]");
    fflush (stdout);
}

static void
s_print_table (void)
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

//  --- The echo baseline: ROUTER (tcp) -> inproc hop -> worker -> back -------------

typedef struct {
    pid_t pid;
    int stdin_fd;
    char endpoint [128];
} s_echo_t;

//  The workers announce themselves with an empty message so the front can
//  route to them.
static void
s_echo_worker_hello (zsock_t *pipe, void *args)
{
    zsock_t *worker = zsock_new_dealer ((const char *) args);
    zstr_send (worker, "");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, worker, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe || !which)
            break;
        while (zsock_events (worker) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (worker);
            zmsg_send (&msg, worker);
        }
    }
    zpoller_destroy (&poller);
    zsock_destroy (&worker);
}

typedef struct {
    int workers;
} s_echo_args_t;

//  The front actor owns the TCP ROUTER and the inproc ROUTER and passes
//  messages round robin to `workers` worker actors (none: it answers
//  each message itself, with no hop).
static void
s_echo_front (zsock_t *pipe, void *args)
{
    int workers = ((s_echo_args_t *) args)->workers;
    zsock_signal (pipe, 0);
    zsock_t *front = zsock_new (ZMQ_ROUTER);
    zsock_set_sndhwm (front, 100000);
    zsock_set_rcvhwm (front, 100000);
    zsock_bind (front, "tcp://127.0.0.1:*");
    char backend_ep [64];
    snprintf (backend_ep, sizeof backend_ep, "inproc://echo-%p", (void *) front);
    zsock_t *back = zsock_new (ZMQ_ROUTER);
    zsock_bind (back, "%s", backend_ep);
    char connect_ep [80];
    snprintf (connect_ep, sizeof connect_ep, ">%s", backend_ep);
    zactor_t **actors = (zactor_t **) zmalloc (sizeof (zactor_t *) * (size_t) workers);
    zframe_t **ids = (zframe_t **) zmalloc (sizeof (zframe_t *) * (size_t) workers);
    for (int i = 0; i < workers; i++)
        actors [i] = zactor_new (s_echo_worker_hello, connect_ep);
    //  Each worker announces itself with an empty message first; the
    //  endpoint is given out only once all of them are known.
    int known = 0;
    while (known < workers) {
        zmsg_t *msg = zmsg_recv (back);
        ids [known++] = zmsg_pop (msg);
        zmsg_destroy (&msg);
    }
    zsock_send (pipe, "s", zsock_endpoint (front));
    zpoller_t *poller = zpoller_new (pipe, front, back, NULL);
    int next = 0;
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe || !which)
            break;
        if (which == back) {
            while (zsock_events (back) & ZMQ_POLLIN) {
                zmsg_t *msg = zmsg_recv (back);
                zframe_t *worker = zmsg_pop (msg);
                zframe_destroy (&worker);
                zmsg_send (&msg, front);
            }
        }
        if (which == front && workers == 0) {
            //  No hop: the front answers itself.
            while (zsock_events (front) & ZMQ_POLLIN) {
                zmsg_t *msg = zmsg_recv (front);
                zmsg_send (&msg, front);
            }
        }
        else
        if (which == front) {
            while (zsock_events (front) & ZMQ_POLLIN) {
                zmsg_t *msg = zmsg_recv (front);
                zmsg_prepend (msg, &(zframe_t *) {zframe_dup (ids [next])});
                next = (next + 1) % known;
                zmsg_send (&msg, back);
            }
        }
    }
    zpoller_destroy (&poller);
    for (int i = 0; i < workers; i++) {
        zactor_destroy (&actors [i]);
        zframe_destroy (&ids [i]);
    }
    free (actors);
    free (ids);
    zsock_destroy (&front);
    zsock_destroy (&back);
}

//  The echo runs in a process of its own, as sbxd does: with its own
//  ZeroMQ context, hence its own I/O thread. In the bench's process it
//  would share the clients' I/O thread, which takes two thread hand-offs
//  off every round trip that no daemon can avoid.
static s_echo_t *
s_echo_start (int workers)
{
    s_echo_t *self = (s_echo_t *) zmalloc (sizeof (s_echo_t));
    int to_child [2], from_child [2];
    if (pipe2 (to_child, O_CLOEXEC) || pipe2 (from_child, O_CLOEXEC)) {
        perror ("bench_sbx: pipe");
        exit (1);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, to_child [0], 0);
    posix_spawn_file_actions_adddup2 (&actions, from_child [1], 1);
    char count [16];
    snprintf (count, sizeof count, "%d", workers);
    char *argv [] = {(char *) "/proc/self/exe", (char *) "--echo-server", count, NULL};
    char exe [512];
    ssize_t size = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (size > 0) {
        exe [size] = 0;
        argv [0] = exe;
    }
    if (posix_spawn (&self->pid, argv [0], &actions, NULL, argv, environ) != 0) {
        perror ("bench_sbx: spawn echo server");
        exit (1);
    }
    posix_spawn_file_actions_destroy (&actions);
    close (to_child [0]);
    close (from_child [1]);
    self->stdin_fd = to_child [1];
    FILE *out = fdopen (from_child [0], "r");
    if (!out || !fgets (self->endpoint, sizeof self->endpoint, out)) {
        fprintf (stderr, "bench_sbx: echo server did not start\n");
        exit (1);
    }
    fclose (out);
    self->endpoint [strcspn (self->endpoint, "\n")] = 0;
    return self;
}

//  Closing the echo server's stdin stops it.
static void
s_echo_stop (s_echo_t **self_p)
{
    close ((*self_p)->stdin_fd);
    waitpid ((*self_p)->pid, NULL, 0);
    free (*self_p);
    *self_p = NULL;
}

//  The echo server process: serves until its stdin closes.
static int
s_echo_server (int workers)
{
    s_echo_args_t args = {workers};
    zactor_t *actor = zactor_new (s_echo_front, &args);
    char *endpoint = zstr_recv (actor);
    printf ("%s\n", endpoint);
    fflush (stdout);
    zstr_free (&endpoint);
    char buffer [64];
    while (read (0, buffer, sizeof buffer) > 0)
        ;
    zactor_destroy (&actor);
    return 0;
}

//  --- Clients: C DEALERs driven by one thread, one request in flight each -----

typedef enum { OP_CALL, OP_OPEN, OP_END } s_op_t;

typedef struct {
    zsock_t *dealer;
    char sandbox [128];
    char token [64];
    int64_t sent_at;
    s_op_t op;
    uint64_t id;
    int session_step;       //  sessions: 0 open, 1 call, 2 end
} s_client_t;

typedef struct {
    s_samples_t latency [3];    //  per op, microseconds
    uint64_t done, errors, sessions;
    double seconds;
} s_load_t;

static void
s_pack_call (msgpack_sbuffer *out, uint64_t id, const char *sandbox, const char *token,
             const char *code)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, sandbox ? 6 : 4);
    sbx_mp_pack_str (&pk, "op");
    sbx_mp_pack_str (&pk, "call");
    sbx_mp_pack_str (&pk, "id");
    msgpack_pack_uint64 (&pk, id);
    if (sandbox) {
        sbx_mp_pack_str (&pk, "sandbox");
        sbx_mp_pack_str (&pk, sandbox);
        sbx_mp_pack_str (&pk, "token");
        sbx_mp_pack_str (&pk, token);
    }
    sbx_mp_pack_str (&pk, "method");
    sbx_mp_pack_str (&pk, "shell");
    sbx_mp_pack_str (&pk, "args");
    msgpack_pack_map (&pk, 1);
    sbx_mp_pack_str (&pk, "code");
    sbx_mp_pack_str (&pk, code);
}

static void
s_pack_simple (msgpack_sbuffer *out, const char *op, uint64_t id, const char *sandbox,
               const char *token)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, sandbox ? 4 : 2);
    sbx_mp_pack_str (&pk, "op");
    sbx_mp_pack_str (&pk, op);
    sbx_mp_pack_str (&pk, "id");
    msgpack_pack_uint64 (&pk, id);
    if (sandbox) {
        sbx_mp_pack_str (&pk, "sandbox");
        sbx_mp_pack_str (&pk, sandbox);
        sbx_mp_pack_str (&pk, "token");
        sbx_mp_pack_str (&pk, token);
    }
}

static void
s_send_body (s_client_t *client, msgpack_sbuffer *body, s_op_t op)
{
    client->op = op;
    client->sent_at = s_now_us ();
    zmq_send (zsock_resolve (client->dealer), body->data, body->size, 0);
}

//  Opens a session for each client (blocking, before measuring).
static bool
s_open_sessions (s_client_t *clients, int count)
{
    for (int i = 0; i < count; i++) {
        sbx_reply_t *reply = sbx_test_request (clients [i].dealer, "{\"op\": \"session.open\"}", 30000);
        if (!reply || !sbx_reply_is_ok (reply)) {
            fprintf (stderr, "bench: session.open failed: %s\n", sbx_test_reply_type (reply));
            sbx_reply_destroy (&reply);
            return false;
        }
        snprintf (clients [i].sandbox, sizeof clients [i].sandbox, "%s", sbx_reply_get_str (reply, "sandbox"));
        snprintf (clients [i].token, sizeof clients [i].token, "%s", sbx_reply_get_str (reply, "token"));
        sbx_reply_destroy (&reply);
    }
    return true;
}

//  Clients: `count` DEALERs, or with `shared` one DEALER that all of them
//  pipeline over (ids tell their replies apart): how one worker process
//  with many sessions would talk.
static bool s_shared = false;

static s_client_t *
s_clients_new (int count, const char *endpoint)
{
    s_client_t *clients = (s_client_t *) zmalloc (sizeof (s_client_t) * (size_t) count);
    for (int i = 0; i < count; i++) {
        if (s_shared && i > 0) {
            clients [i].dealer = clients [0].dealer;
            continue;
        }
        clients [i].dealer = zsock_new (ZMQ_DEALER);
        zsock_set_linger (clients [i].dealer, 0);
        zsock_set_rcvhwm (clients [i].dealer, 0);
        zsock_set_sndhwm (clients [i].dealer, 0);
        zsock_connect (clients [i].dealer, "%s", endpoint);
    }
    return clients;
}

static void
s_clients_destroy (s_client_t **clients_p, int count)
{
    for (int i = 0; i < count; i++)
        if (!s_shared || i == 0)
            zsock_destroy (&(*clients_p) [i].dealer);
    free (*clients_p);
    *clients_p = NULL;
}

//  The `id` of a reply (sbx) or of an echoed request; 0 when none.
static uint64_t
s_body_id (const void *data, size_t size)
{
    msgpack_zone zone;
    msgpack_zone_init (&zone, 512);
    msgpack_object object;
    size_t offset = 0;
    uint64_t id = 0;
    if (msgpack_unpack ((const char *) data, size, &offset, &zone, &object) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *value = sbx_mp_map_get (&object, "id");
        if (value && value->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            id = value->via.u64;
    }
    msgpack_zone_destroy (&zone);
    return id;
}

//  Ids carry the client index in their low byte.
#define S_ID(seq, index) (((seq) << 8) | (uint64_t) (index))

//  mode 0: calls in each client's session (sbx) or echo of the same body;
//  mode 1: session loops open -> call -> end.
static void
s_run_load (s_client_t *clients, int count, int mode, bool echo, const char *code,
            int64_t duration_us, uint64_t max_ops, s_load_t *load)
{
    memset (load, 0, sizeof *load);
    int sockets = s_shared ? 1 : count;
    zmq_pollitem_t *items = (zmq_pollitem_t *) zmalloc (sizeof (zmq_pollitem_t) * (size_t) sockets);
    for (int i = 0; i < sockets; i++) {
        items [i].socket = zsock_resolve (clients [i].dealer);
        items [i].events = ZMQ_POLLIN;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    uint64_t seq = 1;
    for (int i = 0; i < count; i++) {
        msgpack_sbuffer_clear (&body);
        if (mode == 0) {
            s_pack_call (&body, S_ID (seq++, i), echo ? "sandbox-id-for-echo/0:0" : clients [i].sandbox,
                         echo ? "0123456789abcdef0123456789abcdef" : clients [i].token, code);
            s_send_body (&clients [i], &body, OP_CALL);
        }
        else {
            s_pack_simple (&body, "session.open", S_ID (seq++, i), NULL, NULL);
            s_send_body (&clients [i], &body, OP_OPEN);
        }
    }
    int64_t start = s_now_us ();
    int64_t stop = start + duration_us;
    int outstanding = count;
    bool stopping = false;
    while (outstanding > 0) {
        int rc = zmq_poll (items, sockets, 1000);
        if (rc < 0)
            break;
        if (rc == 0) {
            fprintf (stderr, "bench: no reply for 1 s (%d outstanding)\n", outstanding);
            load->errors += (uint64_t) outstanding;
            break;
        }
        int64_t now = s_now_us ();
        if (!stopping && (now >= stop || (max_ops && load->done >= max_ops)))
            stopping = true;
        for (int k = 0; k < sockets; k++) {
            if (!(items [k].revents & ZMQ_POLLIN))
                continue;
            zmq_msg_t reply;
            zmq_msg_init (&reply);
            while (zmq_msg_recv (&reply, items [k].socket, ZMQ_DONTWAIT) >= 0) {
                int i = k;
                sbx_reply_t *decoded = NULL;
                bool ok = true;
                if (!echo) {
                    sbx_error_t *error = NULL;
                    decoded = sbx_reply_decode (zmq_msg_data (&reply), zmq_msg_size (&reply), &error);
                    sbx_error_destroy (&error);
                    ok = decoded && sbx_reply_is_ok (decoded);
                    if (s_shared)
                        i = decoded ? (int) (sbx_reply_id (decoded) & 0xff) : 0;
                }
                else
                if (s_shared)
                    i = (int) (s_body_id (zmq_msg_data (&reply), zmq_msg_size (&reply)) & 0xff);
                if (i >= count)
                    i = 0;
                s_client_t *client = &clients [i];
                s_sample (&load->latency [client->op], (double) (now - client->sent_at));
                load->done++;
                if (decoded) {
                    if (ok && client->op == OP_OPEN) {
                        snprintf (client->sandbox, sizeof client->sandbox, "%s", sbx_reply_get_str (decoded, "sandbox"));
                        snprintf (client->token, sizeof client->token, "%s", sbx_reply_get_str (decoded, "token"));
                    }
                    if (!ok && load->errors < 3)
                        fprintf (stderr, "bench: error %s: %s\n", sbx_error_type (sbx_reply_get_error (decoded)),
                                 sbx_error_message (sbx_reply_get_error (decoded)));
                    sbx_reply_destroy (&decoded);
                }
                zmq_msg_close (&reply);
                zmq_msg_init (&reply);
                if (!ok)
                    load->errors++;
                msgpack_sbuffer_clear (&body);
                s_op_t next;
                if (mode == 0) {
                    if (stopping) {
                        outstanding--;
                        continue;
                    }
                    s_pack_call (&body, S_ID (seq++, i), echo ? "sandbox-id-for-echo/0:0" : client->sandbox,
                                 echo ? "0123456789abcdef0123456789abcdef" : client->token, code);
                    next = OP_CALL;
                }
                else {
                    if (client->op == OP_END && ok)
                        load->sessions++;
                    if (stopping && client->op == OP_END) {
                        outstanding--;
                        continue;
                    }
                    if (client->op == OP_OPEN && !ok) {
                        s_pack_simple (&body, "session.open", S_ID (seq++, i), NULL, NULL);
                        next = OP_OPEN;
                    }
                    else
                    if (client->op == OP_OPEN) {
                        s_pack_call (&body, S_ID (seq++, i), client->sandbox, client->token, code);
                        next = OP_CALL;
                    }
                    else
                    if (client->op == OP_CALL) {
                        s_pack_simple (&body, "session.end", S_ID (seq++, i), client->sandbox, client->token);
                        next = OP_END;
                    }
                    else {
                        s_pack_simple (&body, "session.open", S_ID (seq++, i), NULL, NULL);
                        next = OP_OPEN;
                    }
                }
                s_send_body (client, &body, next);
            }
            zmq_msg_close (&reply);
        }
    }
    load->seconds = (double) (s_now_us () - start) / 1e6;
    msgpack_sbuffer_destroy (&body);
    free (items);
}

static void
s_load_free (s_load_t *load)
{
    for (int i = 0; i < 3; i++)
        s_samples_free (&load->latency [i]);
}

//  --- Daemons -------------------------------------------------------------------

//  Journal size of the daemons started (the events section raises it so
//  that a whole run can be replayed).
static unsigned s_journal = 65536;

static sbx_test_daemon_t *
s_daemon (unsigned min, unsigned max, bool proactive, bool feature)
{
    char config [1024];
    snprintf (config, sizeof config,
        "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": %u, \"max\": %u},"
        " \"proactive_session_setup\": %s, \"keepalive_interval_s\": null,"
        " \"stats_report_interval_s\": null, \"outage_retry_interval_s\": 0.01},"
        " \"sandbox\": {\"kind\": \"testing\"},"
        " \"features\": {%s},"
        " \"events\": {\"log\": null, \"journal\": %u}}",
        min, max, proactive ? "true" : "false", feature ? "\"f\": {\"kind\": \"testing\"}" : "",
        s_journal);
    json_t *json = json_loads (config, 0, NULL);
    const char *quiet [] = {"-q", NULL};
    sbx_test_daemon_t *daemon = sbx_test_daemon_start (json, quiet);
    json_decref (json);
    if (!daemon)
        return NULL;
    //  The log is not part of what is measured: drop it.
    unlink (daemon->log_path);
    return daemon;
}

//  Waits until the environment is online (hello), up to timeout_ms.
static bool
s_wait_online (sbx_test_daemon_t *daemon, int timeout_ms)
{
    zsock_t *dealer = sbx_test_connect (daemon);
    int64_t deadline = s_now_us () + (int64_t) timeout_ms * 1000;
    bool online = false;
    while (!online && s_now_us () < deadline) {
        sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"hello\"}", timeout_ms);
        online = reply && sbx_reply_get_str (reply, "status")
              && streq (sbx_reply_get_str (reply, "status"), "online");
        sbx_reply_destroy (&reply);
    }
    zsock_destroy (&dealer);
    return online;
}

static long
s_rss_kib (pid_t pid)
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

//  CPU time (us) and context switches (wake-ups) of every thread of `pid`.
typedef struct {
    double cpu_us;
    double switches;
} s_usage_t;

static s_usage_t
s_usage (pid_t pid)
{
    s_usage_t usage = {0, 0};
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
    while (tasks && (entry = readdir (tasks))) {
        if (entry->d_name [0] == '.')
            continue;
        char status_path [300];
        snprintf (status_path, sizeof status_path, "/proc/%d/task/%s/status", (int) pid, entry->d_name);
        FILE *status = fopen (status_path, "r");
        char line [256];
        unsigned long count;
        while (status && fgets (line, sizeof line, status))
            if (sscanf (line, "voluntary_ctxt_switches: %lu", &count) == 1
            ||  sscanf (line, "nonvoluntary_ctxt_switches: %lu", &count) == 1)
                usage.switches += (double) count;
        if (status)
            fclose (status);
    }
    if (tasks)
        closedir (tasks);
    return usage;
}

//  Appends the samples and counts of `part` to `total`, and frees `part`.
static void
s_load_add (s_load_t *total, s_load_t *part)
{
    for (int op = 0; op < 3; op++)
        for (size_t i = 0; i < part->latency [op].count; i++)
            s_sample (&total->latency [op], part->latency [op].values [i]);
    total->done += part->done;
    total->errors += part->errors;
    total->sessions += part->sessions;
    total->seconds += part->seconds;
    s_load_free (part);
}

//  Runs the same load on sbx and on the echo in alternating rounds, so
//  that both see the same noise of a shared machine. The echo always runs
//  mode 0 (bare round trips). `usage` gets the CPU and wake-ups of sbxd
//  (`pid`) during sbx's rounds, `echo_usage` those of the echo server
//  (`echo_pid`) during its rounds.
static void
s_alternate (s_client_t *sbx, s_client_t *echo, int count, int mode, const char *code,
             int64_t duration_us, uint64_t max_ops, int rounds, pid_t pid, pid_t echo_pid,
             s_load_t *sbx_load, s_load_t *echo_load, s_usage_t *usage, s_usage_t *echo_usage)
{
    memset (sbx_load, 0, sizeof *sbx_load);
    memset (echo_load, 0, sizeof *echo_load);
    memset (usage, 0, sizeof *usage);
    memset (echo_usage, 0, sizeof *echo_usage);
    //  Warm-up, not counted: a tenth of the operations, or 100 ms (every
    //  echo worker announces itself in it).
    s_load_t part;
    s_run_load (sbx, count, mode, false, code, max_ops ? duration_us : 100000, max_ops / 10, &part);
    s_load_free (&part);
    s_run_load (echo, count, 0, true, code, max_ops ? duration_us : 100000, max_ops / 10, &part);
    s_load_free (&part);
    for (int round = 0; round < rounds; round++) {
        s_usage_t before = s_usage (pid);
        s_run_load (sbx, count, mode, false, code, duration_us / rounds, max_ops / (uint64_t) rounds, &part);
        s_usage_t after = s_usage (pid);
        usage->cpu_us += after.cpu_us - before.cpu_us;
        usage->switches += after.switches - before.switches;
        s_load_add (sbx_load, &part);
        before = s_usage (echo_pid);
        s_run_load (echo, count, 0, true, code, duration_us / rounds, max_ops / (uint64_t) rounds, &part);
        after = s_usage (echo_pid);
        echo_usage->cpu_us += after.cpu_us - before.cpu_us;
        echo_usage->switches += after.switches - before.switches;
        s_load_add (echo_load, &part);
    }
}

static void
s_stop (sbx_test_daemon_t **daemon_p)
{
    if (*daemon_p) {
        sbx_test_daemon_shutdown (*daemon_p);
        sbx_test_daemon_destroy (daemon_p);
    }
}

//  --- 1. Call round trip ------------------------------------------------------------

static void
s_code (char *code, size_t size)
{
    memset (code, 'x', size - 1);
    code [size - 1] = 0;
}

static void
s_bench_rtt (void)
{
    printf ("\n1. call round trip (one client, one session, back-to-back calls)\n");
    size_t sizes [] = {64, 1024};
    uint64_t calls = s_quick ? 3000 : 20000;
    for (size_t s = 0; s < 2; s++) {
        char code [2048];
        s_code (code, sizes [s]);
        sbx_test_daemon_t *daemon = s_daemon (1, 1, true, false);
        if (!daemon || !s_wait_online (daemon, 30000)) {
            s_stop (&daemon);
            continue;
        }
        s_echo_t *echo = s_echo_start (1);
        s_client_t *clients = s_clients_new (1, daemon->requests);
        s_client_t *echo_clients = s_clients_new (1, echo->endpoint);
        s_open_sessions (clients, 1);
        s_load_t load, echo_load;
        s_usage_t usage, echo_usage;
        s_alternate (clients, echo_clients, 1, 0, code, 60000000, calls, 10, daemon->pid, echo->pid,
                     &load, &echo_load, &usage, &echo_usage);
        double sbx_p50 = s_percentile (&load.latency [OP_CALL], 0.5);
        double sbx_p99 = s_percentile (&load.latency [OP_CALL], 0.99);
        double echo_p50 = s_percentile (&echo_load.latency [OP_CALL], 0.5);
        double echo_p99 = s_percentile (&echo_load.latency [OP_CALL], 0.99);
        s_load_free (&load);
        s_load_free (&echo_load);
        s_clients_destroy (&clients, 1);
        s_clients_destroy (&echo_clients, 1);
        s_echo_stop (&echo);
        s_stop (&daemon);

        char name [64];
        snprintf (name, sizeof name, "call p50, %zu B code", sizes [s]);
        s_row (name, "us", sbx_p50, echo_p50, false, "<= 1.2x echo", sbx_p50 <= 1.2 * echo_p50);
        snprintf (name, sizeof name, "call p99, %zu B code", sizes [s]);
        s_row (name, "us", sbx_p99, echo_p99, false, NULL, -1);
    }
}

//  --- 2. Concurrency ---------------------------------------------------------------

static void
s_bench_concurrency (void)
{
    printf ("\n2. concurrency (C clients, one request in flight each, pool of C)\n");
    int levels [] = {1, 8, 32, 128};
    int64_t duration = s_quick ? 500000 : 2000000;
    char code [64];
    s_code (code, sizeof code);
    for (size_t l = 0; l < 4; l++) {
        int count = levels [l];
        sbx_test_daemon_t *daemon = s_daemon ((unsigned) count, (unsigned) count, true, false);
        if (!daemon || !s_wait_online (daemon, 60000)) {
            s_stop (&daemon);
            continue;
        }
        s_echo_t *echo = s_echo_start (count);
        s_client_t *clients = s_clients_new (count, daemon->requests);
        s_client_t *echo_clients = s_clients_new (count, echo->endpoint);
        s_open_sessions (clients, count);
        s_load_t sbx_load, echo_load;
        s_usage_t usage, echo_usage;
        s_alternate (clients, echo_clients, count, 0, code, duration, 0, 4, daemon->pid, echo->pid,
                     &sbx_load, &echo_load, &usage, &echo_usage);
        s_clients_destroy (&clients, count);
        s_clients_destroy (&echo_clients, count);
        s_echo_stop (&echo);
        s_stop (&daemon);

        double sbx_rate = (double) sbx_load.done / sbx_load.seconds;
        double echo_rate = (double) echo_load.done / echo_load.seconds;
        char name [64];
        bool target = count == 32;
        snprintf (name, sizeof name, "%d clients: calls/s", count);
        s_row (name, "/s", sbx_rate, echo_rate, true, target ? ">= 0.7x echo" : NULL,
               target ? sbx_rate >= 0.7 * echo_rate : -1);
        snprintf (name, sizeof name, "%d clients: p50", count);
        s_row (name, "us", s_percentile (&sbx_load.latency [OP_CALL], 0.5),
               s_percentile (&echo_load.latency [OP_CALL], 0.5), false, NULL, -1);
        double p99 = s_percentile (&sbx_load.latency [OP_CALL], 0.99);
        double echo_p99 = s_percentile (&echo_load.latency [OP_CALL], 0.99);
        snprintf (name, sizeof name, "%d clients: p99", count);
        s_row (name, "us", p99, echo_p99, false, target ? "<= 2x echo" : NULL,
               target ? p99 <= 2 * echo_p99 : -1);
        snprintf (name, sizeof name, "%d clients: p999", count);
        s_row (name, "us", s_percentile (&sbx_load.latency [OP_CALL], 0.999),
               s_percentile (&echo_load.latency [OP_CALL], 0.999), false, NULL, -1);
        double calls = sbx_load.done ? (double) sbx_load.done : 1;
        snprintf (name, sizeof name, "%d clients: sbxd CPU per call", count);
        double echo_calls = echo_load.done ? (double) echo_load.done : 1;
        s_row (name, "us", usage.cpu_us / calls, echo_usage.cpu_us / echo_calls, false, NULL, -1);
        snprintf (name, sizeof name, "%d clients: sbxd wake-ups per call", count);
        s_row (name, "", usage.switches / calls, echo_usage.switches / echo_calls, false, NULL, -1);
        snprintf (name, sizeof name, "%d clients: errors", count);
        s_row (name, "", (double) sbx_load.errors, 0, false, target ? "0" : NULL,
               target ? sbx_load.errors == 0 : -1);
        s_load_free (&sbx_load);
        s_load_free (&echo_load);
    }
}

//  --- 3. Session throughput -------------------------------------------------------

static void
s_bench_sessions (void)
{
    printf ("\n3. sessions (open -> call -> end loops, pool of C, testing feature)\n");
    struct { int count; bool shared; } variants [] = {{1, false}, {8, false}, {32, false}, {32, true}};
    int64_t duration = s_quick ? 500000 : 2000000;
    char code [64];
    s_code (code, sizeof code);
    for (int proactive = 1; proactive >= 0; proactive--) {
        for (size_t v = 0; v < 4; v++) {
            int count = variants [v].count;
            s_shared = variants [v].shared;
            sbx_test_daemon_t *daemon = s_daemon ((unsigned) count, (unsigned) count, proactive, true);
            if (!daemon || !s_wait_online (daemon, 60000)) {
                s_stop (&daemon);
                continue;
            }
            s_echo_t *echo = s_echo_start (count);
            s_client_t *clients = s_clients_new (count, daemon->requests);
            s_client_t *echo_clients = s_clients_new (count, echo->endpoint);
            s_load_t load, echo_load;
            s_usage_t usage, echo_usage;
            s_alternate (clients, echo_clients, count, 1, code, duration, 0, 4, daemon->pid, echo->pid,
                         &load, &echo_load, &usage, &echo_usage);
            s_clients_destroy (&clients, count);
            s_clients_destroy (&echo_clients, count);
            s_echo_stop (&echo);
            s_stop (&daemon);
            //  A "session" of the echo is three bare round trips.
            double echo_rate = (double) echo_load.done / echo_load.seconds / 3.0;
            double echo_sessions = echo_load.done ? (double) echo_load.done / 3.0 : 1;
            s_load_free (&echo_load);
            double rate = (double) load.sessions / load.seconds;
            double sessions = load.sessions ? (double) load.sessions : 1;
            bool target = count == 32 && proactive;
            char who [48];
            snprintf (who, sizeof who, "%d clients%s, proactive %s", count,
                      variants [v].shared ? " on 1 socket" : "", proactive ? "on" : "off");
            char name [96];
            snprintf (name, sizeof name, "%s: sessions/s", who);
            s_row (name, "/s", rate, echo_rate, true, target ? ">= 25000/s" : NULL,
                   target ? rate >= 25000 : -1);
            const char *ops [] = {"call", "open", "end"};
            for (int op = 0; op < 3; op++) {
                snprintf (name, sizeof name, "  %s: %s p50", who, ops [op]);
                s_row (name, "us", s_percentile (&load.latency [op], 0.5), NAN, false, NULL, -1);
            }
            snprintf (name, sizeof name, "  %s: sbxd CPU per session", who);
            s_row (name, "us", usage.cpu_us / sessions, echo_usage.cpu_us / echo_sessions, false, NULL, -1);
            snprintf (name, sizeof name, "  %s: sbxd wake-ups per session", who);
            s_row (name, "", usage.switches / sessions, echo_usage.switches / echo_sessions, false, NULL, -1);
            snprintf (name, sizeof name, "  %s: failed ops", who);
            s_row (name, "", (double) load.errors, 0, false, target ? "0" : NULL, target ? load.errors == 0 : -1);
            s_load_free (&load);
        }
    }
    //  For scale: what a server with no hop at all (the front answers
    //  itself) reaches with the same clients. One thread per sandbox
    //  cannot avoid the hop; this is the bound of running the sandboxes'
    //  state machines on the thread that owns the socket.
    s_shared = true;
    s_echo_t *hop = s_echo_start (32);
    s_echo_t *flat = s_echo_start (0);
    s_client_t *hop_clients = s_clients_new (32, hop->endpoint);
    s_client_t *flat_clients = s_clients_new (32, flat->endpoint);
    s_load_t hop_load = {0}, flat_load = {0}, part;
    for (int round = 0; round < 5; round++) {
        s_run_load (hop_clients, 32, 0, true, code, round ? duration / 4 : 100000, 0, &part);
        if (round)
            s_load_add (&hop_load, &part);
        else
            s_load_free (&part);
        s_run_load (flat_clients, 32, 0, true, code, round ? duration / 4 : 100000, 0, &part);
        if (round)
            s_load_add (&flat_load, &part);
        else
            s_load_free (&part);
    }
    s_row ("  for scale: echo with no hop, 32 on 1 socket: sessions/s", "/s",
           (double) flat_load.done / flat_load.seconds / 3.0, (double) hop_load.done / hop_load.seconds / 3.0,
           true, NULL, -1);
    s_load_free (&hop_load);
    s_load_free (&flat_load);
    s_clients_destroy (&hop_clients, 32);
    s_clients_destroy (&flat_clients, 32);
    s_echo_stop (&hop);
    s_echo_stop (&flat);
    s_shared = false;
}

//  --- 4. Scale ------------------------------------------------------------------------

static void
s_idle_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    char *command = zstr_recv (pipe);
    zstr_free (&command);
}

static long
s_self_rss (void)
{
    return s_rss_kib (getpid ());
}

static void
s_bench_scale (void)
{
    printf ("\n4. scale (pools of testing sandboxes with one testing feature)\n");
    unsigned sizes [] = {100, 1000, 5000};
    size_t count = s_quick ? 2 : 3;
    sbx_test_daemon_t *empty = s_daemon (0, 0, true, true);
    long base_rss = empty && s_wait_online (empty, 30000) ? s_rss_kib (empty->pid) : 0;
    s_stop (&empty);
    for (size_t i = 0; i < count; i++) {
        unsigned n = sizes [i];
        int64_t start = s_now_us ();
        sbx_test_daemon_t *daemon = s_daemon (n, n, true, true);
        bool online = daemon && s_wait_online (daemon, 120000);
        double ready_s = (double) (s_now_us () - start) / 1e6;
        if (!online) {
            fprintf (stderr, "bench: a pool of %u did not come online\n", n);
            s_stop (&daemon);
            continue;
        }
        long rss = s_rss_kib (daemon->pid);
        int64_t stop_start = s_now_us ();
        int code = sbx_test_daemon_shutdown (daemon);
        double stop_s = (double) (s_now_us () - stop_start) / 1e6;
        sbx_test_daemon_destroy (&daemon);

        //  Baseline: n bare czmq actors in this process.
        long before = s_self_rss ();
        int64_t actor_start = s_now_us ();
        zactor_t **actors = (zactor_t **) zmalloc (sizeof (zactor_t *) * n);
        for (unsigned a = 0; a < n; a++)
            actors [a] = zactor_new (s_idle_actor, NULL);
        double actors_s = (double) (s_now_us () - actor_start) / 1e6;
        long actors_rss = s_self_rss () - before;
        int64_t join_start = s_now_us ();
        for (unsigned a = 0; a < n; a++)
            zactor_destroy (&actors [a]);
        double join_s = (double) (s_now_us () - join_start) / 1e6;
        free (actors);

        char name [64];
        snprintf (name, sizeof name, "%u sandboxes: start to online", n);
        s_row (name, "ms", ready_s * 1000, actors_s * 1000, false, n == 1000 ? "<= 300 ms" : NULL,
               n == 1000 ? ready_s <= 0.3 : -1);
        snprintf (name, sizeof name, "%u sandboxes: RSS per sandbox", n);
        double per = (double) (rss - base_rss) / n;
        s_row (name, "KiB", per, (double) actors_rss / n, false, n == 5000 ? "<= 64 KiB" : NULL,
               n == 5000 ? per <= 64 : -1);
        snprintf (name, sizeof name, "%u sandboxes: shutdown (exit %d)", n, code);
        s_row (name, "ms", stop_s * 1000, join_s * 1000, false, n == 5000 ? "<= 2000 ms" : NULL,
               n == 5000 ? stop_s <= 2 : -1);
    }
}

//  --- 5. Events ------------------------------------------------------------------------

typedef struct {
    zsock_t *sub;
    uint64_t received, gaps, last_seq;
    uint8_t *seen;          //  seen [seq] = 1
    size_t capacity;
} s_subscriber_t;

static void
s_subscriber_take (s_subscriber_t *self)
{
    while (zsock_events (self->sub) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->sub);
        zframe_t *body = zmsg_last (msg);
        if (body && zframe_size (body) > SBX_EVENT_SEQ_OFFSET + 8) {
            const uint8_t *data = zframe_data (body) + SBX_EVENT_SEQ_OFFSET;
            uint64_t seq = 0;
            for (int i = 0; i < 8; i++)
                seq = (seq << 8) | data [i];
            if (seq != self->last_seq + 1)
                self->gaps++;
            self->last_seq = seq;
            if (seq >= self->capacity) {
                size_t capacity = (seq + 1) * 2;
                self->seen = (uint8_t *) realloc (self->seen, capacity);
                memset (self->seen + self->capacity, 0, capacity - self->capacity);
                self->capacity = capacity;
            }
            self->seen [seq] = 1;
            self->received++;
        }
        zmsg_destroy (&msg);
    }
}

//  A subscriber drains its SUB on a thread of its own, so that the load
//  never pauses for it. "UNTIL" <seq>: drain until that seq has been seen
//  (or 2 s pass without an event), then answer "DONE" and stop reading.
static void
s_subscriber_actor (zsock_t *pipe, void *args)
{
    s_subscriber_t *self = (s_subscriber_t *) args;
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, self->sub, NULL);
    uint64_t until = 0;
    bool draining = false;
    while (true) {
        void *which = zpoller_wait (poller, draining ? 2000 : -1);
        if (which == self->sub)
            s_subscriber_take (self);
        else
        if (which == pipe) {
            char *command = NULL;
            char *value = NULL;
            zsock_recv (pipe, "ss", &command, &value);
            bool term = !command || streq (command, "$TERM");
            if (command && streq (command, "UNTIL") && value) {
                until = strtoull (value, NULL, 10);
                draining = true;
            }
            zstr_free (&command);
            zstr_free (&value);
            if (term)
                break;
        }
        if (draining && (self->last_seq >= until || !which)) {
            s_subscriber_take (self);
            zstr_send (pipe, "DONE");
            //  Idle until $TERM.
            char *command = zstr_recv (pipe);
            zstr_free (&command);
            break;
        }
    }
    zpoller_destroy (&poller);
}

//  The event bus alone, fed batches of 512 session.activity events as
//  the environment feeds it, with one SUB subscriber: events/s from the
//  first batch until the subscriber has the last. Its baseline is a raw
//  PUB socket sending the same encoded events to a SUB. Returns the
//  bus's rate; *raw_p gets the baseline's.
static bool
s_readable (zsock_t *sock, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve (sock), 0, ZMQ_POLLIN, 0};
    return zmq_poll (&item, 1, timeout_ms) == 1;
}

static bool
s_sub_wait (zsock_t *sub, uint64_t count)
{
    uint64_t received = 0;
    while (received < count) {
        if (!s_readable (sub, 5000))
            return false;
        while (zsock_events (sub) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (sub);
            zmsg_destroy (&msg);
            received++;
        }
    }
    return true;
}

static double
s_bus_rate (double *raw_p)
{
    uint64_t total = s_quick ? 200000 : 1000000;
    const char *text =
        "{\"environment\": {\"id\": \"bench\"}, \"sandbox\": {\"kind\": \"testing\"},"
        " \"endpoints\": {\"requests\": \"tcp://127.0.0.1:*\", \"events\": \"tcp://127.0.0.1:*\"},"
        " \"events\": {\"log\": null}}";
    sbx_error_t *error = NULL;
    sbx_config_t *config = sbx_config_load_string (text, sbx_registry (), &error);
    sbx_error_destroy (&error);
    sbx_actor_t *bus = config ? sbx_actor_new (sbx_eventbus_actor, config) : NULL;
    if (!bus) {
        sbx_config_destroy (&config);
        return NAN;
    }
    zstr_send (sbx_actor_pipe (bus), "START");
    char *status = NULL, *endpoint = NULL;
    zsock_recv (sbx_actor_pipe (bus), "ss", &status, &endpoint);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (sub, 0);
    zsock_set_subscribe (sub, "");
    zsock_connect (sub, "%s", endpoint ? endpoint : "");

    uint8_t args [80];
    args [0] = 0x81;        //  {"code": 64 x "x"}
    args [1] = 0xa4;
    memcpy (args + 2, "code", 4);
    args [6] = 0xd9;
    args [7] = 64;
    memset (args + 8, 'x', 64);
    sbx_event_t event = {
        .kind = SBX_EV_SESSION_ACTIVITY, .environment = "bench", .sandbox = "bench/0:0",
        .session = "session-0000000", .name = "shell", .args = args, .args_size = 72
    };
    //  One event first, until the subscription is in place.
    bool subscribed = false;
    for (int attempt = 0; attempt < 100 && !subscribed; attempt++) {
        sbx_evbatch_t *batch = sbx_evbatch_new ();
        sbx_evbatch_add (batch, &event);
        zsock_send (sbx_actor_pipe (bus), "sp", "EVENTS", batch);
        subscribed = s_readable (sub, 50) && s_sub_wait (sub, 1);
    }
    double rate = NAN;
    if (subscribed) {
        int64_t start = s_now_us ();
        for (uint64_t sent = 0; sent < total; ) {
            sbx_evbatch_t *batch = sbx_evbatch_new ();
            for (int i = 0; i < 512 && sent < total; i++, sent++)
                sbx_evbatch_add (batch, &event);
            zsock_send (sbx_actor_pipe (bus), "sp", "EVENTS", batch);
        }
        if (s_sub_wait (sub, total))
            rate = (double) total / ((double) (s_now_us () - start) / 1e6);
    }
    zsock_destroy (&sub);
    sbx_actor_destroy (&bus);
    zstr_free (&status);
    zstr_free (&endpoint);
    sbx_config_destroy (&config);

    //  Baseline: the same events, encoded here and sent on a bare PUB.
    zsock_t *pub = zsock_new (ZMQ_PUB);
    zsock_set_sndhwm (pub, 0);
    zsock_bind (pub, "tcp://127.0.0.1:*");
    sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (sub, 0);
    zsock_set_subscribe (sub, "");
    zsock_connect (sub, "%s", zsock_last_endpoint (pub));
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    subscribed = false;
    for (int attempt = 0; attempt < 100 && !subscribed; attempt++) {
        zstr_sendm (pub, "session.activity");
        zstr_send (pub, "x");
        subscribed = s_readable (sub, 50) && s_sub_wait (sub, 1);
    }
    *raw_p = NAN;
    if (subscribed) {
        int64_t start = s_now_us ();
        for (uint64_t sent = 0; sent < total; sent++) {
            msgpack_sbuffer_clear (&body);
            event.seq = sent + 1;
            sbx_event_encode (&event, &body);
            zmq_send (zsock_resolve (pub), "session.activity", 16, ZMQ_SNDMORE);
            zmq_send (zsock_resolve (pub), body.data, body.size, 0);
        }
        if (s_sub_wait (sub, total))
            *raw_p = (double) total / ((double) (s_now_us () - start) / 1e6);
    }
    msgpack_sbuffer_destroy (&body);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
    return rate;
}

//  The seq of the last event published (events.replay past the end
//  answers `next` = the last seq).
static uint64_t
s_last_seq (zsock_t *control)
{
    sbx_reply_t *reply = sbx_test_request (control,
        "{\"op\": \"events.replay\", \"since\": 9223372036854775807}", 10000);
    const msgpack_object *next = reply ? sbx_reply_get (reply, "next") : NULL;
    uint64_t last = next && next->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? next->via.u64 : 0;
    sbx_reply_destroy (&reply);
    return last;
}

static void
s_bench_events (void)
{
    printf ("\n5. events (session loops from 32 clients on one socket; 1 and 4 subscribers)\n");
    int64_t duration = s_quick ? 500000 : 2000000;
    char code [64];
    s_code (code, sizeof code);
    int sub_counts [] = {1, 4};
    s_journal = 4u * 1024 * 1024;
    //  As fast as sbx can: the client shape with which it serves the most
    //  sessions (section 3).
    s_shared = true;
    for (int v = 0; v < 2; v++) {
        int subs = sub_counts [v];
        sbx_test_daemon_t *daemon = s_daemon (32, 32, true, true);
        if (!daemon || !s_wait_online (daemon, 60000)) {
            s_stop (&daemon);
            continue;
        }
        s_subscriber_t subscriber [4];
        memset (subscriber, 0, sizeof subscriber);
        for (int s = 0; s < subs; s++) {
            subscriber [s].sub = zsock_new (ZMQ_SUB);
            zsock_set_rcvhwm (subscriber [s].sub, 1000000);
            zsock_set_subscribe (subscriber [s].sub, "");
            zsock_connect (subscriber [s].sub, "%s", daemon->events);
        }
        //  Make sure the subscriptions are in place: one round trip, then
        //  events from here on are seen live.
        s_client_t *clients = s_clients_new (32, daemon->requests);
        zsock_t *control = sbx_test_connect (daemon);
        sbx_reply_t *reply = sbx_test_request (control, "{\"op\": \"stats\"}", 10000);
        sbx_reply_destroy (&reply);
        zactor_t *drainers [4];
        for (int s = 0; s < subs; s++)
            drainers [s] = zactor_new (s_subscriber_actor, &subscriber [s]);
        uint64_t first = s_last_seq (control);
        s_load_t load;
        s_run_load (clients, 32, 1, false, code, duration, 0, &load);
        double seconds = load.seconds;
        s_load_free (&load);
        uint64_t last = s_last_seq (control);
        char until [32];
        snprintf (until, sizeof until, "%llu", (unsigned long long) last);
        for (int s = 0; s < subs; s++) {
            zstr_sendx (drainers [s], "UNTIL", until, NULL);
            char *done = zstr_recv (drainers [s]);
            zstr_free (&done);
            zactor_destroy (&drainers [s]);
        }
        //  Fill each subscriber's gaps from the journal.
        uint64_t filled = 0, missing = 0;
        for (int s = 0; s < subs; s++) {
            uint64_t since = 0;
            while (since < last) {
                //  Skip quickly over what this subscriber has.
                while (since < last && since + 1 < subscriber [s].capacity && subscriber [s].seen [since + 1])
                    since++;
                if (since >= last)
                    break;
                sbx_reply_t *replay = sbx_test_requestf (control, 10000,
                    "{\"op\": \"events.replay\", \"since\": %llu, \"max\": 10000}", (unsigned long long) since);
                const msgpack_object *events = replay ? sbx_reply_get (replay, "events") : NULL;
                if (!events || events->type != MSGPACK_OBJECT_ARRAY || events->via.array.size == 0) {
                    fprintf (stderr, "bench: replay since %llu: %s\n", (unsigned long long) since,
                             sbx_test_reply_type (replay));
                    sbx_reply_destroy (&replay);
                    break;
                }
                for (uint32_t e = 0; e < events->via.array.size; e++) {
                    const msgpack_object *seq = sbx_mp_map_get (&events->via.array.ptr [e], "seq");
                    if (seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER && seq->via.u64 <= last
                    &&  seq->via.u64 < subscriber [s].capacity && !subscriber [s].seen [seq->via.u64]) {
                        subscriber [s].seen [seq->via.u64] = 1;
                        filled++;
                    }
                }
                const msgpack_object *next = sbx_reply_get (replay, "next");
                since = next ? next->via.u64 : last;
                sbx_reply_destroy (&replay);
            }
            for (uint64_t q = 1; q <= last; q++)
                if (q >= subscriber [s].capacity || !subscriber [s].seen [q])
                    missing++;
        }
        zsock_destroy (&control);
        s_clients_destroy (&clients, 32);
        s_stop (&daemon);
        uint64_t received = 0, gaps = 0;
        for (int s = 0; s < subs; s++) {
            received += subscriber [s].received;
            gaps += subscriber [s].gaps;
            zsock_destroy (&subscriber [s].sub);
            free (subscriber [s].seen);
        }
        char name [64];
        snprintf (name, sizeof name, "%d subscriber(s): events/s published", subs);
        double rate = (double) (last - first) / seconds;
        s_row (name, "/s", rate, NAN, true, ">= 300000/s", rate >= 300000);
        snprintf (name, sizeof name, "%d subscriber(s): events delivered live", subs);
        s_row (name, "", (double) received, (double) last * subs, true, NULL, -1);
        snprintf (name, sizeof name, "%d subscriber(s): gaps seen / filled", subs);
        s_row (name, "", (double) gaps, (double) filled, false, NULL, -1);
        snprintf (name, sizeof name, "%d subscriber(s): missing after replay", subs);
        s_row (name, "", (double) missing, 0, false, "0", missing == 0);
    }
    s_journal = 65536;
    s_shared = false;
    //  For scale: what the bus publishes when it is fed as fast as the
    //  bench can make events, beside a bare PUB socket.
    double raw = NAN;
    double bus = s_bus_rate (&raw);
    s_row ("  for scale: event bus alone, fed batches: events/s", "/s", bus, raw, true, NULL, -1);
}

//  --- 6. Real commands ------------------------------------------------------------

//  posix_spawn of argv with stdout on a pipe, read to the end, waited for.
static bool
s_spawn_capture (char *const argv [])
{
    int out [2];
    if (pipe2 (out, O_CLOEXEC) != 0)
        return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, out [1], 1);
    pid_t pid;
    int rc = posix_spawn (&pid, argv [0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    close (out [1]);
    char buffer [256];
    while (rc == 0 && read (out [0], buffer, sizeof buffer) > 0)
        ;
    close (out [0]);
    if (rc == 0)
        waitpid (pid, NULL, 0);
    return rc == 0;
}

//  A process sandbox with the shell feature, in an open session.
typedef struct {
    sbx_test_daemon_t *daemon;
    s_client_t *clients;
} s_shell_t;

static void
s_shell_destroy (s_shell_t **self_p)
{
    if (*self_p) {
        if ((*self_p)->clients)
            s_clients_destroy (&(*self_p)->clients, 1);
        s_stop (&(*self_p)->daemon);
        free (*self_p);
        *self_p = NULL;
    }
}

static s_shell_t *
s_shell_new (const char *isolation)
{
    char config [512];
    snprintf (config, sizeof config,
        "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": 1, \"max\": 1},"
        " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"%s\"},"
        " \"features\": {\"shell\": {\"kind\": \"shell\"}}, \"events\": {\"log\": null}}",
        isolation);
    json_t *json = json_loads (config, 0, NULL);
    const char *quiet [] = {"-q", NULL};
    s_shell_t *self = (s_shell_t *) zmalloc (sizeof (s_shell_t));
    self->daemon = sbx_test_daemon_start (json, quiet);
    json_decref (json);
    if (!self->daemon || !s_wait_online (self->daemon, 30000)) {
        s_shell_destroy (&self);
        return NULL;
    }
    self->clients = s_clients_new (1, self->daemon->requests);
    if (!s_open_sessions (self->clients, 1))
        s_shell_destroy (&self);
    return self;
}

//  Times one `shell.run echo hi`; false when it failed.
static bool
s_shell_run (s_shell_t *self, s_samples_t *samples)
{
    int64_t start = s_now_us ();
    sbx_reply_t *reply = sbx_test_requestf (self->clients [0].dealer, 30000,
        "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
        " \"method\": \"run\", \"args\": {\"cmd\": \"echo hi\"}}",
        self->clients [0].sandbox, self->clients [0].token);
    bool ok = reply && sbx_reply_is_ok (reply);
    sbx_reply_destroy (&reply);
    if (ok)
        s_sample (samples, (double) (s_now_us () - start));
    return ok;
}

//  A shell loop under bwrap, already running: it reads a line, runs
//  `sh -c 'echo hi'`, answers. One line's round trip is one command
//  spawned inside a running namespace.
typedef struct {
    pid_t pid;
    int to, from;
} s_resident_t;

static bool
s_resident_start (s_resident_t *self)
{
    int to [2], from [2];
    if (pipe2 (to, O_CLOEXEC) != 0 || pipe2 (from, O_CLOEXEC) != 0)
        return false;
    char *argv [] = {
        "/usr/bin/bwrap", "--die-with-parent", "--new-session", "--unshare-all",
        "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc", "--",
        "/bin/sh", "-c", "while read line; do sh -c 'echo hi' >/dev/null; echo done; done", NULL
    };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, to [0], 0);
    posix_spawn_file_actions_adddup2 (&actions, from [1], 1);
    int rc = posix_spawn (&self->pid, argv [0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    close (to [0]);
    close (from [1]);
    self->to = to [1];
    self->from = from [0];
    if (rc != 0) {
        close (self->to);
        close (self->from);
    }
    return rc == 0;
}

static bool
s_resident_run (s_resident_t *self, s_samples_t *samples)
{
    int64_t start = s_now_us ();
    char buffer [16];
    if (write (self->to, "x\n", 2) != 2 || read (self->from, buffer, sizeof buffer) <= 0)
        return false;
    s_sample (samples, (double) (s_now_us () - start));
    return true;
}

static void
s_resident_stop (s_resident_t *self)
{
    close (self->to);
    close (self->from);
    waitpid (self->pid, NULL, 0);
}

static void
s_bench_commands (void)
{
    printf ("\n6. real commands (`echo hi` through shell.run vs spawning it directly)\n");
    int runs = s_quick ? 100 : 500;
    s_samples_t spawn = {0}, fresh = {0}, none = {0}, bwrap = {0}, resident = {0}, hop = {0};
    char *echo_argv [] = {"/bin/sh", "-c", "echo hi", NULL};
    char *bwrap_argv [] = {
        "/usr/bin/bwrap", "--die-with-parent", "--new-session", "--unshare-all",
        "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc", "--",
        "/bin/sh", "-c", "echo hi", NULL
    };
    s_shell_t *shell_none = s_shell_new ("none");
    s_shell_t *shell_bwrap = s_shell_new ("bwrap");
    s_resident_t namespace;
    bool resident_ok = s_resident_start (&namespace);
    //  For scale: what any remote command pays before it runs, a round
    //  trip through an echo server with one actor hop.
    s_echo_t *echo = s_echo_start (1);
    zsock_t *echo_client = zsock_new_dealer (echo->endpoint);
    if (!shell_none || !shell_bwrap || !resident_ok)
        fprintf (stderr, "bench: commands: a sandbox or the resident namespace did not start\n");
    //  Each measure and its baseline alternate in rounds of 10 commands.
    for (int i = 0; i < runs; i += 10) {
        for (int k = 0; k < 10; k++) {
            int64_t start = s_now_us ();
            if (s_spawn_capture (echo_argv))
                s_sample (&spawn, (double) (s_now_us () - start));
        }
        for (int k = 0; shell_none && k < 10; k++)
            if (!s_shell_run (shell_none, &none))
                s_shell_destroy (&shell_none);
        for (int k = 0; resident_ok && k < 10; k++)
            resident_ok = s_resident_run (&namespace, &resident);
        for (int k = 0; shell_bwrap && k < 10; k++)
            if (!s_shell_run (shell_bwrap, &bwrap))
                s_shell_destroy (&shell_bwrap);
        for (int k = 0; k < 10; k++) {
            int64_t start = s_now_us ();
            zstr_send (echo_client, "{\"op\": \"call\"}");
            char *reply = zstr_recv (echo_client);
            if (reply)
                s_sample (&hop, (double) (s_now_us () - start));
            zstr_free (&reply);
        }
        if (i % 50 == 0) {
            int64_t start = s_now_us ();
            if (s_spawn_capture (bwrap_argv))
                s_sample (&fresh, (double) (s_now_us () - start));
        }
    }
    if (resident_ok)
        s_resident_stop (&namespace);
    s_shell_destroy (&shell_none);
    s_shell_destroy (&shell_bwrap);
    zsock_destroy (&echo_client);
    s_echo_stop (&echo);
    double spawn_p50 = s_percentile (&spawn, 0.5);
    double none_p50 = s_percentile (&none, 0.5);
    double bwrap_p50 = s_percentile (&bwrap, 0.5);
    double resident_p50 = s_percentile (&resident, 0.5);
    s_row ("shell.run echo hi, isolation none: p50", "us", none_p50, spawn_p50, false,
           "<= 1.15x posix_spawn", none_p50 <= 1.15 * spawn_p50);
    s_row ("shell.run echo hi, isolation bwrap: p50", "us", bwrap_p50, resident_p50, false,
           "<= 1.3x spawn in namespace", bwrap_p50 <= 1.3 * resident_p50);
    s_row ("  for scale: a fresh bwrap per command: p50", "us", s_percentile (&fresh, 0.5), resident_p50,
           false, NULL, -1);
    s_row ("  for scale: echo round trip, one hop: p50", "us", s_percentile (&hop, 0.5), spawn_p50,
           false, NULL, -1);
    s_samples_free (&spawn);
    s_samples_free (&fresh);
    s_samples_free (&none);
    s_samples_free (&bwrap);
    s_samples_free (&resident);
    s_samples_free (&hop);
}

//  --- 7. Cost growth ----------------------------------------------------------------

static void
s_bench_growth (void)
{
    printf ("\n7. cost growth (8 clients in session, pools of 10, 100, 1000)\n");
    unsigned sizes [] = {10, 100, 1000};
    int64_t duration = s_quick ? 500000 : 2000000;
    char code [64];
    s_code (code, sizeof code);
    //  The three pools run side by side and take turns, in 4 rounds, so
    //  that each meets the same noise.
    sbx_test_daemon_t *daemons [3] = {NULL, NULL, NULL};
    s_client_t *clients [3] = {NULL, NULL, NULL};
    s_load_t loads [3];
    memset (loads, 0, sizeof loads);
    bool ready = true;
    for (size_t i = 0; i < 3 && ready; i++) {
        daemons [i] = s_daemon (sizes [i], sizes [i], true, false);
        ready = daemons [i] && s_wait_online (daemons [i], 60000);
        if (ready) {
            clients [i] = s_clients_new (8, daemons [i]->requests);
            ready = s_open_sessions (clients [i], 8);
        }
    }
    for (int round = 0; ready && round < 5; round++)
        for (size_t i = 0; i < 3; i++) {
            s_load_t part;
            //  Round 0 warms up.
            s_run_load (clients [i], 8, 0, false, code, round ? duration / 4 : 100000, 0, &part);
            if (round)
                s_load_add (&loads [i], &part);
            else
                s_load_free (&part);
        }
    double first = ready && loads [0].seconds > 0 ? (double) loads [0].done / loads [0].seconds : NAN;
    for (size_t i = 0; ready && i < 3; i++) {
        double rate = (double) loads [i].done / loads [i].seconds;
        char name [64];
        snprintf (name, sizeof name, "pool %u: calls/s", sizes [i]);
        //  The cost must not grow with the pool: no more than 10% slower
        //  than pool 10 (faster is noise, not growth).
        s_row (name, "/s", rate, first, true, i ? ">= 0.9x pool 10" : NULL,
               i ? rate >= 0.9 * first : -1);
        snprintf (name, sizeof name, "pool %u: call p50", sizes [i]);
        s_row (name, "us", s_percentile (&loads [i].latency [OP_CALL], 0.5), NAN, false, NULL, -1);
    }
    for (size_t i = 0; i < 3; i++) {
        s_load_free (&loads [i]);
        if (clients [i])
            s_clients_destroy (&clients [i], 8);
        s_stop (&daemons [i]);
    }
}

int
main (int argc, char *argv [])
{
    zsys_init ();
    zsys_set_max_sockets (30000);
    if (argc == 3 && streq (argv [1], "--echo-server"))
        return s_echo_server (atoi (argv [2]));
    const char *only [8];
    int only_count = 0;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--quick"))
            s_quick = true;
        else
        if (only_count < 8)
            only [only_count++] = argv [i];
    }
    printf ("sbx benchmarks%s (each figure beside a baseline from this same run)\n",
            s_quick ? " (quick)" : "");
    bool all = only_count == 0;
    struct { const char *name; void (*run) (void); } sections [] = {
        {"rtt", s_bench_rtt}, {"concurrency", s_bench_concurrency},
        {"sessions", s_bench_sessions}, {"events", s_bench_events},
        {"commands", s_bench_commands}, {"growth", s_bench_growth},
        {"scale", s_bench_scale}
    };
    for (size_t s = 0; s < sizeof sections / sizeof sections [0]; s++) {
        bool wanted = all;
        for (int i = 0; i < only_count; i++)
            wanted |= streq (only [i], sections [s].name);
        if (wanted)
            sections [s].run ();
    }
    s_print_table ();
    return 0;
}
