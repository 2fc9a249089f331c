#!/usr/bin/python3
"""Checks a scrape of sbxd's metrics against its event log and its stats
reply; tests/test_scrape.c runs it.

usage: metrics_check.py SCRAPE EVENTS.jsonl STATS.json

The scrape is parsed with the prometheus_client parser (so it must be valid
text format, with no duplicate series). N, the sum of sbx_events_total, is
how many events the scrape had seen: every figure derived from events must
agree exactly with the first N events of the log - counts, histogram counts,
buckets and sums of duration_ns; lifetimes (between two events' ts_ns) by
count, their sums within 0.1 s (the log holds ts_ns as published, raised
to keep time in order, the recorder the times as they happened). The
environment's figures must agree with the stats reply taken just before.
Exits 1 and says what differs, else 0.
"""
import json
import sys
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

BOUNDS_NS = [10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
             10000000, 25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
             2500000000, 5000000000, 10000000000, 30000000000, 60000000000, 120000000000,
             300000000000, 600000000000, 1800000000000, 3600000000000]
EVENTS = ["environment.start", "environment.shutdown", "sandbox.start", "sandbox.shutdown",
          "sandbox.status", "feature.setup", "feature.teardown", "feature.housekeep",
          "feature.setup_session", "feature.teardown_session", "session.start", "session.end",
          "session.activity"]
COUNTED = {"sandbox.start": "sbx_sandbox_start", "sandbox.shutdown": "sbx_sandbox_shutdown",
           "session.start": "sbx_session_start", "session.end": "sbx_session_end"}
TIMED = {"environment.start": "sbx_environment_start_duration_seconds",
         "environment.shutdown": "sbx_environment_shutdown_duration_seconds",
         "sandbox.start": "sbx_sandbox_start_duration_seconds",
         "sandbox.shutdown": "sbx_sandbox_shutdown_duration_seconds",
         "session.start": "sbx_session_start_duration_seconds",
         "session.end": "sbx_session_end_duration_seconds"}
ENVIRONMENT_COUNTERS = ["sandboxes_replaced", "acquires_waited", "acquires_overloaded",
                        "acquires_refused", "calls_refused", "leases_expired", "bad_requests",
                        "replies_dropped", "peers_disconnected", "peers_refused"]
STATUSES = ["created", "setting_up", "ready", "acquired", "in_session", "shutting_down", "offline"]

problems = []


def check(condition, what):
    if not condition:
        problems.append(what)


def key(name, **labels):
    return (name, tuple(sorted(labels.items())))


class Expected:
    """Counters and histograms as the first N events say they must be."""

    def __init__(self, env):
        self.env = env
        self.counters = defaultdict(int)
        self.durations = defaultdict(list)      # series -> [duration_ns]
        self.lifetimes = defaultdict(list)      # series -> [seconds]

    def count(self, name, **labels):
        self.counters[key(name + "_total", environment=self.env, **labels)] += 1

    def observe(self, name, duration_ns, **labels):
        self.durations[(name, tuple(sorted(dict(labels, environment=self.env).items())))].append(duration_ns)

    def lifetime(self, name, seconds, **labels):
        self.lifetimes[(name, tuple(sorted(dict(labels, environment=self.env).items())))].append(seconds)


def expected_from(events):
    expect = Expected(events[0]["environment"])
    first_ts = {}
    session_ts = {}
    for event in events:
        name = event["event"]
        error = event["error"]["type"] if event.get("error") else ""
        duration = event.get("duration_ns", 0)
        sandbox = event.get("sandbox")
        ts = event["ts_ns"]
        expect.count("sbx_events", event=name)
        if name in COUNTED:
            expect.count(COUNTED[name], error=error)
        if name in TIMED and duration:
            expect.observe(TIMED[name], duration, error=error)
        if name == "sandbox.status":
            first_ts.setdefault(sandbox, ts)
            if duration:
                expect.observe("sbx_sandbox_status_duration_seconds", duration, status=event["old"])
        elif name.startswith("feature."):
            hook = name[len("feature."):]
            expect.count("sbx_feature_" + hook, feature=event["feature"], error=error)
            if duration:
                expect.observe("sbx_feature_%s_duration_seconds" % hook, duration,
                               feature=event["feature"], error=error)
        elif name == "session.activity":
            labels = dict(feature=event["feature"] or "", method=event["name"], error=error)
            expect.count("sbx_calls", **labels)
            if duration:
                expect.observe("sbx_call_duration_seconds", duration, **labels)
        elif name == "session.start":
            first_ts.setdefault(sandbox, ts)
            if not error:
                session_ts[sandbox] = ts
        elif name == "session.end":
            first_ts.setdefault(sandbox, ts)
            if session_ts.get(sandbox):
                expect.lifetime("sbx_session_lifetime_seconds", (ts - session_ts.pop(sandbox)) / 1e9,
                                error=error)
        elif name == "sandbox.shutdown" and sandbox in first_ts:
            expect.lifetime("sbx_sandbox_lifetime_seconds", (ts - first_ts.pop(sandbox)) / 1e9, error=error)
            session_ts.pop(sandbox, None)
    return expect


def histogram(samples, name, labels):
    """The buckets (by bound text), sum and count of one histogram series."""
    buckets = {}
    for (sample, sample_labels), value in samples.items():
        labels_of = dict(sample_labels)
        le = labels_of.pop("le", None)
        if sample == name + "_bucket" and tuple(sorted(labels_of.items())) == labels:
            buckets[le] = value
    return (buckets, samples.get((name + "_sum", labels)), samples.get((name + "_count", labels)))


def main(scrape_path, log_path, stats_path):
    samples = {}
    with open(scrape_path) as scrape:
        for family in text_string_to_metric_families(scrape.read()):
            for sample in family.samples:
                series = key(sample.name, **sample.labels)
                check(series not in samples, "duplicate series %r" % (series,))
                samples[series] = sample.value
    total = int(sum(v for (name, _), v in samples.items() if name == "sbx_events_total"))
    with open(log_path) as log:
        events = [json.loads(line) for line in log if line.strip()]
    check(len(events) >= total, "the log has %d events, the scrape counted %d" % (len(events), total))
    events = events[:total]
    with open(stats_path) as stats_file:
        stats = json.load(stats_file)
    expect = expected_from(events)
    env = expect.env
    checked = 0

    # Counters: every expected one, and no other counted series above 0.
    for series, value in expect.counters.items():
        check(samples.get(series) == value, "%s: scraped %s, the log says %d" % (series, samples.get(series), value))
        checked += 1
    for event in EVENTS:
        series = key("sbx_events_total", environment=env, event=event)
        check(samples.get(series) == expect.counters.get(series, 0), "%s: %s" % (series, samples.get(series)))
    event_families = {"sbx_events_total", "sbx_sandbox_start_total", "sbx_sandbox_shutdown_total",
                      "sbx_session_start_total", "sbx_session_end_total", "sbx_calls_total"} | {
        "sbx_feature_%s_total" % hook for hook in ("setup", "teardown", "setup_session",
                                                   "teardown_session", "housekeep")}
    for series, value in samples.items():
        if series[0] in event_families and value:
            check(series in expect.counters, "%s = %s, but no such events in the log" % (series, value))

    # Histograms of duration_ns: count, buckets and sum exactly.
    for (name, labels), durations in expect.durations.items():
        buckets, total_s, count = histogram(samples, name, labels)
        check(count == len(durations), "%s%s: count %s, the log has %d" % (name, labels, count, len(durations)))
        check(total_s is not None and abs(total_s - sum(durations) / 1e9) < 1e-6,
              "%s%s: sum %s, the log says %.9f" % (name, labels, total_s, sum(durations) / 1e9))
        check(buckets.get("+Inf") == len(durations), "%s%s: +Inf bucket %s" % (name, labels, buckets.get("+Inf")))
        for bound in BOUNDS_NS:
            within = sum(1 for d in durations if d <= bound)
            le = [b for b in buckets if b != "+Inf" and abs(float(b) * 1e9 - bound) < 0.5]
            check(len(le) == 1 and buckets[le[0]] == within,
                  "%s%s: bucket le=%g holds %s, the log says %d" % (
                      name, labels, bound / 1e9, [buckets[b] for b in le], within))
        checked += 1
    # Every histogram series of events with observations is one the log explains.
    from_events = set(TIMED.values()) | {
        "sbx_sandbox_status_duration_seconds", "sbx_call_duration_seconds",
        "sbx_session_lifetime_seconds", "sbx_sandbox_lifetime_seconds"} | {
        "sbx_feature_%s_duration_seconds" % hook for hook in ("setup", "teardown", "setup_session",
                                                              "teardown_session", "housekeep")}
    for (sample, labels), value in samples.items():
        name = sample[:-len("_count")]
        if sample.endswith("_count") and value and name in from_events:
            check((name, labels) in expect.durations or (name, labels) in expect.lifetimes,
                  "%s%s has %s observations the log does not explain" % (name, labels, value))

    # Lifetimes: count exactly, sum within 0.1 s.
    for (name, labels), lifetimes in expect.lifetimes.items():
        _, total_s, count = histogram(samples, name, labels)
        check(count == len(lifetimes), "%s%s: count %s, the log has %d" % (name, labels, count, len(lifetimes)))
        check(total_s is not None and abs(total_s - sum(lifetimes)) < 0.1,
              "%s%s: sum %s, the log says about %.3f" % (name, labels, total_s, sum(lifetimes)))
        checked += 1

    # The environment's own figures, against the stats reply.
    counters = stats["counters"]
    for name in ENVIRONMENT_COUNTERS:
        series = key("sbx_%s_total" % name, environment=env)
        check(samples.get(series) == counters[name], "%s: scraped %s, stats says %s" % (
            series[0], samples.get(series), counters[name]))
        checked += 1
    for status in STATUSES:
        series = key("sbx_sandboxes", environment=env, status=status)
        check(samples.get(series) == stats["sandbox"][status], "%s{%s}: scraped %s, stats says %s" % (
            series[0], status, samples.get(series), stats["sandbox"][status]))
    for name in ("min", "max", "size"):
        series = key("sbx_pool_" + name, environment=env)
        check(samples.get(series) == stats["pool"][name], "sbx_pool_%s: %s, stats says %s" % (
            name, samples.get(series), stats["pool"][name]))
    gauges = stats["metrics"]["gauges"]
    for name in ("acquires_waiting", "peers_connected"):
        series = key("sbx_" + name, environment=env)
        check(samples.get(series) == gauges[name], "sbx_%s: %s, stats says %s" % (name, samples.get(series), gauges[name]))
    check(samples.get(key("sbx_environment_status", environment=env, status="online")) == 1, "not online")
    check(samples.get(key("sbx_journal_events", environment=env)) == total,
          "sbx_journal_events: %s, %d events" % (samples.get(key("sbx_journal_events", environment=env)), total))
    # The stats reply's summaries are of the same histograms.
    calls = sum(v for (name, _), v in samples.items() if name == "sbx_call_duration_seconds_count")
    summary = stats["metrics"]["histograms"]["call_duration_seconds"]["count"]
    check(summary == calls, "stats counted %s calls, the scrape %s" % (summary, calls))
    # Housekeeping runs are no events: counted, and timed once each.
    runs = sum(v for (name, _), v in samples.items() if name == "sbx_sandbox_housekeep_total")
    timed = sum(v for (name, _), v in samples.items() if name == "sbx_sandbox_housekeep_duration_seconds_count")
    check(runs >= 1 and runs == timed, "housekeeping runs %s, timed %s" % (runs, timed))

    for problem in problems:
        print("metrics_check: " + problem)
    print("metrics_check: %d events, %d series checked, %d problems" % (total, checked, len(problems)))
    return 1 if problems else 0



if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
