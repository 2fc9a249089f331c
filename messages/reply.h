/*  sbx_reply - replies of protocol v1: encoders for every op's result, and
    a generic decoder (for the client library and the tests) that keeps the
    reply map so any result key can be read.

    Every encoder writes one complete map into `out`: `id` (when has_id),
    `ok`, then the op's result keys, or `error` for failures.
*/
#ifndef SBX_REPLY_H
#define SBX_REPLY_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sbx/error.h>
#include "messages/status.h"

//  One feature for the `hello` reply.
typedef struct {
    const char *name;
    const char *kind;
    const char *const *methods;     //  NULL-terminated
} sbx_feature_info_t;

//  One sandbox row of the `status` reply.
typedef struct {
    const char *id;
    const char *status;
    const char *session_id;         //  NULL: omitted
    const sbx_error_t *const *state_errors;
    size_t state_error_count;
} sbx_sandbox_info_t;

//  One histogram summary of the `stats` reply's `metrics` map: every
//  series of a family together, quantiles estimated from its buckets.
typedef struct {
    const char *name;
    uint64_t count;
    double sum_s, p50_s, p90_s, p99_s;
} sbx_stats_histogram_t;

//  One gauge of the `stats` reply's `metrics` map.
typedef struct {
    const char *name;
    uint64_t value;
} sbx_stats_gauge_t;

typedef struct {
    uint64_t sandbox [SBX_STATUS_COUNT];    //  count per status, SPEC order
    uint64_t pool_min, pool_max, pool_size;
    uint64_t sessions_started, sessions_ended;
    uint64_t calls, calls_failed;
    uint64_t sandboxes_started, sandboxes_replaced;
    uint64_t acquires_waited, acquires_overloaded;
    uint64_t leases_expired, bad_requests;
    uint64_t acquires_refused;          //  more waiting than limits.waiting
    uint64_t calls_refused;             //  a sandbox owed limits.queued_per_sandbox
    uint64_t replies_dropped;           //  a client's queue was full (limits.client_hwm)
    uint64_t peers_disconnected;        //  connections closed, by either side
    uint64_t peers_refused;             //  handshakes refused: a key not listed, no CURVE,
                                        //  or a failed handshake
    uint64_t acquires_waiting;          //  now
    uint64_t peers_connected;           //  now
    //  With metrics on: the `metrics` map (docs/metrics.md); borrowed.
    const sbx_stats_histogram_t *histograms;
    size_t histogram_count;
    const sbx_stats_gauge_t *gauges;
    size_t gauge_count;
    const char *metrics_endpoint;       //  where they are served (NULL: omitted)
} sbx_stats_t;

void sbx_reply_error (msgpack_sbuffer *out, bool has_id, uint64_t id,
                      const sbx_error_t *error);
//  Success with no result keys (session.end, shutdown).
void sbx_reply_ok (msgpack_sbuffer *out, bool has_id, uint64_t id);
//  `events_endpoint`: where the server publishes events (sbx's addition
//  to PROTOCOL.md's hello, so clients need one endpoint only).
void sbx_reply_hello (msgpack_sbuffer *out, bool has_id, uint64_t id,
                      const char *version, const char *environment,
                      const char *status, const char *events_endpoint,
                      const sbx_feature_info_t *features, size_t feature_count,
                      const char *const *sandbox_methods);
//  A progress message of a streaming call (docs/protocol.md "Streaming"):
//  {id, stream, data} - no `ok`: it is not the reply, which comes after.
void sbx_reply_progress (msgpack_sbuffer *out, bool has_id, uint64_t id,
                         const char *stream, const void *data, size_t size);
void sbx_reply_acquire (msgpack_sbuffer *out, bool has_id, uint64_t id,
                        const char *sandbox, const char *token);
void sbx_reply_session_start (msgpack_sbuffer *out, bool has_id, uint64_t id,
                              const char *session_id);
void sbx_reply_session_open (msgpack_sbuffer *out, bool has_id, uint64_t id,
                             const char *sandbox, const char *token,
                             const char *session_id);
//  `result` is one raw msgpack object (NULL packs nil). `sandbox` and
//  `session_id` are added when non-NULL (ephemeral calls).
void sbx_reply_call (msgpack_sbuffer *out, bool has_id, uint64_t id,
                     const void *result, size_t result_size,
                     const char *sandbox, const char *session_id);
void sbx_reply_heartbeat (msgpack_sbuffer *out, bool has_id, uint64_t id,
                          uint64_t lease_ms);
//  `input` (docs/protocol.md "Input"): {id, ok, closed} - closed when
//  nothing took the data, nor will take more (the call has ended, or its
//  command no longer reads).
void sbx_reply_input (msgpack_sbuffer *out, bool has_id, uint64_t id, bool closed);
//  `isolation` (may be NULL: nil) is what the sandboxes run under.
void sbx_reply_status (msgpack_sbuffer *out, bool has_id, uint64_t id,
                       const char *environment, const char *env_status,
                       double uptime_s, const char *isolation,
                       const sbx_sandbox_info_t *sandboxes, size_t count);
void sbx_reply_stats (msgpack_sbuffer *out, bool has_id, uint64_t id,
                      const sbx_stats_t *stats);
//  `events` is `count` encoded event bodies laid end to end (`size` bytes).
//  `more`: the journal holds events after `next` that did not fit.
void sbx_reply_events (msgpack_sbuffer *out, bool has_id, uint64_t id,
                       const void *events, size_t size, size_t count,
                       uint64_t next, bool truncated, bool more);

//  A decoded reply. Caller owns it; free with sbx_reply_destroy.
typedef struct sbx_reply_t sbx_reply_t;

//  Decodes a reply body; NULL with *error_p (BadRequest) on bad input.
sbx_reply_t *
    sbx_reply_decode (const void *data, size_t size, sbx_error_t **error_p);
void
    sbx_reply_destroy (sbx_reply_t **self_p);
bool
    sbx_reply_has_id (const sbx_reply_t *self);
uint64_t
    sbx_reply_id (const sbx_reply_t *self);
bool
    sbx_reply_is_ok (const sbx_reply_t *self);
//  The error of a failed reply (owned by the reply), else NULL.
const sbx_error_t *
    sbx_reply_get_error (const sbx_reply_t *self);
//  Any key of the reply map (e.g. "result", "sandbox"), or NULL. Valid
//  while the reply lives.
const msgpack_object *
    sbx_reply_get (const sbx_reply_t *self, const char *key);
//  A str key as a C string owned by the reply, or NULL.
const char *
    sbx_reply_get_str (const sbx_reply_t *self, const char *key);
//  The whole reply map.
const msgpack_object *
    sbx_reply_map (const sbx_reply_t *self);

#endif
