/*  bench_contain - see bench/contain.h */
#include "bench/contain.h"
#include "bench/clients.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

//  The containment limits the measures run with: every one for a command,
//  the cgroups (memory, pids, cpu) for a large pool.
#define S_CONTAINED "{\"memory_mb\": 512, \"processes\": 256, \"cpu\": 2, \"disk_mb\": 256}"
#define S_CGROUPS "{\"memory_mb\": 512, \"processes\": 256, \"cpu\": 2}"
//  The sandbox config of a shell under bwrap with `limits`.
#define S_BWRAP_LIMITS(limits) "\"isolation\": \"bwrap\", \"limits\": " limits
#define S_BARE_BWRAP "/usr/bin/bwrap", "--die-with-parent", "--new-session", "--unshare-all", \
    "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc", "--"

//  --- shell.run, contained and not ---------------------------------------------

//  A shell sandbox and the times of its runs and session cycles.
typedef struct {
    bench_clients_t *shell;
    bench_samples_t runs, cycles;
    bool failed;
} s_shell_t;

//  Stops its sandbox and frees its samples.
static void
s_shell_end (s_shell_t *self)
{
    bench_clients_destroy (&self->shell);
    bench_samples_free (&self->runs);
    bench_samples_free (&self->cycles);
}

static bool
s_request (s_shell_t *self, sbx_op_t op)
{
    sbx_request_t request = bench_clients_shell_request (self->shell, op);
    sbx_reply_t *reply = bench_request (bench_clients_dealer (self->shell, 0), &request, 30000);
    bool ok = reply && sbx_reply_is_ok (reply);
    sbx_reply_destroy (&reply);
    return ok;
}

//  Ten `shell.run echo hi`, then one session end (in the sandbox: kill,
//  empty, clean) with the next session's open.
static void
s_shell_round (s_shell_t *self)
{
    for (int k = 0; k < 10 && !self->failed; k++) {
        int64_t start = bench_now_us ();
        self->failed = !s_request (self, SBX_OP_CALL);
        bench_sample (&self->runs, (double) (bench_now_us () - start));
    }
    int64_t start = bench_now_us ();
    self->failed = self->failed || !s_request (self, SBX_OP_SESSION_END)
                || !bench_clients_open (self->shell);
    bench_sample (&self->cycles, (double) (bench_now_us () - start));
}

static void
s_shell_rows (void)
{
    s_shell_t contained = {.shell = bench_clients_shell (S_BWRAP_LIMITS (S_CONTAINED), false)};
    s_shell_t bare = {.shell = bench_clients_shell (S_BWRAP_LIMITS ("null"), false)};
    if (!contained.shell || !bare.shell) {
        fprintf (stderr, "bench: contain: a shell sandbox did not start\n");
        s_shell_end (&contained);
        s_shell_end (&bare);
        return;
    }
    int rounds = bench_quick () ? 10 : 50;
    for (int round = 0; round < rounds && !contained.failed && !bare.failed; round++) {
        s_shell_round (&contained);
        s_shell_round (&bare);
    }
    double run = bench_percentile (&contained.runs, 0.5), run_bare = bench_percentile (&bare.runs, 0.5);
    double cycle = bench_percentile (&contained.cycles, 0.5);
    double cycle_bare = bench_percentile (&bare.cycles, 0.5);
    bench_row ("us", run, run_bare, "<= 1.1x limits null", run <= 1.1 * run_bare,
               "shell.run echo hi, bwrap, every containment limit: p50");
    bench_row ("us", cycle, cycle_bare, NULL, false, "  session end + open (kill, empty, clean): p50");
    s_shell_end (&contained);
    s_shell_end (&bare);
}

//  --- N sandboxes -----------------------------------------------------------------

//  Starts `count` bare bwraps running `argv` at once, each with stdout
//  and stderr on /dev/null, into pids [count]. Returns how many started.
static unsigned
s_spawn_all (char **argv, pid_t *pids, unsigned count)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 2, "/dev/null", O_WRONLY, 0);
    unsigned started = 0;
    for (unsigned i = 0; i < count; i++)
        if (posix_spawn (&pids [i], argv [0], &actions, NULL, argv, environ) == 0)
            started++;
        else
            pids [i] = 0;
    posix_spawn_file_actions_destroy (&actions);
    return started;
}

static void
s_reap_all (pid_t *pids, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        if (pids [i] > 0)
            waitpid (pids [i], NULL, 0);
}

//  The floor of a start: `count` bare bwraps running `true`, started at
//  once, until the last has exited; ms.
static double
s_floor_start (unsigned count)
{
    static char *argv [] = {S_BARE_BWRAP, "/bin/true", NULL};
    pid_t *pids = (pid_t *) zmalloc (count * sizeof (pid_t));
    int64_t start = bench_now_us ();
    unsigned started = s_spawn_all (argv, pids, count);
    s_reap_all (pids, count);
    double ms = (double) (bench_now_us () - start) / 1e3;
    free (pids);
    return started == count ? ms : NAN;
}

//  Reads the start of a small file (a /proc entry) into `text`, NUL
//  terminated; the bytes read, or -1 when it cannot be opened or read.
static ssize_t
s_read_text (const char *path, char *text, size_t size)
{
    text [0] = 0;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read (fd, text, size - 1);
    close (fd);
    text [n > 0 ? n : 0] = 0;
    return n;
}

//  The floor of a shutdown: `count` bare bwraps running `sleep`, killed
//  at once, until the last has been reaped; ms. Each bwrap has a PID
//  namespace of its own: its sleep dies with it.
static double
s_floor_stop (unsigned count)
{
    static char *argv [] = {S_BARE_BWRAP, "/bin/sleep", "1000", NULL};
    pid_t *pids = (pid_t *) zmalloc (count * sizeof (pid_t));
    unsigned started = s_spawn_all (argv, pids, count);
    //  Up means the sleep runs: the bwrap has a child.
    int64_t deadline = bench_now_us () + 600 * 1000000LL;
    for (unsigned i = 0; i < count && bench_now_us () < deadline; i++) {
        char path [64], list [64] = "";
        snprintf (path, sizeof path, "/proc/%d/task/%d/children", (int) pids [i], (int) pids [i]);
        while (pids [i] > 0 && !list [0] && bench_now_us () < deadline) {
            s_read_text (path, list, sizeof list);
            if (!list [0])
                zclock_sleep (5);
        }
    }
    int64_t start = bench_now_us ();
    for (unsigned i = 0; i < count; i++)
        if (pids [i] > 0)
            kill (pids [i], SIGKILL);
    s_reap_all (pids, count);
    double ms = (double) (bench_now_us () - start) / 1e3;
    free (pids);
    return started == count ? ms : NAN;
}

//  PSS of `pid` in KiB (smaps_rollup), 0 when it cannot be read.
static long
s_pss_kib (pid_t pid)
{
    char path [64], text [4096];
    snprintf (path, sizeof path, "/proc/%d/smaps_rollup", (int) pid);
    if (s_read_text (path, text, sizeof text) < 0)
        return 0;
    const char *line = strstr (text, "\nPss:");
    return line ? atol (line + 5) : 0;
}

//  PSS of bwrap and sbx-init processes below `daemon` (KiB, summed).
static void
s_pss_below (pid_t daemon, long *bwrap, long *init)
{
    *bwrap = *init = 0;
    DIR *proc = opendir ("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir (proc))) {
        char path [300], text [512];
        snprintf (path, sizeof path, "/proc/%s/stat", entry->d_name);
        if (s_read_text (path, text, sizeof text) < 0)
            continue;
        char *paren = strrchr (text, ')');
        int ppid = 0;
        if (!paren || sscanf (paren + 2, "%*c %d", &ppid) != 1)
            continue;
        pid_t pid = (pid_t) atoi (entry->d_name);
        //  bwrap is sbxd's child; sbx-init is bwrap's.
        if (ppid == daemon && strstr (text, "(bwrap)"))
            *bwrap += s_pss_kib (pid);
        else
        if (strstr (text, "(sbx-init)")) {
            char parent [64], comm [64];
            snprintf (parent, sizeof parent, "/proc/%d/stat", ppid);
            s_read_text (parent, comm, sizeof comm);
            char *grand = strrchr (comm, ')');
            int grandparent = 0;
            if (grand && sscanf (grand + 2, "%*c %d", &grandparent) == 1 && grandparent == daemon)
                *init += s_pss_kib (pid);
        }
    }
    if (proc)
        closedir (proc);
}

//  Waits until the kernel is done with the namespaces of the last
//  measure (a network namespace is cleaned up by a kernel worker after
//  its last process is gone, and makes the next ones wait meanwhile):
//  one bare bwrap at a time, until three in a row take less than 1.5x
//  the fastest of them (30 s at most).
static void
s_settle (void)
{
    double fastest = INFINITY;
    int calm = 0;
    int64_t deadline = bench_now_us () + 30 * 1000000LL;
    while (calm < 3 && bench_now_us () < deadline) {
        double ms = s_floor_start (1);
        fastest = fmin (fastest, ms);
        calm = ms < 1.5 * fastest ? calm + 1 : 0;
    }
}

typedef struct {
    double ready_ms, stop_ms;
    int code;
    long bwrap, init, own;      //  PSS, KiB
} s_pool_t;

//  `count` bwrap sandboxes with cgroups: up, measured, down.
static bool
s_pool (unsigned count, s_pool_t *pool)
{
    //  SBX_BENCH_ROOT_DIR places the sandboxes' directories (e.g. on a
    //  tmpfs, to see what the file system's removals cost: sandboxes.md).
    const char *root = getenv ("SBX_BENCH_ROOT_DIR");
    char root_key [600] = "";
    if (root && *root)
        snprintf (root_key, sizeof root_key, ", \"root_dir\": \"%s\"", root);
    char config [2048];
    snprintf (config, sizeof config,
        "{\"environment\": {\"id\": \"bench\", \"pool\": {\"min\": %u, \"max\": %u},"
        " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null%s},"
        " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"bwrap\", \"limits\": %s},"
        " \"features\": {\"shell\": {\"kind\": \"shell\"}}, \"events\": {\"log\": null}}",
        count, count, root_key, S_CGROUPS);
    int64_t start = bench_now_us ();
    sbx_test_daemon_t *daemon = bench_daemon_start (config, 600000);
    pool->ready_ms = (double) (bench_now_us () - start) / 1e3;
    if (!daemon) {
        fprintf (stderr, "bench: contain: %u bwrap sandboxes did not come up\n", count);
        return false;
    }
    s_pss_below (daemon->pid, &pool->bwrap, &pool->init);
    pool->own = s_pss_kib (daemon->pid);
    start = bench_now_us ();
    pool->code = sbx_test_daemon_shutdown (daemon);
    pool->stop_ms = (double) (bench_now_us () - start) / 1e3;
    sbx_test_daemon_destroy (&daemon);
    return true;
}

static void
s_many_rows (void)
{
    //  The floors and sbxd take turns (the kernel's work on namespaces is
    //  most of both, and a shared machine's noise comes in waves); the
    //  best of each is kept.
    unsigned count = bench_quick () ? 200 : 1000;
    int turns = bench_quick () ? 1 : 2;
    double floor_start = INFINITY, floor_stop = INFINITY, stop = INFINITY;
    s_pool_t best = {INFINITY, INFINITY, 0, 0, 0, 0};
    for (int turn = 0; turn < turns; turn++) {
        s_settle ();
        floor_start = fmin (floor_start, s_floor_start (count));
        s_settle ();
        s_pool_t pool;
        if (!s_pool (count, &pool))
            return;
        if (pool.ready_ms < best.ready_ms)
            best = pool;
        stop = fmin (stop, pool.stop_ms);
        s_settle ();
        floor_stop = fmin (floor_stop, s_floor_stop (count));
    }
    bench_row ("ms", best.ready_ms, floor_start, "<= 1.1x bare bwraps", best.ready_ms <= 1.1 * floor_start,
               "%u bwrap sandboxes, cgroups (memory, pids, cpu): start to online", count);
    bench_row ("ms", stop, floor_stop, "<= 2000 ms", stop <= 2000,
               "%u bwrap sandboxes: shutdown (exit %d); floor: bare bwraps killed", count, best.code);
    double per = (double) (best.own + best.bwrap + best.init) / count;
    bench_row ("KiB", per, NAN, "< 512 KiB", per < 512, "%u bwrap sandboxes: PSS per sandbox", count);
    bench_row ("KiB", (double) best.bwrap / count, NAN, NULL, false, "  of it bwrap");
    bench_row ("KiB", (double) best.init / count, NAN, NULL, false, "  of it sbx-init");
    bench_row ("KiB", (double) best.own / count, NAN, NULL, false, "  of it sbxd's share");
}

void
bench_contain_run (void)
{
    printf ("\n12. containment (bwrap sandboxes with cgroups, quotas and a clean slate)\n");
    s_shell_rows ();
    s_many_rows ();
}
