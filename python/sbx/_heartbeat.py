"""The heartbeat thread: keeps the leases of an environment's sessions and
notices a daemon that stopped answering. It has its own DEALER socket
(ZeroMQ sockets are not thread-safe) and touches nothing of its callers'
but the sessions' ``lease_ms``, ``renewals`` and ``lost``."""
from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

import zmq

from ._core import CurveKeys, pack, setup_socket, unpack
from .errors import DaemonUnavailable, NotFound, Unauthorized, error_from

#  While the daemon is not answering, heartbeats go at least this often (s),
#  so that the environment learns soon that it is back.
DOWN_INTERVAL = 1.0

#  Notified whenever a session's ``renewals`` or ``lost`` changes, so that a
#  caller can wait for a renewal instead of polling for it:
#  ``with CHANGED: CHANGED.wait_for(lambda: sb.renewals >= 1, timeout)``.
CHANGED = threading.Condition()


class Heartbeat(threading.Thread):
    """Sends ``heartbeat`` for every session added, at first at once (to
    learn ``lease_ms``), then every lease/3. A heartbeat unanswered for
    ``probe_timeout`` reports the daemon unavailable (``report(error)``); any
    answer reports it back (``report(None)``). A session the daemon no longer
    knows (NotFound, Unauthorized) gets ``lost`` and is no longer renewed."""

    def __init__(self, context: zmq.Context, endpoint: str, curve: Optional[CurveKeys],
                 probe_timeout: float, report: Callable[[Optional[DaemonUnavailable]], None]) -> None:
        super().__init__(name="sbx-heartbeat", daemon=True)
        self._context = context
        self._endpoint = endpoint
        self._curve = curve
        self._probe_timeout = probe_timeout
        self._report = report
        self._lock = threading.Lock()
        self._due: Dict[Any, float] = {}      # session -> when its next heartbeat is due
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._down = False
        self.lease_ms: Optional[int] = None

    def add(self, session: Any) -> None:
        with self._lock:
            self._due[session] = 0.0
        os.write(self._wake_w, b"+")

    def remove(self, session: Any) -> None:
        with self._lock:
            self._due.pop(session, None)
            idle = not self._due
        if idle and self._down:
            #  Nothing left to watch: do not leave a stale verdict behind.
            self._down = False
            self._report(None)

    def stop(self) -> None:
        self._stopping = True
        os.write(self._wake_w, b".")
        if self.is_alive() and self is not threading.current_thread():
            self.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _interval(self) -> float:
        interval = self.lease_ms / 3000.0 if self.lease_ms else DOWN_INTERVAL
        return min(interval, DOWN_INTERVAL) if self._down else interval

    def run(self) -> None:
        #  A heartbeat waits for the connection, and is simply unanswered
        #  while there is none.
        socket = setup_socket(self._context.socket(zmq.DEALER), self._endpoint, self._curve)
        poller = zmq.Poller()
        poller.register(socket, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        inflight: Dict[int, Tuple[Any, float]] = {}
        ids = itertools.count(1)
        try:
            while not self._stopping:
                now = time.monotonic()
                waiting = {session for session, _ in inflight.values()}
                with self._lock:
                    due = [s for s, when in self._due.items() if when <= now and s not in waiting]
                    for session in due:
                        self._due[session] = now + self._interval()
                for session in due:
                    rid = next(ids)
                    try:
                        socket.send(pack({"op": "heartbeat", "id": rid, "sandbox": session.id,
                                          "token": session.token}), zmq.NOBLOCK)
                    except zmq.Again:
                        pass        # counts as unanswered
                    inflight[rid] = (session, now)
                with self._lock:
                    deadlines = [when for s, when in self._due.items() if s not in waiting]
                deadlines += [sent + self._probe_timeout for _, sent in inflight.values()]
                wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                for item, _ in poller.poll(None if wait is None else wait * 1000 + 1):
                    if item is socket:
                        self._receive(socket, inflight)
                    else:
                        os.read(self._wake_r, 4096)
                now = time.monotonic()
                overdue = [rid for rid, (_, sent) in inflight.items()
                           if now - sent >= self._probe_timeout]
                for rid in overdue:
                    del inflight[rid]
                if overdue:
                    self._down = True
                    self._report(DaemonUnavailable(
                        "no answer to heartbeats from %s within %g s"
                        % (self._endpoint, self._probe_timeout)))
        finally:
            socket.close(linger=0)

    def _receive(self, socket: zmq.Socket, inflight: Dict[int, Tuple[Any, float]]) -> None:
        while True:
            try:
                reply = unpack(socket.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            except ValueError:
                continue
            if self._down:
                self._down = False
                self._report(None)
            entry = inflight.pop(reply.get("id"), None) if isinstance(reply, dict) else None
            if entry is None:
                continue        # late: it proved the daemon alive all the same
            session, sent = entry
            if reply.get("ok") is True:
                lease = reply.get("lease_ms")
                if isinstance(lease, int) and lease > 0:
                    self.lease_ms = session.lease_ms = lease
                with CHANGED:
                    session.renewals += 1
                    CHANGED.notify_all()
                with self._lock:
                    if session in self._due:
                        self._due[session] = sent + self._interval()
                continue
            error = error_from(reply.get("error") or {}, session.id)
            if isinstance(error, (NotFound, Unauthorized)):
                with CHANGED:
                    session.lost = error
                    CHANGED.notify_all()
                self.remove(session)
