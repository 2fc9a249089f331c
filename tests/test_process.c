/*  The process sandbox kind on a real sbxd (backends/process/,
    docs/sandboxes.md): directories, users, limits, cleanup, and the
    bubblewrap isolation. */
#include "sandbox_util.h"
#include "backends/process/child.h"

#include <ftw.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

static void
s_init (void)
{
    s_become_reaper ();
}

TestSuite (process, .init = s_init, .fini = s_fini, .timeout = 120);

Test (process, bad_options_are_refused_with_their_path)
{
    static const struct {
        const char *sandbox, *features, *says;
    } bad [] = {
        {"{\"kind\": \"process\", \"bogus\": 1}", "{}", "sandbox.bogus"},
        {"{\"kind\": \"process\", \"isolation\": \"vm\"}", "{}", "sandbox.isolation"},
        {"{\"kind\": \"process\", \"limits\": {\"bogus\": 1}}", "{}", "sandbox.limits.bogus"},
        {"{\"kind\": \"process\", \"limits\": {\"open_files\": 3}}", "{}", "sandbox.limits.open_files"},
        {"{\"kind\": \"process\", \"limits\": {\"cpu_s\": \"1\"}}", "{}", "sandbox.limits.cpu_s"},
        {"{\"kind\": \"process\", \"users\": {\"bogus\": 1}}", "{}", "sandbox.users.bogus"},
        {"{\"kind\": \"process\", \"init_path\": \"/nonexistent/sbx-init\"}", "{}", "sandbox.init_path"},
        {"{\"kind\": \"process\", \"isolation\": \"bwrap\", \"bwrap\": \"/nonexistent/bwrap\"}", "{}",
         "sandbox.isolation: \"bwrap\" needs bubblewrap"},
        {"{\"kind\": \"process\", \"isolation\": \"bwrap\", \"bwrap\": \"/bin/false\"}", "{}",
         "cannot create its namespaces"},
        {"{\"kind\": \"process\"}", "{\"shell\": {\"kind\": \"shell\", \"bogus\": 1}}", "features.shell.bogus"},
        {"{\"kind\": \"process\"}", "{\"shell\": {\"kind\": \"shell\", \"env\": {\"A=B\": \"x\"}}}", "features.shell.env"},
        {"{\"kind\": \"process\"}", "{\"shell\": {\"kind\": \"shell\", \"max_output_bytes\": -1}}",
         "features.shell.max_output_bytes"},
        {"{\"kind\": \"process\"}", "{\"files\": {\"kind\": \"fs\", \"max_read_bytes\": 0}}", "features.files.max_read_bytes"},
        {"{\"kind\": \"process\"}", "{\"files\": {\"kind\": \"fs\", \"bogus\": 0}}", "features.files.bogus"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char config [1024], err [2048];
        snprintf (config, sizeof config, "{\"sandbox\": %s, \"features\": %s}", bad [i].sandbox, bad [i].features);
        int code = sbx_test_sbxd (config, (const char *const []) {"--check", NULL}, err, sizeof err);
        cr_assert_eq (code, 2, "%s: exit %d", config, code);
        cr_assert (strstr (err, bad [i].says), "%s: stderr '%s' should say '%s'", config, err, bad [i].says);
    }
    //  Not only --check: sbxd itself refuses to start, and says why.
    char err [2048];
    int code = sbx_test_sbxd ("{\"sandbox\": {\"kind\": \"process\", \"isolation\": \"bwrap\", \"bwrap\": \"/bin/false\"},"
                              " \"endpoints\": {\"requests\": \"tcp://127.0.0.1:*\", \"events\": \"tcp://127.0.0.1:*\"}}",
                              NULL, err, sizeof err);
    cr_assert_eq (code, 2);
    cr_assert (strstr (err, "bwrap"), "%s", err);
}

Test (process, each_sandbox_has_its_directory_and_user)
{
    char features [256];
    snprintf (features, sizeof features, "{\"shell\": {\"kind\": \"shell\", \"env\": {\"SBX_TAG\": \"%s\"}}}", s_tag ());
    char config [1024];
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"penv\", \"pool\": {\"min\": 2, \"max\": 2}},"
              " \"sandbox\": {\"kind\": \"process\"}, \"features\": %s}", features);
    sbx_test_daemon_t *daemon = s_start_reachable (config);
    zsock_t *dealer = sbx_test_connect (daemon);
    s_session_t a, b;
    s_open (dealer, &a);
    s_open (dealer, &b);
    cr_assert_str_neq (a.sandbox, b.sandbox);

    char dir_a [640], dir_b [640], text [1024];
    snprintf (dir_a, sizeof dir_a, "%s/%s/workspace", daemon->root_dir, a.sandbox);
    snprintf (dir_b, sizeof dir_b, "%s/%s/workspace", daemon->root_dir, b.sandbox);
    struct stat st_a, st_b;
    cr_assert_eq (stat (dir_a, &st_a), 0, "%s", dir_a);
    cr_assert_eq (stat (dir_b, &st_b), 0, "%s", dir_b);
    cr_assert_eq (st_a.st_mode & 0777, 0700);
    cr_assert_neq (st_a.st_uid, st_b.st_uid, "two sandboxes, two users");
    cr_assert (st_a.st_uid >= 1900000000 && st_b.st_uid >= 1900000000);

    s_sh_out (dealer, &a, "id -u; pwd; grep NoNewPrivs /proc/self/status", text, sizeof text);
    char expected [1024];
    snprintf (expected, sizeof expected, "%u\n%s\nNoNewPrivs:\t1\n", (unsigned) st_a.st_uid, dir_a);
    cr_assert_str_eq (text, expected);
    //  One sandbox cannot look into another.
    snprintf (expected, sizeof expected, "ls %s", dir_b);
    sbx_reply_t *reply = s_sh (dealer, &a, expected);
    cr_assert_neq (s_result_int (reply, "exit_code"), 0, "sandbox %s could list %s", a.sandbox, dir_b);
    sbx_reply_destroy (&reply);

    s_close_session (dealer, &a);
    s_close_session (dealer, &b);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (process, limits_apply_to_commands)
{
    sbx_test_daemon_t *daemon = s_daemon ("{\"kind\": \"process\", \"limits\": {\"cpu_s\": 7, \"address_space_mb\": 512,"
                                          " \"open_files\": 77, \"processes\": 99, \"file_size_mb\": 3}}", NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    char text [4096];
    s_sh_out (dealer, &session, "grep -E '^Max (cpu time|file size|open files|address space)' /proc/self/limits"
              " | tr -s ' '", text, sizeof text);
    cr_assert_str_eq (text, "Max cpu time 7 7 seconds \nMax file size 3145728 3145728 bytes \n"
                      "Max open files 77 77 files \n"
                      "Max address space 536870912 536870912 bytes \n");
    //  `processes` is the sandbox's pids cgroup's (sbx-init on top).
    char dir [PATH_MAX], file [PATH_MAX + 16], max [64];
    s_cgroup_dir (s_first_child (daemon->pid), "pids", dir, sizeof dir);
    cr_assert (dir [0], "the sandbox has no pids cgroup");
    snprintf (file, sizeof file, "%s/pids.max", dir);
    s_read_proc (file, max, sizeof max);
    cr_assert_str_eq (max, "100\n", "%s", file);
    //  And they bite: a 4 MiB file is cut at 3 MiB by SIGXFSZ.
    sbx_reply_t *reply = s_sh (dealer, &session, "head -c 4194304 /dev/zero > big");
    cr_assert_neq (s_result_int (reply, "exit_code"), 0);
    sbx_reply_destroy (&reply);
    s_sh_says (dealer, &session, "stat -c %s big", "3145728\n");
    //  sbxd itself is not limited.
    char path [64], limits [4096];
    snprintf (path, sizeof path, "/proc/%d/limits", (int) daemon->pid);
    cr_assert (s_read_proc (path, limits, sizeof limits));
    cr_assert (strstr (limits, "Max file size             unlimited"), "%s", limits);

    s_end_clean (&daemon, &dealer, &session);
}

Test (process, fork_bomb_is_held_by_the_process_limit)
{
    sbx_test_daemon_t *daemon = s_daemon ("{\"kind\": \"process\", \"limits\": {\"processes\": 64, \"cpu_s\": 10}}", NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    //  Sent without waiting, so that the bomb can be watched meanwhile.
    char request [1024];
    snprintf (request, sizeof request,
              "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\", \"method\": \"run\","
              " \"args\": {\"cmd\": \"bomb() { bomb | bomb & }; bomb; sleep 100\", \"timeout_ms\": 5000}}",
              session.sandbox, session.token);
    json_t *json = json_loads (request, 0, NULL);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    sbx_mp_from_json (&pk, json);
    json_decref (json);
    cr_assert (zmq_send (zsock_resolve (dealer), buffer.data, buffer.size, 0) >= 0);
    msgpack_sbuffer_destroy (&buffer);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    int most = 0, samples = 0;
    while (!zpoller_wait (poller, 20)) {
        cr_assert_not (zpoller_terminated (poller));
        int now = s_tagged (s_tag ());
        most = now > most ? now : most;
        samples++;
    }
    zpoller_destroy (&poller);
    zframe_t *frame = zframe_recv (dealer);
    sbx_error_t *error = NULL;
    sbx_reply_t *reply = sbx_reply_decode (zframe_data (frame), zframe_size (frame), &error);
    zframe_destroy (&frame);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    cr_assert (s_result_bool (reply, "timed_out"));
    //  The shell says so when a fork fails: the limit was reached, even
    //  if no sample of a loaded machine's /proc saw the bomb at its top.
    char err [4096];
    s_result_text (reply, "stderr", err, sizeof err, NULL);
    sbx_reply_destroy (&reply);
    cr_log_info ("fork bomb: at most %d processes in %d samples; stderr %.80s", most, samples, err);
    cr_assert (most <= 64, "the bomb reached %d processes", most);
    cr_assert (most >= 10 || strstr (err, "fork"), "the bomb did not go off (%d; stderr '%s')", most, err);
    cr_assert_eq (s_tagged (s_tag ()), 0, "the bomb outlived its timeout");

    //  The sandbox still answers, commands included.
    s_sh_says (dealer, &session, "echo alive", "alive\n");
    reply = s_call (dealer, &session, "fs", "list", "{\"path\": \".\"}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok");
    sbx_reply_destroy (&reply);

    s_end_clean (&daemon, &dealer, &session);
}

//  Six sleeps that try to outlive the sandbox: a background job, a new
//  session, a double fork in a new session, nohup, one that ignores
//  SIGTERM and SIGHUP. The command returns once all six run.
static const char *s_leftovers =
    "sleep 1000 & setsid sleep 1000 & (setsid sh -c 'sleep 1000 & sleep 1000' &) & "
    "nohup sleep 1000 > /dev/null 2>&1 & (trap '' TERM HUP; exec sleep 1000) & "
    "while [ $(pgrep -c -u $(id -u) -x sleep) -lt 6 ]; do :; done; echo started";

//  Runs s_leftovers in the session and checks that all six run.
static void
s_start_leftovers (zsock_t *dealer, const s_session_t *session)
{
    char text [64];
    s_sh_out (dealer, session, s_leftovers, text, sizeof text);
    cr_assert (s_tagged (s_tag ()) >= 6, "%d tagged", s_tagged (s_tag ()));
}

//  Starts sbxd with `sandbox`, leaves s_leftovers running in a session,
//  kills sbxd and checks that none of them outlived it.
static void
s_killed_leaves_nothing (const char *sandbox)
{
    sbx_test_daemon_t *daemon = s_daemon (sandbox, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    s_start_leftovers (dealer, &session);
    zsock_destroy (&dealer);
    kill (daemon->pid, SIGKILL);
    waitpid (daemon->pid, NULL, 0);
    daemon->pid = -1;
    //  sbx-init sees its control socket close, kills everything, exits;
    //  it and what it left are this worker's children now (subreaper).
    while (waitpid (-1, NULL, 0) > 0)
        ;
    cr_assert_eq (s_tagged (s_tag ()), 0, "commands outlived a crashed sbxd");
    s_running = NULL;
    sbx_test_daemon_destroy (&daemon);
}

Test (process, shutdown_leaves_nothing_behind)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    s_start_leftovers (dealer, &session);
    //  Shut down in the middle of the session.
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (process, sbxd_killed_leaves_nothing_running)
{
    s_killed_leaves_nothing (NULL);
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

Test (process, a_vanished_directory_breaks_the_sandbox)
{
    sbx_test_daemon_t *daemon = s_start_text (
        "{\"environment\": {\"id\": \"penv\", \"pool\": {\"min\": 1, \"max\": 1}, \"keepalive_interval_s\": 0.05},"
        " \"sandbox\": {\"kind\": \"process\"}, \"features\": {\"shell\": {\"kind\": \"shell\"}}}");
    cr_assert (sbx_test_wait_log (daemon, "[penv/0:0] sandbox started", 1, 10000));
    char dir [512];
    snprintf (dir, sizeof dir, "%s/penv/0:0", daemon->root_dir);
    cr_assert_eq (nftw (dir, s_remove, 16, FTW_DEPTH | FTW_PHYS), 0);
    //  The next ping finds it gone: a state error, and a replacement.
    cr_assert (sbx_test_wait_log (daemon, "[penv/0:0] ready -> shutting_down", 1, 10000));
    cr_assert (sbx_test_wait_log (daemon, "[penv/0:1] sandbox started", 1, 10000));
    struct stat st;
    snprintf (dir, sizeof dir, "%s/penv/0:1", daemon->root_dir);
    cr_assert_eq (stat (dir, &st), 0);
    s_shutdown_clean (&daemon);
}

//  The init process a_stopped_init_process... stopped: killed, should the
//  test fail before sbxd does it (a stopped process sees no EOF).
static char s_stopped [64];

static void
s_fini_stopped (void)
{
    int ppid;
    if (*s_stopped && s_proc_state (s_stopped, &ppid) == 'T')
        kill ((pid_t) atoi (s_stopped), SIGKILL);
    s_fini ();
}

//  An init process that stops reading (stopped here) breaks its sandbox
//  within the deadlines - 10 s to take a request, 10 s to exit after EOF,
//  then SIGKILL - instead of holding the sandbox's thread for ever.
Test (process, a_stopped_init_process_breaks_the_sandbox_in_bounded_time, .timeout = 90,
      .fini = s_fini_stopped)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char init [64];
    s_sh_out (dealer, &session, "echo $PPID", init, sizeof init);
    init [strcspn (init, "\n")] = 0;
    int ppid;
    snprintf (s_stopped, sizeof s_stopped, "%s", init);
    cr_assert_eq (kill ((pid_t) atoi (init), SIGSTOP), 0);
    //  Stopped once waitid sees it so (this worker is its subreaper's
    //  ancestor, not its parent: read /proc until it says 'T', bounded).
    char state = 0;
    for (int tries = 0; tries < 100000 && (state = s_proc_state (init, &ppid)) != 'T'; tries++)
        sched_yield ();
    cr_assert_eq (state, 'T', "sbx-init %s was not stopped", init);
    //  A request larger than the socket holds: sending it waits for room.
    size_t big = 4 * 1024 * 1024;
    char *value = (char *) malloc (big);
    memset (value, 'x', big);
    msgpack_sbuffer args;
    msgpack_sbuffer_init (&args);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &args, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    sbx_mp_pack_str (&pk, "cmd");
    sbx_mp_pack_str (&pk, "true");
    sbx_mp_pack_str (&pk, "env");
    msgpack_pack_map (&pk, 1);
    sbx_mp_pack_str (&pk, "BIG");
    msgpack_pack_str (&pk, big);
    msgpack_pack_str_body (&pk, value, big);
    free (value);
    //  (A reply at all says the send gave up: sbx-init never reads it.)
    sbx_reply_t *reply = s_call_mp (dealer, &session, "shell", "run", args.data, args.size, 30000);
    msgpack_sbuffer_destroy (&args);
    cr_assert_str_eq (sbx_test_reply_type (reply), SBX_STATE_ERROR, "%s", s_why (reply));
    cr_assert (strstr (s_why (reply), "took no request"), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    //  The broken sandbox ends (its stopped init process killed at the
    //  deadline) and a replacement starts.
    cr_assert (sbx_test_wait_log (daemon, "[penv/0:1] sandbox started", 1, 30000));
    cr_assert_eq (s_proc_state (init, &ppid), '?', "sbx-init %s is still there", init);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

//  --- bubblewrap ------------------------------------------------------------------

#define S_BWRAP "{\"kind\": \"process\", \"isolation\": \"bwrap\"}"

static int
s_host_processes (void)
{
    int count = 0;
    DIR *proc = opendir ("/proc");
    struct dirent *entry;
    while ((entry = readdir (proc)))
        count += entry->d_name [0] >= '1' && entry->d_name [0] <= '9';
    closedir (proc);
    return count;
}

Test (process, bwrap_namespace)
{
    sbx_test_daemon_t *daemon = s_daemon (S_BWRAP, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    char text [4096];
    s_sh_out (dealer, &session, "id -u; pwd; echo $HOME; hostname; cat /proc/1/comm", text, sizeof text);
    unsigned uid = 0;
    char rest [1024];
    cr_assert_eq (sscanf (text, "%u\n%1023c", &uid, rest), 2, "%s", text);
    cr_assert (uid >= 1900000000, "commands run as the sandbox's user, not %u", uid);
    cr_assert (strstr (text, "\n/workspace\n/workspace\nsbx\nsbx-init\n"), "%s", text);

    //  Only the namespace's processes are visible.
    s_sh_out (dealer, &session, "ls /proc | grep -c '^[0-9]'", text, sizeof text);
    int inside = atoi (text);
    cr_log_info ("bwrap: %d processes visible inside, %d on the host", inside, s_host_processes ());
    cr_assert (inside <= 6, "%d processes visible", inside);
    cr_assert (s_host_processes () > inside + 2);

    //  Nothing outside /workspace and /tmp is writable.
    s_sh_out (dealer, &session,
              "for p in /etc/x /usr/x /x /var/x /root/x /home/x /run/x /dev/x /proc/x /sys/x /work/x /opt/x; do "
              "touch $p 2>/dev/null && echo wrote $p; done; touch /workspace/a /tmp/b && echo fine", text, sizeof text);
    cr_assert_str_eq (text, "fine\n");
    //  Other sandboxes (root_dir) are out of sight.
    snprintf (rest, sizeof rest, "ls %s 2>&1 || echo hidden", daemon->root_dir);
    s_sh_out (dealer, &session, rest, text, sizeof text);
    cr_assert (strstr (text, "hidden"), "%s", text);

    //  No network, not even loopback: sbxd's own port is unreachable.
    const char *port = strrchr (daemon->requests, ':') + 1;
    snprintf (rest, sizeof rest, "python3 -c \"import socket; s = socket.socket(); s.settimeout(5); "
              "s.connect(('127.0.0.1', %s)); print('connected')\"", port);
    sbx_reply_t *reply = s_sh (dealer, &session, rest);
    s_result_text (reply, "stderr", text, sizeof text, NULL);
    cr_assert_neq (s_result_int (reply, "exit_code"), 0, "connected to sbxd from inside");
    cr_assert (strstr (text, "Network is unreachable") || strstr (text, "refused"), "%s", text);
    sbx_reply_destroy (&reply);

    //  Files go both ways between shell and fs.
    reply = s_call (dealer, &session, "fs", "read", "{\"path\": \"a\"}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    reply = s_call (dealer, &session, "shell", "run", "{\"cmd\": \"pwd\", \"cwd\": \"../\"}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "PermissionError", "%s", s_why (reply));
    sbx_reply_destroy (&reply);

    //  The same connection from an unisolated sandbox does succeed.
    s_end_clean (&daemon, &dealer, &session);

    daemon = s_daemon (NULL, NULL);
    dealer = sbx_test_connect (daemon);
    s_open (dealer, &session);
    port = strrchr (daemon->requests, ':') + 1;
    snprintf (rest, sizeof rest, "python3 -c \"import socket; s = socket.socket(); s.settimeout(5); "
              "s.connect(('127.0.0.1', %s)); print('connected')\"", port);
    s_sh_out (dealer, &session, rest, text, sizeof text);
    cr_assert_str_eq (text, "connected\n");
    s_end_clean (&daemon, &dealer, &session);
}

//  sbxd run by a user without privileges still isolates with bwrap
//  (through an unprivileged user namespace): commands run as that user,
//  in their own PID namespace, under a read-only root, and nothing is
//  left behind. Run by root, the suite starts this sbxd as nobody (its
//  programs copied where nobody can reach them, wherever the checkout
//  is); run by another user, as that user. Where it cannot start, the
//  assertion says why.
Test (process, bwrap_without_privileges)
{
    bool root = geteuid () == 0;
    uid_t user = root ? 65534 : geteuid ();
    json_t *config = json_pack ("{s:{s:s, s:{s:i, s:i}, s:n}, s:{s:s, s:s}, s:{s:{s:s}}}",
        "environment", "id", "penv", "pool", "min", 1, "max", 1, "keepalive_interval_s",
        "sandbox", "kind", "process", "isolation", "bwrap",
        "features", "shell", "kind", "shell");
    sbx_test_daemon_t *daemon = sbx_test_daemon_start_as (config, NULL, root ? user : (uid_t) -1);
    json_decref (config);
    cr_assert_not_null (daemon, "sbxd did not start as uid %u: %s", (unsigned) user,
                        sbx_test_daemon_failure ());
    s_running = daemon;
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char text [1024];
    s_sh_out (dealer, &session, "id -u; cat /proc/1/comm; echo hi > f; cat f; ls /proc | grep -c '^[0-9]'",
              text, sizeof text);
    unsigned uid = 0, visible = 0;
    char comm [64], line [64];
    cr_assert_eq (sscanf (text, "%u %63s %63s %u", &uid, comm, line, &visible), 4, "%s", text);
    cr_assert_eq (uid, user, "%s", text);
    cr_assert_str_eq (comm, "sbx-init");
    cr_assert_str_eq (line, "hi");
    cr_assert (visible <= 6, "%u processes visible", visible);
    s_sh_says (dealer, &session, "touch /etc/x /usr/x 2>/dev/null || echo read-only", "read-only\n");
    s_end_clean (&daemon, &dealer, &session);
}

Test (process, bwrap_root_is_read_only_even_for_root)
{
    sbx_test_daemon_t *daemon = s_daemon ("{\"kind\": \"process\", \"isolation\": \"bwrap\", \"users\": null}", NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char text [4096];
    s_sh_out (dealer, &session, "id -u; touch /etc/x 2>&1; touch /x 2>&1; mount -t tmpfs none /mnt 2>&1; "
              "grep CapEff /proc/self/status; touch /workspace/ok && echo fine", text, sizeof text);
    cr_assert (strstr (text, "0\n"), "%s", text);
    cr_assert (strstr (text, "/etc/x': Read-only file system"), "%s", text);
    cr_assert (strstr (text, "/x': Read-only file system"), "%s", text);
    cr_assert (strstr (text, "CapEff:\t0000000000000000\n"), "%s", text);
    cr_assert (strstr (text, "fine\n"), "%s", text);
    s_end_clean (&daemon, &dealer, &session);
}

Test (process, bwrap_timeout_and_shutdown_leave_nothing)
{
    sbx_test_daemon_t *daemon = s_daemon (S_BWRAP, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    sbx_reply_t *reply = s_call (dealer, &session, "shell", "run",
        "{\"cmd\": \"sleep 100 & setsid sleep 100 & sleep 100\", \"timeout_ms\": 300}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    cr_assert (s_result_bool (reply, "timed_out"));
    sbx_reply_destroy (&reply);
    cr_assert_eq (s_tagged (s_tag ()), 0);
    s_start_leftovers (dealer, &session);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (process, bwrap_sbxd_killed_leaves_nothing_running)
{
    s_killed_leaves_nothing (S_BWRAP);
}

Test (process, at_the_process_limit_forks_fail_and_the_session_goes_on)
{
    sbx_test_daemon_t *daemon = s_daemon ("{\"kind\": \"process\", \"limits\": {\"processes\": 4}}", NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char text [256];
    s_sh_out (dealer, &session, "sleep 1000 & sleep 1000 & sleep 1000 & echo three", text, sizeof text);
    //  Three sleeps and the next command make four: it runs, but cannot fork.
    sbx_reply_t *reply = s_sh (dealer, &session, "sleep 1000 & echo forked");
    cr_assert_neq (s_result_int (reply, "exit_code"), 0);
    s_result_text (reply, "stderr", text, sizeof text, NULL);
    cr_assert (strstr (text, "fork"), "%s", text);
    sbx_reply_destroy (&reply);
    reply = s_call (dealer, &session, "fs", "list", "{\"path\": \"\"}");
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    //  The session's end frees the sandbox for the next one.
    s_close_session (dealer, &session);
    s_open (dealer, &session);
    s_sh_says (dealer, &session, "sleep 1 & echo hi", "hi\n");
    s_end_clean (&daemon, &dealer, &session);
}

//  The steps of a_wait_without_pidfd_ends_by_its_deadline, in a process
//  of their own that uses up its descriptors. Writes the pid of the child
//  that does not exit on its own, a line, then what went wrong, if
//  anything, on `report`. Returns 0 when all went as it should.
static int
s_wait_without_pidfd (int report)
{
    char why [256] = "";
    char *const slow [] = {"/bin/sleep", "30", NULL};
    char *const quick [] = {"/bin/sh", "-c", "sleep 0.2", NULL};
    pid_t sleeper = 0, exiter = 0;
    if (sbx_process_child_spawn (&sleeper, slow, environ, NULL) != 0
    ||  sbx_process_child_spawn (&exiter, quick, environ, NULL) != 0)
        snprintf (why, sizeof why, "cannot spawn");
    dprintf (report, "%d\n", (int) sleeper);
    //  No descriptor left: pidfd_open fails with EMFILE.
    struct rlimit limit = {64, 64};
    if (!*why && setrlimit (RLIMIT_NOFILE, &limit) != 0)
        snprintf (why, sizeof why, "cannot lower RLIMIT_NOFILE");
    while (!*why && dup (0) >= 0)
        ;
    if (!*why && errno != EMFILE)
        snprintf (why, sizeof why, "descriptors did not run out");
    if (!*why && (syscall (SYS_pidfd_open, sleeper, 0) >= 0 || errno != EMFILE))
        snprintf (why, sizeof why, "pidfd_open did not fail with EMFILE (%s)", strerror (errno));
    //  A child that exits on its own is seen, with its status.
    int status = *why ? 0 : sbx_process_child_wait (exiter, 5000);
    if (!*why && (status == -1 || !WIFEXITED (status) || WEXITSTATUS (status) != 0))
        snprintf (why, sizeof why, "exiting child: status %d", status);
    //  One that does not exit: the wait ends, at its deadline (it returns
    //  at all: the helper is not killed by the test's own guard).
    status = *why ? 0 : sbx_process_child_wait (sleeper, 300);
    int error = errno;
    if (!*why && (status != -1 || error != ETIMEDOUT))
        snprintf (why, sizeof why, "running child: status %d (%s), want -1 (ETIMEDOUT)", status,
                  strerror (error));
    //  Ending it kills it at the deadline and reaps it.
    bool killed = false;
    status = *why ? 0 : sbx_process_child_end (sleeper, 200, &killed);
    if (!*why && (!killed || status == -1 || !WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL))
        snprintf (why, sizeof why, "ending: killed %d, status %d, want SIGKILL", killed, status);
    if (!*why && (waitpid (sleeper, NULL, WNOHANG) != -1 || errno != ECHILD))
        snprintf (why, sizeof why, "the killed child was not reaped");
    if (*why)
        dprintf (report, "%s", why);
    return *why ? 1 : 0;
}

//  Without a pidfd (pidfd_open fails: EMFILE here, ENOSYS on old
//  kernels), waiting for a child of sbxd still ends by its deadline, and
//  ending one kills it then and reaps it: no wait on a child is unbounded.
Test (process, a_wait_without_pidfd_ends_by_its_deadline)
{
    int report [2];
    cr_assert_eq (pipe2 (report, O_CLOEXEC), 0);
    pid_t helper = fork ();
    if (helper == 0) {
        //  No assertion here: it would report to the runner as a stranger.
        close (report [0]);
        _exit (s_wait_without_pidfd (report [1]));
    }
    close (report [1]);
    cr_assert (helper > 0);
    //  The helper is done within about 1 s; a wait that hangs would keep
    //  it until it is killed here, after 10 s.
    bool killed = false;
    int status = sbx_process_child_end (helper, 10000, &killed);
    char text [512];
    ssize_t n, used = 0;
    while (used < (ssize_t) sizeof text - 1 && (n = read (report [0], text + used, sizeof text - 1 - used)) > 0)
        used += n;
    text [used] = 0;
    close (report [0]);
    //  The child that does not exit is now ours (we are a subreaper) when
    //  the helper did not end it.
    pid_t sleeper = (pid_t) atoi (text);
    if (sleeper > 0 && waitpid (sleeper, NULL, WNOHANG) == 0) {
        kill (sleeper, SIGKILL);
        waitpid (sleeper, NULL, 0);
    }
    cr_assert_not (killed, "a wait without a pidfd did not end by its deadline (killed after 10 s)");
    const char *why = strchr (text, '\n');
    cr_assert (status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 0, "%s",
               why && why [1] ? why + 1 : "the helper failed");
}
