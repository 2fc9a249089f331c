/*  What the features on a process sandbox (shell, fs, python) share: the
    check that the sandbox is one, the reset at session end and the error
    for an unknown argument; and what those that run programs (shell,
    python) share: their common options (max_output_bytes, timeout_ms,
    max_timeout_ms, env), the environment a program starts with, a call's
    timeout_ms argument, and output packed or streamed as the protocol
    wants it.
*/
#ifndef SBX_FEATURES_KIT_H
#define SBX_FEATURES_KIT_H

#include "backends/process/process.h"

#include <sbx/plugin.h>
#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  NULL when the call's sandbox is a process sandbox, else the
//  ValueError that feature `feature` needs one (a setup hook's answer).
sbx_error_t *
    sbx_kit_need_process (sbx_ctx_t *ctx, const char *feature);

//  The call's process sandbox, or NULL with *error_p set as
//  sbx_kit_need_process says.
sbx_process_t *
    sbx_kit_process (sbx_ctx_t *ctx, const char *feature, sbx_error_t **error_p);

//  A teardown_session hook: resets the process sandbox
//  (sbx_process_reset). Whichever feature ends the session first resets
//  it; the next finds it clean.
sbx_error_t *
    sbx_kit_teardown_session (void *instance, sbx_ctx_t *ctx);

//  The ValueError for an argument `key` that `method` does not take
//  (`takes` lists those it does).
sbx_error_t *
    sbx_kit_unknown_arg (const char *method, const msgpack_object *key, const char *takes);

//  A list of environment strings, owned and NULL-terminated: the
//  environment a program starts with ("NAME=value"), or a feature's env
//  option ("NAME=value" sets, a bare "NAME" removes). items may be NULL
//  while count is 0.
typedef struct {
    char **items;
    size_t count;
} sbx_kit_env_t;

typedef struct {
    size_t max_output;          //  max_output_bytes per stream (1048576)
    int64_t timeout_ms;         //  the default timeout of a call (60000)
    int64_t max_timeout_ms;     //  the most a call may ask for (3600000)
    sbx_kit_env_t env;          //  "NAME=value" over the defaults; "NAME" alone removes
} sbx_kit_options_t;

//  The defaults.
void
    sbx_kit_options_init (sbx_kit_options_t *self);

//  Reads `key` of the feature at `path` when it is a common option: true
//  (with *error_p set when its value is bad), or false when it is not one.
bool
    sbx_kit_option (sbx_kit_options_t *self, const char *path, const char *key, const json_t *value,
                    sbx_error_t **error_p);

//  What holds between the options once all are read (timeout_ms <=
//  max_timeout_ms); NULL when all is well.
sbx_error_t *
    sbx_kit_options_check (const sbx_kit_options_t *self, const char *path);

void
    sbx_kit_options_free (sbx_kit_options_t *self);

//  An integer option in [low, high], else a ConfigError naming path.key.
sbx_error_t *
    sbx_kit_integer_option (const json_t *value, const char *path, const char *key, int64_t low,
                            int64_t high, int64_t *out);

//  A call's `timeout_ms` argument: nil leaves *timeout_ms as it is, else
//  an integer in [1, max_timeout_ms] or a ValueError naming `method`.
sbx_error_t *
    sbx_kit_timeout_arg (const sbx_kit_options_t *options, const char *method, const msgpack_object *value,
                         int64_t *timeout_ms);

//  A program's environment to begin with: PATH, HOME (`home`), LANG, then
//  the options' env.
void
    sbx_kit_env_start (sbx_kit_env_t *env, const sbx_kit_options_t *options, const char *home);

//  Sets "NAME=value", or with no '=' removes NAME.
void
    sbx_kit_env_put (sbx_kit_env_t *env, const char *entry);

//  Whether `name` (length bytes) may name a variable: not empty, no '='
//  and no NUL.
bool
    sbx_kit_env_name_ok (const char *name, size_t length);

void
    sbx_kit_env_free (sbx_kit_env_t *env);

//  Output as str when it is UTF-8 (a sequence cut by truncation is
//  dropped), else as bin.
void
    sbx_kit_pack_output (msgpack_packer *pk, const char *data, size_t size, bool truncated);

//  A key and a boolean.
void
    sbx_kit_pack_bool (msgpack_packer *pk, const char *key, bool value);

//  A streaming call's output as the program writes it (the on_output of a
//  run; `arg` is the call's sbx_ctx_t): stream 0 is stdout, else stderr.
void
    sbx_kit_stream_output (void *arg, int stream, const char *data, size_t size);

//  A run's stdin as it comes (the input_next, input_done and input_fd of
//  a run; `arg` is the call's sbx_ctx_t): sets them when the call takes
//  input (docs/protocol.md "Input"), else leaves them unset.
void
    sbx_kit_run_input (sbx_process_run_t *run, sbx_ctx_t *ctx);

#endif
