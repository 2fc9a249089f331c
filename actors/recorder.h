/*  sbx_recorder - the event bus's part of the metrics (docs/metrics.md):
    it reads every event the bus publishes, in seq order, and records what
    the event says in the registry (actors/metrics.h): a count per event
    name, the step's counter by its labels, and the step's duration.

    Durations come from the event's `duration_ns`, measured where the step
    ran; lifetimes (a sandbox's, a session's) from the times of two of a
    sandbox's events, stamped in its own thread. So the counters agree
    with the event log by construction, and the request path pays nothing
    for them: the bus runs on its own thread.

    It also keeps the gauges of the journal and of the connections to the
    events endpoint (which the bus counts).

    Part of the event bus actor: its thread only.
*/
#ifndef SBX_RECORDER_H
#define SBX_RECORDER_H

#include "actors/metrics.h"
#include "messages/event.h"

typedef struct sbx_recorder_t sbx_recorder_t;

//  A recorder into `metrics` (borrowed: it outlives the recorder) for
//  `config` (borrowed).
sbx_recorder_t *
    sbx_recorder_new (sbx_metrics_t *metrics, const sbx_config_t *config);
//  Frees the recorder and nulls *self_p.
void
    sbx_recorder_destroy (sbx_recorder_t **self_p);

//  Records one event: its kind and its encoded body (messages/event.h),
//  with `ts_ns` as it was stamped where the event happened.
void
    sbx_recorder_event (sbx_recorder_t *self, sbx_event_kind_t kind, const uint8_t *body, size_t size);
//  The journal now holds `events` events, `bytes` bytes.
void
    sbx_recorder_journal (sbx_recorder_t *self, uint64_t events, uint64_t bytes);

//  The events endpoint has `count` connections now.
void
    sbx_recorder_subscribers (sbx_recorder_t *self, uint64_t count);

#endif
