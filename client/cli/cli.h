/*  cli - what the commands of the `sbx` tool share.

        sbx [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]

    The tool is one file per command (run.c, shell.c, python.c, call.c,
    cp.c, session.c for open and close, events.c, status.c for status and
    stats, top.c), one option parser (options.h), the JSON forms
    (json.h), session handles (handle.h), and main.c, which parses the
    global options, picks the command by name and returns its exit code.
    Everything stands on libsbx (include/sbx/client.h); the user's manual
    is docs/cli.md and man/sbx.1.

    This header holds the parsed option set every command reads, the
    exit codes, the connection and error helpers, what sbx shell and sbx
    python share (sbx_cli_repl_t), and the output helpers.
    Errors are one line on stderr: "sbx: <endpoint>: <Type>: <message>".
*/
#ifndef SBX_CLI_H
#define SBX_CLI_H

#include <sbx/client.h>
#include <stdio.h>
#include "options.h"
#include "handle.h"
#include "reader.h"

//  Exit codes (docs/cli.md): `sbx run` and `sbx shell` otherwise exit
//  with the code of the command they ran.
enum {
    SBX_CLI_EXIT_OK = 0,
    SBX_CLI_EXIT_ERROR = 1,             //  the daemon answered with an error
    SBX_CLI_EXIT_USAGE = 2,             //  bad usage
    SBX_CLI_EXIT_UNREACHABLE = 3,       //  no daemon, or no reply in time
    SBX_CLI_EXIT_TIMED_OUT = 124,       //  sbx run: the command timed out
    SBX_CLI_EXIT_INTERRUPTED = 130      //  Ctrl-C; 128 + N for signal N
};

#define SBX_CLI_DEFAULT_TIMEOUT_S 30.0
//  How long the daemon may wait for a free sandbox unless --wait says.
#define SBX_CLI_DEFAULT_WAIT_S 30.0
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
    const char *server_cert;    //  --server-cert, $SBX_SERVER_CERT, or NULL
    const char *cert;           //  --cert, $SBX_CERT, or NULL
    //  Command options
    const char *session;        //  --session HANDLE (handle.h), $SBX_SESSION,
                                //  or NULL; "-": none (run, cp, call, shell)
    const char *session_id;     //  --session-id: the new session's name
                                //  (run, call, shell, open)
    const char *feature;        //  --feature (run, shell, python)
    const char *sandbox;        //  --sandbox (call)
    const char *token;          //  --token (call)
    const char *cwd;            //  --cwd (run)
    sbx_cli_list_t env;         //  --env (run)
    double wait_s;              //  --wait; < 0: not given (run, shell,
                                //  call, open, cp)
    double command_timeout_s;   //  --command-timeout; < 0: not given (shell,
                                //  python)
    bool no_stdin;              //  --no-stdin (run)
    bool no_stream;             //  --no-stream (run)
    bool compact;               //  --compact (call)
    bool follow;                //  --follow (events)
    bool json;                  //  --json (events, status, stats)
    bool no_time;               //  --no-time (events)
    uint64_t since;             //  --since (events)
    const char *admin;          //  --admin (shutdown): $SBX_ADMIN, or NULL
    bool force;                 //  --force (keygen)
    //  The arguments after the options
    int argc;
    char **argv;
};

//  The commands, each in its own file.
extern const sbx_cli_command_t sbx_cli_run;
extern const sbx_cli_command_t sbx_cli_shell;
extern const sbx_cli_command_t sbx_cli_python;
extern const sbx_cli_command_t sbx_cli_call;
extern const sbx_cli_command_t sbx_cli_cp;
extern const sbx_cli_command_t sbx_cli_open;
extern const sbx_cli_command_t sbx_cli_close;
extern const sbx_cli_command_t sbx_cli_events;
extern const sbx_cli_command_t sbx_cli_status;
extern const sbx_cli_command_t sbx_cli_stats;
extern const sbx_cli_command_t sbx_cli_top;
extern const sbx_cli_command_t sbx_cli_shutdown;
extern const sbx_cli_command_t sbx_cli_keygen;

//  --- Signals (main.c) ------------------------------------------------------

//  True once SIGINT, SIGTERM or SIGHUP arrived (main.c catches them; the
//  wait they interrupt ends with Interrupted).
bool
    sbx_cli_interrupted (void);

//  The exit code for the last of those signals: 128 + its number (130
//  for Ctrl-C, also when none came).
int
    sbx_cli_interrupted_code (void);

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

//  --wait in milliseconds, or the default's.
int
    sbx_cli_wait_ms (const sbx_cli_args_t *args);

//  Connects to args->endpoint with replies awaited up to `timeout_ms`
//  (< 0: forever). With --wait, the daemon waits that long for a free
//  sandbox, and a reply that needed one is awaited that much longer;
//  without it, it waits up to `timeout_ms` (30 s when that is forever).
//  With --server-cert and --cert (or their variables) the client speaks
//  CURVE. Returns the client (caller owns), or NULL after
//  printing why, with *code_p set to the exit code. Blocks.
sbx_client_t *
    sbx_cli_connect (const sbx_cli_args_t *args, int timeout_ms, int *code_p);

//  The session args->session names, when it names one: parses the handle
//  into *handle and returns true. Returns false when there is none (no
//  --session, no $SBX_SESSION, or "-"). A handle that does not parse is
//  a usage error: *code_p is set to 2 after printing it.
bool
    sbx_cli_held_session (const sbx_cli_args_t *args, sbx_cli_handle_t *handle, int *code_p);

//  sbx_cli_held_session for a command that may also open a new session
//  (run, call, shell, python): --session-id beside a held session is a
//  usage error, as it names a new one. Sets *held_p. Returns -1 to go on,
//  or the exit code after printing why.
int
    sbx_cli_held_or_new (const sbx_cli_args_t *args, sbx_cli_handle_t *handle, bool *held_p);

//  A handle on the held session (see handle.h): no request is sent.
//  Caller owns it; sbx_session_destroy leaves the session open.
sbx_session_t *
    sbx_cli_attach (sbx_client_t *client, const sbx_cli_handle_t *handle);

//  The endpoint that error lines name: the client's, or (NULL client)
//  the first one tried.
const char *
    sbx_cli_where (const sbx_cli_args_t *args, const sbx_client_t *client);

//  Prints an error as one line (composite errors list their parts) and
//  returns its exit code: 128 + the signal for Interrupted, 3 for the
//  other errors libsbx makes itself, 2 for a certificate it cannot use
//  (CertificateError), 1 for the daemon's. Takes ownership, nulls
//  *error_p.
int
    sbx_cli_fail (const char *where, sbx_error_t **error_p);

//  sbx_cli_fail for a failed call, naming the client's endpoint. When
//  the call was in a `held` session (a handle's, as args->session names
//  one) that the daemon no longer knows (Unauthorized, NotFound) and
//  args->session came from $SBX_SESSION, a second line says how to be rid
//  of it.
int
    sbx_cli_fail_call (const sbx_cli_args_t *args, sbx_client_t *client, bool held, sbx_error_t **error_p);

//  The usage error for args->argv [index], one argument too many.
int
    sbx_cli_unexpected (const sbx_cli_args_t *args, int index);

//  --- Interactive sessions (cli.c): sbx shell, sbx python -------------------

//  What an interactive command holds while it reads lines and runs each
//  in one session.
typedef struct {
    const sbx_cli_args_t *args;
    sbx_client_t *client;           //  connected (the command owns it)
    const char *feature;            //  the feature the lines go to
    sbx_session_t *session;
    bool opened;                    //  we opened the session (else: a handle's)
    bool broken;                    //  the session or the daemon is gone
    bool stop;                      //  a signal: end the session and go
    sbx_cli_reader_t *reader;       //  where the lines come from
    bool terminal;                  //  ...a terminal
} sbx_cli_repl_t;

//  With self->args set: refuses arguments, and --session-id beside a held
//  session (sbx_cli_held_or_new), then connects self->client (the command
//  destroys it). Returns -1 to go on, or an exit code after printing why.
int
    sbx_cli_repl_connect (sbx_cli_repl_t *self);

//  Once connected: the session, the held one of --session /
//  $SBX_SESSION, attached, or a new one opened (opened true).
//  Then, unless --timeout bounds every reply, a reply may take as long as
//  a line's command may (--command-timeout and the margin, else forever).
//  Makes the reader (its prompt is the caller's to set), and on a terminal
//  says which session (`what`) the lines go to and what Ctrl-D does.
//  Returns -1 to go on, or an exit code after printing why.
int
    sbx_cli_repl_begin (sbx_cli_repl_t *self, const char *what);

//  The session's name: its id, else its sandbox's.
const char *
    sbx_cli_repl_name (const sbx_cli_repl_t *self);

//  Reports a failed call in the session and returns its exit code. A user
//  error leaves the session open; anything that means the session or the
//  daemon is gone sets self->broken. A signal sets self->stop, saying on
//  stderr that a session we opened ends once the `running` thing stops.
//  Takes ownership, nulls *error_p.
int
    sbx_cli_repl_failed (sbx_cli_repl_t *self, const char *running, sbx_error_t **error_p);

//  After the loop: destroys the reader; on a terminal, ends the prompt's
//  line (unless broken); ends the session when we opened it and it is not
//  broken, saying so on a terminal (a held one stays open), and destroys
//  it. Returns the exit code: `code`, unless the end failed or a signal
//  came.
int
    sbx_cli_repl_finish (sbx_cli_repl_t *self, int code);

//  --- Output (cli.c) ---------------------------------------------------------

//  Prints JSON (indented, or on one line) and a newline; reals with 15
//  significant digits.
void
    sbx_cli_print_json (FILE *out, const json_t *json, bool compact);

//  Writes a chunk of a command's output to `out` (stdout or stderr) and
//  flushes it. Every byte of output `sbx run` and `sbx shell` print goes
//  through here, whether it came whole in a result or, streamed, in parts.
void
    sbx_cli_write_chunk (FILE *out, const void *data, size_t size);
//  An sbx_output_fn (sbx/client.h): a command's streamed output to our
//  stdout or stderr, as it comes.
void
    sbx_cli_stream_output (void *arg, const char *stream, const void *data, size_t size);

//  Writes a msgpack str or bin object's bytes with sbx_cli_write_chunk.
void
    sbx_cli_write_bytes (FILE *out, const msgpack_object *object);

//  Writes `arg` quoted for a POSIX shell (as it is when it needs no quotes).
void
    sbx_cli_shell_quote (FILE *out, const char *arg);

//  Formats a duration: "12.3s", "5m03s", "2h05m", "3d04h"; "?" when < 0.
void
    sbx_cli_duration (char *buffer, size_t size, double seconds);

//  Formats a short duration for the metrics' figures: "85us", "1.2ms",
//  "3.40s", then as sbx_cli_duration; "-" when < 0.
void
    sbx_cli_seconds (char *buffer, size_t size, double seconds);

//  The string at `key` of a JSON object, or `otherwise`.
const char *
    sbx_cli_str (const json_t *object, const char *key, const char *otherwise);

//  --- The shell feature's `run` (run.c; sbx shell uses it too) -------------

//  The shell feature to use: `name` when given, else the first feature
//  of kind shell. NULL when there is none, after printing so (NotFound,
//  with the features there are) unless `quiet`.
const char *
    sbx_cli_shell_feature (sbx_client_t *client, const char *name, bool quiet);

//  What one `run` call sends.
typedef struct {
    const char *cmd;                //  for /bin/sh -c
    double timeout_s;               //  > 0: sent as timeout_ms
    const char *const *env;         //  NAME=value, `env_count` of them
    size_t env_count;
    const char *cwd;                //  sent when not NULL
} sbx_cli_run_t;

//  Packs the args of `run` (a msgpack map) into `out`.
void
    sbx_cli_pack_run_args (msgpack_sbuffer *out, const sbx_cli_run_t *run);

//  Prints a `run` result (stdout, stderr, notes) and returns the exit
//  code it stands for: the command's, 124 when it timed out (saying so
//  on stderr, with `timeout_s` when > 0, else the time it ran), 1 when it
//  was cancelled or the result is unusable.
int
    sbx_cli_print_run_result (const msgpack_sbuffer *result, double timeout_s);

#endif
