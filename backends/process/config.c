/*  sbx_process_config - see config.h */
#include "backends/process/config.h"
#include "backends/process/child.h"
#include "backends/process/space.h"
#include "backends/process/tree.h"
#include "runtime/core/log.h"

#include <czmq.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sys/stat.h>

#define S_ERROR "ConfigError"
#define S_PROBE_TIMEOUT_MS 10000
#define S_WORKSPACE "/workspace"
//  The first descriptor a child finds the cgroup.procs files on.
#define S_JOIN_FD 4

extern char **environ;

//  The limits. The first five are setrlimit's, per process; the others
//  are the sandbox's as a whole.
typedef enum {
    S_LIMIT_CPU, S_LIMIT_AS, S_LIMIT_NOFILE, S_LIMIT_NPROC, S_LIMIT_FSIZE,
    S_LIMIT_MEMORY, S_LIMIT_CPU_SHARE, S_LIMIT_DISK, S_LIMITS
} s_limit_t;

static const struct {
    const char *option;         //  in the config
    const char *init_name;      //  on sbx-init's command line (NULL: not an rlimit)
    int64_t unit;               //  bytes per option unit
    int64_t fallback;           //  default; -1: none
    double min, max;
} s_limit_info [S_LIMITS] = {
    {"cpu_s", "cpu", 1, 600, 1, 31536000},
    {"address_space_mb", "as", 1024 * 1024, 8192, 64, 16 * 1024 * 1024},
    {"open_files", "nofile", 1, 1024, 16, 1048576},
    {"processes", "nproc", 1, 256, 1, 4194304},
    {"file_size_mb", "fsize", 1024 * 1024, 1024, 1, 16 * 1024 * 1024},
    {"memory_mb", NULL, 1024 * 1024, -1, 16, 16 * 1024 * 1024},
    {"cpu", NULL, 1, -1, 0.01, 1024},
    {"disk_mb", NULL, 1024 * 1024, -1, 1, 16 * 1024 * 1024},
};

struct sbx_process_config_t {
    bool bwrap_isolation;       //  in force (after "auto")
    bool host_network;
    double limits [S_LIMITS];   //  in option units; -1: none
    bool processes_given;       //  limits.processes set in the file
    bool nproc_rlimit;          //  processes counted by RLIMIT_NPROC (no pids controller)
    sbx_process_cgroups_t *cgroups;
    bool users;                 //  a uid of its own per sandbox
    uint32_t uid_base, uid_count;
    char *lock_dir;
    char *bwrap;
    char *init_path;
    int gate [2];               //  start slots: one byte each in the pipe
};

void
sbx_process_config_destroy (sbx_process_config_t **self_p)
{
    sbx_process_config_t *self = *self_p;
    if (!self)
        return;
    sbx_process_cgroups_destroy (&self->cgroups);
    for (int i = 0; i < 2; i++)
        if (self->gate [i] >= 0)
            close (self->gate [i]);
    free (self->lock_dir);
    free (self->bwrap);
    free (self->init_path);
    free (self);
    *self_p = NULL;
}

bool
sbx_process_config_bwrap (const sbx_process_config_t *self)
{
    return self->bwrap_isolation;
}

const char *
sbx_process_config_isolation (const sbx_process_config_t *self)
{
    return self->bwrap_isolation ? "bwrap" : "none";
}

bool
sbx_process_config_users (const sbx_process_config_t *self, uint32_t *base_p, uint32_t *count_p,
                          const char **lock_dir_p)
{
    *base_p = self->uid_base;
    *count_p = self->uid_count;
    *lock_dir_p = self->lock_dir;
    return self->users;
}

const sbx_process_cgroups_t *
sbx_process_config_cgroups (const sbx_process_config_t *self, sbx_process_cgroup_limits_t *limits)
{
    const double *l = self->limits;
    limits->memory_bytes = l [S_LIMIT_MEMORY] >= 0 ? (int64_t) l [S_LIMIT_MEMORY] * 1024 * 1024 : -1;
    //  The sandbox's own processes come on top: sbx-init, and bwrap.
    limits->pids = l [S_LIMIT_NPROC] >= 0 && !self->nproc_rlimit
                 ? (int64_t) l [S_LIMIT_NPROC] + (self->bwrap_isolation ? 2 : 1) : -1;
    limits->cpu_quota_us = l [S_LIMIT_CPU_SHARE] >= 0
                         ? (int64_t) llround (l [S_LIMIT_CPU_SHARE] * SBX_CGROUP_CPU_PERIOD_US) : -1;
    return self->cgroups;
}

int64_t
sbx_process_config_disk (const sbx_process_config_t *self)
{
    return self->limits [S_LIMIT_DISK] >= 0 ? (int64_t) self->limits [S_LIMIT_DISK] * 1024 * 1024 : -1;
}

int
sbx_process_config_start_take (const sbx_process_config_t *self, int cancel_fd)
{
    while (true) {
        char token;
        if (read (self->gate [0], &token, 1) == 1)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return 0;           //  no gate to wait at
        //  Another thread took it: wait for the next, or for the end.
        struct pollfd items [2] = {{self->gate [0], POLLIN, 0}, {cancel_fd, POLLIN, 0}};
        if (poll (items, cancel_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
            return 0;
        if (cancel_fd >= 0 && (items [1].revents & POLLIN))
            return -1;
    }
}

void
sbx_process_config_start_give (const sbx_process_config_t *self)
{
    char token = 0;
    if (write (self->gate [1], &token, 1) != 1)
        sbx_log_bug ("sandbox", "a start slot was given back twice");
}

bool
sbx_process_config_cleans (const sbx_process_config_t *self)
{
    return self->bwrap_isolation || self->users;
}

const char *
sbx_process_config_workspace (const sbx_process_config_t *self, const char *workspace)
{
    return self->bwrap_isolation ? S_WORKSPACE : workspace;
}

static bool
s_under (const char *path, const char *dir)
{
    size_t length = strlen (dir);
    while (length > 1 && dir [length - 1] == '/')
        length--;
    return strncmp (path, dir, length) == 0 && (path [length] == '/' || path [length] == 0);
}

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

//  The bubblewrap command line that runs a command in the sandbox whose
//  directory is `dir` (NULL: the probe, which binds /tmp for every path).
//  `root_dir` (may be NULL) is hidden inside, so a sandbox never sees the
//  others.
static void
s_bwrap_argv (const sbx_process_config_t *self, const char *dir, const char *root_dir,
              sbx_process_argv_t *argv)
{
    bool root = geteuid () == 0;
    sbx_process_argv_add (argv, "%s", self->bwrap);
    sbx_process_argv_add (argv, "--die-with-parent");
    sbx_process_argv_add (argv, "--new-session");
    sbx_process_argv_add (argv, "--unshare-pid");
    //  sbx-init is the namespace's pid 1 and bwrap's only child, which
    //  bwrap reaps before it exits (its own pid-1 reaper would be left
    //  behind as a zombie for sbxd's parent to collect).
    sbx_process_argv_add (argv, "--as-pid-1");
    sbx_process_argv_add (argv, "--unshare-ipc");
    sbx_process_argv_add (argv, "--unshare-uts");
    //  A network namespace of its own has a loopback (bwrap brings it
    //  up) and nothing else.
    if (!self->host_network)
        sbx_process_argv_add (argv, "--unshare-net");
    sbx_process_argv_add (argv, "--unshare-cgroup-try");
    if (!root)
        sbx_process_argv_add (argv, "--unshare-user");
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
            sbx_process_argv_add (argv, "--symlink");
            sbx_process_argv_add (argv, "%s", target);
            sbx_process_argv_add (argv, "/%s", name);
        }
        else
        if (S_ISDIR (st.st_mode) || S_ISREG (st.st_mode)) {
            sbx_process_argv_add (argv, "--ro-bind");
            sbx_process_argv_add (argv, "/%s", name);
            sbx_process_argv_add (argv, "/%s", name);
        }
    }
    if (top)
        closedir (top);
    sbx_process_argv_add (argv, "--dev");
    sbx_process_argv_add (argv, "/dev");
    sbx_process_argv_add (argv, "--proc");
    sbx_process_argv_add (argv, "/proc");
    //  The message queues of its IPC namespace, where the cleaner sees them.
    sbx_process_argv_add (argv, "--mqueue");
    sbx_process_argv_add (argv, "/dev/mqueue");
    if (root_dir && !s_under (root_dir, "/tmp") && !streq (root_dir, "/")) {
        sbx_process_argv_add (argv, "--tmpfs");
        sbx_process_argv_add (argv, "%s", root_dir);
    }
    //  Every writable path is a directory of the sandbox's own (space.h).
    for (const sbx_process_space_path_t *path = sbx_process_space_paths (true); path->name; path++) {
        if (streq (path->bwrap_path, "/var/tmp") && !s_is_dir ("/var/tmp"))
            continue;           //  no place for it on the read-only /var
        sbx_process_argv_add (argv, "--bind");
        if (dir)
            sbx_process_argv_add (argv, "%s/%s", dir, path->name);
        else
            sbx_process_argv_add (argv, "/tmp");
        sbx_process_argv_add (argv, "%s", path->bwrap_path);
    }
    //  sbx-init itself, wherever it lives (it may sit under a hidden path).
    sbx_process_argv_add (argv, "--ro-bind");
    sbx_process_argv_add (argv, "%s", self->init_path);
    sbx_process_argv_add (argv, "%s", self->init_path);
    sbx_process_argv_add (argv, "--remount-ro");
    sbx_process_argv_add (argv, "/");
    sbx_process_argv_add (argv, "--chdir");
    sbx_process_argv_add (argv, S_WORKSPACE);
    sbx_process_argv_add (argv, "--hostname");
    sbx_process_argv_add (argv, "sbx");
    if (root) {
        //  sbx-init keeps what it needs to start commands as the
        //  sandbox's user and to kill them; the commands keep nothing.
        sbx_process_argv_add (argv, "--cap-drop");
        sbx_process_argv_add (argv, "ALL");
        if (self->users) {
            static const char *const caps [] = {
                "CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_READ_SEARCH", NULL
            };
            for (size_t i = 0; caps [i]; i++) {
                sbx_process_argv_add (argv, "--cap-add");
                sbx_process_argv_add (argv, "%s", caps [i]);
            }
        }
    }
    sbx_process_argv_add (argv, "--");
}

void
sbx_process_config_init_argv (const sbx_process_config_t *self, const sbx_process_site_t *site,
                              sbx_process_argv_t *argv)
{
    //  sbx-init joins the group first, then becomes bwrap, whose command is
    //  sbx-init again: bwrap and everything below it are in the group.
    if (site->join_fds > 0) {
        sbx_process_argv_add (argv, "%s", self->init_path);
        for (int i = 0; i < site->join_fds; i++)
            sbx_process_argv_add (argv, "--join=%d", S_JOIN_FD + i);
        if (self->bwrap_isolation)
            sbx_process_argv_add (argv, "--exec");
    }
    if (self->bwrap_isolation)
        s_bwrap_argv (self, site->dir, site->root_dir, argv);
    if (self->bwrap_isolation || site->join_fds == 0)
        sbx_process_argv_add (argv, "%s", self->init_path);
    char *workspace = zsys_sprintf ("%s/%s", site->dir, sbx_process_space_paths (false) [0].name);
    sbx_process_argv_add (argv, "--workspace=%s", sbx_process_config_workspace (self, workspace));
    zstr_free (&workspace);
    if (site->user) {
        sbx_process_argv_add (argv, "--uid=%u", (unsigned) sbx_process_user_uid (site->user));
        sbx_process_argv_add (argv, "--gid=%u", (unsigned) sbx_process_user_gid (site->user));
    }
    for (int i = 0; i < S_LIMITS; i++) {
        if (self->limits [i] < 0 || !s_limit_info [i].init_name || (i == S_LIMIT_NPROC && !self->nproc_rlimit))
            continue;
        sbx_process_argv_add (argv, "--limit=%s=%lld", s_limit_info [i].init_name,
                              (long long) self->limits [i] * (long long) s_limit_info [i].unit);
    }
    if (self->bwrap_isolation)
        sbx_process_argv_add (argv, "--clean=/dev/mqueue");
    else
    if (self->users) {
        //  The host's shared places, where only the sandbox's user's own
        //  entries go; files of its own are its alone (umask 077).
        static const char *const shared [] = {"/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue", NULL};
        for (size_t i = 0; shared [i]; i++)
            sbx_process_argv_add (argv, "--clean=%s", shared [i]);
        sbx_process_argv_add (argv, "--clean-mqueue");
    }
    if (!self->bwrap_isolation)
        sbx_process_argv_add (argv, "--umask=077");
    //  In a full group the OOM killer takes commands first (sbx-init and
    //  bwrap ask to be spared, which needs CAP_SYS_RESOURCE): the sandbox
    //  loses its commands, never its init.
    if (self->limits [S_LIMIT_MEMORY] >= 0)
        sbx_process_argv_add (argv, "--oom-score-adj=1000");
}

//  Runs bubblewrap once with the sandbox's arguments and `true`. NULL, or
//  the reason it cannot work here (caller frees).
static char *
s_probe_bwrap (const sbx_process_config_t *self)
{
    sbx_process_argv_t argv = {0};
    s_bwrap_argv (self, NULL, NULL, &argv);
    sbx_process_argv_add (&argv, "/bin/true");
    int err [2];
    if (pipe2 (err, O_CLOEXEC) != 0) {
        sbx_process_argv_free (&argv);
        return zsys_sprintf ("cannot check bwrap: %s", strerror (errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2 (&actions, err [1], 2);
    pid_t pid;
    int rc = sbx_process_child_spawn (&pid, argv.items, environ, &actions);
    posix_spawn_file_actions_destroy (&actions);
    close (err [1]);
    char *why = NULL;
    if (rc != 0)
        why = zsys_sprintf ("needs bubblewrap, but %s cannot run: %s", self->bwrap, strerror (rc));
    else {
        bool killed;
        int status = sbx_process_child_end (pid, S_PROBE_TIMEOUT_MS, &killed);
        if (status != 0 || killed) {
            char text [1024];
            fcntl (err [0], F_SETFL, O_NONBLOCK);
            sbx_process_child_read_text (err [0], text, sizeof text);
            why = zsys_sprintf ("cannot create its namespaces on this host (%s: %s)", self->bwrap,
                                killed ? "timed out" : *text ? text : "failed");
        }
    }
    close (err [0]);
    sbx_process_argv_free (&argv);
    return why;
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

static sbx_error_t *
s_parse_limits (sbx_process_config_t *self, const json_t *limits, const char *path)
{
    if (json_is_null (limits)) {
        for (int i = 0; i < S_LIMITS; i++)
            self->limits [i] = -1;
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
                                  "open_files, processes, file_size_mb, memory_mb, cpu, disk_mb)", path, key);
        if (i == S_LIMIT_NPROC)
            self->processes_given = !json_is_null (value);
        if (json_is_null (value)) {
            self->limits [i] = -1;
            continue;
        }
        bool fraction = i == S_LIMIT_CPU_SHARE;
        double number = fraction ? (json_is_number (value) ? json_number_value (value) : NAN)
                                 : (json_is_integer (value) ? (double) json_integer_value (value) : NAN);
        if (!(number >= s_limit_info [i].min && number <= s_limit_info [i].max)) {
            if (fraction)
                return sbx_error_new (S_ERROR, "%s.limits.cpu: must be a number of cores in [0.01, 1024] "
                                      "(0.5: half a core), or null (no limit)", path);
            return sbx_error_new (S_ERROR, "%s.limits.%s: must be an integer in [%.0f, %.0f], or null (no limit)",
                                  path, key, s_limit_info [i].min, s_limit_info [i].max);
        }
        self->limits [i] = number;
    }
    return NULL;
}

static sbx_error_t *
s_parse_users (sbx_process_config_t *self, const json_t *users, const char *path)
{
    if (json_is_null (users)) {
        self->users = false;
        return NULL;
    }
    if (!json_is_object (users))
        return sbx_error_new (S_ERROR, "%s.users: must be an object {uid_base, count, lock_dir} or null", path);
    if (geteuid () != 0)
        return sbx_error_new (S_ERROR, "%s.users: running commands as users of their own needs sbxd to run "
                              "as root (it runs as uid %u); set it to null", path, (unsigned) geteuid ());
    self->users = true;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) users, key, value) {
        if (streq (key, "uid_base") || streq (key, "count")) {
            json_int_t number = json_is_integer (value) ? json_integer_value (value) : -1;
            if (number < 1 || number > 0x7fffffff)
                return sbx_error_new (S_ERROR, "%s.users.%s: must be an integer in [1, 2147483647]", path, key);
            if (streq (key, "uid_base"))
                self->uid_base = (uint32_t) number;
            else
                self->uid_count = (uint32_t) number;
        }
        else
        if (streq (key, "lock_dir")) {
            if (!json_is_string (value) || json_string_value (value) [0] != '/')
                return sbx_error_new (S_ERROR, "%s.users.lock_dir: must be an absolute path", path);
            free (self->lock_dir);
            self->lock_dir = strdup (json_string_value (value));
        }
        else
            return sbx_error_new (S_ERROR, "%s.users.%s: unknown key (it takes uid_base, count, lock_dir)",
                                  path, key);
    }
    if ((uint64_t) self->uid_base + self->uid_count > 0x7fffffffu)
        return sbx_error_new (S_ERROR, "%s.users: uid_base + count must stay below 2^31", path);
    return NULL;
}

//  isolation: "none", "bwrap" or "auto" (-1 when bad); network: "none"
//  or "host" (-1 when bad).
static int
s_choice (const json_t *value, const char *const *choices)
{
    const char *text = json_is_string (value) ? json_string_value (value) : "";
    for (int i = 0; choices [i]; i++)
        if (streq (text, choices [i]))
            return i;
    return -1;
}

static sbx_error_t *
s_parse (sbx_process_config_t *self, const json_t *options, const char *path, int *isolation_p,
         int *network_p)
{
    static const char *const isolations [] = {"none", "bwrap", "auto", NULL};
    static const char *const networks [] = {"none", "host", NULL};
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value) {
        sbx_error_t *error = NULL;
        if (streq (key, "kind"))
            continue;
        if (streq (key, "isolation")) {
            if ((*isolation_p = s_choice (value, isolations)) < 0)
                error = sbx_error_new (S_ERROR, "%s.isolation: must be \"none\", \"bwrap\" or \"auto\"", path);
        }
        else
        if (streq (key, "network")) {
            if ((*network_p = s_choice (value, networks)) < 0)
                error = sbx_error_new (S_ERROR, "%s.network: must be \"none\" or \"host\"", path);
        }
        else
        if (streq (key, "limits"))
            error = s_parse_limits (self, value, path);
        else
        if (streq (key, "users"))
            error = s_parse_users (self, value, path);
        else
        if (streq (key, "bwrap") || streq (key, "init_path")) {
            if (!json_is_string (value) || json_string_value (value) [0] != '/')
                error = sbx_error_new (S_ERROR, "%s.%s: must be an absolute path", path, key);
            else {
                char **field = streq (key, "bwrap") ? &self->bwrap : &self->init_path;
                free (*field);
                *field = strdup (json_string_value (value));
            }
        }
        else
            error = sbx_error_new (S_ERROR, "%s.%s: unknown option of the process sandbox (it takes "
                                   "isolation, network, limits, users, bwrap, init_path)", path, key);
        if (error)
            return error;
    }
    return NULL;
}

//  Resolves the isolation: bwrap must work when asked for; "auto" takes
//  it where it works and says why not where it does not.
static sbx_error_t *
s_isolation (sbx_process_config_t *self, int isolation, int network, const char *path)
{
    char *why = NULL;
    if (isolation != 0) {
        if (!self->bwrap)
            self->bwrap = s_which ("bwrap");
        why = self->bwrap ? s_probe_bwrap (self)
                          : zsys_sprintf ("needs bubblewrap, which is not installed (no bwrap on PATH; "
                                          "install the bubblewrap package or set %s.bwrap)", path);
    }
    sbx_error_t *error = NULL;
    if (isolation == 1 && why)
        error = sbx_error_new (S_ERROR, "%s.isolation: \"bwrap\" %s; use isolation \"none\" or fix bubblewrap",
                               path, why);
    else
    if (isolation == 2 && why)
        sbx_log_warning ("sandbox", "%s.isolation \"auto\": commands run without isolation (\"none\"): "
                         "\"bwrap\" %s", path, why);
    self->bwrap_isolation = isolation != 0 && !why;
    if (!error && network == 0 && !self->bwrap_isolation)
        error = sbx_error_new (S_ERROR, "%s.network: \"none\" needs isolation \"bwrap\"%s; with isolation "
                               "\"none\" commands share the host's network (set \"host\")", path,
                               isolation == 2 ? ", which \"auto\" could not use here" : "");
    zstr_free (&why);
    return error;
}

//  Finds the cgroup layout the limits need.
static sbx_error_t *
s_cgroups (sbx_process_config_t *self, const char *path)
{
    unsigned required = 0, wanted = 0;
    const char *needs = NULL;
    if (self->limits [S_LIMIT_MEMORY] >= 0) {
        required |= SBX_CGROUP_MEMORY;
        needs = "memory_mb";
    }
    if (self->limits [S_LIMIT_CPU_SHARE] >= 0) {
        required |= SBX_CGROUP_CPU;
        needs = needs ? needs : "cpu";
    }
    if (self->limits [S_LIMIT_NPROC] >= 0) {
        if (self->processes_given) {
            required |= SBX_CGROUP_PIDS;
            needs = needs ? needs : "processes";
        }
        else
            wanted |= SBX_CGROUP_PIDS;
    }
    char *why = NULL;
    self->cgroups = sbx_process_cgroups_new (required, wanted, &why);
    if (!self->cgroups && required) {
        sbx_error_t *error = sbx_error_new (S_ERROR, "%s.limits.%s: needs a cgroup of its own for each sandbox, "
                                            "and none can be made here (%s); remove the limit or run sbxd where "
                                            "it can", path, needs, why);
        zstr_free (&why);
        return error;
    }
    unsigned have = self->cgroups ? sbx_process_cgroups_controllers (self->cgroups) : 0;
    if (wanted & ~have) {
        self->nproc_rlimit = true;
        sbx_log_warning ("sandbox", "%s.limits.processes: no pids cgroup (%s): counted per uid by RLIMIT_NPROC "
                         "instead%s", path, why ? why : "the layout in use has none",
                         self->users ? "" : ", which counts every process of sbxd's user");
    }
    if (!self->cgroups)
        sbx_log_info ("sandbox", "no cgroup for sandboxes: %s", why);
    else
        sbx_log_debug ("sandbox", "sandboxes' cgroups: %s", sbx_process_cgroups_describe (self->cgroups));
    zstr_free (&why);
    return NULL;
}

sbx_process_config_t *
sbx_process_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    sbx_process_config_t *self = (sbx_process_config_t *) zmalloc (sizeof (sbx_process_config_t));
    for (int i = 0; i < S_LIMITS; i++)
        self->limits [i] = (double) s_limit_info [i].fallback;
    self->users = geteuid () == 0;
    self->uid_base = 1900000000;
    self->uid_count = 65536;
    self->lock_dir = strdup ("/run/sbx-uids");
    self->gate [0] = self->gate [1] = -1;
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    long slots = cores > 4 ? 4 * cores : 16;
    if (pipe2 (self->gate, O_CLOEXEC | O_NONBLOCK) == 0)
        for (long i = 0; i < slots; i++)
            if (write (self->gate [1], "", 1) != 1)
                break;
    int isolation = 0, network = -1;
    sbx_error_t *error = s_parse (self, options, path, &isolation, &network);
    self->host_network = network == 1;
    if (!error && !self->init_path)
        self->init_path = s_default_init_path ();
    if (!error && access (self->init_path, X_OK) != 0)
        error = sbx_error_new (S_ERROR, "%s.init_path: %s is not an executable (%s); build the sbx-init "
                               "target next to sbxd, or name it here", path, self->init_path, strerror (errno));
    int rc = 0;
    if (!error && self->users && (rc = sbx_process_tree_make (self->lock_dir, 0755)) != 0)
        error = sbx_error_new (S_ERROR, "%s.users.lock_dir: cannot create %s: %s", path, self->lock_dir,
                               strerror (-rc));
    if (!error)
        error = s_isolation (self, isolation, network, path);
    if (!error && self->limits [S_LIMIT_DISK] >= 0 && geteuid () != 0)
        error = sbx_error_new (S_ERROR, "%s.limits.disk_mb: needs sbxd to run as root (it mounts a tmpfs of "
                               "that size for each sandbox; sbxd runs as uid %u)", path, (unsigned) geteuid ());
    if (!error)
        error = s_cgroups (self, path);
    if (!error && !self->bwrap_isolation && !self->users)
        sbx_log_warning ("sandbox", "%s: isolation \"none\" without a user per sandbox: what commands leave "
                         "outside the sandbox's directory (/tmp, /dev/shm, IPC) cannot be told from sbxd's "
                         "own, and is not cleaned between sessions", path);
    if (error) {
        sbx_process_config_destroy (&self);
        *error_p = error;
        return NULL;
    }
    return self;
}
