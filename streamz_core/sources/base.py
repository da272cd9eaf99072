"""The Source base class: one lifecycle (start, stop, wait_started, wait_stopped) for every source.

A source runs as one task on its graph's loop (the background loop thread unless the
graph has one). Subclasses fill in three hooks and the base class does the rest:

``_open()``
    On the loop thread, inside ``start()``: acquire what must exist when ``start()``
    returns (a server's listening sockets) and raise if that fails. Return None, or an
    awaitable if the source is started only once it completes (a process being
    spawned); the task awaits it before ``run()``. Default: nothing.
``run()``
    The task: produce elements until ``self.stopped``. Default (streamz's):
    ``while not self.stopped: await self._run()``, so a subclass may define either.
``_close()``
    On the loop thread, when ``stop()`` is called, and again at the end of the run
    (so it must do nothing when there is nothing left to release): release what the
    source holds, or begin to. Return None, or a future if the release ends later (a
    process exiting); ``stop()`` from another thread waits for it. Default: nothing.

What the base class guarantees, the same for every source:

- ``start()`` does nothing on a running source. On the loop's own thread it returns
  at once, after ``_open()``. From any other thread it blocks until the source is
  started and raises what went wrong. If the loop does not run yet, the source starts
  once it runs. A source built with ``asynchronous=True`` outside any loop starts once
  its graph gets a loop (or at ``wait_started()``).
- ``stop()`` sets ``stopped`` and runs ``_close()`` on the loop. From another thread it
  blocks until ``_close()`` has released everything (if the loop does not run, the
  release waits until it runs again). An element already in flight still reaches the
  pipeline.
- ``await wait_started()`` raises what prevented the start. ``await wait_stopped()``
  returns once the run has ended and everything is released. Both can be awaited
  from any loop.
- An error that no caller can receive (an asynchronous start nobody waits for, or a
  failing ``run()``) goes to the source's error route or the loop's exception handler.
  The source then stops. ``stopped`` is also set once ``run()`` returns.
- If ``start()`` is called while a stopped run is still ending, the run goes on
  (``_open()`` runs again). If the source is still releasing (its ``_close()`` future
  is not done) or needs an asynchronous start, ``start()`` raises ``RuntimeError``
  instead: await ``wait_stopped()`` first.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Mapping
from typing import Any

from ..core import Stream
from ..loop import call_blocking

__all__ = ["Source"]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    # start() and stop() are rare: the public API is fast enough here.
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(fut: concurrent.futures.Future[None] | None, exc: BaseException | None = None) -> None:
    if fut is not None and not fut.done():
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


class Source(Stream):
    """Base class of sources: nodes that produce elements themselves.

    Subclasses implement ``async def _run(self)`` (called until stopped) or override
    ``run``. ``start=True`` starts at once. A source that holds a resource also
    implements the hooks ``_open`` and ``_close`` (see the module notes).

    Examples
    --------
    >>> import asyncio
    >>> class count_to(Source):
    ...     def __init__(self, n, **kwargs):
    ...         self.n, self.i = n, 0
    ...         super().__init__(**kwargs)
    ...     async def _run(self):
    ...         self.i += 1
    ...         await self._emit_async(self.i)
    ...         if self.i == self.n:
    ...             self.stop()
    >>> async def main():
    ...     s = count_to(3, asynchronous=True)
    ...     L = s.sink_to_list()
    ...     s.start()
    ...     await s.wait_stopped()
    ...     return L
    >>> asyncio.run(main())
    [1, 2, 3]
    """

    _graphviz_shape = "doubleoctagon"

    def __init__(self, start: bool = False, **kwargs: Any):
        self.stopped = True
        self.started = False
        self._task: asyncio.Task[None] | None = None
        # Of the last start(): started (or why not), and the run's end.
        self._ready: concurrent.futures.Future[None] | None = None
        self._ended: concurrent.futures.Future[None] | None = None
        self._release: asyncio.Future[Any] | None = None  # what the last _close() returned
        self._bind_pending = False  # started with no loop: begins once the graph has one
        self._opening = False  # awaiting what _open() returned
        self._wake: asyncio.Future[None] | None = None  # see _until_stopped
        kwargs.setdefault("ensure_io_loop", True)
        super().__init__(**kwargs)
        if start:
            self.start()

    # ------------------------------------------------------------ the hooks
    def _open(self) -> Awaitable[None] | None:
        return None

    async def run(self) -> None:
        """Call ``_run`` until stopped."""
        while not self.stopped:
            await self._run()

    async def _run(self) -> None:
        self.stopped = True  # a source that defines neither run nor _run produces nothing

    def _close(self) -> Awaitable[Any] | None:
        return None

    async def _until_stopped(self) -> None:
        """Wait until ``stop()``: the ``run`` of a source whose work happens in callbacks."""
        loop = asyncio.get_running_loop()
        while not self.stopped:
            self._wake = loop.create_future()
            await self._wake

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Begin producing elements (on the loop).

        From another thread than the loop's, this returns once the source is started
        (a server listens, a process runs) and raises what went wrong; on the loop's
        own thread it returns at once (see :meth:`wait_started`).
        """
        running = _running_loop()
        if not self.stopped:
            if self._bind_pending and running is not None:
                self._bind_pending = False
                self._set_loop(running)
                self._begin(waits=False, pending=True)
            return
        if self._aloop is None:  # asynchronous=True, built outside a loop
            if running is None:
                self.stopped = False
                self.started = True
                self._ready = concurrent.futures.Future()
                self._ended = concurrent.futures.Future()
                self._bind_pending = True
                return
            self._set_loop(running)
        aloop = self._aloop
        assert aloop is not None
        if running is aloop:
            self._begin(waits=False)
        elif aloop.is_running():
            call_blocking(aloop, lambda: self._begin(waits=True))
        else:  # a loop that does not run (yet): begin once it does
            self.stopped = False
            self.started = True
            if not self._running_task():
                self._ready = concurrent.futures.Future()
                self._ended = concurrent.futures.Future()
            aloop.call_soon_threadsafe(self._begin_bound)

    def _on_loop(self) -> None:
        super()._on_loop()
        if self._bind_pending:
            self._bind_pending = False
            self._call_on_loop(self._begin_bound)

    def _begin_bound(self) -> None:
        """Begin a start() made before the graph's loop ran (or before it had a loop)."""
        if self.stopped or self._running_task():
            return  # stopped since, begun by start() or wait_started(), or the run goes on
        try:
            self._begin(waits=False, pending=True)
        except Exception as exc:  # nobody called start() on this loop: route or log it
            self._report(exc)

    def _running_task(self) -> bool:
        return self._task is not None and not self._task.done()

    def _begin(self, waits: bool, pending: bool = False) -> Awaitable[None] | None:
        """On the loop thread: open and launch the run; return what a blocking start() waits for.

        ``waits``: a caller waits for the start and receives its errors. ``pending``:
        this begins the start() made before the graph had a loop.
        """
        if self._running_task():
            if not self.stopped:
                return None  # running already
            self._resume()
            return None
        if not pending:
            self._ready = concurrent.futures.Future()
            self._ended = concurrent.futures.Future()
        ready, ended = self._ready, self._ended
        assert ready is not None and ended is not None
        self.stopped = False
        self.started = True
        self._release = None
        try:
            opening = self._open()
        except BaseException as exc:
            self.stopped = True
            _settle(ready, exc)
            _settle(ended)
            raise
        self._opening = opening is not None
        self._task = asyncio.ensure_future(self._main(opening, waits, ready, ended))
        if opening is None:
            _settle(ready)
            return None
        return asyncio.wrap_future(ready)

    def _resume(self) -> None:
        """start() while a stopped run is still ending: that run goes on."""
        release = self._release
        if self._opening or (release is not None and not release.done()):
            raise self._shutting_down()
        opening = self._open()
        if opening is not None:  # cannot start again inside the run that is ending
            if inspect.iscoroutine(opening):
                opening.close()
            raise self._shutting_down()
        self.stopped = False
        self.started = True
        self._ready = concurrent.futures.Future()
        _settle(self._ready)

    def _shutting_down(self) -> RuntimeError:
        return RuntimeError(
            f"{self!r} is still shutting down after stop(); await "
            "source.wait_stopped() before calling start() again"
        )

    async def _main(self, opening: Awaitable[None] | None, waits: bool,
                    ready: concurrent.futures.Future[None],
                    ended: concurrent.futures.Future[None]) -> None:
        """The source's one task: finish opening, run, release."""
        try:
            if opening is not None:
                try:
                    await opening
                except BaseException as exc:
                    _settle(ready, exc)
                    if not isinstance(exc, Exception):
                        raise
                    if not waits:  # start() returned before this was known
                        self._report(exc)
                    return
                finally:
                    self._opening = False
                _settle(ready)
                if self.stopped:
                    self._close()  # stop() came while opening: release what it acquired
            await self.run()
        except asyncio.CancelledError:
            raise  # the loop is going away
        except Exception as exc:
            self._report(exc)
        finally:
            self.stopped = True
            try:
                self._close()
            finally:
                _settle(ready, RuntimeError(f"{self!r} was stopped before it started"))
                _settle(ended)

    def stop(self) -> None:
        """Stop producing elements and release what the source holds.

        From another thread than the loop's, this returns once everything is released
        (a port is free, a process has exited); on the loop's thread, await
        :meth:`wait_stopped` for that.
        """
        if self._bind_pending:
            self._bind_pending = False
            self.stopped = True
            _settle(self._ready, RuntimeError(f"{self!r} was stopped before it started"))
            _settle(self._ended)
            return
        release = self._release
        if self.stopped and (release is None or release.done()):
            return
        self.stopped = True
        aloop = self._aloop
        if aloop is None or aloop.is_closed():
            return
        if _running_loop() is aloop:
            self._stop_on_loop()
        elif aloop.is_running():
            call_blocking(aloop, self._stop_on_loop)
        else:  # a loop that does not run: nothing runs on it, release once it does
            aloop.call_soon_threadsafe(self._stop_on_loop)

    def _stop_on_loop(self) -> asyncio.Future[Any] | None:
        if not self._running_task():  # a start that never began (stopped once bound)
            _settle(self._ready, RuntimeError(f"{self!r} was stopped before it started"))
            _settle(self._ended)
            return None
        closing = self._close()
        if closing is None and self._opening:
            closing = asyncio.wrap_future(self._ended) if self._ended is not None else None
        self._release = None if closing is None else asyncio.ensure_future(closing)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        return self._release

    async def wait_started(self) -> None:
        """Wait until the source is started; raise what prevented it.

        Awaitable from any event loop. Raises ``RuntimeError`` if :meth:`start` was
        never called.
        """
        ready = self._ready
        if ready is None:
            raise RuntimeError(
                f"{self!r} was never started; call source.start() first, then await "
                "source.wait_started()"
            )
        if self._bind_pending and self._aloop is None:
            # asynchronous=True source started outside a loop: bind it to this one
            self._bind_pending = False
            self._set_loop(asyncio.get_running_loop())
            self._begin(waits=True, pending=True)
        await asyncio.wrap_future(ready)

    async def wait_stopped(self) -> None:
        """Wait until the source has stopped and released everything it held.

        A source that stops by itself (``from_iterable`` at the end of its items,
        ``from_process`` when the command finishes) is waited for too. Returns at once
        if the source was never started. Awaitable from any event loop.
        """
        ended = self._ended
        if ended is not None:
            await asyncio.wrap_future(ended)


def _check_kwargs(kwargs: Any, target: Any, where: str, skip: int) -> dict[str, Any]:
    """Check that ``kwargs`` (a dict or None) binds to ``target``'s signature."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"{where}={kwargs!r}: expected a dict of keyword arguments or None")
    params = list(inspect.signature(target).parameters.values())[skip:]
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise TypeError(
            f"{where}={dict(kwargs)!r}: {target.__qualname__} takes no argument(s) "
            f"{', '.join(map(repr, unknown))}; valid names are {', '.join(sorted(names))}"
        )
    return dict(kwargs)
