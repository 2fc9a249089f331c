/*  sbx_sandbox - the sandbox actor, SPEC §3. See sandbox.h.

    Two tables hold the lifecycle, each on one screen: s_allowed, the status
    transitions of SPEC §3, and s_table, the jobs each status accepts with
    the handler that runs each one (an empty cell refuses the job). The
    steps those handlers take follow the SPEC's sections: start (§3.1),
    start_session (§3.3), end_session (§3.4), close and shutdown (§3.5),
    service calls (§3.6), housekeeping (§3.7). Each step returns the error
    its caller gets; none of them calls back into the one that called it.

    The struct below is the plugin-facing sbx_ctx_t too: hooks and methods
    receive the sandbox itself and reach it only through sbx_ctx_*.

    Over 800 lines on purpose: one state machine - its two tables, the
    SPEC's steps, the service calls and the plugin context all read and
    change the same private struct; split, it would have to be exposed.
*/
#include "actors/sandbox.h"
#include "actors/metrics.h"
#include "actors/proto.h"
#include "messages/event.h"
#include "messages/mp.h"
#include "messages/reply.h"
#include "runtime/core/log.h"
#include "runtime/core/poller.h"

#include <sbx/plugin.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <string.h>
#include <time.h>

typedef struct {
    const sbx_feature_conf_t *conf;
    void *instance;
    bool set_up;                //  setup was called (paired with teardown)
    bool session_set_up;        //  setup_session was called, not yet torn down
    int64_t next_housekeep;     //  zclock_mono ms; 0 = never
} s_feature_t;

struct sbx_ctx_t {
    void *pipe;                 //  raw PAIR to the supervisor
    void *dealer;               //  raw libzmq socket (see sbx_sandbox_actor)
    sbx_poller_t *poller;       //  the pipe (0) and the dealer (1)
    bool terminated;
    sbx_spawn_t *spawn;
    const sbx_config_t *config;
    const char *id;

    sbx_status_t status;
    int64_t status_since;       //  s_clock_ns when it entered `status`
    bool reusable;
    bool proactive;
    char *session_id;
    bool backend_started;
    void *backend;
    const sbx_sandbox_kind_t *backend_kind;
    s_feature_t *features;
    size_t feature_count;

    zlistx_t *state_errors;     //  every state error met (sbx_error_t *)
    zlistx_t *new_state_errors; //  dups not yet reported to the environment
    sbx_error_t *shutdown_error;//  what the shutdown returned, for the report

    bool housekeeping;
    int64_t next_ping;          //  0 = keepalive off

    sbx_job_t *job;             //  the job being answered, until replied
    sbx_evbatch_t *events;      //  events not yet sent

    //  Input as it comes (docs/protocol.md "Input"): while a call with
    //  `input` runs, its method reads the dealer itself (sbx_ctx_input_next).
    zlistx_t *deferred;         //  other jobs read meanwhile: run next, in order
    zlistx_t *inputs;           //  input jobs for the running call, oldest first
    sbx_job_t *input;           //  the one handed to the method, until answered
    bool input_closed;          //  the running call takes no more
    bool input_scanned;         //  `deferred` was searched for its input
    uint64_t sessions_started, sessions_ended, calls, calls_failed;
};

typedef struct sbx_ctx_t s_sandbox_t;

//  --- Status ------------------------------------------------------------------

#define S_TO(status) (1u << (status))

//  The transitions of SPEC §3: from a status (row) to the statuses set.
static const unsigned s_allowed [SBX_STATUS_COUNT] = {
    [SBX_STATUS_CREATED]       = S_TO (SBX_STATUS_SETTING_UP),
    [SBX_STATUS_SETTING_UP]    = S_TO (SBX_STATUS_READY) | S_TO (SBX_STATUS_IN_SESSION)
                               | S_TO (SBX_STATUS_SHUTTING_DOWN),
    [SBX_STATUS_READY]         = S_TO (SBX_STATUS_ACQUIRED) | S_TO (SBX_STATUS_SHUTTING_DOWN),
    [SBX_STATUS_ACQUIRED]      = S_TO (SBX_STATUS_SETTING_UP) | S_TO (SBX_STATUS_SHUTTING_DOWN),
    [SBX_STATUS_IN_SESSION]    = S_TO (SBX_STATUS_ACQUIRED) | S_TO (SBX_STATUS_READY)
                               | S_TO (SBX_STATUS_SETTING_UP),
    [SBX_STATUS_SHUTTING_DOWN] = S_TO (SBX_STATUS_OFFLINE),
    [SBX_STATUS_OFFLINE]       = 0
};

static bool
s_online (const s_sandbox_t *self)
{
    return self->status == SBX_STATUS_SETTING_UP || self->status == SBX_STATUS_READY
        || self->status == SBX_STATUS_ACQUIRED || self->status == SBX_STATUS_IN_SESSION;
}

//  --- Events and reports to the environment ---------------------------------

//  The monotonic clock in ns: steps are timed with it (duration_ns).
static int64_t
s_clock_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

//  How long since `since` (s_clock_ns), for an event's duration_ns: at
//  least 1, since 0 means "not timed".
static int64_t
s_duration (int64_t since)
{
    int64_t duration = s_clock_ns () - since;
    return duration > 0 ? duration : 1;
}

//  Publishes the event that ends a step begun at `since` (s_clock_ns).
static void
s_emit (s_sandbox_t *self, sbx_event_kind_t kind, const char *feature,
        const char *session, const sbx_error_t *error, int64_t since)
{
    sbx_event_t event = {
        .kind = kind, .environment = self->config->env_id, .sandbox = self->id,
        .feature = feature, .session = session, .error = error, .duration_ns = s_duration (since)
    };
    sbx_evbatch_add (self->events, &event);
}

static void
s_set_status (s_sandbox_t *self, sbx_status_t status)
{
    //  The event says what the sandbox does, so it goes out either way.
    if (!(s_allowed [self->status] & S_TO (status)))
        sbx_log_bug (self->id, "transition %s -> %s is not in SPEC §3",
                     sbx_status_name (self->status), sbx_status_name (status));
    //  duration_ns: the time spent in the old status.
    sbx_event_t event = {
        .kind = SBX_EV_SANDBOX_STATUS, .environment = self->config->env_id,
        .sandbox = self->id, .old_status = sbx_status_name (self->status),
        .new_status = sbx_status_name (status), .duration_ns = s_duration (self->status_since)
    };
    sbx_evbatch_add (self->events, &event);
    self->status = status;
    self->status_since = s_clock_ns ();
}

static void
s_record (s_sandbox_t *self, const sbx_error_t *error)
{
    if (!sbx_error_is_state (error))
        return;
    zlistx_add_end (self->state_errors, sbx_error_dup (error));
    zlistx_add_end (self->new_state_errors, sbx_error_dup (error));
    sbx_log_warning (self->id, "state error: %s", sbx_error_message (error));
}

static void
s_set_session (s_sandbox_t *self, const char *session_id)
{
    free (self->session_id);
    self->session_id = session_id ? strdup (session_id) : NULL;
}

static void
s_fill_report (s_sandbox_t *self, sbx_job_t *job)
{
    job->status = self->status;
    free (job->current_session);
    job->current_session = self->session_id ? strdup (self->session_id) : NULL;
    if (zlistx_size (self->new_state_errors)) {
        job->new_state_errors = self->new_state_errors;
        self->new_state_errors = zlistx_new ();
    }
    if (self->status == SBX_STATUS_OFFLINE && self->shutdown_error) {
        job->shutdown_error = self->shutdown_error;
        self->shutdown_error = NULL;
    }
    job->sessions_started = self->sessions_started;
    job->sessions_ended = self->sessions_ended;
    job->calls = self->calls;
    job->calls_failed = self->calls_failed;
    self->sessions_started = self->sessions_ended = 0;
    self->calls = self->calls_failed = 0;
    if (self->events->count) {
        job->events = self->events;
        self->events = sbx_evbatch_new ();
    }
}

static void
s_send (s_sandbox_t *self, sbx_job_t *job)
{
    s_fill_report (self, job);
    job->slot = self->spawn->slot;
    job->generation = self->spawn->generation;
    sbx_poller_touch (self->poller, 1);     //  the dealer
    if (sbx_send_ptr (self->dealer, job) != 0) {
        sbx_log_error (self->id, "cannot reach the environment: %s", zmq_strerror (zmq_errno ()));
        sbx_job_destroy (&job);
    }
}

//  Answers the current job now (what is left of the work is reported later
//  by a notice). No-op when already answered.
static void
s_reply (s_sandbox_t *self)
{
    if (self->job) {
        sbx_job_t *job = self->job;
        self->job = NULL;
        s_send (self, job);
    }
}

//  Gives `error` (owned, may be NULL) to the current job unless it already
//  has one or was answered.
static void
s_job_error (s_sandbox_t *self, sbx_error_t *error)
{
    if (error && self->job && !self->job->error)
        self->job->error = error;
    else
        sbx_error_destroy (&error);
}

//  Sends what is waiting (events, status, counters) as an unsolicited notice.
static void
s_notice (s_sandbox_t *self)
{
    if (self->events->count || zlistx_size (self->new_state_errors)
    ||  self->sessions_ended || self->calls)
        s_send (self, sbx_job_new (SBX_JOB_NOTICE));
}

//  Plugin code may take long (a command, a delay), so what has happened so
//  far reaches the environment before it runs: status and events are live
//  while a hook or a method works (docs/architecture.md).
static void
s_before_plugin (s_sandbox_t *self)
{
    if (self->events->count)
        s_send (self, sbx_job_new (SBX_JOB_NOTICE));
}

//  Runs an optional hook (NULL: nothing to do).
static sbx_error_t *
s_hook (s_sandbox_t *self, sbx_hook_fn *hook, void *instance)
{
    if (!hook)
        return NULL;
    s_before_plugin (self);
    return hook (instance, self);
}

//  --- Service calls (SPEC §3.6) ---------------------------------------------

static const sbx_method_t *
s_find_method (const sbx_method_t *methods, const char *name)
{
    for (size_t i = 0; methods && methods [i].name; i++)
        if (strcmp (methods [i].name, name) == 0)
            return &methods [i];
    return NULL;
}

static bool
s_matches (const sbx_critical_t *critical, const sbx_error_t *error)
{
    for (size_t i = 0; critical && critical [i].type; i++) {
        if (!sbx_error_is (error, critical [i].type))
            continue;
        if (!critical [i].pattern)
            return true;
        regex_t regex;
        if (regcomp (&regex, critical [i].pattern, REG_EXTENDED | REG_NOSUB) != 0)
            continue;
        bool hit = regexec (&regex, sbx_error_message (error), 0, NULL, 0) == 0;
        regfree (&regex);
        if (hit)
            return true;
    }
    return false;
}

static const uint8_t s_empty_map [] = {0x80};

//  Runs one service method and publishes its activity. Returns NULL or an
//  error (critical errors already converted); appends the result to `result`.
static sbx_error_t *
s_invoke (s_sandbox_t *self, const char *feature, const char *method,
          const void *args, size_t args_size, msgpack_sbuffer *result)
{
    int64_t since = s_clock_ns ();
    const sbx_method_t *entry = NULL;
    void *instance = NULL;
    if (feature) {
        int index = sbx_config_feature_index (self->config, feature);
        if (index < 0)
            return sbx_error_new (SBX_NOT_FOUND, "no feature '%s' in sandbox %s", feature, self->id);
        entry = s_find_method (self->features [index].conf->kind->methods, method);
        instance = self->features [index].instance;
    }
    else {
        entry = s_find_method (self->backend_kind->methods, method);
        instance = self->backend;
    }
    if (!entry)
        return sbx_error_new (SBX_NOT_FOUND, "no method '%s' on %s%s", method,
                              feature ? "feature " : "sandbox ", feature ? feature : self->id);
    if (!args || !args_size) {
        args = s_empty_map;
        args_size = sizeof s_empty_map;
    }
    msgpack_zone zone;
    msgpack_zone_init (&zone, 1024);
    msgpack_object object = {.type = MSGPACK_OBJECT_NIL};
    size_t offset = 0;
    sbx_error_t *error = NULL;
    if (msgpack_unpack ((const char *) args, args_size, &offset, &zone, &object) != MSGPACK_UNPACK_SUCCESS
    ||  object.type != MSGPACK_OBJECT_MAP)
        error = sbx_error_new (SBX_BAD_REQUEST, "args of %s must be a map", method);
    else {
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &out, msgpack_sbuffer_write);
        s_before_plugin (self);
        error = entry->handler (instance, self, &object, &packer);
        if (!error && result) {
            if (out.size)
                msgpack_sbuffer_write (result, out.data, out.size);
            else
                msgpack_pack_nil (&(msgpack_packer) {result, msgpack_sbuffer_write});
        }
        msgpack_sbuffer_destroy (&out);
    }
    if (self->session_id) {
        //  What it was called with, summarised unless events.args is
        //  "full": file contents, stdin and environments stay out of the
        //  event stream and the log (docs/protocol.md).
        msgpack_sbuffer summary;
        msgpack_sbuffer_init (&summary);
        bool summarise = !self->config->events_args_full && object.type == MSGPACK_OBJECT_MAP;
        if (summarise)
            sbx_event_summarise_args (&object, args_size, &summary);
        sbx_event_t event = {
            .kind = SBX_EV_SESSION_ACTIVITY, .environment = self->config->env_id,
            .sandbox = self->id, .session = self->session_id, .feature = feature,
            .name = method, .error = error, .duration_ns = s_duration (since),
            .args = summarise ? (const uint8_t *) summary.data : (const uint8_t *) args,
            .args_size = summarise ? summary.size : args_size
        };
        sbx_evbatch_add (self->events, &event);
        msgpack_sbuffer_destroy (&summary);
    }
    msgpack_zone_destroy (&zone);
    if (error && !sbx_error_is_state (error) && s_matches (entry->critical, error)) {
        sbx_error_t *converted = sbx_error_new (SBX_STATE_ERROR, "%s: %s: %s", method,
                                                sbx_error_type (error), sbx_error_message (error));
        sbx_error_destroy (&error);
        error = converted;
    }
    if (error)
        sbx_error_set_sandbox (error, self->id);
    return error;
}

//  --- Lifecycle steps (SPEC §3.1 - §3.5) --------------------------------------

static sbx_error_t *
s_setup_sessions (s_sandbox_t *self)
{
    for (size_t i = 0; i < self->feature_count; i++) {
        s_feature_t *f = &self->features [i];
        f->session_set_up = true;
        int64_t since = s_clock_ns ();
        sbx_error_t *error = s_hook (self, f->conf->kind->setup_session, f->instance);
        s_emit (self, SBX_EV_FEATURE_SETUP_SESSION, f->conf->name, self->session_id, error, since);
        if (error)
            return error;
    }
    return NULL;
}

//  teardown_session of every feature whose setup_session was called;
//  returns the SessionTeardownError map (NULL when nothing failed).
static sbx_error_t *
s_teardown_sessions (s_sandbox_t *self)
{
    sbx_error_t *errors = NULL;
    for (size_t i = 0; i < self->feature_count; i++) {
        s_feature_t *f = &self->features [i];
        if (!f->session_set_up)
            continue;
        f->session_set_up = false;
        int64_t since = s_clock_ns ();
        sbx_error_t *error = s_hook (self, f->conf->kind->teardown_session, f->instance);
        s_emit (self, SBX_EV_FEATURE_TEARDOWN_SESSION, f->conf->name, self->session_id, error, since);
        if (error) {
            s_record (self, error);
            if (!errors)
                errors = sbx_error_new (SBX_SESSION_TEARDOWN_ERROR, "session teardown failed in sandbox %s", self->id);
            sbx_error_add (errors, f->conf->name, &error);
        }
    }
    return errors;
}

static double
s_housekeep_interval (const s_feature_t *f)
{
    const sbx_feature_kind_t *kind = f->conf->kind;
    return kind->housekeep && kind->housekeep_interval ? kind->housekeep_interval (f->instance) : -1;
}

static void
s_schedule_housekeeping (s_sandbox_t *self)
{
    int64_t now = zclock_mono ();
    self->next_ping = self->config->keepalive_interval_s >= 0 && self->backend_kind->ping
                    ? now + (int64_t) (self->config->keepalive_interval_s * 1000) : 0;
    for (size_t i = 0; i < self->feature_count; i++) {
        double interval = s_housekeep_interval (&self->features [i]);
        self->features [i].next_housekeep = interval >= 0 ? now + (int64_t) (interval * 1000) : 0;
    }
    self->housekeeping = true;
}

//  SPEC §3.5 for a sandbox out of session: teardown, backend shutdown,
//  offline. Returns what the shutdown returns to its caller: the
//  FeatureTeardownError when it holds a user error, else the backend's user
//  error, else NULL (state errors are swallowed). Caller owns it.
static sbx_error_t *
s_close (s_sandbox_t *self)
{
    int64_t since = s_clock_ns ();
    s_set_status (self, SBX_STATUS_SHUTTING_DOWN);
    self->housekeeping = false;
    //  A session set up proactively and never used.
    sbx_error_t *ignored = s_teardown_sessions (self);
    sbx_error_destroy (&ignored);

    sbx_error_t *errors = NULL;
    for (size_t i = 0; i < self->feature_count; i++) {
        s_feature_t *f = &self->features [i];
        if (!f->set_up)
            continue;
        f->set_up = false;
        int64_t hook = s_clock_ns ();
        sbx_error_t *error = s_hook (self, f->conf->kind->teardown, f->instance);
        s_emit (self, SBX_EV_FEATURE_TEARDOWN, f->conf->name, NULL, error, hook);
        if (error) {
            s_record (self, error);
            if (!errors)
                errors = sbx_error_new (SBX_FEATURE_TEARDOWN_ERROR, "feature teardown failed in sandbox %s", self->id);
            sbx_error_add (errors, f->conf->name, &error);
        }
    }
    sbx_error_t *backend = NULL;
    if (self->backend_started) {
        backend = s_hook (self, self->backend_kind->shutdown, self->backend);
        self->backend_started = false;
        s_record (self, backend);
    }
    s_set_status (self, SBX_STATUS_OFFLINE);
    s_emit (self, SBX_EV_SANDBOX_SHUTDOWN, NULL, NULL, errors ? errors : backend, since);

    sbx_error_t *returned = NULL;
    if (sbx_error_has_user (errors))
        returned = errors, errors = NULL;
    else
    if (sbx_error_is_user (backend))
        returned = backend, backend = NULL;
    sbx_error_destroy (&errors);
    sbx_error_destroy (&backend);
    if (returned) {
        sbx_error_set_sandbox (returned, self->id);
        sbx_error_destroy (&self->shutdown_error);
        self->shutdown_error = sbx_error_dup (returned);
    }
    return returned;
}

//  SPEC §3.1. Returns the start's error (the sandbox is then offline).
static sbx_error_t *
s_start (s_sandbox_t *self)
{
    int64_t since = s_clock_ns ();
    s_set_status (self, SBX_STATUS_SETTING_UP);
    sbx_error_t *error = s_hook (self, self->backend_kind->start, self->backend);
    self->backend_started = true;
    for (size_t i = 0; !error && i < self->feature_count; i++) {
        s_feature_t *f = &self->features [i];
        f->set_up = true;
        int64_t hook = s_clock_ns ();
        error = s_hook (self, f->conf->kind->setup, f->instance);
        s_emit (self, SBX_EV_FEATURE_SETUP, f->conf->name, NULL, error, hook);
    }
    if (!error && self->proactive)
        error = s_setup_sessions (self);
    if (error) {
        s_record (self, error);
        sbx_error_set_sandbox (error, self->id);
        s_emit (self, SBX_EV_SANDBOX_START, NULL, NULL, error, since);
        sbx_error_t *closed = s_close (self);
        sbx_error_destroy (&closed);
        return error;
    }
    s_schedule_housekeeping (self);
    s_set_status (self, SBX_STATUS_READY);
    s_emit (self, SBX_EV_SANDBOX_START, NULL, NULL, NULL, since);
    return NULL;
}

//  SPEC §3.3, from acquired. Returns the error (the sandbox is then offline).
static sbx_error_t *
s_start_session (s_sandbox_t *self, const char *session_id)
{
    int64_t since = s_clock_ns ();
    s_set_status (self, SBX_STATUS_SETTING_UP);
    s_set_session (self, session_id);
    bool prepared = false;
    for (size_t i = 0; i < self->feature_count; i++)
        prepared |= self->features [i].session_set_up;
    sbx_error_t *error = prepared ? NULL : s_setup_sessions (self);
    if (error) {
        s_record (self, error);
        sbx_error_set_sandbox (error, self->id);
        s_emit (self, SBX_EV_SESSION_START, NULL, self->session_id, error, since);
        sbx_error_t *ignored = s_teardown_sessions (self);
        sbx_error_destroy (&ignored);
        //  The session id stays set until the shutdown is over.
        ignored = s_close (self);
        sbx_error_destroy (&ignored);
        s_set_session (self, NULL);
        return error;
    }
    s_set_status (self, SBX_STATUS_IN_SESSION);
    self->sessions_started++;
    s_emit (self, SBX_EV_SESSION_START, NULL, self->session_id, NULL, since);
    return NULL;
}

//  SPEC §3.4, from in_session. `reason` (borrowed) is the runtime's own
//  reason to end the session (LeaseExpired), published on session.end.
//  Returns step 5's answer: the SessionTeardownError when it holds a user
//  error, else what a shutdown that followed returned (s_close).
static sbx_error_t *
s_end_session (s_sandbox_t *self, bool shutdown, const sbx_error_t *reason)
{
    int64_t since = s_clock_ns ();
    sbx_error_t *errors = s_teardown_sessions (self);
    if (!sbx_error_has_user (errors))
        sbx_error_destroy (&errors);        //  state errors alone are swallowed
    self->sessions_ended++;
    const sbx_error_t *broken = (const sbx_error_t *) zlistx_first (self->state_errors);
    s_emit (self, SBX_EV_SESSION_END, NULL, self->session_id, broken ? broken : reason, since);
    s_set_session (self, NULL);
    if (!broken && self->reusable && !shutdown && self->proactive) {
        //  The caller need not wait for the next session's setup.
        s_set_status (self, SBX_STATUS_SETTING_UP);
        s_job_error (self, errors);
        s_reply (self);
        sbx_error_t *error = s_setup_sessions (self);
        if (error) {
            s_record (self, error);
            sbx_error_destroy (&error);
            sbx_error_t *ignored = s_close (self);
            sbx_error_destroy (&ignored);
        }
        else
            s_set_status (self, SBX_STATUS_READY);
        return NULL;
    }
    bool close = broken || !self->reusable || shutdown;
    s_set_status (self, close ? SBX_STATUS_ACQUIRED : SBX_STATUS_READY);
    if (!close)
        return errors;
    sbx_error_t *closed = s_close (self);
    if (!errors)
        return closed;
    sbx_error_destroy (&closed);
    return errors;
}

//  SPEC §3.5 (re-entrant).
static sbx_error_t *
s_shutdown (s_sandbox_t *self)
{
    if (self->status == SBX_STATUS_IN_SESSION)
        return s_end_session (self, true, NULL);
    if (s_online (self))
        return s_close (self);
    return NULL;
}

//  A call in the open session (SPEC §3.6): a state error is answered
//  first, then the sandbox shuts down, once.
static void
s_call (s_sandbox_t *self, sbx_job_t *job)
{
    sbx_request_t *request = &job->request;
    sbx_error_t *error = s_invoke (self, request->feature, request->method,
                                   request->args, request->args_size, &job->result);
    self->calls++;
    if (!error)
        return;
    self->calls_failed++;
    bool broken = sbx_error_is_state (error);
    s_record (self, error);
    s_job_error (self, error);
    if (broken) {
        s_reply (self);
        sbx_error_t *ignored = s_shutdown (self);
        sbx_error_destroy (&ignored);
    }
}

//  --- Jobs: [status][job kind] -> handler ------------------------------------

typedef void (s_handler_t) (s_sandbox_t *self, sbx_job_t *job);

static void
s_on_start (s_sandbox_t *self, sbx_job_t *job)
{
    s_job_error (self, s_start (self));
}

static void
s_on_acquire (s_sandbox_t *self, sbx_job_t *job)
{
    s_set_status (self, SBX_STATUS_ACQUIRED);
}

static void
s_on_session_start (s_sandbox_t *self, sbx_job_t *job)
{
    s_job_error (self, s_start_session (self, job->session_id));
}

static void
s_on_session_open (s_sandbox_t *self, sbx_job_t *job)
{
    s_set_status (self, SBX_STATUS_ACQUIRED);
    s_on_session_start (self, job);
}

//  An acquired sandbox with no session: start one, call, end it.
static void
s_on_ephemeral_call (s_sandbox_t *self, sbx_job_t *job)
{
    sbx_error_t *error = s_start_session (self, job->session_id);
    if (!error) {
        s_call (self, job);
        if (self->status == SBX_STATUS_IN_SESSION)
            error = s_end_session (self, false, NULL);
    }
    s_job_error (self, error);
}

static void
s_on_ephemeral (s_sandbox_t *self, sbx_job_t *job)
{
    s_set_status (self, SBX_STATUS_ACQUIRED);
    s_on_ephemeral_call (self, job);
}

static void
s_on_call (s_sandbox_t *self, sbx_job_t *job)
{
    s_call (self, job);
}

static void
s_on_session_end (s_sandbox_t *self, sbx_job_t *job)
{
    s_job_error (self, s_end_session (self, false, NULL));
}

static void
s_on_lease_expired (s_sandbox_t *self, sbx_job_t *job)
{
    sbx_error_t *reason = sbx_error_new (SBX_LEASE_EXPIRED, "the lease of session '%s' lapsed",
                                         self->session_id);
    s_job_error (self, s_end_session (self, false, reason));
    sbx_error_destroy (&reason);
}

//  Acquired and given up unused (session.end, or its lease lapsed): nobody
//  owns it now, so it shuts down and its slot is refilled.
static void
s_on_release (s_sandbox_t *self, sbx_job_t *job)
{
    s_job_error (self, s_close (self));
}

static void
s_on_shutdown (s_sandbox_t *self, sbx_job_t *job)
{
    s_job_error (self, s_shutdown (self));
}

static void
s_on_nothing (s_sandbox_t *self, sbx_job_t *job)
{
}

//  Input whose call is not running (it has ended, or it never took any).
static void
s_on_input (s_sandbox_t *self, sbx_job_t *job)
{
    job->closed = true;
}

//  What each status accepts. setting_up and shutting_down never see a job
//  (they last only inside a handler); an empty cell refuses (s_refuse).
static s_handler_t *const s_table [SBX_STATUS_COUNT][SBX_JOB_KIND_COUNT] = {
    [SBX_STATUS_CREATED] = {
        [SBX_JOB_START]         = s_on_start,
        [SBX_JOB_INPUT]         = s_on_input,
    },
    [SBX_STATUS_READY] = {
        [SBX_JOB_ACQUIRE]       = s_on_acquire,
        [SBX_JOB_SESSION_OPEN]  = s_on_session_open,
        [SBX_JOB_EPHEMERAL]     = s_on_ephemeral,
        [SBX_JOB_SESSION_END]   = s_on_nothing,
        [SBX_JOB_LEASE_EXPIRED] = s_on_nothing,
        [SBX_JOB_SHUTDOWN]      = s_on_shutdown,
        [SBX_JOB_INPUT]         = s_on_input,
    },
    [SBX_STATUS_ACQUIRED] = {
        [SBX_JOB_SESSION_START] = s_on_session_start,
        [SBX_JOB_CALL]          = s_on_ephemeral_call,
        [SBX_JOB_SESSION_END]   = s_on_release,
        [SBX_JOB_LEASE_EXPIRED] = s_on_release,
        [SBX_JOB_SHUTDOWN]      = s_on_shutdown,
        [SBX_JOB_INPUT]         = s_on_input,
    },
    [SBX_STATUS_IN_SESSION] = {
        [SBX_JOB_CALL]          = s_on_call,
        [SBX_JOB_SESSION_END]   = s_on_session_end,
        [SBX_JOB_LEASE_EXPIRED] = s_on_lease_expired,
        [SBX_JOB_SHUTDOWN]      = s_on_shutdown,
        [SBX_JOB_INPUT]         = s_on_input,
    },
    [SBX_STATUS_OFFLINE] = {
        [SBX_JOB_SESSION_END]   = s_on_nothing,
        [SBX_JOB_LEASE_EXPIRED] = s_on_nothing,
        [SBX_JOB_SHUTDOWN]      = s_on_nothing,
        [SBX_JOB_INPUT]         = s_on_input,
    },
};

//  What a refused job could not do, by kind; NULL: the kind is never sent
//  to a sandbox in any status that refuses it (a bug).
static const char *const s_refused [SBX_JOB_KIND_COUNT] = {
    [SBX_JOB_ACQUIRE]       = "acquire",
    [SBX_JOB_SESSION_OPEN]  = "acquire",
    [SBX_JOB_EPHEMERAL]     = "acquire",
    [SBX_JOB_SESSION_START] = "start a session",
    [SBX_JOB_CALL]          = "call",
};

//  The empty cells: the sandbox does nothing. A refused acquire may be
//  offered to another sandbox; an offline sandbox answers SandboxStateError.
static void
s_refuse (s_sandbox_t *self, sbx_job_t *job)
{
    const char *what = (unsigned) job->kind < SBX_JOB_KIND_COUNT ? s_refused [job->kind] : NULL;
    if (!what)
        sbx_log_bug (self->id, "job '%s' sent to a sandbox that is %s",
                     sbx_job_kind_name (job->kind), sbx_status_name (self->status));
    job->refused = job->kind == SBX_JOB_ACQUIRE || job->kind == SBX_JOB_SESSION_OPEN
                || job->kind == SBX_JOB_EPHEMERAL;
    s_job_error (self, sbx_error_new (
        self->status == SBX_STATUS_OFFLINE ? SBX_STATE_ERROR : SBX_BAD_REQUEST,
        "sandbox %s is %s: cannot %s", self->id, sbx_status_name (self->status),
        what ? what : sbx_job_kind_name (job->kind)));
}

//  Input the call did not take (it ended first, or its command stopped
//  reading) is answered `closed`.
static void
s_inputs_close (s_sandbox_t *self)
{
    sbx_ctx_input_done (self, true);
    sbx_job_t *job;
    while ((job = (sbx_job_t *) zlistx_detach (self->inputs, NULL))) {
        job->closed = true;
        s_send (self, job);
    }
    self->input_closed = self->input_scanned = false;
}

//  Runs one job and answers it, exactly once.
static void
s_handle_job (s_sandbox_t *self, sbx_job_t *job)
{
    self->job = job;
    s_handler_t *handler = (unsigned) job->kind < SBX_JOB_KIND_COUNT
                         ? s_table [self->status][job->kind] : NULL;
    if (handler)
        handler (self, job);
    else
        s_refuse (self, job);
    s_reply (self);
    s_inputs_close (self);
    s_notice (self);
}

//  The next job to run: those read while a call took input come first, in
//  order. NULL when none; *drained_p then says whether the dealer said
//  EAGAIN.
static sbx_job_t *
s_next_job (s_sandbox_t *self, bool *drained_p)
{
    sbx_job_t *job = (sbx_job_t *) zlistx_detach (self->deferred, NULL);
    if (job)
        return job;
    int rc = zmq_recv (self->dealer, &job, sizeof job, ZMQ_DONTWAIT);
    if (rc == sizeof job)
        return job;
    *drained_p = rc < 0 && zmq_errno () == EAGAIN;
    return NULL;
}

//  --- Housekeeping (SPEC §3.7) ---------------------------------------------

static int64_t
s_next_deadline (s_sandbox_t *self)
{
    if (!self->housekeeping || !s_online (self))
        return -1;
    int64_t next = self->next_ping ? self->next_ping : INT64_MAX;
    for (size_t i = 0; i < self->feature_count; i++)
        if (self->features [i].next_housekeep && self->features [i].next_housekeep < next)
            next = self->features [i].next_housekeep;
    return next == INT64_MAX ? -1 : next;
}

//  A housekeeping run ended, begun at `since` (s_clock_ns); `error` is the
//  type of the first error it met ("" when none). Counted where it ran: it
//  is no event (docs/metrics.md).
static void
s_housekept (s_sandbox_t *self, int64_t since, const char *error)
{
    sbx_metrics_t *metrics = self->spawn->metrics;
    if (!metrics)
        return;
    sbx_metric_labels_t labels = {.error = sbx_metrics_error (metrics, *error ? error : NULL)};
    sbx_metrics_add (metrics, SBX_METRIC_SANDBOX_HOUSEKEEP, labels, 1);
    sbx_metrics_observe (metrics, SBX_METRIC_SANDBOX_HOUSEKEEP_SECONDS, labels, s_duration (since));
}

static void
s_housekeep (s_sandbox_t *self)
{
    int64_t since = s_clock_ns ();
    char run_error [128] = "";
    int64_t now = zclock_mono ();
    sbx_error_t *broken = NULL;
    if (self->next_ping && now >= self->next_ping) {
        sbx_error_t *error = s_hook (self, self->backend_kind->ping, self->backend);
        if (error)
            snprintf (run_error, sizeof run_error, "%s", sbx_error_type (error));
        if (sbx_error_is_state (error))
            broken = error, error = NULL;
        else
        if (error)
            sbx_log_warning (self->id, "ping: %s: %s", sbx_error_type (error), sbx_error_message (error));
        sbx_error_destroy (&error);
        self->next_ping = now + (int64_t) (self->config->keepalive_interval_s * 1000);
    }
    for (size_t i = 0; !broken && i < self->feature_count; i++) {
        s_feature_t *f = &self->features [i];
        if (!f->next_housekeep || now < f->next_housekeep)
            continue;
        int64_t hook = s_clock_ns ();
        sbx_error_t *error = s_hook (self, f->conf->kind->housekeep, f->instance);
        s_emit (self, SBX_EV_FEATURE_HOUSEKEEP, f->conf->name, NULL, error, hook);
        if (error && !*run_error)
            snprintf (run_error, sizeof run_error, "%s", sbx_error_type (error));
        if (sbx_error_is_state (error))
            broken = error, error = NULL;
        sbx_error_destroy (&error);
        double interval = s_housekeep_interval (f);
        f->next_housekeep = interval >= 0 ? now + (int64_t) (interval * 1000) : 0;
    }
    if (broken) {
        s_record (self, broken);
        sbx_error_destroy (&broken);
        sbx_error_t *ignored = s_shutdown (self);
        sbx_error_destroy (&ignored);
    }
    s_housekept (self, since, run_error);
    s_notice (self);
}

//  --- Plugin context --------------------------------------------------------

const char *
sbx_ctx_sandbox_id (sbx_ctx_t *ctx)
{
    return ctx->id;
}

const char *
sbx_ctx_environment (sbx_ctx_t *ctx)
{
    return ctx->config->env_id;
}

const char *
sbx_ctx_session_id (sbx_ctx_t *ctx)
{
    return ctx->session_id;
}

int
sbx_ctx_shutdown_fd (sbx_ctx_t *ctx)
{
    return ctx->spawn ? ctx->spawn->shutdown_fd : -1;
}

const sbx_sandbox_kind_t *
sbx_ctx_sandbox_kind (sbx_ctx_t *ctx)
{
    return ctx->backend_kind;
}

void *
sbx_ctx_sandbox_instance (sbx_ctx_t *ctx)
{
    return ctx->backend;
}

bool
sbx_ctx_streaming (sbx_ctx_t *ctx)
{
    return ctx->job && ctx->job->request.stream && ctx->job->envelope;
}

int
sbx_ctx_stream (sbx_ctx_t *ctx, const char *stream, const void *data, size_t size)
{
    if (!sbx_ctx_streaming (ctx))
        return -1;
    //  On the same socket as the reply, so it arrives before it.
    sbx_job_t *progress = sbx_job_new (SBX_JOB_PROGRESS);
    progress->envelope = zmsg_dup (ctx->job->envelope);
    sbx_reply_progress (&progress->result, ctx->job->request.has_id, ctx->job->request.id,
                        stream, data, size);
    s_send (ctx, progress);
    return 0;
}

//  Whether `job` is input for the call being served.
static bool
s_feeds (s_sandbox_t *self, const sbx_job_t *job)
{
    return job->kind == SBX_JOB_INPUT && self->job && self->job->request.input
        && job->request.call == self->job->request.id;
}

//  Reads what has reached the dealer while the call runs: its input goes
//  to `inputs`, any other job to `deferred`, to run after the call.
static void
s_pump (s_sandbox_t *self)
{
    sbx_job_t *job;
    if (!self->input_scanned) {
        //  Input that came while an earlier call ran, for this one.
        self->input_scanned = true;
        for (size_t count = zlistx_size (self->deferred); count; count--) {
            job = (sbx_job_t *) zlistx_detach (self->deferred, NULL);
            zlistx_add_end (s_feeds (self, job) ? self->inputs : self->deferred, job);
        }
    }
    while (zmq_recv (self->dealer, &job, sizeof job, ZMQ_DONTWAIT) == sizeof job)
        zlistx_add_end (s_feeds (self, job) ? self->inputs : self->deferred, job);
    sbx_poller_touch (self->poller, 1);
}

static bool
s_takes_input (s_sandbox_t *self)
{
    return self->job && self->job->request.input && self->job->envelope && self->dealer;
}

int
sbx_ctx_input_next (sbx_ctx_t *ctx, const void **data_p, size_t *size_p, bool *eof_p)
{
    if (!ctx->input) {
        if (!s_takes_input (ctx))
            return -1;
        s_pump (ctx);
        if (ctx->input_closed) {
            //  Its end was taken, or nothing reads it: what comes is
            //  answered at once.
            sbx_job_t *job;
            while ((job = (sbx_job_t *) zlistx_detach (ctx->inputs, NULL))) {
                job->closed = true;
                s_send (ctx, job);
            }
            return -1;
        }
        ctx->input = (sbx_job_t *) zlistx_detach (ctx->inputs, NULL);
        if (!ctx->input)
            return 0;
    }
    const sbx_request_t *request = &ctx->input->request;
    *data_p = request->data ? request->data : (const uint8_t *) "";
    *size_p = request->data ? request->data_size : 0;
    *eof_p = request->eof;
    return 1;
}

void
sbx_ctx_input_done (sbx_ctx_t *ctx, bool closed)
{
    sbx_job_t *job = ctx->input;
    if (!job) {
        ctx->input_closed |= closed;
        return;
    }
    ctx->input = NULL;
    if (closed || job->request.eof)
        ctx->input_closed = true;
    job->closed = closed;
    s_send (ctx, job);
}

int
sbx_ctx_input_fd (sbx_ctx_t *ctx)
{
    int fd = -1;
    size_t size = sizeof fd;
    if (!s_takes_input (ctx) || zmq_getsockopt (ctx->dealer, ZMQ_FD, &fd, &size) != 0)
        return -1;
    return fd;
}

sbx_error_t *
sbx_ctx_call (sbx_ctx_t *ctx, const char *feature, const char *method,
              const void *args, size_t args_size, msgpack_sbuffer *result)
{
    return s_invoke (ctx, feature, method, args, args_size, result);
}

sbx_error_t *
sbx_ctx_call_str (sbx_ctx_t *ctx, const char *feature, const char *method,
                  const char *key, const char *value, msgpack_sbuffer *result)
{
    msgpack_sbuffer args;
    msgpack_sbuffer_init (&args);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &args, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 1);
    sbx_mp_pack_str (&packer, key);
    sbx_mp_pack_str (&packer, value);
    sbx_error_t *error = s_invoke (ctx, feature, method, args.data, args.size, result);
    msgpack_sbuffer_destroy (&args);
    return error;
}

//  --- Actor -----------------------------------------------------------------

static s_sandbox_t *
s_new (void *pipe, sbx_spawn_t *spawn)
{
    s_sandbox_t *self = (s_sandbox_t *) zmalloc (sizeof (s_sandbox_t));
    self->pipe = pipe;
    self->spawn = spawn;
    self->config = spawn->config;
    self->id = spawn->sandbox_id;
    self->status = SBX_STATUS_CREATED;
    self->status_since = s_clock_ns ();
    self->reusable = spawn->reusable;
    self->proactive = spawn->reusable && self->config->proactive_session_setup;
    self->state_errors = zlistx_new ();
    self->new_state_errors = zlistx_new ();
    self->events = sbx_evbatch_new ();
    self->deferred = zlistx_new ();
    self->inputs = zlistx_new ();

    sbx_sandbox_params_t params = {
        .environment = self->config->env_id, .sandbox_id = self->id,
        .slot = spawn->slot, .generation = spawn->generation,
        .root_dir = self->config->root_dir
    };
    self->backend_kind = self->config->sandbox_kind;
    self->backend = self->backend_kind->instance_new
                  ? self->backend_kind->instance_new (self->config->sandbox_config, &params)
                  : self->config->sandbox_config;
    self->feature_count = self->config->feature_count;
    self->features = (s_feature_t *) zmalloc ((self->feature_count + 1) * sizeof (s_feature_t));
    for (size_t i = 0; i < self->feature_count; i++) {
        s_feature_t *f = &self->features [i];
        f->conf = &self->config->features [i];
        f->instance = f->conf->kind->instance_new
                    ? f->conf->kind->instance_new (f->conf->kind_config, f->conf->name)
                    : f->conf->kind_config;
    }
    return self;
}

static void
s_destroy_errors (zlistx_t **list_p)
{
    sbx_error_t *error = (sbx_error_t *) zlistx_first (*list_p);
    while (error) {
        sbx_error_destroy (&error);
        error = (sbx_error_t *) zlistx_next (*list_p);
    }
    zlistx_destroy (list_p);
}

static void
s_destroy_jobs (zlistx_t **list_p)
{
    sbx_job_t *job;
    while ((job = (sbx_job_t *) zlistx_detach (*list_p, NULL)))
        sbx_job_destroy (&job);
    zlistx_destroy (list_p);
}

static void
s_destroy (s_sandbox_t **self_p)
{
    s_sandbox_t *self = *self_p;
    for (size_t i = 0; i < self->feature_count; i++)
        if (self->features [i].conf->kind->instance_destroy)
            self->features [i].conf->kind->instance_destroy (&self->features [i].instance);
    free (self->features);
    if (self->backend_kind->instance_destroy)
        self->backend_kind->instance_destroy (&self->backend);
    s_destroy_errors (&self->state_errors);
    s_destroy_errors (&self->new_state_errors);
    sbx_error_destroy (&self->shutdown_error);
    sbx_evbatch_destroy (&self->events);
    sbx_job_destroy (&self->job);
    sbx_job_destroy (&self->input);
    s_destroy_jobs (&self->deferred);
    s_destroy_jobs (&self->inputs);
    free (self->session_id);
    sbx_poller_destroy (&self->poller);
    if (self->dealer)
        zmq_close (self->dealer);
    sbx_spawn_destroy (&self->spawn);
    free (self);
    *self_p = NULL;
}

static void
s_handle_pipe (s_sandbox_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
        sbx_log_error (self->id, "unexpected pipe command '%s'", command);
    zstr_free (&command);
}

void
sbx_sandbox_actor (void *pipe, void *args)
{
    s_sandbox_t *self = s_new (pipe, (sbx_spawn_t *) args);
    zsock_signal (pipe, 0);

    //  A raw libzmq socket, not a zsock: czmq keeps every zsock in one
    //  list, under one lock, that each close walks - closing thousands of
    //  sandboxes was quadratic (docs/benchmarks.md).
    self->dealer = zmq_socket (zsys_init (), ZMQ_DEALER);
    if (self->dealer) {
        int zero = 0;
        zmq_setsockopt (self->dealer, ZMQ_ROUTING_ID, self->id, strlen (self->id));
        zmq_setsockopt (self->dealer, ZMQ_SNDHWM, &zero, sizeof zero);
        zmq_setsockopt (self->dealer, ZMQ_RCVHWM, &zero, sizeof zero);
        zmq_setsockopt (self->dealer, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect (self->dealer, self->spawn->backend_endpoint) != 0) {
            zmq_close (self->dealer);
            self->dealer = NULL;
        }
    }
    zsock_signal (pipe, self->dealer ? 0 : 1);
    self->poller = sbx_poller_new (2);
    sbx_poller_add (self->poller, pipe);
    if (self->dealer) {
        sbx_poller_add (self->poller, self->dealer);
        s_handle_job (self, sbx_job_new (SBX_JOB_START));
    }
    while (!self->terminated) {
        int64_t deadline = s_next_deadline (self);
        long timeout = deadline < 0 ? -1 : (long) (deadline - zclock_mono ());
        if ((deadline >= 0 && timeout < 0) || zlistx_size (self->deferred))
            timeout = 0;
        if (sbx_poller_wait (self->poller, timeout > INT_MAX ? INT_MAX : (int) timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (sbx_poller_ready (self->poller, 0))
            s_handle_pipe (self);
        if (self->dealer && (sbx_poller_ready (self->poller, 1) || zlistx_size (self->deferred))) {
            //  Drain every pending job per wake-up.
            sbx_job_t *job;
            bool drained = false;
            while ((job = s_next_job (self, &drained)))
                s_handle_job (self, job);
            if (drained)
                sbx_poller_settle (self->poller, 1);
        }
        deadline = s_next_deadline (self);
        if (deadline >= 0 && zclock_mono () >= deadline)
            s_housekeep (self);
    }
    if (s_online (self)) {
        //  Terminated without being shut down: the environment is gone.
        sbx_error_t *ignored = s_shutdown (self);
        sbx_error_destroy (&ignored);
    }
    s_destroy (&self);
}
