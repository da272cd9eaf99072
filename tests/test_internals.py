"""The private asyncio and Tornado internals of streamz_core._internals, checked one by one.

Each test names the internal and the installed version in its failure message, so that a
Python or Tornado upgrade that changes one says at once what broke and where the code
that relies on it is (streamz_core/_internals.py).
"""
from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.events
import inspect
import selectors
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import tornado
from tornado.ioloop import IOLoop
from tornado.platform.asyncio import AsyncIOLoop

from streamz_core import _internals

PYTHON = f"Python {sys.version.split()[0]}"
TORNADO = f"Tornado {tornado.version}"


def broke(internal: str, version: str, what: str) -> str:
    return (f"{internal} changed in {version}: {what}. streamz_core/_internals.py relies "
            "on it; adapt the function there that names it (and only that one)")


@pytest.fixture
def aloop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_the_module_loads_neither_tornado_nor_stream_code() -> None:
    # The runtime, which must not load Tornado or the graph, may use it for its own internals.
    code = ("import sys, streamz_core._internals; "
            "print(sorted(m for m in sys.modules if m.startswith(('tornado', 'streamz_core'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "['streamz_core', 'streamz_core._internals']", out


# ------------------------------------------------------- asyncio.events._get_running_loop
def test_get_running_loop_is_the_c_function_and_returns_none_or_the_loop(aloop: asyncio.AbstractEventLoop) -> None:
    name = "asyncio.events._get_running_loop"
    fn = getattr(asyncio.events, "_get_running_loop", None)
    assert callable(fn), broke(name, PYTHON, "it no longer exists")
    assert _internals.running_loop is fn, broke(name, PYTHON, "streamz_core bound another function")
    assert "_get_running_loop" in asyncio.events.__all__, broke(name, PYTHON, "no longer exported")
    assert fn() is None, broke(name, PYTHON, "it no longer returns None outside a running loop")

    async def inside() -> Any:
        return fn()

    assert aloop.run_until_complete(inside()) is aloop, \
        broke(name, PYTHON, "it no longer returns the running loop")


# --------------------------------------------------------- IOLoop._ioloop_for_asyncio
def test_tornado_keeps_one_ioloop_per_asyncio_loop_in_its_map(aloop: asyncio.AbstractEventLoop) -> None:
    name = "tornado.ioloop.IOLoop._ioloop_for_asyncio"
    mapping = getattr(IOLoop, "_ioloop_for_asyncio", None)
    assert hasattr(mapping, "get"), broke(name, TORNADO, f"expected a dict, found {mapping!r}")
    assert _internals.tornado_ioloop_for(aloop) is None
    ioloop = AsyncIOLoop(asyncio_loop=aloop, make_current=False)
    assert _internals.tornado_ioloop_for(aloop) is ioloop, \
        broke(name, TORNADO, "AsyncIOLoop(asyncio_loop=...) no longer registers itself in it")
    with pytest.raises(RuntimeError):  # why as_ioloop must reuse the registered one
        AsyncIOLoop(asyncio_loop=aloop, make_current=False)

    async def current() -> Any:
        return IOLoop.current()

    assert aloop.run_until_complete(current()) is ioloop, \
        broke(name, TORNADO, "IOLoop.current() on the loop no longer finds the registered IOLoop")


# ------------------------------------------------------------ BaseAsyncIOLoop.asyncio_loop
def test_tornado_ioloop_exposes_its_asyncio_loop(aloop: asyncio.AbstractEventLoop) -> None:
    name = "tornado BaseAsyncIOLoop.asyncio_loop"
    ioloop = AsyncIOLoop(asyncio_loop=aloop, make_current=False)
    assert getattr(ioloop, "asyncio_loop", None) is aloop, \
        broke(name, TORNADO, "the attribute is gone or holds something else")
    assert _internals.asyncio_loop_of(ioloop) is aloop
    assert _internals.asyncio_loop_of(aloop) is None  # an asyncio loop is not a wrapper


# ------------------------------------------------------------ the timer heap (call_at)
def test_call_at_uses_only_the_internals_push_timer_mirrors() -> None:
    name = "asyncio.BaseEventLoop.call_at"
    expected = {"TypeError", "_check_closed", "_debug", "_check_thread", "_check_callback",
                "events", "TimerHandle", "_source_traceback", "heapq", "heappush", "_scheduled"}
    code = asyncio.base_events.BaseEventLoop.call_at.__code__
    assert set(code.co_names) == expected, broke(
        name, PYTHON, f"it now uses {sorted(set(code.co_names) ^ expected)} differently; "
        "_internals.push_timer is a copy of its body for VirtualTimeLoop, so review it")
    for method, params in (("_check_closed", ["self"]), ("_check_thread", ["self"]),
                           ("_check_callback", ["self", "callback", "method"])):
        fn = getattr(asyncio.base_events.BaseEventLoop, method, None)
        assert fn is not None, broke(f"BaseEventLoop.{method}", PYTHON, "it no longer exists")
        assert list(inspect.signature(fn).parameters) == params, broke(
            f"BaseEventLoop.{method}", PYTHON, f"signature is now {inspect.signature(fn)}")


def test_timer_heap_holds_timer_handles_in_deadline_order(aloop: asyncio.AbstractEventLoop) -> None:
    name = "BaseEventLoop._scheduled"
    heap = getattr(aloop, "_scheduled", None)
    assert isinstance(heap, list), broke(name, PYTHON, f"expected a list (a heap), found {heap!r}")
    handles = [aloop.call_at(t, lambda: None) for t in (3.0, 1.0, 2.0)]
    assert heap[0] is handles[1], broke(name, PYTHON, "its head is not the earliest timer")
    assert _internals.earliest_timer(aloop) is handles[1]
    assert all(getattr(h, "_scheduled", None) is True for h in handles), \
        broke("TimerHandle._scheduled", PYTHON, "call_at no longer sets it to True")
    for h in handles:
        h.cancel()


def test_a_pushed_timer_fires_and_cancels_like_one_from_call_at(aloop: asyncio.AbstractEventLoop) -> None:
    fired: list[str] = []
    now = aloop.time()
    timer = asyncio.TimerHandle(now + 0.01, fired.append, ("pushed",), aloop, None)
    assert getattr(timer, "_scheduled", None) is False, \
        broke("TimerHandle._scheduled", PYTHON, "a new handle no longer starts unscheduled")
    assert hasattr(timer, "_source_traceback"), \
        broke("Handle._source_traceback", PYTHON, "the attribute is gone")
    _internals.push_timer(aloop, timer, fired.append)
    assert _internals.earliest_timer(aloop) is timer
    cancelled = asyncio.TimerHandle(now + 0.005, fired.append, ("cancelled",), aloop, None)
    _internals.push_timer(aloop, cancelled, fired.append)
    cancelled.cancel()
    aloop.run_until_complete(asyncio.sleep(0.05))
    assert fired == ["pushed"], broke("BaseEventLoop._scheduled", PYTHON,
                                      f"pushed timers ran as {fired}, expected ['pushed']")
    assert _internals.earliest_timer(aloop) is None


def test_push_timer_checks_a_closed_loop_like_call_at() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    timer = asyncio.TimerHandle(1.0, print, (), loop, None)
    with pytest.raises(RuntimeError, match="closed"):
        _internals.push_timer(loop, timer, print)


# ------------------------------------------------------------ _run_once's select timeouts
class _Recording(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def select(self, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        return super().select(0 if timeout is None else min(timeout, 0.001))


def test_run_once_select_timeouts_say_whether_the_loop_is_idle() -> None:
    name = "BaseEventLoop._run_once (its selector.select timeouts)"
    selector = _Recording()
    loop = asyncio.SelectorEventLoop(selector)

    def seen(case: str, ok: bool) -> None:
        assert ok, broke(name, PYTHON, f"{case}: select got {selector.timeouts[:5]}; "
                         f"expected {_internals.SELECT_TIMEOUT_CONTRACT}")

    try:
        selector.timeouts.clear()
        loop.call_soon(loop.stop)
        loop.run_forever()
        seen("a callback ready", selector.timeouts[:1] == [0])

        selector.timeouts.clear()
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
        seen("idle, a timer pending", any(t is not None and 0 < t <= 0.01 for t in selector.timeouts))

        loop.run_until_complete(_idle_then_stop(loop, selector))
        seen("idle, no timer pending", None in selector.timeouts)
    finally:
        loop.close()


async def _idle_then_stop(loop: asyncio.AbstractEventLoop, selector: _Recording) -> None:
    # Wait on a future that another thread resolves: no callback ready, no timer pending.
    fut = loop.create_future()
    selector.timeouts.clear()
    threading.Timer(0.01, loop.call_soon_threadsafe, (fut.set_result, None)).start()
    await fut


def test_importlib_marks_a_module_initializing_while_its_body_runs(tmp_path: Any) -> None:
    (tmp_path / "probe_initializing.py").write_text(
        "import sys\nfrom streamz_core._internals import module_is_initializing\n"
        "DURING = module_is_initializing(sys.modules[__name__])\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import probe_initializing  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("probe_initializing", None)
    assert probe_initializing.DURING is True, (
        f"ModuleSpec._initializing is no longer True while a module runs (Python {sys.version.split()[0]}): "
        "_assembly.complete_stream_api cannot tell the outermost import; see _internals.module_is_initializing"
    )
    assert _internals.module_is_initializing(probe_initializing) is False, (
        f"ModuleSpec._initializing stays True after the import (Python {sys.version.split()[0]})"
    )


def test_tornado_tcp_server_keeps_its_listeners_in_two_maps_keyed_by_fd() -> None:
    from tornado.tcpserver import TCPServer

    async def main() -> None:
        server = TCPServer()
        server.listen(0, "127.0.0.1")
        handlers, sockets = _internals.tcp_server_listeners(server)
        assert set(handlers) == set(sockets) and sockets, (
            f"TCPServer._handlers/_sockets are not fd-keyed maps any more (Tornado {tornado.version}): "
            "sources/_server.py:_stop_server cannot free a port after a failed stop()"
        )
        fd, sock = next(iter(sockets.items()))
        assert sock.fileno() == fd and callable(handlers[fd])
        server.stop()

    asyncio.run(main())


def test_object_ref_asks_asyncio_for_the_running_loop_through_the_same_private_function() -> None:
    from streamz_core.runtime import object_ref

    assert object_ref._running_loop() is None

    async def main() -> None:
        assert object_ref._running_loop() is asyncio.get_running_loop(), (
            f"asyncio.events._get_running_loop changed (Python {sys.version.split()[0]}): "
            "runtime/object_ref.py:_running_loop relies on it"
        )

    asyncio.run(main())
