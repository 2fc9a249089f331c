/*  sbx_eventbus - see eventbus.h */
#include "actors/eventbus.h"
#include "actors/auth.h"
#include "runtime/core/poller.h"
#include "actors/proto.h"
#include "actors/recorder.h"
#include "runtime/core/peers.h"
#include "messages/mp.h"
#include "runtime/core/alloc.h"
#include "messages/reply.h"
#include "runtime/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define S_REPLAY_MAX_DEFAULT 1000
#define S_REPLAY_MAX 10000

typedef struct {
    uint8_t *body;
    size_t size;
} s_entry_t;

typedef struct {
    zsock_t *pipe;
    zsock_t *xpub;
    bool terminated;
    const sbx_config_t *config;
    FILE *log;
    uint64_t next_seq;          //  the seq of the next event
    int64_t last_ts;            //  ts_ns of the last event published
    s_entry_t *ring;            //  journal: the last `count` events, at
    size_t capacity;            //  most `capacity` of them and, together,
    size_t count;               //  at most config->journal_bytes
    size_t bytes;
    sbx_recorder_t *recorder;   //  metrics from the events; NULL: metrics off
    sbx_peers_t *peers;         //  the XPUB's connections (the environment's;
                                //  NULL: not counted)
} self_t;

static self_t *
s_new (zsock_t *pipe, const sbx_config_t *config)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    self->pipe = pipe;
    self->config = config;
    self->next_seq = 1;
    self->capacity = config->journal ? config->journal : 1;
    self->ring = (s_entry_t *) zmalloc (self->capacity * sizeof (s_entry_t));
    return self;
}

static void
s_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    for (size_t i = 0; i < self->capacity; i++)
        free (self->ring [i].body);
    free (self->ring);
    if (self->log)
        fclose (self->log);
    sbx_recorder_destroy (&self->recorder);
    if (self->peers)
        sbx_peers_unwatch (self->peers);        //  before the XPUB goes
    zsock_destroy (&self->xpub);
    free (self);
    *self_p = NULL;
}

static void
s_start (self_t *self)
{
    self->xpub = zsock_new (ZMQ_XPUB);
    if (!self->xpub) {
        zsock_send (self->pipe, "ss", "ERROR", "cannot create the events socket (socket limit?)");
        return;
    }
    zsock_set_sndhwm (self->xpub, self->config->events_hwm);
    zsock_set_linger (self->xpub, 0);
    //  The environment's ZAP handler (actors/auth.h) decides who connects:
    //  with keys, a CURVE client whose key it knows; always, within
    //  limits.peers. The options count from the bind.
    zsock_set_zap_domain (self->xpub, SBX_AUTH_EVENTS);
    zsock_set_handshake_ivl (self->xpub, 10000);
    if (sbx_config_curve (self->config)) {
        zcert_t *cert = zcert_load (self->config->server_cert);
        if (!cert) {
            char *message = zsys_sprintf ("cannot load security.server_cert %s", self->config->server_cert);
            zsock_send (self->pipe, "ss", "ERROR", message);
            zstr_free (&message);
            return;
        }
        zcert_apply (cert, self->xpub);
        zcert_destroy (&cert);
        zsock_set_curve_server (self->xpub, 1);
    }
    if (zsock_bind (self->xpub, "%s", self->config->events_endpoint) < 0) {
        char *message = zsys_sprintf ("cannot bind events endpoint %s: %s",
                                      self->config->events_endpoint, zmq_strerror (zmq_errno ()));
        zsock_send (self->pipe, "ss", "ERROR", message);
        zstr_free (&message);
        return;
    }
    if (self->peers && sbx_peers_watch (self->peers, zsock_resolve (self->xpub)) != 0)
        self->peers = NULL;
    if (self->config->event_log) {
        //  Events name sessions and what they did: the log is its owner's.
        int fd = open (self->config->event_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        self->log = fd >= 0 ? fdopen (fd, "a") : NULL;
        if (!self->log && fd >= 0)
            close (fd);
        if (!self->log) {
            char *message = zsys_sprintf ("cannot open event log %s: %s",
                                          self->config->event_log, strerror (errno));
            zsock_send (self->pipe, "ss", "ERROR", message);
            zstr_free (&message);
            return;
        }
    }
    zsock_send (self->pipe, "ss", "OK", zsock_endpoint (self->xpub));
}

static void
s_log_event (self_t *self, const uint8_t *body, size_t size)
{
    msgpack_zone zone;
    msgpack_zone_init (&zone, 1024);
    msgpack_object object;
    size_t offset = 0;
    if (msgpack_unpack ((const char *) body, size, &offset, &zone, &object) == MSGPACK_UNPACK_SUCCESS) {
        json_t *json = sbx_mp_to_json (&object);
        char *line = json_dumps (json, JSON_COMPACT);
        if (line) {
            fputs (line, self->log);
            fputc ('\n', self->log);
            fflush (self->log);
            free (line);
        }
        json_decref (json);
    }
    msgpack_zone_destroy (&zone);
}

//  Keeps the event for events.replay; the oldest go first when the journal
//  is over its count or its bytes.
static void
s_journal_add (self_t *self, uint64_t seq, const uint8_t *body, size_t size)
{
    while (self->count && (self->count == self->capacity
                           || self->bytes + size > self->config->journal_bytes)) {
        s_entry_t *oldest = &self->ring [(seq - 1 - self->count) % self->capacity];
        self->bytes -= oldest->size;
        free (oldest->body);
        oldest->body = NULL;
        oldest->size = 0;
        self->count--;
    }
    s_entry_t *entry = &self->ring [(seq - 1) % self->capacity];
    entry->body = (uint8_t *) sbx_realloc (NULL, size);
    memcpy (entry->body, body, size);
    entry->size = size;
    self->bytes += size;
    self->count++;
}

static void
s_publish (self_t *self, sbx_evbatch_t *batch)
{
    size_t offset = 0;
    sbx_event_kind_t kind;
    uint8_t *body;
    size_t size;
    while (sbx_evbatch_next (batch, &offset, &kind, &body, &size)) {
        uint64_t seq = self->next_seq++;
        sbx_event_patch_seq (body, seq);
        //  Before the bus raises ts_ns: lifetimes are measured between
        //  the times the events happened.
        if (self->recorder)
            sbx_recorder_event (self->recorder, kind, body, size);
        //  Events of different sandboxes reach the bus a little after they
        //  happened, in an order of their own: an event stamped before the
        //  one published last takes that one's time, so ts_ns never runs
        //  backwards in seq order (docs/protocol.md).
        self->last_ts = sbx_event_stamp_ts (body, self->last_ts);
        s_journal_add (self, seq, body, size);
        const char *topic = sbx_event_kind_name (kind);
        zmq_send (zsock_resolve (self->xpub), topic, strlen (topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send (zsock_resolve (self->xpub), body, size, ZMQ_DONTWAIT);
        if (self->log)
            s_log_event (self, body, size);
        if (sbx_log_level () >= SBX_LOG_DEBUG) {
            sbx_event_t *event = sbx_event_decode (body, size, NULL);
            if (event) {
                char *text = sbx_event_text (event);
                sbx_log_debug ("events", "%llu %s", (unsigned long long) seq, text);
                free (text);
                sbx_event_destroy (&event);
            }
        }
    }
    if (self->recorder)
        sbx_recorder_journal (self->recorder, self->count, self->bytes);
}

static void
s_replay (self_t *self, sbx_job_t *job)
{
    const sbx_request_t *request = &job->request;
    uint64_t since = request->since;
    uint64_t max = request->has_max ? request->max : S_REPLAY_MAX_DEFAULT;
    if (max > S_REPLAY_MAX)
        max = S_REPLAY_MAX;
    uint64_t last = self->next_seq - 1;
    uint64_t oldest = self->next_seq - self->count;     //  seq of the oldest kept
    //  Written so that since = UINT64_MAX cannot wrap to seq 0.
    bool truncated = since < oldest - 1;
    uint64_t from = truncated ? oldest : since < last ? since + 1 : last + 1;
    msgpack_sbuffer events;
    msgpack_sbuffer_init (&events);
    size_t count = 0;
    uint64_t seq;
    //  At most `max` events and replay_bytes of them (one at the least):
    //  a client that never reads its replies holds no more than that each.
    for (seq = from; seq <= last && count < max; seq++, count++) {
        s_entry_t *entry = &self->ring [(seq - 1) % self->capacity];
        if (count && events.size + entry->size > self->config->replay_bytes)
            break;
        msgpack_sbuffer_write (&events, (const char *) entry->body, entry->size);
    }
    uint64_t next = count ? seq - 1 : (since > last ? last : since);
    sbx_reply_events (&job->result, request->has_id, request->id,
                      events.data, events.size, count, next, truncated, next < last);
    msgpack_sbuffer_destroy (&events);
}

static void
s_handle_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    zframe_t *frame = zmsg_pop (msg);
    void *ptr = NULL;
    if (frame && zframe_size (frame) == sizeof ptr)
        memcpy (&ptr, zframe_data (frame), sizeof ptr);
    if (!command)
        ;
    else if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "START"))
        s_start (self);
    else if (streq (command, "PEERS") && ptr && !self->xpub)
        self->peers = (sbx_peers_t *) ptr;
    else if (streq (command, "METRICS") && ptr && !self->recorder)
        self->recorder = sbx_recorder_new ((sbx_metrics_t *) ptr, self->config);
    else if (streq (command, "EVENTS") && ptr) {
        sbx_evbatch_t *batch = (sbx_evbatch_t *) ptr;
        s_publish (self, batch);
        sbx_evbatch_destroy (&batch);
    }
    else if (streq (command, "SYNC"))
        zstr_send (self->pipe, "SYNCED");      //  everything before it is out
    else if (streq (command, "REPLAY") && ptr) {
        s_replay (self, (sbx_job_t *) ptr);
        zsock_send (self->pipe, "sp", "REPLAY", ptr);
    }
    else
        sbx_log_error ("events", "unexpected command '%s'", command);
    zstr_free (&command);
    zframe_destroy (&frame);
    zmsg_destroy (&msg);
}

void
sbx_eventbus_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_new (pipe, (const sbx_config_t *) args);
    zsock_signal (pipe, 0);
    sbx_poller_t *poller = sbx_poller_new (3);
    sbx_poller_add (poller, zsock_resolve (pipe));
    bool polling_xpub = false, polling_monitor = false;
    while (!self->terminated) {
        if (self->xpub && !polling_xpub)
            polling_xpub = sbx_poller_add (poller, zsock_resolve (self->xpub)) == 1;
        if (polling_xpub && self->peers && !polling_monitor)
            polling_monitor = sbx_poller_add (poller, self->peers->monitor) == 2;
        if (sbx_poller_wait (poller, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (sbx_poller_ready (poller, 0)) {
            s_handle_pipe (self);
            //  Publishing used the XPUB socket.
            if (polling_xpub)
                sbx_poller_touch (poller, 1);
        }
        if (polling_xpub && sbx_poller_ready (poller, 1)) {
            //  Subscriptions: nothing to do but drain them.
            zmq_msg_t part;
            zmq_msg_init (&part);
            while (zmq_msg_recv (&part, zsock_resolve (self->xpub), ZMQ_DONTWAIT) >= 0)
                ;
            zmq_msg_close (&part);
        }
        if (polling_monitor && sbx_poller_ready (poller, 2)) {
            while (sbx_peers_handle (self->peers) == 0)
                ;
            sbx_poller_settle (poller, 2);
            if (self->recorder)
                sbx_recorder_subscribers (self->recorder, atomic_load (&self->peers->connected));
        }
    }
    sbx_poller_destroy (&poller);
    s_destroy (&self);
}
