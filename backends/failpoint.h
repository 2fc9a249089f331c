/*  sbx_failpoint - the fault-injection values of the testing kinds
    (SPEC §5): an error type ("ValueError": fail every time) or a term
    "N*off->TYPE" (succeed N times, then fail every time).

    A fail point made from the config is shared by every sandbox made from
    it, so its count is atomic; `configure` gives an instance its own. */
#ifndef SBX_FAILPOINT_H
#define SBX_FAILPOINT_H

#include <jansson.h>
#include <stdatomic.h>
#include <sbx/error.h>

typedef struct {
    char *type;             //  error type raised when it fires
    long pass;              //  calls that succeed first
    atomic_long calls;
} sbx_failpoint_t;

//  Parses a JSON value: null -> NULL with no error (never fails); a string
//  -> a fail point; anything else -> NULL and *error_p naming `path`.
sbx_failpoint_t *
    sbx_failpoint_parse (const json_t *value, const char *path, sbx_error_t **error_p);
void
    sbx_failpoint_destroy (sbx_failpoint_t **self_p);
//  Counts one call; returns the error to raise (caller owns it) or NULL.
//  Safe on a NULL fail point (never fires).
sbx_error_t *
    sbx_failpoint_hit (sbx_failpoint_t *self, const char *what);

#endif
