/*  sbx_metrics - the daemon's metrics registry (docs/metrics.md): counters,
    gauges and histograms of every lifecycle step, written where the steps
    happen and read by the scraper without stopping anyone.

    A registry holds the fixed set of families below. Each family has a
    fixed set of labels, and every label value is a small index: the
    configuration's features and methods, the sandbox statuses, the
    environment's states, the event kinds, and error types, interned on
    first sight (at most SBX_METRICS_ERROR_TYPES of them; later types are
    counted under `other`). The `environment` label is on every series.

    Nothing is locked. Every value is a C11 atomic: writers add or store
    with relaxed order, readers load. A series (one family's values for
    one set of label values) is allocated the first time it is written and
    published with one compare-and-swap, so a reader sees it whole or not
    at all, and a series once seen stays until the registry is destroyed.
    Series with no error (error="") exist from the start, so that a rate
    has a first point.

    Who writes what (docs/metrics.md): the event bus every figure derived
    from events (actors/recorder.h), sandbox actors their housekeeping
    runs, the environment a snapshot of its own counters and gauges once
    per wake-up (sbx_metrics_publish_stats). Any thread may read. The
    registry outlives every writer and reader: the environment creates it
    and destroys it after its children are joined and its scraper stopped.
*/
#ifndef SBX_METRICS_H
#define SBX_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "messages/reply.h"
#include "runtime/core/config.h"

//  Error types with a label of their own; the rest count as `other`.
#define SBX_METRICS_ERROR_TYPES 64

typedef enum {
    //  From events, recorded by the event bus.
    SBX_METRIC_EVENTS,                  //  {event}
    SBX_METRIC_SANDBOX_START,           //  {error}
    SBX_METRIC_SANDBOX_SHUTDOWN,        //  {error}
    SBX_METRIC_SESSION_START,           //  {error}
    SBX_METRIC_SESSION_END,             //  {error}
    SBX_METRIC_CALLS,                   //  {feature, method, error}
    SBX_METRIC_FEATURE_SETUP,           //  {feature, error}
    SBX_METRIC_FEATURE_TEARDOWN,
    SBX_METRIC_FEATURE_SETUP_SESSION,
    SBX_METRIC_FEATURE_TEARDOWN_SESSION,
    SBX_METRIC_FEATURE_HOUSEKEEP,
    //  Recorded by sandbox actors.
    SBX_METRIC_SANDBOX_HOUSEKEEP,       //  {error}
    //  The environment's own, published once per wake-up.
    SBX_METRIC_SANDBOXES_REPLACED,
    SBX_METRIC_ACQUIRES_WAITED,
    SBX_METRIC_ACQUIRES_OVERLOADED,
    SBX_METRIC_ACQUIRES_REFUSED,
    SBX_METRIC_CALLS_REFUSED,
    SBX_METRIC_LEASES_EXPIRED,
    SBX_METRIC_BAD_REQUESTS,
    SBX_METRIC_REPLIES_DROPPED,
    SBX_METRIC_PEERS_DISCONNECTED,
    SBX_METRIC_PEERS_REFUSED,
    SBX_METRIC_ENVIRONMENT_STATUS,      //  gauge {status: the environment's state}
    SBX_METRIC_SANDBOXES,               //  gauge {status}
    SBX_METRIC_POOL_SIZE,               //  gauges
    SBX_METRIC_POOL_MIN,
    SBX_METRIC_POOL_MAX,
    SBX_METRIC_ACQUIRES_WAITING,
    SBX_METRIC_PEERS_CONNECTED,
    //  The event bus's own gauges.
    SBX_METRIC_SUBSCRIBERS,
    SBX_METRIC_JOURNAL_EVENTS,
    SBX_METRIC_JOURNAL_BYTES,
    //  Durations (histograms), from events, recorded by the event bus.
    SBX_METRIC_ENVIRONMENT_START_SECONDS,       //  {error}
    SBX_METRIC_ENVIRONMENT_SHUTDOWN_SECONDS,    //  {error}
    SBX_METRIC_SANDBOX_START_SECONDS,           //  {error}
    SBX_METRIC_SANDBOX_SHUTDOWN_SECONDS,        //  {error}
    SBX_METRIC_SANDBOX_LIFETIME_SECONDS,        //  {error}
    SBX_METRIC_SANDBOX_STATUS_SECONDS,          //  {status}
    SBX_METRIC_SESSION_START_SECONDS,           //  {error}
    SBX_METRIC_SESSION_END_SECONDS,             //  {error}
    SBX_METRIC_SESSION_LIFETIME_SECONDS,        //  {error}
    SBX_METRIC_CALL_SECONDS,                    //  {feature, method, error}
    SBX_METRIC_FEATURE_SETUP_SECONDS,           //  {feature, error}
    SBX_METRIC_FEATURE_TEARDOWN_SECONDS,
    SBX_METRIC_FEATURE_SETUP_SESSION_SECONDS,
    SBX_METRIC_FEATURE_TEARDOWN_SESSION_SECONDS,
    SBX_METRIC_FEATURE_HOUSEKEEP_SECONDS,
    //  Recorded by sandbox actors.
    SBX_METRIC_SANDBOX_HOUSEKEEP_SECONDS,       //  {error}
    SBX_METRIC_COUNT
} sbx_metric_t;

typedef struct sbx_metrics_t sbx_metrics_t;

//  The label values of one series, as indexes; a family reads only its
//  own labels (see the enum).
typedef struct {
    int feature;        //  config->features index; -1: a service of the sandbox
    int method;         //  sbx_metrics_method (calls)
    int error;          //  sbx_metrics_error; 0: none
    int status;         //  sbx_status_t, or (ENVIRONMENT_STATUS) the
                        //  environment's state: created, online,
                        //  shutting_down, offline
    int event;          //  sbx_event_kind_t
} sbx_metric_labels_t;

//  A registry for `config` (borrowed; it outlives the registry), every
//  value 0. Never NULL (aborts when out of memory, as everywhere in sbx).
sbx_metrics_t *
    sbx_metrics_new (const sbx_config_t *config);
//  Frees it and nulls *self_p. No writer or reader may be left.
void
    sbx_metrics_destroy (sbx_metrics_t **self_p);

//  The error label of an error type (NULL: none, 0), interning it on first
//  sight. Characters other than letters, digits and `_.:-` become `_`, and
//  the type is cut at 64 bytes;
//  types beyond the first SBX_METRICS_ERROR_TYPES, and a type named
//  `other`, share the label `other`. Any thread; lock-free.
int
    sbx_metrics_error (sbx_metrics_t *self, const char *type);
//  The method label of `feature`'s method `name` (`len` bytes; feature -1:
//  the sandbox's own service), or -1 when the configuration has none.
int
    sbx_metrics_method (sbx_metrics_t *self, int feature, const char *name, size_t len);

//  Adds `n` to a counter. Any thread.
void
    sbx_metrics_add (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels, uint64_t n);
//  Sets a gauge (or a counter only one thread keeps). Any thread, but one
//  writer per series.
void
    sbx_metrics_set (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels, uint64_t value);
//  Observes a duration (ns; negative counts as 0) in a histogram. Any thread.
void
    sbx_metrics_observe (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels,
                         int64_t duration_ns);
//  A series' value (a histogram's count), summed over every series of
//  the family that matches `labels` where they are >= 0 (-1: any value).
//  For tests and the `stats` reply.
uint64_t
    sbx_metrics_value (sbx_metrics_t *self, sbx_metric_t family, sbx_metric_labels_t labels);

//  The environment's snapshot: its counters and gauges from `stats` (the
//  `stats` reply's figures), and its state (an index as for
//  ENVIRONMENT_STATUS). The environment's thread only.
void
    sbx_metrics_publish_stats (sbx_metrics_t *self, const sbx_stats_t *stats, int state);

//  The whole registry in the Prometheus text exposition format 0.0.4.
//  Caller frees the text; *size_p gets its length. Any thread; it reads
//  each value once, so a scrape taken while writers work is a moment of
//  each series, not of the registry.
char *
    sbx_metrics_render (sbx_metrics_t *self, size_t *size_p);

//  Summaries for the `stats` reply's `metrics` map: every histogram family
//  over all its series (count, sum and estimated quantiles), and the
//  gauges the `stats` reply has no key for. `histograms` and `gauges` are
//  filled up to SBX_METRIC_COUNT entries each; the names are static.
void
    sbx_metrics_summarise (sbx_metrics_t *self, sbx_stats_t *stats,
                           sbx_stats_histogram_t *histograms, sbx_stats_gauge_t *gauges);

#endif
