"""A daemon that dies (SIGKILL) or stops answering (SIGSTOP) is reported as
DaemonUnavailable at once, not as a timeout: these clients have no reply
timeout at all (timeout=None), so only the watch on the connection and the
heartbeats can end their waits. (The joins' bounds only keep a broken
client from hanging the suite.)"""
import asyncio
import os
import signal
import threading

import pytest

import sbx
import sbx.aio
from conftest import PROCESS, TESTING, wait_until

NEVER = None        # no reply timeout
HANG = 120.0        # a bound for the joins, so that a hang fails instead of blocking


def _in_flight(daemon, tmp_path):
    """A command that tells it has started (through a FIFO), then sleeps."""
    fifo = str(tmp_path / "started")
    os.mkfifo(fifo)
    return fifo, "echo started > '%s'; sleep 600" % fifo


def test_sigkill_mid_session(start_daemon, tmp_path):
    daemon = start_daemon(PROCESS, pool=(1, 1))
    env = daemon.environment(timeout=NEVER, probe_timeout=1.0)
    fifo, command = _in_flight(daemon, tmp_path)
    outcome = {}
    try:
        sb = env.sandbox().open()

        def call():
            try:
                sb.shell.run(command)
            except BaseException as error:
                outcome["error"] = error

        caller = threading.Thread(target=call)
        caller.start()
        with open(fifo) as started:          # returns once the command runs
            assert started.read() == "started\n"
        daemon.signal(signal.SIGKILL)
        caller.join(HANG)
        assert not caller.is_alive()
        assert isinstance(outcome.get("error"), sbx.DaemonUnavailable), outcome
        assert "dropped while waiting for the reply to 'call'" in str(outcome["error"])
        # Later requests: no connection within the probe timeout - or, as a
        # freed port is soon taken over, another environment there, or a
        # connection to it that drops.
        for request in (lambda: sb.shell.run("true"), env.status, env.hello, sb.end):
            with pytest.raises(sbx.DaemonUnavailable):
                request()
        assert daemon.wait() == -signal.SIGKILL
    finally:
        env.close()


def test_sigkill_inside_a_with_block(start_daemon):
    daemon = start_daemon(TESTING)
    env = daemon.environment(timeout=NEVER, probe_timeout=1.0)
    try:
        with pytest.raises(sbx.DaemonUnavailable) as caught:
            with env.sandbox() as sb:
                assert sb.shell(code="x")
                daemon.signal(signal.SIGKILL)
                daemon.wait()
                sb.shell(code="y")
        if hasattr(BaseException, "add_note"):     # session.end failed too, and says so
            assert any("DaemonUnavailable" in note for note in caught.value.__notes__)
    finally:
        env.close()


def test_a_stopped_daemon_is_noticed_by_heartbeats(start_daemon):
    """SIGSTOP keeps the connection up: only the heartbeats (every lease/3)
    can tell that nothing answers any more."""
    daemon = start_daemon(TESTING, environment={"session_lease_s": 1.5})
    env = daemon.environment(timeout=NEVER, probe_timeout=0.5)
    try:
        sb = env.sandbox().open()
        wait_until(lambda: sb.renewals >= 1, what="a first renewal")
        daemon.pause()
        with pytest.raises(sbx.DaemonUnavailable, match="no answer to heartbeats"):
            sb.shell(code="x")
        daemon.resume()
        assert env.status()["environment"]["status"] == "online"
    finally:
        env.close()


def test_sigkill_asyncio(start_daemon, tmp_path):
    daemon = start_daemon(PROCESS, pool=(1, 1))
    fifo, command = _in_flight(daemon, tmp_path)

    async def main():
        async with sbx.aio.Environment(daemon.requests, timeout=NEVER, probe_timeout=1.0) as env:
            async with env.sandbox() as sb:
                call = asyncio.ensure_future(sb.shell.run(command))
                loop = asyncio.get_running_loop()
                started = await loop.run_in_executor(None, lambda: open(fifo).read())
                assert started == "started\n"
                daemon.signal(signal.SIGKILL)
                with pytest.raises(sbx.DaemonUnavailable, match="dropped while waiting"):
                    await call
                with pytest.raises(sbx.DaemonUnavailable):
                    await env.status()
    with pytest.raises(sbx.DaemonUnavailable):   # from session.end, at the block's end
        asyncio.run(asyncio.wait_for(main(), HANG))
