/*  sbx_event - lifecycle events (PROTOCOL.md "Events"): msgpack body,
    JSON-lines form, and the one-line text form.

    An encoded body is a map whose first key is `seq`, always packed as a
    uint64 (0xcf + 8 bytes) at a fixed offset, so that the event bus can
    stamp the sequence number in place without re-encoding the body
    (sbx_event_patch_seq). Keys: seq, ts_ns, event, environment, then the
    kind's own keys (sandbox, old, new, feature, session, name, args), then
    error (nil when none).
*/
#ifndef SBX_EVENT_H
#define SBX_EVENT_H

#include <msgpack.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sbx/error.h>

typedef enum {
    SBX_EV_ENVIRONMENT_START,
    SBX_EV_ENVIRONMENT_SHUTDOWN,
    SBX_EV_SANDBOX_START,
    SBX_EV_SANDBOX_SHUTDOWN,
    SBX_EV_SANDBOX_STATUS,
    SBX_EV_FEATURE_SETUP,
    SBX_EV_FEATURE_TEARDOWN,
    SBX_EV_FEATURE_HOUSEKEEP,
    SBX_EV_FEATURE_SETUP_SESSION,
    SBX_EV_FEATURE_TEARDOWN_SESSION,
    SBX_EV_SESSION_START,
    SBX_EV_SESSION_END,
    SBX_EV_SESSION_ACTIVITY,
    SBX_EV_COUNT
} sbx_event_kind_t;

//  Wire name ("sandbox.status"); NULL when out of range.
const char *
    sbx_event_kind_name (sbx_event_kind_t kind);
//  Kind for a wire name; -1 when unknown.
int
    sbx_event_kind_parse (const char *name, size_t len);

//  An event. For encoding, fields are borrowed from the caller; a decoded
//  event (sbx_event_decode, sbx_event_from_json) owns them and is freed
//  with sbx_event_destroy. Absent/nil strings are NULL.
typedef struct {
    sbx_event_kind_t kind;
    uint64_t seq;
    int64_t ts_ns;
    const char *environment;
    const char *sandbox;        //  sandbox.*, feature.*, session.*
    const char *old_status;     //  sandbox.status
    const char *new_status;     //  sandbox.status
    const char *feature;        //  feature.*, session.activity (NULL: sandbox service)
    const char *session;        //  session.*, feature.*_session (NULL: proactive)
    const char *name;           //  session.activity: the method
    const uint8_t *args;        //  session.activity: raw msgpack map
    size_t args_size;
    const sbx_error_t *error;   //  NULL: no error
} sbx_event_t;

//  Offset of the 8 big-endian bytes of `seq` inside an encoded body.
#define SBX_EVENT_SEQ_OFFSET 6

//  Appends the msgpack body of `event` to `out`.
void
    sbx_event_encode (const sbx_event_t *event, msgpack_sbuffer *out);

//  Writes `seq` into an encoded body in place.
void
    sbx_event_patch_seq (uint8_t *body, uint64_t seq);

//  Decodes a body (validated with sbx_mp_check first). Returns NULL and
//  sets *error_p (BadRequest, caller owns) on bad input. Caller owns the
//  event; free with sbx_event_destroy.
sbx_event_t *
    sbx_event_decode (const void *data, size_t size, sbx_error_t **error_p);

//  The JSON-lines form: same keys as the body, `error` null when none.
//  Caller owns the reference.
json_t *
    sbx_event_to_json (const sbx_event_t *event);
//  Parses the JSON form back; NULL with *error_p set on bad input.
sbx_event_t *
    sbx_event_from_json (const json_t *json, sbx_error_t **error_p);

//  Frees a decoded event and nulls the pointer. Only for events returned
//  by sbx_event_decode / sbx_event_from_json.
void
    sbx_event_destroy (sbx_event_t **self_p);

//  The text form of PROTOCOL.md, e.g. "[testing-env/0:0] created -> setting_up"
//  or "[testing-env/0:0/session1] shell: echo \"hello\"" (the `code` arg, or
//  None), with " with <type>" appended when there is an error. No newline.
//  Caller frees the string.
char *
    sbx_event_text (const sbx_event_t *event);

#endif
