/*  sbx_process_config - the options of the process sandbox kind, checked
    (docs/sandboxes.md, "Options of the process kind"), the cgroup layout
    they need, and the command line they give sbx-init.

    Options (all optional; an unknown one, at any depth, or a bad value is
    a ConfigError naming its JSON path):
      isolation   "none" (default) | "bwrap" | "auto" (bwrap where it
                  works here, else "none" with a warning that says why)
      network     "none" (default under bwrap: a loopback of its own) |
                  "host"; with isolation "none" only "host" holds
      limits      per process (setrlimit): cpu_s 600, address_space_mb
                  8192, open_files 1024, file_size_mb 1024; per sandbox (a
                  cgroup, cgroup.h): processes 256, memory_mb, cpu; per
                  sandbox (a tmpfs): disk_mb. null = none / inherit
      users       {uid_base: 1900000000, count: 65536, lock_dir:
                  "/run/sbx-uids"} (default when root), or null: commands
                  run as sbxd's own user
      bwrap       path of bubblewrap (default: found on PATH)
      init_path   path of sbx-init (default: next to the running program)

    Making a config checks what the host must offer, so that sbxd refuses
    to start, with the reason, rather than run a sandbox without what was
    asked: with isolation "bwrap" (or "auto") it runs bubblewrap once with
    the sandbox's arguments; with a per-sandbox limit it finds (and makes
    the top of) a cgroup hierarchy with its controller (a configured
    limit without one is a ConfigError; the default `processes` falls
    back to RLIMIT_NPROC, per uid, with a warning); `disk_mb` needs root.

    One config per environment, made before the sandboxes start; from then
    on it is read-only and every sandbox thread reads it.
*/
#ifndef SBX_PROCESS_CONFIG_H
#define SBX_PROCESS_CONFIG_H

#include "backends/process/argv.h"
#include "backends/process/cgroup.h"
#include "backends/process/user.h"

#include <jansson.h>
#include <sbx/error.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sbx_process_config_t sbx_process_config_t;

//  Checks `options` (the `sandbox` section; `path` is its JSON path for
//  messages), makes the users' lock directory when users are on, and
//  finds the cgroup layout. Blocks up to 10 s for the bwrap probe.
//  Returns the config (caller destroys), or NULL with a ConfigError in
//  *error_p. Logs a warning for what it had to do without (auto isolation
//  falling back to "none", processes counted per uid).
sbx_process_config_t *
    sbx_process_config_new (const json_t *options, const char *path, sbx_error_t **error_p);

//  Frees it and nulls *self_p. Safe on NULL.
void
    sbx_process_config_destroy (sbx_process_config_t **self_p);

//  True when commands run under bubblewrap (isolation "bwrap", or "auto"
//  where bwrap works).
bool
    sbx_process_config_bwrap (const sbx_process_config_t *self);

//  The isolation in force: "bwrap" or "none".
const char *
    sbx_process_config_isolation (const sbx_process_config_t *self);

//  True when each sandbox leases a user of its own (user.h), with the
//  range and the lock directory (owned by the config).
bool
    sbx_process_config_users (const sbx_process_config_t *self, uint32_t *base_p, uint32_t *count_p,
                              const char **lock_dir_p);

//  The cgroup layout sandboxes make their groups in, or NULL when they
//  have none; the limits of each group in *limits (sandbox's own
//  processes - sbx-init, and bwrap - on top of `processes`).
const sbx_process_cgroups_t *
    sbx_process_config_cgroups (const sbx_process_config_t *self, sbx_process_cgroup_limits_t *limits);

//  The size of each sandbox's tmpfs in bytes (limits.disk_mb), or -1:
//  none, the sandbox's directory is on root_dir's file system.
int64_t
    sbx_process_config_disk (const sbx_process_config_t *self);

//  True when sbx-init is to clean what the sandbox's user leaves outside
//  its directory (bwrap: its IPC namespace; "none": shared directories
//  and IPC, which needs a user of its own per sandbox).
bool
    sbx_process_config_cleans (const sbx_process_config_t *self);

//  Takes one of the environment's start slots: at most 4 per core (at
//  least 16) sandboxes start their init process at once. The kernel
//  builds namespaces mostly one after the other; a thousand bwraps
//  started together would each wait for all the others, past the time
//  sbxd gives one to get ready. Blocks until a slot is free or `cancel_fd` (may be
//  -1) is readable. 0, or -1 when cancelled. Any thread.
int
    sbx_process_config_start_take (const sbx_process_config_t *self, int cancel_fd);

//  Gives the slot back. Any thread.
void
    sbx_process_config_start_give (const sbx_process_config_t *self);

//  Where commands see the sandbox's workspace `workspace` (host path):
//  "/workspace" under bwrap, else `workspace` itself.
const char *
    sbx_process_config_workspace (const sbx_process_config_t *self, const char *workspace);

//  One sandbox, as its command line needs it.
typedef struct {
    const char *dir;            //  the sandbox's own directory (space.h)
    const char *root_dir;       //  hidden under bwrap
    sbx_process_user_t *user;   //  the sandbox's user, or NULL
    int join_fds;               //  cgroup.procs descriptors at fds 4... of
                                //  the child; 0: no cgroup
} sbx_process_site_t;

//  Appends to `argv` the command line that starts sbx-init for `site`:
//  sbx-init joining the cgroup and becoming bubblewrap under isolation
//  "bwrap" (bwrap's arguments, with root_dir hidden so a sandbox never
//  sees the others), then sbx-init with its workspace, the limits, the
//  user's ids, its umask and what it cleans.
void
    sbx_process_config_init_argv (const sbx_process_config_t *self, const sbx_process_site_t *site,
                                  sbx_process_argv_t *argv);

#endif
