"""Introspection: where the calling code runs, and what the runtime is doing.

``runtime_context()`` works in the driver, in tasks and in actors; ``statistics()`` gives a
snapshot of the driver's queues and object store (driver only).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from . import _context

__all__ = ["RuntimeContext", "runtime_context", "RuntimeStatistics", "statistics"]


class RuntimeContext(NamedTuple):
    """Where the calling code runs; returned by :func:`runtime_context`.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> ctx = rt.runtime_context()
    >>> ctx.is_driver, ctx.task_id, ctx.is_canceled()
    (True, None, False)
    """

    is_driver: bool
    worker_index: int
    pid: int
    task_id: int | None
    actor_id: int | None
    is_canceled: Callable[[], bool]


def runtime_context() -> RuntimeContext:
    """Describe the calling process and task; ``is_canceled()`` polls cancellation.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> rt.runtime_context().is_driver
    True
    """
    core = _context.core()
    worker = _context.as_worker(core)
    if worker is None:
        return RuntimeContext(True, 0, os.getpid(), None, None, lambda: False)
    from .worker.common import current_task

    tid = current_task.get()
    host = worker.host
    cancelled = host.cancelled if host is not None else worker.cancelled
    return RuntimeContext(False, worker.index, os.getpid(), tid,
                          host.aid if host is not None else None,
                          lambda: tid in cancelled)


class RuntimeStatistics(NamedTuple):
    """A snapshot of the driver's queues and store; returned by :func:`statistics`.

    ``worker_crashes`` counts the worker and actor processes that died unexpectedly
    (not retired, killed with ``rt.kill``, ended by ``exit_actor`` or by a forced
    cancel) since ``rt.init``.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> stats = rt.statistics()
    >>> stats.workers >= 1, stats.pending_tasks >= 0
    (True, True)
    """

    workers: int
    blocked_workers: int
    actors: int
    pending_tasks: int
    running_tasks: int
    objects: int
    store_bytes: int
    spilled_objects: int
    worker_crashes: int


def statistics() -> RuntimeStatistics:
    """Return counts of workers, actors, queued and running tasks, objects and bytes.

    Only the driver has these figures; the numbers are a snapshot taken without
    stopping the runtime.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> isinstance(rt.statistics().objects, int)
    True
    """
    driver = _context.as_driver(_context.core())
    if driver is None:
        raise RuntimeError("rt.statistics() is only available in the driver process; "
                           "call it outside tasks and actors")
    return driver.statistics()
