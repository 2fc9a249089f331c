/*  sbx_environment - see environment.h; SPEC §4 and PROTOCOL.md.

    A thin loop over four parts:
    - the frontend (actors/frontend.h): requests in, replies out;
    - the pool (actors/pool.h): slots, waiters, owners, retries, outage;
      told what happened, it answers with actions, carried out here
      (s_carry_out);
    - the sandbox actors: jobs out, answers and notices in, over the
      backend ROUTERs;
    - its own lifecycle: the table s_lifecycle, {state, event} -> action.
    Events (its own and the sandboxes') go to the event bus in order, in
    batches.

    Over 800 lines on purpose: what is left here is the one thread that
    owns every socket of the environment - its lifecycle table, the
    routing of requests to the pool and the sandboxes, the timers, and
    the bring-up and teardown of its children (frontend, supervisor, bus,
    metrics, auth) in an order their sockets need. Each part reads and
    changes the same private struct; split, it would have to be exposed.
    Anything with rules of its own lives in its own class (frontend.c,
    pool.c, auth.c, metrics.c, eventbus.c, supervisor.c).
*/
#include "actors/environment.h"
#include "actors/auth.h"
#include "actors/eventbus.h"
#include "actors/frontend.h"
#include "actors/metrics.h"
#include "actors/metrics_http.h"
#include "actors/pool.h"
#include "actors/proto.h"
#include "actors/supervisor.h"
#include "messages/ids.h"
#include "messages/reply.h"
#include "runtime/core/actor.h"
#include "runtime/core/log.h"
#include "runtime/core/poller.h"

#include <limits.h>
#include <malloc.h>
#include <sys/eventfd.h>
#include <string.h>

#define S_SHARD 64              //  sandboxes per backend ROUTER
#define S_DRAIN 256             //  messages handled per socket per wake-up
//  Events wait in a batch and go to the bus at most S_FLUSH_EVENTS at a
//  time or S_FLUSH_MS after the first one waited, and always before
//  anything that reads the journal: one wake-up of the bus per batch.
#define S_FLUSH_EVENTS 512
#define S_FLUSH_MS 1

//  The sockets the loop polls, by index.
enum { S_ITEM_PIPE, S_ITEM_FRONTEND, S_ITEM_MONITOR, S_ITEM_SUPERVISOR, S_ITEM_EVENTBUS, S_ITEM_BACKENDS };

typedef enum { S_CREATED, S_ONLINE, S_SHUTTING_DOWN, S_OFFLINE, S_STATE_COUNT } s_state_t;
static const char *const s_state_names [] = {"created", "online", "shutting_down", "offline"};
_Static_assert (sizeof s_state_names / sizeof s_state_names [0] == S_STATE_COUNT, "a name per state");

typedef enum {
    E_FILLED,                   //  the pool has started its min sandboxes
    E_START_FAILED,             //  a user error while it filled
    E_RETRYING,                 //  a bring-up failed and will be retried
    E_OUTAGE,                   //  no sandbox within the grace period
    E_SHUTDOWN,                 //  asked to shut down (op, signal)
    E_DRAINED,                  //  closed, and every actor is gone
    E_EVENT_COUNT
} s_event_t;

typedef struct {
    zsock_t *pipe;
    const sbx_config_t *config;
    bool terminated;
    s_state_t state;
    bool shutdown_deferred;     //  asked to shut down while the pool fills
    bool stopping;              //  sbxd was told STOPPING
    int exit_code;
    int64_t started_at;

    sbx_frontend_t *frontend;
    sbx_frontend_t *admin;      //  the admin endpoint, or NULL
    sbx_auth_t *auth;           //  the ZAP handler
    sbx_peers_t subscribers;    //  the event socket's connections (counted by
                                //  the bus, read here)
    int item_admin, item_auth;  //  their poller items (-1: none)
    sbx_pool_t *pool;
    sbx_ids_t *ids;
    zsock_t **backends;         //  ROUTERs, sandbox actors: slot i talks to
    char **backend_endpoints;   //  backends [i % shards]. A ROUTER finds a
    unsigned shards;            //  departing peer by walking all of them,
                                //  so each serves S_SHARD sandboxes at most
    sbx_poller_t *poller;       //  the sockets by S_ITEM_*
    char *events_endpoint;      //  as bound (for hello)
    int shutdown_fd;            //  eventfd, written once at shutdown; each
                                //  sandbox polls it while it waits
    sbx_actor_t *eventbus_actor;
    sbx_actor_t *supervisor_actor;
    zsock_t *eventbus;          //  their pipes
    zsock_t *supervisor;

    sbx_error_t *shutdown_error;//  first user error a sandbox's shutdown returned
                                //  during the environment's shutdown (SPEC §4)
    int64_t next_lease_check;
    int64_t next_stats;
    int64_t next_timer;         //  earliest of the timers
    int64_t flush_at;           //  when waiting events go to the bus (0: none)
    int64_t next_trim;          //  malloc_trim after a client went, not before
    uint64_t sessions_started, sessions_ended, calls, calls_failed;
    uint64_t calls_refused;     //  their sandbox owed limits.queued_per_sandbox
    sbx_evbatch_t *events;      //  waiting for the bus, in order
    sbx_metrics_t *metrics;     //  NULL: metrics off (docs/metrics.md)
    sbx_metrics_http_t *metrics_http;
    int64_t started_us;         //  zclock_usecs of START, and of the
    int64_t stopping_us;        //  shutdown's beginning (0: none yet)
} self_t;

static void s_carry_out (self_t *self);

static int64_t
s_ms (double seconds)
{
    return (int64_t) (seconds * 1000.0 + 0.5);
}

static int64_t
s_lease_deadline (self_t *self, int64_t now)
{
    return now + s_ms (self->config->session_lease_s);
}

//  --- Events ------------------------------------------------------------------

static void
s_flush_events (self_t *self)
{
    if (self->events->count == 0)
        return;
    zsock_send (self->eventbus, "sp", "EVENTS", self->events);
    sbx_poller_touch (self->poller, S_ITEM_EVENTBUS);
    self->events = sbx_evbatch_new ();
    self->flush_at = 0;
}

static void
s_events_added (self_t *self)
{
    if (self->events->count >= S_FLUSH_EVENTS)
        s_flush_events (self);
    else
    if (!self->flush_at) {
        self->flush_at = zclock_mono () + S_FLUSH_MS;
        if (self->flush_at < self->next_timer)
            self->next_timer = self->flush_at;
    }
}

static void
s_emit (self_t *self, sbx_event_kind_t kind, const sbx_error_t *error)
{
    //  duration_ns: how long the start, or the shutdown, took.
    int64_t since = kind == SBX_EV_ENVIRONMENT_START ? self->started_us : self->stopping_us;
    int64_t duration = since ? (zclock_usecs () - since) * 1000 : 0;
    sbx_event_t event = {.kind = kind, .environment = self->config->env_id, .error = error,
                         .duration_ns = since ? (duration > 0 ? duration : 1) : 0};
    sbx_evbatch_add (self->events, &event);
    s_events_added (self);
}

//  Takes a sandbox's events, in order after everything already waiting.
static void
s_forward_events (self_t *self, sbx_job_t *job)
{
    if (!job->events)
        return;
    if (self->events->count == 0) {
        sbx_evbatch_destroy (&self->events);
        self->events = job->events;
    }
    else {
        msgpack_sbuffer_write (&self->events->buffer, job->events->buffer.data,
                               job->events->buffer.size);
        self->events->count += job->events->count;
        sbx_evbatch_destroy (&job->events);
    }
    job->events = NULL;
    s_events_added (self);
}

//  --- Lifecycle: {state, event} -> action ---------------------------------------

typedef void (s_action_fn) (self_t *self, const sbx_error_t *error);

static void s_execute (self_t *self, s_event_t event, const sbx_error_t *error);

//  Tells every sandbox that the environment is going away: whatever one is
//  waiting for (a command, say) is cut short rather than waited out.
static void
s_signal_shutdown (self_t *self)
{
    if (self->shutdown_fd >= 0 && eventfd_write (self->shutdown_fd, 1) != 0)
        sbx_log_error (self->config->env_id, "cannot signal the shutdown to sandboxes: %s",
                       strerror (errno));
}

//  Tells sbxd, once, that a shutdown has begun or waits to (its
//  shutdown_timeout_s runs from here).
static void
s_stopping (self_t *self)
{
    if (self->stopping)
        return;
    self->stopping = true;
    zstr_send (self->pipe, "STOPPING");
    sbx_poller_touch (self->poller, S_ITEM_PIPE);
}

//  Waiters fail with `message`, every sandbox shuts down; E_DRAINED follows.
static void
s_begin_shutdown (self_t *self, const char *message)
{
    sbx_log_info (self->config->env_id, "environment shutting down");
    self->state = S_SHUTTING_DOWN;
    if (!self->stopping_us)
        self->stopping_us = zclock_usecs ();
    s_stopping (self);
    s_signal_shutdown (self);
    sbx_pool_close (self->pool, message);
}

static void
s_shut_down (self_t *self, const sbx_error_t *error)
{
    s_begin_shutdown (self, "the environment is shutting down");
}

static void
s_go_online (self_t *self, const sbx_error_t *error)
{
    self->state = S_ONLINE;
    sbx_log_info (self->config->env_id, "environment online");
    s_emit (self, SBX_EV_ENVIRONMENT_START, NULL);
    int64_t now = zclock_mono ();
    sbx_pool_open (self->pool, now);
    self->next_timer = now;
    if (self->shutdown_deferred)
        s_execute (self, E_SHUTDOWN, NULL);
}

//  The start fails with `error`: environment.start says so, then shutdown.
static void
s_start_failed (self_t *self, const sbx_error_t *error)
{
    self->exit_code = 1;
    s_emit (self, SBX_EV_ENVIRONMENT_START, error);
    s_begin_shutdown (self, "the environment is shutting down");
}

//  An outage takes the environment offline (SPEC §4.3); it is reported by
//  environment.start (while starting) or to the requests that meet it,
//  never on environment.shutdown.
static void
s_outage (self_t *self, const sbx_error_t *error)
{
    sbx_log_error (self->config->env_id, "%s", sbx_error_message (error));
    self->exit_code = 1;
    if (self->state == S_CREATED)
        s_emit (self, SBX_EV_ENVIRONMENT_START, error);
    s_begin_shutdown (self, sbx_error_message (error));
}

//  Asked to stop while the pool cannot fill: the start fails.
static void
s_retrying_while_created (self_t *self, const sbx_error_t *error)
{
    if (self->shutdown_deferred) {
        s_emit (self, SBX_EV_ENVIRONMENT_START, error);
        s_begin_shutdown (self, "the environment is shutting down");
    }
}

//  The start finishes first, so that every environment.start has its
//  environment.shutdown; unless it is stuck retrying.
static void
s_shutdown_while_created (self_t *self, const sbx_error_t *error)
{
    if (!sbx_pool_retrying (self->pool)) {
        self->shutdown_deferred = true;
        s_stopping (self);
        return;
    }
    sbx_error_t *outage = sbx_error_new (SBX_OUTAGE_ERROR, "environment %s was shut down "
                                         "before its pool could start", self->config->env_id);
    s_emit (self, SBX_EV_ENVIRONMENT_START, outage);
    sbx_error_destroy (&outage);
    s_begin_shutdown (self, "the environment is shutting down");
}

static void
s_go_offline (self_t *self, const sbx_error_t *error)
{
    self->state = S_OFFLINE;
    s_emit (self, SBX_EV_ENVIRONMENT_SHUTDOWN, self->shutdown_error);
    s_flush_events (self);
    sbx_log_info (self->config->env_id, "environment offline");
    zsock_send (self->pipe, "si", "DONE", self->exit_code);
    sbx_poller_touch (self->poller, S_ITEM_PIPE);
}

static void
s_nothing (self_t *self, const sbx_error_t *error)
{
}

//  An empty cell is an event that cannot happen in that state: a bug.
static s_action_fn *const s_lifecycle [S_STATE_COUNT][E_EVENT_COUNT] = {
    [S_CREATED] = {
        [E_FILLED]       = s_go_online,
        [E_START_FAILED] = s_start_failed,
        [E_RETRYING]     = s_retrying_while_created,
        [E_OUTAGE]       = s_outage,
        [E_SHUTDOWN]     = s_shutdown_while_created,
    },
    [S_ONLINE] = {
        [E_RETRYING]     = s_nothing,       //  a slot's refill is retried
        [E_OUTAGE]       = s_outage,
        [E_SHUTDOWN]     = s_shut_down,
    },
    [S_SHUTTING_DOWN] = {
        [E_RETRYING]     = s_nothing,
        [E_OUTAGE]       = s_nothing,
        [E_SHUTDOWN]     = s_nothing,       //  re-entrant
        [E_DRAINED]      = s_go_offline,
    },
    [S_OFFLINE] = {
        [E_SHUTDOWN]     = s_nothing,
        [E_DRAINED]      = s_nothing,       //  after an abort, as sbxd exits
    },
};

static void
s_execute (self_t *self, s_event_t event, const sbx_error_t *error)
{
    s_action_fn *action = s_lifecycle [self->state][event];
    if (action)
        action (self, error);
    else
        sbx_log_bug (self->config->env_id, "lifecycle event %d while %s", (int) event,
                     s_state_names [self->state]);
}

//  --- Sandboxes -------------------------------------------------------------------

//  Sends a job to the sandbox in `slot` (the pool has counted it); the job
//  is the sandbox's until it answers. When it cannot be sent, its client
//  gets a SandboxStateError.
static void
s_send_job (self_t *self, sbx_slot_t *slot, sbx_job_t *job)
{
    unsigned shard = sbx_slot_index (slot) % self->shards;
    job->slot = sbx_slot_index (slot);
    job->generation = sbx_slot_generation (slot);
    zsock_t *backend = self->backends [shard];
    sbx_poller_touch (self->poller, S_ITEM_BACKENDS + (int) shard);
    const char *id = sbx_slot_id (slot);
    zmq_send (zsock_resolve (backend), id, strlen (id), ZMQ_SNDMORE);
    if (sbx_send_ptr (backend, job) != 0) {
        sbx_log_error (self->config->env_id, "cannot reach sandbox %s: %s", id, zmq_strerror (zmq_errno ()));
        sbx_pool_answered (self->pool, slot);
        sbx_frontend_fail (self->frontend, &job, sbx_error_new (SBX_STATE_ERROR, "sandbox %s cannot be reached", id));
    }
}

//  Sends a job from a client to the sandbox in `slot`, telling the pool.
static void
s_dispatch (self_t *self, sbx_slot_t *slot, sbx_job_t *job)
{
    sbx_pool_dispatched (self->pool, slot);
    s_send_job (self, slot, job);
}

//  Names the session a job starts: the id its request gives, or a new one.
static void
s_name_session (self_t *self, sbx_job_t *job)
{
    job->session_id = job->request.session_id ? strdup (job->request.session_id)
                                              : sbx_ids_session (self->ids);
}

//  A job given to a sandbox by the pool.
static void
s_give (self_t *self, sbx_slot_t *slot, sbx_job_t *job)
{
    if (job->kind != SBX_JOB_ACQUIRE && !job->session_id)
        s_name_session (self, job);
    s_send_job (self, slot, job);
}

static void
s_spawn (self_t *self, sbx_slot_t *slot)
{
    unsigned index = sbx_slot_index (slot);
    sbx_spawn_t *spawn = sbx_spawn_new (self->config, index, sbx_slot_generation (slot),
                                        sbx_config_pooled (self->config),
                                        self->backend_endpoints [index % self->shards], self->shutdown_fd);
    spawn->metrics = self->metrics;
    zsock_send (self->supervisor, "sp", "SPAWN", spawn);
    sbx_poller_touch (self->poller, S_ITEM_SUPERVISOR);
}

//  Carries out what the pool decided, in order, until it has nothing left.
static void
s_carry_out (self_t *self)
{
    sbx_pool_action_t *action;
    while ((action = sbx_pool_next (self->pool))) {
        switch (action->kind) {
            case SBX_POOL_SPAWN:
                s_spawn (self, action->slot);
                break;
            case SBX_POOL_REAP:
                zstr_sendm (self->supervisor, "REAP");
                zstr_send (self->supervisor, action->sandbox);
                sbx_poller_touch (self->poller, S_ITEM_SUPERVISOR);
                break;
            case SBX_POOL_GIVE:
                s_give (self, action->slot, action->waiter);
                action->waiter = NULL;
                break;
            case SBX_POOL_FAIL:
                sbx_frontend_fail (self->frontend, &action->waiter, action->error);
                action->error = NULL;
                break;
            case SBX_POOL_SHUTDOWN:
                s_send_job (self, action->slot, sbx_job_new (SBX_JOB_SHUTDOWN));
                break;
            case SBX_POOL_LAPSE:
                sbx_log_info (self->config->env_id, "lease of %s lapsed", sbx_slot_id (action->slot));
                s_send_job (self, action->slot, sbx_job_new (SBX_JOB_LEASE_EXPIRED));
                break;
            case SBX_POOL_FILLED:
                s_execute (self, E_FILLED, NULL);
                break;
            case SBX_POOL_RETRYING:
                s_execute (self, E_RETRYING, action->error);
                break;
            case SBX_POOL_START_FAILED:
                s_execute (self, E_START_FAILED, action->error);
                break;
            case SBX_POOL_OUTAGE:
                s_execute (self, E_OUTAGE, action->error);
                break;
            case SBX_POOL_DRAINED:
                s_execute (self, E_DRAINED, NULL);
                break;
        }
        sbx_pool_action_destroy (&action);
    }
    int64_t next = sbx_pool_next_deadline (self->pool);
    if (next < self->next_timer)
        self->next_timer = next;
}

//  Replies to the client of an answered job; true when the job was handed
//  on (a refused acquire offered again) instead.
static bool
s_answer (self_t *self, sbx_slot_t *slot, sbx_job_t *job, int64_t now)
{
    if (job->refused && sbx_config_pooled (self->config) && self->state == S_ONLINE) {
        //  The sandbox changed under us (housekeeping shut it down, say):
        //  the request goes back to the head of the queue.
        sbx_error_destroy (&job->error);
        job->refused = false;
        sbx_pool_requeue (self->pool, job);
        return true;
    }
    bool acquiring = job->kind == SBX_JOB_ACQUIRE || job->kind == SBX_JOB_SESSION_OPEN;
    char token [33] = "";
    if (acquiring && !job->error) {
        sbx_ids_token (self->ids, token);
        sbx_pool_own (self->pool, slot, token, job->key, s_lease_deadline (self, now));
    }
    sbx_frontend_answer (self->frontend, job, sbx_slot_id (slot), token);
    //  After these the sandbox is nobody's.
    if ((acquiring && job->error) || job->kind == SBX_JOB_SESSION_END || job->kind == SBX_JOB_EPHEMERAL
    ||  (job->kind == SBX_JOB_CALL && job->status != SBX_STATUS_IN_SESSION)
    ||  (job->kind == SBX_JOB_SESSION_START && job->error))
        sbx_pool_disown (self->pool, slot);
    return false;
}

//  Handles one message from a sandbox; false when none was waiting.
static bool
s_handle_sandbox (self_t *self, zsock_t *backend)
{
    zmq_msg_t identity;
    zmq_msg_init (&identity);
    int rc = zmq_msg_recv (&identity, zsock_resolve (backend), ZMQ_DONTWAIT);
    zmq_msg_close (&identity);
    if (rc < 0)
        return false;
    sbx_job_t *job = (sbx_job_t *) sbx_recv_ptr (backend);
    if (!job)
        return true;
    int64_t now = zclock_mono ();
    char id [256];
    snprintf (id, sizeof id, "%s/%u:%u", self->config->env_id, job->slot, job->generation);
    sbx_slot_t *slot = sbx_pool_lookup (self->pool, id);
    if (!slot) {
        sbx_log_bug (self->config->env_id, "answer from unknown sandbox %s", id);
        s_forward_events (self, job);
        sbx_job_destroy (&job);
        return true;
    }
    if (job->kind == SBX_JOB_PROGRESS)
        sbx_frontend_send (self->frontend, job, &job->result);
    else
    if (job->kind != SBX_JOB_START && job->kind != SBX_JOB_NOTICE)
        sbx_pool_answered (self->pool, slot);
    //  The lease runs from the owner's last answer: the time the sandbox
    //  spent on the request is not the client's silence.
    if (job->envelope && job->kind != SBX_JOB_PROGRESS && sbx_slot_owned (slot))
        sbx_pool_renew (slot, s_lease_deadline (self, now));
    bool kept = job->envelope && job->kind != SBX_JOB_PROGRESS && s_answer (self, slot, job, now);
    //  The sandbox's events go out before anything done about them.
    s_forward_events (self, job);
    sbx_pool_report (self->pool, slot, job->status, &job->current_session, job->new_state_errors);
    if (job->shutdown_error && self->state == S_SHUTTING_DOWN && !self->shutdown_error) {
        self->shutdown_error = job->shutdown_error;
        job->shutdown_error = NULL;
    }
    self->sessions_started += job->sessions_started;
    self->sessions_ended += job->sessions_ended;
    self->calls += job->calls;
    self->calls_failed += job->calls_failed;
    job->sessions_started = job->sessions_ended = job->calls = job->calls_failed = 0;
    if (job->kind == SBX_JOB_START) {
        sbx_pool_started (self->pool, slot, job->error, now);
        job->error = NULL;
    }
    if (!kept)
        sbx_job_destroy (&job);
    sbx_pool_settle (self->pool, slot, now);
    s_carry_out (self);
    return true;
}

static void
s_handle_supervisor (self_t *self)
{
    char *command = NULL;
    int slot_index = 0, ok = 0;
    if (zsock_recv (self->supervisor, "s44", &command, &slot_index, &ok) != 0)
        return;
    if (command && streq (command, "SPAWNED") && !ok) {
        //  The thread could not start (socket or thread limit): a failed
        //  start, without events.
        sbx_pool_spawn_failed (self->pool, (unsigned) slot_index,
            sbx_error_new (SBX_STATE_ERROR, "cannot start a thread for sandbox %s/%d "
                           "(socket or thread limit)", self->config->env_id, slot_index),
            zclock_mono ());
        s_carry_out (self);
    }
    zstr_free (&command);
}

static void
s_handle_eventbus (self_t *self)
{
    char *command = NULL;
    void *ptr = NULL;
    if (zsock_recv (self->eventbus, "sp", &command, &ptr) == 0 && command
    &&  streq (command, "REPLAY") && ptr) {
        sbx_job_t *job = (sbx_job_t *) ptr;
        sbx_frontend_replayed (self->frontend, job);
        sbx_frontend_send (self->frontend, job, &job->result);
        sbx_job_destroy (&job);
    }
    zstr_free (&command);
}

//  --- Requests ----------------------------------------------------------------------

static void
s_fill_stats (self_t *self, sbx_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    sbx_pool_count_statuses (self->pool, stats->sandbox);
    const sbx_pool_counters_t *counters = sbx_pool_counters (self->pool);
    stats->pool_min = self->config->pool_min;
    stats->pool_max = sbx_config_pooled (self->config) ? self->config->pool_max : 0;
    stats->pool_size = sbx_pool_size (self->pool);
    stats->sessions_started = self->sessions_started;
    stats->sessions_ended = self->sessions_ended;
    stats->calls = self->calls;
    stats->calls_failed = self->calls_failed;
    stats->sandboxes_started = counters->sandboxes_started;
    stats->sandboxes_replaced = counters->sandboxes_replaced;
    stats->acquires_waited = counters->acquires_waited;
    stats->acquires_overloaded = counters->acquires_overloaded;
    stats->leases_expired = counters->leases_expired;
    stats->bad_requests = sbx_frontend_bad_requests (self->frontend);
    stats->acquires_refused = counters->acquires_refused;
    stats->calls_refused = self->calls_refused;
    stats->replies_dropped = sbx_frontend_replies_dropped (self->frontend);
    stats->peers_disconnected = sbx_frontend_peers (self->frontend)->disconnected;
    stats->peers_refused = sbx_frontend_peers (self->frontend)->failed
                         + (self->auth ? sbx_auth_refused (self->auth) : 0);
    stats->peers_connected = atomic_load (&sbx_frontend_peers (self->frontend)->connected);
    stats->acquires_waiting = sbx_pool_waiting (self->pool);
}

//  How long an acquire may wait (SPEC §6): its timeout_ms, else the outage
//  grace period.
static int64_t
s_wait_ms (self_t *self, const sbx_job_t *job)
{
    uint64_t wait = job->request.has_timeout ? job->request.timeout_ms
                                             : (uint64_t) s_ms (self->config->outage_grace_period_s);
    return (int64_t) (wait > INT32_MAX ? INT32_MAX : wait);
}

//  An op answered here, on the socket it came from (`frontend`).
static void
s_handle_local (self_t *self, sbx_frontend_t *frontend, sbx_job_t *job, int64_t now)
{
    const sbx_request_t *request = &job->request;
    switch (request->op) {
        case SBX_OP_HELLO:
            sbx_frontend_hello (frontend, &job, s_state_names [self->state], self->events_endpoint);
            break;
        case SBX_OP_STATUS:
            sbx_frontend_status (frontend, &job, self->pool, s_state_names [self->state],
                                 (double) (now - self->started_at) / 1000.0);
            break;
        case SBX_OP_STATS: {
            sbx_stats_t stats;
            s_fill_stats (self, &stats);
            sbx_stats_histogram_t histograms [SBX_METRIC_COUNT];
            sbx_stats_gauge_t gauges [SBX_METRIC_COUNT];
            if (self->metrics)
                sbx_metrics_summarise (self->metrics, &stats, histograms, gauges);
            if (self->metrics_http)
                stats.metrics_endpoint = sbx_metrics_http_url (self->metrics_http);
            sbx_frontend_stats (frontend, &job, &stats);
            break;
        }
        case SBX_OP_SHUTDOWN:
            //  The frontend let it through from an admin only.
            sbx_log_info (self->config->env_id, "shutdown asked by %s", frontend == self->admin
                          ? "the admin endpoint" : "an admin key");
            sbx_frontend_ok (frontend, &job);
            s_execute (self, E_SHUTDOWN, NULL);
            break;
        case SBX_OP_HEARTBEAT:
            if (sbx_frontend_owner (frontend, self->pool, &job, s_lease_deadline (self, now))) {
                msgpack_sbuffer body;
                msgpack_sbuffer_init (&body);
                sbx_reply_heartbeat (&body, request->has_id, request->id,
                                     (uint64_t) s_ms (self->config->session_lease_s));
                sbx_frontend_send (frontend, job, &body);
                msgpack_sbuffer_destroy (&body);
                sbx_job_destroy (&job);
            }
            break;
        default:
            sbx_log_bug (self->config->env_id, "op %d classified as local", (int) request->op);
            sbx_job_destroy (&job);
            break;
    }
}

//  The slot the job may be sent to: owned by its client, with fewer than
//  limits.queued_per_sandbox jobs waiting there (pipelining past it is
//  refused, EnvironmentOverloadError). Else the job is answered.
static sbx_slot_t *
s_target (self_t *self, sbx_job_t **job_p, int64_t now)
{
    sbx_slot_t *slot = sbx_frontend_owner (self->frontend, self->pool, job_p, s_lease_deadline (self, now));
    if (slot && (*job_p)->kind != SBX_JOB_SESSION_END
    &&  sbx_slot_inflight (slot) >= (int) self->config->queued_per_sandbox) {
        self->calls_refused++;
        sbx_frontend_fail (self->frontend, job_p, sbx_error_new (SBX_OVERLOAD_ERROR,
            "sandbox %s has %d requests queued already (limits.queued_per_sandbox)",
            sbx_slot_id (slot), sbx_slot_inflight (slot)));
        return NULL;
    }
    return slot;
}

static void
s_handle_request (self_t *self, sbx_job_t *job)
{
    int64_t now = zclock_mono ();
    sbx_slot_t *slot = NULL;
    switch (job->kind) {
        case SBX_JOB_LOCAL:
            s_handle_local (self, self->frontend, job, now);
            break;
        case SBX_JOB_REPLAY:
            if (sbx_frontend_replay_take (self->frontend, &job)) {
                s_flush_events (self);
                zsock_send (self->eventbus, "sp", "REPLAY", job);
                sbx_poller_touch (self->poller, S_ITEM_EVENTBUS);
            }
            break;
        case SBX_JOB_ACQUIRE:
        case SBX_JOB_SESSION_OPEN:
        case SBX_JOB_EPHEMERAL:
            if (self->state == S_SHUTTING_DOWN || self->state == S_OFFLINE)
                sbx_frontend_fail (self->frontend, &job, sbx_error_new (SBX_OUTAGE_ERROR,
                                   "environment %s is offline", self->config->env_id));
            else
                sbx_pool_acquire (self->pool, job, s_wait_ms (self, job), now);
            break;
        case SBX_JOB_CALL:
            if ((slot = s_target (self, &job, now))) {
                if (sbx_slot_status (slot) != SBX_STATUS_IN_SESSION)
                    s_name_session (self, job);
                s_dispatch (self, slot, job);
            }
            break;
        case SBX_JOB_SESSION_START:
            if ((slot = s_target (self, &job, now))) {
                if (sbx_slot_status (slot) != SBX_STATUS_ACQUIRED || sbx_slot_session (slot)) {
                    sbx_frontend_fail (self->frontend, &job, sbx_error_new (SBX_BAD_REQUEST,
                                       "sandbox %s already has a session", sbx_slot_id (slot)));
                    break;
                }
                s_name_session (self, job);
                s_dispatch (self, slot, job);
            }
            break;
        case SBX_JOB_INPUT:
            //  Behind the call it feeds on the same pipe: the sandbox takes
            //  it while that call runs (docs/protocol.md "Input").
            if ((slot = s_target (self, &job, now)))
                s_dispatch (self, slot, job);
            break;
        case SBX_JOB_SESSION_END:
            if ((slot = s_target (self, &job, now))) {
                sbx_pool_disown (self->pool, slot);
                s_dispatch (self, slot, job);
            }
            break;
        default:
            sbx_log_bug (self->config->env_id, "request classified as job '%s'", sbx_job_kind_name (job->kind));
            sbx_job_destroy (&job);
            break;
    }
    s_carry_out (self);
}

//  --- Timers ---------------------------------------------------------------------

static void
s_timers (self_t *self)
{
    int64_t now = zclock_mono ();
    if (self->flush_at && now >= self->flush_at)
        s_flush_events (self);
    if (now < self->next_timer)
        return;
    if (now >= self->next_lease_check) {
        sbx_pool_expire (self->pool, now);
        int64_t step = s_ms (self->config->session_lease_s) / 4;
        self->next_lease_check = now + (step < 10 ? 10 : step > 1000 ? 1000 : step);
    }
    if (self->next_stats && now >= self->next_stats) {
        sbx_stats_t stats;
        s_fill_stats (self, &stats);
        sbx_log_info (self->config->env_id, "stats: %llu sandboxes, %llu ready, %llu in session; "
                      "sessions %llu started %llu ended; calls %llu (%llu failed)",
                      (unsigned long long) stats.pool_size,
                      (unsigned long long) stats.sandbox [SBX_STATUS_READY],
                      (unsigned long long) stats.sandbox [SBX_STATUS_IN_SESSION],
                      (unsigned long long) stats.sessions_started,
                      (unsigned long long) stats.sessions_ended,
                      (unsigned long long) stats.calls, (unsigned long long) stats.calls_failed);
        self->next_stats = now + s_ms (self->config->stats_report_interval_s);
    }
    sbx_pool_tick (self->pool, now);
    self->next_timer = self->next_lease_check;
    if (self->next_stats && self->next_stats < self->next_timer)
        self->next_timer = self->next_stats;
    if (self->flush_at && self->flush_at < self->next_timer)
        self->next_timer = self->flush_at;
    s_carry_out (self);
}

//  --- Actor ----------------------------------------------------------------------------

//  True when the request and event sockets hold limits.peers connections
//  (or more: a count lags the handshakes a little), so the ZAP handler
//  refuses the next one (actors/auth.h).
static bool
s_peers_full (void *arg)
{
    self_t *self = (self_t *) arg;
    uint64_t limit = self->config->peers ? self->config->peers : 10000;
    uint64_t open = atomic_load (&self->subscribers.connected)
                  + (self->frontend ? atomic_load (&sbx_frontend_peers (self->frontend)->connected) : 0);
    //  The connection asking is counted already, or about to be.
    return open > limit;
}

static char *
s_start_children (self_t *self)
{
    const sbx_config_t *config = self->config;
    char *error = NULL;
    //  The ZAP handler first: libzmq lets a handshake through unchecked
    //  while none is bound.
    self->auth = sbx_auth_new (config);
    if (!self->auth)
        return zsys_sprintf ("cannot create the environment's sockets (socket limit?)");
    sbx_auth_set_full (self->auth, s_peers_full, self);
    if (sbx_auth_bind (self->auth, &error) != 0)
        return error;
    self->frontend = sbx_frontend_new (config, SBX_FRONTEND_REQUESTS);
    if (config->admin_endpoint && !(self->admin = sbx_frontend_new (config, SBX_FRONTEND_ADMIN)))
        return zsys_sprintf ("cannot create the environment's sockets (socket limit?)");
    self->eventbus_actor = sbx_actor_new (sbx_eventbus_actor, (void *) config);
    self->supervisor_actor = sbx_actor_new (sbx_supervisor_actor, NULL);
    self->eventbus = self->eventbus_actor ? sbx_actor_pipe (self->eventbus_actor) : NULL;
    self->supervisor = self->supervisor_actor ? sbx_actor_pipe (self->supervisor_actor) : NULL;
    self->shutdown_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!self->frontend || !self->eventbus || !self->supervisor || self->shutdown_fd < 0)
        return zsys_sprintf ("cannot create the environment's sockets (socket limit?)");
    for (unsigned i = 0; i < self->shards; i++) {
        self->backends [i] = zsock_new (ZMQ_ROUTER);
        if (!self->backends [i])
            return zsys_sprintf ("cannot create the environment's sockets (socket limit?)");
        zsock_set_sndhwm (self->backends [i], 0);
        zsock_set_rcvhwm (self->backends [i], 0);
        zsock_set_router_mandatory (self->backends [i], 1);
        if (zsock_bind (self->backends [i], "%s", self->backend_endpoints [i]) < 0)
            return zsys_sprintf ("cannot bind %s", self->backend_endpoints [i]);
    }
    zsock_send (self->eventbus, "sp", "PEERS", &self->subscribers);
    if (self->metrics)
        zsock_send (self->eventbus, "sp", "METRICS", self->metrics);
    zstr_send (self->eventbus, "START");
    char *status = NULL, *detail = NULL;
    zsock_recv (self->eventbus, "ss", &status, &detail);
    bool ok = status && streq (status, "OK");
    zstr_free (&status);
    if (!ok)
        return detail;
    //  What hello announces: a wildcard bind is no address to connect to.
    self->events_endpoint = sbx_config_advertised (config, detail);
    zstr_free (&detail);
    if (sbx_frontend_bind (self->frontend, &error) == 0 && self->admin)
        sbx_frontend_bind (self->admin, &error);
    if (!error && self->metrics)
        self->metrics_http = sbx_metrics_http_new (self->metrics, config->metrics_endpoint, &error);
    return error;
}

//  Polls every socket, in S_ITEM_* order; false when one cannot be.
static bool
s_poll_all (self_t *self)
{
    bool ok = sbx_poller_add (self->poller, sbx_frontend_socket (self->frontend)) == S_ITEM_FRONTEND
           && sbx_poller_add (self->poller, sbx_frontend_peers (self->frontend)->monitor) == S_ITEM_MONITOR
           && sbx_poller_add (self->poller, zsock_resolve (self->supervisor)) == S_ITEM_SUPERVISOR
           && sbx_poller_add (self->poller, zsock_resolve (self->eventbus)) == S_ITEM_EVENTBUS;
    for (unsigned i = 0; ok && i < self->shards; i++)
        ok = sbx_poller_add (self->poller, zsock_resolve (self->backends [i])) == S_ITEM_BACKENDS + (int) i;
    if (ok && self->admin) {
        self->item_admin = sbx_poller_add (self->poller, sbx_frontend_socket (self->admin));
        sbx_frontend_attach (self->admin, self->poller, self->item_admin);
        ok = self->item_admin >= 0;
    }
    if (ok && self->auth)
        ok = (self->item_auth = sbx_poller_add (self->poller, sbx_auth_socket (self->auth))) >= 0;
    sbx_frontend_attach (self->frontend, self->poller, S_ITEM_FRONTEND);
    return ok;
}

//  START: binds everything and fills the pool; answers OK or ERROR. On
//  failure only the pipe stays polled.
static bool
s_start (self_t *self)
{
    self->started_us = zclock_usecs ();
    char *error = s_start_children (self);
    if (!error && !s_poll_all (self))
        error = zsys_sprintf ("cannot poll the environment's sockets");
    if (error) {
        zsock_send (self->pipe, "ss", "ERROR", error);
        zstr_free (&error);
        return false;
    }
    zsock_send (self->pipe, "ssss", "OK", sbx_frontend_endpoint (self->frontend), self->events_endpoint,
                self->metrics_http ? sbx_metrics_http_url (self->metrics_http) : "");
    self->started_at = zclock_mono ();
    self->next_lease_check = self->started_at + 100;
    self->next_timer = self->next_lease_check;
    if (self->config->stats_report_interval_s > 0)
        self->next_stats = self->started_at + s_ms (self->config->stats_report_interval_s);
    sbx_pool_fill (self->pool, self->started_at);
    s_carry_out (self);
    return true;
}

static self_t *
s_new (zsock_t *pipe, const sbx_config_t *config)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    self->pipe = pipe;
    self->config = config;
    self->state = S_CREATED;
    self->pool = sbx_pool_new (config);
    self->ids = sbx_ids_new (config->has_random_seed, config->random_seed);
    self->events = sbx_evbatch_new ();
    self->shutdown_fd = -1;
    self->item_admin = self->item_auth = -1;
    self->next_timer = INT64_MAX;
    bool pooled = sbx_config_pooled (config);
    self->shards = pooled ? (config->pool_max + S_SHARD - 1) / S_SHARD : 16;
    if (self->shards == 0)
        self->shards = 1;
    self->backends = (zsock_t **) zmalloc (self->shards * sizeof (zsock_t *));
    self->backend_endpoints = (char **) zmalloc (self->shards * sizeof (char *));
    for (unsigned i = 0; i < self->shards; i++)
        self->backend_endpoints [i] = zsys_sprintf ("inproc://sbx-backend-%p-%u", (void *) self, i);
    self->poller = sbx_poller_new (S_ITEM_BACKENDS + (int) self->shards + 2);
    if (config->metrics_endpoint)
        self->metrics = sbx_metrics_new (config);
    return self;
}

//  Hands the bus what is batched and waits (2 s at most) until it has
//  published everything before: replays in flight come back meanwhile,
//  unanswered, and are freed - they carry jobs by pointer through the pipe.
static void
s_sync_eventbus (self_t *self)
{
    s_flush_events (self);
    zstr_send (self->eventbus, "SYNC");
    zpoller_t *poller = zpoller_new (self->eventbus, NULL);
    int64_t deadline = zclock_mono () + 2000;
    while (zclock_mono () < deadline && zpoller_wait (poller, (int) (deadline - zclock_mono ()))) {
        zmsg_t *msg = zmsg_recv (self->eventbus);
        char *command = msg ? zmsg_popstr (msg) : NULL;
        bool synced = command && streq (command, "SYNCED");
        if (command && streq (command, "REPLAY")) {
            zframe_t *frame = zmsg_pop (msg);
            sbx_job_t *job = NULL;
            if (frame && zframe_size (frame) == sizeof job)
                memcpy (&job, zframe_data (frame), sizeof job);
            if (job)
                sbx_frontend_replayed (self->frontend, job);
            sbx_job_destroy (&job);
            zframe_destroy (&frame);
        }
        zstr_free (&command);
        zmsg_destroy (&msg);
        if (synced)
            break;
    }
    zpoller_destroy (&poller);
    sbx_poller_touch (self->poller, S_ITEM_EVENTBUS);
}

static void
s_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    //  Children first: the supervisor joins any sandbox left, then the
    //  event bus publishes and logs what it still holds. Also when it
    //  ended without a SHUTDOWN (its pipe failed): else the joins below
    //  would wait for sandboxes busy with a command.
    s_signal_shutdown (self);
    sbx_actor_destroy (&self->supervisor_actor);
    if (self->eventbus)
        s_sync_eventbus (self);
    sbx_actor_destroy (&self->eventbus_actor);
    self->supervisor = self->eventbus = NULL;
    if (self->shutdown_fd >= 0)
        close (self->shutdown_fd);      //  every sandbox actor is joined
    sbx_pool_destroy (&self->pool);
    sbx_ids_destroy (&self->ids);
    sbx_error_destroy (&self->shutdown_error);
    sbx_evbatch_destroy (&self->events);
    sbx_frontend_destroy (&self->frontend);
    sbx_frontend_destroy (&self->admin);
    sbx_auth_destroy (&self->auth);     //  after every CURVE socket
    for (unsigned i = 0; i < self->shards; i++) {
        zsock_destroy (&self->backends [i]);
        zstr_free (&self->backend_endpoints [i]);
    }
    free (self->backends);
    free (self->backend_endpoints);
    sbx_poller_destroy (&self->poller);
    zstr_free (&self->events_endpoint);
    //  Last: every writer (its children) and reader (the scraper) is gone.
    sbx_metrics_http_destroy (&self->metrics_http);
    sbx_metrics_destroy (&self->metrics);
    free (self);
    *self_p = NULL;
}

//  The shutdown took too long (sbxd's shutdown_timeout_s): say so on the
//  event stream, make sure it is out, and name who is stuck.
static void
s_abort (self_t *self)
{
    size_t count = sbx_pool_size (self->pool);
    sbx_slot_t **slots = (sbx_slot_t **) zmalloc ((count + 1) * sizeof (sbx_slot_t *));
    count = sbx_pool_list (self->pool, slots, count);
    char stuck [4096] = "";
    for (size_t i = 0; i < count; i++) {
        size_t used = strlen (stuck);
        snprintf (stuck + used, sizeof stuck - used, "%s%s", used ? " " : "", sbx_slot_id (slots [i]));
    }
    free (slots);
    if (self->state != S_OFFLINE) {
        sbx_error_t *error = sbx_error_new (SBX_SHUTDOWN_TIMEOUT, "environment %s did not shut down "
            "within %gs: sandboxes not offline: %s", self->config->env_id,
            self->config->shutdown_timeout_s, *stuck ? stuck : "none");
        self->state = S_OFFLINE;
        s_emit (self, SBX_EV_ENVIRONMENT_SHUTDOWN, error);
        sbx_error_destroy (&error);
    }
    s_sync_eventbus (self);
    zstr_sendx (self->pipe, "ABORTED", stuck, NULL);
    sbx_poller_touch (self->poller, S_ITEM_PIPE);
}

//  The environment's own figures, for the scraper: they change only in
//  this thread, so a snapshot after each wake-up is as fresh as they are.
static void
s_publish_metrics (self_t *self)
{
    sbx_stats_t stats;
    s_fill_stats (self, &stats);
    sbx_metrics_publish_stats (self->metrics, &stats, (int) self->state);
}

//  A pipe command; true once the environment has started.
static bool
s_handle_pipe (self_t *self, bool running)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "START") && !running)
        running = s_start (self);
    else
    if (streq (command, "SHUTDOWN") && running) {
        s_execute (self, E_SHUTDOWN, NULL);
        s_carry_out (self);
    }
    else
    if (streq (command, "ABORT") && running)
        s_abort (self);
    else
        sbx_log_error (self->config->env_id, "unexpected command '%s'", command);
    zstr_free (&command);
    return running;
}

//  Everything pending per wake-up, in bounded rounds so no side starves (a
//  socket not drained is asked again before the next sleep); sandboxes
//  first, as they free capacity.
static void
s_handle_sockets (self_t *self)
{
    for (unsigned i = 0; i < self->shards; i++)
        if (sbx_poller_ready (self->poller, S_ITEM_BACKENDS + (int) i)) {
            int n = 0;
            while (n < S_DRAIN && s_handle_sandbox (self, self->backends [i]))
                n++;
            if (n < S_DRAIN)
                sbx_poller_settle (self->poller, S_ITEM_BACKENDS + (int) i);
        }
    if (sbx_poller_ready (self->poller, S_ITEM_MONITOR)) {
        int n = 0;
        uint64_t gone = sbx_frontend_peers (self->frontend)->disconnected;
        while (n < S_DRAIN && sbx_peers_handle (sbx_frontend_peers (self->frontend)) == 0)
            n++;
        if (n < S_DRAIN)
            sbx_poller_settle (self->poller, S_ITEM_MONITOR);
        //  What a client that went made the daemon hold is free now: give
        //  it back to the system (at most once a second).
        int64_t now = zclock_mono ();
        if (sbx_frontend_peers (self->frontend)->disconnected > gone && now >= self->next_trim) {
            malloc_trim (0);
            self->next_trim = now + 1000;
        }
    }
    if (self->auth && sbx_poller_ready (self->poller, self->item_auth)) {
        int n = 0;
        while (n < S_DRAIN && sbx_auth_handle (self->auth) == 0)
            n++;
        if (n < S_DRAIN)
            sbx_poller_settle (self->poller, self->item_auth);
    }
    if (self->admin && sbx_poller_ready (self->poller, self->item_admin)) {
        sbx_job_t *job;
        int n = 0, rc = 0;
        while (n++ < S_DRAIN && (rc = sbx_frontend_recv (self->admin, &job)) == 0)
            if (job)
                s_handle_local (self, self->admin, job, zclock_mono ());
        if (rc < 0)
            sbx_poller_settle (self->poller, self->item_admin);
        s_carry_out (self);
    }
    if (sbx_poller_ready (self->poller, S_ITEM_SUPERVISOR))
        s_handle_supervisor (self);
    if (sbx_poller_ready (self->poller, S_ITEM_EVENTBUS))
        s_handle_eventbus (self);
    if (sbx_poller_ready (self->poller, S_ITEM_FRONTEND)) {
        int n = 0, rc = 0;
        sbx_job_t *job;
        while (n < S_DRAIN && (rc = sbx_frontend_recv (self->frontend, &job)) == 0) {
            if (job)
                s_handle_request (self, job);
            n++;
        }
        if (rc < 0)
            sbx_poller_settle (self->poller, S_ITEM_FRONTEND);
    }
}

void
sbx_environment_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_new (pipe, (const sbx_config_t *) args);
    zsock_signal (pipe, 0);
    bool running = false;
    if (sbx_poller_add (self->poller, zsock_resolve (pipe)) != S_ITEM_PIPE)
        self->terminated = true;
    while (!self->terminated) {
        int timeout = -1;
        if (running) {
            int64_t wait = self->next_timer - zclock_mono ();
            timeout = wait < 0 ? 0 : wait > INT_MAX ? INT_MAX : (int) wait;
        }
        int rc = sbx_poller_wait (self->poller, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && sbx_poller_ready (self->poller, S_ITEM_PIPE))
            running = s_handle_pipe (self, running);
        if (rc > 0 && running && !self->terminated)
            s_handle_sockets (self);
        if (running)
            s_timers (self);
        if (running && self->metrics)
            s_publish_metrics (self);
    }
    s_destroy (&self);
}
