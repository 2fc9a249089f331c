"""A stand-in daemon for what sbxd does not have yet: a ROUTER (and an XPUB)
in a thread that speaks enough of protocol v1 for a session with a `shell`
feature, announces the `stream` capability and streams a call's output as
the wire form says: progress messages {id, stream, data} before the one
final reply. Optionally CURVE-protected (the caller runs the
authenticator)."""
import threading

import msgpack
import zmq

ENV_ID = "stub-env"
TOKEN = "ab" * 16


class Stub:
    def __init__(self, context, server_keys=None, capabilities=("stream",)):
        """server_keys: (public, secret) to serve with CURVE."""
        self.capabilities = list(capabilities)
        self.env_id = ENV_ID      # what hello answers
        self.router = context.socket(zmq.ROUTER)
        self.xpub = context.socket(zmq.XPUB)
        for socket in (self.router, self.xpub):
            socket.linger = 0
            if server_keys:
                socket.curve_server = True
                socket.curve_publickey, socket.curve_secretkey = server_keys
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.requests = "tcp://127.0.0.1:%d" % port
        events_port = self.xpub.bind_to_random_port("tcp://127.0.0.1")
        self.events = "tcp://*:%d" % events_port        # announced as a wildcard
        self.journal = []
        self.pipe = context.socket(zmq.PAIR)
        self.pipe.bind("inproc://stub-%d" % id(self))
        self._control = context.socket(zmq.PAIR)
        self._control.connect("inproc://stub-%d" % id(self))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def close(self):
        self._control.send(b"stop")
        self.thread.join(10)
        self._control.close()
        for socket in (self.router, self.xpub, self.pipe):
            socket.close()

    def _reply(self, envelope, body):
        self.router.send_multipart(envelope + [msgpack.packb(body)])

    def _publish(self, name, **keys):
        event = dict(keys, seq=len(self.journal) + 1, ts_ns=0, event=name,
                     environment=ENV_ID, error=None)
        self.journal.append(event)
        self.xpub.send_multipart([name.encode(), msgpack.packb(event)])

    def _run(self):
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.xpub, zmq.POLLIN)
        poller.register(self.pipe, zmq.POLLIN)
        held = None     # an interleaved stream: (envelope, id, remaining chunks)
        while True:
            ready = dict(poller.poll())
            if self.pipe in ready:
                return
            if self.xpub in ready:
                self.xpub.recv()        # a subscription
            if self.router not in ready:
                continue
            *envelope, frame = self.router.recv_multipart()
            request = msgpack.unpackb(frame)
            op, rid = request.get("op"), request.get("id")
            ok = {"id": rid, "ok": True}
            if op == "hello":
                self._reply(envelope, dict(ok, protocol=1, version="stub", environment=self.env_id,
                                           status="online", events_endpoint=self.events,
                                           capabilities=self.capabilities,
                                           features={"shell": {"kind": "shell", "methods": ["run"]}},
                                           sandbox_methods=[]))
            elif op == "session.open":
                self._reply(envelope, dict(ok, sandbox=ENV_ID + "/0:0", token=TOKEN,
                                           session_id=request.get("session_id") or "session-0000000"))
                self._publish("session.start", sandbox=ENV_ID + "/0:0", session="s")
            elif op in ("session.end", "heartbeat"):
                self._reply(envelope, dict(ok, lease_ms=300000) if op == "heartbeat" else ok)
            elif op == "events.replay":
                since = request.get("since", 0)
                events = [e for e in self.journal if e["seq"] > since][:request.get("max", 1000)]
                self._reply(envelope, dict(ok, events=events,
                                           next=events[-1]["seq"] if events else len(self.journal),
                                           truncated=False))
            elif op == "call":
                cmd = (request.get("args") or {}).get("cmd", "")
                chunks = [("stdout", b"one\n"), ("stderr", b"two\n"), ("stdout", b"three\n")]
                final = dict(ok, result={"exit_code": 0, "stdout": "one\nthree\n", "stderr": "two\n",
                                         "timed_out": False})
                if held is not None:
                    # A call while a stream is held: the stream's next chunk
                    # goes out first, then this reply, then the rest.
                    h_envelope, h_id, h_chunks, h_final = held
                    name, data = h_chunks.pop(0)
                    self._reply(h_envelope, {"id": h_id, "stream": name, "data": data})
                    self._reply(envelope, dict(ok, result={"exit_code": 0, "stdout": cmd, "stderr": "",
                                                           "timed_out": False}))
                    for name, data in h_chunks:
                        self._reply(h_envelope, {"id": h_id, "stream": name, "data": data})
                    self._reply(h_envelope, h_final)
                    held = None
                elif request.get("stream") and cmd == "interleave":
                    name, data = chunks[0]
                    self._reply(envelope, {"id": rid, "stream": name, "data": data})
                    held = (envelope, rid, chunks[1:], final)
                elif request.get("stream"):
                    for name, data in chunks:
                        self._reply(envelope, {"id": rid, "stream": name, "data": data})
                    self._reply(envelope, final)
                else:
                    self._reply(envelope, final)
            else:
                self._reply(envelope, {"id": rid, "ok": False,
                                       "error": {"type": "BadRequest", "message": "unknown op"}})
