"""CURVE: czmq certificate files are loaded and every socket (requests,
heartbeats, events) uses them. sbxd's own CURVE support is tested where it
lands; here a ROUTER guarded by pyzmq's ThreadAuthenticator stands in."""
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
from conftest import wait_until
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
            with pytest.raises(sbx.DaemonUnavailable, match="refused this client.s key|handshake failed"):
                env.hello()
        finally:
            env.close()
