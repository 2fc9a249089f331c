/*  bench_commands - see bench/commands.h */
#include "bench/commands.h"
#include "bench/clients.h"
#include "bench/baselines.h"
#include "messages/mp.h"

//  --- A process sandbox with the shell feature, in an open session ----------

typedef struct {
    sbx_test_daemon_t *daemon;
    bench_clients_t *clients;
    msgpack_sbuffer args;       //  {"cmd": "echo hi"}
    bool stream;                //  calls ask for their output as it comes
} s_shell_t;

static void
s_shell_destroy (s_shell_t **self_p)
{
    if (*self_p) {
        bench_clients_destroy (&(*self_p)->clients);
        bench_daemon_stop (&(*self_p)->daemon);
        msgpack_sbuffer_destroy (&(*self_p)->args);
        free (*self_p);
        *self_p = NULL;
    }
}

static s_shell_t *
s_shell_new (const char *isolation, bool stream)
{
    char config [512];
    snprintf (config, sizeof config,
        "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": 1, \"max\": 1},"
        " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"%s\"},"
        " \"features\": {\"shell\": {\"kind\": \"shell\"}}, \"events\": {\"log\": null}}",
        isolation);
    s_shell_t *self = (s_shell_t *) zmalloc (sizeof (s_shell_t));
    self->stream = stream;
    msgpack_sbuffer_init (&self->args);
    bench_args_pack (&self->args, "cmd", "echo hi");
    self->daemon = bench_daemon_start (config, 30000);
    if (!self->daemon) {
        s_shell_destroy (&self);
        return NULL;
    }
    self->clients = bench_clients_new (1, false, false, self->daemon->requests);
    if (!bench_clients_open (self->clients))
        s_shell_destroy (&self);
    return self;
}

//  --- What is timed ------------------------------------------------------------

//  One `shell.run echo hi` in the sandbox's session; streamed, its output
//  comes as a progress message before the reply.
static bool
s_shell_run (void *args)
{
    s_shell_t *self = (s_shell_t *) args;
    sbx_request_t call = {
        .op = SBX_OP_CALL, .feature = (char *) "shell", .method = (char *) "run",
        .sandbox = (char *) bench_clients_sandbox (self->clients, 0),
        .token = (char *) bench_clients_token (self->clients, 0),
        .args = (uint8_t *) self->args.data, .args_size = self->args.size, .stream = self->stream
    };
    zsock_t *dealer = bench_clients_dealer (self->clients, 0);
    if (!self->stream) {
        sbx_reply_t *reply = bench_request (dealer, &call, 30000);
        bool ok = reply && sbx_reply_is_ok (reply);
        sbx_reply_destroy (&reply);
        return ok;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_request_encode (&call, &body);
    zmq_send (zsock_resolve (dealer), body.data, body.size, 0);
    msgpack_sbuffer_destroy (&body);
    //  Progress messages (no `ok`), then the reply.
    while (bench_readable (dealer, 30000)) {
        zframe_t *frame = zframe_recv (dealer);
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        bool parsed = frame && msgpack_unpack_next (&unpacked, (const char *) zframe_data (frame),
                                                    zframe_size (frame), NULL) == MSGPACK_UNPACK_SUCCESS;
        const msgpack_object *ok = parsed ? sbx_mp_map_get (&unpacked.data, "ok") : NULL;
        bool done = !parsed || ok, succeeded = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
        msgpack_unpacked_destroy (&unpacked);
        zframe_destroy (&frame);
        if (done)
            return succeeded;
    }
    return false;
}

static char *s_echo_argv [] = {"/bin/sh", "-c", "echo hi", NULL};
static char *s_bwrap_argv [] = {
    "/usr/bin/bwrap", "--die-with-parent", "--new-session", "--unshare-all",
    "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc", "--",
    "/bin/sh", "-c", "echo hi", NULL
};

static bool
s_spawn (void *argv)
{
    return bench_spawn_capture ((char *const *) argv);
}

static bool
s_resident (void *resident)
{
    return bench_resident_run ((bench_resident_t *) resident);
}

//  The echo with one hop, and the call body it sends back.
typedef struct {
    bench_echo_t *server;
    zsock_t *dealer;
    msgpack_sbuffer body;
} s_hop_t;

static void
s_hop_destroy (s_hop_t **self_p)
{
    if (*self_p) {
        zsock_destroy (&(*self_p)->dealer);
        bench_echo_destroy (&(*self_p)->server);
        msgpack_sbuffer_destroy (&(*self_p)->body);
        free (*self_p);
        *self_p = NULL;
    }
}

static s_hop_t *
s_hop_new (void)
{
    s_hop_t *self = (s_hop_t *) zmalloc (sizeof (s_hop_t));
    msgpack_sbuffer_init (&self->body);
    sbx_request_t call = {.op = SBX_OP_CALL};
    sbx_request_encode (&call, &self->body);
    self->server = bench_echo_new (1);
    if (!self->server) {
        s_hop_destroy (&self);
        return NULL;
    }
    self->dealer = zsock_new_dealer (bench_echo_endpoint (self->server));
    return self;
}

//  One round trip of the call body through the echo.
static bool
s_hop_run (void *args)
{
    s_hop_t *self = (s_hop_t *) args;
    zmq_send (zsock_resolve (self->dealer), self->body.data, self->body.size, 0);
    if (!bench_readable (self->dealer, 30000))
        return false;
    zframe_t *reply = zframe_recv (self->dealer);
    zframe_destroy (&reply);
    return true;
}

//  A command and its samples; one that fails is not run again.
typedef struct {
    bool (*run) (void *args);
    void *args;                 //  NULL: could not be set up
    int every;                  //  runs in every `every`th round only
    int count;                  //  commands per round
    bench_samples_t samples;
} s_measure_t;

static void
s_measure (s_measure_t *self)
{
    for (int k = 0; self->args && k < self->count; k++) {
        int64_t start = bench_now_us ();
        if (self->run (self->args))
            bench_sample (&self->samples, (double) (bench_now_us () - start));
        else
            self->args = NULL;
    }
}

void
bench_commands_run (void)
{
    printf ("\n6. real commands (`echo hi` through shell.run vs spawning it directly)\n");
    int rounds = bench_quick () ? 10 : 50;
    s_shell_t *shell_none = s_shell_new ("none", false);
    s_shell_t *shell_bwrap = s_shell_new ("bwrap", false);
    s_shell_t *stream_none = s_shell_new ("none", true);
    s_shell_t *stream_bwrap = s_shell_new ("bwrap", true);
    bench_resident_t *resident = bench_resident_new ();
    //  For scale: what any remote command pays before it runs, a round
    //  trip through an echo server with one actor hop.
    s_hop_t *hop = s_hop_new ();
    if (!shell_none || !shell_bwrap || !resident)
        fprintf (stderr, "bench: commands: a sandbox or the resident namespace did not start\n");
    enum { SPAWN, NONE, NONE_S, RESIDENT, BWRAP, BWRAP_S, HOP, FRESH, MEASURES };
    s_measure_t measures [MEASURES] = {
        [SPAWN]    = {s_spawn, s_echo_argv, 1, 10},
        [NONE]     = {s_shell_run, shell_none, 1, 10},
        [NONE_S]   = {s_shell_run, stream_none, 1, 10},
        [RESIDENT] = {s_resident, resident, 1, 10},
        [BWRAP]    = {s_shell_run, shell_bwrap, 1, 10},
        [BWRAP_S]  = {s_shell_run, stream_bwrap, 1, 10},
        [HOP]      = {s_hop_run, hop, 1, 10},
        [FRESH]    = {s_spawn, s_bwrap_argv, 5, 1},
    };
    //  Each measure and its baseline alternate in rounds of 10 commands.
    for (int round = 0; round < rounds; round++)
        for (int m = 0; m < MEASURES; m++)
            if (round % measures [m].every == 0)
                s_measure (&measures [m]);
    bench_resident_destroy (&resident);
    s_shell_destroy (&shell_none);
    s_shell_destroy (&shell_bwrap);
    s_shell_destroy (&stream_none);
    s_shell_destroy (&stream_bwrap);
    s_hop_destroy (&hop);
    double p50 [MEASURES];
    for (int m = 0; m < MEASURES; m++) {
        p50 [m] = bench_percentile (&measures [m].samples, 0.5);
        bench_samples_free (&measures [m].samples);
    }
    bench_row ("us", p50 [NONE], p50 [SPAWN], "<= 1.15x posix_spawn", p50 [NONE] <= 1.15 * p50 [SPAWN],
               "shell.run echo hi, isolation none: p50");
    bench_row ("us", p50 [BWRAP], p50 [RESIDENT], "<= 1.3x spawn in namespace",
               p50 [BWRAP] <= 1.3 * p50 [RESIDENT], "shell.run echo hi, isolation bwrap: p50");
    bench_row ("us", p50 [FRESH], p50 [RESIDENT], NULL, false,
               "  for scale: a fresh bwrap per command: p50");
    bench_row ("us", p50 [HOP], p50 [SPAWN], NULL, false,
               "  for scale: echo round trip, one hop: p50");
    //  What sbx adds to the spawn itself, beside what any remote command
    //  pays for its round trip.
    const struct {
        int measure, spawn;
        const char *what;
    } over [] = {
        {NONE, SPAWN, "none"}, {NONE_S, SPAWN, "none, streamed"},
        {BWRAP, RESIDENT, "bwrap"}, {BWRAP_S, RESIDENT, "bwrap, streamed"},
    };
    for (size_t i = 0; i < sizeof over / sizeof over [0]; i++) {
        double added = p50 [over [i].measure] - p50 [over [i].spawn];
        bench_row ("us", added, p50 [HOP], "<= 1.5x echo round trip", added <= 1.5 * p50 [HOP],
                   "shell.run over the spawn, %s: p50", over [i].what);
    }
}
