/*  sbx_frontend - the environment's request socket (PROTOCOL.md): a ROUTER
    that distrusts its input. It reads one client message at a time,
    checks its frames and size, decodes it (messages/request.h), checks
    what can be checked without the pool (session id form, a method that
    exists), and answers whatever is malformed itself (BadRequest,
    NotFound), so the environment only sees well-formed requests, as jobs
    whose kind says what they ask. It encodes and sends every reply, on
    the envelope its request came with; a token is checked against the
    pool here too.

    Two roles (docs/security.md):
    - SBX_FRONTEND_REQUESTS, the request endpoint: every op; with
      security.server_cert a CURVE server (ZAP domain SBX_AUTH_REQUESTS,
      actors/auth.h) whose jobs carry the client's key and role, read
      from each request's User-Id (trusted there only: without CURVE a
      peer may send a User-Id of its own). `shutdown` is refused (Unauthorized)
      unless the key is an admin's; a token is good only over a
      connection with the key that opened its session.
    - SBX_FRONTEND_ADMIN, the admin endpoint (endpoints.admin): an ipc://
      socket file of mode 0600, so only the daemon's user can connect.
      It takes `hello`, `status`, `stats` and `shutdown` (others are
      Unauthorized), and its jobs are an admin's.

    Part of the environment actor: used from its thread only; it never
    blocks (every send is ZMQ_DONTWAIT).
*/
#ifndef SBX_FRONTEND_H
#define SBX_FRONTEND_H

#include "actors/pool.h"
#include "actors/proto.h"
#include "messages/reply.h"
#include "runtime/core/poller.h"
#include "runtime/core/peers.h"

typedef struct sbx_frontend_t sbx_frontend_t;

typedef enum {
    SBX_FRONTEND_REQUESTS,      //  config->requests_endpoint
    SBX_FRONTEND_ADMIN          //  config->admin_endpoint
} sbx_frontend_role_t;

//  A frontend for `config` (borrowed, outlives it) in `role`; NULL when
//  its socket cannot be made (socket limit).
sbx_frontend_t *
    sbx_frontend_new (const sbx_config_t *config, sbx_frontend_role_t role);
void
    sbx_frontend_destroy (sbx_frontend_t **self_p);

//  Binds its endpoint (an admin socket file with mode 0600, replacing a
//  file left there). 0, or -1 with *error_p (caller frees).
int
    sbx_frontend_bind (sbx_frontend_t *self, char **error_p);
//  The endpoint as bound (a port chosen for `*` filled in).
const char *
    sbx_frontend_endpoint (sbx_frontend_t *self);
//  The raw socket, for the poller; then sbx_frontend_attach.
void *
    sbx_frontend_socket (sbx_frontend_t *self);
//  Every send marks the socket in `poller` (item `index`) as used.
void
    sbx_frontend_attach (sbx_frontend_t *self, sbx_poller_t *poller, int index);

//  Reads one message. Returns -1 when none is waiting; else 0, with *job_p
//  the request (caller owns it; kind set from its op: SBX_JOB_LOCAL for
//  ops the environment answers itself) or NULL when it was malformed and
//  has been answered here.
int
    sbx_frontend_recv (sbx_frontend_t *self, sbx_job_t **job_p);
//  Requests refused here as malformed, so far.
uint64_t
    sbx_frontend_bad_requests (sbx_frontend_t *self);
//  Replies not sent because their client's queue was full or it had gone.
uint64_t
    sbx_frontend_replies_dropped (sbx_frontend_t *self);

//  The request socket's connections (runtime/core/peers.h; its monitor
//  is to poll, then sbx_peers_handle). Among the disconnected, those
//  libzmq closed for a body over twice max_body_bytes, or a handshake not
//  done within 10 s; among the failed, a client without CURVE on a CURVE
//  socket (a key refused is the ZAP handler's to count). The admin role
//  has no monitor.
sbx_peers_t *
    sbx_frontend_peers (sbx_frontend_t *self);

//  Sends `body` to the client of `job` (nothing when it has no client).
void
    sbx_frontend_send (sbx_frontend_t *self, const sbx_job_t *job, const msgpack_sbuffer *body);
//  Replies with `error` (taken) and destroys the job.
void
    sbx_frontend_fail (sbx_frontend_t *self, sbx_job_t **job_p, sbx_error_t *error);

//  An events.replay may go to the bus (true, counted against its
//  connection), or not: its connection has 4 there already, or all
//  connections 64 (each answer holds up to events.replay_bytes). Then the
//  job is answered EnvironmentOverloadError and destroyed (false).
bool
    sbx_frontend_replay_take (sbx_frontend_t *self, sbx_job_t **job_p);
//  A replay came back from the bus (answered or not).
void
    sbx_frontend_replayed (sbx_frontend_t *self, const sbx_job_t *job);
//  Replies ok (no result keys) and destroys the job.
void
    sbx_frontend_ok (sbx_frontend_t *self, sbx_job_t **job_p);
//  Replies to a job a sandbox answered: its error, or its op's result;
//  `sandbox` and `token` for acquire and session.open.
void
    sbx_frontend_answer (sbx_frontend_t *self, sbx_job_t *job, const char *sandbox,
                         const char *token);
//  The local ops, answered; each destroys the job.
void
    sbx_frontend_hello (sbx_frontend_t *self, sbx_job_t **job_p, const char *env_status,
                        const char *events_endpoint);
void
    sbx_frontend_status (sbx_frontend_t *self, sbx_job_t **job_p, sbx_pool_t *pool,
                         const char *env_status, double uptime_s);
void
    sbx_frontend_stats (sbx_frontend_t *self, sbx_job_t **job_p, const sbx_stats_t *stats);

//  The slot the job's `sandbox` names when the job's token is its owner's
//  and came with the key that opened it, its lease renewed to
//  `lease_deadline`. Else the job is answered (NotFound, Unauthorized) and
//  destroyed, and NULL returned.
sbx_slot_t *
    sbx_frontend_owner (sbx_frontend_t *self, sbx_pool_t *pool, sbx_job_t **job_p,
                        int64_t lease_deadline);

#endif
