/*  cli - what the commands of the `sbx` tool share.

        sbx [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]

    The tool is one file per command (run.c, shell.c, call.c, events.c,
    status.c for status and stats, top.c), one option parser (options.h),
    and main.c, which parses the global options, picks the command by
    name and returns its exit code. Everything stands on libsbx
    (include/sbx/client.h); the user's manual is docs/cli.md.

    This header holds the parsed option set every command reads, the
    exit codes, the connection and error helpers, and the output helpers.
    Errors are one line on stderr: "sbx: <endpoint>: <Type>: <message>".
*/
#ifndef SBX_CLI_H
#define SBX_CLI_H

#include <sbx/client.h>
#include <stdio.h>
#include "options.h"

//  Exit codes (docs/cli.md): `sbx run` and `sbx shell` otherwise exit
//  with the code of the command they ran.
enum {
    SBX_CLI_EXIT_OK = 0,
    SBX_CLI_EXIT_ERROR = 1,             //  the daemon answered with an error
    SBX_CLI_EXIT_USAGE = 2,             //  bad usage
    SBX_CLI_EXIT_UNREACHABLE = 3,       //  no daemon, or no reply in time
    SBX_CLI_EXIT_TIMED_OUT = 124,       //  sbx run: the command timed out
    SBX_CLI_EXIT_INTERRUPTED = 130      //  Ctrl-C
};

#define SBX_CLI_DEFAULT_TIMEOUT_S 30.0
//  How much longer than a command's own time limit a reply may take.
#define SBX_CLI_RUN_MARGIN_S 30.0

//  The option set: every option any command takes, as parsed
//  (sbx_cli_parse). main.c sets the defaults; a command reads the
//  global options and those its own table names.
struct sbx_cli_args_t {
    const char *command;        //  the command being parsed; NULL: sbx
    //  Global options
    const char *endpoint;       //  --endpoint, $SBX_ENDPOINT, or the default
    const char *events_endpoint;    //  --events-endpoint, $SBX_EVENTS, or NULL
    double timeout_s;           //  --timeout; < 0: not given
    //  Command options
    const char *session;        //  --session
    const char *feature;        //  --feature
    const char *sandbox;        //  --sandbox
    const char *token;          //  --token
    double command_timeout_s;   //  --command-timeout; < 0: not given
    bool compact;               //  --compact
    bool follow;                //  --follow
    bool json;                  //  --json
    uint64_t since;             //  --since
    //  The arguments after the options
    int argc;
    char **argv;
};

//  The commands, each in its own file.
extern const sbx_cli_command_t sbx_cli_run;
extern const sbx_cli_command_t sbx_cli_shell;
extern const sbx_cli_command_t sbx_cli_call;
extern const sbx_cli_command_t sbx_cli_events;
extern const sbx_cli_command_t sbx_cli_status;
extern const sbx_cli_command_t sbx_cli_stats;
extern const sbx_cli_command_t sbx_cli_top;

//  --- Signals (main.c) ------------------------------------------------------

//  True once SIGINT or SIGTERM arrived (main.c catches them; the wait
//  they interrupt ends with Interrupted).
bool
    sbx_cli_interrupted (void);

//  Forgets an earlier signal, so that a clean end can still wait.
void
    sbx_cli_interrupted_clear (void);

//  --- Connection and errors (cli.c) -----------------------------------------

//  Seconds as milliseconds for libsbx, capped at INT32_MAX.
int
    sbx_cli_ms (double seconds);

//  --timeout in milliseconds, or the default's.
int
    sbx_cli_timeout_ms (const sbx_cli_args_t *args);

//  Connects to args->endpoint with replies awaited up to `timeout_ms`
//  (< 0: forever). Returns the client (caller owns), or NULL after
//  printing why, with *code_p set to the exit code. Blocks.
sbx_client_t *
    sbx_cli_connect (const sbx_cli_args_t *args, int timeout_ms, int *code_p);

//  The endpoint that error lines name: the client's, or (NULL client)
//  the first one tried.
const char *
    sbx_cli_where (const sbx_cli_args_t *args, const sbx_client_t *client);

//  Prints an error as one line (composite errors list their parts) and
//  returns its exit code: 130 for Interrupted, 3 for the other errors
//  libsbx makes itself, 1 for the daemon's. Takes ownership, nulls
//  *error_p.
int
    sbx_cli_fail (const char *where, sbx_error_t **error_p);

//  The usage error for args->argv [index], one argument too many.
int
    sbx_cli_unexpected (const sbx_cli_args_t *args, int index);

//  --- Output (cli.c) ---------------------------------------------------------

//  Prints JSON (indented, or on one line) and a newline.
void
    sbx_cli_print_json (FILE *out, const json_t *json, bool compact);

//  Writes a msgpack str or bin object's bytes to `out` and flushes it.
void
    sbx_cli_write_bytes (FILE *out, const msgpack_object *object);

//  Formats a duration: "12.3s", "5m03s", "2h05m", "3d04h"; "?" when < 0.
void
    sbx_cli_duration (char *buffer, size_t size, double seconds);

//  The string at `key` of a JSON object, or `otherwise`.
const char *
    sbx_cli_str (const json_t *object, const char *key, const char *otherwise);

//  --- The shell feature's `run` (run.c; sbx shell uses it too) -------------

//  The shell feature to use: `name` when given, else the first feature
//  of kind shell. NULL when there is none, after printing so (NotFound,
//  with the features there are) unless `quiet`.
const char *
    sbx_cli_shell_feature (sbx_client_t *client, const char *name, bool quiet);

//  Packs the args of `run`: {cmd, timeout_ms when timeout_s > 0}.
void
    sbx_cli_pack_run_args (msgpack_sbuffer *out, const char *cmd, double timeout_s);

//  Prints a `run` result (stdout, stderr, notes) and returns the exit
//  code it stands for: the command's, 124 when it timed out, 1 when it
//  was cancelled or the result is unusable.
int
    sbx_cli_print_run_result (const msgpack_sbuffer *result);

#endif
