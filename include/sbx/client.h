/*  libsbx - the C client of sbx (PROTOCOL.md, protocol version 1).

    Three classes:

    sbx_client_t   one connection to an sbx daemon's request endpoint: hello,
                   sessions, calls (in a session or ephemeral), status,
                   stats, events.replay, shutdown.
    sbx_session_t  one open session (sandbox, token, session id) made by
                   a client. While it is open, the client keeps its lease
                   alive with heartbeats, by itself (see "Heartbeats").
    sbx_events_t   a subscription to the daemon's events: every event, in
                   `seq` order, none missed - history from the journal,
                   then live events, with any gap filled by events.replay.

    Results come as msgpack (appended to a caller-owned msgpack_sbuffer) or
    as JSON (jansson, caller-owned reference). Events come decoded as
    sbx_event_t (sbx/event.h; sbx_event_text gives the one-line text
    form and sbx_event_to_json the JSON form).

    Errors. Every failing function returns NULL or -1 and, when `error_p`
    is not NULL, sets *error_p to an error value the caller owns
    (include/sbx/error.h): type, message, sandbox, and for composite
    errors (FeatureTeardownError, SessionTeardownError) the map
    feature -> error. Errors from the daemon keep their type (SPEC.md §2,
    PROTOCOL.md). Three types are made by the library itself and never
    come from a daemon:
        SBX_UNREACHABLE  ("Unreachable")  no endpoint answered `hello`
        SBX_TIMEOUT      ("Timeout")      no reply within the timeout
        SBX_INTERRUPTED  ("Interrupted")  a signal interrupted a wait
    (sbx_error_is_local tells them apart from a daemon's errors.) A
    fourth, SBX_CERTIFICATE_ERROR ("CertificateError"), says that a CURVE
    certificate file given to the library cannot be used.

    CURVE. A daemon with `security` (docs/security.md) answers only
    clients whose key it lists. Give the daemon's public certificate and
    this client's secret certificate (czmq files, as `sbx keygen NAME`
    writes them: NAME and NAME_secret) in the options `server_cert` and
    `cert`; every socket the client or subscription opens (requests,
    heartbeats, events) then speaks CURVE with that key. A daemon binds a
    session's token to the key that opened it: hand a session on
    (sbx_client_session_attach) only to a client with the same key.

    Blocking. Every function that talks to the daemon blocks until the
    reply arrives or its timeout passes; nothing else blocks. A signal
    delivered to the waiting thread ends the wait with Interrupted.

    Threads. An sbx_client_t and the sessions it made belong to one thread
    at a time (hand them over with a lock or a queue, never use them from
    two threads at once). An sbx_events_t is independent of any client and
    may live in another thread. Different objects may be used from
    different threads freely. While a client has open sessions it runs one
    background thread (a czmq actor, "Heartbeats") with its own socket; it
    touches nothing of yours and blocks all signals.

    Heartbeats. A session belongs to its client only while its lease lasts
    (session_lease_s on the daemon). From session_open until session_end
    (or sbx_session_destroy), the client's heartbeat actor sends a
    `heartbeat` for the session every lease/3 - learned from the first
    heartbeat's `lease_ms` - so an idle session stays alive however long the
    program waits, sleeps or blocks elsewhere. When the daemon answers a
    heartbeat with NotFound or Unauthorized (the session is gone) the actor
    stops renewing it and the next call on the session fails with that
    error. Set `no_heartbeat` to renew leases yourself (any call renews).

    Signals. libsbx uses czmq, which installs SIGINT/SIGTERM handlers at
    its first use unless the program called zsys_handler_set (NULL) first
    (or set ZSYS_SIGHANDLER=false); a program that wants the default
    behaviour, or its own handlers, does that before calling libsbx.
*/
#ifndef SBX_CLIENT_H
#define SBX_CLIENT_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sbx/error.h>
#include <sbx/event.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SBX_DEFAULT_ENDPOINT        "tcp://127.0.0.1:5555"
#define SBX_DEFAULT_EVENTS_ENDPOINT "tcp://127.0.0.1:5556"

#define SBX_UNREACHABLE "Unreachable"
#define SBX_INTERRUPTED "Interrupted"
#define SBX_CERTIFICATE_ERROR "CertificateError"

//  True for the three types libsbx makes itself: Unreachable, Timeout and
//  Interrupted - the daemon's answer was not heard (a daemon may also
//  answer Timeout; it is counted here too).
bool
    sbx_error_is_local (const sbx_error_t *error);

typedef struct sbx_client_t sbx_client_t;
typedef struct sbx_session_t sbx_session_t;
typedef struct sbx_events_t sbx_events_t;

//  --- Client -----------------------------------------------------------------

typedef struct {
    //  How long each endpoint gets to answer `hello` at connect (ms);
    //  0: 2000.
    int connect_timeout_ms;
    //  How long to wait for any other reply (ms); 0: 30000; < 0: forever.
    //  Ops that acquire a sandbox (session_open, ephemeral calls) also ask
    //  the daemon to give up waiting for a free sandbox after this long
    //  (unless wait_ms says otherwise), so that an EnvironmentOverloadError
    //  arrives before a local Timeout.
    int timeout_ms;
    //  How long the daemon may wait for a free sandbox in the ops that
    //  acquire one (their request's `timeout_ms`), in ms. 0: timeout_ms,
    //  and such a reply is awaited timeout_ms plus a second. > 0: this
    //  long, and such a reply is awaited wait_ms + timeout_ms plus a
    //  second (the wait for a sandbox, then the reply's own time). < 0:
    //  not sent (the daemon's own limit); the reply is awaited timeout_ms
    //  plus a second.
    int wait_ms;
    //  Do not keep leases alive (see "Heartbeats").
    bool no_heartbeat;
    //  CURVE (see "CURVE"): the daemon's public certificate file and this
    //  client's secret certificate file; both NULL: no CURVE.
    const char *server_cert;
    const char *cert;
} sbx_client_options_t;

//  Connects to the first endpoint of `endpoints` that answers `hello`:
//  a comma-separated list such as "tcp://10.0.0.1:5555,tcp://10.0.0.2:5555",
//  tried in order (NULL: SBX_DEFAULT_ENDPOINT). `options` may be NULL
//  (all defaults). Blocks up to connect_timeout_ms per endpoint. Returns
//  the client (caller owns; sbx_client_destroy) or NULL with *error_p
//  (Unreachable when no endpoint answered). A client stays with the
//  endpoint it found; it does not fail over later.
sbx_client_t *
    sbx_client_new (const char *endpoints, const sbx_client_options_t *options,
                    sbx_error_t **error_p);

//  Stops the heartbeat actor, closes the socket, frees the client and nulls
//  *self_p. Safe on NULL and twice. Sessions still open are not ended (their
//  leases lapse on the daemon); destroy or end them first - a session
//  outliving its client may only be destroyed.
void
    sbx_client_destroy (sbx_client_t **self_p);

//  The endpoint the client is connected to (owned by the client).
const char *
    sbx_client_endpoint (const sbx_client_t *self);

//  The `hello` reply received at connect, as a JSON object with keys
//  protocol, version, environment, status, features {name: {kind,
//  methods}}, sandbox_methods. Owned by the client; do not modify.
const json_t *
    sbx_client_hello (const sbx_client_t *self);

//  The name of the first feature whose kind is `kind` (e.g. "shell"),
//  preferring a feature named like the kind; NULL when there is none.
//  Owned by the client.
const char *
    sbx_client_feature_of_kind (const sbx_client_t *self, const char *kind);

//  Switches the client to CURVE with these certificate files (as the
//  options server_cert and cert): connects to its endpoint again with
//  them and says hello, and renews its sessions' leases over the new
//  connection. Blocks like sbx_client_new. 0; or -1 with *error_p, and the
//  client keeps its old connection. Tokens stay bound to the key that
//  opened their sessions: sessions opened with another key are refused
//  (Unauthorized) from now on.
int
    sbx_client_set_curve (sbx_client_t *self, const char *server_cert, const char *cert,
                          sbx_error_t **error_p);

//  Changes the reply timeout of later requests (ms; < 0: forever).
void
    sbx_client_set_timeout (sbx_client_t *self, int timeout_ms);

//  Changes how long later acquiring ops let the daemon wait for a free
//  sandbox (ms), as the option wait_ms does.
void
    sbx_client_set_wait (sbx_client_t *self, int wait_ms);

//  Sends `hello` again and returns its result keys (caller owns), e.g. to
//  see `status` turn from created to online. Blocks.
json_t *
    sbx_client_hello_refresh (sbx_client_t *self, sbx_error_t **error_p);

//  Ephemeral call (PROTOCOL.md `call` without a sandbox): the daemon
//  acquires a sandbox, starts a session (named `session_id`, or generated
//  when NULL), runs `feature.method` (feature NULL: a service of the
//  sandbox itself) with `args` - one msgpack map of `args_size` bytes, or
//  NULL for none - and ends the session. On success appends the result (one
//  msgpack object) to `result` (caller-initialised and owned) and returns 0;
//  else -1 with *error_p. Blocks.
int
    sbx_client_call (sbx_client_t *self, const char *feature, const char *method,
                     const void *args, size_t args_size, const char *session_id,
                     msgpack_sbuffer *result, sbx_error_t **error_p);

//  Same with JSON: `args` is a JSON object or NULL (borrowed). Returns the
//  result (caller owns the reference; a JSON null when the method returned
//  nil) or NULL with *error_p.
json_t *
    sbx_client_call_json (sbx_client_t *self, const char *feature, const char *method,
                          const json_t *args, const char *session_id, sbx_error_t **error_p);

//  Streamed output (docs/protocol.md "Streaming"): one chunk of a call's
//  output, as it arrives - `stream` names it ("stdout", "stderr", or what
//  a feature calls it), `data` is `size` bytes (borrowed, valid during the
//  call only).
typedef void (sbx_output_fn) (void *arg, const char *stream, const void *data, size_t size);

//  From now on, the client's calls (ephemeral, and in its sessions) ask
//  for their output as it comes, when the daemon can stream (its hello
//  lists "stream"), and hand it to `fn` while the call waits for its
//  result; the result then holds no output (for shell.run, `streamed` is
//  true). NULL turns it off. `fn` runs in the calling thread.
void
    sbx_client_set_output (sbx_client_t *self, sbx_output_fn *fn, void *arg);

//  Input as it comes (docs/protocol.md "Input"): from now on, calls in
//  this client's sessions (sbx_session_call) read `fd` while they wait for
//  their result, when the daemon can take input (its hello lists "input"):
//  what a read gives goes to the method (for shell.run, the command's
//  stdin) as it comes, in chunks of up to 64 KiB with at most 4 on their
//  way, and EOF ends it. Once the method no longer reads, the call stops
//  reading `fd`; what it read by then is lost. -1 turns it off; ephemeral
//  calls never take input.
void
    sbx_client_set_input (sbx_client_t *self, int fd);

//  True when the daemon can take input as it comes (sbx_client_set_input).
bool
    sbx_client_can_input (const sbx_client_t *self);

//  True when the daemon can stream output (see sbx_client_set_output).
bool
    sbx_client_can_stream (const sbx_client_t *self);

//  The sandbox and session id of the last successful ephemeral call (owned
//  by the client, valid until the next call), or NULL.
const char *
    sbx_client_last_sandbox (const sbx_client_t *self);
const char *
    sbx_client_last_session_id (const sbx_client_t *self);

//  `status` (of one sandbox when `sandbox` is not NULL): returns
//  {environment: {id, status, uptime_s}, sandboxes: [{id, status,
//  session_id?, state_errors: [{type, message}..]}]}. Caller owns. Blocks.
json_t *
    sbx_client_status (sbx_client_t *self, const char *sandbox, sbx_error_t **error_p);

//  `stats`: returns {sandbox: {status: count}, pool: {min, max, size},
//  counters: {...}}. Caller owns. Blocks.
json_t *
    sbx_client_stats (sbx_client_t *self, sbx_error_t **error_p);

//  `events.replay`: the journal's events with seq > `since`, at most `max`
//  (0: the daemon's default, 1000; it caps at 10000). Sets *events_p to a
//  new array of *count_p decoded events (caller owns; free with
//  sbx_events_free), *next_p to the seq of the last event returned (or
//  `since`, or the last seq when `since` is beyond it, when none), and
//  *truncated_p to true when `since` is older than the journal (events
//  were lost). `next_p` and `truncated_p` may be NULL. Returns 0 or -1.
int
    sbx_client_replay (sbx_client_t *self, uint64_t since, size_t max,
                       sbx_event_t ***events_p, size_t *count_p,
                       uint64_t *next_p, bool *truncated_p, sbx_error_t **error_p);

//  Frees an array of events from sbx_client_replay and nulls *events_p.
void
    sbx_events_free (sbx_event_t ***events_p, size_t count);

//  `shutdown`: asks the daemon to shut down gracefully. Returns 0 once it
//  has acknowledged, -1 otherwise. An admin op (docs/security.md): a
//  daemon takes it on its admin endpoint (connect a client there, e.g.
//  ipc://<root_dir>/<env>.admin), or from a client with an admin key, and
//  answers anyone else Unauthorized.
int
    sbx_client_shutdown (sbx_client_t *self, sbx_error_t **error_p);

//  --- Sessions ---------------------------------------------------------------

//  `session.open`: acquires a sandbox and starts a session on it (named
//  `session_id`, or generated when NULL). Returns the session (caller
//  owns; end it with sbx_session_end) and starts renewing its lease.
//  NULL with *error_p on failure (e.g. EnvironmentOverloadError, or the
//  session-start error of the sandbox). Blocks. The client must outlive
//  the session.
sbx_session_t *
    sbx_client_session_open (sbx_client_t *self, const char *session_id,
                             sbx_error_t **error_p);

//  A handle on a session opened elsewhere (e.g. by another process that
//  passed on its sandbox id and token). No request is sent; the lease is
//  renewed like any other while the handle lives. `session_id` may be
//  NULL (unknown). Caller owns the result; NULL when `sandbox` or `token`
//  is NULL.
sbx_session_t *
    sbx_client_session_attach (sbx_client_t *self, const char *sandbox, const char *token,
                               const char *session_id);

const char *
    sbx_session_id (const sbx_session_t *self);
const char *
    sbx_session_sandbox (const sbx_session_t *self);
const char *
    sbx_session_token (const sbx_session_t *self);

//  A call in the session: like sbx_client_call, on this session's sandbox.
//  A user error leaves the session open; after a SandboxStateError the
//  sandbox is gone and so is the session (end it to free the handle).
int
    sbx_session_call (sbx_session_t *self, const char *feature, const char *method,
                      const void *args, size_t args_size, msgpack_sbuffer *result,
                      sbx_error_t **error_p);
json_t *
    sbx_session_call_json (sbx_session_t *self, const char *feature, const char *method,
                           const json_t *args, sbx_error_t **error_p);

//  Sends one `heartbeat` now (the heartbeat actor does it by itself; this
//  is for programs using no_heartbeat). Returns the lease in ms, or -1.
int64_t
    sbx_session_heartbeat (sbx_session_t *self, sbx_error_t **error_p);

//  `session.end`. Once the daemon has answered - success or an error
//  reply such as SessionTeardownError, after which the session is over
//  all the same - stops the heartbeats, frees the session, nulls *self_p,
//  and returns 0 (success) or -1 (error reply, *error_p set). When the
//  daemon did not answer (Timeout, Interrupted, Unreachable) returns -1
//  and leaves *self_p alone, so the caller may retry or destroy it.
int
    sbx_session_end (sbx_session_t **self_p, sbx_error_t **error_p);

//  Forgets the session without ending it (its lease lapses on the daemon,
//  which then ends it with LeaseExpired). Nulls *self_p; safe on NULL.
void
    sbx_session_destroy (sbx_session_t **self_p);

//  --- Events -----------------------------------------------------------------

//  `since` value meaning "only events from now on".
#define SBX_EVENTS_NOW UINT64_MAX

typedef struct {
    //  Request endpoint(s) for events.replay (NULL: SBX_DEFAULT_ENDPOINT),
    //  as for sbx_client_new.
    const char *endpoints;
    //  The daemon's XPUB endpoint (NULL: the one its hello announces, else
    //  SBX_DEFAULT_EVENTS_ENDPOINT).
    const char *events_endpoint;
    //  Deliver events with seq > since: 0 is the whole journal from seq 1,
    //  SBX_EVENTS_NOW only events published after sbx_events_new.
    uint64_t since;
    //  Event-name prefixes to deliver ("session.", "sandbox.status"),
    //  NULL-terminated; NULL: every event. Filtering happens here, not in
    //  the SUB socket, so that a gap in `seq` always means a lost event.
    const char *const *prefixes;
    //  connect and replay timeouts (ms), as in sbx_client_options_t.
    int connect_timeout_ms;
    int timeout_ms;
    //  CURVE for both sockets, as in sbx_client_options_t.
    const char *server_cert;
    const char *cert;
} sbx_events_options_t;

//  Subscribes (SUB to events_endpoint, plus its own request connection
//  for replays). Blocks for the connect (hello) and, when `since` is
//  SBX_EVENTS_NOW, one replay to learn the current seq. Returns the
//  subscription (caller owns) or NULL with *error_p.
sbx_events_t *
    sbx_events_new (const sbx_events_options_t *options, sbx_error_t **error_p);

void
    sbx_events_destroy (sbx_events_t **self_p);

//  The next event in seq order that matches the prefixes, waiting up to
//  `timeout_ms` (0: do not wait; < 0: forever). Returns the event (caller
//  owns; sbx_event_destroy), or NULL: on timeout with *error_p untouched,
//  on failure with *error_p set (Unreachable/Timeout of a replay,
//  Interrupted). Every event with seq > since is delivered exactly once
//  and in order: live events come from the SUB socket; a gap in seq (a
//  drop at a high-water mark, a late subscription) is filled from the
//  journal with events.replay before anything later is delivered, and
//  after `idle` time without events (50 ms at first, doubling to 1 s) a
//  replay checks that nothing was missed at the tail. Events the journal
//  no longer holds are skipped and counted (sbx_events_lost).
sbx_event_t *
    sbx_events_next (sbx_events_t *self, int timeout_ms, sbx_error_t **error_p);

//  The seq of the last event delivered or filtered out (0 before any).
uint64_t
    sbx_events_last_seq (const sbx_events_t *self);

//  Events that could not be recovered because the journal had dropped
//  them (replay said `truncated`).
uint64_t
    sbx_events_lost (const sbx_events_t *self);

//  Number of replays made so far to fill gaps (not counting the initial
//  history and idle checks that found nothing).
uint64_t
    sbx_events_gap_replays (const sbx_events_t *self);

//  Test hook: discard the next `count` events received on the SUB socket
//  before they are looked at, as a high-water mark would. The gap is then
//  filled from the journal like any other.
void
    sbx_events_test_drop (sbx_events_t *self, size_t count);

#ifdef __cplusplus
}
#endif
#endif
