/*  bench_harness - what every section of bench_sbx stands on: the command
    line and QUICK mode, the clock, samples and their percentiles, the
    result rows and the table they end in, a process's CPU time, wake-ups
    and RSS read from /proc, real sbxd daemons started through
    tests/testutil.h, requests encoded with sbx_request_encode, and waits
    on SUB sockets.

    Single-threaded: only the bench's main thread calls it. Every wait has
    a timeout.
*/
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <czmq.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/testutil.h"
#include "messages/request.h"

//  --- The command line -----------------------------------------------------

//  Reads `[--quick] [SECTION...]`. Call once, before anything else here.
void
    bench_args (int argc, char *argv []);
//  True with --quick: shorter runs, smaller pools.
bool
    bench_quick (void);
//  True when the command line names `section`, or names none.
bool
    bench_wanted (const char *section);

//  --- Time and samples -----------------------------------------------------

//  Monotonic clock, microseconds.
int64_t
    bench_now_us (void);

//  A growing list of values (latencies in microseconds, mostly). Zero it
//  to start; bench_samples_free empties it again.
typedef struct {
    double *values;
    size_t count, capacity;
} bench_samples_t;

void
    bench_sample (bench_samples_t *self, double value);
//  The value at fraction `p` (0.5: median) of the sorted samples; NAN
//  when there are none. Sorts them in place.
double
    bench_percentile (bench_samples_t *self, double p);
void
    bench_samples_free (bench_samples_t *self);

//  --- Rows and the table ---------------------------------------------------

//  Prints one result row at once, as "name value unit, baseline, ratio,
//  target [verdict]", and keeps it for the table. The name is a printf
//  format. NAN baseline: none ('-' in the table). A NULL target has no
//  verdict; otherwise `holds` says whether the value meets it.
void
    bench_row (const char *unit, double value, double baseline, const char *target,
               bool holds, const char *format, ...)
    __attribute__ ((format (printf, 6, 7)));

//  CPU time and context switches (wake-ups) of a process.
typedef struct {
    double cpu_us;
    double switches;
} bench_usage_t;

//  Two rows, "<who>: sbxd CPU per <unit>" and "<who>: sbxd wake-ups per
//  <unit>": `usage` over `count` units beside the baseline's `base`
//  over `base_count` (a zero count is taken as one).
void
    bench_row_usage (const char *who, const char *unit, bench_usage_t usage, double count,
                     bench_usage_t base, double base_count);

//  Prints every row so far as one Markdown table (docs/benchmarks.md).
void
    bench_print_table (void);

//  --- Processes, from /proc ------------------------------------------------

//  CPU time (user + system) of `pid` and the context switches of all its
//  threads so far; zeros when it cannot be read.
bench_usage_t
    bench_usage (pid_t pid);
//  Resident set of `pid` in KiB, -1 when it cannot be read.
long
    bench_rss_kib (pid_t pid);

//  --- Daemons under test ---------------------------------------------------

//  The journal of a daemon unless a section asks for another.
#define BENCH_JOURNAL_DEFAULT 65536

//  Starts build/sbxd on the JSON config text (quiet, endpoints on free
//  loopback ports) and asks `hello` (on the admin endpoint, when it has
//  one) until the environment answers "online", up to timeout_ms. Returns NULL, after saying why and
//  stopping it, when it does not start or come online.
sbx_test_daemon_t *
    bench_daemon_start (const char *config, int timeout_ms);
//  Same, for a daemon whose pool is `size` testing sandboxes (min = max),
//  with proactive session setup or not, one testing feature or none, the
//  event log off and a journal of `journal` events.
sbx_test_daemon_t *
    bench_daemon_testing (unsigned size, bool proactive, bool feature, unsigned journal,
                          int timeout_ms);
//  Shuts the daemon down (waiting for its exit) and frees it; nulls
//  *daemon_p. Safe on NULL.
void
    bench_daemon_stop (sbx_test_daemon_t **daemon_p);

//  --- Requests -------------------------------------------------------------

//  Encodes `request` (sbx_request_encode), sends it on `dealer` and waits
//  for its reply up to timeout_ms. Returns NULL on timeout; caller
//  destroys the reply.
sbx_reply_t *
    bench_request (zsock_t *dealer, const sbx_request_t *request, int timeout_ms);

//  `size` - 1 bytes of 'x' and a NUL: the code the calls carry.
void
    bench_code (char *code, size_t size);
//  Appends the args map {key: value} to `out`: {"code": code} for the
//  testing feature's calls, {"cmd": "echo hi"} for shell.run.
void
    bench_args_pack (msgpack_sbuffer *out, const char *key, const char *value);

//  --- SUB sockets ----------------------------------------------------------

//  True when `sock` has a message within timeout_ms.
bool
    bench_readable (zsock_t *sock, int timeout_ms);
//  Receives and drops `count` messages; false when 5 s pass without one.
bool
    bench_sub_wait (zsock_t *sub, uint64_t count);
//  Calls send_one (arg), which publishes one message towards `sub`, until
//  `sub` receives one (the subscription is then in place): up to 100
//  times, 50 ms apart. Returns whether it did.
bool
    bench_sub_handshake (zsock_t *sub, void (*send_one) (void *arg), void *arg);

#endif
