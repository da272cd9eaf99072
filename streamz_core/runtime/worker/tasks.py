"""The task host: the main thread of a task worker runs its tasks one at a time.

Tasks run on the main thread so that a cancelled task gets a ``KeyboardInterrupt`` even
inside ``time.sleep``: the reader thread signals it (SIGUSR1) and the handler raises only
if the cancelled task is the one running.

When a task blocks in ``rt.get``/``rt.wait`` the worker tells the driver (``BLOCKED``)
and hands back the tasks queued behind it, so nested tasks never wait behind their
parent; the driver starts an extra worker if too few are left unblocked.
"""
from __future__ import annotations

import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import FrameType
from typing import Any

from .. import _protocol as P
from .. import _serialization as ser
from .._task import bind_args
from .common import Interrupt, cancelled, current_task, results
from .core import NOOP, WorkerCore


class TaskHost:
    """Runs the tasks the driver sends to this worker (see module docstring)."""

    def __init__(self, core: WorkerCore) -> None:
        self.core = core
        self.cancelled: set[int] = set()
        self.running: int | None = None
        self._cancel_target: int | None = None
        self._blocked = False
        self._block_lock = threading.Lock()
        self._main_ident = threading.get_ident()
        self._fns: dict[Any, Callable[..., Any]] = {}
        signal.signal(signal.SIGUSR1, self._on_signal)

    # -- the reader thread's side ---------------------------------------------------------
    def accept(self, m: P.RunTask) -> None:
        """Queue a task for the main thread, or hand it back while a task is blocked."""
        with self._block_lock:
            if not self._blocked:
                self.core.queue.put(m)
                return
        self.core.out.append(P.return_tasks([m[1]]))
        self.core.flush()

    def cancel(self, tid: int) -> None:
        self.cancelled.add(tid)
        if self.running == tid:
            self._cancel_target = tid
            signal.pthread_kill(self._main_ident, signal.SIGUSR1)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.running is not None and self.running == self._cancel_target:
            self._cancel_target = None
            raise Interrupt()

    # -- the main thread -------------------------------------------------------------------
    def serve(self) -> None:
        """Run tasks for ever (the process ends with ``LEAVE`` or the driver's EOF)."""
        core = self.core
        q = core.queue
        last = time.perf_counter()
        while True:
            try:
                m = q.get(timeout=0.2)
            except queue.Empty:
                core.flush()
                continue
            self.run_task(m)
            last = core.flush_after_one(last)

    def run_task(self, m: P.RunTask) -> None:
        _, tid, key, _blob, args, deps, out_ids, nret, name = m
        t0 = time.perf_counter()
        try:
            if tid in self.cancelled:
                self.cancelled.discard(tid)
                raise Interrupt()
            fn = self._fns.get(key)
            if fn is None:
                fn = self._fns[key] = pickle.loads(self.core.blobs.pop(key))
            token = current_task.set(tid)
            try:
                self.running = tid
                a, kw = bind_args(args, deps, self.core.refetch)
                result = fn(*a, **kw)
                self.running = None
            finally:
                self.running = None
                current_task.reset(token)
            payloads = results(self.core.shm_dir, result, out_ids, nret, name)
        except Interrupt:
            payloads = cancelled(name, tid, nret)
        except BaseException as exc:
            payloads = [ser.error_payload(exc)] * nret
        self.cancelled.discard(tid)
        self.core.out.append(P.task_done(tid, payloads, time.perf_counter() - t0))

    def blocking(self) -> AbstractContextManager[None]:
        """What ``rt.get``/``rt.wait`` wrap their wait in (see module docstring)."""
        if self.running is not None and threading.get_ident() == self._main_ident:
            return _Blocked(self)
        return NOOP

    def _block(self) -> None:
        core = self.core
        with self._block_lock:
            self._blocked = True
            items = []
            while True:
                try:
                    items.append(core.queue.get_nowait())
                except queue.Empty:
                    break
        core.out.append(P.blocked([m[1] for m in items]))
        core.flush()

    def _unblock(self) -> None:
        with self._block_lock:
            self._blocked = False
        self.core.out.append(P.unblocked())
        self.core.flush()


class _Blocked:
    def __init__(self, host: TaskHost) -> None:
        self.host = host

    def __enter__(self) -> None:
        self.host._block()

    def __exit__(self, *exc: object) -> None:
        self.host._unblock()
