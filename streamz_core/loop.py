"""Loop management: which event loop a graph runs on, and how other threads reach it.

Threading rules: a stream graph with a loop runs only on that loop's thread.
Other threads reach it through :func:`sync` (blocking) or ``call_soon_threadsafe``.
Internally everything is an :mod:`asyncio` loop; Tornado's ``IOLoop`` is only a
view of one (:func:`as_ioloop`), kept because streamz users read ``stream.loop``.

Time has one seam: :func:`loop_time` reads the running asyncio loop's clock, so a
virtual-time loop (:class:`streamz_core.testing.VirtualTimeLoop`) drives every
time-based node.
"""
from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from _thread import allocate_lock
from asyncio import _get_running_loop
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.ioloop import IOLoop

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
    inner = getattr(loop, "asyncio_loop", None)
    if isinstance(inner, asyncio.AbstractEventLoop):
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
        # Tornado keeps one IOLoop per asyncio loop in this (private) map; reuse it
        # so that IOLoop.current() on that loop and stream.loop agree.
        existing = IOLoop._ioloop_for_asyncio.get(aloop)
        if existing is not None:
            return existing
        from tornado.platform.asyncio import AsyncIOLoop

        return AsyncIOLoop(asyncio_loop=aloop, make_current=False)


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


class _ThreadState(threading.local):
    # True while this thread runs graph code for a blocking emit, so that an
    # emit nested inside a node does not try to block on its own loop.
    asynchronous = False


thread_state = _ThreadState()


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
    if _get_running_loop() is aloop:
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


def call_blocking(aloop: asyncio.AbstractEventLoop, start: Callable[[], Any]) -> Any:
    """Run ``start()`` on ``aloop``'s thread; if it returns an awaitable, wait for it too.

    The hot path of a blocking emit: one ``call_soon_threadsafe`` and one lock, no
    Future or Event objects (they cost tens of microseconds per hop).
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


_UNITS = {
    "us": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
    "ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}


# The shortest interval any node or source accepts. Loop time is a float of seconds
# since boot: after a year of uptime (3e7 s) one step of that float is 4e-9 s, so a
# deadline `now + 1e-300` (or anything below a few ns) equals `now` and a periodic
# timer fires again and again at the same instant: the busy loop seen with 1e-300.
# And one timer callback costs a few microseconds, so no period below a microsecond
# can be kept anyway. 1 us (the finest unit "us" the strings take) leaves both margins.
MIN_INTERVAL = 1e-6


def _real_seconds(value: Any) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else None."""
    import decimal
    import numbers

    if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy.bool_ too
        return None
    if isinstance(value, (numbers.Real, decimal.Decimal)):  # numpy, Fraction, Decimal
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def parse_interval(value: Any, where: str = "interval", allow_zero: bool = True) -> float:
    """Convert seconds, a ``timedelta`` or a string such as ``"500ms"`` to float seconds.

    Seconds may be any real number type (``int``, ``float``, numpy numbers,
    ``Fraction``, ``Decimal``). The result is finite and at least
    :data:`MIN_INTERVAL` (one microsecond), or zero where ``allow_zero``. Raises
    ``ValueError`` naming ``where`` (the node and parameter) for anything else.

    Examples
    --------
    >>> parse_interval("500ms"), parse_interval(2), parse_interval("1.5 min")
    (0.5, 2.0, 90.0)
    >>> import datetime, fractions
    >>> parse_interval(datetime.timedelta(milliseconds=250)), parse_interval(fractions.Fraction(1, 4))
    (0.25, 0.25)
    >>> parse_interval(float("inf"), "rate_limit(interval)")
    Traceback (most recent call last):
    ...
    ValueError: rate_limit(interval)=inf: expected a finite number of seconds from 1e-06 (1 us) up, or 0, ...
    """
    import datetime
    import math
    import re

    seconds: float | None = _real_seconds(value)
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
        if match and match.group(2).lower() in _UNITS:
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
        elif match and not match.group(2):
            seconds = float(match.group(1))
    if seconds is not None and seconds == 0 and allow_zero:
        return 0.0
    if seconds is None or not math.isfinite(seconds) or seconds < MIN_INTERVAL:
        zero = ", or 0," if allow_zero else ""
        raise ValueError(
            f"{where}={value!r}: expected a finite number of seconds from {MIN_INTERVAL:g} "
            f"(1 us) up{zero} as an int, a float or another real number, a "
            "datetime.timedelta, or a string such as '500ms', '2s' or '1min'"
        )
    return seconds
