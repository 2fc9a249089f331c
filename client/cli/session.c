/*  sbx open, sbx close - a session held across commands (handle.h,
    docs/cli.md). */
#include "cli.h"

#include <czmq.h>

static int
s_open (sbx_cli_args_t *args)
{
    if (args->argc > 0)
        return sbx_cli_unexpected (args, 0);
    int code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code);
    if (!client)
        return code;
    sbx_error_t *error = NULL;
    sbx_session_t *session = sbx_client_session_open (client, args->session_id, &error);
    if (!session) {
        code = sbx_cli_fail (sbx_cli_where (args, client), &error);
        sbx_client_destroy (&client);
        return code;
    }
    //  One heartbeat tells the lease, which bounds the gap between the
    //  commands that use the handle.
    int64_t lease_ms = sbx_session_heartbeat (session, NULL);
    fputs ("export SBX_SESSION=", stdout);
    sbx_cli_handle_print (stdout, sbx_session_sandbox (session), sbx_session_token (session),
                          sbx_session_id (session));
    fputc ('\n', stdout);
    fflush (stdout);
    if (isatty (STDERR_FILENO)) {
        fprintf (stderr, "sbx: session '%s' on %s is open; `sbx close` ends it", sbx_session_id (session),
                 sbx_session_sandbox (session));
        if (lease_ms > 0)
            fprintf (stderr, ", and so does %g s without a command using it", (double) lease_ms / 1000);
        fputc ('\n', stderr);
    }
    //  Left open: forgetting the handle sends nothing.
    sbx_session_destroy (&session);
    sbx_client_destroy (&client);
    return SBX_CLI_EXIT_OK;
}

static const sbx_cli_option_t s_open_options [] = {
    {"session-id", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (session_id),
     "name the session (default: generated)"},
    {"wait", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (wait_s),
     "wait at most S seconds for a free sandbox (default: as\n"
     "--timeout; the reply is then awaited S longer)"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_open = {
    .name = "open",
    .synopsis = "",
    .about =
        "Opens a session and prints its handle as a shell command, so that\n"
        "\n"
        "    eval $(sbx open)\n"
        "\n"
        "sets SBX_SESSION, which sbx run, cp, call and shell then use: every command\n"
        "runs in that one session, in the same sandbox, until `sbx close` ends it.\n"
        "Nothing keeps the session alive between commands: each command renews its\n"
        "lease, and a gap longer than the daemon's session_lease_s (300 s by default)\n"
        "ends it.",
    .options = s_open_options,
    .execute = s_open
};

static int
s_close (sbx_cli_args_t *args)
{
    if (args->argc > 1)
        return sbx_cli_unexpected (args, 1);
    const char *from_env = getenv ("SBX_SESSION");
    if (args->argc == 1)
        args->session = args->argv [0];
    sbx_cli_handle_t handle;
    int code = -1;
    bool held = sbx_cli_held_session (args, &handle, &code);
    if (code >= 0)
        return code;
    if (!held)
        return sbx_cli_usage_error ("close", "no session to end: give its HANDLE, or set SBX_SESSION "
                                    "(eval $(sbx open))");
    code = SBX_CLI_EXIT_OK;
    sbx_client_t *client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code);
    if (!client)
        return code;
    sbx_session_t *session = sbx_cli_attach (client, &handle);
    sbx_error_t *error = NULL;
    if (sbx_session_end (&session, &error) != 0) {
        //  An error reply ends the session all the same: only a teardown
        //  error is worth the rest of the handle's life.
        bool over = !session;
        code = sbx_cli_fail (sbx_cli_where (args, client), &error);
        sbx_session_destroy (&session);
        if (!over) {
            sbx_client_destroy (&client);
            return code;
        }
    }
    if (from_env && streq (from_env, args->session))
        puts ("unset SBX_SESSION");
    sbx_client_destroy (&client);
    return code;
}

const sbx_cli_command_t sbx_cli_close = {
    .name = "close",
    .synopsis = "[HANDLE]",
    .about =
        "Ends the session of HANDLE (default $SBX_SESSION), which `sbx open` opened.\n"
        "When that is the session of $SBX_SESSION, prints `unset SBX_SESSION`, so that\n"
        "`eval $(sbx close)` forgets it too.",
    .execute = s_close
};
