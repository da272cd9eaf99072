"""Aggregation: accumulate (scan), partition, partition_unique, sliding_window, collect, frequencies."""
from __future__ import annotations

import traceback
from collections import deque
from typing import Any

from ..core import Stream, _gather, identity, no_default
from ..executor import LocalValue, RemoteFailure, Settled, local_value, note_origin
from ..loop import parse_interval
from ._util import KeyedBuffer, check_callable, check_positive_int, flat_metadata, get_key

__all__ = [
    "accumulate", "scan", "partition", "partition_unique", "sliding_window", "collect",
    "frequencies",
]


@Stream.register_api()
class accumulate(Stream):
    """Keep a running state: ``state = func(state, x)``; emit each new state.

    Without ``start``, the first element becomes the state and is emitted as it is.
    With ``returns_state=True``, ``func`` returns ``(state, output)`` and the output is
    emitted. With ``with_state=True`` the node emits ``(state, output)`` pairs.

    Examples
    --------
    >>> from operator import add
    >>> source = Stream()
    >>> L = source.accumulate(add).sink_to_list()
    >>> for x in [1, 2, 3]: source.emit(x)
    >>> L
    [1, 3, 6]
    >>> source = Stream()
    >>> L = source.scan(lambda n, x: (n + 1, (n, x)), start=0, returns_state=True).sink_to_list()
    >>> for x in 'ab': source.emit(x)
    >>> L
    [(0, 'a'), (1, 'b')]
    """

    _graphviz_shape = "box"

    def __init__(self, upstream: Stream, func: Any, start: Any = no_default,
                 returns_state: bool = False, with_state: bool = False, **kwargs: Any):
        check_callable("accumulate", "func", func)
        stream_name = kwargs.pop("stream_name", None)
        self.func = func
        self.kwargs = kwargs
        self.state = start
        self.returns_state = returns_state
        self.with_state = with_state
        super().__init__(upstream, stream_name=stream_name)
        if self.executor is not None:
            self.update = self._update_remote  # type: ignore[method-assign]

    _accepts_remote = True  # after scatter() the state is a ref and func runs remotely

    def _update_remote(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        # The state is a ref to a _RemoteStep, whose call never fails: a failure of
        # func is kept in it, next to the last good state. So the next element's call
        # can be chained on it at once (no waiting), and starts from that good state,
        # as a local accumulate does; only this element's output raises.
        # An element that is the result of an upstream remote call may have failed:
        # with a backend that can, it is passed Settled, so that the state goes on
        # past it (a local accumulate never sees an element whose map raised).
        ex = self.executor
        may_fail = not isinstance(x, LocalValue) and ex.is_ref(x)
        settles = may_fail and getattr(ex, "settles_arguments", False)
        if self.state is no_default:
            if not settles:
                self.state = x
                return self._emit((x, x) if self.with_state else x, metadata)
            self.state = _NoState()  # the first element that did not fail becomes the state
        try:
            step = ex.submit(_accumulate_step, self.func, self.returns_state, self.kwargs, self.state,
                             Settled(x) if settles else x)
            result = ex.submit(_accumulate_output, step, self.with_state)
        except Exception as exc:
            return self._fail(exc, local_value(x), metadata)
        self.state = note_origin(step, self, x)
        result = note_origin(result, self, x)  # for gather's error note
        return self._emit(result, metadata)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        if self.state is no_default:
            self.state = x
            return self._emit((x, x) if self.with_state else x, metadata)
        try:
            result = self.func(self.state, x, **self.kwargs)
            if self.returns_state:
                state, result = result
            else:
                state = result
        except Exception as exc:
            return self._fail(exc, x, metadata)
        self.state = state
        if self.with_state:
            result = (state, result)
        if metadata is None:
            node = self._only()  # inlined single-downstream _emit (hot path)
            if node is not None:
                return node.update(result, self)
        return self._emit(result, metadata)


scan = accumulate
Stream.scan = Stream.accumulate  # type: ignore[method-assign]


class _RemoteStep:
    """What one remote accumulate call left: the state to go on from, and its outcome.

    ``state`` is the new state, or the previous one when ``func`` raised (``error``).
    """

    __slots__ = ("state", "result", "error", "remote_traceback")

    def __init__(self, state: Any, result: Any = None, error: Exception | None = None,
                 remote_traceback: str | None = None):
        self.state = state
        self.result = result
        self.error = error
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> Any:
        return _RemoteStep, (self.state, self.result, self.error, self.remote_traceback)


class _StepTraceback(Exception):
    """The traceback of a failed accumulate call, when the exception came without it."""

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


class _NoState:
    """The state of an accumulate without ``start`` before its first good element."""

    __slots__ = ()


def _accumulate_step(func: Any, returns_state: bool, kwargs: dict[str, Any], previous: Any, x: Any) -> _RemoteStep:
    """Run remotely: one accumulate call; never raises, so the chain of states goes on.

    ``x`` is a RemoteFailure when its upstream call failed: the state stays, and this
    element's output raises that failure (gather then names the upstream node).
    """
    state = previous.state if isinstance(previous, _RemoteStep) else previous
    if isinstance(x, RemoteFailure):
        return _RemoteStep(state, None, x.exception)  # type: ignore[arg-type]
    if isinstance(state, _NoState):
        return _RemoteStep(x, x)  # the first element is the state, emitted as it is
    try:
        out = func(state, x, **kwargs)
        new, result = out if returns_state else (out, out)
    except Exception as exc:
        # Kept with its traceback's text: some backends send exceptions without it.
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # from func on
        return _RemoteStep(state, None, exc, "".join(traceback.format_exception(type(exc), exc, tb)))
    return _RemoteStep(new, result)


def _accumulate_output(step: _RemoteStep, with_state: bool) -> Any:
    """Run remotely: what the node emits for one element (raises its call's failure)."""
    if step.error is not None:
        if step.error.__traceback__ is None and step.remote_traceback:
            raise step.error from _StepTraceback(step.remote_traceback)
        raise step.error
    return (step.state, step.result) if with_state else step.result


@Stream.register_api()
class partition(Stream):
    """Group elements into tuples of ``n``.

    ``timeout`` (seconds, timedelta or string) flushes a partial tuple that has waited
    that long since its first element; it needs a loop, so with it the graph runs on
    one. ``key`` (a function or an item key) keeps a separate group per key.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.partition(2).sink_to_list()
    >>> for x in range(5): source.emit(x)
    >>> L
    [(0, 1), (2, 3)]
    >>> source = Stream()
    >>> L = source.partition(2, key=lambda x: x % 2).sink_to_list()
    >>> for x in range(6): source.emit(x)
    >>> L
    [(0, 2), (1, 3)]
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_shape = "diamond"

    def __init__(self, upstream: Stream, n: int, timeout: Any = None, key: Any = None, **kwargs: Any):
        self.n = check_positive_int("partition", "n", n)
        self._timeout = None if timeout is None else parse_interval(timeout, "partition(timeout)", allow_zero=False)
        self._key = None if key is None else get_key(key)
        self._buffers: dict[Any, list[Any]] = {}
        self._metadata: dict[Any, list[Any]] = {}
        self._timers: dict[Any, Any] = {}
        super().__init__(upstream, ensure_io_loop=self._timeout is not None, **kwargs)
        if self.executor is not None and self._key is not None:
            self._refuse_remote()  # a key needs values

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        if self._key is None:
            k = None
        else:
            try:
                k = self._key(x)
            except Exception as exc:
                return self._fail(exc, x, metadata)
        buf = self._buffers.get(k)
        if buf is None:
            buf = self._buffers[k] = []
            self._metadata[k] = []
            if self._timeout is not None:
                loop = self._aloop
                assert loop is not None
                self._timers[k] = loop.call_at(loop.time() + self._timeout, self._flush_key, k)
        buf.append(x)
        if metadata:
            self._retain_refs(metadata)
            self._metadata[k].append(metadata)
        if len(buf) == self.n:
            return self._flush(k)
        return None

    def _flush(self, k: Any) -> Any:
        buf = self._buffers.pop(k)
        metas = self._metadata.pop(k)
        timer = self._timers.pop(k, None)
        if timer is not None:
            timer.cancel()
        md = flat_metadata(metas)
        try:
            return self._emit(tuple(buf), md)
        finally:
            self._release_refs(md)

    def _flush_key(self, k: Any) -> None:
        if k in self._buffers:
            self._timers.pop(k, None)
            try:
                self._flush(k)
            except Exception as exc:
                self._report(exc)

    def destroy(self, streams: Any = None) -> None:
        for timer in self._timers.values():
            timer.cancel()
        super().destroy(streams)


@Stream.register_api()
class partition_unique(Stream):
    """Group elements into tuples of ``n`` elements with distinct keys.

    A repeated key keeps the first element (``keep="first"``) or replaces it with the
    newest (``keep="last"``, which also moves it to the end).

    Examples
    --------
    >>> source = Stream()
    >>> L = source.partition_unique(2).sink_to_list()
    >>> for x in [1, 1, 2, 3, 3, 4]: source.emit(x)
    >>> L
    [(1, 2), (3, 4)]
    """

    _graphviz_shape = "diamond"

    def __init__(self, upstream: Stream, n: int, key: Any = identity, keep: str = "first", **kwargs: Any):
        self.n = check_positive_int("partition_unique", "n", n)
        self._held = KeyedBuffer("partition_unique", key, keep)
        self.key, self.keep = self._held.key, keep
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            y = self.key(x)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        self._held.add(self, y, x, metadata)
        if len(self._held) < self.n:
            return None
        out, md = self._held.take()
        try:
            return self._emit(out, md)
        finally:
            self._release_refs(md)


@Stream.register_api()
class sliding_window(Stream):
    """Emit overlapping tuples of the last ``n`` elements.

    While filling, partial windows are emitted unless ``return_partial=False``.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.sliding_window(2).sink_to_list()
    >>> for x in range(4): source.emit(x)
    >>> L
    [(0,), (0, 1), (1, 2), (2, 3)]
    >>> source = Stream()
    >>> L = source.sliding_window(3, return_partial=False).sink_to_list()
    >>> for x in range(4): source.emit(x)
    >>> L
    [(0, 1, 2), (1, 2, 3)]
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_shape = "diamond"

    def __init__(self, upstream: Stream, n: int, return_partial: bool = True, **kwargs: Any):
        self.n = check_positive_int("sliding_window", "n", n)
        self.return_partial = return_partial
        self._buffer: deque[Any] = deque(maxlen=self.n)
        self._metadata: deque[Any] = deque(maxlen=self.n)
        self._with_metadata = 0  # how many windowed elements carry metadata
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        buf = self._buffer
        if self._with_metadata or metadata:
            return self._update_with_metadata(x, metadata)
        buf.append(x)
        self._metadata.append(None)
        if self.return_partial or len(buf) == self.n:
            node = self._only()  # inlined single-downstream _emit (hot path)
            if node is not None:
                return node.update(tuple(buf), self)
            return self._emit(tuple(buf))
        return None

    def _update_with_metadata(self, x: Any, metadata: Any) -> Any:
        metas = self._metadata
        if len(metas) == self.n and metas[0]:  # not emitted in a full window (partial only)
            self._with_metadata -= 1
            self._release_refs(metas[0])
        if metadata:
            self._with_metadata += 1
            self._retain_refs(metadata)
        self._buffer.append(x)
        metas.append(metadata)
        if self.return_partial or len(self._buffer) == self.n:
            result = self._emit(tuple(self._buffer), flat_metadata(metas))
            if len(metas) == self.n and metas[0]:
                # The oldest element has been in its last window: no later window holds
                # it, so its refs go now, as in streamz (it stays in the deque, without
                # them, until the next element pushes it out).
                self._with_metadata -= 1
                self._release_refs(metas[0])
                metas[0] = None
            return result
        return None


@Stream.register_api()
class collect(Stream):
    """Hold elements until :meth:`flush` emits them all as one tuple.

    Examples
    --------
    >>> source = Stream()
    >>> collector = source.collect()
    >>> L = collector.sink_to_list()
    >>> for x in [1, 2]: source.emit(x)
    >>> collector.flush()
    >>> L
    [(1, 2)]
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    def __init__(self, upstream: Stream, cache: Any = None, metadata_cache: Any = None, **kwargs: Any):
        self.cache = deque() if cache is None else cache
        self.metadata_cache = deque() if metadata_cache is None else metadata_cache
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        self._retain_refs(metadata)
        self.cache.append(x)
        if metadata:
            self.metadata_cache.extend(metadata)
        return None

    def flush(self, _: Any = None) -> Any:
        """Emit everything held as a tuple and start over (usable as a sink function)."""
        out = tuple(self.cache)
        md = list(self.metadata_cache)
        self.cache.clear()
        self.metadata_cache.clear()
        try:
            r = self._emit(out, md)
        finally:
            self._release_refs(md)
        return _gather(r) if r else None


@Stream.register_api()
class frequencies(Stream):
    """Count how often each element has been seen; emit the counts as a new dict each time.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.frequencies().sink_to_list()
    >>> for x in 'aba': source.emit(x)
    >>> L[-1]
    {'a': 2, 'b': 1}
    """

    def __init__(self, upstream: Stream, **kwargs: Any):
        self.counts: dict[Any, int] = {}
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        self.counts[x] = self.counts.get(x, 0) + 1
        return self._emit(dict(self.counts), metadata)
