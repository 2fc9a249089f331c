/*  sbx_auth - the daemon's ZAP handler (ZeroMQ RFC 27): who may finish a
    handshake on the request and event sockets, and as whom.

    Both sockets always ask it (their ZAP domains, SBX_AUTH_REQUESTS and
    SBX_AUTH_EVENTS): first, a connection past limits.peers is refused
    (sbx_auth_set_full says when), so that connections held open cannot
    take the descriptors the sandboxes need; the refusal is logged and
    counted like a key's. Without keys (the NULL mechanism) any other
    connection is accepted, with no User-Id.

    With security.server_cert set (docs/security.md) the request ROUTER
    and the event XPUB are CURVE servers, with the ZAP domains
    SBX_AUTH_REQUESTS and SBX_AUTH_EVENTS. For each handshake libzmq asks
    the handler bound at inproc://zeromq.zap.01 - this class, a REP socket
    - about the client's public key:
    - a key in security.admins: accepted, User-Id "admin:<key>";
    - a key in security.clients: accepted, User-Id "worker:<key>";
    - any other: refused (status 400). The refusal is logged with the
      key's first characters, the peer's address and the socket, at most
      S_LOG_BURST lines a minute (then a count of those not logged), and
      counted (sbx_auth_refused, the `peers_refused` counter of `stats`).
    <key> is the 40-character Z85 text of the public key. The frontend
    reads the User-Id of each request (zmq_msg_gets "User-Id") and keeps
    role and key on the job (sbx_auth_peer), to bind tokens to keys and
    to allow admin ops.

    Each directory's keys are held in a czmq zcertstore, loaded here and
    reloaded when the directory changed (as zcertstore does with its own
    directory, whose loader aborts on a key found twice): a certificate
    added or removed counts from the next handshake on, without a restart.

    Part of the environment actor: used from its thread only, never
    blocks. It must be bound before any CURVE socket of the process is:
    libzmq lets a CURVE handshake through unchecked when no handler is
    bound.
*/
#ifndef SBX_AUTH_H
#define SBX_AUTH_H

#include "runtime/core/config.h"

#include <stdbool.h>
#include <stdint.h>

#define SBX_AUTH_REQUESTS "sbx-requests"
#define SBX_AUTH_EVENTS "sbx-events"

typedef struct sbx_auth_t sbx_auth_t;

//  A handler for config's security section (borrowed; outlives it). NULL
//  when its socket cannot be made.
sbx_auth_t *
    sbx_auth_new (const sbx_config_t *config);
void
    sbx_auth_destroy (sbx_auth_t **self_p);

//  What says that the sockets hold as many connections as they may:
//  `full (arg)` is asked at each handshake on either socket. NULL (the
//  default): never full.
typedef bool (sbx_auth_full_fn) (void *arg);
void
    sbx_auth_set_full (sbx_auth_t *self, sbx_auth_full_fn *full, void *arg);

//  Loads the certificate stores (with keys) and binds inproc://zeromq.zap.01. 0, or
//  -1 with *error_p (caller frees).
int
    sbx_auth_bind (sbx_auth_t *self, char **error_p);

//  The raw REP socket, for the poller.
void *
    sbx_auth_socket (sbx_auth_t *self);

//  Answers one ZAP request: 0, or -1 when none is waiting.
int
    sbx_auth_handle (sbx_auth_t *self);

//  Handshakes refused so far, on both sockets: keys not listed, and
//  connections past the limit.
uint64_t
    sbx_auth_refused (sbx_auth_t *self);

//  Splits a User-Id this handler gave ("admin:<key>", "worker:<key>"):
//  copies the key into `key` (41 bytes) and says whether it is an
//  admin's. NULL or anything else: key "" and not an admin.
void
    sbx_auth_peer (const char *user_id, char *key, bool *admin);

#endif
