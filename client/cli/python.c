/*  sbx python - an interactive Python session: each statement typed runs
    in the same interpreter of the same sandbox, with the python feature's
    `exec` (docs/cli.md, docs/python-feature.md). Lines come from reader.h
    (editable, with history, on a terminal); the feature's `check` says
    when what was typed is a whole statement, as Python's own prompt
    decides it (a block ends with an empty line). */
#include "cli.h"
#include "json.h"
#include "reader.h"
#include "messages/mp.h"

#include <czmq.h>
#include <math.h>

typedef struct {
    const sbx_cli_args_t *args;
    sbx_client_t *client;
    sbx_session_t *session;
    const char *feature;
    bool opened;                //  we opened the session (else: a handle's)
    bool broken;                //  the session or the daemon is gone
    bool stop;                  //  a signal: end the session and go
} s_python_t;

//  A streamed chunk of the cell's output, written as it comes.
static void
s_output (void *arg, const char *stream, const void *data, size_t size)
{
    sbx_cli_write_chunk (streq (stream, "stderr") ? stderr : stdout, data, size);
}

//  Reports a failed call; a user error leaves the session open, anything
//  that means the session or the daemon is gone ends it. Returns the
//  exit code.
static int
s_failed (s_python_t *self, sbx_error_t **error_p)
{
    sbx_error_t *error = *error_p;
    bool interrupted = sbx_error_is (error, SBX_INTERRUPTED);
    self->broken = sbx_error_is_state (error) || sbx_error_is (error, SBX_UNAUTHORIZED)
                || sbx_error_is (error, SBX_NOT_FOUND) || (sbx_error_is_local (error) && !interrupted);
    int code = sbx_cli_fail_call (self->args, self->client, !self->opened, error_p);
    if (interrupted) {
        if (self->opened)
            fprintf (stderr, "sbx: ending session '%s' once the running code stops "
                     "(Ctrl-C again to leave now)\n", sbx_session_id (self->session));
        self->stop = true;
    }
    return code;
}

//  Calls python.METHOD {code} (and timeout_ms for exec); fills `result`.
//  Returns -1 when it answered, else the exit code of the failure.
static int
s_call (s_python_t *self, const char *method, const char *code, msgpack_sbuffer *result)
{
    msgpack_sbuffer call_args;
    msgpack_sbuffer_init (&call_args);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &call_args, msgpack_sbuffer_write);
    bool timed = streq (method, "exec") && self->args->command_timeout_s > 0;
    msgpack_pack_map (&packer, timed ? 2 : 1);
    sbx_mp_pack_str (&packer, "code");
    sbx_mp_pack_str (&packer, code);
    if (timed) {
        sbx_mp_pack_str (&packer, "timeout_ms");
        msgpack_pack_uint64 (&packer, (uint64_t) llround (self->args->command_timeout_s * 1000));
    }
    sbx_error_t *error = NULL;
    int rc = sbx_session_call (self->session, self->feature, method, call_args.data, call_args.size, result,
                               &error);
    msgpack_sbuffer_destroy (&call_args);
    return rc == 0 ? -1 : s_failed (self, &error);
}

//  "complete", "incomplete" or "invalid" for what was typed so far; NULL
//  when the call failed (*code_p set).
static const char *
s_check (s_python_t *self, const char *code, int *code_p)
{
    msgpack_sbuffer result;
    msgpack_sbuffer_init (&result);
    const char *status = NULL;
    *code_p = s_call (self, "check", code, &result);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    if (*code_p < 0 && msgpack_unpack_next (&unpacked, result.data, result.size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *value = sbx_mp_map_get (&unpacked.data, "status");
        status = sbx_mp_str_eq (value, "incomplete") ? "incomplete" : "complete";
    }
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&result);
    return status;
}

//  Runs one statement and prints what it did: its output (unless it came
//  streamed), the repr of its value, the traceback of what it raised.
//  Returns 0, or 1 when it raised or failed.
static int
s_run (s_python_t *self, const char *code)
{
    msgpack_sbuffer result;
    msgpack_sbuffer_init (&result);
    int exit_code = s_call (self, "exec", code, &result);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    if (exit_code < 0) {
        exit_code = SBX_CLI_EXIT_ERROR;
        if (msgpack_unpack_next (&unpacked, result.data, result.size, NULL) == MSGPACK_UNPACK_SUCCESS
        &&  unpacked.data.type == MSGPACK_OBJECT_MAP) {
            const msgpack_object *map = &unpacked.data;
            const msgpack_object *restarted = sbx_mp_map_get (map, "restarted");
            if (restarted && restarted->type == MSGPACK_OBJECT_BOOLEAN && restarted->via.boolean)
                fprintf (stderr, "sbx: note: a new interpreter: the state of earlier statements is gone\n");
            sbx_cli_write_bytes (stdout, sbx_mp_map_get (map, "stdout"));
            sbx_cli_write_bytes (stderr, sbx_mp_map_get (map, "stderr"));
            const msgpack_object *value = sbx_mp_map_get (map, "result");
            if (value && value->type == MSGPACK_OBJECT_STR) {
                sbx_cli_write_bytes (stdout, value);
                sbx_cli_write_chunk (stdout, "\n", 1);
            }
            const msgpack_object *error = sbx_mp_map_get (map, "error");
            if (error && error->type == MSGPACK_OBJECT_MAP)
                sbx_cli_write_bytes (stderr, sbx_mp_map_get (error, "traceback"));
            else
                exit_code = SBX_CLI_EXIT_OK;
            const msgpack_object *truncated = sbx_mp_map_get (map, "truncated");
            if (truncated && truncated->type == MSGPACK_OBJECT_BOOLEAN && truncated->via.boolean)
                fprintf (stderr, "sbx: note: the output was truncated by the sandbox\n");
        }
        else
            fprintf (stderr, "sbx: the python feature's result is not a map\n");
    }
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&result);
    return exit_code;
}

static int
s_loop (s_python_t *self, sbx_cli_reader_t *reader)
{
    int code = SBX_CLI_EXIT_OK;
    char *typed = NULL;         //  the statement so far, lines joined by \n
    size_t size = 0;
    FILE *buffer = NULL;
    while (!self->broken && !self->stop) {
        sbx_cli_reader_set_prompt (reader, buffer ? "... " : ">>> ");
        const char *line = sbx_cli_reader_next (reader);
        if (!line)
            break;
        if (!buffer) {
            if (!line [strspn (line, " \t")])
                continue;
            buffer = open_memstream (&typed, &size);
        }
        else
            fputc ('\n', buffer);
        fputs (line, buffer);
        fflush (buffer);
        int failed = -1;
        const char *status = s_check (self, typed, &failed);
        if (!status)
            code = failed;
        else
        if (streq (status, "incomplete"))
            continue;
        else
            code = s_run (self, typed);
        fclose (buffer);
        buffer = NULL;
        zstr_free (&typed);
    }
    if (buffer) {
        fclose (buffer);
        free (typed);
    }
    return code;
}

static int
s_python (sbx_cli_args_t *args)
{
    if (args->argc > 0)
        return sbx_cli_unexpected (args, 0);
    sbx_cli_handle_t handle;
    bool held = false;
    int code = sbx_cli_held_or_new (args, &handle, &held);
    if (code >= 0)
        return code;
    code = SBX_CLI_EXIT_OK;
    s_python_t self = {.args = args};
    self.client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code);
    if (!self.client)
        return code;
    self.feature = args->feature ? args->feature : sbx_client_feature_of_kind (self.client, "python");
    if (!self.feature) {
        fprintf (stderr, "sbx: %s: NotFound: environment '%s' has no feature of kind 'python'\n",
                 sbx_client_endpoint (self.client),
                 json_string_value (json_object_get (sbx_client_hello (self.client), "environment")));
        sbx_client_destroy (&self.client);
        return SBX_CLI_EXIT_ERROR;
    }
    code = sbx_cli_session_begin (self.args, self.client, &self.session, &self.opened);
    if (code >= 0) {
        sbx_client_destroy (&self.client);
        return code;
    }
    //  A statement may run as long as its code does (--timeout, when
    //  given, still bounds every reply).
    if (args->timeout_s < 0)
        sbx_client_set_timeout (self.client, args->command_timeout_s > 0
                                ? sbx_cli_ms (args->command_timeout_s + SBX_CLI_RUN_MARGIN_S) : -1);
    sbx_client_set_output (self.client, s_output, NULL);
    const char *name = sbx_session_id (self.session) ? sbx_session_id (self.session)
                                                     : sbx_session_sandbox (self.session);
    sbx_cli_reader_t *reader = sbx_cli_reader_new (">>> ");
    bool terminal = sbx_cli_reader_terminal (reader);
    if (terminal)
        fprintf (stderr, "sbx: python session '%s' on %s; Ctrl-D %s\n", name, sbx_session_sandbox (self.session),
                 self.opened ? "ends it" : "leaves it (sbx close ends it)");
    code = s_loop (&self, reader);
    sbx_cli_reader_destroy (&reader);
    code = sbx_cli_session_finish (self.args, self.client, &self.session, self.opened, self.broken,
                                   terminal, code);
    sbx_client_destroy (&self.client);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"session", 0, "HANDLE", SBX_CLI_TEXT, SBX_CLI_FIELD (session),
     "run the statements in the session `sbx open` opened,\n"
     "and leave it open (default $SBX_SESSION; `-`: a new\n"
     "session even so)"},
    {"session-id", 0, "ID", SBX_CLI_TEXT, SBX_CLI_FIELD (session_id),
     "name the new session (default: generated)"},
    {"wait", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (wait_s),
     "wait at most S seconds for a free sandbox (default: as\n"
     "--timeout; the reply is then awaited S longer)"},
    {"feature", 0, "NAME", SBX_CLI_TEXT, SBX_CLI_FIELD (feature),
     "the python feature to use (default: the first of kind\n"
     "`python`)"},
    {"command-timeout", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (command_timeout_s),
     "interrupt each statement after S seconds"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_python = {
    .name = "python",
    .synopsis = "",
    .about =
        "Opens a session and runs each Python statement read from stdin in it, in one\n"
        "interpreter that keeps its variables, imports and working directory (the\n"
        "python feature's `exec`), as Python's own prompt does: `...` asks for more of\n"
        "a statement, an empty line ends a block, a value is shown as its repr, an\n"
        "exception as its traceback. Output comes as it is written. On a terminal lines\n"
        "are editable, with history. Ctrl-D ends the session cleanly; so do Ctrl-C,\n"
        "SIGTERM and SIGHUP (after the running statement). Exits with 1 when the last\n"
        "statement raised or failed, 0 otherwise, 128 + N after signal N.",
    .options = s_options,
    .execute = s_python
};
