/*  bench_sessions - see bench/sessions.h */
#include "bench/sessions.h"
#include "bench/versus.h"
#include "bench/baselines.h"

#include <math.h>

static void
s_variant (int count, bool shared, bool proactive, const char *code, int64_t duration)
{
    bench_versus_t setup = {
        .clients = count, .shared = shared, .proactive = proactive, .feature = true,
        .mode = BENCH_SESSIONS, .code = code, .duration_us = duration, .rounds = 4
    };
    bench_turn_t sbx, echo;
    if (!bench_versus_run (&setup, &sbx, &echo))
        return;
    //  A "session" of the echo is three bare round trips.
    double echo_rate = bench_load_rate (&echo.load) / 3.0;
    double rate = (double) sbx.load.sessions / sbx.load.seconds;
    bool target = count == 32 && proactive;
    char who [48];
    snprintf (who, sizeof who, "%d clients%s, proactive %s", count,
              shared ? " on 1 socket" : "", proactive ? "on" : "off");
    bench_row ("/s", rate, echo_rate, target ? ">= 25000/s" : NULL, rate >= 25000,
               "%s: sessions/s", who);
    const char *ops [BENCH_OP_COUNT] = {
        [BENCH_OP_CALL] = "call", [BENCH_OP_OPEN] = "open", [BENCH_OP_END] = "end"
    };
    for (int op = 0; op < BENCH_OP_COUNT; op++)
        bench_row ("us", bench_percentile (&sbx.load.latency [op], 0.5), NAN, NULL, false,
                   "  %s: %s p50", who, ops [op]);
    char indented [52];
    snprintf (indented, sizeof indented, "  %s", who);
    bench_row_usage (indented, "session", sbx.usage, (double) sbx.load.sessions,
                     echo.usage, (double) echo.load.done / 3.0);
    bench_row ("", (double) sbx.load.errors, 0, target ? "0" : NULL, sbx.load.errors == 0,
               "  %s: failed ops", who);
    bench_load_free (&sbx.load);
    bench_load_free (&echo.load);
}

//  For scale: what a server with no hop at all (the front answers
//  itself) reaches with the same clients. One thread per sandbox cannot
//  avoid the hop; this is the bound of running the sandboxes' state
//  machines on the thread that owns the socket.
static void
s_no_hop (const char *code, int64_t duration)
{
    bench_echo_t *hop = bench_echo_new (32);
    bench_echo_t *flat = bench_echo_new (0);
    if (hop && flat) {
        bench_turn_t turns [2] = {
            {.clients = bench_clients_new (32, true, true, bench_echo_endpoint (hop))},
            {.clients = bench_clients_new (32, true, true, bench_echo_endpoint (flat))}
        };
        bench_clients_turns (turns, 2, code, duration, 0, 4);
        bench_row ("/s", bench_load_rate (&turns [1].load) / 3.0, bench_load_rate (&turns [0].load) / 3.0,
                   NULL, false, "  for scale: echo with no hop, 32 on 1 socket: sessions/s");
        for (int t = 0; t < 2; t++) {
            bench_load_free (&turns [t].load);
            bench_clients_destroy (&turns [t].clients);
        }
    }
    bench_echo_destroy (&hop);
    bench_echo_destroy (&flat);
}

void
bench_sessions_run (void)
{
    printf ("\n3. sessions (open -> call -> end loops, pool of C, testing feature)\n");
    struct { int count; bool shared; } variants [] = {{1, false}, {8, false}, {32, false}, {32, true}};
    int64_t duration = bench_quick () ? 500000 : 2000000;
    char code [64];
    bench_code (code, sizeof code);
    for (int proactive = 1; proactive >= 0; proactive--)
        for (size_t v = 0; v < sizeof variants / sizeof variants [0]; v++)
            s_variant (variants [v].count, variants [v].shared, proactive, code, duration);
    s_no_hop (code, duration);
}
