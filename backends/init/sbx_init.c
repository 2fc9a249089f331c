/*  sbx-init - the init process of one process sandbox.

    sbxd (backends/process/channel.c) starts one per sandbox: directly with
    isolation "none", or as bubblewrap's command with isolation "bwrap",
    where the PID namespace dies with it. It spawns each command on request
    (protocol.h), in a new session, with the sandbox's resource limits,
    user and no_new_privs, and reports its exit status. It is a child
    subreaper, so whatever a command leaves behind (background jobs, double
    forks, setsid) stays below it and can be found and killed. When sbxd
    closes the control socket, or dies, it kills everything below it and
    exits.

    Usage: sbx-init --workspace DIR [--uid N --gid N] [--limit NAME=VALUE]...
      NAME: cpu (seconds), as (bytes), nofile, nproc, fsize (bytes).
    fd 3 is the control socket. Small on purpose: it spawns processes, sbxd
    never does.
*/
#include "protocol.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_CTL SBX_INIT_CONTROL_FD
#define S_KILL_PATIENCE_MS 5000
//  A request that has begun arrives whole by then (sbxd gives up sending
//  one after 10 s, and then never uses the channel again).
#define S_REQUEST_PATIENCE_MS 20000

typedef struct {
    int resource;
    const char *name;
    bool set;
    rlim_t value;
} s_limit_t;

static s_limit_t s_limits [] = {
    {RLIMIT_CPU, "cpu", false, 0},
    {RLIMIT_AS, "as", false, 0},
    {RLIMIT_NOFILE, "nofile", false, 0},
    {RLIMIT_NPROC, "nproc", false, 0},
    {RLIMIT_FSIZE, "fsize", false, 0},
};
#define S_LIMITS (sizeof s_limits / sizeof s_limits [0])

typedef struct {
    uint32_t id;
    pid_t pid;
} s_command_t;

static int s_workspace = -1;
static bool s_switch_user = false;
static uid_t s_uid;
static gid_t s_gid;
static s_command_t *s_commands;         //  running commands' main processes
static size_t s_command_count, s_command_capacity;

static void
s_fatal (const char *what)
{
    fprintf (stderr, "sbx-init: %s: %s\n", what, strerror (errno));
    exit (1);
}

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  --- Talking to sbxd -------------------------------------------------------

static void
s_send (uint32_t type, uint32_t id, int32_t value)
{
    sbx_init_msg_t msg = {type, id, value, 0};
    const char *p = (const char *) &msg;
    size_t left = sizeof msg;
    while (left) {
        ssize_t n = send (S_CTL, p, left, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;             //  sbxd is gone; EOF on read ends us
        p += n;
        left -= (size_t) n;
    }
}

//  Reads exactly `size` bytes by `deadline` (s_now_ms); collects passed
//  descriptors into fds [max]. Returns 0, or -1 on EOF, error or timeout.
static int
s_read_exact (void *buffer, size_t size, int *fds, int max, int *nfds, int64_t deadline)
{
    char *p = (char *) buffer;
    while (size) {
        union {
            char data [CMSG_SPACE (sizeof (int) * 4)];
            struct cmsghdr align;
        } control;
        struct iovec iov = {p, size};
        struct msghdr header = {0};
        header.msg_iov = &iov;
        header.msg_iovlen = 1;
        header.msg_control = control.data;
        header.msg_controllen = sizeof control.data;
        ssize_t n = recvmsg (S_CTL, &header, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - s_now_ms ();
            if (left <= 0) {
                fprintf (stderr, "sbx-init: a request stopped halfway for %d ms\n", S_REQUEST_PATIENCE_MS);
                return -1;
            }
            struct pollfd item = {S_CTL, POLLIN, 0};
            if (poll (&item, 1, (int) left) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        if (n <= 0)
            return -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR (&header); c; c = CMSG_NXTHDR (&header, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            int count = (int) ((c->cmsg_len - CMSG_LEN (0)) / sizeof (int));
            int *passed = (int *) CMSG_DATA (c);
            for (int i = 0; i < count; i++) {
                if (fds && *nfds < max)
                    fds [(*nfds)++] = passed [i];
                else
                    close (passed [i]);
            }
        }
        p += n;
        size -= (size_t) n;
    }
    return 0;
}

//  --- Processes ---------------------------------------------------------------

typedef struct {
    pid_t pid, ppid, pgrp, sid;
    char state;
    bool below;                 //  a descendant of sbx-init
    bool target;
} s_proc_t;

//  Reads /proc/<pid>/stat into *proc; false when it is gone.
static bool
s_read_stat (pid_t pid, s_proc_t *proc)
{
    char path [64], text [512];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read (fd, text, sizeof text - 1);
    close (fd);
    if (n <= 0)
        return false;
    text [n] = 0;
    //  "pid (comm) state ppid pgrp session ..."; comm may hold anything.
    char *close_paren = strrchr (text, ')');
    int ppid, pgrp, sid;
    memset (proc, 0, sizeof *proc);
    proc->pid = pid;
    if (!close_paren || sscanf (close_paren + 1, " %c %d %d %d", &proc->state, &ppid, &pgrp, &sid) != 4)
        return false;
    proc->ppid = ppid;
    proc->pgrp = pgrp;
    proc->sid = sid;
    return true;
}

typedef struct {
    s_proc_t *items;
    size_t count, capacity;
} s_procs_t;

static void
s_procs_add (s_procs_t *procs, const s_proc_t *proc)
{
    if (procs->count == procs->capacity) {
        procs->capacity = procs->capacity ? procs->capacity * 2 : 64;
        procs->items = (s_proc_t *) realloc (procs->items, procs->capacity * sizeof (s_proc_t));
        if (!procs->items)
            s_fatal ("out of memory");
    }
    procs->items [procs->count++] = *proc;
}

//  Appends the children of every thread of `pid`. False when the kernel
//  has no /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN).
static bool
s_add_children (s_procs_t *procs, pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *tasks = opendir (path);
    if (!tasks)
        return true;            //  gone meanwhile
    bool supported = true;
    struct dirent *task;
    while ((task = readdir (tasks))) {
        if (task->d_name [0] < '0' || task->d_name [0] > '9')
            continue;
        char list [4096];
        snprintf (path, sizeof path, "/proc/%d/task/%.16s/children", (int) pid, task->d_name);
        int fd = open (path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT && pid == getpid ())
                supported = false;
            continue;
        }
        //  "pid pid ... " - a long list takes several reads; a pid cut at
        //  the end of one is carried over to the next.
        size_t kept = 0;
        ssize_t n;
        while ((n = read (fd, list + kept, sizeof list - 1 - kept)) > 0) {
            list [kept + (size_t) n] = 0;
            char *p = list, *space;
            while ((space = strchr (p, ' '))) {
                *space = 0;
                s_proc_t proc;
                long child = atol (p);
                if (child > 0 && s_read_stat ((pid_t) child, &proc)) {
                    proc.below = true;
                    s_procs_add (procs, &proc);
                }
                p = space + 1;
            }
            kept = strlen (p);
            memmove (list, p, kept);
        }
        close (fd);
    }
    closedir (tasks);
    return supported;
}

//  Every process below sbx-init, marked `below`, found by walking the
//  children lists from sbx-init down (so the cost follows the sandbox's
//  processes, not the host's); without children lists, every process of
//  /proc, then marked. Caller frees. Returns the count.
static size_t
s_scan (s_proc_t **procs_p)
{
    s_procs_t procs = {NULL, 0, 0};
    if (s_add_children (&procs, getpid ())) {
        for (size_t i = 0; i < procs.count && procs.count < 1000000; i++)
            s_add_children (&procs, procs.items [i].pid);
    }
    else {
        DIR *dir = opendir ("/proc");
        struct dirent *entry;
        while (dir && (entry = readdir (dir))) {
            char *end;
            long pid = strtol (entry->d_name, &end, 10);
            s_proc_t proc;
            if (!*end && pid > 0 && s_read_stat ((pid_t) pid, &proc))
                s_procs_add (&procs, &proc);
        }
        if (dir)
            closedir (dir);
    }
    *procs_p = procs.items;
    return procs.count;
}

static int
s_by_pid (const void *a, const void *b)
{
    pid_t x = ((const s_proc_t *) a)->pid, y = ((const s_proc_t *) b)->pid;
    return (x > y) - (x < y);
}

//  The process `pid` in `procs` (sorted by pid), or NULL.
static s_proc_t *
s_find (s_proc_t *procs, size_t count, pid_t pid)
{
    s_proc_t key = {0};
    key.pid = pid;
    if (count == 0)
        return NULL;
    return (s_proc_t *) bsearch (&key, procs, count, sizeof (s_proc_t), s_by_pid);
}

//  Sorts `procs` by pid and marks `below` every process whose parent chain
//  reaches `root`.
static void
s_mark_descendants (s_proc_t *procs, size_t count, pid_t root)
{
    if (count == 0)
        return;
    qsort (procs, count, sizeof (s_proc_t), s_by_pid);
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < count; i++) {
            if (procs [i].below)
                continue;
            s_proc_t *parent = s_find (procs, count, procs [i].ppid);
            if (procs [i].ppid == root || (parent && parent->below))
                procs [i].below = changed = true;
        }
    }
}

//  Marks `target` the process `root` and everything below it (among the
//  processes already marked `below`).
static void
s_mark_targets_below (s_proc_t *procs, size_t count, pid_t root)
{
    s_proc_t *top = s_find (procs, count, root);
    if (top && top->below)
        top->target = true;
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < count; i++) {
            if (procs [i].target || !procs [i].below)
                continue;
            s_proc_t *parent = s_find (procs, count, procs [i].ppid);
            if (parent && parent->target)
                procs [i].target = changed = true;
        }
    }
}

//  Remembered sessions and process groups of what a KILL has hit.
typedef struct {
    pid_t ids [256];
    size_t count;
} s_idset_t;

static bool
s_idset_has (const s_idset_t *set, pid_t id)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->ids [i] == id)
            return true;
    return false;
}

static void
s_idset_add (s_idset_t *set, pid_t id)
{
    if (id > 0 && id != getpid () && id != getsid (0) && id != getpgrp ()
    &&  !s_idset_has (set, id) && set->count < sizeof set->ids / sizeof set->ids [0])
        set->ids [set->count++] = id;
}

static void s_reap (void);

//  SIGKILLs, until none is left, every process below sbx-init (root <= 0)
//  or the tree of command `root` (see protocol.h: KILL). Returns how many
//  were killed, or -1 when some survived S_KILL_PATIENCE_MS.
static int
s_kill (pid_t root)
{
    s_idset_t groups = {{0}, 0};
    if (root > 0)
        s_idset_add (&groups, root);
    int killed = 0;
    int64_t give_up = s_now_ms () + S_KILL_PATIENCE_MS;
    for (unsigned pass = 0; ; pass++) {
        s_proc_t *procs;
        size_t count = s_scan (&procs);
        s_mark_descendants (procs, count, getpid ());
        if (root > 0)
            s_mark_targets_below (procs, count, root);
        size_t targets = 0;
        for (size_t i = 0; i < count; i++) {
            s_proc_t *p = &procs [i];
            if (!p->below || p->state == 'Z' || p->state == 'X')
                continue;
            if (root > 0 && !p->target && !s_idset_has (&groups, p->sid)
            &&  !s_idset_has (&groups, p->pgrp))
                continue;
            if (root > 0) {
                s_idset_add (&groups, p->sid);
                s_idset_add (&groups, p->pgrp);
            }
            if (kill (p->pid, SIGKILL) == 0)
                killed++;
            targets++;
        }
        free (procs);
        s_reap ();
        if (targets == 0)
            return killed;
        if (s_now_ms () > give_up)
            return -1;
        //  SIGKILL is delivered asynchronously; let the dying run.
        if (pass > 0) {
            struct timespec pause = {0, 1000000};
            nanosleep (&pause, NULL);
        }
    }
}

static void
s_reap (void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < s_command_count; i++) {
            if (s_commands [i].pid != pid)
                continue;
            s_send (SBX_INIT_EXITED, s_commands [i].id, status);
            s_commands [i] = s_commands [--s_command_count];
            break;
        }
    }
}

//  --- Running a command -------------------------------------------------------

//  A command starts with clone (CLONE_VM | CLONE_VFORK), as posix_spawn
//  does: the child borrows our memory and we sleep until it has exec'd or
//  failed, so there are no page tables to copy and no pipe to learn the
//  outcome through. fork here took four times as long (fork, then its
//  copy-on-write faults before exec).
typedef struct {
    int cwd;
    const int *fds;
    char **argv, **env;
    int error;                  //  set by the child when it did not exec
} s_spawn_t;

static char s_child_stack [64 * 1024] __attribute__ ((aligned (16)));

//  The 32-bit id calls where the plain ones take 16-bit ids (i386, arm).
#ifdef SYS_setuid32
#   define S_SYS_SETUID SYS_setuid32
#   define S_SYS_SETGID SYS_setgid32
#   define S_SYS_SETGROUPS SYS_setgroups32
#else
#   define S_SYS_SETUID SYS_setuid
#   define S_SYS_SETGID SYS_setgid
#   define S_SYS_SETGROUPS SYS_setgroups
#endif

//  The child: it shares our memory, so it calls only plain system-call
//  wrappers (the ids through raw syscalls, which bypass glibc's
//  all-threads set*id machinery) and reports failure in `spawn->error`.
static int
s_child (void *arg)
{
    s_spawn_t *spawn = (s_spawn_t *) arg;
    setsid ();
    for (int i = 0; i < 3; i++)
        if (dup2 (spawn->fds [i], i) < 0)
            goto failed;
    if (fchdir (spawn->cwd) != 0)
        goto failed;
    for (size_t i = 0; i < S_LIMITS; i++) {
        if (!s_limits [i].set)
            continue;
        struct rlimit limit = {s_limits [i].value, s_limits [i].value};
        if (setrlimit (s_limits [i].resource, &limit) != 0)
            goto failed;
    }
    if (s_switch_user) {
        if (syscall (S_SYS_SETGROUPS, 0, NULL) != 0 || syscall (S_SYS_SETGID, s_gid) != 0
        ||  syscall (S_SYS_SETUID, s_uid) != 0)
            goto failed;
    }
    if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        goto failed;
    //  Every other disposition is the default since main; exec keeps an
    //  ignored signal ignored, so SIGPIPE goes back too.
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigaction (SIGPIPE, &action, NULL);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    umask (022);
    //  Nothing of ours may reach the command.
    syscall (SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
    execve (spawn->argv [0], spawn->argv, spawn->env);
failed:
    spawn->error = errno;
    _exit (127);
}

//  Starts the command; returns its pid, or -errno when clone failed, or
//  -(SBX_INIT_EXEC_FAILED | errno) when the command did not start.
static pid_t
s_spawn (s_spawn_t *spawn)
{
    //  No handler of ours may run in the child while it shares our memory:
//  every signal is blocked around clone, and sbx-init installs no
//  handler at all (SIGCHLD comes through a signalfd, SIGPIPE is ignored),
//  so the child, which unblocks them all before exec, cannot run one.
//  Keep it so: a handler added here must be reset in s_child.
    sigset_t all, old;
    sigfillset (&all);
    sigprocmask (SIG_SETMASK, &all, &old);
    spawn->error = 0;
    pid_t pid = clone (s_child, s_child_stack + sizeof s_child_stack,
                       CLONE_VM | CLONE_VFORK | SIGCHLD, spawn);
    int error = errno;
    sigprocmask (SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return -error;
    if (spawn->error) {
        //  It never ran, and it is past its _exit: reap it now if it is
        //  done, else s_reap will at its SIGCHLD. Either way no EXITED
        //  follows: it is not in s_commands.
        waitpid (pid, NULL, WNOHANG);
        return -(SBX_INIT_EXEC_FAILED | spawn->error);
    }
    return pid;
}

//  SIGNAL: `sig` to running command `pid` (its group while it leads one).
static void
s_signal (pid_t pid, const char *payload, uint32_t length)
{
    int32_t sig;
    if (length != sizeof sig)
        return;
    memcpy (&sig, payload, sizeof sig);
    for (size_t i = 0; i < s_command_count; i++) {
        if (s_commands [i].pid != pid)
            continue;
        if (getpgid (pid) != pid || kill (-pid, sig) != 0)
            kill (pid, sig);
        return;
    }
}

static void
s_run (uint32_t id, char *payload, uint32_t length, int *fds, int nfds)
{
    char **argv = NULL, **env = NULL, **strings = NULL;
    int cwd = -1;
    int32_t result = -EINVAL;
    uint32_t argc, envc;
    if (nfds != 3 || length < 8)
        goto done;
    memcpy (&argc, payload, 4);
    memcpy (&envc, payload + 4, 4);
    if (argc == 0 || argc > length || envc > length)
        goto done;
    argv = (char **) calloc (argc + 1, sizeof (char *));
    env = (char **) calloc (envc + 1, sizeof (char *));
    char *p = payload + 8, *end = payload + length;
    strings = (char **) calloc ((size_t) argc + envc + 1, sizeof (char *));
    if (!argv || !env || !strings)
        goto done;
    for (uint32_t i = 0; i < 1 + argc + envc; i++) {
        char *nul = p < end ? (char *) memchr (p, 0, (size_t) (end - p)) : NULL;
        if (!nul)
            goto done;
        strings [i] = p;
        p = nul + 1;
    }
    for (uint32_t i = 0; i < argc; i++)
        argv [i] = strings [1 + i];
    for (uint32_t i = 0; i < envc; i++)
        env [i] = strings [1 + argc + i];

    struct open_how how = {0};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    cwd = (int) syscall (SYS_openat2, s_workspace, *strings [0] ? strings [0] : ".", &how, sizeof how);
    if (cwd < 0) {
        result = -errno;
        goto done;
    }
    s_spawn_t spawn = {cwd, fds, argv, env, 0};
    pid_t pid = s_spawn (&spawn);
    if (pid < 0) {
        result = pid;
        goto done;
    }
    if (s_command_count == s_command_capacity) {
        s_command_capacity = s_command_capacity ? s_command_capacity * 2 : 8;
        s_commands = (s_command_t *) realloc (s_commands, s_command_capacity * sizeof (s_command_t));
        if (!s_commands)
            s_fatal ("out of memory");
    }
    s_commands [s_command_count++] = (s_command_t) {id, pid};
    result = pid;
done:
    s_send (SBX_INIT_STARTED, id, result);
    for (int i = 0; i < nfds; i++)
        close (fds [i]);
    if (cwd >= 0)
        close (cwd);
    free (argv);
    free (env);
    free (strings);
}

//  Handles one request; false on EOF (or a request cut short).
static bool
s_handle_control (void)
{
    sbx_init_msg_t msg;
    int fds [4], nfds = 0;
    int64_t deadline = s_now_ms () + S_REQUEST_PATIENCE_MS;
    if (s_read_exact (&msg, sizeof msg, fds, 4, &nfds, deadline) != 0)
        return false;
    char *payload = NULL;
    if (msg.length > SBX_INIT_MAX_PAYLOAD) {
        fprintf (stderr, "sbx-init: payload of %u bytes refused\n", msg.length);
        return false;
    }
    if (msg.length) {
        payload = (char *) malloc (msg.length);
        if (!payload || s_read_exact (payload, msg.length, fds, 4, &nfds, deadline) != 0) {
            free (payload);
            return false;
        }
    }
    switch (msg.type) {
        case SBX_INIT_SIGNAL:
            s_signal (msg.value, payload, msg.length);
            break;
        case SBX_INIT_RUN:
            s_run (msg.id, payload, msg.length, fds, nfds);
            nfds = 0;
            break;
        case SBX_INIT_KILL:
            s_send (SBX_INIT_KILLED, msg.id, s_kill (msg.value > 0 ? msg.value : -1));
            break;
        case SBX_INIT_KILL_ALL:
            s_send (SBX_INIT_KILLED_ALL, msg.id, s_kill (0));
            break;
        default:
            fprintf (stderr, "sbx-init: unknown request %u ignored\n", msg.type);
            break;
    }
    for (int i = 0; i < nfds; i++)
        close (fds [i]);
    free (payload);
    return true;
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: sbx-init --workspace DIR [--uid N --gid N] [--limit NAME=VALUE]...\n"
                     "(started by sbxd for each process sandbox; fd 3 is its control socket)\n");
    exit (2);
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        {"workspace", required_argument, NULL, 'w'},
        {"uid", required_argument, NULL, 'u'},
        {"gid", required_argument, NULL, 'g'},
        {"limit", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0}
    };
    const char *workspace = NULL;
    bool has_uid = false, has_gid = false;
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
            case 'w':
                workspace = optarg;
                break;
            case 'u':
                s_uid = (uid_t) strtoul (optarg, &end, 10);
                has_uid = !*end;
                break;
            case 'g':
                s_gid = (gid_t) strtoul (optarg, &end, 10);
                has_gid = !*end;
                break;
            case 'l': {
                char *eq = strchr (optarg, '=');
                size_t i = 0;
                for (; eq && i < S_LIMITS; i++)
                    if (strlen (s_limits [i].name) == (size_t) (eq - optarg)
                    &&  strncmp (s_limits [i].name, optarg, (size_t) (eq - optarg)) == 0)
                        break;
                if (!eq || i == S_LIMITS)
                    s_usage ();
                s_limits [i].value = (rlim_t) strtoull (eq + 1, &end, 10);
                if (*end)
                    s_usage ();
                s_limits [i].set = true;
                break;
            }
            default:
                s_usage ();
        }
    }
    if (!workspace || optind != argc || has_uid != has_gid)
        s_usage ();
    s_switch_user = has_uid;

    if (fcntl (S_CTL, F_SETFD, FD_CLOEXEC) != 0)
        s_fatal ("control socket (fd 3)");
    //  sbxd reads our stderr only when we fail: never block on it.
    fcntl (2, F_SETFL, fcntl (2, F_GETFL) | O_NONBLOCK);
    s_workspace = open (workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s_workspace < 0)
        s_fatal (workspace);
    if (prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        s_fatal ("PR_SET_CHILD_SUBREAPER");
    //  Commands start with default dispositions (s_child): reset whatever
    //  we inherited, once, then ignore SIGPIPE for ourselves.
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction (sig, &action, NULL);
    signal (SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset (&chld);
    sigaddset (&chld, SIGCHLD);
    sigprocmask (SIG_BLOCK, &chld, NULL);
    int children = signalfd (-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (children < 0)
        s_fatal ("signalfd");

    s_send (SBX_INIT_READY, 0, (int32_t) getpid ());
    while (true) {
        struct pollfd items [2] = {{S_CTL, POLLIN, 0}, {children, POLLIN, 0}};
        if (poll (items, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            s_fatal ("poll");
        }
        if (items [1].revents & POLLIN) {
            struct signalfd_siginfo info;
            while (read (children, &info, sizeof info) == sizeof info)
                ;
            s_reap ();
        }
        if (items [0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!s_handle_control ())
                break;
        }
    }
    //  sbxd is gone or done with us.
    s_kill (0);
    free (s_commands);
    close (children);
    close (s_workspace);
    return 0;
}
