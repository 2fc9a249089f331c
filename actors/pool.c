/*  sbx_pool - see pool.h; SPEC §4 and §4.3.

    Over 800 lines on purpose: one table and the rules that change it
    (filling, acquiring, growing, owners, bring-up failures, refills,
    closing), which share its private slot struct and the one function
    that sets a phase; split, the struct would have to be exposed. */
#include "actors/pool.h"
#include "runtime/core/log.h"

#include <string.h>

#define S_RESTARTS 10           //  refills of a slot per window before backing off
#define S_RESTART_WINDOW_MS 1000
#define S_RESTART_DELAY_MS 100

struct sbx_slot_t {
    unsigned index;
    unsigned generation;        //  of the current (or next) actor
    char id [256];
    sbx_phase_t phase;
    sbx_status_t status;        //  mirrored from the sandbox's reports
    int inflight;               //  jobs sent to it and not yet answered
    bool ever_started;          //  a generation of this slot started once
    sbx_error_t *start_error;   //  FAILED: why
    bool owned;
    char token [33];
    char owner_key [41];        //  the opener's CURVE key ("" without CURVE)
    int64_t lease_deadline;
    char *session_id;
    zlistx_t *state_errors;     //  sbx_error_t *
    int64_t first_failure;      //  bring-up failures: the first one (0: none)
    int64_t window_start;       //  restart intensity: the current window
    unsigned window_restarts;   //  refills of this slot in that window
    int64_t retry_at;           //  RETRY: when
    sbx_job_t *waiter;          //  no pooling: the request it was made for
    bool for_waiter;            //  pooled: brought up because of a waiter
    bool shutdown_sent;
    bool listed;                //  in by_id, counted in statuses
};

typedef enum { S_FILLING, S_OPEN, S_CLOSED } s_mode_t;

struct sbx_pool_t {
    const sbx_config_t *config;
    bool pooled;
    s_mode_t mode;
    sbx_slot_t **slots;         //  pooled: by index < max, NULL until used
    unsigned max;
    uint64_t *ready_bits;       //  pooled: the slot is ready to give
    unsigned last_pick;
    zhashx_t *by_id;            //  sandbox id -> slot, while it has an actor
    zlistx_t *retries;          //  slots in RETRY
    unsigned next_index;        //  no pooling: the next sandbox's number
    zlistx_t *waiters;          //  sbx_job_t *, first come first served
    unsigned phases [SBX_PHASE_COUNT];  //  slots in each phase
    uint64_t statuses [SBX_STATUS_COUNT];   //  slots in by_id, by status
    bool filled, drained;       //  FILLED, DRAINED said
    zlistx_t *actions;          //  sbx_pool_action_t *, in order
    sbx_pool_counters_t counters;
};

static int64_t
s_ms (double seconds)
{
    return (int64_t) (seconds * 1000.0 + 0.5);
}

//  --- Actions -----------------------------------------------------------------

static sbx_pool_action_t *
s_act (sbx_pool_t *self, sbx_pool_action_kind_t kind, sbx_slot_t *slot)
{
    sbx_pool_action_t *action = (sbx_pool_action_t *) zmalloc (sizeof (sbx_pool_action_t));
    action->kind = kind;
    action->slot = slot;
    zlistx_add_end (self->actions, action);
    return action;
}

static void
s_fail (sbx_pool_t *self, sbx_job_t *job, sbx_error_t *error)
{
    sbx_pool_action_t *action = s_act (self, SBX_POOL_FAIL, NULL);
    action->waiter = job;
    action->error = error;
}

sbx_pool_action_t *
sbx_pool_next (sbx_pool_t *self)
{
    sbx_pool_action_t *action = (sbx_pool_action_t *) zlistx_first (self->actions);
    if (action)
        zlistx_delete (self->actions, zlistx_cursor (self->actions));
    return action;
}

void
sbx_pool_action_destroy (sbx_pool_action_t **action_p)
{
    sbx_pool_action_t *action = *action_p;
    if (!action)
        return;
    sbx_job_destroy (&action->waiter);
    sbx_error_destroy (&action->error);
    free (action);
    *action_p = NULL;
}

//  --- Slots ---------------------------------------------------------------------

static void
s_clear_errors (sbx_slot_t *slot)
{
    sbx_error_t *error = (sbx_error_t *) zlistx_first (slot->state_errors);
    while (error) {
        sbx_error_destroy (&error);
        error = (sbx_error_t *) zlistx_next (slot->state_errors);
    }
    zlistx_purge (slot->state_errors);
}

static sbx_slot_t *
s_slot_new (sbx_pool_t *self, unsigned index)
{
    sbx_slot_t *slot = (sbx_slot_t *) zmalloc (sizeof (sbx_slot_t));
    slot->index = index;
    slot->state_errors = zlistx_new ();
    self->phases [SBX_PHASE_EMPTY]++;
    return slot;
}

static void
s_slot_destroy (sbx_pool_t *self, sbx_slot_t **slot_p)
{
    sbx_slot_t *slot = *slot_p;
    if (!slot)
        return;
    self->phases [slot->phase]--;
    s_clear_errors (slot);
    zlistx_destroy (&slot->state_errors);
    sbx_error_destroy (&slot->start_error);
    sbx_job_destroy (&slot->waiter);
    free (slot->session_id);
    free (slot);
    *slot_p = NULL;
}

//  The one place that derives the ready bit from a slot's state.
static void
s_sync (sbx_pool_t *self, sbx_slot_t *slot)
{
    if (!self->pooled)
        return;
    bool ready = slot->phase == SBX_PHASE_LIVE && slot->status == SBX_STATUS_READY
              && slot->inflight == 0 && !slot->owned;
    uint64_t bit = 1ull << (slot->index % 64);
    if (ready)
        self->ready_bits [slot->index / 64] |= bit;
    else
        self->ready_bits [slot->index / 64] &= ~bit;
}

//  The one place that changes a phase: counters, retry list and ready bit
//  follow it.
static void
s_set_phase (sbx_pool_t *self, sbx_slot_t *slot, sbx_phase_t phase)
{
    if (slot->phase == SBX_PHASE_RETRY) {
        void *handle = zlistx_find (self->retries, slot);
        if (handle)
            zlistx_delete (self->retries, handle);
    }
    self->phases [slot->phase]--;
    self->phases [phase]++;
    slot->phase = phase;
    if (phase == SBX_PHASE_RETRY)
        zlistx_add_end (self->retries, slot);
    s_sync (self, slot);
}

//  The one place that changes a status: the counts by status follow it.
static void
s_set_status (sbx_pool_t *self, sbx_slot_t *slot, sbx_status_t status)
{
    if (slot->listed) {
        self->statuses [slot->status]--;
        self->statuses [status]++;
    }
    slot->status = status;
}

//  A slot enters by_id (its actor is asked for) or leaves it (reaped).
static void
s_list (sbx_pool_t *self, sbx_slot_t *slot, bool listed)
{
    if (listed && !slot->listed)
        zhashx_update (self->by_id, slot->id, slot);
    if (!listed && slot->listed)
        zhashx_delete (self->by_id, slot->id);
    if (listed != slot->listed) {
        if (listed)
            self->statuses [slot->status]++;
        else
            self->statuses [slot->status]--;
    }
    slot->listed = listed;
}

//  Slots with an actor, or waiting to get one again.
static unsigned
s_live (sbx_pool_t *self)
{
    return self->phases [SBX_PHASE_SPAWNING] + self->phases [SBX_PHASE_LIVE]
         + self->phases [SBX_PHASE_FAILED] + self->phases [SBX_PHASE_RETRY];
}

void
sbx_pool_disown (sbx_pool_t *self, sbx_slot_t *slot)
{
    slot->owned = false;
    slot->token [0] = 0;
    slot->owner_key [0] = 0;
    s_sync (self, slot);
}

//  Asks for a new actor in this slot (its current generation).
static void
s_spawn (sbx_pool_t *self, sbx_slot_t *slot)
{
    s_list (self, slot, false);
    snprintf (slot->id, sizeof slot->id, "%s/%u:%u", self->config->env_id, slot->index, slot->generation);
    slot->status = SBX_STATUS_CREATED;
    slot->inflight = 0;
    slot->shutdown_sent = false;
    sbx_error_destroy (&slot->start_error);
    free (slot->session_id);
    slot->session_id = NULL;
    s_clear_errors (slot);
    sbx_pool_disown (self, slot);
    s_list (self, slot, true);
    s_set_phase (self, slot, SBX_PHASE_SPAWNING);
    s_act (self, SBX_POOL_SPAWN, slot);
}

//  Hands `job` to `slot`: it counts as sent at once, so the slot is not
//  picked twice.
static void
s_give (sbx_pool_t *self, sbx_slot_t *slot, sbx_job_t *job)
{
    slot->inflight++;
    s_sync (self, slot);
    s_act (self, SBX_POOL_GIVE, slot)->waiter = job;
}

static void
s_shutdown_slot (sbx_pool_t *self, sbx_slot_t *slot)
{
    slot->shutdown_sent = true;
    slot->inflight++;
    s_sync (self, slot);
    s_act (self, SBX_POOL_SHUTDOWN, slot);
}

//  --- Pool --------------------------------------------------------------------------

sbx_pool_t *
sbx_pool_new (const sbx_config_t *config)
{
    sbx_pool_t *self = (sbx_pool_t *) zmalloc (sizeof (sbx_pool_t));
    self->config = config;
    self->pooled = sbx_config_pooled (config);
    self->mode = S_FILLING;
    self->max = self->pooled ? config->pool_max : 0;
    self->slots = (sbx_slot_t **) zmalloc ((self->max + 1) * sizeof (sbx_slot_t *));
    self->ready_bits = (uint64_t *) zmalloc (((self->max + 63) / 64 + 1) * sizeof (uint64_t));
    self->last_pick = self->max ? self->max - 1 : 0;
    self->by_id = zhashx_new ();
    self->retries = zlistx_new ();
    self->waiters = zlistx_new ();
    self->actions = zlistx_new ();
    return self;
}

void
sbx_pool_destroy (sbx_pool_t **self_p)
{
    sbx_pool_t *self = *self_p;
    if (!self)
        return;
    sbx_pool_action_t *action;
    while ((action = sbx_pool_next (self)))
        sbx_pool_action_destroy (&action);
    zlistx_destroy (&self->actions);
    sbx_job_t *job;
    while ((job = (sbx_job_t *) zlistx_first (self->waiters))) {
        zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        sbx_job_destroy (&job);
    }
    zlistx_destroy (&self->waiters);
    if (!self->pooled) {
        //  Its slots live in by_id (with an actor) or retries (without).
        sbx_slot_t *slot;
        while ((slot = (sbx_slot_t *) zlistx_first (self->retries))) {
            zlistx_delete (self->retries, zlistx_cursor (self->retries));
            s_slot_destroy (self, &slot);
        }
        for (slot = (sbx_slot_t *) zhashx_first (self->by_id); slot;
             slot = (sbx_slot_t *) zhashx_next (self->by_id))
            s_slot_destroy (self, &slot);
    }
    zlistx_destroy (&self->retries);
    zhashx_destroy (&self->by_id);
    for (unsigned i = 0; i < self->max; i++)
        s_slot_destroy (self, &self->slots [i]);
    free (self->slots);
    free (self->ready_bits);
    free (self);
    *self_p = NULL;
}

static void
s_check_drained (sbx_pool_t *self)
{
    if (self->mode == S_CLOSED && !self->drained && s_live (self) == 0) {
        self->drained = true;
        s_act (self, SBX_POOL_DRAINED, NULL);
    }
}

//  The pre-filled pool is complete when every slot below min has started.
static void
s_check_filled (sbx_pool_t *self)
{
    if (self->mode != S_FILLING || self->filled)
        return;
    for (unsigned i = 0; self->pooled && i < self->config->pool_min; i++)
        if (!self->slots [i] || self->slots [i]->phase != SBX_PHASE_LIVE)
            return;
    self->filled = true;
    s_act (self, SBX_POOL_FILLED, NULL);
}

void
sbx_pool_fill (sbx_pool_t *self, int64_t now)
{
    for (unsigned i = 0; self->pooled && i < self->config->pool_min; i++) {
        self->slots [i] = s_slot_new (self, i);
        s_spawn (self, self->slots [i]);
    }
    s_check_filled (self);
}

//  Round robin: the first ready slot after the last pick, wrapping; a word
//  of the bitmap at a time, so the cost does not grow with the pool.
static sbx_slot_t *
s_pick_ready (sbx_pool_t *self)
{
    if (!self->pooled)
        return NULL;
    unsigned words = (self->max + 63) / 64;
    unsigned start = (self->last_pick + 1) % self->max;
    unsigned word = start / 64;
    uint64_t bits = self->ready_bits [word] & (~0ull << (start % 64));
    for (unsigned n = 0; n <= words; n++) {
        if (bits) {
            unsigned index = word * 64 + (unsigned) __builtin_ctzll (bits);
            self->last_pick = index;
            return self->slots [index];
        }
        word = (word + 1) % words;
        bits = self->ready_bits [word];
    }
    return NULL;
}

//  Gives ready sandboxes to waiters, first come first served.
static void
s_serve (sbx_pool_t *self)
{
    if (!self->pooled || self->mode != S_OPEN)
        return;
    while (zlistx_size (self->waiters)) {
        sbx_slot_t *slot = s_pick_ready (self);
        if (!slot)
            break;
        sbx_job_t *job = (sbx_job_t *) zlistx_first (self->waiters);
        zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        s_give (self, slot, job);
    }
}

void
sbx_pool_open (sbx_pool_t *self, int64_t now)
{
    if (self->mode != S_FILLING)
        return;
    self->mode = S_OPEN;
    for (sbx_job_t *job = (sbx_job_t *) zlistx_first (self->waiters); job;
         job = (sbx_job_t *) zlistx_next (self->waiters))
        job->deadline = now + job->wait_ms;
    s_serve (self);
}

static void
s_fail_waiters (sbx_pool_t *self, const char *type, const char *message)
{
    sbx_job_t *job;
    while ((job = (sbx_job_t *) zlistx_first (self->waiters))) {
        zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        s_fail (self, job, sbx_error_new (type, "%s", message));
    }
}

//  Fails the slot's waiter, if any, with an OutageError saying that the
//  environment is `state`; a slot of an unpooled environment goes too.
static void
s_let_go (sbx_pool_t *self, sbx_slot_t **slot_p, const char *state)
{
    sbx_slot_t *slot = *slot_p;
    if (slot->waiter)
        s_fail (self, slot->waiter, sbx_error_new (SBX_OUTAGE_ERROR, "environment %s is %s",
                                                   self->config->env_id, state));
    slot->waiter = NULL;
    if (!self->pooled)
        s_slot_destroy (self, slot_p);
}

static int
s_compare_slots (const void *a, const void *b)
{
    const sbx_slot_t *x = *(const sbx_slot_t *const *) a, *y = *(const sbx_slot_t *const *) b;
    return x->index < y->index ? -1 : x->index > y->index;
}

size_t
sbx_pool_list (sbx_pool_t *self, sbx_slot_t **slots, size_t size)
{
    size_t count = zhashx_size (self->by_id);
    sbx_slot_t **all = (sbx_slot_t **) zmalloc ((count + 1) * sizeof (sbx_slot_t *));
    size_t n = 0;
    for (sbx_slot_t *slot = (sbx_slot_t *) zhashx_first (self->by_id); slot;
         slot = (sbx_slot_t *) zhashx_next (self->by_id))
        all [n++] = slot;
    qsort (all, n, sizeof (sbx_slot_t *), s_compare_slots);
    memcpy (slots, all, (n < size ? n : size) * sizeof (sbx_slot_t *));
    free (all);
    return n;
}

void
sbx_pool_close (sbx_pool_t *self, const char *message)
{
    if (self->mode == S_CLOSED)
        return;
    self->mode = S_CLOSED;
    s_fail_waiters (self, SBX_OUTAGE_ERROR, message);
    //  Slots waiting to retry will not be brought up again.
    sbx_slot_t *slot;
    while ((slot = (sbx_slot_t *) zlistx_first (self->retries))) {
        s_set_phase (self, slot, SBX_PHASE_EMPTY);
        s_let_go (self, &slot, "shutting down");
    }
    //  Every started sandbox shuts down, in parallel, each on its thread;
    //  one still starting is told when its start is in (sbx_pool_settle).
    size_t count = zhashx_size (self->by_id);
    sbx_slot_t **slots = (sbx_slot_t **) zmalloc ((count + 1) * sizeof (sbx_slot_t *));
    count = sbx_pool_list (self, slots, count);
    for (size_t i = 0; i < count; i++)
        if (slots [i]->phase == SBX_PHASE_LIVE && !slots [i]->shutdown_sent
        &&  slots [i]->status != SBX_STATUS_OFFLINE)
            s_shutdown_slot (self, slots [i]);
    free (slots);
    s_check_drained (self);
}

bool
sbx_pool_retrying (sbx_pool_t *self)
{
    return self->phases [SBX_PHASE_RETRY] > 0;
}

//  --- Requests ---------------------------------------------------------------------

//  A pooled slot for growth: the lowest empty index.
static sbx_slot_t *
s_free_slot (sbx_pool_t *self)
{
    for (unsigned i = 0; i < self->max; i++) {
        if (!self->slots [i])
            return self->slots [i] = s_slot_new (self, i);
        if (self->slots [i]->phase == SBX_PHASE_EMPTY)
            return self->slots [i];
    }
    return NULL;
}

void
sbx_pool_acquire (sbx_pool_t *self, sbx_job_t *job, int64_t wait_ms, int64_t now)
{
    job->wait_ms = wait_ms;
    //  The wait counts from the moment the pool is open: a request that
    //  comes while it fills waits for that first.
    job->deadline = self->mode == S_OPEN ? now + wait_ms : INT64_MAX;
    if (!self->pooled) {
        //  No pooling: a fresh sandbox for this request alone, up to
        //  limits.sandboxes at once.
        if (s_live (self) >= self->config->sandboxes) {
            self->counters.acquires_refused++;
            s_fail (self, job, sbx_error_new (SBX_OVERLOAD_ERROR, "environment %s has %u sandboxes "
                    "already (limits.sandboxes)", self->config->env_id, s_live (self)));
            return;
        }
        sbx_slot_t *slot = s_slot_new (self, self->next_index++);
        slot->waiter = job;
        s_spawn (self, slot);
        return;
    }
    sbx_slot_t *slot = self->mode == S_OPEN && zlistx_size (self->waiters) == 0
                     ? s_pick_ready (self) : NULL;
    if (slot) {
        s_give (self, slot, job);
        return;
    }
    if (zlistx_size (self->waiters) >= self->config->waiting) {
        self->counters.acquires_refused++;
        s_fail (self, job, sbx_error_new (SBX_OVERLOAD_ERROR, "%zu requests already wait for a "
                "sandbox of %s (limits.waiting)", zlistx_size (self->waiters), self->config->env_id));
        return;
    }
    zlistx_add_end (self->waiters, job);
    self->counters.acquires_waited++;
    //  Below max the pool grows for this request (SPEC §4): bringing a
    //  sandbox up is bounded by the outage rules (§4.3), not by the wait
    //  limit, which is for a pool at max with every sandbox busy.
    bool grew = false;
    while (zlistx_size (self->waiters) > self->phases [SBX_PHASE_SPAWNING] && s_live (self) < self->max) {
        slot = s_free_slot (self);
        if (!slot)
            break;
        slot->for_waiter = true;
        s_spawn (self, slot);
        grew = true;
    }
    if (grew)
        job->deadline = INT64_MAX;
}

void
sbx_pool_requeue (sbx_pool_t *self, sbx_job_t *job)
{
    zlistx_add_start (self->waiters, job);
}

sbx_slot_t *
sbx_pool_lookup (sbx_pool_t *self, const char *id)
{
    return id ? (sbx_slot_t *) zhashx_lookup (self->by_id, id) : NULL;
}

void
sbx_pool_count_statuses (sbx_pool_t *self, uint64_t *counts)
{
    memcpy (counts, self->statuses, SBX_STATUS_COUNT * sizeof (uint64_t));
}

size_t
sbx_pool_waiting (sbx_pool_t *self)
{
    return zlistx_size (self->waiters);
}

size_t
sbx_pool_size (sbx_pool_t *self)
{
    return zhashx_size (self->by_id);
}

const sbx_pool_counters_t *
sbx_pool_counters (sbx_pool_t *self)
{
    return &self->counters;
}

//  --- Owners and leases ---------------------------------------------------------------

void
sbx_pool_own (sbx_pool_t *self, sbx_slot_t *slot, const char *token, const char *key,
              int64_t lease_deadline)
{
    slot->owned = true;
    snprintf (slot->token, sizeof slot->token, "%s", token);
    snprintf (slot->owner_key, sizeof slot->owner_key, "%s", key ? key : "");
    slot->lease_deadline = lease_deadline;
    s_sync (self, slot);
}

bool
sbx_pool_owner_is (sbx_slot_t *slot, const char *token)
{
    if (!slot->owned || !token || strlen (token) != 32)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < 32; i++)
        diff |= (unsigned char) (slot->token [i] ^ token [i]);
    return diff == 0;
}

void
sbx_pool_renew (sbx_slot_t *slot, int64_t lease_deadline)
{
    slot->lease_deadline = lease_deadline;
}

void
sbx_pool_expire (sbx_pool_t *self, int64_t now)
{
    for (sbx_slot_t *slot = (sbx_slot_t *) zhashx_first (self->by_id); slot;
         slot = (sbx_slot_t *) zhashx_next (self->by_id)) {
        //  A sandbox busy with its owner's request is not a silent owner.
        if (slot->owned && slot->inflight == 0 && slot->lease_deadline <= now) {
            sbx_pool_disown (self, slot);
            self->counters.leases_expired++;
            slot->inflight++;
            s_sync (self, slot);
            s_act (self, SBX_POOL_LAPSE, slot);
        }
    }
}

//  --- What sandboxes say -----------------------------------------------------------------

void
sbx_pool_dispatched (sbx_pool_t *self, sbx_slot_t *slot)
{
    slot->inflight++;
    s_sync (self, slot);
}

void
sbx_pool_answered (sbx_pool_t *self, sbx_slot_t *slot)
{
    if (slot->inflight == 0) {
        sbx_log_bug (self->config->env_id, "sandbox %s answered a job it was not sent", slot->id);
        return;
    }
    slot->inflight--;
    s_sync (self, slot);
}

void
sbx_pool_report (sbx_pool_t *self, sbx_slot_t *slot, sbx_status_t status,
                 char **session_p, zlistx_t *new_state_errors)
{
    s_set_status (self, slot, status);
    free (slot->session_id);
    slot->session_id = *session_p;
    *session_p = NULL;
    sbx_error_t *error;
    while (new_state_errors && (error = (sbx_error_t *) zlistx_first (new_state_errors))) {
        zlistx_delete (new_state_errors, zlistx_cursor (new_state_errors));
        zlistx_add_end (slot->state_errors, error);
    }
    s_sync (self, slot);
}

void
sbx_pool_started (sbx_pool_t *self, sbx_slot_t *slot, sbx_error_t *error, int64_t now)
{
    if (slot->phase != SBX_PHASE_SPAWNING) {
        sbx_log_bug (self->config->env_id, "start of %s reported twice", slot->id);
        sbx_error_destroy (&error);
        return;
    }
    if (error) {
        slot->start_error = error;
        s_set_phase (self, slot, SBX_PHASE_FAILED);
        return;
    }
    self->counters.sandboxes_started++;
    if (slot->ever_started)
        self->counters.sandboxes_replaced++;
    slot->ever_started = true;
    slot->first_failure = 0;
    slot->for_waiter = false;
    s_set_phase (self, slot, SBX_PHASE_LIVE);
}

static bool
s_retriable (const sbx_error_t *error)
{
    return sbx_error_is_state (error) || sbx_error_is (error, SBX_OUTAGE_ERROR)
        || sbx_error_is (error, SBX_OVERLOAD_ERROR);
}

//  A bring-up failed (SPEC §4.3): give up with a user error, retry a state
//  error until the grace period has passed since the first failure, then
//  outage. Takes `error`.
static void
s_bring_up_failed (sbx_pool_t *self, sbx_slot_t *slot, sbx_error_t *error, int64_t now)
{
    if (!s_retriable (error)) {
        //  A user error is not retried: it goes back at once.
        sbx_log_warning (self->config->env_id, "sandbox %s failed to start: %s: %s", slot->id,
                         sbx_error_type (error), sbx_error_message (error));
        slot->first_failure = 0;
        if (self->mode == S_FILLING && self->pooled) {
            s_act (self, SBX_POOL_START_FAILED, NULL)->error = error;
            return;
        }
        sbx_job_t *job = slot->waiter;
        slot->waiter = NULL;
        if (!job && slot->for_waiter && zlistx_size (self->waiters)) {
            job = (sbx_job_t *) zlistx_first (self->waiters);
            zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        }
        slot->for_waiter = false;
        if (job)
            s_fail (self, job, error);
        else
            sbx_error_destroy (&error);
        return;
    }
    if (!slot->first_failure)
        slot->first_failure = now;
    if ((double) (now - slot->first_failure) >= self->config->outage_grace_period_s * 1000.0) {
        sbx_error_t *outage = sbx_error_new (SBX_OUTAGE_ERROR,
            "no sandbox of environment %s could be brought up within the outage grace period "
            "(%gs); last error: %s: %s", self->config->env_id, self->config->outage_grace_period_s,
            sbx_error_type (error), sbx_error_message (error));
        sbx_error_destroy (&error);
        s_act (self, SBX_POOL_OUTAGE, NULL)->error = outage;
        return;
    }
    slot->retry_at = now + s_ms (self->config->outage_retry_interval_s);
    s_set_phase (self, slot, SBX_PHASE_RETRY);
    s_act (self, SBX_POOL_RETRYING, slot)->error = error;
}

//  A pooled slot whose sandbox ended: the next generation, at once or -
//  past S_RESTARTS refills within S_RESTART_WINDOW_MS - after a delay, so
//  that a sandbox that dies as soon as it starts cannot spin a core.
static void
s_refill (sbx_pool_t *self, sbx_slot_t *slot, int64_t now)
{
    if (now - slot->window_start > S_RESTART_WINDOW_MS) {
        slot->window_start = now;
        slot->window_restarts = 0;
    }
    slot->first_failure = 0;
    if (++slot->window_restarts <= S_RESTARTS) {
        s_spawn (self, slot);
        return;
    }
    int64_t delay = s_ms (self->config->outage_retry_interval_s);
    slot->retry_at = now + (delay > S_RESTART_DELAY_MS ? delay : S_RESTART_DELAY_MS);
    s_set_phase (self, slot, SBX_PHASE_RETRY);
    sbx_log_warning (self->config->env_id, "slot %u restarted %u times within %d ms: "
                     "next refill in %lld ms", slot->index, slot->window_restarts - 1,
                     S_RESTART_WINDOW_MS, (long long) (slot->retry_at - now));
}

//  The actor of `slot` is offline and owes no answer: reap it, then
//  refill, retry, or finish.
static void
s_finish (sbx_pool_t *self, sbx_slot_t *slot, int64_t now)
{
    snprintf (s_act (self, SBX_POOL_REAP, NULL)->sandbox, sizeof slot->id, "%s", slot->id);
    s_list (self, slot, false);
    sbx_pool_disown (self, slot);
    bool started = slot->phase == SBX_PHASE_LIVE;
    sbx_error_t *start_error = slot->start_error;
    slot->start_error = NULL;
    s_set_phase (self, slot, SBX_PHASE_EMPTY);
    slot->generation++;

    if (self->mode == S_CLOSED) {
        s_let_go (self, &slot, "shutting down");
        sbx_error_destroy (&start_error);
        s_check_drained (self);
        return;
    }
    if (!started) {
        if (!self->pooled && s_retriable (start_error)) {
            //  No pooling: a retry is a new sandbox, <env>/<n+1>:0 (a user
            //  error is not retried, so it takes no number).
            sbx_slot_t *next = s_slot_new (self, self->next_index++);
            next->waiter = slot->waiter;
            next->first_failure = slot->first_failure;
            slot->waiter = NULL;
            s_slot_destroy (self, &slot);
            slot = next;
        }
        s_bring_up_failed (self, slot, start_error, now);
        if (slot->phase != SBX_PHASE_RETRY)
            s_let_go (self, &slot, "offline");
        return;
    }
    sbx_error_destroy (&start_error);
    if (self->pooled)
        s_refill (self, slot, now);
    else
        s_slot_destroy (self, &slot);
}

void
sbx_pool_spawn_failed (sbx_pool_t *self, unsigned index, sbx_error_t *error, int64_t now)
{
    sbx_slot_t *slot = NULL;
    for (sbx_slot_t *s = (sbx_slot_t *) zhashx_first (self->by_id); s;
         s = (sbx_slot_t *) zhashx_next (self->by_id))
        if (s->index == index && s->phase == SBX_PHASE_SPAWNING)
            slot = s;
    if (!slot) {
        sbx_error_destroy (&error);
        return;
    }
    slot->start_error = error;
    s_set_status (self, slot, SBX_STATUS_OFFLINE);
    s_set_phase (self, slot, SBX_PHASE_FAILED);
    s_finish (self, slot, now);
}

void
sbx_pool_settle (sbx_pool_t *self, sbx_slot_t *slot, int64_t now)
{
    bool has_actor = slot->phase == SBX_PHASE_LIVE || slot->phase == SBX_PHASE_FAILED;
    if (slot->status == SBX_STATUS_OFFLINE || slot->phase != SBX_PHASE_LIVE)
        sbx_pool_disown (self, slot);
    if (has_actor && slot->status == SBX_STATUS_OFFLINE && slot->inflight == 0) {
        s_finish (self, slot, now);
        return;
    }
    if (slot->phase == SBX_PHASE_LIVE && self->mode == S_CLOSED && !slot->shutdown_sent) {
        s_shutdown_slot (self, slot);
        return;
    }
    if (slot->phase == SBX_PHASE_LIVE && slot->waiter && slot->status == SBX_STATUS_READY
    &&  slot->inflight == 0) {
        //  No pooling: the sandbox made for this request.
        sbx_job_t *job = slot->waiter;
        slot->waiter = NULL;
        s_give (self, slot, job);
        return;
    }
    s_sync (self, slot);
    s_check_filled (self);
    s_serve (self);
}

//  --- Time ------------------------------------------------------------------------------

void
sbx_pool_tick (sbx_pool_t *self, int64_t now)
{
    sbx_job_t *job = (sbx_job_t *) zlistx_first (self->waiters);
    while (job) {
        if (job->deadline <= now) {
            zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
            self->counters.acquires_overloaded++;
            s_fail (self, job, sbx_error_new (SBX_OVERLOAD_ERROR, "every sandbox of %s stayed busy "
                                              "for the whole wait", self->config->env_id));
            job = (sbx_job_t *) zlistx_first (self->waiters);
        }
        else
            job = (sbx_job_t *) zlistx_next (self->waiters);
    }
    //  Collect, then spawn: spawning changes the list.
    zlistx_t *due = zlistx_new ();
    for (sbx_slot_t *slot = (sbx_slot_t *) zlistx_first (self->retries); slot;
         slot = (sbx_slot_t *) zlistx_next (self->retries))
        if (slot->retry_at <= now)
            zlistx_add_end (due, slot);
    for (sbx_slot_t *slot = (sbx_slot_t *) zlistx_first (due); slot;
         slot = (sbx_slot_t *) zlistx_next (due))
        s_spawn (self, slot);
    zlistx_destroy (&due);
}

int64_t
sbx_pool_next_deadline (sbx_pool_t *self)
{
    int64_t next = INT64_MAX;
    for (sbx_job_t *job = (sbx_job_t *) zlistx_first (self->waiters); job;
         job = (sbx_job_t *) zlistx_next (self->waiters))
        if (job->deadline < next)
            next = job->deadline;
    for (sbx_slot_t *slot = (sbx_slot_t *) zlistx_first (self->retries); slot;
         slot = (sbx_slot_t *) zlistx_next (self->retries))
        if (slot->retry_at < next)
            next = slot->retry_at;
    return next;
}

//  --- A slot, read-only --------------------------------------------------------------------

const char *
sbx_slot_id (const sbx_slot_t *slot)
{
    return slot->id;
}

unsigned
sbx_slot_index (const sbx_slot_t *slot)
{
    return slot->index;
}

unsigned
sbx_slot_generation (const sbx_slot_t *slot)
{
    return slot->generation;
}

sbx_phase_t
sbx_slot_phase (const sbx_slot_t *slot)
{
    return slot->phase;
}

sbx_status_t
sbx_slot_status (const sbx_slot_t *slot)
{
    return slot->status;
}

const char *
sbx_slot_session (const sbx_slot_t *slot)
{
    return slot->session_id;
}

zlistx_t *
sbx_slot_state_errors (const sbx_slot_t *slot)
{
    return slot->state_errors;
}

bool
sbx_slot_owned (const sbx_slot_t *slot)
{
    return slot->owned;
}

const char *
sbx_slot_owner_key (const sbx_slot_t *slot)
{
    return slot->owner_key;
}

int
sbx_slot_inflight (const sbx_slot_t *slot)
{
    return slot->inflight;
}
