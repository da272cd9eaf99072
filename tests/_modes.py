"""Fixtures and helpers shared by the operator, sink, source and metadata tests.

``mode`` runs one test body in each way a graph can run (aiostream's ``assert_run``
idea, as a fixture):

* ``sync``: ``Stream()`` without a loop; ``emit`` runs in the caller and returns None.
* ``in_loop``: ``Stream(asynchronous=True)`` built inside the async test, which runs on
  the ``autojump_clock`` virtual loop; ``await source.emit(x)``.
* ``thread``: ``Stream(asynchronous=False)`` on a background ``LoopRunner`` whose loop is
  a ``VirtualTimeLoop`` (made the default background loop for the test); ``emit``
  blocks the test's thread.

``loop_mode`` is the same without ``sync``, for nodes that need a loop (time-based
nodes, buffer, sources). Tests using either fixture are ``async def`` and await the
fixture's helpers, so one body serves every mode.

The background loop of the thread mode starts with ``autojump=False``: the test's
thread emits while that loop runs on its own, and an idle autojump loop would move
the clock between two emits. Time moves only inside ``await mode.sleep(t)``. A test
whose blocking emits must wait on a timer (rate_limit, a slow async sink) calls
``mode.autojump()`` first.

Helpers: ``Producer`` (``mode.produce``) emits concurrently with the test and records
which emits have returned, to observe backpressure; ``Gate`` is a sink function whose
calls finish only when the test opens them, so "downstream is busy" needs no clock;
``Tracker`` hands out metadata with a ``RefCounter`` per element and records when each
element is done. ``destroy_sinks`` destroys the sinks a test leaves pinned (each module using these
fixtures applies it to all its tests).

Test modules import the fixture functions (``*_fixture``, registered under the short
names ``mode``, ``loop_mode``, ``tracker``, ``virtual_runner``, ``destroy_sinks``).
"""
from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from streamz_core import LoopRunner, RefCounter, Stream, sync
from streamz_core.core import _global_sinks
from streamz_core.testing import VirtualTimeLoop


class Mode:
    """How a test builds its source, emits, and lets (virtual) time pass."""

    def __init__(self, name: str, loop: VirtualTimeLoop | None):
        self.name = name
        self.loop = loop

    def __repr__(self) -> str:
        return f"Mode({self.name})"

    # ------------------------------------------------------------ building
    def Stream(self, **kwargs: Any) -> Stream:
        """A source node for this mode."""
        if self.name == "in_loop":
            return Stream(asynchronous=True, **kwargs)
        if self.name == "thread":
            return Stream(asynchronous=False, **kwargs)
        return Stream(**kwargs)

    @property
    def source_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that put a Source (from_iterable, ...) into this mode."""
        return {"asynchronous": self.name == "in_loop"}

    # ------------------------------------------------------------ emitting
    async def emit(self, source: Stream, x: Any, metadata: Any = None) -> None:
        """Emit ``x`` the way this mode's users do and check what ``emit`` returns."""
        if self.name == "in_loop":
            result = source.emit(x, metadata=metadata)
            assert hasattr(result, "__await__"), f"in-loop emit returned {result!r}"
            await result
        else:
            assert source.emit(x, metadata=metadata) is None

    async def emit_all(self, source: Stream, xs: Any) -> None:
        for x in xs:
            await self.emit(source, x)

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        assert self.loop is not None, "the sync mode has no clock"
        return self.loop.time()

    def autojump(self) -> None:
        """Let the thread mode's loop jump to its next timer whenever it is idle."""
        if self.loop is not None:
            self.loop.autojump = True

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, firing every timer due on the way."""
        if self.name == "in_loop":
            await asyncio.sleep(seconds)
            await self.loop.wait_idle()  # type: ignore[union-attr]
        elif self.name == "thread":
            sync(self.loop, _jump, self.loop, seconds)
        else:
            raise AssertionError("the sync mode has no clock")

    async def settle(self) -> None:
        """Let every ready callback of the graph's loop run, without moving the clock."""
        if self.name == "in_loop":
            await self.loop.wait_idle()  # type: ignore[union-attr]
        elif self.name == "thread":
            sync(self.loop, self.loop.wait_idle)  # type: ignore[union-attr]


    def call(self, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` on the graph's loop (soon)."""
        if self.name == "thread":
            self.loop.call_soon_threadsafe(fn, *args)  # type: ignore[union-attr]
        elif self.name == "in_loop":
            self.loop.call_soon(fn, *args)  # type: ignore[union-attr]
        else:
            fn(*args)

    def produce(self, source: Stream, xs: Any, metadata: Any = None) -> Producer:
        """Emit ``xs`` one after the other in the background, as a producer would."""
        return Producer(self, source, list(xs), metadata)


class Producer:
    """Emits elements concurrently with the test and records which emits returned.

    In the thread mode the producer is a thread doing blocking emits; in the in-loop
    mode a task awaiting each emit.
    """

    def __init__(self, mode: Mode, source: Stream, xs: list[Any], metadata: Any):
        self.mode = mode
        self.done: list[Any] = []
        self.errors: list[BaseException] = []
        metadata = metadata or (lambda x: None)
        if mode.name == "in_loop":
            async def run() -> None:
                for x in xs:
                    await source.emit(x, metadata=metadata(x))
                    self.done.append(x)

            self._task = asyncio.ensure_future(run())
        elif mode.name == "thread":
            def run_thread() -> None:
                try:
                    for x in xs:
                        source.emit(x, metadata=metadata(x))
                        self.done.append(x)
                except BaseException as exc:  # pragma: no cover - reported by returned()
                    self.errors.append(exc)

            self._thread = threading.Thread(target=run_thread, daemon=True)
            self._thread.start()
        else:
            raise AssertionError("a producer needs a loop to run concurrently with the test")

    async def returned(self, n: int) -> list[Any]:
        """The elements whose emit has returned, once at least ``n`` have (or 2 s passed)."""
        await self.mode.settle()
        if self.mode.name == "thread":
            deadline = time.monotonic() + 2.0
            while len(self.done) < n and not self.errors and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(0.002)  # a blocking emit that should not return gets its chance
            await self.mode.settle()
        assert not self.errors, self.errors
        return list(self.done)


class Gate:
    """An async sink function whose calls finish only when the test opens them."""

    def __init__(self, mode: Mode):
        self.mode = mode
        self.started: list[Any] = []
        self._futures: list[tuple[Any, asyncio.Future[None]]] = []

    def work(self, x: Any) -> Any:
        self.started.append(x)
        fut = asyncio.get_running_loop().create_future()
        self._futures.append((x, fut))
        return fut

    async def open(self, x: Any) -> None:
        """Let the call for ``x`` finish, and everything it unblocks run."""
        fut = next(f for y, f in self._futures if y == x and not f.done())
        self.mode.call(lambda: fut.done() or fut.set_result(None))
        await self.mode.settle()


async def _jump(loop: VirtualTimeLoop, seconds: float) -> None:
    previous = loop.autojump
    loop.autojump = True
    try:
        await asyncio.sleep(seconds)
    finally:
        loop.autojump = previous
    await loop.wait_idle()  # timers due at exactly the target time, scheduled after ours


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture(name="virtual_runner")
def virtual_runner_fixture() -> Iterator[LoopRunner]:
    """A background LoopRunner on a manual-clock VirtualTimeLoop, as the default loop."""
    runner = LoopRunner(loop_factory=lambda: VirtualTimeLoop(autojump=False))
    with runner.as_default():
        yield runner
    try:
        sync(runner.loop, _cancel_all)
    finally:
        runner.stop()


def _make_mode(request: pytest.FixtureRequest, name: str) -> Iterator[Mode]:
    if name == "thread":
        loop = request.getfixturevalue("virtual_runner").loop
    elif name == "in_loop":
        loop = request.getfixturevalue("autojump_clock")
    else:
        yield Mode(name, None)
        return
    # An error must reach the caller of emit, once: nothing may end up in the loop's
    # exception handler ("Task exception was never retrieved", an unhandled error in
    # a timer). Tests that expect such reports install their own handler.
    unexpected: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: unexpected.append(context))
    yield Mode(name, loop)
    gc.collect(1)  # failed tasks nobody awaited report when collected (a full collection is slow)
    if name == "thread":
        sync(loop, loop.wait_idle)
    assert not unexpected, f"errors reported to the loop instead of the caller: {unexpected}"


@pytest.fixture(name="mode", params=["sync", "in_loop", "thread"])
def mode_fixture(request: pytest.FixtureRequest, autojump_clock: VirtualTimeLoop) -> Iterator[Mode]:
    """Every way to run a graph: no loop, in the test's loop, on a background thread."""
    yield from _make_mode(request, request.param)


@pytest.fixture(name="loop_mode", params=["in_loop", "thread"])
def loop_mode_fixture(request: pytest.FixtureRequest, autojump_clock: VirtualTimeLoop) -> Iterator[Mode]:
    """The ways to run a graph that has a loop (time-based nodes, buffer, sources)."""
    yield from _make_mode(request, request.param)


@pytest.fixture(name="destroy_sinks")
def destroy_sinks_fixture() -> Iterator[None]:
    """Destroy the sinks a test leaves pinned, so graphs (and their loops) do not pile up."""
    before = set(_global_sinks)
    yield
    for node in list(_global_sinks - before):
        node.destroy()


class Tracker:
    """RefCounters for metadata; records which elements have been fully processed."""

    def __init__(self) -> None:
        self.done: list[Any] = []
        self.refs: dict[Any, RefCounter] = {}

    def md(self, tag: Any) -> list[dict[str, Any]]:
        ref = RefCounter(cb=lambda: self.done.append(tag))
        self.refs[tag] = ref
        return [{"ref": ref, "tag": tag}]

    def counts(self) -> dict[Any, int]:
        return {tag: ref.count for tag, ref in self.refs.items()}


@pytest.fixture(name="tracker")
def tracker_fixture() -> Tracker:
    return Tracker()


def collected(ref: Any) -> bool:
    """True once the object behind weakref ``ref`` is gone after a full collection."""
    gc.collect()
    return ref() is None


def branch_collected(source: Stream, build: Any) -> bool:
    """Build ``build(source)`` (a branch with no sink), drop it: is it collected?

    True when the node died and ``source`` has no downstream left.
    """
    node = build(source)
    ref = weakref.ref(node)
    del node
    return collected(ref) and len(source.downstreams) == 0
