/*  sbx_events - see include/sbx/client.h

    Invariant: `queue` holds decoded events with consecutive seqs
    last+1, last+2, ... ; `tail` is the seq of its last event (or `last`
    when it is empty). A live event is appended only when its seq is
    tail+1; anything after a gap sets `need_replay`, and the next step asks
    events.replay {since: tail} before anything else is delivered.
*/
#include <sbx/client.h>
#include "client/link.h"
#include "messages/event.h"

#include <czmq.h>
#include <string.h>

#define S_TIMEOUT_MS 30000
#define S_REPLAY_MAX 1000
#define S_IDLE_FIRST_MS 50
#define S_IDLE_MAX_MS 1000
#define S_RCVHWM 100000

struct sbx_events_t {
    sbx_link_t *link;
    zsock_t *sub;
    int timeout_ms;
    char **prefixes;            //  NULL-terminated; NULL: all
    uint64_t last;              //  last seq delivered or filtered out
    uint64_t tail;              //  last seq in the queue (== last when empty)
    zlistx_t *queue;            //  sbx_event_t *, consecutive from last+1
    bool need_replay;
    bool seen;                  //  `tail` is a seq this daemon published
    int64_t idle_interval;      //  ms without events before a check replay
    int64_t next_check;         //  zclock_mono of the next check
    uint64_t lost;
    uint64_t gap_replays;
    size_t drop;                //  test hook
};

static void
s_set_error (sbx_error_t **error_p, sbx_error_t *error)
{
    if (error_p)
        *error_p = error;
    else
        sbx_error_destroy (&error);
}

static void
s_event_destructor (void **item_p)
{
    sbx_event_destroy ((sbx_event_t **) item_p);
}

void
sbx_events_destroy (sbx_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_events_t *self = *self_p;
    zlistx_destroy (&self->queue);
    zsock_destroy (&self->sub);
    sbx_link_destroy (&self->link);
    for (size_t i = 0; self->prefixes && self->prefixes [i]; i++)
        free (self->prefixes [i]);
    free (self->prefixes);
    free (self);
    *self_p = NULL;
}

//  One events.replay; NULL with *error_p on failure.
static sbx_reply_t *
s_replay_request (sbx_events_t *self, uint64_t since, uint64_t max, sbx_error_t **error_p)
{
    sbx_request_t request = {
        .op = SBX_OP_EVENTS_REPLAY, .has_since = true, .since = since,
        .has_max = true, .max = max
    };
    return sbx_link_call (self->link, &request, self->timeout_ms, error_p);
}

sbx_events_t *
sbx_events_new (const sbx_events_options_t *options, sbx_error_t **error_p)
{
    sbx_events_options_t settings = {0};
    if (options)
        settings = *options;
    if (settings.timeout_ms == 0)
        settings.timeout_ms = S_TIMEOUT_MS;
    sbx_curve_t *curve = NULL;
    sbx_link_t *link = sbx_link_open (settings.endpoints, settings.connect_timeout_ms, settings.server_cert,
                                      settings.cert, &curve, error_p);
    if (!link)
        return NULL;
    //  Given, else the one the daemon's hello names, else the default.
    const char *announced = json_string_value (json_object_get (sbx_link_hello (link), "events_endpoint"));
    const char *events_endpoint = settings.events_endpoint && *settings.events_endpoint
                                ? settings.events_endpoint
                                : announced && *announced ? announced : SBX_DEFAULT_EVENTS_ENDPOINT;
    sbx_events_t *self = (sbx_events_t *) zmalloc (sizeof (sbx_events_t));
    self->link = link;
    self->timeout_ms = settings.timeout_ms;
    self->queue = zlistx_new ();
    zlistx_set_destructor (self->queue, s_event_destructor);
    self->idle_interval = S_IDLE_FIRST_MS;
    if (settings.prefixes) {
        size_t count = 0;
        while (settings.prefixes [count])
            count++;
        self->prefixes = (char **) zmalloc ((count + 1) * sizeof (char *));
        for (size_t i = 0; i < count; i++)
            self->prefixes [i] = strdup (settings.prefixes [i]);
    }
    //  Every topic: prefixes are applied here, so that a gap in seq is
    //  always a lost event and never a filtered one.
    self->sub = zsock_new (ZMQ_SUB);
    if (self->sub) {
        zsock_set_rcvhwm (self->sub, S_RCVHWM);
        zsock_set_linger (self->sub, 0);
        zsock_set_subscribe (self->sub, "");
        sbx_curve_apply (curve, self->sub);
    }
    sbx_curve_destroy (&curve);
    if (!self->sub || zsock_connect (self->sub, "%s", events_endpoint) != 0) {
        s_set_error (error_p, sbx_error_new (SBX_UNREACHABLE, "cannot connect to events endpoint %s: %s",
                                             events_endpoint, zmq_strerror (zmq_errno ())));
        sbx_events_destroy (&self);
        return NULL;
    }
    if (settings.since == SBX_EVENTS_NOW) {
        //  Asking past the end returns no events and `next` = the last seq.
        //  (INT64_MAX, not UINT64_MAX: the daemon computes since + 1.)
        sbx_reply_t *reply = s_replay_request (self, INT64_MAX, 1, error_p);
        const msgpack_object *next = reply ? sbx_reply_get (reply, "next") : NULL;
        if (next && next->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            self->last = next->via.u64;
            self->seen = true;
        }
        else if (reply)
            s_set_error (error_p, sbx_error_new (SBX_BAD_REQUEST, "events.replay reply without `next`"));
        bool ok = next && next->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
        sbx_reply_destroy (&reply);
        if (!ok) {
            sbx_events_destroy (&self);
            return NULL;
        }
    }
    else {
        self->last = settings.since;
        self->need_replay = true;       //  the history first
    }
    self->tail = self->last;
    self->next_check = zclock_mono () + self->idle_interval;
    return self;
}

//  Asks events.replay from the tail and queues what comes back. `checking`
//  when it is an idle check. Returns 0 or -1.
static int
s_replay (sbx_events_t *self, bool checking, sbx_error_t **error_p)
{
    uint64_t since = self->tail;
    sbx_reply_t *reply = s_replay_request (self, since, S_REPLAY_MAX, error_p);
    if (!reply)
        return -1;
    sbx_event_t **events = NULL;
    size_t count = 0;
    uint64_t next = 0;
    bool truncated = false;
    int rc = sbx_client_decode_replay (reply, &events, &count, &next, &truncated, error_p);
    sbx_reply_destroy (&reply);
    if (rc != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (events [i]->seq <= self->tail) {
            sbx_event_destroy (&events [i]);
            continue;
        }
        if (events [i]->seq > self->tail + 1)
            self->lost += events [i]->seq - self->tail - 1;     //  the journal dropped them
        self->tail = events [i]->seq;
        self->seen = true;
        zlistx_add_end (self->queue, events [i]);
        events [i] = NULL;
    }
    free (events);
    if (count == 0 && next < since && self->seen) {
        //  The daemon's journal ends before what we have seen: it was
        //  restarted and counts from 1 again. Follow the new one.
        zlistx_purge (self->queue);
        self->last = self->tail = 0;
        self->seen = false;
        self->need_replay = true;
        return 0;
    }
    //  A full page means there may be more.
    self->need_replay = count >= S_REPLAY_MAX;
    if (checking && count == 0 && self->idle_interval < S_IDLE_MAX_MS)
        self->idle_interval = self->idle_interval * 2 > S_IDLE_MAX_MS ? S_IDLE_MAX_MS
                                                                      : self->idle_interval * 2;
    self->next_check = zclock_mono () + self->idle_interval;
    return 0;
}

//  Takes every live event waiting on the SUB socket, without blocking.
static void
s_drain (sbx_events_t *self)
{
    while (zsock_events (self->sub) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->sub);
        if (!msg)
            break;
        self->next_check = zclock_mono () + self->idle_interval;
        if (self->drop > 0) {
            self->drop--;
            zmsg_destroy (&msg);
            continue;
        }
        zframe_t *body = zmsg_size (msg) == 2 ? zmsg_last (msg) : NULL;
        sbx_event_t *event = body ? sbx_event_decode (zframe_data (body), zframe_size (body), NULL)
                                  : NULL;
        zmsg_destroy (&msg);
        if (!event)
            continue;
        if (event->seq <= self->tail)
            sbx_event_destroy (&event);         //  already queued or delivered
        else if (event->seq == self->tail + 1 && !self->need_replay) {
            self->tail = event->seq;
            self->seen = true;
            zlistx_add_end (self->queue, event);
        }
        else {
            //  A gap: the replay brings this one too.
            if (!self->need_replay)
                self->gap_replays++;
            self->need_replay = true;
            sbx_event_destroy (&event);
        }
    }
}

static bool
s_matches (const sbx_events_t *self, const sbx_event_t *event)
{
    if (!self->prefixes)
        return true;
    const char *name = sbx_event_kind_name (event->kind);
    for (size_t i = 0; self->prefixes [i]; i++)
        if (strncmp (name, self->prefixes [i], strlen (self->prefixes [i])) == 0)
            return true;
    return false;
}

//  The next queued event that matches, or NULL when the queue is empty.
static sbx_event_t *
s_pop (sbx_events_t *self)
{
    sbx_event_t *event;
    while ((event = (sbx_event_t *) zlistx_detach (self->queue, NULL))) {
        self->last = event->seq;
        if (s_matches (self, event))
            return event;
        sbx_event_destroy (&event);
    }
    return NULL;
}

sbx_event_t *
sbx_events_next (sbx_events_t *self, int timeout_ms, sbx_error_t **error_p)
{
    int64_t deadline = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
    while (true) {
        sbx_event_t *event = s_pop (self);
        if (event)
            return event;
        if (self->need_replay) {
            if (s_replay (self, false, error_p) != 0)
                return NULL;
            continue;
        }
        s_drain (self);
        if (zlistx_size (self->queue) > 0 || self->need_replay)
            continue;
        int64_t now = zclock_mono ();
        if (now >= self->next_check) {
            //  Quiet for a while: make sure nothing was lost at the tail
            //  (a drop at the high-water mark, or events published before
            //  our subscription reached the daemon).
            if (s_replay (self, true, error_p) != 0)
                return NULL;
            continue;
        }
        if (deadline >= 0 && now >= deadline)
            return NULL;
        int64_t wait = self->next_check - now;
        if (deadline >= 0 && deadline - now < wait)
            wait = deadline - now;
        zmq_pollitem_t item = {zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, (long) wait) < 0 && zmq_errno () == EINTR) {
            s_set_error (error_p, sbx_error_new (SBX_INTERRUPTED, "interrupted while waiting for events"));
            return NULL;
        }
    }
}

uint64_t
sbx_events_last_seq (const sbx_events_t *self)
{
    return self->last;
}

uint64_t
sbx_events_lost (const sbx_events_t *self)
{
    return self->lost;
}

uint64_t
sbx_events_gap_replays (const sbx_events_t *self)
{
    return self->gap_replays;
}

void
sbx_events_test_drop (sbx_events_t *self, size_t count)
{
    self->drop = count;
}
