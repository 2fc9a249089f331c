/*  bench_baselines - see bench/baselines.h */
#include "bench/baselines.h"
#include "bench/harness.h"

#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

//  Spawns `argv` with its stdin and stdout on two new pipes, whose other
//  ends go to *to_p (its stdin) and *from_p (its stdout). -1 when the
//  pipes could not be made; else posix_spawn's result, both ends open.
static int
s_spawn_piped (char *const argv [], pid_t *pid_p, int *to_p, int *from_p)
{
    int to [2], from [2];
    if (pipe2 (to, O_CLOEXEC) != 0)
        return -1;
    if (pipe2 (from, O_CLOEXEC) != 0) {
        close (to [0]);
        close (to [1]);
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, to [0], 0);
    posix_spawn_file_actions_adddup2 (&actions, from [1], 1);
    int rc = posix_spawn (pid_p, argv [0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    close (to [0]);
    close (from [1]);
    *to_p = to [1];
    *from_p = from [0];
    return rc;
}

//  --- The echo: ROUTER (tcp) -> inproc hop -> worker -> back ---------------

struct bench_echo_t {
    pid_t pid;
    int stdin_fd;
    char endpoint [128];
};

//  A worker announces itself with an empty message, so that the front
//  can route to it, then sends back whatever it gets.
static void
s_echo_worker (zsock_t *pipe, void *args)
{
    zsock_t *worker = zsock_new_dealer ((const char *) args);
    zstr_send (worker, "");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, worker, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe || !which)
            break;
        while (zsock_events (worker) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (worker);
            zmsg_send (&msg, worker);
        }
    }
    zpoller_destroy (&poller);
    zsock_destroy (&worker);
}

//  The front actor owns the TCP ROUTER and the inproc ROUTER and passes
//  messages round robin to `workers` worker actors (none: it answers
//  each message itself, with no hop). It sends its endpoint on the pipe
//  once every worker is known.
static void
s_echo_front (zsock_t *pipe, void *args)
{
    int workers = *(int *) args;
    zsock_signal (pipe, 0);
    zsock_t *front = zsock_new (ZMQ_ROUTER);
    zsock_set_sndhwm (front, 100000);
    zsock_set_rcvhwm (front, 100000);
    zsock_bind (front, "tcp://127.0.0.1:*");
    char backend_ep [64];
    snprintf (backend_ep, sizeof backend_ep, "inproc://echo-%p", (void *) front);
    zsock_t *back = zsock_new (ZMQ_ROUTER);
    zsock_bind (back, "%s", backend_ep);
    char connect_ep [80];
    snprintf (connect_ep, sizeof connect_ep, ">%s", backend_ep);
    zactor_t **actors = (zactor_t **) zmalloc (sizeof (zactor_t *) * (size_t) workers);
    zframe_t **ids = (zframe_t **) zmalloc (sizeof (zframe_t *) * (size_t) workers);
    for (int i = 0; i < workers; i++)
        actors [i] = zactor_new (s_echo_worker, connect_ep);
    int known = 0;
    while (known < workers) {
        zmsg_t *msg = zmsg_recv (back);
        ids [known++] = zmsg_pop (msg);
        zmsg_destroy (&msg);
    }
    zsock_send (pipe, "s", zsock_endpoint (front));
    zpoller_t *poller = zpoller_new (pipe, front, back, NULL);
    int next = 0;
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe || !which)
            break;
        if (which == back) {
            while (zsock_events (back) & ZMQ_POLLIN) {
                zmsg_t *msg = zmsg_recv (back);
                zframe_t *worker = zmsg_pop (msg);
                zframe_destroy (&worker);
                zmsg_send (&msg, front);
            }
        }
        if (which == front && workers == 0) {
            while (zsock_events (front) & ZMQ_POLLIN) {
                zmsg_t *msg = zmsg_recv (front);
                zmsg_send (&msg, front);
            }
        }
        else
        if (which == front) {
            while (zsock_events (front) & ZMQ_POLLIN) {
                zmsg_t *msg = zmsg_recv (front);
                zmsg_prepend (msg, &(zframe_t *) {zframe_dup (ids [next])});
                next = (next + 1) % known;
                zmsg_send (&msg, back);
            }
        }
    }
    zpoller_destroy (&poller);
    for (int i = 0; i < workers; i++) {
        zactor_destroy (&actors [i]);
        zframe_destroy (&ids [i]);
    }
    free (actors);
    free (ids);
    zsock_destroy (&front);
    zsock_destroy (&back);
}

bench_echo_t *
bench_echo_new (int workers)
{
    char count [16];
    snprintf (count, sizeof count, "%d", workers);
    char exe [512] = "/proc/self/exe";
    ssize_t size = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (size > 0)
        exe [size] = 0;
    char *argv [] = {exe, (char *) "--echo-server", count, NULL};
    bench_echo_t *self = (bench_echo_t *) zmalloc (sizeof (bench_echo_t));
    int from;
    int rc = s_spawn_piped (argv, &self->pid, &self->stdin_fd, &from);
    if (rc < 0) {
        free (self);
        return NULL;
    }
    FILE *out = fdopen (from, "r");
    if (rc != 0 || !out || !fgets (self->endpoint, sizeof self->endpoint, out)) {
        fprintf (stderr, "bench: the echo server did not start\n");
        if (out)
            fclose (out);
        else
            close (from);
        close (self->stdin_fd);
        if (rc == 0)
            waitpid (self->pid, NULL, 0);
        free (self);
        return NULL;
    }
    fclose (out);
    self->endpoint [strcspn (self->endpoint, "\n")] = 0;
    return self;
}

void
bench_echo_destroy (bench_echo_t **self_p)
{
    if (*self_p) {
        close ((*self_p)->stdin_fd);
        waitpid ((*self_p)->pid, NULL, 0);
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
bench_echo_endpoint (bench_echo_t *self)
{
    return self->endpoint;
}

pid_t
bench_echo_pid (bench_echo_t *self)
{
    return self->pid;
}

int
bench_echo_server (int workers)
{
    zactor_t *actor = zactor_new (s_echo_front, &workers);
    char *endpoint = zstr_recv (actor);
    printf ("%s\n", endpoint);
    fflush (stdout);
    zstr_free (&endpoint);
    char buffer [64];
    while (read (0, buffer, sizeof buffer) > 0)
        ;
    zactor_destroy (&actor);
    return 0;
}

//  --- Spawning commands -----------------------------------------------------

bool
bench_spawn_capture (char *const argv [])
{
    int out [2];
    if (pipe2 (out, O_CLOEXEC) != 0)
        return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, out [1], 1);
    pid_t pid;
    int rc = posix_spawn (&pid, argv [0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    close (out [1]);
    char buffer [256];
    while (rc == 0 && read (out [0], buffer, sizeof buffer) > 0)
        ;
    close (out [0]);
    if (rc == 0)
        waitpid (pid, NULL, 0);
    return rc == 0;
}

struct bench_resident_t {
    pid_t pid;
    int to, from;
};

bench_resident_t *
bench_resident_new (void)
{
    char *argv [] = {
        "/usr/bin/bwrap", "--die-with-parent", "--new-session", "--unshare-all",
        "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc", "--",
        "/bin/sh", "-c", "while read line; do sh -c 'echo hi' >/dev/null; echo done; done", NULL
    };
    bench_resident_t *self = (bench_resident_t *) zmalloc (sizeof (bench_resident_t));
    int rc = s_spawn_piped (argv, &self->pid, &self->to, &self->from);
    if (rc != 0) {
        if (rc > 0) {
            close (self->to);
            close (self->from);
        }
        free (self);
        return NULL;
    }
    return self;
}

bool
bench_resident_run (bench_resident_t *self)
{
    char buffer [16];
    return write (self->to, "x\n", 2) == 2 && read (self->from, buffer, sizeof buffer) > 0;
}

void
bench_resident_destroy (bench_resident_t **self_p)
{
    if (*self_p) {
        close ((*self_p)->to);
        close ((*self_p)->from);
        waitpid ((*self_p)->pid, NULL, 0);
        free (*self_p);
        *self_p = NULL;
    }
}

//  --- Bare actors and bare PUB -----------------------------------------------

static void
s_idle_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    char *command = zstr_recv (pipe);
    zstr_free (&command);
}

bench_actors_t
bench_bare_actors (unsigned count)
{
    bench_actors_t result;
    long before = bench_rss_kib (getpid ());
    int64_t start = bench_now_us ();
    zactor_t **actors = (zactor_t **) zmalloc (sizeof (zactor_t *) * count);
    for (unsigned a = 0; a < count; a++)
        actors [a] = zactor_new (s_idle_actor, NULL);
    result.start_ms = (double) (bench_now_us () - start) / 1e3;
    result.rss_kib = bench_rss_kib (getpid ()) - before;
    start = bench_now_us ();
    for (unsigned a = 0; a < count; a++)
        zactor_destroy (&actors [a]);
    result.stop_ms = (double) (bench_now_us () - start) / 1e3;
    free (actors);
    return result;
}

//  A message past the subscription handshake, dropped by bench_sub_wait.
static void
s_pub_one (void *pub)
{
    zstr_sendm ((zsock_t *) pub, "session.activity");
    zstr_send ((zsock_t *) pub, "x");
}

double
bench_bare_pub_rate (const sbx_event_t *event, uint64_t total)
{
    zsock_t *pub = zsock_new (ZMQ_PUB);
    zsock_set_sndhwm (pub, 0);
    zsock_bind (pub, "tcp://127.0.0.1:*");
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (sub, 0);
    zsock_set_subscribe (sub, "");
    zsock_connect (sub, "%s", zsock_last_endpoint (pub));
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    sbx_event_t copy = *event;
    double rate = NAN;
    if (bench_sub_handshake (sub, s_pub_one, pub)) {
        int64_t start = bench_now_us ();
        for (uint64_t sent = 0; sent < total; sent++) {
            msgpack_sbuffer_clear (&body);
            copy.seq = sent + 1;
            sbx_event_encode (&copy, &body);
            zmq_send (zsock_resolve (pub), "session.activity", 16, ZMQ_SNDMORE);
            zmq_send (zsock_resolve (pub), body.data, body.size, 0);
        }
        if (bench_sub_wait (sub, total))
            rate = (double) total / ((double) (bench_now_us () - start) / 1e6);
    }
    msgpack_sbuffer_destroy (&body);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
    return rate;
}
