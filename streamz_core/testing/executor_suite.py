"""Conformance checks that every executor backend runs against itself.

``check_executor(factory)`` builds executors with ``factory()`` and checks the
protocol of :mod:`streamz_core.executor`: submit, scatter, refs as arguments,
gather, errors keeping their class, many tasks in flight, a whole
``scatter → map → buffer → gather`` pipeline delivering every element once, in order,
and a remote failure in that pipeline reaching the emitter (``drain``) or the map's
error route, never only the log.
The functions it submits live in this module, so process backends can pickle them.
"""
from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable
from typing import Any

__all__ = ["check_executor"]


class ConformanceError(ValueError):
    """Raised remotely by the suite, to check that exception classes survive."""


def _inc(x: int) -> int:
    return x + 1


def _add(x: int, y: int = 0) -> int:
    return x + y


def _fail(x: Any) -> Any:
    raise ConformanceError(f"bad element {x!r}")


def _fail_on_3(x: int) -> int:
    if x == 3:
        raise ConformanceError(f"bad element {x!r}")
    return x + 1


async def _check_protocol(ex: Any) -> None:
    from streamz_core.executor import Executor

    assert isinstance(ex, Executor), f"{ex!r} lacks methods of the Executor protocol"
    assert isinstance(ex.name, str) and ex.name, f"{ex!r}.name must be a non-empty string"
    assert await ex.gather(ex.submit(_inc, 1)) == 2, "submit/gather of a plain call"
    ref = ex.scatter(41)
    assert ex.is_ref(ref), "scatter() must return one of the executor's refs"
    assert not ex.is_ref(41), "is_ref() must be False for plain values"
    assert await ex.gather(ref) == 41, "gather(scatter(x)) must give x back"
    assert await ex.gather(ex.submit(_inc, ref)) == 42, "a scattered ref as an argument"
    chained = ex.submit(_inc, ex.submit(_inc, 1))
    assert await ex.gather(chained) == 3, "a pending ref as an argument"
    assert await ex.gather(ex.submit(_add, 1, y=ex.submit(_inc, 1))) == 3, "a ref as a keyword"
    assert await ex.gather(ex.submit(operator.getitem, ex.submit(divmod, 7, 2), 1)) == 1


async def _check_errors(ex: Any) -> None:
    try:
        await ex.gather(ex.submit(_fail, 1))
    except ConformanceError as exc:
        assert "bad element 1" in str(exc)
    else:
        raise AssertionError("a remote exception must be raised by gather, as its own class")
    assert await ex.gather(ex.submit(_inc, 1)) == 2, "the executor keeps working after an error"


async def _check_many_in_flight(ex: Any, n: int) -> None:
    refs = [ex.submit(_inc, i) for i in range(n)]
    values = [await ex.gather(r) for r in refs]
    assert values == [i + 1 for i in range(n)], "results of many tasks in flight"
    for r in refs:
        ex.release(r)


async def _check_pipeline(ex: Any, n: int) -> None:
    from streamz_core import Stream

    source = Stream(asynchronous=True)
    out = source.scatter(backend=ex).map(_inc).buffer(8).gather().sink_to_list()
    for i in range(n):
        await source.emit(i)
    for _ in range(1000):
        if len(out) == n:
            break
        await asyncio.sleep(0.01)
    assert out == [i + 1 for i in range(n)], "every element exactly once, in order"
    out.node.destroy()


async def _check_pipeline_errors(ex: Any, n: int) -> None:
    from streamz_core import Stream

    logged: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: logged.append(context))
    try:
        source = Stream(asynchronous=True)
        out = source.scatter(backend=ex).map(_fail_on_3).buffer(8).gather().sink_to_list()
        raised: list[BaseException] = []
        for i in range(n):
            try:
                await source.emit(i)
            except ConformanceError as exc:  # a later emit may report it ...
                raised.append(exc)
        try:
            await source.drain()  # ... else drain() does
        except ConformanceError as exc:
            raised.append(exc)
        assert len(raised) == 1, f"a remote failure after buffer() must reach the emitter once, got {raised}"
        note = "raised remotely in <map: _fail_on_3> while processing 3; collected by <gather>"
        assert getattr(raised[0], "__notes__", [None])[0] == note, \
            f"the failure must name the node and the element: {getattr(raised[0], '__notes__', None)}"
        assert out == [i + 1 for i in range(n) if i != 3], "the other elements all arrive, in order"
        out.node.destroy()

        source = Stream(asynchronous=True)
        mapped = source.scatter(backend=ex).map(_fail_on_3)
        dead = mapped.on_exception(ConformanceError).sink_to_list()
        out = mapped.buffer(8).gather().sink_to_list()
        for i in range(n):
            await source.emit(i)
        await source.drain()
        assert [d.value for d in dead] == [3], "a remote failure goes to the map's on_exception() route"
        assert len(out) == n - 1, "the pipeline goes on after a routed failure"
        out.node.destroy()
    finally:
        loop.set_exception_handler(previous)
    assert not logged, f"remote failures must not (only) be logged: {logged}"


def check_executor(factory: Callable[[], Any], n: int = 200) -> None:
    """Run the conformance checks against executors made by ``factory``.

    Raises ``AssertionError`` naming the first broken promise.

    Examples
    --------
    >>> from streamz_core.backends.threads import ThreadExecutor
    >>> check_executor(lambda: ThreadExecutor(max_workers=2), n=20)
    """

    async def main() -> None:
        ex = factory()
        try:
            await _check_protocol(ex)
            await _check_errors(ex)
            await _check_many_in_flight(ex, n)
            await _check_pipeline(ex, n)
            await _check_pipeline_errors(ex, min(n, 50))
        finally:
            ex.close()
            ex.close()  # close() must be idempotent

    asyncio.run(main())
