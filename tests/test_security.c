/*  Who may do what (docs/security.md), on a real sbxd: CURVE on the
    request and event sockets (listed keys only, refusals logged and
    counted), tokens bound to the key that opened their session, the admin
    role and the admin endpoint, endpoints beyond loopback refused without
    keys, the announced events endpoint of a wildcard bind, and code in a
    sandbox that tries to stop the daemon. Certificates are made with
    czmq's zcert in a directory of the test's own. */
#include "sandbox_util.h"
#include <sbx/client.h>

#include <ftw.h>
#include <sys/stat.h>


#define S_WAIT 20000

//  The certificates of one test: the daemon's, two workers', an admin's
//  and one that no directory lists. `dir`/NAME is a public certificate,
//  `dir`/NAME_secret its secret one.
typedef struct {
    char dir [64];
    char clients [96];
    char admins [96];
} s_keys_t;

static s_keys_t s_keys;

static int
s_remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

static void
s_fini_keys (void)
{
    s_fini ();
    if (s_keys.dir [0])
        nftw (s_keys.dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    memset (&s_keys, 0, sizeof s_keys);
}

TestSuite (security, .init = s_become_reaper, .fini = s_fini_keys, .timeout = 120);

static const char *
s_path (const char *name)
{
    static char paths [4][160];
    static int next;
    char *path = paths [next++ % 4];
    snprintf (path, sizeof paths [0], "%s/%s", s_keys.dir, name);
    return path;
}

//  Writes NAME and NAME_secret; a copy of the public one into `listed`
//  when not NULL.
static void
s_cert (const char *name, const char *listed)
{
    zcert_t *cert = zcert_new ();
    char path [160];
    snprintf (path, sizeof path, "%s/%s", s_keys.dir, name);
    cr_assert_eq (zcert_save (cert, path), 0);
    if (listed) {
        snprintf (path, sizeof path, "%s/%s", listed, name);
        cr_assert_eq (zcert_save_public (cert, path), 0);
    }
    zcert_destroy (&cert);
}

static void
s_make_keys (void)
{
    snprintf (s_keys.dir, sizeof s_keys.dir, "/tmp/sbx-keys-XXXXXX");
    cr_assert_not_null (mkdtemp (s_keys.dir));
    snprintf (s_keys.clients, sizeof s_keys.clients, "%s/clients", s_keys.dir);
    snprintf (s_keys.admins, sizeof s_keys.admins, "%s/admins", s_keys.dir);
    cr_assert_eq (mkdir (s_keys.clients, 0700), 0);
    cr_assert_eq (mkdir (s_keys.admins, 0700), 0);
    s_cert ("server", NULL);
    s_cert ("alice", s_keys.clients);
    s_cert ("bob", s_keys.clients);
    s_cert ("admin", s_keys.admins);
    s_cert ("rogue", NULL);
    //  A key listed twice is listed.
    char copy [160];
    snprintf (copy, sizeof copy, "%s/alice.copy", s_keys.clients);
    zcert_t *alice = zcert_load (s_path ("alice"));
    cr_assert_eq (zcert_save_public (alice, copy), 0);
    zcert_destroy (&alice);
}

//  A daemon of the testing kinds; `security` is the JSON of its security
//  section, or NULL.
static sbx_test_daemon_t *
s_daemon_with (const char *security, const char *endpoints)
{
    char config [4096];
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"sec\", \"pool\": {\"min\": 1, \"max\": 2},"
              " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
              " \"sandbox\": {\"kind\": \"testing\"}, \"features\": {\"f\": {\"kind\": \"testing\"}}"
              "%s%s%s%s%s}", security ? ", \"security\": " : "", security ? security : "",
              endpoints ? ", \"endpoints\": " : "", endpoints ? endpoints : "", "");
    return s_start_text (config);
}

static sbx_test_daemon_t *
s_curve_daemon (void)
{
    s_make_keys ();
    char security [512];
    snprintf (security, sizeof security, "{\"server_cert\": \"%s\", \"clients\": \"%s\", \"admins\": \"%s\"}",
              s_path ("server_secret"), s_keys.clients, s_keys.admins);
    return s_daemon_with (security, NULL);
}

//  `endpoint` with a wildcard host (as sbxd prints a `*` bind) made one
//  to connect to.
static const char *
s_connectable (const char *endpoint)
{
    static char buffer [256];
    const char *colon = strrchr (endpoint, ':');
    if (strncmp (endpoint, "tcp://*:", 8) == 0 || strncmp (endpoint, "tcp://0.0.0.0:", 14) == 0)
        snprintf (buffer, sizeof buffer, "tcp://127.0.0.1%s", colon);
    else
        snprintf (buffer, sizeof buffer, "%s", endpoint);
    return buffer;
}

//  A socket to `endpoint`, a CURVE client with the key `name` (NULL: none).
static zsock_t *
s_socket (int type, const char *endpoint, const char *name)
{
    zsock_t *sock = zsock_new (type);
    zsock_set_linger (sock, 0);
    if (name) {
        zcert_t *server = zcert_load (s_path ("server"));
        char secret [64];
        snprintf (secret, sizeof secret, "%s_secret", name);
        zcert_t *own = zcert_load (s_path (secret));
        cr_assert (server && own);
        zcert_apply (own, sock);
        zsock_set_curve_serverkey (sock, zcert_public_txt (server));
        zcert_destroy (&server);
        zcert_destroy (&own);
    }
    if (type == ZMQ_SUB)
        zsock_set_subscribe (sock, "");
    cr_assert_eq (zsock_connect (sock, "%s", s_connectable (endpoint)), 0);
    return sock;
}

//  Waits until the counter reaches `at_least`, asking again as each
//  answer comes.
static bool
s_wait_counter (zsock_t *dealer, const char *name, uint64_t at_least)
{
    int64_t deadline = zclock_mono () + S_WAIT;
    while (zclock_mono () < deadline)
        if (s_counter (dealer, name, S_WAIT) >= at_least)
            return true;
    return false;
}

//  True when `sub` receives an event while the daemon is made to publish
//  some: ephemeral calls on `dealer`, one per 100 ms of silence (the
//  subscription reaches the publisher some time after the connect).
static bool
s_sub_receives (zsock_t *sub, zsock_t *dealer)
{
    zpoller_t *poller = zpoller_new (sub, NULL);
    bool received = false;
    for (int i = 0; i < 100 && !received; i++) {
        s_check (dealer, "ok", "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"x\"}}");
        if (zpoller_wait (poller, 100) == sub) {
            zmsg_t *msg = zmsg_recv (sub);
            received = msg && zmsg_size (msg) == 2;
            zmsg_destroy (&msg);
        }
    }
    zpoller_destroy (&poller);
    return received;
}

//  The first `count` characters of the public key `name`.
static void
s_key_prefix (const char *name, char *prefix, size_t count)
{
    zcert_t *cert = zcert_load (s_path (name));
    cr_assert_not_null (cert);
    snprintf (prefix, count + 1, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
}

//  --- CURVE -------------------------------------------------------------------

//  A client without CURVE never gets an answer, and its handshakes count.
Test (security, plain_client_gets_no_reply)
{
    sbx_test_daemon_t *daemon = s_curve_daemon ();
    zsock_t *plain = s_socket (ZMQ_DEALER, daemon->requests, NULL);
    zsock_t *alice = s_socket (ZMQ_DEALER, daemon->requests, "alice");
    //  Without blocking: once its handshake is refused the socket has no
    //  connection (libzmq does not try again), and a blocking send there
    //  waits forever - as it did when the daemon refused it first.
    zmq_send (zsock_resolve (plain), "not even msgpack", 16, ZMQ_DONTWAIT);
    cr_assert (s_wait_counter (alice, "peers_refused", 1), "the plain client's handshake was not counted");
    zpoller_t *poller = zpoller_new (plain, NULL);
    cr_assert_null (zpoller_wait (poller, 200), "a client without CURVE got an answer");
    zpoller_destroy (&poller);
    zsock_destroy (&plain);
    zsock_destroy (&alice);
    s_finish (&daemon);
}

//  A key no directory lists is refused on both sockets: logged with its
//  first characters and the peer's address, and counted.
Test (security, unlisted_key_is_refused_on_both_sockets)
{
    sbx_test_daemon_t *daemon = s_curve_daemon ();
    zsock_t *alice = s_socket (ZMQ_DEALER, daemon->requests, "alice");
    uint64_t before = s_counter (alice, "peers_refused", S_WAIT);
    char prefix [9], line [256];
    s_key_prefix ("rogue", prefix, 8);
    zsock_t *rogue = s_socket (ZMQ_DEALER, daemon->requests, "rogue");
    zmq_send (zsock_resolve (rogue), "hello?", 6, ZMQ_DONTWAIT);     //  see plain_client_gets_no_reply
    snprintf (line, sizeof line, "refused a handshake on the requests socket from 127.0.0.1: key %s...", prefix);
    cr_assert (sbx_test_wait_stderr (daemon, line, S_WAIT), "no log line '%s'", line);
    zsock_t *sub = s_socket (ZMQ_SUB, daemon->events, "rogue");
    snprintf (line, sizeof line, "refused a handshake on the events socket from 127.0.0.1: key %s...", prefix);
    cr_assert (sbx_test_wait_stderr (daemon, line, S_WAIT), "no log line '%s'", line);
    //  Counted as they are logged, in the environment's thread.
    cr_assert_geq (s_counter (alice, "peers_refused", S_WAIT), before + 2);
    //  Neither socket hears anything while the daemon publishes.
    s_check (alice, "ok", "{\"op\": \"call\", \"method\": \"shell\", \"args\": {\"code\": \"x\"}}");
    zpoller_t *poller = zpoller_new (rogue, sub, NULL);
    cr_assert_null (zpoller_wait (poller, 200));
    zpoller_destroy (&poller);
    zsock_destroy (&rogue);
    zsock_destroy (&sub);
    //  Listed now, the key is taken from its next handshake on.
    char listed [160];
    snprintf (listed, sizeof listed, "%s/rogue", s_keys.clients);
    zcert_t *cert = zcert_load (s_path ("rogue"));
    cr_assert_eq (zcert_save_public (cert, listed), 0);
    zcert_destroy (&cert);
    rogue = s_socket (ZMQ_DEALER, daemon->requests, "rogue");
    s_check (rogue, "ok", "{\"op\": \"hello\"}");
    zsock_destroy (&rogue);
    zsock_destroy (&alice);
    s_finish (&daemon);
}

//  A listed key opens sessions, calls, and subscribes; the announced
//  events endpoint is the one bound.
Test (security, listed_key_works_on_both_sockets)
{
    sbx_test_daemon_t *daemon = s_curve_daemon ();
    zsock_t *alice = s_socket (ZMQ_DEALER, daemon->requests, "alice");
    sbx_reply_t *reply = s_expect (alice, "ok", "{\"op\": \"hello\"}");
    cr_assert_str_eq (sbx_reply_get_str (reply, "events_endpoint"), daemon->events);
    sbx_reply_destroy (&reply);
    s_session_t session;
    s_open (alice, &session);
    reply = sbx_test_requestf (alice, S_WAIT, "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", "
                               "\"method\": \"shell\", \"args\": {\"code\": \"echo\"}}", session.sandbox,
                               session.token);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    s_close_session (alice, &session);
    //  An admin key is a client too.
    zsock_t *admin = s_socket (ZMQ_DEALER, daemon->requests, "admin");
    s_check (admin, "ok", "{\"op\": \"status\"}");
    zsock_t *sub = s_socket (ZMQ_SUB, daemon->events, "bob");
    cr_assert (s_sub_receives (sub, alice), "bob's subscription heard nothing");
    cr_assert_eq (s_counter (alice, "peers_refused", S_WAIT), 0);
    zsock_destroy (&sub);
    zsock_destroy (&admin);
    zsock_destroy (&alice);
    s_finish (&daemon);
}

//  A token works only over a connection with the key that opened its
//  session.
Test (security, token_is_bound_to_its_key)
{
    sbx_test_daemon_t *daemon = s_curve_daemon ();
    zsock_t *alice = s_socket (ZMQ_DEALER, daemon->requests, "alice");
    zsock_t *bob = s_socket (ZMQ_DEALER, daemon->requests, "bob");
    s_session_t session;
    s_open (alice, &session);
    const char *ops [] = {
        "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\", \"method\": \"shell\", \"args\": {\"code\": \"x\"}}",
        "{\"op\": \"heartbeat\", \"sandbox\": \"%s\", \"token\": \"%s\"}",
        "{\"op\": \"session.end\", \"sandbox\": \"%s\", \"token\": \"%s\"}"
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops [0]; i++) {
        sbx_reply_t *reply = sbx_test_requestf (bob, S_WAIT, ops [i], session.sandbox, session.token);
        cr_assert_str_eq (sbx_test_reply_type (reply), "Unauthorized");
        cr_assert (strstr (s_why (reply), "another key"), "%s", s_why (reply));
        sbx_reply_destroy (&reply);
    }
    //  The session is still alice's.
    sbx_reply_t *reply = sbx_test_requestf (alice, S_WAIT, ops [0], session.sandbox, session.token);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    s_close_session (alice, &session);
    zsock_destroy (&bob);
    zsock_destroy (&alice);
    s_finish (&daemon);
}

//  `shutdown` is an admin's: a worker key is refused, an admin key heard.
Test (security, shutdown_needs_an_admin_key)
{
    sbx_test_daemon_t *daemon = s_curve_daemon ();
    zsock_t *alice = s_socket (ZMQ_DEALER, daemon->requests, "alice");
    sbx_reply_t *reply = s_expect (alice, "Unauthorized", "{\"op\": \"shutdown\"}");
    cr_assert (strstr (s_why (reply), "docs/security.md"), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    s_check (alice, "ok", "{\"op\": \"hello\"}");
    zsock_t *admin = s_socket (ZMQ_DEALER, daemon->requests, "admin");
    s_check (admin, "ok", "{\"op\": \"shutdown\"}");
    cr_assert_eq (sbx_test_daemon_wait (daemon, S_WAIT), 0);
    cr_assert (sbx_test_wait_stderr (daemon, "shutdown asked by an admin key", 1000));
    zsock_destroy (&admin);
    zsock_destroy (&alice);
    s_running = NULL;
    sbx_test_daemon_destroy (&daemon);
}

//  libsbx and sbx speak CURVE with the certificates they are given.
Test (security, libsbx_and_sbx_over_curve)
{
    sbx_test_daemon_t *daemon = s_curve_daemon ();
    char server [160], cert [160];
    snprintf (server, sizeof server, "%s", s_path ("server"));
    snprintf (cert, sizeof cert, "%s", s_path ("alice_secret"));
    sbx_client_options_t options = {.server_cert = server, .cert = cert, .connect_timeout_ms = 5000};
    sbx_error_t *error = NULL;
    sbx_client_t *client = sbx_client_new (daemon->requests, &options, &error);
    cr_assert_not_null (client, "%s", error ? sbx_error_message (error) : "");
    sbx_session_t *session = sbx_client_session_open (client, NULL, &error);
    cr_assert_not_null (session, "%s", error ? sbx_error_message (error) : "");
    cr_assert_geq (sbx_session_heartbeat (session, &error), 0);
    cr_assert_eq (sbx_session_end (&session, &error), 0);
    cr_assert_eq (sbx_client_shutdown (client, &error), -1);
    cr_assert (sbx_error_is (error, SBX_UNAUTHORIZED));
    sbx_error_destroy (&error);
    sbx_events_options_t settings = {.endpoints = daemon->requests, .since = 0,
                                     .server_cert = server, .cert = cert};
    sbx_events_t *events = sbx_events_new (&settings, &error);
    cr_assert_not_null (events, "%s", error ? sbx_error_message (error) : "");
    sbx_event_t *event = sbx_events_next (events, S_WAIT, &error);
    cr_assert_not_null (event);
    sbx_event_destroy (&event);
    sbx_events_destroy (&events);
    //  A client that cannot use its certificate says which: a public one,
    //  with no NAME_secret beside it.
    char listed [160];
    snprintf (listed, sizeof listed, "%s/alice", s_keys.clients);
    options.cert = listed;
    cr_assert_null (sbx_client_new (daemon->requests, &options, &error));
    cr_assert (sbx_error_is (error, SBX_CERTIFICATE_ERROR), "%s", sbx_error_type (error));
    sbx_error_destroy (&error);
    //  Switched to the admin's key, the same client may shut down.
    cr_assert_eq (sbx_client_set_curve (client, server, s_path ("admin_secret"), &error), 0);
    sbx_client_destroy (&client);

    //  sbx: the keys from flags, or from the environment.
    char output [8192];
    int code;
    const char *status [] = {SBX_BUILD_DIR "/sbx", "--endpoint", daemon->requests, "--server-cert", server,
                             "--cert", cert, "status", NULL};
    code = sbx_test_run (status, NULL, output, sizeof output);
    cr_assert_eq (code, 0, "%s", output);
    cr_assert (strstr (output, "environment sec: online"), "%s", output);
    char server_env [200], cert_env [200], endpoint_env [300];
    snprintf (server_env, sizeof server_env, "SBX_SERVER_CERT=%s", server);
    snprintf (cert_env, sizeof cert_env, "SBX_CERT=%s", cert);
    snprintf (endpoint_env, sizeof endpoint_env, "SBX_ENDPOINT=%s", daemon->requests);
    const char *env [] = {server_env, cert_env, endpoint_env, NULL};
    const char *history [] = {SBX_BUILD_DIR "/sbx", "events", "--no-time", "environment.", NULL};
    code = sbx_test_run (history, env, output, sizeof output);
    cr_assert_eq (code, 0, "%s", output);
    cr_assert (strstr (output, "[sec] environment started"), "%s", output);
    //  Without keys: no answer (exit 3).
    const char *plain [] = {SBX_BUILD_DIR "/sbx", "--endpoint", daemon->requests, "--timeout", "1", "stats", NULL};
    code = sbx_test_run (plain, NULL, output, sizeof output);
    cr_assert_eq (code, 3, "%s", output);
    //  sbx shutdown with an admin key, on the request endpoint.
    const char *down [] = {SBX_BUILD_DIR "/sbx", "shutdown", "--admin", daemon->requests, "--server-cert",
                           server, "--cert", s_path ("admin_secret"), NULL};
    code = sbx_test_run (down, NULL, output, sizeof output);
    cr_assert_eq (code, 0, "%s", output);
    cr_assert_eq (sbx_test_daemon_wait (daemon, S_WAIT), 0);
    s_running = NULL;
    sbx_test_daemon_destroy (&daemon);
}

//  sbx keygen: a czmq certificate pair, the secret one private, never
//  overwritten unasked.
Test (security, keygen_writes_a_pair)
{
    s_make_keys ();
    char output [8192];
    int code;
    const char *keygen [] = {SBX_BUILD_DIR "/sbx", "keygen", s_path ("made"), NULL};
    code = sbx_test_run (keygen, NULL, output, sizeof output);
    cr_assert_eq (code, 0, "%s", output);
    zcert_t *public = zcert_load (s_path ("made"));
    zcert_t *secret = zcert_load (s_path ("made_secret"));
    cr_assert (public && secret);
    cr_assert_str_eq (zcert_public_txt (public), zcert_public_txt (secret));
    cr_assert (strstr (output, zcert_public_txt (public)), "%s", output);
    struct stat st;
    cr_assert_eq (stat (s_path ("made_secret"), &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0600);
    code = sbx_test_run (keygen, NULL, output, sizeof output);
    cr_assert_eq (code, 1, "%s", output);
    cr_assert (strstr (output, "exists already"), "%s", output);
    zcert_t *again = zcert_load (s_path ("made"));
    cr_assert_str_eq (zcert_public_txt (again), zcert_public_txt (public));
    zcert_destroy (&again);
    zcert_destroy (&public);
    zcert_destroy (&secret);
}
