/*  sbx run - one command in a fresh session or a held one (docs/cli.md),
    and the shell feature's `run` that sbx shell uses too: see cli.h */
#include "cli.h"
#include "messages/mp.h"

#include <czmq.h>
#include <math.h>

const char *
sbx_cli_shell_feature (sbx_client_t *client, const char *name, bool quiet)
{
    if (name)
        return name;
    const char *found = sbx_client_feature_of_kind (client, "shell");
    if (!found && !quiet) {
        const json_t *features = json_object_get (sbx_client_hello (client), "features");
        char list [512] = "";
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *) features, key, value) {
            size_t used = strlen (list);
            snprintf (list + used, sizeof list - used, "%s%s", *list ? ", " : "", key);
        }
        fprintf (stderr, "sbx: %s: NotFound: environment '%s' has no feature of kind 'shell' "
                 "(features: %s)\n", sbx_client_endpoint (client),
                 json_string_value (json_object_get (sbx_client_hello (client), "environment")),
                 *list ? list : "none");
    }
    return found;
}

static bool
s_true (const msgpack_object *object)
{
    return object && object->type == MSGPACK_OBJECT_BOOLEAN && object->via.boolean;
}

//  "after 60 s": the limit the command ran under, as the reply says (the
//  one asked for, else the feature's own), else how long it ran.
static void
s_timed_out (double timeout_s, const msgpack_object *limit_ms, const msgpack_object *duration_ms)
{
    double seconds = timeout_s;
    const msgpack_object *ms = limit_ms ? limit_ms : duration_ms;
    if (ms && (ms->type == MSGPACK_OBJECT_FLOAT64 || ms->type == MSGPACK_OBJECT_FLOAT32))
        seconds = (double) llround (ms->via.f64 / 100) / 10;
    else
    if (ms && ms->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        seconds = (double) llround ((double) ms->via.u64 / 100) / 10;
    if (seconds > 0)
        fprintf (stderr, "sbx: command timed out after %g s\n", seconds);
    else
        fprintf (stderr, "sbx: command timed out\n");
}

int
sbx_cli_print_run_result (const msgpack_sbuffer *result, double timeout_s)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    int code = SBX_CLI_EXIT_ERROR;
    if (msgpack_unpack_next (&unpacked, result->data, result->size, NULL) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *map = &unpacked.data;
        //  Once output is streamed, it has been written already and the
        //  final result only closes the call.
        sbx_cli_write_bytes (stdout, sbx_mp_map_get (map, "stdout"));
        sbx_cli_write_bytes (stderr, sbx_mp_map_get (map, "stderr"));
        const msgpack_object *exit_code = sbx_mp_map_get (map, "exit_code");
        if (s_true (sbx_mp_map_get (map, "truncated")))
            fprintf (stderr, "sbx: note: the output was truncated by the sandbox\n");
        if (s_true (sbx_mp_map_get (map, "timed_out"))) {
            s_timed_out (timeout_s, sbx_mp_map_get (map, "timeout_ms"), sbx_mp_map_get (map, "duration_ms"));
            code = SBX_CLI_EXIT_TIMED_OUT;
        }
        else if (s_true (sbx_mp_map_get (map, "cancelled")))
            fprintf (stderr, "sbx: the command was killed: the daemon is shutting down\n");
        else if (exit_code && exit_code->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            //  A command killed by signal N already says 128 + N, like sh.
            code = exit_code->via.u64 <= 255 ? (int) exit_code->via.u64 : SBX_CLI_EXIT_ERROR;
        else
            fprintf (stderr, "sbx: the shell feature's result has no usable exit_code\n");
    }
    else
        fprintf (stderr, "sbx: the shell feature's result is not a map\n");
    msgpack_unpacked_destroy (&unpacked);
    return code;
}

void
sbx_cli_pack_run_args (msgpack_sbuffer *out, const sbx_cli_run_t *run)
{
    msgpack_packer packer;
    msgpack_packer_init (&packer, out, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 1 + (run->timeout_s > 0) + (run->env_count > 0) + (run->cwd != NULL));
    sbx_mp_pack_str (&packer, "cmd");
    sbx_mp_pack_str (&packer, run->cmd);
    if (run->timeout_s > 0) {
        sbx_mp_pack_str (&packer, "timeout_ms");
        msgpack_pack_uint64 (&packer, (uint64_t) llround (run->timeout_s * 1000));
    }
    if (run->env_count > 0) {
        sbx_mp_pack_str (&packer, "env");
        msgpack_pack_map (&packer, run->env_count);
        for (size_t i = 0; i < run->env_count; i++) {
            const char *equals = strchr (run->env [i], '=');
            sbx_mp_pack_strn (&packer, run->env [i], (size_t) (equals - run->env [i]));
            sbx_mp_pack_str (&packer, equals + 1);
        }
    }
    if (run->cwd) {
        sbx_mp_pack_str (&packer, "cwd");
        sbx_mp_pack_str (&packer, run->cwd);
    }
}

//  --env NAME=value as given; --env NAME takes NAME's value here, and is
//  left out when NAME is not set. Fills `env` with NAME=value strings,
//  some of them new (listed in `made` for the caller to free). Returns -1
//  to go on, or the usage error's exit code.
static int
s_environment (const sbx_cli_args_t *args, const char **env, size_t *count_p, zlistx_t *made)
{
    size_t count = 0;
    for (size_t i = 0; i < args->env.count; i++) {
        const char *item = args->env.items [i];
        const char *equals = strchr (item, '=');
        if (equals == item || !*item)
            return sbx_cli_usage_error ("run", "--env '%s': expected NAME=VALUE or NAME", item);
        if (equals)
            env [count++] = item;
        else
        if (getenv (item)) {
            char *entry = zsys_sprintf ("%s=%s", item, getenv (item));
            zlistx_add_end (made, entry);
            env [count++] = entry;
        }
    }
    *count_p = count;
    return -1;
}

static int
s_run (sbx_cli_args_t *args)
{
    if (args->argc < 1)
        return sbx_cli_usage_error ("run", "no command given (sbx run -- CMD...)");
    sbx_cli_handle_t handle;
    bool held = false;
    int code = sbx_cli_held_or_new (args, &handle, &held);
    if (code >= 0)
        return code;
    const char *env [SBX_CLI_MAX_LIST];
    size_t env_count = 0;
    zlistx_t *made = zlistx_new ();
    zlistx_set_destructor (made, (zlistx_destructor_fn *) zstr_free);
    code = s_environment (args, env, &env_count, made);
    if (code >= 0) {
        zlistx_destroy (&made);
        return code;
    }
    //  stdin goes to CMD as it comes, unless it is a terminal.
    bool input = !args->no_stdin && !isatty (STDIN_FILENO);
    char *cmd = NULL;
    size_t cmd_size = 0;
    FILE *stream = open_memstream (&cmd, &cmd_size);
    for (int i = 0; i < args->argc; i++) {
        if (i > 0)
            fputc (' ', stream);
        sbx_cli_shell_quote (stream, args->argv [i]);
    }
    fclose (stream);

    //  --timeout is the command's limit; the reply may take that long and
    //  then some (after the wait for a sandbox, --wait). Without it the
    //  feature's own limit applies and we wait for the reply.
    double limit = args->timeout_s;
    if (args->wait_s < 0)
        args->wait_s = SBX_CLI_DEFAULT_WAIT_S;
    code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, limit > 0 ? sbx_cli_ms (limit + SBX_CLI_RUN_MARGIN_S) : -1,
                                            &code);
    const char *feature = client ? sbx_cli_shell_feature (client, args->feature, false) : NULL;
    if (client && !feature)
        code = SBX_CLI_EXIT_ERROR;
    if (feature && input && !sbx_client_can_input (client)) {
        fprintf (stderr, "sbx run: the daemon at %s cannot take stdin as it comes (its hello lacks "
                 "\"input\"): run with --no-stdin\n", sbx_client_endpoint (client));
        feature = NULL;
        code = SBX_CLI_EXIT_ERROR;
    }
    //  Output as it comes, unless told otherwise (or the daemon cannot).
    if (feature && !args->no_stream)
        sbx_client_set_output (client, sbx_cli_stream_output, NULL);
    if (feature && input)
        sbx_client_set_input (client, STDIN_FILENO);
    if (feature) {
        sbx_cli_run_t run = {
            .cmd = cmd, .timeout_s = limit, .env = env, .env_count = env_count, .cwd = args->cwd
        };
        msgpack_sbuffer call_args, result;
        msgpack_sbuffer_init (&call_args);
        msgpack_sbuffer_init (&result);
        sbx_cli_pack_run_args (&call_args, &run);
        sbx_error_t *error = NULL;
        int rc;
        if (held) {
            sbx_session_t *session = sbx_cli_attach (client, &handle);
            rc = sbx_session_call (session, feature, "run", call_args.data, call_args.size, &result, &error);
            sbx_session_destroy (&session);
        }
        else
        if (input) {
            //  Input goes to a session's call: a fresh session, for this
            //  command alone.
            sbx_session_t *session = sbx_client_session_open (client, args->session_id, &error);
            rc = session ? sbx_session_call (session, feature, "run", call_args.data, call_args.size,
                                             &result, &error) : -1;
            sbx_error_t *ended = NULL;
            if (session && sbx_session_end (&session, &ended) != 0 && rc == 0) {
                rc = -1;
                error = ended;
                ended = NULL;
            }
            sbx_error_destroy (&ended);
            sbx_session_destroy (&session);
        }
        else
            rc = sbx_client_call (client, feature, "run", call_args.data, call_args.size, args->session_id,
                                  &result, &error);
        msgpack_sbuffer_destroy (&call_args);
        if (rc == 0)
            code = sbx_cli_print_run_result (&result, limit);
        else
            code = sbx_cli_fail_call (args, client, held, &error);
        msgpack_sbuffer_destroy (&result);
    }
    free (cmd);
    zlistx_destroy (&made);
    sbx_client_destroy (&client);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"session", 0, "HANDLE", SBX_CLI_TEXT, SBX_CLI_FIELD (session),
     "run in the session `sbx open` opened (default\n"
     "$SBX_SESSION; `-`: a fresh session even so)"},
    {"session-id", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (session_id),
     "name the fresh session (default: generated)"},
    //  Here --timeout is the command's own limit.
    {"timeout", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (timeout_s),
     "kill CMD after S seconds (default: the feature's own\n"
     "limit); the reply is awaited S + 30 s"},
    {"wait", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (wait_s),
     "wait at most S seconds for a free sandbox (default 30)"},
    {"env", 'e', "NAME=VALUE", SBX_CLI_LIST, SBX_CLI_FIELD (env),
     "set a variable for CMD (again for more; NAME alone\n"
     "passes this one's value)"},
    {"cwd", 0, "DIR", SBX_CLI_TEXT, SBX_CLI_FIELD (cwd),
     "run CMD in DIR, relative to the sandbox directory"},
    {"no-stdin", 'n', NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (no_stdin),
     "do not send stdin to CMD (it reads nothing)"},
    {"no-stream", 0, NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (no_stream),
     "print CMD's output when it ends, not as it comes"},
    {"feature", 0, "NAME", SBX_CLI_TEXT, SBX_CLI_FIELD (feature),
     "the shell feature to use (default: the first of kind\n"
     "`shell`)"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_run = {
    .name = "run",
    .synopsis = "-- CMD [ARG...]",
    .about =
        "Runs CMD once (one call of the shell feature's `run`): in a fresh session, or in\n"
        "the session of --session / $SBX_SESSION. Prints its stdout and stderr to yours\n"
        "as it comes, and exits with its exit code (124 when it timed out, like\n"
        "timeout(1)). When stdin is not a terminal, CMD reads it as it comes (a pipe:\n"
        "each line as it is written), until its end. CMD and its\n"
        "arguments are quoted for the shell, so they arrive as given; use `sh -c '...'`\n"
        "for pipes and redirection.",
    .options = s_options,
    .options_first = true,
    .execute = s_run
};
