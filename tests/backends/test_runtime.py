"""The built-in runtime backend: conformance, order, actors inside a pipeline."""
from __future__ import annotations

import os
import signal
import time

import pytest

import streamz_core.runtime as rt
from streamz_core import Stream
from streamz_core.backends.runtime import RuntimeExecutor
from streamz_core.testing import check_executor, poll_for


def inc(x):
    return x + 1


def test_runtime_backend_conforms():
    check_executor(RuntimeExecutor, n=300)


def test_scatter_defaults_to_the_runtime_without_a_dask_client():
    node = Stream().scatter()
    assert isinstance(node.executor, RuntimeExecutor)


def test_ten_thousand_elements_exactly_once_in_order():
    source = Stream()
    out = source.scatter().map(inc).buffer(8).gather().sink_to_list()
    for i in range(10_000):
        source.emit(i)
    poll_for(lambda: len(out) >= 10_000, timeout=60, message="10,000 results")
    assert out == [i + 1 for i in range(10_000)]
    out.node.destroy()


def test_actor_method_in_a_pipeline_keeps_its_state():
    @rt.remote
    class Model:
        def __init__(self):
            self.seen = 0

        def predict(self, x):
            self.seen += 1
            return (x * 2, self.seen)

    model = Model.remote()
    source = Stream()
    out = source.scatter().map(model.predict).buffer(4).gather().sink_to_list()
    for i in range(20):
        source.emit(i)
    poll_for(lambda: len(out) >= 20, timeout=60, message="20 results")
    assert out == [(2 * i, i + 1) for i in range(20)]
    out.node.destroy()
    rt.kill(model)


def test_remote_function_given_to_map_is_called_with_remote():
    double = rt.remote(lambda x: 2 * x)
    source = Stream()
    out = source.scatter(backend="runtime").map(double).gather().sink_to_list()
    source.emit(21)
    assert out == [42]
    out.node.destroy()


def slow_inc(x):
    time.sleep(0.002)
    return x + 1


@pytest.mark.slow
def test_worker_killed_mid_stream_loses_nothing():
    source = Stream()
    out = source.scatter(backend="runtime").map(slow_inc).buffer(8).gather().sink_to_list()
    crashes = rt.statistics().worker_crashes
    n = 600
    for i in range(n):
        source.emit(i)
        if i == 200:  # kill -9 a worker process while elements are in flight
            os.kill(rt.get(rt.remote(os.getpid).remote()), signal.SIGKILL)
    poll_for(lambda: len(out) >= n, timeout=60, message=f"{n} results")
    assert out == [i + 1 for i in range(n)]
    assert rt.statistics().worker_crashes > crashes
    out.node.destroy()


def slower_inc(x):
    time.sleep(0.2)
    return x + 1


def test_shutdown_with_elements_in_flight_reports_once_how_many():
    """rt.shutdown() while real workers run the stream's tasks: one ExecutorClosedError
    saying how many were lost (it used to be one ObjectLostError per element, each
    blaming the map); the next emit starts a new runtime and goes on."""
    from streamz_core.executor import ExecutorClosedError

    rt.shutdown()
    rt.init(num_workers=1)
    source = Stream()
    out = source.scatter(backend="runtime").map(slower_inc).buffer(8).gather().sink_to_list()
    for i in range(6):
        source.emit(i)
    rt.shutdown()
    with pytest.raises(ExecutorClosedError, match=r"rt.shutdown\(\)\) with \d+ elements? in flight") as info:
        source.drain()
    n = int(str(info.value).split("with ")[1].split()[0])
    assert len(out) + n == 6 and n >= 1
    assert info.value.__notes__ == ["raised by drain(): it happened after its emit into <scatter> had returned"]
    source.drain()  # raised once
    source.emit(10)  # a new runtime
    source.drain()
    assert out[-1] == 11
    out.node.destroy()
