"""The local pool backends pass the executor conformance suite."""
from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool

import psutil
import pytest

from streamz_core import Stream
from streamz_core.backends.threads import ProcessExecutor, ThreadExecutor
from streamz_core.executor import ExecutorClosedError, NotSerializableError, get_executor
from streamz_core.testing import check_executor


def test_threads_backend_conforms():
    check_executor(lambda: ThreadExecutor(max_workers=2))


def test_processes_backend_conforms():
    check_executor(lambda: ProcessExecutor(max_workers=2), n=50)


def test_user_pool_is_wrapped_and_not_shut_down():
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        check_executor(lambda: get_executor(pool), n=20)
        assert pool.submit(int, "3").result() == 3  # still usable: close() left it alone


@pytest.mark.parametrize("bad", [0, -1, 1.5, True], ids=str)
def test_thread_executor_rejects_bad_pool_size(bad):
    with pytest.raises(ValueError, match="max_workers"):
        ThreadExecutor(max_workers=bad)


def slow_inc(x):
    time.sleep(0.02)
    return x + 1


def test_processes_backend_refuses_a_lambda_at_the_emit_naming_node_and_element():
    source = Stream()
    out = source.scatter(backend="processes", max_workers=1).map(lambda x: x + 1).buffer(8).gather().sink_to_list()
    with pytest.raises(NotSerializableError, match=r"cannot be pickled.*define it at module level") as info:
        source.emit(3)
    assert info.value.__notes__ == ["raised in <map: <lambda>> while processing 3"]
    source.drain()  # reported once, at the emit: nothing else is waiting
    assert out == []
    out.node.destroy()


@pytest.mark.parametrize("bad", [-1, 1.5, True], ids=str)
def test_process_executor_rejects_bad_retries(bad):
    with pytest.raises(ValueError, match="retries"):
        ProcessExecutor(max_workers=1, retries=bad)


@pytest.mark.slow
def test_processes_backend_replaces_its_pool_after_a_worker_is_killed():
    """kill -9 of a real pool process mid-stream: the pool is replaced, the elements
    that were in flight are sent again, and every later element works."""
    source = Stream()
    node = source.scatter(backend="processes", max_workers=2)
    out = node.map(slow_inc).buffer(8).gather().sink_to_list()
    for i in range(40):
        source.emit(i)
        if i == 10:  # elements are in flight: kill -9 one of the pool's processes
            victim = node.executor.pool.submit(os.getpid).result()
            os.kill(victim, signal.SIGKILL)
    source.drain()
    assert out == [i + 1 for i in range(40)]
    assert node.executor.pools_replaced == 1
    for i in range(40, 50):  # the new pool goes on
        source.emit(i)
    source.drain()
    assert out[-10:] == [i + 1 for i in range(40, 50)]
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE
    out.node.destroy()


def kill_myself(x):
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_processes_backend_reports_a_call_that_kills_its_worker_every_time():
    source = Stream()
    node = source.scatter(backend=ProcessExecutor(max_workers=1, retries=1))
    out = node.map(kill_myself).gather().sink_to_list()
    with pytest.raises(BrokenProcessPool) as info:
        source.emit(1)
    assert "a worker process died while running this call, 2 times" in info.value.__notes__[0]
    assert info.value.__notes__[1] == "raised remotely in <map: kill_myself> while processing 1; collected by <gather>"
    assert node.executor.pools_replaced == 2 and out == []
    out.node.destroy()


def slower_inc(x):
    time.sleep(0.2)
    return x + 1


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_closing_the_executor_in_flight_fails_them_once_and_refuses_more(backend):
    """close() with calls queued in a real pool cancels them: one ExecutorClosedError
    saying how many reaches drain() (it used to hang on the CancelledError), and a
    later emit is refused clearly."""
    source = Stream()
    node = source.scatter(backend=backend, max_workers=1)
    out = node.map(slower_inc).buffer(8).gather().sink_to_list()
    for i in range(6):
        source.emit(i)
    node.executor.close()
    with pytest.raises(ExecutorClosedError, match=r"was closed with \d+ elements? in flight") as info:
        source.drain()
    n = int(str(info.value).split("closed with ")[1].split()[0])
    assert 1 <= n <= 5 and len(out) + n == 6  # every element: delivered, or counted here
    assert out == [i + 1 for i in range(len(out))]
    assert info.value.__notes__ == ["raised by drain(): it happened after its emit into <scatter> had returned"]
    source.drain()  # raised once
    with pytest.raises(ExecutorClosedError, match="is closed: it cannot take more work"):
        source.emit(9)
    out.node.destroy()


def test_a_pool_passed_in_and_shut_down_in_flight_fails_its_calls_once():
    pool = concurrent.futures.ThreadPoolExecutor(1)
    source = Stream()
    out = source.scatter(backend=pool).map(slower_inc).buffer(8).gather().sink_to_list()
    for i in range(5):
        source.emit(i)
    pool.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(ExecutorClosedError, match=r"was shut down with \d+ elements? in flight") as info:
        source.drain()
    n = int(str(info.value).split("shut down with ")[1].split()[0])
    assert len(out) + n == 5
    out.node.destroy()
