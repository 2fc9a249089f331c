"""Fixtures of the Python client's tests: real sbxd daemons from the build
directory (env var SBX_BUILD_DIR, default ../../build from here) on free
loopback ports, each with a fresh temporary root_dir, torn down after; a
daemon dies with the test process, and its log is checked for `bug:` lines.

Every environment id is unique to this run, and the tests compare it with
what `hello` answers, so a port that another daemon took over after ours
exited is never mistaken for ours."""
import ctypes
import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, HERE)

import sbx  # noqa: E402
from sbx._heartbeat import CHANGED  # noqa: E402

_prctl = ctypes.CDLL(None, use_errno=True).prctl
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the daemon's process before exec: SIGKILL when the tests die."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


BUILD = os.path.abspath(os.environ.get("SBX_BUILD_DIR") or os.path.join(HERE, "..", "..", "build"))
START_TIMEOUT = 20.0
_ids = itertools.count()

#  The testing kinds (SPEC §5): a sandbox with a `shell` service, a feature f.
TESTING = {"sandbox": {"kind": "testing"}, "features": {"f": {"kind": "testing"}}}
#  Real sandboxes with the shell and fs features, as sbxd's default has.
PROCESS = {"sandbox": {"kind": "process", "users": None},
           "features": {"shell": {"kind": "shell"}, "fs": {"kind": "fs"}}}


class Daemon:
    """One sbxd process. `requests` and `events` are its endpoints,
    `admin` its admin endpoint, `env_id` its environment id. `security` is
    the config's security section (docs/security.md), if any."""

    def __init__(self, kinds, workdir, pool=(1, 2), environment=None, features=None, security=None):
        self.env_id = "py%d-%d" % (os.getpid(), next(_ids))
        self.workdir = tempfile.mkdtemp(prefix=self.env_id + "-", dir=workdir)
        config = json.loads(json.dumps(kinds))
        if features:
            for name, options in features.items():
                config["features"][name].update(options)
        config["environment"] = dict({
            "id": self.env_id, "pool": {"min": pool[0], "max": pool[1]},
            "keepalive_interval_s": None, "stats_report_interval_s": None,
            "outage_grace_period_s": 0, "outage_retry_interval_s": 0,
            "root_dir": os.path.join(self.workdir, "root"),
        }, **(environment or {}))
        config["endpoints"] = {"requests": "tcp://127.0.0.1:*", "events": "tcp://127.0.0.1:*",
                               "metrics": "http://127.0.0.1:0/metrics"}
        if security is not None:
            config["security"] = security
        self.admin = "ipc://%s/%s.admin" % (config["environment"]["root_dir"], self.env_id)
        self.config = config
        path = os.path.join(self.workdir, "config.json")
        with open(path, "w") as out:
            json.dump(config, out)
        self.log = os.path.join(self.workdir, "sbxd.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([os.path.join(BUILD, "sbxd"), "-q", "-c", path],
                                         stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        try:
            self.requests, self.events = self._listening()
        except BaseException:
            self.stop()
            raise

    def _listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        buffer = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if ready else b""
            if ready and not chunk:
                break
            buffer += chunk
            match = re.search(rb"sbxd: environment '([^']*)' listening: requests=(\S+) events=(\S+)[ \n]",
                              buffer)
            if match:
                assert match.group(1).decode() == self.env_id
                return match.group(2).decode(), match.group(3).decode()
        raise RuntimeError("sbxd did not say where it listens: %r" % buffer)

    def environment(self, **options):
        """An sbx.Environment on this daemon, its `hello` checked."""
        env = sbx.Environment(self.requests, **options)
        assert env.hello()["environment"] == self.env_id
        return env

    def signal(self, signum):
        self.proc.send_signal(signum)

    def pause(self):
        """SIGSTOP, and wait until every thread of it has stopped."""
        self.proc.send_signal(signal.SIGSTOP)
        _, status = os.waitpid(self.proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def wait(self, timeout=30.0):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        """SIGTERM (a graceful shutdown), SIGKILL if that takes too long.
        Prints the daemon's log (pytest shows it with a failure) and fails
        on a line that reports a broken invariant (`bug:`)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        if self.proc.returncode != 0:
            # What a killed daemon left outside its directory (cgroups)
            # goes as it would at the next start.
            subprocess.run([os.path.join(BUILD, "sbxd"), "--clean", "-q", "-c",
                            os.path.join(self.workdir, "config.json")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        with open(self.log, errors="replace") as log:
            lines = log.read().splitlines()
        shutil.rmtree(self.workdir, ignore_errors=True)
        for line in lines:
            print("sbxd %s: %s" % (self.env_id, line))
        bugs = [line for line in lines if "bug:" in line]
        assert not bugs, "sbxd %s reported broken invariants: %s" % (self.env_id, bugs)


@pytest.fixture(scope="session")
def workdir():
    path = tempfile.mkdtemp(prefix="sbx-python-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_daemon(workdir):
    """start_daemon(kinds, pool=(min, max), environment={...}, features={name: {...}})."""
    daemons = []

    def start(kinds=TESTING, **options):
        daemon = Daemon(kinds, workdir, **options)
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


@pytest.fixture(scope="module")
def testing_daemon(workdir):
    daemon = Daemon(TESTING, workdir, pool=(1, 2))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def process_daemon(workdir):
    daemon = Daemon(PROCESS, workdir, pool=(1, 16))
    yield daemon
    daemon.stop()


@pytest.fixture
def testing_env(testing_daemon):
    env = testing_daemon.environment()
    yield env
    env.close()


@pytest.fixture
def process_env(process_daemon):
    env = process_daemon.environment()
    yield env
    env.close()


def wait_until(condition, timeout=10.0, what="condition"):
    """Waits until `condition` - on a session's ``renewals`` or ``lost``,
    which the heartbeat thread changes and announces - is true, within
    `timeout`."""
    with CHANGED:
        if not CHANGED.wait_for(condition, timeout):
            raise AssertionError("timed out waiting for " + what)


def next_event(events, predicate, what="event"):
    """The first event of `events` for which `predicate` is true (the
    iterator's own timeout bounds the wait)."""
    for event in events:
        if predicate(event):
            return event
    raise AssertionError("no %s before the events' timeout" % what)
