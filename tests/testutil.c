/*  Shared helpers for the Criterion suites - see testutil.h. One file on
    purpose: every suite links it, so a helper two suites need lives here
    once instead of as a copy in each; it is long because they share a lot. */
#include "testutil.h"
#include "messages/event.h"
#include "messages/mp.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <grp.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#ifdef SBX_TESTUTIL_CRITERION
#   include <criterion/criterion.h>
#endif

extern char **environ;

unsigned long sbx_test_nofile_soft = 0;

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define S_STDERR_KEPT (8u << 20)

//  Keeps what the daemon wrote (the first S_STDERR_KEPT bytes) for
//  sbx_test_wait_stderr.
static void
s_keep_stderr (sbx_test_daemon_t *self, const char *data, size_t size)
{
    pthread_mutex_lock (&self->stderr_lock);
    if (self->stderr_size + size < S_STDERR_KEPT) {
        self->stderr_text = (char *) realloc (self->stderr_text, self->stderr_size + size + 1);
        memcpy (self->stderr_text + self->stderr_size, data, size);
        self->stderr_size += size;
        self->stderr_text [self->stderr_size] = 0;
        pthread_cond_broadcast (&self->stderr_grew);
    }
    pthread_mutex_unlock (&self->stderr_lock);
}

bool
sbx_test_wait_stderr (sbx_test_daemon_t *self, const char *needle, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock (&self->stderr_lock);
    bool found = false;
    while (!(found = self->stderr_text && strstr (self->stderr_text, needle)))
        if (pthread_cond_timedwait (&self->stderr_grew, &self->stderr_lock, &deadline) != 0)
            break;
    found = self->stderr_text && strstr (self->stderr_text, needle);
    pthread_mutex_unlock (&self->stderr_lock);
    return found;
}

//  Copies the daemon's stderr (its log) to ours as it comes, line by line,
//  so it is there even when an assertion ends the test early, and counts
//  the lines that report a broken invariant ("bug:"). Ends at the pipe's
//  end, or at stderr_deadline once it is set.
static void *
s_read_stderr (void *args)
{
    sbx_test_daemon_t *self = (sbx_test_daemon_t *) args;
    char line [4096];
    size_t used = 0;
    while (true) {
        int64_t deadline = atomic_load (&self->stderr_deadline);
        if (deadline && s_now_ms () >= deadline)
            break;
        struct pollfd item = {self->stderr_fd, POLLIN, 0};
        if (poll (&item, 1, 50) <= 0)
            continue;
        ssize_t n = read (self->stderr_fd, line + used, sizeof line - 1 - used);
        if (n <= 0)
            break;
        used += (size_t) n;
        line [used] = 0;
        char *start = line, *end;
        while ((end = strchr (start, '\n')) || used == sizeof line - 1) {
            if (!end)
                end = line + used - 1;
            if (memmem (start, (size_t) (end - start), "] bug: ", 7))
                atomic_fetch_add (&self->bugs, 1);
            fwrite (start, 1, (size_t) (end - start) + 1, stderr);
            s_keep_stderr (self, start, (size_t) (end - start) + 1);
            start = end + 1;
            if (start >= line + used)
                break;
        }
        used -= (size_t) (start - line);
        memmove (line, start, used);
    }
    if (used)
        fwrite (line, 1, used, stderr);
    return NULL;
}

//  Reads sbxd's stdout until the "listening:" line, or the deadline.
static bool
s_read_endpoints (sbx_test_daemon_t *self, int timeout_ms)
{
    char buffer [4096];
    size_t used = 0;
    int64_t deadline = s_now_ms () + timeout_ms;
    while (s_now_ms () < deadline && used < sizeof buffer - 1) {
        struct pollfd item = {self->stdout_fd, POLLIN, 0};
        int rc = poll (&item, 1, (int) (deadline - s_now_ms ()));
        if (rc <= 0)
            continue;
        ssize_t n = read (self->stdout_fd, buffer + used, sizeof buffer - 1 - used);
        if (n <= 0)
            return false;           //  exited before listening
        used += (size_t) n;
        buffer [used] = 0;
        //  "... listening: requests=EP events=EP[ metrics=URL]": each value
        //  ends at a space or the line's end; more fields may follow.
        char *line = strstr (buffer, " listening: ");
        char *end = line ? strchr (line, '\n') : NULL;
        if (end) {
            *end = 0;
            const struct {
                const char *key;
                char *value;
                size_t size;
            } fields [] = {
                {" requests=", self->requests, sizeof self->requests},
                {" events=", self->events, sizeof self->events},
                {" metrics=", self->metrics, sizeof self->metrics},
            };
            for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++) {
                const char *at = strstr (line, fields [i].key);
                at = at ? at + strlen (fields [i].key) : "";
                snprintf (fields [i].value, fields [i].size, "%.*s", (int) strcspn (at, " "), at);
            }
            return *self->requests && *self->events;
        }
    }
    return false;
}

//  Why the last start failed.
static char s_failure [1024];

const char *
sbx_test_daemon_failure (void)
{
    return s_failure;
}

//  Records and prints why a start failed, destroys what it made so far,
//  and returns NULL.
static sbx_test_daemon_t *
s_start_failed (sbx_test_daemon_t **self_p, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static sbx_test_daemon_t *
s_start_failed (sbx_test_daemon_t **self_p, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (s_failure, sizeof s_failure, format, args);
    va_end (args);
    fprintf (stderr, "testutil: %s\n", s_failure);
    sbx_test_daemon_destroy (self_p);
    return NULL;
}

//  Copies the program `from` to `to`, mode 0755. 0, or -1 with errno.
static int
s_copy_program (const char *from, const char *to)
{
    int in = open (from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open (to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    int rc = out < 0 ? -1 : 0;
    char buffer [65536];
    ssize_t n = 0;
    while (rc == 0 && (n = read (in, buffer, sizeof buffer)) > 0)
        if (write (out, buffer, (size_t) n) != n)
            rc = -1;
    if (n < 0 || (out >= 0 && fchmod (out, 0755) != 0))
        rc = -1;
    int error = errno;
    close (in);
    if (out >= 0 && close (out) != 0 && rc == 0) {
        error = errno;
        rc = -1;
    }
    errno = error;
    return rc;
}

int
sbx_test_copy_programs (char *dir, size_t size)
{
    snprintf (dir, size, "/tmp/sbx-bin-XXXXXX");
    if (!mkdtemp (dir)) {
        dir [0] = 0;
        return -1;
    }
    char sbxd [PATH_MAX], init [PATH_MAX];
    snprintf (sbxd, sizeof sbxd, "%s/sbxd", dir);
    snprintf (init, sizeof init, "%s/sbx-init", dir);
    if (chmod (dir, 0755) != 0 || s_copy_program (SBX_BUILD_DIR "/sbxd", sbxd) != 0
    ||  s_copy_program (SBX_BUILD_DIR "/sbx-init", init) != 0)
        return -1;
    return 0;
}

//  Checks that user `uid` (group `uid`, no other groups) can run each of
//  the NULL-terminated `programs`. NULL, or why not (in `why`).
static const char *
s_user_can_run (uid_t uid, const char *const *programs, char *why, size_t size)
{
    int report [2];
    if (pipe2 (report, O_CLOEXEC) != 0)
        return "cannot check the copies: no pipe";
    pid_t pid = fork ();
    if (pid == 0) {
        close (report [0]);
        char text [512] = "";
        if (setgroups (0, NULL) != 0 || setgid (uid) != 0 || setuid (uid) != 0)
            snprintf (text, sizeof text, "cannot become uid %u: %s", (unsigned) uid, strerror (errno));
        for (size_t i = 0; !*text && programs [i]; i++)
            if (access (programs [i], X_OK) != 0)
                snprintf (text, sizeof text, "uid %u cannot run %s: %s", (unsigned) uid, programs [i],
                          strerror (errno));
        if (*text && write (report [1], text, strlen (text)) < 0)
            _exit (2);
        _exit (*text ? 1 : 0);
    }
    close (report [1]);
    if (pid < 0) {
        close (report [0]);
        return "cannot check the copies: no fork";
    }
    ssize_t n = read (report [0], why, size - 1);
    why [n > 0 ? n : 0] = 0;
    close (report [0]);
    int status = 0;
    waitpid (pid, &status, 0);
    if (*why)
        return why;
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? NULL : "the check of the copies failed";
}

sbx_test_daemon_t *
sbx_test_daemon_start (const json_t *config, const char *const *extra)
{
    return sbx_test_daemon_start_as (config, extra, (uid_t) -1);
}

sbx_test_daemon_t *
sbx_test_daemon_start_as (const json_t *config, const char *const *extra, uid_t uid)
{
    s_failure [0] = 0;
    sbx_test_daemon_t *self = (sbx_test_daemon_t *) zmalloc (sizeof (sbx_test_daemon_t));
    self->pid = -1;
    self->exit_code = -1;
    self->stdout_fd = -1;
    self->stderr_fd = -1;
    pthread_mutex_init (&self->stderr_lock, NULL);
    pthread_cond_init (&self->stderr_grew, NULL);
    snprintf (self->dir, sizeof self->dir, "/tmp/sbx-test-XXXXXX");
    if (!mkdtemp (self->dir)) {
        self->dir [0] = 0;
        return s_start_failed (&self, "cannot make a test directory under /tmp: %s", strerror (errno));
    }
    snprintf (self->config_path, sizeof self->config_path, "%s/config.json", self->dir);
    snprintf (self->log_path, sizeof self->log_path, "%s/events.jsonl", self->dir);
    snprintf (self->root_dir, sizeof self->root_dir, "%s/root", self->dir);

    json_t *copy = json_deep_copy (config);
    json_t *endpoints = json_object_get (copy, "endpoints");
    if (!endpoints) {
        endpoints = json_object ();
        json_object_set_new (copy, "endpoints", endpoints);
    }
    if (!json_object_get (endpoints, "requests"))
        json_object_set_new (endpoints, "requests", json_string ("tcp://127.0.0.1:*"));
    if (!json_object_get (endpoints, "events"))
        json_object_set_new (endpoints, "events", json_string ("tcp://127.0.0.1:*"));
    //  Never the default port: daemons of parallel tests would share it.
    if (!json_object_get (endpoints, "metrics"))
        json_object_set_new (endpoints, "metrics", json_string ("http://127.0.0.1:0/metrics"));
    json_t *environment = json_object_get (copy, "environment");
    if (!environment) {
        environment = json_object ();
        json_object_set_new (copy, "environment", environment);
    }
    if (!json_object_get (environment, "root_dir"))
        json_object_set_new (environment, "root_dir", json_string (self->root_dir));
    //  Where sbxd puts its admin endpoint (docs/security.md).
    const json_t *admin = json_object_get (endpoints, "admin");
    const char *env_id = json_string_value (json_object_get (environment, "id"));
    if (json_is_string (admin))
        snprintf (self->admin, sizeof self->admin, "%s", json_string_value (admin));
    else
    if (!admin)
        snprintf (self->admin, sizeof self->admin, "ipc://%s/%s.admin",
                  json_string_value (json_object_get (environment, "root_dir")), env_id ? env_id : "default");
    int rc = json_dump_file (copy, self->config_path, JSON_INDENT (1));
    json_decref (copy);
    if (rc != 0)
        return s_start_failed (&self, "cannot write %s", self->config_path);

    //  A config that sets events.log itself (even to null) gets no
    //  --event-log: benchmarks measure without the log.
    const json_t *events = json_object_get (config, "events");
    bool own_log = events && json_object_get (events, "log");
    //  Another user: its own test directory, and setpriv(1) to become it.
    char reuid [32], regid [32];
    snprintf (reuid, sizeof reuid, "--reuid=%u", (unsigned) uid);
    snprintf (regid, sizeof regid, "--regid=%u", (unsigned) uid);
    const char *argv [40] = {"/usr/bin/setpriv", reuid, regid, "--clear-groups"};
    size_t first = 0;
    char sbxd [PATH_MAX];
    snprintf (sbxd, sizeof sbxd, "%s", SBX_BUILD_DIR "/sbxd");
    if (uid != (uid_t) -1) {
        if (chown (self->dir, uid, uid) != 0 || chown (self->config_path, uid, uid) != 0)
            return s_start_failed (&self, "cannot give %s to uid %u: %s", self->dir, (unsigned) uid,
                                   strerror (errno));
        //  The build directory may be out of the user's reach: sbxd, and
        //  sbx-init next to it (where sbxd looks for it), go to a fresh
        //  directory the user can enter.
        if (sbx_test_copy_programs (self->bin_dir, sizeof self->bin_dir) != 0)
            return s_start_failed (&self, "cannot copy sbxd and sbx-init from %s to %s: %s", SBX_BUILD_DIR,
                                   self->bin_dir [0] ? self->bin_dir : "/tmp", strerror (errno));
        char init [PATH_MAX];
        snprintf (sbxd, sizeof sbxd, "%s/sbxd", self->bin_dir);
        snprintf (init, sizeof init, "%s/sbx-init", self->bin_dir);
        const char *const programs [] = {argv [0], sbxd, init, NULL};
        char why [512];
        const char *cannot = s_user_can_run (uid, programs, why, sizeof why);
        if (cannot)
            return s_start_failed (&self, "%s", cannot);
        first = 4;
    }
    size_t argc = first;
    argv [argc++] = sbxd;
    argv [argc++] = "-c";
    argv [argc++] = self->config_path;
    if (!own_log) {
        argv [argc++] = "--event-log";
        argv [argc++] = self->log_path;
    }
    for (size_t i = 0; extra && extra [i] && argc < 38; i++)
        argv [argc++] = extra [i];
    //  SBX_TEST_VERBOSE=1: every daemon logs every event and request.
    const char *verbose = getenv ("SBX_TEST_VERBOSE");
    if (verbose && streq (verbose, "1"))
        argv [argc++] = "-v";
    argv [argc] = NULL;

    int out [2], err [2];
    if (pipe2 (out, O_CLOEXEC) != 0)
        return s_start_failed (&self, "no pipe: %s", strerror (errno));
    if (pipe2 (err, O_CLOEXEC) != 0) {
        close (out [0]);
        close (out [1]);
        return s_start_failed (&self, "no pipe: %s", strerror (errno));
    }
    //  fork, not posix_spawn: the daemon is to die with the test process
    //  (PR_SET_PDEATHSIG), so that a test that fails half-way leaves no
    //  daemon behind.
    pid_t parent = getpid ();
    self->pid = fork ();
    if (self->pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        if (sbx_test_nofile_soft) {
            struct rlimit limit;
            getrlimit (RLIMIT_NOFILE, &limit);
            limit.rlim_cur = sbx_test_nofile_soft;
            setrlimit (RLIMIT_NOFILE, &limit);
        }
        dup2 (out [1], 1);
        dup2 (err [1], 2);
        //  Another user starts where it may be.
        if (uid != (uid_t) -1 && chdir (self->dir) != 0)
            _exit (127);
        execve (argv [0], (char *const *) argv, environ);
        _exit (127);
    }
    close (out [1]);
    close (err [1]);
    self->stdout_fd = out [0];
    self->stderr_fd = err [0];
    if (pthread_create (&self->stderr_reader, NULL, s_read_stderr, self) == 0)
        self->reading = true;
    if (self->pid < 0) {
        rc = errno;
        self->pid = -1;
        return s_start_failed (&self, "cannot fork for %s: %s", argv [0], strerror (rc));
    }
    if (!s_read_endpoints (self, 10000)) {
        char said [600] = "";
        sbx_test_daemon_wait (self, 2000);
        pthread_mutex_lock (&self->stderr_lock);
        if (self->stderr_text) {
            size_t size = strlen (self->stderr_text);
            snprintf (said, sizeof said, "%s", self->stderr_text + (size > 599 ? size - 599 : 0));
        }
        pthread_mutex_unlock (&self->stderr_lock);
        return s_start_failed (&self, "sbxd did not say where it listens%s%s", *said ? "; it said: " : "",
                               said);
    }
    return self;
}

sbx_test_daemon_t *
sbx_test_daemon_start_text (const char *config_json)
{
    json_error_t problem;
    json_t *config = json_loads (config_json, 0, &problem);
    if (!config) {
        fprintf (stderr, "testutil: bad config JSON: %s\n", problem.text);
        return NULL;
    }
    sbx_test_daemon_t *self = sbx_test_daemon_start (config, NULL);
    json_decref (config);
    return self;
}

//  Once the daemon is over: the reader has copied all it wrote (up to a
//  second after its exit: a process it left behind may hold the pipe),
//  and every line that reported a broken invariant fails the test.
static void
s_daemon_over (sbx_test_daemon_t *self)
{
    if (!self->reading)
        return;
    atomic_store (&self->stderr_deadline, s_now_ms () + 1000);
    pthread_join (self->stderr_reader, NULL);
    self->reading = false;
    close (self->stderr_fd);
    self->stderr_fd = -1;
#ifdef SBX_TESTUTIL_CRITERION
    int bugs = atomic_load (&self->bugs);
    cr_expect_eq (bugs, 0, "sbxd logged %d line(s) with 'bug:' (above)", bugs);
#endif
}

int
sbx_test_daemon_wait (sbx_test_daemon_t *self, int timeout_ms)
{
    if (self->pid <= 0)
        return self->exit_code;
    //  A pidfd becomes readable when the process exits.
    int pidfd = (int) syscall (SYS_pidfd_open, self->pid, 0);
    int status = 0;
    pid_t rc = 0;
    if (pidfd >= 0) {
        struct pollfd item = {pidfd, POLLIN, 0};
        if (poll (&item, 1, timeout_ms) > 0)
            rc = waitpid (self->pid, &status, 0);
        close (pidfd);
    }
    else
        rc = waitpid (self->pid, &status, 0);
    if (rc != self->pid) {
        kill (self->pid, SIGKILL);
        waitpid (self->pid, &status, 0);
        self->pid = -1;
        self->exit_code = -1;
        s_daemon_over (self);
        return -1;
    }
    self->pid = -1;
    self->exit_code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
    s_daemon_over (self);
    return self->exit_code;
}

int
sbx_test_daemon_shutdown (sbx_test_daemon_t *self)
{
    //  A signal, not the `shutdown` op: a daemon that has exited already
    //  leaves its port free, and a request sent there could reach the next
    //  daemon to bind it - another test's.
    if (self->pid > 0)
        kill (self->pid, SIGTERM);
    return sbx_test_daemon_wait (self, 30000);
}

//  sbx_test_run, collecting stdout and stderr together or only stderr
//  (stdout to /dev/null).
static int
s_run (const char *const *argv, const char *const *env, bool with_stdout, char *output, size_t size)
{
    char *environment [256];
    size_t n = 0;
    for (size_t i = 0; environ [i] && n < 200; i++)
        if (strncmp (environ [i], "SBX_", 4) != 0)
            environment [n++] = environ [i];
    for (size_t i = 0; env && env [i] && n < 255; i++)
        environment [n++] = (char *) env [i];
    environment [n] = NULL;
    output [0] = 0;
    int out [2];
    if (pipe2 (out, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
    if (with_stdout)
        posix_spawn_file_actions_adddup2 (&actions, out [1], 1);
    else
        posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2 (&actions, out [1], 2);
    pid_t pid;
    int rc = posix_spawn (&pid, argv [0], &actions, NULL, (char *const *) argv, environment);
    posix_spawn_file_actions_destroy (&actions);
    close (out [1]);
    if (rc != 0) {
        snprintf (output, size, "cannot run %s: %s", argv [0], strerror (rc));
        close (out [0]);
        return -1;
    }
    size_t used = 0;
    int64_t deadline = s_now_ms () + 30000;
    bool timed_out = false;
    while (true) {
        int64_t left = deadline - s_now_ms ();
        struct pollfd item = {out [0], POLLIN, 0};
        if (left <= 0 || poll (&item, 1, (int) left) <= 0) {
            timed_out = left <= 0 || s_now_ms () >= deadline;
            break;
        }
        char chunk [4096];
        ssize_t got = read (out [0], chunk, sizeof chunk);
        if (got <= 0)
            break;
        size_t keep = used + (size_t) got < size - 1 ? (size_t) got : size - 1 - used;
        memcpy (output + used, chunk, keep);
        used += keep;
    }
    output [used] = 0;
    close (out [0]);
    if (timed_out)
        kill (pid, SIGKILL);
    int status = 0;
    waitpid (pid, &status, 0);
    if (timed_out)
        return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

int
sbx_test_run (const char *const *argv, const char *const *env, char *output, size_t size)
{
    return s_run (argv, env, true, output, size);
}

int
sbx_test_sbxd (const char *config, const char *const *args, char *err, size_t size)
{
    char dir [] = "/tmp/sbx-test-XXXXXX";
    char path [64] = "";
    if (config) {
        FILE *file = NULL;
        if (mkdtemp (dir)) {
            snprintf (path, sizeof path, "%s/config.json", dir);
            file = fopen (path, "w");
        }
        if (!file) {
            snprintf (err, size, "testutil: cannot write a config under /tmp: %s", strerror (errno));
            return -1;
        }
        fputs (config, file);
        fclose (file);
    }
    const char *argv [32] = {SBX_BUILD_DIR "/sbxd"};
    size_t argc = 1;
    if (config) {
        argv [argc++] = "-c";
        argv [argc++] = path;
    }
    for (size_t i = 0; args && args [i] && argc < 31; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    int code = s_run (argv, NULL, false, err, size);
    if (config) {
        unlink (path);
        rmdir (dir);
    }
    return code;
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

//  `sbxd --clean` on the daemon's configuration, quietly.
static void
s_clean_after (sbx_test_daemon_t *self)
{
    const char *argv [] = {SBX_BUILD_DIR "/sbxd", "--clean", "-q", "-c", self->config_path, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    if (posix_spawn (&pid, argv [0], &actions, NULL, (char *const *) argv, environ) == 0)
        waitpid (pid, NULL, 0);
    posix_spawn_file_actions_destroy (&actions);
}

void
sbx_test_daemon_destroy (sbx_test_daemon_t **self_p)
{
    sbx_test_daemon_t *self = *self_p;
    if (!self)
        return;
    bool crashed = self->pid > 0 || self->exit_code != 0;
    if (self->pid > 0) {
        kill (self->pid, SIGKILL);
        waitpid (self->pid, NULL, 0);
    }
    s_daemon_over (self);
    //  What a killed daemon left outside its directory (cgroups, the
    //  mounts of disk quotas) goes as it would at the next start.
    if (crashed && self->config_path [0] && access (self->config_path, F_OK) == 0)
        s_clean_after (self);
    free (self->stderr_text);
    pthread_mutex_destroy (&self->stderr_lock);
    pthread_cond_destroy (&self->stderr_grew);
    if (self->stdout_fd > 0)
        close (self->stdout_fd);
    if (self->dir [0])
        nftw (self->dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    if (self->bin_dir [0])
        nftw (self->bin_dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    free (self);
    *self_p = NULL;
}

zsock_t *
sbx_test_connect (sbx_test_daemon_t *self)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, "%s", self->requests);
    return dealer;
}

zsock_t *
sbx_test_connect_admin (sbx_test_daemon_t *self)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, "%s", self->admin);
    return dealer;
}

sbx_reply_t *
sbx_test_request_raw (zsock_t *dealer, const void *data, size_t size, int timeout_ms)
{
    //  Never blocks: a DEALER whose only connection was refused (libzmq
    //  does not connect again after a refused handshake) has nowhere to
    //  send, and the test fails here, saying so, instead of hanging.
    if (zmq_send (zsock_resolve (dealer), data, size, ZMQ_DONTWAIT) < 0) {
        fprintf (stderr, "testutil: cannot send a request: %s (no connection to the daemon?)\n",
                 zmq_strerror (zmq_errno ()));
        return NULL;
    }
    return sbx_test_reply_recv (dealer, timeout_ms);
}

sbx_reply_t *
sbx_test_reply_recv (zsock_t *dealer, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (dealer, NULL);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    if (!which)
        return NULL;
    zframe_t *frame = zframe_recv (dealer);
    if (!frame)
        return NULL;
    sbx_error_t *error = NULL;
    sbx_reply_t *reply = sbx_reply_decode (zframe_data (frame), zframe_size (frame), &error);
    zframe_destroy (&frame);
    sbx_error_destroy (&error);
    return reply;
}

int
sbx_test_pack_json (msgpack_sbuffer *buffer, const char *json)
{
    msgpack_sbuffer_init (buffer);
    json_error_t problem;
    json_t *value = json_loads (json, JSON_DECODE_ANY, &problem);
    if (!value) {
        fprintf (stderr, "testutil: bad JSON '%s': %s\n", json, problem.text);
        return -1;
    }
    msgpack_packer packer;
    msgpack_packer_init (&packer, buffer, msgpack_sbuffer_write);
    sbx_mp_from_json (&packer, value);
    json_decref (value);
    return 0;
}

sbx_reply_t *
sbx_test_request (zsock_t *dealer, const char *json, int timeout_ms)
{
    msgpack_sbuffer buffer;
    sbx_reply_t *reply = NULL;
    if (sbx_test_pack_json (&buffer, json) == 0)
        reply = sbx_test_request_raw (dealer, buffer.data, buffer.size, timeout_ms);
    msgpack_sbuffer_destroy (&buffer);
    return reply;
}

sbx_reply_t *
sbx_test_requestf (zsock_t *dealer, int timeout_ms, const char *format, ...)
{
    char json [8192];
    va_list args;
    va_start (args, format);
    vsnprintf (json, sizeof json, format, args);
    va_end (args);
    return sbx_test_request (dealer, json, timeout_ms);
}

int
sbx_test_sendf (zsock_t *dealer, const char *format, ...)
{
    char json [8192];
    va_list args;
    va_start (args, format);
    vsnprintf (json, sizeof json, format, args);
    va_end (args);
    msgpack_sbuffer buffer;
    int rc = sbx_test_pack_json (&buffer, json);
    if (rc == 0 && zmq_send (zsock_resolve (dealer), buffer.data, buffer.size, ZMQ_DONTWAIT) < 0) {
        fprintf (stderr, "testutil: cannot send %s: %s (no connection to the daemon?)\n", json,
                 zmq_strerror (zmq_errno ()));
        rc = -1;
    }
    msgpack_sbuffer_destroy (&buffer);
    return rc;
}

const char *
sbx_test_reply_type (const sbx_reply_t *reply)
{
    if (!reply)
        return "timeout";
    if (sbx_reply_is_ok (reply))
        return "ok";
    return sbx_error_type (sbx_reply_get_error (reply));
}

char **
sbx_test_log_lines (sbx_test_daemon_t *self, size_t *count_p)
{
    size_t count = 0, capacity = 64;
    char **lines = (char **) zmalloc ((capacity + 1) * sizeof (char *));
    FILE *file = fopen (self->log_path, "r");
    char *line = NULL;
    size_t size = 0;
    while (file && getline (&line, &size, file) > 0) {
        json_t *json = json_loads (line, 0, NULL);
        sbx_error_t *error = NULL;
        sbx_event_t *event = json ? sbx_event_from_json (json, &error) : NULL;
        if (event) {
            if (count == capacity) {
                capacity *= 2;
                lines = (char **) realloc (lines, (capacity + 1) * sizeof (char *));
            }
            lines [count++] = sbx_event_text (event);
            sbx_event_destroy (&event);
        }
        sbx_error_destroy (&error);
        json_decref (json);
    }
    free (line);
    if (file)
        fclose (file);
    lines [count] = NULL;
    if (count_p)
        *count_p = count;
    return lines;
}

void
sbx_test_lines_free (char ***lines_p)
{
    char **lines = *lines_p;
    for (size_t i = 0; lines && lines [i]; i++)
        free (lines [i]);
    free (lines);
    *lines_p = NULL;
}

int
sbx_test_log_count (sbx_test_daemon_t *self, const char *line)
{
    char **lines = sbx_test_log_lines (self, NULL);
    int count = 0;
    for (size_t i = 0; lines [i]; i++)
        count += streq (lines [i], line);
    sbx_test_lines_free (&lines);
    return count;
}

//  Asks `done` again after every write to the daemon's directory (the log
//  is flushed per event) until it says yes; false after timeout_ms.
static bool
s_wait_log_until (sbx_test_daemon_t *self, bool (*done) (sbx_test_daemon_t *, const void *, size_t),
                  const void *what, size_t count, int timeout_ms)
{
    int watch = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
    if (watch >= 0)
        inotify_add_watch (watch, self->dir, IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE);
    int64_t deadline = s_now_ms () + timeout_ms;
    bool found = false;
    while (!found) {
        found = done (self, what, count);
        int64_t left = deadline - s_now_ms ();
        if (found || left <= 0 || watch < 0)
            break;
        struct pollfd item = {watch, POLLIN, 0};
        if (poll (&item, 1, (int) left) > 0) {
            char sink [4096];
            while (read (watch, sink, sizeof sink) > 0)
                ;
        }
    }
    if (watch >= 0)
        close (watch);
    return found;
}

static bool
s_log_holds_line (sbx_test_daemon_t *self, const void *line, size_t nth)
{
    return sbx_test_log_count (self, (const char *) line) >= (int) nth;
}

bool
sbx_test_wait_log (sbx_test_daemon_t *self, const char *line, int nth, int timeout_ms)
{
    return s_wait_log_until (self, s_log_holds_line, line, (size_t) (nth > 0 ? nth : 0), timeout_ms);
}

static bool
s_log_holds_events (sbx_test_daemon_t *self, const void *unused, size_t count)
{
    (void) unused;
    size_t lines = 0;
    FILE *file = fopen (self->log_path, "r");
    int c;
    while (file && (c = fgetc (file)) != EOF)
        lines += c == '\n';
    if (file)
        fclose (file);
    return lines >= count;
}

bool
sbx_test_wait_log_events (sbx_test_daemon_t *self, size_t count, int timeout_ms)
{
    return s_wait_log_until (self, s_log_holds_events, NULL, count, timeout_ms);
}

#ifdef SBX_TESTUTIL_CRITERION
void
sbx_test_assert_str (const char *a, const char *b, const char *what)
{
    if (!a || !b)
        cr_assert (a == b, "%s: '%s' vs '%s'", what, a ? a : "(null)", b ? b : "(null)");
    else
        cr_assert_str_eq (a, b, "%s", what);
}
#endif

int
sbx_test_wait_pid (pid_t pid, int timeout_ms)
{
    int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
    int status = 0;
    pid_t rc = 0;
    if (pidfd >= 0) {
        struct pollfd item = {pidfd, POLLIN, 0};
        if (poll (&item, 1, timeout_ms) > 0)
            rc = waitpid (pid, &status, 0);
        close (pidfd);
    }
    if (rc != pid) {
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
        return -1;
    }
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

void
sbx_test_append (char **buffer, size_t *size, const char *data, size_t length)
{
    *buffer = (char *) realloc (*buffer, *size + length + 1);
    memcpy (*buffer + *size, data, length);
    *size += length;
    (*buffer) [*size] = 0;
}

int
sbx_test_dir_entries (const char *path)
{
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (strcmp (entry->d_name, ".") && strcmp (entry->d_name, ".."))
            count++;
    closedir (dir);
    return count;
}

int
sbx_test_http_get (const char *url, char **body_p, size_t *size_p, char *content_type,
                   size_t type_size, int timeout_ms)
{
    *body_p = NULL;
    *size_p = 0;
    if (content_type && type_size)
        *content_type = 0;
    char host [128] = "", path [256] = "/";
    unsigned port = 0;
    const char *at = strncmp (url, "http://", 7) == 0 ? url + 7 : url;
    if (*at == '[') {
        if (sscanf (at, "[%127[^]]]:%u%255s", host, &port, path) < 2)
            return 0;
    }
    else
    if (sscanf (at, "%127[^:]:%u%255s", host, &port, path) < 2)
        return 0;
    struct sockaddr_storage address = {0};
    socklen_t length;
    struct sockaddr_in *v4 = (struct sockaddr_in *) &address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &address;
    if (inet_pton (AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons ((uint16_t) port);
        length = sizeof *v4;
    }
    else
    if (inet_pton (AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons ((uint16_t) port);
        length = sizeof *v6;
    }
    else
        return 0;
    int64_t deadline = s_now_ms () + timeout_ms;
    int fd = socket (address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    //  A blocking connect on loopback: refused or accepted at once.
    if (connect (fd, (struct sockaddr *) &address, length) != 0) {
        close (fd);
        return 0;
    }
    char request [512];
    int n = snprintf (request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s:%u\r\n\r\n", path, host, port);
    if (write (fd, request, (size_t) n) != n) {
        close (fd);
        return 0;
    }
    size_t used = 0, capacity = 65536;
    char *response = (char *) malloc (capacity + 1);
    bool over = false;
    while (!over) {
        int64_t left = deadline - s_now_ms ();
        struct pollfd item = {fd, POLLIN, 0};
        if (left <= 0 || poll (&item, 1, (int) left) <= 0)
            break;
        if (used == capacity) {
            capacity *= 2;
            response = (char *) realloc (response, capacity + 1);
        }
        ssize_t got = read (fd, response + used, capacity - used);
        if (got <= 0)
            over = got == 0;
        else
            used += (size_t) got;
    }
    close (fd);
    response [used] = 0;
    char *body = over ? strstr (response, "\r\n\r\n") : NULL;
    int status = 0;
    if (!body || sscanf (response, "HTTP/%*s %d", &status) != 1) {
        free (response);
        return 0;
    }
    *body = 0;
    if (content_type && type_size) {
        const char *header = strcasestr (response, "\r\nContent-Type: ");
        if (header) {
            header += 16;
            snprintf (content_type, type_size, "%.*s", (int) strcspn (header, "\r"), header);
        }
    }
    body += 4;
    *size_p = used - (size_t) (body - response);
    *body_p = (char *) malloc (*size_p + 1);
    memcpy (*body_p, body, *size_p);
    (*body_p) [*size_p] = 0;
    free (response);
    return status;
}
