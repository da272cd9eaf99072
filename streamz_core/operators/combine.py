"""Joining streams: zip, combine_latest, zip_latest, union."""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ..core import Stream
from ._util import check_positive_int, flat_metadata

__all__ = ["zip", "combine_latest", "zip_latest", "union"]


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

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_orientation = 270
    _graphviz_shape = "triangle"

    def __init__(self, *upstreams: Any, maxsize: int = 10, **kwargs: Any):
        self.maxsize = check_positive_int("zip", "maxsize", maxsize, minimum=0)
        # One entry per tuple position: a literal, or [stream, buffer of (x, metadata)].
        # Keyed by position, not by stream, so a stream zipped with itself works.
        self._positions: list[Any] = [
            [u, deque()] if isinstance(u, Stream) else ("literal", u) for u in upstreams
        ]
        self._waiters: list[asyncio.Future[None]] = []
        super().__init__(upstreams=[u for u in upstreams if isinstance(u, Stream)], **kwargs)

    def _stream_buffers(self) -> list[deque[Any]]:
        return [p[1] for p in self._positions if isinstance(p, list)]

    def _add_upstream(self, upstream: Stream) -> None:
        self._positions.append([upstream, deque()])
        super()._add_upstream(upstream)

    def _remove_upstream(self, upstream: Stream) -> None:
        for i, p in enumerate(self._positions):
            if isinstance(p, list) and p[0] is upstream:
                for _, md in p[1]:
                    self._release_refs(md)
                del self._positions[i]
                break
        super()._remove_upstream(upstream)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        # A stream given in several positions fills all of them (it is linked once).
        mine = [p[1] for p in self._positions if isinstance(p, list) and p[0] is who]
        for buf in mine:
            self._retain_refs(metadata)
            buf.append((x, metadata))
        buffers = self._stream_buffers()
        if all(buffers):
            out = []
            metas = []
            for p in self._positions:
                if isinstance(p, list):
                    value, md = p[1].popleft()
                    out.append(value)
                    metas.append(md)
                else:
                    out.append(p[1])
            self._wake()
            md = flat_metadata(metas)
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
        if self._waiters and all(len(b) <= self.maxsize for b in self._stream_buffers()):
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

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_orientation = 270
    _graphviz_shape = "triangle"

    def __init__(self, *upstreams: Stream, emit_on: Any = None, **kwargs: Any):
        for u in upstreams:
            if not isinstance(u, Stream):
                raise TypeError(f"combine_latest({u!r}): every argument must be a Stream")
        self.last: list[Any] = [None] * len(upstreams)
        self.metadata: list[Any] = [None] * len(upstreams)
        # The upstreams not heard from yet (the streams, as in streamz: subclasses test
        # `who in self.missing`).
        self.missing: set[Stream] = set(upstreams)
        self._emit_on_all = emit_on is None  # then upstreams connected later emit too
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
        self.missing.add(upstream)
        if self._emit_on_all:
            self.emit_on = list(self.upstreams)

    def _remove_upstream(self, upstream: Stream) -> None:
        idx = next(i for i, u in enumerate(self.upstreams) if u is upstream)
        self._release_refs(self.metadata[idx])
        del self.last[idx], self.metadata[idx]
        if sum(1 for u in self.upstreams if u is upstream) == 1:  # its last position
            self.missing.discard(upstream)
        self.emit_on = [u for u in self.emit_on if u is not upstream]
        super()._remove_upstream(upstream)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        for idx, u in enumerate(self.upstreams):
            if u is who:  # every position of that stream (a stream may be given twice)
                self._release_refs(self.metadata[idx])
                self._retain_refs(metadata)
                self.last[idx] = x
                self.metadata[idx] = metadata
        self.missing.discard(who)
        if not self.missing and any(who is u for u in self.emit_on):
            return self._emit(tuple(self.last), flat_metadata(self.metadata))
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

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_orientation = 270
    _graphviz_shape = "triangle"

    def __init__(self, lossless: Stream, *upstreams: Stream, **kwargs: Any):
        for u in upstreams:
            if not isinstance(u, Stream):
                # zip() takes literals, but a literal here would be "latest" forever
                # before it ever arrives: the node would wait and never emit.
                raise TypeError(
                    f"zip_latest({u!r}): every argument must be a Stream whose latest "
                    f"element joins each element of the lossless stream; to add the "
                    f"constant {u!r} to each tuple, use .map(lambda t: (*t, {u!r})) after it"
                )
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
            md = flat_metadata(self.metadata)
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

    _accepts_remote = True  # carries refs after scatter() as they are

    def __init__(self, *upstreams: Stream, **kwargs: Any):
        for u in upstreams:
            if not isinstance(u, Stream):
                raise TypeError(f"union({u!r}): every argument must be a Stream")
        super().__init__(upstreams=upstreams, **kwargs)
