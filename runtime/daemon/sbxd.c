/*  sbxd - the sbx daemon: loads the configuration, starts the environment
    actor (which starts the event bus, the supervisor and the pool), prints
    where it listens, and runs until the `shutdown` op (from an admin:
    docs/security.md), SIGINT or SIGTERM.

    It refuses to start (exit 2) when a request or event endpoint reaches
    beyond this host and there are no keys (`security`), unless
    security.insecure says so; then it warns.

    Exit codes: 0 after a graceful shutdown; 1 when the environment failed
    to start or went offline after an outage; 2 for a bad command line or
    configuration.
*/
#include "runtime/core/actor.h"
#include "actors/environment.h"
#include "runtime/core/config.h"
#include "runtime/core/endpoint.h"
#include "runtime/core/log.h"
#include "runtime/daemon/claim.h"
#include "runtime/daemon/registry.h"

#include <czmq.h>
#include <dirent.h>
#include <getopt.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <malloc.h>
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
        "      --clean           remove what a crashed run of the environment left\n"
        "                        (directories, their mounts, cgroups) and exit\n"
        "  -v, --verbose         log every event\n"
        "  -q, --quiet           log errors and warnings only\n"
        "  -h, --help            this text\n"
        "      --version         print the version\n"
        "\n"
        "Exit codes: 0 graceful shutdown; 1 failed start or outage; 2 bad usage or config.\n");
}

//  Sizes czmq's socket limit from the pool and checks it against the file
//  descriptor limit, raising the soft limit when it must; then sizes
//  limits.peers from what the sandboxes leave (unless the file set it).
//  -1 when the pool cannot fit (with the reason printed).
static int
s_size_limits (sbx_config_t *config)
{
    struct rlimit limit;
    getrlimit (RLIMIT_NOFILE, &limit);
    //  Every descriptor the hard limit allows: clients' connections must
    //  not starve the sandboxes (a soft limit of 1,024 with ~1,400 held
    //  connections made commands fail).
    if (limit.rlim_cur < limit.rlim_max) {
        rlim_t soft = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
            limit.rlim_cur = soft;
    }
    size_t sandboxes = sbx_config_pooled (config) ? config->pool_max : 0;
    //  ... plus one backend ROUTER per 64 sandboxes (actors/environment.c).
    size_t sockets = S_SOCKETS_BASE + S_SOCKETS_PER_SANDBOX * sandboxes + sandboxes / 64 + 16;
    size_t per_sandbox = S_SOCKETS_PER_SANDBOX + config->sandbox_kind->fds;
    for (size_t i = 0; i < config->feature_count; i++)
        per_sandbox += config->features [i].kind->fds;
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
    //  Without pooling, room for limits.sandboxes of them.
    size_t reserved = fds ? fds : S_SOCKETS_BASE + S_FDS_RESERVED + per_sandbox * config->sandboxes;
    sbx_config_size_peers (config, limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : limit.rlim_cur, reserved);
    return 0;
}

//  Socket files of ipc:// endpoints go with the daemon.
static void
s_remove_ipc_files (const sbx_config_t *config)
{
    const char *const endpoints [] = {
        config->requests_endpoint, config->events_endpoint, config->admin_endpoint
    };
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints [0]; i++)
        if (endpoints [i] && strncmp (endpoints [i], "ipc://", 6) == 0 && endpoints [i][6] != '@')
            unlink (endpoints [i] + 6);
}

//  Ends every process below sbxd: its children (sbx-init, bwrap), and what
//  they leave, which becomes ours as they die (a child subreaper). Used
//  only when sbxd gives up on its sandboxes; bounded to two seconds.
static void
s_kill_descendants (void)
{
    prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    pid_t self = getpid ();
    int64_t deadline = zclock_mono () + 2000;
    while (zclock_mono () < deadline) {
        bool any = false;
        DIR *proc = opendir ("/proc");
        struct dirent *entry;
        while (proc && (entry = readdir (proc))) {
            char path [300], text [512];
            snprintf (path, sizeof path, "/proc/%s/stat", entry->d_name);
            FILE *file = fopen (path, "r");
            size_t size = file ? fread (text, 1, sizeof text - 1, file) : 0;
            if (file)
                fclose (file);
            text [size] = 0;
            char *paren = strrchr (text, ')');
            int ppid = 0;
            if (paren && sscanf (paren + 2, "%*c %d", &ppid) == 1 && ppid == self) {
                kill ((pid_t) atoi (entry->d_name), SIGKILL);
                any = true;
            }
        }
        if (proc)
            closedir (proc);
        while (waitpid (-1, NULL, WNOHANG) > 0)
            ;
        if (!any)
            break;
        zclock_sleep (10);      //  a child dying hands us its own
    }
}

//  The shutdown did not end in time, or a second signal asked to stop
//  now: what can be published is, the stuck sandboxes are named, their
//  processes killed and their directories removed; exit 1 without joining
//  their threads.
static void
s_abort (zsock_t *environment, const sbx_config_t *config, const char *why)
{
    zstr_send (environment, "ABORT");
    zpoller_t *poller = zpoller_new (environment, NULL);
    char *stuck = NULL;
    int64_t deadline = zclock_mono () + 3000;
    while (!stuck && zclock_mono () < deadline && zpoller_wait (poller, (int) (deadline - zclock_mono ()))) {
        zmsg_t *msg = zmsg_recv (environment);
        char *command = msg ? zmsg_popstr (msg) : NULL;
        if (command && streq (command, "ABORTED"))
            stuck = zmsg_popstr (msg);
        zstr_free (&command);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    fprintf (stderr, "sbxd: %s: giving up on sandboxes: %s\n", why,
             stuck ? (*stuck ? stuck : "none") : "(the environment did not answer)");
    zstr_free (&stuck);
    s_kill_descendants ();
    sbx_claim_clean (config);
    s_remove_ipc_files (config);
    sbx_claim_release (config);
    fflush (NULL);
    _exit (1);
}

//  Serves until the environment is DONE; returns the exit code. A shutdown
//  (asked here on SIGINT/SIGTERM, or by the `shutdown` op, or after an
//  outage) has shutdown_timeout_s to finish; a second signal ends it at
//  once.
static int
s_run (zsock_t *environment, int signal_fd, const sbx_config_t *config)
{
    int signals = 0;
    int64_t deadline = -1;
    while (true) {
        long timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - zclock_mono ();
            timeout = left < 0 ? 0 : (long) left;
        }
        zmq_pollitem_t items [] = {
            {zsock_resolve (environment), 0, ZMQ_POLLIN, 0},
            {NULL, signal_fd, ZMQ_POLLIN, 0}
        };
        int rc = zmq_poll (items, 2, timeout);
        if (rc < 0 && zmq_errno () != EINTR)
            return 1;
        if (deadline >= 0 && zclock_mono () >= deadline) {
            char why [96];
            snprintf (why, sizeof why, "the shutdown took longer than shutdown_timeout_s (%gs)",
                      config->shutdown_timeout_s);
            s_abort (environment, config, why);
        }
        if (rc > 0 && (items [1].revents & ZMQ_POLLIN)) {
            struct signalfd_siginfo info;
            if (read (signal_fd, &info, sizeof info) == sizeof info && ++signals == 1) {
                sbx_log_info (config->env_id, "signal %u: shutting down", info.ssi_signo);
                zstr_send (environment, "SHUTDOWN");
                if (deadline < 0)
                    deadline = zclock_mono () + (int64_t) (config->shutdown_timeout_s * 1000);
            }
            else
            if (signals > 1)
                s_abort (environment, config, "asked again to stop");
        }
        if (rc > 0 && (items [0].revents & ZMQ_POLLIN)) {
            zmsg_t *msg = zmsg_recv (environment);
            char *command = msg ? zmsg_popstr (msg) : NULL;
            char *value = msg ? zmsg_popstr (msg) : NULL;
            bool done = command && streq (command, "DONE");
            if (command && streq (command, "STOPPING") && deadline < 0)
                deadline = zclock_mono () + (int64_t) (config->shutdown_timeout_s * 1000);
            int code = value ? atoi (value) : 1;
            zstr_free (&command);
            zstr_free (&value);
            zmsg_destroy (&msg);
            if (done)
                return code;
        }
    }
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
        {"clean", no_argument, NULL, 'K'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}
    };
    const char *config_path = NULL, *event_log = NULL, *requests = NULL, *events = NULL;
    const char *pool = NULL;
    bool check = false, clean = false;
    int opt;
    while ((opt = getopt_long (argc, argv, "c:vqh", options, NULL)) != -1) {
        switch (opt) {
            case 'c': config_path = optarg; break;
            case 'L': event_log = optarg; break;
            case 'R': requests = optarg; break;
            case 'E': events = optarg; break;
            case 'P': pool = optarg; break;
            case 'C': check = true; break;
            case 'K': clean = true; break;
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
        error = sbx_endpoint_check (requests, "--requests");
    if (config && !error && events)
        error = sbx_endpoint_check (events, "--events");
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
    if ((error = sbx_config_check_exposure (config))) {
        fprintf (stderr, "sbxd: refusing to serve: %s\n", sbx_error_message (error));
        sbx_error_destroy (&error);
        sbx_config_destroy (&config);
        return 2;
    }
    if (check) {
        printf ("sbxd: configuration is valid\n");
        sbx_config_destroy (&config);
        return 0;
    }
    if (clean) {
        //  The claim removes a crashed run's leftovers; a live daemon
        //  keeps its environment.
        char *claimed = NULL;
        int code = sbx_claim (config, &claimed) == 0 ? 0 : 2;
        if (code == 0)
            sbx_claim_release (config);
        else
            fprintf (stderr, "sbxd: %s\n", claimed);
        zstr_free (&claimed);
        sbx_config_destroy (&config);
        return code;
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
    char *claimed = NULL;
    if (sbx_claim (config, &claimed) != 0) {
        fprintf (stderr, "sbxd: %s\n", claimed);
        zstr_free (&claimed);
        sbx_config_destroy (&config);
        close (signal_fd);
        return 2;
    }

    //  Actor pipes carry pointers between actors that each may be busy:
    //  with czmq's default high-water mark (1,000) an environment spawning
    //  5,000 sandboxes blocks on the supervisor's pipe while the supervisor
    //  blocks answering it. No limit: what is in flight is bounded by the
    //  pool and the clients' requests.
    zsys_set_pipehwm (0);
    //  Large buffers (bodies, replies, event batches) get their own
    //  mappings, returned to the system when freed, so memory a client
    //  made the daemon hold goes back when the client goes (glibc's
    //  sliding threshold would otherwise keep them in the heap).
    mallopt (M_MMAP_THRESHOLD, 256 * 1024);
    mallopt (M_TRIM_THRESHOLD, 1024 * 1024);
    zsys_init ();

    sbx_actor_t *actor = sbx_actor_new (sbx_environment_actor, config);
    if (!actor) {
        fprintf (stderr, "sbxd: cannot start the environment's thread\n");
        sbx_config_destroy (&config);
        return 1;
    }
    zsock_t *environment = sbx_actor_pipe (actor);
    zstr_send (environment, "START");
    char *status = NULL, *endpoint = NULL, *events_endpoint = NULL, *metrics = NULL;
    zsock_recv (environment, "ssss", &status, &endpoint, &events_endpoint, &metrics);
    int code = 1;
    if (!status || !streq (status, "OK")) {
        fprintf (stderr, "sbxd: cannot start environment %s: %s\n", config->env_id,
                 endpoint ? endpoint : "unknown error");
    }
    else {
        if (config->insecure)
            sbx_log_warning (config->env_id, "security.insecure: requests=%s and events=%s take anyone "
                             "who can reach them, with no keys (docs/security.md)", endpoint, events_endpoint);
        if (config->admin_endpoint)
            sbx_log_info (config->env_id, "admin endpoint %s (hello, status, stats, shutdown; "
                          "mode 0600)", config->admin_endpoint);
        printf ("sbxd: environment '%s' listening: requests=%s events=%s%s%s\n",
                config->env_id, endpoint, events_endpoint, metrics && *metrics ? " metrics=" : "",
                metrics && *metrics ? metrics : "");
        fflush (stdout);
        code = s_run (environment, signal_fd, config);
    }
    zstr_free (&status);
    zstr_free (&endpoint);
    zstr_free (&events_endpoint);
    zstr_free (&metrics);
    sbx_actor_destroy (&actor);
    close (signal_fd);
    zsys_shutdown ();
    s_remove_ipc_files (config);
    sbx_claim_release (config);
    sbx_config_destroy (&config);
    return code;
}
