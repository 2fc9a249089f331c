/*  sbx_config - the daemon's configuration (DESIGN.md "Configuration",
    SPEC §6), loaded from JSON and validated before anything is bound.

    Every problem is reported with the JSON path of the bad key, e.g.
    "environment.pool.min: must be <= pool.max (3 > 2)". Once loaded, a
    config is read-only and shared by every actor (the kinds' own configs
    may hold atomic counters, SPEC §5 fail points).
*/
#ifndef SBX_CONFIG_H
#define SBX_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sbx/plugin.h>

typedef struct {
    char *name;
    const sbx_feature_kind_t *kind;
    void *kind_config;
} sbx_feature_conf_t;

typedef struct {
    char *env_id;
    unsigned pool_min, pool_max;
    bool proactive_session_setup;
    double session_lease_s;
    double outage_grace_period_s;
    double outage_retry_interval_s;
    double keepalive_interval_s;        //  < 0: off
    double stats_report_interval_s;     //  < 0: off
    bool has_random_seed;
    uint64_t random_seed;
    char *root_dir;
    const sbx_sandbox_kind_t *sandbox_kind;
    void *sandbox_config;
    sbx_feature_conf_t *features;       //  in template order
    size_t feature_count;
    char *requests_endpoint;
    char *events_endpoint;
    char *metrics_endpoint;             //  http://HOST:PORT/PATH; NULL: metrics off
    char *admin_endpoint;               //  ipc://PATH of the admin socket; NULL: none
    bool admin_off;                     //  endpoints.admin was null
    char *advertise_host;               //  for a wildcard events bind; NULL: gethostname
    //  security (docs/security.md): CURVE on the request and event sockets
    //  when server_cert is set
    char *server_cert;                  //  the daemon's secret certificate
    char *clients_dir;                  //  public certificates of workers
    char *admins_dir;                   //  ... of admins; NULL: none
    bool insecure;                      //  no keys, and endpoints open anyway
    char *event_log;                    //  NULL: none
    size_t journal;                     //  events kept for events.replay
    size_t journal_bytes;               //  ... and the bytes they may take
    size_t replay_bytes;                //  the most one events.replay answer holds
    bool events_args_full;              //  activity args as given (else summarised)
    int events_hwm;                     //  XPUB send high-water mark
    size_t max_body_bytes;
    unsigned queued_per_sandbox;        //  jobs a sandbox may owe before refusals
    unsigned waiting;                   //  acquires that may wait for a sandbox
    unsigned sandboxes;                 //  without pooling: sandboxes at once
    int client_hwm;                     //  replies queued for one client
    unsigned peers;                     //  connections to the request and event
                                        //  endpoints at once; 0: sbxd sizes it from
                                        //  RLIMIT_NOFILE (sbx_config_size_peers)
    double shutdown_timeout_s;          //  a graceful shutdown's limit
} sbx_config_t;

//  The kinds a configuration may name: NULL-terminated lists (the daemon's
//  registry, runtime/daemon/registry.h, or a test's own).
typedef struct {
    const sbx_sandbox_kind_t *const *sandbox;
    const sbx_feature_kind_t *const *feature;
} sbx_kinds_t;

//  The embedded default: a pool of 2 sandboxes with the features of
//  DESIGN.md, endpoints on 127.0.0.1:5555/5556, root under $TMPDIR.
sbx_config_t *
    sbx_config_default (const sbx_kinds_t *kinds, sbx_error_t **error_p);

//  Loads a JSON file / text / value. NULL with *error_p (type "ConfigError",
//  message starting with the JSON path) on any problem; a file that cannot
//  be read gives "cannot read PATH: <reason>".
sbx_config_t *
    sbx_config_load_file (const char *path, const sbx_kinds_t *kinds, sbx_error_t **error_p);
sbx_config_t *
    sbx_config_load_string (const char *text, const sbx_kinds_t *kinds, sbx_error_t **error_p);
sbx_config_t *
    sbx_config_load_json (const json_t *root, const sbx_kinds_t *kinds, sbx_error_t **error_p);

//  True when the request and event sockets speak CURVE (security.server_cert).
bool
    sbx_config_curve (const sbx_config_t *self);

//  NULL when the endpoints suit the security set-up: with CURVE anything
//  goes; without it the request and event endpoints must be local
//  (sbx_endpoint_local)
//  unless security.insecure is true. Else a ConfigError that names the
//  endpoint, where it came from, and docs/security.md. Called once every
//  override is applied (sbxd, --check included).
sbx_error_t *
    sbx_config_check_exposure (const sbx_config_t *self);

//  sbx_endpoint_advertised with endpoints.advertise_host. Caller frees.
char *
    sbx_config_advertised (const sbx_config_t *self, const char *endpoint);

//  The admin endpoint of a daemon on the embedded default:
//  ipc://$TMPDIR/sbx/default.admin (/tmp without TMPDIR). Caller frees.
char *
    sbx_config_default_admin_endpoint (void);

//  limits.peers when the configuration leaves it to sbxd: half the
//  descriptors left of `descriptors` once the sandboxes have `reserved`,
//  within [16, 10000]. A limit set in the file stays.
void
    sbx_config_size_peers (sbx_config_t *self, uint64_t descriptors, uint64_t reserved);

//  Applies a `--pool MIN:MAX` override; -1 with *error_p on a bad value.
int
    sbx_config_set_pool (sbx_config_t *self, const char *spec, sbx_error_t **error_p);
void
    sbx_config_set_string (char **field, const char *value);

//  True when sandboxes are pooled (min > 0).
bool
    sbx_config_pooled (const sbx_config_t *self);

//  The feature index by name, or -1.
int
    sbx_config_feature_index (const sbx_config_t *self, const char *name);

void
    sbx_config_destroy (sbx_config_t **self_p);

#endif
