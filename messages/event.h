/*  sbx_event - lifecycle events (PROTOCOL.md "Events"): msgpack body,
    JSON-lines form, and the one-line text form.

    An encoded body is a map whose first keys are `seq`, always packed as a
    uint64 (0xcf + 8 bytes), and `ts_ns`, always an int64 (0xd3 + 8 bytes),
    at fixed offsets, so that the event bus can stamp the sequence number
    and keep the times in order without re-encoding the body
    (sbx_event_patch_seq, sbx_event_stamp_ts). Keys: seq, ts_ns, event, environment, then the
    kind's own keys (sandbox, old, new, feature, session, name, args), then
    duration_ns when the step was timed (docs/protocol.md), then error (nil
    when none).
*/
#ifndef SBX_EVENT_H
#define SBX_EVENT_H

#include <msgpack.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sbx/error.h>
#include <sbx/event.h>

//  Offset of the 8 big-endian bytes of `seq` inside an encoded body.
#define SBX_EVENT_SEQ_OFFSET 6

//  Offset of the 8 big-endian bytes of `ts_ns` inside an encoded body.
#define SBX_EVENT_TS_OFFSET 21

//  Appends the msgpack body of `event` to `out`.
void
    sbx_event_encode (const sbx_event_t *event, msgpack_sbuffer *out);

//  Writes `seq` into an encoded body in place.
void
    sbx_event_patch_seq (uint8_t *body, uint64_t seq);

//  Raises the body's `ts_ns` to `floor` when it is earlier, in place;
//  returns the body's ts_ns as it now is.
int64_t
    sbx_event_stamp_ts (uint8_t *body, int64_t floor);

//  The args of a session.activity event as published by default
//  (docs/protocol.md "Activity arguments"): packs a summary of `args` (a
//  map) into `out`. At the top level, the values of `data` and `stdin`
//  become their size in bytes and `env` its number of variables; anywhere,
//  a string over SBX_EVENT_ARG_MAX bytes keeps its first bytes and gains
//  " ... (N bytes)", and binary data over it becomes "<N bytes>". A summary
//  still over SBX_EVENT_ARGS_MAX bytes becomes {"args_bytes": N}.
#define SBX_EVENT_ARG_MAX 256
#define SBX_EVENT_ARGS_MAX 4096
void
    sbx_event_summarise_args (const msgpack_object *args, size_t args_size, msgpack_sbuffer *out);

//  Decodes a body (validated with sbx_mp_check first). Returns NULL and
//  sets *error_p (BadRequest, caller owns) on bad input. Caller owns the
//  event; free with sbx_event_destroy.
sbx_event_t *
    sbx_event_decode (const void *data, size_t size, sbx_error_t **error_p);

//  Parses the JSON form back; NULL with *error_p set on bad input.
sbx_event_t *
    sbx_event_from_json (const json_t *json, sbx_error_t **error_p);

#endif
