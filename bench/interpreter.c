/*  bench_interpreter - see bench/interpreter.h */
#include "bench/interpreter.h"
#include "bench/baselines.h"
#include "bench/clients.h"
#include "messages/mp.h"

#include <math.h>

typedef struct {
    sbx_test_daemon_t *daemon;
    bench_clients_t *clients;
    bench_echo_t *echo;
    zsock_t *echo_dealer;
    msgpack_sbuffer exec, fresh, echo_body;
} s_bench_t;

static void
s_destroy (s_bench_t *self)
{
    bench_clients_destroy (&self->clients);
    bench_daemon_stop (&self->daemon);
    zsock_destroy (&self->echo_dealer);
    bench_echo_destroy (&self->echo);
    msgpack_sbuffer_destroy (&self->exec);
    msgpack_sbuffer_destroy (&self->fresh);
    msgpack_sbuffer_destroy (&self->echo_body);
}

//  One call in the session; false when it failed (the cell raising too).
static bool
s_call (s_bench_t *self, const char *feature, const char *method, const msgpack_sbuffer *args)
{
    sbx_request_t call = {
        .op = SBX_OP_CALL, .feature = (char *) feature, .method = (char *) method,
        .sandbox = (char *) bench_clients_sandbox (self->clients, 0),
        .token = (char *) bench_clients_token (self->clients, 0),
        .args = (uint8_t *) args->data, .args_size = args->size
    };
    sbx_reply_t *reply = bench_request (bench_clients_dealer (self->clients, 0), &call, 30000);
    const msgpack_object *result = reply && sbx_reply_is_ok (reply) ? sbx_reply_get (reply, "result") : NULL;
    const msgpack_object *error = result ? sbx_mp_map_get (result, "error") : NULL;
    bool ok = result && (!error || error->type == MSGPACK_OBJECT_NIL);
    sbx_reply_destroy (&reply);
    return ok;
}

//  One round trip of a call body through the echo.
static bool
s_echo (s_bench_t *self)
{
    zmq_send (zsock_resolve (self->echo_dealer), self->echo_body.data, self->echo_body.size, 0);
    if (!bench_readable (self->echo_dealer, 30000))
        return false;
    zframe_t *reply = zframe_recv (self->echo_dealer);
    zframe_destroy (&reply);
    return true;
}

//  Times `count` runs of measure `which` into `samples`; false once one
//  failed.
enum { S_EXEC, S_ECHO, S_FRESH, S_MEASURES };

static bool
s_measure (s_bench_t *self, int which, int count, bench_samples_t *samples)
{
    for (int k = 0; k < count; k++) {
        int64_t start = bench_now_us ();
        bool ok = which == S_EXEC ? s_call (self, "python", "exec", &self->exec)
                : which == S_ECHO ? s_echo (self)
                : s_call (self, "shell", "run", &self->fresh);
        if (!ok)
            return false;
        bench_sample (samples, (double) (bench_now_us () - start));
    }
    return true;
}

void
bench_interpreter_run (void)
{
    printf ("\n9. the python feature (`x += 1` in a live interpreter vs a fresh python3)\n");
    s_bench_t self = {0};
    msgpack_sbuffer_init (&self.exec);
    msgpack_sbuffer_init (&self.fresh);
    msgpack_sbuffer_init (&self.echo_body);
    bench_args_pack (&self.exec, "code", "x += 1");
    bench_args_pack (&self.fresh, "cmd", "python3 -c pass");
    sbx_request_t call = {.op = SBX_OP_CALL};
    sbx_request_encode (&call, &self.echo_body);
    self.daemon = bench_daemon_start (
        "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": 1, \"max\": 1},"
        " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"none\"},"
        " \"features\": {\"shell\": {\"kind\": \"shell\"}, \"python\": {\"kind\": \"python\"}},"
        " \"events\": {\"log\": null}}", 30000);
    if (self.daemon) {
        self.clients = bench_clients_new (1, false, false, self.daemon->requests);
        if (!bench_clients_open (self.clients))
            bench_clients_destroy (&self.clients);
    }
    self.echo = bench_echo_new (1);
    if (self.echo)
        self.echo_dealer = zsock_new_dealer (bench_echo_endpoint (self.echo));
    msgpack_sbuffer init;
    msgpack_sbuffer_init (&init);
    bench_args_pack (&init, "code", "x = 0");
    bool ready = self.clients && self.echo_dealer && s_call (&self, "python", "exec", &init);
    msgpack_sbuffer_destroy (&init);
    if (!ready) {
        fprintf (stderr, "bench: interpreter: the daemon, its python feature or the echo did not start\n");
        s_destroy (&self);
        return;
    }
    //  Rounds of 20 execs, 20 echoes and one fresh python3.
    int rounds = bench_quick () ? 10 : 50;
    bench_samples_t samples [S_MEASURES] = {{0}};
    bool ok = true;
    for (int round = 0; ok && round < rounds; round++)
        ok = s_measure (&self, S_EXEC, 20, &samples [S_EXEC]) && s_measure (&self, S_ECHO, 20, &samples [S_ECHO])
          && s_measure (&self, S_FRESH, 1, &samples [S_FRESH]);
    if (!ok)
        fprintf (stderr, "bench: interpreter: a call failed\n");
    s_destroy (&self);
    double p50 [S_MEASURES];
    for (int m = 0; m < S_MEASURES; m++) {
        p50 [m] = bench_percentile (&samples [m], 0.5);
        bench_samples_free (&samples [m]);
    }
    bench_row ("us", p50 [S_EXEC], p50 [S_ECHO], "<= 3x echo round trip", p50 [S_EXEC] <= 3 * p50 [S_ECHO],
               "python.exec x += 1: p50");
    bench_row ("us", p50 [S_EXEC], p50 [S_FRESH], "<= 0.1x fresh python3", p50 [S_EXEC] <= 0.1 * p50 [S_FRESH],
               "python.exec x += 1 vs shell.run python3 -c pass: p50");
    bench_row ("us", p50 [S_FRESH], NAN, NULL, false, "  for scale: shell.run python3 -c pass: p50");
    bench_row ("us", p50 [S_ECHO], NAN, NULL, false, "  for scale: echo round trip, one hop: p50");
}
