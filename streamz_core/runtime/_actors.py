"""The record of one actor, shared by the caller side, the driver and the wire.

``actor.py`` builds it when an actor is created; the driver's actor directory
(``driver/actors.py``) keeps it and updates it as the actor starts, dies and restarts; a
worker that creates an actor sends it to the driver in a ``CREATE_ACTOR`` message.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._protocol import Payload
    from ._task import Task
    from .driver.process import Proc


class ActorRec:
    """What the driver knows about one actor."""

    def __init__(self, aid: int, name: str | None, create: Task, options: dict[str, Any],
                 meta: dict[str, Any]) -> None:
        self.aid = aid
        self.name = name
        self.create = create
        self.options = options
        self.meta = meta
        self.restarts_left: int = options.get("max_restarts", 0)
        self.restarts = 0
        self.state = "deps"  # deps -> starting -> alive (-> restarting -> alive) -> dead
        self.proc: Proc | None = None
        self.pending: deque[Task] = deque()
        self.exiting = False
        self.killed = False
        self.no_restart = False
        self.init_error: Payload | None = None
        self.dropped = False

    def label(self) -> str:
        cls = self.meta.get("class_name", "?")
        return f"actor {self.name!r} ({cls})" if self.name else f"actor {cls} {self.aid:#x}"
