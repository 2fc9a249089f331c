/*  sbx_process_child - sbxd's side of a child process: starting it, the
    descriptors to it, and waiting for it with a deadline, never without.

    sbxd has two kinds of children: bubblewrap's probe at configuration
    (config.h) and the init process of each sandbox, sbx-init, alone or
    under bwrap (channel.h). sbxd is threaded and may be large: it never
    forks, it starts them with posix_spawn.

    Every wait here ends by its deadline. Through a pidfd, the wait sleeps
    in poll(2) until the child exits. When pidfd_open fails (EMFILE at the
    descriptor limit, ENOSYS before Linux 5.3), it asks waitpid (WNOHANG)
    again and again, sleeping between the questions from 1 ms, doubling up
    to 25 ms, until the deadline: there is no signal to wait for in a
    threaded daemon (SIGCHLD goes to any thread), and the thread that waits
    is the child's owner (a sandbox actor, or sbxd's main thread at
    configuration), whose work waits for that child anyway.

    Functions on pid_t and descriptors; no state, no locks. Any thread may
    call them, but a child is waited for by its owner only.
*/
#ifndef SBX_PROCESS_CHILD_H
#define SBX_PROCESS_CHILD_H

#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

//  Starts `argv` (argv [0] is the program's path) with `env` and the file
//  `actions` (may be NULL), in a session of its own (so its pid is also
//  its process group), with an empty signal mask and default dispositions
//  (sbxd's threads block SIGINT and SIGTERM). Returns 0 and the child's
//  pid in *pid_p, or an errno value. Does not wait for the child.
int
    sbx_process_child_spawn (pid_t *pid_p, char *const argv [], char *const env [],
                             const posix_spawn_file_actions_t *actions);

//  Waits up to timeout_ms for child `pid` to exit, and reaps it. Returns
//  its wait status; or -1 with errno ETIMEDOUT when it still runs at the
//  deadline (it is left running), or with another errno when it is not a
//  child to wait for (ECHILD: reaped already). Blocks at most timeout_ms.
int
    sbx_process_child_wait (pid_t pid, int timeout_ms);

//  Ends child `pid`: waits up to timeout_ms for it to exit; at the
//  deadline SIGKILLs its process group and itself, and waits up to 10 s
//  more to reap it. Returns its wait status, or -1 when it could not be
//  reaped (with errno as for sbx_process_child_wait: ETIMEDOUT when even
//  SIGKILL did not end it in time). *killed_p (may be NULL) says whether
//  it had to be killed. Blocks at most timeout_ms + 10 s.
int
    sbx_process_child_end (pid_t pid, int timeout_ms, bool *killed_p);

//  Reaps child `pid` if it has exited, without blocking: true with its
//  wait status in *status_p; false while it runs (or when it is not a
//  child to wait for).
bool
    sbx_process_child_exited (pid_t pid, int *status_p);

//  Reads what is buffered on the non-blocking descriptor `fd` (a child's
//  stderr pipe; -1: nothing) into `text`, NUL-terminated, at most size - 1
//  bytes, trailing newlines and spaces cut. Never blocks.
void
    sbx_process_child_read_text (int fd, char *text, size_t size);

//  Closes *fd_p when it is open (>= 0) and sets it to -1.
void
    sbx_process_child_close (int *fd_p);

//  The error type for a failure of sbxd's own with errno `error`: when sbxd
//  is short of descriptors or memory (EMFILE, ENFILE, ENOMEM, EAGAIN) it is
//  the daemon's state, not the sandbox's - EnvironmentOverloadError, which
//  a bring-up retries - else SandboxStateError.
const char *
    sbx_process_shortage (int error);

#endif
