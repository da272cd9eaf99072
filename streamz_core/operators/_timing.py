"""Timer helpers for the time-based and flow nodes (the loop is their only clock)."""
from __future__ import annotations

import asyncio
import weakref
from typing import Any


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> asyncio.Future[None]:
    """A future done at loop time ``when``: an absolute deadline, so periods never drift."""
    fut = loop.create_future()
    handle = loop.call_at(when, _wake, fut)
    fut.add_done_callback(lambda f: handle.cancel() if f.cancelled() else None)
    return fut


def call_at_weak(loop: asyncio.AbstractEventLoop, when: float, node: Any, method: str) -> asyncio.TimerHandle:
    """Call ``node.<method>()`` at ``when`` unless the node has been collected by then.

    Timers must not keep a node alive: a window nobody references should vanish.
    """
    ref = weakref.ref(node)

    def fire() -> None:
        target = ref()
        if target is not None:
            getattr(target, method)()

    return loop.call_at(when, fire)
