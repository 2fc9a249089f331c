/*  sbx_process_command - see command.h */
#include "backends/process/command.h"
#include "backends/process/child.h"
#include "backends/process/sink.h"

#include <czmq.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#define S_REPLY_TIMEOUT_MS 10000    //  STARTED after RUN
#define S_CHUNK (64 * 1024)

typedef struct {
    int fd;
    sbx_sink_t sink;
} s_stream_t;

//  Reads from a stream at most `budget` bytes (0: one chunk); closes it at
//  EOF.
static void
s_drain (s_stream_t *stream, char *chunk, size_t budget)
{
    if (sbx_sink_drain (&stream->sink, stream->fd, chunk, S_CHUNK, budget))
        sbx_process_child_close (&stream->fd);
}

//  write(2) to a pipe whose reader may be gone, without SIGPIPE killing
//  sbxd: the signal is blocked in this thread and a pending one consumed.
static ssize_t
s_write_nosigpipe (int fd, const void *data, size_t size)
{
    sigset_t pipe_set, old;
    sigemptyset (&pipe_set);
    sigaddset (&pipe_set, SIGPIPE);
    pthread_sigmask (SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write (fd, data, size);
    int error = errno;
    if (n < 0 && error == EPIPE) {
        struct timespec zero = {0, 0};
        sigtimedwait (&pipe_set, NULL, &zero);
    }
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    errno = error;
    return n;
}

//  The command's stdin: `input` first, then, when the run takes more
//  (run->input_next), chunks as they come, until their end.
typedef struct {
    int fd;                     //  our end of the pipe; -1 once closed
    const char *data;           //  being written
    size_t size, written;
    bool chunk;                 //  data is a chunk to answer (input_done)
    bool more;                  //  more may come after data
    bool end;                   //  nothing comes after data
} s_stdin_t;

//  Before each poll: answers the chunk written, takes the next one, and
//  closes stdin at its end. Data left to write waits for POLLOUT; with
//  none, more input is waited for on run->input_fd - after stdin is
//  closed too, so that what still comes is answered closed at once.
static void
s_stdin_advance (s_stdin_t *in, const sbx_process_run_t *run)
{
    while (in->fd >= 0 && in->written == in->size) {
        if (in->chunk) {
            in->chunk = false;
            run->input_done (run->input_arg, false);
        }
        if (in->end || !in->more) {
            sbx_process_child_close (&in->fd);
            break;
        }
        const void *data;
        size_t size;
        bool eof;
        int rc = run->input_next (run->input_arg, &data, &size, &eof);
        if (rc == 0)
            return;
        if (rc < 0) {
            in->more = false;
            continue;
        }
        *in = (s_stdin_t) {in->fd, (const char *) data, size, 0, true, true, eof};
    }
    const void *data;
    size_t size;
    bool eof;
    while (in->fd < 0 && run->input_next && run->input_next (run->input_arg, &data, &size, &eof) == 1)
        run->input_done (run->input_arg, true);
}

//  Nobody reads stdin any more (or the command has ended): what is left
//  is dropped, and the client told so.
static void
s_stdin_close (s_stdin_t *in, const sbx_process_run_t *run)
{
    if (run->input_next && in->more)
        run->input_done (run->input_arg, true);     //  the chunk, or the input's end
    in->chunk = in->more = false;
    sbx_process_child_close (&in->fd);
}

static sbx_error_t *
s_start_error (int32_t value, const char *cwd)
{
    int error = -value;
    if (error & SBX_INIT_EXEC_FAILED) {
        error &= ~SBX_INIT_EXEC_FAILED;
        if (error == EAGAIN)
            return sbx_error_new ("OSError", "cannot start the command: the sandbox is at its process "
                                  "limit (limits.processes)");
        if (error == E2BIG)
            return sbx_error_new ("OSError", "cannot start the command: it is too long (at most 128 KiB; "
                                  "pass long scripts on stdin)");
        return sbx_error_new ("OSError", "cannot start the command: %s", strerror (error));
    }
    const char *where = cwd && *cwd ? cwd : ".";
    switch (error) {
        case EXDEV:
        case ELOOP:
            return sbx_error_new ("PermissionError", "cwd '%s' leads outside the sandbox directory", where);
        case EACCES:
        case EPERM:
            return sbx_error_new ("PermissionError", "cwd '%s': %s", where, strerror (error));
        case ENOENT:
            return sbx_error_new ("FileNotFoundError", "cwd '%s' does not exist", where);
        case ENOTDIR:
            return sbx_error_new ("NotADirectoryError", "cwd '%s' is not a directory", where);
        case EAGAIN:
            return sbx_error_new ("OSError", "cannot start the command: %s", strerror (error));
        default:
            return sbx_error_new ("OSError", "cannot start the command in '%s': %s", where, strerror (error));
    }
}

//  The RUN payload (protocol.h), or NULL when it is too large. Caller frees.
static void *
s_payload (const sbx_process_run_t *run, uint32_t *length_p)
{
    uint32_t argc = 0, envc = 0;
    size_t size = 8 + strlen (run->cwd ? run->cwd : "") + 1;
    for (; run->argv [argc]; argc++)
        size += strlen (run->argv [argc]) + 1;
    for (; run->env && run->env [envc]; envc++)
        size += strlen (run->env [envc]) + 1;
    if (size > SBX_INIT_MAX_PAYLOAD)
        return NULL;
    char *payload = (char *) malloc (size), *p = payload + 8;
    assert (payload);
    memcpy (payload, &argc, 4);
    memcpy (payload + 4, &envc, 4);
    p = stpcpy (p, run->cwd ? run->cwd : "") + 1;
    for (uint32_t i = 0; i < argc; i++)
        p = stpcpy (p, run->argv [i]) + 1;
    for (uint32_t i = 0; i < envc; i++)
        p = stpcpy (p, run->env [i]) + 1;
    *length_p = (uint32_t) size;
    return payload;
}

sbx_error_t *
sbx_process_command_run (sbx_process_channel_t *channel, const sbx_process_run_t *run,
                         sbx_process_result_t *result)
{
    const char *id_text = sbx_process_channel_id (channel);
    //  Cancelled already (the environment is shutting down): the command
    //  does not start at all.
    struct pollfd cancel = {run->cancel_fd, POLLIN, 0};
    if (run->cancel_fd >= 0 && poll (&cancel, 1, 0) == 1) {
        result->cancelled = true;
        result->out = strdup ("");
        result->err = strdup ("");
        return NULL;
    }
    uint32_t length;
    void *payload = s_payload (run, &length);
    if (!payload)
        return sbx_error_new ("ValueError", "the command and its environment are too large");

    //  The child's ends go to sbx-init; ours are non-blocking.
    //  Without input, stdin is the channel's /dev/null (not ours to close).
    bool piped = run->input || run->input_next;
    int in [2] = {-1, -1}, out [2] = {-1, -1}, err [2] = {-1, -1};
    int null = piped ? -1 : sbx_process_channel_null (channel);
    bool ok = (piped ? pipe2 (in, O_CLOEXEC) == 0 : null >= 0)
           && pipe2 (out, O_CLOEXEC) == 0 && pipe2 (err, O_CLOEXEC) == 0;
    if (!ok) {
        int error = errno;
        for (int i = 0; i < 2; i++) {
            sbx_process_child_close (&in [i]);
            sbx_process_child_close (&out [i]);
            sbx_process_child_close (&err [i]);
        }
        free (payload);
        return sbx_error_new ("OSError", "cannot create pipes for the command: %s", strerror (error));
    }
    if (in [1] >= 0)
        fcntl (in [1], F_SETFL, O_NONBLOCK);
    fcntl (out [0], F_SETFL, O_NONBLOCK);
    fcntl (err [0], F_SETFL, O_NONBLOCK);

    uint32_t id = sbx_process_channel_next_id (channel);
    int child_fds [3] = {piped ? in [0] : null, out [1], err [1]};
    sbx_error_t *error = sbx_process_channel_send (channel, SBX_INIT_RUN, id, 0, payload, length,
                                                   child_fds, 3);
    free (payload);
    sbx_process_child_close (&in [0]);
    sbx_process_child_close (&out [1]);
    sbx_process_child_close (&err [1]);
    int32_t pid = 0;
    if (!error)
        error = sbx_process_command_started (channel, id, run->cwd, &pid);
    if (error) {
        sbx_process_child_close (&in [1]);
        sbx_process_child_close (&out [0]);
        sbx_process_child_close (&err [0]);
        return error;
    }

    int64_t started = zclock_usecs ();
    int64_t deadline = started + run->timeout_ms * 1000, kill_deadline = 0, ended = 0;
    s_stream_t streams [2];
    for (int i = 0; i < 2; i++)
        streams [i] = (s_stream_t) {i == 0 ? out [0] : err [0], {
            .max = run->max_output, .on_output = run->on_output, .on_output_arg = run->on_output_arg, .index = i
        }};
    s_stdin_t input = {in [1], (const char *) run->input, run->input_size, 0, false,
                       run->input_next != NULL, false};
    bool exited = false, killed = false, kill_sent = false;
    char *chunk = (char *) malloc (S_CHUNK);
    assert (chunk);
    while (!error && !(exited && (!kill_sent || killed))) {
        if (!exited)
            s_stdin_advance (&input, run);
        struct pollfd items [5];
        int count = 0;
        items [count++] = (struct pollfd) {sbx_process_channel_fd (channel), POLLIN, 0};
        int first_stream = count;
        for (int i = 0; i < 2; i++)
            if (streams [i].fd >= 0)
                items [count++] = (struct pollfd) {streams [i].fd, POLLIN, 0};
        int input_item = -1;
        if (!exited && input.fd >= 0 && input.written < input.size)
            items [input_item = count++] = (struct pollfd) {input.fd, POLLOUT, 0};
        else
        if (!exited && run->input_next)
            items [input_item = count++] = (struct pollfd) {run->input_fd, POLLIN, 0};
        int cancel_item = run->cancel_fd >= 0 && !kill_sent ? count : -1;
        if (cancel_item >= 0)
            items [count++] = (struct pollfd) {run->cancel_fd, POLLIN, 0};
        int64_t until = kill_sent ? kill_deadline : deadline;
        int64_t wait = (until - zclock_usecs () + 999) / 1000;
        if (poll (items, (nfds_t) count, wait < 0 ? 0 : (int) wait) < 0 && errno != EINTR) {
            error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: poll: %s", id_text, strerror (errno));
            break;
        }
        for (int i = first_stream, s = 0; s < 2; s++) {
            if (streams [s].fd < 0)
                continue;
            if (items [i].revents)
                s_drain (&streams [s], chunk, 0);
            i++;
        }
        if (input_item >= 0 && items [input_item].revents && input.fd >= 0 && input.written < input.size) {
            size_t left = input.size - input.written;
            ssize_t n = s_write_nosigpipe (input.fd, input.data + input.written,
                                           left < S_CHUNK ? left : S_CHUNK);
            if (n > 0)
                input.written += (size_t) n;
            else
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                s_stdin_close (&input, run);            //  nobody reads
        }
        if (items [0].revents) {
            sbx_init_msg_t msg;
            int rc;
            while ((rc = sbx_process_channel_recv (channel, &msg)) > 0) {
                if (msg.type == SBX_INIT_EXITED && msg.id == id) {
                    exited = true;
                    ended = zclock_usecs ();
                    result->status = msg.value;
                }
                else
                if (msg.type == SBX_INIT_KILLED && msg.id == id)
                    killed = true;
            }
            if (rc < 0)
                error = sbx_process_channel_broken (channel, "the init process is gone");
        }
        int64_t now = zclock_usecs ();
        bool cancel_now = cancel_item >= 0 && (items [cancel_item].revents & POLLIN);
        if (!error && !exited && !kill_sent && (now >= deadline || cancel_now)) {
            if (cancel_now)
                result->cancelled = true;
            else
                result->timed_out = true;
            kill_sent = true;
            kill_deadline = now + (int64_t) SBX_PROCESS_KILL_TIMEOUT_MS * 1000;
            error = sbx_process_channel_send (channel, SBX_INIT_KILL, id, pid, NULL, 0, NULL, 0);
        }
        else
        if (!error && kill_sent && now >= kill_deadline)
            error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: the command survived SIGKILL for %d ms",
                                   id_text, SBX_PROCESS_KILL_TIMEOUT_MS);
    }
    //  The main process is gone: what it wrote is in the pipes. Take that,
    //  not what background processes go on writing.
    for (int s = 0; s < 2 && !error; s++) {
        int capacity = streams [s].fd >= 0 ? fcntl (streams [s].fd, F_GETPIPE_SZ) : 0;
        s_drain (&streams [s], chunk, capacity > 0 ? (size_t) capacity : S_CHUNK);
    }
    free (chunk);
    s_stdin_close (&input, run);
    sbx_process_child_close (&streams [0].fd);
    sbx_process_child_close (&streams [1].fd);
    if (error) {
        free (streams [0].sink.data);
        free (streams [1].sink.data);
        return error;
    }
    result->out = streams [0].sink.data ? streams [0].sink.data : strdup ("");
    result->err = streams [1].sink.data ? streams [1].sink.data : strdup ("");
    result->out_size = streams [0].sink.data ? streams [0].sink.size : 0;
    result->err_size = streams [1].sink.data ? streams [1].sink.size : 0;
    result->truncated = streams [0].sink.truncated || streams [1].sink.truncated;
    result->duration_ms = (double) ((ended ? ended : zclock_usecs ()) - started) / 1000.0;
    return NULL;
}

void *
sbx_process_command_payload (const sbx_process_run_t *run, uint32_t *length_p)
{
    return s_payload (run, length_p);
}

sbx_error_t *
sbx_process_command_started (sbx_process_channel_t *channel, uint32_t id, const char *cwd, int32_t *pid_p)
{
    sbx_init_msg_t msg;
    int rc = sbx_process_channel_await (channel, SBX_INIT_STARTED, id, &msg, S_REPLY_TIMEOUT_MS);
    if (rc < 0)
        return sbx_process_channel_broken (channel, "the init process is gone");
    if (rc == 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: the init process did not answer in %d ms",
                              sbx_process_channel_id (channel), S_REPLY_TIMEOUT_MS);
    if (msg.value < 0)
        return s_start_error (msg.value, cwd);
    *pid_p = msg.value;
    return NULL;
}
