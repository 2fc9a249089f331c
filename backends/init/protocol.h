/*  The control protocol between sbxd (backends/process/channel.c) and
    sbx-init, the init process of one process sandbox
    (backends/init/sbx_init.c).

    One AF_UNIX stream socket, fd 3 in sbx-init. Every message starts with
    the fixed header below (host byte order: both ends run on one machine),
    followed by `length` payload bytes. Requests carry an `id` chosen by
    sbxd; the answer carries the same id.

    sbxd -> sbx-init
      RUN       payload: u32 argc, u32 envc, then NUL-terminated strings:
                cwd (relative to the workspace; "" for the top), argv [argc],
                env [envc] ("NAME=value"). Exactly three descriptors travel
                with the header (SCM_RIGHTS): the command's stdin, stdout,
                stderr. Answered by STARTED, later by EXITED.
      KILL      value: the command's pid (from STARTED). Kills its process
                tree: its session, its process group, every descendant
                still attached, and the sessions and groups of everything
                killed on the way. Answered by KILLED once none of them is
                left (value: SIGKILLs sent, or -1 when some survived 5 s).
      SIGNAL    value: the command's pid (from STARTED); payload: an i32,
                the signal. Sends it to the command's process group (as a
                terminal's Ctrl-C does), or to its pid when that is no
                longer a group leader; nothing when the command has exited.
                No answer.
      KILL_ALL  kills every process below sbx-init. Answered by KILLED_ALL
                (value as for KILLED).
      CLEAN     removes what the sandbox's user left outside the sandbox's
                directory (clean.h: the --clean directories, System V IPC,
                with --clean-mqueue POSIX message queues), in a child that
                becomes that user; sent when no command runs. Answered by
                CLEANED (value: 0, or 1 when something could not be
                removed - the reasons went to stderr - or -errno when the
                child could not start).
      (EOF)     sbx-init kills every process below it and exits 0.
    A request that has begun must arrive whole within 20 s: sbx-init takes
    one cut short as EOF (sbxd gives up sending after 10 s and takes the
    channel as broken).

    sbx-init -> sbxd
      READY     once, first, when it is ready to serve (value: its pid).
      STARTED   value: the command's pid (in the sandbox's PID namespace),
                or -errno when it could not start: -errno alone for its
                cwd (EXDEV: it leads outside the workspace), and
                -(SBX_INIT_EXEC_FAILED | errno) when the command itself
                failed to start (EAGAIN: the process limit is reached).
      EXITED    value: the wait status of the command's main process.
      KILLED, KILLED_ALL, CLEANED: see above.
*/
#ifndef SBX_INIT_PROTOCOL_H
#define SBX_INIT_PROTOCOL_H

#include <stdint.h>

enum {
    SBX_INIT_RUN = 1,
    SBX_INIT_KILL = 2,
    SBX_INIT_SIGNAL = 5,
    SBX_INIT_KILL_ALL = 3,
    SBX_INIT_CLEAN = 4,
    SBX_INIT_READY = 10,
    SBX_INIT_STARTED = 11,
    SBX_INIT_EXITED = 12,
    SBX_INIT_KILLED = 13,
    SBX_INIT_KILLED_ALL = 14,
    SBX_INIT_CLEANED = 15
};

typedef struct {
    uint32_t type;
    uint32_t id;
    int32_t value;
    uint32_t length;        //  payload bytes that follow
} sbx_init_msg_t;

//  Or'ed into -STARTED's errno when exec (not cwd) failed.
#define SBX_INIT_EXEC_FAILED 0x10000

//  The largest RUN payload sbx-init accepts.
#define SBX_INIT_MAX_PAYLOAD (64u * 1024 * 1024)

//  sbx-init's control socket.
#define SBX_INIT_CONTROL_FD 3

#endif
