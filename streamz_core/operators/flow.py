"""Flow control: buffer (bounded decoupling) and latest (load shedding)."""
from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from tornado.queues import Queue

from ..core import Stream, _gather
from ._util import check_positive_int

# The element type, for type checkers: `Stream[int]().buffer(8)` is a `buffer[int]`.
T_co = TypeVar("T_co", covariant=True)

__all__ = ["buffer", "latest"]


@Stream.register_api()
class buffer(Stream[T_co]):
    """Decouple upstream from downstream with a queue of up to ``n`` elements.

    Emits return at once while the queue has room; when it is full the upstream waits
    for a free place (backpressure). Elements leave in order, each after downstream
    has finished with the previous one.

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     source = Stream(asynchronous=True)
    ...     L = source.buffer(2).sink_to_list()
    ...     for x in range(4):
    ...         await source.emit(x)
    ...     await asyncio.sleep(0)
    ...     return L
    >>> asyncio.run(main())
    [0, 1, 2, 3]
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_shape = "diamond"

    def __init__(self, upstream: Stream[T_co], n: int, **kwargs: Any):
        self.n = check_positive_int("buffer", "n", n)
        # The waiting (element, metadata) pairs in a Tornado Queue, as in streamz, whose
        # plugins and tests read or replace `node.queue`: a put that finds it full is the
        # backpressure. It is drained by a task that runs only while it holds elements,
        # so an idle buffer that nothing references is collected.
        self.queue: Queue[tuple[Any, Any]] = Queue(maxsize=self.n)
        self._worker: asyncio.Future[None] | None = None
        super().__init__(upstream, ensure_io_loop=True, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        self._retain_refs(metadata)
        put = self.queue.put((x, metadata))
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._drain())
        return None if put.done() else put

    async def _drain(self) -> None:
        try:
            while self.queue.qsize():  # looked up each time: a test may have replaced it
                x, md = self.queue.get_nowait()  # admits one waiting put, if any
                await self._emit_async(x, md, held=True)
        finally:
            self._worker = None

    def _in_flight(self) -> asyncio.Future[None] | None:
        """The task still emitting queued elements, if any (awaited by ``drain``)."""
        return self._worker

    def statistics(self) -> dict[str, int]:
        """How many elements wait, and the limit."""
        return {"queued": self.queue.qsize(), "maxsize": self.n}


@Stream.register_api()
class latest(Stream):
    """Pass elements on, dropping all but the newest while downstream is busy.

    The upstream never waits: this node sheds load instead of pushing back.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.latest().sink_to_list()
    >>> for x in range(3): source.emit(x)
    >>> L
    [0, 1, 2]
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    _graphviz_shape = "octagon"

    _pending: Any = None
    _has_pending = False
    _busy = False
    # The task draining after backpressure, held so it cannot be garbage-collected mid-run
    # (the loop keeps only a weak reference to tasks).
    _drainer: asyncio.Future[None] | None = None

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        if self._busy:
            if self._has_pending:
                self._release_refs(self._pending[1])
            self._retain_refs(metadata)
            self._pending = (x, metadata)
            self._has_pending = True
            return None
        r = self._emit(x, metadata)
        if r:
            self._busy = True
            self._drainer = asyncio.ensure_future(self._wait_then_drain(r))
        return None

    async def _wait_then_drain(self, pending: list[Any]) -> None:
        try:
            while True:
                try:
                    await _gather(pending)
                except Exception as exc:
                    self._report(exc)
                if not self._has_pending:
                    return
                x, md = self._pending
                self._pending, self._has_pending = None, False
                try:
                    pending = self._emit(x, md)
                except Exception as exc:
                    self._report(exc, x)
                    pending = []
                finally:
                    self._release_refs(md)
                if not pending:
                    return
        finally:
            self._busy = False
