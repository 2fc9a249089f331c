/*  Input as it comes (docs/protocol.md "Input"): a shell.run call with
    `input: true` gets more stdin from `input` requests while it runs, each
    answered once the command's pipe has it, or `closed` when nothing will
    read it. On a real sbxd, over the request socket. */
#include "sandbox_util.h"
#include "messages/request.h"

static void
s_init (void)
{
    s_become_reaper ();
}

TestSuite (input, .init = s_init, .fini = s_fini, .timeout = 120);

//  Sends a request given as JSON (a printf format) without waiting.
#define s_send(dealer, ...) cr_assert_eq (sbx_test_sendf ((dealer), __VA_ARGS__), 0)

//  Sends `input` for call `call` (data NULL: none) without waiting.
static void
s_send_input (zsock_t *dealer, const s_session_t *session, uint64_t id, uint64_t call,
              const void *data, size_t size, bool eof)
{
    sbx_request_t input = {
        .op = SBX_OP_INPUT, .has_id = true, .id = id, .sandbox = (char *) session->sandbox,
        .token = (char *) session->token, .has_call = true, .call = call,
        .data = (uint8_t *) data, .data_size = size, .eof = eof
    };
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    sbx_request_encode (&input, &buffer);
    cr_assert_eq (zmq_send (zsock_resolve (dealer), buffer.data, buffer.size, 0), (int) buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

//  One message from the daemon: a reply, or a progress message.
typedef struct {
    uint64_t id;
    bool progress;              //  {id, stream, data}: no `ok`
    char stream [16];
    char data [256];            //  progress data, NUL-terminated
    bool ok;
    bool closed;                //  an input reply's
    char error [64];            //  the error type of a failed reply
    char stdout_ [256];         //  a call reply's result.stdout
    int64_t exit_code;
} s_message_t;

static void
s_text (const msgpack_object *o, char *buffer, size_t size)
{
    buffer [0] = 0;
    if (o && o->type == MSGPACK_OBJECT_BIN)
        snprintf (buffer, size, "%.*s", (int) o->via.bin.size, o->via.bin.ptr);
    else
    if (o && o->type == MSGPACK_OBJECT_STR)
        snprintf (buffer, size, "%.*s", (int) o->via.str.size, o->via.str.ptr);
}

//  The next message, within 20 s (a failure otherwise).
static s_message_t
s_recv (zsock_t *dealer)
{
    zpoller_t *poller = zpoller_new (dealer, NULL);
    void *which = zpoller_wait (poller, 20000);
    zpoller_destroy (&poller);
    cr_assert_not_null (which, "no message from sbxd within 20 s");
    zframe_t *frame = zframe_recv (dealer);
    cr_assert_not_null (frame);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    cr_assert_eq (msgpack_unpack_next (&unpacked, (const char *) zframe_data (frame), zframe_size (frame), NULL),
                  MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *map = &unpacked.data;
    s_message_t message = {0};
    const msgpack_object *id = sbx_mp_map_get (map, "id");
    cr_assert (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "a message without an id");
    message.id = id->via.u64;
    const msgpack_object *ok = sbx_mp_map_get (map, "ok");
    message.progress = ok == NULL;
    if (message.progress) {
        s_text (sbx_mp_map_get (map, "stream"), message.stream, sizeof message.stream);
        s_text (sbx_mp_map_get (map, "data"), message.data, sizeof message.data);
    }
    else {
        message.ok = ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
        const msgpack_object *closed = sbx_mp_map_get (map, "closed");
        message.closed = closed && closed->type == MSGPACK_OBJECT_BOOLEAN && closed->via.boolean;
        const msgpack_object *error = sbx_mp_map_get (map, "error");
        if (error)
            s_text (sbx_mp_map_get (error, "type"), message.error, sizeof message.error);
        const msgpack_object *result = sbx_mp_map_get (map, "result");
        if (result && result->type == MSGPACK_OBJECT_MAP) {
            s_text (sbx_mp_map_get (result, "stdout"), message.stdout_, sizeof message.stdout_);
            const msgpack_object *code = sbx_mp_map_get (result, "exit_code");
            message.exit_code = code ? code->via.i64 : -1000;
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    zframe_destroy (&frame);
    return message;
}

//  The next reply (not progress) must be to `id`.
static s_message_t
s_reply_to (zsock_t *dealer, uint64_t id)
{
    s_message_t message = s_recv (dealer);
    cr_assert_not (message.progress, "progress where the reply to %llu was due", (unsigned long long) id);
    cr_assert_eq (message.id, id, "reply to %llu where the reply to %llu was due",
                  (unsigned long long) message.id, (unsigned long long) id);
    return message;
}

//  Each chunk reaches the command, and its output comes back, before the
//  next chunk is even sent: stdin and stdout both as they come. The end
//  (`eof`) closes the command's stdin, and cat exits.
Test (input, chunks_reach_a_running_command_as_they_come)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    s_send (dealer, "{\"op\": \"call\", \"id\": 1, \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
            " \"method\": \"run\", \"stream\": true, \"input\": true, \"args\": {\"cmd\": \"cat\", \"stdin\": \"zero\\n\"}}",
            session.sandbox, session.token);
    s_message_t message = s_recv (dealer);
    cr_assert (message.progress && message.id == 1);
    cr_assert_str_eq (message.data, "zero\n", "the request's own stdin comes first");

    const char *chunks [] = {"one\n", "two\n", "three\n"};
    for (int i = 0; i < 3; i++) {
        s_send_input (dealer, &session, 10 + (uint64_t) i, 1, chunks [i], strlen (chunks [i]), i == 2);
        bool answered = false, echoed = false;
        while (!answered || !echoed) {
            message = s_recv (dealer);
            if (message.progress) {
                cr_assert_eq (message.id, 1);
                cr_assert_str_eq (message.stream, "stdout");
                cr_assert_str_eq (message.data, chunks [i]);
                echoed = true;
            }
            else {
                cr_assert_eq (message.id, (uint64_t) (10 + i), "a reply to %llu", (unsigned long long) message.id);
                cr_assert (message.ok, "input %d: %s", i, message.error);
                cr_assert_not (message.closed, "cat reads its stdin");
                answered = true;
            }
        }
    }
    //  eof: cat has its end and exits.
    message = s_reply_to (dealer, 1);
    cr_assert (message.ok, "%s", message.error);
    cr_assert_eq (message.exit_code, 0);
    s_end_clean (&daemon, &dealer, &session);
}

//  Without `stream` the output is in the result, all of it; binary input
//  and empty chunks are input like any other.
Test (input, without_stream_the_result_holds_everything)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    s_send (dealer, "{\"op\": \"call\", \"id\": 1, \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
            " \"method\": \"run\", \"input\": true, \"args\": {\"cmd\": \"od -An -c | tr -s ' '\", \"stdin\": \"a\"}}",
            session.sandbox, session.token);
    //  A bin chunk with a NUL in it, an empty one, then the end alone.
    s_send_input (dealer, &session, 2, 1, "\0b", 2, false);
    cr_assert (s_reply_to (dealer, 2).ok);
    s_send_input (dealer, &session, 3, 1, "", 0, false);
    s_message_t message = s_reply_to (dealer, 3);
    cr_assert (message.ok && !message.closed);
    s_send_input (dealer, &session, 4, 1, NULL, 0, true);
    message = s_reply_to (dealer, 4);
    cr_assert (message.ok && !message.closed);
    message = s_reply_to (dealer, 1);
    cr_assert (message.ok, "%s", message.error);
    cr_assert_str_eq (message.stdout_, " a \\0 b\n");
    s_end_clean (&daemon, &dealer, &session);
}

//  Input that nothing will read is answered `closed`: the command closed
//  its stdin, the call has ended, or the call never took input.
Test (input, input_nobody_reads_is_answered_closed)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char release [512];
    snprintf (release, sizeof release, "%s/release", daemon->dir);
    s_send (dealer, "{\"op\": \"call\", \"id\": 1, \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
            " \"method\": \"run\", \"stream\": true, \"input\": true, \"args\": {\"cmd\":"
            " \"exec 0<&-; echo closed; while [ ! -e %s ]; do sleep 0.01; done\"}}",
            session.sandbox, session.token, release);
    s_message_t message = s_recv (dealer);
    cr_assert (message.progress);
    cr_assert_str_eq (message.data, "closed\n");
    //  The command runs on, without a reader on its stdin.
    s_send_input (dealer, &session, 2, 1, "x", 1, false);
    message = s_reply_to (dealer, 2);
    cr_assert (message.ok && message.closed, "input to a closed stdin: ok %d closed %d %s",
               message.ok, message.closed, message.error);
    //  Once one is closed, so is the rest.
    s_send_input (dealer, &session, 3, 1, "y", 1, false);
    message = s_reply_to (dealer, 3);
    cr_assert (message.ok && message.closed);
    s_touch (release);
    message = s_reply_to (dealer, 1);
    cr_assert (message.ok, "%s", message.error);
    //  The call has ended.
    s_send_input (dealer, &session, 4, 1, "z", 1, false);
    message = s_reply_to (dealer, 4);
    cr_assert (message.ok && message.closed);
    //  A call that does not take input keeps its stdin to itself.
    s_send (dealer, "{\"op\": \"call\", \"id\": 5, \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
            " \"method\": \"run\", \"args\": {\"cmd\": \"cat; echo done\"}}", session.sandbox, session.token);
    s_send_input (dealer, &session, 6, 5, "w", 1, false);
    message = s_reply_to (dealer, 5);
    cr_assert_str_eq (message.stdout_, "done\n");
    message = s_reply_to (dealer, 6);
    cr_assert (message.ok && message.closed);
    s_end_clean (&daemon, &dealer, &session);
}

//  A call queued behind one that takes input waits for it, and input
//  that comes after the queued call still reaches the running one.
Test (input, a_queued_call_waits_for_the_one_taking_input)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    s_send (dealer, "{\"op\": \"call\", \"id\": 1, \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
            " \"method\": \"run\", \"input\": true, \"args\": {\"cmd\": \"cat\"}}", session.sandbox, session.token);
    s_send (dealer, "{\"op\": \"call\", \"id\": 2, \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
            " \"method\": \"run\", \"args\": {\"cmd\": \"echo second\"}}", session.sandbox, session.token);
    s_send_input (dealer, &session, 3, 1, "first\n", 6, true);
    s_message_t message = s_reply_to (dealer, 3);
    cr_assert (message.ok && !message.closed);
    message = s_reply_to (dealer, 1);
    cr_assert_str_eq (message.stdout_, "first\n");
    message = s_reply_to (dealer, 2);
    cr_assert_str_eq (message.stdout_, "second\n");
    s_end_clean (&daemon, &dealer, &session);
}

//  Input counts against limits.queued_per_sandbox like any request sent
//  to the sandbox: chunks that wait for a command that does not read are
//  refused past it, and answered `closed` when the command ends.
Test (input, input_waiting_past_the_sandbox_queue_is_refused)
{
    char config [2048];
    snprintf (config, sizeof config,
              "{\"environment\": {\"id\": \"penv\", \"pool\": {\"min\": 1, \"max\": 1},"
              " \"keepalive_interval_s\": null, \"stats_report_interval_s\": null},"
              " \"limits\": {\"queued_per_sandbox\": 4},"
              " \"sandbox\": {\"kind\": \"process\"},"
              " \"features\": {\"shell\": {\"kind\": \"shell\", \"env\": {\"SBX_TAG\": \"%s\"}}}}", s_tag ());
    sbx_test_daemon_t *daemon = s_start_reachable (config);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    char release [512];
    snprintf (release, sizeof release, "%s/release", daemon->dir);
    s_send (dealer, "{\"op\": \"call\", \"id\": 1, \"sandbox\": \"%s\", \"token\": \"%s\", \"feature\": \"shell\","
            " \"method\": \"run\", \"input\": true, \"args\": {\"cmd\":"
            " \"while [ ! -e %s ]; do sleep 0.01; done\"}}", session.sandbox, session.token, release);
    //  Chunks larger than a pipe holds: the first one stays unwritten.
    static char chunk [256 * 1024];
    memset (chunk, 'x', sizeof chunk);
    for (uint64_t id = 2; id < 8; id++)
        s_send_input (dealer, &session, id, 1, chunk, sizeof chunk, false);
    //  The call and three chunks fill the queue of 4: ids 5, 6, 7 are
    //  refused at once, in order.
    for (uint64_t id = 5; id < 8; id++) {
        s_message_t message = s_reply_to (dealer, id);
        cr_assert_not (message.ok);
        cr_assert_str_eq (message.error, "EnvironmentOverloadError");
    }
    s_touch (release);
    bool replied [8] = {false};
    for (int i = 0; i < 4; i++) {
        s_message_t message = s_recv (dealer);
        cr_assert (message.id >= 1 && message.id <= 4 && !replied [message.id]);
        replied [message.id] = true;
        cr_assert (message.ok, "%llu: %s", (unsigned long long) message.id, message.error);
        if (message.id > 1)
            cr_assert (message.closed, "input %llu was never read", (unsigned long long) message.id);
    }
    s_end_clean (&daemon, &dealer, &session);
}

//  Input is for a session's owner, for a call in a session.
Test (input, refused_without_a_session)
{
    sbx_test_daemon_t *daemon = s_daemon (NULL, NULL);
    s_session_t session;
    zsock_t *dealer = s_connect_open (daemon, &session);
    sbx_reply_t *reply = sbx_test_requestf (dealer, 10000, "{\"op\": \"input\", \"sandbox\": \"%s\","
                                            " \"token\": \"0123456789abcdef0123456789abcdef\", \"call\": 1, \"data\": \"x\"}",
                                            session.sandbox);
    cr_assert_str_eq (sbx_test_reply_type (reply), "Unauthorized");
    sbx_reply_destroy (&reply);
    reply = sbx_test_request (dealer, "{\"op\": \"input\", \"sandbox\": \"penv/9:0\", \"token\": \"t\", \"call\": 1}", 10000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "NotFound");
    sbx_reply_destroy (&reply);
    reply = sbx_test_request (dealer, "{\"op\": \"call\", \"id\": 4, \"feature\": \"shell\", \"method\": \"run\","
                              " \"input\": true, \"args\": {\"cmd\": \"cat\"}}", 10000);
    cr_assert_str_eq (sbx_test_reply_type (reply), "BadRequest");
    cr_assert (strstr (s_why (reply), "needs a session"), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    reply = sbx_test_requestf (dealer, 10000, "{\"op\": \"call\", \"sandbox\": \"%s\", \"token\": \"%s\","
                               " \"feature\": \"shell\", \"method\": \"run\", \"input\": true, \"args\": {\"cmd\": \"cat\"}}",
                               session.sandbox, session.token);
    cr_assert_str_eq (sbx_test_reply_type (reply), "BadRequest");
    cr_assert (strstr (s_why (reply), "needs an 'id'"), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
    //  hello says the daemon takes input.
    reply = sbx_test_request (dealer, "{\"op\": \"hello\"}", 10000);
    const msgpack_object *capabilities = sbx_reply_get (reply, "capabilities");
    bool listed = false;
    for (uint32_t i = 0; capabilities && i < capabilities->via.array.size; i++)
        listed |= sbx_mp_str_eq (&capabilities->via.array.ptr [i], "input");
    cr_assert (listed);
    sbx_reply_destroy (&reply);
    s_end_clean (&daemon, &dealer, &session);
}
