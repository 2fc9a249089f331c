/*  bench_events - see bench/events.h */
#include "bench/events.h"
#include "bench/clients.h"
#include "bench/baselines.h"
#include "messages/mp.h"
#include "runtime/core/actor.h"
#include "runtime/core/config.h"
#include "runtime/daemon/registry.h"
#include "actors/eventbus.h"
#include "actors/proto.h"

#include <math.h>

#define S_MAX_SUBSCRIBERS 4

//  --- Subscribers --------------------------------------------------------------

typedef struct {
    zsock_t *sub;
    uint64_t received, gaps, last_seq;
    uint8_t *seen;          //  seen [seq] = 1
    size_t capacity;
} s_subscriber_t;

static bool
s_seen (s_subscriber_t *self, uint64_t seq)
{
    return seq < self->capacity && self->seen [seq];
}

static void
s_subscriber_take (s_subscriber_t *self)
{
    while (zsock_events (self->sub) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->sub);
        zframe_t *body = zmsg_last (msg);
        if (body && zframe_size (body) > SBX_EVENT_SEQ_OFFSET + 8) {
            const uint8_t *data = zframe_data (body) + SBX_EVENT_SEQ_OFFSET;
            uint64_t seq = 0;
            for (int i = 0; i < 8; i++)
                seq = (seq << 8) | data [i];
            if (seq != self->last_seq + 1)
                self->gaps++;
            self->last_seq = seq;
            if (seq >= self->capacity) {
                size_t capacity = (seq + 1) * 2;
                self->seen = (uint8_t *) realloc (self->seen, capacity);
                if (!self->seen)
                    abort ();           //  out of memory, as everywhere in sbx
                memset (self->seen + self->capacity, 0, capacity - self->capacity);
                self->capacity = capacity;
            }
            self->seen [seq] = 1;
            self->received++;
        }
        zmsg_destroy (&msg);
    }
}

//  A subscriber drains its SUB on a thread of its own, so that the load
//  never pauses for it. "UNTIL" <seq>: drain until that seq has been seen
//  (or 2 s pass without an event), then answer "DONE" and stop reading.
static void
s_subscriber_actor (zsock_t *pipe, void *args)
{
    s_subscriber_t *self = (s_subscriber_t *) args;
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, self->sub, NULL);
    uint64_t until = 0;
    bool draining = false;
    while (true) {
        void *which = zpoller_wait (poller, draining ? 2000 : -1);
        if (which == self->sub)
            s_subscriber_take (self);
        else
        if (which == pipe) {
            char *command = NULL;
            char *value = NULL;
            zsock_recv (pipe, "ss", &command, &value);
            bool term = !command || streq (command, "$TERM");
            if (command && streq (command, "UNTIL") && value) {
                until = strtoull (value, NULL, 10);
                draining = true;
            }
            zstr_free (&command);
            zstr_free (&value);
            if (term)
                break;
        }
        if (draining && (self->last_seq >= until || !which)) {
            s_subscriber_take (self);
            zstr_send (pipe, "DONE");
            //  Idle until $TERM.
            char *command = zstr_recv (pipe);
            zstr_free (&command);
            break;
        }
    }
    zpoller_destroy (&poller);
}

//  --- The journal -------------------------------------------------------------

static sbx_reply_t *
s_replay (zsock_t *control, uint64_t since, uint64_t max)
{
    sbx_request_t replay = {
        .op = SBX_OP_EVENTS_REPLAY, .has_since = true, .since = since,
        .has_max = max > 0, .max = max
    };
    return bench_request (control, &replay, 10000);
}

//  The seq of the last event published (events.replay past the end
//  answers `next` = the last seq).
static uint64_t
s_last_seq (zsock_t *control)
{
    sbx_reply_t *reply = s_replay (control, INT64_MAX, 0);
    const msgpack_object *next = reply ? sbx_reply_get (reply, "next") : NULL;
    uint64_t last = next && next->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? next->via.u64 : 0;
    sbx_reply_destroy (&reply);
    return last;
}

//  Fills the subscriber's gaps up to `last` from the journal; adds the
//  events filled to *filled_p and those still missing to *missing_p.
static void
s_fill_gaps (s_subscriber_t *self, zsock_t *control, uint64_t last,
             uint64_t *filled_p, uint64_t *missing_p)
{
    uint64_t since = 0;
    while (since < last) {
        //  Skip quickly over what this subscriber has.
        while (since < last && since + 1 < self->capacity && self->seen [since + 1])
            since++;
        if (since >= last)
            break;
        sbx_reply_t *replay = s_replay (control, since, 10000);
        const msgpack_object *events = replay ? sbx_reply_get (replay, "events") : NULL;
        if (!events || events->type != MSGPACK_OBJECT_ARRAY || events->via.array.size == 0) {
            fprintf (stderr, "bench: replay since %llu: %s\n", (unsigned long long) since,
                     sbx_test_reply_type (replay));
            sbx_reply_destroy (&replay);
            break;
        }
        for (uint32_t e = 0; e < events->via.array.size; e++) {
            const msgpack_object *seq = sbx_mp_map_get (&events->via.array.ptr [e], "seq");
            if (seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER && seq->via.u64 <= last
            &&  seq->via.u64 < self->capacity && !self->seen [seq->via.u64]) {
                self->seen [seq->via.u64] = 1;
                (*filled_p)++;
            }
        }
        const msgpack_object *next = sbx_reply_get (replay, "next");
        since = next ? next->via.u64 : last;
        sbx_reply_destroy (&replay);
    }
    for (uint64_t q = 1; q <= last; q++)
        if (!s_seen (self, q))
            (*missing_p)++;
}

//  --- Sessions with subscribers --------------------------------------------------

static void
s_variant (int subs, const char *code, int64_t duration)
{
    //  A journal that holds the whole run, for the replay.
    sbx_test_daemon_t *daemon = bench_daemon_testing (32, true, true, 4u * 1024 * 1024, 60000);
    if (!daemon)
        return;
    s_subscriber_t subscriber [S_MAX_SUBSCRIBERS];
    memset (subscriber, 0, sizeof subscriber);
    for (int s = 0; s < subs; s++) {
        subscriber [s].sub = zsock_new (ZMQ_SUB);
        zsock_set_rcvhwm (subscriber [s].sub, 1000000);
        zsock_set_subscribe (subscriber [s].sub, "");
        zsock_connect (subscriber [s].sub, "%s", daemon->events);
    }
    //  Make sure the subscriptions are in place: one round trip, then
    //  events from here on are seen live.
    bench_clients_t *clients = bench_clients_new (32, true, false, daemon->requests);
    zsock_t *control = sbx_test_connect (daemon);
    sbx_request_t stats = {.op = SBX_OP_STATS};
    sbx_reply_t *reply = bench_request (control, &stats, 10000);
    sbx_reply_destroy (&reply);
    zactor_t *drainers [S_MAX_SUBSCRIBERS];
    for (int s = 0; s < subs; s++)
        drainers [s] = zactor_new (s_subscriber_actor, &subscriber [s]);
    uint64_t first = s_last_seq (control);
    bench_load_t load;
    bench_clients_run (clients, BENCH_SESSIONS, code, duration, 0, &load);
    double seconds = load.seconds;
    bench_load_free (&load);
    uint64_t last = s_last_seq (control);
    char until [32];
    snprintf (until, sizeof until, "%llu", (unsigned long long) last);
    for (int s = 0; s < subs; s++) {
        zstr_sendx (drainers [s], "UNTIL", until, NULL);
        char *done = zstr_recv (drainers [s]);
        zstr_free (&done);
        zactor_destroy (&drainers [s]);
    }
    uint64_t filled = 0, missing = 0;
    for (int s = 0; s < subs; s++)
        s_fill_gaps (&subscriber [s], control, last, &filled, &missing);
    zsock_destroy (&control);
    bench_clients_destroy (&clients);
    bench_daemon_stop (&daemon);
    uint64_t received = 0, gaps = 0;
    for (int s = 0; s < subs; s++) {
        received += subscriber [s].received;
        gaps += subscriber [s].gaps;
        zsock_destroy (&subscriber [s].sub);
        free (subscriber [s].seen);
    }
    double rate = (double) (last - first) / seconds;
    bench_row ("/s", rate, NAN, ">= 300000/s", rate >= 300000,
               "%d subscriber(s): events/s published", subs);
    bench_row ("", (double) received, (double) last * subs, NULL, false,
               "%d subscriber(s): events delivered live", subs);
    bench_row ("", (double) gaps, (double) filled, NULL, false,
               "%d subscriber(s): gaps seen / filled", subs);
    bench_row ("", (double) missing, 0, "0", missing == 0,
               "%d subscriber(s): missing after replay", subs);
}

//  --- The event bus alone ---------------------------------------------------------

typedef struct {
    sbx_actor_t *bus;
    const sbx_event_t *event;
} s_feed_t;

//  Hands the bus one batch of one event.
static void
s_feed_one (void *args)
{
    s_feed_t *feed = (s_feed_t *) args;
    sbx_evbatch_t *batch = sbx_evbatch_new ();
    sbx_evbatch_add (batch, feed->event);
    zsock_send (sbx_actor_pipe (feed->bus), "sp", "EVENTS", batch);
}

//  The event bus alone, fed batches of 512 copies of `event` as the
//  environment feeds it, with one SUB subscriber: events/s from the
//  first batch until the subscriber has the last; NAN when it fails. No
//  high-water mark (events.hwm 0), as the bare PUB beside it: the rate
//  of publishing, not of dropping for a subscriber that lags.
static double
s_bus_rate (const sbx_event_t *event, uint64_t total)
{
    const char *text =
        "{\"environment\": {\"id\": \"bench\"}, \"sandbox\": {\"kind\": \"testing\"},"
        " \"endpoints\": {\"requests\": \"tcp://127.0.0.1:*\", \"events\": \"tcp://127.0.0.1:*\"},"
        " \"events\": {\"log\": null, \"hwm\": 0}}";
    sbx_error_t *error = NULL;
    sbx_config_t *config = sbx_config_load_string (text, sbx_registry (), &error);
    sbx_error_destroy (&error);
    sbx_actor_t *bus = config ? sbx_actor_new (sbx_eventbus_actor, config) : NULL;
    if (!bus) {
        sbx_config_destroy (&config);
        return NAN;
    }
    zstr_send (sbx_actor_pipe (bus), "START");
    char *status = NULL, *endpoint = NULL;
    zsock_recv (sbx_actor_pipe (bus), "ss", &status, &endpoint);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (sub, 0);
    zsock_set_subscribe (sub, "");
    zsock_connect (sub, "%s", endpoint ? endpoint : "");
    s_feed_t feed = {bus, event};
    double rate = NAN;
    if (bench_sub_handshake (sub, s_feed_one, &feed)) {
        int64_t start = bench_now_us ();
        for (uint64_t sent = 0; sent < total; ) {
            sbx_evbatch_t *batch = sbx_evbatch_new ();
            for (int i = 0; i < 512 && sent < total; i++, sent++)
                sbx_evbatch_add (batch, event);
            zsock_send (sbx_actor_pipe (bus), "sp", "EVENTS", batch);
        }
        if (bench_sub_wait (sub, total))
            rate = (double) total / ((double) (bench_now_us () - start) / 1e6);
    }
    zsock_destroy (&sub);
    sbx_actor_destroy (&bus);
    zstr_free (&status);
    zstr_free (&endpoint);
    sbx_config_destroy (&config);
    return rate;
}

//  For scale: what the bus publishes when it is fed as fast as the bench
//  can make events, beside a bare PUB socket.
static void
s_bus_alone (void)
{
    uint64_t total = bench_quick () ? 200000 : 1000000;
    char code [65];
    bench_code (code, sizeof code);
    msgpack_sbuffer args;
    msgpack_sbuffer_init (&args);
    bench_args_pack (&args, "code", code);
    sbx_event_t event = {
        .kind = SBX_EV_SESSION_ACTIVITY, .environment = "bench", .sandbox = "bench/0:0",
        .session = "session-0000000", .name = "shell",
        .args = (const uint8_t *) args.data, .args_size = args.size
    };
    double bus = s_bus_rate (&event, total);
    double raw = bench_bare_pub_rate (&event, total);
    msgpack_sbuffer_destroy (&args);
    bench_row ("/s", bus, raw, NULL, false, "  for scale: event bus alone, fed batches: events/s");
}

void
bench_events_run (void)
{
    printf ("\n5. events (session loops from 32 clients on one socket; 1 and 4 subscribers)\n");
    int64_t duration = bench_quick () ? 500000 : 2000000;
    char code [64];
    bench_code (code, sizeof code);
    int sub_counts [] = {1, 4};
    for (size_t v = 0; v < sizeof sub_counts / sizeof sub_counts [0]; v++)
        s_variant (sub_counts [v], code, duration);
    s_bus_alone ();
}
