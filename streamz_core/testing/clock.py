"""Virtual time for tests: an asyncio event loop whose clock jumps instead of sleeping.

It needs private asyncio internals, the timer heap ``BaseEventLoop._scheduled`` (see
``VirtualTimeLoop.call_at`` and ``VirtualTimeLoop._jump_to_next_timer`` for why) and the
select timeouts of ``_run_once``, and reaches them only through
:mod:`streamz_core._internals`, which names every such internal once and is checked by
``tests/test_internals.py``. The rest goes through public hooks: the ``selector``
argument of ``asyncio.SelectorEventLoop`` and ``loop.time()``.

Threading: a ``VirtualTimeLoop`` runs in one thread, like any asyncio loop.
``advance`` and ``call_soon_threadsafe`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import math
import numbers
import selectors
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVarTuple, Unpack

from .._internals import asyncio_loop_of, earliest_timer, push_timer

__all__ = ["VirtualTimeLoop"]

_SelectResult = list[tuple[selectors.SelectorKey, int]]
_Ts = TypeVarTuple("_Ts")


class _VirtualSelector(selectors.BaseSelector):
    """Delegate to a real selector, but let the loop decide what a select timeout means."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        select: Callable[[selectors.BaseSelector, float | None], _SelectResult],
    ) -> None:
        self._selector = selector
        self._select = select

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._selector.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._selector.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._selector.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> _SelectResult:
        return self._select(self._selector, timeout)

    def close(self) -> None:
        self._selector.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._selector.get_key(fileobj)

    def get_map(self) -> Any:
        return self._selector.get_map()


class _TimerHandle(asyncio.TimerHandle):
    """A timer that sorts by (deadline, creation order), so that ties fire first-in first-out."""

    __slots__ = ("_seq",)

    def __init__(
        self,
        seq: int,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        context: Any = None,
    ) -> None:
        super().__init__(when, callback, args, loop, context)
        self._seq = seq

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _TimerHandle):
            return (self.when(), self._seq) < (other.when(), other._seq)
        if isinstance(other, asyncio.TimerHandle):
            return self.when() < other.when()
        return NotImplemented


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """Run asyncio code on a virtual clock that starts at 0.0 and never waits for real.

    ``loop.time()`` is virtual, so ``asyncio.sleep``, ``loop.call_later``,
    ``loop.call_at`` and timeouts follow it. With ``autojump=True`` the clock jumps
    straight to the next timer whenever the loop is idle: no callback is ready and a
    real, non-blocking poll of the selector finds no IO. Real IO (sockets, pipes,
    ``call_soon_threadsafe`` from other threads) is always served first. With no timer
    pending the loop blocks on the real selector as usual, so other threads can wake
    it. With ``autojump=False`` time moves only through :meth:`advance`. Each
    jump and each advance is appended to :attr:`steps` (float seconds). Timers with
    equal deadlines fire in the order they were scheduled. A loop that always has a
    ready callback (a task spinning on ``asyncio.sleep(0)``) never jumps.

    The loop runs in one thread, in the caller's (``run_until_complete``) or on a
    background thread (``threading.Thread(target=loop.run_forever)``).
    :meth:`advance` and ``call_soon_threadsafe`` are safe from any thread. With
    autojump the clock moves as soon as the loop is idle, even if another thread is
    about to submit work, and a timeout pending while the loop waits on IO that has
    not yet arrived fires at once.

    If Tornado is installed, the loop is created with a Tornado ``IOLoop`` attached
    whose ``time()`` is the virtual clock, so ``IOLoop.current()`` inside the loop,
    ``IOLoop.time()``, ``IOLoop.call_later`` and ``tornado.gen.sleep`` follow virtual
    time exactly. (Tornado's default ``IOLoop`` reads the wall clock, so its timers
    would land a few microseconds early.) Tornado allows one ``IOLoop`` per asyncio
    loop: code that wraps a loop must reuse the attached one, as
    ``IOLoop.current()`` does, rather than call ``AsyncIOLoop(asyncio_loop=loop)``.

    Parameters
    ----------
    autojump : bool, default True
        Jump to the next timer when idle. ``False`` gives a clock that moves only
        through :meth:`advance`. Can be changed while the loop runs.

    Attributes
    ----------
    steps : list of float
        The size of every clock move, in order, as in aiostream's
        ``TimeTrackingTestLoop``.

    Examples
    --------
    >>> import asyncio
    >>> from streamz_core.testing import VirtualTimeLoop
    >>> loop = VirtualTimeLoop()
    >>> async def nap():
    ...     await asyncio.sleep(3600)        # returns at once in real time
    ...     return loop.time()
    >>> loop.run_until_complete(nap())
    3600.0
    >>> loop.steps
    [3600.0]
    >>> loop.close()

    ``asyncio.Runner`` accepts it as a loop factory:

    >>> with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
    ...     runner.run(asyncio.sleep(60))
    ...     runner.get_loop().time()
    60.0

    See Also
    --------
    advance, wait_idle
    """

    def __init__(self, autojump: bool = True) -> None:
        self._autojump = True
        self._virtual_now = 0.0
        self._clock_lock = threading.Lock()
        self._timer_seq = itertools.count()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self.steps: list[float] = []
        super().__init__(_VirtualSelector(selectors.DefaultSelector(), self._virtual_select))
        # asyncio's debug mode times callbacks with self.time(); a virtual jump inside a
        # callback's window would be reported as a slow callback, so never report.
        self.slow_callback_duration = math.inf
        try:
            _check_autojump(autojump)
        except TypeError:
            self.close()
            raise
        self._autojump = autojump
        _attach_tornado(self)

    @property
    def autojump(self) -> bool:
        """Whether the clock jumps to the next timer when the loop is idle."""
        return self._autojump

    @autojump.setter
    def autojump(self, value: bool) -> None:
        _check_autojump(value)
        self._autojump = value
        self._wake()

    def time(self) -> float:
        """Return the virtual time in seconds, starting at 0.0."""
        return self._virtual_now

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """Schedule ``callback(*args)`` at virtual time ``when``; ties fire in call order."""
        # BaseEventLoop.call_at with a handle that breaks deadline ties by creation order.
        # asyncio orders its private timer heap by deadline alone, which is harmless on a
        # real clock where two deadlines almost never tie, but on a virtual clock every
        # call_later(1) made at the same instant ties and would fire in heap order.
        if when is None:
            raise TypeError("when cannot be None")
        timer = _TimerHandle(next(self._timer_seq), when, callback, args, self, context)
        push_timer(self, timer, callback)
        return timer

    def advance(self, seconds: float | timedelta) -> None:
        """Move the clock forward by ``seconds`` and wake the loop.

        Timers that become due fire on the loop's next iteration, in deadline order;
        later timers stay pending. Safe to call from the loop's own thread (inside a
        coroutine; await :meth:`wait_idle` afterwards to let the due timers and the
        tasks they wake run) and from any other thread (the loop is woken). From
        another thread, advance only once the work you wait for has scheduled its
        timer: a relative sleep scheduled after an advance starts from the new time.
        Works in both modes; a zero advance is not recorded in :attr:`steps`.

        Parameters
        ----------
        seconds : float or datetime.timedelta
            How far to move, non-negative and finite.

        Examples
        --------
        >>> import asyncio
        >>> from streamz_core.testing import VirtualTimeLoop
        >>> loop = VirtualTimeLoop(autojump=False)
        >>> fired = []
        >>> for delay in (1, 2, 5):
        ...     _ = loop.call_later(delay, fired.append, delay)
        >>> loop.advance(2)
        >>> loop.run_until_complete(loop.wait_idle())
        >>> fired, loop.time(), loop.steps
        ([1, 2], 2.0, [2.0])
        >>> loop.close()
        """
        # Checked as an object: untyped callers pass anything.
        value: object = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"VirtualTimeLoop.advance(seconds={value!r}): seconds must be a number "
                "of seconds or a datetime.timedelta, e.g. advance(1.5)"
            )
        seconds = float(value)
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(
                f"VirtualTimeLoop.advance(seconds={seconds!r}): seconds must be finite and "
                ">= 0, since virtual time never moves backwards; pass how far to move "
                "forward, e.g. advance(1.5)"
            )
        if seconds:
            with self._clock_lock:
                self._virtual_now += seconds
                self.steps.append(seconds)
        self._wake()

    async def wait_idle(self) -> None:
        """Wait until every other task on this loop is blocked.

        Returns once the loop finds no ready callback and no ready IO, before it
        jumps the clock (with autojump) or blocks. Use it after :meth:`advance` to let
        the timers that became due, and the tasks they wake, run. Must be awaited on
        this loop.

        Examples
        --------
        >>> import asyncio
        >>> from streamz_core.testing import VirtualTimeLoop
        >>> loop = VirtualTimeLoop(autojump=False)
        >>> async def main():
        ...     task = asyncio.ensure_future(asyncio.sleep(10, result="woke"))
        ...     await loop.wait_idle()
        ...     loop.advance(10)
        ...     await loop.wait_idle()
        ...     return task.result()
        >>> loop.run_until_complete(main())
        'woke'
        >>> loop.close()
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self:
            raise RuntimeError(
                f"VirtualTimeLoop.wait_idle() was awaited on {running!r}, not on this loop; "
                "await it from a coroutine running on the VirtualTimeLoop it belongs to"
            )
        waiter: asyncio.Future[None] = self.create_future()
        self._idle_waiters.append(waiter)
        await waiter

    def _wake(self) -> None:
        """Interrupt a blocking select so that the loop rereads the clock."""
        if self.is_closed() or not self.is_running():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self:
            try:
                self.call_soon_threadsafe(_noop)
            except RuntimeError:  # closed meanwhile
                pass

    def _virtual_select(
        self, selector: selectors.BaseSelector, timeout: float | None
    ) -> _SelectResult:
        # _internals.SELECT_TIMEOUT_CONTRACT: asyncio's _run_once passes timeout 0 when
        # callbacks are ready, None when no timer is pending, and the delay to the next
        # timer otherwise.
        if timeout == 0:
            return selector.select(0)
        events = selector.select(0)  # the loop looks idle: serve real IO first
        if events:
            return events
        if self._idle_waiters:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            return []
        if timeout is not None and self._autojump:
            self._jump_to_next_timer(timeout)
            return []
        return selector.select(None)  # woken by IO, call_soon_threadsafe or advance

    def _jump_to_next_timer(self, timeout: float) -> None:
        # _run_once has just dropped cancelled timers from the head of the heap and
        # derived `timeout` from it, but capped at one day and as a float difference;
        # the head's own deadline lands exactly on it instead.
        head = earliest_timer(self)
        target = head.when() if head is not None else self._virtual_now + timeout
        with self._clock_lock:
            step = target - self._virtual_now
            if step > 0:
                self._virtual_now = target
                self.steps.append(step)


def _noop() -> None:
    pass


def _check_autojump(autojump: object) -> None:
    if not isinstance(autojump, bool):
        raise TypeError(
            f"VirtualTimeLoop(autojump={autojump!r}): autojump must be True or False; "
            "pass autojump=False for a clock that moves only through advance()"
        )


@functools.cache
def _tornado_loop_class() -> type | None:
    try:
        from tornado.platform.asyncio import AsyncIOLoop
    except ImportError:
        return None

    class _VirtualTornadoLoop(AsyncIOLoop):
        """Tornado's view of a VirtualTimeLoop: ``IOLoop.time()`` is the virtual clock."""

        def time(self) -> float:
            inner = asyncio_loop_of(self)
            assert inner is not None  # set by AsyncIOLoop.initialize
            return float(inner.time())

    return _VirtualTornadoLoop


def _attach_tornado(loop: VirtualTimeLoop) -> None:
    """Register a virtual-time Tornado IOLoop for ``loop`` (Tornado finds it by loop)."""
    cls = _tornado_loop_class()
    if cls is None:
        return
    cls(asyncio_loop=loop, make_current=False)
