"""The driver's side of actors: their records, processes, call routing and restarts.

Mixed into :class:`~._scheduler.Driver`; every ``_``-method runs on the IO thread.
Calls to one actor are sent in the order they were submitted; a call whose ref arguments
are not ready yet holds back the calls behind it (so a sync actor sees submission order).
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

from . import _serialization as ser
from ._process import Proc, spawn
from ._task import Task
from .exceptions import ActorDiedError


class ActorRec:
    """What the driver knows about one actor."""

    def __init__(self, aid: int, name: str | None, create: Task, options: dict,
                 meta: dict) -> None:
        self.aid = aid
        self.name = name
        self.create = create
        self.options = options
        self.meta = meta
        self.restarts_left = options.get("max_restarts", 0)
        self.restarts = 0
        self.state = "deps"
        self.proc: Proc | None = None
        self.pending: deque = deque()
        self.exiting = False
        self.killed = False
        self.no_restart = False
        self.init_error: tuple | None = None
        self.dropped = False

    def label(self) -> str:
        cls = self.meta.get("class_name", "?")
        return f"actor {self.name!r} ({cls})" if self.name else f"actor {cls} {self.aid:#x}"


class ActorMixin:
    """Actor management for the driver (see module docstring)."""

    def _init_actors(self) -> None:
        self.actors: dict[int, ActorRec] = {}
        self.names: dict[str, int] = {}
        self._names_lock = threading.Lock()

    # -- caller side -------------------------------------------------------------------
    def create_actor(self, rec: ActorRec, blob_fn: Any) -> None:
        """Register ``rec`` (name checked now) and queue its creation."""
        self.register_blob(rec.create.key, blob_fn)  # type: ignore[attr-defined]
        self._register_name(rec)
        self.actors[rec.aid] = rec
        self.submit(rec.create)  # type: ignore[attr-defined]

    def _register_name(self, rec: ActorRec) -> None:
        if rec.name is None:
            return
        with self._names_lock:
            old = self.names.get(rec.name)
            if old is not None and self.actors[old].state != "dead":
                raise ValueError(
                    f"an actor named {rec.name!r} already exists; get it with "
                    f"rt.get_actor({rec.name!r}) or choose another name")
            self.names[rec.name] = rec.aid

    def lookup_actor(self, name: str) -> ActorRec | None:
        with self._names_lock:
            aid = self.names.get(name)
        rec = self.actors.get(aid) if aid is not None else None
        if rec is None or rec.state == "dead":
            return None
        return rec

    def kill_actor(self, aid: int, no_restart: bool) -> None:
        self.wake(("kill", aid, no_restart))  # type: ignore[attr-defined]

    # -- IO thread ---------------------------------------------------------------------
    def _start_actor(self, rec: ActorRec) -> None:
        if rec.state == "dead":
            return
        proc = Proc(next(self._proc_ids), "actor")  # type: ignore[attr-defined]
        proc.actor = rec
        rec.proc = proc
        rec.state = "starting"
        spawn(proc, self.authkey, lambda p: self.wake(("up", p)),  # type: ignore
              lambda p, e: self.wake(("down", p, e)))  # type: ignore[attr-defined]

    def _actor_up(self, proc: Proc) -> None:
        rec = proc.actor
        if rec.proc is not proc or rec.state == "dead":
            proc.kill()
            return
        deps = self._dep_payloads(rec.create)  # type: ignore[attr-defined]
        if deps is None:
            return
        self.send(proc, ("ac", rec.aid, rec.create.key,  # type: ignore[attr-defined]
                         self._blobs[rec.create.key], rec.create.args, deps,  # type: ignore
                         rec.options, rec.meta, rec.restarts))
        rec.state = "alive"
        self._pump(rec)

    def _call_submitted(self, task: Task) -> None:
        rec = self.actors.get(task.actor)  # type: ignore[arg-type]
        if rec is None or rec.state == "dead":
            self._fail(task, self._died_error(rec, task))  # type: ignore[attr-defined]
            return
        rec.pending.append(task)
        self._resolve_deps(task)  # type: ignore[attr-defined]
        self._pump(rec)

    def _pump(self, rec: ActorRec) -> None:
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
            deps = self._dep_payloads(task)  # type: ignore[attr-defined]
            if deps is None:
                continue
            task.state = "sent"
            task.proc = proc
            proc.inflight[task.tid] = task
            self.send(proc, ("c", task.tid, task.method, task.args, deps,  # type: ignore
                             task.out_ids, task.nret, task.name))

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

    def _actor_died(self, proc: Proc, exc: BaseException | None) -> None:
        rec: ActorRec = proc.actor
        inflight = list(proc.inflight.values())
        proc.inflight.clear()
        if rec.proc is not proc or rec.state == "dead":
            for t in inflight:
                self._fail(t, self._died_error(rec, t))  # type: ignore[attr-defined]
            return
        can_restart = (not rec.exiting and not rec.no_restart and rec.init_error is None
                       and rec.restarts_left != 0)
        if can_restart:
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
                    self._fail(t, ActorDiedError(  # type: ignore[attr-defined]
                        f"{rec.label()} died while running {t.name}; the actor is being "
                        f"restarted but the call is not retried (max_task_retries="
                        f"{rec.options.get('max_task_retries', 0)!r}); pass "
                        f"max_task_retries= in .options() to replay such calls"))
            rec.killed = False
            rec.state = "restarting"
            self._start_actor(rec)
            return
        rec.proc = proc
        for t in inflight:
            self._fail(t, self._died_error(rec, t))  # type: ignore[attr-defined]
        self._actor_dead(rec)

    def _actor_dead(self, rec: ActorRec) -> None:
        """Mark ``rec`` dead for good: fail what waits, free its name and arguments."""
        rec.state = "dead"
        while rec.pending:
            t = rec.pending.popleft()
            if t.state != "done":
                self._fail(t, self._died_error(rec))  # type: ignore[attr-defined]
        if rec.name is not None:
            with self._names_lock:
                if self.names.get(rec.name) == rec.aid:
                    del self.names[rec.name]
        if rec.create.state != "done":
            rec.create.state = "deps"  # so _finish does not read it as a result
            self._finish(rec.create, [])  # type: ignore[attr-defined]

    def _cancel_call(self, task: Task, force: bool, exc: BaseException) -> None:
        task.cancelled = True
        if task.proc is not None and not task.proc.dead:
            self.send(task.proc, ("x", task.tid))  # type: ignore[attr-defined]

    def _drop_actor(self, rec: ActorRec) -> None:
        """End an unnamed actor nobody can call any more (IO thread)."""
        rec.dropped = True
        proc = rec.proc
        if proc is not None and proc.ready and not proc.dead:
            self.send(proc, ("bye",))  # type: ignore[attr-defined]
        elif proc is not None:
            proc.dead = True
            proc.kill()
        self._actor_dead(rec)

    def _on_kill(self, aid: int, no_restart: bool) -> None:
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
            self._actor_dead(rec)

    # -- messages from actor processes -------------------------------------------------
    def _m_initerr(self, proc: Proc, payload: tuple) -> None:
        proc.actor.init_error = payload

    def _m_exit_actor(self, proc: Proc) -> None:
        proc.actor.exiting = True

    def _m_ac(self, proc: Proc, blob: bytes, rec: ActorRec) -> None:
        self._blobs.setdefault(rec.create.key, blob)  # type: ignore[attr-defined]
        rec.proc = None
        rec.pending = deque()
        self.actors[rec.aid] = rec
        self._adopt(proc, rec.create)  # type: ignore[attr-defined]
        try:
            self._register_name(rec)
        except ValueError as exc:
            rec.init_error = ser.error_payload(exc)
            self._actor_dead(rec)
            return
        self._on_submit(rec.create)  # type: ignore[attr-defined]

    def _m_q(self, proc: Proc, req: int, name: str) -> None:
        rec = self.lookup_actor(name)
        self.send(proc, ("rep", req, None if rec is None else  # type: ignore[attr-defined]
                         (rec.aid, rec.name, rec.meta)))

    def _m_k(self, proc: Proc, aid: int, no_restart: bool) -> None:
        self._on_kill(aid, no_restart)
