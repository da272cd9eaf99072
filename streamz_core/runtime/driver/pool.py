"""The driver's worker processes: start, grow and shrink, channels, crash detection.

Everything here runs on the driver's IO thread, except :meth:`WorkerPool.post` callers.
The pool owns the selector: it reads each worker's channel and hands every message to
the driver's dispatch table (``handlers``); it writes what is queued for a worker once per
IO pass (:meth:`flush`), never blocking on a full pipe.

A worker that dies is noticed through its channel (EOF). The pool cleans up after it (the
references it held are released) and tells the scheduler (``on_tasks_lost``) or the actor
directory (``on_actor_died``), which decide what is retried; then it starts a
replacement. A worker whose pipe carries garbage is treated the same way (it is killed).
A worker killed while it starts is such a crash too; only a process whose interpreter
fails (:class:`~.process.StartFailed`) counts towards giving up after 5 in a row
(``on_cannot_start``).
"""
from __future__ import annotations

import itertools
import logging
import os
import selectors
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import _protocol as P
from .. import _serialization as ser
from .._channel import EXIT_CORRUPT_CHANNEL, CorruptChannelError
from .._object_store import ObjectTable
from ..exceptions import WorkerCrashedError
from .process import Proc, StartFailed, spawn, stop_starting

if TYPE_CHECKING:
    from .._actors import ActorRec

logger = logging.getLogger("streamz_core.runtime")

#: A handler of one worker message: ``handler(sender, message)``.
Handler = Callable[[Proc, P.Message], None]


class PoolStatistics(NamedTuple):
    workers: int          # task worker processes alive
    blocked_workers: int  # ... of which waiting in rt.get/rt.wait
    running_tasks: int    # tasks sent to them and not done
    crashes: int          # worker and actor processes that died unexpectedly


class WorkerPool:
    """The task worker processes, and the channels of every process (actors' too)."""

    def __init__(self, num_workers: int, authkey: bytes, table: ObjectTable,
                 post: Callable[..., None], settings: dict[str, Any]) -> None:
        self.num_workers = num_workers
        self.max_workers = num_workers + 64  # extra workers replace blocked ones
        self.authkey = authkey
        self.workers: list[Proc] = []
        self.crashes = 0
        self.spawn_failures = 0
        self.spawn_error: BaseException | None = None
        self.stopping = False
        self._table = table
        self._post = post          # runs a call on the IO thread (thread safe)
        self._settings = settings  # what every worker is told first (INIT)
        self._proc_ids = itertools.count(1)
        self._starting = 0
        self._dirty: set[Proc] = set()
        self._sel = selectors.DefaultSelector()
        self._wake_fd = -1
        # wired by the Driver: the dispatch table and what follows a process's death
        self.handlers: dict[int, Handler] = {}
        self.on_tasks_lost: Callable[[Proc], None] = lambda proc: None
        self.on_actor_up: Callable[[Proc], None] = lambda proc: None
        self.on_actor_died: Callable[[Proc, BaseException | None], None] = \
            lambda proc, exc: None
        self.on_cannot_start: Callable[[BaseException], None] = lambda exc: None

    # -- the IO loop's side ------------------------------------------------------------
    def watch_wakeups(self, fd: int) -> None:
        """Make :meth:`poll` return when ``fd`` (the driver's wake pipe) is readable."""
        self._wake_fd = fd
        self._sel.register(fd, selectors.EVENT_READ, None)

    def poll(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` s; read what workers sent, write what waits to be sent."""
        for key, _ in self._sel.select(timeout):
            data = key.data
            if data is None:
                try:
                    os.read(self._wake_fd, 65536)
                except OSError:
                    pass
            elif type(data) is tuple:
                self._write_unsent(data[1])
            else:
                self._read(data)

    def has_output(self) -> bool:
        return bool(self._dirty)

    def send(self, proc: Proc, msg: P.Message) -> None:
        """Queue ``msg`` for ``proc``; it leaves with the next :meth:`flush`."""
        proc.out.append(msg)
        self._dirty.add(proc)

    def flush(self) -> None:
        """Write each worker's queued messages as one batch."""
        dirty, self._dirty = self._dirty, set()
        for proc in dirty:
            if not proc.ready or proc.dead or not proc.out:
                if not proc.ready and not proc.dead:
                    self._dirty.add(proc)
                continue
            out, proc.out = proc.out, []
            conn = proc.conn
            assert conn is not None
            try:
                conn.send_bytes(ser.dumps_msgs(out))
            except OSError:
                continue  # death is handled when the connection reports EOF
            if conn.has_unsent() and not proc.writing:  # the pipe is full: never block,
                proc.writing = True                     # finish when it is writable
                self._sel.register(conn.wfd, selectors.EVENT_WRITE, ("w", proc))

    def _write_unsent(self, proc: Proc) -> None:
        assert proc.conn is not None
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

    def _read(self, proc: Proc) -> None:
        self._table.apply_decrefs()
        conn = proc.conn
        assert conn is not None
        handlers = self.handlers
        while True:
            try:
                msgs = ser.loads_msgs(conn.recv_bytes())
            except (EOFError, OSError):
                self.proc_died(proc)
                return
            except Exception as exc:  # garbage in the pipe: nothing after it can be trusted
                self._channel_broken(proc, exc)
                return
            try:
                for m in msgs:
                    handlers[m[0]](proc, m)
            except Exception as exc:  # a message that is not one of ours
                self._channel_broken(proc, exc)
                return
            if proc.dead or not conn.pending():  # buffered batches do not wake epoll
                return

    # -- starting processes ------------------------------------------------------------
    def spawn_worker(self, extra: bool = False) -> Proc:
        """Start a task worker (``extra``: beyond ``num_workers``, retired when idle)."""
        proc = Proc(next(self._proc_ids), "task")
        proc.extra = extra
        self.workers.append(proc)
        self._starting += 1
        self._spawn(proc)
        return proc

    def spawn_actor_host(self, rec: ActorRec) -> Proc:
        """Start a process for the actor ``rec``."""
        proc = Proc(next(self._proc_ids), "actor")
        proc.actor = rec
        self._spawn(proc)
        return proc

    def _spawn(self, proc: Proc) -> None:
        post = self._post
        spawn(proc, self.authkey, lambda p: post(self.on_up, p),
              lambda p, e: post(self.on_down, p, e))

    def on_up(self, proc: Proc) -> None:
        """``proc`` completed its handshake."""
        if proc.mode == "task":
            self._starting -= 1
        if self.stopping or proc.dead:
            proc.kill()
            return
        assert proc.conn is not None
        proc.ready = True
        self.spawn_failures = 0
        proc.conn.nonblocking_writes()
        self._sel.register(proc.conn, selectors.EVENT_READ, proc)
        proc.out.insert(0, P.init({
            **self._settings, "index": proc.index, "mode": proc.mode,
            "sys_path": list(sys.path), "cwd": os.getcwd(),
            "pythonpath": os.environ.get("PYTHONPATH")}))
        self._dirty.add(proc)
        if proc.actor is not None:
            self.on_actor_up(proc)

    def on_down(self, proc: Proc, exc: BaseException) -> None:
        """``proc`` could not start (see :func:`~.process.spawn`)."""
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
        self.proc_died(proc, exc)

    def grow(self) -> None:
        """Tasks wait and every worker is busy: start one more if too few are active."""
        active = [w for w in self.workers if not w.blocked and not w.retiring]
        if len(active) < self.num_workers and len(self.workers) < self.max_workers:
            self.spawn_worker(extra=True)

    def shrink(self) -> None:
        """Retire idle extra workers while enough others are active."""
        for w in self.workers:
            if w.extra and w.ready and not w.inflight and not w.retiring and not w.dead:
                active = [x for x in self.workers if not x.blocked and not x.retiring]
                if len(active) > self.num_workers:
                    w.retiring = True
                    self.send(w, P.leave())

    def least_loaded(self) -> Proc | None:
        """The worker with the fewest tasks in flight that can take one more, if any."""
        best = None
        bestn = 0
        for w in self.workers:
            n = len(w.inflight)
            if n < w.cap() and (best is None or n < bestn):
                best, bestn = w, n
        return best

    # -- deaths ------------------------------------------------------------------------
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
        self.proc_died(proc, exc)

    def proc_died(self, proc: Proc, exc: BaseException | None = None) -> None:
        """Clean up after ``proc``; let its work be retried or failed; replace it."""
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
                self._table.decref(oid, n)
        proc.holds.clear()
        if self.stopping:
            return
        rec = proc.actor
        if rec is not None:
            if not (rec.killed or rec.exiting or rec.dropped or rec.state == "dead"):
                self.crashes += 1
            self.on_actor_died(proc, exc)
            return
        self.workers.remove(proc)
        running = next(iter(proc.inflight), None)
        if not proc.retiring and not (running is not None and proc.inflight[running].force):
            self.crashes += 1  # an unexpected death (not a retirement, not a forced cancel)
        self.on_tasks_lost(proc)
        if self.spawn_failures >= 5:  # do not respawn for ever: fail what waits
            self.on_cannot_start(WorkerCrashedError(
                f"worker processes fail to start, {self.spawn_failures} times in a row "
                f"({self.spawn_error}); check that {sys.executable!r} runs and can import "
                f"streamz_core"))
            return
        if len([w for w in self.workers if not w.extra]) < self.num_workers:
            self.spawn_worker()

    # -- figures and shutdown ------------------------------------------------------------
    def statistics(self) -> PoolStatistics:
        """A snapshot (any thread: reads a copy of the list)."""
        workers = list(self.workers)
        return PoolStatistics(
            workers=sum(1 for w in workers if not w.dead),
            blocked_workers=sum(1 for w in workers if w.blocked),
            running_tasks=sum(len(w.inflight) for w in workers),
            crashes=self.crashes)

    def shutdown(self, others: list[Proc]) -> None:
        """Stop every worker and ``others`` (actor processes); the IO thread has ended."""
        procs = list(self.workers) + others
        stop_starting(procs)  # kills those still starting; none starts after this
        for p in procs:
            if not p.ready:
                continue
            if p.conn is not None and not p.dead:
                try:
                    p.conn.send_bytes(ser.dumps_msgs([P.leave()]))
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
        self._sel.close()
