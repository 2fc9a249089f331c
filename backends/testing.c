/*  The testing sandbox kind - see testing.h */
#include "backends/testing.h"
#include "backends/failpoint.h"
#include "messages/mp.h"

#include <czmq.h>
#include <string.h>

typedef struct {
    sbx_failpoint_t *start, *shutdown, *ping;
} s_config_t;

typedef struct {
    const s_config_t *config;
    unsigned long shell_calls;
} s_instance_t;

static void
s_config_destroy (void **config_p)
{
    if (!*config_p)
        return;
    s_config_t *config = (s_config_t *) *config_p;
    sbx_failpoint_destroy (&config->start);
    sbx_failpoint_destroy (&config->shutdown);
    sbx_failpoint_destroy (&config->ping);
    free (config);
    *config_p = NULL;
}

static void *
s_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    s_config_t *config = (s_config_t *) zmalloc (sizeof (s_config_t));
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value) {
        char where [256];
        snprintf (where, sizeof where, "%s.%s", path, key);
        sbx_failpoint_t **slot = NULL;
        if (streq (key, "kind"))
            continue;
        else if (streq (key, "simulate_start_error"))
            slot = &config->start;
        else if (streq (key, "simulate_shutdown_error"))
            slot = &config->shutdown;
        else if (streq (key, "simulate_ping_error"))
            slot = &config->ping;
        else {
            *error_p = sbx_error_new ("ConfigError", "%s: unknown option of the testing sandbox "
                "(it takes simulate_start_error, simulate_shutdown_error, simulate_ping_error)", where);
            break;
        }
        *slot = sbx_failpoint_parse (value, where, error_p);
        if (*error_p)
            break;
    }
    if (*error_p) {
        void *p = config;
        s_config_destroy (&p);
        return NULL;
    }
    return config;
}

static void *
s_instance_new (const void *config, const sbx_sandbox_params_t *params)
{
    s_instance_t *self = (s_instance_t *) zmalloc (sizeof (s_instance_t));
    self->config = (const s_config_t *) config;
    return self;
}

static void
s_instance_destroy (void **instance_p)
{
    free (*instance_p);
    *instance_p = NULL;
}

static sbx_error_t *
s_start (void *instance, sbx_ctx_t *ctx)
{
    return sbx_failpoint_hit (((s_instance_t *) instance)->config->start, "start");
}

static sbx_error_t *
s_shutdown (void *instance, sbx_ctx_t *ctx)
{
    return sbx_failpoint_hit (((s_instance_t *) instance)->config->shutdown, "shutdown");
}

static sbx_error_t *
s_ping (void *instance, sbx_ctx_t *ctx)
{
    return sbx_failpoint_hit (((s_instance_t *) instance)->config->ping, "ping");
}

static sbx_error_t *
s_shell (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    s_instance_t *self = (s_instance_t *) instance;
    const msgpack_object *code = sbx_mp_map_get (args, "code");
    const msgpack_object *raise = sbx_mp_map_get (args, "raise_error");
    if (!code || code->type != MSGPACK_OBJECT_STR)
        return sbx_error_new ("ValueError", "shell: 'code' must be a string");
    if (raise && raise->type != MSGPACK_OBJECT_STR && raise->type != MSGPACK_OBJECT_NIL)
        return sbx_error_new ("ValueError", "shell: 'raise_error' must be a string");
    self->shell_calls++;
    int length = (int) code->via.str.size;
    if (raise && raise->type == MSGPACK_OBJECT_STR) {
        char type [128];
        snprintf (type, sizeof type, "%.*s", (int) raise->via.str.size, raise->via.str.ptr);
        return sbx_error_new (type, "shell \"%.*s\" failed", length, code->via.str.ptr);
    }
    char *text = zsys_sprintf ("shell \"%.*s\" succeeded", length, code->via.str.ptr);
    sbx_mp_pack_str (result, text);
    zstr_free (&text);
    return NULL;
}

unsigned long
sbx_testing_sandbox_shell_calls (void *instance)
{
    return ((s_instance_t *) instance)->shell_calls;
}

static const sbx_critical_t s_shell_critical [] = {
    {"RuntimeError", NULL},
    {NULL, NULL}
};

static const sbx_method_t s_methods [] = {
    {"shell", s_shell, s_shell_critical},
    {NULL, NULL, NULL}
};

const sbx_sandbox_kind_t sbx_sandbox_testing = {
    .name = "testing",
    .config_new = s_config_new,
    .config_destroy = s_config_destroy,
    .instance_new = s_instance_new,
    .instance_destroy = s_instance_destroy,
    .start = s_start,
    .shutdown = s_shutdown,
    .ping = s_ping,
    .methods = s_methods,
    .fds = 0
};
