/*  bench_clients - the load of every section: C DEALERs driven by one
    thread, one request in flight each, on sbxd or on the echo baseline.

    `count` clients have a DEALER each, or with `shared` one DEALER that
    all of them pipeline over (request ids, whose low byte is the client's
    index, tell their replies apart): how one worker process with many
    sessions would talk. Requests are encoded with sbx_request_encode;
    the echo's bodies are the same calls, under a made-up sandbox and
    token, and its replies are not decoded.

    A load runs in one of two modes: calls (each client calls in its open
    session, back to back) or sessions (each client loops session.open ->
    call -> session.end). The echo always runs calls.
*/
#ifndef BENCH_CLIENTS_H
#define BENCH_CLIENTS_H

#include "bench/harness.h"

typedef enum {
    BENCH_OP_CALL,
    BENCH_OP_OPEN,
    BENCH_OP_END,
    BENCH_OP_COUNT
} bench_op_t;

typedef enum {
    BENCH_CALLS,
    BENCH_SESSIONS
} bench_mode_t;

//  What a load did: latencies per op (microseconds), replies, failed
//  replies, whole sessions, and the seconds it ran.
typedef struct {
    bench_samples_t latency [BENCH_OP_COUNT];
    uint64_t done, errors, sessions;
    double seconds;
} bench_load_t;

typedef struct bench_clients_t bench_clients_t;

//  `count` clients (at most 256) connected to `endpoint`; `echo` when it
//  is the echo baseline.
bench_clients_t *
    bench_clients_new (int count, bool shared, bool echo, const char *endpoint);
//  Same, for sbxd with CURVE: each DEALER a CURVE client with `cert` (a
//  key the daemon lists, with its secret) of the daemon whose public key
//  is `server_key` (Z85).
bench_clients_t *
    bench_clients_new_curve (int count, bool shared, const char *endpoint, zcert_t *cert,
                             const char *server_key);
//  One client in an open session on a daemon of its own: one process
//  sandbox with the shell feature (`sandbox`: the config's "sandbox"
//  object after its kind, e.g. "\"isolation\": \"none\""), events off.
//  Its calls run `echo hi`, streamed or not. NULL, after saying why, when
//  the daemon does not start or the session does not open.
bench_clients_t *
    bench_clients_shell (const char *sandbox, bool stream);
//  Closes their sockets (and stops the daemon of bench_clients_shell),
//  frees them, nulls *self_p. Safe on NULL.
void
    bench_clients_destroy (bench_clients_t **self_p);

//  Opens one session per client (blocking, before measuring). Returns
//  false, after saying why, when one fails.
bool
    bench_clients_open (bench_clients_t *self);
//  Client `index`'s socket, and the sandbox and token of its session.
zsock_t *
    bench_clients_dealer (bench_clients_t *self, int index);
const char *
    bench_clients_sandbox (bench_clients_t *self, int index);
const char *
    bench_clients_token (bench_clients_t *self, int index);
//  A request of `op` in the session of bench_clients_shell's client; a
//  call is its `shell.run echo hi`.
sbx_request_t
    bench_clients_shell_request (bench_clients_t *self, sbx_op_t op);

//  Runs the load until `duration_us` have passed or `max_ops` replies
//  came (0: no limit), then lets every client finish what it has in
//  flight (a session, its end). Calls carry {"code": code}. Fills `load`
//  (zeroed first; free with bench_load_free). Gives up after 1 s without
//  a reply, counting what was outstanding as errors.
void
    bench_clients_run (bench_clients_t *self, bench_mode_t mode, const char *code,
                       int64_t duration_us, uint64_t max_ops, bench_load_t *load);

//  Adds the samples and counts of `part` to `total`, and frees `part`.
void
    bench_load_add (bench_load_t *total, bench_load_t *part);
void
    bench_load_free (bench_load_t *load);
//  Replies per second.
double
    bench_load_rate (const bench_load_t *load);

//  One of several loads that take turns.
typedef struct {
    bench_clients_t *clients;
    bench_mode_t mode;
    pid_t pid;                  //  the server whose usage to read; 0: none
    bench_load_t load;          //  out: the rounds together
    bench_usage_t usage;        //  out: pid's CPU and wake-ups in them
} bench_turn_t;

//  Runs the loads of `turns` one after the other, in `rounds` rounds, so
//  that all of them meet the same noise of a shared machine. A warm-up
//  round comes first, not counted: a tenth of `max_ops` within
//  `duration_us`, or with no max_ops 100 ms. Each round then runs
//  duration_us / rounds and max_ops / rounds. Each turn's usage is read
//  around its own rounds only.
void
    bench_clients_turns (bench_turn_t *turns, size_t count, const char *code,
                         int64_t duration_us, uint64_t max_ops, int rounds);

#endif
