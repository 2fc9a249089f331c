"""sb.shell.stream(cmd): real streaming when the daemon's hello lists the
`stream` capability, else the command runs unstreamed and its whole
stdout and stderr come once each. sbxd streams; the fallback runs against
it all the same, with the capability taken out of the client's view of
hello; the stub daemon exercises both branches too."""
import asyncio
import dataclasses
import os
import threading

import pytest
import zmq

import sbx
import sbx.aio
from stub import Stub

#  The command writes a line, then waits on a FIFO that the test opens only
#  after that line arrived (streamed) or before anything (unstreamed).
COMMAND = "echo first; read line < '%s'; echo \"$line\" >&2"


def _release(fifo):
    """Opens the FIFO for writing (blocking until the command reads it) and
    writes one line, in a thread."""
    def write():
        with open(fifo, "w") as out:
            out.write("second\n")
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _relay(stream):
    return (yield from stream)


def _drain(stream):
    chunks = []
    relay = _relay(stream)
    try:
        while True:
            chunks.append(next(relay))
    except StopIteration as stop:
        return chunks, stop.value


def _joined(chunks, name):
    return b"".join(data for stream, data in chunks if stream == name)


@pytest.fixture
def fifo(tmp_path):
    path = str(tmp_path / "fifo")
    os.mkfifo(path)
    return path


def test_stream_real(process_env, fifo):
    assert "stream" in process_env.catalog.capabilities
    with process_env.sandbox() as sb:
        stream = sb.shell.stream(COMMAND % fifo, timeout_ms=20000)
        # Had the daemon held the output back, the command would wait on its
        # FIFO until its timeout and this would come only with timed_out.
        first = next(stream)
        writer = _release(fifo)
        chunks, result = _drain(stream)
        writer.join(10)
    assert first == ("stdout", b"first\n") and stream.streamed is True
    assert _joined(chunks, "stdout") == b"" and _joined(chunks, "stderr") == b"second\n"
    assert result is stream.result and isinstance(result, sbx.Result)
    assert result.exit_code == 0 and result.timed_out is False


def test_stream_fallback(process_env, fifo):
    # As a daemon without streaming would be seen.
    process_env._catalog = dataclasses.replace(process_env.catalog, capabilities=frozenset())
    with process_env.sandbox() as sb:
        stream = sb.shell.stream(COMMAND % fifo, timeout_ms=20000)
        writer = _release(fifo)
        chunks, result = _drain(stream)
        writer.join(10)
        assert stream.streamed is False
        assert chunks == [("stdout", b"first\n"), ("stderr", b"second\n")]
        assert result.exit_code == 0 and result.stdout == "first\n" and result.timed_out is False
        # Binary output comes as it is; no output, no chunk.
        assert list(sb.shell.stream("printf '\\377'")) == [("stdout", b"\xff")]
        quiet = sb.shell.stream("true")
        assert list(quiet) == [] and quiet.result.exit_code == 0


@pytest.fixture
def stub():
    context = zmq.Context.instance()
    stub = Stub(context)
    yield stub
    stub.close()


def test_stream_wire_form(stub):
    """Against a daemon with the capability: progress messages come as
    chunks in order, then the final reply is the result; a request made
    while a stream is open on the same thread gets its own reply, and the
    stream's chunks that came meanwhile are kept for it."""
    env = sbx.Environment(stub.requests, timeout=10)
    try:
        assert "stream" in env.catalog.capabilities
        with env.sandbox() as sb:
            chunks, result = _drain(sb.shell.stream("plain"))
            assert chunks == [("stdout", b"one\n"), ("stderr", b"two\n"), ("stdout", b"three\n")]
            assert result.stdout == "one\nthree\n" and result.exit_code == 0
            stream = sb.shell.stream("interleave")
            assert next(stream) == ("stdout", b"one\n")
            assert sb.shell.run("between").stdout == "between"
            assert list(stream) == [("stderr", b"two\n"), ("stdout", b"three\n")]
            assert stream.streamed is True and stream.result.exit_code == 0
    finally:
        env.close()


def test_stream_wire_form_fallback():
    stub = Stub(zmq.Context.instance(), capabilities=())
    env = sbx.Environment(stub.requests, timeout=10)
    try:
        with env.sandbox() as sb:
            stream = sb.shell.stream("plain")
            assert list(stream) == [("stdout", b"one\nthree\n"), ("stderr", b"two\n")]
            assert stream.streamed is False
    finally:
        env.close()
        stub.close()


def test_stream_asyncio(stub):
    async def main():
        async with sbx.aio.Environment(stub.requests, timeout=10) as env:
            async with env.sandbox() as sb:
                stream = sb.shell.stream("interleave")
                assert await stream.__anext__() == ("stdout", b"one\n")
                assert (await sb.shell.run("between")).stdout == "between"
                assert [chunk async for chunk in stream] == [("stderr", b"two\n"), ("stdout", b"three\n")]
                assert stream.streamed is True and stream.result.exit_code == 0
    asyncio.run(main())
