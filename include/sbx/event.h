/*  sbx events - the lifecycle events of PROTOCOL.md "Events" as clients
    receive them (sbx_events_next in sbx/client.h): kinds, the decoded
    event, its JSON-lines form and its one-line text form.
*/
#ifndef SBX_EVENT_PUBLIC_H
#define SBX_EVENT_PUBLIC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sbx/error.h>

#ifdef __cplusplus
extern "C" {
#endif

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
    int64_t duration_ns;        //  how long the step the event ends took, on
                                //  the monotonic clock where it ran (the
                                //  `duration_ns` key, an sbx extension); 0:
                                //  not measured (a measured step takes >= 1)
} sbx_event_t;

//  The JSON-lines form: same keys as the body, `error` null when none.
//  Caller owns the reference.
json_t *
    sbx_event_to_json (const sbx_event_t *event);

//  Frees a decoded event and nulls the pointer. Only for events returned
//  by sbx_event_decode / sbx_event_from_json / sbx_events_next.
void
    sbx_event_destroy (sbx_event_t **self_p);

//  The text form of PROTOCOL.md, e.g. "[testing-env/0:0] created -> setting_up"
//  or "[testing-env/0:0/session1] shell: echo \"hello\"" (the `code` arg, else
//  the `cmd` arg, else None), with " with <type>" appended when there is an
//  error. No newline.
//  Caller frees the string.
char *
    sbx_event_text (const sbx_event_t *event);

#ifdef __cplusplus
}
#endif
#endif
