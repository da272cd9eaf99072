"""Worker faults: killed while starting, garbage in a pipe, a worker that cannot start.

Real worker processes, real SIGKILLs on their pids, real bytes written into their pipes
(through ``/proc/<pid>/fd``, as any other process of the same user could).
"""
from __future__ import annotations

import logging
import os
import re
import signal
import stat
import sys
import time

import pytest

import streamz_core.runtime as rt
from streamz_core.runtime import _context
from streamz_core.runtime.exceptions import ActorDiedError, WorkerCrashedError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="writes into pipes through /proc/<pid>/fd")

GARBAGE = b"garbage from another process\n" * 4


@pytest.fixture
def one_worker(wait_for):
    """A fresh runtime with one task worker (faults here must not leak into other tests)."""
    rt.shutdown()
    rt.init(num_workers=1)
    core = _context.current()
    wait_for(lambda: core.workers and all(w.ready for w in core.workers))
    yield core
    rt.shutdown()


@rt.remote
def add_one(x):
    return x + 1


@rt.remote
def wait_for_file(marker, release):
    """Say which process runs it, then wait until ``release`` exists."""
    with open(marker, "a") as f:
        f.write(f"{os.getpid()}\n")
    while not os.path.exists(release):
        time.sleep(0.002)
    return os.getpid()


def _kill_next_starting(wait_for, core, seen, timeout=10.0):
    """SIGKILL the next worker process caught between its start and its handshake."""
    def starting():
        for p in list(core.workers) + [a.proc for a in list(core.actors.values()) if a.proc]:
            if p.popen is not None and not p.ready and p.pid not in seen:
                return p
        return None
    proc = wait_for(starting, timeout=timeout, period=0.0005)
    seen.add(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    return proc.pid


def _pipe_fds(pid):
    """The worker's ends of its two pipes: (read end from the driver, write end to it)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    r, w = next(a for a in argv if re.fullmatch(rb"\d+,\d+", a)).split(b",")  # "r,w"
    return int(r), int(w)


def _write_into(pid, fd, data):
    # opening /proc/<pid>/fd/<n> of a pipe gives this process its own end of that pipe
    with open(f"/proc/{pid}/fd/{fd}", "wb", buffering=0) as f:
        f.write(data)


# -- killed while starting -------------------------------------------------------------

@pytest.mark.slow
def test_task_workers_killed_while_starting_are_replaced_and_tasks_run(
        one_worker, wait_for, pid_alive):
    core = one_worker
    os.kill(core.workers[0].pid, signal.SIGKILL)  # the replacement starts now ...
    seen = set()
    killed = [_kill_next_starting(wait_for, core, seen) for _ in range(6)]  # ... more than 5 times
    refs = [add_one.options(max_retries=0).remote(i) for i in range(8)]
    assert rt.get(refs, timeout=20) == list(range(1, 9))  # max_retries=0: nothing retried
    assert core.pool.spawn_failures == 0
    wait_for(lambda: len(core.workers) == 1 and core.workers[0].ready)
    assert core.workers[0].pid not in killed
    assert not any(pid_alive(p) for p in killed)


@pytest.mark.slow
def test_queued_tasks_survive_workers_killed_while_starting(one_worker, wait_for):
    core = one_worker
    os.kill(core.workers[0].pid, signal.SIGKILL)
    seen = set()
    _kill_next_starting(wait_for, core, seen)
    refs = [add_one.remote(i) for i in range(4)]  # queued while no worker is up
    for _ in range(5):
        _kill_next_starting(wait_for, core, seen)
    assert rt.get(refs, timeout=20) == [1, 2, 3, 4]


@pytest.mark.slow
def test_unlimited_actor_killed_while_restarting_keeps_restarting(one_worker, wait_for, pid_alive):
    core = one_worker

    @rt.remote(max_restarts=-1)
    class Pid:
        def pid(self):
            return os.getpid()

    a = Pid.remote()
    first = rt.get(a.pid.remote(), timeout=10)
    os.kill(first, signal.SIGKILL)  # a crash: it restarts ...
    seen = {first}
    for _ in range(6):  # ... and is killed again while it starts, each time
        _kill_next_starting(wait_for, core, seen)
    pid = wait_for(lambda: _pid_or_none(a), timeout=20)
    assert pid not in seen and pid_alive(pid)


def _pid_or_none(actor):
    try:
        return rt.get(actor.pid.remote(), timeout=10)
    except ActorDiedError as exc:  # a call sent just before a kill is not retried
        assert "being restarted" in str(exc), exc
        return None


@pytest.mark.slow
def test_limited_actor_killed_while_starting_uses_up_restarts_not_start_error(one_worker, wait_for):
    core = one_worker

    @rt.remote(max_restarts=1)
    class Pid:
        def pid(self):
            return os.getpid()

    seen = set()
    a = Pid.remote()
    _kill_next_starting(wait_for, core, seen)  # first start: killed, restart 1 of 1
    _kill_next_starting(wait_for, core, seen)  # the restart: killed, no restart left
    with pytest.raises(ActorDiedError) as info:
        rt.get(a.pid.remote(), timeout=20)
    msg = str(info.value)
    assert "exit code -9" in msg and "max_restarts=1" in msg
    assert "could not start" not in msg


# -- a worker that really cannot start ---------------------------------------------------

@pytest.fixture
def broken_python(tmp_path, monkeypatch):
    """Workers run by an interpreter that fails at once (as a broken install would)."""
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho 'broken interpreter: cannot import site' >&2\n"
                      "exit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    rt.shutdown()
    monkeypatch.setattr(sys, "executable", str(script))
    yield str(script)
    rt.shutdown()


@pytest.mark.slow
def test_a_worker_that_cannot_start_is_reported(broken_python):
    rt.init(num_workers=1)
    with pytest.raises(WorkerCrashedError) as info:
        rt.get(add_one.remote(1), timeout=30)
    msg = str(info.value)
    assert "fail to start" in msg and broken_python in msg
    assert "exited with status 1 before its handshake" in msg


@pytest.mark.slow
def test_a_missing_interpreter_is_reported(tmp_path, monkeypatch):
    rt.shutdown()
    missing = str(tmp_path / "no-such-python")
    monkeypatch.setattr(sys, "executable", missing)
    try:
        rt.init(num_workers=1)
        with pytest.raises(WorkerCrashedError, match="could not be run: FileNotFoundError"):
            rt.get(add_one.remote(1), timeout=30)
    finally:
        rt.shutdown()


# -- garbage in a pipe -------------------------------------------------------------------

def _start_waiting_task(wait_for, tmp_path, retries):
    marker, release = tmp_path / "running", tmp_path / "release"
    ref = wait_for_file.options(max_retries=retries).remote(str(marker), str(release))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().split())[0])
    return ref, pid, release


@pytest.mark.slow
def test_garbage_into_a_workers_pipe_replaces_it_and_retries_its_task(
        one_worker, tmp_path, wait_for, pid_alive):
    ref, pid, release = _start_waiting_task(wait_for, tmp_path, retries=1)
    read_fd, _ = _pipe_fds(pid)
    _write_into(pid, read_fd, GARBAGE)
    wait_for(lambda: not pid_alive(pid))  # it noticed and left, instead of hanging
    release.touch()
    new_pid = rt.get(ref, timeout=20)  # retried on the replacement
    assert new_pid != pid
    assert rt.get(add_one.remote(1), timeout=10) == 2
    assert len(one_worker.workers) == 1


@pytest.mark.slow
def test_garbage_into_a_workers_pipe_without_retries_says_why(one_worker, tmp_path, wait_for):
    ref, pid, _release = _start_waiting_task(wait_for, tmp_path, retries=0)
    read_fd, _ = _pipe_fds(pid)
    _write_into(pid, read_fd, GARBAGE)
    with pytest.raises(WorkerCrashedError, match="not runtime messages"):
        rt.get(ref, timeout=20)
    assert rt.get(add_one.remote(1), timeout=10) == 2


@pytest.mark.slow
def test_garbage_from_a_worker_to_the_driver_replaces_it(
        one_worker, tmp_path, caplog, wait_for, pid_alive):
    ref, pid, release = _start_waiting_task(wait_for, tmp_path, retries=1)
    _, write_fd = _pipe_fds(pid)
    with caplog.at_level(logging.ERROR, logger="streamz_core.runtime"):
        _write_into(pid, write_fd, GARBAGE)
        wait_for(lambda: not pid_alive(pid))  # the driver killed it
    assert any("not runtime messages" in r.getMessage() and str(pid) in r.getMessage()
               for r in caplog.records)
    release.touch()
    assert rt.get(ref, timeout=20) != pid
    assert one_worker._thread.is_alive()  # the driver's IO thread survived
    assert rt.get([add_one.remote(i) for i in range(4)], timeout=10) == [1, 2, 3, 4]


@pytest.mark.slow
def test_garbage_into_an_actors_pipe_restarts_it(one_worker, wait_for, pid_alive):
    @rt.remote(max_restarts=1)
    class Counter:
        def __init__(self):
            self.n = 0

        def incr(self):
            self.n += 1
            return os.getpid(), self.n

    c = Counter.remote()
    pid, n = rt.get(c.incr.remote(), timeout=10)
    assert n == 1
    read_fd, _ = _pipe_fds(pid)
    _write_into(pid, read_fd, GARBAGE)
    wait_for(lambda: not pid_alive(pid))
    new_pid, n = wait_for(lambda: _incr_or_none(c), timeout=20)
    assert new_pid != pid and n == 1  # restarted: __init__ ran again


def _incr_or_none(actor):
    try:
        return rt.get(actor.incr.remote(), timeout=10)
    except ActorDiedError as exc:
        assert "being restarted" in str(exc), exc
        return None
