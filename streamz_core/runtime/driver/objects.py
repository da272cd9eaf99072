"""Objects as the worker processes see them: their refs, puts and subscriptions.

The :class:`~.._object_store.ObjectTable` holds every object's future and reference
count; this adds what workers need on top (IO thread only): the refs each worker holds
(released when it dies), the values they wait for (sent when set), and their puts.
"""
from __future__ import annotations

from collections.abc import Callable

from .. import _protocol as P
from .. import _serialization as ser
from .._object_store import ObjectTable
from ..exceptions import ObjectLostError
from .process import Proc


class WorkerObjects:
    """Worker-held refs and subscriptions on top of the object table (IO thread)."""

    def __init__(self, table: ObjectTable, send: Callable[[Proc, P.Message], None]) -> None:
        self._table = table
        self._send = send
        self._subs: dict[int, list[Proc]] = {}  # object id -> workers waiting for it
        # wired by the Driver: a value was set (the scheduler starts what waited for it)
        self.on_value: Callable[[int, P.Payload], None] = lambda oid, payload: None

    def waiting(self) -> int:
        """How many objects some worker waits for."""
        return len(self._subs)

    def complete(self, oid: int, payload: P.Payload) -> None:
        """Set an object's value and wake what waits for it."""
        table = self._table
        table.complete(oid, payload)
        fut = table.futs.get(oid)
        final = fut.result() if fut is not None else payload
        self.on_value(oid, final)
        subs = self._subs.pop(oid, None)
        if subs:
            p = self._readable(final)
            for proc in subs:
                self._send(proc, P.value(oid, p))

    def _readable(self, payload: P.Payload) -> P.Payload:
        try:
            return self._table.transportable(payload)
        except ObjectLostError as exc:
            return ser.system_error(exc)

    def adopt(self, proc: Proc, oid: int) -> None:
        """Register an object created in ``proc`` (a result, a put); ``proc`` holds it."""
        self._table.new(oid)
        self._table.incref(oid)
        proc.holds[oid] += 1

    # -- messages ----------------------------------------------------------------------
    def on_subscribe(self, proc: Proc, m: P.Subscribe) -> None:
        for oid in m[1]:
            fut = self._table.futs.get(oid)
            if fut is None:
                self._send(proc, P.value(oid, ser.system_error(ObjectLostError(
                    f"object {oid:#x} was freed before the worker read it"))))
            elif fut.done():
                self._send(proc, P.value(oid, self._readable(fut.result())))
            else:
                self._subs.setdefault(oid, []).append(proc)

    def on_add_ref(self, proc: Proc, m: P.AddRef) -> None:
        oid = m[1]
        self._table.incref(oid)
        proc.holds[oid] += 1

    def on_release(self, proc: Proc, m: P.Release) -> None:
        oid = m[1]
        n = proc.holds.get(oid, 0)
        if n > 0:
            if n == 1:
                del proc.holds[oid]
            else:
                proc.holds[oid] = n - 1
            self._table.decref(oid)

    def on_put(self, proc: Proc, m: P.Put) -> None:
        _, oid, payload = m
        self.adopt(proc, oid)
        self.complete(oid, payload)
