/*  bench_sbx - sbx's benchmarks, each printed beside a baseline measured in
    the same run on the same machine, and the ratio (docs/benchmarks.md).

    usage: bench_sbx [--quick] [SECTION...]
    sections: rtt concurrency sessions events commands growth limits python metrics curve contain scale

    The daemon under test is a real build/sbxd started per configuration
    (bench/harness.h); the baselines are bench/baselines.h, the echo
    among them running as `bench_sbx --echo-server WORKERS`. Each section
    is a file of its own; they run in this order, scale and curve last.
*/
#include "bench/harness.h"
#include "bench/baselines.h"
#include "bench/rtt.h"
#include "bench/concurrency.h"
#include "bench/sessions.h"
#include "bench/events.h"
#include "bench/commands.h"
#include "bench/growth.h"
#include "bench/metrics.h"
#include "bench/contain.h"
#include "bench/scale.h"
#include "bench/limits.h"
#include "bench/interpreter.h"
#include "bench/curve.h"

int
main (int argc, char *argv [])
{
    zsys_init ();
    zsys_set_max_sockets (30000);
    if (argc == 3 && streq (argv [1], "--echo-server"))
        return bench_echo_server (atoi (argv [2]));
    bench_args (argc, argv);
    printf ("sbx benchmarks%s (each figure beside a baseline from this same run)\n",
            bench_quick () ? " (quick)" : "");
    const struct {
        const char *name;
        void (*run) (void);
    } sections [] = {
        {"rtt", bench_rtt_run}, {"concurrency", bench_concurrency_run},
        {"sessions", bench_sessions_run}, {"events", bench_events_run},
        {"commands", bench_commands_run}, {"growth", bench_growth_run},
        {"limits", bench_limits_run}, {"python", bench_interpreter_run}, {"metrics", bench_metrics_run},
        {"curve", bench_curve_run}, {"contain", bench_contain_run}, {"scale", bench_scale_run}
    };
    for (size_t s = 0; s < sizeof sections / sizeof sections [0]; s++)
        if (bench_wanted (sections [s].name))
            sections [s].run ();
    bench_print_table ();
    return 0;
}
