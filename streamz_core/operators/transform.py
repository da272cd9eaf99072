"""Element-wise transforms: map, starmap, pluck, flatten (concat)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..core import Stream
from ..executor import local_value, note_origin
from ._util import bind_user_function

__all__ = ["map", "starmap", "pluck", "flatten", "concat"]


class _AwaitingNode(Stream):
    """Shared by map and starmap: await a coroutine result, then emit it."""

    _accepts_remote = True  # after scatter() they submit to the executor

    # Set by bind_user_function (declared here for type checkers).
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    _call: Callable[[Any], Any]
    _async: bool

    def _spawn(self, pending: Any, x: Any, metadata: Any) -> Any:
        task = asyncio.ensure_future(self._finish(pending, x, metadata))
        if metadata:
            # Hold the element now: the caller's _emit releases its own hold as soon as
            # update returns, before the task starts (or if it is cancelled unstarted).
            self._retain_refs(metadata)
            task.add_done_callback(lambda _: self._release_refs(metadata))
        return task

    async def _finish(self, pending: Any, x: Any, metadata: Any) -> None:
        try:
            y = await pending
        except Exception as exc:
            r = self._fail(exc, x, metadata)
        else:
            r = self._emit(y, metadata)
        if r:
            await asyncio.gather(*r)


@Stream.register_api()
class map(_AwaitingNode):
    """Apply ``func(x, *args, **kwargs)`` to every element.

    Runs in the thread that emits (or on the graph's loop). An ``async def`` function
    is awaited on the loop; its result is emitted when ready and the emitter's
    awaitable waits for it. A failing call raises to the caller of ``emit`` (with a
    note naming this node) unless :meth:`~Stream.on_exception` gives it an error route.

    Parameters
    ----------
    func
        The function to apply.
    *args, **kwargs
        Extra arguments for ``func``; ``stream_name=`` is taken by the node.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.map(pow, 2).sink_to_list()
    >>> for x in [1, 2, 3]: source.emit(x)
    >>> L
    [1, 4, 9]

    See Also
    --------
    starmap, filter
    """

    def __init__(self, upstream: Stream, func: Any, *args: Any, **kwargs: Any):
        stream_name = kwargs.pop("stream_name", None)
        if bind_user_function(self, "map", func, args, kwargs):
            self.update = self._update_async  # type: ignore[method-assign]
        super().__init__(upstream, stream_name=stream_name, ensure_io_loop=self._async)
        if self.executor is not None:
            self.update = self._update_remote  # type: ignore[method-assign]

    def _update_remote(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            ref = self.executor.submit(self.func, x, *self.args, **self.kwargs)
        except Exception as exc:
            return self._fail(exc, local_value(x), metadata)
        return self._emit(note_origin(ref, self, x), metadata)  # for gather's error note

    def _update_async(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            pending = self._call(x)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        return self._spawn(pending, x, metadata)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            y = self._call(x)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        if metadata is None:
            # Inlined single-downstream _emit: the per-element cost of a chain.
            node = self._only()
            if node is not None:
                return node.update(y, self)
        return self._emit(y, metadata)


def _star(func: Any, x: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """starmap's call, as a module-level function so that it pickles for remote work."""
    return func(*x, *args, **kwargs)


@Stream.register_api()
class starmap(_AwaitingNode):
    """Apply ``func(*x, *args, **kwargs)``: each element is a tuple of arguments.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.starmap(lambda a, b: a + b).sink_to_list()
    >>> source.emit((1, 2)); source.emit((10, 20))
    >>> L
    [3, 30]

    See Also
    --------
    map
    """

    def __init__(self, upstream: Stream, func: Any, *args: Any, **kwargs: Any):
        stream_name = kwargs.pop("stream_name", None)
        bind_user_function(self, "starmap", func, args, kwargs)
        super().__init__(upstream, stream_name=stream_name, ensure_io_loop=self._async)
        if self.executor is not None:
            self.update = self._update_remote  # type: ignore[method-assign]

    def _update_remote(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            ref = self.executor.submit(_star, self.func, x, self.args, self.kwargs)
        except Exception as exc:
            return self._fail(exc, local_value(x), metadata)
        return self._emit(note_origin(ref, self, x), metadata)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            y = self.func(*x, *self.args, **self.kwargs)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        if self._async:
            return self._spawn(y, x, metadata)
        return self._emit(y, metadata)


@Stream.register_api()
class pluck(Stream):
    """Select ``x[pick]``; a list ``pick`` selects several items as a tuple.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.pluck('name').sink_to_list()
    >>> source.emit({'name': 'ada', 'age': 36})
    >>> L
    ['ada']
    >>> source = Stream()
    >>> L = source.pluck([0, 2]).sink_to_list()
    >>> source.emit('abc')
    >>> L
    [('a', 'c')]
    """

    def __init__(self, upstream: Stream, pick: Any, **kwargs: Any):
        self.pick = pick
        self._many = isinstance(pick, list)
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            y = tuple(x[p] for p in self.pick) if self._many else x[self.pick]
        except Exception as exc:
            return self._fail(exc, x, metadata)
        return self._emit(y, metadata)


@Stream.register_api()
class flatten(Stream):
    """Emit each item of every iterable element; metadata goes with the last item.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.flatten().sink_to_list()
    >>> source.emit([1, 2]); source.emit((3,))
    >>> L
    [1, 2, 3]

    See Also
    --------
    partition
    """

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        if not hasattr(x, "__iter__"):
            return self._fail(
                TypeError(f"flatten() needs iterable elements, got {type(x).__name__} {x!r}"),
                x, metadata,
            )
        result: list[Any] = []
        if metadata:
            items = list(x)
            for item in items[:-1]:
                result.extend(self._emit(item))
            if items:
                result.extend(self._emit(items[-1], metadata))
            return result
        node = self._only()
        if node is not None:  # inlined single-downstream _emit (hot path)
            for item in x:
                r = node.update(item, self)
                if r:
                    if type(r) is list:
                        result.extend(r)
                    else:
                        result.append(r)
            return result or None
        for item in x:
            r = self._emit(item)
            if r:
                result.extend(r)
        return result


concat = flatten
Stream.concat = Stream.flatten  # type: ignore[method-assign]
