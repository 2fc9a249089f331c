/*  sbx_process_config - the options of the process sandbox kind, checked
    (docs/sandboxes.md, "Options of the process kind"), and the command
    line they give sbx-init.

    Options (all optional; an unknown one, at any depth, or a bad value is
    a ConfigError naming its JSON path):
      isolation   "none" (default) | "bwrap"
      limits      {cpu_s: 600, address_space_mb: 8192, open_files: 1024,
                   processes: 256, file_size_mb: 1024}; null = inherit
      users       {uid_base: 1900000000, count: 65536, lock_dir:
                   "/run/sbx-uids"} (default when root), or null: commands
                   run as sbxd's own user
      bwrap       path of bubblewrap (default: found on PATH)
      init_path   path of sbx-init (default: next to the running program)

    With isolation "bwrap", making a config runs bubblewrap once with the
    sandbox's arguments, so that a host where it cannot work is refused at
    start with bwrap's own reason.

    One config per environment, made before the sandboxes start; from then
    on it is read-only and every sandbox thread reads it.
*/
#ifndef SBX_PROCESS_CONFIG_H
#define SBX_PROCESS_CONFIG_H

#include "backends/process/argv.h"
#include "backends/process/user.h"

#include <jansson.h>
#include <sbx/error.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sbx_process_config_t sbx_process_config_t;

//  Checks `options` (the `sandbox` section; `path` is its JSON path for
//  messages) and makes the users' lock directory when users are on.
//  Blocks up to 10 s for the bwrap probe. Returns the config (caller
//  destroys), or NULL with a ConfigError in *error_p.
sbx_process_config_t *
    sbx_process_config_new (const json_t *options, const char *path, sbx_error_t **error_p);

//  Frees it and nulls *self_p. Safe on NULL.
void
    sbx_process_config_destroy (sbx_process_config_t **self_p);

//  True when commands run under bubblewrap (isolation "bwrap").
bool
    sbx_process_config_bwrap (const sbx_process_config_t *self);

//  True when each sandbox leases a user of its own (user.h), with the
//  range and the lock directory (owned by the config).
bool
    sbx_process_config_users (const sbx_process_config_t *self, uint32_t *base_p, uint32_t *count_p,
                              const char **lock_dir_p);

//  Where commands see the sandbox directory `dir`: "/workspace" under
//  bwrap, else `dir` itself.
const char *
    sbx_process_config_workspace (const sbx_process_config_t *self, const char *dir);

//  Appends to `argv` the command line that starts sbx-init for the sandbox
//  in `dir`: bubblewrap's arguments first under isolation "bwrap" (with
//  `root_dir` hidden, so a sandbox never sees the others), then sbx-init
//  with its workspace, the limits, and `user`'s ids (NULL: none).
void
    sbx_process_config_init_argv (const sbx_process_config_t *self, const char *dir, const char *root_dir,
                                  sbx_process_user_t *user, sbx_process_argv_t *argv);

#endif
