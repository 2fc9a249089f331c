/*  sbx_environment - see environment.h; SPEC §4 and PROTOCOL.md. */
#include "actors/environment.h"
#include "runtime/core/actor.h"
#include "actors/eventbus.h"
#include "runtime/core/poller.h"
#include "actors/proto.h"
#include "actors/supervisor.h"
#include "messages/mp.h"
#include "messages/reply.h"
#include "runtime/core/log.h"

#include <limits.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <string.h>

#define S_MAX_ENVELOPE 16       //  frames before the body
#define S_SESSION_ID_MAX 128
#define S_RESTARTS 10           //  refills of a slot per window before backing off
#define S_RESTART_WINDOW_MS 1000
#define S_RESTART_DELAY_MS 100
#define S_SHARD 64              //  sandboxes per backend ROUTER
#define S_DRAIN 256            //  messages handled per socket per wake-up

//  The sockets the loop polls, by index.
enum { S_ITEM_PIPE, S_ITEM_FRONTEND, S_ITEM_SUPERVISOR, S_ITEM_EVENTBUS, S_ITEM_BACKENDS };

typedef enum { ENV_CREATED, ENV_ONLINE, ENV_SHUTTING_DOWN, ENV_OFFLINE } s_env_status_t;
static const char *const s_env_status_names [] = {"created", "online", "shutting_down", "offline"};

typedef enum {
    SLOT_EMPTY,                 //  no actor
    SLOT_SPAWNING,              //  actor asked for, START not yet received
    SLOT_LIVE,                  //  started (or failed to: offline follows)
    SLOT_RETRY                  //  waiting for retry_at to bring it up again
} s_phase_t;

typedef struct {
    unsigned index;
    unsigned generation;        //  of the current (or next) actor
    char id [256];
    s_phase_t phase;
    sbx_status_t status;        //  mirrored from the sandbox's reports
    int inflight;               //  jobs sent to it and not yet answered
    bool ever_started;          //  a generation of this slot started once
    bool started;               //  this generation's START succeeded
    sbx_error_t *start_error;   //  this generation's START error
    bool owned;
    char token [33];
    int64_t lease_deadline;
    char *session_id;
    zlistx_t *state_errors;     //  sbx_error_t * (dups)
    int64_t first_failure;      //  bring-up failures: first one (0 = none)
    int64_t window_start;       //  restart intensity: current window
    unsigned window_restarts;   //  refills of this slot in that window
    int64_t retry_at;
    sbx_job_t *waiter;          //  no pooling: the request it was made for
    bool for_waiter;            //  pooled: brought up because of a waiter
    bool shutdown_sent;
} s_slot_t;

typedef struct {
    zsock_t *pipe;
    const sbx_config_t *config;
    bool terminated;
    s_env_status_t status;
    int exit_code;
    int64_t started_at;

    zsock_t *frontend;          //  ROUTER, clients
    zsock_t **backends;         //  ROUTERs, sandbox actors: slot i talks to
    char **backend_endpoints;   //  backends [i % shards]. A ROUTER finds a
    unsigned shards;            //  departing peer by walking all of them,
                                //  so each serves S_SHARD sandboxes at most
    sbx_poller_t *poller;       //  the sockets by S_ITEM_*: the pipe, and all
                                //  of them once started
    char *events_endpoint;      //  as bound (for hello)
    int shutdown_fd;            //  eventfd, written once at shutdown; each
                                //  sandbox polls it while it waits
    sbx_actor_t *eventbus_actor;
    sbx_actor_t *supervisor_actor;
    zsock_t *eventbus;          //  their pipes
    zsock_t *supervisor;
    sbx_limits_t limits;

    bool pooled;
    s_slot_t **pool;            //  pooled: one entry per slot index < max
    unsigned pool_max;
    uint64_t *ready_bits;       //  pooled: slot is ready, idle and unowned
    unsigned last_pick;
    zhashx_t *by_id;            //  sandbox id -> s_slot_t * (live actors)
    unsigned next_index;        //  no pooling: <env>/<n>:0
    zlistx_t *waiters;          //  sbx_job_t *, FIFO
    zlistx_t *retries;          //  s_slot_t * waiting for retry_at
    unsigned spawning;          //  slots in SLOT_SPAWNING
    unsigned live_count;        //  slots not EMPTY

    bool shutdown_deferred;     //  asked to shut down while the pool fills
    sbx_error_t *shutdown_error;//  first user error a sandbox's shutdown returned
                                //  during the environment's shutdown (SPEC §4)
    int64_t next_lease_check;
    int64_t next_stats;
    int64_t next_timer;         //  earliest of all the timers below
    int64_t flush_at;           //  when waiting events go to the bus (0: none)
    sbx_stats_t stats;

    uint64_t seed;              //  session id generator state
    uint8_t random [4096];
    size_t random_used;
    sbx_evbatch_t *events;      //  the environment's own events
} self_t;

static void s_shutdown (self_t *self, sbx_error_t *reason);
static void s_serve_waiters (self_t *self);

//  Marks a socket used (runtime/core/poller.h): every send goes with one.
static inline void
s_touch (self_t *self, int item)
{
    sbx_poller_touch (self->poller, item);
}

//  Tells every sandbox that the environment is going away: whatever one is
//  waiting for (a command, say) is cut short rather than waited out.
static void
s_signal_shutdown (self_t *self)
{
    if (self->shutdown_fd >= 0 && eventfd_write (self->shutdown_fd, 1) != 0)
        sbx_log_error (self->config->env_id, "cannot signal the shutdown to sandboxes: %s",
                       strerror (errno));
}

//  --- Small helpers ---------------------------------------------------------

static void
s_random_bytes (self_t *self, uint8_t *out, size_t size)
{
    if (self->random_used + size > sizeof self->random) {
        size_t have = 0;
        while (have < sizeof self->random) {
            ssize_t rc = getrandom (self->random + have, sizeof self->random - have, 0);
            if (rc > 0)
                have += (size_t) rc;
        }
        self->random_used = 0;
    }
    memcpy (out, self->random + self->random_used, size);
    self->random_used += size;
}

static void
s_new_token (self_t *self, char *token)
{
    uint8_t bytes [16];
    s_random_bytes (self, bytes, sizeof bytes);
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf (token + 2 * i, 3, "%02x", bytes [i]);
}

//  session-<7 lowercase hex>; from a seeded generator when random_seed is set.
static char *
s_new_session_id (self_t *self)
{
    uint64_t value;
    if (self->config->has_random_seed) {
        //  splitmix64: a fixed seed gives the same ids every run.
        self->seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = self->seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        value = z ^ (z >> 31);
    }
    else
        s_random_bytes (self, (uint8_t *) &value, sizeof value);
    return zsys_sprintf ("session-%07llx", (unsigned long long) (value & 0xfffffff));
}

static bool
s_token_ok (const s_slot_t *slot, const char *token)
{
    if (!slot->owned || !token || strlen (token) != 32)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < 32; i++)
        diff |= (unsigned char) (slot->token [i] ^ token [i]);
    return diff == 0;
}

static int64_t
s_ms (double seconds)
{
    return (int64_t) (seconds * 1000.0 + 0.5);
}

//  --- Events ------------------------------------------------------------------

//  Events wait here (in order) and go to the bus in batches: at most
//  S_FLUSH_EVENTS at a time or S_FLUSH_MS after the first one waited, and
//  always before anything that reads the journal. One wake-up of the bus
//  per batch instead of one per event.
#define S_FLUSH_EVENTS 512
#define S_FLUSH_MS 1

static void
s_flush_events (self_t *self)
{
    if (self->events->count == 0)
        return;
    zsock_send (self->eventbus, "sp", "EVENTS", self->events);
    s_touch (self, S_ITEM_EVENTBUS);
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
    sbx_event_t event = {.kind = kind, .environment = self->config->env_id, .error = error};
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

//  --- Replies -----------------------------------------------------------------

//  Sends `body` to the client of `job` (its envelope) and frees the job.
static void
s_send_reply (self_t *self, sbx_job_t *job, msgpack_sbuffer *body)
{
    if (job->envelope) {
        zframe_t *frame = zmsg_first (job->envelope);
        while (frame) {
            zframe_send (&frame, self->frontend, ZFRAME_MORE | ZFRAME_REUSE | ZFRAME_DONTWAIT);
            frame = zmsg_next (job->envelope);
        }
        zmq_send (zsock_resolve (self->frontend), body->data, body->size, ZMQ_DONTWAIT);
        s_touch (self, S_ITEM_FRONTEND);
    }
}

static void
s_reply_error (self_t *self, sbx_job_t *job, sbx_error_t *error)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_error (&body, job->request.has_id, job->request.id, error);
    s_send_reply (self, job, &body);
    msgpack_sbuffer_destroy (&body);
}

//  Replies with a new error and destroys the job.
static void
s_fail (self_t *self, sbx_job_t **job_p, const char *type, const char *format, const char *arg)
{
    sbx_error_t *error = sbx_error_new (type, format, arg);
    s_reply_error (self, *job_p, error);
    sbx_error_destroy (&error);
    sbx_job_destroy (job_p);
}

static void
s_reply_ok (self_t *self, sbx_job_t *job)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_ok (&body, job->request.has_id, job->request.id);
    s_send_reply (self, job, &body);
    msgpack_sbuffer_destroy (&body);
}

//  --- Slots -------------------------------------------------------------------

static void
s_set_ready_bit (self_t *self, s_slot_t *slot, bool ready)
{
    if (!self->pooled)
        return;
    uint64_t bit = 1ull << (slot->index % 64);
    if (ready)
        self->ready_bits [slot->index / 64] |= bit;
    else
        self->ready_bits [slot->index / 64] &= ~bit;
}

static bool
s_slot_idle_ready (const s_slot_t *slot)
{
    return slot->phase == SLOT_LIVE && slot->started && slot->status == SBX_STATUS_READY
        && slot->inflight == 0 && !slot->owned;
}

static void
s_clear_errors (s_slot_t *slot)
{
    sbx_error_t *error = (sbx_error_t *) zlistx_first (slot->state_errors);
    while (error) {
        sbx_error_destroy (&error);
        error = (sbx_error_t *) zlistx_next (slot->state_errors);
    }
    zlistx_purge (slot->state_errors);
}

static s_slot_t *
s_slot_new (unsigned index)
{
    s_slot_t *slot = (s_slot_t *) zmalloc (sizeof (s_slot_t));
    slot->index = index;
    slot->state_errors = zlistx_new ();
    return slot;
}

static void
s_slot_destroy (s_slot_t **slot_p)
{
    s_slot_t *slot = *slot_p;
    if (!slot)
        return;
    s_clear_errors (slot);
    zlistx_destroy (&slot->state_errors);
    sbx_error_destroy (&slot->start_error);
    sbx_job_destroy (&slot->waiter);
    free (slot->session_id);
    free (slot);
    *slot_p = NULL;
}

static void
s_disown (s_slot_t *slot)
{
    slot->owned = false;
    slot->token [0] = 0;
}

//  Asks the supervisor for a new actor in this slot (current generation).
static void
s_spawn (self_t *self, s_slot_t *slot)
{
    snprintf (slot->id, sizeof slot->id, "%s/%u:%u", self->config->env_id, slot->index, slot->generation);
    slot->phase = SLOT_SPAWNING;
    slot->status = SBX_STATUS_CREATED;
    slot->started = false;
    slot->inflight = 0;
    slot->shutdown_sent = false;
    sbx_error_destroy (&slot->start_error);
    s_disown (slot);
    s_clear_errors (slot);
    zhashx_update (self->by_id, slot->id, slot);
    self->spawning++;
    sbx_spawn_t *spawn = sbx_spawn_new (self->config, slot->index, slot->generation,
                                        self->pooled, self->backend_endpoints [slot->index % self->shards],
                                        self->shutdown_fd);
    zsock_send (self->supervisor, "sp", "SPAWN", spawn);
    s_touch (self, S_ITEM_SUPERVISOR);
}

//  A pooled slot for growth: the lowest empty index.
static s_slot_t *
s_free_slot (self_t *self)
{
    for (unsigned i = 0; i < self->pool_max; i++) {
        if (!self->pool [i]) {
            self->pool [i] = s_slot_new (i);
            self->live_count++;
            return self->pool [i];
        }
        if (self->pool [i]->phase == SLOT_EMPTY) {
            self->live_count++;
            return self->pool [i];
        }
    }
    return NULL;
}

//  Sends a job to the sandbox in `slot`; the job is the sandbox's until it
//  answers. On failure the client gets an error.
static void
s_dispatch (self_t *self, s_slot_t *slot, sbx_job_t *job)
{
    job->slot = slot->index;
    job->generation = slot->generation;
    zsock_t *backend = self->backends [slot->index % self->shards];
    s_touch (self, S_ITEM_BACKENDS + (int) (slot->index % self->shards));
    zmq_send (zsock_resolve (backend), slot->id, strlen (slot->id), ZMQ_SNDMORE);
    if (sbx_send_ptr (backend, job) != 0) {
        sbx_log_error (self->config->env_id, "cannot reach sandbox %s: %s", slot->id,
                       zmq_strerror (zmq_errno ()));
        s_fail (self, &job, SBX_STATE_ERROR, "sandbox %s cannot be reached", slot->id);
        return;
    }
    slot->inflight++;
    s_set_ready_bit (self, slot, false);
}

static void
s_internal_job (self_t *self, s_slot_t *slot, sbx_job_kind_t kind)
{
    s_dispatch (self, slot, sbx_job_new (kind));
}

//  --- Acquiring ---------------------------------------------------------------

//  Round robin: the first ready slot after the last pick, wrapping; a
//  word of the bitmap at a time, so the cost does not grow with the pool.
static s_slot_t *
s_pick_ready (self_t *self)
{
    unsigned words = (self->pool_max + 63) / 64;
    unsigned start = (self->last_pick + 1) % self->pool_max;
    unsigned word = start / 64;
    uint64_t bits = self->ready_bits [word] & (~0ull << (start % 64));
    for (unsigned n = 0; n <= words; n++) {
        if (bits) {
            unsigned index = word * 64 + (unsigned) __builtin_ctzll (bits);
            self->last_pick = index;
            return self->pool [index];
        }
        word = (word + 1) % words;
        bits = self->ready_bits [word];
    }
    return NULL;
}

static sbx_job_kind_t
s_acquire_kind (const sbx_job_t *job)
{
    switch (job->request.op) {
        case SBX_OP_ACQUIRE:      return SBX_JOB_ACQUIRE;
        case SBX_OP_SESSION_OPEN: return SBX_JOB_SESSION_OPEN;
        default:                  return SBX_JOB_EPHEMERAL;
    }
}

static void
s_give (self_t *self, s_slot_t *slot, sbx_job_t *job)
{
    job->kind = s_acquire_kind (job);
    if (job->kind != SBX_JOB_ACQUIRE && !job->session_id)
        job->session_id = job->request.session_id ? strdup (job->request.session_id)
                                                  : s_new_session_id (self);
    s_dispatch (self, slot, job);
}

static void
s_grow_if_needed (self_t *self)
{
    size_t waiting = zlistx_size (self->waiters);
    while (waiting > self->spawning && self->live_count < self->pool_max) {
        s_slot_t *slot = s_free_slot (self);
        if (!slot)
            break;
        slot->for_waiter = true;
        s_spawn (self, slot);
    }
}

//  How long an acquire may wait (SPEC §6): its timeout_ms, else the
//  outage grace period.
static int64_t
s_wait_ms (self_t *self, const sbx_job_t *job)
{
    uint64_t wait = job->request.has_timeout ? job->request.timeout_ms
                                             : (uint64_t) s_ms (self->config->outage_grace_period_s);
    return (int64_t) (wait > INT32_MAX ? INT32_MAX : wait);
}

static void
s_acquire (self_t *self, sbx_job_t *job)
{
    if (self->status == ENV_SHUTTING_DOWN || self->status == ENV_OFFLINE) {
        s_fail (self, &job, SBX_OUTAGE_ERROR, "environment %s is offline", self->config->env_id);
        return;
    }
    //  The wait limit counts from the moment the environment is online:
    //  a request that comes while the pool fills waits for that first.
    job->deadline = self->status == ENV_ONLINE ? zclock_mono () + s_wait_ms (self, job) : INT64_MAX;
    if (!self->pooled) {
        //  No pooling: a fresh sandbox for this request alone.
        s_slot_t *slot = s_slot_new (self->next_index++);
        slot->waiter = job;
        self->live_count++;
        s_spawn (self, slot);
        return;
    }
    s_slot_t *slot = self->status == ENV_ONLINE && zlistx_size (self->waiters) == 0
                   ? s_pick_ready (self) : NULL;
    if (slot) {
        s_give (self, slot, job);
        return;
    }
    zlistx_add_end (self->waiters, job);
    self->stats.acquires_waited++;
    unsigned live = self->live_count;
    s_grow_if_needed (self);
    //  Below max the pool grows for this request (SPEC §4): bringing a
    //  sandbox up is bounded by the outage rules (§4.3), not by the wait
    //  limit, which is for a pool at max with every sandbox busy.
    if (self->live_count > live)
        job->deadline = INT64_MAX;
    if (job->deadline < self->next_timer)
        self->next_timer = job->deadline;
}

//  Gives ready sandboxes to waiters, first come first served.
static void
s_serve_waiters (self_t *self)
{
    if (!self->pooled || self->status != ENV_ONLINE)
        return;
    while (zlistx_size (self->waiters)) {
        s_slot_t *slot = s_pick_ready (self);
        if (!slot)
            break;
        sbx_job_t *job = (sbx_job_t *) zlistx_first (self->waiters);
        zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        s_give (self, slot, job);
    }
}

static void
s_fail_waiters (self_t *self, const char *type, const char *message)
{
    sbx_job_t *job;
    while ((job = (sbx_job_t *) zlistx_first (self->waiters))) {
        zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        s_fail (self, &job, type, "%s", message);
    }
}

//  --- Bring-up, failures, outage (SPEC §4.3) ------------------------------------

static bool
s_retriable (const sbx_error_t *error)
{
    return sbx_error_is_state (error) || sbx_error_is (error, SBX_OUTAGE_ERROR)
        || sbx_error_is (error, SBX_OVERLOAD_ERROR);
}

static void
s_go_online (self_t *self)
{
    self->status = ENV_ONLINE;
    int64_t now = zclock_mono ();
    for (sbx_job_t *job = (sbx_job_t *) zlistx_first (self->waiters); job;
         job = (sbx_job_t *) zlistx_next (self->waiters))
        job->deadline = now + s_wait_ms (self, job);
    self->next_timer = now;
    sbx_log_info (self->config->env_id, "environment online");
    s_emit (self, SBX_EV_ENVIRONMENT_START, NULL);
    if (self->shutdown_deferred)
        s_shutdown (self, NULL);
}

//  The pre-filled pool is complete when every slot below min has started.
static void
s_check_started (self_t *self)
{
    if (self->status != ENV_CREATED)
        return;
    for (unsigned i = 0; i < self->config->pool_min; i++)
        if (!self->pool [i] || !self->pool [i]->started)
            return;
    s_go_online (self);
    s_serve_waiters (self);
}

//  An outage takes the environment offline (SPEC §4.3).
static void
s_outage (self_t *self, const sbx_error_t *last)
{
    sbx_error_t *outage = sbx_error_new (SBX_OUTAGE_ERROR,
        "no sandbox of environment %s could be brought up within the outage grace period "
        "(%gs); last error: %s: %s", self->config->env_id, self->config->outage_grace_period_s,
        sbx_error_type (last), sbx_error_message (last));
    sbx_log_error (self->config->env_id, "%s", sbx_error_message (outage));
    self->exit_code = 1;
    if (self->status == ENV_CREATED) {
        s_emit (self, SBX_EV_ENVIRONMENT_START, outage);
        self->status = ENV_ONLINE;      //  so that the shutdown below runs
    }
    s_fail_waiters (self, SBX_OUTAGE_ERROR, sbx_error_message (outage));
    s_shutdown (self, outage);
}

//  A start that failed (SPEC §4.3): retry, give up, or outage.
static void
s_bring_up_failed (self_t *self, s_slot_t *slot, sbx_error_t *error)
{
    int64_t now = zclock_mono ();
    if (!s_retriable (error)) {
        //  A user error is not retried: it goes back at once.
        sbx_log_warning (self->config->env_id, "sandbox %s failed to start: %s: %s", slot->id,
                         sbx_error_type (error), sbx_error_message (error));
        if (self->status == ENV_CREATED) {
            self->exit_code = 1;
            s_emit (self, SBX_EV_ENVIRONMENT_START, error);
            self->status = ENV_ONLINE;
            s_shutdown (self, NULL);
            return;
        }
        sbx_job_t *job = slot->waiter;
        slot->waiter = NULL;
        if (!job && slot->for_waiter && zlistx_size (self->waiters)) {
            job = (sbx_job_t *) zlistx_first (self->waiters);
            zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        }
        if (job) {
            s_reply_error (self, job, error);
            sbx_job_destroy (&job);
        }
        slot->first_failure = 0;
        slot->for_waiter = false;
        return;
    }
    if (!slot->first_failure)
        slot->first_failure = now;
    if (self->status == ENV_CREATED && self->shutdown_deferred) {
        //  Asked to stop while the pool could not fill: the start fails.
        s_emit (self, SBX_EV_ENVIRONMENT_START, error);
        self->status = ENV_ONLINE;
        s_shutdown (self, NULL);
        return;
    }
    if ((double) (now - slot->first_failure) >= self->config->outage_grace_period_s * 1000.0) {
        s_outage (self, error);
        return;
    }
    slot->phase = SLOT_RETRY;
    slot->retry_at = now + s_ms (self->config->outage_retry_interval_s);
    if (slot->retry_at < self->next_timer)
        self->next_timer = slot->retry_at;
    self->live_count++;
    zlistx_add_end (self->retries, slot);
}

//  The actor of `slot` is offline and owes no answer: reap it, then
//  refill, retry, or finish.
static void
s_slot_finished (self_t *self, s_slot_t *slot)
{
    zstr_sendm (self->supervisor, "REAP");
    zstr_send (self->supervisor, slot->id);
    s_touch (self, S_ITEM_SUPERVISOR);
    zhashx_delete (self->by_id, slot->id);
    s_set_ready_bit (self, slot, false);
    s_disown (slot);
    slot->phase = SLOT_EMPTY;
    self->live_count--;
    sbx_error_t *start_error = slot->start_error;
    slot->start_error = NULL;
    bool started = slot->started;
    slot->started = false;
    slot->generation++;

    if (self->status == ENV_SHUTTING_DOWN || self->status == ENV_OFFLINE) {
        if (slot->waiter)
            s_fail (self, &slot->waiter, SBX_OUTAGE_ERROR, "environment %s is shutting down",
                    self->config->env_id);
        if (!self->pooled)
            s_slot_destroy (&slot);
        sbx_error_destroy (&start_error);
        s_shutdown (self, NULL);        //  re-entrant: finishes once all are gone
        return;
    }
    if (!started) {
        if (!self->pooled && s_retriable (start_error)) {
            //  No pooling: a retry is a new sandbox, <env>/<n+1>:0 (a user
            //  error is not retried, so it takes no number).
            s_slot_t *next = s_slot_new (self->next_index++);
            next->waiter = slot->waiter;
            next->first_failure = slot->first_failure;
            slot->waiter = NULL;
            s_slot_destroy (&slot);
            slot = next;
        }
        s_bring_up_failed (self, slot, start_error);
        if (slot->phase != SLOT_RETRY && slot->waiter)
            s_fail (self, &slot->waiter, SBX_OUTAGE_ERROR, "environment %s is offline",
                    self->config->env_id);
        if (!self->pooled && slot->phase != SLOT_RETRY)
            s_slot_destroy (&slot);
        sbx_error_destroy (&start_error);
        return;
    }
    sbx_error_destroy (&start_error);
    if (self->pooled && (self->status == ENV_ONLINE || self->status == ENV_CREATED)) {
        //  Refill the slot with the next generation (SPEC §4). Restart
        //  intensity: past S_RESTARTS refills of one slot within
        //  S_RESTART_WINDOW_MS, the next refill waits like a retry, so a
        //  sandbox that dies as soon as it starts cannot spin a core.
        int64_t now = zclock_mono ();
        if (now - slot->window_start > S_RESTART_WINDOW_MS) {
            slot->window_start = now;
            slot->window_restarts = 0;
        }
        slot->first_failure = 0;
        self->live_count++;
        if (++slot->window_restarts > S_RESTARTS) {
            int64_t delay = s_ms (self->config->outage_retry_interval_s);
            slot->phase = SLOT_RETRY;
            slot->retry_at = now + (delay > S_RESTART_DELAY_MS ? delay : S_RESTART_DELAY_MS);
            if (slot->retry_at < self->next_timer)
                self->next_timer = slot->retry_at;
            zlistx_add_end (self->retries, slot);
            sbx_log_warning (self->config->env_id, "slot %u restarted %u times within %d ms: "
                             "next refill in %lld ms", slot->index, slot->window_restarts - 1,
                             S_RESTART_WINDOW_MS, (long long) (slot->retry_at - now));
        }
        else
            s_spawn (self, slot);
    }
    else
    if (!self->pooled)
        s_slot_destroy (&slot);
}

static void
s_retry_due (self_t *self)
{
    int64_t now = zclock_mono ();
    s_slot_t *slot = (s_slot_t *) zlistx_first (self->retries);
    while (slot) {
        if (slot->retry_at <= now) {
            zlistx_delete (self->retries, zlistx_cursor (self->retries));
            slot->phase = SLOT_EMPTY;
            slot->retry_at = 0;
            self->live_count--;
            if (self->status == ENV_ONLINE || self->status == ENV_CREATED) {
                self->live_count++;
                s_spawn (self, slot);
            }
            else
            if (!self->pooled)
                s_slot_destroy (&slot);
            slot = (s_slot_t *) zlistx_first (self->retries);
        }
        else
            slot = (s_slot_t *) zlistx_next (self->retries);
    }
}

//  --- Shutdown ----------------------------------------------------------------

static void
s_shutdown (self_t *self, sbx_error_t *reason)
{
    sbx_error_destroy (&reason);
    if (self->status == ENV_OFFLINE)
        return;
    if (self->status == ENV_CREATED) {
        //  The start finishes first, so that every environment.start has
        //  its environment.shutdown; unless it is stuck retrying.
        self->shutdown_deferred = true;
        if (zlistx_size (self->retries) == 0)
            return;
        sbx_error_t *error = sbx_error_new (SBX_OUTAGE_ERROR, "environment %s was shut down "
                                            "before its pool could start", self->config->env_id);
        s_emit (self, SBX_EV_ENVIRONMENT_START, error);
        sbx_error_destroy (&error);
        self->status = ENV_ONLINE;
    }
    if (self->status != ENV_SHUTTING_DOWN) {
        sbx_log_info (self->config->env_id, "environment shutting down");
        self->status = ENV_SHUTTING_DOWN;
        s_signal_shutdown (self);
        s_fail_waiters (self, SBX_OUTAGE_ERROR, "the environment is shutting down");
        //  Slots waiting to retry will not be brought up again.
        s_slot_t *slot;
        while ((slot = (s_slot_t *) zlistx_first (self->retries))) {
            zlistx_delete (self->retries, zlistx_cursor (self->retries));
            slot->phase = SLOT_EMPTY;
            self->live_count--;
            if (slot->waiter)
                s_fail (self, &slot->waiter, SBX_OUTAGE_ERROR, "environment %s is shutting down",
                        self->config->env_id);
            if (!self->pooled)
                s_slot_destroy (&slot);
        }
        //  Shut down every started sandbox, in parallel (each on its
        //  thread). Once: the calls that follow, one per sandbox gone, only
        //  count; a sandbox still starting gets its SHUTDOWN when its START
        //  arrives (s_handle_sandbox).
        for (slot = (s_slot_t *) zhashx_first (self->by_id); slot;
             slot = (s_slot_t *) zhashx_next (self->by_id)) {
            if (slot->phase == SLOT_LIVE && !slot->shutdown_sent && slot->status != SBX_STATUS_OFFLINE) {
                slot->shutdown_sent = true;
                s_internal_job (self, slot, SBX_JOB_SHUTDOWN);
            }
        }
    }
    if (self->live_count > 0)
        return;
    self->status = ENV_OFFLINE;
    //  An outage is not on it: environment.start or the request that met
    //  it said so already.
    s_emit (self, SBX_EV_ENVIRONMENT_SHUTDOWN, self->shutdown_error);
    s_flush_events (self);
    sbx_log_info (self->config->env_id, "environment offline");
    zsock_send (self->pipe, "si", "DONE", self->exit_code);
    s_touch (self, S_ITEM_PIPE);
}

//  --- Answers from sandboxes ----------------------------------------------------

static void
s_mirror (self_t *self, s_slot_t *slot, sbx_job_t *job)
{
    slot->status = job->status;
    free (slot->session_id);
    slot->session_id = job->current_session;
    job->current_session = NULL;
    if (job->new_state_errors) {
        sbx_error_t *error = (sbx_error_t *) zlistx_first (job->new_state_errors);
        while (error) {
            zlistx_add_end (slot->state_errors, error);
            error = (sbx_error_t *) zlistx_next (job->new_state_errors);
        }
        zlistx_destroy (&job->new_state_errors);
    }
    if (job->shutdown_error && self->status == ENV_SHUTTING_DOWN && !self->shutdown_error) {
        self->shutdown_error = job->shutdown_error;
        job->shutdown_error = NULL;
    }
    self->stats.sessions_started += job->sessions_started;
    self->stats.sessions_ended += job->sessions_ended;
    self->stats.calls += job->calls;
    self->stats.calls_failed += job->calls_failed;
}

//  Replies to the client of an answered job; returns true when the job was
//  handed on (refused acquire offered again) instead of answered.
static bool
s_answer_client (self_t *self, s_slot_t *slot, sbx_job_t *job)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    const sbx_request_t *request = &job->request;
    if (job->refused && self->pooled && self->status == ENV_ONLINE) {
        //  The sandbox changed under us (e.g. housekeeping shut it down):
        //  the request goes back to the head of the queue.
        sbx_error_destroy (&job->error);
        job->refused = false;
        zlistx_add_start (self->waiters, job);
        msgpack_sbuffer_destroy (&body);
        return true;
    }
    if (job->error) {
        sbx_reply_error (&body, request->has_id, request->id, job->error);
        if (job->kind == SBX_JOB_ACQUIRE || job->kind == SBX_JOB_SESSION_OPEN)
            s_disown (slot);
    }
    else
    switch (job->kind) {
        case SBX_JOB_ACQUIRE:
        case SBX_JOB_SESSION_OPEN:
            slot->owned = true;
            s_new_token (self, slot->token);
            slot->lease_deadline = zclock_mono () + s_ms (self->config->session_lease_s);
            if (job->kind == SBX_JOB_ACQUIRE)
                sbx_reply_acquire (&body, request->has_id, request->id, slot->id, slot->token);
            else
                sbx_reply_session_open (&body, request->has_id, request->id, slot->id,
                                        slot->token, job->session_id);
            break;
        case SBX_JOB_SESSION_START:
            sbx_reply_session_start (&body, request->has_id, request->id, job->session_id);
            break;
        case SBX_JOB_CALL:
        case SBX_JOB_EPHEMERAL: {
            bool ephemeral = job->kind == SBX_JOB_EPHEMERAL || job->status != SBX_STATUS_IN_SESSION;
            sbx_reply_call (&body, request->has_id, request->id, job->result.data, job->result.size,
                            ephemeral ? slot->id : NULL, ephemeral ? job->session_id : NULL);
            break;
        }
        default:
            sbx_reply_ok (&body, request->has_id, request->id);
            break;
    }
    //  After these the sandbox is nobody's.
    if (job->kind == SBX_JOB_SESSION_END || job->kind == SBX_JOB_EPHEMERAL
    ||  (job->kind == SBX_JOB_CALL && job->status != SBX_STATUS_IN_SESSION)
    ||  (job->kind == SBX_JOB_SESSION_START && job->error))
        s_disown (slot);
    s_send_reply (self, job, &body);
    msgpack_sbuffer_destroy (&body);
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
    char id [256];
    snprintf (id, sizeof id, "%s/%u:%u", self->config->env_id, job->slot, job->generation);
    s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->by_id, id);
    if (!slot) {
        sbx_log_error (self->config->env_id, "bug: answer from unknown sandbox %s", id);
        s_forward_events (self, job);
        sbx_job_destroy (&job);
        return true;
    }
    bool kept = false;
    if (job->kind != SBX_JOB_START && job->kind != SBX_JOB_NOTICE)
        slot->inflight--;
    //  The lease runs from the owner's last answer: the time the sandbox
    //  spent on the request is not the client's silence.
    if (job->envelope && slot->owned)
        slot->lease_deadline = zclock_mono () + s_ms (self->config->session_lease_s);
    if (job->envelope)
        kept = s_answer_client (self, slot, job);
    //  The sandbox's events go out before anything the environment does
    //  about them.
    s_forward_events (self, job);
    s_mirror (self, slot, job);

    if (job->kind == SBX_JOB_START) {
        self->spawning--;
        slot->phase = SLOT_LIVE;
        slot->started = job->error == NULL;
        if (slot->started) {
            self->stats.sandboxes_started++;
            if (slot->ever_started)
                self->stats.sandboxes_replaced++;
            slot->ever_started = true;
            slot->first_failure = 0;
            slot->for_waiter = false;
        }
        else {
            slot->start_error = job->error;
            job->error = NULL;
        }
    }
    if (slot->status == SBX_STATUS_OFFLINE || !slot->started)
        s_disown (slot);
    if (!kept)
        sbx_job_destroy (&job);

    if (slot->phase == SLOT_LIVE && slot->status == SBX_STATUS_OFFLINE && slot->inflight == 0) {
        s_slot_finished (self, slot);
        return true;
    }
    if (slot->phase == SLOT_LIVE && slot->started && self->status == ENV_SHUTTING_DOWN
    &&  !slot->shutdown_sent) {
        slot->shutdown_sent = true;
        s_internal_job (self, slot, SBX_JOB_SHUTDOWN);
        return true;
    }
    if (slot->started && slot->waiter && slot->status == SBX_STATUS_READY && slot->inflight == 0) {
        //  No pooling: the sandbox made for this request.
        sbx_job_t *waiter = slot->waiter;
        slot->waiter = NULL;
        s_give (self, slot, waiter);
        return true;
    }
    if (s_slot_idle_ready (slot))
        s_set_ready_bit (self, slot, true);
    s_check_started (self);
    s_serve_waiters (self);
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
        //  The thread could not start (socket or thread limit): the slot is
        //  treated as a failed start, without events.
        s_slot_t *slot = NULL;
        for (s_slot_t *s = (s_slot_t *) zhashx_first (self->by_id); s;
             s = (s_slot_t *) zhashx_next (self->by_id))
            if (s->index == (unsigned) slot_index && s->phase == SLOT_SPAWNING)
                slot = s;
        if (slot) {
            self->spawning--;
            slot->phase = SLOT_LIVE;
            slot->status = SBX_STATUS_OFFLINE;
            slot->start_error = sbx_error_new (SBX_STATE_ERROR, "cannot start a thread for sandbox %s "
                                               "(socket or thread limit)", slot->id);
            s_slot_finished (self, slot);
        }
    }
    zstr_free (&command);
}

//  --- Requests from clients ------------------------------------------------------

static s_slot_t *
s_owned_slot (self_t *self, sbx_job_t **job_p)
{
    sbx_job_t *job = *job_p;
    s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->by_id, job->request.sandbox);
    if (!slot || slot->phase != SLOT_LIVE) {
        s_fail (self, job_p, SBX_NOT_FOUND, "no sandbox '%s'", job->request.sandbox);
        return NULL;
    }
    if (!job->request.token) {
        s_fail (self, job_p, SBX_UNAUTHORIZED, "missing token for sandbox %s", slot->id);
        return NULL;
    }
    if (!s_token_ok (slot, job->request.token)) {
        s_fail (self, job_p, SBX_UNAUTHORIZED, "wrong token for sandbox %s (it is not yours, "
                "or its lease lapsed)", slot->id);
        return NULL;
    }
    slot->lease_deadline = zclock_mono () + s_ms (self->config->session_lease_s);
    return slot;
}

//  NotFound unless `feature.method` exists in the template.
static bool
s_method_known (self_t *self, sbx_job_t **job_p)
{
    const sbx_request_t *request = &(*job_p)->request;
    const sbx_method_t *methods = self->config->sandbox_kind->methods;
    if (request->feature) {
        int index = sbx_config_feature_index (self->config, request->feature);
        if (index < 0) {
            s_fail (self, job_p, SBX_NOT_FOUND, "no feature '%s'", request->feature);
            return false;
        }
        methods = self->config->features [index].kind->methods;
    }
    for (size_t i = 0; methods && methods [i].name; i++)
        if (streq (methods [i].name, request->method))
            return true;
    char what [300];
    snprintf (what, sizeof what, "%s%s%s", request->feature ? request->feature : "",
              request->feature ? "." : "", request->method);
    s_fail (self, job_p, SBX_NOT_FOUND, "no method '%s'", what);
    return false;
}

static bool
s_session_id_ok (self_t *self, sbx_job_t **job_p)
{
    //  Session ids appear in logs and the text form: printable, no '/'.
    const char *id = (*job_p)->request.session_id;
    bool ok = !id || (*id && strlen (id) <= S_SESSION_ID_MAX);
    for (const char *c = id; ok && c && *c; c++)
        ok = (unsigned char) *c >= 0x20 && *c != 0x7f && *c != '/';
    if (!ok)
        s_fail (self, job_p, SBX_BAD_REQUEST, "key 'session_id' must be 1-128 printable characters "
                "without '/', got '%.40s'", id);
    return ok;
}

static void
s_hello (self_t *self, sbx_job_t *job)
{
    size_t count = self->config->feature_count;
    sbx_feature_info_t *features = (sbx_feature_info_t *) zmalloc ((count + 1) * sizeof (sbx_feature_info_t));
    const char ***lists = (const char ***) zmalloc ((count + 2) * sizeof (char **));
    for (size_t i = 0; i <= count; i++) {
        const sbx_method_t *methods = i < count ? self->config->features [i].kind->methods
                                                : self->config->sandbox_kind->methods;
        size_t n = 0;
        while (methods && methods [n].name)
            n++;
        lists [i] = (const char **) zmalloc ((n + 1) * sizeof (char *));
        for (size_t m = 0; m < n; m++)
            lists [i][m] = methods [m].name;
        if (i < count) {
            features [i].name = self->config->features [i].name;
            features [i].kind = self->config->features [i].kind->name;
            features [i].methods = lists [i];
        }
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_hello (&body, job->request.has_id, job->request.id, SBX_VERSION,
                     self->config->env_id, s_env_status_names [self->status],
                     self->events_endpoint, features, count, lists [count]);
    s_send_reply (self, job, &body);
    msgpack_sbuffer_destroy (&body);
    for (size_t i = 0; i <= count; i++)
        free (lists [i]);
    free (lists);
    free (features);
}

static int
s_compare_slots (const void *a, const void *b)
{
    const s_slot_t *x = *(const s_slot_t *const *) a, *y = *(const s_slot_t *const *) b;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void
s_status (self_t *self, sbx_job_t *job)
{
    size_t count = zhashx_size (self->by_id);
    s_slot_t **slots = (s_slot_t **) zmalloc ((count + 1) * sizeof (s_slot_t *));
    size_t n = 0;
    for (s_slot_t *slot = (s_slot_t *) zhashx_first (self->by_id); slot;
         slot = (s_slot_t *) zhashx_next (self->by_id))
        if (!job->request.sandbox || streq (job->request.sandbox, slot->id))
            slots [n++] = slot;
    if (job->request.sandbox && n == 0) {
        free (slots);
        s_fail (self, &job, SBX_NOT_FOUND, "no sandbox '%s'", job->request.sandbox);
        return;
    }
    qsort (slots, n, sizeof (s_slot_t *), s_compare_slots);
    sbx_sandbox_info_t *infos = (sbx_sandbox_info_t *) zmalloc ((n + 1) * sizeof (sbx_sandbox_info_t));
    const sbx_error_t ***errors = (const sbx_error_t ***) zmalloc ((n + 1) * sizeof (void *));
    for (size_t i = 0; i < n; i++) {
        size_t error_count = zlistx_size (slots [i]->state_errors);
        errors [i] = (const sbx_error_t **) zmalloc ((error_count + 1) * sizeof (void *));
        size_t e = 0;
        for (sbx_error_t *error = (sbx_error_t *) zlistx_first (slots [i]->state_errors); error;
             error = (sbx_error_t *) zlistx_next (slots [i]->state_errors))
            errors [i][e++] = error;
        infos [i].id = slots [i]->id;
        infos [i].status = sbx_status_name (slots [i]->status);
        infos [i].session_id = slots [i]->session_id;
        infos [i].state_errors = errors [i];
        infos [i].state_error_count = e;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_status (&body, job->request.has_id, job->request.id, self->config->env_id,
                      s_env_status_names [self->status],
                      (double) (zclock_mono () - self->started_at) / 1000.0, infos, n);
    s_send_reply (self, job, &body);
    msgpack_sbuffer_destroy (&body);
    for (size_t i = 0; i < n; i++)
        free (errors [i]);
    free (errors);
    free (infos);
    free (slots);
    sbx_job_destroy (&job);
}

static void
s_fill_stats (self_t *self, sbx_stats_t *stats)
{
    *stats = self->stats;
    memset (stats->sandbox, 0, sizeof stats->sandbox);
    for (s_slot_t *slot = (s_slot_t *) zhashx_first (self->by_id); slot;
         slot = (s_slot_t *) zhashx_next (self->by_id))
        stats->sandbox [slot->status]++;
    stats->pool_min = self->config->pool_min;
    stats->pool_max = self->pooled ? self->config->pool_max : 0;
    stats->pool_size = zhashx_size (self->by_id);
}

static void
s_stats (self_t *self, sbx_job_t *job)
{
    sbx_stats_t stats;
    s_fill_stats (self, &stats);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_reply_stats (&body, job->request.has_id, job->request.id, &stats);
    s_send_reply (self, job, &body);
    msgpack_sbuffer_destroy (&body);
}

static void
s_handle_request (self_t *self, zmsg_t *msg)
{
    sbx_job_t *job = sbx_job_new (SBX_JOB_NOTICE);
    zframe_t *body = zmsg_last (msg);
    zmsg_remove (msg, body);
    job->envelope = msg;
    if (zmsg_size (msg) == 0 || zmsg_size (msg) > S_MAX_ENVELOPE || !body) {
        zframe_destroy (&body);
        self->stats.bad_requests++;
        if (zmsg_size (msg) == 0)
            sbx_job_destroy (&job);     //  nowhere to answer
        else
            s_fail (self, &job, SBX_BAD_REQUEST, "%s", "a request is one body frame after the envelope");
        return;
    }
    sbx_error_t *error = sbx_request_decode (zframe_data (body), zframe_size (body),
                                             &self->limits, &job->request);
    zframe_destroy (&body);
    if (error) {
        self->stats.bad_requests++;
        sbx_log_debug (self->config->env_id, "bad request: %s", sbx_error_message (error));
        s_reply_error (self, job, error);
        sbx_error_destroy (&error);
        sbx_job_destroy (&job);
        return;
    }
    sbx_request_t *request = &job->request;
    s_slot_t *slot;
    switch (request->op) {
        case SBX_OP_HELLO:
            s_hello (self, job);
            break;
        case SBX_OP_STATUS:
            s_status (self, job);
            return;
        case SBX_OP_STATS:
            s_stats (self, job);
            break;
        case SBX_OP_EVENTS_REPLAY:
            job->kind = SBX_JOB_REPLAY;
            s_flush_events (self);
            zsock_send (self->eventbus, "sp", "REPLAY", job);
            s_touch (self, S_ITEM_EVENTBUS);
            return;
        case SBX_OP_SHUTDOWN:
            s_reply_ok (self, job);
            sbx_job_destroy (&job);
            s_shutdown (self, NULL);
            return;
        case SBX_OP_ACQUIRE:
            s_acquire (self, job);
            return;
        case SBX_OP_SESSION_OPEN:
            if (s_session_id_ok (self, &job))
                s_acquire (self, job);
            return;
        case SBX_OP_CALL:
            if (!s_method_known (self, &job) || !s_session_id_ok (self, &job))
                return;
            if (!request->sandbox) {
                s_acquire (self, job);
                return;
            }
            if ((slot = s_owned_slot (self, &job))) {
                job->kind = SBX_JOB_CALL;
                if (slot->status != SBX_STATUS_IN_SESSION)
                    job->session_id = request->session_id ? strdup (request->session_id)
                                                          : s_new_session_id (self);
                s_dispatch (self, slot, job);
            }
            return;
        case SBX_OP_SESSION_START:
            if (!s_session_id_ok (self, &job))
                return;
            if ((slot = s_owned_slot (self, &job))) {
                if (slot->status != SBX_STATUS_ACQUIRED || slot->session_id) {
                    s_fail (self, &job, SBX_BAD_REQUEST, "sandbox %s already has a session", slot->id);
                    return;
                }
                job->kind = SBX_JOB_SESSION_START;
                job->session_id = request->session_id ? strdup (request->session_id)
                                                      : s_new_session_id (self);
                s_dispatch (self, slot, job);
            }
            return;
        case SBX_OP_SESSION_END:
            if ((slot = s_owned_slot (self, &job))) {
                job->kind = SBX_JOB_SESSION_END;
                s_disown (slot);
                s_dispatch (self, slot, job);
            }
            return;
        case SBX_OP_HEARTBEAT:
            if ((slot = s_owned_slot (self, &job))) {
                msgpack_sbuffer reply;
                msgpack_sbuffer_init (&reply);
                sbx_reply_heartbeat (&reply, request->has_id, request->id,
                                     (uint64_t) s_ms (self->config->session_lease_s));
                s_send_reply (self, job, &reply);
                msgpack_sbuffer_destroy (&reply);
                sbx_job_destroy (&job);
            }
            return;
        default:
            s_fail (self, &job, SBX_BAD_REQUEST, "%s", "unsupported op");
            return;
    }
    sbx_job_destroy (&job);
}

//  --- Timers ------------------------------------------------------------------

static void
s_check_leases (self_t *self, int64_t now)
{
    for (s_slot_t *slot = (s_slot_t *) zhashx_first (self->by_id); slot;
         slot = (s_slot_t *) zhashx_next (self->by_id)) {
        //  A sandbox busy with its owner's request is not a silent owner.
        if (slot->owned && slot->inflight == 0 && slot->lease_deadline <= now) {
            sbx_log_info (self->config->env_id, "lease of %s lapsed", slot->id);
            s_disown (slot);
            self->stats.leases_expired++;
            s_internal_job (self, slot, SBX_JOB_LEASE_EXPIRED);
        }
    }
}

static void
s_check_waiters (self_t *self, int64_t now)
{
    sbx_job_t *job = (sbx_job_t *) zlistx_first (self->waiters);
    while (job) {
        if (job->deadline <= now) {
            zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
            self->stats.acquires_overloaded++;
            s_fail (self, &job, SBX_OVERLOAD_ERROR, "every sandbox of %s stayed busy for the whole wait",
                    self->config->env_id);
            job = (sbx_job_t *) zlistx_first (self->waiters);
        }
        else
            job = (sbx_job_t *) zlistx_next (self->waiters);
    }
}

static int64_t
s_next_timer (self_t *self)
{
    int64_t next = self->next_lease_check;
    if (self->flush_at && self->flush_at < next)
        next = self->flush_at;
    if (self->next_stats && self->next_stats < next)
        next = self->next_stats;
    for (sbx_job_t *job = (sbx_job_t *) zlistx_first (self->waiters); job;
         job = (sbx_job_t *) zlistx_next (self->waiters))
        if (job->deadline < next)
            next = job->deadline;
    for (s_slot_t *slot = (s_slot_t *) zlistx_first (self->retries); slot;
         slot = (s_slot_t *) zlistx_next (self->retries))
        if (slot->retry_at < next)
            next = slot->retry_at;
    return next;
}

static void
s_timers (self_t *self)
{
    int64_t now = zclock_mono ();
    if (self->flush_at && now >= self->flush_at)
        s_flush_events (self);
    if (now < self->next_timer)
        return;
    if (now >= self->next_lease_check) {
        s_check_leases (self, now);
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
    s_check_waiters (self, now);
    s_retry_due (self);
    self->next_timer = s_next_timer (self);
}

//  --- Actor -------------------------------------------------------------------

static void
s_start (self_t *self)
{
    const sbx_config_t *config = self->config;
    char *error = NULL;
    self->frontend = zsock_new (ZMQ_ROUTER);
    self->eventbus_actor = sbx_actor_new (sbx_eventbus_actor, (void *) config);
    self->supervisor_actor = sbx_actor_new (sbx_supervisor_actor, NULL);
    self->eventbus = self->eventbus_actor ? sbx_actor_pipe (self->eventbus_actor) : NULL;
    self->supervisor = self->supervisor_actor ? sbx_actor_pipe (self->supervisor_actor) : NULL;
    self->shutdown_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!self->frontend || !self->eventbus || !self->supervisor || self->shutdown_fd < 0)
        error = zsys_sprintf ("cannot create the environment's sockets (socket limit?)");
    for (unsigned i = 0; !error && i < self->shards; i++) {
        self->backends [i] = zsock_new (ZMQ_ROUTER);
        if (!self->backends [i]) {
            error = zsys_sprintf ("cannot create the environment's sockets (socket limit?)");
            break;
        }
        zsock_set_sndhwm (self->backends [i], 0);
        zsock_set_rcvhwm (self->backends [i], 0);
        zsock_set_router_mandatory (self->backends [i], 1);
        if (zsock_bind (self->backends [i], "%s", self->backend_endpoints [i]) < 0)
            error = zsys_sprintf ("cannot bind %s", self->backend_endpoints [i]);
    }
    if (!error) {
        zsock_set_rcvhwm (self->frontend, 100000);
        zsock_set_sndhwm (self->frontend, 100000);
        zsock_set_linger (self->frontend, 0);
    }
    char *events_endpoint = NULL;
    if (!error) {
        zstr_send (self->eventbus, "START");
        char *status = NULL;
        zsock_recv (self->eventbus, "ss", &status, &events_endpoint);
        if (!status || !streq (status, "OK")) {
            error = events_endpoint;
            events_endpoint = NULL;
        }
        zstr_free (&status);
    }
    if (!error && zsock_bind (self->frontend, "%s", config->requests_endpoint) < 0)
        error = zsys_sprintf ("cannot bind requests endpoint %s: %s", config->requests_endpoint,
                              zmq_strerror (zmq_errno ()));
    if (error) {
        zsock_send (self->pipe, "ss", "ERROR", error);
        zstr_free (&error);
        zstr_free (&events_endpoint);
        return;
    }
    zsock_send (self->pipe, "sss", "OK", zsock_endpoint (self->frontend), events_endpoint);
    self->events_endpoint = events_endpoint;

    self->started_at = zclock_mono ();
    self->next_lease_check = self->started_at + 100;
    if (config->stats_report_interval_s > 0)
        self->next_stats = self->started_at + s_ms (config->stats_report_interval_s);
    if (self->pooled) {
        for (unsigned i = 0; i < config->pool_min; i++) {
            self->pool [i] = s_slot_new (i);
            self->live_count++;
            s_spawn (self, self->pool [i]);
        }
    }
    else
        s_go_online (self);
}

static self_t *
s_new (zsock_t *pipe, const sbx_config_t *config)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    self->pipe = pipe;
    self->config = config;
    self->status = ENV_CREATED;
    self->pooled = sbx_config_pooled (config);
    self->pool_max = self->pooled ? config->pool_max : 0;
    self->pool = (s_slot_t **) zmalloc ((self->pool_max + 1) * sizeof (s_slot_t *));
    self->ready_bits = (uint64_t *) zmalloc (((self->pool_max + 63) / 64 + 1) * sizeof (uint64_t));
    self->last_pick = self->pool_max ? self->pool_max - 1 : 0;
    self->by_id = zhashx_new ();
    self->waiters = zlistx_new ();
    self->retries = zlistx_new ();
    self->events = sbx_evbatch_new ();
    self->shutdown_fd = -1;
    self->random_used = sizeof self->random;
    self->seed = config->random_seed;
    self->limits.max_body_bytes = config->max_body_bytes;
    self->limits.max_depth = SBX_MP_MAX_DEPTH;
    self->shards = self->pooled ? (self->pool_max + S_SHARD - 1) / S_SHARD : 16;
    if (self->shards == 0)
        self->shards = 1;
    self->backends = (zsock_t **) zmalloc (self->shards * sizeof (zsock_t *));
    self->backend_endpoints = (char **) zmalloc (self->shards * sizeof (char *));
    for (unsigned i = 0; i < self->shards; i++)
        self->backend_endpoints [i] = zsys_sprintf ("inproc://sbx-backend-%p-%u", (void *) self, i);
    self->poller = sbx_poller_new (S_ITEM_BACKENDS + (int) self->shards);
    return self;
}

static void
s_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    //  Children first: the supervisor joins any sandbox left, then the
    //  event bus publishes and logs what it still holds.
    //  Also when it ended without a SHUTDOWN (its pipe failed): else the
    //  joins below would wait for sandboxes busy with a command.
    s_signal_shutdown (self);
    sbx_actor_destroy (&self->supervisor_actor);
    sbx_actor_destroy (&self->eventbus_actor);
    self->supervisor = self->eventbus = NULL;
    if (self->shutdown_fd >= 0)
        close (self->shutdown_fd);      //  every sandbox actor is joined
    sbx_job_t *job;
    while ((job = (sbx_job_t *) zlistx_first (self->waiters))) {
        zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        sbx_job_destroy (&job);
    }
    zlistx_destroy (&self->waiters);
    zlistx_destroy (&self->retries);
    for (s_slot_t *slot = (s_slot_t *) zhashx_first (self->by_id); slot;
         slot = (s_slot_t *) zhashx_next (self->by_id))
        if (!self->pooled)
            s_slot_destroy (&slot);
    zhashx_destroy (&self->by_id);
    for (unsigned i = 0; i < self->pool_max; i++)
        s_slot_destroy (&self->pool [i]);
    free (self->pool);
    free (self->ready_bits);
    sbx_error_destroy (&self->shutdown_error);
    sbx_evbatch_destroy (&self->events);
    zsock_destroy (&self->frontend);
    for (unsigned i = 0; i < self->shards; i++) {
        zsock_destroy (&self->backends [i]);
        zstr_free (&self->backend_endpoints [i]);
    }
    free (self->backends);
    free (self->backend_endpoints);
    sbx_poller_destroy (&self->poller);
    zstr_free (&self->events_endpoint);
    free (self);
    *self_p = NULL;
}

static void
s_handle_pipe (self_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "START"))
        s_start (self);
    else
    if (streq (command, "SHUTDOWN"))
        s_shutdown (self, NULL);
    else
        sbx_log_error (self->config->env_id, "unexpected command '%s'", command);
    zstr_free (&command);
}

//  One multipart message from the frontend, or NULL when none is waiting
//  (no blocking, no extra poll per message).
static zmsg_t *
s_recv_request (self_t *self)
{
    void *socket = zsock_resolve (self->frontend);
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&part);
        return NULL;
    }
    zmsg_t *msg = zmsg_new ();
    while (true) {
        bool more = zmq_msg_more (&part);
        zmsg_append (msg, &(zframe_t *) {zframe_new (zmq_msg_data (&part), zmq_msg_size (&part))});
        zmq_msg_close (&part);
        if (!more)
            break;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, socket, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
    }
    return msg;
}

static void
s_handle_eventbus (self_t *self)
{
    char *command = NULL;
    void *ptr = NULL;
    if (zsock_recv (self->eventbus, "sp", &command, &ptr) == 0 && command
    &&  streq (command, "REPLAY") && ptr) {
        sbx_job_t *job = (sbx_job_t *) ptr;
        s_send_reply (self, job, &job->result);
        sbx_job_destroy (&job);
    }
    zstr_free (&command);
}

void
sbx_environment_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_new (pipe, (const sbx_config_t *) args);
    zsock_signal (pipe, 0);
    //  The S_ITEM_* indices hold only if every socket is added, in order.
    bool polling = sbx_poller_add (self->poller, zsock_resolve (pipe)) == S_ITEM_PIPE;
    bool polling_all = false;
    while (polling && !self->terminated) {
        //  Started: every socket exists (s_start leaves them all or none
        //  usable; before START, or after a failed one, only the pipe).
        bool running = self->frontend && self->eventbus && self->supervisor
                    && self->backends [self->shards - 1];
        if (running && !polling_all) {
            polling = sbx_poller_add (self->poller, zsock_resolve (self->frontend)) == S_ITEM_FRONTEND
                   && sbx_poller_add (self->poller, zsock_resolve (self->supervisor)) == S_ITEM_SUPERVISOR
                   && sbx_poller_add (self->poller, zsock_resolve (self->eventbus)) == S_ITEM_EVENTBUS;
            for (unsigned i = 0; polling && i < self->shards; i++)
                polling = sbx_poller_add (self->poller, zsock_resolve (self->backends [i]))
                       == S_ITEM_BACKENDS + (int) i;
            if (!polling) {
                sbx_log_error (self->config->env_id, "cannot poll the environment's sockets");
                break;
            }
            polling_all = true;
        }
        int timeout = -1;
        if (running) {
            int64_t wait = self->next_timer - zclock_mono ();
            timeout = wait < 0 ? 0 : wait > INT_MAX ? INT_MAX : (int) wait;
        }
        int rc = sbx_poller_wait (self->poller, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0) {
            if (running)
                s_timers (self);
            continue;
        }
        if (sbx_poller_ready (self->poller, S_ITEM_PIPE))
            s_handle_pipe (self);
        if (!running || self->terminated)
            continue;
        //  Sandboxes first (they free capacity), then clients: everything
        //  pending per wake-up, in bounded rounds so no side starves (a
        //  socket handled is asked again before the next sleep).
        for (unsigned i = 0; i < self->shards; i++)
            if (sbx_poller_ready (self->poller, S_ITEM_BACKENDS + (int) i)) {
                int n = 0;
                while (n < S_DRAIN && s_handle_sandbox (self, self->backends [i]))
                    n++;
                if (n < S_DRAIN)
                    sbx_poller_settle (self->poller, S_ITEM_BACKENDS + (int) i);
            }
        if (sbx_poller_ready (self->poller, S_ITEM_SUPERVISOR))
            s_handle_supervisor (self);
        if (sbx_poller_ready (self->poller, S_ITEM_EVENTBUS))
            s_handle_eventbus (self);
        if (sbx_poller_ready (self->poller, S_ITEM_FRONTEND)) {
            zmsg_t *msg = NULL;
            int n = 0;
            while (n < S_DRAIN && (msg = s_recv_request (self))) {
                s_handle_request (self, msg);
                n++;
            }
            if (!msg)
                sbx_poller_settle (self->poller, S_ITEM_FRONTEND);
        }
        s_timers (self);
    }
    s_destroy (&self);
}
