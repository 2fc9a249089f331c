/*  Helpers for the suites that run build/sbx itself (test_cli,
    test_cli_python): spawning it on pipes or on a pseudo-terminal, and
    reading what it prints or draws, each wait with a deadline.
*/
#ifndef SBX_TEST_CLI_UTIL_H
#define SBX_TEST_CLI_UTIL_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <spawn.h>
#include <termios.h>

#include "testutil.h"

//  Spawns build/sbx with `args` (NULL-terminated, without argv [0]) and
//  the environment `env`, its stdin, stdout and stderr on the given
//  descriptors, in a session of its own.
static inline pid_t
s_spawn_sbx (int fd_in, int fd_out, int fd_err, const char *const *args, char *const *env)
{
    const char *argv [32] = {SBX_BUILD_DIR "/sbx"};
    size_t argc = 1;
    for (size_t i = 0; args [i] && argc < 31; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, fd_in, 0);
    posix_spawn_file_actions_adddup2 (&actions, fd_out, 1);
    posix_spawn_file_actions_adddup2 (&actions, fd_err, 2);
    posix_spawnattr_t attributes;
    posix_spawnattr_init (&attributes);
    posix_spawnattr_setflags (&attributes, POSIX_SPAWN_SETSID);
    pid_t pid = -1;
    int rc = posix_spawn (&pid, argv [0], &actions, &attributes, (char *const *) argv, env);
    posix_spawnattr_destroy (&attributes);
    posix_spawn_file_actions_destroy (&actions);
    cr_assert_eq (rc, 0, "cannot spawn sbx: %s", strerror (rc));
    return pid;
}

//  Same, on pipes; returns its pid and the test's ends: in (to write its
//  stdin), out and err.
static inline pid_t
s_spawn_sbx_piped (int *in_p, int *out_p, int *err_p, const char *const *args, char *const *env)
{
    int in [2], out [2], err [2];
    cr_assert_eq (pipe2 (in, O_CLOEXEC), 0);
    cr_assert_eq (pipe2 (out, O_CLOEXEC), 0);
    cr_assert_eq (pipe2 (err, O_CLOEXEC), 0);
    pid_t pid = s_spawn_sbx (in [0], out [1], err [1], args, env);
    close (in [0]);
    close (out [1]);
    close (err [1]);
    *in_p = in [1];
    *out_p = out [0];
    *err_p = err [0];
    return pid;
}

//  Same, on a new pseudo-terminal of `rows` by `cols`; returns its pid and
//  the master side in *master_p (the caller closes it).
static inline pid_t
s_spawn_sbx_on_terminal (unsigned short rows, unsigned short cols, const char *const *args, char *const *env,
                         int *master_p)
{
    int master = -1, slave = -1;
    struct winsize size = {.ws_row = rows, .ws_col = cols};
    cr_assert_eq (openpty (&master, &slave, NULL, NULL, &size), 0);
    fcntl (master, F_SETFD, FD_CLOEXEC);
    fcntl (slave, F_SETFD, FD_CLOEXEC);
    pid_t pid = s_spawn_sbx (slave, slave, slave, args, env);
    close (slave);
    *master_p = master;
    return pid;
}

//  Appends to `buffer` what `fd` has to read within timeout_ms: 1 when
//  something came, 0 when nothing did (or poll failed: the caller's
//  deadline ends the wait), -1 at end of input or on a read error.
static inline int
s_read_some (int fd, char **buffer, size_t *size, int timeout_ms)
{
    struct pollfd item = {fd, POLLIN, 0};
    if (poll (&item, 1, timeout_ms) <= 0)
        return 0;
    char chunk [4096];
    ssize_t n = read (fd, chunk, sizeof chunk);
    if (n <= 0)
        return -1;
    sbx_test_append (buffer, size, chunk, (size_t) n);
    return 1;
}

//  Reads from `fd` into `buffer` until it holds `needle` past byte
//  `from`; false at end of input or after timeout_ms.
static inline bool
s_read_until_after (int fd, char **buffer, size_t *size, size_t from, const char *needle, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!(*buffer && *size >= from && strstr (*buffer + from, needle))) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || s_read_some (fd, buffer, size, (int) left) < 0)
            return false;
    }
    return true;
}

//  Same, looking for `needle` anywhere in `buffer`.
static inline bool
s_read_until (int fd, char **buffer, size_t *size, const char *needle, int timeout_ms)
{
    return s_read_until_after (fd, buffer, size, 0, needle, timeout_ms);
}

//  Waits until the terminal is in canonical mode (a command runs and reads
//  lines) or not (the line editor has it and reads keys one by one),
//  reading what is drawn meanwhile. On Linux the master side sees the
//  terminal's modes.
static inline bool
s_wait_mode (int master, bool canonical, char **screen_p, size_t *used_p, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        struct termios modes;
        if (tcgetattr (master, &modes) == 0 && !(modes.c_lflag & ICANON) == !canonical)
            return true;
        if (s_read_some (master, screen_p, used_p, 10) < 0)
            return false;
    }
    return false;
}

#endif
