"""Binding a graph to its loop: which event loop it runs on, and whether callers await.

Both belong to a whole connected graph, not to one node. A new node takes them from its
arguments, else from its upstreams; setting either on one node sets it on every node
connected to it (``Stream._walk``), and a conflict is refused with an error naming both
nodes. ``Stream`` keeps the methods (``_set_loop``, ``_set_asynchronous``, ...) that
nodes and sources call; these functions are their bodies.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._internals import running_loop
from ..loop import as_asyncio_loop, get_background_loop

if TYPE_CHECKING:
    from ..core import Stream

__all__ = [
    "bind_connected",
    "bind_new_node",
    "bind_running_loop",
    "call_on_loop",
    "emit_before_loop_runs",
    "set_asynchronous",
    "set_loop",
]


def bind_new_node(
    node: Stream, stream_type: type[Stream], loop: Any, asynchronous: bool | None, ensure_io_loop: bool
) -> None:
    """Bind a node being built (``Stream.__init__``'s arguments); its upstreams are linked.

    ``stream_type`` is ``Stream``: entries of ``node.upstreams`` that are not nodes
    are skipped. The graph is put on the background loop thread when it is synchronous
    (``asynchronous=False``, or ``ensure_io_loop`` with nothing given); an
    ``asynchronous=True`` graph built outside a loop is bound at its first emit.
    """
    if loop is not None:
        node._set_loop(as_asyncio_loop(loop))
    if asynchronous is not None:
        node._set_asynchronous(asynchronous)
    for up in node.upstreams:
        if isinstance(up, stream_type) and up._aloop is not None and node._aloop is None:
            node._set_loop(up._aloop)
        if isinstance(up, stream_type) and up.asynchronous is not None and node.asynchronous is None:
            node._set_asynchronous(up.asynchronous)
    if ensure_io_loop and node._aloop is None and node.asynchronous is None:
        node._set_asynchronous(False)
    if node._aloop is None and node.asynchronous is not None:
        if node.asynchronous:
            running = running_loop()
            if running is not None:  # else bound at the first emit
                node._set_loop(running)
        else:
            node._set_loop(get_background_loop())


def bind_connected(up: Stream, down: Stream) -> None:
    """``up.connect(down)`` joined two graphs: what either was bound to, both are."""
    if up._aloop is not None:
        down._set_loop(up._aloop)
    elif down._aloop is not None:
        up._set_loop(down._aloop)
    if up.asynchronous is not None:
        down._set_asynchronous(up.asynchronous)
    elif down.asynchronous is not None:
        up._set_asynchronous(down.asynchronous)


def set_loop(node: Stream, aloop: asyncio.AbstractEventLoop) -> None:
    """Put ``node``'s graph on ``aloop``; each node newly bound gets ``_on_loop()``."""
    for other in node._walk():
        current = other._aloop
        if current is None:
            other._aloop = aloop
            other._done = None
            other._on_loop()
        elif current is not aloop:
            raise ValueError(
                f"Two different event loops active: {other!r} runs on {current!r} and "
                f"{node!r} on {aloop!r}; build each graph on one loop"
            )


def set_asynchronous(node: Stream, asynchronous: bool) -> None:
    """Mark ``node``'s graph as awaited by its callers (True) or blocking (False)."""
    for other in node._walk():
        if other.asynchronous is None:
            other.asynchronous = asynchronous
        elif other.asynchronous != asynchronous:
            raise ValueError(
                f"Stream has both asynchronous and synchronous elements: {other!r} has "
                f"asynchronous={other.asynchronous!r}, {node!r} asks for {asynchronous!r}; "
                "pass the same asynchronous= to every source"
            )


def bind_running_loop(node: Stream) -> asyncio.AbstractEventLoop:
    """Bind an ``asynchronous=True`` graph, built outside a loop, to the caller's.

    Outside a running loop that is this thread's current loop (``IOLoop.current()``),
    as in streamz: a script may emit its first elements and then run that loop
    (``IOLoop.current().start()``); see :func:`emit_before_loop_runs`.
    """
    aloop = running_loop()
    if aloop is None:
        from tornado.ioloop import IOLoop

        aloop = as_asyncio_loop(IOLoop.current())
    node._set_loop(aloop)
    return aloop


def emit_before_loop_runs(node: Stream, aloop: asyncio.AbstractEventLoop, x: Any, metadata: Any) -> Any:
    """``emit`` on an ``asynchronous=True`` graph whose loop does not run (yet): run the
    graph in the caller, as streamz did; what it schedules runs once the loop does.

    Returns an awaitable for the downstream backpressure, or None if there is none.
    """
    result = node._emit(x, metadata)
    if not result:
        return None
    return asyncio.gather(*(r if asyncio.isfuture(r) else asyncio.ensure_future(r, loop=aloop)
                            for r in result))


def call_on_loop(node: Stream, fn: Callable[[], Any]) -> None:
    """Run ``fn`` on ``node``'s loop thread (soon, if already there)."""
    aloop = node._aloop
    assert aloop is not None
    if running_loop() is aloop:
        aloop.call_soon(fn)
    else:
        aloop.call_soon_threadsafe(fn)
