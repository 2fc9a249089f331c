"""A whole life on a real sbxd: hello, sessions, calls on real sandboxes
(shell and fs), ephemeral calls, acquire + start, status and stats, leases."""
import os
import subprocess
import sys

import pytest

import sbx
from conftest import REPO, TESTING, next_event, wait_until


def test_hello_and_catalog(process_daemon, process_env):
    hello = process_env.hello()
    assert hello["protocol"] == 1 and hello["environment"] == process_daemon.env_id
    catalog = process_env.catalog
    assert catalog.features["shell"].kind == "shell" and "run" in catalog.features["shell"].methods
    assert set(catalog.features["fs"].methods) >= {"read", "write", "list", "stat", "remove"}
    assert catalog.events_endpoint == process_daemon.events


def test_session_lifecycle(process_daemon, process_env):
    env = process_env
    with env.sandbox(session_id="task-42") as sb:
        assert sb.session_id == "task-42" and sb.id.startswith(process_daemon.env_id + "/")
        assert len(sb.token) == 32
        r = sb.shell.run("echo hi; echo oops >&2; exit 3")
        assert isinstance(r, sbx.Result) and isinstance(r, dict)
        assert (r.stdout, r.stderr, r.exit_code, r.timed_out) == ("hi\n", "oops\n", 3, False)
        with pytest.raises(AttributeError):
            r.no_such_key
        # State carries over within the session.
        assert sb.fs.write("notes.txt", b"data") == 4
        assert sb.fs.write("notes.txt", "+more", append=True) == 5
        assert sb.fs.read("notes.txt") == b"data+more"
        assert sb.shell.run("cat notes.txt").stdout == "data+more"
        assert [e["name"] for e in sb.fs.list("")] == ["notes.txt"]
        assert sb.fs.stat("notes.txt")["size"] == 9
        # Binary output stays bytes.
        raw = sb.shell.run("printf '\\377\\000x'").stdout
        assert raw == b"\xff\x00x"
        assert sb.shell.run(cmd="cat", stdin=b"\xfe\xff").stdout == b"\xfe\xff"
        assert sb.call("shell.run", {"cmd": "echo $X"}, env={"X": "y"}).stdout == "y\n"
        sb.fs.remove("notes.txt")
        assert sb.fs.list("") == []
        status = env.status(sb.id)["sandboxes"]
        assert status == [{"id": sb.id, "status": "in_session", "session_id": "task-42",
                           "state_errors": []}]
    # Ended: the token no longer works, and the sandbox is clean for the next.
    with pytest.raises((sbx.Unauthorized, sbx.NotFound)):
        sb.call("shell.run", cmd="true")
    assert env.status(sb.id)["sandboxes"][0]["status"] in ("setting_up", "ready")
    with env.sandbox() as sb2:
        assert sb2.session_id.startswith("session-")
        assert sb2.fs.list("") == []


def test_positional_and_unknown_names(process_env):
    with process_env.sandbox() as sb:
        with pytest.raises(TypeError, match="at most 2 positional"):
            sb.fs.write("a", b"b", True)
        with pytest.raises(TypeError, match="twice"):
            sb.shell.run("true", cmd="false")
        with pytest.raises(AttributeError, match="no feature or sandbox service 'nope'"):
            sb.nope
        with pytest.raises(sbx.NotFound, match="has no method 'nope'; it has: run"):
            sb.shell.nope
        assert not hasattr(sb.fs, "execute")
        assert isinstance(sb.feature("shell"), type(sb.shell))
        with pytest.raises(sbx.NotFound):
            sb.feature("nope")
        with pytest.raises(sbx.NotFound, match="no method 'shell.nope'"):
            sb.call("shell.nope")
        assert "shell" in dir(sb) and "run" in dir(sb.shell)


def test_ephemeral_call_status_stats(process_env):
    before = process_env.stats()["counters"]
    r = process_env.call("shell.run", cmd="uname -s")
    assert isinstance(r, sbx.Result) and r.stdout == "Linux\n" and r.exit_code == 0
    assert process_env.call("fs.list", path="") == []
    after = process_env.stats()
    assert after["counters"]["sessions_ended"] == before["sessions_ended"] + 2
    assert set(after["sandbox"]) >= {"created", "ready", "in_session", "offline"}
    assert process_env.status()["environment"]["status"] == "online"


def test_acquire_then_start(testing_daemon, testing_env):
    sb = testing_env.acquire()
    with sb:
        assert sb.session_id is None
        assert sb.start("started") == "started"
        assert sb.f.show_session_id() == "started"
        assert sb.shell(code="echo") == 'shell "echo" succeeded'     # a sandbox service
        assert sb.call("shell", code="x") == 'shell "x" succeeded'
        assert sb.f.num_shell_calls() >= 2


def test_heartbeats_keep_a_short_lease(start_daemon):
    """A lease of 1 s outlives two leases while heartbeats run, and lapses
    (LeaseExpired on the event, Unauthorized on the next call) without them."""
    daemon = start_daemon(TESTING, environment={"session_lease_s": 1})
    kept = daemon.environment()
    try:
        with kept.sandbox() as sb:
            wait_until(lambda: sb.renewals >= 7, what="seven renewals (over two leases)")
            assert sb.lease_ms == 1000 and sb.lost is None
            assert sb.f.show_session_id() == sb.session_id
    finally:
        kept.close()
    idle = daemon.environment(heartbeat=False)
    try:
        events = idle.events(prefix="session.end", timeout=10)
        sb = idle.sandbox().open()
        end = next_event(events, lambda e: e.get("session") == sb.session_id, "the session's end")
        error = sbx.error_from(end["error"])
        assert isinstance(error, sbx.LeaseExpired) and error.type == "LeaseExpired"
        with pytest.raises(sbx.Unauthorized):
            sb.f.show_session_id()
        with pytest.raises(sbx.Unauthorized):
            sb.end()
    finally:
        idle.close()


def test_module_smoke_check(process_daemon):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-m", "sbx", "--endpoint", process_daemon.requests],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"environment": "%s"' % process_daemon.env_id in out.stdout
    assert out.stdout.startswith("hello: {") and "\nstatus: {" in out.stdout
    down = subprocess.run([sys.executable, "-m", "sbx", "--endpoint", "tcp://127.0.0.1:1",
                           "--timeout", "0.5"], env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "DaemonUnavailable" in down.stderr
