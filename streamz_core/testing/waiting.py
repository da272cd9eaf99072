"""Poll until a condition holds, from a thread (``poll_for``) or a coroutine.

Tests of concurrent code often have nothing to await: results arrive in a list filled by
another thread or loop. These two helpers poll a predicate instead of sleeping for a
guessed time, return as soon as it holds, and fail with a ``TimeoutError`` that says what
they waited for. The names are those of ``distributed.utils_test`` (``poll_for``,
``async_poll_for``), which renamed its ``wait_for`` to avoid confusion with
``asyncio.wait_for``, a different function (it bounds an awaitable by a timeout).

Threading: ``poll_for`` blocks the calling thread and refuses to run on a thread whose
event loop is running (it would stop that loop from making the progress it waits for);
``async_poll_for`` must be awaited on a running loop and measures time with that loop's
clock, so under :class:`~streamz_core.testing.VirtualTimeLoop` it waits in virtual time.
"""

from __future__ import annotations

import asyncio
import math
import numbers
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from .clock import VirtualTimeLoop

__all__ = ["async_poll_for", "poll_for"]

_T = TypeVar("_T")

#: Default limit in seconds: long enough for a loaded CI machine, short enough to fail a test.
DEFAULT_TIMEOUT = 10.0
#: Default pause between two polls: reacts within milliseconds, costs almost no CPU.
DEFAULT_PERIOD = 0.005


def poll_for(
    predicate: Callable[[], _T],
    timeout: float | timedelta = DEFAULT_TIMEOUT,
    *,
    period: float | timedelta = DEFAULT_PERIOD,
    message: str | None = None,
) -> _T:
    """Block this thread until ``predicate()`` returns a true value, and return that value.

    ``predicate`` is called at once, then every ``period`` seconds of real time (the
    thread sleeps in between). An exception from ``predicate`` propagates at once.
    Do not call it on a thread whose event loop is running (inside a coroutine or a loop
    callback): the loop could not run what you wait for. Await :func:`async_poll_for`
    there instead.

    Parameters
    ----------
    predicate : callable
        Called with no arguments; the wait ends when it returns a true value.
    timeout : float or datetime.timedelta, default 10
        Seconds to wait before giving up.
    period : float or datetime.timedelta, default 0.005
        Seconds between two calls of ``predicate``.
    message : str, optional
        What is awaited, for the error message (default: the predicate's name and where
        it was defined).

    Returns
    -------
    The first true value that ``predicate`` returned.

    Raises
    ------
    TimeoutError
        ``predicate`` was still false after ``timeout`` seconds; the message says what was
        awaited and the last value returned.
    RuntimeError
        Called on a thread whose event loop is running.

    Examples
    --------
    Results computed on a thread pool arrive after the emits have returned:

    >>> from streamz_core import Stream
    >>> from streamz_core.testing import poll_for
    >>> source = Stream()
    >>> pool = source.scatter(backend='threads').map(lambda x: x * 10).buffer(8)
    >>> L = pool.gather().sink_to_list()
    >>> for x in range(3): source.emit(x)
    >>> poll_for(lambda: len(L) == 3, timeout=10)
    True
    >>> L
    [0, 10, 20]
    >>> poll_for(lambda: len(L) == 4, timeout=0.01, message="a fourth result")
    Traceback (most recent call last):
    ...
    TimeoutError: poll_for: timed out after 0.01 s waiting for a fourth result (the predicate last returned False)

    See Also
    --------
    async_poll_for
    """
    timeout_s, period_s = _check_args("poll_for", predicate, timeout, period)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "poll_for() would block this thread, whose event loop is running, so the loop "
            "could not make the progress it waits for; in a coroutine use "
            "`await async_poll_for(...)` instead"
        )
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(_timeout_text("poll_for", predicate, timeout_s, message, value))
        time.sleep(min(period_s, remaining))


async def async_poll_for(
    predicate: Callable[[], _T],
    timeout: float | timedelta = DEFAULT_TIMEOUT,
    *,
    period: float | timedelta = DEFAULT_PERIOD,
    message: str | None = None,
) -> _T:
    """Wait in a coroutine until ``predicate()`` returns a true value, and return that value.

    The coroutine form of :func:`poll_for`: between two calls it awaits
    ``asyncio.sleep(period)``, so the loop keeps running the work awaited. The timeout is
    measured with the running loop's clock (``loop.time()``): on a
    :class:`~streamz_core.testing.VirtualTimeLoop` both the polling and the timeout are
    in virtual time, and no real time passes. On a manual clock
    (``VirtualTimeLoop(autojump=False)``) it moves the clock itself, by ``period`` per
    poll through ``loop.advance``, and awaits ``loop.wait_idle()`` before polling again,
    so a wait means the same on both clocks. Virtual time does not wait for other threads
    or processes: on a virtual clock, a wait for their work can time out in an instant of
    real time, so wait for them on a real-time loop. Parameters, return value and
    errors are those of :func:`poll_for`.

    Examples
    --------
    >>> import asyncio
    >>> from streamz_core import Stream
    >>> from streamz_core.testing import VirtualTimeLoop, async_poll_for
    >>> loop = VirtualTimeLoop()
    >>> async def main():
    ...     source = Stream(asynchronous=True)
    ...     L = source.delay(30).sink_to_list()
    ...     await source.emit("x")
    ...     await async_poll_for(lambda: L, timeout=60, period=1)
    ...     return L, loop.time()
    >>> loop.run_until_complete(main())    # an instant in real time
    (['x'], 30.0)
    >>> async def never():
    ...     await async_poll_for(lambda: 0, timeout=3600, period=60, message="the impossible")
    >>> loop.run_until_complete(never())
    Traceback (most recent call last):
    ...
    TimeoutError: async_poll_for: timed out after 3600 s waiting for the impossible (the predicate last returned 0)
    >>> loop.close()

    See Also
    --------
    poll_for
    """
    timeout_s, period_s = _check_args("async_poll_for", predicate, timeout, period)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(
                _timeout_text("async_poll_for", predicate, timeout_s, message, value)
            )
        step = min(period_s, remaining)
        if isinstance(loop, VirtualTimeLoop) and not loop.autojump:
            # A manual clock would never wake asyncio.sleep: move it ourselves, then let
            # the timers that came due, and the tasks they wake, run before the next poll.
            loop.advance(step)
            await loop.wait_idle()
        else:
            await asyncio.sleep(step)


def _seconds(name: str, param: str, value: object) -> float:
    """``value`` as finite, non-negative float seconds, or a TypeError/ValueError."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name}({param}={value!r}): {param} must be a number of seconds or a "
            f"datetime.timedelta, e.g. {param}=5"
        )
    seconds = float(value)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(
            f"{name}({param}={value!r}): {param} must be finite and >= 0 seconds, e.g. "
            f"{param}=5"
        )
    return seconds


def _check_args(
    name: str, predicate: object, timeout: object, period: object
) -> tuple[float, float]:
    if not callable(predicate):
        raise TypeError(
            f"{name}(predicate={predicate!r}): predicate must be a callable with no "
            f"arguments, e.g. {name}(lambda: len(results) == 3)"
        )
    period_s = _seconds(name, "period", period)
    if period_s == 0:
        # A zero period would spin: burn a core in poll_for, starve timers in the async form.
        raise ValueError(f"{name}(period={period!r}): period must be > 0 seconds, e.g. 0.005")
    return _seconds(name, "timeout", timeout), period_s


def _timeout_text(
    name: str, predicate: Callable[[], object], timeout: float, message: str | None, last: object
) -> str:
    what = message if message is not None else _describe(predicate)
    return (
        f"{name}: timed out after {timeout:g} s waiting for {what} "
        f"(the predicate last returned {last!r})"
    )


def _describe(predicate: Callable[[], object]) -> str:
    """Name a predicate for an error message: a lambda by the file and line it is on."""
    qualname = getattr(predicate, "__qualname__", None)
    code = getattr(predicate, "__code__", None)
    if qualname is None or code is None:
        return f"a true value from {predicate!r}"
    where = f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}"
    return f"a true value from {qualname} ({where})"
