/*  sbx_process_resident - see resident.h */
#include "backends/process/resident.h"
#include "backends/process/channel.h"
#include "backends/process/child.h"
#include "backends/process/command.h"
#include "runtime/core/log.h"

#include <czmq.h>
#include <fcntl.h>
#include <sys/socket.h>

struct sbx_process_resident_t {
    sbx_process_channel_t *channel;
    uint32_t id;                //  its RUN request's id
    int32_t pid;                //  in the sandbox's PID namespace
    int socket;                 //  our end of its fd 0
    int output [2];             //  our ends of its fds 1 and 2
    bool exited;
    int status;
};

//  Closes every descriptor in `fds`.
static void
s_close_all (int *fds, size_t count)
{
    for (size_t i = 0; i < count; i++)
        sbx_process_child_close (&fds [i]);
}

sbx_error_t *
sbx_process_resident_start (sbx_process_t *sandbox, const sbx_process_run_t *run,
                            sbx_process_resident_t **self_p)
{
    sbx_error_t *error = sbx_process_ready (sandbox);
    if (error)
        return error;
    sbx_process_channel_t *channel = sbx_process_channel (sandbox);
    uint32_t length;
    void *payload = sbx_process_command_payload (run, &length);
    if (!payload)
        return sbx_error_new ("ValueError", "the command and its environment are too large");
    //  [0, 1] the socketpair, [2, 3] stdout, [4, 5] stderr; ours are the
    //  even ones.
    int fds [6] = {-1, -1, -1, -1, -1, -1};
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0
    ||  pipe2 (fds + 2, O_CLOEXEC) != 0 || pipe2 (fds + 4, O_CLOEXEC) != 0) {
        int problem = errno;
        s_close_all (fds, 6);
        free (payload);
        return sbx_error_new ("OSError", "cannot create the command's socket and pipes: %s", strerror (problem));
    }
    for (int i = 0; i < 6; i += 2)
        fcntl (fds [i], F_SETFL, O_NONBLOCK);
    uint32_t id = sbx_process_channel_next_id (channel);
    //  Watched before it can exit: its EXITED is kept whoever reads it.
    sbx_process_channel_watch (channel, id);
    int theirs [3] = {fds [1], fds [3], fds [5]};
    error = sbx_process_channel_send (channel, SBX_INIT_RUN, id, 0, payload, length, theirs, 3);
    free (payload);
    sbx_process_child_close (&fds [1]);
    sbx_process_child_close (&fds [3]);
    sbx_process_child_close (&fds [5]);
    int32_t pid = 0;
    if (!error)
        error = sbx_process_command_started (channel, id, run->cwd, &pid);
    if (error) {
        sbx_process_channel_unwatch (channel, id);
        s_close_all (fds, 6);
        return error;
    }
    sbx_process_resident_t *self = (sbx_process_resident_t *) zmalloc (sizeof (sbx_process_resident_t));
    self->channel = channel;
    self->id = id;
    self->pid = pid;
    self->socket = fds [0];
    self->output [0] = fds [2];
    self->output [1] = fds [4];
    *self_p = self;
    return NULL;
}

void
sbx_process_resident_destroy (sbx_process_resident_t **self_p)
{
    sbx_process_resident_t *self = *self_p;
    if (!self)
        return;
    //  Even after its exit: what it left running in its session goes too.
    if (sbx_process_channel_ready (self->channel)) {
        sbx_error_t *error = sbx_process_resident_kill (self);
        if (error)
            sbx_log_warning (sbx_process_channel_id (self->channel), "%s", sbx_error_message (error));
        sbx_error_destroy (&error);
    }
    sbx_process_channel_unwatch (self->channel, self->id);
    sbx_process_child_close (&self->socket);
    sbx_process_child_close (&self->output [0]);
    sbx_process_child_close (&self->output [1]);
    free (self);
    *self_p = NULL;
}

int
sbx_process_resident_socket (sbx_process_resident_t *self)
{
    return self->socket;
}

int
sbx_process_resident_output (sbx_process_resident_t *self, int stream)
{
    return self->output [stream ? 1 : 0];
}

void
sbx_process_resident_close_output (sbx_process_resident_t *self, int stream)
{
    sbx_process_child_close (&self->output [stream ? 1 : 0]);
}

int
sbx_process_resident_channel_fd (sbx_process_resident_t *self)
{
    return sbx_process_channel_fd (self->channel);
}

sbx_error_t *
sbx_process_resident_update (sbx_process_resident_t *self)
{
    if (!sbx_process_channel_ready (self->channel))
        return sbx_process_channel_gone (self->channel);
    //  Answers to nobody's request are dropped, as every reader does; an
    //  exit of a watched command is kept by the channel.
    sbx_init_msg_t msg;
    int rc;
    while ((rc = sbx_process_channel_recv (self->channel, &msg)) > 0)
        ;
    if (rc < 0)
        return sbx_process_channel_broken (self->channel, "the init process is gone");
    return NULL;
}

bool
sbx_process_resident_exited (sbx_process_resident_t *self, int *status_p)
{
    if (!self->exited && sbx_process_channel_exited (self->channel, self->id, &self->status))
        self->exited = true;
    if (self->exited && status_p)
        *status_p = self->status;
    return self->exited;
}

sbx_error_t *
sbx_process_resident_signal (sbx_process_resident_t *self, int sig)
{
    if (sbx_process_resident_exited (self, NULL))
        return NULL;
    int32_t value = sig;
    return sbx_process_channel_send (self->channel, SBX_INIT_SIGNAL, sbx_process_channel_next_id (self->channel),
                                     self->pid, &value, sizeof value, NULL, 0);
}

sbx_error_t *
sbx_process_resident_kill (sbx_process_resident_t *self)
{
    sbx_error_t *error = sbx_process_channel_kill (self->channel, self->pid);
    if (error)
        return error;
    //  sbx-init reaps what it kills before it answers, so EXITED came
    //  first; should it not have, the kill is what ended it.
    if (!sbx_process_resident_exited (self, NULL)) {
        self->exited = true;
        self->status = SIGKILL;
    }
    return NULL;
}
