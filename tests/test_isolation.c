/*  Isolation and the daemon's side of containment on a real sbxd
    (docs/sandboxes.md): the embedded default runs commands under bwrap
    and `status` says so; "auto" falls back with a warning; bwrap's own
    loopback and nothing else, or the host's network; limits that cannot
    be enforced stop sbxd with the reason; and cgroups are gone after a
    shutdown and after a crash and restart. */
#include "sandbox_util.h"

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

static void
s_init (void)
{
    s_become_reaper ();
}

TestSuite (isolation, .init = s_init, .fini = s_fini, .timeout = 120);

//  Runs build/`program` with `args` (NULL-terminated), as `uid` unless
//  it is -1 (then sbxd or sbx-init, from a copy that user can reach),
//  with `env` (NULL: ours); returns its exit code and what it wrote on
//  stdout (`out`) and stderr (`err`).
static int
s_run (const char *program, const char *const *args, uid_t uid, char *const *env, char *out, size_t out_size,
       char *err, size_t err_size)
{
    const char *argv [32];
    size_t argc = 0;
    char reuid [32], regid [32], path [PATH_MAX], bin [256] = "";
    if (uid != (uid_t) -1) {
        cr_assert_eq (sbx_test_copy_programs (bin, sizeof bin), 0, "copying sbxd to %s: %s", bin, strerror (errno));
        snprintf (reuid, sizeof reuid, "--reuid=%u", (unsigned) uid);
        snprintf (regid, sizeof regid, "--regid=%u", (unsigned) uid);
        argv [argc++] = "/usr/bin/setpriv";
        argv [argc++] = reuid;
        argv [argc++] = regid;
        argv [argc++] = "--clear-groups";
    }
    snprintf (path, sizeof path, "%s/%s", *bin ? bin : SBX_BUILD_DIR, program);
    argv [argc++] = path;
    for (size_t i = 0; args [i] && argc < 31; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    int o [2], e [2];
    cr_assert_eq (pipe (o), 0);
    cr_assert_eq (pipe (e), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, o [1], 1);
    posix_spawn_file_actions_adddup2 (&actions, e [1], 2);
    pid_t pid;
    cr_assert_eq (posix_spawn (&pid, argv [0], &actions, NULL, (char *const *) argv, env ? env : environ), 0);
    posix_spawn_file_actions_destroy (&actions);
    close (o [1]);
    close (e [1]);
    //  Small outputs: read stderr whole, then stdout.
    size_t used = 0;
    ssize_t n;
    while (used < err_size - 1 && (n = read (e [0], err + used, err_size - 1 - used)) > 0)
        used += (size_t) n;
    err [used] = 0;
    used = 0;
    while (used < out_size - 1 && (n = read (o [0], out + used, out_size - 1 - used)) > 0)
        used += (size_t) n;
    out [used] = 0;
    close (o [0]);
    close (e [0]);
    int status;
    waitpid (pid, &status, 0);
    if (*bin) {
        const char *const copies [] = {"sbxd", "sbx-init"};
        for (int i = 0; i < 2; i++) {
            snprintf (path, sizeof path, "%s/%s", bin, copies [i]);
            unlink (path);
        }
        rmdir (bin);
    }
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

//  sbxd on `config` (written to a file nobody may read... and everybody
//  may: the check runs as another user too), with `extra` arguments.
static int
s_sbxd (const char *config, const char *extra, uid_t uid, char *err, size_t size)
{
    char dir [] = "/tmp/sbx-test-XXXXXX", path [64], out [1024];
    cr_assert_not_null (mkdtemp (dir));
    chmod (dir, 0755);
    snprintf (path, sizeof path, "%s/config.json", dir);
    FILE *file = fopen (path, "w");
    fputs (config, file);
    fclose (file);
    chmod (path, 0644);
    const char *args [] = {"-c", path, extra, NULL};
    int code = s_run ("sbxd", args, uid, NULL, out, sizeof out, err, size);
    unlink (path);
    rmdir (dir);
    return code;
}

//  --- The embedded default -------------------------------------------------------

Test (isolation, the_embedded_default_runs_commands_under_bwrap)
{
    char home [] = "/tmp/sbx-test-XXXXXX";
    cr_assert_not_null (mkdtemp (home));
    char tmpdir [64];
    snprintf (tmpdir, sizeof tmpdir, "TMPDIR=%s", home);
    char path [] = "PATH=/usr/local/bin:/usr/bin:/bin";
    char *env [] = {tmpdir, path, NULL};
    //  No -c: the embedded default, on free ports.
    int out [2];
    cr_assert_eq (pipe (out), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, out [1], 1);
    const char *argv [] = {SBX_BUILD_DIR "/sbxd", "--requests", "tcp://127.0.0.1:*", "--events",
                           "tcp://127.0.0.1:*", NULL};
    pid_t pid;
    cr_assert_eq (posix_spawn (&pid, argv [0], &actions, NULL, (char *const *) argv, env), 0);
    posix_spawn_file_actions_destroy (&actions);
    close (out [1]);
    char line [1024];
    ssize_t n = read (out [0], line, sizeof line - 1);
    line [n > 0 ? n : 0] = 0;
    char *requests = strstr (line, "requests="), *events = strstr (line, " events=");
    cr_assert (requests && events, "sbxd said '%s'", line);
    *events = 0;
    requests += 9;
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, "%s", requests);

    sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"status\"}", 30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok");
    const msgpack_object *isolation = sbx_mp_map_get (sbx_reply_get (reply, "environment"), "isolation");
    cr_assert (isolation && sbx_mp_str_eq (isolation, "bwrap"), "status: the isolation in force is bwrap");
    sbx_reply_destroy (&reply);
    //  sbx status prints it.
    char said [4096], err [1024];
    const char *status_args [] = {"--endpoint", requests, "status", NULL};
    cr_assert_eq (s_run ("sbx", status_args, (uid_t) -1, NULL, said, sizeof said, err, sizeof err), 0, "%s", err);
    cr_assert (strstr (said, "isolation: bwrap\n"), "%s", said);

    s_session_t session;
    s_open (dealer, &session);
    char text [1024], cmd [256];
    //  Its own PID namespace: sbx-init, the shell, ls, grep.
    s_sh_out (dealer, &session, "ls /proc | grep -c '^[0-9]'; cat /proc/1/comm", text, sizeof text);
    int processes = atoi (text);
    cr_assert (processes > 0 && processes < 10 && strstr (text, "sbx-init"), "%s", text);
    //  Nothing written to the host's /tmp.
    snprintf (cmd, sizeof cmd, "echo x > /tmp/%s-default && echo written", s_tag ());
    cr_assert_str_eq (s_sh_out (dealer, &session, cmd, text, sizeof text), "written\n");
    snprintf (cmd, sizeof cmd, "/tmp/%s-default", s_tag ());
    cr_assert_neq (access (cmd, F_OK), 0, "the command wrote %s on the host", cmd);
    s_close_session (dealer, &session);
    zsock_destroy (&dealer);

    kill (pid, SIGTERM);
    int status;
    waitpid (pid, &status, 0);
    close (out [0]);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    char root [128];
    snprintf (root, sizeof root, "%s/sbx", home);
    cr_assert (sbx_test_dir_entries (root) <= 0, "entries left under %s", root);
    rmdir (root);
    rmdir (home);
}

Test (isolation, auto_without_bwrap_runs_none_and_says_why)
{
    sbx_test_daemon_t *daemon = s_start_reachable (
        "{\"environment\": {\"id\": \"ienv\", \"pool\": {\"min\": 1, \"max\": 1}},"
        " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"auto\", \"bwrap\": \"/bin/false\"},"
        " \"features\": {\"shell\": {\"kind\": \"shell\"}}}");
    cr_assert (sbx_test_wait_stderr (daemon, "isolation \"auto\": commands run without isolation (\"none\"): "
                                     "\"bwrap\" cannot create its namespaces", 10000));
    zsock_t *dealer = sbx_test_connect (daemon);
    sbx_reply_t *reply = sbx_test_request (dealer, "{\"op\": \"status\"}", 30000);
    const msgpack_object *isolation = sbx_mp_map_get (sbx_reply_get (reply, "environment"), "isolation");
    cr_assert (isolation && sbx_mp_str_eq (isolation, "none"));
    sbx_reply_destroy (&reply);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

//  --- Network -----------------------------------------------------------------------

//  Connects to the daemon's request port from inside; prints what came of
//  it, and whether a loopback of its own works.
static void
s_network (const char *network, const char *expected)
{
    char config [1024];
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"ienv\", \"pool\": {\"min\": 1, \"max\": 1}},"
              " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"bwrap\"%s%s%s},"
              " \"features\": {\"shell\": {\"kind\": \"shell\"}}}",
              network ? ", \"network\": \"" : "", network ? network : "", network ? "\"" : "");
    sbx_test_daemon_t *daemon = s_start_text (config);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    const char *port = strrchr (daemon->requests, ':') + 1;
    char cmd [1024], text [1024];
    snprintf (cmd, sizeof cmd,
              "/usr/bin/python3 -c \"import socket\n"
              "s = socket.socket (); s.settimeout (5)\n"
              "try:\n  s.connect (('127.0.0.1', %s)); print ('sbxd reached')\n"
              "except OSError as e:\n  print ('sbxd not reached')\n"
              "a = socket.socket (); a.bind (('127.0.0.1', 0)); a.listen ()\n"
              "b = socket.create_connection (a.getsockname ()); print ('loopback works')\"", port);
    s_sh_out (dealer, &session, cmd, text, sizeof text);
    cr_assert_str_eq (text, expected);
    s_end_clean (&daemon, &dealer, &session);
}

Test (isolation, bwrap_has_a_loopback_of_its_own_and_no_other_network)
{
    s_network (NULL, "sbxd not reached\nloopback works\n");
}

Test (isolation, network_host_shares_the_host_s)
{
    s_network ("host", "sbxd reached\nloopback works\n");
}

//  --- What cannot be enforced is refused ----------------------------------------------

Test (isolation, limits_that_cannot_hold_stop_sbxd_with_the_reason)
{
    static const struct {
        bool as_nobody;
        const char *sandbox, *says;
    } bad [] = {
        {true, "{\"kind\": \"process\", \"users\": null, \"limits\": {\"memory_mb\": 512}}",
         "sandbox.limits.memory_mb: needs a cgroup of its own for each sandbox, and none can be made here"},
        {true, "{\"kind\": \"process\", \"users\": null, \"limits\": {\"processes\": 64}}",
         "sandbox.limits.processes: needs a cgroup"},
        {true, "{\"kind\": \"process\", \"users\": null, \"limits\": {\"cpu\": 0.5}}",
         "sandbox.limits.cpu: needs a cgroup"},
        {true, "{\"kind\": \"process\", \"users\": null, \"limits\": {\"disk_mb\": 64}}",
         "sandbox.limits.disk_mb: needs sbxd to run as root"},
        {false, "{\"kind\": \"process\", \"network\": \"none\"}",
         "sandbox.network: \"none\" needs isolation \"bwrap\""},
        {false, "{\"kind\": \"process\", \"isolation\": \"auto\", \"bwrap\": \"/bin/false\", \"network\": \"none\"}",
         "which \"auto\" could not use here"},
        {false, "{\"kind\": \"process\", \"network\": \"wifi\"}", "sandbox.network: must be"},
        {false, "{\"kind\": \"process\", \"limits\": {\"cpu\": 0}}", "sandbox.limits.cpu: must be a number"},
        {false, "{\"kind\": \"process\", \"limits\": {\"memory_mb\": 1}}", "sandbox.limits.memory_mb: must be"},
        {false, "{\"kind\": \"process\", \"limits\": {\"disk_mb\": 1.5}}", "sandbox.limits.disk_mb: must be"},
        {false, "{\"kind\": \"process\", \"isolation\": \"vm\"}", "\"none\", \"bwrap\" or \"auto\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char config [1024], err [2048];
        snprintf (config, sizeof config,
                  "{\"sandbox\": %s, \"features\": {}, \"endpoints\": {\"requests\": \"tcp://127.0.0.1:*\","
                  " \"events\": \"tcp://127.0.0.1:*\"}}", bad [i].sandbox);
        uid_t uid = bad [i].as_nobody ? 65534 : (uid_t) -1;
        int code = s_sbxd (config, "--check", uid, err, sizeof err);
        cr_assert_eq (code, 2, "%s: exit %d: %s", config, code, err);
        cr_assert (strstr (err, bad [i].says), "%s: stderr '%s' should say '%s'", config, err, bad [i].says);
        //  Not only --check: sbxd itself does not start.
        if (i == 0) {
            code = s_sbxd (config, NULL, uid, err, sizeof err);
            cr_assert_eq (code, 2, "%s", err);
            cr_assert (strstr (err, bad [i].says), "%s", err);
        }
    }
    //  The default `processes` without a cgroup: counted per uid, and said.
    char err [2048];
    int code = s_sbxd ("{\"sandbox\": {\"kind\": \"process\", \"users\": null}, \"features\": {}}", "--check",
                       65534, err, sizeof err);
    cr_assert_eq (code, 0, "%s", err);
    cr_assert (strstr (err, "limits.processes: no pids cgroup"), "%s", err);
}

//  --- cgroups after a shutdown and after a crash -------------------------------------

//  The environment's cgroup directories (one per hierarchy: memory, pids)
//  of the sandbox sbxd's first child runs.
static void
s_env_groups (sbx_test_daemon_t *daemon, char dirs [2][PATH_MAX])
{
    const char *controllers [] = {"memory", "pids"};
    for (int i = 0; i < 2; i++) {
        s_cgroup_dir (s_first_child (daemon->pid), controllers [i], dirs [i], PATH_MAX);
        cr_assert (dirs [i][0], "no %s cgroup", controllers [i]);
        *strrchr (dirs [i], '/') = 0;
    }
}

Test (isolation, cgroups_are_gone_after_shutdown_and_after_a_crash)
{
    const char *config_text =
        "{\"environment\": {\"id\": \"ienv\", \"pool\": {\"min\": 2, \"max\": 2}},"
        " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"bwrap\", \"limits\": {\"memory_mb\": 256}},"
        " \"features\": {\"shell\": {\"kind\": \"shell\"}}}";
    sbx_test_daemon_t *first = s_start_text (config_text);
    s_session_t session;
    zsock_t *dealer = s_connect_open (first, &session);
    char groups [2][PATH_MAX], text [64];
    s_env_groups (first, groups);
    s_sh_out (dealer, &session, "sleep 1000 & echo started", text, sizeof text);
    zsock_destroy (&dealer);
    cr_assert_eq (sbx_test_dir_entries (groups [0]) > 0, true);
    kill (first->pid, SIGKILL);
    cr_assert_eq (sbx_test_daemon_wait (first, 10000), 128 + SIGKILL);
    //  The crash leaves them.
    for (int i = 0; i < 2; i++)
        cr_assert_eq (access (groups [i], F_OK), 0, "%s is gone already", groups [i]);

    sbx_test_daemon_t *second = s_start_after (first, config_text);
    char said [PATH_MAX + 64];
    snprintf (said, sizeof said, "removed cgroup %s/0:0, left by an earlier run", groups [1]);
    cr_assert (sbx_test_wait_stderr (second, said, 10000), "it did not say '%s'", said);
    dealer = s_connect_open (second, &session);
    s_sh_says (dealer, &session, "echo alive", "alive\n");
    zsock_destroy (&dealer);
    cr_assert_eq (sbx_test_daemon_shutdown (second), 0);
    //  A shutdown leaves none.
    for (int i = 0; i < 2; i++)
        cr_assert_neq (access (groups [i], F_OK), 0, "%s is still there", groups [i]);
    s_destroy_after (&second, &first);
}

//  With no limit, a sandbox still has a group of its own, in whatever
//  hierarchy is writable (here the v2 one, which has no controllers): it
//  holds every process of the sandbox until the shutdown removes it.
Test (isolation, a_sandbox_without_limits_has_a_group_too)
{
    sbx_test_daemon_t *daemon = s_start_text (
        "{\"environment\": {\"id\": \"ienv\", \"pool\": {\"min\": 1, \"max\": 1}},"
        " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"bwrap\", \"limits\": null},"
        " \"features\": {\"shell\": {\"kind\": \"shell\"}}}");
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char text [64];
    s_sh_out (dealer, &session, "sleep 1000 & echo started", text, sizeof text);
    char path [64], groups [4096];
    snprintf (path, sizeof path, "/proc/%d/cgroup", (int) s_first_child (daemon->pid));
    s_read_proc (path, groups, sizeof groups);
    const char *group = strstr (groups, "/sbx/ienv@");
    cr_assert_not_null (group, "%s", groups);
    //  Its directory, in the hierarchy that line names.
    char dir [PATH_MAX], procs [1024];
    const char *line = group;
    while (line > groups && line [-1] != '\n')
        line--;
    bool v2 = strncmp (line, "0::", 3) == 0;
    snprintf (dir, sizeof dir, "%s%.*s", v2 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup/pids",
              (int) strcspn (group, "\n"), group);
    if (access (dir, F_OK) != 0 && v2)
        snprintf (dir, sizeof dir, "/sys/fs/cgroup%.*s", (int) strcspn (group, "\n"), group);
    char file [PATH_MAX + 16];
    snprintf (file, sizeof file, "%s/cgroup.procs", dir);
    cr_assert (s_read_proc (file, procs, sizeof procs), "cannot read %s", file);
    int count = 0;
    for (char *p = procs; *p; p++)
        count += *p == '\n';
    cr_assert_eq (count, 3, "bwrap, sbx-init and the sleep in %s: %s", dir, procs);
    s_end_clean (&daemon, &dealer, &session);
    cr_assert_neq (access (dir, F_OK), 0, "%s is still there", dir);
}
