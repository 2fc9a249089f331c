/*  The pool table alone (actors/pool.h): driven directly, with no daemon,
    no sockets and an injected clock, so every rule of SPEC §4 that
    depends on time is checked to the millisecond without waiting. */
#include <criterion/criterion.h>

#include "actors/pool.h"
#include "runtime/core/config.h"

static const sbx_sandbox_kind_t s_kind = {.name = "fake"};

typedef struct {
    sbx_config_t config;
    sbx_pool_t *pool;
} s_fixture_t;

static s_fixture_t *
s_fixture (unsigned min, unsigned max, double grace_s, double retry_s)
{
    s_fixture_t *self = (s_fixture_t *) calloc (1, sizeof (s_fixture_t));
    self->config.env_id = "env";
    self->config.pool_min = min;
    self->config.pool_max = max;
    self->config.outage_grace_period_s = grace_s;
    self->config.outage_retry_interval_s = retry_s;
    self->config.session_lease_s = 300;
    self->config.waiting = 100;
    self->config.sandboxes = 100;
    self->config.sandbox_kind = &s_kind;
    self->pool = sbx_pool_new (&self->config);
    return self;
}

static void
s_fixture_destroy (s_fixture_t **self_p)
{
    sbx_pool_destroy (&(*self_p)->pool);
    free (*self_p);
    *self_p = NULL;
}

//  The next action must be of `kind`; returns it (caller destroys).
static sbx_pool_action_t *
s_expect (s_fixture_t *self, sbx_pool_action_kind_t kind)
{
    sbx_pool_action_t *action = sbx_pool_next (self->pool);
    cr_assert_not_null (action, "expected action %d, got none", (int) kind);
    cr_assert_eq (action->kind, kind, "expected action %d, got %d", (int) kind, (int) action->kind);
    return action;
}

//  The next action is `kind` (about `id`, when given); it is consumed.
static void
s_take (s_fixture_t *self, sbx_pool_action_kind_t kind, const char *id)
{
    sbx_pool_action_t *action = s_expect (self, kind);
    if (id && action->slot)
        cr_assert_str_eq (sbx_slot_id (action->slot), id);
    if (id && kind == SBX_POOL_REAP)
        cr_assert_str_eq (action->sandbox, id);
    sbx_pool_action_destroy (&action);
}

static void
s_none (s_fixture_t *self)
{
    sbx_pool_action_t *action = sbx_pool_next (self->pool);
    cr_assert_null (action, "unexpected action %d", action ? (int) action->kind : -1);
}

//  The sandbox `id` reports `status` (answering a job when `answer`).
static sbx_slot_t *
s_report (s_fixture_t *self, const char *id, sbx_status_t status, bool answer, int64_t now)
{
    sbx_slot_t *slot = sbx_pool_lookup (self->pool, id);
    cr_assert_not_null (slot, "no slot %s", id);
    if (answer)
        sbx_pool_answered (self->pool, slot);
    char *session = NULL;
    sbx_pool_report (self->pool, slot, status, &session, NULL);
    sbx_pool_settle (self->pool, slot, now);
    return slot;
}

//  The sandbox `id` answers its start: ready, or offline after `error`.
static void
s_start (s_fixture_t *self, const char *id, const char *error, int64_t now)
{
    sbx_slot_t *slot = sbx_pool_lookup (self->pool, id);
    cr_assert_not_null (slot, "no slot %s", id);
    char *session = NULL;
    sbx_pool_report (self->pool, slot, error ? SBX_STATUS_OFFLINE : SBX_STATUS_READY, &session, NULL);
    sbx_pool_started (self->pool, slot, error ? sbx_error_new (error, "start failed") : NULL, now);
    sbx_pool_settle (self->pool, slot, now);
}

static sbx_job_t *
s_job (uint64_t id)
{
    sbx_job_t *job = sbx_job_new (SBX_JOB_SESSION_OPEN);
    job->request.has_id = true;
    job->request.id = id;
    return job;
}

//  The next action is a GIVE of request `id` to sandbox `sandbox`.
static void
s_given (s_fixture_t *self, uint64_t id, const char *sandbox)
{
    sbx_pool_action_t *action = s_expect (self, SBX_POOL_GIVE);
    cr_assert_eq (action->waiter->request.id, id);
    cr_assert_str_eq (sbx_slot_id (action->slot), sandbox);
    sbx_pool_action_destroy (&action);
}

//  The next action fails request `id` with an error of `type`.
static void
s_failed (s_fixture_t *self, uint64_t id, const char *type)
{
    sbx_pool_action_t *action = s_expect (self, SBX_POOL_FAIL);
    cr_assert_eq (action->waiter->request.id, id);
    cr_assert_str_eq (sbx_error_type (action->error), type);
    sbx_pool_action_destroy (&action);
}

//  The pool fills from `now`: its `count` sandboxes spawn (env/0:0,
//  env/1:0, ...).
static void
s_fill (s_fixture_t *self, unsigned count, int64_t now)
{
    sbx_pool_fill (self->pool, now);
    for (unsigned i = 0; i < count; i++) {
        char id [32];
        snprintf (id, sizeof id, "env/%u:0", i);
        s_take (self, SBX_POOL_SPAWN, id);
    }
}

//  Same, and the `count` sandboxes start at `now`: the pool is filled
//  and opens.
static void
s_open_filled (s_fixture_t *self, unsigned count, int64_t now)
{
    s_fill (self, count, now);
    for (unsigned i = 0; i < count; i++) {
        char id [32];
        snprintf (id, sizeof id, "env/%u:0", i);
        s_start (self, id, NULL, now);
    }
    s_take (self, SBX_POOL_FILLED, NULL);
    sbx_pool_open (self->pool, now);
}

//  The sandbox `id` spawns, fails its start with `error` at `now` and is
//  reaped.
static void
s_spawn_fails (s_fixture_t *self, const char *id, const char *error, int64_t now)
{
    s_take (self, SBX_POOL_SPAWN, id);
    s_start (self, id, error, now);
    s_take (self, SBX_POOL_REAP, id);
}

//  Request `id` (waiting up to wait_ms from `now`) is given `sandbox` at
//  once.
static void
s_acquire_given (s_fixture_t *self, uint64_t id, int64_t wait_ms, int64_t now, const char *sandbox)
{
    sbx_pool_acquire (self->pool, s_job (id), wait_ms, now);
    s_given (self, id, sandbox);
}

Test (pool, fills_min_then_says_filled)
{
    s_fixture_t *f = s_fixture (2, 4, 10, 1);
    s_fill (f, 2, 0);
    s_none (f);
    s_start (f, "env/1:0", NULL, 5);
    s_none (f);
    s_start (f, "env/0:0", NULL, 6);
    s_take (f, SBX_POOL_FILLED, NULL);
    s_none (f);
    cr_assert_eq (sbx_pool_size (f->pool), 2);
    cr_assert_eq (sbx_pool_counters (f->pool)->sandboxes_started, 2);
    s_fixture_destroy (&f);
}

Test (pool, waits_count_from_open_and_time_out_exactly)
{
    s_fixture_t *f = s_fixture (1, 1, 10, 1);
    s_fill (f, 1, 0);
    //  While the pool fills, a request waits without a deadline.
    sbx_pool_acquire (f->pool, s_job (1), 200, 0);
    cr_assert_eq (sbx_pool_next_deadline (f->pool), INT64_MAX);
    s_start (f, "env/0:0", NULL, 1000);
    s_take (f, SBX_POOL_FILLED, NULL);
    sbx_pool_open (f->pool, 1000);
    s_given (f, 1, "env/0:0");
    //  The only sandbox is busy (given): the next request waits 200 ms from
    //  now, and fails at 200 ms, not a millisecond before.
    sbx_pool_acquire (f->pool, s_job (2), 200, 1500);
    cr_assert_eq (sbx_pool_next_deadline (f->pool), 1700);
    sbx_pool_tick (f->pool, 1699);
    s_none (f);
    sbx_pool_tick (f->pool, 1700);
    s_failed (f, 2, SBX_OVERLOAD_ERROR);
    cr_assert_eq (sbx_pool_counters (f->pool)->acquires_overloaded, 1);
    s_fixture_destroy (&f);
}

Test (pool, waiters_are_served_first_come_first_served)
{
    s_fixture_t *f = s_fixture (2, 2, 10, 1);
    s_open_filled (f, 2, 0);
    //  Round robin over ready slots, starting after the last pick.
    s_acquire_given (f, 1, 1000, 0, "env/0:0");
    s_acquire_given (f, 2, 1000, 0, "env/1:0");
    sbx_pool_acquire (f->pool, s_job (3), 1000, 0);
    sbx_pool_acquire (f->pool, s_job (4), 1000, 0);
    s_none (f);
    //  1:0 answers (acquired by 2, then its session ends: ready again).
    s_report (f, "env/1:0", SBX_STATUS_READY, true, 10);
    s_given (f, 3, "env/1:0");
    s_report (f, "env/0:0", SBX_STATUS_READY, true, 11);
    s_given (f, 4, "env/0:0");
    s_none (f);
    s_fixture_destroy (&f);
}

Test (pool, waiters_and_unpooled_sandboxes_are_bounded)
{
    s_fixture_t *f = s_fixture (1, 1, 10, 1);
    f->config.waiting = 2;
    s_fill (f, 1, 1000);
    sbx_pool_acquire (f->pool, s_job (1), 100, 1000);
    sbx_pool_acquire (f->pool, s_job (2), 100, 1000);
    //  limits.waiting (2) wait already: the third is refused at once.
    sbx_pool_acquire (f->pool, s_job (3), 100, 1000);
    s_failed (f, 3, SBX_OVERLOAD_ERROR);
    cr_assert_eq (sbx_pool_counters (f->pool)->acquires_refused, 1);
    s_fixture_destroy (&f);

    //  Without pooling: limits.sandboxes (3) at once.
    f = s_fixture (0, 0, 10, 1);
    f->config.sandboxes = 3;
    s_open_filled (f, 0, 1000);
    for (uint64_t id = 1; id <= 3; id++) {
        sbx_pool_acquire (f->pool, s_job (id), 100, 1000);
        s_take (f, SBX_POOL_SPAWN, NULL);
    }
    sbx_pool_acquire (f->pool, s_job (4), 100, 1000);
    s_failed (f, 4, SBX_OVERLOAD_ERROR);
    s_fixture_destroy (&f);
}

Test (pool, grows_to_max_for_waiters)
{
    s_fixture_t *f = s_fixture (1, 3, 10, 1);
    s_open_filled (f, 1, 0);
    s_acquire_given (f, 1, 100, 0, "env/0:0");
    //  Growing is a bring-up, bounded by the outage rules: no deadline.
    sbx_pool_acquire (f->pool, s_job (2), 100, 0);
    s_take (f, SBX_POOL_SPAWN, "env/1:0");
    sbx_pool_acquire (f->pool, s_job (3), 100, 0);
    s_take (f, SBX_POOL_SPAWN, "env/2:0");
    cr_assert_eq (sbx_pool_next_deadline (f->pool), INT64_MAX);
    //  At max, a fourth waits for the wait limit.
    sbx_pool_acquire (f->pool, s_job (4), 100, 0);
    s_none (f);
    cr_assert_eq (sbx_pool_next_deadline (f->pool), 100);
    s_start (f, "env/2:0", NULL, 5);
    s_given (f, 2, "env/2:0");
    s_start (f, "env/1:0", NULL, 6);
    s_given (f, 3, "env/1:0");
    sbx_pool_tick (f->pool, 100);
    s_failed (f, 4, SBX_OVERLOAD_ERROR);
    s_fixture_destroy (&f);
}

//  SPEC §4.3: failures at 0, 50, ..., 300 ms; the one at 300 ms has seen
//  the whole grace: seven attempts, then the outage.
Test (pool, retries_every_interval_until_the_grace_has_passed)
{
    s_fixture_t *f = s_fixture (1, 1, 0.3, 0.05);
    int64_t now = 1000;         //  a monotonic clock is never 0
    sbx_pool_fill (f->pool, now);
    for (unsigned generation = 0; generation < 7; generation++) {
        char id [32];
        snprintf (id, sizeof id, "env/0:%u", generation);
        s_spawn_fails (f, id, SBX_STATE_ERROR, now);
        if (generation < 6) {
            s_take (f, SBX_POOL_RETRYING, NULL);
            cr_assert (sbx_pool_retrying (f->pool));
            cr_assert_eq (sbx_pool_next_deadline (f->pool), now + 50);
            sbx_pool_tick (f->pool, now + 49);
            s_none (f);
            now += 50;
            sbx_pool_tick (f->pool, now);
        }
    }
    sbx_pool_action_t *action = s_expect (f, SBX_POOL_OUTAGE);
    cr_assert_str_eq (sbx_error_type (action->error), SBX_OUTAGE_ERROR);
    cr_assert (strstr (sbx_error_message (action->error), "SandboxStateError"));
    sbx_pool_action_destroy (&action);
    s_none (f);
    s_fixture_destroy (&f);
}

Test (pool, a_grace_of_zero_means_one_attempt)
{
    s_fixture_t *f = s_fixture (0, 0, 0, 0);
    s_open_filled (f, 0, 1000);
    sbx_pool_acquire (f->pool, s_job (1), 1000, 1000);
    s_spawn_fails (f, "env/0:0", SBX_STATE_ERROR, 1000);
    s_take (f, SBX_POOL_OUTAGE, NULL);
    s_failed (f, 1, SBX_OUTAGE_ERROR);
    s_none (f);
    s_fixture_destroy (&f);
}

Test (pool, without_pooling_a_retry_is_the_next_sandbox_and_a_user_error_is_not_retried)
{
    s_fixture_t *f = s_fixture (0, 0, 1, 0.1);
    s_open_filled (f, 0, 1000);
    sbx_pool_acquire (f->pool, s_job (1), 1000, 1000);
    s_spawn_fails (f, "env/0:0", SBX_STATE_ERROR, 1000);
    s_take (f, SBX_POOL_RETRYING, NULL);
    sbx_pool_tick (f->pool, 1099);
    s_none (f);
    sbx_pool_tick (f->pool, 1100);
    s_take (f, SBX_POOL_SPAWN, "env/1:0");
    s_start (f, "env/1:0", NULL, 1110);
    s_given (f, 1, "env/1:0");
    //  A user error goes back at once and takes no retry.
    sbx_pool_acquire (f->pool, s_job (2), 1000, 1200);
    s_spawn_fails (f, "env/2:0", "ValueError", 1200);
    s_failed (f, 2, "ValueError");
    s_none (f);
    s_fixture_destroy (&f);
}

Test (pool, a_user_error_while_filling_fails_the_start)
{
    s_fixture_t *f = s_fixture (1, 1, 10, 1);
    s_fill (f, 1, 0);
    s_start (f, "env/0:0", "ValueError", 0);
    s_take (f, SBX_POOL_REAP, "env/0:0");
    sbx_pool_action_t *action = s_expect (f, SBX_POOL_START_FAILED);
    cr_assert_str_eq (sbx_error_type (action->error), "ValueError");
    sbx_pool_action_destroy (&action);
    s_none (f);
    s_fixture_destroy (&f);
}

//  Past 10 refills of a slot within a second, the next refill waits
//  max(retry interval, 100 ms).
Test (pool, restart_intensity_backs_off_the_eleventh_refill)
{
    s_fixture_t *f = s_fixture (1, 1, 10, 0.02);
    s_open_filled (f, 1, 0);
    int64_t now = 1;
    for (unsigned generation = 0; generation < 11; generation++) {
        char id [32], next [32];
        snprintf (id, sizeof id, "env/0:%u", generation);
        snprintf (next, sizeof next, "env/0:%u", generation + 1);
        s_report (f, id, SBX_STATUS_OFFLINE, false, now);
        s_take (f, SBX_POOL_REAP, id);
        if (generation < 10) {
            s_take (f, SBX_POOL_SPAWN, next);
            s_start (f, next, NULL, now);
            now += 10;
        }
    }
    //  The eleventh refill within the window: 100 ms later, not at once.
    s_none (f);
    cr_assert_eq (sbx_pool_next_deadline (f->pool), now + 100);
    sbx_pool_tick (f->pool, now + 99);
    s_none (f);
    sbx_pool_tick (f->pool, now + 100);
    s_take (f, SBX_POOL_SPAWN, "env/0:11");
    s_fixture_destroy (&f);
}

Test (pool, an_owner_that_goes_silent_loses_the_sandbox)
{
    s_fixture_t *f = s_fixture (1, 1, 10, 1);
    s_open_filled (f, 1, 0);
    s_acquire_given (f, 1, 1000, 0, "env/0:0");
    sbx_slot_t *slot = s_report (f, "env/0:0", SBX_STATUS_IN_SESSION, true, 10);
    sbx_pool_own (f->pool, slot, "0123456789abcdef0123456789abcdef", "", 310);
    cr_assert (sbx_pool_owner_is (slot, "0123456789abcdef0123456789abcdef"));
    cr_assert_not (sbx_pool_owner_is (slot, "0123456789abcdef0123456789abcdee"));
    cr_assert_not (sbx_pool_owner_is (slot, "short"));
    //  Busy with its owner's request: not silent, whatever the time.
    sbx_pool_dispatched (f->pool, slot);
    sbx_pool_expire (f->pool, 1000);
    s_none (f);
    sbx_pool_answered (f->pool, slot);
    sbx_pool_renew (slot, 1300);
    sbx_pool_expire (f->pool, 1299);
    s_none (f);
    sbx_pool_expire (f->pool, 1300);
    s_take (f, SBX_POOL_LAPSE, "env/0:0");
    cr_assert_not (sbx_slot_owned (slot));
    cr_assert_eq (sbx_pool_counters (f->pool)->leases_expired, 1);
    s_fixture_destroy (&f);
}

Test (pool, closing_fails_waiters_shuts_sandboxes_down_and_drains)
{
    s_fixture_t *f = s_fixture (2, 2, 10, 1);
    s_open_filled (f, 2, 0);
    s_acquire_given (f, 1, 1000, 0, "env/0:0");
    s_acquire_given (f, 2, 1000, 0, "env/1:0");
    sbx_pool_acquire (f->pool, s_job (3), 1000, 0);
    s_none (f);
    s_report (f, "env/0:0", SBX_STATUS_IN_SESSION, true, 1);
    sbx_pool_close (f->pool, "going away");
    s_failed (f, 3, SBX_OUTAGE_ERROR);
    //  Every live sandbox is told at once, busy or not (the shutdown
    //  queues behind its work), in slot order.
    s_take (f, SBX_POOL_SHUTDOWN, "env/0:0");
    s_take (f, SBX_POOL_SHUTDOWN, "env/1:0");
    s_none (f);
    s_report (f, "env/1:0", SBX_STATUS_IN_SESSION, true, 2);
    s_none (f);
    s_report (f, "env/0:0", SBX_STATUS_OFFLINE, true, 3);
    s_take (f, SBX_POOL_REAP, "env/0:0");
    s_none (f);
    s_report (f, "env/1:0", SBX_STATUS_OFFLINE, true, 4);
    s_take (f, SBX_POOL_REAP, "env/1:0");
    s_take (f, SBX_POOL_DRAINED, NULL);
    s_none (f);
    //  Idempotent.
    sbx_pool_close (f->pool, "again");
    s_none (f);
    s_fixture_destroy (&f);
}

//  The counts by status (the `stats` reply, the metrics' sbx_sandboxes)
//  follow every report, spawn and reap; and the waiting requests are
//  counted.
static void
s_assert_statuses (s_fixture_t *self, const uint64_t expected [SBX_STATUS_COUNT])
{
    uint64_t counts [SBX_STATUS_COUNT];
    sbx_pool_count_statuses (self->pool, counts);
    for (int i = 0; i < SBX_STATUS_COUNT; i++)
        cr_assert_eq (counts [i], expected [i], "%s: %llu, expected %llu", sbx_status_name ((sbx_status_t) i),
                      (unsigned long long) counts [i], (unsigned long long) expected [i]);
}

Test (pool, counts_statuses_and_waiting_requests)
{
    s_fixture_t *f = s_fixture (2, 2, 10, 1);
    s_fill (f, 2, 0);
    s_assert_statuses (f, (uint64_t []) {2, 0, 0, 0, 0, 0, 0});
    s_start (f, "env/0:0", NULL, 0);
    s_start (f, "env/1:0", NULL, 0);
    s_take (f, SBX_POOL_FILLED, NULL);
    s_assert_statuses (f, (uint64_t []) {0, 0, 2, 0, 0, 0, 0});
    sbx_pool_open (f->pool, 0);
    s_acquire_given (f, 1, 1000, 0, "env/0:0");
    s_acquire_given (f, 2, 1000, 0, "env/1:0");
    sbx_pool_acquire (f->pool, s_job (3), 1000, 0);
    cr_assert_eq (sbx_pool_waiting (f->pool), 1);
    s_report (f, "env/0:0", SBX_STATUS_IN_SESSION, true, 1);
    s_report (f, "env/1:0", SBX_STATUS_ACQUIRED, true, 1);
    s_assert_statuses (f, (uint64_t []) {0, 0, 0, 1, 1, 0, 0});
    //  A sandbox goes offline: counted there until it is reaped, and its
    //  replacement counts as created.
    s_report (f, "env/1:0", SBX_STATUS_OFFLINE, false, 2);
    s_take (f, SBX_POOL_REAP, "env/1:0");
    s_take (f, SBX_POOL_SPAWN, "env/1:1");
    s_assert_statuses (f, (uint64_t []) {1, 0, 0, 0, 1, 0, 0});
    sbx_pool_close (f->pool, "going away");
    s_failed (f, 3, SBX_OUTAGE_ERROR);
    cr_assert_eq (sbx_pool_waiting (f->pool), 0);
    s_fixture_destroy (&f);
}
