"""Messages from worker processes to the driver, handled on the IO thread.

Mixed into :class:`~._scheduler.Driver`; ``_m_<tag>(proc, *fields)`` handles a message
``(tag, *fields)`` sent by ``proc``: results, blocked/unblocked notices, nested
submissions, object subscriptions, reference counts, puts and cancellations.
"""
from __future__ import annotations

from typing import Any

from . import _serialization as ser
from ._object_store import discard
from ._process import Proc
from ._task import Task
from .exceptions import ObjectLostError


class MessageMixin:
    """Handlers of worker messages (IO thread)."""

    # -- messages from workers (IO thread) ---------------------------------------------
    def _m_r(self, proc: Proc, tid: int, payloads: list, dt: float) -> None:
        task = proc.inflight.pop(tid, None)
        if task is None:
            for p in payloads:
                discard(p)
            return
        proc.ewma = dt if proc.ewma == 0.0 else 0.8 * proc.ewma + 0.2 * dt
        self._finish(task, payloads)

    def _m_blk(self, proc: Proc, tids: list) -> None:
        proc.blocked += 1
        self._m_ret(proc, tids)

    def _m_unb(self, proc: Proc) -> None:
        proc.blocked -= 1

    def _m_ret(self, proc: Proc, tids: list) -> None:
        for tid in reversed(tids):
            task = proc.inflight.pop(tid, None)
            if task is not None and task.state == "sent":
                task.state = "ready"
                self._ready.appendleft(task)

    def _m_t(self, proc: Proc, blob: bytes | None, task: Task) -> None:
        if blob is not None:
            self._blobs.setdefault(task.key, blob)
        self._adopt(proc, task)
        self._on_submit(task)

    def _m_blob(self, proc: Proc, key: Any, blob: bytes) -> None:
        self._blobs.setdefault(key, blob)

    def _adopt(self, proc: Proc, task: Task) -> None:
        for oid in task.out_ids:
            self.table.new(oid)
            self.table.incref(oid)
            proc.holds[oid] += 1
        for oid in task.holds:
            self.table.incref(oid)
        task.submitter = proc

    def _m_sub(self, proc: Proc, oids: list) -> None:
        for oid in oids:
            fut = self.table.futs.get(oid)
            if fut is None:
                self.send(proc, ("o", oid, ser.system_error(ObjectLostError(
                    f"object {oid:#x} was freed before the worker read it"))))
            elif fut.done():
                try:
                    p = self.table.transportable(fut.result())
                except ObjectLostError as exc:
                    p = ser.system_error(exc)
                self.send(proc, ("o", oid, p))
            else:
                self._subs.setdefault(oid, []).append(proc)

    def _m_inc(self, proc: Proc, oid: int) -> None:
        self.table.incref(oid)
        proc.holds[oid] += 1

    def _m_dec(self, proc: Proc, oid: int) -> None:
        n = proc.holds.get(oid, 0)
        if n > 0:
            if n == 1:
                del proc.holds[oid]
            else:
                proc.holds[oid] = n - 1
            self.table.decref(oid)

    def _m_put(self, proc: Proc, oid: int, payload: tuple) -> None:
        self.table.new(oid)
        self.table.incref(oid)
        proc.holds[oid] += 1
        self.complete(oid, payload)

    def _m_x(self, proc: Proc, oid: int, force: bool, recursive: bool = True) -> None:
        self._on_cancel(oid, force, recursive)

