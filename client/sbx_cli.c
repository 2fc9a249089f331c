/*  sbx - the command-line client of sbx, built on libsbx (include/sbx/client.h).

        sbx [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]

    Commands: run, shell, call, events, status, stats, top (docs/cli.md).
    Global options, accepted before or after the command name:
        --endpoint EP         request endpoint(s), comma-separated
                              (default $SBX_ENDPOINT, else tcp://127.0.0.1:5555)
        --events-endpoint EP  event endpoint (default $SBX_EVENTS, else
                              the one the daemon's hello announces)
        --timeout S           seconds to wait for a reply (default 30)

    Exit codes: 0 ok; 1 the daemon answered with an error; 2 bad usage;
    3 the daemon cannot be reached or did not answer in time; 124 the
    command of `sbx run` timed out; 130 interrupted (Ctrl-C); otherwise
    the exit code of the command that `sbx run` / `sbx shell` ran.

    Errors are one line on stderr: "sbx: <endpoint>: <Type>: <message>".
*/
#include <sbx/client.h>
#include "messages/mp.h"

#include <czmq.h>
#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    S_EXIT_OK = 0,
    S_EXIT_ERROR = 1,
    S_EXIT_USAGE = 2,
    S_EXIT_UNREACHABLE = 3,
    S_EXIT_TIMED_OUT = 124,
    S_EXIT_INTERRUPTED = 130
};

#define S_DEFAULT_TIMEOUT_S 30.0
//  `sbx run --timeout S` waits this much longer than S for the reply.
#define S_RUN_MARGIN_S 30.0

static struct {
    const char *endpoint;
    const char *events_endpoint;
    double timeout_s;           //  < 0: not given
} s_global;

static volatile sig_atomic_t s_interrupted;

static void
s_on_signal (int signum)
{
    s_interrupted = signum;
}

//  --- Common helpers -------------------------------------------------------------

static const char s_global_help [] =
    "Global options (before or after the command):\n"
    "  --endpoint EP         request endpoint; a comma-separated list is tried in\n"
    "                        order (default $SBX_ENDPOINT, else tcp://127.0.0.1:5555)\n"
    "  --events-endpoint EP  event endpoint (default $SBX_EVENTS, else the one the daemon announces)\n"
    "  --timeout S           seconds to wait for a reply (default 30)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes: 0 ok; 1 error reply; 2 bad usage; 3 daemon unreachable or no reply\n"
    "in time; 124 command timed out (sbx run); 130 interrupted; else the command's code.\n";

//  Long options every command takes.
#define S_GLOBAL_OPTIONS                                            \
    {"endpoint", required_argument, NULL, 'E'},                     \
    {"events-endpoint", required_argument, NULL, 'V'},              \
    {"timeout", required_argument, NULL, 'T'},                      \
    {"help", no_argument, NULL, 'h'}

static int
s_usage_error (const char *command, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
s_usage_error (const char *command, const char *format, ...)
{
    char message [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    fprintf (stderr, "sbx%s%s: %s (see sbx %s%s--help)\n", command ? " " : "", command ? command : "",
             message, command ? command : "", command ? " " : "");
    return S_EXIT_USAGE;
}

//  getopt stays quiet (opterr = 0); this names what it refused.
static int
s_bad_option (const char *command, char *argv [])
{
    const char *what = optind > 0 ? argv [optind - 1] : "?";
    if (optopt && what [0] == '-' && what [1] != '-')
        return s_usage_error (command, "unknown option or missing value: -%c", optopt);
    return s_usage_error (command, "unknown option or missing value: %s", what);
}

//  Handles a global option; returns -1 when `opt` is not one, 0 when it
//  was, or an exit code for a bad value.
static int
s_global_option (const char *command, int opt, const char *arg)
{
    switch (opt) {
        case 'E': s_global.endpoint = arg; return 0;
        case 'V': s_global.events_endpoint = arg; return 0;
        case 'T': {
            char *end = NULL;
            double seconds = strtod (arg, &end);
            if (!end || *end || !(seconds > 0) || seconds > 31536000)
                return s_usage_error (command, "--timeout: '%s' is not a number of seconds > 0", arg);
            s_global.timeout_s = seconds;
            return 0;
        }
        default:
            return -1;
    }
}

static int
s_timeout_ms (void)
{
    double seconds = s_global.timeout_s >= 0 ? s_global.timeout_s : S_DEFAULT_TIMEOUT_S;
    return seconds * 1000 > INT32_MAX ? INT32_MAX : (int) (seconds * 1000);
}

//  The endpoint named in error lines: the client's, or the first tried.
static const char *
s_where (const sbx_client_t *client)
{
    return client ? sbx_client_endpoint (client) : s_global.endpoint;
}

//  Prints an error as one line and returns its exit code. Takes ownership.
static int
s_fail (const char *where, sbx_error_t **error_p)
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
    int code = sbx_error_is (error, SBX_INTERRUPTED) ? S_EXIT_INTERRUPTED
             : sbx_error_is_local (error) ? S_EXIT_UNREACHABLE : S_EXIT_ERROR;
    sbx_error_destroy (error_p);
    return code;
}

static sbx_client_t *
s_connect (int *code_p)
{
    sbx_client_options_t options = {.timeout_ms = s_timeout_ms ()};
    sbx_error_t *error = NULL;
    sbx_client_t *client = sbx_client_new (s_global.endpoint, &options, &error);
    if (!client)
        *code_p = s_fail (s_global.endpoint, &error);
    return client;
}

//  Prints JSON (indented, or on one line) and a newline.
static void
s_print_json (FILE *out, const json_t *json, bool compact)
{
    size_t flags = JSON_ENCODE_ANY | (compact ? JSON_COMPACT : JSON_INDENT (2));
    char *text = json_dumps (json, flags);
    if (text) {
        fputs (text, out);
        fputc ('\n', out);
        free (text);
    }
}

//  Writes a str or bin object's bytes to `out`.
static void
s_write_bytes (FILE *out, const msgpack_object *o)
{
    if (o && o->type == MSGPACK_OBJECT_STR)
        fwrite (o->via.str.ptr, 1, o->via.str.size, out);
    else if (o && o->type == MSGPACK_OBJECT_BIN)
        fwrite (o->via.bin.ptr, 1, o->via.bin.size, out);
    fflush (out);
}

//  "12.3s", "5m03s", "2h05m", "3d04h".
static void
s_duration (char *buffer, size_t size, double seconds)
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

static int64_t
s_wall_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

//  --- sbx run ---------------------------------------------------------------------

static const char s_run_help [] =
    "usage: sbx run [--session ID] [--timeout S] [--feature NAME] -- CMD [ARG...]\n"
    "\n"
    "Runs CMD once in a fresh session (one ephemeral call of the shell feature's\n"
    "`run`), prints its stdout and stderr to yours, and exits with its exit code\n"
    "(124 when it timed out, like timeout(1)). CMD and its arguments are quoted for\n"
    "the shell, so they arrive as given; use `sh -c '...'` for pipes and redirection.\n"
    "\n"
    "  --session ID    name the session (default: generated)\n"
    "  --timeout S     kill CMD after S seconds (default: the feature's own limit)\n"
    "  --feature NAME  the shell feature to use (default: the first of kind `shell`)\n"
    "\n";

//  Appends `arg` quoted for a POSIX shell.
static void
s_shell_quote (FILE *out, const char *arg)
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

//  The shell feature to use, or NULL after printing why.
static const char *
s_shell_feature (sbx_client_t *client, const char *name, bool quiet)
{
    if (name)
        return name;
    const char *found = sbx_client_feature_of_kind (client, "shell");
    if (!found && !quiet) {
        const json_t *features = json_object_get (sbx_client_hello (client), "features");
        char list [512] = "";
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *) features, key, value) {
            size_t used = strlen (list);
            snprintf (list + used, sizeof list - used, "%s%s", *list ? ", " : "", key);
        }
        fprintf (stderr, "sbx: %s: NotFound: environment '%s' has no feature of kind 'shell' "
                 "(features: %s)\n", sbx_client_endpoint (client),
                 json_string_value (json_object_get (sbx_client_hello (client), "environment")),
                 *list ? list : "none");
    }
    return found;
}

//  Prints a shell.run result and returns the exit code it stands for.
static int
s_print_run_result (const msgpack_sbuffer *result)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    int code = S_EXIT_ERROR;
    if (msgpack_unpack_next (&unpacked, result->data, result->size, NULL) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *map = &unpacked.data;
        s_write_bytes (stdout, sbx_mp_map_get (map, "stdout"));
        s_write_bytes (stderr, sbx_mp_map_get (map, "stderr"));
        const msgpack_object *exit_code = sbx_mp_map_get (map, "exit_code");
        const msgpack_object *timed_out = sbx_mp_map_get (map, "timed_out");
        const msgpack_object *cancelled = sbx_mp_map_get (map, "cancelled");
        const msgpack_object *truncated = sbx_mp_map_get (map, "truncated");
        if (truncated && truncated->type == MSGPACK_OBJECT_BOOLEAN && truncated->via.boolean)
            fprintf (stderr, "sbx: note: the output was truncated by the sandbox\n");
        if (timed_out && timed_out->type == MSGPACK_OBJECT_BOOLEAN && timed_out->via.boolean)
            code = S_EXIT_TIMED_OUT;
        else if (cancelled && cancelled->type == MSGPACK_OBJECT_BOOLEAN && cancelled->via.boolean)
            fprintf (stderr, "sbx: the command was killed: the daemon is shutting down\n");
        else if (exit_code && exit_code->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            //  A command killed by signal N already says 128 + N, like sh.
            code = exit_code->via.u64 <= 255 ? (int) exit_code->via.u64 : S_EXIT_ERROR;
        else
            fprintf (stderr, "sbx: the shell feature's result has no usable exit_code\n");
    }
    else
        fprintf (stderr, "sbx: the shell feature's result is not a map\n");
    msgpack_unpacked_destroy (&unpacked);
    return code;
}

//  Packs {cmd, timeout_ms?} for shell.run.
static void
s_pack_run_args (msgpack_sbuffer *out, const char *cmd, double timeout_s)
{
    msgpack_packer packer;
    msgpack_packer_init (&packer, out, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, timeout_s > 0 ? 2 : 1);
    sbx_mp_pack_str (&packer, "cmd");
    sbx_mp_pack_str (&packer, cmd);
    if (timeout_s > 0) {
        sbx_mp_pack_str (&packer, "timeout_ms");
        msgpack_pack_uint64 (&packer, (uint64_t) llround (timeout_s * 1000));
    }
}

static int
s_cmd_run (int argc, char *argv [])
{
    static const struct option options [] = {
        S_GLOBAL_OPTIONS,
        {"session", required_argument, NULL, 's'},
        {"feature", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0}
    };
    const char *session_id = NULL, *feature = NULL;
    int opt;
    while ((opt = getopt_long (argc, argv, "+h", options, NULL)) != -1) {
        int rc = s_global_option ("run", opt, optarg);
        if (rc > 0)
            return rc;
        if (rc == 0)
            continue;
        switch (opt) {
            case 's': session_id = optarg; break;
            case 'f': feature = optarg; break;
            case 'h': printf ("%s%s", s_run_help, s_global_help); return S_EXIT_OK;
            default:  return s_bad_option ("run", argv);
        }
    }
    if (optind >= argc)
        return s_usage_error ("run", "no command given (sbx run -- CMD...)");
    char *cmd = NULL;
    size_t cmd_size = 0;
    FILE *stream = open_memstream (&cmd, &cmd_size);
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            fputc (' ', stream);
        s_shell_quote (stream, argv [i]);
    }
    fclose (stream);

    //  --timeout is the command's limit; the reply may take that long and
    //  then some. Without it the feature's own limit applies and we wait.
    double command_timeout = s_global.timeout_s;
    s_global.timeout_s = command_timeout > 0 ? command_timeout + S_RUN_MARGIN_S : -1;
    int code = S_EXIT_OK;
    sbx_client_options_t client_options = {.timeout_ms = command_timeout > 0 ? s_timeout_ms () : -1};
    sbx_error_t *error = NULL;
    sbx_client_t *client = sbx_client_new (s_global.endpoint, &client_options, &error);
    if (!client) {
        free (cmd);
        return s_fail (s_global.endpoint, &error);
    }
    feature = s_shell_feature (client, feature, false);
    if (!feature)
        code = S_EXIT_ERROR;
    else {
        msgpack_sbuffer args, result;
        msgpack_sbuffer_init (&args);
        msgpack_sbuffer_init (&result);
        s_pack_run_args (&args, cmd, command_timeout);
        if (sbx_client_call (client, feature, "run", args.data, args.size, session_id,
                             &result, &error) == 0)
            code = s_print_run_result (&result);
        else
            code = s_fail (s_where (client), &error);
        msgpack_sbuffer_destroy (&args);
        msgpack_sbuffer_destroy (&result);
    }
    free (cmd);
    sbx_client_destroy (&client);
    return code;
}

//  --- sbx shell -------------------------------------------------------------------

static const char s_shell_help [] =
    "usage: sbx shell [--session ID] [--feature NAME] [--command-timeout S]\n"
    "\n"
    "Opens a session and runs each line read from stdin in it, one after the\n"
    "other, in the same sandbox (the shell feature's `run`; on a sandbox without\n"
    "one, its own `shell` service). Ctrl-D ends the session cleanly; Ctrl-C too.\n"
    "The session's lease is renewed while it waits for input, and a line may run\n"
    "as long as its command does. Exits with the code of the last line run (like\n"
    "sh), 1 when the session broke, 130 after Ctrl-C.\n"
    "\n"
    "  --session ID           name the session (default: generated)\n"
    "  --feature NAME         the shell feature to use (default: the first of kind `shell`)\n"
    "  --command-timeout S    kill each line's command after S seconds\n"
    "\n";

static int
s_cmd_shell (int argc, char *argv [])
{
    static const struct option options [] = {
        S_GLOBAL_OPTIONS,
        {"session", required_argument, NULL, 's'},
        {"feature", required_argument, NULL, 'f'},
        {"command-timeout", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0}
    };
    const char *session_id = NULL, *feature = NULL;
    double command_timeout = -1;
    int opt;
    while ((opt = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        int rc = s_global_option ("shell", opt, optarg);
        if (rc > 0)
            return rc;
        if (rc == 0)
            continue;
        switch (opt) {
            case 's': session_id = optarg; break;
            case 'f': feature = optarg; break;
            case 'c': {
                char *end = NULL;
                command_timeout = strtod (optarg, &end);
                if (!end || *end || !(command_timeout > 0))
                    return s_usage_error ("shell", "--command-timeout: '%s' is not a number of seconds > 0", optarg);
                break;
            }
            case 'h': printf ("%s%s", s_shell_help, s_global_help); return S_EXIT_OK;
            default:  return s_bad_option ("shell", argv);
        }
    }
    if (optind < argc)
        return s_usage_error ("shell", "unexpected argument '%s'", argv [optind]);
    int code = S_EXIT_OK;
    sbx_client_t *client = s_connect (&code);
    if (!client)
        return code;
    feature = s_shell_feature (client, feature, true);
    //  Without a shell feature, the testing sandbox's own `shell {code}`.
    bool service = false;
    if (!feature) {
        const json_t *methods = json_object_get (sbx_client_hello (client), "sandbox_methods");
        size_t i;
        json_t *method;
        json_array_foreach (methods, i, method)
            service = service || (json_is_string (method) && streq (json_string_value (method), "shell"));
        if (!service) {
            s_shell_feature (client, NULL, false);
            sbx_client_destroy (&client);
            return S_EXIT_ERROR;
        }
    }
    sbx_error_t *error = NULL;
    sbx_session_t *session = sbx_client_session_open (client, session_id, &error);
    if (!session) {
        code = s_fail (s_where (client), &error);
        sbx_client_destroy (&client);
        return code;
    }
    //  The session is there: now a line may run as long as its command
    //  does (--timeout, when given, still bounds every reply).
    if (s_global.timeout_s < 0)
        sbx_client_set_timeout (client, command_timeout > 0
                                        ? (int) ((command_timeout + S_RUN_MARGIN_S) * 1000) : -1);
    bool tty = isatty (STDIN_FILENO);
    if (tty)
        fprintf (stderr, "sbx: session '%s' on %s; Ctrl-D ends it\n",
                 sbx_session_id (session), sbx_session_sandbox (session));
    char *line = NULL;
    size_t size = 0;
    bool broken = false;
    while (!broken) {
        if (tty) {
            fprintf (stderr, "%s$ ", sbx_session_id (session));
            fflush (stderr);
        }
        ssize_t length = getline (&line, &size, stdin);
        if (length < 0 || s_interrupted)
            break;
        while (length > 0 && (line [length - 1] == '\n' || line [length - 1] == '\r'))
            line [--length] = 0;
        if (length == 0)
            continue;
        msgpack_sbuffer args, result;
        msgpack_sbuffer_init (&args);
        msgpack_sbuffer_init (&result);
        int rc;
        if (service) {
            msgpack_packer packer;
            msgpack_packer_init (&packer, &args, msgpack_sbuffer_write);
            msgpack_pack_map (&packer, 1);
            sbx_mp_pack_str (&packer, "code");
            sbx_mp_pack_str (&packer, line);
            rc = sbx_session_call (session, NULL, "shell", args.data, args.size, &result, &error);
        }
        else {
            s_pack_run_args (&args, line, command_timeout);
            rc = sbx_session_call (session, feature, "run", args.data, args.size, &result, &error);
        }
        if (rc == 0 && service) {
            msgpack_unpacked unpacked;
            msgpack_unpacked_init (&unpacked);
            if (msgpack_unpack_next (&unpacked, result.data, result.size, NULL) == MSGPACK_UNPACK_SUCCESS) {
                if (unpacked.data.type == MSGPACK_OBJECT_STR) {
                    s_write_bytes (stdout, &unpacked.data);
                    fputc ('\n', stdout);
                }
                else {
                    json_t *json = sbx_mp_to_json (&unpacked.data);
                    s_print_json (stdout, json, true);
                    json_decref (json);
                }
                fflush (stdout);
            }
            msgpack_unpacked_destroy (&unpacked);
            code = S_EXIT_OK;
        }
        else if (rc == 0)
            code = s_print_run_result (&result);
        else {
            //  A user error leaves the session open; anything that means
            //  the session or the daemon is gone ends the shell.
            bool interrupted = sbx_error_is (error, SBX_INTERRUPTED);
            broken = sbx_error_is_state (error) || sbx_error_is (error, SBX_UNAUTHORIZED)
                  || sbx_error_is (error, SBX_NOT_FOUND)
                  || (sbx_error_is_local (error) && !interrupted);
            code = s_fail (s_where (client), &error);
            if (interrupted) {
                //  The sandbox ends the session after the running command:
                //  that may take its time.
                fprintf (stderr, "sbx: ending session '%s' once the running command stops "
                         "(Ctrl-C again to leave now)\n", sbx_session_id (session));
                msgpack_sbuffer_destroy (&args);
                msgpack_sbuffer_destroy (&result);
                break;
            }
        }
        msgpack_sbuffer_destroy (&args);
        msgpack_sbuffer_destroy (&result);
    }
    free (line);
    if (s_interrupted)
        code = S_EXIT_INTERRUPTED;
    if (tty && !broken)
        fputc ('\n', stderr);      //  after the prompt, or the ^C
    if (broken)
        sbx_session_destroy (&session);
    else {
        //  A Ctrl-C must not stop the clean end.
        s_interrupted = 0;
        if (sbx_session_end (&session, &error) != 0) {
            code = s_fail (s_where (client), &error);
            sbx_session_destroy (&session);
        }
        else if (tty)
            fprintf (stderr, "sbx: session ended\n");
    }
    sbx_client_destroy (&client);
    return code;
}

//  --- sbx call --------------------------------------------------------------------

static const char s_call_help [] =
    "usage: sbx call [--session ID] [--sandbox ID --token T] [--compact]\n"
    "                FEATURE.METHOD|METHOD ['{json args}']\n"
    "\n"
    "Calls a method and prints its result as JSON. FEATURE.METHOD is a feature's\n"
    "method; a bare METHOD is a service of the sandbox itself. The args are one\n"
    "JSON object (default {}). Without --sandbox the call is ephemeral: a sandbox\n"
    "is acquired, a session started, the call made, the session ended.\n"
    "\n"
    "  --session ID   name the ephemeral call's session\n"
    "  --sandbox ID   call inside the open session on this sandbox (needs --token)\n"
    "  --token T      that session's token\n"
    "  --compact      print the result on one line\n"
    "\n";

static int
s_cmd_call (int argc, char *argv [])
{
    static const struct option options [] = {
        S_GLOBAL_OPTIONS,
        {"session", required_argument, NULL, 's'},
        {"sandbox", required_argument, NULL, 'S'},
        {"token", required_argument, NULL, 'K'},
        {"compact", no_argument, NULL, 'c'},
        {NULL, 0, NULL, 0}
    };
    const char *session_id = NULL, *sandbox = NULL, *token = NULL;
    bool compact = false;
    int opt;
    while ((opt = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        int rc = s_global_option ("call", opt, optarg);
        if (rc > 0)
            return rc;
        if (rc == 0)
            continue;
        switch (opt) {
            case 's': session_id = optarg; break;
            case 'S': sandbox = optarg; break;
            case 'K': token = optarg; break;
            case 'c': compact = true; break;
            case 'h': printf ("%s%s", s_call_help, s_global_help); return S_EXIT_OK;
            default:  return s_bad_option ("call", argv);
        }
    }
    if (optind >= argc)
        return s_usage_error ("call", "no method given");
    if (argc - optind > 2)
        return s_usage_error ("call", "unexpected argument '%s' (quote the JSON args as one argument)",
                              argv [optind + 2]);
    if (!sandbox != !token)
        return s_usage_error ("call", "--sandbox and --token go together");
    const char *target = argv [optind];
    const char *dot = strrchr (target, '.');
    if (!*target || (dot && (dot == target || !dot [1])))
        return s_usage_error ("call", "'%s' is not FEATURE.METHOD or METHOD", target);
    char *feature = dot ? strndup (target, (size_t) (dot - target)) : NULL;
    const char *method = dot ? dot + 1 : target;
    json_t *args = NULL;
    if (optind + 1 < argc) {
        json_error_t problem;
        args = json_loads (argv [optind + 1], JSON_DECODE_ANY, &problem);
        if (!args) {
            free (feature);
            return s_usage_error ("call", "bad JSON args: %s (line %d, column %d)",
                                  problem.text, problem.line, problem.column);
        }
        if (!json_is_object (args)) {
            json_decref (args);
            free (feature);
            return s_usage_error ("call", "the JSON args must be an object, like '{\"code\": \"ls\"}'");
        }
    }
    int code = S_EXIT_OK;
    sbx_client_t *client = s_connect (&code);
    if (client) {
        sbx_error_t *error = NULL;
        json_t *result;
        if (sandbox) {
            sbx_session_t *session = sbx_client_session_attach (client, sandbox, token, session_id);
            result = sbx_session_call_json (session, feature, method, args, &error);
            sbx_session_destroy (&session);
        }
        else
            result = sbx_client_call_json (client, feature, method, args, session_id, &error);
        if (result) {
            s_print_json (stdout, result, compact);
            json_decref (result);
        }
        else
            code = s_fail (s_where (client), &error);
        sbx_client_destroy (&client);
    }
    json_decref (args);
    free (feature);
    return code;
}

//  --- sbx events ------------------------------------------------------------------

static const char s_events_help [] =
    "usage: sbx events [--follow] [--json] [--since N] [PREFIX...]\n"
    "\n"
    "Prints the daemon's events, one line each, oldest first: every event still in\n"
    "its journal (from seq 1 unless the journal has dropped older ones), then, with\n"
    "--follow, the live ones as they happen until Ctrl-C. No event is missed or\n"
    "repeated: gaps in seq are filled from the journal. PREFIXes select event\n"
    "families by name (sandbox., session., feature., environment., or a full name).\n"
    "\n"
    "  -f, --follow    keep printing live events\n"
    "  --json          JSON lines (the event log's form) instead of text\n"
    "  --since N       only events with seq > N (default 0: the whole journal)\n"
    "\n";

static bool
s_prefix_match (char *const *prefixes, int count, const sbx_event_t *event)
{
    if (count == 0)
        return true;
    const char *name = sbx_event_kind_name (event->kind);
    for (int i = 0; i < count; i++)
        if (strncmp (name, prefixes [i], strlen (prefixes [i])) == 0)
            return true;
    return false;
}

static void
s_print_event (const sbx_event_t *event, bool as_json)
{
    if (as_json) {
        json_t *json = sbx_event_to_json (event);
        s_print_json (stdout, json, true);
        json_decref (json);
    }
    else {
        char *text = sbx_event_text (event);
        puts (text);
        free (text);
    }
}

static int
s_cmd_events (int argc, char *argv [])
{
    static const struct option options [] = {
        S_GLOBAL_OPTIONS,
        {"follow", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"since", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}
    };
    bool follow = false, as_json = false;
    uint64_t since = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, "fh", options, NULL)) != -1) {
        int rc = s_global_option ("events", opt, optarg);
        if (rc > 0)
            return rc;
        if (rc == 0)
            continue;
        switch (opt) {
            case 'f': follow = true; break;
            case 'j': as_json = true; break;
            case 's': {
                char *end = NULL;
                errno = 0;
                unsigned long long value = strtoull (optarg, &end, 10);
                if (!end || *end || errno || *optarg == '-')
                    return s_usage_error ("events", "--since: '%s' is not a seq number", optarg);
                since = value;
                break;
            }
            case 'h': printf ("%s%s", s_events_help, s_global_help); return S_EXIT_OK;
            default:  return s_bad_option ("events", argv);
        }
    }
    char *const *prefixes = argv + optind;
    int prefix_count = argc - optind;
    int code = S_EXIT_OK;
    sbx_error_t *error = NULL;
    if (!follow) {
        //  The history only: page through the journal.
        sbx_client_t *client = s_connect (&code);
        if (!client)
            return code;
        bool first = true;
        while (true) {
            sbx_event_t **events = NULL;
            size_t count = 0;
            uint64_t next = since;
            bool truncated = false;
            if (sbx_client_replay (client, since, 1000, &events, &count, &next, &truncated, &error) != 0) {
                code = s_fail (s_where (client), &error);
                break;
            }
            if (first && truncated && count > 0)
                fprintf (stderr, "sbx: events up to seq %llu are no longer in the journal\n",
                         (unsigned long long) events [0]->seq - 1);
            first = false;
            for (size_t i = 0; i < count; i++)
                if (s_prefix_match (prefixes, prefix_count, events [i]))
                    s_print_event (events [i], as_json);
            sbx_events_free (&events, count);
            if (count == 0 || next <= since)
                break;
            since = next;
        }
        fflush (stdout);
        sbx_client_destroy (&client);
        return code;
    }
    setvbuf (stdout, NULL, _IOLBF, 0);
    const char **list = (const char **) zmalloc ((size_t) (prefix_count + 1) * sizeof (char *));
    for (int i = 0; i < prefix_count; i++)
        list [i] = prefixes [i];
    sbx_events_options_t settings = {
        .endpoints = s_global.endpoint, .events_endpoint = s_global.events_endpoint,
        .since = since, .prefixes = prefix_count ? list : NULL, .timeout_ms = s_timeout_ms ()
    };
    sbx_events_t *events = sbx_events_new (&settings, &error);
    free (list);
    if (!events)
        return s_fail (s_global.endpoint, &error);
    uint64_t lost = 0;
    while (!s_interrupted) {
        sbx_event_t *event = sbx_events_next (events, -1, &error);
        if (sbx_events_lost (events) != lost) {
            fprintf (stderr, "sbx: %llu events were no longer in the journal\n",
                     (unsigned long long) (sbx_events_lost (events) - lost));
            lost = sbx_events_lost (events);
        }
        if (event) {
            s_print_event (event, as_json);
            sbx_event_destroy (&event);
        }
        else if (error) {
            //  Ctrl-C is how one stops following: not an error.
            if (sbx_error_is (error, SBX_INTERRUPTED))
                sbx_error_destroy (&error);
            else
                code = s_fail (s_global.endpoint, &error);
            break;
        }
    }
    sbx_events_destroy (&events);
    return code;
}

//  --- sbx status, sbx stats ------------------------------------------------------

static const char s_status_help [] =
    "usage: sbx status [--json] [SANDBOX]\n"
    "\n"
    "Shows the environment and one row per sandbox (status, session, state\n"
    "errors); with SANDBOX, only that one.\n"
    "\n"
    "  --json    the status reply as JSON, for programs\n"
    "\n";

static const char s_stats_help [] =
    "usage: sbx stats [--json]\n"
    "\n"
    "Shows how many sandboxes are in each status, the pool bounds and size, and\n"
    "the daemon's counters (sessions, calls, failures, leases...).\n"
    "\n"
    "  --json    the stats reply as JSON, for programs\n"
    "\n";

//  Parses `--json` and the globals; returns -1 to go on, or an exit code.
static int
s_parse_json_only (const char *command, const char *help, int argc, char *argv [],
                   bool *as_json_p)
{
    static const struct option options [] = {
        S_GLOBAL_OPTIONS,
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        int rc = s_global_option (command, opt, optarg);
        if (rc > 0)
            return rc;
        if (rc == 0)
            continue;
        switch (opt) {
            case 'j': *as_json_p = true; break;
            case 'h': printf ("%s%s", help, s_global_help); return S_EXIT_OK;
            default:  return s_bad_option (command, argv);
        }
    }
    return -1;
}

static const char *
s_str (const json_t *object, const char *key, const char *otherwise)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : otherwise;
}

static int
s_cmd_status (int argc, char *argv [])
{
    bool as_json = false;
    int rc = s_parse_json_only ("status", s_status_help, argc, argv, &as_json);
    if (rc >= 0)
        return rc;
    if (argc - optind > 1)
        return s_usage_error ("status", "unexpected argument '%s'", argv [optind + 1]);
    const char *sandbox = optind < argc ? argv [optind] : NULL;
    int code = S_EXIT_OK;
    sbx_client_t *client = s_connect (&code);
    if (!client)
        return code;
    sbx_error_t *error = NULL;
    json_t *status = sbx_client_status (client, sandbox, &error);
    if (!status) {
        code = s_fail (s_where (client), &error);
        sbx_client_destroy (&client);
        return code;
    }
    if (as_json)
        s_print_json (stdout, status, false);
    else {
        const json_t *environment = json_object_get (status, "environment");
        char uptime [32];
        s_duration (uptime, sizeof uptime, json_number_value (json_object_get (environment, "uptime_s")));
        printf ("environment %s: %s, up %s, at %s\n", s_str (environment, "id", "?"),
                s_str (environment, "status", "?"), uptime, sbx_client_endpoint (client));
        //  What the sandboxes offer, from the hello.
        printf ("features:");
        const char *name;
        json_t *feature;
        const char *separator = " ";
        json_object_foreach (json_object_get (sbx_client_hello (client), "features"), name, feature) {
            printf ("%s%s (%s)", separator, name, s_str (feature, "kind", "?"));
            separator = ", ";
        }
        if (json_object_size (json_object_get (sbx_client_hello (client), "features")) == 0)
            printf (" none");
        printf ("\n\n");
        const json_t *sandboxes = json_object_get (status, "sandboxes");
        int id_width = 7, status_width = 6, session_width = 7;
        size_t i;
        json_t *row;
        json_array_foreach (sandboxes, i, row) {
            id_width = MAX (id_width, (int) strlen (s_str (row, "id", "")));
            status_width = MAX (status_width, (int) strlen (s_str (row, "status", "")));
            session_width = MAX (session_width, (int) strlen (s_str (row, "session_id", "-")));
        }
        printf ("%-*s  %-*s  %-*s  %s\n", id_width, "SANDBOX", status_width, "STATUS",
                session_width, "SESSION", "STATE ERRORS");
        json_array_foreach (sandboxes, i, row) {
            const json_t *errors = json_object_get (row, "state_errors");
            char first [300] = "";
            if (json_array_size (errors) > 0) {
                const json_t *error_json = json_array_get (errors, 0);
                snprintf (first, sizeof first, "  (%s: %s)", s_str (error_json, "type", "?"),
                          s_str (error_json, "message", ""));
            }
            printf ("%-*s  %-*s  %-*s  %zu%s\n", id_width, s_str (row, "id", "?"),
                    status_width, s_str (row, "status", "?"), session_width,
                    s_str (row, "session_id", "-"), json_array_size (errors), first);
        }
        if (json_array_size (sandboxes) == 0)
            printf ("(no sandboxes)\n");
    }
    json_decref (status);
    sbx_client_destroy (&client);
    return code;
}

//  Prints "key value" pairs of a JSON object on one line.
static void
s_print_pairs (const char *title, const json_t *object)
{
    printf ("%-10s", title);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) object, key, value) {
        char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
        printf ("  %s %s", key, text ? text : "?");
        free (text);
    }
    printf ("\n");
}

static int
s_cmd_stats (int argc, char *argv [])
{
    bool as_json = false;
    int rc = s_parse_json_only ("stats", s_stats_help, argc, argv, &as_json);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return s_usage_error ("stats", "unexpected argument '%s'", argv [optind]);
    int code = S_EXIT_OK;
    sbx_client_t *client = s_connect (&code);
    if (!client)
        return code;
    sbx_error_t *error = NULL;
    json_t *stats = sbx_client_stats (client, &error);
    if (!stats) {
        code = s_fail (s_where (client), &error);
        sbx_client_destroy (&client);
        return code;
    }
    if (as_json)
        s_print_json (stdout, stats, false);
    else {
        const json_t *hello = sbx_client_hello (client);
        printf ("environment %s at %s\n\n", s_str (hello, "environment", "?"), sbx_client_endpoint (client));
        s_print_pairs ("pool", json_object_get (stats, "pool"));
        s_print_pairs ("sandboxes", json_object_get (stats, "sandbox"));
        printf ("\nCOUNTER%*s  VALUE\n", 18, "");
        const char *key;
        json_t *value;
        json_object_foreach (json_object_get (stats, "counters"), key, value) {
            char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
            printf ("%-25s  %s\n", key, text ? text : "?");
            free (text);
        }
    }
    json_decref (stats);
    sbx_client_destroy (&client);
    return code;
}

//  --- sbx top ---------------------------------------------------------------------

static const char s_top_help [] =
    "usage: sbx top\n"
    "\n"
    "A live full-screen view of the environment: its status, the pool's bounds and\n"
    "size, session and call rates (over the last 10 s), and one row per sandbox\n"
    "(status, session, time in that status, state errors). It reads one status and\n"
    "the event journal at start, then follows the events; it does not poll the\n"
    "sandboxes. Keys: q quits.\n"
    "\n";

#define S_RATE_WINDOW 10        //  seconds
#define S_BUCKETS 16

typedef struct {
    char *id;
    char *status;
    char *session;
    int64_t since_ns;           //  when it entered `status`; 0: unknown
    size_t state_errors;
    char *last_error;           //  "Type: message" of the latest error event
    bool refresh;               //  ask status {sandbox} for its state errors
} s_row_t;

typedef struct {
    int64_t second;
    unsigned count;
} s_bucket_t;

typedef struct {
    sbx_client_t *client;
    zhashx_t *rows;             //  sandbox id -> s_row_t
    char *env_id;
    char *env_status;
    int64_t env_started_ns;     //  0: unknown
    double uptime_s;            //  from the status at start
    int64_t started_mono;       //  when top read that status
    json_t *pool;               //  {min, max, size} from stats at start
    s_bucket_t sessions [S_BUCKETS];
    s_bucket_t calls [S_BUCKETS];
    uint64_t last_seq;
    uint64_t history_seq;       //  events up to here were history at start
    uint64_t events_seen;
    char *problem;              //  last error talking to the daemon
} s_top_t;

static void
s_row_destroy (void **item_p)
{
    s_row_t *row = (s_row_t *) *item_p;
    if (!row)
        return;
    free (row->id);
    free (row->status);
    free (row->session);
    free (row->last_error);
    free (row);
    *item_p = NULL;
}

static void
s_set (char **field, const char *value)
{
    free (*field);
    *field = value ? strdup (value) : NULL;
}

static s_row_t *
s_top_row (s_top_t *self, const char *id)
{
    s_row_t *row = (s_row_t *) zhashx_lookup (self->rows, id);
    if (!row) {
        row = (s_row_t *) zmalloc (sizeof (s_row_t));
        row->id = strdup (id);
        row->status = strdup ("created");
        zhashx_insert (self->rows, id, row);
    }
    return row;
}

static void
s_count (s_bucket_t *buckets, int64_t ts_ns)
{
    int64_t second = ts_ns / 1000000000;
    s_bucket_t *bucket = &buckets [second % S_BUCKETS];
    if (bucket->second != second) {
        bucket->second = second;
        bucket->count = 0;
    }
    bucket->count++;
}

static double
s_rate (const s_bucket_t *buckets, int64_t now_ns)
{
    int64_t now = now_ns / 1000000000;
    unsigned total = 0;
    for (size_t i = 0; i < S_BUCKETS; i++)
        if (buckets [i].second > now - S_RATE_WINDOW && buckets [i].second <= now)
            total += buckets [i].count;
    return (double) total / S_RATE_WINDOW;
}

//  Seeds the model from one status.
static void
s_top_seed (s_top_t *self, const json_t *status)
{
    const json_t *environment = json_object_get (status, "environment");
    s_set (&self->env_id, s_str (environment, "id", "?"));
    s_set (&self->env_status, s_str (environment, "status", "?"));
    self->uptime_s = json_number_value (json_object_get (environment, "uptime_s"));
    self->started_mono = zclock_mono ();
    size_t i;
    json_t *json;
    json_array_foreach (json_object_get (status, "sandboxes"), i, json) {
        const char *id = s_str (json, "id", NULL);
        if (!id)
            continue;
        s_row_t *row = s_top_row (self, id);
        s_set (&row->status, s_str (json, "status", "?"));
        s_set (&row->session, s_str (json, "session_id", NULL));
        row->state_errors = json_array_size (json_object_get (json, "state_errors"));
    }
}

static void
s_top_apply (s_top_t *self, const sbx_event_t *event)
{
    self->last_seq = event->seq;
    self->events_seen++;
    //  sandbox.shutdown is a sandbox's last event: its row goes.
    if (event->kind == SBX_EV_SANDBOX_SHUTDOWN) {
        if (event->sandbox)
            zhashx_delete (self->rows, event->sandbox);
        return;
    }
    s_row_t *row = event->sandbox ? s_top_row (self, event->sandbox) : NULL;
    switch (event->kind) {
        case SBX_EV_ENVIRONMENT_START:
            s_set (&self->env_status, event->error ? "offline" : "online");
            self->env_started_ns = event->ts_ns;
            break;
        case SBX_EV_ENVIRONMENT_SHUTDOWN:
            s_set (&self->env_status, "offline");
            break;
        case SBX_EV_SANDBOX_STATUS:
            if (row) {
                s_set (&row->status, event->new_status);
                row->since_ns = event->ts_ns;
            }
            break;
        case SBX_EV_SESSION_START:
            if (row && !event->error)
                s_set (&row->session, event->session);
            if (!event->error)
                s_count (self->sessions, event->ts_ns);
            break;
        case SBX_EV_SESSION_END:
            if (row)
                s_set (&row->session, NULL);
            break;
        case SBX_EV_SESSION_ACTIVITY:
            s_count (self->calls, event->ts_ns);
            break;
        default:
            break;
    }
    if (row && event->error) {
        char text [300];
        snprintf (text, sizeof text, "%s: %s", sbx_error_type (event->error), sbx_error_message (event->error));
        s_set (&row->last_error, text);
        //  The state errors only the daemon knows exactly: ask about this
        //  one sandbox once its events have been applied.
        row->refresh = event->seq > self->history_seq;
    }
}

//  Asks `status {sandbox}` for rows whose errors changed.
static void
s_top_refresh (s_top_t *self)
{
    for (s_row_t *row = (s_row_t *) zhashx_first (self->rows); row;
         row = (s_row_t *) zhashx_next (self->rows)) {
        if (!row->refresh)
            continue;
        row->refresh = false;
        sbx_error_t *error = NULL;
        json_t *status = sbx_client_status (self->client, row->id, &error);
        json_t *json = json_array_get (json_object_get (status, "sandboxes"), 0);
        if (json)
            row->state_errors = json_array_size (json_object_get (json, "state_errors"));
        json_decref (status);
        sbx_error_destroy (&error);         //  NotFound: it is gone already
    }
}

static int
s_compare_rows (const void *a, const void *b)
{
    const s_row_t *x = *(const s_row_t *const *) a, *y = *(const s_row_t *const *) b;
    return strcmp (x->id, y->id);
}

static void
s_top_draw (s_top_t *self)
{
    int64_t now_ns = s_wall_ns ();
    erase ();
    int width = COLS;
    char uptime [32];
    double up = self->env_started_ns > 0 ? (double) (now_ns - self->env_started_ns) / 1e9
                                         : self->uptime_s + (double) (zclock_mono () - self->started_mono) / 1000.0;
    s_duration (uptime, sizeof uptime, up);
    attron (A_BOLD);
    mvprintw (0, 0, "sbx top - %s - %s - up %s - %s", self->env_id, self->env_status, uptime,
              sbx_client_endpoint (self->client));
    attroff (A_BOLD);
    mvprintw (0, width > 10 ? width - 9 : 0, "q: quit");
    size_t size = zhashx_size (self->rows);
    mvprintw (1, 0, "pool: min %lld  max %lld  size %zu    sessions/s %.1f    calls/s %.1f    events %llu (seq %llu)",
              (long long) json_integer_value (json_object_get (self->pool, "min")),
              (long long) json_integer_value (json_object_get (self->pool, "max")), size,
              s_rate (self->sessions, now_ns), s_rate (self->calls, now_ns),
              (unsigned long long) self->events_seen, (unsigned long long) self->last_seq);
    if (self->problem)
        mvprintw (2, 0, "daemon: %s", self->problem);
    s_row_t **rows = (s_row_t **) zmalloc ((size + 1) * sizeof (s_row_t *));
    size_t n = 0;
    for (s_row_t *row = (s_row_t *) zhashx_first (self->rows); row;
         row = (s_row_t *) zhashx_next (self->rows))
        rows [n++] = row;
    qsort (rows, n, sizeof (s_row_t *), s_compare_rows);
    attron (A_REVERSE);
    mvprintw (4, 0, "%-24s %-13s %-20s %-9s %s", "SANDBOX", "STATUS", "SESSION", "IN STATUS", "STATE ERRS");
    for (int x = getcurx (stdscr); x < width; x++)
        addch (' ');
    attroff (A_REVERSE);
    for (size_t i = 0; i < n && (int) i + 5 < LINES; i++) {
        char since [32] = "?";
        if (rows [i]->since_ns > 0)
            s_duration (since, sizeof since, (double) (now_ns - rows [i]->since_ns) / 1e9);
        mvprintw ((int) i + 5, 0, "%-24.24s %-13s %-20.20s %-9s %zu%s%s", rows [i]->id, rows [i]->status,
                  rows [i]->session ? rows [i]->session : "-", since, rows [i]->state_errors,
                  rows [i]->last_error ? "  last: " : "", rows [i]->last_error ? rows [i]->last_error : "");
    }
    free (rows);
    refresh ();
}

static int
s_cmd_top (int argc, char *argv [])
{
    bool unused = false;
    int rc = s_parse_json_only ("top", s_top_help, argc, argv, &unused);
    if (rc >= 0)
        return rc;
    if (unused)
        return s_usage_error ("top", "--json does not apply to top (see sbx status --json)");
    if (optind < argc)
        return s_usage_error ("top", "unexpected argument '%s'", argv [optind]);
    if (!isatty (STDOUT_FILENO))
        return s_usage_error ("top", "needs a terminal (use sbx status or sbx events for pipes)");
    int code = S_EXIT_OK;
    s_top_t self = {0};
    self.client = s_connect (&code);
    if (!self.client)
        return code;
    self.rows = zhashx_new ();
    zhashx_set_destructor (self.rows, s_row_destroy);
    sbx_error_t *error = NULL;
    //  The seq before the status: events after it update the snapshot.
    sbx_event_t **none = NULL;
    size_t none_count = 0;
    json_t *stats = NULL, *status = NULL;
    if (sbx_client_replay (self.client, INT64_MAX, 1, &none, &none_count, &self.history_seq, NULL, &error) == 0
    &&  (stats = sbx_client_stats (self.client, &error))
    &&  (status = sbx_client_status (self.client, NULL, &error))) {
        self.pool = json_incref (json_object_get (stats, "pool"));
        s_top_seed (&self, status);
    }
    sbx_events_free (&none, none_count);
    json_decref (stats);
    json_decref (status);
    //  The journal first, for the times in status and the rates.
    sbx_events_options_t settings = {
        .endpoints = sbx_client_endpoint (self.client), .events_endpoint = s_global.events_endpoint,
        .since = 0, .timeout_ms = s_timeout_ms ()
    };
    sbx_events_t *events = error ? NULL : sbx_events_new (&settings, &error);
    if (!events) {
        code = s_fail (s_where (self.client), &error);
        json_decref (self.pool);
        zhashx_destroy (&self.rows);
        free (self.env_id);
        free (self.env_status);
        sbx_client_destroy (&self.client);
        return code;
    }
    setlocale (LC_ALL, "");
    initscr ();
    cbreak ();
    noecho ();
    nodelay (stdscr, TRUE);
    keypad (stdscr, TRUE);
    curs_set (0);
    int64_t drawn = 0;
    bool dirty = true, quit = false;
    while (!quit && !s_interrupted) {
        //  Everything waiting, then the screen.
        sbx_event_t *event = sbx_events_next (events, dirty ? 0 : 200, &error);
        for (int n = 0; event && n < 10000; n++) {
            s_top_apply (&self, event);
            sbx_event_destroy (&event);
            dirty = true;
            event = sbx_events_next (events, 0, &error);
        }
        sbx_event_destroy (&event);
        if (error) {
            if (sbx_error_is (error, SBX_INTERRUPTED))
                quit = true;
            char text [300];
            snprintf (text, sizeof text, "%s: %s", sbx_error_type (error), sbx_error_message (error));
            s_set (&self.problem, text);
            sbx_error_destroy (&error);
            dirty = true;
        }
        s_top_refresh (&self);
        int key;
        while ((key = getch ()) != ERR)
            if (key == 'q' || key == 'Q')
                quit = true;
            else if (key == KEY_RESIZE || key == 12)    //  Ctrl-L
                dirty = true;
        if (dirty || zclock_mono () - drawn >= 1000) {
            s_top_draw (&self);
            drawn = zclock_mono ();
            dirty = false;
        }
    }
    endwin ();
    sbx_events_destroy (&events);
    json_decref (self.pool);
    zhashx_destroy (&self.rows);
    free (self.env_id);
    free (self.env_status);
    free (self.problem);
    sbx_client_destroy (&self.client);
    return code;
}

//  --- main ------------------------------------------------------------------------

static const char s_main_help [] =
    "usage: sbx [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "The command-line client of sbx, the sandbox runtime.\n"
    "\n"
    "Commands:\n"
    "  run -- CMD...        run one command in a fresh sandbox session\n"
    "  shell                an interactive session: one command per line\n"
    "  call F.METHOD [JSON] call any method, JSON in, JSON out\n"
    "  events [PREFIX...]   the event journal; --follow for live events\n"
    "  status [SANDBOX]     the environment and its sandboxes\n"
    "  stats                counters, pool size, sandboxes per status\n"
    "  top                  a live full-screen view\n"
    "\n"
    "`sbx COMMAND --help` tells more; docs/cli.md has it all.\n"
    "\n";

int
main (int argc, char *argv [])
{
    //  Our own handlers, before czmq's first use installs its own: a
    //  signal ends the current wait (Interrupted) and we exit cleanly.
    zsys_handler_set (NULL);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    //  ...and only in this thread: ZeroMQ's own threads, which the first
    //  socket starts (here, with the signals blocked), must not take a
    //  Ctrl-C that this thread's wait is to see (a follower then hung).
    //  libsbx's threads block them too (runtime/core/actor.c).
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    zsys_init ();
    zsock_t *first = zsock_new (ZMQ_PAIR);
    zsock_destroy (&first);
    pthread_sigmask (SIG_UNBLOCK, &signals, NULL);

    opterr = 0;
    s_global.timeout_s = -1;
    s_global.endpoint = getenv ("SBX_ENDPOINT");
    if (!s_global.endpoint || !*s_global.endpoint)
        s_global.endpoint = SBX_DEFAULT_ENDPOINT;
    //  Unset: the library takes the endpoint the daemon's hello announces.
    s_global.events_endpoint = getenv ("SBX_EVENTS");

    static const struct option options [] = {
        S_GLOBAL_OPTIONS,
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "+h", options, NULL)) != -1) {
        int rc = s_global_option (NULL, opt, optarg);
        if (rc > 0)
            return rc;
        if (rc == 0)
            continue;
        switch (opt) {
            case 'h': printf ("%s%s", s_main_help, s_global_help); return S_EXIT_OK;
            case 'v': printf ("sbx %s\n", SBX_VERSION); return S_EXIT_OK;
            default:  return s_bad_option (NULL, argv);
        }
    }
    if (optind >= argc)
        return s_usage_error (NULL, "no command given");
    static const struct {
        const char *name;
        int (*run) (int argc, char *argv []);
    } commands [] = {
        {"run", s_cmd_run},
        {"shell", s_cmd_shell},
        {"call", s_cmd_call},
        {"events", s_cmd_events},
        {"status", s_cmd_status},
        {"stats", s_cmd_stats},
        {"top", s_cmd_top},
        {"help", NULL}
    };
    const char *name = argv [optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands [0]; i++) {
        if (!streq (name, commands [i].name))
            continue;
        if (!commands [i].run) {
            printf ("%s%s", s_main_help, s_global_help);
            return S_EXIT_OK;
        }
        //  The command parses its own argv (argv [0] is its name); optind
        //  0 restarts getopt.
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0;
        int code = commands [i].run (sub_argc, sub_argv);
        fflush (stdout);
        return code;
    }
    return s_usage_error (NULL, "unknown command '%s'", name);
}
