/*  sbx call - any method, JSON in, JSON out (docs/cli.md). */
#include "cli.h"

#include <czmq.h>

static int
s_call (sbx_cli_args_t *args)
{
    if (args->argc < 1)
        return sbx_cli_usage_error ("call", "no method given");
    if (args->argc > 2)
        return sbx_cli_usage_error ("call", "unexpected argument '%s' (quote the JSON args as one argument)",
                                    args->argv [2]);
    if (!args->sandbox != !args->token)
        return sbx_cli_usage_error ("call", "--sandbox and --token go together");
    const char *target = args->argv [0];
    const char *dot = strrchr (target, '.');
    if (!*target || (dot && (dot == target || !dot [1])))
        return sbx_cli_usage_error ("call", "'%s' is not FEATURE.METHOD or METHOD", target);
    json_t *call_args = NULL;
    if (args->argc > 1) {
        json_error_t problem;
        call_args = json_loads (args->argv [1], JSON_DECODE_ANY, &problem);
        if (!call_args)
            return sbx_cli_usage_error ("call", "bad JSON args: %s (line %d, column %d)",
                                        problem.text, problem.line, problem.column);
        if (!json_is_object (call_args)) {
            json_decref (call_args);
            return sbx_cli_usage_error ("call", "the JSON args must be an object, like '{\"code\": \"ls\"}'");
        }
    }
    int code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code);
    if (client) {
        char *feature = dot ? strndup (target, (size_t) (dot - target)) : NULL;
        const char *method = dot ? dot + 1 : target;
        sbx_error_t *error = NULL;
        json_t *result;
        if (args->sandbox) {
            sbx_session_t *session = sbx_client_session_attach (client, args->sandbox, args->token,
                                                                args->session);
            result = sbx_session_call_json (session, feature, method, call_args, &error);
            sbx_session_destroy (&session);
        }
        else
            result = sbx_client_call_json (client, feature, method, call_args, args->session, &error);
        if (result) {
            sbx_cli_print_json (stdout, result, args->compact);
            json_decref (result);
        }
        else
            code = sbx_cli_fail (sbx_cli_where (args, client), &error);
        free (feature);
        sbx_client_destroy (&client);
    }
    json_decref (call_args);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"session", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (session),
     "name the ephemeral call's session"},
    {"sandbox", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (sandbox),
     "call inside the open session on this sandbox (needs --token)"},
    {"token", 0, "T", SBX_CLI_TEXT, SBX_CLI_FIELD (token),
     "that session's token"},
    {"compact", 0, NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (compact),
     "print the result on one line"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_call = {
    .name = "call",
    .synopsis = "FEATURE.METHOD|METHOD ['{json args}']",
    .about =
        "Calls a method and prints its result as JSON. FEATURE.METHOD is a feature's\n"
        "method; a bare METHOD is a service of the sandbox itself. The args are one\n"
        "JSON object (default {}). Without --sandbox the call is ephemeral: a sandbox\n"
        "is acquired, a session started, the call made, the session ended.",
    .options = s_options,
    .execute = s_call
};
