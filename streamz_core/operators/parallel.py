"""Leaving the loop: scatter elements to an executor, gather results back in order.

Between ``scatter()`` and ``gather()`` elements are refs to remote results. ``map``,
``starmap`` and ``accumulate`` submit their functions to the executor; buffering,
time-based and joining nodes carry refs as they are; nodes that need values refuse to
be built there, so a ref never silently reaches local code.

Where a remote failure goes (docs/errors.md, "Remote work"): ``gather`` names the node
and the element, and emits it on that node's ``on_exception()`` route if it has one;
otherwise it raises to whoever waits for the element. That is the emitter, unless a
node such as ``buffer`` let the emit return early: then ``scatter`` keeps the failure
and raises it at the next emit, or at ``drain()``.
"""
from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Any

from .._internals import running_loop
from ..core import DeadLetter, Stream, _gather, _short, no_default
from ..executor import ExecutorClosedError, get_executor, origin_of
from ..loop import call_blocking, explain_closed_loop

__all__ = ["scatter", "gather"]


def _mark_noted(exc: BaseException) -> None:
    """Tell the nodes the exception passes on its way out that it already names its node."""
    try:
        exc._streamz_core_noted = True  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # exceptions with __slots__
        pass


@Stream.register_api()
class scatter(Stream):
    """Hand elements to an executor: downstream ``map``/``accumulate`` run remotely.

    ``backend`` is a backend name (``"dask"``, ``"runtime"``, ``"threads"``,
    ``"processes"``, or any installed through the ``streamz_core.backends`` entry
    points), an executor object, a ``distributed.Client`` or a ``concurrent.futures``
    pool. Without one: the active default Dask client, else the built-in runtime.
    Extra keyword arguments (other than ``stream_name``/``loop``/``asynchronous``) go to
    the backend when it is named.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.scatter(backend='threads').map(abs).gather().sink_to_list()
    >>> for x in [-1, -2, 3]: source.emit(x)
    >>> L
    [1, 2, 3]
    """

    _graphviz_shape = "box"

    def __init__(self, upstream: Stream, backend: Any = None, **kwargs: Any):
        stream_kwargs = {k: kwargs.pop(k) for k in ("stream_name", "loop", "asynchronous") if k in kwargs}
        if upstream.executor is not None:
            raise TypeError(
                f"scatter() on a stream that is already remote (on {upstream.executor!r}); "
                "remove the second scatter(), or gather() first"
            )
        executor = get_executor(backend, **kwargs)
        engine_loop = getattr(executor, "loop", None)
        if engine_loop is not None and upstream._aloop is None and "loop" not in stream_kwargs \
                and not stream_kwargs.get("asynchronous", upstream.asynchronous):
            # An engine with its own loop (a Dask client's): run the graph there, so
            # its futures are awaited natively, as streamz does with a default client.
            stream_kwargs["loop"] = engine_loop
        super().__init__(upstream, ensure_io_loop=True, **stream_kwargs)
        self.executor = executor
        aloop: asyncio.AbstractEventLoop | None = self._aloop
        if engine_loop is aloop is not None and callable(getattr(executor, "closed_loop_error", None)):
            # The engine may close this loop (a synchronous Dask client does, closing):
            # later blocking emits then say so, naming this node, not "loop is closed".
            node = weakref.ref(self)  # the loop's registry must not keep the graph alive
            explain_closed_loop(aloop, lambda: ((n := node()) is not None and n.executor.closed_loop_error(n)) or None)
        # Failures of elements whose emit had already returned (after a buffer), in the
        # order they happened; the next emit raises the oldest, drain() all of them.
        self._held: deque[BaseException] = deque()

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            r = self._emit(self.executor.scatter(x), metadata)
        except Exception as own:
            earlier = self._take_held(x, accepted=False) if self._held else None
            if earlier is None:
                raise
            self._hold_failure(own)  # oldest first: this element's own failure comes next
            raise earlier from None
        if not self._held:
            return r
        exc = self._take_held(x)
        if exc is None:
            return r
        # x is accepted; once its own backpressure has cleared, this emit raises the
        # earlier failure (so a caller that logs and goes on loses nothing).
        return asyncio.ensure_future(self._raise_after(r, exc))

    async def _raise_after(self, pending: Any, exc: BaseException) -> None:
        if pending:
            try:
                await _gather(pending)
            except Exception as own:  # this element's own failure: the next emit gets it
                self._hold_failure(own)
        raise exc

    def _hold_failure(self, exc: BaseException) -> bool:
        """Keep a failure that reached no caller, for the next emit (called by the core)."""
        if not getattr(exc, "_streamz_core_raised", False) and not any(e is exc for e in self._held):
            self._held.append(exc)  # the same exception for many elements is kept once
        return True

    def _take_held(self, x: Any, accepted: bool = True) -> BaseException | None:
        """The oldest kept failure, noted as raised for the emit of ``x`` (or by drain)."""
        while self._held:
            exc = self._held.popleft()
            if getattr(exc, "_streamz_core_raised", False):
                continue  # already raised through another scatter() of the same graph
            if x is no_default:
                note = f"raised by drain(): it happened after its emit into {self!r} had returned"
            else:
                own = (f"{_short(x)} itself was accepted" if accepted
                       else f"{_short(x)} failed too: the next emit raises that")
                note = (f"raised by the emit of {_short(x)} into {self!r}: an earlier element failed "
                        f"after its emit had returned; {own}")
            try:
                exc._streamz_core_raised = True  # type: ignore[attr-defined]
                exc.add_note(note)
            except (AttributeError, TypeError):  # exceptions with __slots__
                pass
            return exc
        return None


@Stream.register_api()
class gather(Stream):
    """Bring remote results back to the loop as values, in the order they were sent.

    Each element waits for its result; the emitter's awaitable (or blocking emit)
    completes once it has been emitted downstream, so a ``buffer(n)`` before ``gather``
    bounds the work in flight. A remote exception is raised here as its own class. On a
    local stream ``gather`` passes elements through, as in streamz.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.scatter(backend='threads').map(lambda x: x * 10).buffer(4).gather().sink_to_list()
    >>> for x in range(3): source.emit(x)
    >>> source.drain()          # wait until the buffered elements are through gather
    >>> L
    [0, 10, 20]
    """

    _accepts_remote = True
    _graphviz_shape = "box"

    def __init__(self, upstream: Stream, **kwargs: Any):
        remote = upstream.executor
        super().__init__(upstream, ensure_io_loop=remote is not None, **kwargs)
        self._remote = remote
        self.executor = None
        self._queue: deque[tuple[Any, Any, asyncio.Future[None]]] = deque()
        self._worker: asyncio.Future[None] | None = None

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        if self._remote is None:
            return self._emit(x, metadata)
        loop = self._aloop
        assert loop is not None
        self._retain_refs(metadata)
        done = loop.create_future()
        self._queue.append((x, metadata, done))
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._drain())
        return done

    def _submitters(self) -> str:
        """The nodes between scatter and here that ran work remotely (for error notes)."""
        found: list[Stream] = []
        todo = list(self.upstreams)
        while todo:
            node = todo.pop()
            if isinstance(node, Stream) and node.executor is not None and not isinstance(node, scatter):
                if hasattr(node, "_update_remote") and node not in found:
                    found.append(node)
                todo.extend(node.upstreams)
        return " or ".join(repr(n) for n in reversed(found)) or "the executor"

    def _in_flight(self) -> asyncio.Future[None] | None:
        """The task still delivering elements, if any (awaited by ``drain``)."""
        return self._worker

    async def _blame(self, x: Any, exc: Exception) -> tuple[Stream, Any, Exception] | None:
        """The node whose remote call failed for ``x``, the value it was given, and its error.

        A call whose input is an earlier remote call that failed fails because of it:
        blame the earliest failing node, with its own exception, as a local chain of
        nodes would report it. ``None`` when the refs' origin is unknown.
        """
        if isinstance(x, (tuple, list)):  # zip of remote branches: the first that failed
            for v in x:
                if self._remote.is_ref(v):
                    try:
                        await self._resolve(v)
                    except Exception as inner:
                        return await self._blame(v, inner)
            return None
        origin = origin_of(x)
        if origin is None:
            return None
        node, element = origin
        try:
            value = await self._resolve(element)
        except Exception as inner:
            return await self._blame(element, inner) or (node, element, exc)
        return node, value, exc

    async def _remote_failure(self, exc: Exception, x: Any, metadata: Any) -> Any:
        """Emit a remote failure on its node's error route, or raise it with a note."""
        if isinstance(exc, ExecutorClosedError):
            _mark_noted(exc)  # one exception for every element in flight: no notes per element
            raise exc
        blamed = await self._blame(x, exc)
        if blamed is not None:
            exc = blamed[2]
        if not getattr(exc, "_streamz_core_noted", False):
            if blamed is None:
                exc.add_note(f"raised remotely in {self._submitters()}; collected by {self!r}")
            else:
                exc.add_note(f"raised remotely in {blamed[0]!r} while processing {_short(blamed[1])}; "
                             f"collected by {self!r}")
            _mark_noted(exc)
        if blamed is not None:
            node, value, _ = blamed
            route = node._dead_letters
            if route is not None and isinstance(exc, node._catch):
                return route._emit(DeadLetter(value, exc, node), metadata)
        raise exc

    async def _resolve(self, x: Any) -> Any:
        ex = self._remote
        if ex.is_ref(x):
            return await ex.gather(x)
        if isinstance(x, (tuple, list)) and any(ex.is_ref(v) for v in x):
            values = await asyncio.gather(*[self._resolve(v) for v in x])
            return type(x)(values)
        return x

    async def _drain(self) -> None:
        queue = self._queue
        try:
            while queue:
                x, md, done = queue[0]
                try:
                    try:
                        value = await self._resolve(x)
                    except Exception as exc:
                        r = await self._remote_failure(exc, x, md)  # routed, or raises
                    else:
                        r = None
                    finally:
                        queue.popleft()
                        self._remote.release(x)
                    if r is None:
                        r = self._emit(value, md)
                    if r:
                        await _gather(r)
                except Exception as exc:
                    if not done.done():
                        done.set_exception(exc)
                else:
                    if not done.done():
                        done.set_result(None)
                finally:
                    self._release_refs(md)
        finally:
            self._worker = None


@Stream.register_api()
def drain(self: Stream) -> Any:
    """Wait until the elements emitted so far are through every ``buffer`` and ``gather``.

    Then raise the remote failures that no emit has raised yet (elements that failed
    after their emit had returned, see docs/errors.md): one as itself, several as an
    ``ExceptionGroup`` (``except* KeyError`` catches either). Blocks in a script or
    an interactive session; in a coroutine, ``await source.drain()``. Call it on any
    node of the graph. Timers (``delay``, ``timed_window``) are not waited for.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.scatter(backend='threads').map(abs).buffer(8).gather().sink_to_list()
    >>> for x in [-1, -2, -3]: source.emit(x)
    >>> source.drain()
    >>> L
    [1, 2, 3]
    """
    aloop = self._aloop
    running = running_loop()
    if aloop is None:  # nothing was ever emitted on a loop: nothing to wait for
        if running is None:
            return None
        done = running.create_future()
        done.set_result(None)
        return done
    if running is aloop:
        return asyncio.ensure_future(_drain_graph(self))
    if running is not None:  # a coroutine on another loop: do not block it
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_drain_graph(self), aloop))
    call_blocking(aloop, lambda: _drain_graph(self))
    return None


async def _drain_graph(node: Stream) -> None:
    nodes = list(node._walk())
    while True:  # a buffer's last element may start a gather's work: look again
        busy = [w for n in nodes if (w := getattr(n, "_in_flight", lambda: None)()) is not None]
        if not busy:
            break
        await asyncio.wait(busy)
    failures = []
    for n in nodes:
        while isinstance(n, scatter) and n._held:
            exc = n._take_held(no_default)
            if exc is not None:
                failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    if failures:  # every one of them, at once: `except* KeyError` catches one or several
        # BaseExceptionGroup gives an ExceptionGroup when every failure is an Exception
        raise BaseExceptionGroup(f"drain(): {len(failures)} elements failed after their emits had returned",
                                 failures)
