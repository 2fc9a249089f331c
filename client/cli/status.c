/*  sbx status, sbx stats - the daemon's status and stats replies, as
    tables or as JSON (docs/cli.md). */
#include "cli.h"

#include <czmq.h>

//  --- sbx status ----------------------------------------------------------------

static void
s_print_status (sbx_client_t *client, const json_t *status)
{
    const json_t *environment = json_object_get (status, "environment");
    char uptime [32];
    sbx_cli_duration (uptime, sizeof uptime, json_number_value (json_object_get (environment, "uptime_s")));
    printf ("environment %s: %s, up %s, at %s\n", sbx_cli_str (environment, "id", "?"),
            sbx_cli_str (environment, "status", "?"), uptime, sbx_client_endpoint (client));
    //  What commands run under, when the sandbox kind says.
    const char *isolation = sbx_cli_str (environment, "isolation", NULL);
    if (isolation)
        printf ("isolation: %s\n", isolation);
    //  What the sandboxes offer, from the hello.
    printf ("features:");
    const json_t *features = json_object_get (sbx_client_hello (client), "features");
    const char *name;
    json_t *feature;
    const char *separator = " ";
    json_object_foreach ((json_t *) features, name, feature) {
        printf ("%s%s (%s)", separator, name, sbx_cli_str (feature, "kind", "?"));
        separator = ", ";
    }
    if (json_object_size (features) == 0)
        printf (" none");
    printf ("\n\n");
    const json_t *sandboxes = json_object_get (status, "sandboxes");
    int id_width = 7, status_width = 6, session_width = 7;
    size_t i;
    json_t *row;
    json_array_foreach (sandboxes, i, row) {
        id_width = MAX (id_width, (int) strlen (sbx_cli_str (row, "id", "")));
        status_width = MAX (status_width, (int) strlen (sbx_cli_str (row, "status", "")));
        session_width = MAX (session_width, (int) strlen (sbx_cli_str (row, "session_id", "-")));
    }
    printf ("%-*s  %-*s  %-*s  %s\n", id_width, "SANDBOX", status_width, "STATUS",
            session_width, "SESSION", "STATE ERRORS");
    json_array_foreach (sandboxes, i, row) {
        const json_t *errors = json_object_get (row, "state_errors");
        char first [300] = "";
        if (json_array_size (errors) > 0) {
            const json_t *error = json_array_get (errors, 0);
            snprintf (first, sizeof first, "  (%s: %s)", sbx_cli_str (error, "type", "?"),
                      sbx_cli_str (error, "message", ""));
        }
        printf ("%-*s  %-*s  %-*s  %zu%s\n", id_width, sbx_cli_str (row, "id", "?"),
                status_width, sbx_cli_str (row, "status", "?"), session_width,
                sbx_cli_str (row, "session_id", "-"), json_array_size (errors), first);
    }
    if (json_array_size (sandboxes) == 0)
        printf ("(no sandboxes)\n");
}

//  --- sbx stats -----------------------------------------------------------------

//  Prints "key value" pairs of a JSON object on one line.
static void
s_print_pairs (const char *title, const json_t *object)
{
    printf ("%-10s", title);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) object, key, value) {
        char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
        printf ("  %s %s", key, text ? text : "?");
        free (text);
    }
    printf ("\n");
}

static void
s_print_stats (sbx_client_t *client, const json_t *stats)
{
    const json_t *hello = sbx_client_hello (client);
    printf ("environment %s at %s\n\n", sbx_cli_str (hello, "environment", "?"), sbx_client_endpoint (client));
    s_print_pairs ("pool", json_object_get (stats, "pool"));
    s_print_pairs ("sandboxes", json_object_get (stats, "sandbox"));
    printf ("\nCOUNTER%*s  VALUE\n", 18, "");
    const char *key;
    json_t *value;
    json_object_foreach (json_object_get (stats, "counters"), key, value) {
        char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
        printf ("%-25s  %s\n", key, text ? text : "?");
        free (text);
    }
    //  With metrics on: the durations measured so far, and the gauges
    //  (docs/metrics.md). Durations nobody measured yet are left out.
    const json_t *metrics = json_object_get (stats, "metrics");
    if (!metrics)
        return;
    printf ("\nmetrics at %s\n", sbx_cli_str (metrics, "endpoint", "?"));
    printf ("\n%-42s %8s %9s %9s %9s\n", "DURATION", "COUNT", "P50", "P90", "P99");
    json_object_foreach (json_object_get (metrics, "histograms"), key, value) {
        json_int_t count = json_integer_value (json_object_get (value, "count"));
        if (count == 0)
            continue;
        char p50 [32], p90 [32], p99 [32];
        sbx_cli_seconds (p50, sizeof p50, json_number_value (json_object_get (value, "p50_s")));
        sbx_cli_seconds (p90, sizeof p90, json_number_value (json_object_get (value, "p90_s")));
        sbx_cli_seconds (p99, sizeof p99, json_number_value (json_object_get (value, "p99_s")));
        printf ("%-42s %8lld %9s %9s %9s\n", key, (long long) count, p50, p90, p99);
    }
    printf ("\n");
    s_print_pairs ("gauges", json_object_get (metrics, "gauges"));
}

//  --- Both ------------------------------------------------------------------------

//  Connects, asks for the stats or the status (of one `sandbox`, or all
//  when NULL), and prints the reply: as JSON with --json, else as text.
static int
s_show (const sbx_cli_args_t *args, bool stats, const char *sandbox)
{
    int code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code);
    if (!client)
        return code;
    sbx_error_t *error = NULL;
    json_t *reply = stats ? sbx_client_stats (client, &error) : sbx_client_status (client, sandbox, &error);
    if (!reply)
        code = sbx_cli_fail (sbx_cli_where (args, client), &error);
    else if (args->json)
        sbx_cli_print_json (stdout, reply, false);
    else if (stats)
        s_print_stats (client, reply);
    else
        s_print_status (client, reply);
    json_decref (reply);
    sbx_client_destroy (&client);
    return code;
}

static int
s_status (sbx_cli_args_t *args)
{
    if (args->argc > 1)
        return sbx_cli_unexpected (args, 1);
    return s_show (args, false, args->argc ? args->argv [0] : NULL);
}

static int
s_stats (sbx_cli_args_t *args)
{
    if (args->argc > 0)
        return sbx_cli_unexpected (args, 0);
    return s_show (args, true, NULL);
}

//  --- The commands ----------------------------------------------------------------

static const sbx_cli_option_t s_status_options [] = {
    {"json", 0, NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (json), "the status reply as JSON, for programs"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_status = {
    .name = "status",
    .synopsis = "[SANDBOX]",
    .about =
        "Shows the environment and one row per sandbox (status, session, state\n"
        "errors); with SANDBOX, only that one.",
    .options = s_status_options,
    .execute = s_status
};

static const sbx_cli_option_t s_stats_options [] = {
    {"json", 0, NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (json), "the stats reply as JSON, for programs"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_stats = {
    .name = "stats",
    .synopsis = "",
    .about =
        "Shows how many sandboxes are in each status, the pool bounds and size, and\n"
        "the daemon's counters (sessions, calls, failures, leases...).",
    .options = s_stats_options,
    .execute = s_stats
};
