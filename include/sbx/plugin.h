/*  sbx plugin API - sandbox kinds and feature kinds (DESIGN.md "Plugins").

    A kind is a static vtable; every member but `name` may be NULL (no
    options: only `kind` is allowed; no instance_new: hooks and methods get
    the kind's config as their instance, read-only and shared; no hook:
    nothing to do at that step). Config time: `config_new` validates the
    kind's options (a JSON object; the `kind` key is the runtime's) and
    returns a config shared, read-only, by every sandbox made from it (use
    C11 atomics for anything counted across sandboxes). Run time: each
    sandbox makes its own instance with `instance_new` and calls the hooks
    from its own actor thread, one at a time - an instance is never touched
    by two threads.

    Hooks and methods return NULL for success or an error value
    (include/sbx/error.h) that the sandbox takes ownership of. A
    SandboxStateError means "this sandbox is broken" (SPEC §2); any other
    type is a user error.

    Adding a kind: one new file defining `const sbx_feature_kind_t
    sbx_feature_<name>` (or `sbx_sandbox_kind_t sbx_sandbox_<name>`), its
    declaration in features/features.h (or its backend's header), and one
    line in runtime/daemon/registry.c.
*/
#ifndef SBX_PLUGIN_H
#define SBX_PLUGIN_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <sbx/error.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The sandbox as a plugin sees it during a hook or a method (owned by the
//  sandbox actor; valid only during that call).
typedef struct sbx_ctx_t sbx_ctx_t;

//  A lifecycle hook: runs on the sandbox's thread; NULL or an error the
//  sandbox takes. Every hook in the vtables below is optional: NULL means
//  there is nothing to do at that step.
typedef sbx_error_t *(sbx_hook_fn) (void *instance, sbx_ctx_t *ctx);

//  A service method. `args` is always a map (empty when the caller gave
//  none). On success the handler packs exactly one object into `result`
//  (packing nothing means nil). On failure it returns an error and what it
//  packed is discarded.
typedef sbx_error_t *(sbx_method_fn) (void *instance, sbx_ctx_t *ctx,
                                      const msgpack_object *args,
                                      msgpack_packer *result);

//  A user error type that means the sandbox is broken, optionally only when
//  the message matches `pattern` (POSIX extended regex; NULL: any message).
typedef struct {
    const char *type;
    const char *pattern;
} sbx_critical_t;

typedef struct {
    const char *name;
    sbx_method_fn *handler;
    const sbx_critical_t *critical;     //  terminated by {NULL, NULL}; may be NULL
} sbx_method_t;

//  What a sandbox instance is told about itself.
typedef struct {
    const char *environment;    //  "testing-env"
    const char *sandbox_id;     //  "testing-env/0:1"
    unsigned slot;
    unsigned generation;
    const char *root_dir;       //  the environment's root directory
} sbx_sandbox_params_t;

typedef struct sbx_sandbox_kind_t {
    const char *name;
    //  Validates options; `path` is the JSON path for messages ("sandbox").
    //  Returns the shared config, or NULL with *error_p set.
    void *(*config_new) (const json_t *options, const char *path, sbx_error_t **error_p);
    void (*config_destroy) (void **config_p);
    void *(*instance_new) (const void *config, const sbx_sandbox_params_t *params);
    void (*instance_destroy) (void **instance_p);
    sbx_hook_fn *start;
    sbx_hook_fn *shutdown;
    sbx_hook_fn *ping;
    //  What the kind's sandboxes are isolated with (e.g. "bwrap",
    //  "none"), for the `status` reply; `config` is what config_new
    //  returned. NULL: the kind has nothing to say.
    const char *(*isolation) (const void *config);
    const sbx_method_t *methods;        //  sandbox services; terminated by {NULL}
    //  File descriptors one instance may hold at once (besides the
    //  runtime's own sockets): sbxd sizes its fd budget with it.
    unsigned fds;
} sbx_sandbox_kind_t;

typedef struct sbx_feature_kind_t {
    const char *name;
    void *(*config_new) (const json_t *options, const char *path, sbx_error_t **error_p);
    void (*config_destroy) (void **config_p);
    void *(*instance_new) (const void *config, const char *feature_name);
    void (*instance_destroy) (void **instance_p);
    sbx_hook_fn *setup;
    sbx_hook_fn *teardown;
    sbx_hook_fn *setup_session;
    sbx_hook_fn *teardown_session;
    sbx_hook_fn *housekeep;
    //  Seconds between housekeeps for this instance; < 0 for never. Asked
    //  after every housekeep (an instance may change it). NULL: never.
    double (*housekeep_interval) (void *instance);
    const sbx_method_t *methods;        //  terminated by {NULL}
    //  File descriptors one instance may hold at once beyond its
    //  sandbox's (a process it keeps running, say): added to the
    //  sandbox kind's `fds` for sbxd's fd budget.
    unsigned fds;
} sbx_feature_kind_t;

//  --- What a hook or method may ask of its sandbox -----------------------

const char *
    sbx_ctx_sandbox_id (sbx_ctx_t *ctx);
const char *
    sbx_ctx_environment (sbx_ctx_t *ctx);
//  The current session id, or NULL outside a session (and during a
//  proactive session setup).
const char *
    sbx_ctx_session_id (sbx_ctx_t *ctx);
//  A descriptor that becomes readable (POLLIN) once the environment is
//  shutting down, and stays readable. A hook or method that waits (for a
//  process, for I/O) polls it too and gives up early, so that a shutdown
//  never waits out a timeout. Owned by the environment: poll it, never
//  read or close it. -1 when there is none.
int
    sbx_ctx_shutdown_fd (sbx_ctx_t *ctx);
//  The sandbox kind and its instance (for features that need a particular
//  backend, e.g. shell on a process sandbox).
const sbx_sandbox_kind_t *
    sbx_ctx_sandbox_kind (sbx_ctx_t *ctx);
void *
    sbx_ctx_sandbox_instance (sbx_ctx_t *ctx);

//  Streaming (docs/protocol.md): true when the call being served asked for
//  its output as it comes (`stream: true`). Then the method sends its
//  output with sbx_ctx_stream as it has it, and leaves it out of its
//  result.
bool
    sbx_ctx_streaming (sbx_ctx_t *ctx);
//  Sends `size` bytes of the named output ("stdout", "stderr", ...) to the
//  caller now, ahead of the call's reply. 0, or -1 (nothing sent) when the
//  call is not streaming.
int
    sbx_ctx_stream (sbx_ctx_t *ctx, const char *stream, const void *data, size_t size);

//  Input as it comes (docs/protocol.md "Input"): a call with `input: true`
//  gets more input from `input` requests while it runs. A method that
//  feeds it somewhere (a command's stdin) asks for it as it can take it:
//  sbx_ctx_input_next returns 1 with the next chunk (*data_p and *size_p,
//  valid until sbx_ctx_input_done; *eof_p when the client sends no more
//  after it), 0 when none has come yet, or -1 when the input has ended
//  or the call takes none. Poll sbx_ctx_input_fd for POLLIN and ask again
//  before every poll (the descriptor only says that something new may
//  have come) for as long as the method runs - after the end too, since
//  asking is what answers chunks sent past it (`closed`). Each chunk is
//  answered with sbx_ctx_input_done: taken, or `closed` when nothing will
//  read it (the command closed its stdin); a `closed` with no chunk taken
//  ends the input. Input not taken when the method returns is answered
//  closed.
int
    sbx_ctx_input_next (sbx_ctx_t *ctx, const void **data_p, size_t *size_p, bool *eof_p);
void
    sbx_ctx_input_done (sbx_ctx_t *ctx, bool closed);
//  The descriptor to poll for input (owned by the sandbox: never read or
//  close it), or -1 when the call takes none.
int
    sbx_ctx_input_fd (sbx_ctx_t *ctx);

//  Calls a service of this same sandbox (feature NULL: a sandbox service),
//  synchronously, in this thread: a nested call (SPEC §3.6). `args` is a
//  packed msgpack map or NULL. The result object is appended to `result`
//  when it is not NULL. It publishes its own session.activity event and
//  applies the method's critical errors, so a critical failure comes back
//  as a SandboxStateError; the sandbox shuts down only after the outermost
//  call returns. Returns NULL or an error the caller owns.
sbx_error_t *
    sbx_ctx_call (sbx_ctx_t *ctx, const char *feature, const char *method,
                  const void *args, size_t args_size, msgpack_sbuffer *result);

//  Helper for the common case of one string argument: calls
//  `method` with args {key: value}.
sbx_error_t *
    sbx_ctx_call_str (sbx_ctx_t *ctx, const char *feature, const char *method,
                      const char *key, const char *value, msgpack_sbuffer *result);

#ifdef __cplusplus
}
#endif
#endif
