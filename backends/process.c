/*  The process sandbox kind - see process.h and docs/sandboxes.md */
#include "backends/process.h"
#include "backends/init/protocol.h"
#include "runtime/core/log.h"

#include <czmq.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define S_ERROR "ConfigError"
#define S_READY_TIMEOUT_MS 10000    //  sbx-init (and bwrap) up and running
#define S_REPLY_TIMEOUT_MS 10000    //  STARTED after RUN
#define S_KILL_TIMEOUT_MS 30000     //  KILLED / KILLED_ALL
#define S_EXIT_TIMEOUT_MS 10000     //  sbx-init gone after EOF
#define S_CHUNK (64 * 1024)
#define S_REMOVE_DEPTH 64           //  deeper trees are flattened, not followed
#define S_WORKSPACE "/workspace"

extern char **environ;

//  --- Configuration -----------------------------------------------------------

typedef enum {
    S_LIMIT_CPU, S_LIMIT_AS, S_LIMIT_NOFILE, S_LIMIT_NPROC, S_LIMIT_FSIZE, S_LIMITS
} s_limit_t;

static const struct {
    const char *option;         //  in the config
    const char *init_name;      //  on sbx-init's command line
    int64_t unit;               //  bytes per option unit
    int64_t fallback;           //  default; -1: inherit
    int64_t min, max;
} s_limit_info [S_LIMITS] = {
    {"cpu_s", "cpu", 1, 600, 1, 31536000},
    {"address_space_mb", "as", 1024 * 1024, 8192, 64, 16 * 1024 * 1024},
    {"open_files", "nofile", 1, 1024, 16, 1048576},
    {"processes", "nproc", 1, 256, 1, 4194304},
    {"file_size_mb", "fsize", 1024 * 1024, 1024, 1, 16 * 1024 * 1024},
};

typedef enum {
    S_ISOLATION_NONE, S_ISOLATION_BWRAP
} s_isolation_t;

typedef struct {
    s_isolation_t isolation;
    int64_t limits [S_LIMITS];  //  in option units; -1: inherit
    bool users;                 //  a uid of its own per sandbox
    uint32_t uid_base, uid_count;
    char *lock_dir;
    char *bwrap;
    char *init_path;
} s_config_t;

static void
s_config_destroy (void **config_p)
{
    s_config_t *config = (s_config_t *) *config_p;
    if (!config)
        return;
    free (config->lock_dir);
    free (config->bwrap);
    free (config->init_path);
    free (config);
    *config_p = NULL;
}

//  A growing argument vector of owned strings.
typedef struct {
    char **items;
    size_t count, capacity;
} s_argv_t;

static void
s_argv_add (s_argv_t *self, const char *format, ...)
{
    if (self->count + 2 > self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 64;
        self->items = (char **) realloc (self->items, self->capacity * sizeof (char *));
        assert (self->items);
    }
    va_list args;
    va_start (args, format);
    char *item = zsys_vprintf (format, args);
    va_end (args);
    assert (item);
    self->items [self->count++] = item;
    self->items [self->count] = NULL;
}

static void
s_argv_free (s_argv_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        free (self->items [i]);
    free (self->items);
    memset (self, 0, sizeof *self);
}

static bool
s_under (const char *path, const char *dir)
{
    size_t length = strlen (dir);
    while (length > 1 && dir [length - 1] == '/')
        length--;
    return strncmp (path, dir, length) == 0 && (path [length] == '/' || path [length] == 0);
}

//  The bubblewrap command line that runs `command` with `dir` as its
//  /workspace. `root_dir` (may be NULL) is hidden inside, so a sandbox
//  never sees the others.
static void
s_bwrap_argv (const s_config_t *config, const char *dir, const char *root_dir, s_argv_t *argv)
{
    bool root = geteuid () == 0;
    s_argv_add (argv, "%s", config->bwrap);
    s_argv_add (argv, "--die-with-parent");
    s_argv_add (argv, "--new-session");
    s_argv_add (argv, "--unshare-pid");
    //  sbx-init is the namespace's pid 1 and bwrap's only child, which
    //  bwrap reaps before it exits (its own pid-1 reaper would be left
    //  behind as a zombie for sbxd's parent to collect).
    s_argv_add (argv, "--as-pid-1");
    s_argv_add (argv, "--unshare-ipc");
    s_argv_add (argv, "--unshare-uts");
    s_argv_add (argv, "--unshare-net");
    s_argv_add (argv, "--unshare-cgroup-try");
    if (!root)
        s_argv_add (argv, "--unshare-user");
    //  The host's root, read-only, entry by entry: the new root stays
    //  bwrap's own tmpfs, so /workspace can be created in it, and it is
    //  made read-only at the end.
    DIR *top = opendir ("/");
    struct dirent *entry;
    while (top && (entry = readdir (top))) {
        const char *name = entry->d_name;
        if (streq (name, ".") || streq (name, "..") || streq (name, "proc") || streq (name, "dev")
        ||  streq (name, "tmp") || streq (name, &S_WORKSPACE [1]) || streq (name, "lost+found"))
            continue;
        struct stat st;
        if (fstatat (dirfd (top), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISLNK (st.st_mode)) {
            char target [PATH_MAX];
            ssize_t n = readlinkat (dirfd (top), name, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target [n] = 0;
            s_argv_add (argv, "--symlink");
            s_argv_add (argv, "%s", target);
            s_argv_add (argv, "/%s", name);
        }
        else
        if (S_ISDIR (st.st_mode) || S_ISREG (st.st_mode)) {
            s_argv_add (argv, "--ro-bind");
            s_argv_add (argv, "/%s", name);
            s_argv_add (argv, "/%s", name);
        }
    }
    if (top)
        closedir (top);
    s_argv_add (argv, "--perms");
    s_argv_add (argv, "1777");
    s_argv_add (argv, "--tmpfs");
    s_argv_add (argv, "/tmp");
    s_argv_add (argv, "--dev");
    s_argv_add (argv, "/dev");
    s_argv_add (argv, "--proc");
    s_argv_add (argv, "/proc");
    if (root_dir && !s_under (root_dir, "/tmp") && !streq (root_dir, "/")) {
        s_argv_add (argv, "--tmpfs");
        s_argv_add (argv, "%s", root_dir);
    }
    s_argv_add (argv, "--bind");
    s_argv_add (argv, "%s", dir);
    s_argv_add (argv, S_WORKSPACE);
    //  sbx-init itself, wherever it lives (it may sit under a hidden path).
    s_argv_add (argv, "--ro-bind");
    s_argv_add (argv, "%s", config->init_path);
    s_argv_add (argv, "%s", config->init_path);
    s_argv_add (argv, "--remount-ro");
    s_argv_add (argv, "/");
    s_argv_add (argv, "--chdir");
    s_argv_add (argv, S_WORKSPACE);
    s_argv_add (argv, "--hostname");
    s_argv_add (argv, "sbx");
    if (root) {
        //  sbx-init keeps what it needs to start commands as the
        //  sandbox's user and to kill them; the commands keep nothing.
        s_argv_add (argv, "--cap-drop");
        s_argv_add (argv, "ALL");
        if (config->users) {
            static const char *const caps [] = {
                "CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_READ_SEARCH", NULL
            };
            for (size_t i = 0; caps [i]; i++) {
                s_argv_add (argv, "--cap-add");
                s_argv_add (argv, "%s", caps [i]);
            }
        }
    }
    s_argv_add (argv, "--");
}

//  Empty signal mask and default dispositions for a child of sbxd (whose
//  threads block SIGINT and SIGTERM).
static void
s_spawn_attr (posix_spawnattr_t *attr)
{
    posix_spawnattr_init (attr);
    sigset_t none, all;
    sigemptyset (&none);
    sigfillset (&all);
    sigdelset (&all, SIGKILL);
    sigdelset (&all, SIGSTOP);
    posix_spawnattr_setsigmask (attr, &none);
    posix_spawnattr_setsigdefault (attr, &all);
    posix_spawnattr_setflags (attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
}

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  Waits up to timeout_ms for child `pid` to exit; returns its wait status,
//  or -1 on timeout (the child is left running).
static int
s_wait_child (pid_t pid, int timeout_ms)
{
    int status = 0;
    int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) {
        struct pollfd item = {pidfd, POLLIN, 0};
        int64_t deadline = s_now_us () / 1000 + timeout_ms;
        int rc;
        while ((rc = poll (&item, 1, (int) (deadline - s_now_us () / 1000))) < 0 && errno == EINTR)
            ;
        close (pidfd);
        if (rc <= 0)
            return -1;
    }
    while (waitpid (pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

//  Reads what is buffered on a non-blocking fd into text (NUL-terminated).
static void
s_read_text (int fd, char *text, size_t size)
{
    size_t used = 0;
    ssize_t n;
    while (fd >= 0 && used + 1 < size && (n = read (fd, text + used, size - 1 - used)) > 0)
        used += (size_t) n;
    text [used] = 0;
    while (used && (text [used - 1] == '\n' || text [used - 1] == ' '))
        text [--used] = 0;
}

//  Runs bubblewrap once with the sandbox's arguments and `true`, so that a
//  host where it cannot work is refused at start, with bwrap's reason.
static sbx_error_t *
s_probe_bwrap (const s_config_t *config, const char *path)
{
    s_argv_t argv = {0};
    s_bwrap_argv (config, "/tmp", NULL, &argv);
    s_argv_add (&argv, "/bin/true");
    int err [2];
    if (pipe2 (err, O_CLOEXEC) != 0) {
        s_argv_free (&argv);
        return sbx_error_new (S_ERROR, "%s.isolation: cannot check bwrap: %s", path, strerror (errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2 (&actions, err [1], 2);
    posix_spawnattr_t attr;
    s_spawn_attr (&attr);
    pid_t pid;
    int rc = posix_spawn (&pid, argv.items [0], &actions, &attr, argv.items, environ);
    posix_spawn_file_actions_destroy (&actions);
    posix_spawnattr_destroy (&attr);
    close (err [1]);
    sbx_error_t *error = NULL;
    if (rc != 0)
        error = sbx_error_new (S_ERROR, "%s.isolation: \"bwrap\" needs bubblewrap, but %s cannot run: %s",
                               path, config->bwrap, strerror (rc));
    else {
        int status = s_wait_child (pid, 10000);
        if (status == -1) {
            kill (pid, SIGKILL);
            s_wait_child (pid, 10000);
        }
        if (status != 0) {
            char text [1024];
            fcntl (err [0], F_SETFL, O_NONBLOCK);
            s_read_text (err [0], text, sizeof text);
            error = sbx_error_new (S_ERROR, "%s.isolation: \"bwrap\" cannot create its namespaces on this host "
                                   "(%s: %s); use isolation \"none\" or fix bubblewrap",
                                   path, config->bwrap,
                                   status == -1 ? "timed out" : *text ? text : "failed");
        }
    }
    close (err [0]);
    s_argv_free (&argv);
    return error;
}

//  `name` found on PATH, or NULL. Caller frees.
static char *
s_which (const char *name)
{
    const char *path = getenv ("PATH");
    char *copy = strdup (path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *found = NULL, *save = NULL;
    for (char *dir = strtok_r (copy, ":", &save); dir && !found; dir = strtok_r (NULL, ":", &save)) {
        char *candidate = zsys_sprintf ("%s/%s", dir, name);
        if (access (candidate, X_OK) == 0)
            found = candidate;
        else
            free (candidate);
    }
    free (copy);
    return found;
}

//  sbx-init next to the running program (build/sbxd -> build/sbx-init).
static char *
s_default_init_path (void)
{
    char self [PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return strdup ("sbx-init");
    self [n] = 0;
    char *slash = strrchr (self, '/');
    if (slash)
        *slash = 0;
    return zsys_sprintf ("%s/sbx-init", self);
}

static int s_mkdir_p (const char *path, mode_t mode);

static sbx_error_t *
s_parse_limits (s_config_t *config, const json_t *limits, const char *path)
{
    if (json_is_null (limits)) {
        for (int i = 0; i < S_LIMITS; i++)
            config->limits [i] = -1;
        return NULL;
    }
    if (!json_is_object (limits))
        return sbx_error_new (S_ERROR, "%s.limits: must be an object or null", path);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) limits, key, value) {
        int i = 0;
        while (i < S_LIMITS && !streq (key, s_limit_info [i].option))
            i++;
        if (i == S_LIMITS)
            return sbx_error_new (S_ERROR, "%s.limits.%s: unknown limit (it takes cpu_s, address_space_mb, "
                                  "open_files, processes, file_size_mb)", path, key);
        if (json_is_null (value)) {
            config->limits [i] = -1;
            continue;
        }
        if (!json_is_integer (value) || json_integer_value (value) < s_limit_info [i].min
        ||  json_integer_value (value) > s_limit_info [i].max)
            return sbx_error_new (S_ERROR, "%s.limits.%s: must be an integer in [%lld, %lld], or null (no limit)",
                                  path, key, (long long) s_limit_info [i].min, (long long) s_limit_info [i].max);
        config->limits [i] = json_integer_value (value);
    }
    return NULL;
}

static sbx_error_t *
s_parse_users (s_config_t *config, const json_t *users, const char *path)
{
    if (json_is_null (users)) {
        config->users = false;
        return NULL;
    }
    if (!json_is_object (users))
        return sbx_error_new (S_ERROR, "%s.users: must be an object {uid_base, count, lock_dir} or null", path);
    if (geteuid () != 0)
        return sbx_error_new (S_ERROR, "%s.users: running commands as users of their own needs sbxd to run "
                              "as root (it runs as uid %u); set it to null", path, (unsigned) geteuid ());
    config->users = true;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) users, key, value) {
        if (streq (key, "uid_base") || streq (key, "count")) {
            json_int_t number = json_is_integer (value) ? json_integer_value (value) : -1;
            if (number < 1 || number > 0x7fffffff)
                return sbx_error_new (S_ERROR, "%s.users.%s: must be an integer in [1, 2147483647]", path, key);
            if (streq (key, "uid_base"))
                config->uid_base = (uint32_t) number;
            else
                config->uid_count = (uint32_t) number;
        }
        else
        if (streq (key, "lock_dir")) {
            if (!json_is_string (value) || json_string_value (value) [0] != '/')
                return sbx_error_new (S_ERROR, "%s.users.lock_dir: must be an absolute path", path);
            free (config->lock_dir);
            config->lock_dir = strdup (json_string_value (value));
        }
        else
            return sbx_error_new (S_ERROR, "%s.users.%s: unknown key (it takes uid_base, count, lock_dir)",
                                  path, key);
    }
    if ((uint64_t) config->uid_base + config->uid_count > 0x7fffffffu)
        return sbx_error_new (S_ERROR, "%s.users: uid_base + count must stay below 2^31", path);
    return NULL;
}

static void *
s_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    s_config_t *config = (s_config_t *) zmalloc (sizeof (s_config_t));
    for (int i = 0; i < S_LIMITS; i++)
        config->limits [i] = s_limit_info [i].fallback;
    config->users = geteuid () == 0;
    config->uid_base = 1900000000;
    config->uid_count = 65536;
    config->lock_dir = strdup ("/run/sbx-uids");
    sbx_error_t *error = NULL;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value) {
        if (streq (key, "kind"))
            continue;
        if (streq (key, "isolation")) {
            const char *text = json_is_string (value) ? json_string_value (value) : "";
            if (streq (text, "none"))
                config->isolation = S_ISOLATION_NONE;
            else
            if (streq (text, "bwrap"))
                config->isolation = S_ISOLATION_BWRAP;
            else
                error = sbx_error_new (S_ERROR, "%s.isolation: must be \"none\" or \"bwrap\"", path);
        }
        else
        if (streq (key, "limits"))
            error = s_parse_limits (config, value, path);
        else
        if (streq (key, "users"))
            error = s_parse_users (config, value, path);
        else
        if (streq (key, "bwrap") || streq (key, "init_path")) {
            if (!json_is_string (value) || json_string_value (value) [0] != '/')
                error = sbx_error_new (S_ERROR, "%s.%s: must be an absolute path", path, key);
            else {
                char **field = streq (key, "bwrap") ? &config->bwrap : &config->init_path;
                free (*field);
                *field = strdup (json_string_value (value));
            }
        }
        else
            error = sbx_error_new (S_ERROR, "%s.%s: unknown option of the process sandbox (it takes "
                                   "isolation, limits, users, bwrap, init_path)", path, key);
        if (error)
            break;
    }
    if (!error && !config->init_path)
        config->init_path = s_default_init_path ();
    if (!error && access (config->init_path, X_OK) != 0)
        error = sbx_error_new (S_ERROR, "%s.init_path: %s is not an executable (%s); build the sbx-init "
                               "target next to sbxd, or name it here", path, config->init_path, strerror (errno));
    int rc = 0;
    if (!error && config->users && (rc = s_mkdir_p (config->lock_dir, 0755)) != 0)
        error = sbx_error_new (S_ERROR, "%s.users.lock_dir: cannot create %s: %s", path, config->lock_dir,
                               strerror (-rc));
    if (!error && config->isolation == S_ISOLATION_BWRAP) {
        if (!config->bwrap)
            config->bwrap = s_which ("bwrap");
        if (!config->bwrap)
            error = sbx_error_new (S_ERROR, "%s.isolation: \"bwrap\" needs bubblewrap, which is not installed "
                                   "(no bwrap on PATH; install the bubblewrap package or set %s.bwrap)",
                                   path, path);
        else
            error = s_probe_bwrap (config, path);
    }
    if (error) {
        void *p = config;
        s_config_destroy (&p);
        *error_p = error;
        return NULL;
    }
    return config;
}

//  --- Instance ----------------------------------------------------------------

struct sbx_process_t {
    const s_config_t *config;
    char *id;                   //  sandbox id, for logs
    char *root_dir;
    char *env_dir;              //  root_dir/<env>
    char *name;                 //  "<slot>:<gen>"
    char *dir;                  //  env_dir/name
    int dirfd;                  //  O_PATH, between start and shutdown
    bool has_user;
    uid_t uid;
    gid_t gid;
    int lock_fd;                //  holds the uid
    pid_t pid;                  //  sbx-init, or bwrap around it
    int ctl;                    //  control socket
    int errfd;                  //  sbx-init's (and bwrap's) stderr
    bool broken;                //  the control channel failed
    char in [sizeof (sbx_init_msg_t)];
    size_t in_fill;
    uint32_t next_id;
};

static void *
s_instance_new (const void *config, const sbx_sandbox_params_t *params)
{
    sbx_process_t *self = (sbx_process_t *) zmalloc (sizeof (sbx_process_t));
    self->config = (const s_config_t *) config;
    self->id = strdup (params->sandbox_id);
    self->root_dir = strdup (params->root_dir);
    self->env_dir = zsys_sprintf ("%s/%s", params->root_dir, params->environment);
    self->name = zsys_sprintf ("%u:%u", params->slot, params->generation);
    self->dir = zsys_sprintf ("%s/%s", self->env_dir, self->name);
    self->dirfd = self->lock_fd = self->ctl = self->errfd = -1;
    return self;
}

static void
s_close (int *fd)
{
    if (*fd >= 0)
        close (*fd);
    *fd = -1;
}

static void
s_instance_destroy (void **instance_p)
{
    sbx_process_t *self = (sbx_process_t *) *instance_p;
    if (!self)
        return;
    if (self->pid > 0) {
        //  Never shut down (it cannot be: shutdown always runs); be safe.
        kill (self->pid, SIGKILL);
        s_wait_child (self->pid, S_EXIT_TIMEOUT_MS);
    }
    s_close (&self->ctl);
    s_close (&self->errfd);
    s_close (&self->dirfd);
    s_close (&self->lock_fd);
    free (self->id);
    free (self->root_dir);
    free (self->env_dir);
    free (self->name);
    free (self->dir);
    free (self);
    *instance_p = NULL;
}

sbx_process_t *
sbx_process_of (sbx_ctx_t *ctx)
{
    return sbx_ctx_sandbox_kind (ctx) == &sbx_sandbox_process
         ? (sbx_process_t *) sbx_ctx_sandbox_instance (ctx) : NULL;
}

const char *
sbx_process_dir (sbx_process_t *self)
{
    return self->dir;
}

const char *
sbx_process_workspace (sbx_process_t *self)
{
    return self->config->isolation == S_ISOLATION_BWRAP ? S_WORKSPACE : self->dir;
}

int
sbx_process_dirfd (sbx_process_t *self)
{
    return self->dirfd;
}

bool
sbx_process_owner (sbx_process_t *self, uid_t *uid_p, gid_t *gid_p)
{
    if (!self->has_user)
        return false;
    *uid_p = self->uid;
    *gid_p = self->gid;
    return true;
}

//  --- Removing trees without following links -----------------------------

typedef struct {
    int top;                    //  where too-deep subtrees are moved to
    unsigned moved;
} s_remover_t;

static int s_empty (s_remover_t *remover, int fd, int depth);

//  Removes `name` in `dirfd` (recursively). 0 or -errno. The first
//  directory entered becomes remover->top.
static int
s_remove_entry (s_remover_t *remover, int dirfd, const char *name, int depth)
{
    if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR)
        return -errno;
    int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) {
        //  A directory its owner made unreadable: we own it too (or are root).
        fchmodat (dirfd, name, S_IRWXU, 0);
        fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    fchmod (fd, S_IRWXU);
    bool top = remover->top < 0;
    if (top)
        remover->top = fd;
    int rc = s_empty (remover, fd, depth + 1);
    if (top)
        remover->top = -1;
    close (fd);
    if (unlinkat (dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

//  Empties the directory `fd` (O_RDONLY). Below S_REMOVE_DEPTH levels a
//  subdirectory is moved up to remover->top instead of entered, so a tree
//  of any depth is removed with a bounded number of open descriptors.
static int
s_empty (s_remover_t *remover, int fd, int depth)
{
    int first_error = 0;
    while (true) {
        int copy = dup (fd);
        DIR *dir = copy >= 0 ? fdopendir (copy) : NULL;
        if (!dir) {
            if (copy >= 0)
                close (copy);
            return -errno;
        }
        rewinddir (dir);
        //  A batch of names first: never delete while reading a directory.
        char *names [256];
        bool is_dir [256];
        size_t count = 0;
        struct dirent *entry;
        while (count < 256 && (entry = readdir (dir))) {
            if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
                continue;
            is_dir [count] = entry->d_type == DT_DIR || entry->d_type == DT_UNKNOWN;
            names [count++] = strdup (entry->d_name);
        }
        closedir (dir);
        if (count == 0)
            return first_error;
        size_t progress = 0;
        for (size_t i = 0; i < count; i++) {
            int rc;
            if (depth >= S_REMOVE_DEPTH && is_dir [i] && remover->top != fd) {
                char moved [64];
                do
                    snprintf (moved, sizeof moved, ".sbx-deep-%ld-%u", (long) syscall (SYS_gettid),
                              remover->moved++);
                while ((rc = (int) syscall (SYS_renameat2, fd, names [i], remover->top, moved,
                                            1 /* RENAME_NOREPLACE */)) != 0 && errno == EEXIST);
                if (rc != 0 && errno == ENOTDIR)
                    rc = s_remove_entry (remover, fd, names [i], depth);
                else
                if (rc != 0)
                    rc = -errno;
            }
            else
                rc = s_remove_entry (remover, fd, names [i], depth);
            if (rc == 0)
                progress++;
            else
            if (!first_error)
                first_error = rc;
            free (names [i]);
        }
        if (progress == 0)
            return first_error;     //  nothing more can go
    }
}

int
sbx_process_remove_at (int dirfd, const char *name)
{
    s_remover_t remover = {-1, 0};
    return s_remove_entry (&remover, dirfd, name, 0);
}

int
sbx_process_empty_dir (int dirfd)
{
    int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    s_remover_t remover = {fd, 0};
    int rc = s_empty (&remover, fd, 0);
    close (fd);
    return rc;
}

//  --- Users -------------------------------------------------------------------

//  mkdir -p with `mode` for what it creates. 0 or -errno.
static int
s_mkdir_p (const char *path, mode_t mode)
{
    char buffer [PATH_MAX];
    snprintf (buffer, sizeof buffer, "%s", path);
    for (char *p = buffer + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (mkdir (buffer, mode) != 0 && errno != EEXIST)
                return -errno;
            *p = saved;
            if (!saved)
                break;
        }
    }
    return 0;
}

//  SIGKILLs every process whose real, effective or saved uid is `uid`,
//  until none is left (the uid is this sandbox's alone). Returns how many
//  survived 5 s (0 normally).
static int
s_kill_uid (uid_t uid)
{
    int64_t give_up = s_now_us () + 5000000;
    for (unsigned pass = 0; ; pass++) {
        int found = 0;
        DIR *proc = opendir ("/proc");
        struct dirent *entry;
        while (proc && (entry = readdir (proc))) {
            if (entry->d_name [0] < '1' || entry->d_name [0] > '9')
                continue;
            char path [300], text [2048];
            snprintf (path, sizeof path, "/proc/%s/status", entry->d_name);
            int fd = open (path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t n = read (fd, text, sizeof text - 1);
            close (fd);
            if (n <= 0)
                continue;
            text [n] = 0;
            const char *line = strstr (text, "\nUid:");
            const char *state = strstr (text, "\nState:");
            unsigned ids [4];
            if (!line || sscanf (line + 5, "%u %u %u %u", &ids [0], &ids [1], &ids [2], &ids [3]) != 4)
                continue;
            if (state && (strstr (state, "\nState:\tZ") == state || strstr (state, "\nState:\tX") == state))
                continue;
            if (ids [0] == uid || ids [1] == uid || ids [2] == uid) {
                kill ((pid_t) atol (entry->d_name), SIGKILL);
                found++;
            }
        }
        if (proc)
            closedir (proc);
        if (found == 0 || s_now_us () > give_up)
            return found;
        if (pass > 0) {
            struct timespec pause = {0, 1000000};
            nanosleep (&pause, NULL);
        }
    }
}

//  Takes a free uid of the range with an exclusive lock file; returns the
//  lock's descriptor (hold it while the uid is in use) or -errno. The
//  search starts at a hash of `seed` (environment and slot), so a slot
//  gets the same uid again and again, and lock files stay few.
static int
s_lock_uid (const s_config_t *config, const char *seed, uid_t *uid_p)
{
    int rc = s_mkdir_p (config->lock_dir, 0755);
    if (rc)
        return rc;
    uint32_t hash = 2166136261u;
    for (const char *c = seed; *c; c++)
        hash = (hash ^ (uint8_t) *c) * 16777619u;
    for (uint32_t i = 0; i < config->uid_count; i++) {
        uid_t uid = config->uid_base + (hash + i) % config->uid_count;
        char path [PATH_MAX];
        snprintf (path, sizeof path, "%s/%u", config->lock_dir, (unsigned) uid);
        int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return -errno;
        if (flock (fd, LOCK_EX | LOCK_NB) == 0) {
            *uid_p = uid;
            return fd;
        }
        int error = errno;
        close (fd);
        if (error != EWOULDBLOCK)
            return -error;
    }
    return -EAGAIN;
}

//  --- The control channel ------------------------------------------------------

static sbx_error_t *
s_broken (sbx_process_t *self, const char *what)
{
    self->broken = true;
    char text [1024];
    s_read_text (self->errfd, text, sizeof text);
    return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: %s%s%s", self->id, what,
                          *text ? ": " : "", text);
}

//  Sends a request; `fds` (count 0 or 3) travel with its header. 0 or -1.
static int
s_send (sbx_process_t *self, uint32_t type, uint32_t id, int32_t value,
        const void *payload, uint32_t length, const int *fds, int nfds)
{
    sbx_init_msg_t msg = {type, id, value, length};
    union {
        char data [CMSG_SPACE (sizeof (int) * 3)];
        struct cmsghdr align;
    } control;
    const char *p = (const char *) &msg;
    size_t left = sizeof msg;
    bool first = true;
    while (left) {
        struct iovec iov = {(void *) p, left};
        struct msghdr header = {0};
        header.msg_iov = &iov;
        header.msg_iovlen = 1;
        if (first && nfds > 0) {
            memset (&control, 0, sizeof control);
            header.msg_control = control.data;
            header.msg_controllen = CMSG_SPACE (sizeof (int) * nfds);
            struct cmsghdr *c = CMSG_FIRSTHDR (&header);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN (sizeof (int) * nfds);
            memcpy (CMSG_DATA (c), fds, sizeof (int) * nfds);
        }
        ssize_t n = sendmsg (self->ctl, &header, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        first = false;
        p += n;
        left -= (size_t) n;
    }
    p = (const char *) payload;
    left = length;
    while (left) {
        ssize_t n = send (self->ctl, p, left, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        left -= (size_t) n;
    }
    return 0;
}

//  1: a message in *msg; 0: none buffered yet; -1: the channel is dead.
static int
s_recv (sbx_process_t *self, sbx_init_msg_t *msg)
{
    while (self->in_fill < sizeof self->in) {
        ssize_t n = recv (self->ctl, self->in + self->in_fill, sizeof self->in - self->in_fill,
                          MSG_DONTWAIT);
        if (n > 0)
            self->in_fill += (size_t) n;
        else
        if (n < 0 && errno == EINTR)
            continue;
        else
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        else
            return -1;
    }
    memcpy (msg, self->in, sizeof *msg);
    self->in_fill = 0;
    return msg->length == 0 ? 1 : -1;
}

//  Waits for the message `type` with `id` (any id for READY), dropping
//  others. 1: got it; 0: timeout; -1: the channel is dead.
static int
s_await (sbx_process_t *self, uint32_t type, uint32_t id, sbx_init_msg_t *msg, int timeout_ms)
{
    int64_t deadline = s_now_us () + (int64_t) timeout_ms * 1000;
    while (true) {
        int rc = s_recv (self, msg);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            if (msg->type == type && (type == SBX_INIT_READY || msg->id == id))
                return 1;
            continue;
        }
        int64_t left = (deadline - s_now_us ()) / 1000;
        if (left <= 0)
            return 0;
        struct pollfd item = {self->ctl, POLLIN, 0};
        if (poll (&item, 1, (int) left) < 0 && errno != EINTR)
            return -1;
    }
}

//  --- Lifecycle -----------------------------------------------------------------

static void
s_add_limits (const s_config_t *config, s_argv_t *argv)
{
    for (int i = 0; i < S_LIMITS; i++)
        if (config->limits [i] >= 0)
            s_argv_add (argv, "--limit=%s=%lld", s_limit_info [i].init_name,
                        (long long) (config->limits [i] * s_limit_info [i].unit));
}

//  Starts sbx-init (under bwrap when asked) and waits until it is ready.
static sbx_error_t *
s_spawn_init (sbx_process_t *self)
{
    const s_config_t *config = self->config;
    s_argv_t argv = {0};
    if (config->isolation == S_ISOLATION_BWRAP)
        s_bwrap_argv (config, self->dir, self->root_dir, &argv);
    s_argv_add (&argv, "%s", config->init_path);
    s_argv_add (&argv, "--workspace=%s", sbx_process_workspace (self));
    if (self->has_user) {
        s_argv_add (&argv, "--uid=%u", (unsigned) self->uid);
        s_argv_add (&argv, "--gid=%u", (unsigned) self->gid);
    }
    s_add_limits (config, &argv);
    //  A clean environment; sanitizer settings pass through (SAN=1 builds).
    s_argv_t env = {0};
    s_argv_add (&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    static const char *const keep [] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL};
    for (size_t i = 0; keep [i]; i++)
        if (getenv (keep [i]))
            s_argv_add (&env, "%s=%s", keep [i], getenv (keep [i]));

    int pair [2] = {-1, -1}, err [2] = {-1, -1};
    sbx_error_t *error = NULL;
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0
    ||  pipe2 (err, O_CLOEXEC) != 0)
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot create the control socket: %s",
                               self->id, strerror (errno));
    else {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init (&actions);
        posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2 (&actions, err [1], 2);
        posix_spawn_file_actions_adddup2 (&actions, pair [1], SBX_INIT_CONTROL_FD);
        posix_spawn_file_actions_addchdir_np (&actions, config->isolation == S_ISOLATION_BWRAP ? "/" : self->dir);
        posix_spawnattr_t attr;
        s_spawn_attr (&attr);
        int rc = posix_spawn (&self->pid, argv.items [0], &actions, &attr, argv.items, env.items);
        posix_spawn_file_actions_destroy (&actions);
        posix_spawnattr_destroy (&attr);
        if (rc != 0) {
            self->pid = 0;
            error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot start %s: %s", self->id,
                                   argv.items [0], strerror (rc));
        }
    }
    if (pair [1] >= 0)
        close (pair [1]);
    if (err [1] >= 0)
        close (err [1]);
    self->ctl = pair [0];
    self->errfd = err [0];
    if (self->errfd >= 0)
        fcntl (self->errfd, F_SETFL, O_NONBLOCK);
    if (!error) {
        sbx_init_msg_t msg;
        int rc = s_await (self, SBX_INIT_READY, 0, &msg, S_READY_TIMEOUT_MS);
        if (rc <= 0) {
            int status = rc < 0 ? s_wait_child (self->pid, 1000) : -1;
            if (status != -1)
                self->pid = 0;
            char what [128];
            if (status == -1)
                snprintf (what, sizeof what, "%s did not get ready in %d ms",
                          config->isolation == S_ISOLATION_BWRAP ? "bwrap/sbx-init" : "sbx-init",
                          S_READY_TIMEOUT_MS);
            else
                snprintf (what, sizeof what, "%s exited at start (status %d)",
                          config->isolation == S_ISOLATION_BWRAP ? "bwrap/sbx-init" : "sbx-init", status);
            error = s_broken (self, what);
        }
    }
    s_argv_free (&argv);
    s_argv_free (&env);
    return error;
}

static sbx_error_t *
s_start (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *self = (sbx_process_t *) instance;
    const s_config_t *config = self->config;
    if (config->users) {
        //  "<env>/<slot>": every generation of a slot alike.
        char seed [256];
        snprintf (seed, sizeof seed, "%s/%.*s", strrchr (self->env_dir, '/') + 1,
                  (int) strcspn (self->name, ":"), self->name);
        int fd = s_lock_uid (config, seed, &self->uid);
        if (fd < 0)
            return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: no free uid in [%u, %u) under %s: %s",
                                  self->id, config->uid_base, config->uid_base + config->uid_count,
                                  config->lock_dir, strerror (-fd));
        self->lock_fd = fd;
        self->gid = (gid_t) self->uid;
        self->has_user = true;
        //  Whatever a crashed owner of this uid left behind.
        s_kill_uid (self->uid);
    }
    //  The environment's directory may vanish under us when another
    //  sandbox of it shuts down (it removes it when empty): retry.
    int rc = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        rc = s_mkdir_p (self->env_dir, 0755);
        if (rc == 0) {
            int envfd = open (self->env_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (envfd < 0) {
                rc = -errno;
                continue;
            }
            sbx_process_remove_at (envfd, self->name);      //  a stale one
            rc = mkdirat (envfd, self->name, 0700) == 0 ? 0 : -errno;
            if (rc == 0 && self->has_user
            &&  fchownat (envfd, self->name, self->uid, self->gid, AT_SYMLINK_NOFOLLOW) != 0)
                rc = -errno;
            close (envfd);
        }
        if (rc != -ENOENT)
            break;
    }
    if (rc != 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot create %s: %s", self->id, self->dir,
                              strerror (-rc));
    self->dirfd = open (self->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (self->dirfd < 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot open %s: %s", self->id, self->dir,
                              strerror (errno));
    sbx_error_t *error = s_spawn_init (self);
    if (!error)
        sbx_log_debug (self->id, "process sandbox in %s (isolation %s, uid %d, init pid %d)", self->dir,
                       config->isolation == S_ISOLATION_BWRAP ? "bwrap" : "none",
                       self->has_user ? (int) self->uid : (int) geteuid (), (int) self->pid);
    return error;
}

sbx_error_t *
sbx_process_kill_all (sbx_process_t *self)
{
    if (self->broken || self->ctl < 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its init process is gone", self->id);
    uint32_t id = ++self->next_id;
    sbx_init_msg_t msg;
    if (s_send (self, SBX_INIT_KILL_ALL, id, 0, NULL, 0, NULL, 0) != 0)
        return s_broken (self, "the init process is gone");
    int rc = s_await (self, SBX_INIT_KILLED_ALL, id, &msg, S_KILL_TIMEOUT_MS);
    if (rc < 0)
        return s_broken (self, "the init process is gone");
    if (rc == 0 || msg.value < 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: processes survived SIGKILL", self->id);
    return NULL;
}

//  The directory is gone (or replaced) when its link count dropped to 0
//  or its path names another inode.
static bool
s_dir_present (sbx_process_t *self, bool check_path)
{
    struct stat held, named;
    if (self->dirfd < 0 || fstat (self->dirfd, &held) != 0 || held.st_nlink == 0)
        return false;
    if (check_path)
        return stat (self->dir, &named) == 0 && named.st_dev == held.st_dev && named.st_ino == held.st_ino;
    return true;
}

sbx_error_t *
sbx_process_reset (sbx_process_t *self)
{
    sbx_error_t *error = sbx_process_kill_all (self);
    if (error)
        return error;
    if (!s_dir_present (self, false))
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its directory %s is gone", self->id, self->dir);
    int rc = sbx_process_empty_dir (self->dirfd);
    if (rc != 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot clean %s: %s", self->id, self->dir,
                              strerror (-rc));
    return NULL;
}

static sbx_error_t *
s_shutdown (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *self = (sbx_process_t *) instance;
    sbx_error_t *error = NULL;
    if (self->ctl >= 0 && !self->broken)
        error = sbx_process_kill_all (self);
    //  EOF tells sbx-init to kill what is left and exit; under bwrap its
    //  exit takes the PID namespace with it.
    s_close (&self->ctl);
    if (self->pid > 0) {
        int status = s_wait_child (self->pid, S_EXIT_TIMEOUT_MS);
        if (status > 0) {
            char text [1024];
            s_read_text (self->errfd, text, sizeof text);
            sbx_log_warning (self->id, "init process exited with status %d: %s", status, text);
        }
        if (status == -1) {
            kill (self->pid, SIGKILL);
            s_wait_child (self->pid, S_EXIT_TIMEOUT_MS);
            if (!error)
                error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: init process %d did not exit; killed",
                                       self->id, (int) self->pid);
        }
        self->pid = 0;
    }
    if (self->has_user && s_kill_uid (self->uid) != 0 && !error)
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: processes of uid %u survived SIGKILL",
                               self->id, (unsigned) self->uid);
    s_close (&self->errfd);
    s_close (&self->dirfd);
    int envfd = open (self->env_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (envfd >= 0) {
        int rc = sbx_process_remove_at (envfd, self->name);
        close (envfd);
        if (rc != 0 && !error)
            error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot remove %s: %s", self->id,
                                   self->dir, strerror (-rc));
        //  The environment's directory goes with its last sandbox.
        rmdir (self->env_dir);
    }
    s_close (&self->lock_fd);
    self->has_user = false;
    return error;
}

static sbx_error_t *
s_ping (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *self = (sbx_process_t *) instance;
    if (!s_dir_present (self, true))
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its directory %s is gone", self->id, self->dir);
    if (self->broken || self->pid <= 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its init process is gone", self->id);
    int status;
    if (waitpid (self->pid, &status, WNOHANG) == self->pid) {
        self->pid = 0;
        char what [64];
        snprintf (what, sizeof what, "its init process exited (status %d)", status);
        return s_broken (self, what);
    }
    return NULL;
}

//  --- Running commands ----------------------------------------------------------

typedef struct {
    int fd;
    char *data;
    size_t size, capacity, max;
    bool truncated;
} s_stream_t;

static void
s_take (s_stream_t *stream, const char *data, size_t n)
{
    size_t room = stream->max - stream->size;
    if (n > room) {
        stream->truncated = true;
        n = room;
    }
    if (!n)
        return;
    if (stream->size + n > stream->capacity) {
        size_t capacity = stream->capacity ? stream->capacity : 4096;
        while (capacity < stream->size + n)
            capacity *= 2;
        if (capacity > stream->max)
            capacity = stream->max;
        stream->data = (char *) realloc (stream->data, capacity);
        assert (stream->data);
        stream->capacity = capacity;
    }
    memcpy (stream->data + stream->size, data, n);
    stream->size += n;
}

//  Reads from a stream at most `budget` bytes (0: one chunk); closes it at
//  EOF. Returns the bytes read.
static size_t
s_drain (s_stream_t *stream, char *chunk, size_t budget)
{
    size_t total = 0;
    while (stream->fd >= 0) {
        ssize_t n = read (stream->fd, chunk, S_CHUNK);
        if (n > 0) {
            s_take (stream, chunk, (size_t) n);
            total += (size_t) n;
            if (total >= budget)
                break;
        }
        else
        if (n < 0 && errno == EINTR)
            continue;
        else {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                s_close (&stream->fd);
            break;
        }
    }
    return total;
}

//  write(2) to a pipe whose reader may be gone, without SIGPIPE killing
//  sbxd: the signal is blocked in this thread and a pending one consumed.
static ssize_t
s_write_nosigpipe (int fd, const void *data, size_t size)
{
    sigset_t pipe_set, old;
    sigemptyset (&pipe_set);
    sigaddset (&pipe_set, SIGPIPE);
    pthread_sigmask (SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write (fd, data, size);
    int error = errno;
    if (n < 0 && error == EPIPE) {
        struct timespec zero = {0, 0};
        sigtimedwait (&pipe_set, NULL, &zero);
    }
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    errno = error;
    return n;
}

static sbx_error_t *
s_start_error (sbx_process_t *self, int32_t value, const char *cwd)
{
    int error = -value;
    if (error & SBX_INIT_EXEC_FAILED) {
        error &= ~SBX_INIT_EXEC_FAILED;
        if (error == EAGAIN)
            return sbx_error_new ("OSError", "cannot start the command: the sandbox is at its process "
                                  "limit (limits.processes)");
        if (error == E2BIG)
            return sbx_error_new ("OSError", "cannot start the command: it is too long (at most 128 KiB; "
                                  "pass long scripts on stdin)");
        return sbx_error_new ("OSError", "cannot start the command: %s", strerror (error));
    }
    const char *where = cwd && *cwd ? cwd : ".";
    switch (error) {
        case EXDEV:
        case ELOOP:
            return sbx_error_new ("PermissionError", "cwd '%s' leads outside the sandbox directory", where);
        case EACCES:
        case EPERM:
            return sbx_error_new ("PermissionError", "cwd '%s': %s", where, strerror (error));
        case ENOENT:
            return sbx_error_new ("FileNotFoundError", "cwd '%s' does not exist", where);
        case ENOTDIR:
            return sbx_error_new ("NotADirectoryError", "cwd '%s' is not a directory", where);
        case EAGAIN:
            return sbx_error_new ("OSError", "cannot start the command: %s", strerror (error));
        default:
            return sbx_error_new ("OSError", "cannot start the command in '%s': %s", where, strerror (error));
    }
}

static void *
s_payload (const sbx_process_run_t *run, uint32_t *length_p)
{
    uint32_t argc = 0, envc = 0;
    size_t size = 8 + strlen (run->cwd ? run->cwd : "") + 1;
    for (; run->argv [argc]; argc++)
        size += strlen (run->argv [argc]) + 1;
    for (; run->env && run->env [envc]; envc++)
        size += strlen (run->env [envc]) + 1;
    if (size > SBX_INIT_MAX_PAYLOAD)
        return NULL;
    char *payload = (char *) malloc (size), *p = payload + 8;
    assert (payload);
    memcpy (payload, &argc, 4);
    memcpy (payload + 4, &envc, 4);
    p = stpcpy (p, run->cwd ? run->cwd : "") + 1;
    for (uint32_t i = 0; i < argc; i++)
        p = stpcpy (p, run->argv [i]) + 1;
    for (uint32_t i = 0; i < envc; i++)
        p = stpcpy (p, run->env [i]) + 1;
    *length_p = (uint32_t) size;
    return payload;
}

void
sbx_process_result_free (sbx_process_result_t *result)
{
    free (result->out);
    free (result->err);
    result->out = result->err = NULL;
}

sbx_error_t *
sbx_process_run (sbx_process_t *self, const sbx_process_run_t *run, sbx_process_result_t *result)
{
    memset (result, 0, sizeof *result);
    if (self->broken || self->ctl < 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its init process is gone", self->id);
    if (!s_dir_present (self, false))
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its directory %s is gone", self->id, self->dir);
    //  Cancelled already (the environment is shutting down): the command
    //  does not start at all.
    struct pollfd cancel = {run->cancel_fd, POLLIN, 0};
    if (run->cancel_fd >= 0 && poll (&cancel, 1, 0) == 1) {
        result->cancelled = true;
        result->out = strdup ("");
        result->err = strdup ("");
        return NULL;
    }
    uint32_t length;
    void *payload = s_payload (run, &length);
    if (!payload)
        return sbx_error_new ("ValueError", "the command and its environment are too large");

    //  The child's ends go to sbx-init; ours are non-blocking.
    int in [2] = {-1, -1}, out [2] = {-1, -1}, err [2] = {-1, -1};
    bool ok = (run->input ? pipe2 (in, O_CLOEXEC) == 0
                          : (in [0] = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
           && pipe2 (out, O_CLOEXEC) == 0 && pipe2 (err, O_CLOEXEC) == 0;
    if (!ok) {
        int error = errno;
        for (int i = 0; i < 2; i++) {
            s_close (&in [i]);
            s_close (&out [i]);
            s_close (&err [i]);
        }
        free (payload);
        return sbx_error_new ("OSError", "cannot create pipes for the command: %s", strerror (error));
    }
    if (in [1] >= 0)
        fcntl (in [1], F_SETFL, O_NONBLOCK);
    fcntl (out [0], F_SETFL, O_NONBLOCK);
    fcntl (err [0], F_SETFL, O_NONBLOCK);

    uint32_t id = ++self->next_id;
    int child_fds [3] = {in [0], out [1], err [1]};
    int sent = s_send (self, SBX_INIT_RUN, id, 0, payload, length, child_fds, 3);
    free (payload);
    s_close (&in [0]);
    s_close (&out [1]);
    s_close (&err [1]);
    sbx_init_msg_t msg;
    int rc = sent == 0 ? s_await (self, SBX_INIT_STARTED, id, &msg, S_REPLY_TIMEOUT_MS) : -1;
    if (rc <= 0 || msg.value < 0) {
        s_close (&in [1]);
        s_close (&out [0]);
        s_close (&err [0]);
        if (rc < 0)
            return s_broken (self, "the init process is gone");
        if (rc == 0)
            return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: the init process did not answer in %d ms",
                                  self->id, S_REPLY_TIMEOUT_MS);
        return s_start_error (self, msg.value, run->cwd);
    }
    int32_t pid = msg.value;

    int64_t started = s_now_us ();
    int64_t deadline = started + run->timeout_ms * 1000, kill_deadline = 0, ended = 0;
    s_stream_t streams [2] = {{out [0], NULL, 0, 0, run->max_output, false},
                              {err [0], NULL, 0, 0, run->max_output, false}};
    size_t written = 0;
    bool exited = false, killed = false, kill_sent = false;
    char *chunk = (char *) malloc (S_CHUNK);
    assert (chunk);
    sbx_error_t *error = NULL;
    while (!error && !(exited && (!kill_sent || killed))) {
        struct pollfd items [5];
        int count = 0;
        items [count++] = (struct pollfd) {self->ctl, POLLIN, 0};
        int first_stream = count;
        for (int i = 0; i < 2; i++)
            if (streams [i].fd >= 0)
                items [count++] = (struct pollfd) {streams [i].fd, POLLIN, 0};
        int input_item = in [1] >= 0 ? count : -1;
        if (in [1] >= 0)
            items [count++] = (struct pollfd) {in [1], POLLOUT, 0};
        int cancel_item = run->cancel_fd >= 0 && !kill_sent ? count : -1;
        if (cancel_item >= 0)
            items [count++] = (struct pollfd) {run->cancel_fd, POLLIN, 0};
        int64_t until = kill_sent ? kill_deadline : deadline;
        int64_t wait = (until - s_now_us () + 999) / 1000;
        if (poll (items, (nfds_t) count, wait < 0 ? 0 : (int) wait) < 0 && errno != EINTR) {
            error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: poll: %s", self->id, strerror (errno));
            break;
        }
        for (int i = first_stream, s = 0; s < 2; s++) {
            if (streams [s].fd < 0)
                continue;
            if (items [i].revents)
                s_drain (&streams [s], chunk, 0);
            i++;
        }
        if (input_item >= 0 && items [input_item].revents) {
            size_t left = run->input_size - written;
            ssize_t n = left ? s_write_nosigpipe (in [1], (const char *) run->input + written,
                                                  left < S_CHUNK ? left : S_CHUNK) : 0;
            if (n > 0)
                written += (size_t) n;
            if (written == run->input_size || (n < 0 && errno != EAGAIN && errno != EINTR))
                s_close (&in [1]);      //  all written, or nobody reads
        }
        if (items [0].revents) {
            while ((rc = s_recv (self, &msg)) > 0) {
                if (msg.type == SBX_INIT_EXITED && msg.id == id) {
                    exited = true;
                    ended = s_now_us ();
                    result->status = msg.value;
                }
                else
                if (msg.type == SBX_INIT_KILLED && msg.id == id)
                    killed = true;
            }
            if (rc < 0)
                error = s_broken (self, "the init process is gone");
        }
        int64_t now = s_now_us ();
        bool cancel = cancel_item >= 0 && (items [cancel_item].revents & POLLIN);
        if (!error && !exited && !kill_sent && (now >= deadline || cancel)) {
            if (cancel)
                result->cancelled = true;
            else
                result->timed_out = true;
            kill_sent = true;
            kill_deadline = now + (int64_t) S_KILL_TIMEOUT_MS * 1000;
            if (s_send (self, SBX_INIT_KILL, id, pid, NULL, 0, NULL, 0) != 0)
                error = s_broken (self, "the init process is gone");
        }
        else
        if (!error && kill_sent && now >= kill_deadline)
            error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: the command survived SIGKILL for %d ms",
                                   self->id, S_KILL_TIMEOUT_MS);
    }
    //  The main process is gone: what it wrote is in the pipes. Take that,
    //  not what background processes go on writing.
    for (int s = 0; s < 2 && !error; s++) {
        int capacity = streams [s].fd >= 0 ? fcntl (streams [s].fd, F_GETPIPE_SZ) : 0;
        s_drain (&streams [s], chunk, capacity > 0 ? (size_t) capacity : S_CHUNK);
    }
    free (chunk);
    s_close (&in [1]);
    s_close (&streams [0].fd);
    s_close (&streams [1].fd);
    if (error) {
        free (streams [0].data);
        free (streams [1].data);
        return error;
    }
    result->out = streams [0].data ? streams [0].data : strdup ("");
    result->err = streams [1].data ? streams [1].data : strdup ("");
    result->out_size = streams [0].size;
    result->err_size = streams [1].size;
    result->truncated = streams [0].truncated || streams [1].truncated;
    result->duration_ms = (double) ((ended ? ended : s_now_us ()) - started) / 1000.0;
    return NULL;
}

//  A process sandbox has no services of its own: its features have them.
static const sbx_method_t s_methods [] = {
    {NULL, NULL, NULL}
};

const sbx_sandbox_kind_t sbx_sandbox_process = {
    .name = "process",
    .config_new = s_config_new,
    .config_destroy = s_config_destroy,
    .instance_new = s_instance_new,
    .instance_destroy = s_instance_destroy,
    .start = s_start,
    .shutdown = s_shutdown,
    .ping = s_ping,
    .methods = s_methods,
    //  the socket to sbx-init, the directory handle, the uid lock, and
    //  while a command runs its three pipes (both ends) and the exec pipe
    .fds = 12
};
