/*  The sandbox actor alone (actors/sandbox.h): started in-process on the
    testing kinds (SPEC §5) and driven with jobs over an inproc ROUTER, as
    the environment does, with no environment and no daemon. Each test walks
    cells of its [status][job] table and checks the answer, the status its
    report gives, and the events that came with it, in order. */
#include <criterion/criterion.h>

#include "actors/proto.h"
#include "actors/sandbox.h"
#include "messages/mp.h"
#include "runtime/daemon/registry.h"

typedef struct {
    sbx_config_t *config;
    zsock_t *router;
    zactor_t *actor;
    char endpoint [64];
    char id [64];
    zlistx_t *events;           //  the text form of every event received
} s_rig_t;

//  The actor takes a raw pipe, as the supervisor gives it.
static void
s_run (zsock_t *pipe, void *args)
{
    sbx_sandbox_actor (zsock_resolve (pipe), args);
}

//  The next message from the sandbox, or NULL after timeout_ms. Its events
//  are appended to the rig's list in their text form.
static sbx_job_t *
s_next (s_rig_t *self, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (self->router, NULL);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    if (!which)
        return NULL;
    zframe_t *identity = zframe_recv (self->router);
    zframe_destroy (&identity);
    sbx_job_t *job = (sbx_job_t *) sbx_recv_ptr (self->router);
    if (job && job->events) {
        size_t offset = 0;
        sbx_event_kind_t kind;
        uint8_t *body;
        size_t size;
        while (sbx_evbatch_next (job->events, &offset, &kind, &body, &size)) {
            sbx_event_t *event = sbx_event_decode (body, size, NULL);
            cr_assert_not_null (event);
            zlistx_add_end (self->events, sbx_event_text (event));
            sbx_event_destroy (&event);
        }
    }
    return job;
}

//  The next message of `kind` - notices before it are skipped (their
//  events kept), unless a notice is what is expected - with its report
//  saying `status` and its error of `error_type` (NULL: none). Returns it
//  (caller destroys).
static sbx_job_t *
s_expect (s_rig_t *self, sbx_job_kind_t kind, sbx_status_t status, const char *error_type)
{
    sbx_job_t *job = s_next (self, 10000);
    while (job && job->kind == SBX_JOB_NOTICE && kind != SBX_JOB_NOTICE) {
        sbx_job_destroy (&job);
        job = s_next (self, 10000);
    }
    cr_assert_not_null (job, "no %s from the sandbox", sbx_job_kind_name (kind));
    cr_assert_eq (job->kind, kind, "expected %s, got %s", sbx_job_kind_name (kind),
                  sbx_job_kind_name (job->kind));
    cr_assert_eq (job->status, status, "%s: status %s, expected %s", sbx_job_kind_name (kind),
                  sbx_status_name (job->status), sbx_status_name (status));
    if (error_type)
        cr_assert (job->error && sbx_error_is (job->error, error_type), "%s: error %s, expected %s",
                   sbx_job_kind_name (kind), job->error ? sbx_error_type (job->error) : "none", error_type);
    else
        cr_assert_null (job->error, "%s: unexpected %s: %s", sbx_job_kind_name (kind),
                        sbx_error_type (job->error), sbx_error_message (job->error));
    return job;
}

//  Same, destroying the job.
static void
s_take (s_rig_t *self, sbx_job_kind_t kind, sbx_status_t status, const char *error_type)
{
    sbx_job_t *job = s_expect (self, kind, status, error_type);
    sbx_job_destroy (&job);
}

static void
s_send (s_rig_t *self, sbx_job_t *job)
{
    zstr_sendm (self->router, self->id);
    cr_assert_eq (sbx_send_ptr (self->router, job), 0);
}

static sbx_job_t *
s_job (sbx_job_kind_t kind, const char *session_id)
{
    sbx_job_t *job = sbx_job_new (kind);
    job->session_id = session_id ? strdup (session_id) : NULL;
    return job;
}

//  Sends a job of `kind` and takes its answer (see s_take).
static void
s_ask (s_rig_t *self, sbx_job_kind_t kind, const char *session_id, sbx_status_t status, const char *error_type)
{
    s_send (self, s_job (kind, session_id));
    s_take (self, kind, status, error_type);
}

//  Sends a job of `kind`: its answer has `error_type` and is `refused`
//  (to be offered to another sandbox) or not.
static void
s_ask_refused (s_rig_t *self, sbx_job_kind_t kind, const char *session_id, sbx_status_t status,
               const char *error_type, bool refused)
{
    s_send (self, s_job (kind, session_id));
    sbx_job_t *job = s_expect (self, kind, status, error_type);
    if (refused)
        cr_assert (job->refused);
    else
        cr_assert_not (job->refused);
    sbx_job_destroy (&job);
}

//  A call of the sandbox's `shell` service (the testing kind's), which
//  fails with `raise_error` when that is not NULL.
static sbx_job_t *
s_shell (sbx_job_kind_t kind, const char *code, const char *raise_error, const char *session_id)
{
    sbx_job_t *job = s_job (kind, session_id);
    job->request.method = strdup ("shell");
    msgpack_sbuffer args;
    msgpack_sbuffer_init (&args);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &args, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, raise_error ? 2 : 1);
    sbx_mp_pack_str (&packer, "code");
    sbx_mp_pack_str (&packer, code);
    if (raise_error) {
        sbx_mp_pack_str (&packer, "raise_error");
        sbx_mp_pack_str (&packer, raise_error);
    }
    job->request.args = (uint8_t *) args.data;
    job->request.args_size = args.size;
    return job;
}

//  The events received so far are exactly `expected` (NULL-terminated),
//  in order; the list is emptied.
static void
s_events_are (s_rig_t *self, const char *const *expected)
{
    size_t i = 0;
    for (char *text = (char *) zlistx_first (self->events); text;
         text = (char *) zlistx_next (self->events), i++) {
        cr_assert_not_null (expected [i], "unexpected event '%s'", text);
        cr_assert_str_eq (text, expected [i]);
    }
    cr_assert_null (expected [i], "missing event '%s'", expected [i]);
    zlistx_purge (self->events);
}

//  A sandbox actor of `config_json` that talks to a ROUTER of ours;
//  returns once its sandbox has started and is ready.
static s_rig_t *
s_rig (const char *config_json, bool reusable)
{
    s_rig_t *self = (s_rig_t *) zmalloc (sizeof (s_rig_t));
    sbx_error_t *error = NULL;
    self->config = sbx_config_load_string (config_json, sbx_registry (), &error);
    cr_assert_not_null (self->config, "%s", error ? sbx_error_message (error) : "");
    snprintf (self->endpoint, sizeof self->endpoint, "inproc://test-sandbox-%p", (void *) self);
    self->router = zsock_new (ZMQ_ROUTER);
    cr_assert_eq (zsock_bind (self->router, "%s", self->endpoint), 0);
    self->events = zlistx_new ();
    zlistx_set_destructor (self->events, (zlistx_destructor_fn *) zstr_free);
    sbx_spawn_t *spawn = sbx_spawn_new (self->config, 0, 0, reusable, self->endpoint, -1);
    snprintf (self->id, sizeof self->id, "%s", spawn->sandbox_id);
    self->actor = zactor_new (s_run, spawn);
    cr_assert_not_null (self->actor);
    cr_assert_eq (zsock_wait (self->actor), 0, "the sandbox's DEALER did not connect");
    s_take (self, SBX_JOB_START, SBX_STATUS_READY, NULL);
    return self;
}

static void
s_rig_destroy (s_rig_t **self_p)
{
    s_rig_t *self = *self_p;
    zactor_destroy (&self->actor);
    sbx_job_t *job;
    while ((job = s_next (self, 0)))
        sbx_job_destroy (&job);
    zsock_destroy (&self->router);
    zlistx_destroy (&self->events);
    sbx_config_destroy (&self->config);
    free (self);
    *self_p = NULL;
}

#define S_CONFIG(extra, feature)                                                   \
    "{\"environment\": {\"id\": \"t\", \"keepalive_interval_s\": null},"           \
    " \"sandbox\": {\"kind\": \"testing\"" extra "},"                              \
    " \"features\": {\"f\": {\"kind\": \"testing\"" feature "}}}"

Test (sandbox, a_pooled_sandbox_through_a_session)
{
    s_rig_t *rig = s_rig (S_CONFIG ("", ""), true);
    s_events_are (rig, (const char *[]) {
        "[t/0:0] created -> setting_up", "[t/0:0/f] feature setup",
        "[t/0:0/f] feature setup session", "[t/0:0] setting_up -> ready", "[t/0:0] sandbox started", NULL});

    //  ready: a session.start is not for it (not refused: it is no acquire).
    s_ask_refused (rig, SBX_JOB_SESSION_START, "s1", SBX_STATUS_READY, SBX_BAD_REQUEST, false);
    s_ask (rig, SBX_JOB_ACQUIRE, NULL, SBX_STATUS_ACQUIRED, NULL);
    //  acquired: another acquire is refused, to be offered elsewhere.
    s_ask_refused (rig, SBX_JOB_ACQUIRE, NULL, SBX_STATUS_ACQUIRED, SBX_BAD_REQUEST, true);
    s_ask (rig, SBX_JOB_SESSION_START, "s1", SBX_STATUS_IN_SESSION, NULL);
    s_send (rig, s_shell (SBX_JOB_CALL, "ls", NULL, NULL));
    sbx_job_t *job = s_expect (rig, SBX_JOB_CALL, SBX_STATUS_IN_SESSION, NULL);
    cr_assert_gt (job->result.size, 0);
    sbx_job_destroy (&job);
    //  in_session: an acquire or a session.open is refused.
    s_ask_refused (rig, SBX_JOB_SESSION_OPEN, "s2", SBX_STATUS_IN_SESSION, SBX_BAD_REQUEST, true);
    zlistx_purge (rig->events);
    //  The end is answered before the next session is prepared; a notice
    //  says when it is ready.
    s_ask (rig, SBX_JOB_SESSION_END, NULL, SBX_STATUS_SETTING_UP, NULL);
    s_take (rig, SBX_JOB_NOTICE, SBX_STATUS_READY, NULL);
    s_events_are (rig, (const char *[]) {
        "[t/0:0/s1] shell: \"f\" teardown session", "[t/0:0/f] feature teardown session",
        "[t/0:0] session 's1' ended", "[t/0:0] in_session -> setting_up",
        "[t/0:0/f] feature setup session", "[t/0:0] setting_up -> ready", NULL});
    s_rig_destroy (&rig);
}

Test (sandbox, offline_answers_state_errors_and_ignores_ends)
{
    s_rig_t *rig = s_rig (S_CONFIG ("", ""), true);
    s_ask (rig, SBX_JOB_SHUTDOWN, NULL, SBX_STATUS_OFFLINE, NULL);
    s_send (rig, s_shell (SBX_JOB_CALL, "ls", NULL, NULL));
    s_take (rig, SBX_JOB_CALL, SBX_STATUS_OFFLINE, SBX_STATE_ERROR);
    s_ask_refused (rig, SBX_JOB_ACQUIRE, NULL, SBX_STATUS_OFFLINE, SBX_STATE_ERROR, true);
    s_ask (rig, SBX_JOB_SESSION_END, NULL, SBX_STATUS_OFFLINE, NULL);
    s_ask (rig, SBX_JOB_SHUTDOWN, NULL, SBX_STATUS_OFFLINE, NULL);
    cr_assert_null (s_next (rig, 0));
    s_rig_destroy (&rig);
}

//  SPEC §3.4 step 5: without pooling the end shuts the sandbox down, and
//  the end answers what that shutdown returned.
Test (sandbox, an_end_that_shuts_down_answers_the_shutdown_error)
{
    s_rig_t *rig = s_rig (S_CONFIG (", \"simulate_shutdown_error\": \"ValueError\"", ""), false);
    s_ask (rig, SBX_JOB_SESSION_OPEN, "s1", SBX_STATUS_IN_SESSION, NULL);
    zlistx_purge (rig->events);
    s_send (rig, s_job (SBX_JOB_SESSION_END, NULL));
    sbx_job_t *job = s_expect (rig, SBX_JOB_SESSION_END, SBX_STATUS_OFFLINE, "ValueError");
    cr_assert_not_null (job->shutdown_error, "the report does not carry the shutdown's error");
    sbx_job_destroy (&job);
    s_events_are (rig, (const char *[]) {
        "[t/0:0/s1] shell: \"f\" teardown session", "[t/0:0/f] feature teardown session",
        "[t/0:0] session 's1' ended", "[t/0:0] in_session -> acquired",
        "[t/0:0] acquired -> shutting_down", "[t/0:0/f] feature teardown",
        "[t/0:0] shutting_down -> offline", "[t/0:0] sandbox shutdown with ValueError", NULL});
    s_rig_destroy (&rig);
}

//  Acquired, then given up unused: it shuts down (its slot is refilled).
Test (sandbox, an_unused_acquired_sandbox_is_released_by_its_end)
{
    s_rig_t *rig = s_rig (S_CONFIG ("", ""), true);
    s_ask (rig, SBX_JOB_ACQUIRE, NULL, SBX_STATUS_ACQUIRED, NULL);
    s_ask (rig, SBX_JOB_LEASE_EXPIRED, NULL, SBX_STATUS_OFFLINE, NULL);
    s_rig_destroy (&rig);
}

//  Plugin code may take long: what happened before it reaches the
//  environment first, in a notice, before the answer.
Test (sandbox, events_go_out_before_plugin_code_runs)
{
    s_rig_t *rig = s_rig (S_CONFIG ("", ", \"setup_session_delay_ms\": 1"), false);
    zlistx_purge (rig->events);
    s_send (rig, s_job (SBX_JOB_SESSION_OPEN, "s1"));
    //  Before the feature's setup_session: the status the sandbox is in.
    s_take (rig, SBX_JOB_NOTICE, SBX_STATUS_SETTING_UP, NULL);
    s_events_are (rig, (const char *[]) {
        "[t/0:0] ready -> acquired", "[t/0:0] acquired -> setting_up", NULL});
    //  Its setup_session calls the sandbox's shell: more notices first.
    s_take (rig, SBX_JOB_SESSION_OPEN, SBX_STATUS_IN_SESSION, NULL);
    s_events_are (rig, (const char *[]) {
        "[t/0:0/s1] shell: \"f\" setup session", "[t/0:0/f] feature setup session",
        "[t/0:0] setting_up -> in_session", "[t/0:0] session 's1' started", NULL});
    s_rig_destroy (&rig);
}

//  A critical error (the testing sandbox's shell names RuntimeError): the
//  call is answered with the state error first, then the sandbox shuts
//  down, once, and says so in a notice.
Test (sandbox, a_state_error_in_a_call_is_answered_then_shuts_down)
{
    s_rig_t *rig = s_rig (S_CONFIG ("", ""), true);
    s_ask (rig, SBX_JOB_SESSION_OPEN, "s1", SBX_STATUS_IN_SESSION, NULL);
    s_send (rig, s_shell (SBX_JOB_CALL, "x", "RuntimeError", NULL));
    sbx_job_t *job = s_expect (rig, SBX_JOB_CALL, SBX_STATUS_IN_SESSION, SBX_STATE_ERROR);
    cr_assert_not_null (job->new_state_errors);
    sbx_job_destroy (&job);
    //  Notices follow, as the shutdown goes (one before each hook); the
    //  last says offline.
    sbx_status_t status = SBX_STATUS_IN_SESSION;
    while ((job = s_next (rig, status == SBX_STATUS_OFFLINE ? 0 : 10000))) {
        cr_assert_eq (job->kind, SBX_JOB_NOTICE);
        status = job->status;
        sbx_job_destroy (&job);
    }
    cr_assert_eq (status, SBX_STATUS_OFFLINE);
    const char *const *expected = (const char *[]) {
        "[t/0:0/s1] shell: x with RuntimeError", "[t/0:0/s1] shell: \"f\" teardown session",
        "[t/0:0/f] feature teardown session", "[t/0:0] session 's1' ended with SandboxStateError",
        "[t/0:0] in_session -> acquired", "[t/0:0] acquired -> shutting_down",
        "[t/0:0/f] feature teardown", "[t/0:0] shutting_down -> offline", "[t/0:0] sandbox shutdown", NULL};
    char *text = (char *) zlistx_first (rig->events);
    while (text && !streq (text, expected [0]))
        text = (char *) zlistx_next (rig->events);
    for (size_t i = 0; expected [i]; i++, text = (char *) zlistx_next (rig->events))
        cr_assert (text && streq (text, expected [i]), "event %zu: '%s', expected '%s'", i,
                   text ? text : "(none)", expected [i]);
    s_rig_destroy (&rig);
}
