/*  sbx - the command-line client of sbx, built on libsbx (include/sbx/client.h).

        sbx [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]

    Commands: run, shell, python, call, cp, open, close, events, status,
    stats, top, shutdown, keygen (docs/cli.md, man/sbx.1). Global options,
    accepted before or after the command name:
        --endpoint EP         request endpoint(s), comma-separated
                              (default $SBX_ENDPOINT, else tcp://127.0.0.1:5555)
        --events-endpoint EP  event endpoint (default $SBX_EVENTS, else
                              the one the daemon's hello announces)
        --timeout S           seconds to wait for a reply (default 30)
        --server-cert FILE    the daemon's public certificate (CURVE;
                              default $SBX_SERVER_CERT)
        --cert FILE           this client's secret certificate (CURVE;
                              default $SBX_CERT)

    Exit codes: 0 ok; 1 the daemon answered with an error; 2 bad usage;
    3 the daemon cannot be reached or did not answer in time; 124 the
    command of `sbx run` timed out; 130 interrupted (Ctrl-C; 128 + N for
    signal N: 129 SIGHUP, 143 SIGTERM); otherwise the exit code of the
    command that `sbx run` / `sbx shell` ran.

    This file sets up the signals, parses the global options, and hands
    the rest of the command line to the command it names (cli.h).
*/
#include "cli.h"

#include <czmq.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

static volatile sig_atomic_t s_interrupted;

static void
s_on_signal (int signum)
{
    s_interrupted = signum;
}

bool
sbx_cli_interrupted (void)
{
    return s_interrupted != 0;
}

int
sbx_cli_interrupted_code (void)
{
    return 128 + (s_interrupted ? (int) s_interrupted : SIGINT);
}

void
sbx_cli_interrupted_clear (void)
{
    s_interrupted = 0;
}

//  Our own handlers, before czmq's first use installs its own: a signal
//  ends the current wait (Interrupted) and we exit cleanly.
static void
s_catch_signals (void)
{
    zsys_handler_set (NULL);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    //  A closed terminal: end what we hold (sbx shell's session) too.
    sigaction (SIGHUP, &action, NULL);
    //  ...and only in this thread: ZeroMQ's own threads, which the first
    //  socket starts (here, with the signals blocked), must not take a
    //  Ctrl-C that this thread's wait is to see (a follower then hung).
    //  libsbx's threads block them too (runtime/core/actor.c).
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    zsys_init ();
    zsock_t *first = zsock_new (ZMQ_PAIR);
    zsock_destroy (&first);
    pthread_sigmask (SIG_UNBLOCK, &signals, NULL);
}

static const sbx_cli_option_t s_options [] = {
    {"version", 0, NULL, SBX_CLI_VERSION, 0, "print the version of sbx"},
    {NULL}
};

//  `sbx` itself: the global options, then a command.
static const sbx_cli_command_t s_sbx = {
    .name = NULL,
    .synopsis = "[GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]",
    .about =
        "The command-line client of sbx, the sandbox runtime.\n"
        "\n"
        "Commands:\n"
        "  run -- CMD...        run one command in a fresh sandbox session\n"
        "  shell                an interactive session: one command per line\n"
        "  python               an interactive Python session (the python feature)\n"
        "  call F.METHOD [JSON] call any method, JSON in, JSON out\n"
        "  cp SRC DST           copy a file into or out of a session\n"
        "  open                 open a session for later commands (eval $(sbx open))\n"
        "  close [HANDLE]       end a session that sbx open opened\n"
        "  events [PREFIX...]   the event journal; --follow for live events\n"
        "  status [SANDBOX]     the environment and its sandboxes\n"
        "  stats                counters, pool size, sandboxes per status\n"
        "  top                  a live full-screen view\n"
        "  shutdown             shut the daemon down (its admin endpoint)\n"
        "  keygen NAME          make a CURVE certificate pair: NAME, NAME_secret\n"
        "\n"
        "`sbx COMMAND --help` tells more; docs/cli.md has it all.",
    .options = s_options,
    .options_first = true
};

static const sbx_cli_command_t *s_commands [] = {
    &sbx_cli_run, &sbx_cli_shell, &sbx_cli_call, &sbx_cli_cp, &sbx_cli_open, &sbx_cli_close,
    &sbx_cli_python,
    &sbx_cli_events,
    &sbx_cli_status, &sbx_cli_stats, &sbx_cli_top, &sbx_cli_shutdown, &sbx_cli_keygen
};

int
main (int argc, char *argv [])
{
    //  A closed stdin, stdout or stderr would be taken by the first file
    //  ZeroMQ opens, and `sbx run` would read it as stdin.
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
        if (fcntl (fd, F_GETFD) < 0 && open ("/dev/null", O_RDWR) < 0)
            return SBX_CLI_EXIT_ERROR;
    s_catch_signals ();
    sbx_cli_args_t args = {.timeout_s = -1, .command_timeout_s = -1, .wait_s = -1};
    args.endpoint = getenv ("SBX_ENDPOINT");
    if (!args.endpoint || !*args.endpoint)
        args.endpoint = SBX_DEFAULT_ENDPOINT;
    //  Unset: the library takes the endpoint the daemon's hello announces.
    args.events_endpoint = getenv ("SBX_EVENTS");
    //  A session `sbx open` opened (eval $(sbx open)).
    args.session = getenv ("SBX_SESSION");
    //  CURVE keys (docs/security.md), and where `sbx shutdown` goes.
    args.server_cert = getenv ("SBX_SERVER_CERT");
    args.cert = getenv ("SBX_CERT");
    args.admin = getenv ("SBX_ADMIN");

    int code = sbx_cli_parse (&s_sbx, argc, argv, &args);
    if (code >= 0)
        return code;
    if (args.argc == 0)
        return sbx_cli_usage_error (NULL, "no command given");
    const char *name = args.argv [0];
    if (streq (name, "help")) {
        sbx_cli_help (&s_sbx);
        return SBX_CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands [0]; i++) {
        const sbx_cli_command_t *command = s_commands [i];
        if (!streq (name, command->name))
            continue;
        //  The command parses the rest (argv [0] is its name); the global
        //  options may come again.
        code = sbx_cli_parse (command, args.argc, args.argv, &args);
        if (code < 0)
            code = command->execute (&args);
        fflush (stdout);
        return code;
    }
    return sbx_cli_usage_error (NULL, "unknown command '%s'", name);
}
