"""pytest fixtures for streamz_core users.

Loaded automatically through the ``pytest11`` entry point of streamz-core, so do not
also list it in ``pytest_plugins``. It provides two fixtures, ``autojump_clock`` and
``mock_clock``, each a fresh :class:`~streamz_core.testing.VirtualTimeLoop` that is
closed after the test, with leftover tasks cancelled.

It also runs ``async def`` test functions, so no pytest-asyncio is needed. An async
test that requests ``autojump_clock`` or ``mock_clock`` (directly or through another
fixture) runs on that loop; any other async test runs on a fresh asyncio loop that is
closed afterwards. Tests that pytest-asyncio, anyio or another plugin runs are left to
them, and those run on that plugin's loop, not on a clock fixture: keep pytest-asyncio
in its default strict mode and leave clock tests unmarked. Fixtures themselves must be
synchronous. Disable the plugin with ``-p no:streamz_core``.

Importing this module imports pytest, asyncio and ``streamz_core.testing.clock`` only
(Python also runs the ``streamz_core`` and ``streamz_core.testing`` package modules).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import cast

import pytest

from streamz_core.testing.clock import VirtualTimeLoop
from streamz_core.testing.waiting import poll_for

__all__ = ["autojump_clock", "mock_clock", "background_clock"]

_CLOCKS = ("autojump_clock", "mock_clock")


@pytest.fixture
def autojump_clock() -> Iterator[VirtualTimeLoop]:
    """Yield a ``VirtualTimeLoop`` whose clock jumps to the next timer when idle.

    An ``async def`` test requesting it runs on it; a sync test can drive it with
    ``run_until_complete`` or run it on a background thread.

    Examples
    --------
    In a test module::

        async def test_sleep_is_instant(autojump_clock):
            await asyncio.sleep(3600)
            assert autojump_clock.time() == 3600.0

    >>> import asyncio
    >>> loop = getfixture("autojump_clock")
    >>> loop.run_until_complete(asyncio.sleep(3600))
    >>> loop.time(), loop.steps
    (3600.0, [3600.0])
    """
    loop = VirtualTimeLoop(autojump=True)
    try:
        yield loop
    finally:
        _close_loop(loop)


@pytest.fixture
def background_clock() -> Iterator[VirtualTimeLoop]:
    """Run the shared background loop thread on an autojumping ``VirtualTimeLoop``.

    For the background-thread mode (``Stream(asynchronous=False)``, blocking ``emit``):
    every graph that uses the background loop during the test runs on this loop.

    Examples
    --------
    In a test module::

        def test_rate_limit_in_thread_mode(background_clock):
            source = Stream(asynchronous=False)
            times = []
            source.rate_limit(1).sink(lambda x: times.append(background_clock.time()))
            for x in range(3):
                source.emit(x)
            assert times == [0.0, 1.0, 2.0]
    """
    from streamz_core.loop import LoopRunner  # imported here to keep the plugin light

    runner = LoopRunner(loop_factory=VirtualTimeLoop)
    with runner, runner.as_default():
        loop = runner.loop
        assert isinstance(loop, VirtualTimeLoop)
        yield loop


@pytest.fixture
def mock_clock() -> Iterator[VirtualTimeLoop]:
    """Yield a ``VirtualTimeLoop`` whose clock moves only through ``advance()``.

    Examples
    --------
    In a test module::

        async def test_advance_fires_due_timers(mock_clock):
            fired = []
            mock_clock.call_later(5, fired.append, 5)
            mock_clock.advance(5)
            await mock_clock.wait_idle()
            assert fired == [5]

    >>> loop = getfixture("mock_clock")
    >>> _ = loop.call_later(5, print, "fired")
    >>> loop.advance(5)
    >>> loop.run_until_complete(loop.wait_idle())
    fired
    """
    loop = VirtualTimeLoop(autojump=False)
    try:
        yield loop
    finally:
        _close_loop(loop)


@pytest.hookimpl
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` test on its clock fixture's loop or on a fresh loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None  # sync, or already wrapped by pytest-asyncio / pytest-trio
    funcargs = pyfuncitem.funcargs
    clocks = [name for name in _CLOCKS if name in funcargs]
    if len(clocks) > 1:
        pytest.fail(
            f"{pyfuncitem.nodeid} requests both autojump_clock and mock_clock, but an "
            "async test runs on one loop; request only one of them",
            pytrace=False,
        )
    loop = cast(VirtualTimeLoop, funcargs[clocks[0]]) if clocks else asyncio.new_event_loop()
    # pytest's own pytest_pyfunc_call reads the private _fixtureinfo the same way.
    testargs = {arg: funcargs[arg] for arg in pyfuncitem._fixtureinfo.argnames}
    try:
        loop.run_until_complete(pyfuncitem.obj(**testargs))
    finally:
        if not clocks:
            _close_loop(loop)
    return True


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Stop ``loop`` if a thread still runs it, cancel leftover tasks, close it."""
    if loop.is_closed():
        return
    if loop.is_running():  # left running on a background thread by the test
        loop.call_soon_threadsafe(loop.stop)
        try:
            poll_for(lambda: not loop.is_running(), timeout=5, period=0.001)
        except TimeoutError:
            raise RuntimeError(
                f"{loop!r} is still running on another thread after the test; stop it with "
                "loop.call_soon_threadsafe(loop.stop) and join the thread before the test ends"
            ) from None
    try:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
