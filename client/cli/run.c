/*  sbx run - one command in a fresh session (docs/cli.md), and the shell
    feature's `run` that sbx shell uses too: see cli.h */
#include "cli.h"
#include "messages/mp.h"

#include <czmq.h>
#include <math.h>

//  Writes `arg` quoted for a POSIX shell.
static void
s_shell_quote (FILE *out, const char *arg)
{
    bool plain = *arg != 0;
    for (const char *c = arg; *c && plain; c++)
        plain = strchr ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-", *c) != NULL;
    if (plain) {
        fputs (arg, out);
        return;
    }
    fputc ('\'', out);
    for (const char *c = arg; *c; c++) {
        if (*c == '\'')
            fputs ("'\\''", out);
        else
            fputc (*c, out);
    }
    fputc ('\'', out);
}

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

int
sbx_cli_print_run_result (const msgpack_sbuffer *result)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    int code = SBX_CLI_EXIT_ERROR;
    if (msgpack_unpack_next (&unpacked, result->data, result->size, NULL) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *map = &unpacked.data;
        sbx_cli_write_bytes (stdout, sbx_mp_map_get (map, "stdout"));
        sbx_cli_write_bytes (stderr, sbx_mp_map_get (map, "stderr"));
        const msgpack_object *exit_code = sbx_mp_map_get (map, "exit_code");
        if (s_true (sbx_mp_map_get (map, "truncated")))
            fprintf (stderr, "sbx: note: the output was truncated by the sandbox\n");
        if (s_true (sbx_mp_map_get (map, "timed_out")))
            code = SBX_CLI_EXIT_TIMED_OUT;
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
sbx_cli_pack_run_args (msgpack_sbuffer *out, const char *cmd, double timeout_s)
{
    msgpack_packer packer;
    msgpack_packer_init (&packer, out, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, timeout_s > 0 ? 2 : 1);
    sbx_mp_pack_str (&packer, "cmd");
    sbx_mp_pack_str (&packer, cmd);
    if (timeout_s > 0) {
        sbx_mp_pack_str (&packer, "timeout_ms");
        msgpack_pack_uint64 (&packer, (uint64_t) llround (timeout_s * 1000));
    }
}

static int
s_run (sbx_cli_args_t *args)
{
    if (args->argc < 1)
        return sbx_cli_usage_error ("run", "no command given (sbx run -- CMD...)");
    char *cmd = NULL;
    size_t cmd_size = 0;
    FILE *stream = open_memstream (&cmd, &cmd_size);
    for (int i = 0; i < args->argc; i++) {
        if (i > 0)
            fputc (' ', stream);
        s_shell_quote (stream, args->argv [i]);
    }
    fclose (stream);

    //  --timeout is the command's limit; the reply may take that long and
    //  then some. Without it the feature's own limit applies and we wait.
    double limit = args->timeout_s;
    int code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, limit > 0 ? sbx_cli_ms (limit + SBX_CLI_RUN_MARGIN_S) : -1,
                                            &code);
    if (!client) {
        free (cmd);
        return code;
    }
    const char *feature = sbx_cli_shell_feature (client, args->feature, false);
    if (!feature)
        code = SBX_CLI_EXIT_ERROR;
    else {
        msgpack_sbuffer call_args, result;
        msgpack_sbuffer_init (&call_args);
        msgpack_sbuffer_init (&result);
        sbx_cli_pack_run_args (&call_args, cmd, limit);
        sbx_error_t *error = NULL;
        if (sbx_client_call (client, feature, "run", call_args.data, call_args.size, args->session,
                             &result, &error) == 0)
            code = sbx_cli_print_run_result (&result);
        else
            code = sbx_cli_fail (sbx_cli_where (args, client), &error);
        msgpack_sbuffer_destroy (&call_args);
        msgpack_sbuffer_destroy (&result);
    }
    free (cmd);
    sbx_client_destroy (&client);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"session", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (session),
     "name the session (default: generated)"},
    //  Here --timeout is the command's own limit.
    {"timeout", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (timeout_s),
     "kill CMD after S seconds (default: the feature's own limit)"},
    {"feature", 0, "NAME", SBX_CLI_TEXT, SBX_CLI_FIELD (feature),
     "the shell feature to use (default: the first of kind `shell`)"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_run = {
    .name = "run",
    .synopsis = "-- CMD [ARG...]",
    .about =
        "Runs CMD once in a fresh session (one ephemeral call of the shell feature's\n"
        "`run`), prints its stdout and stderr to yours, and exits with its exit code\n"
        "(124 when it timed out, like timeout(1)). CMD and its arguments are quoted for\n"
        "the shell, so they arrive as given; use `sh -c '...'` for pipes and redirection.",
    .options = s_options,
    .options_first = true,
    .execute = s_run
};
