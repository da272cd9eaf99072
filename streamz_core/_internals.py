"""Every private asyncio, Tornado and import-system internal streamz_core relies on, named once.

None of these is public API, so any Python or Tornado release may change them. Each is
named here once, with the reason no public API does the job, and
``tests/test_internals.py`` checks every one against the installed asyncio and Tornado
(exists, has the expected signature or type, behaves as assumed) and fails with a
message naming the internal and the version. Code elsewhere imports the names below
instead of reaching into asyncio or Tornado itself.

Imports only the standard library, and Tornado only inside the functions that need it:
the actor runtime, which must not load Tornado or the stream graph, may use it too.

Internals named here:

- ``asyncio.events._get_running_loop``: :data:`running_loop`.
- ``tornado.ioloop.IOLoop._ioloop_for_asyncio``: :func:`tornado_ioloop_for`.
- ``BaseAsyncIOLoop.asyncio_loop`` (Tornado; unprefixed but undocumented):
  :func:`asyncio_loop_of`.
- ``BaseEventLoop._scheduled`` (the timer heap), ``_check_closed``, ``_check_thread``,
  ``_check_callback``, ``TimerHandle._scheduled``, ``Handle._source_traceback``:
  :func:`push_timer` and :func:`earliest_timer`.
- The select timeouts of ``BaseEventLoop._run_once`` (a behaviour, not a name):
  :data:`SELECT_TIMEOUT_CONTRACT`.
- ``ModuleSpec._initializing`` (importlib's flag on a module still running its body):
  :func:`module_is_initializing`.
- ``TCPServer._handlers`` and ``TCPServer._sockets`` (Tornado): :func:`tcp_server_listeners`.

One use stays outside: ``runtime/object_ref.py`` calls ``asyncio.events._get_running_loop``
(the same function as :data:`running_loop`) through ``sys.modules``, because the runtime
must not import asyncio, which this module does; ``tests/test_internals.py`` checks it too.
"""
from __future__ import annotations

import asyncio
import asyncio.events
import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tornado.ioloop import IOLoop

__all__ = [
    "SELECT_TIMEOUT_CONTRACT",
    "asyncio_loop_of",
    "earliest_timer",
    "module_is_initializing",
    "push_timer",
    "running_loop",
    "tcp_server_listeners",
    "tornado_ioloop_for",
]

# asyncio.events._get_running_loop(): this thread's running loop, or None. The public
# asyncio.get_running_loop() raises RuntimeError when there is none, and every emit
# asks (is the caller on the graph's loop?): from a plain thread, raising and catching
# costs about ten times this C function's ~30 ns. Listed in asyncio.events.__all__ and
# stable since Python 3.7, but underscored. Bound here once: the same builtin, so
# callers pay no extra call.
running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio.events._get_running_loop


def tornado_ioloop_for(aloop: asyncio.AbstractEventLoop) -> IOLoop | None:
    """The Tornado ``IOLoop`` already wrapping ``aloop``, or None.

    Tornado keeps one ``IOLoop`` per asyncio loop in the private class dict
    ``IOLoop._ioloop_for_asyncio`` and refuses to create a second one. The public
    ``IOLoop.current()`` finds it only from the loop's own thread; ``stream.loop`` is
    read from any thread, so it looks in the map itself.

    Examples
    --------
    >>> import asyncio
    >>> aloop = asyncio.new_event_loop()
    >>> tornado_ioloop_for(aloop) is None
    True
    >>> aloop.close()
    """
    from tornado.ioloop import IOLoop

    mapping: dict[asyncio.AbstractEventLoop, IOLoop] = IOLoop._ioloop_for_asyncio
    return mapping.get(aloop)


def asyncio_loop_of(ioloop: object) -> asyncio.AbstractEventLoop | None:
    """The asyncio loop behind a Tornado ``IOLoop``, or None if ``ioloop`` has none.

    Tornado's ``BaseAsyncIOLoop`` stores it as ``asyncio_loop``: not underscored, but
    not documented either, and there is no public accessor. Duck-typed (no Tornado
    import): Dask's ``client.loop`` and streamz users' ``stream.loop`` are such loops.

    Examples
    --------
    >>> asyncio_loop_of(object()) is None
    True
    """
    inner = getattr(ioloop, "asyncio_loop", None)
    return inner if isinstance(inner, asyncio.AbstractEventLoop) else None


def push_timer(
    loop: asyncio.AbstractEventLoop, timer: asyncio.TimerHandle, callback: Callable[..., object]
) -> None:
    """Schedule ``timer`` (built for ``callback``) on ``loop``, as ``BaseEventLoop.call_at`` does.

    ``call_at`` builds its own ``TimerHandle`` and pushes it on the private heap
    ``loop._scheduled``, ordered by deadline alone. A virtual clock makes deadlines tie
    (every ``call_later(1)`` made at one instant), and ties must fire first-in first-out,
    so :class:`streamz_core.testing.VirtualTimeLoop` pushes its own handle subclass: this
    is the body of ``call_at`` (the same in Python 3.11 to 3.13) with that handle. No
    public hook lets a loop choose its timer handle class.
    """
    base: Any = loop  # the private BaseEventLoop API is not in typeshed
    base._check_closed()
    if loop.get_debug():
        base._check_thread()
        base._check_callback(callback, "call_at")
    handle: Any = timer
    if handle._source_traceback:  # asyncio's debug mode: drop this frame, as call_at does
        del handle._source_traceback[-1]
    heapq.heappush(base._scheduled, timer)
    handle._scheduled = True


def earliest_timer(loop: asyncio.AbstractEventLoop) -> asyncio.TimerHandle | None:
    """The pending timer at the head of ``loop``'s private heap ``_scheduled``, or None.

    A virtual clock jumps to the next deadline when the loop is idle. ``_run_once`` gives
    the selector only the delay to that deadline (capped at one day, a float difference),
    so the exact deadline comes from the heap head's public ``when()``. Cancelled handles
    at the head have been dropped by ``_run_once`` just before it selects.
    """
    scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]  # private, see above
    return scheduled[0] if scheduled else None


# How BaseEventLoop._run_once calls selector.select(timeout), which the virtual clock's
# selector reads as "is the loop idle?": 0 when callbacks are ready, None when no timer
# is pending, else the (positive) delay to the next timer. A behaviour of a private
# method, not a name: tests/test_internals.py watches a real selector to check it.
SELECT_TIMEOUT_CONTRACT = (
    "select(0) when callbacks are ready; select(None) when nothing is ready and no timer "
    "is pending; select(delay > 0) until the next timer otherwise"
)


def module_is_initializing(module: object) -> bool:
    """True while ``module``'s body is still running (it is in ``sys.modules`` already).

    importlib sets ``__spec__._initializing`` for the time a module executes (it is how it
    words "partially initialized module" errors); no public API says whether an import
    is still under way. ``_assembly`` uses it to complete the stream half only from the
    outermost import, when every module it names has finished.
    """
    return getattr(getattr(module, "__spec__", None), "_initializing", False) is True


def tcp_server_listeners(server: object) -> tuple[dict[int, Callable[[], None]], dict[int, Any]]:
    """A Tornado ``TCPServer``'s accept handlers and listening sockets, both keyed by fd.

    ``TCPServer.stop()`` in Tornado 6.6 raises ``KeyError`` (``_handlers.pop(fd)``) when a
    listening socket has no accept handler registered, and then leaves the remaining
    sockets open; freeing the port after that needs the two private maps.
    """
    handlers: dict[int, Callable[[], None]] = getattr(server, "_handlers", {})
    sockets: dict[int, Any] = getattr(server, "_sockets", {})
    return handlers, sockets
