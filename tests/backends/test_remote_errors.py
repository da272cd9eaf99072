"""Remote failures reach someone, on every backend, with a blocking emit and in a coroutine.

The pipeline is the one every example of docs/executors.md uses,
``scatter().map(f).buffer(8).gather()``: the buffer lets an emit return before its
element's result is back, so a failure reaches a later emit or ``drain()``, or the
map's error route, and never only the log (docs/errors.md, "Remote work").
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest

from streamz_core import DeadLetter, Stream
from streamz_core.backends.runtime import RuntimeExecutor
from streamz_core.backends.threads import ProcessExecutor, ThreadExecutor

distributed = pytest.importorskip("distributed")

from streamz_core.backends.dask import DaskExecutor  # noqa: E402

BACKENDS = ["threads", "processes", "runtime", "dask-actors", "dask-tasks"]


def fail_on_2(x):
    if x == 2:
        raise KeyError(f"no {x}")
    return x + 1


def one(x):
    return 1


@pytest.fixture(scope="module")
def dask_client():
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                            dashboard_address=None, set_as_default=False) as client:
        yield client


@pytest.fixture(params=BACKENDS)
def executor(request):
    name = request.param
    if name == "threads":
        ex = ThreadExecutor(max_workers=2)
    elif name == "processes":
        ex = ProcessExecutor(max_workers=2)
    elif name == "runtime":
        ex = RuntimeExecutor()
    else:
        ex = DaskExecutor(request.getfixturevalue("dask_client"), mode=name.split("-")[1])
    yield ex
    ex.close()


@contextlib.contextmanager
def loop_reports(node):
    """What reaches the loop's exception handler (the log) while the block runs."""
    reports = []
    loop = node.loop.asyncio_loop
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reports.append(context))
    try:
        yield reports
    finally:
        loop.set_exception_handler(previous)


def emit_all(source, xs):
    """Blocking emits, then drain(); the exceptions they raised, in order."""
    raised = []
    for x in xs:
        try:
            source.emit(x)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            raised.append(exc)
    try:
        source.drain()
    except ExceptionGroup as group:
        raised.extend(group.exceptions)
    except Exception as exc:  # noqa: BLE001
        raised.append(exc)
    return raised


async def emit_all_async(source, xs):
    raised = []
    for x in xs:
        try:
            await source.emit(x)
        except Exception as exc:  # noqa: BLE001
            raised.append(exc)
    try:
        await source.drain()
    except ExceptionGroup as group:
        raised.extend(group.exceptions)
    except Exception as exc:  # noqa: BLE001
        raised.append(exc)
    return raised


NOTE = "raised remotely in <map: fail_on_2> while processing 2; collected by <gather>"


def test_failure_after_a_buffer_reaches_the_emitter_blocking(executor):
    source = Stream()
    out = source.scatter(backend=executor).map(fail_on_2).buffer(8).gather().sink_to_list()
    with loop_reports(source) as reports:
        raised = emit_all(source, range(6))
        source.drain()  # raised once: nothing is left
    assert [type(e) for e in raised] == [KeyError] and raised[0].__notes__[0] == NOTE
    assert out == [1, 2, 4, 5, 6]  # the others all arrive, in order
    assert reports == []  # not (also) logged
    out.node.destroy()


async def test_failure_after_a_buffer_reaches_the_emitter_in_a_coroutine(executor):
    source = Stream(asynchronous=True)
    out = source.scatter(backend=executor).map(fail_on_2).buffer(8).gather().sink_to_list()
    await source.emit(0)
    with loop_reports(source) as reports:
        raised = await emit_all_async(source, range(1, 6))
        await source.drain()
    assert [type(e) for e in raised] == [KeyError] and raised[0].__notes__[0] == NOTE
    assert out == [1, 2, 4, 5, 6]
    assert reports == []
    out.node.destroy()


def test_a_later_emit_raises_it_and_its_own_element_is_accepted(executor):
    source = Stream()
    out = source.scatter(backend=executor).map(fail_on_2).buffer(8).gather().sink_to_list()
    for x in range(3):
        source.emit(x)
    probes, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline:  # emit until an emit reports the failure of 2
        probes.append(10 + len(probes))
        try:
            source.emit(probes[-1])
        except KeyError as exc:
            assert exc.__notes__ == [NOTE, (
                f"raised by the emit of {probes[-1]} into <scatter>: an earlier element failed after "
                f"its emit had returned; {probes[-1]} itself was accepted")]
            break
        time.sleep(0.005)
    else:
        raise AssertionError("no emit raised the failure of element 2")
    source.drain()
    assert out == [1, 2] + [p + 1 for p in probes]
    out.node.destroy()


def test_a_failure_goes_to_the_maps_error_route(executor):
    source = Stream()
    mapped = source.scatter(backend=executor).map(fail_on_2)
    dead = mapped.on_exception(KeyError).sink_to_list()
    out = mapped.buffer(8).gather().sink_to_list()
    with loop_reports(source) as reports:
        assert emit_all(source, range(5)) == []
    assert out == [1, 2, 4, 5]
    assert [(d.value, type(d.exception), d.node) for d in dead] == [(2, KeyError, mapped)]
    assert isinstance(dead[0], DeadLetter) and dead[0].exception.__notes__ == [NOTE]
    assert reports == []
    out.node.destroy()


def test_an_unpicklable_element_fails_alone_naming_node_and_element(executor):
    if executor.name == "threads":
        pytest.skip("threads share memory: nothing is pickled")
    lock = threading.Lock()
    source = Stream()
    out = source.scatter(backend=executor).map(one, stream_name="size").buffer(8).gather().sink_to_list()
    raised = emit_all(source, [0, 1, lock, 3, *range(4, 20)])
    assert len(raised) == 1 and isinstance(raised[0], TypeError)
    text = "\n".join([str(raised[0]), *raised[0].__notes__])
    assert "pickle" in text and repr(lock) in text and "<size; map: one>" in text
    assert out == [1] * 19  # the rest of its batch and every later element arrive
    out.node.destroy()


async def test_an_unpicklable_element_fails_alone_in_a_coroutine(executor):
    if executor.name == "threads":
        pytest.skip("threads share memory: nothing is pickled")
    source = Stream(asynchronous=True)
    out = source.scatter(backend=executor).map(one).buffer(8).gather().sink_to_list()
    raised = await asyncio.wait_for(emit_all_async(source, [0, threading.Lock(), 2, 3]), 60)
    assert len(raised) == 1 and isinstance(raised[0], TypeError)
    assert out == [1, 1, 1]
    out.node.destroy()


def test_a_failure_in_a_chain_names_the_node_where_it_started(executor):
    source = Stream()
    first = source.scatter(backend=executor).map(fail_on_2, stream_name="first")
    out = first.map(fail_on_2, stream_name="second").buffer(8).gather().sink_to_list()
    raised = emit_all(source, [0, 1, 2])  # 0 -> 1 -> 2; 1 -> 2 fails in second; 2 fails in first
    assert sorted(e.__notes__[0] for e in raised) == [
        "raised remotely in <first; map: fail_on_2> while processing 2; collected by <gather>",
        "raised remotely in <second; map: fail_on_2> while processing 2; collected by <gather>",
    ]
    assert all(type(e) is KeyError for e in raised) and out == [2]
    out.node.destroy()


def add_unless_4(acc, x):
    if x == 4:
        raise ValueError(f"bad {x}")
    return acc + x


def fail_on_3(x):
    if x == 3:
        raise KeyError(f"no {x}")
    return x


def test_a_failing_remote_accumulate_keeps_its_last_good_state(executor):
    """Like a local accumulate: the failing element's error is reported once, the state
    stays the last good one and later elements go on (the failed call used to become the
    state, so every later element failed too)."""
    source = Stream()
    out = source.scatter(backend=executor).accumulate(add_unless_4, start=0).buffer(8).gather().sink_to_list()
    raised = emit_all(source, range(1, 8))
    local = Stream()
    expected = local.accumulate(add_unless_4, start=0).sink_to_list()
    for x in range(1, 8):
        with contextlib.suppress(ValueError):
            local.emit(x)
    assert out == expected == [1, 3, 6, 11, 17, 24]
    assert len(raised) == 1 and str(raised[0]) == "bad 4"
    assert raised[0].__notes__[0] == (
        "raised remotely in <accumulate: add_unless_4> while processing 4; collected by <gather>")
    out.node.destroy()


@pytest.mark.parametrize("start", [0, None], ids=["start", "no-start"])
def test_an_upstream_failure_leaves_the_remote_accumulate_state_alone(executor, start):
    """scatter().map(f).accumulate(g): the element whose map failed is reported once,
    naming the map, and accumulate goes on from its last state, as locally."""
    kwargs = {} if start is None else {"start": start}
    source = Stream()
    out = (source.scatter(backend=executor).map(fail_on_3 if start is not None else fail_on_1)
           .accumulate(add_unless_4, **kwargs).buffer(8).gather().sink_to_list())
    raised = emit_all(source, range(1, 7))
    if start is None:  # the first element failed: the next one becomes the state
        assert out == [2, 5, 10, 16]
        notes = {"raised remotely in <map: fail_on_1> while processing 1; collected by <gather>"}
    else:
        assert out == [1, 3, 8, 14]
        notes = {"raised remotely in <map: fail_on_3> while processing 3; collected by <gather>"}
    notes.add("raised remotely in <accumulate: add_unless_4> while processing 4; collected by <gather>")
    assert {e.__notes__[0] for e in raised} == notes and len(raised) == 2
    out.node.destroy()


def fail_on_1(x):
    if x == 1:
        raise KeyError(f"no {x}")
    return x
