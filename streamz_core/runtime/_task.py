"""The driver's record of one unit of work, and argument preparation shared by callers."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import _serialization as ser
from ._serialization import Payload
from .object_ref import ObjectRef

if TYPE_CHECKING:
    from .driver.process import Proc


class Task:
    """A task, an actor call or an actor creation, as the driver tracks it."""

    __slots__ = ("tid", "kind", "key", "args", "dep_pos", "dep_ids", "out_ids", "nret",
                 "retries", "retry_exc", "name", "holds", "ndeps", "state", "proc",
                 "actor", "method", "cancelled", "force", "submitter", "parent",
                 "__weakref__")

    def __init__(self, tid: int, kind: str, key: Any, args: Payload,
                 dep_pos: list[int | str], dep_ids: list[int], out_ids: list[int], nret: int,
                 retries: int, retry_exc: Any, name: str, holds: list[int],
                 actor: int | None = None, method: str | None = None) -> None:
        self.tid = tid
        self.kind = kind          # "task", "call" or "create"
        self.key = key            # function key (task) / class key (create)
        self.args = args          # args payload
        self.dep_pos = dep_pos    # positions of top-level ref arguments
        self.dep_ids = dep_ids    # their object ids
        self.out_ids = out_ids
        self.nret = nret
        self.retries = retries
        self.retry_exc = retry_exc
        self.name = name
        self.holds = holds        # ids this task keeps alive until it ends
        self.ndeps = 0
        self.state = "new"
        self.proc: Proc | None = None  # the process it was sent to
        self.actor = actor
        self.method = method
        self.cancelled = False
        self.force = False
        self.submitter: Proc | None = None  # the worker whose code submitted it
        self.parent: int | None = None  # the task (in a worker) that submitted this one

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name} {self.tid:#x} {self.state}>"


def prep_args(args: tuple[Any, ...], kwargs: dict[str, Any], shm_dir: str | None,
              name: str) -> tuple[Payload, list[int | str], list[int], list[int]]:
    """Serialize call arguments, replacing top-level refs by placeholders.

    Returns ``(payload, dep_pos, dep_ids, holds)``; ``holds`` are the ids (top-level and
    nested refs) the task must keep alive.
    """
    dep_pos: list[int | str] = []
    dep_ids: list[int] = []
    if any(type(a) is ObjectRef for a in args):
        values = list(args)
        for i, a in enumerate(values):
            if type(a) is ObjectRef:
                dep_pos.append(i)
                dep_ids.append(a._id)
                values[i] = None
        args = tuple(values)
    if kwargs and any(type(v) is ObjectRef for v in kwargs.values()):
        kwargs = dict(kwargs)
        for k, v in kwargs.items():
            if type(v) is ObjectRef:
                dep_pos.append(k)
                dep_ids.append(v._id)
                kwargs[k] = None
    data, contained = ser.dumps_args(args, kwargs)
    if len(data) < ser.INLINE_MAX:
        payload: Payload = ("i", data, None, contained)
    else:
        payload = ser.dumps_value((args, kwargs), shm_dir, name, what="argument")
        contained = payload[3]
    return payload, dep_pos, dep_ids, dep_ids + list(contained)


def bind_args(payload: Payload, deps: list[tuple[int | str, int, Payload]],
              refetch: Callable[[int], Payload] | None = None
              ) -> tuple[Sequence[Any], dict[str, Any]]:
    """Worker side: rebuild ``(args, kwargs)`` and put dependency values in place.

    ``refetch(oid)`` returns a fresh payload when a shared-memory file vanished because
    the object was spilled to disk after the driver sent it.
    """
    args, kwargs = ser.loads_value(payload)
    if not deps:
        return args, kwargs
    values = list(args)
    for pos, oid, dep in deps:
        try:
            value = ser.loads_value(dep)
        except FileNotFoundError:
            if refetch is None:
                raise
            value = ser.loads_value(refetch(oid))
        if isinstance(pos, int):
            values[pos] = value
        else:
            kwargs[pos] = value
    return values, kwargs
