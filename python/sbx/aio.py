"""The asyncio client: the API of :mod:`sbx` on ``zmq.asyncio``.

    import sbx.aio

    async def main():
        async with sbx.aio.Environment("tcp://127.0.0.1:5555") as env:
            async with env.sandbox() as sb:
                r = await sb.shell.run("echo hi")
            async for ev in env.events(since=0, timeout=1):
                print(ev["seq"], ev["event"])

One DEALER socket per Environment carries every request; a reader task
hands each reply to the request with its id, so any number of coroutines
may have requests in flight. Leases are kept by the same heartbeat thread
as in :mod:`sbx` (a thread, so that a busy event loop does not lose them).
An Environment belongs to the event loop that first used it.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Dict, Mapping, Optional, Tuple

import zmq
import zmq.asyncio

from ._core import (DEFAULT_ENDPOINT, DEFAULT_PROBE_TIMEOUT, DEFAULT_TIMEOUT, SLICE, Args,
                    Catalog, Connected, Curve, Followed, Held, Prefix, Streamed, Watch, call_timeout,
                    checked, close_watched, events_endpoint, events_socket, hello_answer,
                    merge_args, monitor_socket, ms, other_environment, pack, same_environment,
                    setup_socket, split_name, unpack)
from ._heartbeat import Heartbeat
from .errors import DaemonUnavailable, SbxError

__all__ = ["Environment", "Sandbox", "Stream", "Events"]


class Environment(Connected):
    """A connection to one sbx daemon, for asyncio; see
    :class:`sbx.Environment` for the arguments. ``catalog`` is what the
    first ``hello`` said (``None`` before one was sent)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, curve: Optional[Curve] = None,
                 timeout: Optional[float] = DEFAULT_TIMEOUT,
                 probe_timeout: float = DEFAULT_PROBE_TIMEOUT, heartbeat: bool = True,
                 context: Optional[zmq.asyncio.Context] = None) -> None:
        super().__init__(endpoint, curve, timeout, probe_timeout, heartbeat)
        self.catalog: Optional[Catalog] = None
        self._context = context or zmq.asyncio.Context.instance()
        self._socket: Optional[zmq.asyncio.Socket] = None
        self._monitor: Optional[zmq.asyncio.Socket] = None
        self._watch = Watch()
        self._verified = -1     # the drops count when the peer was last checked
        self._reader: Optional[asyncio.Task] = None
        self._waiting: Dict[int, asyncio.Queue] = {}
        self._sent_at: Dict[int, int] = {}

    # --- low-level ops ---------------------------------------------------

    async def request(self, op: str, **keys: Any) -> Dict[str, Any]:
        """Sends ``{op, **keys}``; returns the reply's result keys or raises its error."""
        return await self._request(dict(keys, op=op), self.timeout)

    async def hello(self) -> Dict[str, Any]:
        hello = await self.request("hello")
        self.catalog = same_environment(self.catalog, Catalog.from_hello(hello), self.endpoint)
        return hello

    async def status(self, sandbox: Optional[str] = None) -> Dict[str, Any]:
        return await self.request("status", **({"sandbox": sandbox} if sandbox else {}))

    async def stats(self) -> Dict[str, Any]:
        return await self.request("stats")

    async def replay(self, since: int, max: Optional[int] = None) -> Dict[str, Any]:
        return await self.request("events.replay", since=since, **({"max": max} if max else {}))

    async def shutdown(self, admin: Optional[str] = None) -> None:
        """An admin op: see :meth:`sbx.Environment.shutdown` (``admin``, the
        daemon's admin endpoint)."""
        if admin is None:
            await self.request("shutdown")
            return
        socket = self._context.socket(zmq.DEALER)      # the admin socket speaks no CURVE
        socket.linger = 0
        try:
            socket.connect(admin)
            await socket.send(pack({"op": "shutdown", "id": 1}))
            if not await socket.poll(None if self.timeout is None else int(self.timeout * 1000)):
                raise self._admin_silence(admin)
            checked(unpack(await socket.recv()))
        finally:
            socket.close(linger=0)

    # --- sandboxes and calls ---------------------------------------------

    async def call(self, name: str, /, args: Optional[Mapping[str, Any]] = None, *,
                   session_id: Optional[str] = None, timeout: Optional[float] = None,
                   **kwargs: Any) -> Any:
        """An ephemeral call, as :meth:`sbx.Environment.call`."""
        catalog = await self._catalog()
        feature, method = split_name(name)
        args = merge_args(args, kwargs)
        reply = await self._request(self._ephemeral_body(feature, method, args, session_id, timeout),
                                    call_timeout(self._acquire_wait(timeout), args),
                                    feature=feature, method=method)
        return catalog.result(feature, method, reply.get("result"))

    def sandbox(self, session_id: Optional[str] = None, *,
                timeout: Optional[float] = None) -> "Sandbox":
        """A session to open: ``async with env.sandbox() as sb:``."""
        return Sandbox(self, session_id, timeout)

    async def acquire(self, *, timeout: Optional[float] = None) -> "Sandbox":
        """``acquire``: a sandbox without a session; ``await sb.start()``."""
        catalog = await self._catalog()
        sandbox = Sandbox(self, None, timeout)
        sandbox._hold(await self._request(dict(op="acquire", **self._acquire_keys(timeout)),
                                          self._acquire_wait(timeout)), catalog)
        return sandbox

    def events(self, since: Optional[int] = None, prefix: Prefix = None,
               timeout: Optional[float] = None) -> "Events":
        """Events in seq order, none missed, as :meth:`sbx.Environment.events`.
        With ``since=None`` "now" is the first ``__anext__`` (or ``async with``)."""
        return Events(self, since, prefix, timeout)

    async def close(self) -> None:
        """Stops heartbeats and the reader, and closes the socket."""
        self._closed = True
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.stop()
        await self._shut()

    async def __aenter__(self) -> "Environment":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return "<sbx.aio.Environment %s>" % self.endpoint

    # --- internals -------------------------------------------------------

    async def _catalog(self) -> Catalog:
        if self.catalog is None:
            await self.hello()
        assert self.catalog is not None
        return self.catalog

    def _open(self) -> zmq.asyncio.Socket:
        if self._socket is None:
            if self._closed:
                raise SbxError("the environment is closed")
            socket = self._context.socket(zmq.DEALER)
            self._monitor = monitor_socket(socket)
            self._socket = setup_socket(socket, self.endpoint, self._curve)
            self._watch = Watch()
            self._verified = -1
            self._reader = asyncio.get_running_loop().create_task(self._read(self._socket))
        return self._socket

    async def _shut(self) -> None:
        reader, monitor, socket = self._reader, self._monitor, self._socket
        self._reader = self._monitor = self._socket = None
        close_watched(socket, monitor)
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, zmq.ZMQError):
                pass

    async def _fail(self, error: SbxError) -> SbxError:
        """Starts over with a fresh socket; requests in flight get ``error``."""
        for queue in self._waiting.values():
            queue.put_nowait(error)
        await self._shut()
        return error

    async def _read(self, socket: zmq.asyncio.Socket) -> None:
        while True:
            try:
                frame = await socket.recv()
            except zmq.ZMQError:
                return      # closed
            try:
                message = unpack(frame)
            except ValueError:
                continue
            queue = self._waiting.get(message.get("id")) if isinstance(message, dict) else None
            if queue is not None:
                queue.put_nowait(message)

    async def _update(self) -> None:
        #  Without waiting: a coroutine waiting on the monitor could take an
        #  event another one waits for.
        while self._monitor is not None:
            try:
                self._watch.feed(await self._monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return

    async def _connect(self, op: str) -> None:
        self._open()
        deadline = time.monotonic() + self.probe_timeout
        await self._update()
        while not self._watch.up:
            left = deadline - time.monotonic()
            if self._watch.refused:
                raise await self._fail(DaemonUnavailable("cannot send %r to %s: %s"
                                                         % (op, self.endpoint, self._watch.refused)))
            if left <= 0 or self._monitor is None:
                raise await self._fail(DaemonUnavailable("cannot connect to %s within %g s to send %r"
                                                         % (self.endpoint, self.probe_timeout, op)))
            #  Briefly: another coroutine may take the event and look no more.
            await self._monitor.poll(max(1, ms(min(left, 0.01))))
            await self._update()

    async def _verify(self) -> None:
        known = self.catalog.environment if self.catalog else None
        self._verified = self._watch.drops
        if known:
            answered = (await self._request({"op": "hello"}, self.probe_timeout)).get("environment")
            if answered != known:
                raise await self._fail(other_environment(self.endpoint, answered, known))

    async def _send(self, body: Args) -> int:
        await self._connect(body["op"])
        if self._verified != self._watch.drops and body["op"] != "hello":
            await self._verify()
        socket = self._open()
        rid = body["id"] = next(self._ids)
        #  Waiting before it is sent: the reader may take the reply before
        #  the send's future hands control back.
        self._waiting[rid] = asyncio.Queue()
        self._sent_at[rid] = self._watch.drops
        try:
            await socket.send(pack(body))
        except zmq.ZMQError as error:      # closed by a failure meanwhile
            self._forget(rid)
            raise DaemonUnavailable("cannot send %r to %s: %s" % (body["op"], self.endpoint, error)) from None
        return rid

    async def _receive(self, rid: int, timeout: Optional[float], op: str) -> Dict[str, Any]:
        queue = self._waiting[rid]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
            try:
                if wait <= 0:
                    raise asyncio.TimeoutError
                message = await asyncio.wait_for(queue.get(), wait)
                break
            except asyncio.TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise await self._no_reply(op, timeout or 0) from None
                if self._down is not None:
                    raise DaemonUnavailable(self._down.message) from None
                await self._update()
                if self._watch.drops == self._sent_at.get(rid, self._watch.drops):
                    continue
                try:        # a reply that came before the drop is still on its way in
                    message = await asyncio.wait_for(queue.get(), SLICE / 5)
                    break
                except asyncio.TimeoutError:
                    raise await self._fail(self._connection_lost(op)) from None
        if isinstance(message, BaseException):
            raise message
        if "ok" in message:
            self._forget(rid)
        return message

    def _forget(self, rid: int) -> None:
        self._waiting.pop(rid, None)
        self._sent_at.pop(rid, None)

    async def _request(self, body: Args, timeout: Optional[float], sandbox: Optional[str] = None,
                       feature: Optional[str] = None, method: Optional[str] = None) -> Dict[str, Any]:
        rid = await self._send(body)
        try:
            reply = await self._receive(rid, timeout, body["op"])
        finally:
            self._forget(rid)
        return checked(reply, sandbox, feature, method)

    def _keep(self, sandbox: "Sandbox") -> None:
        if not self._use_heartbeat:
            return
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(zmq.Context.shadow(self._context.underlying), self.endpoint,
                                        self._curve, self.probe_timeout, self._report)
            self._heartbeat.start()
        self._heartbeat.add(sandbox)

    async def _probe(self) -> bool:
        socket = setup_socket(self._context.socket(zmq.DEALER), self.endpoint, self._curve)
        deadline = time.monotonic() + self.probe_timeout
        try:
            await socket.send(pack({"op": "hello", "id": 0}))    # queued until connected
            while await socket.poll(ms(deadline - time.monotonic())):
                answer = hello_answer(unpack(await socket.recv()), self.catalog)
                if answer is not None:
                    return answer
            return False
        except (zmq.ZMQError, ValueError):
            return False
        finally:
            socket.close(linger=0)

    async def _no_reply(self, op: str, timeout: float) -> SbxError:
        return self._silence(op, timeout, await self._probe())



class Sandbox(Held):
    """A sandbox held by this client, for asyncio: as :class:`sbx.Sandbox`,
    with every request awaited (``await sb.shell.run("ls")``) and
    ``async with`` / ``async for``."""

    async def open(self) -> "Sandbox":
        env = self._env
        catalog = await env._catalog()
        reply = await env._request(self._open_body(), env._acquire_wait(self._timeout))
        self._hold(reply, catalog)
        self.session_id = reply.get("session_id")
        return self

    async def start(self, session_id: Optional[str] = None) -> str:
        self.session_id = (await self._env._request(self._start_body(session_id), self._env.timeout,
                                                    self.id))["session_id"]
        return self.session_id

    async def call(self, name: str, /, args: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Any:
        args = merge_args(args, kwargs)
        feature, method = split_name(name)
        with self._watched():
            reply = await self._env._request(self._call_body(feature, method, args),
                                             call_timeout(self._env.timeout, args),
                                             self.id, feature, method)
        return self._result(feature, method, reply)

    def stream(self, name: str, /, args: Optional[Mapping[str, Any]] = None,
               **kwargs: Any) -> "Stream":
        return Stream(self, name, merge_args(args, kwargs))

    async def heartbeat(self) -> int:
        return self._leased(await self._env._request(self._held_body("heartbeat"),
                                                     self._env.timeout, self.id))

    async def end(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            if not self._gone:
                await self._env._request(self._held_body("session.end"), self._env.timeout, self.id)
        finally:
            self._env._release(self)

    async def __aenter__(self) -> "Sandbox":
        if not self._held:
            await self.open()
        return self

    async def __aexit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        if exc is None:
            await self.end()
            return
        try:
            await self.end()
        except SbxError as error:
            self._end_failed(exc, error)

    def __repr__(self) -> str:
        return "<sbx.aio.Sandbox %s session %s>" % (self.id, self.session_id)


class Stream(Streamed, AsyncIterator[Tuple[str, bytes]]):
    """``async for name, data in sb.shell.stream(cmd)``; then ``result``.
    As :class:`sbx.Stream`, including the fallback without the capability."""

    async def __anext__(self) -> Tuple[str, bytes]:
        if self.streamed is None:
            await self._start()
        while not self._chunks:
            if self._done:
                raise StopAsyncIteration
            await self._step()
        return self._chunks.popleft()

    async def _start(self) -> None:
        if not self._streams():
            self._unstreamed(await self._sandbox.call(self._name, self._args))
            return
        self._rid = await self._sandbox._env._send(self._body())

    async def _step(self) -> None:
        assert self._rid is not None
        with self._stepping():
            self._take(await self._sandbox._env._receive(self._rid, self._wait(), "call"))

    def close(self) -> None:
        """Stops listening (the call itself runs to its end on the daemon)."""
        self._done = True
        if self._rid is not None:
            self._sandbox._env._forget(self._rid)

    def __del__(self) -> None:
        self.close()


class Events(Followed, AsyncIterator[Dict[str, Any]]):
    """``async for ev in env.events(...)``: as :class:`sbx.Events`."""

    def __init__(self, env: Environment, since: Optional[int], prefix: Prefix,
                 timeout: Optional[float]) -> None:
        super().__init__(env, since, prefix, timeout)
        self._sub: Optional[zmq.asyncio.Socket] = None
        #: Where the SUB socket is connected (once started).
        self.endpoint: Optional[str] = None

    async def start(self) -> "Events":
        """Subscribes (and, with ``since=None``, learns the last seq): what
        happens after this is delivered. The first ``__anext__`` does it."""
        if self._sub is None:
            env = self._env
            self.endpoint = events_endpoint((await env._catalog()).events_endpoint, env.endpoint)
            self._sub = events_socket(env._context, self.endpoint, env._curve)
            if self._seq.now:
                await self._replay(False)
        return self

    async def __anext__(self) -> Dict[str, Any]:
        sub = self._sub or (await self.start())._sub
        assert sub is not None
        seq = self._seq
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            event = seq.pop()
            if event is not None:
                return event
            if seq.wants_replay:
                await self._replay(False)
                continue
            while sub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                seq.live(await sub.recv_multipart())
            if seq.queue or seq.wants_replay:
                continue
            now = time.monotonic()
            if now >= seq.next_check:
                await self._replay(True)
                continue
            if deadline is not None and now >= deadline:
                raise StopAsyncIteration
            await sub.poll(self._wait_ms(now, deadline))

    async def _replay(self, checking: bool) -> None:
        self._seq.replayed(await self._env.request("events.replay", **self._seq.replay_keys()),
                           checking)

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close(linger=0)

    async def __aenter__(self) -> "Events":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
