/*  Containment of process sandboxes on a real sbxd (docs/sandboxes.md,
    "cgroups", "A clean slate", "Disk quota"): the memory, processes and
    cpu limits hold a sandbox as a whole, tmpfs pages included; a disk
    quota fills one sandbox only; and nothing a session writes, anywhere
    it can write, is there for the next one. Each runs with isolation
    "none" and "bwrap". */
#include "sandbox_util.h"

#include <sys/stat.h>

static void
s_init (void)
{
    s_become_reaper ();
}

TestSuite (contain, .init = s_init, .fini = s_fini, .timeout = 180);

//  A daemon with a pool of `pool` process sandboxes under `isolation`
//  with `limits` (a JSON object), shell (tagged) and fs.
static sbx_test_daemon_t *
s_start (const char *isolation, const char *limits, unsigned pool)
{
    char config [2048];
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"cenv\", \"pool\": {\"min\": %u, \"max\": %u},"
              " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
              " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"%s\", \"limits\": %s},"
              //  Six processes that each fill 400 MB take a minute and more
              //  on a loaded machine: commands may take longer than the
              //  default 60 s here (the test waits 120 s for a reply).
              " \"features\": {\"shell\": {\"kind\": \"shell\", \"timeout_ms\": 110000,"
              " \"env\": {\"SBX_TAG\": \"%s\"}},"
              " \"fs\": {\"kind\": \"fs\"}}}", pool, pool, isolation, limits, s_tag ());
    return s_start_reachable (config);
}

//  The host's shared memory (/proc/meminfo Shmem), in KiB.
static long
s_shmem_kib (void)
{
    char text [8192];
    s_read_proc ("/proc/meminfo", text, sizeof text);
    const char *line = strstr (text, "\nShmem:");
    return line ? atol (line + 7) : -1;
}

//  The value of a cgroup file of the sandbox sbxd's first child is in.
static char *
s_cgroup_file (sbx_test_daemon_t *daemon, const char *controller, const char *file, char *text, size_t size)
{
    char dir [PATH_MAX], path [PATH_MAX + 64];
    s_cgroup_dir (s_first_child (daemon->pid), controller, dir, sizeof dir);
    cr_assert (dir [0], "the sandbox has no %s cgroup", controller);
    snprintf (path, sizeof path, "%s/%s", dir, file);
    cr_assert (s_read_proc (path, text, size), "cannot read %s", path);
    return text;
}

//  --- Memory ------------------------------------------------------------------

//  Six processes that each take 400 MB and hold it, one after the other
//  (each reports on a FIFO once it holds its memory, or the FIFO closes
//  when it dies trying); then how many still live. Without a limit on
//  the sandbox as a whole, all six do.
static const char *s_six_holders =
    "cd \"${TMPDIR:-/tmp}\"; pids=''; "
    "for i in 1 2 3 4 5 6; do rm -f f$i; mkfifo f$i; "
    "/usr/bin/python3 -c \"import time; f = open('f$i', 'w'); b = bytes([1]) * (400 << 20); "
    "f.write('ready'); f.close(); time.sleep(600)\" & pids=\"$pids $!\"; "
    "read line < f$i || true; echo \"$i ${line:-killed}\"; done; "
    "alive=0; for p in $pids; do kill -0 $p 2>/dev/null && alive=$((alive + 1)); done; echo alive=$alive";

static void
s_memory_holds (const char *isolation)
{
    sbx_test_daemon_t *daemon = s_start (isolation, "{\"memory_mb\": 512}", 1);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char text [4096];
    cr_assert_str_eq (s_cgroup_file (daemon, "memory", "memory.limit_in_bytes", text, sizeof text),
                      "536870912\n");
    s_sh_out (dealer, &session, s_six_holders, text, sizeof text);
    cr_log_info ("%s: %s", isolation, text);
    const char *alive = strstr (text, "alive=");
    cr_assert_not_null (alive, "%s", text);
    cr_assert (atoi (alive + 6) <= 1, "6 x 400 MB under memory_mb 512: %s", text);
    //  Stopped inside the sandbox: sbxd and the sandbox go on.
    s_sh_says (dealer, &session, "echo alive", "alive\n");
    s_end_clean (&daemon, &dealer, &session);
}

Test (contain, memory_limit_holds_the_sandbox_as_a_whole_none)
{
    s_memory_holds ("none");
}

Test (contain, memory_limit_holds_the_sandbox_as_a_whole_bwrap)
{
    s_memory_holds ("bwrap");
}

//  960 MB written to a tmpfs the sandbox can write (/dev/shm with
//  "none", /tmp on its disk quota's tmpfs under bwrap): charged to the
//  sandbox, stopped at memory_mb, and given back to the host when the
//  session ends.
static void
s_tmpfs_is_charged (const char *isolation, const char *limits, const char *where)
{
    sbx_test_daemon_t *daemon = s_start (isolation, limits, 1);
    zsock_t *dealer = sbx_test_connect (daemon);
    long before = s_shmem_kib ();
    s_session_t session;
    s_open (dealer, &session);
    char cmd [256], text [256];
    snprintf (cmd, sizeof cmd, "head -c 960M /dev/zero > %s/fill-%s", where, s_tag ());
    sbx_reply_t *reply = s_sh (dealer, &session, cmd);
    cr_assert_neq (s_result_int (reply, "exit_code"), 0, "960 MB fit under memory_mb 512");
    sbx_reply_destroy (&reply);
    long during = s_shmem_kib ();
    cr_log_info ("%s: Shmem %ld KiB before, %ld during", isolation, before, during);
    cr_assert (during - before < 600 * 1024, "Shmem grew by %ld KiB", during - before);
    s_close_session (dealer, &session);
    long after = s_shmem_kib ();
    cr_log_info ("%s: Shmem %ld KiB after the session", isolation, after);
    //  Other programs on the host move it a little.
    cr_assert (after - before < 64 * 1024, "Shmem still %ld KiB above its level after the session",
               after - before);
    s_open (dealer, &session);
    snprintf (cmd, sizeof cmd, "ls %s/fill-%s 2>/dev/null || echo gone", where, s_tag ());
    cr_assert_str_eq (s_sh_out (dealer, &session, cmd, text, sizeof text), "gone\n");
    s_end_clean (&daemon, &dealer, &session);
}

Test (contain, tmpfs_pages_are_charged_and_freed_none)
{
    s_tmpfs_is_charged ("none", "{\"memory_mb\": 512}", "/dev/shm");
}

Test (contain, tmpfs_pages_are_charged_and_freed_bwrap)
{
    s_tmpfs_is_charged ("bwrap", "{\"memory_mb\": 512, \"disk_mb\": 1024}", "/tmp");
}

//  --- Disk ----------------------------------------------------------------------

static void
s_disk_quota (const char *isolation)
{
    sbx_test_daemon_t *daemon = s_start (isolation, "{\"disk_mb\": 16}", 2);
    zsock_t *dealer = sbx_test_connect (daemon);
    s_session_t full, other;
    s_open (dealer, &full);
    s_open (dealer, &other);
    sbx_reply_t *reply = s_sh (dealer, &full, "head -c 32M /dev/zero > big");
    char text [1024];
    s_result_text (reply, "stderr", text, sizeof text, NULL);
    cr_assert_neq (s_result_int (reply, "exit_code"), 0);
    cr_assert (strstr (text, "No space left on device"), "%s", text);
    sbx_reply_destroy (&reply);
    //  Every writable path shares the quota.
    reply = s_sh (dealer, &full, "echo x > \"${TMPDIR:-/tmp}/more\"");
    cr_assert_neq (s_result_int (reply, "exit_code"), 0, "the temporary directory is outside the quota");
    sbx_reply_destroy (&reply);
    reply = s_call (dealer, &full, "fs", "write", "{\"path\": \"note\", \"data\": \"%0512d\"}", 0);
    cr_assert_str_eq (sbx_test_reply_type (reply), "OSError", "%s", s_why (reply));
    cr_assert (strstr (s_why (reply), "No space left on device"), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    //  The other sandbox notices nothing.
    reply = s_call (dealer, &other, "fs", "write", "{\"path\": \"note\", \"data\": \"%0512d\"}", 0);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    s_sh_out (dealer, &other, "head -c 8M /dev/zero > big && echo written", text, sizeof text);
    cr_assert_str_eq (text, "written\n");
    //  The next session of the full one has its whole quota again.
    s_close_session (dealer, &full);
    s_open (dealer, &full);
    s_sh_out (dealer, &full, "head -c 8M /dev/zero > big && echo written", text, sizeof text);
    cr_assert_str_eq (text, "written\n");
    s_close_session (dealer, &full);
    s_close_session (dealer, &other);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (contain, disk_quota_fills_one_sandbox_only_none)
{
    s_disk_quota ("none");
}

Test (contain, disk_quota_fills_one_sandbox_only_bwrap)
{
    s_disk_quota ("bwrap");
}

//  --- Processes and CPU --------------------------------------------------------------

//  A loop that starts sleeps until fork fails: it stops with the command
//  and its sleeps at `processes`, exactly.
static void
s_fork_loop (const char *isolation)
{
    sbx_test_daemon_t *daemon = s_start (isolation, "{\"processes\": 20}", 1);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    sbx_reply_t *reply = s_sh (dealer, &session, "for i in $(seq 100); do sleep 1000 & done; echo all started");
    char text [1024];
    s_result_text (reply, "stdout", text, sizeof text, NULL);
    cr_assert_str_eq (text, "", "the loop was not stopped");
    s_result_text (reply, "stderr", text, sizeof text, NULL);
    cr_assert (strstr (text, "fork"), "%s", text);
    sbx_reply_destroy (&reply);
    //  The shell and 19 sleeps made 20; the shell is gone. (Counted in
    //  the group: a sleep still in exec shows no environment to tag.)
    int own = streq (isolation, "bwrap") ? 2 : 1;       //  bwrap, sbx-init
    cr_assert_eq (atoi (s_cgroup_file (daemon, "pids", "pids.current", text, sizeof text)), 19 + own,
                  "%s tasks, %d of them the sandbox's own", text, own);
    cr_assert (strstr (s_cgroup_file (daemon, "pids", "pids.events", text, sizeof text), "max "), "%s", text);
    s_sh_says (dealer, &session, "echo alive", "alive\n");
    s_close_session (dealer, &session);
    cr_assert_eq (s_tagged (s_tag ()), 0, "the sleeps outlived the session");
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (contain, a_fork_loop_stops_at_processes_none)
{
    s_fork_loop ("none");
}

Test (contain, a_fork_loop_stops_at_processes_bwrap)
{
    s_fork_loop ("bwrap");
}

Test (contain, cpu_limit_is_the_cgroup_s_quota)
{
    sbx_test_daemon_t *daemon = s_start ("bwrap", "{\"cpu\": 0.5, \"memory_mb\": 256}", 1);
    //  A session: the sandbox is up.
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char dir [PATH_MAX], text [256];
    s_cgroup_dir (s_first_child (daemon->pid), "cpu", dir, sizeof dir);
    char path [PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/cpu.max", dir);
    if (access (path, F_OK) == 0)
        cr_assert_str_eq (s_cgroup_file (daemon, "cpu", "cpu.max", text, sizeof text), "50000 100000\n");
    else {
        cr_assert_str_eq (s_cgroup_file (daemon, "cpu", "cpu.cfs_quota_us", text, sizeof text), "50000\n");
        cr_assert_str_eq (s_cgroup_file (daemon, "cpu", "cpu.cfs_period_us", text, sizeof text), "100000\n");
    }
    //  The whole sandbox is in it: bwrap, sbx-init, every command.
    s_sh_out (dealer, &session, "sleep 1000 & echo started", text, sizeof text);
    s_cgroup_dir (s_first_child (daemon->pid), "cpu", dir, sizeof dir);
    snprintf (path, sizeof path, "%s/cgroup.procs", dir);
    char procs [1024];
    s_read_proc (path, procs, sizeof procs);
    int count = 0;
    for (char *p = procs; *p; p++)
        count += *p == '\n';
    cr_assert_eq (count, 3, "bwrap, sbx-init and the sleep: %s", procs);
    s_end_clean (&daemon, &dealer, &session);
}

//  --- A clean slate ----------------------------------------------------------------

//  Writes a file to every path the command can write and makes System
//  V and POSIX IPC objects; `shared` also names /run/lock and a world-
//  writable directory of the host's.
static void
s_leave_everything (zsock_t *dealer, const s_session_t *session, const char *shared)
{
    char cmd [4096], text [1024];
    snprintf (cmd, sizeof cmd,
        "set -e; t=%s; echo w > in-workspace; echo t > \"${TMPDIR:-/tmp}/$t-tmpdir\"; echo t > /tmp/$t-tmp;"
        " mkdir /tmp/$t-dir; echo d > /tmp/$t-dir/f; echo v > /var/tmp/$t-vartmp; echo s > /dev/shm/$t-shm;"
        " %s ipcmk -M 4096 >/dev/null; ipcmk -Q >/dev/null; ipcmk -S 1 >/dev/null;"
        " /usr/bin/python3 -c \"import ctypes, os; rt = ctypes.CDLL('librt.so.1', use_errno=True);"
        " rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p];"
        " assert rt.mq_open(b'/$t', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0\"; echo left",
        s_tag (), shared ? shared : "");
    cr_assert_str_eq (s_sh_out (dealer, session, cmd, text, sizeof text), "left\n");
}

//  What of it the next session finds: nothing.
static void
s_find_nothing (zsock_t *dealer, const s_session_t *session, const char *shared)
{
    char cmd [4096], text [4096];
    snprintf (cmd, sizeof cmd,
        "t=%s; u=$(id -u); for f in in-workspace \"${TMPDIR:-/tmp}/$t-tmpdir\" /tmp/$t-tmp /tmp/$t-dir"
        " /var/tmp/$t-vartmp /dev/shm/$t-shm %s; do [ -e \"$f\" ] && echo \"left: $f\"; done;"
        " awk -v u=$u 'FNR > 1 && ($8 == u || $10 == u) { print \"left: \" FILENAME \" \" $2 }'"
        " /proc/sysvipc/shm /proc/sysvipc/msg;"
        " awk -v u=$u 'FNR > 1 && ($5 == u || $7 == u) { print \"left: sem \" $2 }' /proc/sysvipc/sem;"
        " /usr/bin/python3 -c \"import ctypes, os; rt = ctypes.CDLL('librt.so.1', use_errno=True);"
        " rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p];"
        " fd = rt.mq_open(b'/$t', os.O_RDWR, 0, None); print('left: mqueue') if fd >= 0 else None\";"
        " echo checked",
        s_tag (), shared ? shared : "");
    cr_assert_str_eq (s_sh_out (dealer, session, cmd, text, sizeof text), "checked\n");
}

static void
s_clean_slate (const char *isolation)
{
    bool none = streq (isolation, "none");
    //  A world-writable directory of the host's, not the sandbox's.
    char shared_dir [128] = "", shared_files [512] = "", shared_cmd [512] = "";
    if (none) {
        snprintf (shared_dir, sizeof shared_dir, "/tmp/%s-shared", s_tag ());
        cr_assert_eq (mkdir (shared_dir, 0777), 0);
        chmod (shared_dir, 01777);
        snprintf (shared_files, sizeof shared_files, "/run/lock/$t-lock %s/f", shared_dir);
        snprintf (shared_cmd, sizeof shared_cmd, "echo l > /run/lock/$t-lock; echo f > %s/f;", shared_dir);
    }
    sbx_test_daemon_t *daemon = s_start (isolation, "{}", 1);
    zsock_t *dealer = sbx_test_connect (daemon);
    s_session_t first, second;
    s_open (dealer, &first);
    s_leave_everything (dealer, &first, none ? shared_cmd : NULL);
    s_close_session (dealer, &first);
    s_open (dealer, &second);
    cr_assert_str_eq (second.sandbox, first.sandbox, "the pool of one hands out the same sandbox");
    s_find_nothing (dealer, &second, none ? shared_files : NULL);
    if (none) {
        //  The host's directory stays; only the sandbox's entry in it went.
        struct stat st;
        cr_assert_eq (stat (shared_dir, &st), 0);
        cr_assert_eq (sbx_test_dir_entries (shared_dir), 0);
        rmdir (shared_dir);
        char path [256];
        snprintf (path, sizeof path, "/tmp/%s-tmp", s_tag ());
        cr_assert_neq (access (path, F_OK), 0, "%s is still on the host", path);
    }
    //  And the same after a session that ends with its commands running.
    char cmd [256], text [64];
    snprintf (cmd, sizeof cmd, "sleep 1000 & echo t > /tmp/%s-late; echo started", s_tag ());
    s_sh_out (dealer, &second, cmd, text, sizeof text);
    s_close_session (dealer, &second);
    s_open (dealer, &first);
    snprintf (cmd, sizeof cmd, "ls /tmp/%s-late 2>/dev/null; echo checked", s_tag ());
    cr_assert_str_eq (s_sh_out (dealer, &first, cmd, text, sizeof text), "checked\n");
    s_close_session (dealer, &first);
    zsock_destroy (&dealer);
    s_shutdown_clean (&daemon);
}

Test (contain, nothing_of_a_session_is_left_for_the_next_none)
{
    s_clean_slate ("none");
}

Test (contain, nothing_of_a_session_is_left_for_the_next_bwrap)
{
    s_clean_slate ("bwrap");
}
