/*  bench_commands - see bench/commands.h */
#include "bench/commands.h"
#include "bench/clients.h"
#include "bench/baselines.h"
#include "messages/mp.h"

//  The sandbox configs of the shells: isolation none and bwrap.
#define S_NONE  "\"isolation\": \"none\""
#define S_BWRAP "\"isolation\": \"bwrap\""

//  --- What is timed ------------------------------------------------------------

//  One `shell.run echo hi` in the sandbox's session; streamed, its output
//  comes as a progress message before the reply.
static bool
s_shell_run (void *args)
{
    bench_clients_t *shell = (bench_clients_t *) args;
    sbx_request_t call = bench_clients_shell_request (shell, SBX_OP_CALL);
    zsock_t *dealer = bench_clients_dealer (shell, 0);
    if (!call.stream) {
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
    bench_clients_t *shell_none = bench_clients_shell (S_NONE, false);
    bench_clients_t *shell_bwrap = bench_clients_shell (S_BWRAP, false);
    bench_clients_t *stream_none = bench_clients_shell (S_NONE, true);
    bench_clients_t *stream_bwrap = bench_clients_shell (S_BWRAP, true);
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
    bench_clients_destroy (&shell_none);
    bench_clients_destroy (&shell_bwrap);
    bench_clients_destroy (&stream_none);
    bench_clients_destroy (&stream_bwrap);
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
