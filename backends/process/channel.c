/*  sbx_process_channel - see channel.h */
#include "backends/process/channel.h"
#include "backends/process/argv.h"
#include "backends/process/child.h"
#include "runtime/core/log.h"

#include <czmq.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#define S_READY_TIMEOUT_MS 10000    //  sbx-init (and bwrap) up and running
#define S_SEND_TIMEOUT_MS 10000     //  room on the socket for a request
#define S_EXIT_TIMEOUT_MS 10000     //  sbx-init gone after EOF

//  A watched command (sbx_process_channel_watch) and its exit, once known.
typedef struct {
    uint32_t id;
    bool exited;
    int status;
} s_watch_t;

struct sbx_process_channel_t {
    char *id;                   //  sandbox id, for messages and logs
    char *name;                 //  what runs: "sbx-init" or "bwrap/sbx-init"
    pid_t pid;                  //  sbx-init, or bwrap around it; 0: none
    int ctl;                    //  control socket
    int errfd;                  //  sbx-init's (and bwrap's) stderr
    int null;                   //  /dev/null for commands' stdin; -1 until asked
    bool broken;                //  the channel failed
    char in [sizeof (sbx_init_msg_t)];
    size_t in_fill;
    uint32_t next_id;
    s_watch_t *watches;         //  long-lived commands whose exit is kept
    size_t watch_count;
};

sbx_process_channel_t *
sbx_process_channel_new (const char *id, const char *name)
{
    sbx_process_channel_t *self = (sbx_process_channel_t *) zmalloc (sizeof (sbx_process_channel_t));
    self->id = strdup (id);
    self->name = strdup (name);
    self->ctl = self->errfd = self->null = -1;
    return self;
}

void
sbx_process_channel_destroy (sbx_process_channel_t **self_p)
{
    sbx_process_channel_t *self = *self_p;
    if (!self)
        return;
    if (self->pid > 0)
        sbx_process_child_end (self->pid, 0, NULL);
    sbx_process_child_close (&self->ctl);
    sbx_process_child_close (&self->errfd);
    sbx_process_child_close (&self->null);
    free (self->watches);
    free (self->id);
    free (self->name);
    free (self);
    *self_p = NULL;
}

sbx_error_t *
sbx_process_channel_broken (sbx_process_channel_t *self, const char *what)
{
    self->broken = true;
    char text [1024];
    sbx_process_child_read_text (self->errfd, text, sizeof text);
    return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: %s%s%s", self->id, what,
                          *text ? ": " : "", text);
}

sbx_error_t *
sbx_process_channel_start (sbx_process_channel_t *self, char *const argv [], const char *cwd,
                           const int *join_fds, int join_count)
{
    //  A clean environment; sanitizer settings pass through (SAN=1 builds).
    sbx_process_argv_t env = {0};
    sbx_process_argv_add (&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    static const char *const keep [] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL};
    for (size_t i = 0; keep [i]; i++)
        if (getenv (keep [i]))
            sbx_process_argv_add (&env, "%s=%s", keep [i], getenv (keep [i]));

    int pair [2] = {-1, -1}, err [2] = {-1, -1};
    sbx_error_t *error = NULL;
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0
    ||  pipe2 (err, O_CLOEXEC) != 0)
        error = sbx_error_new (sbx_process_shortage (errno), "sandbox %s: cannot create the control "
                               "socket: %s", self->id, strerror (errno));
    else {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init (&actions);
        posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2 (&actions, err [1], 2);
        posix_spawn_file_actions_adddup2 (&actions, pair [1], SBX_INIT_CONTROL_FD);
        for (int i = 0; i < join_count; i++)
            posix_spawn_file_actions_adddup2 (&actions, join_fds [i], SBX_INIT_CONTROL_FD + 1 + i);
        posix_spawn_file_actions_addchdir_np (&actions, cwd);
        int rc = sbx_process_child_spawn (&self->pid, argv, env.items, &actions);
        posix_spawn_file_actions_destroy (&actions);
        if (rc != 0) {
            self->pid = 0;
            error = sbx_error_new (sbx_process_shortage (rc), "sandbox %s: cannot start %s: %s", self->id,
                                   argv [0], strerror (rc));
        }
    }
    sbx_process_child_close (&pair [1]);
    sbx_process_child_close (&err [1]);
    self->ctl = pair [0];
    self->errfd = err [0];
    if (self->errfd >= 0)
        fcntl (self->errfd, F_SETFL, O_NONBLOCK);
    if (!error) {
        sbx_init_msg_t msg;
        int rc = sbx_process_channel_await (self, SBX_INIT_READY, 0, &msg, S_READY_TIMEOUT_MS);
        if (rc <= 0) {
            int status = rc < 0 ? sbx_process_child_wait (self->pid, 1000) : -1;
            if (status != -1)
                self->pid = 0;
            char what [128];
            if (status == -1)
                snprintf (what, sizeof what, "%s did not get ready in %d ms", self->name, S_READY_TIMEOUT_MS);
            else
                snprintf (what, sizeof what, "%s exited at start (status %d)", self->name, status);
            error = sbx_process_channel_broken (self, what);
        }
    }
    sbx_process_argv_free (&env);
    return error;
}

sbx_error_t *
sbx_process_channel_close (sbx_process_channel_t *self)
{
    //  EOF tells sbx-init to kill what is left and exit; under bwrap its
    //  exit takes the PID namespace with it.
    sbx_process_child_close (&self->ctl);
    sbx_error_t *error = NULL;
    if (self->pid > 0) {
        bool killed;
        int status = sbx_process_child_end (self->pid, S_EXIT_TIMEOUT_MS, &killed);
        if (killed)
            error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: init process %d did not exit; killed",
                                   self->id, (int) self->pid);
        else
        if (status > 0) {
            char text [1024];
            sbx_process_child_read_text (self->errfd, text, sizeof text);
            sbx_log_warning (self->id, "init process exited with status %d: %s", status, text);
        }
        self->pid = 0;
    }
    sbx_process_child_close (&self->errfd);
    return error;
}

bool
sbx_process_channel_ready (sbx_process_channel_t *self)
{
    return !self->broken && self->ctl >= 0;
}

sbx_error_t *
sbx_process_channel_gone (sbx_process_channel_t *self)
{
    return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its init process is gone", self->id);
}

sbx_error_t *
sbx_process_channel_ping (sbx_process_channel_t *self)
{
    if (self->broken || self->pid <= 0)
        return sbx_process_channel_gone (self);
    int status;
    if (sbx_process_child_exited (self->pid, &status)) {
        self->pid = 0;
        char what [64];
        snprintf (what, sizeof what, "its init process exited (status %d)", status);
        return sbx_process_channel_broken (self, what);
    }
    return NULL;
}

const char *
sbx_process_channel_id (sbx_process_channel_t *self)
{
    return self->id;
}

pid_t
sbx_process_channel_pid (sbx_process_channel_t *self)
{
    return self->pid;
}

int
sbx_process_channel_fd (sbx_process_channel_t *self)
{
    return self->ctl;
}

int
sbx_process_channel_null (sbx_process_channel_t *self)
{
    if (self->null < 0)
        self->null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    return self->null;
}

uint32_t
sbx_process_channel_next_id (sbx_process_channel_t *self)
{
    return ++self->next_id;
}

//  Writes the `count` buffers of `parts` on the socket, in one sendmsg
//  when there is room, `fds` with the first byte; waits for room until
//  `deadline` (zclock_mono). 0, or -1 with errno.
static int
s_write (sbx_process_channel_t *self, struct iovec *parts, int count, const int *fds, int nfds,
         int64_t deadline)
{
    union {
        char data [CMSG_SPACE (sizeof (int) * 3)];
        struct cmsghdr align;
    } control;
    assert (nfds >= 0 && nfds <= 3);
    while (count > 0 && parts [0].iov_len == 0) {
        parts++;
        count--;
    }
    while (count > 0) {
        struct msghdr header = {0};
        header.msg_iov = parts;
        header.msg_iovlen = (size_t) count;
        if (nfds > 0) {
            memset (&control, 0, sizeof control);
            header.msg_control = control.data;
            header.msg_controllen = CMSG_SPACE (sizeof (int) * nfds);
            struct cmsghdr *c = CMSG_FIRSTHDR (&header);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN (sizeof (int) * nfds);
            memcpy (CMSG_DATA (c), fds, sizeof (int) * nfds);
        }
        ssize_t n = sendmsg (self->ctl, &header, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            nfds = 0;           //  they went with the first byte
            size_t sent = (size_t) n;
            while (count > 0 && sent >= parts [0].iov_len) {
                sent -= parts [0].iov_len;
                parts++;
                count--;
            }
            if (count > 0) {
                parts [0].iov_base = (char *) parts [0].iov_base + sent;
                parts [0].iov_len -= sent;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            //  sbx-init is not reading: give it until the deadline.
            int64_t left = deadline - zclock_mono ();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            struct pollfd item = {self->ctl, POLLOUT, 0};
            if (poll (&item, 1, (int) left) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

sbx_error_t *
sbx_process_channel_send (sbx_process_channel_t *self, uint32_t type, uint32_t id, int32_t value,
                          const void *payload, uint32_t length, const int *fds, int nfds)
{
    if (!sbx_process_channel_ready (self))
        return sbx_process_channel_gone (self);
    sbx_init_msg_t msg = {type, id, value, length};
    int64_t deadline = zclock_mono () + S_SEND_TIMEOUT_MS;
    struct iovec parts [2] = {{&msg, sizeof msg}, {(void *) payload, length}};
    if (s_write (self, parts, 2, fds, nfds, deadline) == 0)
        return NULL;
    if (errno == ETIMEDOUT) {
        char what [128];
        snprintf (what, sizeof what, "the init process took no request for %d ms", S_SEND_TIMEOUT_MS);
        return sbx_process_channel_broken (self, what);
    }
    return sbx_process_channel_broken (self, "the init process is gone");
}

int
sbx_process_channel_recv (sbx_process_channel_t *self, sbx_init_msg_t *msg)
{
    while (self->in_fill < sizeof self->in) {
        ssize_t n = recv (self->ctl, self->in + self->in_fill, sizeof self->in - self->in_fill,
                          MSG_DONTWAIT);
        if (n > 0)
            self->in_fill += (size_t) n;
        else
        if (n < 0 && errno == EINTR)
            continue;
        else
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        else
            return -1;
    }
    memcpy (msg, self->in, sizeof *msg);
    self->in_fill = 0;
    if (msg->type == SBX_INIT_EXITED) {
        for (size_t i = 0; i < self->watch_count; i++) {
            if (self->watches [i].id == msg->id) {
                self->watches [i].exited = true;
                self->watches [i].status = msg->value;
            }
        }
    }
    return msg->length == 0 ? 1 : -1;
}

void
sbx_process_channel_watch (sbx_process_channel_t *self, uint32_t id)
{
    self->watches = (s_watch_t *) realloc (self->watches, (self->watch_count + 1) * sizeof (s_watch_t));
    assert (self->watches);
    self->watches [self->watch_count++] = (s_watch_t) {id, false, 0};
}

bool
sbx_process_channel_exited (sbx_process_channel_t *self, uint32_t id, int *status_p)
{
    for (size_t i = 0; i < self->watch_count; i++) {
        if (self->watches [i].id == id && self->watches [i].exited) {
            *status_p = self->watches [i].status;
            return true;
        }
    }
    return false;
}

void
sbx_process_channel_unwatch (sbx_process_channel_t *self, uint32_t id)
{
    for (size_t i = 0; i < self->watch_count; i++) {
        if (self->watches [i].id == id) {
            self->watches [i] = self->watches [--self->watch_count];
            return;
        }
    }
}

int
sbx_process_channel_await (sbx_process_channel_t *self, uint32_t type, uint32_t id,
                           sbx_init_msg_t *msg, int timeout_ms)
{
    int64_t deadline = zclock_usecs () + (int64_t) timeout_ms * 1000;
    while (true) {
        int rc = sbx_process_channel_recv (self, msg);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            if (msg->type == type && (type == SBX_INIT_READY || msg->id == id))
                return 1;
            continue;
        }
        int64_t left = (deadline - zclock_usecs ()) / 1000;
        if (left <= 0)
            return 0;
        struct pollfd item = {self->ctl, POLLIN, 0};
        if (poll (&item, 1, (int) left) < 0 && errno != EINTR)
            return -1;
    }
}

//  Sends request `type` (with `value`) and waits for its answer `reply`,
//  SBX_PROCESS_KILL_TIMEOUT_MS at most: 1 with the answer in *msg, 0 at
//  the timeout, or -1 with *error_p set (the channel was not ready, or
//  is broken now).
static int
s_ask (sbx_process_channel_t *self, uint32_t type, int32_t value, uint32_t reply, sbx_init_msg_t *msg,
       sbx_error_t **error_p)
{
    uint32_t id = sbx_process_channel_next_id (self);
    *error_p = sbx_process_channel_send (self, type, id, value, NULL, 0, NULL, 0);
    if (*error_p)
        return -1;
    int rc = sbx_process_channel_await (self, reply, id, msg, SBX_PROCESS_KILL_TIMEOUT_MS);
    if (rc < 0)
        *error_p = sbx_process_channel_broken (self, "the init process is gone");
    return rc;
}

sbx_error_t *
sbx_process_channel_kill (sbx_process_channel_t *self, int32_t pid)
{
    sbx_init_msg_t msg;
    sbx_error_t *error = NULL;
    int rc = pid ? s_ask (self, SBX_INIT_KILL, pid, SBX_INIT_KILLED, &msg, &error)
                 : s_ask (self, SBX_INIT_KILL_ALL, 0, SBX_INIT_KILLED_ALL, &msg, &error);
    if (rc < 0)
        return error;
    if (rc == 0 || msg.value < 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: processes survived SIGKILL", self->id);
    return NULL;
}

sbx_error_t *
sbx_process_channel_clean (sbx_process_channel_t *self)
{
    sbx_init_msg_t msg;
    sbx_error_t *error = NULL;
    int rc = s_ask (self, SBX_INIT_CLEAN, 0, SBX_INIT_CLEANED, &msg, &error);
    if (rc < 0)
        return error;
    if (rc == 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cleaning took longer than %d ms", self->id,
                              SBX_PROCESS_KILL_TIMEOUT_MS);
    if (msg.value != 0) {
        char text [1024];
        if (msg.value < 0)
            snprintf (text, sizeof text, "no cleaner: %s", strerror (-msg.value));
        else
            sbx_process_child_read_text (self->errfd, text, sizeof text);
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: what its user left behind cannot all be removed: %s",
                              self->id, *text ? text : "(no reason given)");
    }
    return NULL;
}
