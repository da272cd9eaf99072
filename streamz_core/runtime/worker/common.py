"""What the task host and the actor host share: the running task, cancellation, results."""
from __future__ import annotations

import contextvars
from typing import Any

from .. import _protocol as P
from .. import _serialization as ser
from .._object_store import discard
from ..exceptions import SerializationError, TaskCancelledError

#: The id of the task or actor call running in this thread or coroutine (None: none).
current_task: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "rt_task", default=None)


class Interrupt(KeyboardInterrupt):
    """Raised in the main thread when the running task is cancelled."""


class ActorExit(BaseException):
    """Raised by ``rt.exit_actor()`` to end the actor process."""


def cancelled(name: str, tid: int, nret: int) -> list[P.Payload]:
    """The result payloads of a task or call that was cancelled."""
    return [ser.system_error(TaskCancelledError(
        f"{name} ({tid:#x}) was cancelled with rt.cancel"))] * nret


def results(shm_dir: str, result: Any, out_ids: list[int], nret: int,
            name: str) -> list[P.Payload]:
    """Serialize a task's return value into ``nret`` payloads."""
    if nret == 1:
        values = [result]
    else:
        try:
            values = list(result)
        except TypeError:
            values = [result]
        if len(values) != nret:
            raise ValueError(
                f"{name} was declared with num_returns={nret!r} but returned "
                f"{len(values)} value(s) ({type(result).__name__}); return a sequence of "
                f"exactly {nret} values or change num_returns")
    payloads: list[P.Payload] = []
    try:
        for v, oid in zip(values, out_ids, strict=True):
            payloads.append(ser.dumps_value(v, shm_dir, f"{oid:x}",
                                            what=f"return value of {name}"))
    except BaseException as exc:
        for p in payloads:  # nobody will read the values written before this one
            discard(p)
        if isinstance(exc, SerializationError):
            return [ser.error_payload(exc)] * nret
        raise  # the caller turns it into the task's error (e.g. ObjectStoreFullError)
    return payloads
