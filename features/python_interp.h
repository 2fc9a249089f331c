/*  sbx_python_interp - one Python interpreter of the python feature
    (features/python.c): the driver (features/python_driver.py, embedded)
    running as a long-lived command of a process sandbox
    (backends/process/resident.h), so with the sandbox's isolation,
    limits and user.

    The driver and we speak over the command's socket, in frames of a
    4-byte big-endian length and that many bytes of UTF-8 JSON (the
    driver's header lists them). The code's stdout and stderr come on
    pipes, read as they come, capped per stream, passed on as they come
    when the caller asks (streaming). Output written between calls (by
    threads or background processes) is dropped when the next call
    begins.

    Time: a call past its timeout gets SIGINT, to the interpreter's
    process group (KeyboardInterrupt in the cell; the interpreter and its
    state live on); if it has not answered `grace_ms` later, it is killed
    with everything it started. An interpreter that exits, is killed,
    closes its socket or sends garbage is dead for good: its owner starts
    another.

    Owned by one feature instance and used from the sandbox's thread;
    every wait has a deadline.
*/
#ifndef SBX_PYTHON_INTERP_H
#define SBX_PYTHON_INTERP_H

#include "backends/process/process.h"

#include <jansson.h>

typedef struct sbx_python_interp_t sbx_python_interp_t;

//  Starts `path -u -c DRIVER` with `env` ("NAME=value", NULL-terminated)
//  in the sandbox directory; does not wait for Python to be up (the first
//  call, with op NULL, does). NULL with *self_p set (caller owns it), or
//  the error of sbx_process_resident_start.
sbx_error_t *
    sbx_python_interp_start (sbx_process_t *sandbox, const char *path, const char *const *env,
                             sbx_python_interp_t **self_p);

//  Kills the interpreter and everything it started (unless the sandbox
//  is gone), frees it and nulls *self_p. Safe on NULL. Blocks a few ms.
void
    sbx_python_interp_destroy (sbx_python_interp_t **self_p);

//  False once the interpreter is known dead (exited, killed, its socket
//  closed, garbage sent); looks for a fresh exit first, without blocking.
bool
    sbx_python_interp_alive (sbx_python_interp_t *self);

//  True once the driver said it is ready (a call with op NULL).
bool
    sbx_python_interp_ready (sbx_python_interp_t *self);

//  One request to the driver.
typedef struct {
    const char *op;                 //  "exec", "check"; NULL: wait for the
                                    //  driver's "ready" (nothing is sent)
    const char *code;               //  UTF-8 (NUL bytes allowed)
    size_t code_size;
    bool display;                   //  exec: the repr of a last expression
    size_t max_output;              //  bytes kept per stream; the driver
                                    //  cuts result and error texts there too
    int64_t timeout_ms;             //  > 0
    int64_t grace_ms;               //  after SIGINT; 0: no SIGINT, killed at
                                    //  the timeout
    int cancel_fd;                  //  once readable: killed, CANCELLED; -1
    //  When set, output goes here as it is read (stream 0 stdout, 1
    //  stderr, within max_output each) and the outcome's stays empty.
    void (*on_output) (void *arg, int stream, const char *data, size_t size);
    void *on_output_arg;
} sbx_python_request_t;

typedef enum {
    SBX_PYTHON_ANSWERED,            //  the driver answered
    SBX_PYTHON_KILLED,              //  past timeout (and grace): killed
    SBX_PYTHON_DIED,                //  it exited, lost its socket, or was
                                    //  killed for sending garbage
    SBX_PYTHON_CANCELLED            //  cancel_fd: killed
} sbx_python_end_t;

typedef struct {
    sbx_python_end_t end;
    json_t *answer;                 //  ANSWERED: the driver's object
    int status;                     //  DIED: wait status, -1 when unknown
    bool garbled;                   //  DIED: it sent garbage
    bool interrupted;               //  SIGINT was sent at the timeout
    bool truncated;                 //  output was dropped past max_output
    char *out, *err;                //  never NULL after a call
    size_t out_size, err_size;
    double duration_ms;             //  from the request sent to its end
} sbx_python_outcome_t;

//  Sends `request` and waits for its end: the answer, the timeout (then
//  grace_ms more after SIGINT, then the kill), the interpreter's death,
//  or cancel_fd. Blocks up to timeout_ms + grace_ms + the time a kill
//  takes. Returns NULL with *outcome filled (caller frees it with
//  sbx_python_outcome_free), or a SandboxStateError (the sandbox's init
//  process is gone). A dead interpreter answers DIED at once.
sbx_error_t *
    sbx_python_interp_call (sbx_python_interp_t *self, const sbx_python_request_t *request,
                            sbx_python_outcome_t *outcome);

//  Releases what an outcome holds.
void
    sbx_python_outcome_free (sbx_python_outcome_t *outcome);

//  The driver's source (features/python_driver.py), NUL-terminated.
extern const char sbx_python_driver [];

#endif
