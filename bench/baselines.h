/*  bench_baselines - what sbx is measured against, in the same run on the
    same machine (docs/benchmarks.md "Baselines"):

    - the echo: a DEALER->ROUTER echo over TCP with one inproc actor hop,
      the same path shape as an sbx call (client -> frontend thread ->
      worker thread -> frontend -> client), with as many worker threads as
      sbx has sandboxes; with none, the front answers on the thread that
      owns the socket (no hop). It runs in a process of its own, as sbxd
      does (`bench_sbx --echo-server WORKERS`), with its own ZeroMQ
      context and I/O thread: in the bench's process it would share the
      clients' I/O thread and skip two thread hand-offs per round trip
      that no daemon can skip;
    - posix_spawn of a command with its stdout on a pipe;
    - the resident namespace: a shell loop already running inside a
      `bwrap --unshare-all` namespace, spawning one command per line;
    - bare actors: czmq actors that do nothing, in the bench's process;
    - bare PUB: events encoded on the sending thread and sent on a PUB
      socket to one SUB.
*/
#ifndef BENCH_BASELINES_H
#define BENCH_BASELINES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "messages/event.h"

//  --- The echo --------------------------------------------------------------

typedef struct bench_echo_t bench_echo_t;

//  Starts an echo server process with `workers` worker threads (0: no
//  hop) and waits until it listens. Returns NULL, after saying why, on
//  failure.
bench_echo_t *
    bench_echo_new (int workers);
//  Stops the server (closing its stdin), waits for it, frees it and
//  nulls *self_p. Safe on NULL.
void
    bench_echo_destroy (bench_echo_t **self_p);
//  The TCP endpoint it listens on.
const char *
    bench_echo_endpoint (bench_echo_t *self);
//  Its process id, for bench_usage.
pid_t
    bench_echo_pid (bench_echo_t *self);

//  The echo server process itself: prints its endpoint on stdout, serves
//  until stdin closes, returns the exit code.
int
    bench_echo_server (int workers);

//  --- Spawning commands -----------------------------------------------------

//  posix_spawn of argv (argv [0] a path) with stdout on a pipe, read to
//  the end, waited for. Returns whether it could spawn.
bool
    bench_spawn_capture (char *const argv []);

typedef struct bench_resident_t bench_resident_t;

//  Starts the shell loop under bwrap. Returns NULL when it cannot.
bench_resident_t *
    bench_resident_new (void);
//  One line's round trip: one `sh -c 'echo hi'` spawned inside the
//  running namespace. Returns false when the loop is gone.
bool
    bench_resident_run (bench_resident_t *self);
//  Ends the loop, waits for it, frees it, nulls *self_p. Safe on NULL.
void
    bench_resident_destroy (bench_resident_t **self_p);

//  --- Bare actors and bare PUB -----------------------------------------------

typedef struct {
    double start_ms;            //  to create them all
    long rss_kib;               //  the bench's RSS growth while they live
    double stop_ms;             //  to destroy them all
} bench_actors_t;

//  Creates and destroys `count` idle czmq actors in this process.
bench_actors_t
    bench_bare_actors (unsigned count);

//  Encodes `total` copies of `event` (seq 1, 2, ...) and sends each on a
//  bare PUB socket to one SUB; events/s from the first send until the SUB
//  has the last, NAN when it never does.
double
    bench_bare_pub_rate (const sbx_event_t *event, uint64_t total);

#endif
