/*  Shared helpers for the Criterion suites: run a real sbxd on free
    loopback ports, talk to it over real ZeroMQ sockets, read its event log
    in the text form. Every wait has a timeout; nothing sleeps to
    synchronise.
*/
#ifndef SBX_TESTUTIL_H
#define SBX_TESTUTIL_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include "messages/reply.h"

typedef struct {
    pid_t pid;
    int exit_code;              //  after sbx_test_daemon_wait: exit code, or -1
    char dir [256];             //  private temp dir (config, log, root)
    char config_path [320];
    char log_path [320];
    char root_dir [320];
    int stderr_fd;              //  sbxd's stderr (its log), copied to ours
    pthread_t stderr_reader;    //  by this thread, while `reading`
    bool reading;
    _Atomic int64_t stderr_deadline;    //  when the reader stops (0: at EOF)
    _Atomic int bugs;           //  lines of it that report "bug:"
    pthread_mutex_t stderr_lock;    //  guards what is kept of it:
    pthread_cond_t stderr_grew;
    char *stderr_text;
    size_t stderr_size;
    char requests [256];        //  bound endpoints, read from sbxd's stdout
    char events [256];
    char metrics [256];         //  the metrics URL ("" when metrics are off)
    char admin [400];           //  the admin endpoint, from the config ("": none)
    int stdout_fd;
    char bin_dir [256];         //  as another user: where sbxd and sbx-init were copied
} sbx_test_daemon_t;

//  When not 0, daemons started from now on begin with this soft
//  RLIMIT_NOFILE (the hard one left as it is).
extern unsigned long sbx_test_nofile_soft;

//  Starts build/sbxd on `config` (borrowed; endpoints set to
//  tcp://127.0.0.1:* (metrics: http://127.0.0.1:0/metrics) and root_dir to
//  a fresh temp dir unless the config names them; `--event-log` set unless the config sets events.log itself). `extra` is a NULL-terminated list
//  of extra arguments, or NULL. Waits (10 s at most) for the line that says
//  where it listens. Returns NULL, after printing why, on failure.
sbx_test_daemon_t *
    sbx_test_daemon_start (const json_t *config, const char *const *extra);

//  Same, with sbxd running as user `uid` (and its group `uid`) through
//  setpriv(1); the test directory is theirs. The caller must be root.
//  The build directory may be out of that user's reach (a checkout under
//  /root, or under mktemp -d's 0700): sbxd and sbx-init are copied to a
//  fresh 0755 directory under /tmp, removed at destroy, and sbxd starts
//  in the test directory. That the user can run both is checked first;
//  sbxd's stderr goes to a file, shown at destroy and, when sbxd did not
//  start, quoted by sbx_test_daemon_failure.
sbx_test_daemon_t *
    sbx_test_daemon_start_as (const json_t *config, const char *const *extra, uid_t uid);

//  Copies sbxd and sbx-init (mode 0755) to a new directory under /tmp that
//  any user may enter - the build directory may sit in a 0700 one - and
//  names it in `dir`. 0, or -1 with errno. The caller removes it.
int
    sbx_test_copy_programs (char *dir, size_t size);

//  Why the last sbx_test_daemon_start* returned NULL ("" when none did),
//  for assertion messages. Valid until the next start.
const char *
    sbx_test_daemon_failure (void);

//  Same, from JSON text.
sbx_test_daemon_t *
    sbx_test_daemon_start_text (const char *config_json);

//  Waits for the daemon to exit (timeout_ms); returns its exit code, 128+N
//  when killed by signal N, or -1 on timeout (it is then killed).
int
    sbx_test_daemon_wait (sbx_test_daemon_t *self, int timeout_ms);

//  Asks it to shut down (SIGTERM, which sbxd treats as the `shutdown` op),
//  waits for the exit, returns the exit code (see above).
int
    sbx_test_daemon_shutdown (sbx_test_daemon_t *self);

//  Waits until the daemon's log (its stderr) holds `needle`; false after
//  timeout_ms.
bool
    sbx_test_wait_stderr (sbx_test_daemon_t *self, const char *needle, int timeout_ms);

//  Kills it if still running, removes its directory, frees it.
//  Once the daemon is over (here or in sbx_test_daemon_wait) its stderr
//  is copied to the caller's, and in the Criterion suites every line of it
//  that reports a broken invariant ("bug:") fails the test.
void
    sbx_test_daemon_destroy (sbx_test_daemon_t **self_p);

//  A DEALER connected to the daemon's request endpoint. Caller destroys.
zsock_t *
    sbx_test_connect (sbx_test_daemon_t *self);
//  A DEALER connected to its admin endpoint. Caller destroys.
zsock_t *
    sbx_test_connect_admin (sbx_test_daemon_t *self);

//  Sends one request given as JSON text (converted to msgpack as it is) and
//  waits for its reply (timeout_ms). Returns NULL on timeout. Caller
//  destroys the reply.
sbx_reply_t *
    sbx_test_request (zsock_t *dealer, const char *json, int timeout_ms);
//  Sends a request written as JSON (a printf format) and does not wait for
//  its reply; never blocks. 0, or -1 (said on stderr) when the text is not
//  JSON or the socket has no connection to send on.
int
    sbx_test_sendf (zsock_t *dealer, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  Same with a printf format.
sbx_reply_t *
    sbx_test_requestf (zsock_t *dealer, int timeout_ms, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Initialises `buffer` and packs the JSON text (any JSON value) into it
//  as msgpack. 0, or -1 (said on stderr) when the text is not JSON. The
//  caller destroys the buffer either way.
int
    sbx_test_pack_json (msgpack_sbuffer *buffer, const char *json);

//  Sends raw bytes as one request frame (never blocking: NULL, said on
//  stderr, when the socket has no connection to send on); waits for and
//  returns the reply.
sbx_reply_t *
    sbx_test_request_raw (zsock_t *dealer, const void *data, size_t size, int timeout_ms);

//  Waits for the next reply on `dealer` (to a request sent earlier) and
//  returns it; NULL after timeout_ms.
sbx_reply_t *
    sbx_test_reply_recv (zsock_t *dealer, int timeout_ms);

//  The error type of a reply ("ok" when it succeeded, "timeout" when NULL).
const char *
    sbx_test_reply_type (const sbx_reply_t *reply);

//  The event log rendered in the text form, one string per line, NULL
//  terminated; *count_p gets the number of lines. Free with
//  sbx_test_lines_free.
char **
    sbx_test_log_lines (sbx_test_daemon_t *self, size_t *count_p);
void
    sbx_test_lines_free (char ***lines_p);

//  How many lines of the text form of the log are `line`.
int
    sbx_test_log_count (sbx_test_daemon_t *self, const char *line);

//  Waits until the text form of the log holds `line` at least `nth` times.
bool
    sbx_test_wait_log (sbx_test_daemon_t *self, const char *line, int nth, int timeout_ms);

//  GETs `url` (http://HOST:PORT/PATH, HOST an IP address, IPv6 in
//  brackets) over HTTP/1.0, the way a scraper does. Returns the response's
//  status code, or 0 when none came within timeout_ms; *body_p gets the
//  body, NUL-terminated (caller frees; NULL on 0) and *size_p its size.
//  When `content_type` is not NULL it gets the Content-Type header's value
//  ("" when there is none).
int
    sbx_test_http_get (const char *url, char **body_p, size_t *size_p, char *content_type,
                       size_t type_size, int timeout_ms);

//  Waits until the event log holds at least `count` events.
bool
    sbx_test_wait_log_events (sbx_test_daemon_t *self, size_t count, int timeout_ms);
//  Runs the program argv [0] with `argv` and our environment without its
//  SBX_* variables, plus `env` (NAME=value, NULL-terminated; may be NULL);
//  stdin is /dev/null. Collects stdout and stderr together into `output`
//  (NUL-terminated, truncated to `size`). Returns the exit code, 128+N
//  for signal N, or -1 when it ran past 30 s (it is then killed).
int
    sbx_test_run (const char *const *argv, const char *const *env, char *output, size_t size);

//  Runs build/sbxd, with `-c PATH` of a temporary file holding `config`
//  first when `config` is not NULL, then `args` (NULL-terminated, may be
//  NULL); stdout goes to /dev/null, stderr into `err` (NUL-terminated,
//  truncated to `size`). Returns as sbx_test_run does.
int
    sbx_test_sbxd (const char *config, const char *const *args, char *err, size_t size);

//  Asserts that two strings are equal, NULL only to NULL; `what` names
//  them in the failure (Criterion suites).
void
    sbx_test_assert_str (const char *a, const char *b, const char *what);

//  Waits for the child `pid` up to timeout_ms; its exit code, 128+N for
//  signal N, or -1 on timeout (it is then killed).
int
    sbx_test_wait_pid (pid_t pid, int timeout_ms);

//  Appends `length` bytes of `data` to the NUL-terminated heap `buffer`
//  of `size` bytes (without the NUL), growing it.
void
    sbx_test_append (char **buffer, size_t *size, const char *data, size_t length);

//  Counts the entries of `path` (a directory); -1 when it does not exist.
int
    sbx_test_dir_entries (const char *path);

#endif
