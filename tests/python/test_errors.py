"""Every error class, provoked on a real sbxd with the testing kinds (SPEC §5)."""
import asyncio
import builtins
import pickle

import pytest

import sbx
import sbx.aio
from conftest import TESTING, next_event


def test_bad_request(testing_env):
    with pytest.raises(sbx.BadRequest, match="unknown op 'no.such.op'") as caught:
        testing_env.request("no.such.op")
    assert caught.value.type == "BadRequest" and caught.value.sandbox is None
    with pytest.raises(sbx.BadRequest, match="missing key 'since'"):
        testing_env.request("events.replay")


def test_not_found(testing_env):
    with testing_env.sandbox() as sb:
        with pytest.raises(sbx.NotFound) as caught:
            sb.call("f.nope")
        assert caught.value.type == "NotFound" and isinstance(caught.value, LookupError)
        assert caught.value.feature == "f" and caught.value.method == "nope"
        assert sb.f.show_session_id() == sb.session_id         # the session goes on
        with pytest.raises(AttributeError) as caught:
            sb.f.nope
        assert isinstance(caught.value, sbx.NotFound) and caught.value.type == "NotFound"
    with pytest.raises(sbx.NotFound):
        testing_env.status("no-such/0:0")


def test_unauthorized(testing_env):
    with testing_env.sandbox() as sb:
        with pytest.raises(sbx.Unauthorized, match="wrong token") as caught:
            testing_env.request("call", sandbox=sb.id, token="0" * 32, method="shell",
                                args={"code": "x"})
        assert caught.value.type == "Unauthorized"
        assert sb.shell(code="still mine") == 'shell "still mine" succeeded'


def test_user_errors_keep_their_type(testing_env):
    with testing_env.sandbox() as sb:
        for type_name, builtin in [("ValueError", ValueError), ("PermissionError", PermissionError),
                                   ("KeyError", KeyError), ("FileNotFoundError", OSError)]:
            with pytest.raises(builtin) as caught:
                sb.shell(code="x", raise_error=type_name)
            error = caught.value
            assert type(error).__name__ == type_name and error.type == type_name
            assert isinstance(error, sbx.UserError) and isinstance(error, sbx.SbxError)
            assert isinstance(error, getattr(builtins, type_name))
            assert type(error) is sbx.error_class(type_name)      # one class per name
            assert error.message == 'shell "x" failed' and error.sandbox == sb.id
            assert str(error) == 'shell "x" failed (shell in sandbox %s)' % sb.id
        # A type without a builtin is a UserError of that name; one whose
        # builtin cannot be made from a message is a plain UserError.
        with pytest.raises(sbx.UserError) as caught:
            sb.shell(code="x", raise_error="QuotaError")
        assert type(caught.value).__name__ == "QuotaError" and type(caught.value).__bases__ == (sbx.UserError,)
        with pytest.raises(sbx.UserError) as caught:
            sb.shell(code="x", raise_error="UnicodeDecodeError")
        assert caught.value.type == "UnicodeDecodeError"
        # It travels: pickled by type name.
        copy = pickle.loads(pickle.dumps(caught.value))
        assert type(copy) is type(caught.value) and copy.sandbox == sb.id
        # User errors leave the session open.
        assert sb.f.show_session_id() == sb.session_id


def test_sandbox_state_error(testing_env):
    with testing_env.sandbox() as sb:
        with pytest.raises(sbx.SandboxStateError) as caught:
            sb.shell(code="x", raise_error="SandboxStateError")
        assert caught.value.sandbox == sb.id
    # The session is over: leaving the block sends no session.end.
    with testing_env.sandbox() as sb:
        with pytest.raises(sbx.SandboxStateError, match="RuntimeError") as caught:
            sb.f.bad_shell_call()       # RuntimeError is critical for shell
        assert caught.value.type == "SandboxStateError" and caught.value.method == "bad_shell_call"
        assert not isinstance(caught.value, RuntimeError)


def test_session_teardown_error(start_daemon):
    env = start_daemon(TESTING).environment()
    try:
        with pytest.raises(sbx.SessionTeardownError) as caught:
            with env.sandbox() as sb:
                sb.f.configure(simulate_teardown_session_error="ValueError")
        error = caught.value
        assert error.sandbox == sb.id and set(error.errors) == {"f"}
        assert isinstance(error.errors["f"], ValueError) and error.errors["f"].feature == "f"
        assert "f: ValueError: simulated teardown session error" in str(error)
        # An error in flight is not hidden by the teardown's: it gets a note.
        with pytest.raises(ZeroDivisionError) as caught:
            with env.sandbox() as sb:
                1 / 0
        if hasattr(BaseException, "add_note"):
            assert any("SessionTeardownError" in note for note in caught.value.__notes__)
    finally:
        env.close()


def test_feature_teardown_error(start_daemon):
    """Without pooling the sandbox shuts down when its session ends, and its
    feature's teardown fails: session.end answers FeatureTeardownError (SPEC
    §3.4 step 5), and sandbox.shutdown carries it too."""
    daemon = start_daemon(TESTING, pool=(0, 0), features={"f": {"simulate_teardown_error": "ValueError"}})
    env = daemon.environment()
    try:
        events = env.events(prefix="sandbox.shutdown", timeout=10)
        with pytest.raises(sbx.FeatureTeardownError) as caught:
            with env.sandbox() as sb:
                assert sb.shell(code="x")
        error = caught.value
        assert error.type == "FeatureTeardownError" and error.sandbox == sb.id
        assert set(error.errors) == {"f"} and isinstance(error.errors["f"], ValueError)
        shutdown = next_event(events, lambda e: e["sandbox"] == sb.id, "the sandbox's shutdown")
        published = sbx.error_from(shutdown["error"], shutdown["sandbox"])
        assert isinstance(published, sbx.FeatureTeardownError) and published.sandbox == sb.id
        assert isinstance(published.errors["f"], ValueError)
    finally:
        env.close()


def test_session_start_user_error(start_daemon):
    daemon = start_daemon(TESTING, pool=(0, 0),
                          features={"f": {"simulate_setup_session_error": "ValueError"}})
    env = daemon.environment()
    try:
        with pytest.raises(ValueError, match="setup session") as caught:
            env.sandbox().open()
        assert isinstance(caught.value, sbx.UserError) and caught.value.sandbox
        with pytest.raises(ValueError):
            env.call("shell", code="x")
    finally:
        env.close()


def test_overload(testing_env):
    with testing_env.sandbox(), testing_env.sandbox():         # the pool's max is 2
        with pytest.raises(sbx.EnvironmentOverloadError) as caught:
            testing_env.sandbox(timeout=0.2).open()
        assert caught.value.type == "EnvironmentOverloadError"
        with pytest.raises(sbx.EnvironmentOverloadError):
            testing_env.call("shell", code="x", timeout=0.2)
    assert testing_env.call("shell", code="x") == 'shell "x" succeeded'


def test_outage(start_daemon):
    broken = start_daemon({"sandbox": {"kind": "testing", "simulate_start_error": "SandboxStateError"},
                           "features": {}}, pool=(0, 0))
    env = broken.environment(probe_timeout=0.5)
    try:
        with pytest.raises(sbx.EnvironmentOutageError) as caught:
            env.sandbox().open()
        assert caught.value.type == "EnvironmentOutageError"
        assert broken.wait() == 1       # an outage takes the environment offline
        with pytest.raises(sbx.DaemonUnavailable):
            env.status()
    finally:
        env.close()


def test_timeout_while_the_daemon_answers(start_daemon):
    daemon = start_daemon(TESTING, pool=(0, 0), features={"f": {"setup_session_delay_ms": 3000}})
    env = daemon.environment(timeout=0.3)
    try:
        with pytest.raises(sbx.Timeout, match="the daemon answers hello") as caught:
            env.sandbox().open()
        assert isinstance(caught.value, TimeoutError) and caught.value.type == "Timeout"
        assert env.status()["environment"]["status"] == "online"
    finally:
        env.close()


def test_nothing_there():
    env = sbx.Environment("tcp://127.0.0.1:1", probe_timeout=0.3)
    try:
        with pytest.raises(sbx.DaemonUnavailable, match="cannot connect") as caught:
            env.hello()
        assert isinstance(caught.value, ConnectionError) and caught.value.type == "DaemonUnavailable"
    finally:
        env.close()


def test_shutdown_is_refused_here_and_done_on_the_admin_endpoint(start_daemon):
    daemon = start_daemon(TESTING)
    env = daemon.environment()
    try:
        # The daemon answers before its pool has filled: online from here.
        events = env.events(since=0, prefix="environment.start", timeout=10)
        next_event(events, lambda e: True, "the environment's start")
        with pytest.raises(sbx.Unauthorized, match="admin endpoint"):
            env.shutdown()
        assert env.status()["environment"]["status"] == "online"
        env.shutdown(admin=daemon.admin)
        assert daemon.wait() == 0
    finally:
        env.close()


async def _aio_shutdown(daemon):
    async with sbx.aio.Environment(daemon.requests) as env:
        with pytest.raises(sbx.Unauthorized):
            await env.shutdown()
        await env.shutdown(admin=daemon.admin)


def test_aio_shutdown_on_the_admin_endpoint(start_daemon):
    daemon = start_daemon(TESTING)
    asyncio.run(_aio_shutdown(daemon))
    assert daemon.wait() == 0


def test_error_from_wire():
    error = sbx.error_from({"type": "SessionTeardownError", "message": "m", "sandbox": "e/0:0",
                            "errors": {"a": {"type": "SandboxStateError", "message": "x"},
                                       "b": {"type": "OSError", "message": "y"}}})
    assert isinstance(error, sbx.SessionTeardownError)
    assert isinstance(error.errors["a"], sbx.SandboxStateError)
    assert isinstance(error.errors["b"], OSError) and error.errors["b"].sandbox == "e/0:0"
    assert sbx.error_class("Weird Type").type == "Weird Type"
    assert not issubclass(sbx.error_class("StopIteration"), StopIteration)
    assert issubclass(sbx.error_class("Timeout"), TimeoutError)
