"""The driver's object table: futures, reference counts and the spilling store.

Every object (task result, actor call result, ``put``) has a ``concurrent.futures.Future``
whose result is a payload (see ``_serialization``). Small values stay inline in that
future. Large ones (``INLINE_MAX`` bytes or more) live in shared-memory files, tracked in a
``zict.Buffer``: an LRU in memory weighted by size, limited to ``object_store_memory``;
past that the least recently used objects are written to ``spill_dir`` (``zict.File``) and
their shared memory is released. Reading a spilled object writes it back to shared memory.

Reference counts: each live ``ObjectRef`` in the driver, each ref held by a worker
process, each pending task using the object and each stored value containing the ref
counts one. At zero the object is freed (its future dropped, its file removed).
``ObjectRef.__del__`` only appends to a deque (it may run inside the garbage collector
while a lock is held); the IO thread applies those decrements.
"""
from __future__ import annotations

import os
import pickle
import struct
import threading
from collections import deque
from typing import Any, Callable

from . import _serialization as ser
from ._future import ObjFuture
from .exceptions import ObjectLostError


class ObjectTable:
    """Futures and reference counts of every object known to the driver."""

    def __init__(self, shm_dir: str, spill_dir: str, memory_limit: int) -> None:
        self.shm_dir = shm_dir
        self.spill_dir = spill_dir
        self.memory_limit = memory_limit
        self.futs: dict[int, ObjFuture] = {}
        self.rc: dict[int, int] = {}
        self.lock = threading.RLock()
        self.decs: deque = deque()
        self.contains: dict[int, tuple] = {}
        self.spilled_count = 0
        self.on_free: Callable[[int], None] = lambda oid: None
        self._store: Any = None

    @property
    def store(self) -> Any:
        """The ``zict.Buffer`` of large objects (created on first use: zict loads slowly)."""
        if self._store is None:
            import zict

            os.makedirs(self.spill_dir, exist_ok=True)
            slow = zict.Func(self._dump, self._load, zict.File(self.spill_dir))
            self._store = zict.Buffer({}, slow, n=self.memory_limit,
                                      weight=lambda k, v: ser.payload_nbytes(v))
        return self._store

    # -- spilling -----------------------------------------------------------------
    def _dump(self, payload: tuple) -> list:
        header = pickle.dumps((payload[1], payload[2], payload[3]), 5)
        with open(payload[1], "rb") as f:
            data = f.read()
        os.unlink(payload[1])
        self.spilled_count += 1
        return [struct.pack("<Q", len(header)), header, data]

    def _load(self, blob: Any) -> tuple:
        mv = memoryview(blob)
        (hlen,) = struct.unpack("<Q", mv[:8])
        path, meta, refs = pickle.loads(mv[8:8 + hlen])
        return ser.shm_from_bytes(path, mv[8 + hlen:], meta, refs)

    def stored_bytes(self) -> int:
        """Bytes of the store held in shared memory (not spilled)."""
        with self.lock:
            return int(self.store.fast.total_weight)

    def spilled_keys(self) -> list[int]:
        """Ids of the objects currently spilled to disk."""
        with self.lock:
            return [int(k) for k in self.store.slow]

    # -- lifecycle -------------------------------------------------------------------
    def new(self, oid: int) -> ObjFuture:
        """Register a pending object and return its future."""
        fut = self.futs[oid] = ObjFuture()
        return fut

    def incref(self, oid: int, n: int = 1) -> None:
        """Add ``n`` references to ``oid``."""
        with self.lock:
            self.rc[oid] = self.rc.get(oid, 0) + n

    def add_ref(self, oid: int) -> None:
        """Add a reference later, in order with :meth:`release` (any thread, no lock)."""
        self.decs.append(oid << 1 | 1)

    def release(self, oid: int) -> None:
        """Drop a reference later (safe from ``__del__`` and any thread)."""
        self.decs.append(oid << 1)

    def decref(self, oid: int, n: int = 1) -> None:
        """Drop ``n`` references now; free the object at zero."""
        with self.lock:
            c = self.rc.get(oid, 0) - n
            if c > 0:
                self.rc[oid] = c
                return
            self.rc.pop(oid, None)
            self._free(oid)

    def apply_decrefs(self) -> None:
        """Apply the changes queued by :meth:`add_ref` and :meth:`release` (IO thread)."""
        decs = self.decs
        if not decs:
            return
        rc = self.rc
        with self.lock:
            while decs:
                try:
                    op = decs.popleft()
                except IndexError:
                    break
                oid = op >> 1
                if op & 1:
                    rc[oid] = rc.get(oid, 0) + 1
                else:
                    self.decref(oid)

    def _free(self, oid: int) -> None:
        fut = self.futs.get(oid)
        if fut is not None and not fut.done():
            return  # the result will be dropped on arrival (rc is 0)
        self.futs.pop(oid, None)
        key = str(oid)
        if self._store is None:
            pass
        elif key in self.store.fast:
            try:
                os.unlink(self.store.fast[key][1])
            except OSError:
                pass
            del self.store[key]
        elif key in self.store:
            del self.store[key]
        inner = self.contains.pop(oid, ())
        for c in inner:
            self.decref(c)
        self.on_free(oid)

    def complete(self, oid: int, payload: tuple, owned: bool = False) -> bool:
        """Set the value of ``oid``; return False if nobody references it any more.

        ``owned``: the caller holds a ref whose increment may still be queued (put).
        """
        with self.lock:
            fut = self.futs.get(oid)
            if fut is None or fut.done() or (self.rc.get(oid, 0) <= 0 and not owned):
                discard(payload)
                if fut is not None and not fut.done():
                    self.futs.pop(oid, None)
                    fut.set_result(ser.system_error(ObjectLostError(
                        f"object {oid:#x} was freed: no ObjectRef to it remained")))
                return False
            if payload[3]:
                self.contains[oid] = payload[3]
                for c in payload[3]:
                    self.rc[c] = self.rc.get(c, 0) + 1
            if payload[0] == "s":
                self.store[str(oid)] = payload
                payload = ("z", oid, ser.payload_nbytes(payload), payload[3])
        fut.set_result(payload)
        return True

    def transportable(self, payload: tuple) -> tuple:
        """Turn a ``"z"`` payload into one a worker can read (an ``"s"`` file)."""
        if payload[0] != "z":
            return payload
        with self.lock:
            try:
                return self.store[str(payload[1])]
            except KeyError:
                raise ObjectLostError(
                    f"object {payload[1]:#x} was freed before it could be read; keep an "
                    f"ObjectRef to it while it is in use") from None

    def load(self, payload: tuple) -> Any:
        """Rebuild the value of a payload (reading the store for ``"z"``)."""
        if payload[0] != "z":
            return ser.loads_value(payload)
        with self.lock:
            return ser.loads_value(self.transportable(payload))

    def clear(self) -> None:
        """Fail every pending future and drop everything (at shutdown)."""
        with self.lock:
            for fut in list(self.futs.values()):
                if not fut.done():
                    fut.set_result(ser.system_error(ObjectLostError(
                        "the runtime was shut down before this object was computed; "
                        "call rt.get before rt.shutdown")))
            self.futs.clear()
            self.rc.clear()
            self.contains.clear()


def discard(payload: tuple) -> None:
    """Remove the shared-memory file of a payload nobody will read."""
    if payload[0] == "s":
        try:
            os.unlink(payload[1])
        except OSError:
            pass
