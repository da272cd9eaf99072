"""Graph ends: the :class:`Sink` base class, sink, sink_to_list, sink_to_textfile.

Sinks are pinned (kept alive, in ``_global_sinks``) until ``destroy()``, so a pipeline
whose only reference is its sink keeps running; destroying the sink frees the pipeline.
"""
from __future__ import annotations

import asyncio
import inspect
import os
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ._assembly import complete_stream_api
from .core import Stream
from .core import _global_sinks as _global_sinks
from .operators._util import bind_user_function

__all__ = ["Sink", "sink", "sink_to_list", "sink_to_textfile", "SinkList"]
# _global_sinks (imported above) is re-exported: streamz plugins and tests read
# ``streamz.sinks._global_sinks``; it is the set that core pins sinks in.

# The node's own keywords (not **kwargs, which goes to a subclass's other base).
_STREAM_PARAMS = frozenset(
    name for name, p in inspect.signature(Stream).parameters.items() if p.kind is not p.VAR_KEYWORD
)

T = TypeVar("T")


class Sink(Stream):
    """Base class of graph ends: a node pinned in ``_global_sinks`` until ``destroy()``.

    Subclasses (the sinks of plugins) define ``update`` (an ``async def`` one is the
    backpressure) and may override ``destroy()``, calling ``super().destroy()``.

    Examples
    --------
    >>> class to_stdout(Sink):
    ...     def update(self, x, who=None, metadata=None):
    ...         print(x)
    >>> source = Stream()
    >>> end = to_stdout(source)
    >>> source.emit('hi')
    hi
    >>> end.destroy()
    """

    _graphviz_shape = "trapezium"

    def __init__(self, upstream: Stream | None = None, **kwargs: Any):
        super().__init__(upstream, **kwargs)
        _global_sinks.add(self)

    def destroy(self, streams: Any = None) -> None:
        """Detach from the upstreams and unpin this sink."""
        super().destroy(streams)
        _global_sinks.discard(self)


@Stream.register_api()
class sink(Sink):
    """Call ``func(x, *args, **kwargs)`` on every element; the end of a pipeline.

    If ``func`` returns an awaitable (an ``async def`` function, a Tornado coroutine)
    it is the backpressure: the emitter waits for it. Keyword arguments that
    :class:`Stream` takes (``stream_name``, ...) go to the node, the rest to ``func``.

    Examples
    --------
    >>> source = Stream()
    >>> s = source.sink(print)
    >>> source.emit('hello')
    hello
    >>> s.destroy()

    See Also
    --------
    sink_to_list
    """

    _graphviz_shape = "trapezium"

    # Set by bind_user_function (declared here for type checkers).
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    _call: Callable[[Any], Any]
    _async: bool

    def __init__(self, upstream: Stream, func: Any, *args: Any, **kwargs: Any):
        stream_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _STREAM_PARAMS}
        if bind_user_function(self, type(self).__name__, func, args, kwargs):
            stream_kwargs.setdefault("ensure_io_loop", True)
        super().__init__(upstream, **stream_kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            r = self._call(x)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        if r is None or not hasattr(r, "__await__"):
            return None
        return self._backpressure(r, metadata)

    def _backpressure(self, r: Any, metadata: Any) -> Any:
        fut = asyncio.ensure_future(r)
        if metadata:
            self._retain_refs(metadata)
            fut.add_done_callback(lambda _: self._release_refs(metadata))
        return fut


class SinkList(list[T], Generic[T]):
    """The list :func:`sink_to_list` fills; ``.node`` is its sink, for ``destroy()``.

    ``Stream[int]().sink_to_list()`` is a ``SinkList[int]`` for type checkers.
    """

    node: Stream[T]


@Stream.register_api()
class sink_to_list(sink):
    """Append every element to a list and return the list (not the node).

    The list's ``.node`` attribute is the sink: ``L.node.destroy()`` stops it.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.sink_to_list()
    >>> source.emit(1); source.emit(2)
    >>> L
    [1, 2]
    >>> L.node.destroy()
    """

    def __new__(cls, upstream: Stream, **kwargs: Any) -> Any:
        node = super().__new__(cls)
        # __new__ returns the list, not the node, so Python skips __init__: call it here.
        node.__init__(upstream, **kwargs)  # type: ignore[misc]  # node was made by cls: its own __init__
        return node.L

    def __init__(self, upstream: Stream, **kwargs: Any):
        self.L: SinkList[Any] = SinkList()
        self.L.node = self
        super().__init__(upstream, self.L.append, **kwargs)


@Stream.register_api()
class sink_to_textfile(Sink):
    """Write each element followed by ``end`` to a text file (a path or an open file).

    A path is opened with ``mode`` and closed when the sink is destroyed or collected.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), 'out.txt')
    >>> source = Stream()
    >>> s = source.sink_to_textfile(path)
    >>> source.emit('a'); source.emit('b')
    >>> s.destroy()
    >>> open(path).read()
    'a\\nb\\n'
    """

    def __init__(self, upstream: Stream, file: Any, end: str = "\n", mode: str = "a", **kwargs: Any):
        if isinstance(file, (str, os.PathLike)):
            fp = open(file, mode=mode)  # noqa: SIM115 - closed by destroy/finalize
        elif hasattr(file, "write"):
            fp = file
        else:
            raise TypeError(
                f"sink_to_textfile(file={file!r}): expected a path or an open text file"
            )
        self._fp = fp
        self._end = end
        # No reference cycle through the node (a bound method as its function would be
        # one), so dropping the last reference closes the file at once, as in streamz.
        self._closer = weakref.finalize(self, fp.close)
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            self._fp.write(x + self._end)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        return None

    def destroy(self, streams: Any = None) -> None:
        super().destroy(streams)
        self._closer()

# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
