/*  cli - what the commands of the `sbx` tool share: see cli.h */
#include "cli.h"

#include <czmq.h>

int
sbx_cli_ms (double seconds)
{
    return seconds * 1000 > INT32_MAX ? INT32_MAX : (int) (seconds * 1000);
}

int
sbx_cli_timeout_ms (const sbx_cli_args_t *args)
{
    return sbx_cli_ms (args->timeout_s >= 0 ? args->timeout_s : SBX_CLI_DEFAULT_TIMEOUT_S);
}

int
sbx_cli_wait_ms (const sbx_cli_args_t *args)
{
    return sbx_cli_ms (args->wait_s >= 0 ? args->wait_s : SBX_CLI_DEFAULT_WAIT_S);
}

sbx_client_t *
sbx_cli_connect (const sbx_cli_args_t *args, int timeout_ms, int *code_p)
{
    //  With --wait, the wait for a sandbox comes before the reply's own
    //  time, and libsbx awaits an acquiring op's reply for both. Without
    //  it, the daemon may wait for a sandbox as long as the reply is
    //  awaited (libsbx's default), or 30 s when that is forever.
    sbx_client_options_t options = {
        .timeout_ms = timeout_ms,
        .wait_ms = args->wait_s >= 0 || timeout_ms < 0 ? sbx_cli_wait_ms (args) : 0,
        .server_cert = args->server_cert, .cert = args->cert
    };
    sbx_error_t *error = NULL;
    sbx_client_t *client = sbx_client_new (args->endpoint, &options, &error);
    if (!client)
        *code_p = sbx_cli_fail (args->endpoint, &error);
    return client;
}

bool
sbx_cli_held_session (const sbx_cli_args_t *args, sbx_cli_handle_t *handle, int *code_p)
{
    if (!args->session || !*args->session || streq (args->session, "-"))
        return false;
    if (sbx_cli_handle_parse (args->session, strlen (args->session), handle) != 0) {
        *code_p = sbx_cli_usage_error (args->command, "'%s' is not a session handle (SANDBOX,TOKEN,SESSION "
                                       "as `sbx open` prints it)%s", args->session,
                                       args->session == getenv ("SBX_SESSION") ? " in $SBX_SESSION" : "");
        return false;
    }
    return true;
}

int
sbx_cli_held_or_new (const sbx_cli_args_t *args, sbx_cli_handle_t *handle, bool *held_p)
{
    int code = -1;
    *held_p = sbx_cli_held_session (args, handle, &code);
    if (code < 0 && *held_p && args->session_id)
        code = sbx_cli_usage_error (args->command, "--session-id names a new session; the session of "
                                    "--session (or $SBX_SESSION) has its name already");
    return code;
}

sbx_session_t *
sbx_cli_attach (sbx_client_t *client, const sbx_cli_handle_t *handle)
{
    return sbx_client_session_attach (client, handle->sandbox, handle->token,
                                      *handle->session_id ? handle->session_id : NULL);
}

const char *
sbx_cli_where (const sbx_cli_args_t *args, const sbx_client_t *client)
{
    return client ? sbx_client_endpoint (client) : args->endpoint;
}

int
sbx_cli_fail (const char *where, sbx_error_t **error_p)
{
    sbx_error_t *error = *error_p;
    char detail [2048] = "";
    for (size_t i = 0; i < sbx_error_count (error); i++) {
        const char *feature = NULL;
        const sbx_error_t *sub = sbx_error_at (error, i, &feature);
        size_t used = strlen (detail);
        snprintf (detail + used, sizeof detail - used, "%s%s: %s: %s", i ? "; " : " (",
                  feature ? feature : "?", sbx_error_type (sub), sbx_error_message (sub));
    }
    if (*detail) {
        size_t used = strlen (detail);
        snprintf (detail + used, sizeof detail - used, ")");
    }
    //  One line: newlines in messages become spaces.
    char line [4096];
    snprintf (line, sizeof line, "%s: %s%s", sbx_error_type (error), sbx_error_message (error), detail);
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    fprintf (stderr, "sbx: %s: %s\n", where, line);
    int code = sbx_error_is (error, SBX_INTERRUPTED) ? sbx_cli_interrupted_code ()
             : sbx_error_is (error, SBX_CERTIFICATE_ERROR) ? SBX_CLI_EXIT_USAGE
             : sbx_error_is_local (error) ? SBX_CLI_EXIT_UNREACHABLE : SBX_CLI_EXIT_ERROR;
    sbx_error_destroy (error_p);
    return code;
}

int
sbx_cli_fail_call (const sbx_cli_args_t *args, sbx_client_t *client, bool held, sbx_error_t **error_p)
{
    bool gone = sbx_error_is (*error_p, SBX_UNAUTHORIZED) || sbx_error_is (*error_p, SBX_NOT_FOUND);
    int code = sbx_cli_fail (sbx_cli_where (args, client), error_p);
    const char *from_env = getenv ("SBX_SESSION");
    if (held && gone && from_env && args->session && streq (args->session, from_env))
        fprintf (stderr, "sbx: note: that is the session of $SBX_SESSION, which has ended (sbx close, a lease "
                 "that lapsed, or a daemon restart): unset SBX_SESSION, or eval $(sbx open)\n");
    return code;
}

int
sbx_cli_unexpected (const sbx_cli_args_t *args, int index)
{
    return sbx_cli_usage_error (args->command, "unexpected argument '%s'", args->argv [index]);
}

//  --- Interactive sessions ---------------------------------------------------

int
sbx_cli_repl_connect (sbx_cli_repl_t *self)
{
    if (self->args->argc > 0)
        return sbx_cli_unexpected (self->args, 0);
    sbx_cli_handle_t handle;
    bool held = false;
    int code = sbx_cli_held_or_new (self->args, &handle, &held);
    if (code >= 0)
        return code;
    self->client = sbx_cli_connect (self->args, sbx_cli_timeout_ms (self->args), &code);
    return self->client ? -1 : code;
}

int
sbx_cli_repl_begin (sbx_cli_repl_t *self, const char *what)
{
    const sbx_cli_args_t *args = self->args;
    sbx_cli_handle_t handle;
    int code = -1;
    self->opened = false;
    if (sbx_cli_held_session (args, &handle, &code))
        self->session = sbx_cli_attach (self->client, &handle);
    else {
        if (code >= 0)
            return code;
        sbx_error_t *error = NULL;
        self->session = sbx_client_session_open (self->client, args->session_id, &error);
        if (!self->session)
            return sbx_cli_fail (sbx_cli_where (args, self->client), &error);
        self->opened = true;
    }
    //  The session is there: now a line may run as long as its command
    //  does (--timeout, when given, still bounds every reply).
    if (args->timeout_s < 0)
        sbx_client_set_timeout (self->client, args->command_timeout_s > 0
                                ? sbx_cli_ms (args->command_timeout_s + SBX_CLI_RUN_MARGIN_S) : -1);
    self->reader = sbx_cli_reader_new ("");
    self->terminal = sbx_cli_reader_terminal (self->reader);
    if (self->terminal)
        fprintf (stderr, "sbx: %s '%s' on %s; Ctrl-D %s\n", what, sbx_cli_repl_name (self),
                 sbx_session_sandbox (self->session),
                 self->opened ? "ends it" : "leaves it (sbx close ends it)");
    return -1;
}

const char *
sbx_cli_repl_name (const sbx_cli_repl_t *self)
{
    return sbx_session_id (self->session) ? sbx_session_id (self->session)
                                          : sbx_session_sandbox (self->session);
}

int
sbx_cli_repl_failed (sbx_cli_repl_t *self, const char *running, sbx_error_t **error_p)
{
    sbx_error_t *error = *error_p;
    bool interrupted = sbx_error_is (error, SBX_INTERRUPTED);
    self->broken = sbx_error_is_state (error) || sbx_error_is (error, SBX_UNAUTHORIZED)
                || sbx_error_is (error, SBX_NOT_FOUND) || (sbx_error_is_local (error) && !interrupted);
    int code = sbx_cli_fail_call (self->args, self->client, !self->opened, error_p);
    if (interrupted) {
        //  The sandbox ends the session after what runs: that may take
        //  its time.
        if (self->opened)
            fprintf (stderr, "sbx: ending session '%s' once the running %s stops "
                     "(Ctrl-C again to leave now)\n", sbx_session_id (self->session), running);
        self->stop = true;
    }
    return code;
}

int
sbx_cli_repl_finish (sbx_cli_repl_t *self, int code)
{
    sbx_cli_reader_destroy (&self->reader);
    if (sbx_cli_interrupted ())
        code = sbx_cli_interrupted_code ();
    if (self->terminal && !self->broken)
        fputc ('\n', stderr);      //  after the prompt, or the ^C
    if (!self->opened || self->broken) {
        sbx_session_destroy (&self->session);
        return code;
    }
    //  A signal must not stop the clean end.
    int signalled = sbx_cli_interrupted () ? sbx_cli_interrupted_code () : 0;
    sbx_cli_interrupted_clear ();
    sbx_error_t *error = NULL;
    if (sbx_session_end (&self->session, &error) != 0) {
        code = sbx_cli_fail (sbx_cli_where (self->args, self->client), &error);
        sbx_session_destroy (&self->session);
    }
    else if (self->terminal)
        fprintf (stderr, "sbx: session ended\n");
    return signalled ? signalled : code;
}

void
sbx_cli_print_json (FILE *out, const json_t *json, bool compact)
{
    //  15 digits: what a double holds exactly, so 16.665 is not printed
    //  as 16.664999999999999.
    size_t flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION (15) | (compact ? JSON_COMPACT : JSON_INDENT (2));
    char *text = json_dumps (json, flags);
    if (text) {
        fputs (text, out);
        fputc ('\n', out);
        free (text);
    }
}

void
sbx_cli_write_chunk (FILE *out, const void *data, size_t size)
{
    if (size > 0)
        fwrite (data, 1, size, out);
    fflush (out);
}

void
sbx_cli_stream_output (void *arg, const char *stream, const void *data, size_t size)
{
    sbx_cli_write_chunk (streq (stream, "stderr") ? stderr : stdout, data, size);
}

void
sbx_cli_write_bytes (FILE *out, const msgpack_object *object)
{
    if (object && object->type == MSGPACK_OBJECT_STR)
        sbx_cli_write_chunk (out, object->via.str.ptr, object->via.str.size);
    else if (object && object->type == MSGPACK_OBJECT_BIN)
        sbx_cli_write_chunk (out, object->via.bin.ptr, object->via.bin.size);
}

void
sbx_cli_shell_quote (FILE *out, const char *arg)
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

void
sbx_cli_duration (char *buffer, size_t size, double seconds)
{
    if (seconds < 0)
        snprintf (buffer, size, "?");
    else if (seconds < 60)
        snprintf (buffer, size, "%.1fs", seconds);
    else if (seconds < 3600)
        snprintf (buffer, size, "%dm%02ds", (int) seconds / 60, (int) seconds % 60);
    else if (seconds < 86400)
        snprintf (buffer, size, "%dh%02dm", (int) seconds / 3600, ((int) seconds % 3600) / 60);
    else
        snprintf (buffer, size, "%dd%02dh", (int) (seconds / 86400), ((int) seconds % 86400) / 3600);
}

void
sbx_cli_seconds (char *buffer, size_t size, double seconds)
{
    if (seconds < 0)
        snprintf (buffer, size, "-");
    else if (seconds < 0.001)
        snprintf (buffer, size, "%.0fus", seconds * 1e6);
    else if (seconds < 1)
        snprintf (buffer, size, "%.1fms", seconds * 1e3);
    else if (seconds < 60)
        snprintf (buffer, size, "%.2fs", seconds);
    else
        sbx_cli_duration (buffer, size, seconds);
}

const char *
sbx_cli_str (const json_t *object, const char *key, const char *otherwise)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : otherwise;
}
