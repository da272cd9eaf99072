"""Time-based nodes: delay, rate_limit, timed_window, timed_window_unique.

They run on the graph's loop and read time only from it (``loop.time()``), so a
virtual-time loop (:mod:`streamz_core.testing`) drives them in tests. Periodic work
keeps to an absolute schedule: a late tick does not push the next one back.
"""
from __future__ import annotations

import asyncio
import math
import weakref
from collections import deque
from typing import Any, TypeVar

from ..core import Stream, _gather, identity
from ..loop import parse_interval
from ._timing import call_at_weak, sleep_until
from ._util import KeyedBuffer, flat_metadata

# The element type, for type checkers: `Stream[int]().delay(1)` is a `delay[int]`.
T_co = TypeVar("T_co", covariant=True)

__all__ = ["delay", "rate_limit", "timed_window", "timed_window_unique"]


@Stream.register_api()
class delay(Stream[T_co]):
    """Emit every element ``interval`` after it arrived, in order.

    Accepting an element never blocks the upstream; the node waits for downstream
    backpressure before emitting the next one.

    Parameters
    ----------
    interval
        Seconds, a ``timedelta`` or a string such as ``"500ms"``.

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     source = Stream(asynchronous=True)
    ...     L = source.delay(0.01).sink_to_list()
    ...     await source.emit(1)
    ...     before = list(L)
    ...     await asyncio.sleep(0.05)
    ...     return before, L
    >>> asyncio.run(main())
    ([], [1])

    See Also
    --------
    rate_limit
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_shape = "octagon"

    def __init__(self, upstream: Stream[T_co], interval: Any, **kwargs: Any):
        self.interval = parse_interval(interval, "delay(interval)")
        self._queue: deque[tuple[float, Any, Any]] = deque()
        self._worker: asyncio.Future[None] | None = None
        super().__init__(upstream, ensure_io_loop=True, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        loop = self._aloop
        assert loop is not None
        self._retain_refs(metadata)
        self._queue.append((loop.time() + self.interval, x, metadata))
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._drain())
        return None

    async def _drain(self) -> None:
        loop = self._aloop
        assert loop is not None
        queue = self._queue
        try:
            while queue:
                due = queue[0][0]
                if due > loop.time():
                    await sleep_until(loop, due)
                _, x, md = queue.popleft()
                await self._emit_async(x, md, held=True)
        finally:
            self._worker = None


@Stream.register_api()
class rate_limit(Stream[T_co]):
    """Let at most one element through per ``interval``, blocking the upstream meanwhile.

    Slots follow an absolute schedule (``next = max(now, next) + interval``), so the
    rate does not drift. An element that finds its slot open passes at once.

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     source = Stream(asynchronous=True)
    ...     L = source.rate_limit('10ms').sink_to_list()
    ...     loop = asyncio.get_running_loop()
    ...     start = loop.time()
    ...     for x in range(3):
    ...         await source.emit(x)
    ...     return L, loop.time() - start >= 0.02
    >>> asyncio.run(main())
    ([0, 1, 2], True)

    See Also
    --------
    delay
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_shape = "octagon"

    def __init__(self, upstream: Stream[T_co], interval: Any, **kwargs: Any):
        self.interval = parse_interval(interval, "rate_limit(interval)")
        self._next = -math.inf
        super().__init__(upstream, ensure_io_loop=True, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        loop = self._aloop
        assert loop is not None
        now = loop.time()
        slot = self._next
        self._next = max(now, slot) + self.interval
        if now >= slot:
            return self._emit(x, metadata)
        task = asyncio.ensure_future(self._emit_at(slot, x, metadata))
        if metadata:
            # Hold the element now: the caller's _emit releases its own hold as soon as
            # update returns, before the task starts (or if it is cancelled unstarted).
            self._retain_refs(metadata)
            task.add_done_callback(lambda _: self._release_refs(metadata))
        return task

    async def _emit_at(self, when: float, x: Any, metadata: Any) -> None:
        await sleep_until(self._aloop, when)  # type: ignore[arg-type]
        r = self._emit(x, metadata)
        if r:
            await _gather(r)


class _Window(Stream):
    """A buffer flushed every ``interval`` on an absolute schedule."""

    interval: float  # set by each window kind before Stream.__init__
    _next: float
    _timer: asyncio.TimerHandle | None = None
    _last: Any = None
    _destroyed = False

    def _on_loop(self) -> None:
        # Through a weak reference: a window nobody references must not be kept alive
        # by the pending callback that starts its timer.
        ref = weakref.ref(self)

        def start() -> None:
            node = ref()
            if node is not None:
                node._start_timer()

        self._call_on_loop(start)

    def _start_timer(self) -> None:
        if self._timer is None and not self._destroyed:
            loop = self._aloop
            assert loop is not None
            self._next = loop.time() + self.interval
            self._timer = call_at_weak(loop, self._next, self, "_tick")

    def _backpressure(self) -> Any:
        last = self._last
        if last is not None and not last.done():
            return last
        return None

    def _tick(self) -> None:
        loop = self._aloop
        assert loop is not None
        last = self._last
        if last is not None and not last.done():
            # Downstream is still busy with the previous window: flush when it is done.
            last.add_done_callback(lambda _: self._flush_and_reschedule())
            return
        self._flush_and_reschedule()

    def _flush_and_reschedule(self) -> None:
        if self._destroyed:
            return
        loop = self._aloop
        assert loop is not None
        out, md = self._take()
        try:
            r = self._emit(out, md)
            self._last = _gather(r) if r else None
        except Exception as exc:
            self._last = None
            self._report(exc, out)
        finally:
            self._release_refs(md)
        now = loop.time()
        self._next += self.interval
        if self._next <= now:  # fell behind: skip to the next slot on the grid
            self._next += math.ceil((now - self._next) / self.interval) * self.interval
        self._timer = call_at_weak(loop, self._next, self, "_tick")

    _take: Any  # each window kind defines what one flush emits: () -> (out, metadata)

    def destroy(self, streams: Any = None) -> None:
        self._destroyed = True
        if self._timer is not None:
            timer = self._timer
            if self._aloop is not None and not self._aloop.is_closed():
                self._aloop.call_soon_threadsafe(timer.cancel)
        super().destroy(streams)


@Stream.register_api()
class timed_window(_Window):
    """Every ``interval``, emit a list of the elements that arrived since the last one.

    Empty lists are emitted too. The upstream waits while downstream is still busy
    with the previous list.

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     source = Stream(asynchronous=True)
    ...     L = source.timed_window(0.02).sink_to_list()
    ...     await source.emit(1); await source.emit(2)
    ...     await asyncio.sleep(0.03)
    ...     return L[0]
    >>> asyncio.run(main())
    [1, 2]
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_shape = "octagon"

    def __init__(self, upstream: Stream, interval: Any, **kwargs: Any):
        self.interval = parse_interval(interval, "timed_window(interval)", allow_zero=False)
        self._buffer: list[Any] = []
        self._metadata: list[Any] = []
        super().__init__(upstream, ensure_io_loop=True, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        self._buffer.append(x)
        if metadata:
            self._retain_refs(metadata)
            self._metadata.append(metadata)
        return self._backpressure()

    def _take(self) -> tuple[Any, list[Any]]:
        out, self._buffer = self._buffer, []
        md = flat_metadata(self._metadata)
        self._metadata = []
        return out, md


@Stream.register_api()
class timed_window_unique(_Window):
    """Every ``interval``, emit a tuple of the elements with distinct ``key`` since the last.

    ``keep="first"`` keeps the first element of each key, ``keep="last"`` the newest
    (placed where it arrived last).

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     source = Stream(asynchronous=True)
    ...     L = source.timed_window_unique(0.02).sink_to_list()
    ...     for x in [1, 2, 1]: await source.emit(x)
    ...     await asyncio.sleep(0.03)
    ...     return L[0]
    >>> asyncio.run(main())
    (1, 2)
    """

    _graphviz_shape = "octagon"

    def __init__(self, upstream: Stream, interval: Any, key: Any = identity, keep: str = "first", **kwargs: Any):
        self.interval = parse_interval(interval, "timed_window_unique(interval)", allow_zero=False)
        self._held = KeyedBuffer("timed_window_unique", key, keep)
        self.key, self.keep = self._held.key, keep
        super().__init__(upstream, ensure_io_loop=True, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            y = self.key(x)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        self._held.add(self, y, x, metadata)
        return self._backpressure()

    def _take(self) -> tuple[Any, list[Any]]:
        return self._held.take()
