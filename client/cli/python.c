/*  sbx python - an interactive Python session: each statement typed runs
    in the same interpreter of the same sandbox, with the python feature's
    `exec` (docs/cli.md, docs/python-feature.md). Lines come from reader.h
    (editable, with history, on a terminal); the feature's `check` says
    when what was typed is a whole statement, as Python's own prompt
    decides it (a block ends with an empty line). */
#include "cli.h"
#include "json.h"
#include "messages/mp.h"

#include <czmq.h>
#include <math.h>

//  Calls python.METHOD {code} (and timeout_ms for exec); fills `result`.
//  Returns -1 when it answered, else the exit code of the failure.
static int
s_call (sbx_cli_repl_t *self, const char *method, const char *code, msgpack_sbuffer *result)
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
    return rc == 0 ? -1 : sbx_cli_repl_failed (self, "code", &error);
}

//  "complete", "incomplete" or "invalid" for what was typed so far; NULL
//  when the call failed (*code_p set).
static const char *
s_check (sbx_cli_repl_t *self, const char *code, int *code_p)
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
s_run (sbx_cli_repl_t *self, const char *code)
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
s_loop (sbx_cli_repl_t *self)
{
    int code = SBX_CLI_EXIT_OK;
    char *typed = NULL;         //  the statement so far, lines joined by \n
    size_t size = 0;
    FILE *buffer = NULL;
    while (!self->broken && !self->stop) {
        sbx_cli_reader_set_prompt (self->reader, buffer ? "... " : ">>> ");
        const char *line = sbx_cli_reader_next (self->reader);
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
    sbx_cli_repl_t self = {.args = args};
    int code = sbx_cli_repl_connect (&self);
    if (code >= 0)
        return code;
    self.feature = args->feature ? args->feature : sbx_client_feature_of_kind (self.client, "python");
    if (!self.feature) {
        fprintf (stderr, "sbx: %s: NotFound: environment '%s' has no feature of kind 'python'\n",
                 sbx_client_endpoint (self.client),
                 json_string_value (json_object_get (sbx_client_hello (self.client), "environment")));
        sbx_client_destroy (&self.client);
        return SBX_CLI_EXIT_ERROR;
    }
    //  A statement's output as it is written.
    sbx_client_set_output (self.client, sbx_cli_stream_output, NULL);
    code = sbx_cli_repl_begin (&self, "python session");
    if (code < 0)
        code = sbx_cli_repl_finish (&self, s_loop (&self));
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
