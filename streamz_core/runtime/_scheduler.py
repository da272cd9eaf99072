"""The driver: one IO thread that owns every worker connection and schedules the work.

Threading rules: callers (any thread, any event loop) only serialize their arguments,
create the output futures and append a record to ``_inbox``; they wake the IO thread
through a pipe (once per batch). The IO thread alone reads and writes the worker
connections, schedules tasks and completes futures, so dispatch never runs on the
caller's thread. Messages to a worker are batched: everything queued for it during one
pass of the IO loop goes out in a single pickled list and a single write.
"""
from __future__ import annotations

import itertools
import os
import selectors
import threading
from collections import deque
from typing import Any

from . import _serialization as ser
from ._actors import ActorMixin
from ._handlers import MessageMixin
from ._lifecycle import ProcessMixin, SessionJanitor, install_sigterm_shutdown
from ._object_store import ObjectTable, discard
from ._process import Proc
from ._task import Task
from .exceptions import ObjectLostError, TaskCancelledError


class Driver(ProcessMixin, MessageMixin, ActorMixin):
    """The runtime core of the driver process."""

    is_driver = True

    def __init__(self, num_workers: int, memory: int, shm_dir: str, spill_dir: str) -> None:
        self.pid = os.getpid()
        self.num_workers = num_workers
        self.max_workers = num_workers + 64
        self.shm_dir = shm_dir
        self.table = ObjectTable(shm_dir, spill_dir, memory)
        self.table.on_free = self._on_free
        self.authkey = os.urandom(32)
        self._ids = itertools.count(1)
        self._proc_ids = itertools.count(1)
        self._inbox: deque = deque()
        self._woken = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self.workers: list[Proc] = []
        self._ready: deque = deque()
        self.tasks: dict[int, Task] = {}
        self._dep_waiters: dict[int, list] = {}
        self._subs: dict[int, list] = {}
        self._children: dict[int, list] = {}
        self._blobs: dict[Any, bytes] = {}
        self._dirty: set = set()
        self._stopping = False
        self._starting = 0
        self.crashes = 0
        self.spawn_failures = 0
        self.spawn_error: BaseException | None = None
        self._init_actors()
        # if this process dies without shutting down, the janitor removes the session's
        # directories; SIGTERM becomes a normal shutdown (see _lifecycle)
        self._janitor = SessionJanitor((shm_dir, spill_dir))
        install_sigterm_shutdown()
        for _ in range(num_workers):
            self._spawn_worker()
        self._thread = threading.Thread(target=self._run, name="rt-io", daemon=True)
        self._thread.start()

    # -- caller side ----------------------------------------------------------------
    def new_id(self) -> int:
        return next(self._ids)

    def wake(self, item: tuple) -> None:
        """Hand ``item`` to the IO thread."""
        self._inbox.append(item)
        if not self._woken:
            self._woken = True
            try:
                os.write(self._wake_w, b"\0")
            except OSError:
                pass

    def add_ref(self, oid: int, fresh: bool) -> None:
        self.table.decs.append(oid << 1 | 1)

    def release(self, oid: int) -> None:
        self.table.decs.append(oid << 1)

    def object_future(self, oid: int) -> Any:
        fut = self.table.futs.get(oid)
        if fut is None:
            raise ObjectLostError(
                f"object {oid:#x} is unknown: it was freed or belongs to a runtime that was "
                f"shut down; keep the ObjectRef alive and call rt.get before rt.shutdown")
        return fut

    def object_futures(self, oids: list) -> list:
        return [self.object_future(oid) for oid in oids]

    def load(self, payload: tuple) -> Any:
        return self.table.load(payload)

    def check_blocking_get(self) -> None:
        pass

    def blocking(self) -> Any:
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                "a blocking rt.get/rt.wait was called from a completion callback, which "
                "runs on the runtime's IO thread and would wait for itself; do the blocking "
                "work in your own thread, or await the ref in a coroutine instead")
        return _NoBlock

    def register_blob(self, key: Any, blob_fn: Any) -> None:
        if key not in self._blobs:
            self._blobs[key] = blob_fn()

    def submit(self, task: Task) -> None:
        """Queue a task record built by the caller (futures already registered)."""
        for oid in task.holds:
            self.table.incref(oid)
        self.wake(("submit", task))

    def put(self, payload: tuple, oid: int) -> None:
        self.table.complete(oid, payload, owned=True)

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        self.wake(("cancel", oid, force, recursive))

    # -- IO thread ---------------------------------------------------------------------
    def _run(self) -> None:
        sel = self._sel
        timeout: float | None = 0.0
        while not self._stopping:
            for key, _ in sel.select(timeout):
                data = key.data
                if data is None:
                    try:
                        os.read(self._wake_r, 65536)
                    except OSError:
                        pass
                elif type(data) is tuple:
                    self._write_unsent(data[1])
                else:
                    self._read(data)
            try:
                self._drain_inbox()
                self.table.apply_decrefs()
                self._schedule()
                self._flush()
            except Exception:  # pragma: no cover - keep the IO thread alive
                import traceback
                traceback.print_exc()
            # callers write to the wake pipe only while _woken is False: reset it just
            # before blocking, then look at the inbox once more (no lost wake-ups)
            self._woken = False
            if self._inbox or self._dirty:
                timeout = 0.0
                self._woken = True
            else:
                timeout = 0.05 if self.table.decs else 0.5

    def _drain_inbox(self) -> None:
        self.table.apply_decrefs()
        inbox = self._inbox
        while inbox:
            item = inbox.popleft()
            try:
                getattr(self, "_on_" + item[0])(*item[1:])
            except Exception:  # pragma: no cover
                import traceback
                traceback.print_exc()

    def _read(self, proc: Proc) -> None:
        self.table.apply_decrefs()
        conn = proc.conn
        while True:
            try:
                msgs = ser.loads_msgs(conn.recv_bytes())
            except (EOFError, OSError):
                self._proc_died(proc)
                return
            except Exception as exc:  # garbage in the pipe: nothing after it can be trusted
                self._channel_broken(proc, exc)
                return
            try:
                for m in msgs:
                    getattr(self, "_m_" + m[0])(proc, *m[1:])
            except Exception as exc:  # a message that is not one of ours
                self._channel_broken(proc, exc)
                return
            if proc.dead or not conn.pending():  # buffered batches do not wake epoll
                return

    def send(self, proc: Proc, msg: tuple) -> None:
        proc.out.append(msg)
        self._dirty.add(proc)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for proc in dirty:
            if not proc.ready or proc.dead or not proc.out:
                if not proc.ready and not proc.dead:
                    self._dirty.add(proc)
                continue
            out, proc.out = proc.out, []
            conn = proc.conn
            try:
                conn.send_bytes(ser.dumps_msgs(out))
            except OSError:
                continue  # death is handled when the connection reports EOF
            if conn.has_unsent() and not proc.writing:  # the pipe is full: never block,
                proc.writing = True                     # finish when it is writable
                self._sel.register(conn.wfd, selectors.EVENT_WRITE, ("w", proc))

    def _write_unsent(self, proc: Proc) -> None:
        try:
            done = proc.conn.write_unsent()
        except OSError:
            done = True
        if done:
            proc.writing = False
            try:
                self._sel.unregister(proc.conn.wfd)
            except (KeyError, ValueError):
                pass

    # -- scheduling ------------------------------------------------------------------
    def _on_submit(self, task: Task) -> None:
        self.tasks[task.tid] = task
        if task.parent is not None and task.parent in self.tasks:
            self._children.setdefault(task.parent, []).append(task.tid)
        if task.kind == "call":
            self._call_submitted(task)
            return
        if self._resolve_deps(task):
            self._enqueue(task)

    def _resolve_deps(self, task: Task) -> bool:
        """Count unresolved dependencies; return True if the task can run now."""
        n = 0
        for oid in task.dep_ids:
            fut = self.table.futs.get(oid)
            if fut is None:
                self._fail(task, ObjectLostError(
                    f"argument object {oid:#x} of {task.name} was freed; keep its ObjectRef "
                    f"alive until the task is submitted"))
                return False
            if not fut.done():
                self._dep_waiters.setdefault(oid, []).append(task)
                n += 1
            elif fut.result()[0] == "e":
                self._finish(task, [fut.result()] * task.nret)
                return False
        task.ndeps = n
        task.state = "deps" if n else "ready"
        return n == 0

    def _enqueue(self, task: Task) -> None:
        if task.kind == "task":
            task.state = "ready"
            self._ready.append(task)
        elif task.kind == "call":
            self._pump(self.actors[task.actor])
        else:
            self._start_actor(self.actors[task.actor])

    def _schedule(self) -> None:
        ready = self._ready
        while ready:
            best = None
            bestn = 0
            for w in self.workers:
                n = len(w.inflight)
                if n < w.cap() and (best is None or n < bestn):
                    best, bestn = w, n
            if best is None:
                self._maybe_grow()
                return
            task = ready.popleft()
            if task.cancelled or task.state != "ready":
                continue
            self._dispatch(task, best)
        self._maybe_shrink()

    def _maybe_grow(self) -> None:
        active = [w for w in self.workers if not w.blocked and not w.retiring]
        if len(active) < self.num_workers and len(self.workers) < self.max_workers:
            self._spawn_worker(extra=True)

    def _maybe_shrink(self) -> None:
        for w in self.workers:
            if w.extra and w.ready and not w.inflight and not w.retiring and not w.dead:
                active = [x for x in self.workers if not x.blocked and not x.retiring]
                if len(active) > self.num_workers:
                    w.retiring = True
                    self.send(w, ("bye",))

    def _dispatch(self, task: Task, w: Proc) -> None:
        deps = self._dep_payloads(task)
        if deps is None:
            return
        blob = None
        if task.key not in w.fns:
            w.fns.add(task.key)
            blob = self._blobs[task.key]
        task.state = "sent"
        task.proc = w
        w.inflight[task.tid] = task
        self.send(w, ("t", task.tid, task.key, blob, task.args, deps, task.out_ids,
                      task.nret, task.name))

    def _dep_payloads(self, task: Task) -> list | None:
        deps = []
        try:
            for pos, oid in zip(task.dep_pos, task.dep_ids):
                deps.append((pos, oid,
                             self.table.transportable(self.table.futs[oid].result())))
        except (KeyError, ObjectLostError) as exc:
            self._fail(task, ObjectLostError(f"an argument of {task.name} was lost: {exc}"))
            return None
        return deps

    # -- completion --------------------------------------------------------------------
    def _fail(self, task: Task, exc: BaseException) -> None:
        self._finish(task, [ser.system_error(exc)] * task.nret)

    def _finish(self, task: Task, payloads: list) -> None:
        if task.state == "done":
            for p in payloads:
                discard(p)
            return
        if (task.retry_exc and task.retries != 0 and not task.cancelled and payloads
                and payloads[0][0] == "e" and _matches(payloads[0], task.retry_exc)):
            if task.retries > 0:
                task.retries -= 1
            task.state = "ready"
            if task.kind == "task":
                self._ready.append(task)
            else:
                actor = self.actors[task.actor]
                actor.pending.appendleft(task)
                self._pump(actor)
            return
        if task.kind == "create" and payloads and payloads[0][0] == "e":
            rec = self.actors[task.actor]  # an argument of __init__ failed
            rec.init_error = payloads[0]
            task.state = "done"
            self._actor_dead(rec)
        task.state = "done"
        for oid in task.out_ids:
            self.tasks.pop(oid, None)
        self.tasks.pop(task.tid, None)
        self._children.pop(task.tid, None)
        for oid, payload in zip(task.out_ids, payloads):
            self.complete(oid, payload)
        discard(task.args)
        for oid in task.holds:
            self.table.decref(oid)
        task.holds = []

    def complete(self, oid: int, payload: tuple) -> None:
        """Set an object's value and wake what waits for it (IO thread only)."""
        self.table.complete(oid, payload)
        fut = self.table.futs.get(oid)
        final = fut.result() if fut is not None else payload
        for task in self._dep_waiters.pop(oid, ()):
            if task.state != "deps":
                continue
            if final[0] == "e":
                self._finish(task, [final] * task.nret)
                continue
            task.ndeps -= 1
            if task.ndeps == 0:
                task.state = "ready"
                self._enqueue(task)
        subs = self._subs.pop(oid, None)
        if subs:
            try:
                p = self.table.transportable(final)
            except ObjectLostError as exc:
                p = ser.system_error(exc)
            for proc in subs:
                self.send(proc, ("o", oid, p))

    def _on_free(self, oid: int) -> None:
        rec = self.actors.get(oid)
        if rec is not None and rec.name is None and rec.state != "dead":
            self._drop_actor(rec)

    def _on_cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        task = self.tasks.get(oid)
        if task is None or task.state == "done":
            return
        if recursive:  # what this task submitted goes too
            for child in self._children.pop(task.tid, ()):
                self._on_cancel(child, force, True)
        exc = TaskCancelledError(f"{task.name} ({oid:#x}) was cancelled with rt.cancel")
        if task.state in ("deps", "ready", "new"):
            task.cancelled = True
            self._fail(task, exc)
            return
        if task.kind == "call":
            self._cancel_call(task, force, exc)
            return
        task.cancelled = True
        if force:
            task.force = True
            task.proc.kill()
        else:
            self.send(task.proc, ("x", task.tid))

class _NoBlockType:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: Any) -> None:
        return None


_NoBlock = _NoBlockType()


def _matches(payload: tuple, retry_exc: Any) -> bool:
    if retry_exc is True:
        return True
    exc = ser.error_from_payload(payload)
    return isinstance(exc, tuple(retry_exc))
