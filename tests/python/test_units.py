"""The parts of the client that need no daemon."""
import msgpack
import pytest

import sbx
from sbx._core import REPLAY_MAX, SINCE_NOW, Sequencer, events_endpoint, named, split_name


def _frames(seq, name="session.start"):
    return [name.encode(), msgpack.packb({"seq": seq, "event": name})]


def _event(seq, name="session.start"):
    return {"seq": seq, "event": name}


def test_events_endpoint():
    requests = "tcp://10.1.2.3:5555"
    assert events_endpoint("tcp://*:5556", requests) == "tcp://10.1.2.3:5556"
    assert events_endpoint("tcp://0.0.0.0:6000", requests) == "tcp://10.1.2.3:6000"
    assert events_endpoint("tcp://[::]:6000", "tcp://[::1]:5555") == "tcp://[::1]:6000"
    assert events_endpoint("tcp://127.0.0.1:7000", requests) == "tcp://127.0.0.1:7000"
    assert events_endpoint("ipc:///run/sbx/events", requests) == "ipc:///run/sbx/events"
    assert events_endpoint(None, requests) == "tcp://10.1.2.3:5556"


def test_names_and_positional_arguments():
    assert split_name("shell.run") == ("shell", "run")
    assert split_name("shell") == (None, "shell")
    assert named("fs.write", ("path", "data"), ("a", b"b"), {"append": True}) == \
        {"path": "a", "data": b"b", "append": True}
    with pytest.raises(TypeError, match="at most 1 positional argument .cmd."):
        named("shell.run", ("cmd",), ("a", "b"), {})


def test_result_attributes():
    r = sbx.Result({"stdout": "x", "exit_code": 0})
    assert (r.stdout, r.exit_code, r["stdout"]) == ("x", 0, "x")
    with pytest.raises(AttributeError, match="keys: stdout, exit_code"):
        r.stderr


def test_sequencer_history_then_live_then_gap():
    seq = Sequencer(0, None)
    assert seq.wants_replay and seq.replay_keys() == {"since": 0, "max": REPLAY_MAX}
    seq.replayed({"events": [_event(1), _event(2)], "next": 2}, checking=False)
    assert not seq.wants_replay
    seq.live(_frames(2))                  # already had it
    seq.live(_frames(3))
    assert [seq.pop()["seq"] for _ in range(3)] == [1, 2, 3] and seq.pop() is None
    seq.live(_frames(5))                  # 4 is missing: replay from 3
    assert seq.wants_replay and seq.gap_replays == 1 and seq.replay_keys()["since"] == 3
    seq.replayed({"events": [_event(4), _event(5)], "next": 5}, checking=False)
    assert [seq.pop()["seq"] for _ in range(2)] == [4, 5] and seq.last == 5


def test_sequencer_truncated_journal_and_restart():
    seq = Sequencer(10, None)
    seq.replayed({"events": [_event(15)], "next": 15, "truncated": True}, checking=False)
    assert seq.lost == 4 and seq.pop()["seq"] == 15
    # A daemon that restarted counts from 1 again: follow it.
    seq.replayed({"events": [], "next": 0}, checking=True)
    assert seq.last == seq.tail == 0 and seq.wants_replay


def test_sequencer_from_now_prefixes_and_drops():
    seq = Sequencer(None, ("session.", "sandbox.status"))
    assert seq.replay_keys() == {"since": SINCE_NOW, "max": 1}
    seq.live(_frames(41))                 # before "now" is known: ignored
    seq.replayed({"events": [], "next": 41}, checking=False)
    assert seq.last == 41 and not seq.wants_replay
    seq.drop = 1
    seq.live(_frames(42, "feature.setup"))
    assert seq.dropped == [42] and not seq.wants_replay
    seq.live(_frames(43, "sandbox.status"))        # after the hole: replay from 41
    assert seq.wants_replay and seq.replay_keys()["since"] == 41
    seq.replayed({"events": [_event(42, "feature.setup"), _event(43, "sandbox.status")],
                  "next": 43}, checking=False)
    assert seq.pop()["event"] == "sandbox.status" and seq.last == 43


def test_page_after_page():
    seq = Sequencer(0, None)
    seq.replayed({"events": [_event(i) for i in range(1, REPLAY_MAX + 1)], "next": REPLAY_MAX},
                 checking=False)
    assert seq.wants_replay and seq.replay_keys()["since"] == REPLAY_MAX
