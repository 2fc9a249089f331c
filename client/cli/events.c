/*  sbx events - the daemon's events, one line each; with --follow, live
    (docs/cli.md). */
#include "cli.h"

#include <czmq.h>
#include <time.h>

static bool
s_prefix_match (const sbx_cli_args_t *args, const sbx_event_t *event)
{
    if (args->argc == 0)
        return true;
    const char *name = sbx_event_kind_name (event->kind);
    for (int i = 0; i < args->argc; i++)
        if (strncmp (name, args->argv [i], strlen (args->argv [i])) == 0)
            return true;
    return false;
}

//  The text form, after the event's local time (HH:MM:SS.mmm) unless
//  --no-time; or the JSON form.
static void
s_print_event (const sbx_cli_args_t *args, const sbx_event_t *event)
{
    if (args->json) {
        json_t *json = sbx_event_to_json (event);
        sbx_cli_print_json (stdout, json, true);
        json_decref (json);
        return;
    }
    if (!args->no_time) {
        time_t seconds = (time_t) (event->ts_ns / 1000000000);
        struct tm local;
        char clock [16] = "??:??:??";
        if (localtime_r (&seconds, &local))
            strftime (clock, sizeof clock, "%H:%M:%S", &local);
        printf ("%s.%03d ", clock, (int) (event->ts_ns % 1000000000 / 1000000));
    }
    char *text = sbx_event_text (event);
    puts (text);
    free (text);
}

//  The history only: pages through the journal.
static int
s_history (sbx_cli_args_t *args)
{
    int code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code);
    if (!client)
        return code;
    uint64_t since = args->since;
    bool first = true;
    while (true) {
        sbx_event_t **events = NULL;
        size_t count = 0;
        uint64_t next = since;
        bool truncated = false;
        sbx_error_t *error = NULL;
        if (sbx_client_replay (client, since, 1000, &events, &count, &next, &truncated, &error) != 0) {
            code = sbx_cli_fail (sbx_cli_where (args, client), &error);
            break;
        }
        if (first && truncated && count > 0)
            fprintf (stderr, "sbx: events up to seq %llu are no longer in the journal\n",
                     (unsigned long long) events [0]->seq - 1);
        first = false;
        for (size_t i = 0; i < count; i++)
            if (s_prefix_match (args, events [i]))
                s_print_event (args, events [i]);
        sbx_events_free (&events, count);
        if (count == 0 || next <= since)
            break;
        since = next;
    }
    fflush (stdout);
    sbx_client_destroy (&client);
    return code;
}

//  The history, then live events until Ctrl-C.
static int
s_follow (sbx_cli_args_t *args)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    const char **prefixes = (const char **) zmalloc ((size_t) (args->argc + 1) * sizeof (char *));
    for (int i = 0; i < args->argc; i++)
        prefixes [i] = args->argv [i];
    sbx_events_options_t settings = {
        .endpoints = args->endpoint, .events_endpoint = args->events_endpoint,
        .since = args->since, .prefixes = args->argc ? prefixes : NULL,
        .timeout_ms = sbx_cli_timeout_ms (args),
        .server_cert = args->server_cert, .cert = args->cert
    };
    sbx_error_t *error = NULL;
    sbx_events_t *events = sbx_events_new (&settings, &error);
    free (prefixes);
    if (!events)
        return sbx_cli_fail (sbx_cli_where (args, NULL), &error);
    int code = SBX_CLI_EXIT_OK;
    uint64_t lost = 0;
    while (!sbx_cli_interrupted ()) {
        sbx_event_t *event = sbx_events_next (events, -1, &error);
        if (sbx_events_lost (events) != lost) {
            fprintf (stderr, "sbx: %llu events were no longer in the journal\n",
                     (unsigned long long) (sbx_events_lost (events) - lost));
            lost = sbx_events_lost (events);
        }
        if (event) {
            s_print_event (args, event);
            sbx_event_destroy (&event);
        }
        else if (error) {
            //  Ctrl-C is how one stops following: not an error.
            if (sbx_error_is (error, SBX_INTERRUPTED))
                sbx_error_destroy (&error);
            else
                code = sbx_cli_fail (sbx_cli_where (args, NULL), &error);
            break;
        }
    }
    sbx_events_destroy (&events);
    return code;
}

static int
s_events (sbx_cli_args_t *args)
{
    return args->follow ? s_follow (args) : s_history (args);
}

static const sbx_cli_option_t s_options [] = {
    {"follow", 'f', NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (follow),
     "keep printing live events"},
    {"json", 0, NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (json),
     "JSON lines (the event log's form) instead of text"},
    {"no-time", 0, NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (no_time),
     "leave out the time column (the protocol's text form\n"
     "alone)"},
    {"since", 0, "N", SBX_CLI_SEQ, SBX_CLI_FIELD (since),
     "only events with seq > N (default 0: the whole journal)"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_events = {
    .name = "events",
    .synopsis = "[PREFIX...]",
    .about =
        "Prints the daemon's events, one line each, oldest first, after the local time\n"
        "of each (HH:MM:SS.mmm): every event still in its journal (from seq 1 unless\n"
        "the journal has dropped older ones), then, with --follow, the live ones as\n"
        "they happen until Ctrl-C. No event is missed or repeated: gaps in seq are\n"
        "filled from the journal. PREFIXes select event families by name (sandbox.,\n"
        "session., feature., environment., or a full name).",
    .options = s_options,
    .execute = s_events
};
