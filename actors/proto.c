/*  Inter-actor messages - see proto.h */
#include "actors/proto.h"
#include "messages/reply.h"

#include <string.h>
#include <time.h>

sbx_evbatch_t *
sbx_evbatch_new (void)
{
    sbx_evbatch_t *self = (sbx_evbatch_t *) zmalloc (sizeof (sbx_evbatch_t));
    msgpack_sbuffer_init (&self->buffer);
    return self;
}

void
sbx_evbatch_destroy (sbx_evbatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    msgpack_sbuffer_destroy (&(*self_p)->buffer);
    free (*self_p);
    *self_p = NULL;
}

static int64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
sbx_evbatch_add (sbx_evbatch_t *self, const sbx_event_t *event)
{
    sbx_event_t stamped = *event;
    if (!stamped.ts_ns)
        stamped.ts_ns = s_now_ns ();
    uint8_t header [5] = {(uint8_t) event->kind, 0, 0, 0, 0};
    size_t at = self->buffer.size;
    msgpack_sbuffer_write (&self->buffer, (const char *) header, sizeof header);
    sbx_event_encode (&stamped, &self->buffer);
    uint32_t size = (uint32_t) (self->buffer.size - at - sizeof header);
    memcpy (self->buffer.data + at + 1, &size, 4);
    self->count++;
}

bool
sbx_evbatch_next (sbx_evbatch_t *self, size_t *offset_p,
                  sbx_event_kind_t *kind_p, uint8_t **body_p, size_t *size_p)
{
    size_t at = *offset_p;
    if (at + 5 > self->buffer.size)
        return false;
    uint32_t size;
    memcpy (&size, self->buffer.data + at + 1, 4);
    *kind_p = (sbx_event_kind_t) (uint8_t) self->buffer.data [at];
    *body_p = (uint8_t *) self->buffer.data + at + 5;
    *size_p = size;
    *offset_p = at + 5 + size;
    return true;
}

static const char *const s_job_kind_names [] = {
    "start", "notice", "local", "progress", "acquire", "session_start", "session_open", "call",
    "ephemeral", "session_end", "lease_expired", "shutdown", "replay",
    "input"
};
_Static_assert (sizeof s_job_kind_names / sizeof s_job_kind_names [0] == SBX_JOB_KIND_COUNT,
                "one name per job kind");

const char *
sbx_job_kind_name (sbx_job_kind_t kind)
{
    return (unsigned) kind < SBX_JOB_KIND_COUNT ? s_job_kind_names [kind] : "?";
}

sbx_job_t *
sbx_job_new (sbx_job_kind_t kind)
{
    sbx_job_t *self = (sbx_job_t *) zmalloc (sizeof (sbx_job_t));
    self->kind = kind;
    msgpack_sbuffer_init (&self->result);
    return self;
}

void
sbx_job_destroy (sbx_job_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_job_t *self = *self_p;
    zmsg_destroy (&self->envelope);
    sbx_request_reset (&self->request);
    free (self->session_id);
    sbx_error_destroy (&self->error);
    msgpack_sbuffer_destroy (&self->result);
    free (self->current_session);
    if (self->new_state_errors) {
        sbx_error_t *error = (sbx_error_t *) zlistx_first (self->new_state_errors);
        while (error) {
            sbx_error_destroy (&error);
            error = (sbx_error_t *) zlistx_next (self->new_state_errors);
        }
        zlistx_destroy (&self->new_state_errors);
    }
    sbx_error_destroy (&self->shutdown_error);
    sbx_evbatch_destroy (&self->events);
    free (self);
    *self_p = NULL;
}

sbx_spawn_t *
sbx_spawn_new (const sbx_config_t *config, unsigned slot, unsigned generation,
               bool reusable, const char *backend_endpoint, int shutdown_fd)
{
    sbx_spawn_t *self = (sbx_spawn_t *) zmalloc (sizeof (sbx_spawn_t));
    self->config = config;
    self->slot = slot;
    self->generation = generation;
    self->reusable = reusable;
    self->sandbox_id = zsys_sprintf ("%s/%u:%u", config->env_id, slot, generation);
    self->backend_endpoint = strdup (backend_endpoint);
    self->shutdown_fd = shutdown_fd;
    return self;
}

void
sbx_spawn_destroy (sbx_spawn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zstr_free (&(*self_p)->sandbox_id);
    free ((*self_p)->backend_endpoint);
    free (*self_p);
    *self_p = NULL;
}

int
sbx_send_ptr (void *sock, void *ptr)
{
    return zmq_send (zsock_resolve (sock), &ptr, sizeof ptr, 0) == sizeof ptr ? 0 : -1;
}

void *
sbx_recv_ptr (void *sock)
{
    void *ptr = NULL;
    int rc = zmq_recv (zsock_resolve (sock), &ptr, sizeof ptr, 0);
    return rc == sizeof ptr ? ptr : NULL;
}
