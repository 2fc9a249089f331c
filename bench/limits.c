/*  bench_limits - see bench/limits.h */
#include "bench/limits.h"
#include "bench/harness.h"
#include "messages/mp.h"

#include <sys/stat.h>

#define S_MIB (1024.0 * 1024.0)

//  VmRSS or VmHWM (peak) of `pid`, in MiB.
static double
s_mib (pid_t pid, const char *field)
{
    char path [64], line [256], format [32];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    snprintf (format, sizeof format, "%s: %%ld kB", field);
    FILE *file = fopen (path, "r");
    long kib = -1;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, format, &kib) == 1)
            break;
    if (file)
        fclose (file);
    return kib < 0 ? NAN : (double) kib / 1024.0;
}

static uint64_t
s_counter (sbx_test_daemon_t *daemon, const char *name)
{
    zsock_t *dealer = sbx_test_connect (daemon);
    sbx_request_t stats = {.op = SBX_OP_STATS};
    sbx_reply_t *reply = bench_request (dealer, &stats, 10000);
    const msgpack_object *counters = reply ? sbx_reply_get (reply, "counters") : NULL;
    const msgpack_object *value = counters ? sbx_mp_map_get (counters, name) : NULL;
    uint64_t count = value && value->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? value->via.u64 : 0;
    sbx_reply_destroy (&reply);
    zsock_destroy (&dealer);
    return count;
}

//  Ephemeral calls of the testing sandbox's shell, each one call a round.
static void
s_calls (sbx_test_daemon_t *daemon, int count)
{
    zsock_t *dealer = sbx_test_connect (daemon);
    msgpack_sbuffer args;
    msgpack_sbuffer_init (&args);
    bench_args_pack (&args, "code", "make some events");
    sbx_request_t call = {.op = SBX_OP_CALL, .method = "shell", .args = (uint8_t *) args.data,
                          .args_size = args.size};
    for (int i = 0; i < count; i++) {
        sbx_reply_t *reply = bench_request (dealer, &call, 10000);
        sbx_reply_destroy (&reply);
    }
    msgpack_sbuffer_destroy (&args);
    zsock_destroy (&dealer);
}

//  A daemon of `config` after `calls` calls, and its memory then in
//  *idle_p (`field`: VmRSS, or VmHWM for a peak); NULL when it did not
//  start.
static sbx_test_daemon_t *
s_idle (const char *config, int calls, const char *field, double *idle_p)
{
    sbx_test_daemon_t *daemon = bench_daemon_start (config, 30000);
    if (daemon) {
        s_calls (daemon, calls);
        *idle_p = s_mib (daemon->pid, field);
    }
    return daemon;
}

//  Opens a session on `dealer`: its sandbox and token in *sandbox_p and
//  *token_p (caller frees; NULL when it failed).
static void
s_open (zsock_t *dealer, char **sandbox_p, char **token_p)
{
    sbx_request_t open = {.op = SBX_OP_SESSION_OPEN};
    sbx_reply_t *reply = bench_request (dealer, &open, 10000);
    *sandbox_p = reply ? sbx_mp_strdup (sbx_reply_get (reply, "sandbox")) : NULL;
    *token_p = reply ? sbx_mp_strdup (sbx_reply_get (reply, "token")) : NULL;
    sbx_reply_destroy (&reply);
}

//  The row of one bound: the daemon's peak (or resident) MiB beside its
//  idle figure, the target a rise of at most `bound` MiB.
static void
s_bound (const char *what, double value, double idle, double bound)
{
    char target [64];
    snprintf (target, sizeof target, "rise <= %g MiB", bound);
    bench_row ("MiB", value, idle, target, value - idle <= bound, "%s", what);
}

//  Waits until `counter` reaches `want` or stops moving for a second.
static uint64_t
s_settle (sbx_test_daemon_t *daemon, const char *counter, uint64_t want)
{
    uint64_t last = 0, now = 0;
    int64_t moved = bench_now_us ();
    while ((now = s_counter (daemon, counter)) < want && bench_now_us () - moved < 1000000) {
        if (now != last)
            moved = bench_now_us ();
        last = now;
    }
    return now;
}

//  RSS once what a client that went held is back to the system: libzmq
//  closes its connection on its own thread, then the daemon trims; read
//  until it stops going down (2 s at most).
static double
s_returned (sbx_test_daemon_t *daemon)
{
    double rss = s_mib (daemon->pid, "VmRSS"), last = rss + 1;
    int64_t deadline = bench_now_us () + 2000000;
    while (rss < last && bench_now_us () < deadline) {
        last = rss;
        for (int64_t until = bench_now_us () + 200000; bench_now_us () < until; )
            s_counter (daemon, "peers_disconnected");
        rss = s_mib (daemon->pid, "VmRSS");
    }
    return rss;
}

#define S_TESTING_CONFIG(extra)                                                      \
    "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": 1, \"max\": 1},"       \
    " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"          \
    " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {}, \"events\": {\"log\": null}" extra "}"

//  Four clients send a 256 MiB body each, at once, to a daemon whose
//  limit is 1 MiB: libzmq drops each connection at the body's header.
static void
s_bodies (void)
{
    double idle;
    sbx_test_daemon_t *daemon = s_idle (S_TESTING_CONFIG (
        ", \"limits\": {\"max_body_bytes\": 1048576}"), 10, "VmHWM", &idle);
    if (!daemon)
        return;
    size_t size = 256u << 20;
    char *body = (char *) malloc (size);
    memset (body, 'x', size);
    zsock_t *clients [4];
    for (int i = 0; i < 4; i++) {
        clients [i] = sbx_test_connect (daemon);
        zmq_send (zsock_resolve (clients [i]), body, size, ZMQ_DONTWAIT);
    }
    free (body);
    uint64_t dropped = s_settle (daemon, "peers_disconnected", 4);
    double peak = s_mib (daemon->pid, "VmHWM");
    for (int i = 0; i < 4; i++)
        zsock_destroy (&clients [i]);
    s_bound ("4 bodies of 256 MiB at once: peak RSS", peak, idle, 32);
    bench_row ("", (double) dropped, NAN, NULL, true, "  ... connections closed by libzmq");
    bench_daemon_stop (&daemon);
}

//  A client sends 1,250 events.replay requests and never reads a reply.
static void
s_unread_replies (void)
{
    //  400 calls: ~3,600 events, answers of 512 KiB.
    double idle;
    sbx_test_daemon_t *daemon = s_idle (S_TESTING_CONFIG (""), 400, "VmRSS", &idle);
    if (!daemon)
        return;
    zsock_t *greedy = sbx_test_connect (daemon);
    zsock_set_rcvhwm (greedy, 1);
    zsock_set_rcvbuf (greedy, 4096);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_request_t replay = {.op = SBX_OP_EVENTS_REPLAY, .has_since = true, .since = 0};
    sbx_request_encode (&replay, &body);
    for (int i = 0; i < 1250; i++)
        zmq_send (zsock_resolve (greedy), body.data, body.size, 0);
    msgpack_sbuffer_destroy (&body);
    uint64_t dropped = s_settle (daemon, "replies_dropped", 1250 - 64);
    double peak = s_mib (daemon->pid, "VmHWM");
    zsock_destroy (&greedy);
    double after = s_returned (daemon);
    s_bound ("1,250 replays never read: peak RSS", peak, idle, 64);
    s_bound ("  ... RSS after the client went", after, idle, 8);
    bench_row ("", (double) dropped, NAN, NULL, true, "  ... replies dropped");
    bench_daemon_stop (&daemon);
}

//  20 subscribers that never read, while 2,000 calls make ~18,000 events.
static void
s_stuck_subscribers (void)
{
    double idle;
    sbx_test_daemon_t *daemon = s_idle (S_TESTING_CONFIG (""), 10, "VmRSS", &idle);
    if (!daemon)
        return;
    zsock_t *subs [20];
    for (int i = 0; i < 20; i++) {
        subs [i] = zsock_new (ZMQ_SUB);
        zsock_set_rcvhwm (subs [i], 1);
        zsock_set_rcvbuf (subs [i], 4096);
        zsock_set_subscribe (subs [i], "");
        zsock_connect (subs [i], "%s", daemon->events);
    }
    s_calls (daemon, bench_quick () ? 500 : 2000);
    double peak = s_mib (daemon->pid, "VmHWM");
    for (int i = 0; i < 20; i++)
        zsock_destroy (&subs [i]);
    double after = s_returned (daemon);
    s_bound ("20 subscribers never reading: peak RSS", peak, idle, 16);
    s_bound ("  ... RSS after they closed", after, idle, 8);
    bench_daemon_stop (&daemon);
}

//  One session, 4,000 calls of 64 KiB pipelined at once.
static void
s_pipelined (void)
{
    double idle;
    sbx_test_daemon_t *daemon = s_idle (S_TESTING_CONFIG (""), 10, "VmRSS", &idle);
    if (!daemon)
        return;
    zsock_t *dealer = sbx_test_connect (daemon);
    char *sandbox, *token;
    s_open (dealer, &sandbox, &token);
    char *code = (char *) malloc (64 * 1024);
    bench_code (code, 64 * 1024);
    msgpack_sbuffer args, body;
    msgpack_sbuffer_init (&args);
    msgpack_sbuffer_init (&body);
    bench_args_pack (&args, "code", code);
    free (code);
    sbx_request_t call = {.op = SBX_OP_CALL, .sandbox = sandbox, .token = token, .method = "shell",
                          .args = (uint8_t *) args.data, .args_size = args.size};
    sbx_request_encode (&call, &body);
    for (int i = 0; i < 4000; i++)
        zmq_send (zsock_resolve (dealer), body.data, body.size, 0);
    int answered = 0;
    sbx_reply_t *reply;
    while (answered < 4000 && (reply = sbx_test_reply_recv (dealer, 10000))) {
        answered++;
        sbx_reply_destroy (&reply);
    }
    double peak = s_mib (daemon->pid, "VmHWM");
    uint64_t refused = s_counter (daemon, "calls_refused");
    msgpack_sbuffer_destroy (&args);
    msgpack_sbuffer_destroy (&body);
    free (sandbox);
    free (token);
    zsock_destroy (&dealer);
    s_bound ("4,000 pipelined calls of 64 KiB: peak RSS", peak, idle, 64);
    bench_row ("", (double) refused, NAN, NULL, true, "  ... calls refused (queued_per_sandbox)");
    bench_daemon_stop (&daemon);
}

//  50 fs.write of 4 MiB each in one session, with the event log on.
static void
s_big_writes (void)
{
    char dir [] = "/tmp/sbx-bench-XXXXXX";
    if (!mkdtemp (dir))
        return;
    char config [1024];
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": 1, \"max\": 1},"
              " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
              " \"sandbox\": {\"kind\": \"process\"}, \"features\": {\"fs\": {\"kind\": \"fs\","
              " \"max_write_bytes\": 8388608}}, \"events\": {\"log\": \"%s/events.jsonl\"},"
              " \"limits\": {\"max_body_bytes\": 16777216}}", dir);
    sbx_test_daemon_t *daemon = bench_daemon_start (config, 30000);
    if (!daemon) {
        rmdir (dir);
        return;
    }
    char log [300];
    snprintf (log, sizeof log, "%s/events.jsonl", dir);
    zsock_t *dealer = sbx_test_connect (daemon);
    char *sandbox, *token;
    s_open (dealer, &sandbox, &token);
    sbx_reply_t *reply;
    double idle = s_mib (daemon->pid, "VmRSS");
    struct stat before, after;
    stat (log, &before);
    size_t size = 4u << 20;
    char *data = (char *) malloc (size);
    memset (data, 'd', size);
    int failed = 0;
    for (int i = 0; i < 50; i++) {
        msgpack_sbuffer args;
        msgpack_sbuffer_init (&args);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &args, msgpack_sbuffer_write);
        msgpack_pack_map (&pk, 2);
        sbx_mp_pack_str (&pk, "path");
        char path [32];
        snprintf (path, sizeof path, "f%d", i);
        sbx_mp_pack_str (&pk, path);
        sbx_mp_pack_str (&pk, "data");
        msgpack_pack_bin (&pk, size);
        msgpack_pack_bin_body (&pk, data, size);
        sbx_request_t call = {.op = SBX_OP_CALL, .sandbox = sandbox, .token = token, .feature = "fs",
                              .method = "write", .args = (uint8_t *) args.data, .args_size = args.size};
        reply = bench_request (dealer, &call, 30000);
        failed += !reply || !sbx_reply_is_ok (reply);
        sbx_reply_destroy (&reply);
        msgpack_sbuffer_destroy (&args);
    }
    free (data);
    double peak = s_mib (daemon->pid, "VmHWM");
    stat (log, &after);
    //  A replay of the last ten events.
    sbx_request_t stats = {.op = SBX_OP_STATS};
    reply = bench_request (dealer, &stats, 10000);
    sbx_reply_destroy (&reply);
    bench_samples_t replay_us = {0};
    for (int i = 0; i < 20; i++) {
        sbx_request_t replay = {.op = SBX_OP_EVENTS_REPLAY, .has_since = true, .since = 0,
                                .has_max = true, .max = 10};
        int64_t start = bench_now_us ();
        reply = bench_request (dealer, &replay, 10000);
        bench_sample (&replay_us, (double) (bench_now_us () - start));
        sbx_reply_destroy (&reply);
    }
    double replay_ms = bench_percentile (&replay_us, 0.5) / 1000.0;
    bench_samples_free (&replay_us);
    free (sandbox);
    free (token);
    zsock_destroy (&dealer);
    s_bound ("50 fs.write of 4 MiB: peak RSS", peak, idle, 32);
    double grown = (double) (after.st_size - before.st_size) / S_MIB;
    bench_row ("MiB", grown, NAN, "<= 1 MiB", grown <= 1, "  ... event log grew (%d failed)", failed);
    bench_row ("ms", replay_ms, NAN, "< 50 ms", replay_ms < 50, "  ... events.replay of 10, p50");
    bench_daemon_stop (&daemon);
    unlink (log);
    rmdir (dir);
}

void
bench_limits_run (void)
{
    printf ("\n8. limits (what one careless or hostile client can make sbxd hold; beside the\n"
            "   same daemon's idle RSS)\n");
    s_bodies ();
    s_unread_replies ();
    s_pipelined ();
    s_big_writes ();
    s_stuck_subscribers ();
}
