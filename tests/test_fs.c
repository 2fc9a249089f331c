/*  The fs feature on a real sbxd (features/fs.c, docs/sandboxes.md):
    files in, files out, and every way out of the sandbox refused. */
#include "sandbox_util.h"

#include <ftw.h>
#include <sys/stat.h>

static void
s_init (void)
{
    s_become_reaper ();
}

TestSuite (fs, .init = s_init, .fini = s_fini, .timeout = 120);

//  Calls fs.method and asserts the error type ("ok" for success).
static sbx_reply_t *
s_fs (zsock_t *dealer, const s_session_t *session, const char *method, const char *expect,
      const char *args)
{
    sbx_reply_t *reply = s_call (dealer, session, "fs", method, "%s", args);
    cr_assert_str_eq (sbx_test_reply_type (reply), expect, "fs.%s %s: %s", method, args, s_why (reply));
    return reply;
}

static void
s_fs_expect (zsock_t *dealer, const s_session_t *session, const char *method, const char *expect,
             const char *args)
{
    sbx_reply_t *reply = s_fs (dealer, session, method, expect, args);
    sbx_reply_destroy (&reply);
}

Test (fs, write_read_list_stat_remove)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    sbx_reply_t *reply = s_fs (dealer, &session, "write", "ok", "{\"path\": \"a/b/hello.txt\", \"data\": \"hello\"}");
    cr_assert_eq (s_result_int (reply, NULL), 5);
    sbx_reply_destroy (&reply);
    s_fs_expect (dealer, &session, "write", "ok", "{\"path\": \"a/b/hello.txt\", \"data\": \", world\", \"append\": true}");
    reply = s_fs (dealer, &session, "read", "ok", "{\"path\": \"a/b/hello.txt\"}");
    char text [1024];
    size_t size;
    cr_assert_eq (s_result (reply, NULL)->type, MSGPACK_OBJECT_BIN);
    cr_assert_str_eq (s_result_text (reply, NULL, text, sizeof text, &size), "hello, world");
    sbx_reply_destroy (&reply);
    reply = s_fs (dealer, &session, "read", "ok", "{\"path\": \"a/b/hello.txt\", \"offset\": 7, \"length\": 3}");
    cr_assert_str_eq (s_result_text (reply, NULL, text, sizeof text, NULL), "wor");
    sbx_reply_destroy (&reply);
    reply = s_fs (dealer, &session, "read", "ok", "{\"path\": \"a/b/hello.txt\", \"offset\": 100}");
    cr_assert_str_eq (s_result_text (reply, NULL, text, sizeof text, NULL), "");
    sbx_reply_destroy (&reply);

    //  Files fs writes are the commands' to use, and the other way round.
    s_sh_out (dealer, &session, "cat a/b/hello.txt && echo ' again' >> a/b/hello.txt && ln -s a/b link "
              "&& printf 'x%.0s' $(seq 10) > ten", text, sizeof text);
    cr_assert_str_eq (text, "hello, world");
    reply = s_fs (dealer, &session, "read", "ok", "{\"path\": \"link/hello.txt\"}");
    cr_assert_str_eq (s_result_text (reply, NULL, text, sizeof text, NULL), "hello, world again\n");
    sbx_reply_destroy (&reply);
    s_fs_expect (dealer, &session, "write", "ok", "{\"path\": \"ten\", \"data\": \"short\"}");
    reply = s_fs (dealer, &session, "read", "ok", "{\"path\": \"ten\"}");
    cr_assert_str_eq (s_result_text (reply, NULL, text, sizeof text, NULL), "short", "write truncates");
    sbx_reply_destroy (&reply);

    reply = s_fs (dealer, &session, "list", "ok", "{\"path\": \"\"}");
    const msgpack_object *list = s_result (reply, NULL);
    cr_assert_eq (list->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq (list->via.array.size, 3);
    const char *names [] = {"a", "link", "ten"}, *types [] = {"dir", "symlink", "file"};
    for (uint32_t i = 0; i < 3; i++) {
        const msgpack_object *entry = &list->via.array.ptr [i];
        cr_assert (sbx_mp_str_eq (sbx_mp_map_get (entry, "name"), names [i]), "entry %u", i);
        cr_assert (sbx_mp_str_eq (sbx_mp_map_get (entry, "type"), types [i]), "entry %u type", i);
    }
    cr_assert_eq (sbx_mp_map_get (&list->via.array.ptr [2], "size")->via.u64, 5);
    sbx_reply_destroy (&reply);

    reply = s_fs (dealer, &session, "stat", "ok", "{\"path\": \"ten\"}");
    cr_assert (sbx_mp_str_eq (s_result (reply, "type"), "file"));
    cr_assert_eq (s_result_int (reply, "size"), 5);
    //  A command made it; with isolation "none" commands' umask is 077.
    cr_assert_eq (s_result_int (reply, "mode"), 0600);
    cr_assert (s_result_int (reply, "mtime_ns") > 1600000000LL * 1000000000LL);
    sbx_reply_destroy (&reply);
    reply = s_fs (dealer, &session, "stat", "ok", "{\"path\": \"link\"}");
    cr_assert (sbx_mp_str_eq (s_result (reply, "type"), "symlink"), "stat describes a link itself");
    sbx_reply_destroy (&reply);

    s_fs_expect (dealer, &session, "remove", "OSError", "{\"path\": \"a\"}");
    s_fs_expect (dealer, &session, "remove", "ok", "{\"path\": \"link\"}");
    s_fs_expect (dealer, &session, "remove", "ok", "{\"path\": \"a\", \"recursive\": true}");
    s_fs_expect (dealer, &session, "remove", "ok", "{\"path\": \"ten\"}");
    s_fs_expect (dealer, &session, "remove", "FileNotFoundError", "{\"path\": \"ten\"}");
    s_fs_expect (dealer, &session, "read", "FileNotFoundError", "{\"path\": \"ten\"}");
    s_fs_expect (dealer, &session, "read", "IsADirectoryError", "{\"path\": \".\"}");
    reply = s_fs (dealer, &session, "list", "ok", "{\"path\": \".\"}");
    cr_assert_eq (s_result (reply, NULL)->via.array.size, 0);
    sbx_reply_destroy (&reply);

    s_end_clean (&daemon, &dealer, &session);
}

Test (fs, binary_data_round_trip)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    char bytes [256];
    for (int i = 0; i < 256; i++)
        bytes [i] = (char) (255 - i);
    sbx_reply_t *reply = s_call_bin (dealer, &session, "fs", "write", "path", "blob", "data", bytes, sizeof bytes,
                                     30000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    s_sh_says (dealer, &session, "wc -c < blob", "256\n");
    reply = s_fs (dealer, &session, "read", "ok", "{\"path\": \"blob\"}");
    const msgpack_object *data = s_result (reply, NULL);
    cr_assert_eq (data->via.bin.size, sizeof bytes);
    cr_assert_eq (memcmp (data->via.bin.ptr, bytes, sizeof bytes), 0);
    sbx_reply_destroy (&reply);

    s_end_clean (&daemon, &dealer, &session);
}

Test (fs, escapes_are_permission_errors)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    char text [1024];
    s_sh_out (dealer, &session, "mkdir sub && echo inside > sub/x && ln -s / root && ln -s ../.. up "
              "&& ln -s /etc/passwd pw && ln -s sub fine", text, sizeof text);
    static const struct {
        const char *method, *args;
    } escapes [] = {
        {"read", "{\"path\": \"../x\"}"}, {"read", "{\"path\": \"sub/../../x\"}"},
        {"read", "{\"path\": \"/etc/passwd\"}"}, {"read", "{\"path\": \"root/etc/passwd\"}"},
        {"read", "{\"path\": \"pw\"}"}, {"read", "{\"path\": \"up/etc/passwd\"}"},
        {"write", "{\"path\": \"../x\", \"data\": \"x\"}"}, {"write", "{\"path\": \"/tmp/sbx-escape\", \"data\": \"x\"}"},
        {"write", "{\"path\": \"root/tmp/sbx-escape\", \"data\": \"x\"}"},
        {"write", "{\"path\": \"root/tmp/sbx-escape-dir/x\", \"data\": \"x\"}"},
        {"write", "{\"path\": \"pw\", \"data\": \"x\"}"},
        {"list", "{\"path\": \"..\"}"}, {"list", "{\"path\": \"/\"}"}, {"list", "{\"path\": \"root\"}"},
        {"list", "{\"path\": \"root/etc\"}"},
        {"stat", "{\"path\": \"../\"}"}, {"stat", "{\"path\": \"/etc/passwd\"}"}, {"stat", "{\"path\": \"root/etc\"}"},
        {"remove", "{\"path\": \"../x\"}"}, {"remove", "{\"path\": \"/etc/passwd\"}"},
        {"remove", "{\"path\": \"root/etc/passwd\"}"}, {"remove", "{\"path\": \"root/tmp\", \"recursive\": true}"},
        {"remove", "{\"path\": \".\", \"recursive\": true}"}, {"remove", "{\"path\": \"sub/..\", \"recursive\": true}"},
    };
    for (size_t i = 0; i < sizeof escapes / sizeof escapes [0]; i++)
        s_fs_expect (dealer, &session, escapes [i].method, "PermissionError", escapes [i].args);
    struct stat st;
    cr_assert_neq (stat ("/tmp/sbx-escape", &st), 0, "nothing was written outside");
    cr_assert_neq (stat ("/tmp/sbx-escape-dir", &st), 0, "nothing was made outside");
    cr_assert_eq (stat ("/etc/passwd", &st), 0);

    //  Links that stay inside work; the session went on all along.
    sbx_reply_t *reply = s_fs (dealer, &session, "read", "ok", "{\"path\": \"fine/x\"}");
    cr_assert_str_eq (s_result_text (reply, NULL, text, sizeof text, NULL), "inside\n");
    sbx_reply_destroy (&reply);
    //  Removing a link to / removes the link.
    s_fs_expect (dealer, &session, "remove", "ok", "{\"path\": \"root\", \"recursive\": true}");
    s_sh_says (dealer, &session, "ls", "fine\npw\nsub\nup\n");

    s_end_clean (&daemon, &dealer, &session);
}

Test (fs, a_link_swapped_under_us_never_leads_out)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    //  In the background, `d` flips between a link to /etc and a link to
    //  a directory inside, as fast as it can, for the whole test.
    char text [1024];
    s_sh_out (dealer, &session, "mkdir real && echo inside > real/passwd && "
              "(while :; do ln -sfn /etc t1 && mv -T t1 d; ln -sfn real t2 && mv -T t2 d; done "
              "> /dev/null 2>&1 &)", text, sizeof text);
    int inside = 0, refused = 0, missing = 0;
    for (int i = 0; i < 300; i++) {
        sbx_reply_t *reply = s_call (dealer, &session, "fs", "read", "{\"path\": \"d/passwd\"}");
        const char *type = sbx_test_reply_type (reply);
        if (streq (type, "ok")) {
            s_result_text (reply, NULL, text, sizeof text, NULL);
            cr_assert_str_eq (text, "inside\n", "read %d got a file from outside", i);
            inside++;
        }
        else
        if (streq (type, "PermissionError"))
            refused++;
        else
        if (streq (type, "FileNotFoundError"))
            missing++;          //  between the two renames there is no `d`
        else
            cr_assert_fail ("read %d: %s: %s", i, type, s_why (reply));
        sbx_reply_destroy (&reply);
    }
    cr_assert (inside + refused + missing == 300);
    cr_log_info ("swapped link: %d inside, %d refused, %d missing", inside, refused, missing);
    //  A link written in place of a file by a command, then read:
    s_sh_out (dealer, &session, "echo mine > f && rm f && ln -s /etc/shadow f", text, sizeof text);
    s_fs_expect (dealer, &session, "read", "PermissionError", "{\"path\": \"f\"}");
    s_fs_expect (dealer, &session, "write", "PermissionError", "{\"path\": \"f\", \"data\": \"x\"}");

    s_end_clean (&daemon, &dealer, &session);
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

Test (fs, recursive_remove_does_not_follow_links)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    //  A directory outside the sandbox, that links inside point to.
    char outside [400], file [450];
    snprintf (outside, sizeof outside, "%s/outside", daemon->dir);
    snprintf (file, sizeof file, "%s/keep", outside);
    mkdir (outside, 0755);
    FILE *f = fopen (file, "w");
    fputs ("keep", f);
    fclose (f);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    char command [2400], text [256];
    snprintf (command, sizeof command, "mkdir -p t/u && ln -s %s t/out && ln -s %s t/u/out2 && ln -s %s out3 "
              "&& ln -s %s t/keep", outside, outside, outside, file);
    s_sh_out (dealer, &session, command, text, sizeof text);
    s_fs_expect (dealer, &session, "remove", "ok", "{\"path\": \"t\", \"recursive\": true}");
    s_fs_expect (dealer, &session, "remove", "ok", "{\"path\": \"out3\", \"recursive\": true}");
    struct stat st;
    cr_assert_eq (stat (file, &st), 0, "the file outside survived");
    s_sh_says (dealer, &session, "ls -A | wc -l", "0\n");

    //  A tree deeper than the remover's descriptor budget.
    s_sh_out (dealer, &session, "d=deep; for i in $(seq 300); do d=$d/d; done; mkdir -p $d && touch $d/leaf "
              "&& ln -s / $d/root", text, sizeof text);
    s_fs_expect (dealer, &session, "remove", "ok", "{\"path\": \"deep\", \"recursive\": true}");
    s_sh_says (dealer, &session, "ls -A | wc -l", "0\n");

    s_end_clean (&daemon, &dealer, &session);
    nftw (outside, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}

Test (fs, size_limits_and_bad_arguments)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL,
        "{\"shell\": {\"kind\": \"shell\"}, \"fs\": {\"kind\": \"fs\", \"max_read_bytes\": 1000, \"max_write_bytes\": 100}}");
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);

    char text [2048];
    s_sh_out (dealer, &session, "head -c 2000 /dev/zero > big && mkfifo pipe", text, sizeof text);
    s_fs_expect (dealer, &session, "read", "ValueError", "{\"path\": \"big\"}");
    s_fs_expect (dealer, &session, "read", "ValueError", "{\"path\": \"big\", \"length\": 1001}");
    sbx_reply_t *reply = s_fs (dealer, &session, "read", "ok", "{\"path\": \"big\", \"offset\": 1000, \"length\": 1000}");
    cr_assert_eq (s_result (reply, NULL)->via.bin.size, 1000);
    sbx_reply_destroy (&reply);
    snprintf (text, sizeof text, "{\"path\": \"w\", \"data\": \"%0*d\"}", 101, 0);
    s_fs_expect (dealer, &session, "write", "ValueError", text);
    //  A FIFO neither hangs a read nor a write.
    s_fs_expect (dealer, &session, "read", "OSError", "{\"path\": \"pipe\"}");
    s_fs_expect (dealer, &session, "write", "OSError", "{\"path\": \"pipe\", \"data\": \"x\"}");

    static const char *const bad [][2] = {
        {"read", "{}"}, {"read", "{\"path\": 1}"}, {"read", "{\"path\": \"big\", \"offset\": -1}"},
        {"read", "{\"path\": \"big\", \"bogus\": 1}"}, {"write", "{\"path\": \"w\"}"},
        {"write", "{\"path\": \"w\", \"data\": 5}"}, {"write", "{\"path\": \"w\", \"data\": \"\", \"append\": 1}"},
        {"list", "{\"path\": \"big\", \"x\": 1}"}, {"remove", "{\"path\": \"w\", \"recursive\": \"yes\"}"},
        {"stat", "{}"}
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        s_fs_expect (dealer, &session, bad [i][0], "ValueError", bad [i][1]);
    s_fs_expect (dealer, &session, "list", "NotADirectoryError", "{\"path\": \"big\"}");

    s_end_clean (&daemon, &dealer, &session);
}
