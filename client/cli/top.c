/*  sbx top - a live full-screen view of the environment (ncurses): one
    status and one stats at start, the event journal for the times and
    rates, then the live events; it never polls the sandboxes. With the
    daemon's metrics on, it asks for the stats every few seconds: the
    rates and percentiles it shows are then the metrics' (docs/cli.md). */
#include "cli.h"

#include <czmq.h>
#include <curses.h>
#include <locale.h>
#include <time.h>

#define S_RATE_WINDOW 10        //  seconds
#define S_BUCKETS 16
#define S_STATS_MS 2000         //  how often the stats (the metrics) are asked for

typedef struct {
    char *id;
    char *status;
    char *session;
    int64_t since_ns;           //  when it entered `status`; 0: unknown
    size_t state_errors;
    char *last_error;           //  "Type: message" of the latest error event
    bool refresh;               //  ask status {sandbox} for its state errors
} s_row_t;

typedef struct {
    int64_t second;
    unsigned count;
} s_bucket_t;

typedef struct {
    sbx_client_t *client;
    zhashx_t *rows;             //  sandbox id -> s_row_t
    char *env_id;
    char *env_status;
    int64_t env_started_ns;     //  0: unknown
    double uptime_s;            //  from the status at start
    int64_t started_mono;       //  when top read that status
    json_t *pool;               //  {min, max, size} from stats at start
    s_bucket_t sessions [S_BUCKETS];
    s_bucket_t calls [S_BUCKETS];
    uint64_t last_seq;
    uint64_t history_seq;       //  events up to here were history at start
    uint64_t events_seen;
    char *problem;              //  last error talking to the daemon
    json_t *histograms;         //  the last stats' metrics (NULL: metrics off)
    double calls_counted;       //  their calls and session starts counted, at
    double sessions_counted;
    int64_t counted_at;         //  this zclock_mono
    double call_rate, session_rate;     //  between the last two stats; < 0: none yet
    int64_t next_stats;
} s_top_t;

static void
s_row_destroy (void **item_p)
{
    s_row_t *row = (s_row_t *) *item_p;
    if (!row)
        return;
    free (row->id);
    free (row->status);
    free (row->session);
    free (row->last_error);
    free (row);
    *item_p = NULL;
}

static void
s_set (char **field, const char *value)
{
    free (*field);
    *field = value ? strdup (value) : NULL;
}

static s_row_t *
s_top_row (s_top_t *self, const char *id)
{
    s_row_t *row = (s_row_t *) zhashx_lookup (self->rows, id);
    if (!row) {
        row = (s_row_t *) zmalloc (sizeof (s_row_t));
        row->id = strdup (id);
        row->status = strdup ("created");
        zhashx_insert (self->rows, id, row);
    }
    return row;
}

static void
s_count (s_bucket_t *buckets, int64_t ts_ns)
{
    int64_t second = ts_ns / 1000000000;
    s_bucket_t *bucket = &buckets [second % S_BUCKETS];
    if (bucket->second != second) {
        bucket->second = second;
        bucket->count = 0;
    }
    bucket->count++;
}

static double
s_rate (const s_bucket_t *buckets, int64_t now_ns)
{
    int64_t now = now_ns / 1000000000;
    unsigned total = 0;
    for (size_t i = 0; i < S_BUCKETS; i++)
        if (buckets [i].second > now - S_RATE_WINDOW && buckets [i].second <= now)
            total += buckets [i].count;
    return (double) total / S_RATE_WINDOW;
}

//  The count of a histogram of the metrics.
static double
s_metric_count (const json_t *histograms, const char *name)
{
    return (double) json_integer_value (json_object_get (json_object_get (histograms, name), "count"));
}

//  Takes the figures of one stats reply: the pool, and with metrics on the
//  histograms and the rates since the stats before.
static void
s_top_stats (s_top_t *self, const json_t *stats)
{
    json_decref (self->pool);
    self->pool = json_incref (json_object_get (stats, "pool"));
    const json_t *histograms = json_object_get (json_object_get (stats, "metrics"), "histograms");
    if (!histograms)
        return;
    int64_t now = zclock_mono ();
    double calls = s_metric_count (histograms, "call_duration_seconds");
    double sessions = s_metric_count (histograms, "session_start_duration_seconds");
    if (self->histograms && now > self->counted_at) {
        self->call_rate = (calls - self->calls_counted) * 1000.0 / (double) (now - self->counted_at);
        self->session_rate = (sessions - self->sessions_counted) * 1000.0 / (double) (now - self->counted_at);
    }
    json_decref (self->histograms);
    self->histograms = json_incref ((json_t *) histograms);
    self->calls_counted = calls;
    self->sessions_counted = sessions;
    self->counted_at = now;
}

//  "name p50 X p99 Y" of a histogram of the metrics, into `text`.
static void
s_percentiles (char *text, size_t size, const json_t *histograms, const char *name, const char *label)
{
    const json_t *histogram = json_object_get (histograms, name);
    char p50 [32], p99 [32];
    sbx_cli_seconds (p50, sizeof p50, json_integer_value (json_object_get (histogram, "count"))
                     ? json_number_value (json_object_get (histogram, "p50_s")) : -1);
    sbx_cli_seconds (p99, sizeof p99, json_integer_value (json_object_get (histogram, "count"))
                     ? json_number_value (json_object_get (histogram, "p99_s")) : -1);
    size_t used = strlen (text);
    snprintf (text + used, size - used, "%s%s p50 %s p99 %s", used ? "   " : "", label, p50, p99);
}

//  Seeds the model from one status.
static void
s_top_seed (s_top_t *self, const json_t *status)
{
    const json_t *environment = json_object_get (status, "environment");
    s_set (&self->env_id, sbx_cli_str (environment, "id", "?"));
    s_set (&self->env_status, sbx_cli_str (environment, "status", "?"));
    self->uptime_s = json_number_value (json_object_get (environment, "uptime_s"));
    self->started_mono = zclock_mono ();
    size_t i;
    json_t *json;
    json_array_foreach (json_object_get (status, "sandboxes"), i, json) {
        const char *id = sbx_cli_str (json, "id", NULL);
        if (!id)
            continue;
        s_row_t *row = s_top_row (self, id);
        s_set (&row->status, sbx_cli_str (json, "status", "?"));
        s_set (&row->session, sbx_cli_str (json, "session_id", NULL));
        row->state_errors = json_array_size (json_object_get (json, "state_errors"));
    }
}

static void
s_top_apply (s_top_t *self, const sbx_event_t *event)
{
    self->last_seq = event->seq;
    self->events_seen++;
    //  sandbox.shutdown is a sandbox's last event: its row goes.
    if (event->kind == SBX_EV_SANDBOX_SHUTDOWN) {
        if (event->sandbox)
            zhashx_delete (self->rows, event->sandbox);
        return;
    }
    s_row_t *row = event->sandbox ? s_top_row (self, event->sandbox) : NULL;
    switch (event->kind) {
        case SBX_EV_ENVIRONMENT_START:
            s_set (&self->env_status, event->error ? "offline" : "online");
            self->env_started_ns = event->ts_ns;
            break;
        case SBX_EV_ENVIRONMENT_SHUTDOWN:
            s_set (&self->env_status, "offline");
            break;
        case SBX_EV_SANDBOX_STATUS:
            if (row) {
                s_set (&row->status, event->new_status);
                row->since_ns = event->ts_ns;
            }
            break;
        case SBX_EV_SESSION_START:
            if (row && !event->error)
                s_set (&row->session, event->session);
            if (!event->error)
                s_count (self->sessions, event->ts_ns);
            break;
        case SBX_EV_SESSION_END:
            if (row)
                s_set (&row->session, NULL);
            break;
        case SBX_EV_SESSION_ACTIVITY:
            s_count (self->calls, event->ts_ns);
            break;
        default:
            break;
    }
    if (row && event->error) {
        char text [300];
        snprintf (text, sizeof text, "%s: %s", sbx_error_type (event->error), sbx_error_message (event->error));
        s_set (&row->last_error, text);
        //  The state errors only the daemon knows exactly: ask about this
        //  one sandbox once its events have been applied.
        row->refresh = event->seq > self->history_seq;
    }
}

//  Asks `status {sandbox}` for rows whose errors changed.
static void
s_top_refresh (s_top_t *self)
{
    for (s_row_t *row = (s_row_t *) zhashx_first (self->rows); row;
         row = (s_row_t *) zhashx_next (self->rows)) {
        if (!row->refresh)
            continue;
        row->refresh = false;
        sbx_error_t *error = NULL;
        json_t *status = sbx_client_status (self->client, row->id, &error);
        json_t *json = json_array_get (json_object_get (status, "sandboxes"), 0);
        if (json)
            row->state_errors = json_array_size (json_object_get (json, "state_errors"));
        json_decref (status);
        sbx_error_destroy (&error);         //  NotFound: it is gone already
    }
}

static int
s_compare_rows (const void *a, const void *b)
{
    const s_row_t *x = *(const s_row_t *const *) a, *y = *(const s_row_t *const *) b;
    return strcmp (x->id, y->id);
}

static int64_t
s_wall_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

//  Draws `text` on row `y`, cut to the screen's width; `fill` pads it
//  with spaces to the full width (for a highlighted bar). Never writes
//  past the last column, where curses would wrap to the next row.
static void
s_line (int y, const char *text, bool fill)
{
    int width = COLS;
    if (y >= LINES || width <= 0)
        return;
    char row [512];
    snprintf (row, sizeof row, "%-*.*s", fill ? MIN (width, (int) sizeof row - 1) : 0,
              MIN (width, (int) sizeof row - 1), text);
    mvaddnstr (y, 0, row, width);
}

static void
s_top_draw (s_top_t *self)
{
    int64_t now_ns = s_wall_ns ();
    erase ();
    int width = COLS;
    char uptime [32];
    double up = self->env_started_ns > 0 ? (double) (now_ns - self->env_started_ns) / 1e9
                                         : self->uptime_s + (double) (zclock_mono () - self->started_mono) / 1000.0;
    sbx_cli_duration (uptime, sizeof uptime, up);
    char text [512];
    snprintf (text, sizeof text, "sbx top - %s - %s - up %s - %s", self->env_id, self->env_status, uptime,
              sbx_client_endpoint (self->client));
    attron (A_BOLD);
    s_line (0, text, false);
    attroff (A_BOLD);
    //  The key hint only where it does not cover the title.
    if ((int) strlen (text) + 10 <= width)
        mvaddstr (0, width - 8, "q: quit");
    size_t size = zhashx_size (self->rows);
    //  The metrics' rates once there are two stats to compare, else the
    //  events' over the last S_RATE_WINDOW seconds.
    bool measured = self->histograms && self->call_rate >= 0;
    snprintf (text, sizeof text, "pool: min %lld max %lld size %zu   sessions/s %.1f   calls/s %.1f   seq %llu",
              (long long) json_integer_value (json_object_get (self->pool, "min")),
              (long long) json_integer_value (json_object_get (self->pool, "max")), size,
              measured ? self->session_rate : s_rate (self->sessions, now_ns),
              measured ? self->call_rate : s_rate (self->calls, now_ns),
              (unsigned long long) self->last_seq);
    s_line (1, text, false);
    if (self->histograms) {
        *text = 0;
        s_percentiles (text, sizeof text, self->histograms, "call_duration_seconds", "call");
        s_percentiles (text, sizeof text, self->histograms, "session_start_duration_seconds", "session start");
        s_percentiles (text, sizeof text, self->histograms, "sandbox_start_duration_seconds", "sandbox start");
        s_line (2, text, false);
    }
    if (self->problem) {
        snprintf (text, sizeof text, "daemon: %s", self->problem);
        s_line (3, text, false);
    }
    s_row_t **rows = (s_row_t **) zmalloc ((size + 1) * sizeof (s_row_t *));
    size_t n = 0;
    for (s_row_t *row = (s_row_t *) zhashx_first (self->rows); row;
         row = (s_row_t *) zhashx_next (self->rows))
        rows [n++] = row;
    qsort (rows, n, sizeof (s_row_t *), s_compare_rows);
    //  76 columns before the last error: an 80-column terminal holds it.
    snprintf (text, sizeof text, "%-22s %-13s %-18s %-9s %s", "SANDBOX", "STATUS", "SESSION", "IN STATUS",
              "STATE ERRS");
    attron (A_REVERSE);
    s_line (4, text, true);
    attroff (A_REVERSE);
    for (size_t i = 0; i < n && (int) i + 5 < LINES; i++) {
        char since [32] = "?";
        if (rows [i]->since_ns > 0)
            sbx_cli_duration (since, sizeof since, (double) (now_ns - rows [i]->since_ns) / 1e9);
        snprintf (text, sizeof text, "%-22.22s %-13s %-18.18s %-9s %zu%s%s", rows [i]->id, rows [i]->status,
                  rows [i]->session ? rows [i]->session : "-", since, rows [i]->state_errors,
                  rows [i]->last_error ? "  last: " : "", rows [i]->last_error ? rows [i]->last_error : "");
        s_line ((int) i + 5, text, false);
    }
    free (rows);
    refresh ();
}

//  Frees what the view holds.
static void
s_top_free (s_top_t *self)
{
    json_decref (self->pool);
    json_decref (self->histograms);
    zhashx_destroy (&self->rows);
    free (self->env_id);
    free (self->env_status);
    free (self->problem);
    sbx_client_destroy (&self->client);
}

//  Reads the snapshot (the seq it stands at, one stats, one status) and
//  subscribes to the events from the start of the journal, for the
//  times in status and the rates. Returns the subscription (caller
//  owns), or NULL with *error_p set.
static sbx_events_t *
s_top_start (s_top_t *self, const sbx_cli_args_t *args, sbx_error_t **error_p)
{
    self->rows = zhashx_new ();
    zhashx_set_destructor (self->rows, s_row_destroy);
    //  The seq before the status: events after it update the snapshot.
    sbx_event_t **none = NULL;
    size_t none_count = 0;
    json_t *stats = NULL, *status = NULL;
    if (sbx_client_replay (self->client, INT64_MAX, 1, &none, &none_count, &self->history_seq, NULL, error_p) == 0
    &&  (stats = sbx_client_stats (self->client, error_p))
    &&  (status = sbx_client_status (self->client, NULL, error_p))) {
        self->call_rate = self->session_rate = -1;
        s_top_stats (self, stats);
        self->next_stats = zclock_mono () + S_STATS_MS;
        s_top_seed (self, status);
    }
    sbx_events_free (&none, none_count);
    json_decref (stats);
    json_decref (status);
    if (*error_p)
        return NULL;
    sbx_events_options_t settings = {
        .endpoints = sbx_client_endpoint (self->client), .events_endpoint = args->events_endpoint,
        .since = 0, .timeout_ms = sbx_cli_timeout_ms (args),
        .server_cert = args->server_cert, .cert = args->cert
    };
    return sbx_events_new (&settings, error_p);
}

//  Follows the events and draws the screen until q or Ctrl-C.
static void
s_top_run (s_top_t *self, sbx_events_t *events)
{
    setlocale (LC_ALL, "");
    initscr ();
    cbreak ();
    noecho ();
    nodelay (stdscr, TRUE);
    keypad (stdscr, TRUE);
    curs_set (0);
    int64_t drawn = 0;
    bool dirty = true, quit = false;
    sbx_error_t *error = NULL;
    while (!quit && !sbx_cli_interrupted ()) {
        //  Everything waiting, then the screen.
        sbx_event_t *event = sbx_events_next (events, dirty ? 0 : 200, &error);
        for (int n = 0; event && n < 10000; n++) {
            s_top_apply (self, event);
            sbx_event_destroy (&event);
            dirty = true;
            event = sbx_events_next (events, 0, &error);
        }
        sbx_event_destroy (&event);
        if (error && sbx_error_is (error, SBX_INTERRUPTED)) {
            //  A signal is how one stops top: nothing to blame.
            sbx_error_destroy (&error);
            quit = true;
        }
        if (error) {
            char text [300];
            snprintf (text, sizeof text, "%s: %s", sbx_error_type (error), sbx_error_message (error));
            s_set (&self->problem, text);
            sbx_error_destroy (&error);
            dirty = true;
        }
        s_top_refresh (self);
        if (self->histograms && zclock_mono () >= self->next_stats) {
            json_t *stats = sbx_client_stats (self->client, &error);
            if (stats)
                s_top_stats (self, stats);
            json_decref (stats);
            sbx_error_destroy (&error);     //  the events say when the daemon is gone
            self->next_stats = zclock_mono () + S_STATS_MS;
            dirty = true;
        }
        int key;
        while ((key = getch ()) != ERR)
            if (key == 'q' || key == 'Q')
                quit = true;
            else if (key == KEY_RESIZE || key == 12)    //  Ctrl-L
                dirty = true;
        if (dirty || zclock_mono () - drawn >= 1000) {
            s_top_draw (self);
            drawn = zclock_mono ();
            dirty = false;
        }
    }
    endwin ();
}

static int
s_top (sbx_cli_args_t *args)
{
    if (args->json)
        return sbx_cli_usage_error ("top", "--json does not apply to top (see sbx status --json)");
    if (args->argc > 0)
        return sbx_cli_unexpected (args, 0);
    if (!isatty (STDOUT_FILENO))
        return sbx_cli_usage_error ("top", "needs a terminal (use sbx status or sbx events for pipes)");
    int code = SBX_CLI_EXIT_OK;
    s_top_t self = {0};
    self.client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code);
    if (!self.client)
        return code;
    sbx_error_t *error = NULL;
    sbx_events_t *events = s_top_start (&self, args, &error);
    if (events) {
        s_top_run (&self, events);
        sbx_events_destroy (&events);
    }
    else
    if (sbx_error_is (error, SBX_INTERRUPTED))
        sbx_error_destroy (&error);
    else
        code = sbx_cli_fail (sbx_cli_where (args, self.client), &error);
    s_top_free (&self);
    //  Ctrl-C, SIGTERM, SIGHUP: quietly, with 128 + the signal.
    return sbx_cli_interrupted () ? sbx_cli_interrupted_code () : code;
}

static const sbx_cli_option_t s_options [] = {
    //  Taken only to say where --json is.
    {"json", 0, NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (json), NULL},
    {NULL}
};

const sbx_cli_command_t sbx_cli_top = {
    .name = "top",
    .synopsis = "",
    .about =
        "A live full-screen view of the environment: its status, the pool's bounds and\n"
        "size, session and call rates (over the last 10 s), and one row per sandbox\n"
        "(status, session, time in that status, state errors). It reads one status and\n"
        "the event journal at start, then follows the events; it does not poll the\n"
        "sandboxes. Keys: q quits (exit 0); Ctrl-C exits 130, SIGTERM 143.",
    .options = s_options,
    .execute = s_top
};
