"""sbx.aio: the same API on asyncio, against a real sbxd."""
import asyncio
import itertools

import pytest

import sbx
import sbx.aio
from conftest import PROCESS


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 120))


def test_lifecycle(process_daemon):
    async def main():
        async with sbx.aio.Environment(process_daemon.requests) as env:
            hello = await env.hello()
            assert hello["environment"] == process_daemon.env_id
            assert env.catalog.features["shell"].kind == "shell"
            async with env.sandbox(session_id="aio-1") as sb:
                assert sb.session_id == "aio-1"
                r = await sb.shell.run("echo hi")
                assert isinstance(r, sbx.Result) and (r.stdout, r.exit_code) == ("hi\n", 0)
                assert await sb.fs.write("a.bin", b"\xff\x00") == 2
                assert await sb.fs.read("a.bin") == b"\xff\x00"
                with pytest.raises(PermissionError) as caught:
                    await sb.fs.read("../escape")
                assert isinstance(caught.value, sbx.UserError) and caught.value.sandbox == sb.id
                with pytest.raises(AttributeError):
                    sb.nope
                # Requests in flight together on one socket, replies by id.
                sizes = await asyncio.gather(*(sb.fs.write("f%d" % i, "x" * i) for i in range(20)))
                assert sizes == list(range(20))
                stream = sb.shell.stream("echo out; echo err >&2")
                chunks = [chunk async for chunk in stream]
                if stream.streamed:
                    assert b"".join(d for s, d in chunks if s == "stdout") == b"out\n"
                else:
                    assert chunks == [("stdout", b"out\n"), ("stderr", b"err\n")]
                assert stream.result.exit_code == 0
                status = await env.status(sb.id)
                assert status["sandboxes"][0]["status"] == "in_session"
            r = await env.call("shell.run", cmd="echo ephemeral")
            assert r.stdout == "ephemeral\n"
            assert (await env.stats())["counters"]["sessions_ended"] >= 2
    run(main())


def test_errors_and_acquire(testing_daemon):
    async def main():
        async with sbx.aio.Environment(testing_daemon.requests) as env:
            sb = await env.acquire()
            async with sb:
                assert await sb.start("aio-acquired") == "aio-acquired"
                assert await sb.f.show_session_id() == "aio-acquired"
                with pytest.raises(ValueError) as caught:
                    await sb.shell(code="x", raise_error="ValueError")
                assert caught.value.type == "ValueError"
                with pytest.raises(sbx.NotFound):
                    await sb.call("f.nope")
                with pytest.raises(sbx.SandboxStateError):
                    await sb.f.bad_shell_call()
            with pytest.raises(sbx.BadRequest):
                await env.request("no.such.op")
    run(main())


def test_sixteen_sessions_at_once(start_daemon):
    daemon = start_daemon(PROCESS, pool=(1, 16))

    async def one(env, i):
        async with env.sandbox(session_id="aio-%d" % i) as sb:
            for j in range(3):
                assert (await sb.shell.run("echo %d.%d" % (i, j))).stdout == "%d.%d\n" % (i, j)
            return sb.session_id

    async def main():
        async with sbx.aio.Environment(daemon.requests) as env:
            sessions = await asyncio.gather(*(one(env, i) for i in range(16)))
            assert sessions == ["aio-%d" % i for i in range(16)]
    run(main())


def test_events_with_a_forced_gap(testing_daemon):
    async def until_end(events, session):
        got = []
        async for event in events:
            got.append(event)
            if event["event"] == "session.end" and event.get("session") == session:
                return got
        raise AssertionError("no end of %s" % session)

    async def main():
        async with sbx.aio.Environment(testing_daemon.requests) as env:
            history = env.events(since=0, timeout=10)
            await env.call("shell", code="x", session_id="aio-late")
            got = await until_end(history, "aio-late")
            assert [e["seq"] for e in got] == list(range(1, len(got) + 1))
            history.close()
            async with env.events(timeout=10) as events:
                for i in itertools.count():
                    await env.call("shell", code="warm", session_id="aio-warm-%d" % i)
                    await until_end(events, "aio-warm-%d" % i)
                    if events.received:
                        break
                    assert i < 100
                start = events.last_seq + 1
                events.drop(3)
                await env.call("shell", code="x", session_id="aio-gap")
                got = await until_end(events, "aio-gap")
                assert [e["seq"] for e in got] == list(range(start, start + len(got)))
                assert len(events.dropped) == 3 and set(events.dropped) <= {e["seq"] for e in got}
    run(main())
