/*  A daemon without keys (docs/security.md): `shutdown` only on the admin
    endpoint (a socket file of mode 0600, gone after the exit) and through
    `sbx shutdown`; endpoints beyond loopback refused unless
    security.insecure says so; what hello announces for a wildcard bind;
    and code in a sandbox that tries to stop the daemon. */
#include "sandbox_util.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define S_WAIT 20000

TestSuite (admin, .init = s_become_reaper, .fini = s_fini, .timeout = 120);

//  A daemon of the testing kinds, with `more` (JSON members) added.
static sbx_test_daemon_t *
s_testing_daemon (const char *more)
{
    char config [2048];
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"adm\", \"pool\": {\"min\": 1, \"max\": 1},"
              " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
              " \"sandbox\": {\"kind\": \"testing\"}%s%s}", more ? ", " : "", more ? more : "");
    return s_start_text (config);
}

//  The port of tcp://HOST:PORT.
static const char *
s_port (const char *endpoint)
{
    const char *colon = strrchr (endpoint, ':');
    cr_assert_not_null (colon, "%s", endpoint);
    return colon + 1;
}

//  --- The admin endpoint ---------------------------------------------------------

//  Without keys, the request socket refuses `shutdown` and says where to
//  send it; the admin endpoint, a 0600 socket file of the daemon's user,
//  takes it (from sbx shutdown here) and is gone after the exit.
Test (admin, shutdown_goes_to_the_admin_endpoint)
{
    sbx_test_daemon_t *daemon = s_testing_daemon (NULL);
    zsock_t *client = sbx_test_connect (daemon);
    sbx_reply_t *reply = s_expect (client, "Unauthorized", "{\"op\": \"shutdown\"}");
    cr_assert (strstr (s_why (reply), "docs/security.md"), "%s", s_why (reply));
    cr_assert (strstr (s_why (reply), daemon->admin), "%s does not name %s", s_why (reply), daemon->admin);
    sbx_reply_destroy (&reply);
    s_check (client, "ok", "{\"op\": \"hello\"}");

    char path [400];
    snprintf (path, sizeof path, "%s", daemon->admin + 6);
    struct stat st;
    cr_assert_eq (stat (path, &st), 0, "no admin socket %s", path);
    cr_assert (S_ISSOCK (st.st_mode));
    cr_assert_eq (st.st_mode & 0777, 0600, "mode %o", (unsigned) (st.st_mode & 0777));
    cr_assert_eq (st.st_uid, getuid ());

    //  It takes hello, status and stats too, and nothing else.
    zsock_t *admin = sbx_test_connect_admin (daemon);
    s_check (admin, "ok", "{\"op\": \"hello\"}");
    s_check (admin, "ok", "{\"op\": \"status\"}");
    s_check (admin, "ok", "{\"op\": \"stats\"}");
    reply = s_expect (admin, "Unauthorized", "{\"op\": \"session.open\"}");
    cr_assert (strstr (s_why (reply), "admin endpoint takes"), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    zsock_destroy (&admin);

    //  sbx shutdown, the endpoint from $SBX_ADMIN.
    char variable [450], output [4096];
    snprintf (variable, sizeof variable, "SBX_ADMIN=%s", daemon->admin);
    const char *argv [] = {SBX_BUILD_DIR "/sbx", "shutdown", NULL};
    const char *env [] = {variable, NULL};
    int code = sbx_test_run (argv, env, output, sizeof output);
    cr_assert_eq (code, 0, "sbx shutdown: %s", output);
    cr_assert (strstr (output, "environment adm: shutting down"), "%s", output);
    cr_assert_eq (sbx_test_daemon_wait (daemon, S_WAIT), 0);
    cr_assert (sbx_test_wait_stderr (daemon, "shutdown asked by the admin endpoint", 1000));
    cr_assert_neq (stat (path, &st), 0, "the admin socket outlived sbxd");
    zsock_destroy (&client);
    s_running = NULL;
    sbx_test_daemon_destroy (&daemon);

    //  With no daemon there, sbx says so.
    snprintf (variable, sizeof variable, "ipc://%s", path);
    const char *none [] = {SBX_BUILD_DIR "/sbx", "shutdown", "--admin", variable, NULL};
    code = sbx_test_run (none, NULL, output, sizeof output);
    cr_assert_eq (code, 3, "%s", output);
    cr_assert (strstr (output, "no admin endpoint there"), "%s", output);
}

//  endpoints.admin: another path, or none at all.
Test (admin, admin_endpoint_is_configurable)
{
    char dir [] = "/tmp/sbx-admin-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char more [256];
    snprintf (more, sizeof more, "\"endpoints\": {\"admin\": \"ipc://%s/my.admin\"}", dir);
    sbx_test_daemon_t *daemon = s_testing_daemon (more);
    cr_assert (strstr (daemon->admin, "/my.admin"));
    zsock_t *admin = sbx_test_connect_admin (daemon);
    s_check (admin, "ok", "{\"op\": \"shutdown\"}");
    cr_assert_eq (sbx_test_daemon_wait (daemon, S_WAIT), 0);
    zsock_destroy (&admin);
    s_running = NULL;
    sbx_test_daemon_destroy (&daemon);
    cr_assert_eq (rmdir (dir), 0, "%s is not empty after the exit", dir);

    daemon = s_testing_daemon ("\"endpoints\": {\"admin\": null}");
    zsock_t *client = sbx_test_connect (daemon);
    sbx_reply_t *reply = s_expect (client, "Unauthorized", "{\"op\": \"shutdown\"}");
    cr_assert (strstr (s_why (reply), "endpoints.admin is null"), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    zsock_destroy (&client);
    s_finish (&daemon);
}

//  --- Exposure -------------------------------------------------------------------

//  Without keys, an endpoint beyond loopback stops sbxd (and --check) with
//  exit code 2, naming it.
Test (admin, exposed_endpoint_without_keys_exits_2)
{
    const char *configs [][2] = {
        {"{\"sandbox\": {\"kind\": \"testing\"}, \"environment\": {\"root_dir\": \"/tmp/sbx-never\"},"
         " \"endpoints\": {\"requests\": \"tcp://0.0.0.0:5999\", \"events\": \"tcp://127.0.0.1:*\"}}",
         "endpoints.requests: tcp://0.0.0.0:5999 is not a loopback address"},
        {"{\"sandbox\": {\"kind\": \"testing\"}, \"environment\": {\"root_dir\": \"/tmp/sbx-never\"},"
         " \"endpoints\": {\"requests\": \"ipc:///tmp/sbx-never.ipc\", \"events\": \"tcp://*:*\"}}",
         "endpoints.events: tcp://*:* is not a loopback address"},
    };
    char output [4096];
    for (size_t i = 0; i < sizeof configs / sizeof configs [0]; i++) {
        const char *flags [] = {"--check", NULL};
        for (size_t f = 0; f < 2; f++) {
            int code = sbx_test_sbxd (configs [i][0], (const char *const []) {flags [f], NULL},
                                      output, sizeof output);
            cr_assert_eq (code, 2, "sbxd %s: exit %d: %s", flags [f] ? flags [f] : "", code, output);
            cr_assert (strstr (output, configs [i][1]), "%s", output);
            cr_assert (strstr (output, "docs/security.md"), "%s", output);
        }
    }
    //  Flags count as the file does.
    const char *argv [] = {SBX_BUILD_DIR "/sbxd", "--requests", "tcp://10.1.2.3:5999", "--check", NULL};
    cr_assert_eq (sbx_test_run (argv, NULL, output, sizeof output), 2, "%s", output);
    cr_assert (strstr (output, "tcp://10.1.2.3:5999"), "%s", output);
    //  Loopback of every form is fine.
    const char *local [] = {SBX_BUILD_DIR "/sbxd", "--requests", "tcp://localhost:5999", "--events",
                            "tcp://[::1]:5998", "--check", NULL};
    cr_assert_eq (sbx_test_run (local, NULL, output, sizeof output), 0, "%s", output);
}

//  security.insecure lets a wildcard bind start, with a warning naming the
//  endpoints; hello then names an events endpoint a client connects to
//  (the host name for `*` and 0.0.0.0), and a SUB there hears events.
Test (admin, insecure_wildcard_warns_and_announces_a_connectable_endpoint)
{
    sbx_test_daemon_t *daemon = s_testing_daemon (
        "\"endpoints\": {\"requests\": \"tcp://*:*\", \"events\": \"tcp://0.0.0.0:*\"},"
        " \"security\": {\"insecure\": true}");
    char needle [300];
    snprintf (needle, sizeof needle, "security.insecure: requests=%s and events=", daemon->requests);
    cr_assert (sbx_test_wait_stderr (daemon, needle, S_WAIT), "no warning '%s'", needle);
    char host [256] = "";
    gethostname (host, sizeof host - 1);
    char expected [400];
    snprintf (expected, sizeof expected, "tcp://%s:%s", host, s_port (daemon->events));
    cr_assert_str_eq (daemon->events, expected, "sbxd printed %s", daemon->events);

    char endpoint [300];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%s", s_port (daemon->requests));
    zsock_t *client = zsock_new_dealer (endpoint);
    sbx_reply_t *reply = s_expect (client, "ok", "{\"op\": \"hello\"}");
    char announced [300];
    snprintf (announced, sizeof announced, "%s", sbx_reply_get_str (reply, "events_endpoint"));
    sbx_reply_destroy (&reply);
    cr_assert_str_eq (announced, expected);
    zsock_t *sub = zsock_new_sub (announced, "");
    //  Events, until one reaches the subscriber.
    zpoller_t *poller = zpoller_new (sub, NULL);
    bool heard = false;
    for (int i = 0; i < 100 && !heard; i++) {
        s_check (client, "ok", "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"x\"}}");
        if (zpoller_wait (poller, 100) == sub) {
            char *topic = zstr_recv (sub);
            heard = topic && strchr (topic, '.');
            zstr_free (&topic);
        }
    }
    zpoller_destroy (&poller);
    cr_assert (heard, "nothing published on %s reached a SUB", announced);
    zsock_destroy (&sub);
    zsock_destroy (&client);
    s_finish (&daemon);
}

//  endpoints.advertise_host names the host instead.
Test (admin, advertise_host_is_announced)
{
    sbx_test_daemon_t *daemon = s_testing_daemon (
        "\"endpoints\": {\"events\": \"tcp://*:*\", \"advertise_host\": \"localhost\"},"
        " \"security\": {\"insecure\": true}");
    char expected [300];
    snprintf (expected, sizeof expected, "tcp://localhost:%s", s_port (daemon->events));
    zsock_t *client = sbx_test_connect (daemon);
    sbx_reply_t *reply = s_expect (client, "ok", "{\"op\": \"hello\"}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "events_endpoint"), expected);
    sbx_reply_destroy (&reply);
    zsock_destroy (&client);
    s_finish (&daemon);
}

//  --- From inside a sandbox --------------------------------------------------------

//  A command in a `none` sandbox reaches the loopback request endpoint, but
//  its `shutdown` is refused, and the admin socket file is not its to
//  open: the daemon goes on.
Test (admin, sandbox_code_cannot_shut_the_daemon_down)
{
    sbx_test_daemon_t *daemon = s_daemon ("{\"kind\": \"process\", \"isolation\": \"none\"}", NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    const char *script =
        "import socket, sys, msgpack, zmq\n"
        "dealer = zmq.Context().socket(zmq.DEALER)\n"
        "dealer.linger = 0\n"
        "dealer.connect(sys.argv[1])\n"
        "dealer.send(msgpack.packb({'op': 'shutdown', 'id': 1}))\n"
        "reply = msgpack.unpackb(dealer.recv()) if dealer.poll(20000) else {}\n"
        "print('shutdown:', (reply.get('error') or {}).get('type', reply.get('ok')))\n"
        "unix = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    unix.connect(sys.argv[2])\n"
        "    print('admin: connected')\n"
        "except OSError as e:\n"
        "    print('admin:', type(e).__name__)\n";
    char cmd [1024];
    snprintf (cmd, sizeof cmd, "/usr/bin/python3 - %s %s", daemon->requests, daemon->admin + 6);
    json_t *args = json_pack ("{s:s, s:s, s:i}", "cmd", cmd, "stdin", script, "timeout_ms", 60000);
    char *text = json_dumps (args, JSON_COMPACT);
    json_decref (args);
    sbx_reply_t *reply = s_call (dealer, &session, "shell", "run", "%s", text);
    free (text);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    char out [2048], err [2048];
    s_result_text (reply, "stdout", out, sizeof out, NULL);
    s_result_text (reply, "stderr", err, sizeof err, NULL);
    cr_assert_eq (s_result_int (reply, "exit_code"), 0, "%s%s", out, err);
    cr_assert (strstr (out, "shutdown: Unauthorized"), "%s%s", out, err);
    cr_assert (strstr (out, "admin: PermissionError"), "%s%s", out, err);
    sbx_reply_destroy (&reply);
    //  The daemon serves on.
    reply = s_expect (dealer, "ok", "{\"op\": \"status\"}");
    const msgpack_object *environment = sbx_reply_get (reply, "environment");
    const msgpack_object *status = environment ? sbx_mp_map_get (environment, "status") : NULL;
    cr_assert (status && status->type == MSGPACK_OBJECT_STR && status->via.str.size == 6
               && memcmp (status->via.str.ptr, "online", 6) == 0);
    sbx_reply_destroy (&reply);
    s_end_clean (&daemon, &dealer, &session);
}

//  --- A forged User-Id -----------------------------------------------------------

//  Appends a ZMTP 3.0 frame: flags, short or long size, body.
static size_t
s_zmtp_frame (uint8_t *out, uint8_t flags, const void *body, size_t size)
{
    size_t used = 0;
    if (size < 256) {
        out [used++] = flags;
        out [used++] = (uint8_t) size;
    }
    else {
        out [used++] = flags | 0x02;
        for (int shift = 56; shift >= 0; shift -= 8)
            out [used++] = (uint8_t) ((uint64_t) size >> shift);
    }
    memcpy (out + used, body, size);
    return used + size;
}

//  Appends one metadata property of a READY command.
static size_t
s_zmtp_property (uint8_t *out, const char *name, const char *value)
{
    size_t used = 0, name_size = strlen (name), value_size = strlen (value);
    out [used++] = (uint8_t) name_size;
    memcpy (out + used, name, name_size);
    used += name_size;
    for (int shift = 24; shift >= 0; shift -= 8)
        out [used++] = (uint8_t) (value_size >> shift);
    memcpy (out + used, value, value_size);
    return used + value_size;
}

//  Without CURVE there is no ZAP, and a peer's READY may carry any
//  property it likes: a raw ZMTP client that calls itself "User-Id:
//  admin:..." is no admin for that.
Test (admin, a_forged_user_id_is_no_admin)
{
    sbx_test_daemon_t *daemon = s_testing_daemon (NULL);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) atoi (s_port (daemon->requests)))};
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    cr_assert_eq (connect (fd, (struct sockaddr *) &address, sizeof address), 0);
    struct timeval timeout = {20, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    //  Greeting: signature, then version 3.0, mechanism NULL, as-server 0
    //  once the daemon's signature came (libzmq reads the greeting in
    //  those two steps).
    uint8_t out [1024] = {0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0, 'N', 'U', 'L', 'L'};
    uint8_t in [4096];
    cr_assert_eq (write (fd, out, 10), 10);
    cr_assert_eq (read (fd, in, 10), 10);
    cr_assert_eq (write (fd, out + 10, 54), 54);
    uint8_t ready [512];
    size_t size = 0, used = 0;
    memcpy (ready, "\5READY", 6);
    size = 6;
    size += s_zmtp_property (ready + size, "Socket-Type", "DEALER");
    size += s_zmtp_property (ready + size, "User-Id", "admin:0123456789012345678901234567890123456789");
    used += s_zmtp_frame (out + used, 0x04, ready, size);
    cr_assert_eq (write (fd, out, used), (ssize_t) used);
    //  The rest of the daemon's greeting, then its READY: a message sent
    //  before the handshake ends (the daemon asks its ZAP handler first)
    //  is a protocol error, as it would be from libzmq.
    size_t got = 0;
    while (!memmem (in, got, "\5READY", 6) && got < sizeof in) {
        ssize_t n = read (fd, in + got, sizeof in - got);
        cr_assert_gt (n, 0, "the daemon closed the handshake");
        got += (size_t) n;
    }
    const char body [] = "\x81\xa2op\xa8shutdown";          //  {"op": "shutdown"}
    used = s_zmtp_frame (out, 0x00, body, sizeof body - 1);
    cr_assert_eq (write (fd, out, used), (ssize_t) used);
    //  Then the reply.
    got = 0;
    bool answered = false;
    while (!answered && got < sizeof in) {
        ssize_t n = read (fd, in + got, sizeof in - got);
        if (n <= 0)
            break;
        got += (size_t) n;
        answered = memmem (in, got, "Unauthorized", 12) || memmem (in, got, "\xa2ok\xc3", 4);
    }
    close (fd);
    cr_assert (answered, "no reply to the forged shutdown");
    cr_assert (memmem (in, got, "Unauthorized", 12), "a forged User-Id shut the daemon down");
    zsock_t *client = sbx_test_connect (daemon);
    s_check (client, "ok", "{\"op\": \"hello\"}");
    zsock_destroy (&client);
    s_finish (&daemon);
}
