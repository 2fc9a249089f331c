/*  sbx_process_child - see child.h */
#include "backends/process/child.h"

#include <czmq.h>
#include <sbx/error.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define S_REAP_MS 10000             //  after SIGKILL
#define S_PAUSE_MIN_US 1000         //  between waitpid questions without a pidfd
#define S_PAUSE_MAX_US 25000

int
sbx_process_child_spawn (pid_t *pid_p, char *const argv [], char *const env [],
                         const posix_spawn_file_actions_t *actions)
{
    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    sigset_t none, all;
    sigemptyset (&none);
    sigfillset (&all);
    sigdelset (&all, SIGKILL);
    sigdelset (&all, SIGSTOP);
    posix_spawnattr_setsigmask (&attr, &none);
    posix_spawnattr_setsigdefault (&attr, &all);
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    int rc = posix_spawn (pid_p, argv [0], actions, &attr, argv, env);
    posix_spawnattr_destroy (&attr);
    return rc;
}

int
sbx_process_child_wait (pid_t pid, int timeout_ms)
{
    int64_t deadline = zclock_usecs () + (int64_t) timeout_ms * 1000;
    int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
    int64_t pause_us = S_PAUSE_MIN_US;
    int status = 0, error = 0;
    while (true) {
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid)
            break;
        if (rc < 0 && errno != EINTR) {
            error = errno;
            break;
        }
        int64_t left = deadline - zclock_usecs ();
        if (left <= 0) {
            error = ETIMEDOUT;
            break;
        }
        if (pidfd >= 0) {
            //  Readable once the child has exited; then waitpid reaps it.
            struct pollfd item = {pidfd, POLLIN, 0};
            if (poll (&item, 1, (int) ((left + 999) / 1000)) < 0 && errno != EINTR) {
                close (pidfd);
                pidfd = -1;
            }
        }
        else {
            int64_t pause = pause_us < left ? pause_us : left;
            struct timespec span = {(time_t) (pause / 1000000), (long) (pause % 1000000) * 1000};
            nanosleep (&span, NULL);
            if (pause_us < S_PAUSE_MAX_US)
                pause_us = pause_us * 2 < S_PAUSE_MAX_US ? pause_us * 2 : S_PAUSE_MAX_US;
        }
    }
    if (pidfd >= 0)
        close (pidfd);
    if (error) {
        errno = error;
        return -1;
    }
    return status;
}

int
sbx_process_child_end (pid_t pid, int timeout_ms, bool *killed_p)
{
    if (killed_p)
        *killed_p = false;
    int status = sbx_process_child_wait (pid, timeout_ms);
    if (status != -1 || errno != ETIMEDOUT)
        return status;
    //  Still unreaped, so neither its pid nor its group can be another's.
    kill (-pid, SIGKILL);
    kill (pid, SIGKILL);
    if (killed_p)
        *killed_p = true;
    return sbx_process_child_wait (pid, S_REAP_MS);
}

bool
sbx_process_child_exited (pid_t pid, int *status_p)
{
    return waitpid (pid, status_p, WNOHANG) == pid;
}

void
sbx_process_child_read_text (int fd, char *text, size_t size)
{
    size_t used = 0;
    ssize_t n;
    while (fd >= 0 && used + 1 < size && (n = read (fd, text + used, size - 1 - used)) > 0)
        used += (size_t) n;
    text [used] = 0;
    while (used && (text [used - 1] == '\n' || text [used - 1] == ' '))
        text [--used] = 0;
}

void
sbx_process_child_close (int *fd_p)
{
    if (*fd_p >= 0)
        close (*fd_p);
    *fd_p = -1;
}

const char *
sbx_process_shortage (int error)
{
    return error == EMFILE || error == ENFILE || error == ENOMEM || error == EAGAIN
         ? SBX_OVERLOAD_ERROR : SBX_STATE_ERROR;
}
