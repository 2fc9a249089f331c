/*  sbx shell - an interactive session: each line read runs in the same
    sandbox (docs/cli.md). Lines come from reader.h (editable, with
    history, on a terminal). */
#include "cli.h"
#include "json.h"
#include "messages/mp.h"

#include <czmq.h>

//  How much later than before the daemon must have started (from its
//  uptime) to count as restarted: more than a status round trip.
#define S_RESTART_SLACK_MS 25
//  The wait for that status: a daemon answered a moment ago.
#define S_RESTART_STATUS_MS 5000

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
            json_t *json = sbx_cli_json_from_mp (&unpacked.data);
            sbx_cli_print_json (stdout, json, true);
            json_decref (json);
        }
        fflush (stdout);
    }
    msgpack_unpacked_destroy (&unpacked);
}

//  When the daemon started, on this machine's monotonic clock (from the
//  uptime its `status` tells); -1 when it does not say.
static int64_t
s_daemon_started (sbx_client_t *client)
{
    json_t *status = sbx_client_status (client, NULL, NULL);
    const json_t *uptime = json_object_get (json_object_get (status, "environment"), "uptime_s");
    int64_t started = json_is_number (uptime)
                    ? zclock_mono () - (int64_t) (json_number_value (uptime) * 1000) : -1;
    json_decref (status);
    return started;
}

typedef struct {
    sbx_cli_repl_t repl;        //  its feature NULL: the sandbox's `shell`
                                //  service
    int64_t started;            //  the daemon's start (s_daemon_started)
} s_shell_t;

//  After a call failed with Unauthorized or NotFound: says so in plain
//  words when the reason is a daemon that restarted (and forgot every
//  session). True when it did.
static bool
s_explain_restart (s_shell_t *self)
{
    if (self->started < 0)
        return false;
    sbx_client_set_timeout (self->repl.client, S_RESTART_STATUS_MS);
    int64_t now = s_daemon_started (self->repl.client);
    if (now < 0 || now - self->started <= S_RESTART_SLACK_MS)
        return false;
    fprintf (stderr, "sbx: the daemon restarted: session '%s' is gone; %s\n", sbx_cli_repl_name (&self->repl),
             self->repl.opened ? "start `sbx shell` again" : "open another (sbx open)");
    return true;
}

//  Runs one line in the session: with the shell `feature`'s `run`, or,
//  when there is none, the sandbox's `shell` service. Returns the line's
//  exit code.
static int
s_run_line (s_shell_t *self, const char *line)
{
    sbx_cli_repl_t *repl = &self->repl;
    msgpack_sbuffer call_args, result;
    msgpack_sbuffer_init (&call_args);
    msgpack_sbuffer_init (&result);
    sbx_error_t *error = NULL;
    int code, rc;
    if (repl->feature) {
        sbx_cli_run_t run = {.cmd = line, .timeout_s = repl->args->command_timeout_s};
        sbx_cli_pack_run_args (&call_args, &run);
        //  On a terminal, what is typed while the command runs is its
        //  stdin, and Ctrl-D its end, as in a shell. Lines read from a
        //  pipe are commands: none of them goes to the one before.
        bool typed = isatty (STDIN_FILENO);
        if (typed)
            sbx_client_set_input (repl->client, STDIN_FILENO);
        rc = sbx_session_call (repl->session, repl->feature, "run", call_args.data, call_args.size, &result,
                               &error);
        if (typed)
            sbx_client_set_input (repl->client, -1);
    }
    else {
        msgpack_packer packer;
        msgpack_packer_init (&packer, &call_args, msgpack_sbuffer_write);
        msgpack_pack_map (&packer, 1);
        sbx_mp_pack_str (&packer, "code");
        sbx_mp_pack_str (&packer, line);
        rc = sbx_session_call (repl->session, NULL, "shell", call_args.data, call_args.size, &result, &error);
    }
    if (rc == 0 && repl->feature)
        code = sbx_cli_print_run_result (&result, repl->args->command_timeout_s);
    else if (rc == 0) {
        s_print_service_result (&result);
        code = SBX_CLI_EXIT_OK;
    }
    else
    if ((sbx_error_is (error, SBX_UNAUTHORIZED) || sbx_error_is (error, SBX_NOT_FOUND))
    &&  s_explain_restart (self)) {
        //  The daemon restarted and forgot the session: said plainly.
        repl->broken = true;
        sbx_error_destroy (&error);
        code = SBX_CLI_EXIT_ERROR;
    }
    else
        code = sbx_cli_repl_failed (repl, "command", &error);
    msgpack_sbuffer_destroy (&call_args);
    msgpack_sbuffer_destroy (&result);
    return code;
}

static int
s_shell (sbx_cli_args_t *args)
{
    s_shell_t self = {.repl = {.args = args}};
    sbx_cli_repl_t *repl = &self.repl;
    int code = sbx_cli_repl_connect (repl);
    if (code >= 0)
        return code;
    //  Without a shell feature, the testing sandbox's own `shell {code}`.
    repl->feature = sbx_cli_shell_feature (repl->client, args->feature, true);
    if (!repl->feature && !s_has_shell_service (repl->client)) {
        sbx_cli_shell_feature (repl->client, NULL, false);
        sbx_client_destroy (&repl->client);
        return SBX_CLI_EXIT_ERROR;
    }
    self.started = s_daemon_started (repl->client);
    //  Each command's output as it comes.
    sbx_client_set_output (repl->client, sbx_cli_stream_output, NULL);
    code = sbx_cli_repl_begin (repl, "session");
    if (code < 0) {
        char prompt [200];
        snprintf (prompt, sizeof prompt, "%s$ ", sbx_cli_repl_name (repl));
        sbx_cli_reader_set_prompt (repl->reader, prompt);
        code = SBX_CLI_EXIT_OK;
        while (!repl->broken && !repl->stop) {
            const char *line = sbx_cli_reader_next (repl->reader);
            if (!line)
                break;
            if (*line)
                code = s_run_line (&self, line);
        }
        code = sbx_cli_repl_finish (repl, code);
    }
    sbx_client_destroy (&repl->client);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"session", 0, "HANDLE", SBX_CLI_TEXT, SBX_CLI_FIELD (session),
     "run the lines in the session `sbx open` opened, and\n"
     "leave it open (default $SBX_SESSION; `-`: a new\n"
     "session even so)"},
    {"session-id", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (session_id),
     "name the new session (default: generated)"},
    {"wait", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (wait_s),
     "wait at most S seconds for a free sandbox (default: as\n"
     "--timeout; the reply is then awaited S longer)"},
    {"feature", 0, "NAME", SBX_CLI_TEXT, SBX_CLI_FIELD (feature),
     "the shell feature to use (default: the first of kind\n"
     "`shell`)"},
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
        "one, its own `shell` service). On a terminal lines are editable, with history.\n"
        "Ctrl-D ends the session cleanly; so do Ctrl-C, SIGTERM and SIGHUP (a closed\n"
        "terminal). The session's lease is renewed while it waits for input, and a\n"
        "line may run as long as its command does. Exits with the code of the last\n"
        "line run (like sh), 1 when the session broke, 128 + N after signal N.",
    .options = s_options,
    .execute = s_shell
};
