"""One Environment shared by threads: each thread's requests go on its own
socket, and replies are matched by id."""
import threading

from conftest import PROCESS

THREADS = 16
CALLS = 5


def _run_threads(target, count):
    errors = []
    barrier = threading.Barrier(count)

    def guarded(i):
        try:
            barrier.wait(30)
            target(i)
        except BaseException as error:      # reported below, with its thread
            errors.append((i, error))

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert errors == []


def test_sixteen_threads_with_their_own_sessions(start_daemon):
    daemon = start_daemon(PROCESS, pool=(1, THREADS))
    env = daemon.environment()
    held = {}

    def work(i):
        with env.sandbox(session_id="thread-%d" % i) as sb:
            for j in range(CALLS):
                r = sb.shell.run("echo %d-%d" % (i, j))
                assert (r.stdout, r.exit_code) == ("%d-%d\n" % (i, j), 0)
            assert sb.fs.write("mine.txt", str(i)) == len(str(i))
            assert sb.fs.read("mine.txt") == str(i).encode()
            assert sb.fs.list("") == [{"name": "mine.txt", "type": "file", "size": len(str(i))}]
            held[i] = (sb.id, sb.session_id)

    try:
        _run_threads(work, THREADS)
        assert sorted(session for _, session in held.values()) == sorted("thread-%d" % i for i in range(THREADS))
        counters = env.stats()["counters"]
        assert counters["sessions_started"] == counters["sessions_ended"] == THREADS
        assert counters["calls_failed"] == 0
    finally:
        env.close()


def test_threads_sharing_one_session(testing_env):
    with testing_env.sandbox() as sb:
        def work(i):
            for j in range(20):
                assert sb.shell(code="%d/%d" % (i, j)) == 'shell "%d/%d" succeeded' % (i, j)
        _run_threads(work, 8)
        assert sb.f.num_shell_calls() >= 8 * 20
