/*  bench_curve - see bench/curve.h */
#include "bench/curve.h"
#include "bench/clients.h"

#include <ftw.h>

//  The keys: the daemon's pair, and one client's whose public
//  certificate is the only one in `clients`.
typedef struct {
    char dir [64];
    char server [96];           //  the daemon's secret certificate
    char clients [96];
    zcert_t *server_cert;
    zcert_t *client_cert;
} s_keys_t;

static bool
s_keys_make (s_keys_t *keys)
{
    snprintf (keys->dir, sizeof keys->dir, "/tmp/sbx-bench-keys-XXXXXX");
    if (!mkdtemp (keys->dir))
        return false;
    snprintf (keys->server, sizeof keys->server, "%s/server", keys->dir);
    snprintf (keys->clients, sizeof keys->clients, "%s/clients", keys->dir);
    char client [128];
    snprintf (client, sizeof client, "%s/client", keys->clients);
    keys->server_cert = zcert_new ();
    keys->client_cert = zcert_new ();
    return mkdir (keys->clients, 0700) == 0 && zcert_save (keys->server_cert, keys->server) == 0
        && zcert_save_public (keys->client_cert, client) == 0;
}

static int
s_remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

static void
s_keys_destroy (s_keys_t *keys)
{
    zcert_destroy (&keys->server_cert);
    zcert_destroy (&keys->client_cert);
    if (keys->dir [0])
        nftw (keys->dir, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

//  A daemon with a pool of `size` testing sandboxes, with CURVE when
//  `keys` is not NULL.
static sbx_test_daemon_t *
s_daemon (unsigned size, const s_keys_t *keys)
{
    char security [512] = "";
    if (keys)
        snprintf (security, sizeof security, ", \"security\": {\"server_cert\": \"%s_secret\", "
                  "\"clients\": \"%s\"}", keys->server, keys->clients);
    char config [1536];
    snprintf (config, sizeof config,
        "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": %u, \"max\": %u},"
        " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {},"
        " \"events\": {\"log\": null, \"journal\": %u}%s}", size, size, BENCH_JOURNAL_DEFAULT, security);
    return bench_daemon_start (config, 60000);
}

//  The same load on both daemons, in alternating rounds: turns [0] with
//  CURVE, turns [1] without. False when a daemon did not start.
static bool
s_versus (const s_keys_t *keys, int clients, int64_t duration_us, uint64_t max_ops, int rounds,
          bench_turn_t *curve, bench_turn_t *plain)
{
    char code [64];
    bench_code (code, sizeof code);
    sbx_test_daemon_t *keyed = s_daemon ((unsigned) clients, keys);
    sbx_test_daemon_t *open = keyed ? s_daemon ((unsigned) clients, NULL) : NULL;
    if (!keyed || !open) {
        bench_daemon_stop (&keyed);
        return false;
    }
    bench_turn_t turns [2] = {
        {.clients = bench_clients_new_curve (clients, false, keyed->requests, keys->client_cert,
                                             zcert_public_txt (keys->server_cert)),
         .mode = BENCH_CALLS, .pid = keyed->pid},
        {.clients = bench_clients_new (clients, false, false, open->requests),
         .mode = BENCH_CALLS, .pid = open->pid}
    };
    bool opened = bench_clients_open (turns [0].clients) && bench_clients_open (turns [1].clients);
    if (opened)
        bench_clients_turns (turns, 2, code, duration_us, max_ops, rounds);
    bench_clients_destroy (&turns [0].clients);
    bench_clients_destroy (&turns [1].clients);
    bench_daemon_stop (&keyed);
    bench_daemon_stop (&open);
    *curve = turns [0];
    *plain = turns [1];
    return opened;
}

void
bench_curve_run (void)
{
    printf ("\n11. CURVE (the same load with keys and without, alternating rounds)\n");
    s_keys_t keys;
    memset (&keys, 0, sizeof keys);
    if (!s_keys_make (&keys)) {
        fprintf (stderr, "bench: cannot make CURVE keys: %s\n", strerror (errno));
        s_keys_destroy (&keys);
        return;
    }
    bench_turn_t curve, plain;
    memset (&curve, 0, sizeof curve);
    memset (&plain, 0, sizeof plain);
    if (s_versus (&keys, 1, 60000000, bench_quick () ? 3000 : 20000, 10, &curve, &plain)) {
        bench_samples_t *calls = &curve.load.latency [BENCH_OP_CALL];
        bench_samples_t *base = &plain.load.latency [BENCH_OP_CALL];
        double p50 = bench_percentile (calls, 0.5), base_p50 = bench_percentile (base, 0.5);
        bench_row ("us", p50, base_p50, "<= 1.15x no CURVE", p50 <= 1.15 * base_p50, "CURVE: call p50");
        bench_row ("us", bench_percentile (calls, 0.99), bench_percentile (base, 0.99), NULL, false,
                   "CURVE: call p99");
    }
    bench_load_free (&curve.load);
    bench_load_free (&plain.load);
    memset (&curve, 0, sizeof curve);
    memset (&plain, 0, sizeof plain);
    if (s_versus (&keys, 32, bench_quick () ? 500000 : 2000000, 0, 4, &curve, &plain)) {
        double rate = bench_load_rate (&curve.load), base_rate = bench_load_rate (&plain.load);
        bench_row ("/s", rate, base_rate, ">= 0.85x no CURVE", rate >= 0.85 * base_rate,
                   "CURVE, 32 clients: calls/s");
        bench_row ("us", bench_percentile (&curve.load.latency [BENCH_OP_CALL], 0.99),
                   bench_percentile (&plain.load.latency [BENCH_OP_CALL], 0.99), NULL, false,
                   "CURVE, 32 clients: p99");
        bench_row_usage ("CURVE, 32 clients", "call", curve.usage, (double) curve.load.done,
                         plain.usage, (double) plain.load.done);
        bench_row ("", (double) (curve.load.errors + plain.load.errors), 0, "0",
                   curve.load.errors + plain.load.errors == 0, "CURVE, 32 clients: errors");
    }
    bench_load_free (&curve.load);
    bench_load_free (&plain.load);
    s_keys_destroy (&keys);
}
