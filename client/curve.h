/*  sbx_curve - a client's CURVE keys (internal; docs/security.md): the
    daemon's public key and the client's own key pair, loaded from czmq
    certificate files (zcert_load: the files `sbx keygen` and zcert_save
    write - NAME holds the public key, NAME_secret both), and set on every
    socket the client opens to the daemon: requests, heartbeats, events.

    A value: made once, read-only after, owned by the client or
    subscription that loaded it (the heartbeat actor gets its own copy).
*/
#ifndef SBX_CURVE_H
#define SBX_CURVE_H

#include <czmq.h>
#include <sbx/error.h>

typedef struct sbx_curve_t sbx_curve_t;

//  Loads `server_cert` (the daemon's public certificate; its secret one
//  works too) and `cert` (this client's secret certificate, or its public
//  name when NAME_secret lies beside it). Returns the keys (caller owns),
//  or NULL with *error_p (SBX_CERTIFICATE_ERROR naming the file).
sbx_curve_t *
    sbx_curve_load (const char *server_cert, const char *cert, sbx_error_t **error_p);

//  A copy (caller owns); NULL for NULL.
sbx_curve_t *
    sbx_curve_dup (const sbx_curve_t *self);

void
    sbx_curve_destroy (sbx_curve_t **self_p);

//  Makes `socket` a CURVE client of the daemon, before it connects.
//  Nothing when `self` is NULL.
void
    sbx_curve_apply (const sbx_curve_t *self, zsock_t *socket);

#endif
