/*  sbx_process_channel - one sandbox's init process, sbx-init, and the
    control socket to it (backends/init/protocol.h).

    sbxd never forks: each sandbox starts sbx-init once, with posix_spawn
    (child.h), directly or as bubblewrap's command, and asks it over an
    AF_UNIX socket to run commands (command.h), to kill them, and to kill
    everything below it. sbx-init's stderr comes back on a pipe that is
    read only when something failed, to say why.

    A channel that failed once (sbx-init gone, a request not taken, an
    answer not understood) is broken for good: the sandbox is broken, and
    every later request fails without touching the socket.

    Lifecycle: new (nothing runs) -> start (sbx-init runs and is READY;
    on failure what was started stays for close) -> close (EOF: sbx-init
    kills what is left and exits; waited for, killed at the deadline) ->
    destroy. Owned by one sandbox and used from its thread only; every
    call that waits says how long at most.
*/
#ifndef SBX_PROCESS_CHANNEL_H
#define SBX_PROCESS_CHANNEL_H

#include "backends/init/protocol.h"

#include <sbx/error.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

//  How long sbx-init may take to answer KILL or KILL_ALL (it gives up on
//  survivors after 5 s).
#define SBX_PROCESS_KILL_TIMEOUT_MS 30000

typedef struct sbx_process_channel_t sbx_process_channel_t;

//  A channel for sandbox `id` (copied, for messages and logs); nothing
//  runs yet. `name` says what runs in messages ("sbx-init", or
//  "bwrap/sbx-init"). Never returns NULL.
sbx_process_channel_t *
    sbx_process_channel_new (const char *id, const char *name);

//  Kills sbx-init if it still runs (SIGKILL to its process group, reaped
//  within 10 s), closes the socket and the pipe, frees the channel and
//  nulls *self_p. Safe on NULL.
void
    sbx_process_channel_destroy (sbx_process_channel_t **self_p);

//  Starts `argv` (sbx-init's command line, config.h) in the directory
//  `cwd`, with a clean environment (PATH, and the sanitizers' settings
//  when sbxd has them), the socket on fd 3, the pipe on fd 2 and
//  `join_fds` [join_count] (the cgroup.procs files it joins; still the
//  caller's) on fds 4..., and waits until it says READY (blocks up to
//  10 s). NULL, or a SandboxStateError with sbx-init's own words
//  (whatever it started is left to close).
sbx_error_t *
    sbx_process_channel_start (sbx_process_channel_t *self, char *const argv [], const char *cwd,
                               const int *join_fds, int join_count);

//  Ends sbx-init: closes the socket (EOF: it kills every process below it
//  and exits) and waits up to 10 s for it to exit, then SIGKILLs its
//  process group. Blocks at most 20 s. NULL, or a SandboxStateError when
//  it had to be killed; an exit status other than 0 is logged. Idempotent.
sbx_error_t *
    sbx_process_channel_close (sbx_process_channel_t *self);

//  True while the channel takes requests (started, not broken, not
//  closed).
bool
    sbx_process_channel_ready (sbx_process_channel_t *self);

//  The SandboxStateError of a channel that takes no request: "its init
//  process is gone". Caller owns it.
sbx_error_t *
    sbx_process_channel_gone (sbx_process_channel_t *self);

//  NULL while sbx-init runs and the channel is not broken; else the
//  SandboxStateError that says so, after reaping sbx-init when it exited
//  (the channel is then broken). Never blocks.
sbx_error_t *
    sbx_process_channel_ping (sbx_process_channel_t *self);

//  The sandbox id the channel was made with.
const char *
    sbx_process_channel_id (sbx_process_channel_t *self);

//  The pid of sbx-init (of bwrap around it); 0 when none runs.
pid_t
    sbx_process_channel_pid (sbx_process_channel_t *self);

//  The socket, to poll for answers (POLLIN) beside other descriptors.
int
    sbx_process_channel_fd (sbx_process_channel_t *self);

//  /dev/null, read-only, for a command's stdin when it takes none; opened
//  once, owned by the channel (pass it, do not close it). -1 when it
//  cannot be opened, with errno.
int
    sbx_process_channel_null (sbx_process_channel_t *self);

//  A fresh request id.
uint32_t
    sbx_process_channel_next_id (sbx_process_channel_t *self);

//  Sends one request and its payload (`length` bytes); `fds` (`nfds`: 0
//  or 3 descriptors, still the caller's) travel with its header. Blocks
//  while the socket is full, 10 s at most. NULL, or a SandboxStateError
//  (the channel is then broken).
sbx_error_t *
    sbx_process_channel_send (sbx_process_channel_t *self, uint32_t type, uint32_t id, int32_t value,
                              const void *payload, uint32_t length, const int *fds, int nfds);

//  Takes one answer if a whole one has arrived, without blocking. 1: an
//  answer in *msg; 0: none yet; -1: the channel is dead.
int
    sbx_process_channel_recv (sbx_process_channel_t *self, sbx_init_msg_t *msg);

//  Waits up to timeout_ms for the answer `type` with `id` (any id for
//  READY), dropping others. 1: got it, in *msg; 0: timeout; -1: the
//  channel is dead.
int
    sbx_process_channel_await (sbx_process_channel_t *self, uint32_t type, uint32_t id,
                               sbx_init_msg_t *msg, int timeout_ms);

//  Marks the channel broken and returns a SandboxStateError saying `what`,
//  followed by what sbx-init wrote on its stderr, if anything.
sbx_error_t *
    sbx_process_channel_broken (sbx_process_channel_t *self, const char *what);

//  Watches command `id` (a long-lived one: resident.h): its EXITED answer
//  is kept when it arrives, whoever reads the socket then (another
//  command's loop, a wait for some other answer), until
//  sbx_process_channel_unwatch. Never blocks.
void
    sbx_process_channel_watch (sbx_process_channel_t *self, uint32_t id);

//  True once watched command `id` has exited, with its wait status in
//  *status_p; false while it runs or when it is not watched. Reads
//  nothing: sbx_process_channel_recv keeps what arrives.
bool
    sbx_process_channel_exited (sbx_process_channel_t *self, uint32_t id, int *status_p);

//  Stops watching command `id` and forgets its exit.
void
    sbx_process_channel_unwatch (sbx_process_channel_t *self, uint32_t id);

//  Kills the process tree of command `pid` (KILL), or with pid 0 every
//  process below sbx-init (KILL_ALL), and waits until none of it is left
//  (blocks; a few ms, SBX_PROCESS_KILL_TIMEOUT_MS at most). NULL or a
//  SandboxStateError.
sbx_error_t *
    sbx_process_channel_kill (sbx_process_channel_t *self, int32_t pid);

//  Has sbx-init remove what the sandbox's user left outside its
//  directory (protocol.h: CLEAN), and waits for it (blocks up to
//  SBX_PROCESS_KILL_TIMEOUT_MS). Call when no command runs. NULL, or a
//  SandboxStateError with sbx-init's reasons.
sbx_error_t *
    sbx_process_channel_clean (sbx_process_channel_t *self);

#endif
