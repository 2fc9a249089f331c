/*  sbx_error - the one error value of sbx (SPEC.md §2, PROTOCOL.md replies).

    An error has a type (e.g. "SandboxStateError", "ValueError", "BadRequest"),
    a message, an optional sandbox id, and for the composite errors
    (FeatureTeardownError, SessionTeardownError) an ordered map
    feature name -> error. It is used everywhere: plugin hooks return it,
    actors pass it between threads (single owner), the codec puts it on the
    wire. Functions returning `sbx_error_t *` return NULL for success.

    Not thread-safe; an error belongs to one thread at a time.
*/
#ifndef SBX_ERROR_H
#define SBX_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sbx_error_t sbx_error_t;

#define SBX_STATE_ERROR            "SandboxStateError"
#define SBX_FEATURE_TEARDOWN_ERROR "FeatureTeardownError"
#define SBX_SESSION_TEARDOWN_ERROR "SessionTeardownError"
#define SBX_OUTAGE_ERROR           "EnvironmentOutageError"
#define SBX_OVERLOAD_ERROR         "EnvironmentOverloadError"
#define SBX_BAD_REQUEST            "BadRequest"
#define SBX_NOT_FOUND              "NotFound"
#define SBX_UNAUTHORIZED           "Unauthorized"
#define SBX_TIMEOUT                "Timeout"
#define SBX_LEASE_EXPIRED          "LeaseExpired"
#define SBX_SHUTDOWN_TIMEOUT       "ShutdownTimeout"

//  Creates an error with a printf-formatted message. Caller owns the result.
//  Over-long messages are truncated at 4 KiB. Never returns NULL (aborts on
//  out-of-memory, like czmq).
sbx_error_t *
    sbx_error_new (const char *type, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Destroys the error and its sub-errors; nulls the pointer. Safe on NULL.
void
    sbx_error_destroy (sbx_error_t **self_p);

//  Deep copy. Caller owns the result. NULL in, NULL out.
sbx_error_t *
    sbx_error_dup (const sbx_error_t *self);

const char *
    sbx_error_type (const sbx_error_t *self);
const char *
    sbx_error_message (const sbx_error_t *self);
//  The sandbox the error happened in, or NULL.
const char *
    sbx_error_sandbox (const sbx_error_t *self);
void
    sbx_error_set_sandbox (sbx_error_t *self, const char *sandbox);

//  Appends `feature -> *sub_p` to the composite map; takes ownership of the
//  sub-error and nulls *sub_p.
void
    sbx_error_add (sbx_error_t *self, const char *feature, sbx_error_t **sub_p);
//  Number of entries in the composite map, and entry i (feature name and
//  error; NULL past the end).
size_t
    sbx_error_count (const sbx_error_t *self);
const sbx_error_t *
    sbx_error_at (const sbx_error_t *self, size_t index, const char **feature_p);

//  True when the error is a SandboxStateError (the sandbox is broken).
bool
    sbx_error_is_state (const sbx_error_t *self);
//  True for every other type (a user error, SPEC §2).
bool
    sbx_error_is_user (const sbx_error_t *self);
//  True when the error, or any entry of its composite map, is a user error.
bool
    sbx_error_has_user (const sbx_error_t *self);
//  True when the type equals `type`.
bool
    sbx_error_is (const sbx_error_t *self, const char *type);

#ifdef __cplusplus
}
#endif
#endif
