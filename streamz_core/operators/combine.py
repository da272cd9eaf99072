"""Joining streams: zip, combine_latest, zip_latest, union."""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ..core import Stream

__all__ = ["zip", "combine_latest", "zip_latest", "union"]


def _flat(metadatas: Any) -> list[Any]:
    return [m for ml in metadatas if ml for m in ml]


@Stream.register_api()
class zip(Stream):
    """Emit a tuple once every upstream has sent an element; pair them in order.

    Arguments that are not streams are literals placed in every tuple. When one
    upstream runs more than ``maxsize`` elements ahead, its emits wait (on a loop) until
    the others catch up.

    Examples
    --------
    >>> a, b = Stream(), Stream()
    >>> L = a.zip(b, 'tag').sink_to_list()
    >>> a.emit(1); a.emit(2); b.emit('x')
    >>> L
    [(1, 'x', 'tag')]
    """

    _graphviz_orientation = 270
    _graphviz_shape = "triangle"

    def __init__(self, *upstreams: Any, maxsize: int = 10, **kwargs: Any):
        self.maxsize = maxsize
        self._literals = [(i, u) for i, u in enumerate(upstreams) if not isinstance(u, Stream)]
        self._width = len(upstreams)
        streams = [u for u in upstreams if isinstance(u, Stream)]
        self._buffers: dict[int, deque[Any]] = {id(u): deque() for u in streams}
        self._slots: dict[int, int] = {id(u): i for i, u in enumerate(upstreams) if isinstance(u, Stream)}
        self._waiters: list[asyncio.Future[None]] = []
        super().__init__(upstreams=streams, **kwargs)

    def _add_upstream(self, upstream: Stream) -> None:
        self._buffers[id(upstream)] = deque()
        self._slots[id(upstream)] = self._width
        self._width += 1
        super()._add_upstream(upstream)

    def _remove_upstream(self, upstream: Stream) -> None:
        for _, md in self._buffers.pop(id(upstream), ()):
            self._release_refs(md)
        slot = self._slots.pop(id(upstream))
        self._width -= 1
        self._slots = {k: (v - 1 if v > slot else v) for k, v in self._slots.items()}
        self._literals = [(i - 1 if i > slot else i, v) for i, v in self._literals]
        super()._remove_upstream(upstream)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        buf = self._buffers[id(who)]
        self._retain_refs(metadata)
        buf.append((x, metadata))
        if all(self._buffers.values()):
            out: list[Any] = [None] * self._width
            metas = []
            for key, b in self._buffers.items():
                value, md = b.popleft()
                out[self._slots[key]] = value
                metas.append(md)
            for i, lit in self._literals:
                out[i] = lit
            self._wake()
            md = _flat(metas)
            try:
                return self._emit(tuple(out), md)
            finally:
                self._release_refs(md)
        if len(buf) > self.maxsize and self._aloop is not None:
            fut = self._aloop.create_future()
            self._waiters.append(fut)
            return fut
        return None

    def _wake(self) -> None:
        if self._waiters and all(len(b) <= self.maxsize for b in self._buffers.values()):
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)


@Stream.register_api()
class combine_latest(Stream):
    """Emit a tuple of the latest element of each upstream whenever one updates.

    Emits only once every upstream has sent something. ``emit_on`` (a stream, an index,
    or a list of them) limits emission to updates from those upstreams.

    Examples
    --------
    >>> a, b = Stream(), Stream()
    >>> L = a.combine_latest(b).sink_to_list()
    >>> a.emit(1); b.emit('x'); a.emit(2)
    >>> L
    [(1, 'x'), (2, 'x')]
    """

    _graphviz_orientation = 270
    _graphviz_shape = "triangle"

    def __init__(self, *upstreams: Stream, emit_on: Any = None, **kwargs: Any):
        for u in upstreams:
            if not isinstance(u, Stream):
                raise TypeError(f"combine_latest({u!r}): every argument must be a Stream")
        self.last: list[Any] = [None] * len(upstreams)
        self.metadata: list[Any] = [None] * len(upstreams)
        self.missing = set(range(len(upstreams)))
        super().__init__(upstreams=upstreams, **kwargs)
        if emit_on is None:
            self.emit_on = list(self.upstreams)
        else:
            targets = emit_on if isinstance(emit_on, (list, tuple)) else [emit_on]
            self.emit_on = []
            for t in targets:
                if isinstance(t, int) and not isinstance(t, bool):
                    if not 0 <= t < len(self.upstreams):
                        raise ValueError(
                            f"combine_latest(emit_on={emit_on!r}): index {t} is out of range "
                            f"for {len(self.upstreams)} upstreams"
                        )
                    self.emit_on.append(self.upstreams[t])
                elif isinstance(t, Stream) and any(t is u for u in self.upstreams):
                    self.emit_on.append(t)
                else:
                    raise ValueError(
                        f"combine_latest(emit_on={emit_on!r}): {t!r} is neither an upstream "
                        "nor the index of one"
                    )

    def _add_upstream(self, upstream: Stream) -> None:
        super()._add_upstream(upstream)
        self.last.append(None)
        self.metadata.append(None)
        self.missing.add(len(self.upstreams) - 1)

    def _remove_upstream(self, upstream: Stream) -> None:
        idx = next(i for i, u in enumerate(self.upstreams) if u is upstream)
        self._release_refs(self.metadata[idx])
        del self.last[idx], self.metadata[idx]
        self.missing = {i - 1 if i > idx else i for i in self.missing if i != idx}
        self.emit_on = [u for u in self.emit_on if u is not upstream]
        super()._remove_upstream(upstream)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        idx = next(i for i, u in enumerate(self.upstreams) if u is who)
        self._release_refs(self.metadata[idx])
        self._retain_refs(metadata)
        self.last[idx] = x
        self.metadata[idx] = metadata
        self.missing.discard(idx)
        if not self.missing and any(who is u for u in self.emit_on):
            return self._emit(tuple(self.last), _flat(self.metadata))
        return None


@Stream.register_api()
class zip_latest(Stream):
    """Emit every element of ``lossless`` paired with the latest of the other streams.

    Elements of ``lossless`` that arrive before every other stream has sent something
    wait, and are emitted in order once they all have.

    Examples
    --------
    >>> a, b = Stream(), Stream()
    >>> L = a.zip_latest(b).sink_to_list()
    >>> a.emit(1); a.emit(2); b.emit('x'); a.emit(3); b.emit('y')
    >>> L
    [(1, 'x'), (2, 'x'), (3, 'x')]
    """

    _graphviz_orientation = 270
    _graphviz_shape = "triangle"

    def __init__(self, lossless: Stream, *upstreams: Stream, **kwargs: Any):
        self.lossless = lossless
        self.last: list[Any] = [None] * (len(upstreams) + 1)
        self.metadata: list[Any] = [None] * (len(upstreams) + 1)
        self.missing = set(range(1, len(upstreams) + 1))
        self._pending: deque[Any] = deque()
        super().__init__(upstreams=(lossless, *upstreams), **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        self._retain_refs(metadata)
        if who is self.lossless:
            self._pending.append((x, metadata))
        else:
            idx = next(i for i, u in enumerate(self.upstreams) if u is who)
            self._release_refs(self.metadata[idx])
            self.last[idx] = x
            self.metadata[idx] = metadata
            self.missing.discard(idx)
        if self.missing:
            return None
        result: list[Any] = []
        while self._pending:
            self.last[0], self.metadata[0] = self._pending.popleft()
            md = _flat(self.metadata)
            try:
                result.extend(self._emit(tuple(self.last), md))
            finally:
                self._release_refs(self.metadata[0])
                self.metadata[0] = None
        return result


@Stream.register_api()
class union(Stream):
    """Merge several streams into one, in arrival order.

    Examples
    --------
    >>> a, b = Stream(), Stream()
    >>> L = a.union(b).sink_to_list()
    >>> a.emit(1); b.emit(2)
    >>> L
    [1, 2]
    """

    def __init__(self, *upstreams: Stream, **kwargs: Any):
        for u in upstreams:
            if not isinstance(u, Stream):
                raise TypeError(f"union({u!r}): every argument must be a Stream")
        super().__init__(upstreams=upstreams, **kwargs)
