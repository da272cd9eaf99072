"""The driver's actor directory: actors, their names, processes, call routing, restarts.

IO thread, except the caller-side methods marked so. Calls to one actor are sent in the
order they were submitted; a call whose ref arguments are not ready yet holds back the
calls behind it (so a sync actor sees submission order). An actor whose process dies is
restarted while ``max_restarts`` allows; its calls in flight are replayed while
``max_task_retries`` allows.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from .. import _protocol as P
from .. import _serialization as ser
from .._actors import ActorRec
from .._task import Task
from ..exceptions import ActorDiedError
from .pool import WorkerPool
from .process import Proc
from .scheduler import Scheduler


class ActorStatistics(NamedTuple):
    actors: int  # actors not dead


class ActorDirectory:
    """Every actor of the session (see module docstring); implements ``ActorWork``."""

    def __init__(self, scheduler: Scheduler, pool: WorkerPool,
                 submit: Callable[[Task], None], post: Callable[..., None]) -> None:
        self.actors: dict[int, ActorRec] = {}
        self._names: dict[str, int] = {}
        self._names_lock = threading.Lock()  # names are looked up from callers' threads
        self._scheduler = scheduler
        self._pool = pool
        self._submit = submit
        self._post = post

    def statistics(self) -> ActorStatistics:
        return ActorStatistics(
            actors=sum(1 for a in list(self.actors.values()) if a.state != "dead"))

    def processes(self) -> list[Proc]:
        return [a.proc for a in list(self.actors.values()) if a.proc is not None]

    # -- caller side (any thread) --------------------------------------------------------
    def create(self, rec: ActorRec, blob_fn: Callable[[], bytes]) -> None:
        """Register ``rec`` (its name is checked now) and queue its creation."""
        blobs = self._scheduler.blobs
        if rec.create.key not in blobs:
            blobs[rec.create.key] = blob_fn()
        self._register_name(rec)
        self.actors[rec.aid] = rec
        self._submit(rec.create)

    def _register_name(self, rec: ActorRec) -> None:
        if rec.name is None:
            return
        with self._names_lock:
            old = self._names.get(rec.name)
            if old is not None and self.actors[old].state != "dead":
                raise ValueError(
                    f"an actor named {rec.name!r} already exists; get it with "
                    f"rt.get_actor({rec.name!r}) or choose another name")
            self._names[rec.name] = rec.aid

    def lookup(self, name: str) -> ActorRec | None:
        """The live actor named ``name``."""
        with self._names_lock:
            aid = self._names.get(name)
        rec = self.actors.get(aid) if aid is not None else None
        if rec is None or rec.state == "dead":
            return None
        return rec

    def kill(self, aid: int, no_restart: bool) -> None:
        self._post(self.on_kill, aid, no_restart)

    # -- processes -----------------------------------------------------------------------
    def _start(self, rec: ActorRec) -> None:
        if rec.state == "dead":
            return
        rec.state = "starting"
        rec.proc = self._pool.spawn_actor_host(rec)

    def proc_up(self, proc: Proc) -> None:
        """The process of an actor is up: create the instance, send the calls."""
        rec = proc.actor
        assert rec is not None
        if rec.proc is not proc or rec.state == "dead":
            proc.kill()
            return
        create = rec.create
        deps = self._scheduler.dep_payloads(create)
        if deps is None:
            return
        self._pool.send(proc, P.host_actor(rec.aid, create.key,
                                           self._scheduler.blobs[create.key], create.args,
                                           deps, rec.options, rec.meta, rec.restarts))
        rec.state = "alive"
        self._pump(rec)

    def proc_died(self, proc: Proc, exc: BaseException | None) -> None:
        """The process of an actor died: restart the actor if allowed, else it is dead."""
        rec = proc.actor
        assert rec is not None
        inflight = list(proc.inflight.values())
        proc.inflight.clear()
        fail = self._scheduler.fail
        if rec.proc is not proc or rec.state == "dead":
            for t in inflight:
                fail(t, self._died_error(rec, t))
            return
        can_restart = (not rec.exiting and not rec.no_restart and rec.init_error is None
                       and rec.restarts_left != 0)
        if not can_restart:
            for t in inflight:
                fail(t, self._died_error(rec, t))
            self._dead(rec)
            return
        if rec.restarts_left > 0:
            rec.restarts_left -= 1
        rec.restarts += 1
        for t in reversed(inflight):
            if t.retries != 0 and not t.cancelled:
                if t.retries > 0:
                    t.retries -= 1
                t.state = "ready"
                rec.pending.appendleft(t)
            else:
                fail(t, ActorDiedError(
                    f"{rec.label()} died while running {t.name}; the actor is being "
                    f"restarted but the call is not retried (max_task_retries="
                    f"{rec.options.get('max_task_retries', 0)!r}); pass "
                    f"max_task_retries= in .options() to replay such calls"))
        rec.killed = False
        rec.state = "restarting"
        self._start(rec)

    # -- ActorWork (called by the scheduler) -----------------------------------------------
    def call_submitted(self, task: Task) -> None:
        rec = self.actors.get(task.actor) if task.actor is not None else None
        if rec is None or rec.state == "dead":
            self._scheduler.fail(task, self._died_error(rec, task))
            return
        rec.pending.append(task)
        self._scheduler.resolve_deps(task)
        self._pump(rec)

    def task_ready(self, task: Task) -> None:
        assert task.actor is not None
        rec = self.actors[task.actor]
        if task.kind == "call":
            self._pump(rec)
        else:
            self._start(rec)

    def retry_call(self, task: Task) -> None:
        assert task.actor is not None
        rec = self.actors[task.actor]
        rec.pending.appendleft(task)
        self._pump(rec)

    def create_failed(self, task: Task, payload: P.Payload) -> None:
        assert task.actor is not None
        rec = self.actors[task.actor]
        rec.init_error = payload
        self._dead(rec)

    def cancel_call(self, task: Task) -> None:
        if task.proc is not None and not task.proc.dead:
            self._pool.send(task.proc, P.cancel(task.tid))

    def _pump(self, rec: ActorRec) -> None:
        """Send the actor's calls that are ready, in order, up to the first that is not."""
        proc = rec.proc
        if rec.state != "alive" or proc is None or not proc.ready or proc.dead:
            return
        pending = rec.pending
        while pending:
            task = pending[0]
            if task.state in ("done", "sent") or task.cancelled:
                pending.popleft()
                continue
            if task.state != "ready":
                break
            pending.popleft()
            deps = self._scheduler.dep_payloads(task)
            if deps is None:
                continue
            task.state = "sent"
            task.proc = proc
            proc.inflight[task.tid] = task
            assert task.method is not None
            self._pool.send(proc, P.call(task.tid, task.method, task.args, deps,
                                         task.out_ids, task.nret, task.name))

    # -- death -----------------------------------------------------------------------------
    def _died_error(self, rec: ActorRec | None, task: Task | None = None) -> ActorDiedError:
        if rec is None:
            return ActorDiedError(
                "the actor is unknown to this runtime (it was created by a runtime that was "
                "shut down); create a new actor")
        if rec.init_error is not None:
            err = ser.error_from_payload(rec.init_error)
            cause = f"its __init__ raised {type(err).__name__}: {err}"
        elif rec.exiting:
            cause = "it ended itself with rt.exit_actor()"
        elif rec.dropped:
            cause = "no handle to it remained (keep a handle, or give it a name=)"
        elif rec.killed:
            cause = "it was killed with rt.kill()"
        else:
            code = rec.proc.popen.returncode if rec.proc and rec.proc.popen else None
            why = f", {rec.proc.cause}" if rec.proc and rec.proc.cause else ""
            cause = (f"its process died (exit code {code}{why}) after {rec.restarts} "
                     f"restart(s) and max_restarts={rec.options.get('max_restarts', 0)!r} "
                     f"is used up")
        what = f" while running {task.name}" if task is not None and task.state == "sent" else ""
        return ActorDiedError(
            f"{rec.label()} is dead{what}: {cause}; create a new actor, or pass "
            f"max_restarts=/max_task_retries= in .options() to survive crashes")

    def _dead(self, rec: ActorRec) -> None:
        """Mark ``rec`` dead for good: fail what waits, free its name and arguments."""
        rec.state = "dead"
        while rec.pending:
            t = rec.pending.popleft()
            if t.state != "done":
                self._scheduler.fail(t, self._died_error(rec))
        if rec.name is not None:
            with self._names_lock:
                if self._names.get(rec.name) == rec.aid:
                    del self._names[rec.name]
        if rec.create.state != "done":
            rec.create.state = "deps"  # so finish() does not read it as a result
            self._scheduler.finish(rec.create, [])

    def on_free(self, oid: int) -> None:
        """The object table freed ``oid``: an unnamed actor nobody can call ends."""
        rec = self.actors.get(oid)
        if rec is None or rec.name is not None or rec.state == "dead":
            return
        rec.dropped = True
        proc = rec.proc
        if proc is not None and proc.ready and not proc.dead:
            self._pool.send(proc, P.leave())
        elif proc is not None:
            proc.dead = True
            proc.kill()
        self._dead(rec)

    def on_kill(self, aid: int, no_restart: bool) -> None:
        rec = self.actors.get(aid)
        if rec is None or rec.state == "dead":
            return
        rec.no_restart = no_restart
        rec.killed = True
        proc = rec.proc
        if proc is not None and proc.popen is not None and not proc.dead:
            proc.kill()
        elif no_restart:
            if proc is not None:
                proc.dead = True
                proc.kill()
            self._dead(rec)

    # -- messages --------------------------------------------------------------------------
    def on_actor_init_failed(self, proc: Proc, m: P.ActorInitFailed) -> None:
        assert proc.actor is not None
        proc.actor.init_error = m[1]

    def on_actor_exiting(self, proc: Proc, m: P.ActorExiting) -> None:
        assert proc.actor is not None
        proc.actor.exiting = True

    def on_create_actor(self, proc: Proc, m: P.CreateActor) -> None:
        _, blob, rec = m
        self._scheduler.blobs.setdefault(rec.create.key, blob)
        rec.proc = None
        rec.pending = deque()
        self.actors[rec.aid] = rec
        self._scheduler.adopt(proc, rec.create)
        try:
            self._register_name(rec)
        except ValueError as exc:
            rec.init_error = ser.error_payload(exc)
            self._dead(rec)
            return
        self._scheduler.submit(rec.create)

    def on_lookup_actor(self, proc: Proc, m: P.LookupActor) -> None:
        _, req, name = m
        rec = self.lookup(name)
        info: Any = None if rec is None else (rec.aid, rec.name, rec.meta)
        self._pool.send(proc, P.actor_found(req, info))

    def on_kill_actor(self, proc: Proc, m: P.KillActor) -> None:
        _, aid, no_restart = m
        self.on_kill(aid, no_restart)
