"""Worker processes as the driver sees them: start, registration, death, shutdown.

Mixed into :class:`~._scheduler.Driver`. A worker that dies is noticed on the IO thread
through its connection (EOF). The task it was running is retried if ``max_retries``
allows, else fails with :class:`WorkerCrashedError`; tasks merely queued on it are run
elsewhere at no cost; the references it held are released and a replacement starts.
"""
from __future__ import annotations

import os
import selectors
from . import _serialization as ser
from ._process import Proc, spawn
from .exceptions import TaskCancelledError, WorkerCrashedError


class ProcessMixin:
    """Process lifecycle for the driver (IO thread unless noted)."""

    # -- processes -------------------------------------------------------------------
    def _spawn_worker(self, extra: bool = False) -> Proc:
        proc = Proc(next(self._proc_ids), "task")
        proc.extra = extra
        self.workers.append(proc)
        self._starting += 1
        spawn(proc, self.authkey, lambda p: self.wake(("up", p)),
              lambda p, e: self.wake(("down", p, e)))
        return proc

    def _on_up(self, proc: Proc) -> None:
        if proc.mode == "task":
            self._starting -= 1
        if self._stopping or proc.dead:
            proc.kill()
            return
        proc.ready = True
        self.spawn_failures = 0
        proc.conn.nonblocking_writes()
        self._sel.register(proc.conn, selectors.EVENT_READ, proc)
        proc.out.insert(0, ("init", {"index": proc.index, "mode": proc.mode,
                                     "shm_dir": self.shm_dir, "sys_path": _sys_path(),
                                     "cwd": os.getcwd()}))
        self._dirty.add(proc)
        if proc.actor is not None:
            self._actor_up(proc)

    def _on_down(self, proc: Proc, exc: BaseException) -> None:
        if proc.mode == "task":
            self._starting -= 1
        self.spawn_failures += 1
        self.spawn_error = exc
        if proc.actor is not None:
            proc.actor.init_error = ser.system_error(WorkerCrashedError(
                f"its process could not start: {type(exc).__name__}: {exc}"))
        proc.ready = True
        self._proc_died(proc, exc)

    def _proc_died(self, proc: Proc, exc: BaseException | None = None) -> None:
        if proc.dead:
            return
        proc.dead = True
        if proc.conn is not None:
            for fd in (proc.conn.rfd, proc.conn.wfd):
                try:
                    self._sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
            proc.conn.close()
        if proc.popen is not None:
            try:
                proc.popen.wait(1)
            except Exception:
                proc.kill()
        for oid, n in proc.holds.items():
            if n > 0:
                self.table.decref(oid, n)
        proc.holds.clear()
        if self._stopping:
            return
        if proc.actor is not None:
            rec = proc.actor
            if not (rec.killed or rec.exiting or rec.dropped or rec.state == "dead"):
                self.crashes += 1
            self._actor_died(proc, exc)
            return
        self.workers.remove(proc)
        running = next(iter(proc.inflight), None)
        if not proc.retiring and not (running is not None and proc.inflight[running].force):
            self.crashes += 1  # an unexpected death (not a retirement, not a forced cancel)
        requeue = []
        for tid, task in proc.inflight.items():
            if tid == running and not proc.retiring:
                if task.force:
                    self._fail(task, TaskCancelledError(
                        f"{task.name} was cancelled with force=True (its worker was killed)"))
                    continue
                if task.retries == 0 or task.cancelled:
                    self._fail(task, WorkerCrashedError(
                        f"the worker process (pid {proc.pid}) running {task.name} died "
                        f"(exit code {proc.popen.returncode if proc.popen else None}) and "
                        f"max_retries is exhausted; raise .options(max_retries=...) or find "
                        f"why the process dies (memory, segfault, os._exit)"))
                    continue
                if task.retries > 0:
                    task.retries -= 1
            requeue.append(task)
        proc.inflight.clear()
        for task in reversed(requeue):
            task.state = "ready"
            self._ready.appendleft(task)
        if self.spawn_failures >= 5:  # do not respawn for ever: fail what waits
            err = WorkerCrashedError(
                f"worker processes fail to start ({self.spawn_error!r}); check that "
                f"{__import__('sys').executable!r} runs and can import streamz_core")
            while self._ready:
                self._fail(self._ready.popleft(), err)
            return
        if len([w for w in self.workers if not w.extra]) < self.num_workers:
            self._spawn_worker()

    # -- shutdown ----------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the IO thread and every process; remove the session's files."""
        self._stopping = True
        self.wake(("noop",))
        self._thread.join(2)
        procs = list(self.workers) + [a.proc for a in self.actors.values() if a.proc]
        for p in procs:
            if not p.ready:
                p.kill()
            elif p.conn is not None and not p.dead:
                try:
                    p.conn.send_bytes(ser.dumps_msgs([("bye",)]))
                except OSError:
                    pass
        for p in procs:
            if p.popen is not None:
                try:
                    p.popen.wait(0.5)
                except Exception:
                    p.kill()
                    try:
                        p.popen.wait(1)
                    except Exception:
                        pass
            if p.conn is not None:
                p.conn.close()
        self.table.clear()
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _on_noop(self) -> None:
        pass



def _sys_path() -> list:
    import sys

    return list(sys.path)
