"""Worker processes as the driver sees them: start, registration, death, shutdown.

Mixed into :class:`~._scheduler.Driver`. A worker that dies is noticed on the IO thread
through its connection (EOF). The task it was running is retried if ``max_retries``
allows, else fails with :class:`WorkerCrashedError`; tasks merely queued on it are run
elsewhere at no cost; the references it held are released and a replacement starts.
A worker whose pipe carries garbage is treated the same way (the driver kills it).
A worker killed while it starts is such a crash too; only a process whose interpreter
fails (:class:`~._process.StartFailed`) counts towards giving up after 5 in a row.

The end of this module keeps the session clean when the driver itself does not shut
down: a janitor process for the session's directories and a SIGTERM handler.
"""
from __future__ import annotations

import logging
import os
import selectors
from . import _serialization as ser
from ._process import Proc, StartFailed, spawn, stop_starting
from ._channel import EXIT_CORRUPT_CHANNEL, CorruptChannelError
from .exceptions import TaskCancelledError, WorkerCrashedError

logger = logging.getLogger("streamz_core.runtime")


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
                                     "spill_dir": self.table.spill_dir,
                                     "object_store_memory": self.table.memory_limit,
                                     "cwd": os.getcwd()}))
        self._dirty.add(proc)
        if proc.actor is not None:
            self._actor_up(proc)

    def _on_down(self, proc: Proc, exc: BaseException) -> None:
        if proc.mode == "task":
            self._starting -= 1
        if isinstance(exc, StartFailed):  # the interpreter fails: retrying will not help
            self.spawn_failures += 1
            self.spawn_error = exc
            if proc.actor is not None:
                proc.actor.init_error = ser.system_error(WorkerCrashedError(
                    f"its process could not start: {exc}"))
        # else it was killed by a signal while starting: an ordinary crash, replaced below
        proc.ready = True
        self._proc_died(proc, exc)

    def _channel_broken(self, proc: Proc, exc: BaseException) -> None:
        """Bytes from ``proc`` are not runtime messages: kill it, replace it, retry."""
        if proc.dead:
            return
        proc.cause = ("its pipe to the driver carried bytes that are not runtime messages "
                      f"({type(exc).__name__}: {exc})")
        logger.error("runtime worker process (pid %s) was killed and is replaced: %s; its "
                     "work is retried as max_retries / max_restarts allow",
                     proc.pid, proc.cause, exc_info=not isinstance(exc, CorruptChannelError))
        proc.kill()
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
            if proc.cause is None and proc.popen.returncode == EXIT_CORRUPT_CHANNEL:
                proc.cause = ("its pipe from the driver carried bytes that are not runtime "
                              "messages (the worker said so on stderr)")
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
                    cause = f": {proc.cause}" if proc.cause else ""
                    self._fail(task, WorkerCrashedError(
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
        if self.spawn_failures >= 5:  # do not respawn for ever: fail what waits
            err = WorkerCrashedError(
                f"worker processes fail to start, {self.spawn_failures} times in a row "
                f"({self.spawn_error}); check that {__import__('sys').executable!r} runs "
                f"and can import streamz_core")
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
        stop_starting(procs)  # kills those still starting; none starts after this
        for p in procs:
            if not p.ready:
                continue
            if p.conn is not None and not p.dead:
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
        self._janitor.release()

    def _on_noop(self) -> None:
        pass



def _sys_path() -> list:
    import sys

    return list(sys.path)


# -- leaving nothing behind when the driver does not shut down -------------------------
# Workers leave by themselves when the driver dies (pipe EOF, PR_SET_PDEATHSIG: see
# _process). The session's directories in /dev/shm cannot remove themselves: a janitor
# does it if the driver dies without rt.shutdown() (kill -9, os._exit, a segfault), and a
# SIGTERM handler turns `docker stop` / `systemctl stop` into a normal shutdown.

# /bin/sh waits on a pipe that only the driver holds open. A line means "shut down
# normally, the driver removes the directories"; EOF without one means the driver died.
# It ignores the signals that a terminal or a service manager sends to the whole group,
# so that it outlives the driver long enough to clean up.
_JANITOR_SCRIPT = "trap '' HUP INT TERM; read -r _ || exec rm -rf -- \"$@\""


class SessionJanitor:
    """A tiny ``/bin/sh`` process that removes the session's directories if the driver dies.

    Costs one idle shell per session (about 1 MB); :meth:`release` at a normal shutdown
    ends it. Without ``/bin/sh`` nothing is started and the next ``rt.init()`` removes
    directories left by dead drivers.
    """

    def __init__(self, dirs: tuple) -> None:
        import subprocess

        from .api import _PREFIX

        self._proc: subprocess.Popen | None = None
        # only directories this runtime created (mkdtemp with our prefix) are ever passed
        # to rm -rf
        dirs = tuple(d for d in dirs if d and os.path.basename(d).startswith(_PREFIX))
        if not dirs or not os.path.exists("/bin/sh"):
            return
        try:
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", _JANITOR_SCRIPT, "streamz-rt-janitor", *dirs],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=True, start_new_session=True)
        except OSError:
            self._proc = None

    @property
    def pid(self) -> int | None:
        """The janitor's process id (None if it could not start)."""
        return None if self._proc is None else self._proc.pid

    def release(self) -> None:
        """Normal shutdown: tell the janitor the driver cleans up itself, and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"done\n")
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(1)
        except Exception:
            proc.kill()
            proc.wait()


def install_sigterm_shutdown() -> None:
    """Make SIGTERM shut the runtime down like a normal exit, then die of SIGTERM.

    Installed only from the main thread and only over the default disposition: a handler
    the program installed (or ``SIG_IGN``) is left alone, since it decides how the program
    ends, and any normal exit it takes runs ``rt.shutdown()`` through ``atexit``.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _shutdown_on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, or no SIGTERM here
        pass


def _shutdown_on_sigterm(signum: int, frame: object) -> None:
    import signal

    from . import api

    try:
        api.shutdown()
    finally:
        # exit as an unhandled SIGTERM would: same status for the parent (-15 / 143),
        # and, as then, no further atexit handler runs. Also when a handler installed
        # later chained to this one: it asked for the default behaviour.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
