/*  sbx_reply - see messages/reply.h */
#include "messages/reply.h"
#include "messages/mp.h"

#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Encoders

//  Starts a reply map of `keys` result keys, plus `id` and `ok`.
static void
s_begin (msgpack_packer *pk, msgpack_sbuffer *out, size_t keys,
         bool has_id, uint64_t id, bool ok)
{
    msgpack_packer_init (pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (pk, keys + (has_id ? 1 : 0) + 1);
    if (has_id) {
        sbx_mp_pack_str (pk, "id");
        msgpack_pack_uint64 (pk, id);
    }
    sbx_mp_pack_str (pk, "ok");
    if (ok)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
}

static void
s_pack_str_array (msgpack_packer *pk, const char *const *strings)
{
    size_t count = 0;
    while (strings && strings [count])
        count++;
    msgpack_pack_array (pk, count);
    for (size_t i = 0; i < count; i++)
        sbx_mp_pack_str (pk, strings [i]);
}

static void
s_pack_uint (msgpack_packer *pk, const char *key, uint64_t value)
{
    sbx_mp_pack_str (pk, key);
    msgpack_pack_uint64 (pk, value);
}

static void
s_pack_kv (msgpack_packer *pk, const char *key, const char *value)
{
    sbx_mp_pack_str (pk, key);
    sbx_mp_pack_str (pk, value);
}

void
sbx_reply_error (msgpack_sbuffer *out, bool has_id, uint64_t id,
                 const sbx_error_t *error)
{
    msgpack_packer pk;
    s_begin (&pk, out, 1, has_id, id, false);
    sbx_mp_pack_str (&pk, "error");
    sbx_mp_pack_error (&pk, error);
}

void
sbx_reply_ok (msgpack_sbuffer *out, bool has_id, uint64_t id)
{
    msgpack_packer pk;
    s_begin (&pk, out, 0, has_id, id, true);
}

void
sbx_reply_hello (msgpack_sbuffer *out, bool has_id, uint64_t id,
                 const char *version, const char *environment,
                 const char *status, const char *events_endpoint,
                 const sbx_feature_info_t *features, size_t feature_count,
                 const char *const *sandbox_methods)
{
    msgpack_packer pk;
    s_begin (&pk, out, 8, has_id, id, true);
    s_pack_uint (&pk, "protocol", 1);
    s_pack_kv (&pk, "version", version);
    s_pack_kv (&pk, "environment", environment);
    s_pack_kv (&pk, "status", status);
    s_pack_kv (&pk, "events_endpoint", events_endpoint);
    sbx_mp_pack_str (&pk, "features");
    msgpack_pack_map (&pk, features ? feature_count : 0);
    for (size_t i = 0; features && i < feature_count; i++) {
        sbx_mp_pack_str (&pk, features [i].name);
        msgpack_pack_map (&pk, 2);
        s_pack_kv (&pk, "kind", features [i].kind);
        sbx_mp_pack_str (&pk, "methods");
        s_pack_str_array (&pk, features [i].methods);
    }
    sbx_mp_pack_str (&pk, "sandbox_methods");
    s_pack_str_array (&pk, sandbox_methods);
    //  What this daemon does beyond PROTOCOL.md version 1.
    static const char *const capabilities [] = {"stream", "input", NULL};
    sbx_mp_pack_str (&pk, "capabilities");
    s_pack_str_array (&pk, capabilities);
}

void
sbx_reply_progress (msgpack_sbuffer *out, bool has_id, uint64_t id,
                    const char *stream, const void *data, size_t size)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, has_id ? 3 : 2);
    if (has_id)
        s_pack_uint (&pk, "id", id);
    s_pack_kv (&pk, "stream", stream);
    sbx_mp_pack_str (&pk, "data");
    msgpack_pack_bin (&pk, size);
    msgpack_pack_bin_body (&pk, data, size);
}

void
sbx_reply_input (msgpack_sbuffer *out, bool has_id, uint64_t id, bool closed)
{
    msgpack_packer pk;
    s_begin (&pk, out, 1, has_id, id, true);
    sbx_mp_pack_str (&pk, "closed");
    if (closed)
        msgpack_pack_true (&pk);
    else
        msgpack_pack_false (&pk);
}

void
sbx_reply_acquire (msgpack_sbuffer *out, bool has_id, uint64_t id,
                   const char *sandbox, const char *token)
{
    msgpack_packer pk;
    s_begin (&pk, out, 2, has_id, id, true);
    s_pack_kv (&pk, "sandbox", sandbox);
    s_pack_kv (&pk, "token", token);
}

void
sbx_reply_session_start (msgpack_sbuffer *out, bool has_id, uint64_t id,
                         const char *session_id)
{
    msgpack_packer pk;
    s_begin (&pk, out, 1, has_id, id, true);
    s_pack_kv (&pk, "session_id", session_id);
}

void
sbx_reply_session_open (msgpack_sbuffer *out, bool has_id, uint64_t id,
                        const char *sandbox, const char *token,
                        const char *session_id)
{
    msgpack_packer pk;
    s_begin (&pk, out, 3, has_id, id, true);
    s_pack_kv (&pk, "sandbox", sandbox);
    s_pack_kv (&pk, "token", token);
    s_pack_kv (&pk, "session_id", session_id);
}

void
sbx_reply_call (msgpack_sbuffer *out, bool has_id, uint64_t id,
                const void *result, size_t result_size,
                const char *sandbox, const char *session_id)
{
    msgpack_packer pk;
    s_begin (&pk, out, 1 + (sandbox ? 1 : 0) + (session_id ? 1 : 0),
             has_id, id, true);
    sbx_mp_pack_str (&pk, "result");
    //  The result is already msgpack (a feature wrote it): copy, don't
    //  re-encode.
    if (result && result_size > 0)
        msgpack_sbuffer_write (out, (const char *) result, result_size);
    else
        msgpack_pack_nil (&pk);
    if (sandbox)
        s_pack_kv (&pk, "sandbox", sandbox);
    if (session_id)
        s_pack_kv (&pk, "session_id", session_id);
}

void
sbx_reply_heartbeat (msgpack_sbuffer *out, bool has_id, uint64_t id,
                     uint64_t lease_ms)
{
    msgpack_packer pk;
    s_begin (&pk, out, 1, has_id, id, true);
    s_pack_uint (&pk, "lease_ms", lease_ms);
}

void
sbx_reply_status (msgpack_sbuffer *out, bool has_id, uint64_t id,
                  const char *environment, const char *env_status,
                  double uptime_s, const char *isolation,
                  const sbx_sandbox_info_t *sandboxes, size_t count)
{
    msgpack_packer pk;
    s_begin (&pk, out, 2, has_id, id, true);
    sbx_mp_pack_str (&pk, "environment");
    msgpack_pack_map (&pk, 4);
    s_pack_kv (&pk, "id", environment);
    s_pack_kv (&pk, "status", env_status);
    sbx_mp_pack_str (&pk, "uptime_s");
    msgpack_pack_double (&pk, uptime_s);
    sbx_mp_pack_str (&pk, "isolation");
    if (isolation)
        sbx_mp_pack_str (&pk, isolation);
    else
        msgpack_pack_nil (&pk);

    sbx_mp_pack_str (&pk, "sandboxes");
    msgpack_pack_array (&pk, sandboxes ? count : 0);
    for (size_t i = 0; sandboxes && i < count; i++) {
        const sbx_sandbox_info_t *info = &sandboxes [i];
        msgpack_pack_map (&pk, 3 + (info->session_id ? 1 : 0));
        s_pack_kv (&pk, "id", info->id);
        s_pack_kv (&pk, "status", info->status);
        if (info->session_id)
            s_pack_kv (&pk, "session_id", info->session_id);
        sbx_mp_pack_str (&pk, "state_errors");
        size_t errors = info->state_errors ? info->state_error_count : 0;
        msgpack_pack_array (&pk, errors);
        for (size_t e = 0; e < errors; e++)
            sbx_mp_pack_error (&pk, info->state_errors [e]);
    }
}

void
sbx_reply_stats (msgpack_sbuffer *out, bool has_id, uint64_t id,
                 const sbx_stats_t *stats)
{
    msgpack_packer pk;
    bool metrics = stats->histogram_count || stats->gauge_count;
    s_begin (&pk, out, metrics ? 4 : 3, has_id, id, true);
    sbx_mp_pack_str (&pk, "sandbox");
    msgpack_pack_map (&pk, SBX_STATUS_COUNT);
    for (size_t i = 0; i < SBX_STATUS_COUNT; i++)
        s_pack_uint (&pk, sbx_status_names [i], stats->sandbox [i]);

    sbx_mp_pack_str (&pk, "pool");
    msgpack_pack_map (&pk, 3);
    s_pack_uint (&pk, "min", stats->pool_min);
    s_pack_uint (&pk, "max", stats->pool_max);
    s_pack_uint (&pk, "size", stats->pool_size);

    const struct {
        const char *key;
        uint64_t value;
    } counters [] = {
        { "sessions_started",    stats->sessions_started },
        { "sessions_ended",      stats->sessions_ended },
        { "calls",               stats->calls },
        { "calls_failed",        stats->calls_failed },
        { "sandboxes_started",   stats->sandboxes_started },
        { "sandboxes_replaced",  stats->sandboxes_replaced },
        { "acquires_waited",     stats->acquires_waited },
        { "acquires_overloaded", stats->acquires_overloaded },
        { "leases_expired",      stats->leases_expired },
        { "bad_requests",        stats->bad_requests },
        { "acquires_refused",    stats->acquires_refused },
        { "calls_refused",       stats->calls_refused },
        { "replies_dropped",     stats->replies_dropped },
        { "peers_disconnected",  stats->peers_disconnected },
        { "peers_refused",       stats->peers_refused },
    };
    size_t n = sizeof counters / sizeof counters [0];
    sbx_mp_pack_str (&pk, "counters");
    msgpack_pack_map (&pk, n);
    for (size_t i = 0; i < n; i++)
        s_pack_uint (&pk, counters [i].key, counters [i].value);
    if (!metrics)
        return;
    sbx_mp_pack_str (&pk, "metrics");
    msgpack_pack_map (&pk, stats->metrics_endpoint ? 3 : 2);
    if (stats->metrics_endpoint) {
        sbx_mp_pack_str (&pk, "endpoint");
        sbx_mp_pack_str (&pk, stats->metrics_endpoint);
    }
    sbx_mp_pack_str (&pk, "histograms");
    msgpack_pack_map (&pk, stats->histogram_count);
    for (size_t i = 0; i < stats->histogram_count; i++) {
        const sbx_stats_histogram_t *h = &stats->histograms [i];
        sbx_mp_pack_str (&pk, h->name);
        msgpack_pack_map (&pk, 5);
        s_pack_uint (&pk, "count", h->count);
        const struct {
            const char *key;
            double value;
        } figures [] = {
            { "sum_s", h->sum_s }, { "p50_s", h->p50_s }, { "p90_s", h->p90_s }, { "p99_s", h->p99_s }
        };
        for (size_t f = 0; f < sizeof figures / sizeof figures [0]; f++) {
            sbx_mp_pack_str (&pk, figures [f].key);
            msgpack_pack_double (&pk, figures [f].value);
        }
    }
    sbx_mp_pack_str (&pk, "gauges");
    msgpack_pack_map (&pk, stats->gauge_count);
    for (size_t i = 0; i < stats->gauge_count; i++)
        s_pack_uint (&pk, stats->gauges [i].name, stats->gauges [i].value);
}

void
sbx_reply_events (msgpack_sbuffer *out, bool has_id, uint64_t id,
                  const void *events, size_t size, size_t count,
                  uint64_t next, bool truncated, bool more)
{
    msgpack_packer pk;
    s_begin (&pk, out, 4, has_id, id, true);
    sbx_mp_pack_str (&pk, "events");
    //  The journal keeps encoded bodies; an array is just its header
    //  followed by its elements, so they go in as they are.
    msgpack_pack_array (&pk, events ? count : 0);
    if (events && size > 0)
        msgpack_sbuffer_write (out, (const char *) events, size);
    s_pack_uint (&pk, "next", next);
    sbx_mp_pack_str (&pk, "truncated");
    if (truncated)
        msgpack_pack_true (&pk);
    else
        msgpack_pack_false (&pk);
    sbx_mp_pack_str (&pk, "more");
    if (more)
        msgpack_pack_true (&pk);
    else
        msgpack_pack_false (&pk);
}

//  --------------------------------------------------------------------------
//  Decoder

struct sbx_reply_t {
    char *data;                 //  our copy: unpacked objects point into it
    msgpack_unpacked unpacked;  //  the reply map and its zone
    bool has_id;
    uint64_t id;
    bool ok;
    sbx_error_t *error;
    char **strings;             //  per top-level entry: its str value as a
                                //  C string, or NULL
};

static sbx_error_t *
s_decode (sbx_reply_t *self)
{
    const msgpack_object *root = &self->unpacked.data;
    if (root->type != MSGPACK_OBJECT_MAP)
        return sbx_error_new (SBX_BAD_REQUEST, "reply body must be a map");
    const msgpack_object *o = sbx_mp_map_get (root, "id");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return sbx_error_new (SBX_BAD_REQUEST,
                                  "key 'id' must be a non-negative integer");
        self->has_id = true;
        self->id = o->via.u64;
    }
    o = sbx_mp_map_get (root, "ok");
    if (!o)
        return sbx_error_new (SBX_BAD_REQUEST, "missing key 'ok'");
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return sbx_error_new (SBX_BAD_REQUEST, "key 'ok' must be a boolean");
    self->ok = o->via.boolean;
    if (!self->ok) {
        const char *problem = "missing key 'error'";
        o = sbx_mp_map_get (root, "error");
        self->error = o ? sbx_mp_unpack_error (o, &problem) : NULL;
        if (!self->error)
            return sbx_error_new (SBX_BAD_REQUEST, "failed reply without a valid"
                                  " error: %s", problem);
    }
    uint32_t size = root->via.map.size;
    if (size > 0) {
        self->strings = (char **) calloc (size, sizeof (char *));
        if (!self->strings)
            abort ();
    }
    for (uint32_t i = 0; i < size; i++)
        self->strings [i] = sbx_mp_strdup (&root->via.map.ptr [i].val);
    return NULL;
}

sbx_reply_t *
sbx_reply_decode (const void *data, size_t size, sbx_error_t **error_p)
{
    sbx_error_t *error = sbx_mp_check_body (data, size);
    sbx_reply_t *self = NULL;
    if (!error) {
        self = (sbx_reply_t *) calloc (1, sizeof (sbx_reply_t));
        if (!self)
            abort ();
        msgpack_unpacked_init (&self->unpacked);
        //  The check refused size 0, so this is a real allocation.
        self->data = (char *) malloc (size);
        if (!self->data)
            abort ();
        memcpy (self->data, data, size);
        size_t offset = 0;
        if (msgpack_unpack_next (&self->unpacked, self->data, size, &offset)
            == MSGPACK_UNPACK_SUCCESS)
            error = s_decode (self);
        else
            error = sbx_error_new (SBX_BAD_REQUEST, "reply body is not msgpack");
    }
    if (error) {
        sbx_reply_destroy (&self);
        sbx_mp_give_error (error, error_p);
    }
    return self;
}

void
sbx_reply_destroy (sbx_reply_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_reply_t *self = *self_p;
    if (self->strings) {
        for (uint32_t i = 0; i < self->unpacked.data.via.map.size; i++)
            free (self->strings [i]);
        free (self->strings);
    }
    sbx_error_destroy (&self->error);
    msgpack_unpacked_destroy (&self->unpacked);
    free (self->data);
    free (self);
    *self_p = NULL;
}

bool
sbx_reply_has_id (const sbx_reply_t *self)
{
    return self && self->has_id;
}

uint64_t
sbx_reply_id (const sbx_reply_t *self)
{
    return self ? self->id : 0;
}

bool
sbx_reply_is_ok (const sbx_reply_t *self)
{
    return self && self->ok;
}

const sbx_error_t *
sbx_reply_get_error (const sbx_reply_t *self)
{
    return self ? self->error : NULL;
}

const msgpack_object *
sbx_reply_get (const sbx_reply_t *self, const char *key)
{
    return self ? sbx_mp_map_get (&self->unpacked.data, key) : NULL;
}

const char *
sbx_reply_get_str (const sbx_reply_t *self, const char *key)
{
    if (!self || !self->strings)
        return NULL;
    const msgpack_object *root = &self->unpacked.data;
    //  The last of duplicate keys, like sbx_mp_map_get.
    for (uint32_t i = root->via.map.size; i > 0; i--)
        if (sbx_mp_str_eq (&root->via.map.ptr [i - 1].key, key))
            return self->strings [i - 1];
    return NULL;
}

const msgpack_object *
sbx_reply_map (const sbx_reply_t *self)
{
    return self ? &self->unpacked.data : NULL;
}
