"""scatter/gather and the executor-aware map, starmap and accumulate."""
from __future__ import annotations

import asyncio
import operator

import pytest

from streamz_core import Stream
from streamz_core.backends.threads import ThreadExecutor
from streamz_core.executor import available_backends, get_executor


def inc(x):
    return x + 1


def boom(x):
    raise KeyError(f"no {x}")


@pytest.fixture
def ex():
    executor = ThreadExecutor(max_workers=2)
    yield executor
    executor.close()


async def collect(source, out, xs, n=None):
    for x in xs:
        await source.emit(x)
    for _ in range(500):
        if len(out) >= (len(xs) if n is None else n):
            break
        await asyncio.sleep(0.005)
    return out


async def test_scatter_map_gather_keeps_order_in_loop(ex):
    source = Stream(asynchronous=True)
    out = source.scatter(backend=ex).map(inc).buffer(8).gather().sink_to_list()
    assert await collect(source, out, range(300)) == [i + 1 for i in range(300)]


def test_scatter_map_gather_blocking_emit(ex):
    source = Stream()
    out = source.scatter(backend=ex).map(inc).gather().sink_to_list()
    for i in range(20):
        source.emit(i)
    assert out == [i + 1 for i in range(20)]  # without buffer each emit waits for its result


async def test_map_with_args_and_kwargs_runs_remotely(ex):
    source = Stream(asynchronous=True)
    out = source.scatter(backend=ex).map(operator.add, 10).gather().sink_to_list()
    await collect(source, out, [1, 2])
    assert out == [11, 12]


async def test_starmap_runs_remotely(ex):
    source = Stream(asynchronous=True)
    out = source.scatter(backend=ex).starmap(pow).gather().sink_to_list()
    await collect(source, out, [(2, 3), (3, 2)])
    assert out == [8, 9]


@pytest.mark.parametrize(
    "kwargs, expected",
    [({}, [1, 3, 6]), ({"start": 10}, [11, 13, 16]), ({"with_state": True, "start": 0}, [(1, 1), (3, 3), (6, 6)])],
    ids=["no-start", "start", "with-state"],
)
async def test_accumulate_runs_remotely(ex, kwargs, expected):
    source = Stream(asynchronous=True)
    out = source.scatter(backend=ex).accumulate(operator.add, **kwargs).gather().sink_to_list()
    await collect(source, out, [1, 2, 3])
    assert out == expected


async def test_accumulate_returns_state_runs_remotely(ex):
    def count(n, x):
        return n + 1, (n, x)

    source = Stream(asynchronous=True)
    out = source.scatter(backend=ex).accumulate(count, start=0, returns_state=True).gather().sink_to_list()
    await collect(source, out, "ab")
    assert out == [(0, "a"), (1, "b")]


async def test_zip_of_remote_results_is_gathered_as_tuple(ex):
    source = Stream(asynchronous=True)
    remote = source.scatter(backend=ex)
    out = remote.map(inc).zip(remote.map(operator.neg)).gather().sink_to_list()
    await collect(source, out, [1, 2])
    assert out == [(2, -1), (3, -2)]


async def test_remote_exception_reaches_caller_with_its_class(ex):
    source = Stream(asynchronous=True)
    source.scatter(backend=ex).map(boom).gather().sink_to_list()
    with pytest.raises(KeyError, match="no 1") as info:
        await source.emit(1)
    assert info.value.__notes__ == ["raised remotely in <map: boom>; collected by <gather>"]


def test_remote_exception_reaches_blocking_caller(ex):
    source = Stream()
    out = source.scatter(backend=ex).map(boom).gather().sink_to_list()
    with pytest.raises(KeyError):
        source.emit(1)
    assert out == []


@pytest.mark.parametrize(
    "build",
    [lambda s: s.filter(None), lambda s: s.sink(print), lambda s: s.pluck(0), lambda s: s.unique(),
     lambda s: s.sink_to_list(), lambda s: s.partition(2, key=len), lambda s: s.flatten()],
    ids=["filter", "sink", "pluck", "unique", "sink_to_list", "partition-key", "flatten"],
)
def test_nodes_that_need_values_refuse_remote_elements(ex, build):
    remote = Stream().scatter(backend=ex)
    with pytest.raises(TypeError, match=r"add \.gather\(\) before it"):
        build(remote)
    assert len(remote.downstreams) == 0  # the refused node is not left attached


def test_connect_refuses_a_local_node_after_scatter(ex):
    remote = Stream().scatter(backend=ex)
    local = Stream().filter(None)
    with pytest.raises(TypeError, match="needs values"):
        remote.connect(local)


def test_scatter_twice_is_refused(ex):
    with pytest.raises(TypeError, match="already remote"):
        Stream().scatter(backend=ex).scatter(backend=ex)


def test_carrying_nodes_accept_refs(ex):
    remote = Stream().scatter(backend=ex).map(inc)
    for build in (lambda s: s.buffer(2), lambda s: s.sliding_window(2), lambda s: s.partition(2),
                  lambda s: s.delay(0.1), lambda s: s.rate_limit(0.1), lambda s: s.latest(),
                  lambda s: s.timed_window(1), lambda s: s.union(), lambda s: s.slice(1)):
        node = build(remote)
        assert node.executor is ex
        node.destroy()


def test_gather_clears_the_executor_downstream(ex):
    node = Stream().scatter(backend=ex).map(inc).gather().map(inc)
    assert node.executor is None


def test_gather_on_a_local_stream_passes_elements_through():
    source = Stream()
    out = source.gather().sink_to_list()
    source.emit(1)
    assert out == [1] and source.loop is None


def test_unknown_backend_lists_installed_ones():
    with pytest.raises(ValueError, match="installed: .*threads"):
        Stream().scatter(backend="no-such-backend")
    assert {"threads", "processes"} <= set(available_backends())


def test_bad_backend_object_says_what_is_accepted():
    with pytest.raises(TypeError, match="executor object"):
        get_executor(42)


def test_backend_options_reach_the_backend():
    node = Stream().scatter(backend="threads", max_workers=3)
    assert node.executor.pool._max_workers == 3
    node.executor.close()
