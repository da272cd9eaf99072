"""The driver's object table: futures, reference counts and the spilling store.

Every object (task result, actor call result, ``put``) has a ``concurrent.futures.Future``
whose result is a payload (see ``_serialization``). Small values stay inline in that
future. Large ones (``INLINE_MAX`` bytes or more) live in files, tracked by a
:class:`SpillingStore`: the files in shared memory form an LRU weighted by size and
limited to ``object_store_memory``; past that the least recently used ones are moved to
``spill_dir`` on disk. A value that does not fit in shared memory at all was already
written to ``spill_dir`` by whoever made it (see ``_shm_files``). Spilled objects stay on
disk until freed and are read from there through ``mmap`` (zero-copy; the page cache keeps
the busy ones in memory), so reading never refills shared memory.

Reference counts: each live ``ObjectRef`` in the driver, each ref held by a worker
process, each pending task using the object and each stored value containing the ref
counts one. At zero the object is freed (its future dropped, its file removed, wherever
it is). ``ObjectRef.__del__`` only appends to a deque (it may run inside the garbage
collector while a lock is held); the IO thread applies those decrements.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, NamedTuple

from . import _serialization as ser
from ._future import ObjFuture
from ._serialization import Payload
from ._shm_files import move_to_spill, register_session, unregister_session
from .exceptions import ObjectLostError

logger = logging.getLogger("streamz_core.runtime")


class SpillingStore:
    """The files of large objects: an LRU in shared memory, the rest in ``spill_dir``.

    Keys are object ids, values ``("s", path, meta, contained)`` payloads. Not thread
    safe: the :class:`ObjectTable` calls it under its lock.
    """

    def __init__(self, spill_dir: str, memory_limit: int) -> None:
        self.spill_dir = spill_dir
        self.memory_limit = memory_limit
        self.in_memory: OrderedDict[int, Payload] = OrderedDict()  # least recently used first
        self.on_disk: dict[int, Payload] = {}
        self.memory_bytes = 0
        self.spills = 0  # files moved to disk so far
        self._spill_failed = False

    def add(self, oid: int, payload: Payload) -> None:
        """Track the file of ``oid``; spill older files if shared memory is over the limit."""
        if self._on_spill_disk(payload[1]):
            self.on_disk[oid] = payload
            return
        self.in_memory[oid] = payload
        self.memory_bytes += ser.payload_nbytes(payload)
        self._evict()

    def get(self, oid: int) -> Payload:
        """The payload of ``oid`` (marking it recently used); ``KeyError`` if unknown."""
        payload = self.in_memory.get(oid)
        if payload is not None:
            self.in_memory.move_to_end(oid)
            return payload
        return self.on_disk[oid]

    def remove(self, oid: int) -> None:
        """Forget ``oid`` and delete its file."""
        payload = self.in_memory.pop(oid, None)
        if payload is not None:
            self.memory_bytes -= ser.payload_nbytes(payload)
            self._spill_failed = False  # room was made: spilling may work again
        else:
            payload = self.on_disk.pop(oid, None)
        if payload is not None:
            discard(payload)

    def _on_spill_disk(self, path: str) -> bool:
        return os.path.dirname(path) == self.spill_dir

    def _evict(self) -> None:
        while self.memory_bytes > self.memory_limit and self.in_memory:
            oid, payload = next(iter(self.in_memory.items()))
            try:
                path = move_to_spill(payload[1], self.spill_dir)
            except OSError as exc:
                # The disk is full (or gone): keep the file in shared memory. New values
                # that do not fit then fail with ObjectStoreFullError, which says what to do.
                if not self._spill_failed:
                    logger.warning("cannot spill object %#x to %s: %s; it stays in shared "
                                   "memory, which is now over object_store_memory",
                                   oid, self.spill_dir, exc)
                self._spill_failed = True
                return
            del self.in_memory[oid]
            self.memory_bytes -= ser.payload_nbytes(payload)
            self.on_disk[oid] = ("s", path, payload[2], payload[3])
            self.spills += 1


class TableStatistics(NamedTuple):
    objects: int          # objects the driver knows (pending or set)
    store_bytes: int      # bytes of large objects in shared memory
    spilled_objects: int  # large objects spilled to disk


class ObjectTable:
    """Futures and reference counts of every object known to the driver."""

    def __init__(self, shm_dir: str, spill_dir: str, memory_limit: int) -> None:
        self.shm_dir = shm_dir
        self.spill_dir = spill_dir
        self.memory_limit = memory_limit
        self.futs: dict[int, ObjFuture] = {}
        self.rc: dict[int, int] = {}
        self.lock = threading.RLock()
        self.decs: deque[int] = deque()
        self.contains: dict[int, tuple[int, ...]] = {}
        self.on_free: Callable[[int], None] = lambda oid: None
        self.store = SpillingStore(spill_dir, memory_limit)
        # values written in this process (rt.put, large arguments) follow the same limit
        register_session(shm_dir, spill_dir, memory_limit)

    def statistics(self) -> TableStatistics:
        """A snapshot of the table's figures (any thread)."""
        with self.lock:
            return TableStatistics(objects=len(self.futs), store_bytes=self.store.memory_bytes,
                                   spilled_objects=len(self.store.on_disk))

    def stored_bytes(self) -> int:
        """Bytes of the store held in shared memory (not spilled)."""
        with self.lock:
            return self.store.memory_bytes

    def spilled_keys(self) -> list[int]:
        """Ids of the objects currently spilled to disk."""
        with self.lock:
            return list(self.store.on_disk)

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
        self.store.remove(oid)
        inner = self.contains.pop(oid, ())
        for c in inner:
            self.decref(c)
        self.on_free(oid)

    def complete(self, oid: int, payload: Payload, owned: bool = False) -> bool:
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
                self.store.add(oid, payload)
                payload = ("z", oid, ser.payload_nbytes(payload), payload[3])
        fut.set_result(payload)
        return True

    def transportable(self, payload: Payload) -> Payload:
        """Turn a ``"z"`` payload into one a worker can read (an ``"s"`` file)."""
        if payload[0] != "z":
            return payload
        with self.lock:
            try:
                return self.store.get(payload[1])
            except KeyError:
                raise ObjectLostError(
                    f"object {payload[1]:#x} was freed before it could be read; keep an "
                    f"ObjectRef to it while it is in use") from None

    def load(self, payload: Payload) -> Any:
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
            for oid in list(self.store.in_memory) + list(self.store.on_disk):
                self.store.remove(oid)
        unregister_session(self.shm_dir)


def discard(payload: Payload) -> None:
    """Remove the file of a payload nobody will read (in shared memory or spilled)."""
    if payload[0] == "s":
        try:
            os.unlink(payload[1])
        except OSError:
            pass
