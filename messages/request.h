/*  sbx_request - requests of protocol v1 (PROTOCOL.md "Operations").

    One flat struct for every op: the keys an op does not use stay absent.
    The decoder checks the size limit first, then runs sbx_mp_check (depth,
    counts, UTF-8) before unpacking, so hostile bodies cost no more than
    their own size. Every failure is a BadRequest naming the offending key
    or byte offset. Unknown keys are ignored; nil counts as absent.
*/
#ifndef SBX_REQUEST_H
#define SBX_REQUEST_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sbx/error.h>

typedef enum {
    SBX_OP_HELLO,
    SBX_OP_ACQUIRE,
    SBX_OP_SESSION_START,
    SBX_OP_SESSION_OPEN,
    SBX_OP_CALL,
    SBX_OP_SESSION_END,
    SBX_OP_HEARTBEAT,
    SBX_OP_STATUS,
    SBX_OP_STATS,
    SBX_OP_EVENTS_REPLAY,
    SBX_OP_SHUTDOWN,
    SBX_OP_INPUT,
    SBX_OP_COUNT
} sbx_op_t;

//  Wire name of an op ("session.open"), or NULL when out of range.
const char *
    sbx_op_name (sbx_op_t op);
//  Op for a wire name; returns -1 when unknown.
int
    sbx_op_parse (const char *name, size_t len);

typedef struct {
    size_t max_body_bytes;      //  bodies above this are refused undecoded
    unsigned max_depth;         //  nesting limit (SBX_MP_MAX_DEPTH; 0: default)
} sbx_limits_t;

//  16 MiB bodies, SBX_MP_MAX_DEPTH nesting.
#define SBX_LIMITS_DEFAULT { 16u * 1024 * 1024, 32 }

typedef struct {
    sbx_op_t op;
    bool has_id;
    uint64_t id;
    char *sandbox;              //  NULL when absent
    char *token;
    char *session_id;
    char *feature;
    char *method;
    uint8_t *args;              //  raw msgpack map, NULL when absent
    size_t args_size;
    bool has_timeout;
    uint64_t timeout_ms;
    bool has_since;
    uint64_t since;
    bool has_max;
    uint64_t max;
    bool stream;                //  call: send progress messages before the reply
    bool input;                 //  call: takes `input` requests while it runs
    bool has_call;              //  input: the id of the call it feeds
    uint64_t call;
    uint8_t *data;              //  input: bytes (bin or str; NULL when absent)
    size_t data_size;
    bool eof;                   //  input: no more after this one
} sbx_request_t;

//  Decodes one request body into `req` (zeroed first). Returns NULL on
//  success, else a BadRequest error (caller owns it). Even on failure,
//  `req->has_id`/`req->id` are set when the body held a valid `id`, so the
//  error reply can echo it. Call sbx_request_reset afterwards in both cases.
//  Required keys: `op`; `sandbox` for session.start, session.end,
//  heartbeat and input; `method` for call; `since` for events.replay;
//  `call` for input; `id` for a call with `input: true` (its input names
//  it).
sbx_error_t *
    sbx_request_decode (const void *data, size_t size,
                        const sbx_limits_t *limits, sbx_request_t *req);

//  Frees what the request holds and zeroes it. Safe to call twice.
void
    sbx_request_reset (sbx_request_t *req);

//  Encodes a request (the keys that are present) into `out`.
void
    sbx_request_encode (const sbx_request_t *req, msgpack_sbuffer *out);

#endif
