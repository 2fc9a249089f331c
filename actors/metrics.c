/*  sbx_metrics - see metrics.h */
#include "actors/metrics.h"
#include "messages/event.h"
#include "messages/status.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

typedef enum { S_COUNTER, S_GAUGE, S_HISTOGRAM } s_type_t;
static const char *const s_type_names [] = {"counter", "gauge", "histogram"};

//  Label dimensions, in the order their labels are printed.
enum {
    D_FEATURE = 1 << 0,         //  feature
    D_METHOD  = 1 << 1,         //  feature (of the method) and method
    D_STATUS  = 1 << 2,         //  status (of a sandbox)
    D_STATE   = 1 << 3,         //  status (of the environment)
    D_EVENT   = 1 << 4,         //  event
    D_ERROR   = 1 << 5,         //  error
    S_DIMS    = 6
};

typedef struct {
    const char *name;
    s_type_t type;
    unsigned dims;
    const char *help;
} s_family_t;

#define S_FEATURE_HOOK(hook, text) \
    [SBX_METRIC_FEATURE_##hook] = {"sbx_feature_" text "_total", S_COUNTER, D_FEATURE | D_ERROR, \
                                   "Feature " text " hooks run (feature." text " events)"}
#define S_FEATURE_HOOK_SECONDS(hook, text) \
    [SBX_METRIC_FEATURE_##hook##_SECONDS] = {"sbx_feature_" text "_duration_seconds", S_HISTOGRAM, \
                                             D_FEATURE | D_ERROR, "Time a feature's " text " hook took"}

static const s_family_t s_families [SBX_METRIC_COUNT] = {
    [SBX_METRIC_EVENTS] = {"sbx_events_total", S_COUNTER, D_EVENT, "Events published, by name"},
    [SBX_METRIC_SANDBOX_START] = {"sbx_sandbox_start_total", S_COUNTER, D_ERROR,
        "Sandbox starts (sandbox.start events); error: why one failed"},
    [SBX_METRIC_SANDBOX_SHUTDOWN] = {"sbx_sandbox_shutdown_total", S_COUNTER, D_ERROR,
        "Sandbox shutdowns (sandbox.shutdown events)"},
    [SBX_METRIC_SESSION_START] = {"sbx_session_start_total", S_COUNTER, D_ERROR,
        "Sessions started, or that failed to (session.start events)"},
    [SBX_METRIC_SESSION_END] = {"sbx_session_end_total", S_COUNTER, D_ERROR,
        "Sessions ended (session.end events); error LeaseExpired: its lease lapsed"},
    [SBX_METRIC_CALLS] = {"sbx_calls_total", S_COUNTER, D_METHOD | D_ERROR,
        "Service calls in sessions (session.activity events), nested calls included"},
    S_FEATURE_HOOK (SETUP, "setup"),
    S_FEATURE_HOOK (TEARDOWN, "teardown"),
    S_FEATURE_HOOK (SETUP_SESSION, "setup_session"),
    S_FEATURE_HOOK (TEARDOWN_SESSION, "teardown_session"),
    S_FEATURE_HOOK (HOUSEKEEP, "housekeep"),
    [SBX_METRIC_SANDBOX_HOUSEKEEP] = {"sbx_sandbox_housekeep_total", S_COUNTER, D_ERROR,
        "Housekeeping runs of sandboxes (keepalive ping and the features due)"},
    [SBX_METRIC_SANDBOXES_REPLACED] = {"sbx_sandboxes_replaced_total", S_COUNTER, 0,
        "Pooled sandboxes brought up in place of one gone offline"},
    [SBX_METRIC_ACQUIRES_WAITED] = {"sbx_acquires_waited_total", S_COUNTER, 0,
        "Acquires that waited for a sandbox"},
    [SBX_METRIC_ACQUIRES_OVERLOADED] = {"sbx_acquires_overloaded_total", S_COUNTER, 0,
        "Acquires that waited in vain (EnvironmentOverloadError)"},
    [SBX_METRIC_ACQUIRES_REFUSED] = {"sbx_acquires_refused_total", S_COUNTER, 0,
        "Acquires refused at once: limits.waiting already waited"},
    [SBX_METRIC_CALLS_REFUSED] = {"sbx_calls_refused_total", S_COUNTER, 0,
        "Requests refused: their sandbox owed limits.queued_per_sandbox"},
    [SBX_METRIC_LEASES_EXPIRED] = {"sbx_leases_expired_total", S_COUNTER, 0,
        "Leases that lapsed (sessions ended, or acquired sandboxes shut down)"},
    [SBX_METRIC_BAD_REQUESTS] = {"sbx_bad_requests_total", S_COUNTER, 0,
        "Requests refused as malformed"},
    [SBX_METRIC_REPLIES_DROPPED] = {"sbx_replies_dropped_total", S_COUNTER, 0,
        "Replies dropped: their client's queue was full, or it had gone"},
    [SBX_METRIC_PEERS_DISCONNECTED] = {"sbx_peers_disconnected_total", S_COUNTER, 0,
        "Client connections closed, by either side"},
    [SBX_METRIC_PEERS_REFUSED] = {"sbx_peers_refused_total", S_COUNTER, 0,
        "Client handshakes that failed"},
    [SBX_METRIC_ENVIRONMENT_STATUS] = {"sbx_environment_status", S_GAUGE, D_STATE,
        "1 for the environment's status, 0 for the others"},
    [SBX_METRIC_SANDBOXES] = {"sbx_sandboxes", S_GAUGE, D_STATUS, "Sandboxes, by status"},
    [SBX_METRIC_POOL_SIZE] = {"sbx_pool_size", S_GAUGE, 0, "Sandboxes with an actor"},
    [SBX_METRIC_POOL_MIN] = {"sbx_pool_min", S_GAUGE, 0, "The pool's minimum (0: no pooling)"},
    [SBX_METRIC_POOL_MAX] = {"sbx_pool_max", S_GAUGE, 0, "The pool's maximum (0: no pooling)"},
    [SBX_METRIC_ACQUIRES_WAITING] = {"sbx_acquires_waiting", S_GAUGE, 0,
        "Acquires waiting for a sandbox"},
    [SBX_METRIC_PEERS_CONNECTED] = {"sbx_peers_connected", S_GAUGE, 0, "Client connections open"},
    [SBX_METRIC_SUBSCRIBERS] = {"sbx_subscribers", S_GAUGE, 0, "Connections to the events endpoint"},
    [SBX_METRIC_JOURNAL_EVENTS] = {"sbx_journal_events", S_GAUGE, 0, "Events kept for events.replay"},
    [SBX_METRIC_JOURNAL_BYTES] = {"sbx_journal_bytes", S_GAUGE, 0, "Bytes of the events kept"},
    [SBX_METRIC_ENVIRONMENT_START_SECONDS] = {"sbx_environment_start_duration_seconds", S_HISTOGRAM,
        D_ERROR, "Time from the environment's start to environment.start (the pool filled)"},
    [SBX_METRIC_ENVIRONMENT_SHUTDOWN_SECONDS] = {"sbx_environment_shutdown_duration_seconds",
        S_HISTOGRAM, D_ERROR, "Time from the shutdown's start to environment.shutdown"},
    [SBX_METRIC_SANDBOX_START_SECONDS] = {"sbx_sandbox_start_duration_seconds", S_HISTOGRAM, D_ERROR,
        "Time a sandbox's start took (backend, features, proactive session setup)"},
    [SBX_METRIC_SANDBOX_SHUTDOWN_SECONDS] = {"sbx_sandbox_shutdown_duration_seconds", S_HISTOGRAM,
        D_ERROR, "Time a sandbox's shutdown took (teardowns, backend)"},
    [SBX_METRIC_SANDBOX_LIFETIME_SECONDS] = {"sbx_sandbox_lifetime_seconds", S_HISTOGRAM, D_ERROR,
        "Time from a sandbox's first event to its sandbox.shutdown"},
    [SBX_METRIC_SANDBOX_STATUS_SECONDS] = {"sbx_sandbox_status_duration_seconds", S_HISTOGRAM, D_STATUS,
        "Time sandboxes spent in a status, observed as they leave it"},
    [SBX_METRIC_SESSION_START_SECONDS] = {"sbx_session_start_duration_seconds", S_HISTOGRAM, D_ERROR,
        "Time a session's start took (setup_session of the features not prepared)"},
    [SBX_METRIC_SESSION_END_SECONDS] = {"sbx_session_end_duration_seconds", S_HISTOGRAM, D_ERROR,
        "Time a session's end took until session.end (teardown_session of the features)"},
    [SBX_METRIC_SESSION_LIFETIME_SECONDS] = {"sbx_session_lifetime_seconds", S_HISTOGRAM, D_ERROR,
        "Time from session.start to session.end"},
    [SBX_METRIC_CALL_SECONDS] = {"sbx_call_duration_seconds", S_HISTOGRAM, D_METHOD | D_ERROR,
        "Time a service call took in its sandbox"},
    S_FEATURE_HOOK_SECONDS (SETUP, "setup"),
    S_FEATURE_HOOK_SECONDS (TEARDOWN, "teardown"),
    S_FEATURE_HOOK_SECONDS (SETUP_SESSION, "setup_session"),
    S_FEATURE_HOOK_SECONDS (TEARDOWN_SESSION, "teardown_session"),
    S_FEATURE_HOOK_SECONDS (HOUSEKEEP, "housekeep"),
    [SBX_METRIC_SANDBOX_HOUSEKEEP_SECONDS] = {"sbx_sandbox_housekeep_duration_seconds", S_HISTOGRAM,
        D_ERROR, "Time a sandbox's housekeeping run took"},
};

//  Bucket bounds: from 10 us (a call on the testing kind) to an hour (a
//  sandbox's lifetime), about three per decade.
#define S_BUCKETS 26
static const int64_t s_bounds_ns [S_BUCKETS] = {
    10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
    25000000, 50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000ll,
    5000000000ll, 10000000000ll, 30000000000ll, 60000000000ll, 120000000000ll,
    300000000000ll, 600000000000ll, 1800000000000ll, 3600000000000ll
};
static const char *const s_bounds_text [S_BUCKETS] = {
    "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
    "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120",
    "300", "600", "1800", "3600"
};
//  A histogram's values: the buckets (not cumulative), +Inf, then the sum.
#define S_HISTOGRAM_VALUES (S_BUCKETS + 2)

static const char *const s_state_names [] = {"created", "online", "shutting_down", "offline"};
#define S_STATES 4
#define S_ERRORS (SBX_METRICS_ERROR_TYPES + 2)     //  none, the types, other
#define S_ERROR_OTHER (SBX_METRICS_ERROR_TYPES + 1)
#define S_ERROR_NAME_MAX 64     //  bytes of an error type kept in its label

typedef _Atomic uint64_t s_value_t;

//  The environment's snapshot, in the order sbx_metrics_publish_stats
//  stores it: its series are found once, at sbx_metrics_new.
static const sbx_metric_t s_published [] = {
    SBX_METRIC_SANDBOXES_REPLACED, SBX_METRIC_ACQUIRES_WAITED, SBX_METRIC_ACQUIRES_OVERLOADED,
    SBX_METRIC_ACQUIRES_REFUSED, SBX_METRIC_CALLS_REFUSED, SBX_METRIC_LEASES_EXPIRED,
    SBX_METRIC_BAD_REQUESTS, SBX_METRIC_REPLIES_DROPPED, SBX_METRIC_PEERS_DISCONNECTED,
    SBX_METRIC_PEERS_REFUSED, SBX_METRIC_POOL_SIZE, SBX_METRIC_POOL_MIN, SBX_METRIC_POOL_MAX,
    SBX_METRIC_ACQUIRES_WAITING, SBX_METRIC_PEERS_CONNECTED
};
#define S_PUBLISHED (sizeof s_published / sizeof s_published [0])

struct sbx_metrics_t {
    const sbx_config_t *config;
    size_t sizes [S_DIMS];                  //  values per dimension
    _Atomic (s_value_t *) *cells [SBX_METRIC_COUNT];
    size_t cell_count [SBX_METRIC_COUNT];
    size_t method_count;                    //  methods of the features, then the sandbox's
    int *method_feature;                    //  by method label: its feature (-1: sandbox)
    const char **method_name;
    size_t *feature_methods;                //  feature i's first method label; [count]: the sandbox's
    _Atomic (char *) errors [SBX_METRICS_ERROR_TYPES];
    s_value_t *published [S_PUBLISHED];     //  the snapshot's series
    s_value_t *sandboxes [SBX_STATUS_COUNT];
    s_value_t *states [S_STATES];
};

static size_t
s_values (const s_family_t *family)
{
    return family->type == S_HISTOGRAM ? S_HISTOGRAM_VALUES : 1;
}

//  The label values of a series as one index into its family's cells;
//  -1 when one is out of range (nothing is recorded).
static long
s_index (sbx_metrics_t *self, const s_family_t *family, const sbx_metric_labels_t *labels)
{
    const int values [S_DIMS] = {labels->feature, labels->method, labels->status, labels->status,
                                 labels->event, labels->error};
    long index = 0;
    for (int d = 0; d < S_DIMS; d++)
        if (family->dims & (1u << d)) {
            if (values [d] < 0 || (size_t) values [d] >= self->sizes [d])
                return -1;
            index = index * (long) self->sizes [d] + values [d];
        }
    return index;
}

//  The reverse: the label values of cell `index`.
static void
s_labels_of (sbx_metrics_t *self, const s_family_t *family, size_t index, int values [S_DIMS])
{
    for (int d = S_DIMS - 1; d >= 0; d--) {
        values [d] = 0;
        if (family->dims & (1u << d)) {
            values [d] = (int) (index % self->sizes [d]);
            index /= self->sizes [d];
        }
    }
}

//  The values of a series, allocated and published on first use.
static s_value_t *
s_cell (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels)
{
    if ((unsigned) family >= SBX_METRIC_COUNT)
        return NULL;
    long index = s_index (self, &s_families [family], &labels);
    if (index < 0)
        return NULL;
    _Atomic (s_value_t *) *slot = &self->cells [family][index];
    s_value_t *cell = atomic_load_explicit (slot, memory_order_acquire);
    if (cell)
        return cell;
    size_t count = s_values (&s_families [family]);
    s_value_t *fresh = (s_value_t *) zmalloc (count * sizeof (s_value_t));
    for (size_t i = 0; i < count; i++)
        atomic_init (&fresh [i], 0);
    if (atomic_compare_exchange_strong_explicit (slot, &cell, fresh, memory_order_acq_rel,
                                                 memory_order_acquire))
        return fresh;
    free (fresh);           //  another thread published it first
    return cell;
}

sbx_metrics_t *
sbx_metrics_new (const sbx_config_t *config)
{
    sbx_metrics_t *self = (sbx_metrics_t *) zmalloc (sizeof (sbx_metrics_t));
    self->config = config;
    size_t features = config->feature_count;
    self->feature_methods = (size_t *) zmalloc ((features + 2) * sizeof (size_t));
    for (size_t f = 0; f <= features; f++) {
        const sbx_method_t *methods = f < features ? config->features [f].kind->methods
                                                   : config->sandbox_kind->methods;
        self->feature_methods [f] = self->method_count;
        for (size_t m = 0; methods && methods [m].name; m++)
            self->method_count++;
    }
    self->feature_methods [features + 1] = self->method_count;
    self->method_feature = (int *) zmalloc ((self->method_count + 1) * sizeof (int));
    self->method_name = (const char **) zmalloc ((self->method_count + 1) * sizeof (char *));
    for (size_t f = 0, at = 0; f <= features; f++) {
        const sbx_method_t *methods = f < features ? config->features [f].kind->methods
                                                   : config->sandbox_kind->methods;
        for (size_t m = 0; methods && methods [m].name; m++, at++) {
            self->method_feature [at] = f < features ? (int) f : -1;
            self->method_name [at] = methods [m].name;
        }
    }
    const size_t sizes [S_DIMS] = {features, self->method_count, SBX_STATUS_COUNT, S_STATES,
                                   SBX_EV_COUNT, S_ERRORS};
    memcpy (self->sizes, sizes, sizeof sizes);
    for (int i = 0; i < SBX_METRIC_COUNT; i++) {
        const s_family_t *family = &s_families [i];
        size_t count = 1;
        for (int d = 0; d < S_DIMS; d++)
            if (family->dims & (1u << d))
                count *= self->sizes [d];
        self->cell_count [i] = count;
        self->cells [i] = (_Atomic (s_value_t *) *) zmalloc ((count + 1) * sizeof (_Atomic (s_value_t *)));
        for (size_t c = 0; c < count; c++)
            atomic_init (&self->cells [i][c], NULL);
        //  Every series without an error exists from the start.
        for (size_t c = 0; c < count; c++) {
            int values [S_DIMS];
            s_labels_of (self, family, c, values);
            if (values [5] == 0) {
                sbx_metric_labels_t labels = {values [0], values [1], 0, values [2] | values [3], values [4]};
                s_cell (self, (sbx_metric_t) i, labels);
            }
        }
    }
    for (int e = 0; e < SBX_METRICS_ERROR_TYPES; e++)
        atomic_init (&self->errors [e], NULL);
    sbx_metric_labels_t none = {0};
    for (size_t i = 0; i < S_PUBLISHED; i++)
        self->published [i] = s_cell (self, s_published [i], none);
    for (int status = 0; status < SBX_STATUS_COUNT; status++)
        self->sandboxes [status] = s_cell (self, SBX_METRIC_SANDBOXES, (sbx_metric_labels_t) {.status = status});
    for (int state = 0; state < S_STATES; state++)
        self->states [state] = s_cell (self, SBX_METRIC_ENVIRONMENT_STATUS, (sbx_metric_labels_t) {.status = state});
    return self;
}

void
sbx_metrics_destroy (sbx_metrics_t **self_p)
{
    sbx_metrics_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < SBX_METRIC_COUNT; i++) {
        for (size_t c = 0; c < self->cell_count [i]; c++)
            free (atomic_load (&self->cells [i][c]));
        free (self->cells [i]);
    }
    for (int e = 0; e < SBX_METRICS_ERROR_TYPES; e++)
        free (atomic_load (&self->errors [e]));
    free (self->method_feature);
    free (self->method_name);
    free (self->feature_methods);
    free (self);
    *self_p = NULL;
}

//  --- Labels ---------------------------------------------------------------------

int
sbx_metrics_error (sbx_metrics_t *self, const char *type)
{
    if (!type)
        return 0;
    char name [S_ERROR_NAME_MAX + 1];
    size_t length = 0;
    for (const char *c = type; *c && length < sizeof name - 1; c++)
        name [length++] = (char) ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
                                  || (*c >= '0' && *c <= '9') || strchr ("_.:-", *c) ? *c : '_');
    name [length] = 0;
    if (length == 0)
        snprintf (name, sizeof name, "_");
    if (streq (name, "other"))
        return S_ERROR_OTHER;
    for (int e = 0; e < SBX_METRICS_ERROR_TYPES; e++) {
        char *known = atomic_load_explicit (&self->errors [e], memory_order_acquire);
        if (!known) {
            char *mine = strdup (name);
            if (!mine)
                abort ();
            if (atomic_compare_exchange_strong_explicit (&self->errors [e], &known, mine,
                                                         memory_order_acq_rel, memory_order_acquire))
                return e + 1;
            free (mine);        //  another thread took this place: `known` is its type
        }
        if (streq (known, name))
            return e + 1;
    }
    return S_ERROR_OTHER;
}

int
sbx_metrics_method (sbx_metrics_t *self, int feature, const char *name, size_t len)
{
    size_t f = feature < 0 ? self->config->feature_count : (size_t) feature;
    if (f > self->config->feature_count || !name)
        return -1;
    for (size_t m = self->feature_methods [f]; m < self->feature_methods [f + 1]; m++)
        if (strlen (self->method_name [m]) == len && memcmp (self->method_name [m], name, len) == 0)
            return (int) m;
    return -1;
}

//  --- Writing -----------------------------------------------------------------------

void
sbx_metrics_add (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels, uint64_t n)
{
    s_value_t *cell = s_cell (self, family, labels);
    if (cell)
        atomic_fetch_add_explicit (cell, n, memory_order_relaxed);
}

void
sbx_metrics_set (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels, uint64_t value)
{
    s_value_t *cell = s_cell (self, family, labels);
    if (cell)
        atomic_store_explicit (cell, value, memory_order_relaxed);
}

void
sbx_metrics_observe (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels,
                     int64_t duration_ns)
{
    if ((unsigned) family >= SBX_METRIC_COUNT || s_families [family].type != S_HISTOGRAM)
        return;
    s_value_t *cell = s_cell (self, family, labels);
    if (!cell)
        return;
    if (duration_ns < 0)
        duration_ns = 0;
    size_t bucket = 0;
    while (bucket < S_BUCKETS && duration_ns > s_bounds_ns [bucket])
        bucket++;
    atomic_fetch_add_explicit (&cell [bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&cell [S_BUCKETS + 1], (uint64_t) duration_ns, memory_order_relaxed);
}

//  Called once per wake-up of the environment, on its hot path: plain
//  stores into series found in advance (about 25 ns in all).
void
sbx_metrics_publish_stats (sbx_metrics_t *self, const sbx_stats_t *stats, int state)
{
    const uint64_t values [S_PUBLISHED] = {
        stats->sandboxes_replaced, stats->acquires_waited, stats->acquires_overloaded,
        stats->acquires_refused, stats->calls_refused, stats->leases_expired, stats->bad_requests,
        stats->replies_dropped, stats->peers_disconnected, stats->peers_refused, stats->pool_size,
        stats->pool_min, stats->pool_max, stats->acquires_waiting, stats->peers_connected
    };
    for (size_t i = 0; i < S_PUBLISHED; i++)
        atomic_store_explicit (self->published [i], values [i], memory_order_relaxed);
    for (int status = 0; status < SBX_STATUS_COUNT; status++)
        atomic_store_explicit (self->sandboxes [status], stats->sandbox [status], memory_order_relaxed);
    for (int s = 0; s < S_STATES; s++)
        atomic_store_explicit (self->states [s], s == state, memory_order_relaxed);
}

//  --- Reading -----------------------------------------------------------------------

//  A histogram's buckets made cumulative; returns the count (+Inf).
static uint64_t
s_cumulate (const s_value_t *cell, uint64_t cumulative [S_BUCKETS + 1])
{
    uint64_t total = 0;
    for (size_t b = 0; b <= S_BUCKETS; b++) {
        total += atomic_load_explicit (&cell [b], memory_order_relaxed);
        cumulative [b] = total;
    }
    return total;
}

uint64_t
sbx_metrics_value (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels)
{
    if ((unsigned) family >= SBX_METRIC_COUNT)
        return 0;
    const s_family_t *f = &s_families [family];
    const int wanted [S_DIMS] = {labels.feature, labels.method, labels.status, labels.status,
                                 labels.event, labels.error};
    uint64_t total = 0;
    for (size_t c = 0; c < self->cell_count [family]; c++) {
        s_value_t *cell = atomic_load_explicit (&self->cells [family][c], memory_order_acquire);
        if (!cell)
            continue;
        int values [S_DIMS];
        s_labels_of (self, f, c, values);
        bool match = true;
        for (int d = 0; d < S_DIMS && match; d++)
            match = !(f->dims & (1u << d)) || wanted [d] < 0 || wanted [d] == values [d];
        if (!match)
            continue;
        if (f->type == S_HISTOGRAM) {
            uint64_t cumulative [S_BUCKETS + 1];
            total += s_cumulate (cell, cumulative);
        }
        else
            total += atomic_load_explicit (cell, memory_order_relaxed);
    }
    return total;
}

//  Appends printf output to `out`.
static void
s_append (msgpack_sbuffer *out, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_append (msgpack_sbuffer *out, const char *format, ...)
{
    char line [1024];
    va_list args;
    va_start (args, format);
    int size = vsnprintf (line, sizeof line, format, args);
    va_end (args);
    if (size > 0)
        msgpack_sbuffer_write (out, line, (size_t) size < sizeof line ? (size_t) size : sizeof line - 1);
}

//  Appends `name="value"`, escaped as the text format asks, after `,`
//  unless it is the first label.
static void
s_label (char *labels, size_t size, const char *name, const char *value)
{
    size_t at = strlen (labels);
    at += (size_t) snprintf (labels + at, at < size ? size - at : 0, "%s%s=\"", at ? "," : "", name);
    for (const char *c = value; *c && at + 3 < size; c++) {
        if (*c == '\\' || *c == '"')
            labels [at++] = '\\', labels [at++] = *c;
        else
        if (*c == '\n')
            labels [at++] = '\\', labels [at++] = 'n';
        else
            labels [at++] = *c;
    }
    if (at + 1 < size)
        labels [at++] = '"';
    labels [at < size ? at : size - 1] = 0;
}

static void
s_render_series (sbx_metrics_t *self, msgpack_sbuffer *out, const s_family_t *family,
                 size_t index, const s_value_t *cell)
{
    int values [S_DIMS];
    s_labels_of (self, family, index, values);
    char labels [1024] = "";
    s_label (labels, sizeof labels, "environment", self->config->env_id);
    if (family->dims & D_FEATURE)
        s_label (labels, sizeof labels, "feature", self->config->features [values [0]].name);
    if (family->dims & D_METHOD) {
        int feature = self->method_feature [values [1]];
        s_label (labels, sizeof labels, "feature", feature < 0 ? "" : self->config->features [feature].name);
        s_label (labels, sizeof labels, "method", self->method_name [values [1]]);
    }
    if (family->dims & D_STATUS)
        s_label (labels, sizeof labels, "status", sbx_status_name ((sbx_status_t) values [2]));
    if (family->dims & D_STATE)
        s_label (labels, sizeof labels, "status", s_state_names [values [3]]);
    if (family->dims & D_EVENT)
        s_label (labels, sizeof labels, "event", sbx_event_kind_name ((sbx_event_kind_t) values [4]));
    if (family->dims & D_ERROR) {
        const char *error = "";
        if (values [5] == S_ERROR_OTHER)
            error = "other";
        else
        if (values [5] > 0) {
            //  Published before any series that carries it.
            error = atomic_load_explicit (&self->errors [values [5] - 1], memory_order_acquire);
            if (!error)
                return;
        }
        s_label (labels, sizeof labels, "error", error);
    }
    if (family->type != S_HISTOGRAM) {
        s_append (out, "%s{%s} %llu\n", family->name, labels,
                  (unsigned long long) atomic_load_explicit (cell, memory_order_relaxed));
        return;
    }
    uint64_t cumulative [S_BUCKETS + 1];
    uint64_t count = s_cumulate (cell, cumulative);
    uint64_t sum_ns = atomic_load_explicit (&cell [S_BUCKETS + 1], memory_order_relaxed);
    for (size_t b = 0; b < S_BUCKETS; b++)
        s_append (out, "%s_bucket{%s,le=\"%s\"} %llu\n", family->name, labels, s_bounds_text [b],
                  (unsigned long long) cumulative [b]);
    s_append (out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", family->name, labels, (unsigned long long) count);
    s_append (out, "%s_sum{%s} %.9f\n", family->name, labels, (double) sum_ns / 1e9);
    s_append (out, "%s_count{%s} %llu\n", family->name, labels, (unsigned long long) count);
}

char *
sbx_metrics_render (sbx_metrics_t *self, size_t *size_p)
{
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    char labels [512] = "";
    s_label (labels, sizeof labels, "environment", self->config->env_id);
    s_label (labels, sizeof labels, "version", SBX_VERSION);
    s_append (&out, "# HELP sbx_build_info The daemon's version\n# TYPE sbx_build_info gauge\n"
              "sbx_build_info{%s} 1\n", labels);
    for (int i = 0; i < SBX_METRIC_COUNT; i++) {
        const s_family_t *family = &s_families [i];
        s_append (&out, "# HELP %s %s\n# TYPE %s %s\n", family->name, family->help, family->name,
                  s_type_names [family->type]);
        for (size_t c = 0; c < self->cell_count [i]; c++) {
            s_value_t *cell = atomic_load_explicit (&self->cells [i][c], memory_order_acquire);
            if (cell)
                s_render_series (self, &out, family, c, cell);
        }
    }
    msgpack_sbuffer_write (&out, "", 1);        //  NUL-terminated, for callers that print it
    *size_p = out.size - 1;
    return msgpack_sbuffer_release (&out);
}

//  The value below which a fraction `q` of the observations fell, by
//  linear interpolation inside its bucket (as PromQL's
//  histogram_quantile); 0 without observations.
static double
s_quantile (const uint64_t cumulative [S_BUCKETS + 1], double q)
{
    uint64_t count = cumulative [S_BUCKETS];
    if (count == 0)
        return 0;
    double rank = q * (double) count;
    size_t b = 0;
    while (b < S_BUCKETS && (double) cumulative [b] < rank)
        b++;
    if (b == S_BUCKETS)
        return (double) s_bounds_ns [S_BUCKETS - 1] / 1e9;
    double lower = b ? (double) s_bounds_ns [b - 1] : 0;
    double below = b ? (double) cumulative [b - 1] : 0;
    double inside = (double) cumulative [b] - below;
    double at = inside > 0 ? (rank - below) / inside : 1;
    return (lower + ((double) s_bounds_ns [b] - lower) * at) / 1e9;
}

void
sbx_metrics_summarise (sbx_metrics_t *self, sbx_stats_t *stats,
                       sbx_stats_histogram_t *histograms, sbx_stats_gauge_t *gauges)
{
    size_t count = 0;
    for (int i = 0; i < SBX_METRIC_COUNT; i++) {
        const s_family_t *family = &s_families [i];
        if (family->type != S_HISTOGRAM)
            continue;
        uint64_t total [S_BUCKETS + 1] = {0};
        uint64_t sum_ns = 0;
        for (size_t c = 0; c < self->cell_count [i]; c++) {
            s_value_t *cell = atomic_load_explicit (&self->cells [i][c], memory_order_acquire);
            if (!cell)
                continue;
            uint64_t cumulative [S_BUCKETS + 1];
            s_cumulate (cell, cumulative);
            for (size_t b = 0; b <= S_BUCKETS; b++)
                total [b] += cumulative [b];
            sum_ns += atomic_load_explicit (&cell [S_BUCKETS + 1], memory_order_relaxed);
        }
        sbx_stats_histogram_t *h = &histograms [count++];
        h->name = family->name + 4;         //  without "sbx_"
        h->count = total [S_BUCKETS];
        h->sum_s = (double) sum_ns / 1e9;
        h->p50_s = s_quantile (total, 0.5);
        h->p90_s = s_quantile (total, 0.9);
        h->p99_s = s_quantile (total, 0.99);
    }
    const struct {
        const char *name;
        uint64_t value;
    } figures [] = {
        { "subscribers",      sbx_metrics_value (self, SBX_METRIC_SUBSCRIBERS, (sbx_metric_labels_t) {0}) },
        { "journal_events",   sbx_metrics_value (self, SBX_METRIC_JOURNAL_EVENTS, (sbx_metric_labels_t) {0}) },
        { "journal_bytes",    sbx_metrics_value (self, SBX_METRIC_JOURNAL_BYTES, (sbx_metric_labels_t) {0}) },
        { "acquires_waiting", stats->acquires_waiting },
        { "peers_connected",  stats->peers_connected },
    };
    size_t n = sizeof figures / sizeof figures [0];
    for (size_t i = 0; i < n; i++)
        gauges [i] = (sbx_stats_gauge_t) {figures [i].name, figures [i].value};
    stats->histograms = histograms;
    stats->histogram_count = count;
    stats->gauges = gauges;
    stats->gauge_count = n;
}
