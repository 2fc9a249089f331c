/*  sbxd - the sbx daemon: loads the configuration, starts the environment
    actor (which starts the event bus, the supervisor and the pool), prints
    where it listens, and runs until the `shutdown` op, SIGINT or SIGTERM.

    Exit codes: 0 after a graceful shutdown; 1 when the environment failed
    to start or went offline after an outage; 2 for a bad command line or
    configuration.
*/
#include "runtime/core/actor.h"
#include "actors/environment.h"
#include "runtime/core/config.h"
#include "runtime/core/log.h"
#include "runtime/daemon/registry.h"

#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

//  Sockets one sandbox costs: its actor pipe (a PAIR at each end) and its
//  DEALER to the environment. Each socket holds one file descriptor.
#define S_SOCKETS_PER_SANDBOX 3
//  The environment, event bus, supervisor and their pipes, plus headroom
//  for client connections.
#define S_SOCKETS_BASE 64
#define S_FDS_RESERVED 256

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: sbxd [-c FILE] [--event-log PATH] [--requests EP] [--events EP]\n"
        "            [--pool MIN:MAX] [-v] [-q] [--check]\n"
        "\n"
        "Runs one sbx environment: a pool of sandboxes served over ZeroMQ.\n"
        "With no -c, runs on the embedded default configuration.\n"
        "\n"
        "  -c, --config FILE     JSON configuration (docs/configuration.md)\n"
        "      --event-log PATH  append every event to PATH as JSON lines\n"
        "      --requests EP     request endpoint (ROUTER), e.g. tcp://127.0.0.1:5555\n"
        "      --events EP       event endpoint (XPUB), e.g. tcp://127.0.0.1:5556\n"
        "      --pool MIN:MAX    pool bounds (MIN 0: no pooling)\n"
        "      --check           validate the configuration and exit\n"
        "  -v, --verbose         log every event\n"
        "  -q, --quiet           log errors and warnings only\n"
        "  -h, --help            this text\n"
        "      --version         print the version\n"
        "\n"
        "Exit codes: 0 graceful shutdown; 1 failed start or outage; 2 bad usage or config.\n");
}

//  Sizes czmq's socket limit from the pool and checks it against the file
//  descriptor limit, raising the soft limit when it must. -1 when the pool
//  cannot fit (with the reason printed).
static int
s_size_limits (const sbx_config_t *config)
{
    struct rlimit limit;
    getrlimit (RLIMIT_NOFILE, &limit);
    size_t sandboxes = sbx_config_pooled (config) ? config->pool_max : 0;
    //  ... plus one backend ROUTER per 64 sandboxes (actors/environment.c).
    size_t sockets = S_SOCKETS_BASE + S_SOCKETS_PER_SANDBOX * sandboxes + sandboxes / 64 + 16;
    size_t per_sandbox = S_SOCKETS_PER_SANDBOX + config->sandbox_kind->fds;
    size_t fds = S_SOCKETS_BASE + per_sandbox * sandboxes + sandboxes / 64 + 16 + S_FDS_RESERVED;
    if (!sbx_config_pooled (config)) {
        //  No pooling: sandboxes come and go; let them use what the fd
        //  limit allows.
        rlim_t hard = limit.rlim_max == RLIM_INFINITY ? 65536 : limit.rlim_max;
        sockets = hard > S_FDS_RESERVED + S_SOCKETS_BASE ? hard - S_FDS_RESERVED : S_SOCKETS_BASE;
        fds = 0;
    }
    if (fds > limit.rlim_cur) {
        if (limit.rlim_max != RLIM_INFINITY && fds > limit.rlim_max) {
            fprintf (stderr, "sbxd: environment.pool.max %u needs about %zu file descriptors "
                     "(%zu per %s sandbox), but RLIMIT_NOFILE allows %llu; lower pool.max to at most %llu "
                     "or raise the limit (ulimit -n)\n", config->pool_max, fds, per_sandbox,
                     config->sandbox_kind->name, (unsigned long long) limit.rlim_max,
                     (unsigned long long) ((limit.rlim_max - S_FDS_RESERVED - S_SOCKETS_BASE)
                                           / per_sandbox));
            return -1;
        }
        limit.rlim_cur = fds;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    zsys_set_max_sockets (sockets);
    return 0;
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        {"config", required_argument, NULL, 'c'},
        {"event-log", required_argument, NULL, 'L'},
        {"requests", required_argument, NULL, 'R'},
        {"events", required_argument, NULL, 'E'},
        {"pool", required_argument, NULL, 'P'},
        {"check", no_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}
    };
    const char *config_path = NULL, *event_log = NULL, *requests = NULL, *events = NULL;
    const char *pool = NULL;
    bool check = false;
    int opt;
    while ((opt = getopt_long (argc, argv, "c:vqh", options, NULL)) != -1) {
        switch (opt) {
            case 'c': config_path = optarg; break;
            case 'L': event_log = optarg; break;
            case 'R': requests = optarg; break;
            case 'E': events = optarg; break;
            case 'P': pool = optarg; break;
            case 'C': check = true; break;
            case 'v': sbx_log_set_level (SBX_LOG_DEBUG); break;
            case 'q': sbx_log_set_level (SBX_LOG_WARNING); break;
            case 'h': s_usage (stdout); return 0;
            case 'V': printf ("sbxd %s\n", SBX_VERSION); return 0;
            default:  s_usage (stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "sbxd: unexpected argument '%s' (see sbxd --help)\n", argv [optind]);
        return 2;
    }
    sbx_error_t *error = NULL;
    sbx_config_t *config = config_path ? sbx_config_load_file (config_path, sbx_registry (), &error)
                                       : sbx_config_default (sbx_registry (), &error);
    if (config && pool)
        sbx_config_set_pool (config, pool, &error);
    if (config && !error && requests)
        error = sbx_config_check_endpoint (requests, "--requests");
    if (config && !error && events)
        error = sbx_config_check_endpoint (events, "--events");
    if (error) {
        fprintf (stderr, "sbxd: bad configuration: %s\n", sbx_error_message (error));
        sbx_error_destroy (&error);
        sbx_config_destroy (&config);
        return 2;
    }
    if (event_log)
        sbx_config_set_string (&config->event_log, event_log);
    if (requests)
        sbx_config_set_string (&config->requests_endpoint, requests);
    if (events)
        sbx_config_set_string (&config->events_endpoint, events);
    if (check) {
        printf ("sbxd: configuration is valid\n");
        sbx_config_destroy (&config);
        return 0;
    }
    if (s_size_limits (config) != 0) {
        sbx_config_destroy (&config);
        return 2;
    }

    //  Signals arrive on a signalfd in this thread only: every thread
    //  started after this inherits the blocked mask, and czmq's own
    //  handlers (which would interrupt the actors) stay off.
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    int signal_fd = signalfd (-1, &signals, SFD_CLOEXEC);
    zsys_handler_set (NULL);
    zsys_set_logstream (stderr);        //  stdout carries the "listening" line only
    //  Actor pipes carry pointers between actors that each may be busy:
    //  with czmq's default high-water mark (1,000) an environment spawning
    //  5,000 sandboxes blocks on the supervisor's pipe while the supervisor
    //  blocks answering it. No limit: what is in flight is bounded by the
    //  pool and the clients' requests.
    zsys_set_pipehwm (0);
    zsys_init ();

    sbx_actor_t *actor = sbx_actor_new (sbx_environment_actor, config);
    if (!actor) {
        fprintf (stderr, "sbxd: cannot start the environment's thread\n");
        sbx_config_destroy (&config);
        return 1;
    }
    zsock_t *environment = sbx_actor_pipe (actor);
    zstr_send (environment, "START");
    char *status = NULL, *endpoint = NULL, *events_endpoint = NULL;
    zsock_recv (environment, "sss", &status, &endpoint, &events_endpoint);
    int code = 1;
    if (!status || !streq (status, "OK")) {
        fprintf (stderr, "sbxd: cannot start environment %s: %s\n", config->env_id,
                 endpoint ? endpoint : "unknown error");
    }
    else {
        printf ("sbxd: environment '%s' listening: requests=%s events=%s\n",
                config->env_id, endpoint, events_endpoint);
        fflush (stdout);
        bool asked = false;
        while (true) {
            zmq_pollitem_t items [] = {
                {zsock_resolve (environment), 0, ZMQ_POLLIN, 0},
                {NULL, signal_fd, ZMQ_POLLIN, 0}
            };
            if (zmq_poll (items, 2, -1) < 0) {
                if (zmq_errno () == EINTR)
                    continue;
                break;
            }
            if (items [1].revents & ZMQ_POLLIN) {
                struct signalfd_siginfo info;
                if (read (signal_fd, &info, sizeof info) == sizeof info && !asked) {
                    sbx_log_info (config->env_id, "signal %u: shutting down", info.ssi_signo);
                    zstr_send (environment, "SHUTDOWN");
                    asked = true;
                }
            }
            if (items [0].revents & ZMQ_POLLIN) {
                char *command = NULL;
                int exit_code = 1;
                zsock_recv (environment, "si", &command, &exit_code);
                bool done = command && streq (command, "DONE");
                zstr_free (&command);
                if (done) {
                    code = exit_code;
                    break;
                }
            }
        }
    }
    zstr_free (&status);
    zstr_free (&endpoint);
    zstr_free (&events_endpoint);
    sbx_actor_destroy (&actor);
    close (signal_fd);
    sbx_config_destroy (&config);
    zsys_shutdown ();
    return code;
}
