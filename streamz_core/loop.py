"""Loop management: which event loop a graph runs on, and how other threads reach it.

Threading rules: a stream graph with a loop runs only on that loop's thread.
Other threads reach it through :func:`sync` (blocking) or ``call_soon_threadsafe``;
``Stream.emit`` picks its way there with :func:`emit_mode` and the hop helpers
:func:`call_blocking` and :func:`call_soon_future` (section "emit's thread hops").
Internally everything is an :mod:`asyncio` loop; Tornado's ``IOLoop`` is only a
view of one (:func:`as_ioloop`), kept because streamz users read ``stream.loop``.

Time has one seam: :func:`loop_time` reads the running asyncio loop's clock, so a
virtual-time loop (:class:`streamz_core.testing.VirtualTimeLoop`) drives every
time-based node.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
import weakref
from _thread import allocate_lock
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.ioloop import IOLoop

from ._internals import asyncio_loop_of, running_loop, tornado_ioloop_for
from ._intervals import MIN_INTERVAL, parse_interval

__all__ = [
    "LoopRunner",
    "MIN_INTERVAL",
    "as_asyncio_loop",
    "as_ioloop",
    "get_background_loop",
    "parse_interval",
    "loop_time",
    "sync",
]


def loop_time() -> float:
    """Return the running asyncio loop's clock, in seconds.

    The only clock streamz_core reads, so virtual time in tests reaches every node.

    Examples
    --------
    >>> import asyncio
    >>> async def now():
    ...     return loop_time() >= 0
    >>> asyncio.run(now())
    True
    """
    return asyncio.get_running_loop().time()


def as_asyncio_loop(loop: Any) -> asyncio.AbstractEventLoop:
    """Return the asyncio loop behind ``loop`` (a Tornado ``IOLoop`` or an asyncio loop).

    Examples
    --------
    >>> import asyncio
    >>> aloop = asyncio.new_event_loop()
    >>> as_asyncio_loop(as_ioloop(aloop)) is aloop
    True
    >>> aloop.close()
    """
    if isinstance(loop, asyncio.AbstractEventLoop):
        return loop
    inner = asyncio_loop_of(loop)
    if inner is not None:
        return inner
    raise TypeError(
        f"loop={loop!r} is neither an asyncio event loop nor a Tornado IOLoop; "
        "pass asyncio.get_running_loop(), a tornado.ioloop.IOLoop, or leave loop=None"
    )


_wrap_lock = threading.Lock()


def as_ioloop(loop: Any) -> IOLoop:
    """Return the Tornado ``IOLoop`` view of ``loop``, creating it if needed.

    Examples
    --------
    >>> import asyncio
    >>> aloop = asyncio.new_event_loop()
    >>> as_ioloop(aloop) is as_ioloop(aloop)
    True
    >>> aloop.close()
    """
    if isinstance(loop, IOLoop):
        return loop
    aloop = as_asyncio_loop(loop)
    with _wrap_lock:
        # Tornado allows one IOLoop per asyncio loop; reuse it so that IOLoop.current()
        # on that loop and stream.loop agree.
        existing = tornado_ioloop_for(aloop)
        if existing is not None:
            return existing
        from tornado.platform.asyncio import AsyncIOLoop

        ioloop: IOLoop = AsyncIOLoop(asyncio_loop=aloop, make_current=False)
        return ioloop


class LoopRunner:
    """Run an asyncio loop on a daemon thread.

    Blocking ``emit`` from scripts and notebooks hops onto this thread. One shared
    runner serves every graph that needs a loop and was given none
    (:func:`get_background_loop`); :meth:`as_default` swaps it, which is how tests put
    the background-thread mode under virtual time.

    Parameters
    ----------
    loop_factory
        Callable returning a new asyncio loop; default ``asyncio.new_event_loop``.

    Examples
    --------
    >>> import asyncio
    >>> with LoopRunner() as runner:
    ...     async def where():
    ...         return asyncio.get_running_loop() is runner.loop
    ...     sync(runner.loop, where)
    True
    """

    def __init__(self, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None):
        self._factory = loop_factory or asyncio.new_event_loop
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LoopRunner:
        """Start the thread (idempotent) and return self."""
        if self._thread is not None:
            return self
        loop = self.loop = self._factory()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            try:
                loop.run_forever()
            finally:
                asyncio.set_event_loop(None)

        self._thread = threading.Thread(target=run, name="streamz_core-loop", daemon=True)
        self._thread.start()
        started.wait()
        return self

    def stop(self) -> None:
        """Stop the loop, join the thread and close the loop."""
        thread, loop = self._thread, self.loop
        if thread is None or loop is None:
            return
        self._thread = None
        if loop.is_running():
            if thread is threading.current_thread():
                loop.stop()
            else:
                loop.call_soon_threadsafe(loop.create_task, _wind_down(loop))
        if thread is not threading.current_thread():
            thread.join(timeout=10)
            if not loop.is_closed() and not loop.is_running():
                loop.close()

    @property
    def ioloop(self) -> IOLoop:
        """The Tornado view of :attr:`loop`."""
        return as_ioloop(self.start().loop)

    def as_default(self) -> _DefaultSwap:
        """Context manager making this runner the shared background loop."""
        return _DefaultSwap(self)

    def __enter__(self) -> LoopRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _wind_down(loop: asyncio.AbstractEventLoop, grace: float = 1.0) -> None:
    """Cancel the loop's other tasks, give them ``grace`` seconds to finish, then stop.

    As ``asyncio.run`` does at its end: a source still polling when the script ends
    (``from_periodic``, ``from_textfile`` ...) is cancelled and unwinds its ``finally``
    blocks, instead of being destroyed pending at exit, which Python reports as "Task
    was destroyed but it is pending!".
    """
    try:
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        await asyncio.wait_for(loop.shutdown_asyncgens(), grace)
    except BaseException:  # stopping must not fail: the loop stops below whatever happens
        pass
    finally:
        loop.stop()


class _DefaultSwap:
    def __init__(self, runner: LoopRunner):
        self.runner = runner

    def __enter__(self) -> LoopRunner:
        global _default_runner
        self.previous = _default_runner
        _default_runner = self.runner.start()
        return self.runner

    def __exit__(self, *exc: object) -> None:
        global _default_runner
        _default_runner = self.previous


_default_runner: LoopRunner | None = None
_default_lock = threading.Lock()


def get_background_loop() -> asyncio.AbstractEventLoop:
    """Return the shared background loop, starting its daemon thread on first use.

    Examples
    --------
    >>> get_background_loop() is get_background_loop()
    True
    """
    global _default_runner
    runner = _default_runner
    if runner is None:
        with _default_lock:
            if _default_runner is None:
                _default_runner = LoopRunner().start()
            runner = _default_runner
    assert runner.loop is not None
    return runner.loop


@atexit.register
def _stop_default_runner() -> None:
    if _default_runner is not None:
        _default_runner.stop()


# ------------------------------------------------------------------ emit's thread hops
# "asynchronous" means three things in the streamz API; each is settled in one place.
# - Stream(asynchronous=...), the constructor flag, chooses the loop a graph runs on:
#   the caller's own (True) or the shared background loop (False); with neither flag
#   nor loop the graph has none and emit runs it in the caller, like a function call.
#   Settled when the graph is built (Stream.__init__), or at the first emit for True
#   outside a running loop; never per emit.
# - emit(asynchronous=True), the keyword: a caller on another thread wants a future
#   instead of blocking.
# - thread_state.asynchronous, the thread-local: this thread is running graph code for
#   a blocking emit, so an emit nested inside a node gets a future too, as if it had
#   passed the keyword, instead of blocking the loop it runs on.
# emit_mode() combines the last two with the calling thread: one decision per emit on a
# graph that has a loop. Each answer has its hop: ON_LOOP runs the graph in Stream.emit
# itself (which tests that first answer inline, as its hot path), FUTURE is
# call_soon_future, BLOCK is call_blocking.

ON_LOOP = "on_loop"
"""Caller is on the graph's loop: run the graph now, return an awaitable for backpressure."""
FUTURE = "future"
"""Caller is on another thread and must not block: schedule on the loop, return a future."""
BLOCK = "block"
"""Caller is on another thread: run on the loop and block until done (:func:`call_blocking`)."""


class _ThreadState(threading.local):
    # True while this thread runs graph code for a blocking emit, so that an
    # emit nested inside a node does not try to block on its own loop.
    asynchronous = False


thread_state = _ThreadState()


def emit_mode(aloop: asyncio.AbstractEventLoop, asynchronous: bool = False) -> str:
    """How an emit from the calling thread reaches a graph on ``aloop``.

    :data:`ON_LOOP` from ``aloop``'s own thread; else :data:`FUTURE` if the caller
    asked for one (``emit(asynchronous=True)``) or is graph code of a blocking emit
    (:data:`thread_state`); else :data:`BLOCK`.

    Examples
    --------
    >>> aloop = get_background_loop()
    >>> emit_mode(aloop), emit_mode(aloop, asynchronous=True)
    ('block', 'future')
    >>> async def here():
    ...     return emit_mode(asyncio.get_running_loop())
    >>> asyncio.run(here())
    'on_loop'
    """
    if running_loop() is aloop:
        return ON_LOOP
    if asynchronous or thread_state.asynchronous:
        return FUTURE
    return BLOCK


def sync(loop: Any, func: Callable[..., Awaitable[Any]], *args: Any,
         callback_timeout: float | None = None, **kwargs: Any) -> Any:
    """Run coroutine function ``func(*args, **kwargs)`` on ``loop`` and block for its result.

    Raises the coroutine's exception in the caller, and ``TimeoutError`` after
    ``callback_timeout`` seconds (the coroutine is then cancelled). Calling it from the
    loop's own thread would deadlock, so that raises ``RuntimeError`` instead.

    Examples
    --------
    >>> async def add(a, b):
    ...     return a + b
    >>> sync(get_background_loop(), add, 1, 2)
    3
    """
    aloop = as_asyncio_loop(loop)
    if running_loop() is aloop:
        raise RuntimeError(
            "sync() called from the thread of the running loop it would wait on; "
            "await the coroutine instead"
        )
    if callback_timeout is None:
        return call_blocking(aloop, lambda: func(*args, **kwargs))
    timeout = parse_interval(callback_timeout, "sync(callback_timeout)")
    return call_blocking(aloop, lambda: asyncio.wait_for(func(*args, **kwargs), timeout))


# Who can say why a loop closed (a Dask client that stopped the loop it owned):
# callables returning the exception to raise instead of the generic one, or None.
_closed_loop_reasons: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Callable[[], BaseException | None]]] \
    = weakref.WeakKeyDictionary()


def explain_closed_loop(aloop: asyncio.AbstractEventLoop, explain: Callable[[], BaseException | None]) -> None:
    """Let ``explain()`` give the error a blocking call raises once ``aloop`` is closed.

    Used by nodes whose loop belongs to an engine (a synchronous Dask client closes its
    loop when it closes), so that a later emit says what closed it and what to do.
    """
    _closed_loop_reasons.setdefault(aloop, []).append(explain)


def _closed_loop_error(aloop: asyncio.AbstractEventLoop) -> BaseException:
    for explain in _closed_loop_reasons.get(aloop, ()):
        try:
            exc = explain()
        except Exception:  # noqa: BLE001 - an explanation must not hide the error
            exc = None
        if exc is not None:
            return exc
    return RuntimeError(f"event loop {aloop!r} is closed; nothing can run on it any more")


def call_soon_future(
    aloop: asyncio.AbstractEventLoop, start: Callable[[], Any]
) -> concurrent.futures.Future[None] | asyncio.Future[None]:
    """Run ``start()`` on ``aloop``'s thread without waiting; return a future of its end.

    The hop of :data:`FUTURE` emits. If ``start()`` returns an awaitable, the future
    completes when that does. Its result is ``None`` (callers wait for completion, not
    a value); an exception of ``start()`` or of its awaitable becomes the future's.
    The future is an ``asyncio.Future`` if the caller runs a loop of its own (so that
    it can be awaited there), else a ``concurrent.futures.Future``.

    Examples
    --------
    >>> call_soon_future(get_background_loop(), lambda: None).result(timeout=10) is None
    True
    """
    cf: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        try:
            result = start()
        except BaseException as exc:  # handed to the caller's future, not lost
            cf.set_exception(exc)
            return
        if result is None:
            cf.set_result(None)
        else:
            asyncio.ensure_future(result).add_done_callback(lambda fut: _copy_end(fut, cf))

    aloop.call_soon_threadsafe(run)
    return asyncio.wrap_future(cf) if running_loop() is not None else cf


def _copy_end(fut: asyncio.Future[Any], cf: concurrent.futures.Future[None]) -> None:
    if fut.cancelled():
        cf.cancel()
    elif fut.exception() is not None:
        cf.set_exception(fut.exception())
    else:
        cf.set_result(None)


def call_blocking(aloop: asyncio.AbstractEventLoop, start: Callable[[], Any]) -> Any:
    """Run ``start()`` on ``aloop``'s thread; if it returns an awaitable, wait for it too.

    The hop of :data:`BLOCK` emits (run on the loop and wait), and of :func:`sync`.
    Returns what ``start()`` or its awaitable returned and raises what they raised.
    While ``start()`` runs, :data:`thread_state` marks the loop thread, so that an
    emit it makes gets a future instead of blocking. The hot path of a blocking emit:
    one ``call_soon_threadsafe`` and one lock, no Future or Event objects (they cost
    tens of microseconds per hop).

    Examples
    --------
    >>> call_blocking(get_background_loop(), lambda: 1 + 1)
    2
    """
    if aloop.is_closed():
        raise _closed_loop_error(aloop)
    done = allocate_lock()
    done.acquire()
    box: list[Any] = [None, None]  # result, exception

    def finish(fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            box[1] = asyncio.CancelledError()
        elif fut.exception() is not None:
            box[1] = fut.exception()
        else:
            box[0] = fut.result()
        done.release()

    def run() -> None:
        thread_state.asynchronous = True
        try:
            result = start()
        except BaseException as exc:  # handed to the waiting thread, not lost
            box[1] = exc
            done.release()
            return
        finally:
            thread_state.asynchronous = False
        if result is None or not hasattr(result, "__await__"):
            box[0] = result
            done.release()
            return
        asyncio.ensure_future(result).add_done_callback(finish)

    aloop.call_soon_threadsafe(run)
    while not done.acquire(timeout=1.0):
        if aloop.is_closed() or not aloop.is_running():
            if aloop.is_closed() and aloop in _closed_loop_reasons:
                raise _closed_loop_error(aloop)
            raise RuntimeError(
                f"event loop {aloop!r} stopped before the work handed to it finished; "
                "keep the loop running until every emit has returned"
            )
    if box[1] is not None:
        raise box[1]
    return box[0]
