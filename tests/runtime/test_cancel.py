"""Cancellation: pending work dropped, running work interrupted, force kills the worker."""
from __future__ import annotations

import asyncio
import os
import time

import pytest

import streamz_core.runtime as rt
from streamz_core.runtime.exceptions import TaskCancelledError


@rt.remote
def sleeper(path=None, t=60):
    if path:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
    time.sleep(t)
    return "finished"


@rt.remote
def quick(x):
    return x


def test_cancel_running_task_interrupts_it(runtime, tmp_path, wait_for):
    marker = tmp_path / "running"
    ref = sleeper.remote(str(marker))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text()))
    t0 = time.monotonic()
    rt.cancel(ref)
    with pytest.raises(TaskCancelledError, match="cancelled"):
        rt.get(ref, timeout=10)
    assert time.monotonic() - t0 < 5
    # the worker survived and still works
    assert rt.get([quick.remote(i) for i in range(10)]) == list(range(10))
    os.kill(pid, 0)


def test_cancel_pending_task_is_dropped(runtime, tmp_path, wait_for):
    blockers = [sleeper.remote(str(tmp_path / f"b{i}"), 0.3) for i in range(2)]
    pending = sleeper.remote(str(tmp_path / "never"), 0)
    rt.cancel(pending)
    with pytest.raises(TaskCancelledError):
        rt.get(pending, timeout=10)
    assert rt.get(blockers) == ["finished", "finished"]
    assert not (tmp_path / "never").exists()


def test_cancel_waiting_on_dependency(runtime):
    dep = sleeper.remote(None, 0.2)
    child = quick.remote(dep)
    rt.cancel(child)
    with pytest.raises(TaskCancelledError):
        rt.get(child, timeout=10)
    assert rt.get(dep) == "finished"


@pytest.mark.slow
def test_force_cancel_kills_the_worker(runtime, tmp_path, wait_for, pid_alive):
    marker = tmp_path / "running"
    ref = sleeper.remote(str(marker))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text()))
    rt.cancel(ref, force=True)
    with pytest.raises(TaskCancelledError, match="force=True"):
        rt.get(ref, timeout=10)
    wait_for(lambda: not pid_alive(pid))
    assert rt.get([quick.remote(i) for i in range(10)], timeout=10) == list(range(10))


def test_cancel_async_actor_call(runtime):
    @rt.remote
    class A:
        async def hang(self):
            await asyncio.sleep(60)

        async def ok(self):
            return "ok"
    a = A.remote()
    ref = a.hang.remote()
    assert rt.get(a.ok.remote()) == "ok"
    rt.cancel(ref)
    with pytest.raises(TaskCancelledError):
        rt.get(ref, timeout=10)
    assert rt.get(a.ok.remote()) == "ok"


def test_cancel_sync_actor_queued_call_and_flag(runtime, tmp_path, wait_for):
    @rt.remote
    class S:
        def loop_until_cancelled(self, path):
            with open(path, "w") as f:
                f.write("x")
            ctx = rt.runtime_context()
            deadline = time.monotonic() + 30
            while not ctx.is_canceled() and time.monotonic() < deadline:
                time.sleep(0.005)
            return "saw cancel" if ctx.is_canceled() else "timeout"

        def ok(self):
            return "ok"
    s = S.remote()
    marker = tmp_path / "m"
    running = s.loop_until_cancelled.remote(str(marker))
    queued = s.ok.remote()
    wait_for(marker.exists)
    rt.cancel(queued)
    rt.cancel(running)
    with pytest.raises(TaskCancelledError):
        rt.get(queued, timeout=10)
    assert rt.get(running, timeout=10) == "saw cancel"
    assert rt.get(s.ok.remote()) == "ok"


def test_cancel_is_recursive_by_default(runtime, tmp_path, wait_for):
    started = tmp_path / "child-started"
    outcome = tmp_path / "child-outcome"

    @rt.remote
    def child(started, outcome):
        with open(started, "w") as f:
            f.write("x")
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            with open(outcome, "w") as f:
                f.write("interrupted")
            raise

    @rt.remote
    def parent(started, outcome):
        return rt.get(child.remote(started, outcome))

    ref = parent.remote(str(started), str(outcome))
    wait_for(started.exists)
    rt.cancel(ref)
    with pytest.raises(TaskCancelledError):
        rt.get(ref, timeout=10)
    assert wait_for(lambda: outcome.exists() and outcome.read_text()) == "interrupted"
