/*  Messages between sbx actors (one process, inproc sockets).

    Everything that crosses a thread is either a command string on an actor
    pipe or a pointer handed over once: the sender stops touching it after
    the send, the receiver owns it. Pointers travel as one frame holding the
    pointer value ("p" in zsock_send pictures).

    environment -> sandbox   (backend ROUTER -> sandbox DEALER)
        [ptr sbx_job_t]          a command; the sandbox answers with the
                                 same job (reply fields and report filled)
    sandbox -> environment   (sandbox DEALER -> backend ROUTER)
        [ptr sbx_job_t]          the answer to a command, or an unsolicited
                                 job of kind SBX_JOB_START (the result of
                                 the sandbox's own start) or SBX_JOB_NOTICE
                                 (status changed, events to publish)
    environment -> eventbus  (eventbus actor pipe)
        "EVENTS" [ptr sbx_evbatch_t]     publish, in order
        "REPLAY" [ptr sbx_job_t]         answer events.replay into the job
    eventbus -> environment
        "REPLAY" [ptr sbx_job_t]         the answered job
    environment -> supervisor (supervisor actor pipe)
        "SPAWN" [ptr sbx_spawn_t]        start a sandbox actor
        "REAP" [string sandbox id]       join and free a finished actor
    supervisor -> environment
        "SPAWNED" <slot index> <ok 1|0>  0 when the thread could not start

    A sandbox's events ride on its own messages to the environment, which
    forwards them to the event bus before anything it publishes later:
    so one pipe carries every event and causal order (a sandbox's events
    before the environment's reaction to them, generation N before N+1)
    holds in `seq`.
*/
#ifndef SBX_PROTO_H
#define SBX_PROTO_H

#include <czmq.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sbx/error.h>
#include "messages/event.h"
#include "messages/request.h"
#include "messages/status.h"
#include "runtime/core/config.h"

//  --- Event batches ------------------------------------------------------

//  Encoded event bodies laid end to end, each preceded by a 5-byte record
//  header: [kind u8][body size u32 little-endian].
typedef struct {
    msgpack_sbuffer buffer;
    size_t count;
} sbx_evbatch_t;

sbx_evbatch_t *
    sbx_evbatch_new (void);
void
    sbx_evbatch_destroy (sbx_evbatch_t **self_p);
//  Appends one event (seq left 0 for the bus to stamp; ts_ns stamped now
//  when the event has none).
void
    sbx_evbatch_add (sbx_evbatch_t *self, const sbx_event_t *event);
//  Iterates: *offset_p starts at 0; returns false at the end.
bool
    sbx_evbatch_next (sbx_evbatch_t *self, size_t *offset_p,
                      sbx_event_kind_t *kind_p, uint8_t **body_p, size_t *size_p);

//  --- Jobs ----------------------------------------------------------------

typedef enum {
    SBX_JOB_START,              //  sandbox -> env: result of its own start
    SBX_JOB_NOTICE,             //  sandbox -> env: unsolicited report
    SBX_JOB_LOCAL,              //  a request the environment answers itself
    SBX_JOB_PROGRESS,           //  sandbox -> env: a streaming call's output, in
                                //  `result`, for the client of `envelope`
    SBX_JOB_ACQUIRE,            //  ready -> acquired
    SBX_JOB_SESSION_START,      //  acquired -> in_session
    SBX_JOB_SESSION_OPEN,       //  ready -> acquired -> in_session
    SBX_JOB_CALL,               //  a call; ephemeral when no session is open
    SBX_JOB_EPHEMERAL,          //  ready -> acquired -> session, call, end
    SBX_JOB_SESSION_END,
    SBX_JOB_LEASE_EXPIRED,      //  end the session (LeaseExpired) or shut down
    SBX_JOB_SHUTDOWN,
    SBX_JOB_REPLAY,             //  env <-> eventbus: events.replay
    SBX_JOB_INPUT,              //  input for the running call (request.call);
                                //  answered once taken, or `closed`
    SBX_JOB_KIND_COUNT
} sbx_job_kind_t;

//  The kind's name, for logs ("session_end"); "?" when out of range.
const char *
    sbx_job_kind_name (sbx_job_kind_t kind);

//  A request travelling from the environment to a sandbox and back.
typedef struct {
    sbx_job_kind_t kind;
    unsigned slot;              //  pool slot the job is about
    unsigned generation;

    //  Routing, owned by the environment; the sandbox leaves them alone.
    zmsg_t *envelope;           //  client frames to echo (NULL: internal)
    sbx_request_t request;      //  the decoded request
    char key [41];              //  the client's CURVE key (Z85; "" without CURVE)
    bool admin;                 //  it may use admin ops (an admin key, or
                                //  the admin endpoint)

    //  Input (environment -> sandbox).
    char *session_id;           //  session to start (SESSION_*, EPHEMERAL)

    //  Reply (sandbox -> environment).
    sbx_error_t *error;         //  NULL: success
    msgpack_sbuffer result;     //  one packed object (calls), may be empty
    bool refused;               //  the sandbox did nothing (wrong status):
                                //  the environment may offer the job elsewhere
    bool closed;                //  input: nothing took it, nor will take more
    int64_t wait_ms;            //  pool: how long an acquire may wait
    int64_t deadline;           //  pool: when a waiting acquire gives up

    //  Report: the sandbox as it is when this message leaves it.
    sbx_status_t status;
    char *current_session;      //  NULL when none
    zlistx_t *new_state_errors; //  sbx_error_t * met since the last report
    sbx_error_t *shutdown_error;//  user error its shutdown returned (offline)
    uint64_t sessions_started, sessions_ended, calls, calls_failed;
    sbx_evbatch_t *events;      //  to publish before anything else
} sbx_job_t;

//  Caller owns the job.
sbx_job_t *
    sbx_job_new (sbx_job_kind_t kind);
void
    sbx_job_destroy (sbx_job_t **self_p);

//  --- Spawning ------------------------------------------------------------

//  Everything a sandbox actor needs; handed to it (it owns it afterwards).
typedef struct {
    const sbx_config_t *config;     //  shared, read-only, outlives the actor
    char *sandbox_id;
    unsigned slot;
    unsigned generation;
    bool reusable;
    char *backend_endpoint;         //  the environment's inproc ROUTER
    int shutdown_fd;                //  the environment's eventfd, readable once
                                    //  it shuts down (borrowed: the environment
                                    //  closes it after every actor is joined)
    struct sbx_metrics_t *metrics;  //  the metrics registry (actors/metrics.h),
                                    //  NULL when off; borrowed, like shutdown_fd
} sbx_spawn_t;

sbx_spawn_t *
    sbx_spawn_new (const sbx_config_t *config, unsigned slot, unsigned generation,
                   bool reusable, const char *backend_endpoint, int shutdown_fd);
void
    sbx_spawn_destroy (sbx_spawn_t **self_p);

//  Sends / receives one pointer frame on a socket (after any frames already
//  sent with ZFRAME_MORE). Returns 0 / the pointer, -1 / NULL on failure.
int
    sbx_send_ptr (void *sock, void *ptr);
void *
    sbx_recv_ptr (void *sock);

#endif
