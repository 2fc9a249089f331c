/*  sbx_config - see config.h */
#include "runtime/core/config.h"
#include "runtime/core/endpoint.h"

#include <czmq.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#define S_ERROR "ConfigError"

//  The embedded default (DESIGN.md "Configuration").
static const char *s_default_json =
    "{\"environment\": {\"id\": \"default\", \"pool\": {\"min\": 2, \"max\": 8}},"
    " \"sandbox\": {\"kind\": \"process\", \"isolation\": \"auto\"},"
    " \"features\": {\"shell\": {\"kind\": \"shell\"}, \"fs\": {\"kind\": \"fs\"}}}";

static char *
s_strdup (const char *s)
{
    return s ? strdup (s) : NULL;
}

void
sbx_config_set_string (char **field, const char *value)
{
    free (*field);
    *field = s_strdup (value);
}

//  A kind's own options: its config_new, or - when it has none - nothing
//  but `kind` allowed.
static void *
s_kind_config (void *(*config_new) (const json_t *, const char *, sbx_error_t **),
               const json_t *options, const char *path, sbx_error_t **error_p)
{
    if (config_new)
        return config_new (options, path, error_p);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value)
        if (!streq (key, "kind")) {
            *error_p = sbx_error_new (S_ERROR, "%s.%s: unknown key (this kind takes no options)", path, key);
            break;
        }
    return NULL;
}

static void
s_kind_config_destroy (void (*config_destroy) (void **), void **config_p)
{
    if (config_destroy && *config_p)
        config_destroy (config_p);
}

void
sbx_config_destroy (sbx_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_config_t *self = *self_p;
    for (size_t i = 0; i < self->feature_count; i++) {
        if (self->features [i].kind)
            s_kind_config_destroy (self->features [i].kind->config_destroy, &self->features [i].kind_config);
        free (self->features [i].name);
    }
    free (self->features);
    if (self->sandbox_kind)
        s_kind_config_destroy (self->sandbox_kind->config_destroy, &self->sandbox_config);
    free (self->env_id);
    free (self->root_dir);
    free (self->requests_endpoint);
    free (self->events_endpoint);
    free (self->metrics_endpoint);
    free (self->admin_endpoint);
    free (self->advertise_host);
    free (self->server_cert);
    free (self->clients_dir);
    free (self->admins_dir);
    free (self->event_log);
    free (self);
    *self_p = NULL;
}

//  Refuses keys of `object` that are not in `allowed` (NULL-terminated).
static sbx_error_t *
s_check_keys (const json_t *object, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) object, key, value) {
        bool known = false;
        for (size_t i = 0; allowed [i] && !known; i++)
            known = streq (key, allowed [i]);
        if (!known) {
            char list [512] = "";
            for (size_t i = 0; allowed [i]; i++) {
                size_t used = strlen (list);
                snprintf (list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed [i]);
            }
            return sbx_error_new (S_ERROR, "%s%s%s: unknown key (allowed: %s)",
                                  path, *path ? "." : "", key, list);
        }
    }
    return NULL;
}

static const json_t *
s_object (const json_t *parent, const char *key, const char *path, sbx_error_t **error_p)
{
    const json_t *value = json_object_get (parent, key);
    if (value && !json_is_object (value))
        *error_p = sbx_error_new (S_ERROR, "%s%s%s: must be an object", path, *path ? "." : "", key);
    return value;
}

//  A number of seconds; `nullable` allows null (stored as -1).
static sbx_error_t *
s_seconds (const json_t *parent, const char *key, const char *path, bool nullable, double *out)
{
    const json_t *value = json_object_get (parent, key);
    if (!value)
        return NULL;
    if (json_is_null (value) && nullable) {
        *out = -1;
        return NULL;
    }
    if (!json_is_number (value))
        return sbx_error_new (S_ERROR, "%s.%s: must be a number of seconds%s", path, key,
                              nullable ? " or null" : "");
    double seconds = json_number_value (value);
    if (!isfinite (seconds) || seconds < 0 || seconds > 31536000)
        return sbx_error_new (S_ERROR, "%s.%s: %g is out of range [0, 31536000]", path, key, seconds);
    *out = seconds;
    return NULL;
}

static sbx_error_t *
s_uint (const json_t *parent, const char *key, const char *path, uint64_t low, uint64_t high,
        uint64_t *out)
{
    const json_t *value = json_object_get (parent, key);
    if (!value)
        return NULL;
    if (!json_is_integer (value))
        return sbx_error_new (S_ERROR, "%s.%s: must be an integer", path, key);
    json_int_t number = json_integer_value (value);
    if (number < 0 || (uint64_t) number < low || (uint64_t) number > high)
        return sbx_error_new (S_ERROR, "%s.%s: %lld is out of range [%llu, %llu]", path, key,
                              (long long) number, (unsigned long long) low, (unsigned long long) high);
    *out = (uint64_t) number;
    return NULL;
}

static sbx_error_t *
s_string (const json_t *parent, const char *key, const char *path, bool nullable, char **out)
{
    const json_t *value = json_object_get (parent, key);
    if (!value)
        return NULL;
    if (json_is_null (value) && nullable) {
        sbx_config_set_string (out, NULL);
        return NULL;
    }
    if (!json_is_string (value) || json_string_length (value) == 0)
        return sbx_error_new (S_ERROR, "%s.%s: must be a non-empty string%s", path, key,
                              nullable ? " or null" : "");
    sbx_config_set_string (out, json_string_value (value));
    return NULL;
}

static bool
s_valid_name (const char *name, size_t max)
{
    size_t length = strlen (name);
    if (length == 0 || length > max)
        return false;
    for (const char *c = name; *c; c++)
        if (*c == '/' || *c == ':' || (unsigned char) *c < 0x20)
            return false;
    return true;
}

static sbx_error_t *
s_environment (sbx_config_t *self, const json_t *env)
{
    static const char *const keys [] = {
        "id", "pool", "proactive_session_setup", "session_lease_s", "outage_grace_period_s",
        "outage_retry_interval_s", "keepalive_interval_s", "stats_report_interval_s",
        "random_seed", "root_dir", "shutdown_timeout_s", NULL
    };
    sbx_error_t *error = s_check_keys (env, "environment", keys);
    if (!error)
        error = s_string (env, "id", "environment", false, &self->env_id);
    if (!error && !s_valid_name (self->env_id, 100))
        error = sbx_error_new (S_ERROR, "environment.id: '%s' must be 1-100 characters without '/' or ':'",
                               self->env_id);
    const json_t *pool = error ? NULL : s_object (env, "pool", "environment", &error);
    if (pool && !error) {
        static const char *const pool_keys [] = {"min", "max", NULL};
        uint64_t min = self->pool_min, max = self->pool_max;
        error = s_check_keys (pool, "environment.pool", pool_keys);
        if (!error)
            error = s_uint (pool, "min", "environment.pool", 0, 100000, &min);
        if (!error)
            error = s_uint (pool, "max", "environment.pool", 0, 100000, &max);
        if (!error && min > 0 && !json_object_get (pool, "max") && max < min)
            max = min;
        if (!error && min > 0 && min > max)
            error = sbx_error_new (S_ERROR, "environment.pool.min: must be <= pool.max (%llu > %llu)",
                                   (unsigned long long) min, (unsigned long long) max);
        self->pool_min = (unsigned) min;
        self->pool_max = (unsigned) max;
    }
    const json_t *proactive = json_object_get (env, "proactive_session_setup");
    if (!error && proactive) {
        if (!json_is_boolean (proactive))
            error = sbx_error_new (S_ERROR, "environment.proactive_session_setup: must be true or false");
        else
            self->proactive_session_setup = json_is_true (proactive);
    }
    if (!error)
        error = s_seconds (env, "session_lease_s", "environment", false, &self->session_lease_s);
    if (!error && self->session_lease_s <= 0)
        error = sbx_error_new (S_ERROR, "environment.session_lease_s: must be > 0");
    if (!error)
        error = s_seconds (env, "outage_grace_period_s", "environment", false, &self->outage_grace_period_s);
    if (!error)
        error = s_seconds (env, "outage_retry_interval_s", "environment", false, &self->outage_retry_interval_s);
    if (!error)
        error = s_seconds (env, "keepalive_interval_s", "environment", true, &self->keepalive_interval_s);
    if (!error)
        error = s_seconds (env, "stats_report_interval_s", "environment", true, &self->stats_report_interval_s);
    const json_t *seed = json_object_get (env, "random_seed");
    if (!error && seed && !json_is_null (seed)) {
        error = s_uint (env, "random_seed", "environment", 0, INT64_MAX, &self->random_seed);
        self->has_random_seed = !error;
    }
    if (!error)
        error = s_string (env, "root_dir", "environment", false, &self->root_dir);
    if (!error)
        error = s_seconds (env, "shutdown_timeout_s", "environment", false, &self->shutdown_timeout_s);
    return error;
}

//  Comma-separated names of `kinds` (NULL-terminated vtables whose first
//  member is the name), for error messages.
static void
s_kind_names (char *buffer, size_t size, const void *const *kinds)
{
    buffer [0] = 0;
    for (size_t i = 0; kinds && kinds [i]; i++) {
        size_t used = strlen (buffer);
        snprintf (buffer + used, size - used, "%s%s", used ? ", " : "",
                  *(const char *const *) kinds [i]);
    }
}

//  The kind called `name` in `kinds` (vtables as for s_kind_names); NULL
//  when there is none.
static const void *
s_kind_find (const void *const *kinds, const char *name)
{
    for (size_t i = 0; kinds && kinds [i]; i++)
        if (streq (*(const char *const *) kinds [i], name))
            return kinds [i];
    return NULL;
}

static sbx_error_t *
s_sandbox (sbx_config_t *self, const sbx_kinds_t *kinds, const json_t *sandbox)
{
    char names [256];
    s_kind_names (names, sizeof names, (const void *const *) kinds->sandbox);
    const json_t *kind = json_object_get (sandbox, "kind");
    if (!json_is_string (kind))
        return sbx_error_new (S_ERROR, "sandbox.kind: required string (one of: %s)", names);
    const sbx_sandbox_kind_t *found = (const sbx_sandbox_kind_t *)
        s_kind_find ((const void *const *) kinds->sandbox, json_string_value (kind));
    if (!found)
        return sbx_error_new (S_ERROR, "sandbox.kind: unknown kind '%s' (one of: %s)",
                              json_string_value (kind), names);
    sbx_error_t *error = NULL;
    void *kind_config = s_kind_config (found->config_new, sandbox, "sandbox", &error);
    if (error)
        return error;
    if (self->sandbox_kind)
        s_kind_config_destroy (self->sandbox_kind->config_destroy, &self->sandbox_config);
    self->sandbox_kind = found;
    self->sandbox_config = kind_config;
    return NULL;
}

static sbx_error_t *
s_features (sbx_config_t *self, const sbx_kinds_t *kinds, const json_t *features)
{
    char names [256];
    s_kind_names (names, sizeof names, (const void *const *) kinds->feature);
    for (size_t i = 0; i < self->feature_count; i++) {
        s_kind_config_destroy (self->features [i].kind->config_destroy, &self->features [i].kind_config);
        free (self->features [i].name);
    }
    free (self->features);
    self->feature_count = 0;
    self->features = (sbx_feature_conf_t *) zmalloc ((json_object_size (features) + 1)
                                                     * sizeof (sbx_feature_conf_t));
    const char *name;
    json_t *value;
    json_object_foreach ((json_t *) features, name, value) {
        if (!s_valid_name (name, 64))
            return sbx_error_new (S_ERROR, "features.%s: a feature name must be 1-64 characters without '/' or ':'", name);
        if (!json_is_object (value))
            return sbx_error_new (S_ERROR, "features.%s: must be an object with a 'kind'", name);
        const json_t *kind = json_object_get (value, "kind");
        if (!json_is_string (kind))
            return sbx_error_new (S_ERROR, "features.%s.kind: required string (one of: %s)",
                                  name, names);
        const sbx_feature_kind_t *found = (const sbx_feature_kind_t *)
            s_kind_find ((const void *const *) kinds->feature, json_string_value (kind));
        if (!found)
            return sbx_error_new (S_ERROR, "features.%s.kind: unknown kind '%s' (one of: %s)", name,
                                  json_string_value (kind), names);
        char path [128];
        snprintf (path, sizeof path, "features.%s", name);
        sbx_error_t *error = NULL;
        void *kind_config = s_kind_config (found->config_new, value, path, &error);
        if (error)
            return error;
        sbx_feature_conf_t *feature = &self->features [self->feature_count++];
        feature->name = strdup (name);
        feature->kind = found;
        feature->kind_config = kind_config;
    }
    return NULL;
}

//  A directory of certificates (security.clients, security.admins).
static sbx_error_t *
s_cert_dir (const json_t *security, const char *key, char **out)
{
    sbx_error_t *error = s_string (security, key, "security", false, out);
    struct stat st;
    if (!error && *out && stat (*out, &st) != 0)
        error = sbx_error_new (S_ERROR, "security.%s: cannot read %s: %s", key, *out, strerror (errno));
    else
    if (!error && *out && !S_ISDIR (st.st_mode))
        error = sbx_error_new (S_ERROR, "security.%s: %s is not a directory", key, *out);
    return error;
}

//  docs/security.md: CURVE keys, or an explicit `insecure`.
static sbx_error_t *
s_security (sbx_config_t *self, const json_t *security)
{
    static const char *const keys [] = {"server_cert", "clients", "admins", "insecure", NULL};
    sbx_error_t *error = s_check_keys (security, "security", keys);
    if (!error)
        error = s_string (security, "server_cert", "security", false, &self->server_cert);
    if (!error)
        error = s_cert_dir (security, "clients", &self->clients_dir);
    if (!error)
        error = s_cert_dir (security, "admins", &self->admins_dir);
    const json_t *insecure = json_object_get (security, "insecure");
    if (!error && insecure) {
        if (!json_is_boolean (insecure))
            error = sbx_error_new (S_ERROR, "security.insecure: must be true or false");
        else
            self->insecure = json_is_true (insecure);
    }
    if (error)
        return error;
    if (self->server_cert && !self->clients_dir)
        return sbx_error_new (S_ERROR, "security.clients: required with server_cert (the directory "
                              "of the workers' public certificates)");
    if (!self->server_cert && (self->clients_dir || self->admins_dir))
        return sbx_error_new (S_ERROR, "security.%s: needs server_cert (the daemon's secret certificate)",
                              self->clients_dir ? "clients" : "admins");
    if (self->server_cert && self->insecure)
        return sbx_error_new (S_ERROR, "security.insecure: cannot go with server_cert (with keys, "
                              "nothing is insecure to allow)");
    if (self->server_cert) {
        //  zcert_load reads PATH_secret when there is one, else PATH.
        zcert_t *cert = zcert_load (self->server_cert);
        bool secret = cert && strspn (zcert_secret_txt (cert), "0") != strlen (zcert_secret_txt (cert));
        zcert_destroy (&cert);
        if (!secret) {
            struct stat st;
            return sbx_error_new (S_ERROR, "security.server_cert: %s %s", self->server_cert,
                                  stat (self->server_cert, &st) != 0 ? "cannot be read"
                                  : "holds no secret key (give the NAME_secret file sbx keygen wrote)");
        }
    }
    return NULL;
}

static sbx_error_t *
s_apply (sbx_config_t *self, const sbx_kinds_t *kinds, const json_t *root)
{
    static const char *const keys [] = {
        "environment", "sandbox", "features", "endpoints", "events", "limits", "security", NULL
    };
    if (!json_is_object (root))
        return sbx_error_new (S_ERROR, "(root): the configuration must be a JSON object");
    sbx_error_t *error = s_check_keys (root, "", keys);
    const json_t *part;
    if (!error && (part = s_object (root, "environment", "", &error)) && !error)
        error = s_environment (self, part);
    if (!error && (part = s_object (root, "sandbox", "", &error)) && !error)
        error = s_sandbox (self, kinds, part);
    if (!error && (part = s_object (root, "features", "", &error)) && !error)
        error = s_features (self, kinds, part);
    if (!error && (part = s_object (root, "endpoints", "", &error)) && !error) {
        static const char *const endpoint_keys [] = {
            "requests", "events", "metrics", "admin", "advertise_host", NULL
        };
        error = s_check_keys (part, "endpoints", endpoint_keys);
        if (!error)
            error = s_string (part, "requests", "endpoints", false, &self->requests_endpoint);
        if (!error)
            error = sbx_endpoint_check (self->requests_endpoint, "endpoints.requests");
        if (!error)
            error = s_string (part, "events", "endpoints", false, &self->events_endpoint);
        if (!error)
            error = sbx_endpoint_check (self->events_endpoint, "endpoints.events");
        if (!error)
            error = s_string (part, "metrics", "endpoints", true, &self->metrics_endpoint);
        if (!error && self->metrics_endpoint)
            error = sbx_endpoint_check_metrics (self->metrics_endpoint, "endpoints.metrics", NULL);
        const json_t *admin = json_object_get (part, "admin");
        self->admin_off = admin && json_is_null (admin);
        if (!error && admin && !self->admin_off)
            error = s_string (part, "admin", "endpoints", false, &self->admin_endpoint);
        if (!error)
            error = s_string (part, "advertise_host", "endpoints", true, &self->advertise_host);
        if (!error && self->advertise_host && !sbx_endpoint_host_ok (self->advertise_host))
            error = sbx_error_new (S_ERROR, "endpoints.advertise_host: '%s' must be a host name or an "
                                   "IPv4 address (an IPv6 address in brackets: [fd00::1])",
                                   self->advertise_host);
    }
    if (!error && (part = s_object (root, "security", "", &error)) && !error)
        error = s_security (self, part);
    if (!error && (part = s_object (root, "events", "", &error)) && !error) {
        static const char *const event_keys [] = {
            "log", "journal", "journal_bytes", "replay_bytes", "args", "hwm", NULL
        };
        uint64_t journal = self->journal, hwm = (uint64_t) self->events_hwm;
        uint64_t journal_bytes = self->journal_bytes, replay_bytes = self->replay_bytes;
        error = s_check_keys (part, "events", event_keys);
        if (!error)
            error = s_string (part, "log", "events", true, &self->event_log);
        if (!error)
            error = s_uint (part, "journal", "events", 16, 16777216, &journal);
        if (!error)
            error = s_uint (part, "journal_bytes", "events", 65536, 17179869184ull, &journal_bytes);
        if (!error)
            error = s_uint (part, "replay_bytes", "events", 4096, 268435456, &replay_bytes);
        if (!error)
            error = s_uint (part, "hwm", "events", 0, 100000000, &hwm);
        const json_t *args = json_object_get (part, "args");
        if (!error && args) {
            if (json_is_string (args) && streq (json_string_value (args), "full"))
                self->events_args_full = true;
            else
            if (json_is_string (args) && streq (json_string_value (args), "summary"))
                self->events_args_full = false;
            else
                error = sbx_error_new (S_ERROR, "events.args: must be \"summary\" or \"full\"");
        }
        self->journal = (size_t) journal;
        self->journal_bytes = (size_t) journal_bytes;
        self->replay_bytes = (size_t) replay_bytes;
        self->events_hwm = (int) hwm;
    }
    if (!error && (part = s_object (root, "limits", "", &error)) && !error) {
        static const char *const limit_keys [] = {
            "max_body_bytes", "queued_per_sandbox", "waiting", "sandboxes", "client_hwm", "peers", NULL
        };
        uint64_t max_body = self->max_body_bytes, queued = self->queued_per_sandbox;
        uint64_t waiting = self->waiting, client_hwm = (uint64_t) self->client_hwm;
        uint64_t sandboxes = self->sandboxes, peers = self->peers;
        error = s_check_keys (part, "limits", limit_keys);
        if (!error)
            error = s_uint (part, "max_body_bytes", "limits", 1024, 1073741824, &max_body);
        if (!error)
            error = s_uint (part, "queued_per_sandbox", "limits", 1, 1000000, &queued);
        if (!error)
            error = s_uint (part, "waiting", "limits", 1, 10000000, &waiting);
        if (!error)
            error = s_uint (part, "sandboxes", "limits", 1, 100000, &sandboxes);
        if (!error)
            error = s_uint (part, "client_hwm", "limits", 1, 1000000, &client_hwm);
        if (!error)
            error = s_uint (part, "peers", "limits", 1, 1000000, &peers);
        self->max_body_bytes = (size_t) max_body;
        self->queued_per_sandbox = (unsigned) queued;
        self->waiting = (unsigned) waiting;
        self->sandboxes = (unsigned) sandboxes;
        self->client_hwm = (int) client_hwm;
        self->peers = (unsigned) peers;
    }
    return error;
}

void
sbx_config_size_peers (sbx_config_t *self, uint64_t descriptors, uint64_t reserved)
{
    if (self->peers)
        return;
    uint64_t peers = descriptors > reserved ? (descriptors - reserved) / 2 : 0;
    self->peers = (unsigned) (peers < 16 ? 16 : peers > 10000 ? 10000 : peers);
}

static char *
s_default_root_dir (void)
{
    const char *tmp = getenv ("TMPDIR");
    return zsys_sprintf ("%s/sbx", tmp && *tmp ? tmp : "/tmp");
}

static char *
s_admin_endpoint (const char *root_dir, const char *env_id)
{
    return zsys_sprintf ("ipc://%s/%s.admin", root_dir, env_id);
}

char *
sbx_config_default_admin_endpoint (void)
{
    char *root_dir = s_default_root_dir ();
    char *endpoint = s_admin_endpoint (root_dir, "default");
    zstr_free (&root_dir);
    return endpoint;
}

//  The admin socket is a file whose mode keeps everyone but the daemon's
//  user out: ipc:// with a path (an abstract name has no mode), one that
//  fits a Unix socket address.
static sbx_error_t *
s_check_admin (sbx_config_t *self)
{
    if (self->admin_off)
        return NULL;
    if (!self->admin_endpoint)
        self->admin_endpoint = s_admin_endpoint (self->root_dir, self->env_id);
    const char *path = self->admin_endpoint + 6;
    if (strncmp (self->admin_endpoint, "ipc://", 6) != 0 || !*path || *path == '@')
        return sbx_error_new (S_ERROR, "endpoints.admin: '%s' must be ipc://PATH (a socket file, "
                              "which only the daemon's user may open), or null", self->admin_endpoint);
    if (strlen (path) >= sizeof ((struct sockaddr_un *) 0)->sun_path)
        return sbx_error_new (S_ERROR, "endpoints.admin: '%s' is longer than a Unix socket path may be "
                              "(%zu bytes); set endpoints.admin, or a shorter root_dir", self->admin_endpoint,
                              sizeof ((struct sockaddr_un *) 0)->sun_path - 1);
    return NULL;
}

static sbx_config_t *
s_new_defaults (void)
{
    sbx_config_t *self = (sbx_config_t *) zmalloc (sizeof (sbx_config_t));
    self->env_id = strdup ("default");
    self->pool_min = 1;
    self->pool_max = 1;
    self->proactive_session_setup = true;
    self->session_lease_s = 300;
    self->outage_grace_period_s = 3600;
    self->outage_retry_interval_s = 10;
    self->keepalive_interval_s = 60;
    self->stats_report_interval_s = 60;
    self->root_dir = s_default_root_dir ();
    self->requests_endpoint = strdup ("tcp://127.0.0.1:5555");
    self->events_endpoint = strdup ("tcp://127.0.0.1:5556");
    self->metrics_endpoint = strdup ("http://127.0.0.1:9555/metrics");
    self->journal = 65536;
    self->journal_bytes = 64u << 20;
    self->replay_bytes = 512u << 10;
    self->events_hwm = 2000;
    self->max_body_bytes = 16u * 1024 * 1024;
    self->queued_per_sandbox = 64;
    self->waiting = 4096;
    self->sandboxes = 1024;
    self->client_hwm = 64;
    self->shutdown_timeout_s = 30;
    self->features = (sbx_feature_conf_t *) zmalloc (sizeof (sbx_feature_conf_t));
    return self;
}

sbx_config_t *
sbx_config_load_json (const json_t *root, const sbx_kinds_t *kinds, sbx_error_t **error_p)
{
    sbx_config_t *self = s_new_defaults ();
    json_t *defaults = json_loads (s_default_json, 0, NULL);
    sbx_error_t *error = defaults ? NULL
                       : sbx_error_new (S_ERROR, "bug: the embedded default is not JSON");
    //  The sandbox kind defaults to the embedded default's when not given.
    if (!error && (!json_is_object (root) || !json_object_get (root, "sandbox")))
        error = s_sandbox (self, kinds, json_object_get (defaults, "sandbox"));
    json_decref (defaults);
    if (!error)
        error = s_apply (self, kinds, root);
    if (!error)
        error = s_check_admin (self);
    if (error) {
        sbx_config_destroy (&self);
        *error_p = error;
        return NULL;
    }
    return self;
}

//  Loads the parsed `root` (taken), or says where the text of `path` (NULL:
//  a string) is not JSON.
static sbx_config_t *
s_load_parsed (json_t *root, const json_error_t *problem, const char *path, const sbx_kinds_t *kinds,
               sbx_error_t **error_p)
{
    if (!root) {
        *error_p = sbx_error_new (S_ERROR, "%s%s line %d column %d: %s", path ? path : "(json)", path ? ":" : "",
                                  problem->line, problem->column, problem->text);
        return NULL;
    }
    sbx_config_t *self = sbx_config_load_json (root, kinds, error_p);
    json_decref (root);
    return self;
}

sbx_config_t *
sbx_config_load_string (const char *text, const sbx_kinds_t *kinds, sbx_error_t **error_p)
{
    json_error_t problem;
    json_t *root = json_loads (text, JSON_REJECT_DUPLICATES, &problem);
    return s_load_parsed (root, &problem, NULL, kinds, error_p);
}

sbx_config_t *
sbx_config_load_file (const char *path, const sbx_kinds_t *kinds, sbx_error_t **error_p)
{
    //  Opened here, so that a file that is not there (or not a file) says
    //  so plainly rather than as a JSON error at line -1.
    FILE *file = fopen (path, "r");
    struct stat st;
    if (file && fstat (fileno (file), &st) == 0 && S_ISDIR (st.st_mode)) {
        fclose (file);
        file = NULL;
        errno = EISDIR;
    }
    if (!file) {
        *error_p = sbx_error_new (S_ERROR, "cannot read %s: %s", path, strerror (errno));
        return NULL;
    }
    json_error_t problem;
    json_t *root = json_loadf (file, JSON_REJECT_DUPLICATES, &problem);
    int read_error = ferror (file) ? errno : 0;
    fclose (file);
    if (!root && read_error) {
        *error_p = sbx_error_new (S_ERROR, "cannot read %s: %s", path, strerror (read_error));
        return NULL;
    }
    return s_load_parsed (root, &problem, path, kinds, error_p);
}

sbx_config_t *
sbx_config_default (const sbx_kinds_t *kinds, sbx_error_t **error_p)
{
    return sbx_config_load_string (s_default_json, kinds, error_p);
}

int
sbx_config_set_pool (sbx_config_t *self, const char *spec, sbx_error_t **error_p)
{
    unsigned min, max;
    char extra;
    if (sscanf (spec, "%u:%u%c", &min, &max, &extra) != 2 || max > 100000
    ||  (min > 0 && min > max)) {
        *error_p = sbx_error_new (S_ERROR, "--pool: '%s' must be MIN:MAX with MIN <= MAX <= 100000", spec);
        return -1;
    }
    self->pool_min = min;
    self->pool_max = max;
    return 0;
}

bool
sbx_config_curve (const sbx_config_t *self)
{
    return self->server_cert != NULL;
}

sbx_error_t *
sbx_config_check_exposure (const sbx_config_t *self)
{
    if (sbx_config_curve (self) || self->insecure)
        return NULL;
    const char *const endpoints [] = {self->requests_endpoint, self->events_endpoint};
    const char *const names [] = {"requests", "events"};
    for (size_t i = 0; i < 2; i++)
        if (!sbx_endpoint_local (endpoints [i]))
            return sbx_error_new (S_ERROR, "endpoints.%s: %s is not a loopback address, and without "
                                  "`security` anyone who reaches it may use the daemon: give keys "
                                  "(security.server_cert, security.clients) or bind 127.0.0.1; "
                                  "`\"security\": {\"insecure\": true}` allows it without keys "
                                  "(see docs/security.md)", names [i], endpoints [i]);
    return NULL;
}

char *
sbx_config_advertised (const sbx_config_t *self, const char *endpoint)
{
    return sbx_endpoint_advertised (endpoint, self->advertise_host);
}

bool
sbx_config_pooled (const sbx_config_t *self)
{
    return self->pool_min > 0;
}

int
sbx_config_feature_index (const sbx_config_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->feature_count; i++)
        if (streq (self->features [i].name, name))
            return (int) i;
    return -1;
}
