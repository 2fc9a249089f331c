#!/usr/bin/python3
"""Interop: a client written only with pyzmq and msgpack talks protocol v1
to a real sbxd (PROTOCOL.md). Usage: test_interop.py BUILD_DIR

Starts BUILD_DIR/sbxd on a temp config (testing kinds, tcp://127.0.0.1:*),
subscribes to its events, runs hello / session.open / call / session.end,
checks the replies and the events of the session (live and replayed), then
shuts it down - `shutdown` is refused on the request endpoint and taken on
the admin endpoint, ipc://<root_dir>/<env>.admin - and expects exit code 0.
Every wait has a timeout.
"""
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import msgpack
import zmq

WAIT_MS = 10000
passed = 0
failed = 0


def check(condition, what):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, flush=True)
    return condition


def read_endpoints(proc, timeout_s):
    """The 'listening' line of sbxd's stdout, within timeout_s."""
    deadline = time.monotonic() + timeout_s
    buffer = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buffer += chunk
        match = re.search(rb"sbxd: environment '([^']*)' listening: requests=(\S+) events=(\S+)[ \n]", buffer)
        if match:
            return [part.decode() for part in match.groups()]
    raise RuntimeError("sbxd did not say where it listens: %r" % buffer)


class Client:
    def __init__(self, context, endpoint):
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)
        self.next_id = 1

    def request(self, op, **keys):
        body = dict(keys, op=op, id=self.next_id)
        self.next_id += 1
        self.socket.send(msgpack.packb(body, use_bin_type=True))
        if not self.socket.poll(WAIT_MS):
            raise RuntimeError("no reply to %s" % op)
        frames = self.socket.recv_multipart()
        if len(frames) != 1:
            raise RuntimeError("reply to %s has %d frames" % (op, len(frames)))
        reply = msgpack.unpackb(frames[0], raw=False)
        if reply.get("id") != body["id"]:
            raise RuntimeError("reply id %r for request id %r" % (reply.get("id"), body["id"]))
        return reply

    def close(self):
        self.socket.close()


def receive_events(sub, until, timeout_s):
    """Events from the SUB socket until `until(event)` is true."""
    events = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not sub.poll(int(max(1, (deadline - time.monotonic()) * 1000))):
            break
        topic, body = sub.recv_multipart()
        event = msgpack.unpackb(body, raw=False)
        check(event.get("event") == topic.decode(), "topic %r is the event name" % topic)
        events.append(event)
        if until(event):
            break
    return events


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "build")
    sbxd = os.path.join(build, "sbxd")
    workdir = tempfile.mkdtemp(prefix="sbx-interop-")
    config = {
        "environment": {
            "id": "interop-env", "pool": {"min": 1, "max": 2},
            "outage_grace_period_s": 0, "outage_retry_interval_s": 0,
            "keepalive_interval_s": None, "root_dir": os.path.join(workdir, "root"),
        },
        "sandbox": {"kind": "testing"},
        "features": {"f": {"kind": "testing"}},
        "endpoints": {"requests": "tcp://127.0.0.1:*", "events": "tcp://127.0.0.1:*",
                      "metrics": "http://127.0.0.1:0/metrics"},
    }
    config_path = os.path.join(workdir, "config.json")
    with open(config_path, "w") as out:
        json.dump(config, out)
    proc = subprocess.Popen([sbxd, "-c", config_path], stdout=subprocess.PIPE)
    context = zmq.Context()
    client = None
    sub = None
    try:
        env_id, requests, events_ep = read_endpoints(proc, 10)
        check(env_id == "interop-env", "environment id on stdout: %r" % env_id)
        check(requests.startswith("tcp://127.0.0.1:") and not requests.endswith("*"),
              "requests endpoint is a real port: %r" % requests)

        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"session.")
        sub.connect(events_ep)
        client = Client(context, requests)

        hello = client.request("hello")
        check(hello.get("ok") is True, "hello ok: %r" % hello)
        check(hello.get("protocol") == 1, "protocol 1")
        check(hello.get("environment") == "interop-env", "hello environment")
        check("shell" in hello.get("sandbox_methods", []), "sandbox_methods has shell")
        check("show_session_id" in hello.get("features", {}).get("f", {}).get("methods", []),
              "feature f lists its methods")

        # The subscription reaches the server asynchronously: make events
        # (ephemeral calls) until the SUB sees one, so that it sees all of
        # the session below. The replay covers what it missed before.
        warmups = 0
        while warmups < 50:
            warm = client.request("call", method="shell", args={"code": "warm up"})
            warmups += 1
            check(warm.get("ok") is True and warm.get("sandbox") and warm.get("session_id"),
                  "ephemeral call: %r" % warm)
            if sub.poll(100):
                break
        check(sub.poll(0), "the SUB never received an event")
        last_warm = warm.get("session_id")
        receive_events(sub, lambda e: e.get("event") == "session.end" and e.get("session") == last_warm, 5)

        opened = client.request("session.open")
        check(opened.get("ok") is True, "session.open ok: %r" % opened)
        sandbox, token, session = opened.get("sandbox"), opened.get("token"), opened.get("session_id")
        check(isinstance(token, str) and re.fullmatch(r"[0-9a-f]{32}", token or "") is not None,
              "token is 32 hex chars")
        check(re.fullmatch(r"session-[0-9a-f]{7}", session or "") is not None, "session id form %r" % session)
        check(sandbox == "interop-env/0:0", "sandbox id %r" % sandbox)

        call = client.request("call", sandbox=sandbox, token=token, method="shell",
                              args={"code": "echo \"hi\" \u00e9"})
        check(call.get("ok") is True, "call ok: %r" % call)
        check(call.get("result") == "shell \"echo \"hi\" \u00e9\" succeeded", "call result %r" % call.get("result"))

        wrong = client.request("call", sandbox=sandbox, token="0" * 32, method="shell", args={"code": "x"})
        check(wrong.get("ok") is False and wrong.get("error", {}).get("type") == "Unauthorized",
              "wrong token refused: %r" % wrong)

        beat = client.request("heartbeat", sandbox=sandbox, token=token)
        check(beat.get("ok") is True and beat.get("lease_ms") == 300000, "heartbeat: %r" % beat)

        ended = client.request("session.end", sandbox=sandbox, token=token)
        check(ended.get("ok") is True, "session.end ok: %r" % ended)

        # Events of the session: live from the SUB when the subscription was
        # in time, and always from the journal.
        live = receive_events(sub, lambda e: e.get("event") == "session.end" and e.get("session") == session, 5)
        replay = client.request("events.replay", since=0)
        check(replay.get("ok") is True, "events.replay ok")
        journal = replay.get("events", [])
        seqs = [event["seq"] for event in journal]
        check(seqs == list(range(1, len(seqs) + 1)), "replayed seqs are 1..n")
        check(replay.get("next") == (seqs[-1] if seqs else 0), "next is the last seq")
        mine = [e for e in journal if e.get("session") == session and e["event"].startswith("session.")]
        names = [e["event"] for e in mine]
        # The feature's teardown_session hook calls shell too (SPEC 5): its
        # activity belongs to the session as well.
        check(names[:1] == ["session.start"] and names[-1:] == ["session.end"]
              and set(names[1:-1]) == {"session.activity"},
              "session events in the journal: %r" % names)
        check(all(e.get("sandbox") == sandbox for e in mine), "session events name the sandbox")
        check(mine[-1].get("error") is None if mine else False, "session.end without error")
        activity = [e for e in mine if e["event"] == "session.activity"]
        check(bool(activity) and activity[0].get("name") == "shell"
              and activity[0].get("args", {}).get("code") == "echo \"hi\" \u00e9",
              "activity names the method and args")
        check([a.get("args", {}).get("code") for a in activity[1:]] == ['"f" teardown session'],
              "the teardown_session hook's shell call: %r" % activity[1:])
        by_seq = {e["seq"]: e for e in journal}
        for event in live:
            check(event["event"].startswith("session."), "SUB prefix filter: %r" % event["event"])
            check(by_seq.get(event["seq"]) == event, "live event %d equals its replay" % event["seq"])
        live_mine = [e["event"] for e in live if e.get("session") == session]
        check(live_mine == names, "SUB saw the whole session: %r" % live_mine)

        status = client.request("status")
        check(status.get("environment", {}).get("status") == "online", "status online")
        stats = client.request("stats")
        check(stats.get("counters", {}).get("sessions_ended") == warmups + 1,
              "sessions ended: %r" % stats.get("counters"))

        refused = client.request("shutdown")
        check((refused.get("error") or {}).get("type") == "Unauthorized",
              "shutdown refused on the request endpoint: %r" % refused)
        admin = Client(context, "ipc://%s/%s.admin" % (config["environment"]["root_dir"],
                                                       config["environment"]["id"]))
        done = admin.request("shutdown")
        admin.close()
        check(done.get("ok") is True, "shutdown ok on the admin endpoint")
        code = proc.wait(timeout=30)
        check(code == 0, "sbxd exit code %r" % code)
    except Exception:
        traceback.print_exc()
        check(False, "exception")
    finally:
        if client:
            client.close()
        if sub:
            sub.close()
        context.term()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
