/*  The python feature kind (docs/python-feature.md): a stateful Python
    interpreter per session, in a process sandbox.

    exec {code, timeout_ms?}
      -> {stdout, stderr, result, error, truncated, timed_out, restarted,
          streamed, duration_ms}
    check {code} -> {status: "complete" | "incomplete" | "invalid"}
    reset {} -> nil

    One interpreter (features/python_interp.h) runs per session, started
    through sbx-init like any command, so with the sandbox's isolation,
    limits and user; variables, imports and the working directory stay
    from one exec to the next. `result` is the repr of the cell's last
    expression (nil when it ends with a statement, or with ';'); `error`
    is {type, message, traceback} when the code raised: that is the
    cell's outcome, not a failed call. Output is capped per stream
    (truncated) and streamed when the call asks (`stream: true`).

    Past timeout_ms the interpreter gets SIGINT (KeyboardInterrupt,
    timed_out: true, the state lives on); grace_ms later, if it has not
    answered, it is killed with all it started and the call fails with
    TimeoutError. An interpreter that dies (os._exit, a signal, the
    memory limit) fails the call with InterpreterDied. Either way the next
    exec starts a fresh interpreter and says so (restarted: true); the
    sandbox is fine. `reset` starts a fresh one on demand.

    setup_session starts the session's interpreter (without waiting for
    it), so with proactive session setup the first exec finds it up;
    teardown_session kills it and everything it started, then resets the
    sandbox (sbx_process_reset), as shell and fs do.

    Options: interpreter ("python3", looked up on the sandbox's PATH),
    startup (code run in each new interpreter), timeout_ms (60000),
    max_timeout_ms (3600000), grace_ms (2000), max_output_bytes (1048576),
    env ({NAME: value or null}).
*/
#include "backends/process/process.h"
#include "features/features.h"
#include "features/kit.h"
#include "features/python_interp.h"
#include "messages/mp.h"
#include "runtime/core/log.h"

#include <sbx/plugin.h>
#include <czmq.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define S_ERROR "ConfigError"

typedef struct {
    sbx_kit_options_t run;      //  max_output_bytes, timeout_ms, max_timeout_ms, env
    char *interpreter;
    char *startup;              //  NULL: none
    int64_t grace_ms;
} s_config_t;

typedef struct {
    const s_config_t *config;
    char *name;                 //  the feature's name, for logs
    sbx_python_interp_t *interp;
    bool lost;                  //  the session's interpreter died or was killed
} s_instance_t;

//  --- Options -----------------------------------------------------------------

static void
s_config_destroy (void **config_p)
{
    s_config_t *config = (s_config_t *) *config_p;
    if (!config)
        return;
    sbx_kit_options_free (&config->run);
    free (config->interpreter);
    free (config->startup);
    free (config);
    *config_p = NULL;
}

static void *
s_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    s_config_t *config = (s_config_t *) zmalloc (sizeof (s_config_t));
    sbx_kit_options_init (&config->run);
    config->interpreter = strdup ("python3");
    config->grace_ms = 2000;
    sbx_error_t *error = NULL;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value) {
        if (streq (key, "kind") || sbx_kit_option (&config->run, path, key, value, &error))
            ;
        else
        if (streq (key, "interpreter") || streq (key, "startup")) {
            if (!json_is_string (value) || (streq (key, "interpreter") && !*json_string_value (value))
            ||  strlen (json_string_value (value)) != json_string_length (value)) {
                error = sbx_error_new (S_ERROR, "%s.%s: must be a %sstring without NUL", path, key,
                                       streq (key, "interpreter") ? "non-empty " : "");
                break;
            }
            char **field = streq (key, "interpreter") ? &config->interpreter : &config->startup;
            free (*field);
            *field = strdup (json_string_value (value));
        }
        else
        if (streq (key, "grace_ms"))
            error = sbx_kit_integer_option (value, path, key, 1, 600000, &config->grace_ms);
        else
            error = sbx_error_new (S_ERROR, "%s.%s: unknown option of the python feature (it takes "
                                   "interpreter, startup, timeout_ms, max_timeout_ms, grace_ms, "
                                   "max_output_bytes, env)", path, key);
        if (error)
            break;
    }
    if (!error)
        error = sbx_kit_options_check (&config->run, path);
    if (error) {
        void *p = config;
        s_config_destroy (&p);
        *error_p = error;
        return NULL;
    }
    return config;
}

static void *
s_instance_new (const void *config, const char *feature_name)
{
    s_instance_t *self = (s_instance_t *) zmalloc (sizeof (s_instance_t));
    self->config = (const s_config_t *) config;
    self->name = strdup (feature_name);
    return self;
}

static void
s_instance_destroy (void **instance_p)
{
    s_instance_t *self = (s_instance_t *) *instance_p;
    if (!self)
        return;
    sbx_python_interp_destroy (&self->interp);
    free (self->name);
    free (self);
    *instance_p = NULL;
}

//  --- Starting an interpreter --------------------------------------------------

//  The interpreter's path: as configured when it holds a '/', else the
//  first executable file of that name on the environment's PATH (the
//  sandbox sees the host's files, read-only under bwrap). Caller frees;
//  NULL when there is none.
static char *
s_resolve (const char *name, const sbx_kit_env_t *env)
{
    if (strchr (name, '/'))
        return strdup (name);
    const char *path = "";
    for (size_t i = 0; i < env->count; i++)
        if (strncmp (env->items [i], "PATH=", 5) == 0)
            path = env->items [i] + 5;
    while (*path) {
        size_t length = strcspn (path, ":");
        if (length > 0 && path [0] == '/') {
            char *candidate = zsys_sprintf ("%.*s/%s", (int) length, path, name);
            struct stat info;
            if (stat (candidate, &info) == 0 && S_ISREG (info.st_mode) && access (candidate, X_OK) == 0)
                return candidate;
            zstr_free (&candidate);
        }
        path += length + (path [length] == ':');
    }
    return NULL;
}

//  Starts a new interpreter for the instance; does not wait for it.
static sbx_error_t *
s_start (s_instance_t *self, sbx_process_t *process)
{
    const s_config_t *config = self->config;
    sbx_kit_env_t env;
    sbx_kit_env_start (&env, &config->run, sbx_process_workspace (process));
    char *path = s_resolve (config->interpreter, &env);
    sbx_error_t *error = NULL;
    if (!path)
        error = sbx_error_new ("FileNotFoundError", "python: no interpreter '%s' on the sandbox's PATH",
                               config->interpreter);
    else
        error = sbx_python_interp_start (process, path, (const char *const *) env.items, &self->interp);
    free (path);
    sbx_kit_env_free (&env);
    return error;
}

//  The last line of an interpreter's stderr, for an error message.
static void
s_last_words (const sbx_python_outcome_t *outcome, char *text, size_t size)
{
    size_t end = outcome->err_size;
    while (end > 0 && (outcome->err [end - 1] == '\n' || outcome->err [end - 1] == ' '))
        end--;
    size_t start = end;
    while (start > 0 && outcome->err [start - 1] != '\n' && end - start < 300)
        start--;
    snprintf (text, size, "%s%.*s", end > start ? ": " : "", (int) (end - start), outcome->err + start);
}

//  The error a call ends with when the driver did not answer: for an
//  exec, TimeoutError, Cancelled or InterpreterDied; while the
//  interpreter starts (`starting`), StartupError but for Cancelled.
//  Caller owns it.
static sbx_error_t *
s_unanswered (const sbx_python_outcome_t *outcome, const sbx_python_request_t *request, bool starting)
{
    const char *type = starting ? "StartupError" : "InterpreterDied";
    const char *lead = !starting ? "python" : request->op ? "python: the startup code failed"
                                                          : "python: the interpreter did not start";
    const char *next = starting ? "" : " (its state is lost; the next exec starts a new one)";
    char words [400];
    s_last_words (outcome, words, sizeof words);
    int status = outcome->status;
    if (outcome->end == SBX_PYTHON_CANCELLED)
        return sbx_error_new ("Cancelled", "%s: the environment is shutting down: the interpreter was killed",
                              lead);
    if (outcome->end == SBX_PYTHON_KILLED && !request->op)
        return sbx_error_new (type, "%s: no word from it in %lld ms%s", lead, (long long) request->timeout_ms,
                              words);
    if (outcome->end == SBX_PYTHON_KILLED)
        return sbx_error_new (starting ? type : "TimeoutError", "%s: the code ran past its timeout (%lld ms) "
                              "and did not stop within %lld ms of SIGINT: the interpreter was killed%s", lead,
                              (long long) request->timeout_ms, (long long) request->grace_ms, next);
    if (outcome->garbled)
        return sbx_error_new (type, "%s: the interpreter sent garbage on its socket and was killed%s", lead, next);
    if (status >= 0 && WIFSIGNALED (status))
        return sbx_error_new (type, "%s: the interpreter was killed by signal %d (%s)%s%s", lead,
                              WTERMSIG (status), strsignal (WTERMSIG (status)), words, next);
    if (status >= 0)
        return sbx_error_new (type, "%s: the interpreter exited with status %d%s%s", lead, WEXITSTATUS (status),
                              words, next);
    return sbx_error_new (type, "%s: the interpreter is gone%s%s", lead, words, next);
}

//  Makes sure the session has a live interpreter, ready, its startup code
//  run. *restarted_p (exec; NULL: the next exec tells): the session's
//  interpreter was lost (and replaced) since the last exec.
static sbx_error_t *
s_prepare (s_instance_t *self, sbx_ctx_t *ctx, sbx_process_t *process, bool *restarted_p)
{
    const s_config_t *config = self->config;
    if (self->interp && !sbx_python_interp_alive (self->interp)) {
        sbx_python_interp_destroy (&self->interp);
        self->lost = true;
    }
    if (!self->interp) {
        sbx_error_t *error = s_start (self, process);
        if (error)
            return error;
    }
    if (restarted_p) {
        *restarted_p = self->lost;
        self->lost = false;
    }
    if (sbx_python_interp_ready (self->interp))
        return NULL;
    //  Its "ready", then the startup code.
    sbx_python_request_t request = {
        .op = NULL, .max_output = 64 * 1024, .timeout_ms = config->run.timeout_ms, .grace_ms = config->grace_ms,
        .cancel_fd = sbx_ctx_shutdown_fd (ctx)
    };
    sbx_error_t *error = NULL;
    for (int step = 0; !error && step < (config->startup ? 2 : 1); step++) {
        if (step == 1) {
            request.op = "exec";
            request.code = config->startup;
            request.code_size = strlen (config->startup);
        }
        sbx_python_outcome_t outcome;
        error = sbx_python_interp_call (self->interp, &request, &outcome);
        if (error)
            break;
        const json_t *raised = json_object_get (outcome.answer, "error");
        if (outcome.end == SBX_PYTHON_ANSWERED && step == 0 && !sbx_python_interp_ready (self->interp))
            outcome.garbled = true, outcome.end = SBX_PYTHON_DIED;
        if (outcome.end != SBX_PYTHON_ANSWERED)
            error = s_unanswered (&outcome, &request, true);
        else
        if (json_is_object (raised)) {
            const char *traceback = json_string_value (json_object_get (raised, "traceback"));
            error = sbx_error_new ("StartupError", "python: the startup code raised %s",
                                   traceback ? traceback : "an exception");
        }
        sbx_python_outcome_free (&outcome);
    }
    if (error)
        sbx_python_interp_destroy (&self->interp);
    return error;
}

//  --- Hooks -------------------------------------------------------------------

static sbx_error_t *
s_setup (void *instance, sbx_ctx_t *ctx)
{
    return sbx_kit_need_process (ctx, "python");
}

static sbx_error_t *
s_setup_session (void *instance, sbx_ctx_t *ctx)
{
    s_instance_t *self = (s_instance_t *) instance;
    sbx_process_t *process = sbx_process_of (ctx);
    if (!process || self->interp)
        return NULL;
    //  Python starts while the session is handed out; a start that fails
    //  is tried again, and reported, by the first exec.
    sbx_error_t *error = s_start (self, process);
    if (error) {
        if (sbx_error_is_state (error))
            return error;
        sbx_log_warning (sbx_ctx_sandbox_id (ctx), "%s: %s", self->name, sbx_error_message (error));
        sbx_error_destroy (&error);
    }
    return NULL;
}

static sbx_error_t *
s_teardown_session (void *instance, sbx_ctx_t *ctx)
{
    s_instance_t *self = (s_instance_t *) instance;
    sbx_python_interp_destroy (&self->interp);
    self->lost = false;
    return sbx_kit_teardown_session (instance, ctx);
}

static sbx_error_t *
s_teardown (void *instance, sbx_ctx_t *ctx)
{
    s_instance_t *self = (s_instance_t *) instance;
    sbx_python_interp_destroy (&self->interp);
    return NULL;
}

//  --- Methods -------------------------------------------------------------------

//  Reads {code, timeout_ms?} (`check` takes code alone).
static sbx_error_t *
s_arguments (const s_config_t *config, const char *method, const msgpack_object *args, bool timeout_allowed,
             const msgpack_object **code_p, int64_t *timeout_ms_p)
{
    *code_p = NULL;
    *timeout_ms_p = config->run.timeout_ms;
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        const msgpack_object *key = &args->via.map.ptr [i].key;
        const msgpack_object *value = &args->via.map.ptr [i].val;
        if (sbx_mp_str_eq (key, "code"))
            *code_p = value;
        else
        if (timeout_allowed && sbx_mp_str_eq (key, "timeout_ms")) {
            sbx_error_t *error = sbx_kit_timeout_arg (&config->run, method, value, timeout_ms_p);
            if (error)
                return error;
        }
        else
            return sbx_kit_unknown_arg (method, key, timeout_allowed ? "code, timeout_ms" : "code");
    }
    const msgpack_object *code = *code_p;
    if (!code || code->type != MSGPACK_OBJECT_STR
    ||  !sbx_mp_utf8_valid ((const uint8_t *) code->via.str.ptr, code->via.str.size))
        return sbx_error_new ("ValueError", "%s: 'code' is required (a UTF-8 string: Python source)", method);
    return NULL;
}

//  What exec and check begin with: the call's process sandbox, its
//  arguments (exec, which passes restarted_p, takes timeout_ms too), then
//  a ready interpreter (s_prepare).
static sbx_error_t *
s_begin (s_instance_t *self, sbx_ctx_t *ctx, const char *method, const msgpack_object *args,
         const msgpack_object **code_p, int64_t *timeout_ms_p, bool *restarted_p)
{
    sbx_error_t *error = NULL;
    sbx_process_t *process = sbx_kit_process (ctx, "python", &error);
    if (process)
        error = s_arguments (self->config, method, args, restarted_p != NULL, code_p, timeout_ms_p);
    if (!error)
        error = s_prepare (self, ctx, process, restarted_p);
    return error;
}

//  The error of a call the interpreter did not answer (s_unanswered); the
//  interpreter is dropped, and the next exec says it restarted.
static sbx_error_t *
s_lose (s_instance_t *self, const sbx_python_outcome_t *outcome, const sbx_python_request_t *request)
{
    sbx_error_t *error = s_unanswered (outcome, request, false);
    sbx_python_interp_destroy (&self->interp);
    self->lost = true;
    return error;
}

static sbx_error_t *
s_exec (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    s_instance_t *self = (s_instance_t *) instance;
    const s_config_t *config = self->config;
    const msgpack_object *code;
    int64_t timeout_ms;
    bool restarted = false;
    sbx_error_t *error = s_begin (self, ctx, "exec", args, &code, &timeout_ms, &restarted);
    if (error)
        return error;
    bool streaming = sbx_ctx_streaming (ctx);
    sbx_python_request_t request = {
        .op = "exec", .code = code->via.str.ptr, .code_size = code->via.str.size, .display = true,
        .max_output = config->run.max_output, .timeout_ms = timeout_ms, .grace_ms = config->grace_ms,
        .cancel_fd = sbx_ctx_shutdown_fd (ctx),
        .on_output = streaming ? sbx_kit_stream_output : NULL, .on_output_arg = ctx
    };
    sbx_python_outcome_t outcome;
    error = sbx_python_interp_call (self->interp, &request, &outcome);
    if (error)
        return error;
    if (outcome.end != SBX_PYTHON_ANSWERED) {
        error = s_lose (self, &outcome, &request);
        sbx_python_outcome_free (&outcome);
        return error;
    }
    const json_t *value = json_object_get (outcome.answer, "result");
    const json_t *raised = json_object_get (outcome.answer, "error");
    msgpack_pack_map (result, 9);
    sbx_mp_pack_str (result, "stdout");
    sbx_kit_pack_output (result, outcome.out, outcome.out_size, outcome.truncated);
    sbx_mp_pack_str (result, "stderr");
    sbx_kit_pack_output (result, outcome.err, outcome.err_size, outcome.truncated);
    sbx_mp_pack_str (result, "result");
    if (json_is_string (value))
        sbx_mp_pack_strn (result, json_string_value (value), json_string_length (value));
    else
        msgpack_pack_nil (result);
    sbx_mp_pack_str (result, "error");
    if (json_is_object (raised))
        sbx_mp_from_json (result, raised);
    else
        msgpack_pack_nil (result);
    sbx_kit_pack_bool (result, "truncated", outcome.truncated || json_is_true (json_object_get (outcome.answer,
                                                                                       "truncated")));
    sbx_kit_pack_bool (result, "timed_out", outcome.interrupted);
    sbx_kit_pack_bool (result, "restarted", restarted);
    //  Streamed: stdout and stderr went ahead, as progress messages.
    sbx_kit_pack_bool (result, "streamed", streaming);
    sbx_mp_pack_str (result, "duration_ms");
    msgpack_pack_double (result, outcome.duration_ms);
    sbx_python_outcome_free (&outcome);
    return NULL;
}

static sbx_error_t *
s_check (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    s_instance_t *self = (s_instance_t *) instance;
    const msgpack_object *code;
    int64_t timeout_ms;
    sbx_error_t *error = s_begin (self, ctx, "check", args, &code, &timeout_ms, NULL);
    if (error)
        return error;
    sbx_python_request_t request = {
        .op = "check", .code = code->via.str.ptr, .code_size = code->via.str.size,
        .max_output = self->config->run.max_output, .timeout_ms = timeout_ms, .grace_ms = self->config->grace_ms,
        .cancel_fd = sbx_ctx_shutdown_fd (ctx)
    };
    sbx_python_outcome_t outcome;
    error = sbx_python_interp_call (self->interp, &request, &outcome);
    if (error)
        return error;
    const char *status = json_string_value (json_object_get (outcome.answer, "status"));
    if (outcome.end != SBX_PYTHON_ANSWERED || !status) {
        if (outcome.end == SBX_PYTHON_ANSWERED)
            outcome.garbled = true, outcome.end = SBX_PYTHON_DIED;
        error = s_lose (self, &outcome, &request);
    }
    else {
        msgpack_pack_map (result, 1);
        sbx_mp_pack_str (result, "status");
        sbx_mp_pack_str (result, status);
    }
    sbx_python_outcome_free (&outcome);
    return error;
}

static sbx_error_t *
s_reset (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    s_instance_t *self = (s_instance_t *) instance;
    sbx_error_t *error = NULL;
    sbx_process_t *process = sbx_kit_process (ctx, "python", &error);
    if (!process)
        return error;
    if (args->via.map.size > 0)
        return sbx_error_new ("ValueError", "reset: it takes no arguments");
    sbx_python_interp_destroy (&self->interp);
    self->lost = false;
    return s_start (self, process);
}

static const sbx_method_t s_methods [] = {
    {"exec", s_exec, NULL},
    {"check", s_check, NULL},
    {"reset", s_reset, NULL},
    {NULL, NULL, NULL}
};

const sbx_feature_kind_t sbx_feature_python = {
    .name = "python",
    .config_new = s_config_new,
    .config_destroy = s_config_destroy,
    .instance_new = s_instance_new,
    .instance_destroy = s_instance_destroy,
    .setup = s_setup,
    .setup_session = s_setup_session,
    .teardown_session = s_teardown_session,
    .teardown = s_teardown,
    .methods = s_methods,
    //  the interpreter's socket and its two pipes (resident.h)
    .fds = 3
};
