/*  sbx shell - an interactive session: each line read runs in the same
    sandbox (docs/cli.md). */
#include "cli.h"
#include "messages/mp.h"

#include <czmq.h>

//  True when the sandbox itself offers a `shell` service (the testing
//  sandbox kind's `shell {code}`).
static bool
s_has_shell_service (sbx_client_t *client)
{
    const json_t *methods = json_object_get (sbx_client_hello (client), "sandbox_methods");
    size_t i;
    json_t *method;
    json_array_foreach (methods, i, method)
        if (json_is_string (method) && streq (json_string_value (method), "shell"))
            return true;
    return false;
}

//  Prints what the `shell` service answered: a string as it is, anything
//  else as JSON on one line.
static void
s_print_service_result (const msgpack_sbuffer *result)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    if (msgpack_unpack_next (&unpacked, result->data, result->size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        if (unpacked.data.type == MSGPACK_OBJECT_STR) {
            sbx_cli_write_bytes (stdout, &unpacked.data);
            fputc ('\n', stdout);
        }
        else {
            json_t *json = sbx_mp_to_json (&unpacked.data);
            sbx_cli_print_json (stdout, json, true);
            json_decref (json);
        }
        fflush (stdout);
    }
    msgpack_unpacked_destroy (&unpacked);
}

//  Runs one line in the session: with the shell `feature`'s `run`, or,
//  when `feature` is NULL, the sandbox's `shell` service. Returns the
//  line's exit code. Sets *broken_p when the session or the daemon is
//  gone, *stop_p when the shell is to stop (Ctrl-C).
static int
s_run_line (const sbx_cli_args_t *args, sbx_client_t *client, sbx_session_t *session,
            const char *feature, const char *line, bool *broken_p, bool *stop_p)
{
    msgpack_sbuffer call_args, result;
    msgpack_sbuffer_init (&call_args);
    msgpack_sbuffer_init (&result);
    sbx_error_t *error = NULL;
    int code, rc;
    if (feature) {
        sbx_cli_pack_run_args (&call_args, line, args->command_timeout_s);
        rc = sbx_session_call (session, feature, "run", call_args.data, call_args.size, &result, &error);
    }
    else {
        msgpack_packer packer;
        msgpack_packer_init (&packer, &call_args, msgpack_sbuffer_write);
        msgpack_pack_map (&packer, 1);
        sbx_mp_pack_str (&packer, "code");
        sbx_mp_pack_str (&packer, line);
        rc = sbx_session_call (session, NULL, "shell", call_args.data, call_args.size, &result, &error);
    }
    if (rc == 0 && feature)
        code = sbx_cli_print_run_result (&result);
    else if (rc == 0) {
        s_print_service_result (&result);
        code = SBX_CLI_EXIT_OK;
    }
    else {
        //  A user error leaves the session open; anything that means
        //  the session or the daemon is gone ends the shell.
        bool interrupted = sbx_error_is (error, SBX_INTERRUPTED);
        *broken_p = sbx_error_is_state (error) || sbx_error_is (error, SBX_UNAUTHORIZED)
                 || sbx_error_is (error, SBX_NOT_FOUND)
                 || (sbx_error_is_local (error) && !interrupted);
        code = sbx_cli_fail (sbx_cli_where (args, client), &error);
        if (interrupted) {
            //  The sandbox ends the session after the running command:
            //  that may take its time.
            fprintf (stderr, "sbx: ending session '%s' once the running command stops "
                     "(Ctrl-C again to leave now)\n", sbx_session_id (session));
            *stop_p = true;
        }
    }
    msgpack_sbuffer_destroy (&call_args);
    msgpack_sbuffer_destroy (&result);
    return code;
}

static int
s_shell (sbx_cli_args_t *args)
{
    if (args->argc > 0)
        return sbx_cli_unexpected (args, 0);
    int code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code);
    if (!client)
        return code;
    //  Without a shell feature, the testing sandbox's own `shell {code}`.
    const char *feature = sbx_cli_shell_feature (client, args->feature, true);
    if (!feature && !s_has_shell_service (client)) {
        sbx_cli_shell_feature (client, NULL, false);
        sbx_client_destroy (&client);
        return SBX_CLI_EXIT_ERROR;
    }
    sbx_error_t *error = NULL;
    sbx_session_t *session = sbx_client_session_open (client, args->session, &error);
    if (!session) {
        code = sbx_cli_fail (sbx_cli_where (args, client), &error);
        sbx_client_destroy (&client);
        return code;
    }
    //  The session is there: now a line may run as long as its command
    //  does (--timeout, when given, still bounds every reply).
    if (args->timeout_s < 0)
        sbx_client_set_timeout (client, args->command_timeout_s > 0
                                        ? sbx_cli_ms (args->command_timeout_s + SBX_CLI_RUN_MARGIN_S) : -1);
    bool tty = isatty (STDIN_FILENO);
    if (tty)
        fprintf (stderr, "sbx: session '%s' on %s; Ctrl-D ends it\n",
                 sbx_session_id (session), sbx_session_sandbox (session));
    char *line = NULL;
    size_t size = 0;
    bool broken = false, stop = false;
    while (!broken && !stop) {
        if (tty) {
            fprintf (stderr, "%s$ ", sbx_session_id (session));
            fflush (stderr);
        }
        ssize_t length = getline (&line, &size, stdin);
        if (length < 0 || sbx_cli_interrupted ())
            break;
        while (length > 0 && (line [length - 1] == '\n' || line [length - 1] == '\r'))
            line [--length] = 0;
        if (length > 0)
            code = s_run_line (args, client, session, feature, line, &broken, &stop);
    }
    free (line);
    if (sbx_cli_interrupted ())
        code = SBX_CLI_EXIT_INTERRUPTED;
    if (tty && !broken)
        fputc ('\n', stderr);      //  after the prompt, or the ^C
    if (broken)
        sbx_session_destroy (&session);
    else {
        //  A Ctrl-C must not stop the clean end.
        sbx_cli_interrupted_clear ();
        if (sbx_session_end (&session, &error) != 0) {
            code = sbx_cli_fail (sbx_cli_where (args, client), &error);
            sbx_session_destroy (&session);
        }
        else if (tty)
            fprintf (stderr, "sbx: session ended\n");
    }
    sbx_client_destroy (&client);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"session", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (session),
     "name the session (default: generated)"},
    {"feature", 0, "NAME", SBX_CLI_TEXT, SBX_CLI_FIELD (feature),
     "the shell feature to use (default: the first of kind `shell`)"},
    {"command-timeout", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (command_timeout_s),
     "kill each line's command after S seconds"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_shell = {
    .name = "shell",
    .synopsis = "",
    .about =
        "Opens a session and runs each line read from stdin in it, one after the\n"
        "other, in the same sandbox (the shell feature's `run`; on a sandbox without\n"
        "one, its own `shell` service). Ctrl-D ends the session cleanly; Ctrl-C too.\n"
        "The session's lease is renewed while it waits for input, and a line may run\n"
        "as long as its command does. Exits with the code of the last line run (like\n"
        "sh), 1 when the session broke, 130 after Ctrl-C.",
    .options = s_options,
    .execute = s_shell
};
