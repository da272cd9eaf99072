"""The driver's scheduler: the task queue, dependencies, dispatch, completion, cancel.

IO thread only. A task waits for its ref arguments (``deps``), then for a worker with
room (``ready``); it is sent to the least loaded worker, whose capacity adapts to how
long its tasks take (:meth:`~.process.Proc.cap`). Actor calls and creations share the
dependency and completion logic but are routed by the actor directory (``ActorWork``).
When every worker is busy or blocked the pool may grow; idle extra workers retire.
"""
from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple, Protocol

from .. import _protocol as P
from .. import _serialization as ser
from .._object_store import ObjectTable, discard
from .._task import Task
from ..exceptions import ObjectLostError, TaskCancelledError, WorkerCrashedError
from .objects import WorkerObjects
from .pool import WorkerPool
from .process import Proc


class ActorWork(Protocol):
    """What the scheduler asks of the actor directory about actor calls and creations."""

    def call_submitted(self, task: Task) -> None:
        """A call was submitted: queue it on its actor (in submission order)."""

    def task_ready(self, task: Task) -> None:
        """The dependencies of a call or creation are resolved."""

    def retry_call(self, task: Task) -> None:
        """A call failed with a retryable error: run it again, first."""

    def create_failed(self, task: Task, payload: P.Payload) -> None:
        """An argument of an actor's ``__init__`` failed: the actor is dead."""

    def cancel_call(self, task: Task) -> None:
        """A call was sent to its actor and is cancelled now."""


class SchedulerStatistics(NamedTuple):
    pending_tasks: int  # ready to run, waiting for a worker


class Scheduler:
    """Tasks from submission to completion (see module docstring)."""

    def __init__(self, table: ObjectTable, objects: WorkerObjects, pool: WorkerPool) -> None:
        self.tasks: dict[int, Task] = {}  # task id (and its result ids) -> task, until done
        self.blobs: dict[Any, bytes] = {}  # function or class key -> its pickle
        self._table = table
        self._objects = objects
        self._pool = pool
        self._ready: deque[Task] = deque()
        self._dep_waiters: dict[int, list[Task]] = {}  # object id -> tasks waiting for it
        self._children: dict[int, list[int]] = {}  # task id -> ids of what it submitted
        self.actors: ActorWork  # wired by the Driver

    def statistics(self) -> SchedulerStatistics:
        return SchedulerStatistics(pending_tasks=len(self._ready))

    def waiting(self) -> int:
        """How many objects some task waits for."""
        return len(self._dep_waiters)

    # -- submission ----------------------------------------------------------------------
    def submit(self, task: Task) -> None:
        self.tasks[task.tid] = task
        if task.parent is not None and task.parent in self.tasks:
            self._children.setdefault(task.parent, []).append(task.tid)
        if task.kind == "call":
            self.actors.call_submitted(task)
            return
        if self.resolve_deps(task):
            self._enqueue(task)

    def resolve_deps(self, task: Task) -> bool:
        """Count unresolved dependencies; return True if the task can run now."""
        n = 0
        for oid in task.dep_ids:
            fut = self._table.futs.get(oid)
            if fut is None:
                self.fail(task, ObjectLostError(
                    f"argument object {oid:#x} of {task.name} was freed; keep its ObjectRef "
                    f"alive until the task is submitted"))
                return False
            if not fut.done():
                self._dep_waiters.setdefault(oid, []).append(task)
                n += 1
            elif fut.result()[0] == "e":
                self.finish(task, [fut.result()] * task.nret)
                return False
        task.ndeps = n
        task.state = "deps" if n else "ready"
        return n == 0

    def _enqueue(self, task: Task) -> None:
        if task.kind == "task":
            task.state = "ready"
            self._ready.append(task)
        else:
            self.actors.task_ready(task)

    def value_ready(self, oid: int, final: P.Payload) -> None:
        """An object was set: start the tasks that waited only for it."""
        for task in self._dep_waiters.pop(oid, ()):
            if task.state != "deps":
                continue
            if final[0] == "e":
                self.finish(task, [final] * task.nret)
                continue
            task.ndeps -= 1
            if task.ndeps == 0:
                task.state = "ready"
                self._enqueue(task)

    # -- dispatch ------------------------------------------------------------------------
    def schedule(self) -> None:
        """Send ready tasks to workers with room; grow or shrink the pool."""
        ready = self._ready
        pool = self._pool
        while ready:
            best = pool.least_loaded()
            if best is None:
                pool.grow()
                return
            task = ready.popleft()
            if task.cancelled or task.state != "ready":
                continue
            self._dispatch(task, best)
        pool.shrink()

    def _dispatch(self, task: Task, w: Proc) -> None:
        deps = self.dep_payloads(task)
        if deps is None:
            return
        blob = None
        if task.key not in w.fns:
            w.fns.add(task.key)
            blob = self.blobs[task.key]
        task.state = "sent"
        task.proc = w
        w.inflight[task.tid] = task
        self._pool.send(w, P.run_task(task.tid, task.key, blob, task.args, deps,
                                      task.out_ids, task.nret, task.name))

    def dep_payloads(self, task: Task) -> list[P.Dep] | None:
        """The values of a task's ref arguments, readable by a worker (None: it failed)."""
        deps: list[P.Dep] = []
        table = self._table
        try:
            for pos, oid in zip(task.dep_pos, task.dep_ids, strict=True):
                deps.append((pos, oid, table.transportable(table.futs[oid].result())))
        except (KeyError, ObjectLostError) as exc:
            self.fail(task, ObjectLostError(f"an argument of {task.name} was lost: {exc}"))
            return None
        return deps

    # -- completion ----------------------------------------------------------------------
    def fail(self, task: Task, exc: BaseException) -> None:
        self.finish(task, [ser.system_error(exc)] * task.nret)

    def fail_ready(self, exc: BaseException) -> None:
        """Fail every task waiting for a worker (workers cannot start)."""
        while self._ready:
            self.fail(self._ready.popleft(), exc)

    def finish(self, task: Task, payloads: list[P.Payload]) -> None:
        """A task ended with ``payloads``: retry it, or set its results."""
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
                self.actors.retry_call(task)
            return
        if task.kind == "create" and payloads and payloads[0][0] == "e":
            task.state = "done"
            self.actors.create_failed(task, payloads[0])
        task.state = "done"
        for oid in task.out_ids:
            self.tasks.pop(oid, None)
        self.tasks.pop(task.tid, None)
        self._children.pop(task.tid, None)
        # an actor creation has no result object: its payloads are dropped here
        for oid, payload in zip(task.out_ids, payloads, strict=False):
            self._objects.complete(oid, payload)
        discard(task.args)
        for oid in task.holds:
            self._table.decref(oid)
        task.holds = []

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        task = self.tasks.get(oid)
        if task is None or task.state == "done":
            return
        if recursive:  # what this task submitted goes too
            for child in self._children.pop(task.tid, ()):
                self.cancel(child, force, True)
        if task.state in ("deps", "ready", "new"):
            task.cancelled = True
            self.fail(task, TaskCancelledError(
                f"{task.name} ({oid:#x}) was cancelled with rt.cancel"))
            return
        task.cancelled = True
        if task.kind == "call":
            self.actors.cancel_call(task)
            return
        assert task.proc is not None  # state "sent"
        if force:
            task.force = True
            task.proc.kill()
        else:
            self._pool.send(task.proc, P.cancel(task.tid))

    def tasks_lost(self, proc: Proc) -> None:
        """``proc`` (a task worker) died: retry or fail what it was running."""
        running = next(iter(proc.inflight), None)
        requeue = []
        for tid, task in proc.inflight.items():
            if tid == running and not proc.retiring:
                if task.force:
                    self.fail(task, TaskCancelledError(
                        f"{task.name} was cancelled with force=True (its worker was killed)"))
                    continue
                if task.retries == 0 or task.cancelled:
                    cause = f": {proc.cause}" if proc.cause else ""
                    self.fail(task, WorkerCrashedError(
                        f"the worker process (pid {proc.pid}) running {task.name} died "
                        f"(exit code {proc.popen.returncode if proc.popen else None}"
                        f"{cause}) and max_retries is exhausted; raise "
                        f".options(max_retries=...) or find why the process dies (memory, "
                        f"segfault, os._exit)"))
                    continue
                if task.retries > 0:
                    task.retries -= 1
            requeue.append(task)
        proc.inflight.clear()
        for task in reversed(requeue):
            task.state = "ready"
            self._ready.appendleft(task)

    # -- messages ------------------------------------------------------------------------
    def on_task_done(self, proc: Proc, m: P.TaskDone) -> None:
        _, tid, payloads, dt = m
        task = proc.inflight.pop(tid, None)
        if task is None:
            for p in payloads:
                discard(p)
            return
        proc.ewma = dt if proc.ewma == 0.0 else 0.8 * proc.ewma + 0.2 * dt
        self.finish(task, payloads)

    def on_blocked(self, proc: Proc, m: P.Blocked) -> None:
        proc.blocked += 1
        self._take_back(proc, m[1])

    def on_unblocked(self, proc: Proc, m: P.Unblocked) -> None:
        proc.blocked -= 1

    def on_return_tasks(self, proc: Proc, m: P.ReturnTasks) -> None:
        self._take_back(proc, m[1])

    def _take_back(self, proc: Proc, tids: list[int]) -> None:
        for tid in reversed(tids):
            task = proc.inflight.pop(tid, None)
            if task is not None and task.state == "sent":
                task.state = "ready"
                self._ready.appendleft(task)

    def on_submit(self, proc: Proc, m: P.Submit) -> None:
        _, blob, task = m
        if blob is not None:
            self.blobs.setdefault(task.key, blob)
        self.adopt(proc, task)
        self.submit(task)

    def adopt(self, proc: Proc, task: Task) -> None:
        """Take over a task record submitted by code running in ``proc``."""
        for oid in task.out_ids:
            self._objects.adopt(proc, oid)
        for oid in task.holds:
            self._table.incref(oid)
        task.submitter = proc

    def on_function(self, proc: Proc, m: P.Function) -> None:
        _, key, blob = m
        self.blobs.setdefault(key, blob)

    def on_cancel_request(self, proc: Proc, m: P.CancelRequest) -> None:
        _, oid, force, recursive = m
        self.cancel(oid, force, recursive)


def _matches(payload: P.Payload, retry_exc: Any) -> bool:
    if retry_exc is True:
        return True
    exc = ser.error_from_payload(payload)
    return isinstance(exc, tuple(retry_exc))
