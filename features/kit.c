/*  What the features on a process sandbox share (features/kit.h).
*/
#include "features/kit.h"
#include "messages/mp.h"
#include "runtime/core/alloc.h"

#include <czmq.h>
#include <string.h>

#define S_ERROR "ConfigError"
#define S_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

sbx_error_t *
sbx_kit_need_process (sbx_ctx_t *ctx, const char *feature)
{
    if (!sbx_process_of (ctx))
        return sbx_error_new ("ValueError", "the %s feature needs a 'process' sandbox", feature);
    return NULL;
}

sbx_process_t *
sbx_kit_process (sbx_ctx_t *ctx, const char *feature, sbx_error_t **error_p)
{
    *error_p = sbx_kit_need_process (ctx, feature);
    return sbx_process_of (ctx);
}

sbx_error_t *
sbx_kit_teardown_session (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *process = sbx_process_of (ctx);
    return process ? sbx_process_reset (process) : NULL;
}

sbx_error_t *
sbx_kit_unknown_arg (const char *method, const msgpack_object *key, const char *takes)
{
    char *name = sbx_mp_strdup (key);
    sbx_error_t *error = sbx_error_new ("ValueError", "%s: unknown argument '%s' (it takes %s)", method,
                                        name ? name : "?", takes);
    free (name);
    return error;
}

void
sbx_kit_options_init (sbx_kit_options_t *self)
{
    *self = (sbx_kit_options_t) {
        .max_output = 1024 * 1024, .timeout_ms = 60000, .max_timeout_ms = 3600000
    };
}

sbx_error_t *
sbx_kit_integer_option (const json_t *value, const char *path, const char *key, int64_t low, int64_t high,
                        int64_t *out)
{
    if (!json_is_integer (value) || json_integer_value (value) < low || json_integer_value (value) > high)
        return sbx_error_new (S_ERROR, "%s.%s: must be an integer in [%lld, %lld]", path, key,
                              (long long) low, (long long) high);
    *out = json_integer_value (value);
    return NULL;
}

static sbx_error_t *
s_env_option (sbx_kit_options_t *self, const json_t *value, const char *path)
{
    if (!json_is_object (value))
        return sbx_error_new (S_ERROR, "%s.env: must be an object {NAME: value or null}", path);
    self->env.items = (char **) zmalloc ((json_object_size (value) + 1) * sizeof (char *));
    const char *name;
    json_t *item;
    json_object_foreach ((json_t *) value, name, item) {
        if (!sbx_kit_env_name_ok (name, strlen (name)) || (!json_is_string (item) && !json_is_null (item)))
            return sbx_error_new (S_ERROR, "%s.env.%s: must be a name without '=' with a string value, "
                                  "or null to remove it", path, name);
        self->env.items [self->env.count++] = json_is_null (item)
            ? strdup (name) : zsys_sprintf ("%s=%s", name, json_string_value (item));
    }
    return NULL;
}

bool
sbx_kit_option (sbx_kit_options_t *self, const char *path, const char *key, const json_t *value,
                sbx_error_t **error_p)
{
    int64_t number = 0;
    if (streq (key, "max_output_bytes")) {
        *error_p = sbx_kit_integer_option (value, path, key, 0, 1024LL * 1024 * 1024, &number);
        self->max_output = (size_t) number;
    }
    else
    if (streq (key, "timeout_ms"))
        *error_p = sbx_kit_integer_option (value, path, key, 1, 86400000, &self->timeout_ms);
    else
    if (streq (key, "max_timeout_ms"))
        *error_p = sbx_kit_integer_option (value, path, key, 1, 86400000, &self->max_timeout_ms);
    else
    if (streq (key, "env"))
        *error_p = s_env_option (self, value, path);
    else
        return false;
    return true;
}

sbx_error_t *
sbx_kit_options_check (const sbx_kit_options_t *self, const char *path)
{
    if (self->timeout_ms > self->max_timeout_ms)
        return sbx_error_new (S_ERROR, "%s.timeout_ms: must be <= max_timeout_ms (%lld)", path,
                              (long long) self->max_timeout_ms);
    return NULL;
}

void
sbx_kit_options_free (sbx_kit_options_t *self)
{
    sbx_kit_env_free (&self->env);
}

sbx_error_t *
sbx_kit_timeout_arg (const sbx_kit_options_t *options, const char *method, const msgpack_object *value,
                     int64_t *timeout_ms)
{
    if (!value || value->type == MSGPACK_OBJECT_NIL)
        return NULL;
    if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER || value->via.u64 == 0
    ||  value->via.u64 > (uint64_t) options->max_timeout_ms)
        return sbx_error_new ("ValueError", "%s: 'timeout_ms' must be an integer in [1, %lld]", method,
                              (long long) options->max_timeout_ms);
    *timeout_ms = (int64_t) value->via.u64;
    return NULL;
}

void
sbx_kit_env_start (sbx_kit_env_t *env, const sbx_kit_options_t *options, const char *home)
{
    *env = (sbx_kit_env_t) {NULL, 0};
    sbx_kit_env_put (env, S_PATH);
    char *entry = zsys_sprintf ("HOME=%s", home);
    sbx_kit_env_put (env, entry);
    zstr_free (&entry);
    sbx_kit_env_put (env, "LANG=C.UTF-8");
    for (size_t i = 0; i < options->env.count; i++)
        sbx_kit_env_put (env, options->env.items [i]);
}

void
sbx_kit_env_put (sbx_kit_env_t *env, const char *entry)
{
    size_t name_length = strcspn (entry, "=");
    for (size_t i = 0; i < env->count; i++) {
        if (strncmp (env->items [i], entry, name_length) == 0 && env->items [i][name_length] == '=') {
            free (env->items [i]);
            env->items [i] = env->items [--env->count];
            break;
        }
    }
    env->items = (char **) sbx_realloc (env->items, (env->count + 2) * sizeof (char *));
    if (entry [name_length] == '=')
        env->items [env->count++] = strdup (entry);
    env->items [env->count] = NULL;
}

bool
sbx_kit_env_name_ok (const char *name, size_t length)
{
    if (length == 0)
        return false;
    for (size_t i = 0; i < length; i++)
        if (name [i] == '=' || name [i] == 0)
            return false;
    return true;
}

void
sbx_kit_env_free (sbx_kit_env_t *env)
{
    for (size_t i = 0; i < env->count; i++)
        free (env->items [i]);
    free (env->items);
    *env = (sbx_kit_env_t) {NULL, 0};
}

void
sbx_kit_pack_output (msgpack_packer *pk, const char *data, size_t size, bool truncated)
{
    const uint8_t *bytes = (const uint8_t *) data;
    for (size_t cut = 0; cut <= (truncated ? 3 : 0) && cut <= size; cut++) {
        if (sbx_mp_utf8_valid (bytes, size - cut)) {
            sbx_mp_pack_strn (pk, data, size - cut);
            return;
        }
    }
    msgpack_pack_bin (pk, size);
    msgpack_pack_bin_body (pk, data, size);
}

void
sbx_kit_pack_bool (msgpack_packer *pk, const char *key, bool value)
{
    sbx_mp_pack_str (pk, key);
    if (value)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
}

void
sbx_kit_stream_output (void *arg, int stream, const char *data, size_t size)
{
    sbx_ctx_stream ((sbx_ctx_t *) arg, stream == 0 ? "stdout" : "stderr", data, size);
}

static int
s_input_next (void *arg, const void **data_p, size_t *size_p, bool *eof_p)
{
    return sbx_ctx_input_next ((sbx_ctx_t *) arg, data_p, size_p, eof_p);
}

static void
s_input_done (void *arg, bool closed)
{
    sbx_ctx_input_done ((sbx_ctx_t *) arg, closed);
}

void
sbx_kit_run_input (sbx_process_run_t *run, sbx_ctx_t *ctx)
{
    int fd = sbx_ctx_input_fd (ctx);
    if (fd < 0)
        return;
    run->input_next = s_input_next;
    run->input_done = s_input_done;
    run->input_fd = fd;
    run->input_arg = ctx;
}
