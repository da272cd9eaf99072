"""Worker processes: the link to the driver and the task loop.

A worker has two threads. The reader thread receives message batches from the driver and
routes them: object values complete local futures, tasks go to the main thread's queue,
actor calls go to the actor host (``_actor_host``), cancellations interrupt the main
thread with SIGUSR1 (the handler raises only if the cancelled task is the one running).
The main thread runs tasks (or hosts the actor) so a cancelled task gets a
``KeyboardInterrupt`` even inside ``time.sleep``.

When a task blocks in ``rt.get``/``rt.wait`` the worker tells the driver (``blk``) and
hands back the tasks queued behind it, so nested tasks never wait behind their parent;
the driver starts an extra worker if too few are left unblocked.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextvars
import itertools
import os
import queue
import signal
import sys
import threading
import time
import warnings
from collections import deque
from typing import Any

from . import _context
from . import _serialization as ser
from ._channel import EXIT_CORRUPT_CHANNEL
from ._future import ObjFuture
from ._object_store import discard
from ._shm_files import register_session
from ._task import bind_args
from .exceptions import SerializationError, TaskCancelledError

current_task: contextvars.ContextVar = contextvars.ContextVar("rt_task", default=None)


class Interrupt(KeyboardInterrupt):
    """Raised in the main thread when the running task is cancelled."""


class WorkerCore:
    """The runtime core of a worker process (same interface as the driver's)."""

    is_driver = False

    def __init__(self, conn: Any, init: dict) -> None:
        self.conn = conn
        self.index: int = init["index"]
        self.mode: str = init["mode"]
        self.shm_dir: str = init["shm_dir"]
        # results too large for shared memory go straight to the session's spill directory
        register_session(self.shm_dir, init["spill_dir"], init["object_store_memory"])
        self.pid = os.getpid()
        self._ids = itertools.count(1)
        self._req_ids = itertools.count(1)
        self.out: deque = deque()
        self.send_lock = threading.Lock()
        self.rc: dict[int, int] = {}
        self.rc_lock = threading.Lock()
        self.decs: deque = deque()
        self.futs: dict[int, ObjFuture] = {}
        self.reqs: dict[int, cf.Future] = {}
        self.sent_blobs: set = set()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.block_lock = threading.Lock()
        self.blocked = False
        self.running: int | None = None
        self.cancel_target: int | None = None
        self.cancelled: set = set()
        self.main_ident = threading.get_ident()
        self.host: Any = None
        self.host_lock = threading.Lock()
        self.early: list = []
        self.fns: dict = {}
        self.blobs: dict = {}
        self._warned = False
        self._flush_evt: threading.Event | None = None

    # -- ids, refs and objects ---------------------------------------------------------
    def new_id(self) -> int:
        return (self.index << 40) | next(self._ids)

    def add_ref(self, oid: int, fresh: bool) -> None:
        with self.rc_lock:
            c = self.rc.get(oid, 0)
            self.rc[oid] = c + 1
            if c == 0 and not fresh:
                self.out.append(("inc", oid))

    def release(self, oid: int) -> None:
        self.decs.append(oid)

    def _apply_decs(self) -> None:
        decs = self.decs
        with self.rc_lock:
            while decs:
                oid = decs.popleft()
                c = self.rc.get(oid, 0) - 1
                if c > 0:
                    self.rc[oid] = c
                else:
                    self.rc.pop(oid, None)
                    self.futs.pop(oid, None)
                    self.out.append(("dec", oid))

    def object_future(self, oid: int, flush: bool = True) -> ObjFuture:
        with self.rc_lock:
            fut = self.futs.get(oid)
            if fut is not None:
                return fut
            fut = self.futs[oid] = ObjFuture()
        self.out.append(("sub", [oid]))
        if flush:
            self.flush()
        return fut

    def object_futures(self, oids: list) -> list:
        """Futures of many objects, subscribed in one message batch."""
        futs = [self.object_future(oid, False) for oid in oids]
        self.flush()
        return futs

    def refetch(self, oid: int) -> tuple:
        payload = self.object_future(oid).result()
        with self.rc_lock:
            if oid not in self.rc:
                self.futs.pop(oid, None)
        return payload

    def load(self, payload: tuple) -> Any:
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

    def blocking(self) -> Any:
        if (self.mode == "task" and self.running is not None
                and threading.get_ident() == self.main_ident):
            return _Blocked(self)
        return _NOOP

    # -- sending -----------------------------------------------------------------------
    def flush(self) -> None:
        with self.send_lock:
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

    def flush_soon(self) -> None:
        """Flush within about 0.2 ms, batching what is submitted meanwhile."""
        evt = self._flush_evt
        if evt is None:
            evt = self._flush_evt = threading.Event()
            threading.Thread(target=self._flusher, name="rt-flusher", daemon=True).start()
        evt.set()

    def _flusher(self) -> None:
        evt = self._flush_evt
        while True:
            evt.wait()
            evt.clear()
            time.sleep(0.0002)
            self.flush()

    def register_blob(self, key: Any, blob_fn: Any) -> None:
        if key not in self.sent_blobs:
            self.sent_blobs.add(key)
            self.out.append(("blob", key, blob_fn()))

    def submit(self, task: Any) -> None:
        task.parent = current_task.get()  # for rt.cancel(recursive=True)
        self.out.append(("t", None, task))
        self.flush_soon()

    def put(self, payload: tuple, oid: int) -> None:
        fut = ObjFuture()
        fut.set_result(payload)
        with self.rc_lock:
            self.futs[oid] = fut
        self.out.append(("put", oid, payload))
        self.flush_soon()

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        self.out.append(("x", oid, force, recursive))
        self.flush()

    def create_actor(self, rec: Any, blob_fn: Any) -> None:
        self.out.append(("ac", blob_fn(), rec))
        self.flush_soon()

    def kill_actor(self, aid: int, no_restart: bool) -> None:
        self.out.append(("k", aid, no_restart))
        self.flush()

    def actor_info(self, name: str) -> tuple | None:
        req = next(self._req_ids)
        fut: cf.Future = cf.Future()
        self.reqs[req] = fut
        self.out.append(("q", req, name))
        self.flush()
        return fut.result()

    # -- reader thread -------------------------------------------------------------------
    def reader(self) -> None:
        conn = self.conn
        try:
            while True:
                for m in ser.loads_msgs(conn.recv_bytes()):
                    self.route(m)
        except (EOFError, OSError):  # the driver closed the pipe, or died
            os._exit(0)
        except BaseException as exc:
            # Garbage in the pipe (or a message this code cannot route): nothing after it
            # can be trusted, and a dead reader would leave the driver waiting for ever.
            # Exit, so that the driver sees it, replaces this worker and retries its work.
            _exit_corrupt(exc)

    def route(self, m: tuple) -> None:
        """Handle one message from the driver (reader thread)."""
        tag = m[0]
        if tag == "o":
            fut = self.futs.get(m[1])
            if fut is not None and not fut.done():
                fut.set_result(m[2])
        elif tag == "t":
            if m[3] is not None:  # keep the function even if this task is bounced
                self.blobs[m[2]] = m[3]
            with self.block_lock:
                if not self.blocked:
                    self.queue.put(m)
                    return
            self.out.append(("ret", [m[1]]))
            self.flush()
        elif tag == "c" or tag == "x":
            with self.host_lock:
                if self.host is None and self.mode == "actor":
                    self.early.append(m)
                    return
            if tag == "c":
                self.host.dispatch(m)
            else:
                self._cancel(m[1])
        elif tag == "rep":
            self.reqs.pop(m[1]).set_result(m[2])
        elif tag == "ac":
            self.queue.put(m)
        elif tag == "bye":
            self.flush()
            os._exit(0)

    def set_host(self, host: Any) -> None:
        """Install the actor host and deliver the calls that arrived before it."""
        with self.host_lock:
            self.host = host
            early, self.early = self.early, []
        for m in early:
            self.route(m)

    def _cancel(self, tid: int) -> None:
        if self.host is not None:
            self.host.cancel(tid)
            return
        self.cancelled.add(tid)
        if self.running == tid:
            self.cancel_target = tid
            signal.pthread_kill(self.main_ident, signal.SIGUSR1)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.running is not None and self.running == self.cancel_target:
            self.cancel_target = None
            raise Interrupt()

    # -- main thread ---------------------------------------------------------------------
    def serve(self) -> None:
        q = self.queue
        last = time.perf_counter()
        while True:
            try:
                m = q.get(timeout=0.2)
            except queue.Empty:
                self.flush()
                continue
            if m[0] == "t":
                self.run_task(m)
            elif m[0] == "ac":
                from ._actor_host import ActorHost
                ActorHost(self, m).run()
                return
            now = time.perf_counter()
            if q.empty() or now - last > 0.001 or len(self.out) > 512:
                self.flush()
                last = now
            else:  # the next task may be long: results must not wait for it
                self.flush_soon()

    def run_task(self, m: tuple) -> None:
        _, tid, key, blob, args, deps, out_ids, nret, name = m
        t0 = time.perf_counter()
        try:
            if tid in self.cancelled:
                self.cancelled.discard(tid)
                raise Interrupt()
            fn = self.fns.get(key)
            if fn is None:
                fn = self.fns[key] = ser.pickle.loads(self.blobs.pop(key))
            token = current_task.set(tid)
            try:
                self.running = tid
                a, kw = bind_args(args, deps, self.refetch)
                result = fn(*a, **kw)
                self.running = None
            finally:
                self.running = None
                current_task.reset(token)
            payloads = results(self.shm_dir, result, out_ids, nret, name)
        except Interrupt:
            payloads = [ser.system_error(TaskCancelledError(
                f"{name} ({tid:#x}) was cancelled with rt.cancel"))] * nret
        except BaseException as exc:
            payloads = [ser.error_payload(exc)] * nret
        self.cancelled.discard(tid)
        self.out.append(("r", tid, payloads, time.perf_counter() - t0))


def results(shm_dir: str, result: Any, out_ids: list, nret: int, name: str) -> list:
    """Serialize a task's return value into ``nret`` payloads."""
    if nret == 1:
        values = [result]
    else:
        try:
            values = list(result)
        except TypeError:
            values = [result]
        if len(values) != nret:
            raise ValueError(
                f"{name} was declared with num_returns={nret!r} but returned "
                f"{len(values)} value(s) ({type(result).__name__}); return a sequence of "
                f"exactly {nret} values or change num_returns")
    payloads: list = []
    try:
        for v, oid in zip(values, out_ids):
            payloads.append(ser.dumps_value(v, shm_dir, f"{oid:x}", what=f"return value of {name}"))
    except BaseException as exc:
        for p in payloads:  # nobody will read the values written before this one
            discard(p)
        if isinstance(exc, SerializationError):
            return [ser.error_payload(exc)] * nret
        raise  # the caller turns it into the task's error (e.g. ObjectStoreFullError)
    return payloads


class _Blocked:
    def __init__(self, core: WorkerCore) -> None:
        self.core = core

    def __enter__(self) -> None:
        core = self.core
        with core.block_lock:
            core.blocked = True
            items = []
            while True:
                try:
                    items.append(core.queue.get_nowait())
                except queue.Empty:
                    break
        tids = [m[1] for m in items if m[0] == "t"]
        for m in items:
            if m[0] != "t":
                core.queue.put(m)
        core.out.append(("blk", tids))
        core.flush()

    def __exit__(self, *exc: Any) -> None:
        core = self.core
        with core.block_lock:
            core.blocked = False
        core.out.append(("unb",))
        core.flush()


class _Noop:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_NOOP = _Noop()


def _exit_corrupt(exc: BaseException) -> None:
    try:
        sys.stderr.write(
            f"streamz_core runtime worker (pid {os.getpid()}): the messages from the driver "
            f"cannot be read ({type(exc).__name__}: {exc}); exiting so that the driver "
            f"replaces this worker\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_CORRUPT_CHANNEL)


def main(fds: str, authkey: bytes) -> None:
    """Entry point of a worker process (see ``_process._BOOT``)."""
    from ._process import child_connect

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn = child_connect(fds, authkey)
        first = ser.loads_msgs(conn.recv_bytes())
    except (EOFError, BrokenPipeError):
        # the driver went away while this worker started (its script ended, it was
        # killed): nothing to report, nobody to report it to
        os._exit(0)
    if first[0][0] != "init":
        os._exit(0)
    init = first[0][1]
    sys.path[:] = init["sys_path"]
    try:
        os.chdir(init["cwd"])
    except OSError:
        pass
    core = WorkerCore(conn, init)
    _context.set_core(core)
    signal.signal(signal.SIGUSR1, core._on_signal)
    for m in first[1:]:
        core.route(m)
    threading.Thread(target=core.reader, name="rt-reader", daemon=True).start()
    try:
        core.serve()
    finally:
        core.flush()
        os._exit(0)
