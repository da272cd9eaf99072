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
    assert info.value.__notes__ == ["raised remotely in <map: boom> while processing 1; collected by <gather>"]


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
    with pytest.raises(ValueError, match=r"installed: .*threads"):
        Stream().scatter(backend="no-such-backend")
    assert {"threads", "processes"} <= set(available_backends())


def test_bad_backend_object_says_what_is_accepted():
    with pytest.raises(TypeError, match="executor object"):
        get_executor(42)


def test_backend_options_reach_the_backend():
    node = Stream().scatter(backend="threads", max_workers=3)
    assert node.executor.pool._max_workers == 3
    node.executor.close()


def fail_odd(x):
    if x % 2:
        raise KeyError(f"odd {x}")
    return x


def test_drain_raises_every_failure_after_a_buffer_at_once(ex):
    source = Stream()
    out = source.scatter(backend=ex).map(fail_odd).buffer(8).gather().sink_to_list()
    raised = []
    for x in range(6):
        try:
            source.emit(x)
        except KeyError as exc:  # a later emit may already report one
            raised.append(exc)
    try:
        source.drain()
    except* KeyError as group:
        raised.extend(group.exceptions)
    assert sorted(str(e) for e in raised) == ["'odd 1'", "'odd 3'", "'odd 5'"]  # each once
    assert out == [0, 2, 4]
    source.drain()  # nothing left
    out.node.destroy()


async def test_drain_in_a_coroutine_waits_for_every_element(ex):
    source = Stream(asynchronous=True)
    out = source.scatter(backend=ex).map(inc).buffer(8).gather().sink_to_list()
    for x in range(50):
        await source.emit(x)
    await source.drain()  # no sleeping and polling
    assert out == [x + 1 for x in range(50)]
    out.node.destroy()


def test_drain_of_a_graph_that_never_ran_returns_at_once():
    assert Stream().drain() is None


def test_buffer_error_route_gets_a_remote_failure_the_map_does_not_route(ex):
    source = Stream()
    buffered = source.scatter(backend=ex).map(fail_odd).buffer(8)
    dead = buffered.on_exception(KeyError).sink_to_list()
    out = buffered.gather().sink_to_list()
    for x in range(4):
        source.emit(x)
    source.drain()  # routed: nothing to raise
    assert out == [0, 2] and [type(d.exception) for d in dead] == [KeyError, KeyError]
    assert dead[0].node is buffered
    out.node.destroy()


def test_local_failure_after_gather_behind_a_buffer_reaches_drain(ex):
    source = Stream()
    out = source.scatter(backend=ex).map(inc).buffer(8).gather().map(fail_odd).sink_to_list()
    source.emit(0)  # 0 + 1 = 1 fails locally, after gather
    with pytest.raises(KeyError, match="odd 1") as info:
        source.drain()
    assert info.value.__notes__[0] == "raised in <map: fail_odd> while processing 1"
    out.node.destroy()


def test_remote_submit_failure_names_the_element_not_its_wrapper():
    source = Stream()
    out = source.scatter(backend="processes", max_workers=1).map(lambda x: x).gather().sink_to_list()
    dead = out.node.upstream.upstream.on_exception().sink_to_list()
    source.emit("a")
    assert [d.value for d in dead] == ["a"]  # the element, not a LocalValue
    out.node.destroy()
