/*  The testing feature kind (SPEC §5): every hook can be made to fail, the
    hooks call the sandbox's `shell` so that nested calls are exercised, and
    `configure` re-binds an instance's options at run time. */
#include "backends/failpoint.h"
#include "backends/testing.h"
#include "features/features.h"
#include "messages/mp.h"

#include <sbx/plugin.h>
#include <czmq.h>
#include <string.h>
#include <time.h>

typedef enum {
    S_SETUP, S_TEARDOWN, S_SETUP_SESSION, S_TEARDOWN_SESSION, S_HOUSEKEEP, S_POINTS
} s_point_t;

static const char *const s_option [S_POINTS] = {
    "simulate_setup_error", "simulate_teardown_error", "simulate_setup_session_error",
    "simulate_teardown_session_error", "simulate_housekeep_error"
};
static const char *const s_what [S_POINTS] = {
    "setup", "teardown", "setup session", "teardown session", "housekeep"
};

typedef struct {
    sbx_failpoint_t *points [S_POINTS];
    long setup_session_delay_ms;
    double housekeep_interval_s;        //  < 0: never
} s_config_t;

typedef struct {
    const s_config_t *config;
    char *name;
    sbx_failpoint_t *own [S_POINTS];    //  set by configure (NULL: never fails)
    bool overridden [S_POINTS];         //  own [i] replaces the config's
    long setup_session_delay_ms;
    double housekeep_interval_s;
} s_instance_t;

static void
s_config_destroy (void **config_p)
{
    if (!*config_p)
        return;
    s_config_t *config = (s_config_t *) *config_p;
    for (int i = 0; i < S_POINTS; i++)
        sbx_failpoint_destroy (&config->points [i]);
    free (config);
    *config_p = NULL;
}

static int
s_point_index (const char *key)
{
    for (int i = 0; i < S_POINTS; i++)
        if (streq (key, s_option [i]))
            return i;
    return -1;
}

static const char *s_options_list =
    "simulate_setup_error, simulate_teardown_error, simulate_setup_session_error, "
    "simulate_teardown_session_error, simulate_housekeep_error, setup_session_delay_ms, "
    "housekeep_interval_s";

//  Sets one option on (points, delay, interval); NULL or an error.
static sbx_error_t *
s_set_option (const char *key, const json_t *value, const char *where, const char *error_type,
              sbx_failpoint_t **points, long *delay, double *interval)
{
    sbx_error_t *error = NULL;
    int index = s_point_index (key);
    if (index >= 0) {
        sbx_failpoint_t *point = sbx_failpoint_parse (value, where, &error);
        if (!error) {
            sbx_failpoint_destroy (&points [index]);
            points [index] = point;
        }
    }
    else
    if (streq (key, "setup_session_delay_ms")) {
        if (!json_is_integer (value) || json_integer_value (value) < 0
        ||  json_integer_value (value) > 3600000)
            error = sbx_error_new (error_type, "%s: must be an integer of milliseconds in [0, 3600000]", where);
        else
            *delay = (long) json_integer_value (value);
    }
    else
    if (streq (key, "housekeep_interval_s")) {
        if (json_is_null (value))
            *interval = -1;
        else
        if (!json_is_number (value) || json_number_value (value) < 0)
            error = sbx_error_new (error_type, "%s: must be a number of seconds >= 0, or null", where);
        else
            *interval = json_number_value (value);
    }
    else
        error = sbx_error_new (error_type, "%s: unknown option of the testing feature (it takes %s)",
                               where, s_options_list);
    if (error && !streq (sbx_error_type (error), error_type)) {
        sbx_error_t *retyped = sbx_error_new (error_type, "%s", sbx_error_message (error));
        sbx_error_destroy (&error);
        error = retyped;
    }
    return error;
}

static void *
s_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    s_config_t *config = (s_config_t *) zmalloc (sizeof (s_config_t));
    config->housekeep_interval_s = -1;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value) {
        if (streq (key, "kind"))
            continue;
        char where [256];
        snprintf (where, sizeof where, "%s.%s", path, key);
        *error_p = s_set_option (key, value, where, "ConfigError", config->points,
                                 &config->setup_session_delay_ms, &config->housekeep_interval_s);
        if (*error_p) {
            void *p = config;
            s_config_destroy (&p);
            return NULL;
        }
    }
    return config;
}

static void *
s_instance_new (const void *config, const char *feature_name)
{
    s_instance_t *self = (s_instance_t *) zmalloc (sizeof (s_instance_t));
    self->config = (const s_config_t *) config;
    self->name = strdup (feature_name);
    self->setup_session_delay_ms = self->config->setup_session_delay_ms;
    self->housekeep_interval_s = self->config->housekeep_interval_s;
    return self;
}

static void
s_instance_destroy (void **instance_p)
{
    s_instance_t *self = (s_instance_t *) *instance_p;
    if (!self)
        return;
    for (int i = 0; i < S_POINTS; i++)
        sbx_failpoint_destroy (&self->own [i]);
    free (self->name);
    free (self);
    *instance_p = NULL;
}

static sbx_failpoint_t *
s_point (s_instance_t *self, s_point_t point)
{
    return self->overridden [point] ? self->own [point] : self->config->points [point];
}

//  The simulated error check, then the sandbox's shell with `"<name>" <what>`
//  (a testing sandbox's; on another kind, which has no shell, only the
//  check, so that its hooks can be made to fail or hang on any sandbox).
static sbx_error_t *
s_hook (s_instance_t *self, sbx_ctx_t *ctx, s_point_t point)
{
    sbx_error_t *error = sbx_failpoint_hit (s_point (self, point), s_what [point]);
    if (error || point == S_HOUSEKEEP || sbx_ctx_sandbox_kind (ctx) != &sbx_sandbox_testing)
        return error;
    char code [256];
    snprintf (code, sizeof code, "\"%s\" %s", self->name, s_what [point]);
    return sbx_ctx_call_str (ctx, NULL, "shell", "code", code, NULL);
}

static sbx_error_t *
s_setup (void *instance, sbx_ctx_t *ctx)
{
    return s_hook ((s_instance_t *) instance, ctx, S_SETUP);
}

static sbx_error_t *
s_teardown (void *instance, sbx_ctx_t *ctx)
{
    return s_hook ((s_instance_t *) instance, ctx, S_TEARDOWN);
}

static sbx_error_t *
s_setup_session (void *instance, sbx_ctx_t *ctx)
{
    s_instance_t *self = (s_instance_t *) instance;
    if (self->setup_session_delay_ms > 0) {
        //  Simulated slow work inside the plugin, not synchronisation.
        struct timespec delay = {
            self->setup_session_delay_ms / 1000, (self->setup_session_delay_ms % 1000) * 1000000
        };
        while (nanosleep (&delay, &delay) != 0)
            ;
    }
    return s_hook (self, ctx, S_SETUP_SESSION);
}

static sbx_error_t *
s_teardown_session (void *instance, sbx_ctx_t *ctx)
{
    return s_hook ((s_instance_t *) instance, ctx, S_TEARDOWN_SESSION);
}

static sbx_error_t *
s_housekeep (void *instance, sbx_ctx_t *ctx)
{
    return s_hook ((s_instance_t *) instance, ctx, S_HOUSEKEEP);
}

static double
s_housekeep_interval (void *instance)
{
    return ((s_instance_t *) instance)->housekeep_interval_s;
}

static sbx_error_t *
s_num_shell_calls (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    if (sbx_ctx_sandbox_kind (ctx) != &sbx_sandbox_testing)
        return sbx_error_new ("ValueError", "num_shell_calls needs a testing sandbox");
    msgpack_pack_uint64 (result, sbx_testing_sandbox_shell_calls (sbx_ctx_sandbox_instance (ctx)));
    return NULL;
}

static sbx_error_t *
s_bad_shell_call (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    msgpack_sbuffer call;
    msgpack_sbuffer_init (&call);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &call, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 2);
    sbx_mp_pack_str (&packer, "code");
    sbx_mp_pack_str (&packer, "bad command");
    sbx_mp_pack_str (&packer, "raise_error");
    sbx_mp_pack_str (&packer, "RuntimeError");
    sbx_error_t *error = sbx_ctx_call (ctx, NULL, "shell", call.data, call.size, NULL);
    msgpack_sbuffer_destroy (&call);
    if (!error)
        msgpack_pack_nil (result);
    return error;
}

static sbx_error_t *
s_show_session_id (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    sbx_mp_pack_str (result, sbx_ctx_session_id (ctx));
    return NULL;
}

static sbx_error_t *
s_configure (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    s_instance_t *self = (s_instance_t *) instance;
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        const msgpack_object_kv *kv = &args->via.map.ptr [i];
        char *key = sbx_mp_strdup (&kv->key);
        if (!key)
            return sbx_error_new ("ValueError", "configure: option names must be strings");
        json_t *value = sbx_mp_to_json (&kv->val);
        sbx_error_t *error = s_set_option (key, value, key, "ValueError", self->own,
                                           &self->setup_session_delay_ms,
                                           &self->housekeep_interval_s);
        json_decref (value);
        if (!error && s_point_index (key) >= 0)
            self->overridden [s_point_index (key)] = true;
        free (key);
        if (error)
            return error;
    }
    msgpack_pack_nil (result);
    return NULL;
}

static const sbx_method_t s_methods [] = {
    {"num_shell_calls", s_num_shell_calls, NULL},
    {"bad_shell_call", s_bad_shell_call, NULL},
    {"show_session_id", s_show_session_id, NULL},
    {"configure", s_configure, NULL},
    {NULL, NULL, NULL}
};

const sbx_feature_kind_t sbx_feature_testing = {
    .name = "testing",
    .config_new = s_config_new,
    .config_destroy = s_config_destroy,
    .instance_new = s_instance_new,
    .instance_destroy = s_instance_destroy,
    .setup = s_setup,
    .teardown = s_teardown,
    .setup_session = s_setup_session,
    .teardown_session = s_teardown_session,
    .housekeep = s_housekeep,
    .housekeep_interval = s_housekeep_interval,
    .methods = s_methods
};
