/*  bench_metrics - see bench/metrics.h */
#include "bench/metrics.h"
#include "bench/clients.h"

#include <math.h>

//  A daemon with a pool of `size` testing sandboxes, metrics on or off.
static sbx_test_daemon_t *
s_daemon (unsigned size, bool feature, bool metrics, int timeout_ms)
{
    char config [1024];
    snprintf (config, sizeof config,
        "{\"environment\": {\"id\": \"bench-%s\", \"pool\": {\"min\": %u, \"max\": %u},"
        " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
        " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {%s},"
        " \"events\": {\"log\": null, \"journal\": %d}%s}",
        metrics ? "on" : "off", size, size, feature ? "\"f\": {\"kind\": \"testing\"}" : "",
        BENCH_JOURNAL_DEFAULT, metrics ? "" : ", \"endpoints\": {\"metrics\": null}");
    return bench_daemon_start (config, timeout_ms);
}

//  C clients in sessions on the daemon with metrics on, and on the one
//  with them off, taking turns.
static void
s_cost (int clients, const char *code)
{
    sbx_test_daemon_t *on = s_daemon ((unsigned) clients, false, true, 60000);
    sbx_test_daemon_t *off = s_daemon ((unsigned) clients, false, false, 60000);
    if (!on || !off) {
        bench_daemon_stop (&on);
        bench_daemon_stop (&off);
        return;
    }
    bench_turn_t turns [2] = {
        {.clients = bench_clients_new (clients, false, false, on->requests), .mode = BENCH_CALLS, .pid = on->pid},
        {.clients = bench_clients_new (clients, false, false, off->requests), .mode = BENCH_CALLS, .pid = off->pid}
    };
    bench_clients_open (turns [0].clients);
    bench_clients_open (turns [1].clients);
    //  Many short rounds: the machine's noise falls on both alike.
    bench_clients_turns (turns, 2, code, bench_quick () ? 1000000 : 8000000, 0, bench_quick () ? 4 : 16);
    bench_clients_destroy (&turns [0].clients);
    bench_clients_destroy (&turns [1].clients);
    bench_daemon_stop (&on);
    bench_daemon_stop (&off);

    bench_load_t *load = &turns [0].load, *base = &turns [1].load;
    double rate = bench_load_rate (load), base_rate = bench_load_rate (base);
    double p50 = bench_percentile (&load->latency [BENCH_OP_CALL], 0.5);
    double base_p50 = bench_percentile (&base->latency [BENCH_OP_CALL], 0.5);
    bench_row ("us", p50, base_p50, clients == 1 ? "<= 1.03x off" : NULL, p50 <= 1.03 * base_p50,
               "metrics on, %d clients: call p50", clients);
    bench_row ("/s", rate, base_rate, clients == 32 ? ">= 0.97x off" : NULL, rate >= 0.97 * base_rate,
               "metrics on, %d clients: calls/s", clients);
    bench_row ("us", bench_percentile (&load->latency [BENCH_OP_CALL], 0.99),
               bench_percentile (&base->latency [BENCH_OP_CALL], 0.99), NULL, false,
               "metrics on, %d clients: call p99", clients);
    char who [64];
    snprintf (who, sizeof who, "metrics on, %d clients", clients);
    bench_row_usage (who, "call", turns [0].usage, (double) load->done, turns [1].usage, (double) base->done);
    bench_row ("", (double) (load->errors + base->errors), 0, "0", load->errors + base->errors == 0,
               "metrics on, %d clients: errors (on and off)", clients);
    bench_load_free (load);
    bench_load_free (base);
}

//  Sessions on many sandboxes, with calls that succeed and that fail,
//  so that the figures have series with errors.
static void
s_populate (sbx_test_daemon_t *daemon)
{
    bench_clients_t *clients = bench_clients_new (64, false, false, daemon->requests);
    bench_load_t load;
    bench_clients_run (clients, BENCH_SESSIONS, "populate", 0, 2000, &load);
    bench_load_free (&load);
    zsock_t *dealer = bench_clients_dealer (clients, 0);
    const char *types [] = {"ValueError", "KeyError", "TimeoutError", "OSError"};
    for (int i = 0; i < 200; i++) {
        char request [256];
        snprintf (request, sizeof request, "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"x\","
                  " \"raise_error\": \"%s\"}, \"timeout_ms\": 10000}", types [i % 4]);
        sbx_reply_t *reply = sbx_test_request (dealer, request, 10000);
        sbx_reply_destroy (&reply);
    }
    bench_clients_destroy (&clients);
}

static void
s_scrape (void)
{
    unsigned size = 1000;
    sbx_test_daemon_t *daemon = s_daemon (size, true, true, 120000);
    if (!daemon)
        return;
    s_populate (daemon);
    char missing [300];
    snprintf (missing, sizeof missing, "%.*s/missing", (int) (strrchr (daemon->metrics, '/') - daemon->metrics),
              daemon->metrics);
    bench_samples_t scrapes = {0}, misses = {0};
    size_t bytes = 0;
    int failures = 0, rounds = bench_quick () ? 20 : 100;
    for (int i = 0; i < rounds; i++) {
        char *body = NULL;
        size_t got = 0;
        int64_t start = bench_now_us ();
        int status = sbx_test_http_get (daemon->metrics, &body, &got, NULL, 0, 10000);
        bench_sample (&scrapes, (double) (bench_now_us () - start) / 1000.0);
        failures += status != 200;
        bytes = got;
        free (body);
        start = bench_now_us ();
        status = sbx_test_http_get (missing, &body, &got, NULL, 0, 10000);
        bench_sample (&misses, (double) (bench_now_us () - start) / 1000.0);
        failures += status != 404;
        free (body);
    }
    bench_daemon_stop (&daemon);
    double worst = bench_percentile (&scrapes, 1.0);
    bench_row ("ms", bench_percentile (&scrapes, 0.5), bench_percentile (&misses, 0.5), NULL, false,
               "pool of %u: scrape p50 (beside a 404)", size);
    bench_row ("ms", worst, bench_percentile (&misses, 1.0), "< 100 ms", worst < 100,
               "pool of %u: slowest of %d scrapes", size, rounds);
    bench_row ("KiB", (double) bytes / 1024.0, NAN, NULL, false, "pool of %u: scrape size", size);
    bench_row ("", failures, 0, "0", failures == 0, "pool of %u: failed GETs", size);
    bench_samples_free (&scrapes);
    bench_samples_free (&misses);
}

void
bench_metrics_run (void)
{
    printf ("\n10. metrics (on beside off, in alternating rounds; a scrape of a pool of 1,000)\n");
    char code [64];
    bench_code (code, sizeof code);
    s_cost (1, code);
    s_cost (32, code);
    s_scrape ();
}
