"""The Stream node: wiring, the emit/update/_emit protocol, loop binding, register_api.

Threading rules: a graph without a loop runs in the thread that calls ``emit``,
like a function call (so, like one, it is not serialized against other threads).
A graph with a loop runs only on that loop's thread; ``emit`` from any thread
hops onto it and blocks until downstream backpressure clears, so emitting from
several threads is safe: give a graph fed by several threads a loop
(``asynchronous=False``).

Lifetime: a node holds its upstreams strongly and its downstreams weakly, so a
branch nobody references is collected. Sinks are pinned until ``destroy()``.

The methods' helpers live beside this module, one concern each: ``_links`` (downstream
links, graph walks), ``_binding`` (a graph's loop and mode), ``_backpressure`` (what
``_emit`` returns), ``_failures`` and ``_remote`` (errors; refs after scatter),
``_display`` (repr), ``_defaults``; ``plugins`` does register_api's attaching.
"""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

from . import plugins as _plugins
from ._assembly import complete_stream_api
from ._internals import running_loop
from ._node import binding as _binding
from ._node import display as _display
from ._node import failures as _failures
from ._node import inherit as _inherit
from ._node import links as _links
from ._node import remote as _remote
from ._node.backpressure import _CLOCK_EVERY, _NOTHING, _YIELD_AFTER, _collect, _set_none
from ._node.backpressure import _gather as _gather
from ._node.backpressure import emit_with_metadata as _emit_with_metadata
from ._node.defaults import _NoDefault, identity, no_default  # noqa: F401  (re-exported)
from ._node.failures import DeadLetter
from ._node.failures import _short as _short
from ._node.failures import logger as logger
from ._node.links import _Downstreams
from ._node.remote import _hand_to_scatter as _hand_to_scatter
from ._node.typevars import StreamBase as _StreamBase  # Generic; StreamMethods for type checkers
from ._node.typevars import T, T_co
from .loop import FUTURE, as_asyncio_loop, as_ioloop, call_blocking, call_soon_future, emit_mode
from .metadata import RefCounter, release_refs, retain_refs

# What moved to the private modules above stays importable from here, as before the
# split: operators, sources and sinks import _gather, _short, no_default, ... from core.

__all__ = [
    "DeadLetter",
    "RefCounter",
    "Stream",
    "identity",
    "logger",
    "no_default",
]

_global_sinks: set[Stream] = set()
_NONE: Any = type(None)


class Stream(_StreamBase[T_co]):
    """A node of a streaming pipeline, of elements of type ``T_co`` (for type checkers).

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
    **kwargs
        Passed on to the next base class of a subclass that also derives from
        another class (cooperative multiple inheritance); else a TypeError.

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

    str_list: ClassVar[list[str]] = ["func", "predicate", "n", "interval"]

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

    # The methods that register_api attaches (map, filter, sink_to_list, ...) are
    # declared for type checkers in _stream_methods.pyi.

    def __init__(
        self,
        upstream: Stream | None = None,
        upstreams: Iterable[Any] | None = None,
        stream_name: str | None = None,
        loop: Any = None,
        asynchronous: bool | None = None,
        ensure_io_loop: bool = False,
        **kwargs: Any,
    ):
        self.name = stream_name
        if upstreams is not None:
            self.upstreams = list(upstreams)
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
        _binding.bind_new_node(self, Stream, loop, asynchronous, ensure_io_loop)
        if kwargs:
            self._init_next_base(kwargs)

    def _init_next_base(self, kwargs: dict[str, Any]) -> None:
        """Pass keywords that are not Stream's to the next base class (``_node.inherit``)."""
        _inherit.init_next_base(self, Stream, kwargs)

    def _refuse_remote(self) -> None:
        """Unlink this half-built node and raise: its upstream carries refs, not values."""
        _remote.refuse_remote(self, Stream)

    def _remote_error(self, executor: Any) -> TypeError:
        """The error for this node, which needs values, where refs of ``executor`` flow."""
        return _remote.remote_error(self, executor)

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
        self._set_down((*self._down, _links.weak_link(self, downstream)))

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
        _binding.bind_connected(self, downstream)

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
        return _links.walk(self, Stream)

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
        """Put this node's whole graph on ``aloop`` (ValueError if it runs on another)."""
        _binding.set_loop(self, aloop)

    def _set_asynchronous(self, asynchronous: bool) -> None:
        """Set this node's whole graph's ``asynchronous`` (ValueError on a conflict)."""
        _binding.set_asynchronous(self, asynchronous)

    def _on_loop(self) -> None:
        """Called once this node is bound to a loop; time-based nodes start timers here."""

    def _call_on_loop(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on this node's loop thread (soon, if already there)."""
        _binding.call_on_loop(self, fn)

    # --------------------------------------------------------------- protocol
    # `x: T_co` although T_co is covariant (hence the ignore): checking what goes in is
    # worth more than the soundness lost when a Stream[int] is upcast to Stream[object].
    def emit(self, x: T_co, asynchronous: bool = False, metadata: list[dict[str, Any]] | None = None) -> Any:  # type: ignore[misc]
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
            if not self.asynchronous:  # no loop: a plain call in the caller's thread
                self._emit(x, metadata)
                return None
            aloop = self._bind_running_loop()
        # How this caller reaches the loop is loop.emit_mode's decision. Its first answer,
        # ON_LOOP (run now; the awaitable carries backpressure), is tested inline: it is
        # the hot path of `await source.emit(x)`, where one more call costs ~5 % of it.
        if running_loop() is aloop:
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
        if self.asynchronous and not aloop.is_running():  # streamz scripts seed, then run the loop
            return _binding.emit_before_loop_runs(self, aloop, x, metadata)
        if emit_mode(aloop, asynchronous) is FUTURE:
            return call_soon_future(aloop, lambda: self._emit_gathered(x, metadata))
        call_blocking(aloop, lambda: self._emit_gathered(x, metadata))  # BLOCK
        return None

    def _bind_running_loop(self) -> asyncio.AbstractEventLoop:
        """Bind this ``asynchronous=True`` graph, built outside a loop, to the caller's
        running loop, or else to this thread's current one (``IOLoop.current()``)."""
        return _binding.bind_running_loop(self)

    def _loop_turn(self, aloop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """A future done on the loop's next turn if this node has kept the loop busy
        for ``_YIELD_AFTER`` seconds, else None. Called every ``_CLOCK_EVERY`` emits
        that had no backpressure; see the note at ``_backpressure._CLOCK_EVERY``."""
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

        A list, as in streamz; when there are none, one shared empty list that refuses
        changes (no allocation on the hot path): copy it to change it.
        """
        if metadata:
            return _emit_with_metadata(self, x, metadata)
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

    # streamz's names for the metadata helpers, which nodes call as self._retain_refs(md).
    _retain_refs = staticmethod(retain_refs)
    _release_refs = staticmethod(release_refs)

    # ------------------------------------------------------------ error route
    def on_exception(self, *exceptions: type[BaseException]) -> Stream[DeadLetter]:
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
        return _failures.error_route(self, exceptions, Stream)

    def _fail(self, exc: BaseException, x: Any, metadata: Any = None) -> Any:
        """Route a failure of this node's function, or raise it naming the node."""
        route = self._dead_letters
        if route is not None and isinstance(exc, self._catch):
            return route._emit(DeadLetter(x, exc, self), metadata)
        _failures.note_failure(self, exc, x)
        raise exc

    def _report(self, exc: BaseException, x: Any = no_default) -> None:
        """An error with no caller to reach (timer-driven emit): route or log it.

        ``x`` is the element being handled, if there is one.
        """
        _failures.report(self, exc, x)

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
        return _display.describe(self)

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
        return _plugins._api_registrar(cls, modifier, attribute_name)

    @classmethod
    def register_plugin_entry_point(cls, entry_point: Any, modifier: Callable[[Any], Any] = identity) -> None:
        """Register an entry point's node under its name, loading it on first use."""
        _plugins._register_entry_point(cls, entry_point, modifier)

    # ------------------------------------------------------------ graph views
    def visualize(self, filename: str = "mystream.png", **kwargs: Any) -> Any:
        """Render the graph with graphviz (see :func:`streamz_core.graph.visualize`)."""
        from .graph import visualize

        return visualize(self, filename, **kwargs)


# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
