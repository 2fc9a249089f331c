/*  Helpers for the process sandbox suites (test_process, test_shell,
    test_fs): a session on a real sbxd, calls with msgpack arguments, and
    /proc scans that find what a sandbox left behind.

    Each suite makes its worker a child subreaper (s_become_reaper), so a
    process that outlives sbxd ends up as the worker's child, where
    s_children counts it. Commands carry SBX_TAG=<tag> in their
    environment (the shell feature's `env` option), so s_tagged finds
    them wherever they are.
*/
#ifndef SBX_TEST_SANDBOX_UTIL_H
#define SBX_TEST_SANDBOX_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sched.h>

#include "testutil.h"
#include "messages/mp.h"

typedef struct {
    char sandbox [256];
    char token [64];
    char session [64];
} s_session_t;

static inline void
s_become_reaper (void)
{
    prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

//  The daemon of the running test, killed by s_fini when an assertion
//  ended the test before its own cleanup (else it would hold the
//  worker's output open and outlive the test).
static sbx_test_daemon_t *s_running;

static inline void
s_fini (void)
{
    if (s_running)
        sbx_test_daemon_destroy (&s_running);
}

//  A tag unique to this test run.
static inline const char *
s_tag (void)
{
    static char tag [64];
    if (!tag [0])
        snprintf (tag, sizeof tag, "t%d-%ld", (int) getpid (), (long) zclock_mono ());
    return tag;
}

//  Reads a small /proc file; returns its length (0 when unreadable).
static inline size_t
s_read_proc (const char *path, char *buffer, size_t size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t used = 0;
    ssize_t n;
    while (used < size - 1 && (n = read (fd, buffer + used, size - 1 - used)) > 0)
        used += (size_t) n;
    close (fd);
    buffer [used] = 0;
    return used;
}

//  The state letter and parent of a process ('?' when gone).
static inline char
s_proc_state (const char *pid, int *ppid)
{
    char path [300], text [512];
    snprintf (path, sizeof path, "/proc/%s/stat", pid);
    if (!s_read_proc (path, text, sizeof text))
        return '?';
    char *close_paren = strrchr (text, ')');
    char state = '?';
    if (!close_paren || sscanf (close_paren + 1, " %c %d", &state, ppid) != 2)
        return '?';
    return state;
}

//  The next process of a /proc listing (its pid, as text), or NULL at
//  the end or when `proc` is NULL.
static inline const char *
s_next_pid (DIR *proc)
{
    struct dirent *entry;
    while (proc && (entry = readdir (proc)))
        if (entry->d_name [0] >= '1' && entry->d_name [0] <= '9')
            return entry->d_name;
    return NULL;
}

//  Live processes (not zombies) whose environment holds SBX_TAG=tag.
static inline int
s_tagged (const char *tag)
{
    char wanted [128];
    int length = snprintf (wanted, sizeof wanted, "SBX_TAG=%s", tag);
    int found = 0;
    DIR *proc = opendir ("/proc");
    const char *pid;
    while ((pid = s_next_pid (proc))) {
        char path [300];
        static char environment [65536];
        snprintf (path, sizeof path, "/proc/%s/environ", pid);
        size_t size = s_read_proc (path, environment, sizeof environment);
        int ppid;
        for (size_t i = 0; i < size; i += strlen (environment + i) + 1) {
            if (strncmp (environment + i, wanted, (size_t) length) == 0 && environment [i + length] == 0) {
                char state = s_proc_state (pid, &ppid);
                found += state != 'Z' && state != '?';
                break;
            }
        }
    }
    if (proc)
        closedir (proc);
    return found;
}

//  s_tagged, read again until it is `count` or `ms` have passed (a
//  process that is being started: its exec may not have happened yet);
//  the last count read.
static inline int
s_tagged_reaches (const char *tag, int count, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    int found = s_tagged (tag);
    while (found != count && zclock_mono () < deadline) {
        sched_yield ();
        found = s_tagged (tag);
    }
    return found;
}

//  Processes (zombies too) whose parent is `pid`, up to `most` of them;
//  the first one found into *first_p (when given; -1 for none).
static inline int
s_scan_children (pid_t pid, int most, pid_t *first_p)
{
    int found = 0;
    if (first_p)
        *first_p = -1;
    DIR *proc = opendir ("/proc");
    const char *child;
    while (found < most && (child = s_next_pid (proc))) {
        int ppid = 0;
        if (s_proc_state (child, &ppid) != '?' && ppid == pid) {
            if (first_p && found == 0)
                *first_p = (pid_t) atol (child);
            found++;
        }
    }
    if (proc)
        closedir (proc);
    return found;
}

//  Processes (zombies too) whose parent is `pid`.
static inline int
s_children (pid_t pid)
{
    return s_scan_children (pid, INT_MAX, NULL);
}

//  A process (zombies too) whose parent is `pid`, or -1.
static inline pid_t
s_first_child (pid_t pid)
{
    pid_t first;
    s_scan_children (pid, 1, &first);
    return first;
}

//  True when the comma-separated `list` holds `word`.
static inline bool
s_list_has (const char *list, size_t length, const char *word)
{
    size_t n = strlen (word);
    for (size_t i = 0; i + n <= length; ) {
        size_t end = i;
        while (end < length && list [end] != ',')
            end++;
        if (end - i == n && strncmp (list + i, word, n) == 0)
            return true;
        i = end + 1;
    }
    return false;
}

//  The directory of the cgroup `pid` is in for `controller` ("memory",
//  "pids", "cpu"): a v1 hierarchy of that controller, else the v2 one;
//  "" when there is none. From /proc/<pid>/cgroup and the mounts.
static inline char *
s_cgroup_dir (pid_t pid, const char *controller, char *dir, size_t size)
{
    char v1 [PATH_MAX] = "", v2 [PATH_MAX] = "", text [8192], path [64];
    dir [0] = 0;
    FILE *mounts = fopen ("/proc/self/mountinfo", "r");
    char line [4096];
    while (mounts && fgets (line, sizeof line, mounts)) {
        char point [PATH_MAX], type [64], options [1024];
        const char *dash = strstr (line, " - ");
        if (!dash || sscanf (line, "%*s %*s %*s %*s %4095s", point) != 1
        ||  sscanf (dash + 3, "%63s %*s %1023s", type, options) != 2)
            continue;
        if (streq (type, "cgroup2") && !v2 [0])
            snprintf (v2, sizeof v2, "%s", point);
        if (streq (type, "cgroup") && !v1 [0] && s_list_has (options, strlen (options), controller))
            snprintf (v1, sizeof v1, "%s", point);
    }
    if (mounts)
        fclose (mounts);
    snprintf (path, sizeof path, "/proc/%d/cgroup", (int) pid);
    s_read_proc (path, text, sizeof text);
    for (char *p = text; *p; ) {
        char *end = strchr (p, '\n');
        if (end)
            *end = 0;
        char *first = strchr (p, ':'), *second = first ? strchr (first + 1, ':') : NULL;
        if (second) {
            size_t length = (size_t) (second - first - 1);
            if (v1 [0] && s_list_has (first + 1, length, controller))
                snprintf (dir, size, "%s%s", v1, second + 1);
            else
            if (!v1 [0] && v2 [0] && length == 0)
                snprintf (dir, size, "%s%s", v2, second + 1);
        }
        if (!end)
            break;
        p = end + 1;
    }
    return dir;
}

//  Opens a session (session.open) and fills `session`.
static inline void
s_open (zsock_t *dealer, s_session_t *session)
{
    sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"session.open\", \"timeout_ms\": 20000}", 30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "session.open: %s",
                      reply && sbx_reply_get_error (reply) ? sbx_error_message (sbx_reply_get_error (reply)) : "");
    snprintf (session->sandbox, sizeof session->sandbox, "%s", sbx_reply_get_str (reply, "sandbox"));
    snprintf (session->token, sizeof session->token, "%s", sbx_reply_get_str (reply, "token"));
    snprintf (session->session, sizeof session->session, "%s", sbx_reply_get_str (reply, "session_id"));
    sbx_reply_destroy (&reply);
}

static inline void
s_close_session (zsock_t *dealer, s_session_t *session)
{
    sbx_reply_t *reply = sbx_test_requestf (dealer, 60000,
        "{\"op\": \"session.end\", \"sandbox\": \"%s\", \"token\": \"%s\"}", session->sandbox, session->token);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "session.end: %s",
                      reply && sbx_reply_get_error (reply) ? sbx_error_message (sbx_reply_get_error (reply)) : "");
    sbx_reply_destroy (&reply);
}

//  A DEALER connected to the daemon, with a session opened on it.
static inline zsock_t *
s_connect_open (sbx_test_daemon_t *daemon, s_session_t *session)
{
    zsock_t *dealer = sbx_test_connect (daemon);
    s_open (dealer, session);
    return dealer;
}

//  Calls feature.method in the session with args given as packed msgpack.
static inline sbx_reply_t *
s_call_mp (zsock_t *dealer, const s_session_t *session, const char *feature, const char *method,
           const void *args, size_t args_size, int timeout_ms)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 6);
    sbx_mp_pack_str (&pk, "op");
    sbx_mp_pack_str (&pk, "call");
    sbx_mp_pack_str (&pk, "sandbox");
    sbx_mp_pack_str (&pk, session->sandbox);
    sbx_mp_pack_str (&pk, "token");
    sbx_mp_pack_str (&pk, session->token);
    sbx_mp_pack_str (&pk, "feature");
    sbx_mp_pack_str (&pk, feature);
    sbx_mp_pack_str (&pk, "method");
    sbx_mp_pack_str (&pk, method);
    sbx_mp_pack_str (&pk, "args");
    msgpack_sbuffer_write (&buffer, (const char *) args, args_size);
    sbx_reply_t *reply = sbx_test_request_raw (dealer, buffer.data, buffer.size, timeout_ms);
    msgpack_sbuffer_destroy (&buffer);
    return reply;
}

//  Calls feature.method in the session with the args {`key`: `text`},
//  and `bin_key` with `size` bytes of `data` as bin when bin_key is given.
static inline sbx_reply_t *
s_call_bin (zsock_t *dealer, const s_session_t *session, const char *feature, const char *method,
            const char *key, const char *text, const char *bin_key, const void *data, size_t size,
            int timeout_ms)
{
    msgpack_sbuffer args;
    msgpack_sbuffer_init (&args);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &args, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, bin_key ? 2 : 1);
    sbx_mp_pack_str (&pk, key);
    sbx_mp_pack_str (&pk, text);
    if (bin_key) {
        sbx_mp_pack_str (&pk, bin_key);
        msgpack_pack_bin (&pk, size);
        msgpack_pack_bin_body (&pk, data, size);
    }
    sbx_reply_t *reply = s_call_mp (dealer, session, feature, method, args.data, args.size, timeout_ms);
    msgpack_sbuffer_destroy (&args);
    return reply;
}

//  Same with args as JSON text (a printf format).
static inline sbx_reply_t *
s_call (zsock_t *dealer, const s_session_t *session, const char *feature, const char *method,
        const char *format, ...) __attribute__ ((format (printf, 5, 6)));

static inline sbx_reply_t *
s_call (zsock_t *dealer, const s_session_t *session, const char *feature, const char *method,
        const char *format, ...)
{
    char json [16384];
    va_list args;
    va_start (args, format);
    vsnprintf (json, sizeof json, format, args);
    va_end (args);
    json_error_t problem;
    json_t *value = json_loads (json, 0, &problem);
    cr_assert_not_null (value, "bad args JSON '%s': %s", json, problem.text);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    sbx_mp_from_json (&pk, value);
    json_decref (value);
    sbx_reply_t *reply = s_call_mp (dealer, session, feature, method, buffer.data, buffer.size, 120000);
    msgpack_sbuffer_destroy (&buffer);
    return reply;
}

//  The error message of a reply, for assertion messages.
static inline const char *
s_why (const sbx_reply_t *reply)
{
    if (!reply)
        return "(no reply)";
    const sbx_error_t *error = sbx_reply_get_error (reply);
    return error ? sbx_error_message (error) : "(ok)";
}

//  result[key] of a successful call reply.
static inline const msgpack_object *
s_result (const sbx_reply_t *reply, const char *key)
{
    const msgpack_object *result = sbx_reply_get (reply, "result");
    return key ? sbx_mp_map_get (result, key) : result;
}

static inline int64_t
s_result_int (const sbx_reply_t *reply, const char *key)
{
    const msgpack_object *o = s_result (reply, key);
    cr_assert (o && (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER),
               "result.%s is not an integer", key ? key : "");
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t) o->via.u64 : o->via.i64;
}

static inline bool
s_result_bool (const sbx_reply_t *reply, const char *key)
{
    const msgpack_object *o = s_result (reply, key);
    cr_assert (o && o->type == MSGPACK_OBJECT_BOOLEAN, "result.%s is not a bool", key);
    return o->via.boolean;
}

//  A str or bin result as a NUL-terminated copy in `buffer` (size known
//  from *size_p when given). Returns buffer.
static inline char *
s_result_text (const sbx_reply_t *reply, const char *key, char *buffer, size_t size, size_t *size_p)
{
    const msgpack_object *o = s_result (reply, key);
    cr_assert (o && (o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN),
               "result.%s is not str/bin", key ? key : "");
    size_t n = o->type == MSGPACK_OBJECT_STR ? o->via.str.size : o->via.bin.size;
    const char *p = o->type == MSGPACK_OBJECT_STR ? o->via.str.ptr : o->via.bin.ptr;
    if (size_p)
        *size_p = n;
    if (n > size - 1)
        n = size - 1;
    memcpy (buffer, p, n);
    buffer [n] = 0;
    return buffer;
}

//  Runs `cmd` with shell.run; asserts success; returns the reply.
static inline sbx_reply_t *
s_sh (zsock_t *dealer, const s_session_t *session, const char *cmd)
{
    json_t *args = json_pack ("{s:s}", "cmd", cmd);
    char *text = json_dumps (args, 0);
    json_decref (args);
    sbx_reply_t *reply = s_call (dealer, session, "shell", "run", "%s", text);
    free (text);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "run '%s': %s", cmd, s_why (reply));
    return reply;
}

//  Runs `cmd`, asserts exit 0, returns its stdout in `buffer`.
static inline char *
s_sh_out (zsock_t *dealer, const s_session_t *session, const char *cmd, char *buffer, size_t size)
{
    sbx_reply_t *reply = s_sh (dealer, session, cmd);
    char err [1024];
    s_result_text (reply, "stderr", err, sizeof err, NULL);
    cr_assert_eq (s_result_int (reply, "exit_code"), 0, "'%s' exited %lld: %s", cmd,
                  (long long) s_result_int (reply, "exit_code"), err);
    s_result_text (reply, "stdout", buffer, size, NULL);
    sbx_reply_destroy (&reply);
    return buffer;
}

//  Runs `cmd`, asserts exit 0 and that its stdout is `expected`.
static inline void
s_sh_says (zsock_t *dealer, const s_session_t *session, const char *cmd, const char *expected)
{
    char text [4096];
    cr_assert_str_eq (s_sh_out (dealer, session, cmd, text, sizeof text), expected, "'%s' printed '%s'", cmd, text);
}

//  Starts sbxd on `config` (JSON text) as the daemon of the running test
//  (s_running); asserts that it started.
static inline sbx_test_daemon_t *
s_start_text (const char *config)
{
    sbx_test_daemon_t *daemon = sbx_test_daemon_start_text (config);
    cr_assert_not_null (daemon, "sbxd did not start with %s: %s", config, sbx_test_daemon_failure ());
    s_running = daemon;
    return daemon;
}

//  Same, with the test directory open to the sandboxes' own users: they
//  must reach their directories by path (HOME, pwd), and the test dir is
//  mkdtemp's 0700.
static inline sbx_test_daemon_t *
s_start_reachable (const char *config)
{
    sbx_test_daemon_t *daemon = s_start_text (config);
    chmod (daemon->dir, 0711);
    return daemon;
}

//  A second daemon on `config` (JSON text) with the root_dir of `first`,
//  which crashed: s_start_text's, on what the first left behind.
static inline sbx_test_daemon_t *
s_start_after (sbx_test_daemon_t *first, const char *config)
{
    json_t *json = json_loads (config, 0, NULL);
    cr_assert_not_null (json, "bad config JSON %s", config);
    json_object_set_new (json_object_get (json, "environment"), "root_dir", json_string (first->root_dir));
    sbx_test_daemon_t *second = sbx_test_daemon_start (json, NULL);
    json_decref (json);
    cr_assert_not_null (second, "sbxd did not start after the crash: %s", sbx_test_daemon_failure ());
    s_running = second;
    return second;
}

//  Destroys the daemon s_start_after started, then the crashed one.
static inline void
s_destroy_after (sbx_test_daemon_t **second_p, sbx_test_daemon_t **first_p)
{
    s_running = NULL;
    sbx_test_daemon_destroy (second_p);
    s_running = *first_p;
    sbx_test_daemon_destroy (first_p);
    s_running = NULL;
}

//  Starts sbxd with a process sandbox (`sandbox` JSON for the sandbox
//  object, `features` for the features, or NULL for shell + fs) and a
//  pool of one.
static inline sbx_test_daemon_t *
s_daemon (const char *sandbox, const char *features)
{
    char config [8192];
    char default_features [512];
    snprintf (default_features, sizeof default_features,
              "{\"shell\": {\"kind\": \"shell\", \"env\": {\"SBX_TAG\": \"%s\"}}, \"fs\": {\"kind\": \"fs\"}}",
              s_tag ());
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"penv\", \"pool\": {\"min\": 1, \"max\": 1},"
              " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
              " \"sandbox\": %s, \"features\": %s}",
              sandbox ? sandbox : "{\"kind\": \"process\"}", features ? features : default_features);
    return s_start_reachable (config);
}

//  Shuts the daemon down and checks that nothing of it is left: no
//  tagged process, no orphan (this worker is their subreaper), nothing
//  under root_dir.
static inline void
s_shutdown_clean (sbx_test_daemon_t **daemon_p)
{
    sbx_test_daemon_t *daemon = *daemon_p;
    char root [320];
    snprintf (root, sizeof root, "%s", daemon->root_dir);
    cr_assert_eq (sbx_test_daemon_shutdown (daemon), 0, "sbxd exit code");
    cr_assert_eq (s_tagged (s_tag ()), 0, "tagged processes survived sbxd");
    cr_assert_eq (s_children (getpid ()), 0, "processes of sbxd survived it");
    int entries = sbx_test_dir_entries (root);
    cr_assert (entries <= 0, "%d entries left under %s", entries, root);
    if (s_running == *daemon_p)
        s_running = NULL;
    sbx_test_daemon_destroy (daemon_p);
}

//  The usual end of a test: ends the session, closes the dealer, and
//  shuts the daemon down clean (s_shutdown_clean).
static inline void
s_end_clean (sbx_test_daemon_t **daemon_p, zsock_t **dealer_p, s_session_t *session)
{
    s_close_session (*dealer_p, session);
    zsock_destroy (dealer_p);
    s_shutdown_clean (daemon_p);
}

//  Shuts the daemon down, asserts a clean exit and destroys it.
static inline void
s_finish (sbx_test_daemon_t **daemon_p)
{
    cr_assert_eq (sbx_test_daemon_shutdown (*daemon_p), 0);
    s_running = NULL;
    sbx_test_daemon_destroy (daemon_p);
}

//  Sends `request` (JSON) and asserts that the reply, within 20 s, is of
//  `type`. Caller owns the reply.
static inline sbx_reply_t *
s_expect (zsock_t *dealer, const char *type, const char *request)
{
    sbx_reply_t *reply = sbx_test_request (dealer, request, 20000);
    cr_assert_str_eq (sbx_test_reply_type (reply), type, "%s -> %s", request, s_why (reply));
    return reply;
}

//  Same, for a reply that is not read further.
static inline void
s_check (zsock_t *dealer, const char *type, const char *request)
{
    sbx_reply_t *reply = s_expect (dealer, type, request);
    sbx_reply_destroy (&reply);
}

//  The daemon's counter `name`, from a `stats` answered within
//  `timeout_ms`.
static inline uint64_t
s_counter (zsock_t *dealer, const char *name, int timeout_ms)
{
    const char *request = "{\"op\": \"stats\"}";
    sbx_reply_t *reply = sbx_test_request (dealer, request, timeout_ms);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s -> %s", request, s_why (reply));
    const msgpack_object *counters = sbx_reply_get (reply, "counters");
    const msgpack_object *value = counters ? sbx_mp_map_get (counters, name) : NULL;
    cr_assert (value && value->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "no counter %s", name);
    uint64_t count = value->via.u64;
    sbx_reply_destroy (&reply);
    return count;
}

//  Creates the empty file `path` (a command or cell waits for it).
static inline void
s_touch (const char *path)
{
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file, "%s", path);
    fclose (file);
}

//  Checks one message of a streamed call: a progress message (it has a
//  `stream`) or the reply.
typedef void (s_stream_check_fn) (const msgpack_object *map);

//  Reads the messages of a call sent with `stream` (docs/protocol.md
//  "Streaming") until its reply, each within `timeout_ms`. Progress data
//  is appended to `out` or `err` (64 bytes each, by its stream); once
//  `out` holds "one\n" the file `release` is made, which the code waits
//  for before it goes on. Asserts that the reply came, after that output,
//  and succeeded. `check` (when given) is called on each progress message
//  before its data is read, and on the reply once it is known a success.
static inline void
s_read_streamed (zsock_t *dealer, const char *release, char *out, char *err, int timeout_ms,
                 s_stream_check_fn *check)
{
    zpoller_t *poller = zpoller_new (dealer, NULL);
    bool replied = false, released = false;
    while (!replied && zpoller_wait (poller, timeout_ms)) {
        zframe_t *frame = zframe_recv (dealer);
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        cr_assert_eq (msgpack_unpack_next (&unpacked, (const char *) zframe_data (frame), zframe_size (frame), NULL),
                      MSGPACK_UNPACK_SUCCESS);
        const msgpack_object *map = &unpacked.data;
        const msgpack_object *stream = sbx_mp_map_get (map, "stream");
        if (stream) {
            if (check)
                check (map);
            const msgpack_object *data = sbx_mp_map_get (map, "data");
            char *into = sbx_mp_str_eq (stream, "stdout") ? out : err;
            size_t used = strlen (into);
            snprintf (into + used, 64 - used, "%.*s", (int) data->via.bin.size, data->via.bin.ptr);
            if (!released && strstr (out, "one\n")) {
                s_touch (release);
                released = true;
            }
        }
        else {
            replied = true;
            cr_assert (released, "the reply came before any output");
            const msgpack_object *ok = sbx_mp_map_get (map, "ok");
            cr_assert (ok && ok->via.boolean);
            if (check)
                check (map);
        }
        msgpack_unpacked_destroy (&unpacked);
        zframe_destroy (&frame);
    }
    zpoller_destroy (&poller);
    cr_assert (replied);
}

//  Sends feature.method in the session with `args` (JSON text) and does
//  not wait: the reply is read later, with sbx_test_reply_recv.
static inline void
s_call_later (zsock_t *dealer, const s_session_t *session, const char *feature, const char *method,
              const char *args)
{
    sbx_reply_t *reply = sbx_test_requestf (dealer, 0,
        "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"%s\","
        " \"method\": \"%s\", \"args\": %s}", session->sandbox, session->token, feature, method, args);
    cr_assert_null (reply);
}

//  Asks for `status` on `dealer` (its answer says that every call sent
//  on it before was read), then shuts the daemon down and asserts a clean
//  exit. The daemon's root_dir into `root`, for s_nothing_left.
static inline void
s_shutdown_after_calls (sbx_test_daemon_t *daemon, zsock_t *dealer, char *root, size_t size)
{
    sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"status\"}", 10000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    snprintf (root, size, "%s", daemon->root_dir);
    cr_assert_eq (sbx_test_daemon_shutdown (daemon), 0, "sbxd did not shut down cleanly");
}

//  After s_shutdown_after_calls: asserts that no tagged process (`what`
//  names them), no process of sbxd and nothing under `root` is left;
//  destroys the dealer and the daemon.
static inline void
s_nothing_left (sbx_test_daemon_t **daemon_p, zsock_t **dealer_p, const char *root, const char *what)
{
    cr_assert_eq (s_tagged (s_tag ()), 0, "%s survived the shutdown", what);
    cr_assert_eq (s_children (getpid ()), 0, "processes of sbxd survived it");
    cr_assert (sbx_test_dir_entries (root) <= 0, "entries left under %s", root);
    zsock_destroy (dealer_p);
    s_running = NULL;
    sbx_test_daemon_destroy (daemon_p);
}

#endif
