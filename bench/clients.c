/*  bench_clients - see bench/clients.h */
#include "bench/clients.h"
#include "messages/mp.h"

//  The echo's calls name a sandbox and token of the real shape.
#define S_ECHO_SANDBOX "sandbox-id-for-echo/0:0"
#define S_ECHO_TOKEN   "0123456789abcdef0123456789abcdef"

//  Ids carry the client index in their low byte.
#define S_ID(seq, index) (((seq) << 8) | (uint64_t) (index))
#define S_MAX_CLIENTS 256

typedef struct {
    zsock_t *dealer;            //  shared: the first client's
    char sandbox [128];
    char token [64];
    int64_t sent_at;
    bench_op_t op;              //  in flight
} s_client_t;

struct bench_clients_t {
    int count;
    bool shared;
    bool echo;
    s_client_t *client;
    sbx_test_daemon_t *daemon;  //  bench_clients_shell's own
    msgpack_sbuffer args;       //  bench_clients_shell's calls: {"cmd": "echo hi"}
    bool stream;                //  they ask for their output as it comes
};

static bench_clients_t *
s_new (int count, bool shared, bool echo, const char *endpoint, zcert_t *cert, const char *server_key)
{
    assert (count > 0 && count <= S_MAX_CLIENTS);
    bench_clients_t *self = (bench_clients_t *) zmalloc (sizeof (bench_clients_t));
    self->count = count;
    self->shared = shared;
    self->echo = echo;
    self->client = (s_client_t *) zmalloc (sizeof (s_client_t) * (size_t) count);
    for (int i = 0; i < count; i++) {
        if (shared && i > 0) {
            self->client [i].dealer = self->client [0].dealer;
            continue;
        }
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        zsock_set_linger (dealer, 0);
        zsock_set_rcvhwm (dealer, 0);
        zsock_set_sndhwm (dealer, 0);
        if (cert) {
            zcert_apply (cert, dealer);
            zsock_set_curve_serverkey (dealer, server_key);
        }
        zsock_connect (dealer, "%s", endpoint);
        self->client [i].dealer = dealer;
    }
    return self;
}

bench_clients_t *
bench_clients_new (int count, bool shared, bool echo, const char *endpoint)
{
    return s_new (count, shared, echo, endpoint, NULL, NULL);
}

bench_clients_t *
bench_clients_new_curve (int count, bool shared, const char *endpoint, zcert_t *cert,
                         const char *server_key)
{
    return s_new (count, shared, false, endpoint, cert, server_key);
}

void
bench_clients_destroy (bench_clients_t **self_p)
{
    bench_clients_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < (self->shared ? 1 : self->count); i++)
        zsock_destroy (&self->client [i].dealer);
    bench_daemon_stop (&self->daemon);
    msgpack_sbuffer_destroy (&self->args);
    free (self->client);
    free (self);
    *self_p = NULL;
}

bench_clients_t *
bench_clients_shell (const char *sandbox, bool stream)
{
    char config [1024];
    snprintf (config, sizeof config,
        "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": 1, \"max\": 1},"
        " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"process\", %s},"
        " \"features\": {\"shell\": {\"kind\": \"shell\"}}, \"events\": {\"log\": null}}", sandbox);
    sbx_test_daemon_t *daemon = bench_daemon_start (config, 30000);
    if (!daemon)
        return NULL;
    bench_clients_t *self = bench_clients_new (1, false, false, daemon->requests);
    self->daemon = daemon;
    self->stream = stream;
    bench_args_pack (&self->args, "cmd", "echo hi");
    if (!bench_clients_open (self))
        bench_clients_destroy (&self);
    return self;
}

//  Keeps the sandbox and token of a session.open reply.
static void
s_client_session (s_client_t *client, sbx_reply_t *reply)
{
    snprintf (client->sandbox, sizeof client->sandbox, "%s", sbx_reply_get_str (reply, "sandbox"));
    snprintf (client->token, sizeof client->token, "%s", sbx_reply_get_str (reply, "token"));
}

bool
bench_clients_open (bench_clients_t *self)
{
    sbx_request_t open = {.op = SBX_OP_SESSION_OPEN};
    for (int i = 0; i < self->count; i++) {
        sbx_reply_t *reply = bench_request (self->client [i].dealer, &open, 30000);
        if (!reply || !sbx_reply_is_ok (reply)) {
            fprintf (stderr, "bench: session.open failed: %s\n", sbx_test_reply_type (reply));
            sbx_reply_destroy (&reply);
            return false;
        }
        s_client_session (&self->client [i], reply);
        sbx_reply_destroy (&reply);
    }
    return true;
}

zsock_t *
bench_clients_dealer (bench_clients_t *self, int index)
{
    return self->client [index].dealer;
}

const char *
bench_clients_sandbox (bench_clients_t *self, int index)
{
    return self->client [index].sandbox;
}

const char *
bench_clients_token (bench_clients_t *self, int index)
{
    return self->client [index].token;
}

sbx_request_t
bench_clients_shell_request (bench_clients_t *self, sbx_op_t op)
{
    sbx_request_t request = {
        .op = op, .sandbox = self->client [0].sandbox, .token = self->client [0].token
    };
    if (op == SBX_OP_CALL) {
        request.feature = (char *) "shell";
        request.method = (char *) "run";
        request.args = (uint8_t *) self->args.data;
        request.args_size = self->args.size;
        request.stream = self->stream;
    }
    return request;
}

//  --- Running a load ---------------------------------------------------------

//  The state of one run: what every request is built from.
typedef struct {
    bench_clients_t *clients;
    msgpack_sbuffer args;       //  {"code": code}, encoded once
    msgpack_sbuffer body;
    uint64_t seq;
} s_run_t;

//  Encodes client `index`'s next request (`op`) and sends it.
static void
s_send (s_run_t *run, int index, bench_op_t op)
{
    s_client_t *client = &run->clients->client [index];
    bool echo = run->clients->echo;
    sbx_request_t request = {.has_id = true, .id = S_ID (run->seq++, index)};
    if (op == BENCH_OP_CALL) {
        request.op = SBX_OP_CALL;
        request.method = (char *) "shell";
        request.args = (uint8_t *) run->args.data;
        request.args_size = run->args.size;
    }
    else
        request.op = op == BENCH_OP_OPEN ? SBX_OP_SESSION_OPEN : SBX_OP_SESSION_END;
    if (op != BENCH_OP_OPEN) {
        request.sandbox = echo ? (char *) S_ECHO_SANDBOX : client->sandbox;
        request.token = echo ? (char *) S_ECHO_TOKEN : client->token;
    }
    msgpack_sbuffer_clear (&run->body);
    sbx_request_encode (&request, &run->body);
    client->op = op;
    client->sent_at = bench_now_us ();
    zmq_send (zsock_resolve (client->dealer), run->body.data, run->body.size, 0);
}

//  The op that follows a reply to `done` (ok or not) in a session loop.
static bench_op_t
s_session_next (bench_op_t done, bool ok)
{
    if (done == BENCH_OP_OPEN)
        return ok ? BENCH_OP_CALL : BENCH_OP_OPEN;
    return done == BENCH_OP_CALL ? BENCH_OP_END : BENCH_OP_OPEN;
}

//  The `id` of an echoed request; 0 when none.
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

//  Takes one reply that came on socket `socket_index` at `now`: records
//  it and returns the index of the client it answers; *ok_p says whether
//  it succeeded.
static int
s_take_reply (bench_clients_t *clients, int socket_index, zmq_msg_t *reply, int64_t now,
              bench_load_t *load, bool *ok_p)
{
    int index = socket_index;
    sbx_reply_t *decoded = NULL;
    bool ok = true;
    if (!clients->echo) {
        sbx_error_t *error = NULL;
        decoded = sbx_reply_decode (zmq_msg_data (reply), zmq_msg_size (reply), &error);
        sbx_error_destroy (&error);
        ok = decoded && sbx_reply_is_ok (decoded);
        if (clients->shared)
            index = decoded ? (int) (sbx_reply_id (decoded) & 0xff) : 0;
    }
    else
    if (clients->shared)
        index = (int) (s_body_id (zmq_msg_data (reply), zmq_msg_size (reply)) & 0xff);
    if (index >= clients->count)
        index = 0;
    s_client_t *client = &clients->client [index];
    bench_sample (&load->latency [client->op], (double) (now - client->sent_at));
    load->done++;
    if (decoded) {
        if (ok && client->op == BENCH_OP_OPEN)
            s_client_session (client, decoded);
        if (!ok && load->errors < 3)
            fprintf (stderr, "bench: error %s: %s\n", sbx_error_type (sbx_reply_get_error (decoded)),
                     sbx_error_message (sbx_reply_get_error (decoded)));
        sbx_reply_destroy (&decoded);
    }
    if (!ok)
        load->errors++;
    *ok_p = ok;
    return index;
}

void
bench_clients_run (bench_clients_t *self, bench_mode_t mode, const char *code,
                   int64_t duration_us, uint64_t max_ops, bench_load_t *load)
{
    memset (load, 0, sizeof *load);
    s_run_t run = {.clients = self, .seq = 1};
    msgpack_sbuffer_init (&run.args);
    msgpack_sbuffer_init (&run.body);
    bench_args_pack (&run.args, "code", code);
    int sockets = self->shared ? 1 : self->count;
    zmq_pollitem_t *items = (zmq_pollitem_t *) zmalloc (sizeof (zmq_pollitem_t) * (size_t) sockets);
    for (int i = 0; i < sockets; i++) {
        items [i].socket = zsock_resolve (self->client [i].dealer);
        items [i].events = ZMQ_POLLIN;
    }
    bench_op_t first = mode == BENCH_CALLS ? BENCH_OP_CALL : BENCH_OP_OPEN;
    for (int i = 0; i < self->count; i++)
        s_send (&run, i, first);
    int64_t start = bench_now_us ();
    int64_t stop = start + duration_us;
    int outstanding = self->count;
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
        int64_t now = bench_now_us ();
        if (!stopping && (now >= stop || (max_ops && load->done >= max_ops)))
            stopping = true;
        for (int k = 0; k < sockets; k++) {
            if (!(items [k].revents & ZMQ_POLLIN))
                continue;
            zmq_msg_t reply;
            zmq_msg_init (&reply);
            while (zmq_msg_recv (&reply, items [k].socket, ZMQ_DONTWAIT) >= 0) {
                bool ok;
                int i = s_take_reply (self, k, &reply, now, load, &ok);
                zmq_msg_close (&reply);
                zmq_msg_init (&reply);
                bench_op_t done = self->client [i].op;
                if (mode == BENCH_SESSIONS && done == BENCH_OP_END && ok)
                    load->sessions++;
                //  Calls stop at once, session loops at their end.
                if (stopping && (mode == BENCH_CALLS || done == BENCH_OP_END)) {
                    outstanding--;
                    continue;
                }
                s_send (&run, i, mode == BENCH_CALLS ? BENCH_OP_CALL : s_session_next (done, ok));
            }
            zmq_msg_close (&reply);
        }
    }
    load->seconds = (double) (bench_now_us () - start) / 1e6;
    msgpack_sbuffer_destroy (&run.args);
    msgpack_sbuffer_destroy (&run.body);
    free (items);
}

void
bench_load_add (bench_load_t *total, bench_load_t *part)
{
    for (int op = 0; op < BENCH_OP_COUNT; op++)
        for (size_t i = 0; i < part->latency [op].count; i++)
            bench_sample (&total->latency [op], part->latency [op].values [i]);
    total->done += part->done;
    total->errors += part->errors;
    total->sessions += part->sessions;
    total->seconds += part->seconds;
    bench_load_free (part);
}

void
bench_load_free (bench_load_t *load)
{
    for (int op = 0; op < BENCH_OP_COUNT; op++)
        bench_samples_free (&load->latency [op]);
}

double
bench_load_rate (const bench_load_t *load)
{
    return (double) load->done / load->seconds;
}

void
bench_clients_turns (bench_turn_t *turns, size_t count, const char *code,
                     int64_t duration_us, uint64_t max_ops, int rounds)
{
    for (size_t t = 0; t < count; t++) {
        memset (&turns [t].load, 0, sizeof turns [t].load);
        memset (&turns [t].usage, 0, sizeof turns [t].usage);
    }
    for (size_t t = 0; t < count; t++) {
        bench_load_t part;
        bench_clients_run (turns [t].clients, turns [t].mode, code,
                           max_ops ? duration_us : 100000, max_ops / 10, &part);
        bench_load_free (&part);
    }
    for (int round = 0; round < rounds; round++)
        for (size_t t = 0; t < count; t++) {
            bench_turn_t *turn = &turns [t];
            bench_usage_t before = turn->pid ? bench_usage (turn->pid) : (bench_usage_t) {0, 0};
            bench_load_t part;
            bench_clients_run (turn->clients, turn->mode, code, duration_us / rounds,
                               max_ops / (uint64_t) rounds, &part);
            if (turn->pid) {
                bench_usage_t after = bench_usage (turn->pid);
                turn->usage.cpu_us += after.cpu_us - before.cpu_us;
                turn->usage.switches += after.switches - before.switches;
            }
            bench_load_add (&turn->load, &part);
        }
}
