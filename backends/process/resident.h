/*  sbx_process_resident - a long-lived command in a process sandbox: one
    that stays running from call to call (the python feature's
    interpreter), spoken to over a socket of its own.

    It starts as any command does (command.h): through sbx-init, so with
    the sandbox's isolation, resource limits and user, in a session of its
    own, below sbx-init, where a reset or shutdown of the sandbox kills it
    with everything else. What differs is its descriptors and its life:
      fd 0        one end of a socketpair, for talking both ways; the
                  other end is ours (sbx_process_resident_socket)
      fd 1, 2     pipes whose read ends are ours
    and it outlives the call that started it. Its owner polls the socket,
    the pipes and the channel (sbx_process_resident_channel_fd) as it
    needs, signals it, kills its tree, and learns of its exit. Our ends
    are non-blocking.

    Its exit comes from sbx-init as EXITED on the sandbox's channel,
    which every other command's loop reads too: the channel keeps it
    for us (sbx_process_channel_watch), so it is never lost.

    Owned by one feature instance, used from the sandbox's thread only,
    between the sandbox's start and its shutdown. Calls that wait say how
    long at most.
*/
#ifndef SBX_PROCESS_RESIDENT_H
#define SBX_PROCESS_RESIDENT_H

#include "backends/process/process.h"

typedef struct sbx_process_resident_t sbx_process_resident_t;

//  Starts run->argv with run->env in run->cwd (the rest of `run` is not
//  used) and waits for sbx-init to say it started (10 s at most). NULL
//  with *self_p set (caller owns it), or the error, as sbx_process_run's:
//  a user error when the command could not start for its own reasons
//  (OSError at the process limit, FileNotFoundError for a missing
//  program...), a SandboxStateError when the sandbox is broken.
sbx_error_t *
    sbx_process_resident_start (sbx_process_t *sandbox, const sbx_process_run_t *run,
                                sbx_process_resident_t **self_p);

//  Kills the command's tree (sbx_process_resident_kill: even after its
//  exit, what it left running in its session goes; a failure is logged),
//  closes our ends, frees it and nulls *self_p. Safe on NULL. Blocks as
//  that kill does.
void
    sbx_process_resident_destroy (sbx_process_resident_t **self_p);

//  Our end of the socket: read and write, non-blocking.
int
    sbx_process_resident_socket (sbx_process_resident_t *self);

//  Our read end of its stdout (stream 0) or stderr (1), non-blocking; -1
//  once closed.
int
    sbx_process_resident_output (sbx_process_resident_t *self, int stream);

//  Closes our end of a stream (at its EOF).
void
    sbx_process_resident_close_output (sbx_process_resident_t *self, int stream);

//  The sandbox's channel to sbx-init: poll it (POLLIN) beside the rest,
//  then call sbx_process_resident_update.
int
    sbx_process_resident_channel_fd (sbx_process_resident_t *self);

//  Takes what sbx-init has sent, without blocking, so that a fresh exit
//  shows in sbx_process_resident_exited. NULL, or a SandboxStateError
//  when the channel is dead.
sbx_error_t *
    sbx_process_resident_update (sbx_process_resident_t *self);

//  True once the command's main process has exited, with its wait status
//  in *status_p (may be NULL).
bool
    sbx_process_resident_exited (sbx_process_resident_t *self, int *status_p);

//  Sends signal `sig` to the command's process group (as a terminal's
//  Ctrl-C does); nothing once it has exited. Does not wait. NULL, or a
//  SandboxStateError.
sbx_error_t *
    sbx_process_resident_signal (sbx_process_resident_t *self, int sig);

//  Kills the command's process tree and waits until none of it is left
//  (a few ms; SBX_PROCESS_KILL_TIMEOUT_MS at most). Afterwards it has
//  exited. NULL, or a SandboxStateError.
sbx_error_t *
    sbx_process_resident_kill (sbx_process_resident_t *self);

#endif
