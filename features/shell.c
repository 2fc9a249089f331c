/*  The shell feature kind (DESIGN.md "Plugins", docs/sandboxes.md): runs
    `/bin/sh -c CMD` in a process sandbox.

    run {cmd, timeout_ms?, stdin?, env?, cwd?}
      -> {exit_code, signal, stdout, stderr, timed_out, cancelled, truncated,
          duration_ms, streamed}

    A call with `stream: true` (docs/protocol.md "Streaming") gets stdout
    and stderr as they come, in progress messages ahead of the reply
    (within max_output_bytes per stream, as always); its result then has
    them empty and `streamed` true.

    The command runs in the sandbox directory (or `cwd` beneath it) with a
    clean environment: PATH, HOME (the sandbox directory), LANG, then the
    feature's `env` option, then the call's `env`. Output beyond
    `max_output_bytes` per stream is discarded (truncated: true). At the
    timeout the command's process tree is killed: timed_out is true and
    exit_code -1; it is not an error. When the environment shuts down
    while a command runs, its tree is killed the same way at once:
    cancelled is true and exit_code -1. A command killed by a signal has
    exit_code 128 + signal, as in sh. stdout and stderr are str when they
    are valid UTF-8, else bin.

    At session end every process of the sandbox is killed and its
    directory emptied (sbx_process_reset), so a session never sees the
    previous one.

    Options: max_output_bytes (1048576), timeout_ms (60000, the default
    timeout), max_timeout_ms (3600000), env ({NAME: value or null}).
*/
#include "backends/process/process.h"
#include "features/features.h"
#include "messages/mp.h"
#include "runtime/core/alloc.h"

#include <sbx/plugin.h>
#include <czmq.h>
#include <string.h>
#include <sys/wait.h>

#define S_ERROR "ConfigError"

typedef struct {
    size_t max_output;
    int64_t timeout_ms;
    int64_t max_timeout_ms;
    char **env;                 //  "NAME=value" over the defaults; "NAME" alone removes
    size_t env_count;
} s_config_t;


static void
s_config_destroy (void **config_p)
{
    s_config_t *config = (s_config_t *) *config_p;
    if (!config)
        return;
    for (size_t i = 0; i < config->env_count; i++)
        free (config->env [i]);
    free (config->env);
    free (config);
    *config_p = NULL;
}

static bool
s_valid_env_name (const char *name, size_t length)
{
    if (length == 0)
        return false;
    for (size_t i = 0; i < length; i++)
        if (name [i] == '=' || name [i] == 0)
            return false;
    return true;
}

static sbx_error_t *
s_integer_option (const json_t *value, const char *path, const char *key, int64_t low, int64_t high,
                  int64_t *out)
{
    if (!json_is_integer (value) || json_integer_value (value) < low || json_integer_value (value) > high)
        return sbx_error_new (S_ERROR, "%s.%s: must be an integer in [%lld, %lld]", path, key,
                              (long long) low, (long long) high);
    *out = json_integer_value (value);
    return NULL;
}

static void *
s_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    s_config_t *config = (s_config_t *) zmalloc (sizeof (s_config_t));
    config->max_output = 1024 * 1024;
    config->timeout_ms = 60000;
    config->max_timeout_ms = 3600000;
    sbx_error_t *error = NULL;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value) {
        int64_t number = 0;
        if (streq (key, "kind"))
            continue;
        if (streq (key, "max_output_bytes")) {
            error = s_integer_option (value, path, key, 0, 1024LL * 1024 * 1024, &number);
            config->max_output = (size_t) number;
        }
        else
        if (streq (key, "timeout_ms"))
            error = s_integer_option (value, path, key, 1, 86400000, &config->timeout_ms);
        else
        if (streq (key, "max_timeout_ms"))
            error = s_integer_option (value, path, key, 1, 86400000, &config->max_timeout_ms);
        else
        if (streq (key, "env")) {
            if (!json_is_object (value)) {
                error = sbx_error_new (S_ERROR, "%s.env: must be an object {NAME: value or null}", path);
                break;
            }
            config->env = (char **) zmalloc ((json_object_size (value) + 1) * sizeof (char *));
            const char *name;
            json_t *item;
            json_object_foreach (value, name, item) {
                if (!s_valid_env_name (name, strlen (name)) || (!json_is_string (item) && !json_is_null (item))) {
                    error = sbx_error_new (S_ERROR, "%s.env.%s: must be a name without '=' with a string "
                                           "value, or null to remove it", path, name);
                    break;
                }
                config->env [config->env_count++] = json_is_null (item)
                    ? strdup (name) : zsys_sprintf ("%s=%s", name, json_string_value (item));
            }
        }
        else
            error = sbx_error_new (S_ERROR, "%s.%s: unknown option of the shell feature (it takes "
                                   "max_output_bytes, timeout_ms, max_timeout_ms, env)", path, key);
        if (error)
            break;
    }
    if (!error && config->timeout_ms > config->max_timeout_ms)
        error = sbx_error_new (S_ERROR, "%s.timeout_ms: must be <= max_timeout_ms (%lld)", path,
                               (long long) config->max_timeout_ms);
    if (error) {
        void *p = config;
        s_config_destroy (&p);
        *error_p = error;
        return NULL;
    }
    return config;
}

static sbx_error_t *
s_setup (void *instance, sbx_ctx_t *ctx)
{
    if (!sbx_process_of (ctx))
        return sbx_error_new ("ValueError", "the shell feature needs a 'process' sandbox");
    return NULL;
}

static sbx_error_t *
s_teardown_session (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *process = sbx_process_of (ctx);
    return process ? sbx_process_reset (process) : NULL;
}

//  --- run --------------------------------------------------------------------

//  An environment under construction: "NAME=value" strings, owned.
typedef struct {
    char **items;
    size_t count;
} s_env_t;

//  Sets (or with no '=', removes) one variable.
static void
s_env_put (s_env_t *env, const char *entry, size_t name_length)
{
    for (size_t i = 0; i < env->count; i++) {
        if (strncmp (env->items [i], entry, name_length) == 0 && env->items [i][name_length] == '=') {
            free (env->items [i]);
            env->items [i] = env->items [--env->count];
            break;
        }
    }
    if (entry [name_length] == '=') {
        env->items = (char **) sbx_realloc (env->items, (env->count + 2) * sizeof (char *));
        env->items [env->count++] = strdup (entry);
    }
    env->items [env->count] = NULL;
}

static void
s_env_free (s_env_t *env)
{
    for (size_t i = 0; i < env->count; i++)
        free (env->items [i]);
    free (env->items);
}

//  A streaming call's output, as the command writes it (sbx_process_run_t
//  on_output).
static void
s_stream_output (void *arg, int stream, const char *data, size_t size)
{
    sbx_ctx_stream ((sbx_ctx_t *) arg, stream == 0 ? "stdout" : "stderr", data, size);
}

//  Output as str when it is UTF-8 (a sequence cut by truncation is
//  dropped), else as bin.
static void
s_pack_output (msgpack_packer *pk, const char *data, size_t size, bool truncated)
{
    const uint8_t *bytes = (const uint8_t *) data;
    for (size_t cut = 0; cut <= (truncated ? 3 : 0) && cut <= size; cut++) {
        if (sbx_mp_utf8_valid (bytes, size - cut)) {
            sbx_mp_pack_strn (pk, data, size - cut);
            return;
        }
    }
    msgpack_pack_bin (pk, size);
    msgpack_pack_bin_body (pk, data, size);
}

static sbx_error_t *
s_bad (const char *key, const char *what)
{
    return sbx_error_new ("ValueError", "run: '%s' %s", key, what);
}

static sbx_error_t *
s_run (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    const s_config_t *config = (const s_config_t *) instance;
    sbx_process_t *process = sbx_process_of (ctx);
    if (!process)
        return sbx_error_new ("ValueError", "the shell feature needs a 'process' sandbox");

    const msgpack_object *cmd = NULL, *timeout = NULL, *input = NULL, *env = NULL, *cwd = NULL;
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        const msgpack_object *key = &args->via.map.ptr [i].key;
        const msgpack_object *value = &args->via.map.ptr [i].val;
        if (sbx_mp_str_eq (key, "cmd"))
            cmd = value;
        else if (sbx_mp_str_eq (key, "timeout_ms"))
            timeout = value;
        else if (sbx_mp_str_eq (key, "stdin"))
            input = value;
        else if (sbx_mp_str_eq (key, "env"))
            env = value;
        else if (sbx_mp_str_eq (key, "cwd"))
            cwd = value;
        else {
            char *name = sbx_mp_strdup (key);
            sbx_error_t *error = sbx_error_new ("ValueError", "run: unknown argument '%s' (it takes cmd, "
                                                "timeout_ms, stdin, env, cwd)", name ? name : "?");
            free (name);
            return error;
        }
    }
    if (cmd && cmd->type == MSGPACK_OBJECT_NIL)
        cmd = NULL;
    if (!cmd)
        return s_bad ("cmd", "is required (a string: the command for /bin/sh -c)");
    char *command = sbx_mp_strdup (cmd);
    if (!command)
        return s_bad ("cmd", "must be a string without NUL bytes");

    int64_t timeout_ms = config->timeout_ms;
    if (timeout && timeout->type != MSGPACK_OBJECT_NIL) {
        if (timeout->type != MSGPACK_OBJECT_POSITIVE_INTEGER || timeout->via.u64 == 0
        ||  timeout->via.u64 > (uint64_t) config->max_timeout_ms) {
            free (command);
            return sbx_error_new ("ValueError", "run: 'timeout_ms' must be an integer in [1, %lld]",
                                  (long long) config->max_timeout_ms);
        }
        timeout_ms = (int64_t) timeout->via.u64;
    }
    const void *input_data = NULL;
    size_t input_size = 0;
    if (input && input->type == MSGPACK_OBJECT_STR) {
        input_data = input->via.str.size ? input->via.str.ptr : "";
        input_size = input->via.str.size;
    }
    else
    if (input && input->type == MSGPACK_OBJECT_BIN) {
        input_data = input->via.bin.size ? input->via.bin.ptr : "";
        input_size = input->via.bin.size;
    }
    else
    if (input && input->type != MSGPACK_OBJECT_NIL) {
        free (command);
        return s_bad ("stdin", "must be a string or bytes");
    }
    char *directory = NULL;
    if (cwd && cwd->type != MSGPACK_OBJECT_NIL && !(directory = sbx_mp_strdup (cwd))) {
        free (command);
        return s_bad ("cwd", "must be a string (a directory relative to the sandbox directory)");
    }

    s_env_t environment = {NULL, 0};
    char *entry = zsys_sprintf ("HOME=%s", sbx_process_workspace (process));
    s_env_put (&environment, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 4);
    s_env_put (&environment, entry, 4);
    s_env_put (&environment, "LANG=C.UTF-8", 4);
    zstr_free (&entry);
    for (size_t i = 0; i < config->env_count; i++)
        s_env_put (&environment, config->env [i], strcspn (config->env [i], "="));
    sbx_error_t *error = NULL;
    if (env && env->type != MSGPACK_OBJECT_NIL) {
        if (env->type != MSGPACK_OBJECT_MAP)
            error = s_bad ("env", "must be a map of strings to strings");
        for (uint32_t i = 0; !error && i < env->via.map.size; i++) {
            const msgpack_object *name = &env->via.map.ptr [i].key;
            const msgpack_object *value = &env->via.map.ptr [i].val;
            char *text = sbx_mp_strdup (value);
            if (name->type != MSGPACK_OBJECT_STR || !s_valid_env_name (name->via.str.ptr, name->via.str.size)
            ||  !text)
                error = s_bad ("env", "must map names (without '=' or NUL) to strings (without NUL)");
            else {
                entry = zsys_sprintf ("%.*s=%s", (int) name->via.str.size, name->via.str.ptr, text);
                s_env_put (&environment, entry, name->via.str.size);
                zstr_free (&entry);
            }
            free (text);
        }
    }
    if (!error) {
        const char *argv [] = {"/bin/sh", "-c", command, NULL};
        bool streaming = sbx_ctx_streaming (ctx);
        sbx_process_run_t run = {
            .argv = argv, .env = (const char *const *) environment.items, .cwd = directory,
            .input = input_data, .input_size = input_size, .max_output = config->max_output,
            .timeout_ms = timeout_ms,
            //  A shutdown does not wait for the command.
            .cancel_fd = sbx_ctx_shutdown_fd (ctx),
            .on_output = streaming ? s_stream_output : NULL, .on_output_arg = ctx
        };
        sbx_process_result_t outcome;
        error = sbx_process_run (process, &run, &outcome);
        if (!error) {
            int status = outcome.status;
            int exit_code = outcome.timed_out || outcome.cancelled ? -1
                          : WIFEXITED (status) ? WEXITSTATUS (status)
                          : WIFSIGNALED (status) ? 128 + WTERMSIG (status) : -1;
            msgpack_pack_map (result, 9);
            sbx_mp_pack_str (result, "exit_code");
            msgpack_pack_int (result, exit_code);
            sbx_mp_pack_str (result, "signal");
            if (WIFSIGNALED (status))
                msgpack_pack_int (result, WTERMSIG (status));
            else
                msgpack_pack_nil (result);
            sbx_mp_pack_str (result, "stdout");
            s_pack_output (result, outcome.out, outcome.out_size, outcome.truncated);
            sbx_mp_pack_str (result, "stderr");
            s_pack_output (result, outcome.err, outcome.err_size, outcome.truncated);
            sbx_mp_pack_str (result, "timed_out");
            if (outcome.timed_out)
                msgpack_pack_true (result);
            else
                msgpack_pack_false (result);
            sbx_mp_pack_str (result, "cancelled");
            if (outcome.cancelled)
                msgpack_pack_true (result);
            else
                msgpack_pack_false (result);
            sbx_mp_pack_str (result, "truncated");
            if (outcome.truncated)
                msgpack_pack_true (result);
            else
                msgpack_pack_false (result);
            sbx_mp_pack_str (result, "duration_ms");
            msgpack_pack_double (result, outcome.duration_ms);
            //  Streamed: stdout and stderr went ahead, as progress messages.
            sbx_mp_pack_str (result, "streamed");
            if (streaming)
                msgpack_pack_true (result);
            else
                msgpack_pack_false (result);
            sbx_process_result_free (&outcome);
        }
    }
    s_env_free (&environment);
    free (command);
    free (directory);
    return error;
}

static const sbx_method_t s_methods [] = {
    {"run", s_run, NULL},
    {NULL, NULL, NULL}
};

const sbx_feature_kind_t sbx_feature_shell = {
    .name = "shell",
    .config_new = s_config_new,
    .config_destroy = s_config_destroy,
    .setup = s_setup,
    .teardown_session = s_teardown_session,
    .methods = s_methods
};
