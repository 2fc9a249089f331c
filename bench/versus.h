/*  bench_versus - sbxd against the echo baseline: the shape that the
    rtt, concurrency and sessions sections share.

    It starts a daemon with a pool of C testing sandboxes and an echo
    server with C workers, connects C clients to each, opens a session per
    sbx client when they make calls, and runs the same load on both in
    alternating rounds (bench_clients_turns), reading sbxd's and the echo
    server's CPU time and wake-ups around their own rounds. Then it stops
    both, before the section prints anything.
*/
#ifndef BENCH_VERSUS_H
#define BENCH_VERSUS_H

#include "bench/clients.h"

typedef struct {
    int clients;                //  C: clients, sandboxes and echo workers
    bool shared;                //  the clients pipeline over one socket
    bool proactive;             //  proactive_session_setup
    bool feature;               //  one testing feature in each sandbox
    bench_mode_t mode;          //  sbx's; the echo always makes calls
    const char *code;           //  what calls carry
    int64_t duration_us;        //  for all rounds together
    uint64_t max_ops;           //  for all rounds together; 0: no limit
    int rounds;
} bench_versus_t;

//  Runs `setup`. On success fills the load and usage of `sbx` and `echo`
//  (their clients are gone by then; free the loads with bench_load_free)
//  and returns true; returns false, after saying why, when the daemon
//  or the echo did not start.
bool
    bench_versus_run (const bench_versus_t *setup, bench_turn_t *sbx, bench_turn_t *echo);

#endif
