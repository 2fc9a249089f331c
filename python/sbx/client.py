"""The blocking client: :class:`Environment`, :class:`Sandbox`,
:class:`Stream` and :class:`Events`.

An Environment may be shared by threads: each thread gets its own DEALER
socket (made on its first request), and replies are matched by request
id, so requests in flight on one socket never take each other's replies.
"""
from __future__ import annotations

import collections
import threading
import time
import weakref
from typing import Any, Deque, Dict, Iterator, Mapping, Optional, Tuple

import zmq

from ._core import (DEFAULT_ENDPOINT, DEFAULT_PROBE_TIMEOUT, DEFAULT_TIMEOUT, SLICE, Args,
                    Catalog, Connected, Curve, Followed, Held, Prefix, Streamed, Watch, call_timeout,
                    checked, close_watched, events_endpoint, events_socket, hello_answer,
                    merge_args, monitor_socket, ms, other_environment, pack, same_environment,
                    setup_socket, split_name, unpack)
from ._heartbeat import Heartbeat
from .errors import DaemonUnavailable, SbxError

__all__ = ["Environment", "Sandbox", "Stream", "Events"]


class Environment(Connected):
    """A connection to one sbx daemon (its request endpoint).

    ``curve=(server_public_cert, client_secret_cert)`` turns CURVE on for
    every socket (requests, heartbeats, events); the files are czmq
    certificates. ``timeout`` (seconds, ``None``: no limit) bounds the wait
    for each reply; ``probe_timeout`` bounds the wait for a connection, for
    a ``hello`` probe and for a heartbeat's answer, past which the daemon is
    reported unavailable. ``heartbeat=False`` leaves lease renewal to you.

    Nothing is sent until the first request.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, curve: Optional[Curve] = None,
                 timeout: Optional[float] = DEFAULT_TIMEOUT,
                 probe_timeout: float = DEFAULT_PROBE_TIMEOUT, heartbeat: bool = True,
                 context: Optional[zmq.Context] = None) -> None:
        super().__init__(endpoint, curve, timeout, probe_timeout, heartbeat)
        self._context = context or zmq.Context.instance()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._channels: "weakref.WeakSet[_Channel]" = weakref.WeakSet()
        self._catalog: Optional[Catalog] = None

    # --- low-level ops ---------------------------------------------------

    def request(self, op: str, **keys: Any) -> Dict[str, Any]:
        """Sends one request ``{op, **keys}`` and returns the reply's result
        keys; raises the reply's error."""
        return self._request(dict(keys, op=op), self.timeout)

    def hello(self) -> Dict[str, Any]:
        """``hello``: protocol, version, environment, status, events_endpoint,
        features {name: {kind, methods}}, sandbox_methods (and capabilities)."""
        hello = self.request("hello")
        self._catalog = same_environment(self._catalog, Catalog.from_hello(hello), self.endpoint)
        return hello

    @property
    def catalog(self) -> Catalog:
        """What the daemon serves, from the first ``hello`` (sent when needed)."""
        if self._catalog is None:
            self.hello()
        assert self._catalog is not None
        return self._catalog

    def status(self, sandbox: Optional[str] = None) -> Dict[str, Any]:
        """``status``: {environment: {id, status, uptime_s}, sandboxes: [...]}."""
        return self.request("status", **({"sandbox": sandbox} if sandbox else {}))

    def stats(self) -> Dict[str, Any]:
        """``stats``: {sandbox: {status: count}, pool: {min, max, size}, counters}."""
        return self.request("stats")

    def replay(self, since: int, max: Optional[int] = None) -> Dict[str, Any]:
        """``events.replay``: {events, next, truncated} from the journal."""
        return self.request("events.replay", since=since, **({"max": max} if max else {}))

    def shutdown(self, admin: Optional[str] = None) -> None:
        """``shutdown``: asks the daemon to shut down gracefully. An admin
        op (docs/security.md): ``admin`` names the daemon's admin endpoint
        (``ipc://<root_dir>/<env>.admin``, a socket file of the daemon's
        user), where it is taken; without it, the request goes on this
        connection, where the daemon takes it from an admin key (``curve``)
        only and answers anyone else :class:`~sbx.Unauthorized`."""
        if admin is None:
            self.request("shutdown")
            return
        socket = self._context.socket(zmq.DEALER)      # the admin socket speaks no CURVE
        socket.linger = 0
        try:
            socket.connect(admin)
            socket.send(pack({"op": "shutdown", "id": 1}))
            if not socket.poll(None if self.timeout is None else ms(self.timeout)):
                raise self._admin_silence(admin)
            checked(unpack(socket.recv()))
        finally:
            socket.close(linger=0)

    # --- sandboxes and calls ---------------------------------------------

    def call(self, name: str, /, args: Optional[Mapping[str, Any]] = None, *,
             session_id: Optional[str] = None, timeout: Optional[float] = None,
             **kwargs: Any) -> Any:
        """An ephemeral call: ``env.call("shell.run", cmd="ls")`` acquires a
        sandbox, starts a session, calls ``feature.method`` (a name without
        a dot is a service of the sandbox itself), ends the session and
        returns the result. ``timeout`` bounds the wait for a free sandbox.
        Arguments named like the options go in ``args``."""
        catalog = self.catalog
        feature, method = split_name(name)
        args = merge_args(args, kwargs)
        reply = self._request(self._ephemeral_body(feature, method, args, session_id, timeout),
                              call_timeout(self._acquire_wait(timeout), args),
                              feature=feature, method=method)
        return catalog.result(feature, method, reply.get("result"))

    def sandbox(self, session_id: Optional[str] = None, *,
                timeout: Optional[float] = None) -> "Sandbox":
        """A session to open: ``with env.sandbox() as sb:`` sends
        ``session.open`` (``session_id`` named, or generated by the daemon)
        and ``session.end`` at the end. ``timeout`` bounds the wait for a
        free sandbox (default: the environment's reply timeout)."""
        return Sandbox(self, session_id, timeout)

    def acquire(self, *, timeout: Optional[float] = None) -> "Sandbox":
        """``acquire``: a sandbox of your own without a session yet; start one
        with :meth:`Sandbox.start`. Its lease is kept like a session's."""
        catalog = self.catalog
        sandbox = Sandbox(self, None, timeout)
        sandbox._hold(self._request(dict(op="acquire", **self._acquire_keys(timeout)),
                                    self._acquire_wait(timeout)), catalog)
        return sandbox

    def events(self, since: Optional[int] = None, prefix: Prefix = None,
               timeout: Optional[float] = None) -> "Events":
        """Every event with seq > ``since`` (0: the whole journal; ``None``:
        from now on), in seq order, none missed; ``prefix`` (a string or
        several) keeps the events whose names start with it. Iteration stops
        when no event came for ``timeout`` seconds (``None``: never)."""
        return Events(self, since, prefix, timeout)

    def close(self) -> None:
        """Stops the heartbeats and closes the sockets. Open sessions are not
        ended (their leases lapse on the daemon)."""
        self._closed = True
        with self._lock:
            heartbeat, self._heartbeat = self._heartbeat, None
            channels = list(self._channels)
        if heartbeat is not None:
            heartbeat.stop()
        for channel in channels:
            channel.close()

    def __enter__(self) -> "Environment":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<sbx.Environment %s>" % self.endpoint

    # --- internals -------------------------------------------------------

    def _channel(self) -> "_Channel":
        channel = getattr(self._local, "channel", None)
        if channel is None:
            if self._closed:
                raise SbxError("the environment is closed")
            channel = self._local.channel = _Channel(self)
            with self._lock:
                self._channels.add(channel)
        return channel

    def _request(self, body: Args, timeout: Optional[float], sandbox: Optional[str] = None,
                 feature: Optional[str] = None, method: Optional[str] = None) -> Dict[str, Any]:
        channel = self._channel()
        rid = channel.send(body)
        try:
            reply = channel.receive(rid, timeout, body["op"])
        finally:
            channel.forget(rid)
        return checked(reply, sandbox, feature, method)

    def _keep(self, sandbox: "Sandbox") -> None:
        if not self._use_heartbeat:
            return
        with self._lock:
            if self._heartbeat is None:
                self._heartbeat = Heartbeat(self._context, self.endpoint, self._curve,
                                            self.probe_timeout, self._report)
                self._heartbeat.start()
            self._heartbeat.add(sandbox)

    def _probe(self) -> bool:
        """True when ``hello`` on a fresh socket is answered, by the same
        environment as before, within the probe timeout."""
        socket = setup_socket(self._context.socket(zmq.DEALER), self.endpoint, self._curve)
        deadline = time.monotonic() + self.probe_timeout
        try:
            socket.send(pack({"op": "hello", "id": 0}))    # queued until connected
            while socket.poll(ms(deadline - time.monotonic())):
                answer = hello_answer(unpack(socket.recv()), self._catalog)
                if answer is not None:
                    return answer
            return False
        except (zmq.ZMQError, ValueError):
            return False
        finally:
            socket.close(linger=0)

    def _unreachable(self, op: str) -> DaemonUnavailable:
        return DaemonUnavailable("cannot connect to %s within %g s to send %r"
                                 % (self.endpoint, self.probe_timeout, op))

    def _no_reply(self, op: str, timeout: float) -> SbxError:
        return self._silence(op, timeout, self._probe())



class _Channel:
    """The DEALER socket of one thread, and the monitor of its connection.
    ``waiting`` holds, for every request in flight, the messages received
    for it and not yet taken (progress messages of a stream come before its
    reply); ``sent_at`` the connection's ``drops`` when it was sent."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.waiting: Dict[int, Deque[Any]] = {}
        self.sent_at: Dict[int, int] = {}
        self.socket: Optional[zmq.Socket] = None
        self.monitor: Optional[zmq.Socket] = None
        self.watch = Watch()

    def _open(self) -> None:
        env = self.env
        socket = env._context.socket(zmq.DEALER)
        self.monitor = monitor_socket(socket)
        self.socket = setup_socket(socket, env.endpoint, env._curve)
        self.watch = Watch()
        self.verified = -1      # the drops count when the peer was last checked
        self.rcvtimeo = -1

    def _update(self) -> None:
        assert self.monitor is not None
        while self.monitor.get(zmq.EVENTS) & zmq.POLLIN:
            self.watch.feed(self.monitor.recv_multipart())

    def _fail(self, error: SbxError) -> SbxError:
        """Drops the socket (nothing queued on it may reach a daemon later;
        the next request opens another); requests in flight get ``error``."""
        for queue in self.waiting.values():
            queue.append(error)
        self.close()
        return error

    def _connect(self, op: str) -> None:
        if self.socket is None:
            self._open()
        assert self.monitor is not None
        deadline = time.monotonic() + self.env.probe_timeout
        self._update()
        while not self.watch.up:
            left = deadline - time.monotonic()
            if self.watch.refused:
                raise self._fail(DaemonUnavailable("cannot send %r to %s: %s"
                                                   % (op, self.env.endpoint, self.watch.refused)))
            if left <= 0 or not self.monitor.poll(ms(left)):
                raise self._fail(self.env._unreachable(op))
            self._update()

    def _verify(self) -> None:
        """After a (re)connection: is it still the same environment? (A port
        is soon taken over when a daemon is gone.)"""
        known = self.env._catalog.environment if self.env._catalog else None
        self.verified = self.watch.drops
        if known:
            answered = self.env._request({"op": "hello"}, self.env.probe_timeout).get("environment")
            if answered != known:
                raise self._fail(other_environment(self.env.endpoint, answered, known))

    def send(self, body: Args) -> int:
        self._connect(body["op"])
        if self.verified != self.watch.drops and body["op"] != "hello":
            self._verify()
        assert self.socket is not None
        rid = body["id"] = next(self.env._ids)
        self.waiting[rid] = collections.deque()
        self.sent_at[rid] = self.watch.drops
        self.socket.send(pack(body))
        return rid

    def receive(self, rid: int, timeout: Optional[float], op: str) -> Dict[str, Any]:
        """The next message for request ``rid``; the final reply (with ``ok``)
        ends the request."""
        queue = self.waiting[rid]
        socket = self.socket
        deadline = None if timeout is None else time.monotonic() + timeout
        while not queue:
            assert socket is not None
            wait = SLICE
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise self.env._no_reply(op, timeout)       # type: ignore[arg-type]
            ms = max(1, int(wait * 1000))
            if ms != self.rcvtimeo:
                socket.rcvtimeo = self.rcvtimeo = ms
            try:
                frame = socket.recv()
            except zmq.Again:
                down = self.env._down
                if down is not None:
                    raise DaemonUnavailable(down.message) from None
                self._update()
                if self.watch.drops == self.sent_at[rid]:
                    continue
                try:        # what came before the drop is still there
                    frame = socket.recv(zmq.NOBLOCK)
                except zmq.Again:
                    raise self._fail(self.env._connection_lost(op)) from None
            try:
                message = unpack(frame)
            except ValueError:
                continue
            target = self.waiting.get(message.get("id")) if isinstance(message, dict) else None
            if target is not None:       # others are late replies to abandoned requests
                target.append(message)
        message = queue.popleft()
        if isinstance(message, BaseException):
            raise message
        if "ok" in message:
            self.forget(rid)
        return message

    def forget(self, rid: int) -> None:
        self.waiting.pop(rid, None)
        self.sent_at.pop(rid, None)

    def close(self) -> None:
        close_watched(self.socket, self.monitor)
        self.socket = self.monitor = None

    def __del__(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.close()


class Sandbox(Held):
    """A sandbox held by this client: in a session (``env.sandbox()``) or
    acquired (``env.acquire()``). Features are attributes, as ``hello``
    lists them: ``sb.shell.run("ls")``, ``sb.fs.write("a.txt", b"data")``.

    ``id``, ``token`` and ``session_id`` name it; ``lease_ms`` and
    ``renewals`` tell what the heartbeats got; ``lost`` is the error a
    heartbeat met when the daemon no longer knew the session.
    """

    def open(self) -> "Sandbox":
        """``session.open``: acquires a sandbox and starts the session."""
        env = self._env
        catalog = env.catalog
        reply = env._request(self._open_body(), env._acquire_wait(self._timeout))
        self._hold(reply, catalog)
        self.session_id = reply.get("session_id")
        return self

    def start(self, session_id: Optional[str] = None) -> str:
        """``session.start`` on an acquired sandbox; returns the session id."""
        self.session_id = self._env._request(self._start_body(session_id), self._env.timeout,
                                             self.id)["session_id"]
        return self.session_id

    def call(self, name: str, /, args: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Any:
        """Calls ``feature.method`` (or, without a dot, a service of the
        sandbox) in this session and returns its result."""
        args = merge_args(args, kwargs)
        feature, method = split_name(name)
        body = self._call_body(feature, method, args)
        with self._watched():
            reply = self._env._request(body, call_timeout(self._env.timeout, args),
                                       self.id, feature, method)
        return self._result(feature, method, reply)

    def stream(self, name: str, /, args: Optional[Mapping[str, Any]] = None,
               **kwargs: Any) -> "Stream":
        """Calls ``feature.method`` with its output streamed: an iterator of
        ``(stream_name, bytes)`` chunks, then ``.result``."""
        return Stream(self, name, merge_args(args, kwargs))

    def heartbeat(self) -> int:
        """Renews the lease now; returns it in ms (the heartbeat thread does
        this by itself)."""
        return self._leased(self._env._request(self._held_body("heartbeat"), self._env.timeout,
                                               self.id))

    def end(self) -> None:
        """``session.end`` (a no-op when not held, or after the sandbox broke).
        The lease is no longer kept, whatever the answer."""
        if not self._held:
            return
        self._held = False
        try:
            if not self._gone:
                self._env._request(self._held_body("session.end"), self._env.timeout, self.id)
        finally:
            self._env._release(self)

    def __enter__(self) -> "Sandbox":
        if not self._held:
            self.open()
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        if exc is None:
            self.end()
            return
        try:
            self.end()
        except SbxError as error:
            self._end_failed(exc, error)

    def __repr__(self) -> str:
        return "<sbx.Sandbox %s session %s>" % (self.id, self.session_id)


class Stream(Streamed, Iterator[Tuple[str, bytes]]):
    """The output of a streamed call, as ``(stream_name, data)`` chunks
    (``"stdout"`` or ``"stderr"``, bytes), in the order the daemon sent
    them; when they are over, ``result`` holds the call's result (it is also
    the value of ``yield from``). When the daemon's ``hello`` does not list
    the ``stream`` capability the call runs unstreamed and its whole stdout
    and stderr come as one chunk each (``streamed`` tells which)."""

    def __init__(self, sandbox: Sandbox, name: str, args: Args) -> None:
        super().__init__(sandbox, name, args)
        self._channel: Optional[_Channel] = None

    def __next__(self) -> Tuple[str, bytes]:
        if self.streamed is None:
            self._start()
        while not self._chunks:
            if self._done:
                raise StopIteration(self.result)
            self._step()
        return self._chunks.popleft()

    def _start(self) -> None:
        if not self._streams():
            self._unstreamed(self._sandbox.call(self._name, self._args))
            return
        body = self._body()
        self._channel = self._sandbox._env._channel()
        self._rid = self._channel.send(body)

    def _step(self) -> None:
        assert self._channel is not None and self._rid is not None
        with self._stepping():
            self._take(self._channel.receive(self._rid, self._wait(), "call"))

    def close(self) -> None:
        """Stops listening (the call itself runs to its end on the daemon)."""
        self._done = True
        if self._channel is not None and self._rid is not None:
            self._channel.forget(self._rid)

    def __del__(self) -> None:
        self.close()


class Events(Followed, Iterator[Dict[str, Any]]):
    """Events of the daemon as decoded maps, in seq order with none missed:
    a SUB socket for live events, ``events.replay`` to fill a gap, a late
    join, or a quiet spell (PROTOCOL.md "Journal"). ``lost`` counts events
    the journal no longer had; ``gap_replays`` the replays gaps needed."""

    def __init__(self, env: Environment, since: Optional[int], prefix: Prefix,
                 timeout: Optional[float]) -> None:
        super().__init__(env, since, prefix, timeout)
        #: Where the SUB socket is connected.
        self.endpoint = events_endpoint(env.catalog.events_endpoint, env.endpoint)
        self._sub = events_socket(env._context, self.endpoint, env._curve)
        if self._seq.now:
            self._replay(False)     # "now" is the last seq at this moment

    def __next__(self) -> Dict[str, Any]:
        seq = self._seq
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            event = seq.pop()
            if event is not None:
                return event
            if seq.wants_replay:
                self._replay(False)
                continue
            self._drain()
            if seq.queue or seq.wants_replay:
                continue
            now = time.monotonic()
            if now >= seq.next_check:
                self._replay(True)      # quiet: was anything lost at the tail?
                continue
            if deadline is not None and now >= deadline:
                raise StopIteration
            self._sub.poll(self._wait_ms(now, deadline))

    def _replay(self, checking: bool) -> None:
        self._seq.replayed(self._env.request("events.replay", **self._seq.replay_keys()), checking)

    def _drain(self) -> None:
        while True:
            try:
                frames = self._sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._seq.live(frames)

    def close(self) -> None:
        self._sub.close(linger=0)

    def __enter__(self) -> "Events":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
