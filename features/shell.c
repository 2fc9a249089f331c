/*  The shell feature kind (DESIGN.md "Plugins", docs/sandboxes.md): runs
    `/bin/sh -c CMD` in a process sandbox.

    run {cmd, timeout_ms?, stdin?, env?, cwd?}
      -> {exit_code, signal, stdout, stderr, timed_out, cancelled, truncated,
          duration_ms, timeout_ms, streamed}

    A call with `stream: true` (docs/protocol.md "Streaming") gets stdout
    and stderr as they come, in progress messages ahead of the reply
    (within max_output_bytes per stream, as always); its result then has
    them empty and `streamed` true. A call with `input: true` keeps the
    command's stdin open after `stdin` for `input` requests, until one
    says `eof` (docs/protocol.md "Input").

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
#include "features/kit.h"
#include "messages/mp.h"
#include "runtime/core/alloc.h"

#include <sbx/plugin.h>
#include <czmq.h>
#include <string.h>
#include <sys/wait.h>

#define S_ERROR "ConfigError"

typedef sbx_kit_options_t s_config_t;


static void
s_config_destroy (void **config_p)
{
    s_config_t *config = (s_config_t *) *config_p;
    if (!config)
        return;
    sbx_kit_options_free (config);
    free (config);
    *config_p = NULL;
}

static void *
s_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    s_config_t *config = (s_config_t *) zmalloc (sizeof (s_config_t));
    sbx_kit_options_init (config);
    sbx_error_t *error = NULL;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value) {
        if (!streq (key, "kind") && !sbx_kit_option (config, path, key, value, &error))
            error = sbx_error_new (S_ERROR, "%s.%s: unknown option of the shell feature (it takes "
                                   "max_output_bytes, timeout_ms, max_timeout_ms, env)", path, key);
        if (error)
            break;
    }
    if (!error)
        error = sbx_kit_options_check (config, path);
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
    return sbx_kit_need_process (ctx, "shell");
}

//  --- run --------------------------------------------------------------------

static sbx_error_t *
s_bad (const char *key, const char *what)
{
    return sbx_error_new ("ValueError", "run: '%s' %s", key, what);
}

static sbx_error_t *
s_run (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    const s_config_t *config = (const s_config_t *) instance;
    sbx_error_t *error = NULL;
    sbx_process_t *process = sbx_kit_process (ctx, "shell", &error);
    if (!process)
        return error;

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
        else
            return sbx_kit_unknown_arg ("run", key, "cmd, timeout_ms, stdin, env, cwd");
    }
    if (cmd && cmd->type == MSGPACK_OBJECT_NIL)
        cmd = NULL;
    if (!cmd)
        return s_bad ("cmd", "is required (a string: the command for /bin/sh -c)");
    char *command = sbx_mp_strdup (cmd);
    if (!command)
        return s_bad ("cmd", "must be a string without NUL bytes");

    int64_t timeout_ms = config->timeout_ms;
    error = sbx_kit_timeout_arg (config, "run", timeout, &timeout_ms);
    if (error) {
        free (command);
        return error;
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

    sbx_kit_env_t environment;
    sbx_kit_env_start (&environment, config, sbx_process_workspace (process));
    if (env && env->type != MSGPACK_OBJECT_NIL) {
        if (env->type != MSGPACK_OBJECT_MAP)
            error = s_bad ("env", "must be a map of strings to strings");
        for (uint32_t i = 0; !error && i < env->via.map.size; i++) {
            const msgpack_object *name = &env->via.map.ptr [i].key;
            const msgpack_object *value = &env->via.map.ptr [i].val;
            char *text = sbx_mp_strdup (value);
            if (name->type != MSGPACK_OBJECT_STR || !sbx_kit_env_name_ok (name->via.str.ptr, name->via.str.size)
            ||  !text)
                error = s_bad ("env", "must map names (without '=' or NUL) to strings (without NUL)");
            else {
                char *entry = zsys_sprintf ("%.*s=%s", (int) name->via.str.size, name->via.str.ptr, text);
                sbx_kit_env_put (&environment, entry);
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
            .on_output = streaming ? sbx_kit_stream_output : NULL, .on_output_arg = ctx
        };
        sbx_kit_run_input (&run, ctx);      //  more stdin as it comes
        sbx_process_result_t outcome;
        error = sbx_process_run (process, &run, &outcome);
        if (!error) {
            int status = outcome.status;
            int exit_code = outcome.timed_out || outcome.cancelled ? -1
                          : WIFEXITED (status) ? WEXITSTATUS (status)
                          : WIFSIGNALED (status) ? 128 + WTERMSIG (status) : -1;
            msgpack_pack_map (result, 10);
            sbx_mp_pack_str (result, "exit_code");
            msgpack_pack_int (result, exit_code);
            sbx_mp_pack_str (result, "signal");
            if (WIFSIGNALED (status))
                msgpack_pack_int (result, WTERMSIG (status));
            else
                msgpack_pack_nil (result);
            sbx_mp_pack_str (result, "stdout");
            sbx_kit_pack_output (result, outcome.out, outcome.out_size, outcome.truncated);
            sbx_mp_pack_str (result, "stderr");
            sbx_kit_pack_output (result, outcome.err, outcome.err_size, outcome.truncated);
            sbx_kit_pack_bool (result, "timed_out", outcome.timed_out);
            sbx_kit_pack_bool (result, "cancelled", outcome.cancelled);
            sbx_kit_pack_bool (result, "truncated", outcome.truncated);
            sbx_mp_pack_str (result, "duration_ms");
            msgpack_pack_double (result, outcome.duration_ms);
            sbx_mp_pack_str (result, "timeout_ms");         //  the limit it ran under
            msgpack_pack_int64 (result, timeout_ms);
            //  Streamed: stdout and stderr went ahead, as progress messages.
            sbx_kit_pack_bool (result, "streamed", streaming);
            sbx_process_result_free (&outcome);
        }
    }
    sbx_kit_env_free (&environment);
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
    .teardown_session = sbx_kit_teardown_session,
    .methods = s_methods
};
