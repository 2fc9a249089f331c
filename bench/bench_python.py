#!/usr/bin/python3
"""The Python client's cost per call, beside a bare pyzmq round trip.

Usage: bench_python.py [BUILD_DIR] [--rounds N] [--calls N]

Starts BUILD_DIR/sbxd (default: ../build from here) on the testing kinds,
opens one session with sbx.Environment, and times a call of the testing
sandbox's `shell` service in it - `sb.shell(code=...)` - beside a bare
pyzmq DEALER sending the same request (same sandbox and token, same
daemon) and waiting for its reply. The two take turns, a round of each at
a time, so that both see the same machine. Prints the p50 (and p90) of
each and the ratio of the p50s (target: <= 1.3).
"""
import argparse
import itertools
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.dont_write_bytecode = True

import sbx  # noqa: E402

TARGET = 1.3


def start_daemon(build, workdir):
    config = {
        "environment": {"id": "bench-python", "pool": {"min": 1, "max": 1},
                        "keepalive_interval_s": None, "stats_report_interval_s": None,
                        "root_dir": os.path.join(workdir, "root")},
        "sandbox": {"kind": "testing"},
        "features": {},
        "endpoints": {"requests": "tcp://127.0.0.1:*", "events": "tcp://127.0.0.1:*",
                      "metrics": "http://127.0.0.1:0/metrics"},
    }
    path = os.path.join(workdir, "config.json")
    with open(path, "w") as out:
        json.dump(config, out)
    proc = subprocess.Popen([os.path.join(build, "sbxd"), "-q", "-c", path], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 20
    buffer = b""
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1)[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
            match = re.search(rb"listening: requests=(\S+) events=", buffer)
            if match:
                return proc, match.group(1).decode()
    proc.kill()
    raise SystemExit("sbxd did not start: %r" % buffer)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", nargs="?", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each (%(default)s)")
    parser.add_argument("--calls", type=int, default=500, help="calls per round (%(default)s)")
    options = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="sbx-bench-python-")
    proc, endpoint = start_daemon(os.path.abspath(options.build), workdir)
    env = sbx.Environment(endpoint)
    bare = zmq.Context.instance().socket(zmq.DEALER)
    bare.linger = 0
    bare.connect(endpoint)
    ids = itertools.count(1)
    try:
        assert env.hello()["environment"] == "bench-python"
        with env.sandbox() as sb:
            request = {"op": "call", "sandbox": sb.id, "token": sb.token, "method": "shell",
                       "args": {"code": "bench"}}

            def client_round(times):
                clock = time.perf_counter
                for _ in range(options.calls):
                    began = clock()
                    sb.shell(code="bench")
                    times.append(clock() - began)

            def bare_round(times):
                clock = time.perf_counter
                for _ in range(options.calls):
                    began = clock()
                    rid = next(ids)
                    bare.send(msgpack.packb(dict(request, id=rid)))
                    while True:
                        reply = msgpack.unpackb(bare.recv())
                        if reply["id"] == rid:
                            break
                    assert reply["ok"]
                    times.append(clock() - began)

            client_round([])        # warm up both paths
            bare_round([])
            client, plain = [], []
            for _ in range(options.rounds):
                client_round(client)
                bare_round(plain)
    finally:
        bare.close()
        env.close()
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    p50_client, p50_bare = statistics.median(client), statistics.median(plain)
    ratio = p50_client / p50_bare
    print("calls: %d rounds x %d of each, alternating; testing sandbox service `shell`"
          % (options.rounds, options.calls))
    print("%-34s p50 %7.1f us   p90 %7.1f us" % ("sbx client  sb.shell(code=...)",
                                                   p50_client * 1e6, percentile(client, 0.9) * 1e6))
    print("%-34s p50 %7.1f us   p90 %7.1f us" % ("bare pyzmq DEALER round trip",
                                                   p50_bare * 1e6, percentile(plain, 0.9) * 1e6))
    print("ratio of the p50s: %.2fx (target <= %.1fx): %s"
          % (ratio, TARGET, "met" if ratio <= TARGET else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
