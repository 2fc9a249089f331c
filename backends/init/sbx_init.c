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

    Usage: sbx-init [--join=FD]... --workspace DIR [--uid N --gid N]
                    [--limit NAME=VALUE]... [--umask OCTAL] [--clean DIR]...
                    [--clean-mqueue]
           sbx-init [--join=FD]... --exec PROGRAM [ARG]...
      NAME: cpu (seconds), as (bytes), nofile, nproc, fsize (bytes).
    fd 3 is the control socket. --join writes "0" to FD, an open
    cgroup.procs of the sandbox's group (backends/process/cgroup.h), so
    that this process, and everything it starts, is in the group before
    anything runs; with --exec it then becomes PROGRAM (bubblewrap, whose
    command is sbx-init again), so that bwrap is in the group too. --clean
    and --clean-mqueue say what the CLEAN request cleans (clean.h). With
    --oom-score-adj commands get N (1000: the OOM killer takes them
    first), and sbx-init (and bwrap, with --exec) asks to be spared.
    Small on purpose: it spawns processes, sbxd never does.
*/
#include "protocol.h"
#include "clean.h"
#include "kill.h"

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
static mode_t s_umask = 022;            //  of every command
static bool s_oom_set = false;          //  commands get s_command_oom ...
static char s_command_oom [16];         //  ... as their oom_score_adj
static sbx_init_clean_t s_clean_what;   //  what CLEAN cleans
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

//  Collects every child that exited; a command's main process is reported.
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
    //  Before the user changes: /proc/self is root's afterwards.
    if (s_oom_set) {
        int oom = open ("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (oom < 0 || write (oom, s_command_oom, strlen (s_command_oom)) < 0)
            goto failed;
        close (oom);
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
    umask (s_umask);
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
    //  Before STARTED: once sbxd hears it, the command must be the only
    //  holder of its pipes' ends, so that a stdin it closes is closed
    //  (EPIPE for sbxd's next write) and its exit is the output's EOF.
    for (int i = 0; i < nfds; i++)
        close (fds [i]);
    s_send (SBX_INIT_STARTED, id, result);
    if (cwd >= 0)
        close (cwd);
    free (argv);
    free (env);
    free (strings);
}

//  CLEAN (protocol.h): counts what the sandbox's user left, and when
//  there is anything (or queues to look at), removes it in a child that
//  becomes that user. Runs while no command does, so waiting is fine.
static int32_t
s_clean (void)
{
    uid_t uid = s_switch_user ? s_uid : getuid ();
    if (!s_clean_what.mqueue && sbx_init_clean_scan (&s_clean_what, uid) == 0)
        return 0;
    pid_t pid = fork ();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int failures = sbx_init_clean_queues (&s_clean_what, uid);
        if (s_switch_user && (syscall (S_SYS_SETGROUPS, 0, NULL) != 0 || syscall (S_SYS_SETGID, s_gid) != 0
                          ||  syscall (S_SYS_SETUID, s_uid) != 0)) {
            fprintf (stderr, "sbx-init: cannot become uid %u to clean: %s\n", (unsigned) s_uid, strerror (errno));
            _exit (1);
        }
        failures += sbx_init_clean_remove (&s_clean_what, uid);
        _exit (failures ? 1 : 0);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : 1;
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
            s_send (SBX_INIT_KILLED, msg.id, sbx_init_kill (msg.value > 0 ? msg.value : -1, s_reap));
            break;
        case SBX_INIT_KILL_ALL:
            s_send (SBX_INIT_KILLED_ALL, msg.id, sbx_init_kill (0, s_reap));
            break;
        case SBX_INIT_CLEAN:
            s_send (SBX_INIT_CLEANED, msg.id, s_clean ());
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
    fprintf (stderr, "usage: sbx-init [--join=FD]... --workspace DIR [--uid N --gid N] [--limit NAME=VALUE]...\n"
                     "                [--umask OCTAL] [--clean DIR]... [--clean-mqueue] [--oom-score-adj N]\n"
                     "       sbx-init [--join=FD]... --exec PROGRAM [ARG]...\n"
                     "(started by sbxd for each process sandbox; fd 3 is its control socket)\n");
    exit (2);
}

//  Keeps the OOM killer away from this process (and what it becomes:
//  bwrap, sbx-init): in a sandbox's full memory cgroup it would otherwise
//  pick them once the commands are dead. Needs CAP_SYS_RESOURCE; without
//  it nothing changes.
static void
s_protect (void)
{
    int fd = open ("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    //  Not privileged: the kernel's choice stands.
    if (fd >= 0 && write (fd, "-1000", 5) < 0)
        errno = 0;
    if (fd >= 0)
        close (fd);
}

//  The --join=FD and --exec arguments that come first (see the top);
//  returns the index of the first other argument. Does not return after
//  --exec.
static int
s_join_and_exec (int argc, char *argv [])
{
    int index = 1;
    for (; index < argc && strncmp (argv [index], "--join=", 7) == 0; index++) {
        char *end;
        long fd = strtol (argv [index] + 7, &end, 10);
        if (*end || fd < 3 || fd == S_CTL)
            s_usage ();
        if (write ((int) fd, "0", 1) != 1)
            s_fatal ("cannot join the sandbox's cgroup");
        close ((int) fd);
    }
    if (index < argc && strcmp (argv [index], "--exec") == 0) {
        if (index + 1 >= argc)
            s_usage ();
        s_protect ();
        execv (argv [index + 1], argv + index + 1);
        s_fatal (argv [index + 1]);
    }
    return index;
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        {"workspace", required_argument, NULL, 'w'},
        {"uid", required_argument, NULL, 'u'},
        {"gid", required_argument, NULL, 'g'},
        {"limit", required_argument, NULL, 'l'},
        {"umask", required_argument, NULL, 'm'},
        {"clean", required_argument, NULL, 'c'},
        {"clean-mqueue", no_argument, NULL, 'q'},
        {"oom-score-adj", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}
    };
    int first = s_join_and_exec (argc, argv);
    argv [first - 1] = argv [0];
    argc -= first - 1;
    argv += first - 1;
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
            case 'm':
                s_umask = (mode_t) strtoul (optarg, &end, 8);
                if (*end || s_umask > 0777)
                    s_usage ();
                break;
            case 'c':
                if (s_clean_what.count == sizeof s_clean_what.dirs / sizeof s_clean_what.dirs [0]
                ||  optarg [0] != '/')
                    s_usage ();
                s_clean_what.dirs [s_clean_what.count++] = optarg;
                break;
            case 'q':
                s_clean_what.mqueue = true;
                break;
            case 'o': {
                long value = strtol (optarg, &end, 10);
                if (*end || value < -1000 || value > 1000)
                    s_usage ();
                snprintf (s_command_oom, sizeof s_command_oom, "%ld", value);
                s_oom_set = true;
                break;
            }
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
    if (s_oom_set)
        s_protect ();
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
    sbx_init_kill (0, s_reap);
    free (s_commands);
    close (children);
    close (s_workspace);
    return 0;
}
