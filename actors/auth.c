/*  sbx_auth - see auth.h; ZeroMQ RFC 27 (ZAP). */
#include "actors/auth.h"
#include "runtime/core/log.h"

#include <czmq.h>
#include <string.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_MAX_FRAMES 8          //  version, id, domain, address, identity,
                                //  mechanism, and CURVE's one credential
#define S_LOG_BURST 20          //  refusals logged per S_LOG_WINDOW_MS
#define S_LOG_WINDOW_MS 60000

//  The public keys of one directory, in a czmq certificate store held in
//  memory and loaded here: zcertstore's own loader aborts the process on
//  two files with the same key, which a copy left in the directory would
//  be. Reloaded, as zcertstore does, when the directory changed.
typedef struct {
    const char *dir;            //  the config's
    const char *name;           //  its key, for logs: "security.clients"
    zcertstore_t *store;
    time_t modified;            //  the directory as loaded
    size_t count;
    off_t size;
} s_keys_t;

struct sbx_auth_t {
    const sbx_config_t *config;
    zsock_t *rep;
    s_keys_t clients;
    s_keys_t admins;            //  dir NULL: no admin keys
    uint64_t refused;
    int64_t window_start;       //  refusals logged in this window
    unsigned logged;
    uint64_t unlogged;          //  ... and not logged
    sbx_auth_full_fn *full;
    void *full_arg;
};

sbx_auth_t *
sbx_auth_new (const sbx_config_t *config)
{
    zsock_t *rep = zsock_new (ZMQ_REP);
    if (!rep)
        return NULL;
    sbx_auth_t *self = (sbx_auth_t *) zmalloc (sizeof (sbx_auth_t));
    self->config = config;
    self->rep = rep;
    zsock_set_linger (rep, 0);
    return self;
}

void
sbx_auth_destroy (sbx_auth_t **self_p)
{
    sbx_auth_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->rep);
    zcertstore_destroy (&self->clients.store);
    zcertstore_destroy (&self->admins.store);
    free (self);
    *self_p = NULL;
}

//  (Re)loads the keys of `keys->dir` when it changed since the last load:
//  every certificate file but NAME_secret ones (zcert_load reads those for
//  NAME), each key once. False when the directory cannot be read.
static bool
s_keys_load (sbx_auth_t *self, s_keys_t *keys)
{
    zdir_t *dir = zdir_new (keys->dir, NULL);
    if (!dir)
        return false;
    if (keys->store && keys->modified == zdir_modified (dir) && keys->count == zdir_count (dir)
    &&  keys->size == zdir_cursize (dir)) {
        zdir_destroy (&dir);
        return true;
    }
    zcertstore_destroy (&keys->store);
    keys->store = zcertstore_new (NULL);
    zfile_t **files = zdir_flatten (dir);
    size_t loaded = 0;
    for (size_t i = 0; files && files [i]; i++) {
        const char *path = zfile_filename (files [i], NULL);
        size_t length = strlen (path);
        if (!zfile_is_regular (files [i]) || (length >= 7 && streq (path + length - 7, "_secret")))
            continue;
        zcert_t *cert = zcert_load (path);
        if (cert && zcertstore_lookup (keys->store, zcert_public_txt (cert)))
            sbx_log_warning (self->config->env_id, "%s: %s holds a key listed already", keys->name, path);
        else
        if (cert) {
            zcertstore_insert (keys->store, &cert);
            loaded++;
        }
        zcert_destroy (&cert);
    }
    zdir_flatten_free (&files);
    keys->modified = zdir_modified (dir);
    keys->count = zdir_count (dir);
    keys->size = zdir_cursize (dir);
    zdir_destroy (&dir);
    sbx_log_info (self->config->env_id, "%s: %zu keys in %s", keys->name, loaded, keys->dir);
    return true;
}

//  True when `key` is in `keys` (reloaded first when its directory changed).
static bool
s_keys_have (sbx_auth_t *self, s_keys_t *keys, const char *key)
{
    if (!keys->dir)
        return false;
    if (!s_keys_load (self, keys) && !keys->store)
        return false;
    return zcertstore_lookup (keys->store, key) != NULL;
}

void
sbx_auth_set_full (sbx_auth_t *self, sbx_auth_full_fn *full, void *arg)
{
    self->full = full;
    self->full_arg = arg;
}

int
sbx_auth_bind (sbx_auth_t *self, char **error_p)
{
    self->clients = (s_keys_t) {.dir = self->config->clients_dir, .name = "security.clients"};
    self->admins = (s_keys_t) {.dir = self->config->admins_dir, .name = "security.admins"};
    s_keys_t *unread = !sbx_config_curve (self->config) ? NULL
                     : !s_keys_load (self, &self->clients) ? &self->clients
                     : self->admins.dir && !s_keys_load (self, &self->admins) ? &self->admins : NULL;
    if (unread) {
        *error_p = zsys_sprintf ("cannot read the certificates in %s (%s)", unread->dir, unread->name);
        return -1;
    }
    if (zsock_bind (self->rep, S_ZAP_ENDPOINT) < 0) {
        *error_p = zsys_sprintf ("cannot bind the ZAP handler %s: %s", S_ZAP_ENDPOINT,
                                 zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

void *
sbx_auth_socket (sbx_auth_t *self)
{
    return zsock_resolve (self->rep);
}

uint64_t
sbx_auth_refused (sbx_auth_t *self)
{
    return self->refused;
}

void
sbx_auth_peer (const char *user_id, char *key, bool *admin)
{
    key [0] = 0;
    *admin = false;
    const char *colon = user_id ? strchr (user_id, ':') : NULL;
    if (!colon || strlen (colon + 1) != 40)
        return;
    bool is_admin = strncmp (user_id, "admin:", 6) == 0;
    if (!is_admin && strncmp (user_id, "worker:", 7) != 0)
        return;
    memcpy (key, colon + 1, 41);
    *admin = is_admin;
}

//  A frame as text, for the log: printable characters only.
static void
s_printable (zmq_msg_t *frame, char *text, size_t size)
{
    size_t n = zmq_msg_size (frame) < size - 1 ? zmq_msg_size (frame) : size - 1;
    const char *data = (const char *) zmq_msg_data (frame);
    for (size_t i = 0; i < n; i++)
        text [i] = data [i] >= 0x20 && data [i] < 0x7f ? data [i] : '?';
    text [n] = 0;
}

static bool
s_is (zmq_msg_t *frame, const char *text)
{
    return zmq_msg_size (frame) == strlen (text) && memcmp (zmq_msg_data (frame), text, strlen (text)) == 0;
}

//  Logs a refusal: `why` after "refused a handshake on the SOCKET socket
//  from ADDRESS: ", at most S_LOG_BURST a minute.
static void
s_log_refusal (sbx_auth_t *self, const char *address, const char *domain, const char *why)
{
    int64_t now = zclock_mono ();
    if (now - self->window_start >= S_LOG_WINDOW_MS) {
        if (self->unlogged)
            sbx_log_warning (self->config->env_id, "refused %llu more handshakes in the last minute "
                             "(not logged one by one)", (unsigned long long) self->unlogged);
        self->window_start = now;
        self->logged = 0;
        self->unlogged = 0;
    }
    if (self->logged++ < S_LOG_BURST)
        sbx_log_warning (self->config->env_id, "refused a handshake on the %s socket from %s: %s",
                         streq (domain, SBX_AUTH_EVENTS) ? "events" : "requests", address, why);
    else
        self->unlogged++;
}

//  The answer to one request: 200 with a User-Id, or 400. Always one: a
//  REP socket takes no request before it has answered the last.
static void
s_reply (sbx_auth_t *self, zmq_msg_t *id, bool ok, const char *user_id)
{
    void *socket = zsock_resolve (self->rep);
    zmq_send (socket, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (id)
        zmq_msg_send (id, socket, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    else
        zmq_send (socket, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    const char *code = ok ? "200" : "400";
    const char *text = ok ? "OK" : "refused";
    zmq_send (socket, code, 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (socket, text, strlen (text), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (socket, user_id, strlen (user_id), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (socket, "", 0, ZMQ_DONTWAIT);
}

int
sbx_auth_handle (sbx_auth_t *self)
{
    void *socket = zsock_resolve (self->rep);
    zmq_msg_t frames [S_MAX_FRAMES];
    size_t count = 0;
    zmq_msg_init (&frames [0]);
    if (zmq_msg_recv (&frames [0], socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frames [0]);
        return -1;
    }
    count = 1;
    //  The rest of a message is there once its first frame is.
    bool more = zmq_msg_more (&frames [0]);
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, socket, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
        more = zmq_msg_more (&part);
        if (count < S_MAX_FRAMES)
            frames [count++] = part;
        else
            zmq_msg_close (&part);
    }
    //  [version][request id][domain][address][identity][mechanism][credentials...]
    char domain [64] = "", address [64] = "", key [41] = "";
    bool ok = false;
    const char *role = NULL;
    if (count >= 6 && s_is (&frames [0], "1.0")) {
        s_printable (&frames [2], domain, sizeof domain);
        s_printable (&frames [3], address, sizeof address);
        bool ours = streq (domain, SBX_AUTH_REQUESTS) || streq (domain, SBX_AUTH_EVENTS);
        bool curve = sbx_config_curve (self->config);
        char why [160] = "";
        if (!ours)
            snprintf (why, sizeof why, "domain '%s' is not one of this daemon's", domain);
        else
        if (self->full && self->full (self->full_arg))
            snprintf (why, sizeof why, "limits.peers (%u) connections are open", self->config->peers);
        else
        if (curve && s_is (&frames [5], "CURVE") && count == 7 && zmq_msg_size (&frames [6]) == 32) {
            zmq_z85_encode (key, (const uint8_t *) zmq_msg_data (&frames [6]), 32);
            if (s_keys_have (self, &self->admins, key))
                role = "admin";
            else
            if (s_keys_have (self, &self->clients, key))
                role = "worker";
            else
                snprintf (why, sizeof why, "key %.8s... is not in security.clients%s", key,
                          self->admins.dir ? " or security.admins" : "");
        }
        else
        if (!curve && s_is (&frames [5], "NULL"))
            role = "";
        else
            snprintf (why, sizeof why, "not a %s handshake", curve ? "CURVE" : "NULL");
        ok = role != NULL;
        if (!ok) {
            self->refused++;
            s_log_refusal (self, address, domain, why);
        }
    }
    char user_id [64] = "";
    if (ok && *role)
        snprintf (user_id, sizeof user_id, "%s:%s", role, key);
    s_reply (self, count >= 2 ? &frames [1] : NULL, ok, user_id);
    for (size_t i = 0; i < count; i++)
        zmq_msg_close (&frames [i]);
    return 0;
}
