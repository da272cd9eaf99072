"""Tasks: submission, arguments, results, errors, retries, nested tasks."""
from __future__ import annotations

import os
import pickle
import signal
import threading
import time
import traceback

import pytest

import streamz_core.runtime as rt
from streamz_core.runtime.exceptions import (
    GetTimeoutError,
    RemoteTraceback,
    SerializationError,
    WorkerCrashedError,
)


class CustomError(Exception):
    pass


@rt.remote
def add(a, b=0):
    return a + b


@rt.remote
def fail(msg):
    raise CustomError(msg)


@rt.remote
def getpid():
    return os.getpid()


def test_remote_returns_ref_and_value(runtime):
    ref = add.remote(1, b=2)
    assert isinstance(ref, rt.ObjectRef)
    assert rt.get(ref) == 3
    assert rt.get(ref) == 3


def test_many_tasks_keep_order(runtime):
    refs = [add.remote(i, i) for i in range(2000)]
    assert rt.get(refs) == [2 * i for i in range(2000)]


def test_tasks_run_on_two_worker_processes(runtime, wait_for):
    from streamz_core.runtime import _context
    wait_for(lambda: all(w.ready for w in _context.current().workers))

    @rt.remote
    def slow_pid():
        time.sleep(0.05)
        return os.getpid()
    pids = set(rt.get([slow_pid.remote() for _ in range(6)]))
    assert len(pids) == 2 and os.getpid() not in pids


def test_ref_arguments_are_resolved_nested_refs_stay_refs(runtime):
    a = add.remote(1, 1)
    assert rt.get(add.remote(a, b=add.remote(2, 2))) == 6

    @rt.remote
    def first(lst):
        assert isinstance(lst[0], rt.ObjectRef)
        return rt.get(lst[0])
    assert rt.get(first.remote([rt.put(41)])) == 41


def test_num_returns(runtime):
    @rt.remote(num_returns=3)
    def three():
        return 1, 2, 3
    assert rt.get(three.remote()) == [1, 2, 3]
    bad = three.options(num_returns=2).remote()
    with pytest.raises(ValueError, match="num_returns=2"):
        rt.get(bad[0])


def test_remote_exception_keeps_class_and_remote_traceback(runtime):
    ref = fail.remote("boom")
    with pytest.raises(CustomError, match="boom") as info:
        rt.get(ref)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "in fail" in cause.tb and "CustomError: boom" in cause.tb
    # the real file and source line, whatever cloudpickle names pickled code
    assert f'File "{__file__}", line' in cause.tb and "<dynamic-code>" not in cause.tb
    text = "".join(traceback.format_exception(info.value))
    assert "raise CustomError(msg)" in text


def test_error_propagates_through_dependencies(runtime):
    with pytest.raises(CustomError):
        rt.get(add.remote(fail.remote("dep"), 1))


def test_unpicklable_argument_names_it(runtime):
    lock = threading.Lock()
    with pytest.raises(SerializationError, match="cannot pickle the argument 0 <unlocked"):
        add.remote(lock)
    with pytest.raises(SerializationError, match="keyword argument b= <unlocked"):
        add.remote(1, b=lock)


def test_unpicklable_result_names_it(runtime):
    @rt.remote
    def make_lock():
        return threading.Lock()
    with pytest.raises(SerializationError, match=r"return value of .*make_lock"):
        rt.get(make_lock.remote())


def test_get_timeout_error_is_timeout_error(runtime):
    @rt.remote
    def sleepy():
        time.sleep(0.5)
    ref = sleepy.remote()
    with pytest.raises(TimeoutError):
        rt.get(ref, timeout=0.01)
    with pytest.raises(GetTimeoutError, match="timed out"):
        rt.get([ref], timeout=0.01)
    rt.get(ref)


def test_wait_keeps_input_order(runtime):
    @rt.remote
    def sleep_then(x, t):
        time.sleep(t)
        return x
    refs = [sleep_then.remote(0, 0.3), sleep_then.remote(1, 0.0), rt.put(2)]
    ready, rest = rt.wait(refs, num_returns=2)
    assert ready == [refs[1], refs[2]] and rest == [refs[0]]
    ready, rest = rt.wait(refs, num_returns=3, timeout=0.0)
    assert len(ready) + len(rest) == 3
    ready, rest = rt.wait(refs, num_returns=3)
    assert ready == refs and rest == []


def test_calling_remote_function_directly_explains(runtime):
    with pytest.raises(TypeError, match=r"add.remote\(...\)"):
        add(1, 2)


def test_bad_options_are_explained():
    with pytest.raises(TypeError, match=r"unknown option.*'num_return'"):
        rt.remote(num_return=2)(lambda: 1)
    with pytest.raises(ValueError, match="max_retries=-5"):
        rt.remote(max_retries=-5)(lambda: 1)
    with pytest.raises(ValueError, match="async function"):
        @rt.remote
        async def f():
            pass


def test_retry_exceptions(runtime, tmp_path):
    marker = tmp_path / "count"

    @rt.remote(retry_exceptions=[CustomError], max_retries=2)
    def flaky(path):
        n = 0
        if os.path.exists(path):
            with open(path) as f:
                n = int(f.read())
        with open(path, "w") as f:
            f.write(str(n + 1))
        if n < 2:
            raise CustomError(f"attempt {n}")
        return n
    assert rt.get(flaky.remote(str(marker))) == 2
    marker.unlink()
    with pytest.raises(CustomError):
        rt.get(flaky.options(max_retries=1).remote(str(marker)))


def test_worker_killed_mid_task_is_retried_once(runtime, tmp_path, wait_for):
    marker = tmp_path / "attempts"

    @rt.remote
    def once(path):
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        with open(path) as f:
            first_attempt = len(f.read().split()) == 1
        if first_attempt:
            time.sleep(60)
        return "done"
    ref = once.remote(str(marker))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().split()[:1])[0])
    os.kill(pid, signal.SIGKILL)
    assert rt.get(ref, timeout=30) == "done"
    assert len(marker.read_text().split()) == 2
    # the pool is whole again
    assert len(set(rt.get([getpid.remote() for _ in range(20)]))) >= 1


@pytest.mark.slow
def test_worker_crash_past_max_retries_raises(runtime):
    @rt.remote(max_retries=1)
    def die():
        os._exit(3)
    with pytest.raises(WorkerCrashedError, match="max_retries"):
        rt.get(die.remote(), timeout=30)
    assert rt.get(add.remote(1, 1)) == 2


def test_nested_tasks_do_not_deadlock(runtime):
    @rt.remote
    def fib(n):
        if n < 2:
            return n
        return sum(rt.get([fib.remote(n - 1), fib.remote(n - 2)]))
    assert rt.get(fib.remote(7), timeout=60) == 13


def test_task_submitting_tasks_and_returning_refs(runtime):
    @rt.remote
    def spawn(n):
        return [add.remote(i, 1) for i in range(n)]
    refs = rt.get(spawn.remote(5))
    assert rt.get(refs) == [1, 2, 3, 4, 5]


def test_put_in_worker_and_get_in_driver(runtime):
    @rt.remote
    def putter():
        return [rt.put("from-worker")]
    (ref,) = rt.get(putter.remote())
    assert rt.get(ref) == "from-worker"


def test_refs_are_picklable_within_runtime(runtime):
    ref = rt.put(5)
    assert rt.get(pickle.loads(pickle.dumps(ref))) == 5


class NeedsTwoArgs(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def test_exception_that_cannot_be_rebuilt_becomes_task_error(runtime):
    from streamz_core.runtime.exceptions import TaskError

    @rt.remote
    def raise_it():
        err = ValueError("with a lock")
        err.lock = threading.Lock()
        raise err

    @rt.remote
    def raise_two():
        raise NeedsTwoArgs(1, 2)
    with pytest.raises(TaskError, match="remote ValueError: with a lock") as info:
        rt.get(raise_it.remote())
    assert info.value.type_name == "ValueError" and "raise err" in info.value.traceback
    with pytest.raises(TaskError, match="NeedsTwoArgs"):
        rt.get(raise_two.remote())


def test_system_exit_in_task_does_not_exit_the_caller(runtime):
    from streamz_core.runtime.exceptions import TaskError

    @rt.remote
    def bye():
        raise SystemExit(3)
    with pytest.raises(TaskError, match="SystemExit"):
        rt.get(bye.remote())
    assert rt.get(add.remote(1, 1)) == 2


def test_quick_result_is_not_held_back_by_a_long_task_behind_it(runtime):
    @rt.remote
    def quick():
        return time.perf_counter()

    @rt.remote
    def long(t):
        time.sleep(t)
    for _ in range(5):  # teach the workers that tasks are short (deep prefetch)
        rt.get([quick.remote() for _ in range(50)])
    refs = [quick.remote()] + [long.remote(0.5) for _ in range(2)] + [quick.remote()]
    done_at = rt.get(refs[0])
    assert time.perf_counter() - done_at < 0.2
    rt.get(refs)
