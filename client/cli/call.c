/*  sbx call - any method, JSON in, JSON out (docs/cli.md; bytes as
    json.h says). */
#include "cli.h"
#include "json.h"

#include <czmq.h>

//  The reply wait: --timeout, or longer when the args give the method a
//  time limit of its own (`timeout_ms`, as shell.run takes): that limit
//  plus the margin a command gets.
static int
s_reply_wait_ms (const sbx_cli_args_t *args, const json_t *call_args)
{
    int wait = sbx_cli_timeout_ms (args);
    const json_t *limit = json_object_get (call_args, "timeout_ms");
    if (json_is_number (limit) && json_number_value (limit) > 0) {
        int follow = sbx_cli_ms (json_number_value (limit) / 1000 + SBX_CLI_RUN_MARGIN_S);
        if (follow > wait)
            wait = follow;
    }
    return wait;
}

//  Prints a msgpack result as JSON; 0, or 1 when it is not msgpack.
static int
s_print_result (const msgpack_sbuffer *result, bool compact)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    int code = SBX_CLI_EXIT_OK;
    if (msgpack_unpack_next (&unpacked, result->data, result->size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        json_t *json = sbx_cli_json_from_mp (&unpacked.data);
        sbx_cli_print_json (stdout, json, compact);
        json_decref (json);
    }
    else {
        fprintf (stderr, "sbx: the reply's result is not msgpack\n");
        code = SBX_CLI_EXIT_ERROR;
    }
    msgpack_unpacked_destroy (&unpacked);
    return code;
}

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
    sbx_cli_handle_t handle;
    int code = -1;
    bool held = false;
    if (args->sandbox) {
        //  An explicit sandbox and token: a session opened elsewhere.
        snprintf (handle.sandbox, sizeof handle.sandbox, "%s", args->sandbox);
        snprintf (handle.token, sizeof handle.token, "%s", args->token);
        snprintf (handle.session_id, sizeof handle.session_id, "%s", args->session_id ? args->session_id : "");
        held = true;
    }
    else
        code = sbx_cli_held_or_new (args, &handle, &held);
    if (code >= 0)
        return code;
    const char *target = args->argv [0];
    const char *dot = strrchr (target, '.');
    if (!*target || (dot && (dot == target || !dot [1])))
        return sbx_cli_usage_error ("call", "'%s' is not FEATURE.METHOD or METHOD", target);
    json_t *call_args = NULL;
    msgpack_sbuffer packed;
    msgpack_sbuffer_init (&packed);
    if (args->argc > 1) {
        json_error_t problem;
        call_args = json_loads (args->argv [1], JSON_DECODE_ANY | JSON_ALLOW_NUL, &problem);
        if (!call_args)
            code = sbx_cli_usage_error ("call", "bad JSON args: %s (line %d, column %d)",
                                        problem.text, problem.line, problem.column);
        else
        if (!json_is_object (call_args))
            code = sbx_cli_usage_error ("call", "the JSON args must be an object, like '{\"cmd\": \"ls\"}'");
        else {
            msgpack_packer packer;
            msgpack_packer_init (&packer, &packed, msgpack_sbuffer_write);
            const char *bad = NULL;
            if (sbx_cli_json_to_mp (&packer, call_args, &bad) != 0)
                code = sbx_cli_usage_error ("call", "bad JSON args: {\"" SBX_CLI_JSON_BYTES "\": \"%.40s\"} "
                                            "does not hold standard base64", bad);
        }
    }
    if (code >= 0) {
        json_decref (call_args);
        msgpack_sbuffer_destroy (&packed);
        return code;
    }
    code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, s_reply_wait_ms (args, call_args), &code);
    if (client) {
        char *feature = dot ? strndup (target, (size_t) (dot - target)) : NULL;
        const char *method = dot ? dot + 1 : target;
        sbx_error_t *error = NULL;
        msgpack_sbuffer result;
        msgpack_sbuffer_init (&result);
        int rc;
        if (held) {
            sbx_session_t *session = sbx_cli_attach (client, &handle);
            rc = sbx_session_call (session, feature, method, packed.data, packed.size, &result, &error);
            sbx_session_destroy (&session);
        }
        else
            rc = sbx_client_call (client, feature, method, packed.data, packed.size, args->session_id,
                                  &result, &error);
        if (rc == 0)
            code = s_print_result (&result, args->compact);
        else
            code = sbx_cli_fail_call (args, client, held, &error);
        msgpack_sbuffer_destroy (&result);
        free (feature);
        sbx_client_destroy (&client);
    }
    json_decref (call_args);
    msgpack_sbuffer_destroy (&packed);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"session", 0, "HANDLE", SBX_CLI_TEXT, SBX_CLI_FIELD (session),
     "call in the session `sbx open` opened (default\n"
     "$SBX_SESSION; `-`: a fresh session even so)"},
    {"session-id", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (session_id),
     "name the fresh session of the call"},
    {"wait", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (wait_s),
     "wait at most S seconds for a free sandbox (default: as\n"
     "--timeout; the reply is then awaited S longer)"},
    {"sandbox", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (sandbox),
     "call in the open session on this sandbox (needs --token)"},
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
        "JSON object (default {}). Bytes that are not UTF-8 print as {\"$base64\": \"...\"},\n"
        "and such an object in the args is sent as bytes. Without a session (--session,\n"
        "$SBX_SESSION) the call is ephemeral: a sandbox is acquired, a session started,\n"
        "the call made, the session ended. When the args carry `timeout_ms`, the reply\n"
        "is awaited that long plus 30 s (or --timeout, if longer).",
    .options = s_options,
    .execute = s_call
};
