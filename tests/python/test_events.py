"""env.events(): SUB plus events.replay, in seq order with no gaps."""
import itertools

import pytest
import zmq

import sbx
from conftest import next_event
from stub import Stub


def _session_end(session):
    return lambda e: e["event"] == "session.end" and e.get("session") == session


def _until(events, predicate, what):
    """The events up to and including the first that matches."""
    got = []
    for event in events:
        got.append(event)
        if predicate(event):
            return got
    raise AssertionError("no %s before the events' timeout" % what)


def _consecutive(events, first):
    return [e["seq"] for e in events] == list(range(first, first + len(events)))


def _subscribed(env, events):
    """Makes events until the subscription delivers live ones: from then on
    every event is published to it (the subscription reaches the daemon
    asynchronously; what came before is in the journal)."""
    for i in itertools.count():
        session = "warm-%d" % i
        env.call("shell", code="warm up", session_id=session)
        next_event(events, _session_end(session), "the warm-up session's end")
        if events.received:
            return
        assert i < 100, "the subscription never delivered an event"


def test_late_join_gets_the_whole_journal(testing_env, testing_daemon):
    testing_env.call("shell", code="x", session_id="late")
    events = testing_env.events(since=0, timeout=10)
    got = _until(events, _session_end("late"), "the session's end")
    assert _consecutive(got, 1)
    assert got[0]["environment"] == testing_daemon.env_id
    assert "environment.start" in [e["event"] for e in got]
    assert events.lost == 0 and events.endpoint == testing_daemon.events
    events.close()


def test_a_forced_gap_is_filled_from_the_journal(testing_env):
    with testing_env.events(timeout=10) as events:
        _subscribed(testing_env, events)
        start = events.last_seq + 1
        events.drop(3)
        testing_env.call("shell", code="x", session_id="gap")
        got = _until(events, _session_end("gap"), "the session's end")
        assert len(events.dropped) == 3 and all(isinstance(seq, int) for seq in events.dropped)
        assert _consecutive(got, start)     # the dropped ones too, in place
        assert set(events.dropped) <= {e["seq"] for e in got}
        assert events.lost == 0
        names = [e["event"] for e in got if e.get("session") == "gap"]
        assert names[0] == "session.start" and names[-1] == "session.end"
        assert "session.activity" in names


def test_from_now_and_prefixes(testing_env):
    events = testing_env.events(prefix=("session.start", "session.end"), timeout=10)
    now = events.last_seq
    assert now > 0
    testing_env.call("shell", code="x", session_id="mine")
    got = _until(events, _session_end("mine"), "the session's end")
    assert [e["event"] for e in got] == ["session.start", "session.end"]
    assert all(e["session"] == "mine" for e in got) and got[0]["seq"] > now
    assert events.last_seq == got[-1]["seq"]
    # The iterator ends after `timeout` without an event.
    events.timeout = 0.2
    assert list(events) == []
    events.close()


def test_wildcard_events_endpoint_uses_the_request_host():
    stub = Stub(zmq.Context.instance())
    try:
        env = sbx.Environment(stub.requests, timeout=10)
        assert env.catalog.events_endpoint.startswith("tcp://*:")
        with env.sandbox():
            pass
        with env.events(since=0, timeout=10) as events:
            assert events.endpoint == "tcp://127.0.0.1:" + stub.events.rsplit(":", 1)[1]
            assert next(events)["event"] == "session.start"
        env.close()
    finally:
        stub.close()


def test_an_endpoint_taken_over_by_another_environment():
    """A daemon's port is soon reused once it is gone: an endpoint that
    answers for another environment than before is not this daemon."""
    stub = Stub(zmq.Context.instance())
    env = sbx.Environment(stub.requests, timeout=10)
    try:
        assert env.hello()["environment"] == "stub-env"
        stub.env_id = "someone-else"
        with pytest.raises(sbx.DaemonUnavailable, match="now serves environment 'someone-else', not 'stub-env'"):
            env.hello()
        assert env.catalog.environment == "stub-env"
    finally:
        env.close()
        stub.close()
