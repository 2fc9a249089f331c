/*  sbx_pool - the environment's pool table (SPEC §4): slots and their
    phases, the ready bitmap, the FIFO of waiting acquires, owners and
    leases, bring-up retries, outage and restart intensity.

    It holds no sockets and reads no clock: the environment tells it what
    happened (a request, a sandbox's report, the time) and it answers with
    actions, which the environment carries out in order (sbx_pool_next).
    So it can be driven alone, on an injected clock (tests/test_pool.c).

    A slot is one place in the pool: `<env>/<index>:<generation>`, one
    actor at a time. Its phase says where that actor is:

        EMPTY ──spawn──> SPAWNING ──start ok──> LIVE ──offline, owes nothing──> EMPTY
                              │                                                    (refill:
                              └──start failed──> FAILED ──offline──> EMPTY       SPAWNING,
                                                                                 or RETRY)
        RETRY ──retry_at──> SPAWNING

    Without pooling (pool.min 0) every acquire makes a slot of its own,
    numbered from 0 up, which is freed once its actor is reaped.

    Counters and the ready bitmap are derived from the phases and kept true
    by one function (s_set_phase / s_sync in pool.c). A slot is *ready* to
    give when it is LIVE, its sandbox reports `ready`, it owes no answer
    and nobody owns it.

    One thread only (the environment's).
*/
#ifndef SBX_POOL_H
#define SBX_POOL_H

#include "actors/proto.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    SBX_PHASE_EMPTY,            //  no actor
    SBX_PHASE_SPAWNING,         //  actor asked for; its start not answered
    SBX_PHASE_LIVE,             //  started; status mirrored from its reports
    SBX_PHASE_FAILED,           //  its start failed; it goes offline
    SBX_PHASE_RETRY,            //  waiting to be brought up again
    SBX_PHASE_COUNT
} sbx_phase_t;

typedef struct sbx_pool_t sbx_pool_t;
typedef struct sbx_slot_t sbx_slot_t;

typedef enum {
    SBX_POOL_SPAWN,             //  start an actor for `slot` (its id, index, generation)
    SBX_POOL_REAP,              //  join the finished actor named `sandbox`
    SBX_POOL_GIVE,              //  hand `waiter` to `slot`'s sandbox
    SBX_POOL_FAIL,              //  answer `waiter` with `error`
    SBX_POOL_SHUTDOWN,          //  tell `slot`'s sandbox to shut down
    SBX_POOL_LAPSE,             //  `slot`'s owner went silent: end its session
    SBX_POOL_FILLED,            //  every slot below min has started
    SBX_POOL_RETRYING,          //  a bring-up failed and will be retried (`error`)
    SBX_POOL_START_FAILED,      //  a user error while the pool first fills (`error`)
    SBX_POOL_OUTAGE,            //  no sandbox within the grace period (`error`)
    SBX_POOL_DRAINED            //  closed, and no actor is left
} sbx_pool_action_kind_t;

typedef struct {
    sbx_pool_action_kind_t kind;
    sbx_slot_t *slot;           //  SPAWN, GIVE, SHUTDOWN, LAPSE
    sbx_job_t *waiter;          //  GIVE, FAIL: handed over to the caller
    sbx_error_t *error;         //  FAIL, RETRYING, START_FAILED, OUTAGE: the action's
    char sandbox [256];         //  REAP
} sbx_pool_action_t;

//  Counters of what the pool did (the `stats` op).
typedef struct {
    uint64_t sandboxes_started, sandboxes_replaced;
    uint64_t acquires_waited, acquires_overloaded, acquires_refused;
    uint64_t leases_expired;
} sbx_pool_counters_t;

//  A pool for `config` (borrowed; it outlives the pool), filling: waiters
//  queue but are not served, and their wait does not count, until
//  sbx_pool_open.
sbx_pool_t *
    sbx_pool_new (const sbx_config_t *config);
//  Frees the pool, its slots and any waiter or action left (their jobs
//  too), and nulls *self_p.
void
    sbx_pool_destroy (sbx_pool_t **self_p);

//  The next action, or NULL. The caller owns it (and its waiter and
//  error) and frees it with sbx_pool_action_destroy.
sbx_pool_action_t *
    sbx_pool_next (sbx_pool_t *self);
void
    sbx_pool_action_destroy (sbx_pool_action_t **action_p);

//  --- The pool's own lifecycle ------------------------------------------

//  Pre-fills the pool: spawns slots 0 .. min-1 (FILLED follows once every
//  one has started). Without pooling there is nothing to fill.
void
    sbx_pool_fill (sbx_pool_t *self, int64_t now);
//  The environment is online: waiters' waits start counting from `now`,
//  and they are served.
void
    sbx_pool_open (sbx_pool_t *self, int64_t now);
//  The environment shuts down: waiters fail (EnvironmentOutageError with
//  `message`), retries are dropped, every live sandbox is told to shut
//  down (SHUTDOWN) and nothing is refilled. DRAINED follows when the last
//  actor is reaped (at once when there is none). Idempotent.
void
    sbx_pool_close (sbx_pool_t *self, const char *message);
//  True while a bring-up waits to be retried.
bool
    sbx_pool_retrying (sbx_pool_t *self);

//  --- Requests ----------------------------------------------------------

//  An acquire, session.open or ephemeral call (takes the job): GIVE at once
//  when a sandbox is ready, else it waits in FIFO order - until
//  `now + wait_ms` once the pool is open - and the pool grows for it up to
//  max; when limits.waiting requests wait already, FAIL at once
//  (EnvironmentOverloadError). Without pooling, a slot is made for it alone.
void
    sbx_pool_acquire (sbx_pool_t *self, sbx_job_t *job, int64_t wait_ms, int64_t now);
//  A sandbox refused a job given to it (it changed meanwhile): the job goes
//  back to the head of the queue (takes it).
void
    sbx_pool_requeue (sbx_pool_t *self, sbx_job_t *job);

//  The live slot (SPAWNING, LIVE or FAILED) of sandbox `id`, or NULL.
sbx_slot_t *
    sbx_pool_lookup (sbx_pool_t *self, const char *id);
//  Every slot with an actor, in index order: fills `slots` (at most
//  `size`), returns how many there are (which may be more than `size`).
size_t
    sbx_pool_list (sbx_pool_t *self, sbx_slot_t **slots, size_t size);
//  Sandboxes with an actor, by status (SBX_STATUS_COUNT entries). Kept as
//  statuses change: no walk over the pool.
void
    sbx_pool_count_statuses (sbx_pool_t *self, uint64_t *counts);
//  Requests waiting for a sandbox now.
size_t
    sbx_pool_waiting (sbx_pool_t *self);
//  Actors alive now (the `stats` op's pool.size).
size_t
    sbx_pool_size (sbx_pool_t *self);
const sbx_pool_counters_t *
    sbx_pool_counters (sbx_pool_t *self);

//  --- Owners and leases -------------------------------------------------

//  The slot now belongs to whoever holds `token` (32 hex characters) over
//  a connection authenticated with `key` (the opener's CURVE key, Z85;
//  "" or NULL without CURVE), until `lease_deadline`.
void
    sbx_pool_own (sbx_pool_t *self, sbx_slot_t *slot, const char *token, const char *key,
                  int64_t lease_deadline);
void
    sbx_pool_disown (sbx_pool_t *self, sbx_slot_t *slot);
//  True when `token` is the slot's owner's (compared in constant time).
bool
    sbx_pool_owner_is (sbx_slot_t *slot, const char *token);
void
    sbx_pool_renew (sbx_slot_t *slot, int64_t lease_deadline);
//  Owners whose lease ran out by `now` and whose sandbox owes them nothing
//  lose it: LAPSE for each.
void
    sbx_pool_expire (sbx_pool_t *self, int64_t now);

//  --- What sandboxes say --------------------------------------------------

//  A job was sent to the slot's sandbox / answered by it.
void
    sbx_pool_dispatched (sbx_pool_t *self, sbx_slot_t *slot);
void
    sbx_pool_answered (sbx_pool_t *self, sbx_slot_t *slot);
//  The sandbox's report, as its message left it: its status, session (taken)
//  and state errors met since the last one (the list is emptied).
void
    sbx_pool_report (sbx_pool_t *self, sbx_slot_t *slot, sbx_status_t status,
                     char **session_p, zlistx_t *new_state_errors);
//  Its start's result: NULL, or the error (taken).
void
    sbx_pool_started (sbx_pool_t *self, sbx_slot_t *slot, sbx_error_t *error, int64_t now);
//  Its actor could not be created at all: as a start failed with `error`
//  (taken) by a sandbox already offline.
void
    sbx_pool_spawn_failed (sbx_pool_t *self, unsigned index, sbx_error_t *error, int64_t now);
//  After any of the above for a slot: acts on where it now is (reaps and
//  refills, retries, gives it to a waiter, marks it ready, FILLED).
void
    sbx_pool_settle (sbx_pool_t *self, sbx_slot_t *slot, int64_t now);

//  --- Time ----------------------------------------------------------------

//  Waiters whose wait ran out fail (EnvironmentOverloadError); retries that
//  are due are spawned.
void
    sbx_pool_tick (sbx_pool_t *self, int64_t now);
//  The earliest time sbx_pool_tick has work, or INT64_MAX.
int64_t
    sbx_pool_next_deadline (sbx_pool_t *self);

//  --- A slot, read-only ---------------------------------------------------

const char *
    sbx_slot_id (const sbx_slot_t *slot);
unsigned
    sbx_slot_index (const sbx_slot_t *slot);
unsigned
    sbx_slot_generation (const sbx_slot_t *slot);
sbx_phase_t
    sbx_slot_phase (const sbx_slot_t *slot);
sbx_status_t
    sbx_slot_status (const sbx_slot_t *slot);
//  The session the sandbox reported last, or NULL.
const char *
    sbx_slot_session (const sbx_slot_t *slot);
//  Its state errors (sbx_error_t *), in the order met.
zlistx_t *
    sbx_slot_state_errors (const sbx_slot_t *slot);
bool
    sbx_slot_owned (const sbx_slot_t *slot);
//  The key its owner opened it with ("" without CURVE, or when not owned).
const char *
    sbx_slot_owner_key (const sbx_slot_t *slot);
//  Jobs sent to it and not yet answered.
int
    sbx_slot_inflight (const sbx_slot_t *slot);

#endif
