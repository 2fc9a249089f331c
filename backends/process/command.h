/*  sbx_process_command - one command run in a sandbox, from its start to
    the exit of its main process (process.h: sbx_process_run).

    sbx-init starts the command (channel.h) with three pipes of ours as its
    stdin, stdout and stderr, passed over the control socket, so output
    flows from the command straight to sbxd. One poll(2) loop writes the
    input while it drains both outputs, so output of any size, with input
    of any size, never deadlocks; past the cap per stream the rest is read
    and discarded. At the timeout, or once the cancel descriptor is
    readable, sbx-init kills the command's process tree (KILL), and the
    loop waits for both the exit and the kill's answer. When the main
    process has exited, what is left in the pipes is its output; what
    background processes write later is not.

    Functions only: the state of one run lives on the stack of its call.
    Runs on the sandbox's thread; blocks as sbx_process_run says.
*/
#ifndef SBX_PROCESS_COMMAND_H
#define SBX_PROCESS_COMMAND_H

#include "backends/process/channel.h"
#include "backends/process/process.h"

//  Runs `run` through `channel` and fills *result (zeroed first; caller
//  frees it with sbx_process_result_free) - see sbx_process_run for what
//  it returns and how long it blocks. Does not check the sandbox
//  directory: the caller does.
sbx_error_t *
    sbx_process_command_run (sbx_process_channel_t *channel, const sbx_process_run_t *run,
                             sbx_process_result_t *result);

//  For other ways to start a command (resident.h): the RUN payload of
//  run->argv, env and cwd (protocol.h), or NULL when it is too large
//  (caller frees it)...
void *
    sbx_process_command_payload (const sbx_process_run_t *run, uint32_t *length_p);

//  ...and, once RUN `id` is sent, its STARTED, waited for 10 s at most:
//  NULL with *pid_p set, or the error (caller owns it): the user error
//  that a STARTED value < 0 stands for (cwd as given to RUN), or a
//  SandboxStateError when sbx-init is gone or does not answer.
sbx_error_t *
    sbx_process_command_started (sbx_process_channel_t *channel, uint32_t id, const char *cwd, int32_t *pid_p);

#endif
