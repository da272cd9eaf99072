"""Leaving the loop: scatter elements to an executor, gather results back in order.

Between ``scatter()`` and ``gather()`` elements are refs to remote results. ``map``,
``starmap`` and ``accumulate`` submit their functions to the executor; buffering,
time-based and joining nodes carry refs as they are; nodes that need values refuse to
be built there, so a ref never silently reaches local code.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ..core import Stream, _gather
from ..executor import get_executor

__all__ = ["scatter", "gather"]


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

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        return self._emit(self.executor.scatter(x), metadata)


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
    >>> import time; time.sleep(0.2)
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
                        exc.add_note(f"raised remotely in {self._submitters()}; collected by {self!r}")
                        raise
                    finally:
                        queue.popleft()
                        self._remote.release(x)
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
