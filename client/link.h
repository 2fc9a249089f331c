/*  sbx_link - one request connection of the client library (internal).

    A DEALER socket connected to the first endpoint of a list that answers
    `hello`, and a synchronous request helper: each request carries a fresh
    `id`; replies with another id (late answers to requests that timed out
    earlier) are dropped. Not thread-safe: a link belongs to one thread at
    a time, like the client or subscription that owns it.

    Local error types (never sent by a server): SBX_UNREACHABLE when no
    endpoint answered, SBX_TIMEOUT when a reply did not come in time,
    SBX_INTERRUPTED when a signal interrupted the wait.
*/
#ifndef SBX_LINK_H
#define SBX_LINK_H

#include <czmq.h>
#include <jansson.h>
#include <sbx/client.h>
#include "client/curve.h"
#include "messages/request.h"
#include "messages/reply.h"

typedef struct sbx_link_t sbx_link_t;

//  Tries each endpoint of `endpoints` (comma-separated) in order: connect
//  (as a CURVE client with `curve`, unless NULL; borrowed), send `hello`,
//  wait `connect_timeout_ms` (<= 0: 2 s) for its reply. The first one that
//  answers is kept. Returns NULL with *error_p (Unreachable, or the
//  hello's error) when none did. Caller owns the link.
sbx_link_t *
    sbx_link_new (const char *endpoints, int connect_timeout_ms, const sbx_curve_t *curve,
                  sbx_error_t **error_p);

//  sbx_link_new with the CURVE keys of `server_cert` and `cert` when
//  either is given (sbx_curve_load), else without CURVE. Returns the link
//  and sets *curve_p to its keys (NULL: none); caller owns both. Returns
//  NULL with *error_p when the keys do not load or no endpoint answered.
sbx_link_t *
    sbx_link_open (const char *endpoints, int connect_timeout_ms, const char *server_cert,
                   const char *cert, sbx_curve_t **curve_p, sbx_error_t **error_p);

void
    sbx_link_destroy (sbx_link_t **self_p);

//  The endpoint that answered.
const char *
    sbx_link_endpoint (const sbx_link_t *self);

//  The hello reply's result keys as a JSON object (owned by the link).
const json_t *
    sbx_link_hello (const sbx_link_t *self);

//  Sends `request` (its id is set here) and waits up to `timeout_ms` (< 0:
//  forever) for the reply with the same id. Returns the reply (caller
//  owns; it may be an error reply) or NULL with *error_p set for a local
//  failure (Timeout, Interrupted, BadRequest when the reply was garbage).
sbx_reply_t *
    sbx_link_request (sbx_link_t *self, sbx_request_t *request, int timeout_ms,
                      sbx_error_t **error_p);

//  From now on, calls (op `call`) ask to stream when the daemon can
//  (sbx_link_can "stream"), and their progress messages go to `fn` as they
//  arrive, while the call waits for its reply. NULL: calls do not stream.
void
    sbx_link_set_output (sbx_link_t *self, sbx_output_fn *fn, void *arg);

//  From now on, calls in a session (op `call` with a `sandbox`) take
//  input as it comes when the daemon can (sbx_link_can "input"): while
//  they wait for their reply they read `fd` and send what it gives as
//  `input` requests, at most 4 unanswered, and its end (EOF) as theirs;
//  once the daemon answers one `closed` (nothing reads it any more), they
//  stop reading. -1: calls take no input.
void
    sbx_link_set_input (sbx_link_t *self, int fd);

//  True when the daemon's hello lists `capability` ("stream", ...).
bool
    sbx_link_can (const sbx_link_t *self, const char *capability);

//  Like sbx_link_request, and turns an error reply into *error_p (a copy
//  of the server's error): returns a successful reply or NULL.
sbx_reply_t *
    sbx_link_call (sbx_link_t *self, sbx_request_t *request, int timeout_ms,
                   sbx_error_t **error_p);

//  The result keys of a reply as a JSON object (without `id` and `ok`).
//  Caller owns the reference.
json_t *
    sbx_link_reply_json (const sbx_reply_t *reply);

//  Decodes the `events` of an events.replay reply (see sbx_client_replay
//  for the outputs). Returns 0, or -1 with *error_p on a malformed reply.
int
    sbx_client_decode_replay (const sbx_reply_t *reply, sbx_event_t ***events_p, size_t *count_p,
                              uint64_t *next_p, bool *truncated_p, sbx_error_t **error_p);

#endif
