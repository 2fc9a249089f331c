/*  The process sandbox kind (DESIGN.md "Plugins", docs/sandboxes.md):
    the public face that features (shell, fs) and the kind registry use.

    A process sandbox is a directory `root_dir/<env>/<slot>:<gen>` (its
    workspace and every other path its commands can write, space.h), a
    cgroup of its own (cgroup.h), and one long-lived init process of ours,
    `sbx-init` (backends/init/), that runs every command of the sandbox.
    sbxd never forks: it starts sbx-init once per sandbox with posix_spawn
    - directly (isolation "none") or as bubblewrap's command (isolation
    "bwrap": read-only root, the workspace at /workspace and the
    sandbox's own /tmp, /var/tmp and /dev/shm, private /dev and /proc,
    new pid, ipc, uts and net namespaces); it joins the cgroup first.
    sbx-init starts each command (a vfork-style clone) in its own session
    with the sandbox's resource limits, user and no_new_privs, kills
    process trees on request, and cleans what a session left outside the
    sandbox's directory (backends/init/protocol.h).

    When sbxd runs as root, each sandbox's commands run as a uid of their
    own (option `users`), taken from a range and held with a lock file for
    the sandbox's life: sandboxes cannot touch each other's files, and
    what a sandbox leaves in the host's shared places is its own.

    The kind's parts, one job per file in this folder:
      config.h    the options (listed there), checked; the bwrap probe;
                  the cgroup layout; sbx-init's command line
      cgroup.h    the sandbox's cgroup (cgfs.h: its files)
      space.h     the sandbox's directory and writable paths
      user.h      the uid lease
      tree.h      making and removing directory trees, links never followed
      channel.h   sbx-init and its control socket
      command.h   running one command
      resident.h  a long-lived command (an interpreter) that stays
                  running across calls, talked to over a socket
      child.h     starting sbxd's children, and waiting for them with a
                  deadline
      argv.h      argument vectors
    This file: the instance (start, shutdown, ping), what features ask of
    it, and the kind's vtable.

    Everything here is called from the owning sandbox actor's thread; an
    instance is never shared. Blocking calls say so; every wait has a
    deadline.
*/
#ifndef SBX_PROCESS_H
#define SBX_PROCESS_H

#include <sbx/plugin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

extern const sbx_sandbox_kind_t sbx_sandbox_process;

typedef struct sbx_process_t sbx_process_t;

//  The process sandbox behind `ctx`, or NULL when the sandbox is of
//  another kind.
sbx_process_t *
    sbx_process_of (sbx_ctx_t *ctx);

//  The sandbox's workspace as sbxd sees it (absolute host path).
const char *
    sbx_process_dir (sbx_process_t *self);

//  The sandbox directory as its commands see it ("/workspace" under
//  bwrap, else the host path).
const char *
    sbx_process_workspace (sbx_process_t *self);

//  An O_PATH descriptor of the workspace (owned by the sandbox,
//  valid between start and shutdown; -1 otherwise). Resolve user paths
//  beneath it with openat2 (RESOLVE_BENEATH).
int
    sbx_process_dirfd (sbx_process_t *self);

//  The user and group that own the sandbox's files, when the sandbox runs
//  its commands as a user of its own; false when files keep sbxd's user.
bool
    sbx_process_owner (sbx_process_t *self, uid_t *uid_p, gid_t *gid_p);

//  One command to run (sbx_process_run).
typedef struct {
    const char *const *argv;        //  NULL-terminated; argv [0] is a path
    const char *const *env;         //  NULL-terminated "NAME=value"
    const char *cwd;                //  relative to the sandbox dir; NULL: top
    const void *input;              //  stdin bytes; NULL: /dev/null
    size_t input_size;
    size_t max_output;              //  bytes kept per stream; more is discarded
    int64_t timeout_ms;             //  > 0
    int cancel_fd;                  //  once readable, the command is killed as at
                                    //  its timeout and reported cancelled; -1: none
    //  When set, output goes here as it is read (stream 0 stdout, 1 stderr,
    //  still within max_output per stream) and the result's out and err
    //  stay empty.
    void (*on_output) (void *arg, int stream, const char *data, size_t size);
    void *on_output_arg;
    //  When set, stdin stays open after `input` for more as it comes
    //  (sbx_ctx_input_next and sbx_ctx_input_done, with their contract,
    //  on `input_arg`; input_fd is polled for more), until its end.
    int (*input_next) (void *arg, const void **data_p, size_t *size_p, bool *eof_p);
    void (*input_done) (void *arg, bool closed);
    int input_fd;
    void *input_arg;
} sbx_process_run_t;

typedef struct {
    int status;                     //  wait status of the main process
    bool timed_out;                 //  killed at the timeout
    bool cancelled;                 //  killed because cancel_fd became readable
    bool truncated;                 //  some output was discarded
    char *out, *err;                //  caller frees both (never NULL on success)
    size_t out_size, err_size;
    double duration_ms;             //  from start to exit
} sbx_process_result_t;

//  Runs a command in the sandbox and waits for its main process to exit
//  (blocks up to timeout_ms plus the time a kill takes). Writes `input`
//  while it drains both output streams, so output of any size never
//  deadlocks. At the timeout it kills the command's process tree (its
//  session, group and descendants) and reports timed_out; the same, with
//  cancelled, as soon as run->cancel_fd is readable (when it already is,
//  the command does not start: cancelled, no output). When the main
//  process exits, output still buffered is read; background processes
//  keep running until sbx_process_reset or shutdown, and what they write
//  later is discarded.
//  Returns NULL and fills *result (caller frees out and err), or an
//  error: a user error when the command could not start for its own
//  reasons (PermissionError / FileNotFoundError / NotADirectoryError for
//  cwd, OSError e.g. at the process limit), a SandboxStateError when the
//  sandbox is broken (directory gone, init process dead).
sbx_error_t *
    sbx_process_run (sbx_process_t *self, const sbx_process_run_t *run,
                     sbx_process_result_t *result);

//  Releases what a result holds.
void
    sbx_process_result_free (sbx_process_result_t *result);

//  Kills every process the sandbox runs and waits until none is left
//  (blocks; a few ms). NULL or a SandboxStateError.
sbx_error_t *
    sbx_process_kill_all (sbx_process_t *self);

//  For this folder's classes (resident.h): the channel to the sandbox's
//  init process (channel.h), valid between start and shutdown...
typedef struct sbx_process_channel_t sbx_process_channel_t;
sbx_process_channel_t *
    sbx_process_channel (sbx_process_t *self);

//  ...and NULL when a command may start now, else the SandboxStateError
//  that says why not (the init process or the directory is gone). Caller
//  owns it. Counts as a use for sbx_process_reset.
sbx_error_t *
    sbx_process_ready (sbx_process_t *self);

//  Brings the sandbox back to a clean state between sessions: kills every
//  process (sbx_process_kill_all), empties every path its commands can
//  write, and has sbx-init remove what its user left outside them (IPC;
//  with isolation "none", its entries in the host's /tmp and the like),
//  with the memory limit lifted meanwhile. Does nothing when nothing ran
//  and the workspace was not handed out (sbx_process_dirfd) since the
//  last reset. NULL or a SandboxStateError.
sbx_error_t *
    sbx_process_reset (sbx_process_t *self);

#endif
