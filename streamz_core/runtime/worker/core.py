"""A worker's link to the driver: the core the public modules call in a worker process.

Two threads use it. The reader thread receives message batches from the driver and
dispatches them through the one table of :meth:`WorkerCore.handlers`: object values
complete local futures, tasks go to the task host, actor calls to the actor host,
cancellations to whichever runs the work. Any thread may send: messages are queued in
``out`` and written as one batch by :meth:`WorkerCore.flush`.
"""
from __future__ import annotations

import concurrent.futures as cf
import itertools
import os
import queue
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from .. import _protocol as P
from .. import _serialization as ser
from .._channel import EXIT_CORRUPT_CHANNEL, Channel
from .._future import ObjFuture
from .._shm_files import register_session
from .common import current_task

if TYPE_CHECKING:
    from .._actors import ActorRec
    from .._context import WorkerSideCore
    from .._task import Task


class TaskSide(Protocol):
    """The task host, as the core sees it (task workers only)."""

    cancelled: set[int]

    def accept(self, m: P.RunTask) -> None: ...

    def cancel(self, tid: int) -> None: ...

    def blocking(self) -> AbstractContextManager[None]: ...


class ActorSide(Protocol):
    """The actor host, as the core and ``runtime_context()`` see it (actor processes)."""

    aid: int
    is_async: bool
    cancelled: set[int]

    def dispatch(self, m: P.Call) -> None: ...

    def cancel(self, cid: int) -> None: ...


class WorkerCore:
    """The runtime core of a worker process (see module docstring)."""

    is_driver = False

    def __init__(self, conn: Channel, settings: dict[str, Any]) -> None:
        self.conn = conn
        self.index: int = settings["index"]
        self.mode: str = settings["mode"]
        self.shm_dir: str = settings["shm_dir"]
        # results too large for shared memory go straight to the session's spill directory
        register_session(self.shm_dir, settings["spill_dir"], settings["object_store_memory"])
        self.pid = os.getpid()
        self._ids = itertools.count(1)
        self._req_ids = itertools.count(1)
        self.out: deque[P.Message] = deque()
        self._send_lock = threading.Lock()
        self._rc: dict[int, int] = {}
        self._rc_lock = threading.Lock()
        self._decs: deque[int] = deque()
        self._futs: dict[int, ObjFuture] = {}
        self._reqs: dict[int, cf.Future[Any]] = {}
        self._sent_blobs: set[Any] = set()
        self.queue: queue.SimpleQueue[P.Message] = queue.SimpleQueue()  # main thread's
        self.blobs: dict[Any, bytes] = {}  # function pickles received, not loaded yet
        self.tasks: TaskSide | None = None
        self.host: ActorSide | None = None
        self._host_lock = threading.Lock()
        self._early: list[P.Message] = []  # calls that came before the actor existed
        self._warned = False
        self._flush_evt: threading.Event | None = None
        self.handlers: dict[int, Callable[[Any], None]] = {
            P.VALUE: self.on_value,
            P.RUN_TASK: self.on_run_task,
            P.CALL: self.on_call,
            P.CANCEL: self.on_cancel,
            P.ACTOR_FOUND: self.on_actor_found,
            P.HOST_ACTOR: self.on_host_actor,
            P.LEAVE: self.on_leave,
        }  # INIT, the first message, is read by __main__

    # -- ids, refs and objects (any thread) ------------------------------------------------
    def new_id(self) -> int:
        return (self.index << 40) | next(self._ids)

    def add_ref(self, oid: int, fresh: bool) -> None:
        with self._rc_lock:
            c = self._rc.get(oid, 0)
            self._rc[oid] = c + 1
            if c == 0 and not fresh:
                self.out.append(P.add_ref(oid))

    def release(self, oid: int) -> None:
        self._decs.append(oid)

    def _apply_decs(self) -> None:
        decs = self._decs
        with self._rc_lock:
            while decs:
                oid = decs.popleft()
                c = self._rc.get(oid, 0) - 1
                if c > 0:
                    self._rc[oid] = c
                else:
                    self._rc.pop(oid, None)
                    self._futs.pop(oid, None)
                    self.out.append(P.release(oid))

    def object_future(self, oid: int, flush: bool = True) -> ObjFuture:
        with self._rc_lock:
            fut = self._futs.get(oid)
            if fut is not None:
                return fut
            fut = self._futs[oid] = ObjFuture()
        self.out.append(P.subscribe([oid]))
        if flush:
            self.flush()
        return fut

    def object_futures(self, oids: list[int]) -> list[ObjFuture]:
        """Futures of many objects, subscribed in one message batch."""
        futs = [self.object_future(oid, False) for oid in oids]
        self.flush()
        return futs

    def refetch(self, oid: int) -> P.Payload:
        """The payload of ``oid`` again (its file was spilled after the driver sent it)."""
        payload: P.Payload = self.object_future(oid).result()
        with self._rc_lock:
            if oid not in self._rc:
                self._futs.pop(oid, None)
        return payload

    def load(self, payload: P.Payload) -> Any:
        return ser.loads_value(payload)

    def check_blocking_get(self) -> None:
        host = self.host
        if self._warned or host is None or not host.is_async:
            return
        try:
            import asyncio
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._warned = True
        warnings.warn(
            "a blocking rt.get()/rt.wait() inside an async actor method stalls the actor's "
            "event loop (no other call runs meanwhile); use `await ref` or "
            "`await asyncio.gather(*refs)` instead", RuntimeWarning, stacklevel=3)

    def blocking(self) -> AbstractContextManager[None]:
        if self.tasks is not None:
            return self.tasks.blocking()
        return NOOP

    @property
    def cancelled(self) -> set[int]:
        """Ids of the cancelled tasks of this task worker."""
        return self.tasks.cancelled if self.tasks is not None else set()

    # -- sending (any thread) --------------------------------------------------------------
    def flush(self) -> None:
        with self._send_lock:
            self._apply_decs()
            out = self.out
            if not out:
                return
            items = []
            while out:
                items.append(out.popleft())
            try:
                self.conn.send_bytes(ser.dumps_msgs(items))
            except OSError:
                os._exit(1)

    def flush_after_one(self, last: float) -> float:
        """After one task or call: send the results now when nothing else is queued, when
        the last send is over a millisecond old or much is waiting; else within 0.2 ms
        (the next one may be long: results must not wait for it). Returns the time of the
        last send."""
        now = time.perf_counter()
        if self.queue.empty() or now - last > 0.001 or len(self.out) > 512:
            self.flush()
            return now
        self.flush_soon()
        return last

    def flush_soon(self) -> None:
        """Flush within about 0.2 ms, batching what is submitted meanwhile."""
        evt = self._flush_evt
        if evt is None:
            evt = self._flush_evt = threading.Event()
            threading.Thread(target=self._flusher, args=(evt,), name="rt-flusher",
                             daemon=True).start()
        evt.set()

    def _flusher(self, evt: threading.Event) -> None:
        while True:
            evt.wait()
            evt.clear()
            time.sleep(0.0002)
            self.flush()

    def register_blob(self, key: Any, blob_fn: Callable[[], bytes]) -> None:
        if key not in self._sent_blobs:
            self._sent_blobs.add(key)
            self.out.append(P.function(key, blob_fn()))

    def submit(self, task: Task) -> None:
        task.parent = current_task.get()  # for rt.cancel(recursive=True)
        self.out.append(P.submit(None, task))
        self.flush_soon()

    def put(self, payload: P.Payload, oid: int) -> None:
        fut = ObjFuture()
        fut.set_result(payload)
        with self._rc_lock:
            self._futs[oid] = fut
        self.out.append(P.put(oid, payload))
        self.flush_soon()

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        self.out.append(P.cancel_request(oid, force, recursive))
        self.flush()

    def create_actor(self, rec: ActorRec, blob_fn: Callable[[], bytes]) -> None:
        self.out.append(P.create_actor(blob_fn(), rec))
        self.flush_soon()

    def kill_actor(self, aid: int, no_restart: bool) -> None:
        self.out.append(P.kill_actor(aid, no_restart))
        self.flush()

    def actor_info(self, name: str) -> tuple[int, str | None, dict[str, Any]] | None:
        req = next(self._req_ids)
        fut: cf.Future[Any] = cf.Future()
        self._reqs[req] = fut
        self.out.append(P.lookup_actor(req, name))
        self.flush()
        info: tuple[int, str | None, dict[str, Any]] | None = fut.result()
        return info

    # -- the reader thread -----------------------------------------------------------------
    def reader(self) -> None:
        conn = self.conn
        handlers = self.handlers
        try:
            while True:
                for m in ser.loads_msgs(conn.recv_bytes()):
                    handlers[m[0]](m)
        except (EOFError, OSError):  # the driver closed the pipe, or died
            os._exit(0)
        except BaseException as exc:
            # Garbage in the pipe (or a message this code cannot route): nothing after it
            # can be trusted, and a dead reader would leave the driver waiting for ever.
            # Exit, so that the driver sees it, replaces this worker and retries its work.
            exit_corrupt(exc)

    def on_value(self, m: P.Value) -> None:
        fut = self._futs.get(m[1])
        if fut is not None and not fut.done():
            fut.set_result(m[2])

    def on_run_task(self, m: P.RunTask) -> None:
        if m[3] is not None:  # keep the function even if this task is bounced
            self.blobs[m[2]] = m[3]
        assert self.tasks is not None, "RUN_TASK sent to an actor process"
        self.tasks.accept(m)

    def on_call(self, m: P.Call) -> None:
        with self._host_lock:
            host = self.host
            if host is None:
                self._early.append(m)
                return
        host.dispatch(m)

    def on_cancel(self, m: P.Cancel) -> None:
        if self.tasks is not None:
            self.tasks.cancel(m[1])
            return
        with self._host_lock:
            host = self.host
            if host is None:
                self._early.append(m)
                return
        host.cancel(m[1])

    def set_host(self, host: ActorSide) -> None:
        """Install the actor host and deliver the calls that arrived before it."""
        with self._host_lock:
            self.host = host
            early, self._early = self._early, []
        for m in early:
            self.handlers[m[0]](m)

    def on_actor_found(self, m: P.ActorFound) -> None:
        self._reqs.pop(m[1]).set_result(m[2])

    def on_host_actor(self, m: P.HostActor) -> None:
        self.queue.put(m)  # the main thread becomes the actor's host

    def on_leave(self, m: P.Leave) -> None:
        self.flush()
        os._exit(0)


class _Noop:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


NOOP = _Noop()


def exit_corrupt(exc: BaseException) -> None:
    """Leave with the status that tells the driver its messages could not be read."""
    try:
        sys.stderr.write(
            f"streamz_core runtime worker (pid {os.getpid()}): the messages from the driver "
            f"cannot be read ({type(exc).__name__}: {exc}); exiting so that the driver "
            f"replaces this worker\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_CORRUPT_CHANNEL)


if TYPE_CHECKING:  # mypy checks here that a worker's core is what the public modules call
    def _conforms(c: WorkerCore) -> WorkerSideCore:
        return c
