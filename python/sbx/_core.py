"""What the blocking and the asyncio clients share: the wire form, the
catalog of features from ``hello``, the attribute proxies, the ordering
of events, CURVE keys and endpoints. Nothing here does I/O."""
from __future__ import annotations

import collections
import contextlib
import itertools
import re
import time
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Callable, Deque, Dict, FrozenSet, Iterable, Iterator,
                    List, Mapping, Optional, Sequence, Tuple, Union)

import msgpack
import zmq
import zmq.auth
import zmq.utils.monitor

from .errors import (DaemonUnavailable, SandboxStateError, SbxError, Timeout, UnknownName,
                     error_from)

if TYPE_CHECKING:
    from ._heartbeat import Heartbeat

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_TIMEOUT = 60.0
DEFAULT_PROBE_TIMEOUT = 2.0

#  How often a wait looks at the connection and at the heartbeat's news (s).
SLICE = 0.25
#  events.replay page size, and the idle checks of PROTOCOL.md "Journal".
REPLAY_MAX = 1000
IDLE_FIRST = 0.05
IDLE_MAX = 1.0
#  `since` for "after the last event": the daemon computes since + 1.
SINCE_NOW = 2 ** 63 - 1
#  Ops that wait for a free sandbox carry timeout_ms: this share of the reply
#  timeout, so that EnvironmentOverloadError arrives before a local Timeout.
ACQUIRE_SHARE = 0.9

Args = Dict[str, Any]
Curve = Tuple[str, str]

#  Positional arguments of the common methods, by (feature kind, method).
POSITIONAL: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ("shell", "run"): ("cmd",),
    ("fs", "read"): ("path",),
    ("fs", "write"): ("path", "data"),
    ("fs", "list"): ("path",),
    ("fs", "stat"): ("path",),
    ("fs", "remove"): ("path",),
}


def pack(body: Mapping[str, Any]) -> bytes:
    """One request body: a msgpack map, ``str`` as str and ``bytes`` as bin."""
    return msgpack.packb(body, use_bin_type=True)


def unpack(frame: bytes) -> Any:
    """One reply or event body: str stays ``str``, bin stays ``bytes``."""
    return msgpack.unpackb(frame, raw=False, strict_map_key=False)


def split_name(name: str) -> Tuple[Optional[str], str]:
    """``"shell.run"`` -> ``("shell", "run")``; ``"shell"`` (a service of the
    sandbox itself) -> ``(None, "shell")``."""
    feature, dot, method = name.rpartition(".")
    return (feature, method) if dot else (None, name)


def merge_args(args: Optional[Mapping[str, Any]], kwargs: Mapping[str, Any]) -> Args:
    return {**args, **kwargs} if args else dict(kwargs)


def call_keys(body: Args, feature: Optional[str], args: Args) -> Args:
    """``body`` with a call's ``feature`` and ``args`` added, where given."""
    if feature:
        body["feature"] = feature
    if args:
        body["args"] = args
    return body


def checked(reply: Any, sandbox: Optional[str] = None, feature: Optional[str] = None,
            method: Optional[str] = None) -> Dict[str, Any]:
    """The reply's result keys (without ``id`` and ``ok``), or raises its error."""
    if not isinstance(reply, dict):
        raise SbxError("reply is not a map: %r" % (reply,))
    if reply.get("ok") is not True:
        error = reply.get("error")
        raise error_from(error if isinstance(error, Mapping) else {"type": "SbxError",
                         "message": "error reply without an error"}, sandbox, feature, method)
    return {key: value for key, value in reply.items() if key not in ("id", "ok")}


def call_timeout(timeout: Optional[float], args: Mapping[str, Any]) -> Optional[float]:
    """The reply timeout of a call: ``timeout``, plus the call's own
    ``timeout_ms`` argument when it has one (a long command is no silence)."""
    own = args.get("timeout_ms")
    if timeout is None or not isinstance(own, (int, float)) or isinstance(own, bool):
        return timeout
    return timeout + own / 1000.0


def acquire_keys(timeout: Optional[float]) -> Args:
    """``timeout_ms`` for ops that wait for a free sandbox."""
    return {} if timeout is None else {"timeout_ms": max(1, int(timeout * 1000 * ACQUIRE_SHARE))}


def ms(seconds: float) -> int:
    """Seconds as a poll timeout in milliseconds, 0 at the least."""
    return max(0, int(seconds * 1000))


class Connected:
    """What the blocking and the asyncio ``Environment`` share without I/O:
    their settings, the body of an ephemeral call, how long an acquire
    waits, the heartbeat's news of the daemon, and the errors of a daemon
    that stays silent."""

    endpoint: str
    timeout: Optional[float]
    probe_timeout: float
    _down: Optional[DaemonUnavailable] = None

    def __init__(self, endpoint: str, curve: Optional[Curve], timeout: Optional[float],
                 probe_timeout: float, heartbeat: bool) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self._curve = load_curve(curve)
        self._ids = itertools.count(1)
        self._use_heartbeat = heartbeat
        self._heartbeat: Optional[Heartbeat] = None
        self._down = None
        self._closed = False

    def _ephemeral_body(self, feature: Optional[str], method: str, args: Args,
                        session_id: Optional[str], timeout: Optional[float]) -> Args:
        """The body of an ephemeral ``call``, which acquires its own sandbox."""
        body = call_keys({"op": "call", "method": method, **self._acquire_keys(timeout)},
                         feature, args)
        if session_id:
            body["session_id"] = session_id
        return body

    def _release(self, sandbox: Any) -> None:
        heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.remove(sandbox)

    def _admin_silence(self, admin: str) -> DaemonUnavailable:
        return DaemonUnavailable("no reply to 'shutdown' from the admin endpoint %s within %g s"
                                 % (admin, self.timeout))

    def _acquire_wait(self, timeout: Optional[float]) -> Optional[float]:
        if self.timeout is None:
            return None
        return self.timeout if timeout is None else max(self.timeout, timeout)

    def _acquire_keys(self, timeout: Optional[float]) -> Args:
        return acquire_keys(self.timeout if timeout is None else timeout)

    def _report(self, down: Optional[DaemonUnavailable]) -> None:
        self._down = down

    def _silence(self, op: str, timeout: float, answers_hello: bool) -> SbxError:
        """The error for no reply to ``op`` within ``timeout``, once a
        ``hello`` probe said whether the daemon still answers."""
        if answers_hello:
            return Timeout("no reply to %r from %s within %g s (the daemon answers hello)"
                           % (op, self.endpoint, timeout))
        return DaemonUnavailable("no reply to %r from %s within %g s, and no answer to hello "
                                 "within %g s" % (op, self.endpoint, timeout, self.probe_timeout))

    def _connection_lost(self, op: str) -> DaemonUnavailable:
        #  The daemon answers through the connection a request came on.
        return DaemonUnavailable("the connection to %s dropped while waiting for the reply to %r: "
                                 "that reply is lost" % (self.endpoint, op))


class Result(dict):
    """A result map with attribute access: ``r.stdout``, ``r.exit_code``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError("result has no key %r (keys: %s)" % (name, ", ".join(self))) from None

    def __dir__(self) -> Iterable[str]:
        return list(super().__dir__()) + [key for key in self if isinstance(key, str)]


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8") if value is not None else b""


# --- hello -------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureInfo:
    name: str
    kind: str
    methods: Tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """What a daemon's ``hello`` says it serves."""

    environment: str
    features: Dict[str, FeatureInfo]
    sandbox_methods: Tuple[str, ...]
    capabilities: FrozenSet[str]
    events_endpoint: Optional[str]

    @classmethod
    def from_hello(cls, hello: Mapping[str, Any]) -> "Catalog":
        features = {}
        for name, info in (hello.get("features") or {}).items():
            info = info if isinstance(info, Mapping) else {}
            features[name] = FeatureInfo(name, str(info.get("kind") or ""),
                                         tuple(info.get("methods") or ()))
        return cls(str(hello.get("environment") or ""), features,
                   tuple(hello.get("sandbox_methods") or ()),
                   frozenset(hello.get("capabilities") or ()), hello.get("events_endpoint"))

    def kind_of(self, feature: Optional[str]) -> Optional[str]:
        info = self.features.get(feature) if feature else None
        return info.kind if info else None

    def result(self, feature: Optional[str], method: str, value: Any) -> Any:
        """Wraps a ``shell.run`` result map in :class:`Result`."""
        if isinstance(value, dict) and (self.kind_of(feature), method) == ("shell", "run"):
            return Result(value)
        return value


def same_environment(known: Optional[Catalog], answered: Catalog, endpoint: str) -> Catalog:
    """``answered``, unless the endpoint now serves another environment than
    the one it served before (a port is soon taken over when a daemon is
    gone): then DaemonUnavailable."""
    if known is not None and known.environment != answered.environment:
        raise other_environment(endpoint, answered.environment, known.environment)
    return answered


def other_environment(endpoint: str, answered: Any, known: str) -> DaemonUnavailable:
    """The error for an endpoint that now serves another environment."""
    return DaemonUnavailable("%s now serves environment %r, not %r" % (endpoint, answered, known))


def hello_answer(reply: Any, known: Optional[Catalog]) -> Optional[bool]:
    """What a reply says to a ``hello`` probe (id 0): None when it is not
    the probe's reply, else whether it is a success from the same
    environment."""
    if not (isinstance(reply, dict) and reply.get("id") == 0):
        return None
    environment = known.environment if known else None
    return reply.get("ok") is True and environment in (None, reply.get("environment"))


_WILDCARD_HOSTS = ("*", "0.0.0.0", "[::]", "::", "[*]")
_TCP = re.compile(r"^tcp://(\[[^\]]*\]|[^:/]*)(:.*)?$")


def events_endpoint(announced: Optional[str], requests: str) -> str:
    """Where to subscribe: the endpoint ``hello`` announces, with a wildcard
    host (``tcp://*:5556``, ``tcp://0.0.0.0:5556``) replaced by the host of
    the request endpoint. Without an announcement: the request endpoint's
    host on port 5556."""
    request_host = _TCP.match(requests)
    if not announced:
        return "tcp://%s:5556" % (request_host.group(1) if request_host else "127.0.0.1")
    match = _TCP.match(announced)
    if match and request_host and match.group(1) in _WILDCARD_HOSTS:
        return "tcp://%s%s" % (request_host.group(1), match.group(2) or "")
    return announced


# --- CURVE -------------------------------------------------------------------

@dataclass(frozen=True)
class CurveKeys:
    server_public: bytes
    public: bytes
    secret: bytes


def load_curve(curve: Optional[Curve]) -> Optional[CurveKeys]:
    """Reads ``(server_public_cert, client_secret_cert)``, two certificate
    files in czmq's format (what ``zcert_save`` and
    ``zmq.auth.create_certificates`` write)."""
    if curve is None:
        return None
    server_path, client_path = curve
    if not zmq.has("curve"):
        raise SbxError("this libzmq has no CURVE support")
    server_public, _ = zmq.auth.load_certificate(server_path)
    public, secret = zmq.auth.load_certificate(client_path)
    if not secret:
        raise ValueError("%s holds no secret key: give the client's secret certificate" % client_path)
    return CurveKeys(server_public, public, secret)


def setup_socket(socket: zmq.Socket, endpoint: str, curve: Optional[CurveKeys]) -> zmq.Socket:
    """Sets a client socket up (CURVE, no linger) and connects it."""
    socket.linger = 0
    if curve is not None:
        socket.curve_serverkey = curve.server_public
        socket.curve_publickey = curve.public
        socket.curve_secretkey = curve.secret
    socket.connect(endpoint)
    return socket


# --- the connection ----------------------------------------------------------

#  What a request socket's monitor reports (zmq_socket_monitor).
WATCHED = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
           | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
           | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
_REFUSALS = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "the handshake failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "the handshake failed (protocol error)",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "the daemon refused this connection (a key it does not list, "
                                     "or it holds limits.peers connections already)",
}


_monitors = itertools.count()


def monitor_socket(socket: zmq.Socket) -> zmq.Socket:
    """A PAIR socket with the connection events of ``socket`` (WATCHED).
    Its address is its own (pyzmq's default names it by file descriptor,
    and a new socket may get a closed one's number while the old address
    is still bound), and its queue has no limit: libzmq's I/O thread blocks
    on a full monitor queue, and with it every socket of the context."""
    address = "inproc://sbx-monitor-%d" % next(_monitors)
    socket.monitor(address, WATCHED)
    pair = socket.context.socket(zmq.PAIR)
    pair.linger = 0
    pair.rcvhwm = 0
    pair.connect(address)
    return pair


def close_watched(socket: Optional[zmq.Socket], monitor: Optional[zmq.Socket]) -> None:
    """Closes a socket and its monitor, in the one safe order: the monitor
    stopped first (libzmq's threads would block for good on an event sent
    to a monitor nobody holds any more), then the socket, then the PAIR."""
    if socket is not None and not socket.closed:
        try:
            socket.disable_monitor()
        except zmq.ZMQError:
            pass
        socket.close(linger=0)
    if monitor is not None and not monitor.closed:
        monitor.close(linger=0)


class Watch:
    """The state of a request socket's connection, from its monitor's
    events. A request sent while ``up`` whose reply has not come when
    ``drops`` has grown is lost: the daemon routes a reply back through
    the connection the request came on. (Without ZMQ_IMMEDIATE a reply
    that arrived before the drop stays readable.)"""

    def __init__(self) -> None:
        self.up = False                     #: connected, handshake done
        self.drops = 0                      #: connections lost so far
        self.refused: Optional[str] = None  #: why the last handshake failed

    def feed(self, frames: Sequence[bytes]) -> None:
        event = zmq.utils.monitor.parse_monitor_message(list(frames))["event"]
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.up, self.refused = True, None
        elif event == zmq.EVENT_DISCONNECTED:
            self.drops += self.up
            self.up = False
        else:
            self.refused = _REFUSALS.get(event, "the handshake failed")


# --- proxies -----------------------------------------------------------------

class Method:
    """``sb.<feature>.<method>``: call it with keyword arguments (and, for the
    common methods, positional ones: ``sb.shell.run("ls")``)."""

    def __init__(self, sandbox: Any, feature: FeatureInfo, method: str) -> None:
        self._sandbox = sandbox
        self._name = "%s.%s" % (feature.name, method)
        self._positional = POSITIONAL.get((feature.kind, method), ())

    def __call__(self, *positional: Any, **args: Any) -> Any:
        return self._sandbox.call(self._name, named(self._name, self._positional, positional, args))

    def __repr__(self) -> str:
        return "<sbx method %s>" % self._name


def named(name: str, names: Sequence[str], positional: Sequence[Any], args: Args) -> Args:
    if len(positional) > len(names):
        raise TypeError("%s takes at most %d positional argument%s (%s), %d given"
                        % (name, len(names), "" if len(names) == 1 else "s",
                           ", ".join(names) or "none", len(positional)))
    for key, value in zip(names, positional):
        if key in args:
            raise TypeError("%s got argument %r twice" % (name, key))
        args[key] = value
    return args


class Feature:
    """``sb.<feature>``: its methods, as ``hello`` lists them, are attributes.
    A ``shell`` feature also has ``stream(cmd, **args)``."""

    def __init__(self, sandbox: Any, info: FeatureInfo) -> None:
        self._sandbox = sandbox
        self._info = info

    def __getattr__(self, method: str) -> Any:
        info = self.__dict__.get("_info")
        if info is None or method.startswith("_"):
            raise AttributeError(method)
        if method in info.methods:
            return Method(self._sandbox, info, method)
        if method == "stream" and info.kind == "shell" and "run" in info.methods:
            return self._stream
        raise UnknownName("feature %r (kind %s) has no method %r; it has: %s"
                          % (info.name, info.kind, method, ", ".join(info.methods) or "none"),
                          sandbox=getattr(self._sandbox, "id", None), feature=info.name)

    def _stream(self, *positional: Any, **args: Any) -> Any:
        name = self._info.name + ".run"
        return self._sandbox.stream(name, named(name, ("cmd",), positional, args))

    def __dir__(self) -> Iterable[str]:
        return list(self._info.methods)

    def __repr__(self) -> str:
        return "<sbx feature %s (%s): %s>" % (self._info.name, self._info.kind,
                                              ", ".join(self._info.methods))


class Proxied:
    """Feature and sandbox-service attributes of a sandbox, from ``hello``:
    ``sb.<feature>`` is a :class:`Feature`; ``sb.<service>(**args)`` calls a
    service of the sandbox itself. A feature wins over a service of the same
    name (``sb.call(name)`` reaches either); :meth:`feature` reaches features
    whose names are taken by the sandbox's own attributes."""

    _catalog: Optional[Catalog] = None
    id: Optional[str] = None

    def feature(self, name: str) -> Feature:
        catalog = self._catalog
        info = catalog.features.get(name) if catalog else None
        if info is None:
            raise UnknownName("no feature %r; the environment has: %s"
                              % (name, ", ".join(catalog.features) if catalog else "(unknown: not open)"),
                              sandbox=self.id)
        return Feature(self, info)

    def __getattr__(self, name: str) -> Any:
        catalog = self.__dict__.get("_catalog")
        if catalog is None or name.startswith("_"):
            raise AttributeError(name)
        if name in catalog.features:
            return Feature(self, catalog.features[name])
        if name in catalog.sandbox_methods:
            call: Callable[..., Any] = getattr(self, "call")
            return lambda **args: call(name, args)
        raise UnknownName("no feature or sandbox service %r; features: %s; sandbox services: %s"
                          % (name, ", ".join(catalog.features) or "none",
                             ", ".join(catalog.sandbox_methods) or "none"), sandbox=self.id)

    def __dir__(self) -> Iterable[str]:
        extra = list(self._catalog.features) + list(self._catalog.sandbox_methods) if self._catalog else []
        return list(super().__dir__()) + extra


class Held(Proxied):
    """What the blocking and the asyncio ``Sandbox`` share without I/O:
    holding a sandbox (its id, token and catalog), the bodies and results
    of its calls, and how a failed ``session.end`` is told."""

    _env: Any
    _held = False
    token: Optional[str] = None

    def __init__(self, env: Any, session_id: Optional[str] = None,
                 timeout: Optional[float] = None) -> None:
        self._env = env
        self._wanted = session_id
        self._timeout = timeout
        self._catalog: Optional[Catalog] = None
        self._held = False
        self._gone = False
        self.id: Optional[str] = None
        self.token: Optional[str] = None
        self.session_id: Optional[str] = None
        self.lease_ms: Optional[int] = None
        self.renewals = 0
        self.lost: Optional[SbxError] = None

    def _open_body(self) -> Args:
        body = dict(op="session.open", **self._env._acquire_keys(self._timeout))
        if self._wanted:
            body["session_id"] = self._wanted
        return body

    def _start_body(self, session_id: Optional[str]) -> Args:
        body: Args = {"op": "session.start", "sandbox": self.id, "token": self.token}
        if session_id:
            body["session_id"] = session_id
        return body

    def _held_body(self, op: str) -> Args:
        """The body of an op on the held sandbox alone (heartbeat, session.end)."""
        return {"op": op, "sandbox": self.id, "token": self.token}

    def _leased(self, reply: Mapping[str, Any]) -> int:
        self.lease_ms = reply.get("lease_ms")
        return int(reply.get("lease_ms") or 0)

    @contextlib.contextmanager
    def _watched(self) -> Iterator[None]:
        """A sandbox that broke is not ended: session.end would only fail."""
        try:
            yield
        except SandboxStateError:
            self._gone = True
            raise

    def _hold(self, reply: Mapping[str, Any], catalog: Catalog) -> None:
        self.id, self.token = reply["sandbox"], reply["token"]
        self._catalog = catalog
        self._held = True
        self._env._keep(self)

    def _call_body(self, feature: Optional[str], method: str, args: Args) -> Args:
        return call_keys({"op": "call", "sandbox": self.id, "token": self.token, "method": method},
                         feature, args)

    def _result(self, feature: Optional[str], method: str, reply: Mapping[str, Any]) -> Any:
        assert self._catalog is not None
        return self._catalog.result(feature, method, reply.get("result"))

    @staticmethod
    def _end_failed(exc: BaseException, error: SbxError) -> None:
        """The error in flight matters more: session.end's is a note on it."""
        if hasattr(exc, "add_note"):
            exc.add_note("and then session.end failed: %s: %s" % (error.type, error))


class Streamed:
    """What the blocking and the asyncio ``Stream`` share without I/O: the
    body of a streamed call, the whole-output fallback when the daemon does
    not stream, and what each message of the call adds."""

    def __init__(self, sandbox: Held, name: str, args: Args) -> None:
        self.result: Any = None
        self.streamed: Optional[bool] = None
        self._sandbox = sandbox
        self._name = name
        self._args = args
        self._chunks: Deque[Tuple[str, bytes]] = collections.deque()
        self._rid: Optional[int] = None
        self._done = False

    def _streams(self) -> bool:
        catalog = self._sandbox._catalog
        assert catalog is not None
        self.streamed = "stream" in catalog.capabilities
        return self.streamed

    def _unstreamed(self, result: Any) -> None:
        """The result of the call made without streaming: its whole stdout
        and stderr as one chunk each."""
        self.result = result
        if isinstance(result, Mapping):
            for key in ("stdout", "stderr"):
                if result.get(key):
                    self._chunks.append((key, as_bytes(result[key])))
        self._done = True

    def _body(self) -> Args:
        feature, method = split_name(self._name)
        body = self._sandbox._call_body(feature, method, self._args)
        body["stream"] = True
        return body

    def _wait(self) -> Optional[float]:
        return call_timeout(self._sandbox._env.timeout, self._args)

    def _take(self, message: Mapping[str, Any]) -> None:
        """A chunk of output, or the final reply with the call's result."""
        sandbox = self._sandbox
        feature, method = split_name(self._name)
        if "ok" not in message:
            self._chunks.append((str(message.get("stream")), as_bytes(message.get("data"))))
            return
        self._done = True
        self.result = sandbox._result(feature, method, checked(message, sandbox.id, feature, method))

    @contextlib.contextmanager
    def _stepping(self) -> Iterator[None]:
        """A step that fails: a broken sandbox is not ended; on any other
        failure the stream stops listening."""
        try:
            yield
        except SandboxStateError:
            self._sandbox._gone = True
            raise
        except BaseException:
            self.close()
            raise


# --- events ------------------------------------------------------------------

Prefix = Union[str, Iterable[str], None]


def _seq_of(frames: Sequence[bytes]) -> Any:
    try:
        return unpack(frames[-1]).get("seq")
    except (ValueError, AttributeError):
        return None


class Sequencer:
    """Delivers events in ``seq`` order with no gaps (PROTOCOL.md "Journal"):
    live events are queued while their seqs follow on; a gap, a late join
    or a quiet spell asks for ``events.replay {since: tail}`` first.
    ``queue`` holds consecutive seqs ``last+1 .. tail``."""

    def __init__(self, since: Optional[int], prefix: Prefix) -> None:
        self.prefixes: Optional[Tuple[str, ...]] = (
            None if prefix is None else (prefix,) if isinstance(prefix, str) else tuple(prefix))
        self.last = self.tail = since or 0
        self.queue: Deque[Dict[str, Any]] = collections.deque()
        self.need_replay = since is not None     # the history first
        self.now = since is None                 # learn the last seq first
        self.seen = False
        self.idle = IDLE_FIRST
        self.next_check = time.monotonic() + self.idle
        self.received = 0       #: live messages taken from the SUB socket
        self.gap_replays = 0    #: replays made to fill a gap in live events
        self.lost = 0           #: events the journal no longer had
        self.drop = 0           #: test hook: live messages still to discard
        self.dropped: List[Any] = []    #: what the hook discarded (seqs, where readable)

    @property
    def wants_replay(self) -> bool:
        return self.need_replay or self.now

    def replay_keys(self) -> Args:
        if self.now:
            return {"since": SINCE_NOW, "max": 1}
        return {"since": self.tail, "max": REPLAY_MAX}

    def live(self, frames: Sequence[bytes]) -> None:
        self.received += 1
        self.next_check = time.monotonic() + self.idle
        if self.drop:
            self.drop -= 1
            self.dropped.append(_seq_of(frames))
            return
        if len(frames) != 2 or self.now:
            return
        try:
            event = unpack(frames[1])
        except ValueError:
            return
        seq = event.get("seq") if isinstance(event, dict) else None
        if not isinstance(seq, int) or seq <= self.tail:
            return
        if seq == self.tail + 1 and not self.need_replay:
            self.tail = seq
            self.seen = True
            self.queue.append(event)
        else:           # a gap: the replay brings this one too
            if not self.need_replay:
                self.gap_replays += 1
            self.need_replay = True

    def replayed(self, result: Mapping[str, Any], checking: bool) -> None:
        events = [event for event in result.get("events") or () if isinstance(event, dict)]
        nxt = result.get("next")
        if self.now:
            self.now = False
            self.last = self.tail = nxt if isinstance(nxt, int) else 0
            self.seen = self.need_replay = False
            return
        since = self.tail
        for event in events:
            seq = event.get("seq")
            if not isinstance(seq, int) or seq <= self.tail:
                continue
            self.lost += seq - self.tail - 1
            self.tail = seq
            self.seen = True
            self.queue.append(event)
        if not events and isinstance(nxt, int) and nxt < since and self.seen:
            #  The journal ends before what we saw: the daemon restarted and
            #  counts from 1 again. Follow the new one.
            self.queue.clear()
            self.last = self.tail = 0
            self.seen = False
            self.need_replay = True
            return
        self.need_replay = len(events) >= REPLAY_MAX
        if checking and not events:
            self.idle = min(self.idle * 2, IDLE_MAX)
        self.next_check = time.monotonic() + self.idle

    def pop(self) -> Optional[Dict[str, Any]]:
        while self.queue:
            event = self.queue.popleft()
            self.last = event["seq"]
            if self.prefixes is None or str(event.get("event", "")).startswith(self.prefixes):
                return event
        return None


def events_socket(context: Any, endpoint: str, curve: Optional[CurveKeys]) -> Any:
    """A SUB socket for every event (a narrower one hides gaps) at ``endpoint``."""
    sub = context.socket(zmq.SUB)
    sub.rcvhwm = 100000
    sub.subscribe(b"")
    return setup_socket(sub, endpoint, curve)


class Followed:
    """What the blocking and the asyncio ``Events`` share without I/O: the
    counts of their :class:`Sequencer` and the test hook."""

    _seq: Sequencer
    _sub: Any = None

    def __init__(self, env: Any, since: Optional[int], prefix: Prefix,
                 timeout: Optional[float]) -> None:
        self.timeout = timeout
        self._env = env
        self._seq = Sequencer(since, prefix)

    def _wait_ms(self, now: float, deadline: Optional[float]) -> int:
        """How long to poll the SUB socket: until the next check of the
        journal, or the deadline when it comes first."""
        seq = self._seq
        wait = seq.next_check - now if deadline is None else min(seq.next_check, deadline) - now
        return max(1, int(wait * 1000))

    @property
    def last_seq(self) -> int:
        return self._seq.last

    @property
    def lost(self) -> int:
        return self._seq.lost

    @property
    def gap_replays(self) -> int:
        return self._seq.gap_replays

    @property
    def dropped(self) -> List[Any]:
        """The seqs the :meth:`drop` hook discarded."""
        return self._seq.dropped

    @property
    def received(self) -> int:
        """Live messages received on the SUB socket so far."""
        return self._seq.received

    def drop(self, count: int) -> None:
        """Test hook: discard the next ``count`` live messages, as a full
        queue would; the gap is then filled from the journal."""
        self._seq.drop = count

    def __del__(self) -> None:
        sub = getattr(self, "_sub", None)
        if sub is not None and not sub.closed:
            sub.close(linger=0)
