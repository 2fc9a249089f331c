/*  sbx_recorder - see recorder.h */
#include "actors/recorder.h"
#include "messages/mp.h"
#include "messages/status.h"

#include <czmq.h>
#include <string.h>

//  What the recorder keeps of a sandbox between its events: the times it
//  appeared and its session started (ns since the epoch; 0: none).
typedef struct {
    int64_t first_ts;
    int64_t session_ts;
} s_sandbox_t;

static void
s_sandbox_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

struct sbx_recorder_t {
    sbx_metrics_t *metrics;
    const sbx_config_t *config;
    zhashx_t *sandboxes;        //  sandbox id -> s_sandbox_t, until its sandbox.shutdown
    msgpack_zone zone;          //  for decoding bodies, cleared after each
};

sbx_recorder_t *
sbx_recorder_new (sbx_metrics_t *metrics, const sbx_config_t *config)
{
    sbx_recorder_t *self = (sbx_recorder_t *) zmalloc (sizeof (sbx_recorder_t));
    self->metrics = metrics;
    self->config = config;
    self->sandboxes = zhashx_new ();
    zhashx_set_destructor (self->sandboxes, s_sandbox_destroy);
    if (!msgpack_zone_init (&self->zone, 4096))
        abort ();
    return self;
}

void
sbx_recorder_destroy (sbx_recorder_t **self_p)
{
    sbx_recorder_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->sandboxes);
    msgpack_zone_destroy (&self->zone);
    free (self);
    *self_p = NULL;
}

//  A str object into `buffer` (cut to its size); "" when it is not a str.
static const char *
s_str (const msgpack_object *o, char *buffer, size_t size)
{
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return "";
    size_t length = o->via.str.size < size - 1 ? o->via.str.size : size - 1;
    memcpy (buffer, o->via.str.ptr, length);
    buffer [length] = 0;
    return buffer;
}

static int64_t
s_int (const msgpack_object *o)
{
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t) INT64_MAX)
        return (int64_t) o->via.u64;
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    return 0;
}

static int
s_status (const msgpack_object *o)
{
    char name [32];
    s_str (o, name, sizeof name);
    for (int i = 0; i < SBX_STATUS_COUNT; i++)
        if (streq (name, sbx_status_names [i]))
            return i;
    return -1;
}

static s_sandbox_t *
s_sandbox (sbx_recorder_t *self, const char *id, int64_t ts)
{
    s_sandbox_t *sandbox = (s_sandbox_t *) zhashx_lookup (self->sandboxes, id);
    if (!sandbox && *id) {
        sandbox = (s_sandbox_t *) zmalloc (sizeof (s_sandbox_t));
        sandbox->first_ts = ts;
        zhashx_insert (self->sandboxes, id, sandbox);
    }
    return sandbox;
}

//  The counter and histogram of each feature hook's event.
static const struct {
    sbx_metric_t count, seconds;
} s_hooks [SBX_EV_COUNT] = {
    [SBX_EV_FEATURE_SETUP]            = {SBX_METRIC_FEATURE_SETUP, SBX_METRIC_FEATURE_SETUP_SECONDS},
    [SBX_EV_FEATURE_TEARDOWN]         = {SBX_METRIC_FEATURE_TEARDOWN, SBX_METRIC_FEATURE_TEARDOWN_SECONDS},
    [SBX_EV_FEATURE_HOUSEKEEP]        = {SBX_METRIC_FEATURE_HOUSEKEEP, SBX_METRIC_FEATURE_HOUSEKEEP_SECONDS},
    [SBX_EV_FEATURE_SETUP_SESSION]    = {SBX_METRIC_FEATURE_SETUP_SESSION,
                                         SBX_METRIC_FEATURE_SETUP_SESSION_SECONDS},
    [SBX_EV_FEATURE_TEARDOWN_SESSION] = {SBX_METRIC_FEATURE_TEARDOWN_SESSION,
                                         SBX_METRIC_FEATURE_TEARDOWN_SESSION_SECONDS},
};

//  The keys of a body the recorder reads, found in one pass over its keys
//  instead of a search per key (the bus records every event, in its own
//  thread): the last of duplicate keys wins, as with sbx_mp_map_get.
typedef struct {
    const msgpack_object *ts, *duration, *error, *sandbox, *old, *feature, *name;
} s_fields_t;

static bool
s_key_is (const msgpack_object *key, const char *name, size_t length)
{
    return key->via.str.size == length && memcmp (key->via.str.ptr, name, length) == 0;
}

static void
s_fields (const msgpack_object *body, s_fields_t *fields)
{
    memset (fields, 0, sizeof *fields);
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object *key = &body->via.map.ptr [i].key;
        const msgpack_object *value = &body->via.map.ptr [i].val;
        if (key->type != MSGPACK_OBJECT_STR)
            continue;
        switch (key->via.str.size) {
            case 3:
                if (s_key_is (key, "old", 3))
                    fields->old = value;
                break;
            case 4:
                if (s_key_is (key, "name", 4))
                    fields->name = value;
                break;
            case 5:
                if (s_key_is (key, "ts_ns", 5))
                    fields->ts = value;
                else
                if (s_key_is (key, "error", 5))
                    fields->error = value;
                break;
            case 7:
                if (s_key_is (key, "sandbox", 7))
                    fields->sandbox = value;
                else
                if (s_key_is (key, "feature", 7))
                    fields->feature = value;
                break;
            case 11:
                if (s_key_is (key, "duration_ns", 11))
                    fields->duration = value;
                break;
        }
    }
}

//  Records what one decoded event says.
static void
s_record (sbx_recorder_t *self, sbx_event_kind_t kind, const msgpack_object *body)
{
    sbx_metrics_t *metrics = self->metrics;
    char id [256], type [128], feature [128];
    s_fields_t fields;
    s_fields (body, &fields);
    int64_t ts = s_int (fields.ts);
    int64_t duration = s_int (fields.duration);
    const msgpack_object *error = fields.error;
    sbx_metric_labels_t labels = {
        .event = (int) kind,
        .error = sbx_mp_absent (error) ? 0
               : sbx_metrics_error (metrics, s_str (sbx_mp_map_get (error, "type"), type, sizeof type))
    };
    sbx_metrics_add (metrics, SBX_METRIC_EVENTS, labels, 1);
    const char *sandbox_id = s_str (fields.sandbox, id, sizeof id);
    s_sandbox_t *sandbox = NULL;
    switch (kind) {
        case SBX_EV_ENVIRONMENT_START:
            if (duration)
                sbx_metrics_observe (metrics, SBX_METRIC_ENVIRONMENT_START_SECONDS, labels, duration);
            break;
        case SBX_EV_ENVIRONMENT_SHUTDOWN:
            if (duration)
                sbx_metrics_observe (metrics, SBX_METRIC_ENVIRONMENT_SHUTDOWN_SECONDS, labels, duration);
            break;
        case SBX_EV_SANDBOX_START:
            sbx_metrics_add (metrics, SBX_METRIC_SANDBOX_START, labels, 1);
            if (duration)
                sbx_metrics_observe (metrics, SBX_METRIC_SANDBOX_START_SECONDS, labels, duration);
            break;
        case SBX_EV_SANDBOX_SHUTDOWN:
            sbx_metrics_add (metrics, SBX_METRIC_SANDBOX_SHUTDOWN, labels, 1);
            if (duration)
                sbx_metrics_observe (metrics, SBX_METRIC_SANDBOX_SHUTDOWN_SECONDS, labels, duration);
            //  Its last event.
            sandbox = (s_sandbox_t *) zhashx_lookup (self->sandboxes, sandbox_id);
            if (sandbox)
                sbx_metrics_observe (metrics, SBX_METRIC_SANDBOX_LIFETIME_SECONDS, labels,
                                     ts - sandbox->first_ts);
            zhashx_delete (self->sandboxes, sandbox_id);
            break;
        case SBX_EV_SANDBOX_STATUS:
            s_sandbox (self, sandbox_id, ts);
            labels.status = s_status (fields.old);
            if (duration)
                sbx_metrics_observe (metrics, SBX_METRIC_SANDBOX_STATUS_SECONDS, labels, duration);
            break;
        case SBX_EV_FEATURE_SETUP:
        case SBX_EV_FEATURE_TEARDOWN:
        case SBX_EV_FEATURE_HOUSEKEEP:
        case SBX_EV_FEATURE_SETUP_SESSION:
        case SBX_EV_FEATURE_TEARDOWN_SESSION:
            labels.feature = sbx_config_feature_index (self->config,
                s_str (fields.feature, feature, sizeof feature));
            sbx_metrics_add (metrics, s_hooks [kind].count, labels, 1);
            if (duration)
                sbx_metrics_observe (metrics, s_hooks [kind].seconds, labels, duration);
            break;
        case SBX_EV_SESSION_START:
            sbx_metrics_add (metrics, SBX_METRIC_SESSION_START, labels, 1);
            if (duration)
                sbx_metrics_observe (metrics, SBX_METRIC_SESSION_START_SECONDS, labels, duration);
            sandbox = s_sandbox (self, sandbox_id, ts);
            if (sandbox && !labels.error)
                sandbox->session_ts = ts;
            break;
        case SBX_EV_SESSION_END:
            sbx_metrics_add (metrics, SBX_METRIC_SESSION_END, labels, 1);
            if (duration)
                sbx_metrics_observe (metrics, SBX_METRIC_SESSION_END_SECONDS, labels, duration);
            sandbox = s_sandbox (self, sandbox_id, ts);
            if (sandbox && sandbox->session_ts) {
                sbx_metrics_observe (metrics, SBX_METRIC_SESSION_LIFETIME_SECONDS, labels,
                                     ts - sandbox->session_ts);
                sandbox->session_ts = 0;
            }
            break;
        case SBX_EV_SESSION_ACTIVITY: {
            const msgpack_object *name = fields.name;
            const msgpack_object *of = fields.feature;
            //  No feature: a service of the sandbox itself.
            labels.feature = sbx_mp_absent (of) ? -1
                           : sbx_config_feature_index (self->config, s_str (of, feature, sizeof feature));
            labels.method = -1;
            if ((labels.feature >= 0 || sbx_mp_absent (of)) && name && name->type == MSGPACK_OBJECT_STR)
                labels.method = sbx_metrics_method (metrics, labels.feature, name->via.str.ptr,
                                                    name->via.str.size);
            sbx_metrics_add (metrics, SBX_METRIC_CALLS, labels, 1);
            if (duration)
                sbx_metrics_observe (metrics, SBX_METRIC_CALL_SECONDS, labels, duration);
            break;
        }
        case SBX_EV_COUNT:
            break;
    }
}

void
sbx_recorder_event (sbx_recorder_t *self, sbx_event_kind_t kind, const uint8_t *body, size_t size)
{
    msgpack_object object;
    size_t offset = 0;
    if (msgpack_unpack ((const char *) body, size, &offset, &self->zone, &object) == MSGPACK_UNPACK_SUCCESS
    &&  object.type == MSGPACK_OBJECT_MAP)
        s_record (self, kind, &object);
    msgpack_zone_clear (&self->zone);
}

void
sbx_recorder_journal (sbx_recorder_t *self, uint64_t events, uint64_t bytes)
{
    sbx_metrics_set (self->metrics, SBX_METRIC_JOURNAL_EVENTS, (sbx_metric_labels_t) {0}, events);
    sbx_metrics_set (self->metrics, SBX_METRIC_JOURNAL_BYTES, (sbx_metric_labels_t) {0}, bytes);
}

//  --- Subscribers ----------------------------------------------------------------------

void
sbx_recorder_subscribers (sbx_recorder_t *self, uint64_t count)
{
    sbx_metrics_set (self->metrics, SBX_METRIC_SUBSCRIBERS, (sbx_metric_labels_t) {0}, count);
}
