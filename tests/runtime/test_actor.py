"""Actors: sync, threaded, async, concurrency groups, names, kill, restarts, exit."""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import warnings

import pytest

import streamz_core.runtime as rt
from streamz_core.runtime.exceptions import ActorDiedError


@rt.remote
class Counter:
    def __init__(self, start=0):
        self.n = start

    def incr(self, by=1):
        self.n += by
        return self.n

    def pid(self):
        return os.getpid()

    def fail(self):
        raise ValueError("bad state")

    def stop(self):
        rt.exit_actor()


@rt.remote
class AsyncActor:
    def __init__(self):
        self.active = 0
        self.peak = 0

    async def run(self, t):
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(t)
        self.active -= 1
        return t

    def get_peak(self):
        return self.peak

    async def blocking_get(self, refs):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            value = rt.get(refs[0])
        return value, [str(x.message) for x in w]

    async def awaiting(self, refs):
        return await refs[0]


def test_sync_actor_runs_calls_in_submission_order(runtime):
    c = Counter.remote(10)
    assert rt.get([c.incr.remote() for _ in range(500)]) == list(range(11, 511))


def test_actor_process_is_separate_and_errors_keep_class(runtime):
    c = Counter.remote()
    assert rt.get(c.pid.remote()) != os.getpid()
    with pytest.raises(ValueError, match="bad state"):
        rt.get(c.fail.remote())
    assert rt.get(c.incr.remote()) == 1


def test_unknown_method_is_explained(runtime):
    c = Counter.remote()
    with pytest.raises(AttributeError, match=r"has no method 'inc'.*incr"):
        _ = c.inc


def test_async_actor_1000_concurrent_calls(runtime):
    a = AsyncActor.remote()
    rt.get(a.run.remote(0))
    t0 = time.perf_counter()
    out = rt.get([a.run.remote(0.1) for _ in range(1000)])
    elapsed = time.perf_counter() - t0
    assert out == [0.1] * 1000
    assert rt.get(a.get_peak.remote()) == 1000
    assert elapsed < 1.0


def test_async_actor_max_concurrency_bounds_calls(runtime):
    a = AsyncActor.options(max_concurrency=3).remote()
    rt.get([a.run.remote(0.01) for _ in range(12)])
    assert rt.get(a.get_peak.remote()) == 3


def test_threaded_actor_uses_distinct_threads(runtime):
    @rt.remote
    class Threaded:
        def __init__(self):
            self.barrier = threading.Barrier(2, timeout=5)

        def task(self):
            self.barrier.wait()
            return threading.get_ident()
    t = Threaded.options(max_concurrency=2).remote()
    idents = rt.get([t.task.remote(), t.task.remote()])
    assert len(set(idents)) == 2


def test_concurrency_groups_do_not_block_each_other(runtime):
    @rt.remote(concurrency_groups={"io": 2, "compute": 1})
    class Service:
        def __init__(self):
            self.event = threading.Event()

        @rt.method(concurrency_group="compute")
        def wait_event(self):
            return self.event.wait(10)

        @rt.method(concurrency_group="io")
        def release(self):
            self.event.set()
            return "released"
    s = Service.remote()
    blocked = s.wait_event.remote()
    assert rt.get(s.release.remote(), timeout=10) == "released"
    assert rt.get(blocked, timeout=10) is True


def test_async_concurrency_groups(runtime):
    @rt.remote(concurrency_groups={"io": 1})
    class Svc:
        async def hang(self):
            await asyncio.sleep(10)

        @rt.method(concurrency_group="io")
        async def ping(self):
            return "pong"

        async def slow_default(self):
            await asyncio.sleep(0.01)
            return "default"
    s = Svc.options(max_concurrency=1).remote()
    hang = s.hang.remote()
    assert rt.get(s.ping.remote(), timeout=5) == "pong"
    rt.cancel(hang)


def test_bad_concurrency_group_is_explained():
    with pytest.raises(ValueError, match="concurrency_group='nope' is not declared"):
        @rt.remote
        class Bad:
            @rt.method(concurrency_group="nope")
            def f(self):
                pass


def test_named_actor_and_get_actor(runtime):
    c = Counter.options(name="counter-x").remote(5)
    h = rt.get_actor("counter-x")
    assert rt.get(h.incr.remote()) == 6
    with pytest.raises(ValueError, match="already exists"):
        Counter.options(name="counter-x").remote()
    rt.kill(c)
    with pytest.raises(ActorDiedError):
        rt.get(h.incr.remote())
    with pytest.raises(ValueError, match="no live actor"):
        rt.get_actor("counter-x")


def test_handles_passed_to_tasks_and_actors(runtime):
    c = Counter.remote()

    @rt.remote
    def bump(handle, n):
        return rt.get([handle.incr.remote() for _ in range(n)])[-1]

    @rt.remote
    class Caller:
        def __init__(self, handle):
            self.h = handle

        def call(self):
            return rt.get(self.h.incr.remote(100))
    assert rt.get(bump.remote(c, 3)) == 3
    assert rt.get(Caller.remote(c).call.remote()) == 103


def test_kill_actor(runtime):
    c = Counter.remote()
    rt.get(c.pid.remote())
    rt.kill(c)
    with pytest.raises(ActorDiedError, match="killed"):
        rt.get(c.incr.remote(), timeout=10)


@pytest.mark.slow
def test_actor_restarts_then_dies_past_max_restarts(runtime, wait_for):
    c = Counter.options(max_restarts=1).remote(0)
    pid1 = rt.get(c.pid.remote())
    assert rt.get(c.incr.remote()) == 1
    os.kill(pid1, signal.SIGKILL)

    def new_pid():
        try:
            return rt.get(c.pid.remote(), timeout=10)
        except ActorDiedError as exc:  # sent before the driver saw the death
            assert "being restarted" in str(exc)
    pid2 = wait_for(new_pid)
    assert pid2 != pid1
    assert rt.get(c.incr.remote()) == 1  # state was rebuilt by __init__
    os.kill(pid2, signal.SIGKILL)
    with pytest.raises(ActorDiedError, match="max_restarts"):
        rt.get(c.incr.remote(), timeout=10)


@pytest.mark.slow
def test_max_task_retries_replays_inflight_call(runtime, tmp_path, wait_for):
    @rt.remote(max_restarts=1, max_task_retries=1)
    class Slow:
        def work(self, path):
            first = not os.path.exists(path)
            with open(path, "a") as f:
                f.write(f"{os.getpid()}\n")
            if first:
                time.sleep(60)
            return "ok"
    s = Slow.remote()
    marker = tmp_path / "m"
    ref = s.work.remote(str(marker))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().split()[:1])[0])
    os.kill(pid, signal.SIGKILL)
    assert rt.get(ref, timeout=20) == "ok"


def test_exit_actor(runtime):
    c = Counter.remote()
    assert rt.get(c.incr.remote()) == 1
    with pytest.raises(ActorDiedError, match="exit_actor"):
        rt.get(c.stop.remote(), timeout=10)
    with pytest.raises(ActorDiedError, match="exit_actor"):
        rt.get(c.incr.remote(), timeout=10)


def test_exit_actor_outside_actor_is_explained():
    with pytest.raises(RuntimeError, match="outside an actor"):
        rt.exit_actor()


def test_init_error_kills_actor_with_cause(runtime):
    @rt.remote
    class Broken:
        def __init__(self):
            raise OSError("no config")

        def f(self):
            return 1
    b = Broken.remote()
    with pytest.raises(ActorDiedError, match="no config"):
        rt.get(b.f.remote(), timeout=10)


def test_blocking_get_in_async_actor_works_and_warns(runtime):
    a = AsyncActor.remote()
    assert rt.get(a.awaiting.remote([rt.put([1])])) == [1]
    value, warned = rt.get(a.blocking_get.remote([rt.put(2)]))
    assert value == 2
    assert len(warned) == 1 and "stalls the actor's event loop" in warned[0]
    assert "await ref" in warned[0]


def test_actor_methods_receive_ref_values(runtime):
    c = Counter.remote()
    assert rt.get(c.incr.remote(rt.put(5))) == 5


def test_seed_async_actor_max_concurrency_example(runtime):
    # ray-async-actors.rst: 50 tasks, max_concurrency=10 -> 5 waves (sleep scaled down)
    @rt.remote
    class AsyncActor3:
        async def run_task(self):
            await asyncio.sleep(0.05)

    actor = AsyncActor3.options(max_concurrency=10).remote()
    rt.get(actor.run_task.remote())
    t0 = time.perf_counter()
    rt.get([actor.run_task.remote() for _ in range(50)])
    assert 0.25 <= time.perf_counter() - t0 < 2.0


def test_seed_async_actor_examples(runtime, capfd):
    @rt.remote
    class AsyncActor2:
        async def run_concurrent(self):
            print("started")
            await asyncio.sleep(0.05)
            print("finished")

    actor = AsyncActor2.remote()
    rt.get([actor.run_concurrent.remote() for _ in range(4)])

    async def main():
        await actor.run_concurrent.remote()

        @rt.remote
        def some_task():
            return 1
        assert await some_task.remote() == 1
        await asyncio.wait([some_task.remote()])
    asyncio.run(main())

    @rt.remote
    class ThreadedActor:
        def task_1(self): print("I'm running in a thread!")
        def task_2(self): print("I'm running in another thread!")

    a = ThreadedActor.options(max_concurrency=2).remote()
    rt.get([a.task_1.remote(), a.task_2.remote()])
    out = capfd.readouterr().out
    assert out.count("started") == 5 and "another thread" in out


def test_get_if_exists_returns_the_live_actor(runtime):
    a = Counter.options(name="gie", get_if_exists=True).remote(1)
    b = Counter.options(name="gie", get_if_exists=True).remote(100)
    assert a == b
    assert rt.get([a.incr.remote(), b.incr.remote()]) == [2, 3]
    rt.kill(a)


@pytest.mark.slow
def test_kill_with_restart_allowed_restarts(runtime, wait_for):
    c = Counter.options(max_restarts=1).remote(0)
    pid = rt.get(c.pid.remote())
    rt.kill(c, no_restart=False)

    def new_pid():
        try:
            return rt.get(c.pid.remote(), timeout=10)
        except ActorDiedError:
            return None
    assert wait_for(new_pid) != pid


def test_work_submitted_by_a_running_call_starts_at_once(runtime, tmp_path, wait_for):
    marker = tmp_path / "started"

    @rt.remote
    def touch(path):
        with open(path, "w") as f:
            f.write("x")

    @rt.remote
    class Launcher:
        async def launch_and_wait(self, path):
            touch.remote(path)            # not awaited: must still start now
            await asyncio.sleep(30)

    ref = Launcher.remote().launch_and_wait.remote(str(marker))
    wait_for(marker.exists, timeout=10)
    rt.cancel(ref)


def test_unnamed_actor_ends_when_no_handle_remains(runtime, pid_alive, wait_for):
    import gc
    c = Counter.remote()
    pid = rt.get(c.pid.remote())
    ref = c.incr.remote()   # a pending call keeps the actor alive
    del c
    gc.collect()
    assert rt.get(ref) == 1
    from streamz_core.runtime import _context
    _context.current().wake()
    wait_for(lambda: not pid_alive(pid), timeout=10)


def test_actor_with_failed_init_argument_is_dead(runtime):
    @rt.remote
    def bad():
        raise KeyError("no arg")
    c = Counter.remote(bad.remote())
    with pytest.raises(ActorDiedError, match="no arg"):
        rt.get(c.incr.remote(), timeout=10)


def test_handle_inside_stored_value_keeps_actor_alive(runtime):
    import gc
    c = Counter.remote(7)
    box = rt.put([c])
    del c
    gc.collect()
    from streamz_core.runtime import _context
    _context.current().wake()
    time.sleep(0.05)
    (h,) = rt.get(box)
    assert rt.get(h.incr.remote()) == 8


def test_actor_created_inside_a_task(runtime):
    @rt.remote
    def make_and_use():
        c = Counter.remote(1)
        return rt.get(c.incr.remote()), c

    value, handle = rt.get(make_and_use.remote())
    assert value == 2
    assert rt.get(handle.incr.remote()) == 3


def test_sync_actor_sends_each_slow_result_without_waiting_for_the_queue(runtime):
    @rt.remote
    class Slow:
        def work(self, t):
            time.sleep(t)
            return time.perf_counter()
    s = Slow.remote()
    rt.get(s.work.remote(0))
    first = s.work.remote(0.05)
    rest = [s.work.remote(0.1) for _ in range(4)]
    done_at = rt.get(first)
    got_at = time.perf_counter()
    assert got_at - done_at < 0.08   # not held back until the 4 later calls finish
    rt.get(rest)


def test_stalled_actor_does_not_stall_the_driver(runtime):
    @rt.remote
    class Sink:
        def size(self, data):
            return len(data)

        def pid(self):
            return os.getpid()

    @rt.remote
    def ping(x):
        return x
    s = Sink.remote()
    pid = rt.get(s.pid.remote())
    os.kill(pid, signal.SIGSTOP)  # it cannot read its pipe any more
    try:
        blob = b"x" * 90_000  # inline (< 100 KB); 40 of them overflow the pipe
        refs = [s.size.remote(blob) for _ in range(40)]
        # the driver's IO thread must not block on the full pipe
        assert rt.get([ping.remote(i) for i in range(20)], timeout=10) == list(range(20))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert rt.get(refs, timeout=20) == [90_000] * 40
