"""A lighter future for object values (one per object: creation cost matters).

``concurrent.futures.Future`` builds a ``Condition`` (and an ``RLock``) per instance;
this one holds its state in slots, shares one module lock for its short critical
sections, and allocates a waiter lock only when a thread actually blocks.
"""
from __future__ import annotations

import _thread
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

_lock = _thread.allocate_lock()


class ObjFuture:
    """The payload future of one object: set once, by the IO/reader thread."""

    __slots__ = ("_done", "_result", "_cbs", "_waiters")

    def __init__(self) -> None:
        self._done = False
        self._result: Any = None
        self._cbs: list[Callable[[ObjFuture], Any]] | None = None
        self._waiters: list[_thread.LockType] | None = None

    def done(self) -> bool:
        return self._done

    def set_result(self, result: Any) -> None:
        with _lock:
            if self._done:
                return
            self._result = result
            self._done = True
            cbs, self._cbs = self._cbs, None
            waiters, self._waiters = self._waiters, None
        if waiters:
            for w in waiters:
                w.release()
        if cbs:
            for cb in cbs:
                try:
                    cb(self)
                except Exception:  # pragma: no cover - a callback must not stop others
                    import traceback
                    traceback.print_exc()

    def add_done_callback(self, fn: Callable[[ObjFuture], Any]) -> None:
        if not self._done:
            with _lock:
                if not self._done:
                    if self._cbs is None:
                        self._cbs = [fn]
                    else:
                        self._cbs.append(fn)
                    return
        fn(self)

    def result(self, timeout: float | None = None) -> Any:
        if not self._done:
            w = _thread.allocate_lock()
            w.acquire()
            with _lock:
                if self._done:
                    w = None
                elif self._waiters is None:
                    self._waiters = [w]
                else:
                    self._waiters.append(w)
            if (w is not None and not w.acquire(True, -1 if timeout is None
                                                 else max(0.0, timeout)) and not self._done):
                raise FutureTimeout()
        return self._result
