"""The driver: one IO thread that owns every worker connection and schedules the work.

:class:`Driver` is the core of the driver process (see ``_context``): a facade over its
collaborators, each with its own state,

* :class:`~.pool.WorkerPool`: worker processes, their channels, crash detection;
* :class:`~.scheduler.Scheduler`: the task queue, dependencies, dispatch, completion;
* :class:`~.actors.ActorDirectory`: actors, their names, processes and restarts;
* :class:`~.objects.WorkerObjects`: the refs, puts and subscriptions of workers, on top
  of the :class:`~.._object_store.ObjectTable`.

Threading rules: callers (any thread, any event loop) only serialize their arguments,
create the output futures and post a call to the IO thread (``_inbox``), waking it
through a pipe once per batch. The IO thread alone reads and writes the worker
connections, schedules tasks and completes futures. Messages to a worker are batched:
everything queued for it during one pass of the IO loop goes out in one write.

The worker messages are dispatched by the one table built in :meth:`Driver._handlers`.
"""
from __future__ import annotations

import itertools
import os
import shutil
import threading
import traceback
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _protocol as P
from .._actors import ActorRec
from .._future import ObjFuture
from .._object_store import ObjectTable
from .._task import Task
from ..context import RuntimeStatistics
from ..exceptions import ObjectLostError
from .actors import ActorDirectory
from .objects import WorkerObjects
from .pool import Handler, WorkerPool
from .process import Proc
from .scheduler import Scheduler
from .session import SessionJanitor, install_sigterm_shutdown

if TYPE_CHECKING:
    from .._context import DriverCore

__all__ = ["Driver"]


class Driver:
    """The runtime core of the driver process (see module docstring)."""

    is_driver = True

    def __init__(self, num_workers: int, memory: int, shm_dir: str, spill_dir: str) -> None:
        self.pid = os.getpid()
        self.shm_dir = shm_dir
        self.session_dirs: tuple[str, ...] = (shm_dir, spill_dir)
        self.authkey = os.urandom(32)
        self.table = ObjectTable(shm_dir, spill_dir, memory)
        self._ids = itertools.count(1)
        self._inbox: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._woken = False
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self.pool = WorkerPool(num_workers, authkey=self.authkey, table=self.table,
                               post=self._post, settings={
                                   "shm_dir": shm_dir, "spill_dir": spill_dir,
                                   "object_store_memory": memory})
        self.pool.watch_wakeups(self._wake_r)
        self.objects = WorkerObjects(self.table, self.pool.send)
        self.scheduler = Scheduler(self.table, self.objects, self.pool)
        self.actor_directory = ActorDirectory(self.scheduler, self.pool, self.submit,
                                              self._post)
        # who hears of what: the wiring between the collaborators, in one place
        self.scheduler.actors = self.actor_directory
        self.objects.on_value = self.scheduler.value_ready
        self.table.on_free = self.actor_directory.on_free
        self.pool.on_tasks_lost = self.scheduler.tasks_lost
        self.pool.on_cannot_start = self.scheduler.fail_ready
        self.pool.on_actor_up = self.actor_directory.proc_up
        self.pool.on_actor_died = self.actor_directory.proc_died
        self.pool.handlers = self._handlers()
        # if this process dies without shutting down, the janitor removes the session's
        # directories; SIGTERM becomes a normal shutdown (see session)
        self._janitor = SessionJanitor(self.session_dirs)
        install_sigterm_shutdown()
        for _ in range(num_workers):
            self.pool.spawn_worker()
        self._thread = threading.Thread(target=self._run, name="rt-io", daemon=True)
        self._thread.start()

    def _handlers(self) -> dict[int, Handler]:
        """The dispatch table of worker messages: tag -> handler (see ``_protocol``)."""
        s, o, a = self.scheduler, self.objects, self.actor_directory
        return {
            P.TASK_DONE: s.on_task_done,
            P.BLOCKED: s.on_blocked,
            P.UNBLOCKED: s.on_unblocked,
            P.RETURN_TASKS: s.on_return_tasks,
            P.SUBMIT: s.on_submit,
            P.FUNCTION: s.on_function,
            P.CANCEL_REQUEST: s.on_cancel_request,
            P.SUBSCRIBE: o.on_subscribe,
            P.ADD_REF: o.on_add_ref,
            P.RELEASE: o.on_release,
            P.PUT: o.on_put,
            P.ACTOR_INIT_FAILED: a.on_actor_init_failed,
            P.ACTOR_EXITING: a.on_actor_exiting,
            P.CREATE_ACTOR: a.on_create_actor,
            P.LOOKUP_ACTOR: a.on_lookup_actor,
            P.KILL_ACTOR: a.on_kill_actor,
        }

    # -- what the public modules call (any thread) ----------------------------------------
    def new_id(self) -> int:
        return next(self._ids)

    def add_ref(self, oid: int, fresh: bool) -> None:
        self.table.add_ref(oid)  # ``fresh`` matters to workers only

    def release(self, oid: int) -> None:
        self.table.release(oid)

    def object_future(self, oid: int) -> ObjFuture:
        fut = self.table.futs.get(oid)
        if fut is None:
            raise ObjectLostError(
                f"object {oid:#x} is unknown: it was freed or belongs to a runtime that was "
                f"shut down; keep the ObjectRef alive and call rt.get before rt.shutdown")
        return fut

    def object_futures(self, oids: list[int]) -> list[ObjFuture]:
        return [self.object_future(oid) for oid in oids]

    def load(self, payload: P.Payload) -> Any:
        return self.table.load(payload)

    def check_blocking_get(self) -> None:
        pass

    def blocking(self) -> _NoBlockType:
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                "a blocking rt.get/rt.wait was called from a completion callback, which "
                "runs on the runtime's IO thread and would wait for itself; do the blocking "
                "work in your own thread, or await the ref in a coroutine instead")
        return _NoBlock

    def register_blob(self, key: Any, blob_fn: Callable[[], bytes]) -> None:
        blobs = self.scheduler.blobs
        if key not in blobs:
            blobs[key] = blob_fn()

    def submit(self, task: Task) -> None:
        """Queue a task record built by the caller (futures already registered)."""
        for oid in task.holds:
            self.table.incref(oid)
        self._post(self.scheduler.submit, task)

    def put(self, payload: P.Payload, oid: int) -> None:
        self.table.complete(oid, payload, owned=True)

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        self._post(self.scheduler.cancel, oid, force, recursive)

    def create_actor(self, rec: ActorRec, blob_fn: Callable[[], bytes]) -> None:
        self.actor_directory.create(rec, blob_fn)

    def lookup_actor(self, name: str) -> ActorRec | None:
        return self.actor_directory.lookup(name)

    def kill_actor(self, aid: int, no_restart: bool) -> None:
        self.actor_directory.kill(aid, no_restart)

    def statistics(self) -> RuntimeStatistics:
        """A snapshot of every collaborator's figures, taken without stopping anything."""
        pool = self.pool.statistics()
        table = self.table.statistics()
        return RuntimeStatistics(
            workers=pool.workers, blocked_workers=pool.blocked_workers,
            actors=self.actor_directory.statistics().actors,
            pending_tasks=self.scheduler.statistics().pending_tasks + len(self._inbox),
            running_tasks=pool.running_tasks, objects=table.objects,
            store_bytes=table.store_bytes, spilled_objects=table.spilled_objects,
            worker_crashes=pool.crashes)

    # what introspection and tests read: the processes of the session
    @property
    def workers(self) -> list[Proc]:
        return self.pool.workers

    @property
    def actors(self) -> dict[int, ActorRec]:
        return self.actor_directory.actors

    # -- the IO thread -------------------------------------------------------------------
    def wake(self) -> None:
        """Make the IO thread run a pass now (e.g. to apply released refs)."""
        self._post(_nothing)

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the IO thread (thread safe, in order)."""
        self._inbox.append((fn, args))
        if not self._woken:
            self._woken = True
            try:
                os.write(self._wake_w, b"\0")
            except OSError:
                pass

    def _run(self) -> None:
        pool, table, scheduler = self.pool, self.table, self.scheduler
        timeout: float | None = 0.0
        while not self._stopping:
            pool.poll(timeout)
            try:
                self._drain_inbox()
                table.apply_decrefs()
                scheduler.schedule()
                pool.flush()
            except Exception:  # pragma: no cover - keep the IO thread alive
                traceback.print_exc()
            # callers write to the wake pipe only while _woken is False: reset it just
            # before blocking, then look at the inbox once more (no lost wake-ups)
            self._woken = False
            if self._inbox or pool.has_output():
                timeout = 0.0
                self._woken = True
            else:
                timeout = 0.05 if table.decs else 0.5

    def _drain_inbox(self) -> None:
        self.table.apply_decrefs()
        inbox = self._inbox
        while inbox:
            fn, args = inbox.popleft()
            try:
                fn(*args)
            except Exception:  # pragma: no cover
                traceback.print_exc()

    def shutdown(self) -> None:
        """Stop the IO thread and every process; remove the session's files."""
        self._stopping = True
        self.pool.stopping = True
        self.wake()
        self._thread.join(2)
        self.pool.shutdown(self.actor_directory.processes())
        self.table.clear()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._janitor.release()
        for d in self.session_dirs:
            shutil.rmtree(d, ignore_errors=True)


def _nothing() -> None:
    pass


class _NoBlockType:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


_NoBlock = _NoBlockType()


if TYPE_CHECKING:  # mypy checks here that the driver is what the public modules call
    def _conforms(d: Driver) -> DriverCore:
        return d
