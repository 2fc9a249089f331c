/*  The metrics registry, the event recorder and the HTTP endpoint alone
    (actors/metrics.h, recorder.h, metrics_http.h): no daemon. The
    daemon's figures against its event log are tests/test_scrape.c. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "actors/metrics.h"
#include "actors/metrics_http.h"
#include "actors/recorder.h"
#include "messages/event.h"
#include "messages/mp.h"
#include "runtime/core/endpoint.h"
#include "runtime/daemon/registry.h"
#include "testutil.h"

#define S_CONFIG \
    "{\"environment\": {\"id\": \"testing-env\"}, \"sandbox\": {\"kind\": \"testing\"}," \
    " \"features\": {\"f\": {\"kind\": \"testing\"}}}"

static sbx_config_t *
s_config (const char *json)
{
    sbx_error_t *error = NULL;
    sbx_config_t *config = sbx_config_load_string (json, sbx_registry (), &error);
    cr_assert_not_null (config, "%s", sbx_error_message (error));
    return config;
}

//  The rendered registry, NUL-terminated (caller frees).
static char *
s_render (sbx_metrics_t *metrics)
{
    size_t size = 0;
    char *text = sbx_metrics_render (metrics, &size);
    cr_assert_eq (strlen (text), size);
    return text;
}

//  The value on the line of `series` (name and labels as rendered), or -1.
static double
s_sample (const char *text, const char *series)
{
    char needle [1024];
    snprintf (needle, sizeof needle, "\n%s ", series);
    const char *at = strstr (text, needle);
    return at ? strtod (at + strlen (needle), NULL) : -1;
}

static int
s_count (const char *text, const char *needle)
{
    int count = 0;
    for (const char *at = strstr (text, needle); at; at = strstr (at + 1, needle))
        count++;
    return count;
}

Test (metrics, a_fresh_registry_shows_every_family_and_the_series_without_error)
{
    sbx_config_t *config = s_config (S_CONFIG);
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    char *text = s_render (metrics);
    cr_assert_eq (s_count (text, "# TYPE "), SBX_METRIC_COUNT + 1, "%s", text);
    cr_assert_eq (s_count (text, "# HELP "), SBX_METRIC_COUNT + 1);
    cr_assert_null (strstr (text, "(null)"), "a family without a name or help");
    cr_assert (strstr (text, "sbx_build_info{environment=\"testing-env\",version=\"" SBX_VERSION "\"} 1\n"));
    cr_assert_eq (s_sample (text, "sbx_calls_total{environment=\"testing-env\",feature=\"f\","
                                  "method=\"configure\",error=\"\"}"), 0);
    //  A service of the sandbox itself has feature "".
    cr_assert_eq (s_sample (text, "sbx_calls_total{environment=\"testing-env\",feature=\"\","
                                  "method=\"shell\",error=\"\"}"), 0);
    cr_assert_eq (s_sample (text, "sbx_sandboxes{environment=\"testing-env\",status=\"offline\"}"), 0);
    cr_assert_eq (s_sample (text, "sbx_events_total{environment=\"testing-env\",event=\"session.activity\"}"), 0);
    cr_assert_eq (s_sample (text, "sbx_feature_setup_duration_seconds_bucket{environment=\"testing-env\","
                                  "feature=\"f\",error=\"\",le=\"+Inf\"}"), 0);
    //  No series with an error until one is met.
    cr_assert_null (strstr (text, "error=\"Value"));
    free (text);
    sbx_metrics_destroy (&metrics);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

Test (metrics, histograms_count_each_duration_in_its_bucket)
{
    sbx_config_t *config = s_config (S_CONFIG);
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    int method = sbx_metrics_method (metrics, 0, "configure", 9);
    cr_assert_geq (method, 0);
    cr_assert_eq (sbx_metrics_method (metrics, -1, "shell", 5), method + 1);
    cr_assert_eq (sbx_metrics_method (metrics, 0, "shell", 5), -1);
    sbx_metric_labels_t labels = {.feature = 0, .method = method};
    sbx_metrics_add (metrics, SBX_METRIC_CALLS, labels, 3);
    sbx_metrics_observe (metrics, SBX_METRIC_CALL_SECONDS, labels, 10000);        //  le 1e-05
    sbx_metrics_observe (metrics, SBX_METRIC_CALL_SECONDS, labels, 10001);        //  le 2.5e-05
    sbx_metrics_observe (metrics, SBX_METRIC_CALL_SECONDS, labels, 4000000000000ll);  //  +Inf only
    char *text = s_render (metrics);
    const char *series = "environment=\"testing-env\",feature=\"f\",method=\"configure\",error=\"\"";
    char name [512];
    snprintf (name, sizeof name, "sbx_calls_total{%s}", series);
    cr_assert_eq (s_sample (text, name), 3);
    const struct {
        const char *le;
        double count;
    } buckets [] = {{"1e-05", 1}, {"2.5e-05", 2}, {"0.5", 2}, {"3600", 2}, {"+Inf", 3}};
    for (size_t i = 0; i < sizeof buckets / sizeof buckets [0]; i++) {
        snprintf (name, sizeof name, "sbx_call_duration_seconds_bucket{%s,le=\"%s\"}", series, buckets [i].le);
        cr_assert_eq (s_sample (text, name), buckets [i].count, "%s", name);
    }
    snprintf (name, sizeof name, "sbx_call_duration_seconds_count{%s}", series);
    cr_assert_eq (s_sample (text, name), 3);
    snprintf (name, sizeof name, "sbx_call_duration_seconds_sum{%s}", series);
    cr_assert_float_eq (s_sample (text, name), 4000.000020001, 1e-9);
    cr_assert_eq (sbx_metrics_value (metrics, SBX_METRIC_CALL_SECONDS,
                                     (sbx_metric_labels_t) {.method = -1, .error = -1}), 3);
    free (text);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

Test (metrics, error_types_past_the_first_64_are_counted_as_other)
{
    sbx_config_t *config = s_config (S_CONFIG);
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    cr_assert_eq (sbx_metrics_error (metrics, NULL), 0);
    for (int i = 0; i < SBX_METRICS_ERROR_TYPES + 6; i++) {
        char type [32];
        snprintf (type, sizeof type, "Error%d", i);
        int label = sbx_metrics_error (metrics, type);
        cr_assert_eq (label, i < SBX_METRICS_ERROR_TYPES ? i + 1 : SBX_METRICS_ERROR_TYPES + 1, "%s", type);
        cr_assert_eq (sbx_metrics_error (metrics, type), label, "interned once");
        sbx_metrics_add (metrics, SBX_METRIC_SESSION_END, (sbx_metric_labels_t) {.error = label}, 1);
    }
    //  A type named `other` joins them, rather than making a second series.
    sbx_metrics_add (metrics, SBX_METRIC_SESSION_END,
                     (sbx_metric_labels_t) {.error = sbx_metrics_error (metrics, "other")}, 1);
    char *text = s_render (metrics);
    cr_assert_eq (s_sample (text, "sbx_session_end_total{environment=\"testing-env\",error=\"other\"}"), 7);
    cr_assert_eq (s_sample (text, "sbx_session_end_total{environment=\"testing-env\",error=\"Error63\"}"), 1);
    cr_assert_eq (s_count (text, "sbx_session_end_total{"), SBX_METRICS_ERROR_TYPES + 2);
    free (text);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

Test (metrics, labels_are_sanitised_and_escaped)
{
    sbx_config_t *config = s_config ("{\"environment\": {\"id\": \"a\\\"b\\\\c\"}, \"sandbox\": {\"kind\": \"testing\"}}");
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    int weird = sbx_metrics_error (metrics, "bad \"type\"\n\xff");
    cr_assert_eq (sbx_metrics_error (metrics, "bad__type___"), weird, "the same label after sanitising");
    sbx_metrics_add (metrics, SBX_METRIC_SANDBOX_START, (sbx_metric_labels_t) {.error = weird}, 1);
    sbx_metrics_add (metrics, SBX_METRIC_SANDBOX_START,
                     (sbx_metric_labels_t) {.error = sbx_metrics_error (metrics, "")}, 1);
    char *text = s_render (metrics);
    cr_assert_eq (s_sample (text, "sbx_sandbox_start_total{environment=\"a\\\"b\\\\c\",error=\"bad__type___\"}"), 1,
                  "%s", text);
    cr_assert_eq (s_sample (text, "sbx_sandbox_start_total{environment=\"a\\\"b\\\\c\",error=\"_\"}"), 1);
    free (text);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

//  --- Many writers, one reader ---------------------------------------------------

#define S_THREADS 4
#define S_ADDS 20000

static void *
s_writer (void *args)
{
    sbx_metrics_t *metrics = (sbx_metrics_t *) args;
    for (int i = 0; i < S_ADDS; i++) {
        char type [32];
        snprintf (type, sizeof type, "E%d", i % 80);
        sbx_metric_labels_t labels = {.method = i % 5, .error = sbx_metrics_error (metrics, type)};
        sbx_metrics_add (metrics, SBX_METRIC_CALLS, labels, 1);
        sbx_metrics_observe (metrics, SBX_METRIC_CALL_SECONDS, labels, i);
    }
    return NULL;
}

Test (metrics, writers_on_many_threads_lose_nothing_and_intern_once)
{
    sbx_config_t *config = s_config (S_CONFIG);
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    pthread_t threads [S_THREADS];
    for (int t = 0; t < S_THREADS; t++)
        pthread_create (&threads [t], NULL, s_writer, metrics);
    //  Scrapes meanwhile see a whole series or none.
    for (int i = 0; i < 20; i++) {
        char *text = s_render (metrics);
        cr_assert_eq (s_count (text, "# TYPE "), SBX_METRIC_COUNT + 1);
        free (text);
    }
    for (int t = 0; t < S_THREADS; t++)
        pthread_join (threads [t], NULL);
    sbx_metric_labels_t any = {.method = -1, .error = -1};
    cr_assert_eq (sbx_metrics_value (metrics, SBX_METRIC_CALLS, any), S_THREADS * S_ADDS);
    cr_assert_eq (sbx_metrics_value (metrics, SBX_METRIC_CALL_SECONDS, any), S_THREADS * S_ADDS);
    //  Each type has one label, whichever thread met it first.
    char *text = s_render (metrics);
    for (int e = 0; e < 80; e++) {
        char needle [160];
        snprintf (needle, sizeof needle, "\nsbx_calls_total{environment=\"testing-env\",feature=\"f\","
                  "method=\"configure\",error=\"E%d\"} ", e);
        cr_assert_leq (s_count (text, needle), 1, "%s", needle);
    }
    //  80 types: the 16 met last are `other`.
    cr_assert_eq (s_count (text, ",error=\"other\"} "), 5 * 3, "%s", text);
    free (text);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

//  --- The recorder ---------------------------------------------------------------

static void
s_feed (sbx_recorder_t *recorder, sbx_event_t event)
{
    event.environment = "testing-env";
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_event_encode (&event, &buffer);
    sbx_recorder_event (recorder, event.kind, (const uint8_t *) buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

Test (metrics, the_recorder_counts_events_and_measures_steps_and_lifetimes)
{
    sbx_config_t *config = s_config (S_CONFIG);
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    sbx_recorder_t *recorder = sbx_recorder_new (metrics, config);
    const char *sb = "testing-env/0:0";
    int64_t t0 = 1700000000000000000ll, s = 1000000000;
    sbx_error_t *value_error = sbx_error_new ("ValueError", "v");
    sbx_error_t *lapsed = sbx_error_new (SBX_LEASE_EXPIRED, "lapsed");
    s_feed (recorder, (sbx_event_t) {.kind = SBX_EV_SANDBOX_STATUS, .ts_ns = t0, .sandbox = sb,
                                     .old_status = "created", .new_status = "setting_up", .duration_ns = 5000});
    s_feed (recorder, (sbx_event_t) {.kind = SBX_EV_FEATURE_SETUP, .ts_ns = t0, .sandbox = sb, .feature = "f",
                                     .duration_ns = 2000000});
    s_feed (recorder, (sbx_event_t) {.kind = SBX_EV_SANDBOX_START, .ts_ns = t0, .sandbox = sb,
                                     .duration_ns = 3000000});
    s_feed (recorder, (sbx_event_t) {.kind = SBX_EV_SESSION_START, .ts_ns = t0 + s, .sandbox = sb,
                                     .session = "s1", .duration_ns = 100});
    s_feed (recorder, (sbx_event_t) {.kind = SBX_EV_SESSION_ACTIVITY, .ts_ns = t0 + s, .sandbox = sb,
                                     .session = "s1", .feature = "f", .name = "configure",
                                     .error = value_error, .duration_ns = 100000});
    s_feed (recorder, (sbx_event_t) {.kind = SBX_EV_SESSION_ACTIVITY, .ts_ns = t0 + s, .sandbox = sb,
                                     .session = "s1", .name = "shell", .duration_ns = 50000});
    s_feed (recorder, (sbx_event_t) {.kind = SBX_EV_SESSION_END, .ts_ns = t0 + 3 * s, .sandbox = sb,
                                     .session = "s1", .error = lapsed, .duration_ns = 100});
    s_feed (recorder, (sbx_event_t) {.kind = SBX_EV_SANDBOX_SHUTDOWN, .ts_ns = t0 + 10 * s, .sandbox = sb,
                                     .duration_ns = 100});
    sbx_recorder_journal (recorder, 8, 800);
    char *text = s_render (metrics);
    cr_assert_eq (s_sample (text, "sbx_events_total{environment=\"testing-env\",event=\"session.activity\"}"), 2);
    cr_assert_eq (s_sample (text, "sbx_calls_total{environment=\"testing-env\",feature=\"f\",method=\"configure\","
                                  "error=\"ValueError\"}"), 1, "%s", text);
    cr_assert_eq (s_sample (text, "sbx_calls_total{environment=\"testing-env\",feature=\"\",method=\"shell\","
                                  "error=\"\"}"), 1);
    cr_assert_eq (s_sample (text, "sbx_session_end_total{environment=\"testing-env\",error=\"LeaseExpired\"}"), 1);
    cr_assert_eq (s_sample (text, "sbx_session_lifetime_seconds_sum{environment=\"testing-env\","
                                  "error=\"LeaseExpired\"}"), 2);
    cr_assert_eq (s_sample (text, "sbx_sandbox_lifetime_seconds_sum{environment=\"testing-env\",error=\"\"}"), 10);
    cr_assert_eq (s_sample (text, "sbx_sandbox_status_duration_seconds_count{environment=\"testing-env\","
                                  "status=\"created\"}"), 1);
    cr_assert_eq (s_sample (text, "sbx_feature_setup_duration_seconds_sum{environment=\"testing-env\","
                                  "feature=\"f\",error=\"\"}"), 0.002);
    cr_assert_eq (s_sample (text, "sbx_journal_bytes{environment=\"testing-env\"}"), 800);
    free (text);
    sbx_error_destroy (&value_error);
    sbx_error_destroy (&lapsed);
    sbx_recorder_destroy (&recorder);
    sbx_recorder_destroy (&recorder);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

//  The recorder reads bodies as msgpack_unpack and sbx_mp_map_get would:
//  the last of duplicate keys counts, values of other types or in other
//  formats than the encoder's are read the same, and a body that is not
//  one whole map is not recorded.
Test (metrics, the_recorder_reads_a_body_as_msgpack_does)
{
    sbx_config_t *config = s_config (S_CONFIG);
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    sbx_recorder_t *recorder = sbx_recorder_new (metrics, config);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    //  A session.activity in an order and formats of its own: args nest,
    //  duration_ns is a uint 32, error comes twice (the last counts) and
    //  its type is not its first key; a key that is not a string.
    msgpack_pack_map (&pk, 7);
    msgpack_pack_uint8 (&pk, 7);
    msgpack_pack_true (&pk);
    sbx_mp_pack_str (&pk, "error");
    msgpack_pack_map (&pk, 1);
    sbx_mp_pack_str (&pk, "type");
    sbx_mp_pack_str (&pk, "FirstError");
    sbx_mp_pack_str (&pk, "args");
    msgpack_pack_map (&pk, 2);
    sbx_mp_pack_str (&pk, "list");
    msgpack_pack_array (&pk, 3);
    msgpack_pack_double (&pk, 1.5);
    msgpack_pack_bin (&pk, 3);
    msgpack_pack_bin_body (&pk, "abc", 3);
    msgpack_pack_map (&pk, 1);
    sbx_mp_pack_str (&pk, "type");
    sbx_mp_pack_str (&pk, "NotThisOne");
    sbx_mp_pack_str (&pk, "name");
    sbx_mp_pack_str (&pk, "nested");
    sbx_mp_pack_str (&pk, "feature");
    sbx_mp_pack_str (&pk, "f");
    sbx_mp_pack_str (&pk, "name");
    sbx_mp_pack_str (&pk, "configure");
    sbx_mp_pack_str (&pk, "duration_ns");
    msgpack_pack_uint32 (&pk, 250000);
    sbx_mp_pack_str (&pk, "error");
    msgpack_pack_map (&pk, 2);
    sbx_mp_pack_str (&pk, "message");
    sbx_mp_pack_str (&pk, "m");
    sbx_mp_pack_str (&pk, "type");
    sbx_mp_pack_str (&pk, "ValueError");
    sbx_recorder_event (recorder, SBX_EV_SESSION_ACTIVITY, (const uint8_t *) body.data, body.size);
    //  Not recorded: cut short, followed by more bytes, not a map.
    sbx_recorder_event (recorder, SBX_EV_SESSION_ACTIVITY, (const uint8_t *) body.data, body.size - 1);
    msgpack_pack_nil (&pk);
    sbx_recorder_event (recorder, SBX_EV_SESSION_ACTIVITY, (const uint8_t *) body.data, body.size);
    sbx_recorder_event (recorder, SBX_EV_SESSION_ACTIVITY, (const uint8_t *) body.data + body.size - 1, 1);
    char *text = s_render (metrics);
    cr_assert_eq (s_sample (text, "sbx_events_total{environment=\"testing-env\",event=\"session.activity\"}"), 1,
                  "%s", text);
    cr_assert_eq (s_sample (text, "sbx_calls_total{environment=\"testing-env\",feature=\"f\",method=\"configure\","
                                  "error=\"ValueError\"}"), 1, "%s", text);
    cr_assert_eq (s_sample (text, "sbx_call_duration_seconds_sum{environment=\"testing-env\",feature=\"f\","
                                  "method=\"configure\",error=\"ValueError\"}"), 0.00025, "%s", text);
    free (text);
    msgpack_sbuffer_destroy (&body);
    sbx_recorder_destroy (&recorder);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

Test (metrics, summaries_estimate_quantiles_from_the_buckets)
{
    sbx_config_t *config = s_config (S_CONFIG);
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    //  90 calls of 1 ms, 10 of 2 s.
    for (int i = 0; i < 100; i++)
        sbx_metrics_observe (metrics, SBX_METRIC_CALL_SECONDS, (sbx_metric_labels_t) {.method = i % 3},
                             i < 90 ? 1000000 : 2000000000ll);
    sbx_stats_t stats = {.acquires_waiting = 4};
    sbx_stats_histogram_t histograms [SBX_METRIC_COUNT];
    sbx_stats_gauge_t gauges [SBX_METRIC_COUNT];
    sbx_metrics_summarise (metrics, &stats, histograms, gauges);
    const sbx_stats_histogram_t *call = NULL;
    for (size_t i = 0; i < stats.histogram_count; i++)
        if (streq (stats.histograms [i].name, "call_duration_seconds"))
            call = &stats.histograms [i];
    cr_assert_not_null (call);
    cr_assert_eq (call->count, 100);
    cr_assert_float_eq (call->sum_s, 20.09, 1e-9);
    cr_assert (call->p50_s > 0.0005 && call->p50_s <= 0.001, "p50 %g", call->p50_s);
    cr_assert (call->p99_s > 1 && call->p99_s <= 2.5, "p99 %g", call->p99_s);
    bool waiting = false;
    for (size_t i = 0; i < stats.gauge_count; i++)
        waiting |= streq (stats.gauges [i].name, "acquires_waiting") && stats.gauges [i].value == 4;
    cr_assert (waiting);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

//  --- The endpoint ----------------------------------------------------------------

Test (metrics, the_endpoint_serves_the_text_format_on_its_path_only)
{
    sbx_config_t *config = s_config (S_CONFIG);
    sbx_metrics_t *metrics = sbx_metrics_new (config);
    char *error = NULL;
    sbx_metrics_http_t *http = sbx_metrics_http_new (metrics, "http://127.0.0.1:0/metrics", &error);
    cr_assert_not_null (http, "%s", error);
    const char *url = sbx_metrics_http_url (http);
    cr_assert (strncmp (url, "http://127.0.0.1:", 17) == 0 && !strstr (url, ":0/"), "%s", url);
    char *body = NULL, type [128];
    size_t size = 0;
    cr_assert_eq (sbx_test_http_get (url, &body, &size, type, sizeof type, 5000), 200);
    cr_assert_str_eq (type, "text/plain; version=0.0.4; charset=utf-8");
    cr_assert (strncmp (body, "# HELP sbx_build_info", 21) == 0, "%s", body);
    cr_assert_eq (s_count (body, "# TYPE "), SBX_METRIC_COUNT + 1);
    free (body);
    char other [400];
    snprintf (other, sizeof other, "%.*s/other", (int) (strrchr (url, '/') - url), url);
    cr_assert_eq (sbx_test_http_get (other, &body, &size, NULL, 0, 5000), 404);
    free (body);
    //  Its port is taken: a second server says so.
    sbx_metrics_http_t *second = sbx_metrics_http_new (metrics, url, &error);
    cr_assert_null (second);
    cr_assert (strstr (error, "cannot bind metrics endpoint"), "%s", error);
    zstr_free (&error);
    sbx_metrics_http_destroy (&http);
    sbx_metrics_http_destroy (&http);
    //  IPv6 loopback, when the machine has it.
    http = sbx_metrics_http_new (metrics, "http://[::1]:*/m", &error);
    if (http) {
        cr_assert_eq (sbx_test_http_get (sbx_metrics_http_url (http), &body, &size, NULL, 0, 5000), 200);
        free (body);
        sbx_metrics_http_destroy (&http);
    }
    zstr_free (&error);
    sbx_metrics_destroy (&metrics);
    sbx_config_destroy (&config);
}

Test (metrics, the_configuration_takes_loopback_endpoints_only)
{
    const char *good [] = {
        "http://127.0.0.1:9555/metrics", "http://127.0.0.2:0/x", "http://[::1]:1/", "http://localhost:*"
    };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++) {
        sbx_http_endpoint_t parts;
        sbx_error_t *error = sbx_endpoint_check_metrics (good [i], "endpoints.metrics", &parts);
        cr_assert_null (error, "%s: %s", good [i], error ? sbx_error_message (error) : "");
    }
    sbx_http_endpoint_t parts;
    cr_assert_null (sbx_endpoint_check_metrics ("http://[::1]:9/", "p", &parts));
    cr_assert_str_eq (parts.host, "::1");
    cr_assert_eq (parts.port, 9);
    cr_assert_str_eq (parts.path, "/metrics");
    const char *remote [] = {"http://0.0.0.0:9555/metrics", "http://10.1.2.3:80/m", "http://[::]:1/",
                             "http://example.com:80/"};
    for (size_t i = 0; i < sizeof remote / sizeof remote [0]; i++) {
        sbx_error_t *error = sbx_endpoint_check_metrics (remote [i], "endpoints.metrics", NULL);
        cr_assert_not_null (error, "%s", remote [i]);
        cr_assert (strstr (sbx_error_message (error), "is not a loopback address"), "%s",
                   sbx_error_message (error));
        sbx_error_destroy (&error);
    }
    const char *bad [] = {"127.0.0.1:9555", "http://127.0.0.1/metrics", "http://127.0.0.1:99999/",
                          "https://127.0.0.1:1/", "http://:1/", "http://127.0.0.1:1/a b", "http://[::1/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        sbx_error_t *error = sbx_endpoint_check_metrics (bad [i], "endpoints.metrics", NULL);
        cr_assert_not_null (error, "%s", bad [i]);
        cr_assert (strstr (sbx_error_message (error), "endpoints.metrics: '"), "%s", sbx_error_message (error));
        cr_assert (strstr (sbx_error_message (error), "is not a metrics endpoint"), "%s",
                   sbx_error_message (error));
        sbx_error_destroy (&error);
    }
    sbx_config_t *config = s_config (S_CONFIG);
    cr_assert_str_eq (config->metrics_endpoint, "http://127.0.0.1:9555/metrics");
    sbx_config_destroy (&config);
    config = s_config ("{\"endpoints\": {\"metrics\": null}}");
    cr_assert_null (config->metrics_endpoint);
    sbx_config_destroy (&config);
}
