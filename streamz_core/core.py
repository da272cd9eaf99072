"""The Stream node: wiring, the emit/update/_emit protocol, loop binding, register_api.

Threading rules: a graph without a loop runs in the thread that calls ``emit``,
like a function call (so, like one, it is not serialized against other threads).
A graph with a loop runs only on that loop's thread; ``emit`` from any thread
hops onto it and blocks until downstream backpressure clears, so emitting from
several threads is safe: give a graph fed by several threads a loop
(``asynchronous=False``).

Lifetime: a node holds its upstreams strongly and its downstreams weakly, so a
branch nobody references is collected. Sinks are pinned until ``destroy()``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import weakref
from asyncio import _get_running_loop
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .loop import (
    as_asyncio_loop,
    as_ioloop,
    call_blocking,
    get_background_loop,
    thread_state,
)
from .metadata import RefCounter, release_refs, retain_refs

__all__ = [
    "DeadLetter",
    "RefCounter",
    "Stream",
    "identity",
    "no_default",
]

T = TypeVar("T")

# Returned by _emit when no downstream asked for backpressure. A shared empty
# tuple costs nothing to return and still supports len(), iteration and `+`.
_NOTHING: tuple[()] = ()

_global_sinks: set[Stream] = set()
_NONE: Any = type(None)

# A coroutine that awaits an emit with no backpressure gets a future that is already
# done, and awaiting that does not give the loop a turn: a producer doing nothing but
# `await source.emit(x)` would starve timers (timed_window, rate_limit slots), IO and
# other tasks forever. So a node that has run for _YIELD_AFTER seconds of loop time
# without yielding hands back a future that completes on the loop's next turn instead.
# Reading the clock costs ~0.1 us, so it is read only every _CLOCK_EVERY such emits;
# the forced yield (a few us) then happens about once per millisecond: well under 1 %
# of the emit cost, and timers fire at most about a millisecond late.
_CLOCK_EVERY = 16
_YIELD_AFTER = 0.001


def identity(x: T) -> T:
    """Return ``x`` unchanged (the default key of several nodes).

    Examples
    --------
    >>> identity(3)
    3
    """
    return x


class _NoDefault:
    def __repr__(self) -> str:
        return "no_default"


no_default: Any = _NoDefault()


class DeadLetter:
    """An element a node failed on, with the exception; emitted on its error route.

    See :meth:`Stream.on_exception`.

    Examples
    --------
    >>> source = Stream()
    >>> parsed = source.map(int)
    >>> bad = parsed.on_exception(ValueError).sink_to_list()
    >>> good = parsed.sink_to_list()
    >>> for x in ["1", "x", "3"]: source.emit(x)
    >>> good, [d.value for d in bad]
    ([1, 3], ['x'])
    """

    __slots__ = ("value", "exception", "node")

    def __init__(self, value: Any, exception: BaseException, node: Stream):
        self.value = value
        self.exception = exception
        self.node = node

    def __repr__(self) -> str:
        return f"DeadLetter(value={self.value!r}, exception={self.exception!r}, node={self.node!r})"


class _Downstreams:
    """A read-only live view of a node's downstreams (streamz exposes a weak set)."""

    __slots__ = ("_node",)

    def __init__(self, node: Stream):
        self._node = node

    def __iter__(self) -> Iterator[Stream]:
        for ref in self._node._down:
            d = ref()
            if d is not None:
                yield d

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, other: object) -> bool:
        return any(d is other for d in self)

    def __repr__(self) -> str:
        return f"Downstreams({list(self)!r})"


def _collect(result: Any, r: Any) -> list[Any]:
    """Add one downstream's backpressure (an awaitable or a list of them) to ``result``."""
    if result is _NOTHING:
        result = []
    if type(r) is list or type(r) is tuple:
        result.extend(r)
    else:
        result.append(r)
    return result


def _gather(results: list[Any]) -> Any:
    """One awaitable for the backpressure awaitables that ``_emit`` collected."""
    if len(results) == 1 and isinstance(results[0], asyncio.Future):
        return results[0]
    return asyncio.gather(*results)


class Stream:
    """A node of a streaming pipeline.

    Elements enter with :meth:`emit` and flow to downstream nodes, each of which
    handles them in :meth:`update` and passes results on with :meth:`_emit`.

    Parameters
    ----------
    upstream, upstreams
        The node(s) this one listens to.
    stream_name
        A name shown in ``repr`` and graph drawings.
    loop
        A Tornado ``IOLoop`` or an asyncio loop the graph runs on.
    asynchronous
        ``True``: the caller runs an event loop and awaits ``emit``. ``False``: run
        the graph on a shared background loop thread; ``emit`` blocks.
    ensure_io_loop
        The node needs a loop (time-based nodes); without one given, use the
        background loop thread.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.map(lambda x: x + 1).sink_to_list()
    >>> for x in [1, 2, 3]: source.emit(x)
    >>> L
    [2, 3, 4]
    """

    _graphviz_shape = "ellipse"
    _graphviz_style = "rounded,filled"
    _graphviz_fillcolor = "white"
    _graphviz_orientation = 0

    str_list = ["func", "predicate", "n", "interval"]

    # Class-level defaults keep instance dicts small and let subclasses that skip
    # Stream.__init__ (old custom nodes) still work.
    _aloop: asyncio.AbstractEventLoop | None = None
    _done: asyncio.Future[None] | None = None
    _until_clock = 0  # emits without backpressure left before the clock is read
    _yield_at = 0.0  # loop time after which such an emit yields to the loop
    _dead_letters: Stream | None = None
    _catch: tuple[type[BaseException], ...] = ()
    _down: tuple[weakref.ref[Stream], ...] = ()
    _only: Any = _NONE
    asynchronous: bool | None = None
    # The executor whose refs flow here (set by scatter, inherited downstream, cleared
    # by gather), and whether this node may receive refs instead of values.
    executor: Any = None
    _accepts_remote = False

    if TYPE_CHECKING:  # the methods register_api attaches, declared for type checkers
        # Transform, select, aggregate (streamz_core.operators.*)
        def map(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Stream: ...
        def starmap(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Stream: ...
        def pluck(self, pick: Any, **kwargs: Any) -> Stream: ...
        def flatten(self, **kwargs: Any) -> Stream: ...
        def concat(self, **kwargs: Any) -> Stream: ...
        def filter(self, predicate: Callable[..., Any] | None, *args: Any, **kwargs: Any) -> Stream: ...
        def remove(self, predicate: Callable[..., Any], *args: Any, **kwargs: Any) -> Stream: ...
        def unique(self, maxsize: int | None = None, key: Any = ..., hashable: bool = True, **kwargs: Any) -> Stream: ...
        def slice(self, start: int | None = None, end: int | None = None, step: int | None = None, **kwargs: Any) -> Stream: ...
        def accumulate(self, func: Callable[..., Any], start: Any = ..., returns_state: bool = False, with_state: bool = False, **kwargs: Any) -> Stream: ...
        def scan(self, func: Callable[..., Any], start: Any = ..., returns_state: bool = False, with_state: bool = False, **kwargs: Any) -> Stream: ...
        def partition(self, n: int, timeout: Any = None, key: Any = None, **kwargs: Any) -> Stream: ...
        def partition_unique(self, n: int, key: Any = ..., keep: str = "first", **kwargs: Any) -> Stream: ...
        def sliding_window(self, n: int, return_partial: bool = True, **kwargs: Any) -> Stream: ...
        def collect(self, cache: Any = None, metadata_cache: Any = None, **kwargs: Any) -> Stream: ...
        def frequencies(self, **kwargs: Any) -> Stream: ...
        # Combine, time, flow
        def zip(self, *upstreams: Any, maxsize: int = 10, **kwargs: Any) -> Stream: ...
        def combine_latest(self, *upstreams: Stream, emit_on: Any = None, **kwargs: Any) -> Stream: ...
        def zip_latest(self, *upstreams: Stream, **kwargs: Any) -> Stream: ...
        def union(self, *upstreams: Stream, **kwargs: Any) -> Stream: ...
        def delay(self, interval: Any, **kwargs: Any) -> Stream: ...
        def rate_limit(self, interval: Any, **kwargs: Any) -> Stream: ...
        def timed_window(self, interval: Any, **kwargs: Any) -> Stream: ...
        def timed_window_unique(self, interval: Any, key: Any = ..., keep: str = "first", **kwargs: Any) -> Stream: ...
        def buffer(self, n: int, **kwargs: Any) -> Stream: ...
        def latest(self, **kwargs: Any) -> Stream: ...
        # Executors (streamz_core.operators.parallel)
        def scatter(self, backend: Any = None, **kwargs: Any) -> Stream: ...
        def gather(self, **kwargs: Any) -> Stream: ...
        def drain(self) -> Any: ...
        # Sinks and batches
        def sink(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Stream: ...
        def sink_to_list(self, **kwargs: Any) -> list[Any]: ...
        def sink_to_textfile(self, file: Any, end: str = "\n", mode: str = "a", **kwargs: Any) -> Stream: ...
        def to_batch(self, **kwargs: Any) -> Any: ...
        # Sources (static methods)
        @staticmethod
        def from_iterable(iterable: Iterable[Any], **kwargs: Any) -> Stream: ...
        @staticmethod
        def from_periodic(callback: Callable[[], Any], poll_interval: Any = 0.1, **kwargs: Any) -> Stream: ...
        @staticmethod
        def from_q(q: Any, sleep_time: Any = 0.01, **kwargs: Any) -> Stream: ...
        @staticmethod
        def from_textfile(f: Any, poll_interval: Any = 0.1, delimiter: str = "\n", from_end: bool = False, **kwargs: Any) -> Stream: ...
        @staticmethod
        def filenames(path: str, poll_interval: Any = 0.1, **kwargs: Any) -> Stream: ...
        @staticmethod
        def from_tcp(port: int, delimiter: bytes = b"\n", server_kwargs: dict[str, Any] | None = None, host: str | None = "127.0.0.1", **kwargs: Any) -> Stream: ...
        @staticmethod
        def from_http_server(port: int, path: str = "/.*", server_kwargs: dict[str, Any] | None = None, host: str | None = "127.0.0.1", **kwargs: Any) -> Stream: ...
        @staticmethod
        def from_process(cmd: Any, open_kwargs: dict[str, Any] | None = None, with_stderr: bool = False, with_end: bool = True, **kwargs: Any) -> Stream: ...

    def __init__(
        self,
        upstream: Stream | None = None,
        upstreams: Iterable[Any] | None = None,
        stream_name: str | None = None,
        loop: Any = None,
        asynchronous: bool | None = None,
        ensure_io_loop: bool = False,
    ):
        self.name = stream_name
        if upstreams is not None:
            self.upstreams = [u for u in upstreams]
        elif upstream is not None:
            self.upstreams = [upstream]
        else:
            self.upstreams = []
        for up in self.upstreams:
            if isinstance(up, Stream):
                up._add_downstream(self)
                if up.executor is not None and self.executor is None:
                    self.executor = up.executor
        if self.executor is not None and not self._accepts_remote:
            self._refuse_remote()

        if loop is not None:
            self._set_loop(as_asyncio_loop(loop))
        if asynchronous is not None:
            self._set_asynchronous(asynchronous)
        for up in self.upstreams:
            if isinstance(up, Stream) and up._aloop is not None and self._aloop is None:
                self._set_loop(up._aloop)
            if isinstance(up, Stream) and up.asynchronous is not None and self.asynchronous is None:
                self._set_asynchronous(up.asynchronous)
        if ensure_io_loop and self._aloop is None and self.asynchronous is None:
            self._set_asynchronous(False)
        if self._aloop is None and self.asynchronous is not None:
            if self.asynchronous:
                running = _get_running_loop()
                if running is not None:  # else bound at the first emit
                    self._set_loop(running)
            else:
                self._set_loop(get_background_loop())

    def _refuse_remote(self) -> None:
        """Unlink this half-built node and raise: its upstream carries refs, not values."""
        for up in self.upstreams:
            if isinstance(up, Stream):
                up._remove_downstream(self)
        raise self._remote_error(self.executor)

    def _remote_error(self, executor: Any) -> TypeError:
        # A node that needs values would silently get futures (streamz #176).
        return TypeError(
            f"{type(self).__name__}() needs values, but its upstream carries remote results "
            f"of {executor!r} (after scatter()); add .gather() before it, or use map() "
            "to run the work remotely"
        )

    # ------------------------------------------------------------------ wiring
    @property
    def upstream(self) -> Stream | None:
        """The single upstream; raises when the node has several."""
        if len(self.upstreams) > 1:
            raise ValueError(f"{self!r} has {len(self.upstreams)} upstreams; use .upstreams")
        return self.upstreams[0] if self.upstreams else None

    @property
    def downstreams(self) -> _Downstreams:
        """The live downstream nodes (held weakly)."""
        return _Downstreams(self)

    def _add_downstream(self, downstream: Stream) -> None:
        if any(r() is downstream for r in self._down):
            return  # one link per pair, like streamz's set: a.union(a) sees each x once
        selfref = weakref.ref(self)

        def gone(ref: weakref.ref[Stream]) -> None:
            node = selfref()
            if node is not None:
                node._set_down(tuple(r for r in node._down if r is not ref))

        self._set_down(self._down + (weakref.ref(downstream, gone),))

    def _remove_downstream(self, downstream: Stream) -> None:
        self._set_down(tuple(r for r in self._down if r() is not downstream))

    def _set_down(self, refs: tuple[weakref.ref[Stream], ...]) -> None:
        # Copy-on-write: _emit iterates a tuple that never changes under it.
        # `_only` is the hot path: calling it gives the single downstream, or None
        # when there are several (NoneType() is a cheap C call returning None).
        self._down = refs
        self._only = refs[0] if len(refs) == 1 else _NONE

    def _add_upstream(self, upstream: Stream) -> None:
        self.upstreams.append(upstream)

    def _remove_upstream(self, upstream: Stream) -> None:
        self.upstreams.remove(upstream)

    def connect(self, downstream: Stream) -> None:
        """Make ``downstream`` receive this node's elements.

        Examples
        --------
        >>> a, b = Stream(), Stream()
        >>> L = b.sink_to_list()
        >>> a.connect(b)
        >>> a.emit(1)
        >>> L
        [1]
        """
        if not isinstance(downstream, Stream):
            raise TypeError(f"connect({downstream!r}): expected a Stream node to send elements to")
        if self.executor is not None and not downstream._accepts_remote:
            raise downstream._remote_error(self.executor)
        downstream._add_upstream(self)
        self._add_downstream(downstream)
        if self.executor is not None and downstream.executor is None:
            downstream.executor = self.executor
        if self._aloop is not None:
            downstream._set_loop(self._aloop)
        elif downstream._aloop is not None:
            self._set_loop(downstream._aloop)
        if self.asynchronous is not None:
            downstream._set_asynchronous(self.asynchronous)
        elif downstream.asynchronous is not None:
            self._set_asynchronous(downstream.asynchronous)

    def disconnect(self, downstream: Stream) -> None:
        """Stop sending elements to ``downstream``."""
        downstream._remove_upstream(self)
        self._remove_downstream(downstream)

    def destroy(self, streams: Iterable[Stream] | None = None) -> None:
        """Detach this node from its upstreams (all, or those given) and unpin it.

        Examples
        --------
        >>> source = Stream()
        >>> L = []
        >>> s = source.sink(L.append)
        >>> s.destroy()
        >>> source.emit(1)
        >>> L
        []
        """
        for up in list(self.upstreams if streams is None else streams):
            if isinstance(up, Stream):
                up._remove_downstream(self)
            self._remove_upstream(up)
        _global_sinks.discard(self)

    def _walk(self) -> Iterator[Stream]:
        """Every node connected to this one (depth-first), including error routes."""
        seen = {id(self)}
        todo = [self]
        while todo:
            node = todo.pop()
            yield node
            neighbours = [*node.upstreams, *node.downstreams]
            if node._dead_letters is not None:
                neighbours.append(node._dead_letters)
            for other in neighbours:
                if isinstance(other, Stream) and id(other) not in seen:
                    seen.add(id(other))
                    todo.append(other)

    # --------------------------------------------------------------- the loop
    @property
    def loop(self) -> Any:
        """The Tornado ``IOLoop`` this graph runs on, or ``None``."""
        return None if self._aloop is None else as_ioloop(self._aloop)

    @loop.setter
    def loop(self, value: Any) -> None:
        if value is None:
            self._aloop = None
        else:
            self._set_loop(as_asyncio_loop(value))

    def _set_loop(self, aloop: asyncio.AbstractEventLoop) -> None:
        for node in self._walk():
            current = node._aloop
            if current is None:
                node._aloop = aloop
                node._done = None
                node._on_loop()
            elif current is not aloop:
                raise ValueError(
                    f"Two different event loops active: {node!r} runs on {current!r} and "
                    f"{self!r} on {aloop!r}; build each graph on one loop"
                )

    def _set_asynchronous(self, asynchronous: bool) -> None:
        for node in self._walk():
            if node.asynchronous is None:
                node.asynchronous = asynchronous
            elif node.asynchronous != asynchronous:
                raise ValueError(
                    f"Stream has both asynchronous and synchronous elements: {node!r} has "
                    f"asynchronous={node.asynchronous!r}, {self!r} asks for {asynchronous!r}; "
                    "pass the same asynchronous= to every source"
                )

    def _on_loop(self) -> None:
        """Called once this node is bound to a loop; time-based nodes start timers here."""

    def _call_on_loop(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on this node's loop thread (now, if already there)."""
        aloop = self._aloop
        assert aloop is not None
        if _get_running_loop() is aloop:
            aloop.call_soon(fn)
        else:
            aloop.call_soon_threadsafe(fn)

    # --------------------------------------------------------------- protocol
    def emit(self, x: Any, asynchronous: bool = False, metadata: list[dict[str, Any]] | None = None) -> Any:
        """Push ``x`` into the graph from this node.

        Without a loop the graph runs in the caller and this returns ``None``. On the
        loop's own thread (``asynchronous=True`` graphs) it returns an awaitable that
        completes when downstream backpressure clears; with none, it is done at once,
        or, about once per millisecond of emitting, on the loop's next turn, so that a
        coroutine that only awaits ``emit`` still lets timers and IO run. From any
        other thread it hops onto the loop and blocks until then. Exceptions reach
        the caller.

        Examples
        --------
        >>> source = Stream()
        >>> L = source.sink_to_list()
        >>> source.emit('hello')
        >>> L
        ['hello']
        """
        aloop = self._aloop
        if aloop is None:
            if not self.asynchronous:
                self._emit(x, metadata)
                return None
            aloop = _get_running_loop()
            if aloop is None:
                raise RuntimeError(
                    f"{self!r} was built with asynchronous=True but emit() was called outside "
                    "a running event loop; call `await source.emit(x)` inside a coroutine, or "
                    "build the source with asynchronous=False to use a background loop thread"
                )
            self._set_loop(aloop)
        if _get_running_loop() is aloop:
            result = self._emit(x, metadata)
            if not result:
                left = self._until_clock
                if left:
                    self._until_clock = left - 1
                else:
                    turn = self._loop_turn(aloop)
                    if turn is not None:
                        return turn
                done = self._done
                if done is None:
                    done = self._done = aloop.create_future()
                    done.set_result(None)
                return done
            return _gather(result)
        if asynchronous or thread_state.asynchronous:
            # The caller wants a future (or is itself graph code on another loop):
            # schedule without blocking.
            cf = concurrent.futures.Future()  # type: ignore[var-annotated]

            def run() -> None:
                try:
                    r = self._emit(x, metadata)
                except BaseException as exc:
                    cf.set_exception(exc)
                    return
                if not r:
                    cf.set_result(None)
                else:
                    asyncio.ensure_future(_gather(r)).add_done_callback(
                        functools.partial(_copy_outcome, cf)
                    )

            aloop.call_soon_threadsafe(run)
            return asyncio.wrap_future(cf) if _get_running_loop() is not None else cf
        call_blocking(aloop, lambda: self._emit_gathered(x, metadata))
        return None

    def _loop_turn(self, aloop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """A future done on the loop's next turn if this node has kept the loop busy
        for ``_YIELD_AFTER`` seconds, else None. Called every ``_CLOCK_EVERY`` emits
        that had no backpressure; see the note at ``_CLOCK_EVERY``."""
        self._until_clock = _CLOCK_EVERY
        now = aloop.time()
        if now < self._yield_at:
            return None
        self._yield_at = now + _YIELD_AFTER
        turn = aloop.create_future()
        aloop.call_soon(_set_none, turn)
        return turn

    def _emit_gathered(self, x: Any, metadata: Any) -> Any:
        result = self._emit(x, metadata)
        return _gather(result) if result else None

    def update(self, x: Any, who: Stream | None = None, metadata: list[dict[str, Any]] | None = None) -> Any:
        """Handle an element from upstream ``who``; return backpressure awaitables, if any."""
        return self._emit(x, metadata)

    def _emit(self, x: Any, metadata: list[dict[str, Any]] | None = None) -> Any:
        """Send ``x`` to every downstream; return the awaitables they returned.

        Returns an empty tuple when there are none (no allocation on the hot path),
        else a list, like streamz.
        """
        if metadata:
            return self._emit_with_metadata(x, metadata)
        node = self._only()
        if node is not None:
            r = node.update(x, self)
            if not r:
                return _NOTHING
            return r if type(r) is list else [r]
        result: Any = _NOTHING
        for ref in self._down:
            node = ref()
            if node is not None:
                r = node.update(x, self)
                if r:
                    result = _collect(result, r)
        return result

    def _emit_with_metadata(self, x: Any, metadata: list[dict[str, Any]]) -> Any:
        result: Any = _NOTHING
        nodes = [n for n in (ref() for ref in self._down) if n is not None]
        # Hold the element once per branch before any branch runs, so a ref cannot
        # reach zero (and report "done") while later branches have not seen it yet.
        retain_refs(metadata, len(nodes))
        for i, node in enumerate(nodes):
            try:
                r = node.update(x, self, metadata=metadata)
            except BaseException:
                release_refs(metadata, len(nodes) - i)
                raise
            release_refs(metadata)
            if r:
                result = _collect(result, r)
        return result

    async def _emit_async(self, x: Any, metadata: Any = None, *, held: bool = False) -> None:
        """Emit ``x`` from the loop and wait for downstream; report errors and go on.

        For elements that no caller waits for (sources, buffers, delays). ``held``: this
        node retained ``metadata`` while it held the element; release it afterwards.
        """
        try:
            r = self._emit(x, metadata)
            if r:
                await _gather(r)
            else:
                # A source in a tight loop must not starve timers either (see emit).
                left = self._until_clock
                if left:
                    self._until_clock = left - 1
                elif self._aloop is not None:
                    turn = self._loop_turn(self._aloop)
                    if turn is not None:
                        await turn
        except Exception as exc:
            self._report(exc, x)
        finally:
            if held:
                release_refs(metadata)

    @staticmethod
    def _retain_refs(metadata: list[dict[str, Any]] | None, n: int = 1) -> None:
        retain_refs(metadata, n)

    @staticmethod
    def _release_refs(metadata: list[dict[str, Any]] | None, n: int = 1) -> None:
        release_refs(metadata, n)

    # ------------------------------------------------------------ error route
    def on_exception(self, *exceptions: type[BaseException]) -> Stream:
        """Return this node's error route: elements it fails on, as :class:`DeadLetter`.

        Without a route, an exception raised by the node's function reaches the caller
        of ``emit``. With one, a matching exception (default ``Exception``) is emitted
        on the route instead and the pipeline goes on with the next element.

        Examples
        --------
        >>> source = Stream()
        >>> inv = source.map(lambda x: 1 / x)
        >>> errors = inv.on_exception(ZeroDivisionError).sink_to_list()
        >>> out = inv.sink_to_list()
        >>> for x in [1, 0, 2]: source.emit(x)
        >>> out, [e.value for e in errors]
        ([1.0, 0.5], [0])
        """
        for exc in exceptions:
            if not (isinstance(exc, type) and issubclass(exc, BaseException)):
                raise TypeError(
                    f"on_exception({exc!r}): expected exception classes such as ValueError"
                )
        if self._dead_letters is None:
            self._dead_letters = Stream(stream_name=f"{self.name or type(self).__name__}.errors")
            self._dead_letters.upstreams = [self]  # keep this node alive with its route
        self._catch = exceptions or (Exception,)
        return self._dead_letters

    def _fail(self, exc: BaseException, x: Any, metadata: Any = None) -> Any:
        """Route a failure of this node's function, or raise it naming the node."""
        route = self._dead_letters
        if route is not None and isinstance(exc, self._catch):
            return route._emit(DeadLetter(x, exc, self), metadata)
        if not getattr(exc, "_streamz_core_noted", False):
            where = f"raised in {self!r}"
            if x is not no_default:
                where += f" while processing {_short(x)}"
            try:
                exc.add_note(where)
                exc._streamz_core_noted = True  # type: ignore[attr-defined]
            except (AttributeError, TypeError):  # exceptions with __slots__
                pass
        raise exc

    def _report(self, exc: BaseException, x: Any = no_default) -> None:
        """An error with no caller to reach (timer-driven emit): route or log it.

        ``x`` is the element being handled, if there is one.
        """
        try:
            self._fail(exc, x)
        except BaseException as e:
            if self.executor is not None and _hand_to_scatter(self, e):
                return  # between scatter() and gather(): the next emit raises it
            loop = self._aloop or _get_running_loop()
            context = {"message": f"unhandled error in {self!r}", "exception": e}
            if loop is not None:
                loop.call_exception_handler(context)

    # ------------------------------------------------------------ start/stop
    def start(self) -> None:
        """Start the sources upstream of this node."""
        for up in self.upstreams:
            if isinstance(up, Stream):
                up.start()

    def stop(self) -> None:
        """Stop the sources upstream of this node."""
        for up in self.upstreams:
            if isinstance(up, Stream):
                up.stop()

    # --------------------------------------------------------------- naming
    def __str__(self) -> str:
        parts = []
        for attr in self.str_list:
            value = getattr(self, attr, None)
            if value is None or value is False or (not callable(value) and not str(value)):
                continue
            if callable(value):
                shown = getattr(value, "__name__", type(value).__name__)
            else:
                shown = str(value)
            parts.append((attr, shown))
        head = type(self).__name__ if not self.name else f"{self.name}; {type(self).__name__}"
        if not parts:
            return f"<{head}>"
        if len(parts) == 1:
            return f"<{head}: {parts[0][1]}>"
        return f"<{head}: " + ", ".join(f"{k}={v}" for k, v in parts) + ">"

    __repr__ = __str__

    def _ipython_display_(self, **kwargs: Any) -> None:  # pragma: no cover - notebook only
        print(repr(self))

    # ----------------------------------------------------------- extension
    @classmethod
    def register_api(cls, modifier: Callable[[Any], Any] = identity, attribute_name: str | None = None) -> Callable[[T], T]:
        """Decorator: attach a node class (or function) as a method of ``cls``.

        Examples
        --------
        >>> @Stream.register_api()
        ... class double(Stream):
        ...     def update(self, x, who=None, metadata=None):
        ...         return self._emit(2 * x, metadata=metadata)
        >>> source = Stream()
        >>> L = source.double().sink_to_list()
        >>> source.emit(4)
        >>> L
        [8]
        """

        def register(func: T) -> T:
            @functools.wraps(func)  # type: ignore[arg-type]
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                return func(*args, **kwargs)  # type: ignore[operator]

            setattr(cls, attribute_name or func.__name__, modifier(wrapped))  # type: ignore[attr-defined]
            return func

        return register

    @classmethod
    def register_plugin_entry_point(cls, entry_point: Any, modifier: Callable[[Any], Any] = identity) -> None:
        """Register an entry point's node under its name, loading it on first use."""
        if hasattr(cls, entry_point.name):
            raise ValueError(
                f"Can't add {entry_point.name!r} from {entry_point.value!r} to {cls.__name__}: "
                "a method of that name already exists; rename the entry point"
            )

        def stub(*args: Any, **kwargs: Any) -> Any:
            node = entry_point.load()
            if not (isinstance(node, type) and issubclass(node, Stream)):
                raise TypeError(
                    f"entry point {entry_point.name!r} ({entry_point.value}) is {node!r}, "
                    "not a Stream subclass; point it at a class deriving from Stream"
                )
            cls.register_api(modifier=modifier, attribute_name=entry_point.name)(node)
            return node(*args, **kwargs)

        stub.__name__ = entry_point.name
        setattr(cls, entry_point.name, modifier(stub))

    # ------------------------------------------------------------ graph views
    def visualize(self, filename: str = "mystream.png", **kwargs: Any) -> Any:
        """Render the graph with graphviz (see :func:`streamz_core.graph.visualize`)."""
        from .graph import visualize

        return visualize(self, filename, **kwargs)


def _set_none(fut: asyncio.Future[None]) -> None:
    if not fut.done():  # the awaiting task may have been cancelled meanwhile
        fut.set_result(None)


def _hand_to_scatter(node: Stream, exc: BaseException) -> bool:
    """Give a failure with no caller to the ``scatter`` nodes upstream of ``node``.

    They raise it at the next emit through them (operators/parallel.py); True if any did.
    """
    taken, seen, todo = False, set(), [node]
    while todo:
        n = todo.pop()
        hold = getattr(n, "_hold_failure", None)
        if hold is not None:
            taken = hold(exc) or taken
            continue
        for up in n.upstreams:
            if isinstance(up, Stream) and up.executor is not None and id(up) not in seen:
                seen.add(id(up))
                todo.append(up)
    return taken


def _copy_outcome(cf: concurrent.futures.Future[Any], fut: asyncio.Future[Any]) -> None:
    if fut.cancelled():
        cf.cancel()
    elif fut.exception() is not None:
        cf.set_exception(fut.exception())
    else:
        cf.set_result(None)


def _short(x: Any, limit: int = 200) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."

