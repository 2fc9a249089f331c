/*  sbx_python_interp - see python_interp.h */
#include "features/python_interp.h"
#include "backends/process/resident.h"
#include "backends/process/sink.h"

#include <czmq.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#define S_CHUNK (64 * 1024)

//  The driver, from features/python_driver.py at build time.
const char sbx_python_driver [] = {
#include "python_driver.inc"
    0
};

struct sbx_python_interp_t {
    sbx_process_resident_t *resident;
    bool ready;                 //  the driver said so
    bool dead;                  //  killed, or lost
};

sbx_error_t *
sbx_python_interp_start (sbx_process_t *sandbox, const char *path, const char *const *env,
                         sbx_python_interp_t **self_p)
{
    const char *argv [] = {path, "-u", "-c", sbx_python_driver, NULL};
    sbx_process_run_t run = {.argv = argv, .env = env};
    sbx_process_resident_t *resident = NULL;
    sbx_error_t *error = sbx_process_resident_start (sandbox, &run, &resident);
    if (error)
        return error;
    sbx_python_interp_t *self = (sbx_python_interp_t *) zmalloc (sizeof (sbx_python_interp_t));
    self->resident = resident;
    *self_p = self;
    return NULL;
}

void
sbx_python_interp_destroy (sbx_python_interp_t **self_p)
{
    sbx_python_interp_t *self = *self_p;
    if (!self)
        return;
    sbx_process_resident_destroy (&self->resident);
    free (self);
    *self_p = NULL;
}

bool
sbx_python_interp_alive (sbx_python_interp_t *self)
{
    if (self->dead)
        return false;
    sbx_error_t *error = sbx_process_resident_update (self->resident);
    //  A broken sandbox shows at the next call; here it only means "dead".
    if (error || sbx_process_resident_exited (self->resident, NULL))
        self->dead = true;
    sbx_error_destroy (&error);
    return !self->dead;
}

bool
sbx_python_interp_ready (sbx_python_interp_t *self)
{
    return self->ready;
}

void
sbx_python_outcome_free (sbx_python_outcome_t *outcome)
{
    json_decref (outcome->answer);
    free (outcome->out);
    free (outcome->err);
    outcome->answer = NULL;
    outcome->out = outcome->err = NULL;
}

//  --- One call ----------------------------------------------------------------

//  Reads stream `index` into `sink` (NULL: drops it) until it has nothing
//  more or `budget` bytes were read (0: no bound); closes it at EOF.
static void
s_drain (sbx_python_interp_t *self, int index, sbx_sink_t *sink, char *chunk, size_t budget)
{
    int fd = sbx_process_resident_output (self->resident, index);
    if (sbx_sink_drain (sink, fd, chunk, S_CHUNK, budget ? budget : SIZE_MAX))
        sbx_process_resident_close_output (self->resident, index);
}

//  What a pipe holds at most: the bound of a drain that must end.
static size_t
s_pipe_capacity (sbx_python_interp_t *self, int index)
{
    int fd = sbx_process_resident_output (self->resident, index);
    int capacity = fd >= 0 ? fcntl (fd, F_GETPIPE_SZ) : 0;
    return capacity > 0 ? (size_t) capacity : S_CHUNK;
}

//  The request as a frame: length, then JSON. NULL when it cannot be
//  encoded. Caller frees.
static char *
s_frame (const sbx_python_request_t *request, size_t *size_p)
{
    json_t *object = json_pack ("{s:s, s:s%, s:I, s:b}", "op", request->op,
                                "code", request->code ? request->code : "", request->code_size,
                                "limit", (json_int_t) request->max_output, "display", request->display);
    char *body = object ? json_dumps (object, JSON_COMPACT) : NULL;
    json_decref (object);
    if (!body)
        return NULL;
    size_t length = strlen (body);
    char *frame = (char *) malloc (4 + length);
    assert (frame);
    frame [0] = (char) (length >> 24);
    frame [1] = (char) (length >> 16);
    frame [2] = (char) (length >> 8);
    frame [3] = (char) length;
    memcpy (frame + 4, body, length);
    free (body);
    *size_p = 4 + length;
    return frame;
}

//  The state of one call.
typedef struct {
    sbx_python_interp_t *self;
    const sbx_python_request_t *request;
    sbx_python_outcome_t *outcome;
    sbx_sink_t sinks [2];
    char *chunk;
    char *frame;                //  to send
    size_t frame_size, sent;
    char *in;                   //  what came on the socket
    size_t in_size, in_capacity, max_in;
    bool over;
} s_call_t;

//  Takes a whole frame off `in` if one is there: the answer, or garbage.
static void
s_parse (s_call_t *call)
{
    if (call->in_size < 4)
        return;
    const uint8_t *p = (const uint8_t *) call->in;
    size_t length = (size_t) p [0] << 24 | (size_t) p [1] << 16 | (size_t) p [2] << 8 | p [3];
    if (length > call->max_in) {
        call->outcome->garbled = true;
        return;
    }
    if (call->in_size < 4 + length)
        return;
    json_t *answer = json_loadb (call->in + 4, length, 0, NULL);
    memmove (call->in, call->in + 4 + length, call->in_size - 4 - length);
    call->in_size -= 4 + length;
    if (!json_is_object (answer)) {
        json_decref (answer);
        call->outcome->garbled = true;
        return;
    }
    call->outcome->answer = answer;
    call->outcome->end = SBX_PYTHON_ANSWERED;
    call->over = true;
}

//  Reads what the socket has. False at EOF or error (the interpreter is
//  lost).
static bool
s_read_socket (s_call_t *call)
{
    int fd = sbx_process_resident_socket (call->self->resident);
    while (!call->over && !call->outcome->garbled) {
        if (call->in_capacity - call->in_size < S_CHUNK) {
            call->in_capacity = call->in_capacity * 2 + S_CHUNK;
            call->in = (char *) realloc (call->in, call->in_capacity);
            assert (call->in);
        }
        ssize_t n = recv (fd, call->in + call->in_size, call->in_capacity - call->in_size, MSG_DONTWAIT);
        if (n > 0) {
            call->in_size += (size_t) n;
            s_parse (call);
        }
        else
        if (n < 0 && errno == EINTR)
            continue;
        else
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
}

//  The interpreter is gone or must go: waits up to grace_ms for its exit
//  (it may be on its way, its socket closed first), else kills it and
//  all it started. DIED unless `end` says otherwise.
static sbx_error_t *
s_end (s_call_t *call, sbx_python_end_t end, bool kill_now)
{
    sbx_python_interp_t *self = call->self;
    self->dead = true;
    call->over = true;
    call->outcome->end = end;
    sbx_process_resident_t *resident = self->resident;
    int64_t until = zclock_usecs () + (kill_now ? 0 : call->request->grace_ms * 1000);
    sbx_error_t *error = NULL;
    while (!error && !sbx_process_resident_exited (resident, NULL)) {
        int64_t wait = (until - zclock_usecs () + 999) / 1000;
        if (wait <= 0)
            break;
        struct pollfd item = {sbx_process_resident_channel_fd (resident), POLLIN, 0};
        if (poll (&item, 1, (int) wait) > 0)
            error = sbx_process_resident_update (resident);
    }
    //  Its whole tree, also after its exit: nothing of it stays behind.
    if (!error)
        error = sbx_process_resident_kill (resident);
    int status = -1;
    if (!error && sbx_process_resident_exited (resident, &status))
        call->outcome->status = status;
    return error;
}

sbx_error_t *
sbx_python_interp_call (sbx_python_interp_t *self, const sbx_python_request_t *request,
                        sbx_python_outcome_t *outcome)
{
    memset (outcome, 0, sizeof *outcome);
    outcome->status = -1;
    s_call_t call = {.self = self, .request = request, .outcome = outcome};
    for (int i = 0; i < 2; i++)
        call.sinks [i] = (sbx_sink_t) {
            .max = request->max_output, .on_output = request->on_output,
            .on_output_arg = request->on_output_arg, .index = i
        };
    //  Answers hold the result, the message and the traceback, each cut at
    //  max_output by the driver, escaped in JSON.
    call.max_in = 8 * request->max_output + 1024 * 1024;
    call.chunk = (char *) malloc (S_CHUNK);
    assert (call.chunk);
    sbx_error_t *error = NULL;
    if (request->op) {
        call.frame = s_frame (request, &call.frame_size);
        if (!call.frame)
            error = sbx_error_new ("ValueError", "the code cannot be sent (it must be UTF-8)");
    }
    int64_t started = zclock_usecs ();
    if (!error && !sbx_python_interp_alive (self)) {
        outcome->end = SBX_PYTHON_DIED;
        sbx_process_resident_exited (self->resident, &outcome->status);
        call.over = true;
    }
    //  What came between calls is not this call's.
    for (int i = 0; !error && !call.over && i < 2; i++)
        s_drain (self, i, NULL, call.chunk, s_pipe_capacity (self, i));
    int64_t deadline = started + request->timeout_ms * 1000, kill_at = 0;
    if (request->grace_ms <= 0 || !request->op)
        kill_at = deadline;
    while (!error && !call.over) {
        struct pollfd items [5];
        int count = 0;
        int socket = sbx_process_resident_socket (self->resident);
        items [count++] = (struct pollfd) {socket, (short) (POLLIN | (call.sent < call.frame_size ? POLLOUT : 0)), 0};
        items [count++] = (struct pollfd) {sbx_process_resident_channel_fd (self->resident), POLLIN, 0};
        int first_stream = count;
        for (int i = 0; i < 2; i++)
            items [count++] = (struct pollfd) {sbx_process_resident_output (self->resident, i), POLLIN, 0};
        int cancel_item = request->cancel_fd >= 0 ? count : -1;
        if (cancel_item >= 0)
            items [count++] = (struct pollfd) {request->cancel_fd, POLLIN, 0};
        int64_t until = kill_at ? kill_at : deadline;
        int64_t wait = (until - zclock_usecs () + 999) / 1000;
        if (poll (items, (nfds_t) count, wait < 0 ? 0 : (int) wait) < 0 && errno != EINTR) {
            error = sbx_error_new (SBX_STATE_ERROR, "python: poll: %s", strerror (errno));
            break;
        }
        for (int i = 0; i < 2; i++)
            if (items [first_stream + i].fd >= 0 && items [first_stream + i].revents)
                s_drain (self, i, &call.sinks [i], call.chunk, 0);
        if (items [0].revents & POLLOUT) {
            ssize_t n = send (socket, call.frame + call.sent, call.frame_size - call.sent,
                              MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                call.sent += (size_t) n;
            else
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                error = s_end (&call, SBX_PYTHON_DIED, false);
                break;
            }
        }
        if ((items [0].revents & (POLLIN | POLLHUP | POLLERR)) && !s_read_socket (&call)) {
            error = s_end (&call, SBX_PYTHON_DIED, false);
            break;
        }
        if (outcome->garbled) {
            error = s_end (&call, SBX_PYTHON_DIED, true);
            break;
        }
        if (call.over)
            break;
        if (items [1].revents) {
            error = sbx_process_resident_update (self->resident);
            if (!error && sbx_process_resident_exited (self->resident, NULL)) {
                error = s_end (&call, SBX_PYTHON_DIED, true);
                break;
            }
        }
        if (!error && cancel_item >= 0 && (items [cancel_item].revents & POLLIN)) {
            error = s_end (&call, SBX_PYTHON_CANCELLED, true);
            break;
        }
        int64_t now = zclock_usecs ();
        if (!error && kill_at && now >= kill_at)
            error = s_end (&call, SBX_PYTHON_KILLED, true);
        else
        if (!error && !kill_at && now >= deadline) {
            outcome->interrupted = true;
            kill_at = now + request->grace_ms * 1000;
            error = sbx_process_resident_signal (self->resident, SIGINT);
        }
    }
    //  What the cell wrote before it answered (or died) is in the pipes
    //  now; what background writers add later is not this call's.
    for (int i = 0; !error && i < 2; i++)
        s_drain (self, i, &call.sinks [i], call.chunk, s_pipe_capacity (self, i));
    outcome->duration_ms = (double) (zclock_usecs () - started) / 1000.0;
    if (!error && outcome->end == SBX_PYTHON_ANSWERED && !request->op) {
        const char *op = json_string_value (json_object_get (outcome->answer, "op"));
        self->ready = op && streq (op, "ready");
    }
    free (call.chunk);
    free (call.frame);
    free (call.in);
    if (error) {
        free (call.sinks [0].data);
        free (call.sinks [1].data);
        json_decref (outcome->answer);
        outcome->answer = NULL;
        return error;
    }
    outcome->out = call.sinks [0].data ? call.sinks [0].data : strdup ("");
    outcome->err = call.sinks [1].data ? call.sinks [1].data : strdup ("");
    outcome->out_size = call.sinks [0].data ? call.sinks [0].size : 0;
    outcome->err_size = call.sinks [1].data ? call.sinks [1].size : 0;
    outcome->truncated = call.sinks [0].truncated || call.sinks [1].truncated;
    return NULL;
}
