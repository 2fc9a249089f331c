"""CURVE: czmq certificate files are loaded and every socket (requests,
heartbeats, events) uses them - against a real sbxd with `security` (its
keys in directories, docs/security.md), and against a stub guarded by
pyzmq's ThreadAuthenticator for what the stub shows more plainly."""
import ctypes.util
import os
import subprocess
import sys
import textwrap

import pytest
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

import sbx
from sbx._core import load_curve
from conftest import TESTING, wait_until
from stub import ENV_ID, Stub

pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="libzmq without CURVE")


def _certificates(directory, name):
    os.makedirs(directory, exist_ok=True)
    return zmq.auth.create_certificates(str(directory), name)     # (public, secret) paths


def test_load_certificates(tmp_path):
    server_public, server_secret = _certificates(tmp_path, "server")
    client_public, client_secret = _certificates(tmp_path, "client")
    keys = load_curve((server_public, client_secret))
    assert keys.server_public == zmq.auth.load_certificate(server_secret)[0]
    assert (keys.public, keys.secret) == zmq.auth.load_certificate(client_secret)
    assert len(keys.public) == len(keys.secret) == 40       # Z85 text
    with pytest.raises(ValueError, match="no secret key"):
        load_curve((server_public, client_public))
    with pytest.raises(OSError):
        load_curve((str(tmp_path / "missing"), client_secret))
    assert load_curve(None) is None


def test_load_what_czmq_writes(tmp_path):
    """zcert_save's own files (a public one, and `_secret` beside it)."""
    library = ctypes.util.find_library("czmq")
    if not library:
        pytest.skip("libczmq not found")
    path = str(tmp_path / "client.cert")
    script = textwrap.dedent("""
        import ctypes, sys
        czmq = ctypes.CDLL(sys.argv[1])
        czmq.zcert_new.restype = ctypes.c_void_p
        czmq.zcert_save.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        czmq.zcert_public_txt.restype = ctypes.c_char_p
        czmq.zcert_public_txt.argtypes = [ctypes.c_void_p]
        czmq.zcert_secret_txt.restype = ctypes.c_char_p
        czmq.zcert_secret_txt.argtypes = [ctypes.c_void_p]
        cert = czmq.zcert_new()
        assert czmq.zcert_save(cert, sys.argv[2].encode()) == 0
        print(czmq.zcert_public_txt(cert).decode(), czmq.zcert_secret_txt(cert).decode())
    """)
    out = subprocess.run([sys.executable, "-c", script, library, path], capture_output=True,
                         text=True, timeout=60, check=True)
    public, secret = out.stdout.split()
    keys = load_curve((path, path + "_secret"))
    assert (keys.server_public, keys.public, keys.secret) == (public.encode(), public.encode(),
                                                              secret.encode())


@pytest.fixture
def curve_daemon(start_daemon, tmp_path):
    """A real sbxd with CURVE on both sockets: a worker's key listed in
    clients/, an admin's in admins/, a rogue's nowhere."""
    server_public, server_secret = _certificates(tmp_path / "server", "server")
    keys = {name: _certificates(tmp_path / name, name) for name in ("worker", "admin", "rogue")}
    for directory, name in (("clients", "worker"), ("admins", "admin")):
        os.makedirs(tmp_path / directory)
        os.link(keys[name][0], tmp_path / directory / (name + ".key"))
    daemon = start_daemon(TESTING, security={"server_cert": server_secret,
                                             "clients": str(tmp_path / "clients"),
                                             "admins": str(tmp_path / "admins")})
    yield daemon, server_public, {name: secret for name, (_, secret) in keys.items()}


def test_a_real_daemon_over_curve(curve_daemon):
    daemon, server_public, secrets = curve_daemon
    env = sbx.Environment(daemon.requests, curve=(server_public, secrets["worker"]), timeout=10)
    try:
        assert env.hello()["environment"] == daemon.env_id
        with env.events(timeout=10) as events:
            with env.sandbox() as sb:
                assert sb.call("shell", code="x") == 'shell "x" succeeded'
                sb.heartbeat()
            # Sessions go on until one event came live over CURVE.
            for _ in range(100):
                next(events)
                if events.received:
                    break
                env.call("shell", code="x")
            assert events.received
        with pytest.raises(sbx.Unauthorized, match="admin"):
            env.shutdown()
    finally:
        env.close()


def test_a_real_daemon_refuses_keys_it_does_not_list(curve_daemon):
    daemon, server_public, secrets = curve_daemon
    for curve in ((server_public, secrets["rogue"]), None):
        env = sbx.Environment(daemon.requests, curve=curve, timeout=5, probe_timeout=0.5)
        try:
            with pytest.raises(sbx.DaemonUnavailable):
                env.hello()
        finally:
            env.close()
    env = sbx.Environment(daemon.requests, curve=(server_public, secrets["worker"]), timeout=10)
    try:
        assert env.stats()["counters"]["peers_refused"] >= 2
    finally:
        env.close()


def test_an_admin_key_shuts_a_real_daemon_down(curve_daemon):
    daemon, server_public, secrets = curve_daemon
    env = sbx.Environment(daemon.requests, curve=(server_public, secrets["admin"]), timeout=10)
    try:
        env.shutdown()
        assert daemon.wait() == 0
    finally:
        env.close()


@pytest.fixture
def guarded(tmp_path):
    """A stub daemon that accepts only the client certificate in allowed/."""
    server_public, server_secret = _certificates(tmp_path / "server", "server")
    client_public, client_secret = _certificates(tmp_path / "allowed", "client")
    context = zmq.Context()
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(tmp_path / "allowed"))
    stub = Stub(context, server_keys=zmq.auth.load_certificate(server_secret))
    yield stub, server_public, client_secret
    stub.close()
    authenticator.stop()
    context.term()


def test_every_socket_speaks_curve(guarded):
    stub, server_public, client_secret = guarded
    env = sbx.Environment(stub.requests, curve=(server_public, client_secret), timeout=10,
                          probe_timeout=1.0)
    try:
        assert env.hello()["environment"] == ENV_ID
        with env.events(timeout=10) as events:
            with env.sandbox() as sb:
                assert sb.shell.run("x").exit_code == 0
                wait_until(lambda: sb.renewals >= 1, what="a heartbeat over CURVE")
            # Each session makes the stub publish session.start; sessions go
            # on until one came live, over CURVE, not from the journal.
            for _ in range(100):
                assert next(events)["event"] == "session.start"
                if events.received:
                    break
                with env.sandbox():
                    pass
            assert events.received
    finally:
        env.close()


def test_refused_keys_are_unavailable(guarded, tmp_path):
    stub, server_public, _ = guarded
    _, rogue_secret = _certificates(tmp_path / "rogue", "rogue")
    for curve in ((server_public, rogue_secret), None):
        env = sbx.Environment(stub.requests, curve=curve, timeout=5, probe_timeout=0.5)
        try:
            with pytest.raises(sbx.DaemonUnavailable, match="refused this connection|handshake failed"):
                env.hello()
        finally:
            env.close()
