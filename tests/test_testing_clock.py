"""Tests for streamz_core.testing.clock and the pytest plugin's fixtures and async runner."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from tornado import gen
from tornado.ioloop import IOLoop

from streamz_core.testing import VirtualTimeLoop

pytest_plugins = ["pytester"]

WALL_LIMIT = 1.0  # seconds of real time any virtual-time test may take


@pytest.fixture
def threaded_clock() -> Iterator[VirtualTimeLoop]:
    """An autojump loop running on a background thread."""
    loop = VirtualTimeLoop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def threaded_mock_clock() -> Iterator[VirtualTimeLoop]:
    """A manual loop running on a background thread."""
    loop = VirtualTimeLoop(autojump=False)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


# --- the clock -------------------------------------------------------------------


def test_virtual_time_loop_starts_at_zero(autojump_clock: VirtualTimeLoop) -> None:
    assert autojump_clock.time() == 0.0
    assert autojump_clock.steps == []
    assert autojump_clock.autojump is True


async def test_sleep_hour_finishes_instantly(autojump_clock: VirtualTimeLoop) -> None:
    start = time.perf_counter()
    await asyncio.sleep(3600)
    assert time.perf_counter() - start < WALL_LIMIT
    assert autojump_clock.time() == 3600.0
    assert autojump_clock.steps == [3600.0]


async def test_sleep_longer_than_a_day_is_one_step(autojump_clock: VirtualTimeLoop) -> None:
    # asyncio caps a select timeout at one day; the jump lands on the deadline anyway
    await asyncio.sleep(10 * 86400)
    assert autojump_clock.time() == 864000.0
    assert autojump_clock.steps == [864000.0]


async def test_timers_fire_in_deadline_order(autojump_clock: VirtualTimeLoop) -> None:
    loop = autojump_clock
    fired: list[tuple[str, float]] = []

    def record(name: str) -> None:
        fired.append((name, loop.time()))

    for name, delay in [("c", 3), ("a", 1), ("b", 2)]:
        loop.call_later(delay, record, name)
    await asyncio.sleep(4)
    assert fired == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert loop.steps == [1.0, 1.0, 1.0, 1.0]


async def test_call_later_same_deadline_keeps_scheduling_order(
    autojump_clock: VirtualTimeLoop,
) -> None:
    fired: list[int] = []
    for i in range(5):
        autojump_clock.call_later(2, fired.append, i)
    await asyncio.sleep(2)
    assert fired == [0, 1, 2, 3, 4]
    assert autojump_clock.steps == [2.0]


async def test_call_at_lands_exactly_on_deadline(autojump_clock: VirtualTimeLoop) -> None:
    loop = autojump_clock
    await asyncio.sleep(0.1)
    seen: list[float] = []
    loop.call_at(0.3, lambda: seen.append(loop.time()))
    await asyncio.sleep(1)
    assert seen == [0.3]


def test_call_at_checks_thread_in_debug_mode(autojump_clock: VirtualTimeLoop) -> None:
    autojump_clock.set_debug(True)
    fired: list[float] = []
    autojump_clock.call_later(1, lambda: fired.append(autojump_clock.time()))
    autojump_clock.run_until_complete(asyncio.sleep(2))
    assert fired == [1.0]
    running = threading.Event()
    thread = threading.Thread(target=autojump_clock.run_forever)
    thread.start()
    try:
        autojump_clock.call_soon_threadsafe(running.set)
        assert running.wait(5)
        with pytest.raises(RuntimeError, match="thread"):
            autojump_clock.call_later(1, lambda: None)  # not from the loop's thread
    finally:
        autojump_clock.call_soon_threadsafe(autojump_clock.stop)
        thread.join(5)


async def test_cancelled_timer_is_skipped(autojump_clock: VirtualTimeLoop) -> None:
    handle = autojump_clock.call_later(5, pytest.fail, "cancelled timer fired")
    handle.cancel()
    await asyncio.sleep(10)
    assert autojump_clock.steps == [10.0]


async def test_wait_for_timeout_follows_virtual_time(autojump_clock: VirtualTimeLoop) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), timeout=30)
    assert autojump_clock.time() == 30.0


async def test_concurrent_sleeps_record_steps(autojump_clock: VirtualTimeLoop) -> None:
    done: list[float] = []

    async def nap(delay: float) -> None:
        await asyncio.sleep(delay)
        done.append(autojump_clock.time())

    await asyncio.gather(nap(5), nap(1), nap(3), nap(5))
    assert done == [1.0, 3.0, 5.0, 5.0]
    assert autojump_clock.steps == [1.0, 2.0, 2.0]


def test_virtual_time_loop_runs_sync(autojump_clock: VirtualTimeLoop) -> None:
    autojump_clock.run_until_complete(asyncio.sleep(7))
    autojump_clock.run_until_complete(asyncio.sleep(3))
    assert autojump_clock.time() == 10.0
    assert autojump_clock.steps == [7.0, 3.0]


def test_virtual_time_loop_rejects_non_bool_autojump() -> None:
    with pytest.raises(TypeError, match=r"autojump='yes'.*True or False.*autojump=False"):
        VirtualTimeLoop(autojump="yes")  # type: ignore[arg-type]


def test_autojump_can_be_switched_off_and_on() -> None:
    loop = VirtualTimeLoop(autojump=False)
    try:
        loop.autojump = True
        loop.run_until_complete(asyncio.sleep(2))
        assert loop.time() == 2.0
        with pytest.raises(TypeError, match="autojump=1"):
            loop.autojump = 1  # type: ignore[assignment]
    finally:
        loop.close()


# --- manual mode -------------------------------------------------------------------


async def test_advance_fires_exactly_the_due_timers(mock_clock: VirtualTimeLoop) -> None:
    fired: list[int] = []
    for delay in (1, 3, 3, 4, 10):
        mock_clock.call_later(delay, fired.append, delay)
    mock_clock.advance(3)
    await mock_clock.wait_idle()
    assert fired == [1, 3, 3]
    mock_clock.advance(0.5)
    await mock_clock.wait_idle()
    assert fired == [1, 3, 3]
    mock_clock.advance(timedelta(seconds=0.5))
    await mock_clock.wait_idle()
    assert fired == [1, 3, 3, 4]
    assert mock_clock.time() == 4.0
    assert mock_clock.steps == [3.0, 0.5, 0.5]


async def test_mock_clock_never_moves_on_its_own(mock_clock: VirtualTimeLoop) -> None:
    task = asyncio.ensure_future(asyncio.sleep(1))
    for _ in range(10):
        await mock_clock.wait_idle()
    assert not task.done()
    assert mock_clock.time() == 0.0
    mock_clock.advance(1)
    await task
    assert mock_clock.steps == [1.0]


def test_advance_zero_is_not_recorded(mock_clock: VirtualTimeLoop) -> None:
    mock_clock.advance(0)
    assert mock_clock.time() == 0.0
    assert mock_clock.steps == []


def test_advance_in_autojump_mode_adds_a_step(autojump_clock: VirtualTimeLoop) -> None:
    autojump_clock.advance(2)
    autojump_clock.run_until_complete(asyncio.sleep(3))
    assert autojump_clock.time() == 5.0
    assert autojump_clock.steps == [2.0, 3.0]


@pytest.mark.parametrize(
    "seconds, error, shown",
    [
        (-1, ValueError, "-1.0"),
        (math.nan, ValueError, "nan"),
        (math.inf, ValueError, "inf"),
        ("1", TypeError, "'1'"),
        (True, TypeError, "True"),
    ],
    ids=["negative", "nan", "inf", "string", "bool"],
)
def test_advance_rejects_bad_seconds(
    mock_clock: VirtualTimeLoop, seconds: object, error: type[Exception], shown: str
) -> None:
    with pytest.raises(error, match=r"seconds must .*e\.g\. advance\(1\.5\)") as info:
        mock_clock.advance(seconds)  # type: ignore[arg-type]
    assert f"VirtualTimeLoop.advance(seconds={shown}):" in str(info.value)
    assert mock_clock.time() == 0.0


async def test_wait_idle_returns_before_autojump(autojump_clock: VirtualTimeLoop) -> None:
    task = asyncio.ensure_future(asyncio.sleep(10))
    await autojump_clock.wait_idle()
    assert autojump_clock.time() == 0.0
    assert not task.done()
    await task
    assert autojump_clock.steps == [10.0]


async def test_wait_idle_lets_woken_tasks_run(mock_clock: VirtualTimeLoop) -> None:
    order: list[str] = []

    async def sleeper(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        order.append(name)
        await asyncio.sleep(0)
        order.append(name + " again")

    tasks = [asyncio.ensure_future(sleeper(n, d)) for n, d in [("b", 2), ("a", 1)]]
    await mock_clock.wait_idle()
    mock_clock.advance(2)
    await mock_clock.wait_idle()
    assert order == ["a", "b", "a again", "b again"]
    await asyncio.gather(*tasks)


async def test_wait_idle_rejects_another_loop(mock_clock: VirtualTimeLoop) -> None:
    other = VirtualTimeLoop()
    try:
        with pytest.raises(
            RuntimeError, match="await it from a coroutine running on the VirtualTimeLoop"
        ):
            await other.wait_idle()
    finally:
        other.close()


# --- real IO and other threads -------------------------------------------------------


async def test_socket_data_is_delivered_before_pending_timer(
    autojump_clock: VirtualTimeLoop,
) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        autojump_clock.call_later(100, lambda: None)
        a.send(b"ping")
        data = await asyncio.wait_for(autojump_clock.sock_recv(b, 4), timeout=50)
        assert data == b"ping"
        assert autojump_clock.time() == 0.0
        assert autojump_clock.steps == []
    finally:
        a.close()
        b.close()


async def test_socket_data_from_thread_is_delivered_without_timers(
    autojump_clock: VirtualTimeLoop,
) -> None:
    a, b = socket.socketpair()
    b.setblocking(False)
    try:
        sender = threading.Timer(0.005, a.send, [b"late"])
        sender.start()
        data = await autojump_clock.sock_recv(b, 4)  # blocks on the real selector
        sender.join()
        assert data == b"late"
        assert autojump_clock.time() == 0.0
    finally:
        a.close()
        b.close()


async def test_reader_callback_runs_between_timer_jumps(autojump_clock: VirtualTimeLoop) -> None:
    loop = autojump_clock
    a, b = socket.socketpair()
    b.setblocking(False)
    received: list[tuple[bytes, float]] = []
    loop.add_reader(b, lambda: received.append((b.recv(16), loop.time())))
    try:
        loop.call_later(1, a.send, b"one")
        loop.call_later(2, a.send, b"two")
        await asyncio.sleep(5)
        assert received == [(b"one", 1.0), (b"two", 2.0)]
    finally:
        loop.remove_reader(b)
        a.close()
        b.close()


def test_background_thread_sleep_completes_instantly(threaded_clock: VirtualTimeLoop) -> None:
    start = time.perf_counter()
    future = asyncio.run_coroutine_threadsafe(asyncio.sleep(10, result="done"), threaded_clock)
    assert future.result(timeout=5) == "done"
    assert time.perf_counter() - start < WALL_LIMIT
    assert threaded_clock.time() == 10.0
    assert threaded_clock.steps == [10.0]


def test_background_thread_call_soon_threadsafe_wakes_idle_loop(
    threaded_clock: VirtualTimeLoop,
) -> None:
    seen = threading.Event()
    times: list[float] = []
    time.sleep(0.002)  # let the loop block in select with no timer pending

    def record() -> None:
        times.append(threaded_clock.time())
        seen.set()

    threaded_clock.call_soon_threadsafe(record)
    assert seen.wait(5)
    assert times == [0.0]


def test_background_thread_timers_fire_in_order(threaded_clock: VirtualTimeLoop) -> None:
    async def record() -> list[float]:
        fired: list[float] = []
        for delay in (3, 1, 2):
            threaded_clock.call_later(delay, lambda: fired.append(threaded_clock.time()))
        await asyncio.sleep(3)
        return fired

    fired = asyncio.run_coroutine_threadsafe(record(), threaded_clock).result(timeout=5)
    assert fired == [1.0, 2.0, 3.0]


def test_advance_from_other_thread_wakes_loop(threaded_mock_clock: VirtualTimeLoop) -> None:
    loop = threaded_mock_clock
    scheduled = threading.Event()

    async def wake_at_5() -> str:
        woke: asyncio.Future[str] = loop.create_future()
        loop.call_at(5, woke.set_result, "woke")
        scheduled.set()  # advancing earlier would push a relative sleep further out
        return await woke

    future = asyncio.run_coroutine_threadsafe(wake_at_5(), loop)
    assert scheduled.wait(5)
    loop.advance(4)
    time.sleep(0.005)  # give the loop a chance to fire the timer too early
    assert not future.done()
    loop.advance(1)
    assert future.result(timeout=5) == "woke"
    assert loop.time() == 5.0
    assert loop.steps == [4.0, 1.0]


# --- Tornado -------------------------------------------------------------------------


async def test_tornado_ioloop_current_wraps_virtual_loop(autojump_clock: VirtualTimeLoop) -> None:
    ioloop = IOLoop.current()
    assert ioloop.asyncio_loop is autojump_clock  # type: ignore[attr-defined]
    await asyncio.sleep(2)
    assert ioloop.time() == 2.0


async def test_tornado_gen_sleep_follows_virtual_time(autojump_clock: VirtualTimeLoop) -> None:
    start = time.perf_counter()
    await gen.sleep(3600)
    assert time.perf_counter() - start < WALL_LIMIT
    assert autojump_clock.time() == 3600.0
    assert autojump_clock.steps == [3600.0]


async def test_tornado_call_later_follows_virtual_time(autojump_clock: VirtualTimeLoop) -> None:
    loop = autojump_clock
    fired: list[tuple[str, float]] = []
    await gen.sleep(3600)
    IOLoop.current().call_later(10, lambda: fired.append(("tornado", loop.time())))
    loop.call_later(5, lambda: fired.append(("asyncio", loop.time())))
    await asyncio.sleep(20)
    assert fired == [("asyncio", 3605.0), ("tornado", 3610.0)]


def test_tornado_follows_virtual_time_on_background_thread(
    threaded_clock: VirtualTimeLoop,
) -> None:
    async def nap() -> float:
        await gen.sleep(30)
        return IOLoop.current().time()

    assert asyncio.run_coroutine_threadsafe(nap(), threaded_clock).result(timeout=5) == 30.0


def test_tornado_ioloop_is_attached_at_construction(mock_clock: VirtualTimeLoop) -> None:
    async def current() -> IOLoop:
        return IOLoop.current()

    ioloop = mock_clock.run_until_complete(current())
    assert mock_clock.run_until_complete(current()) is ioloop
    mock_clock.advance(5)
    assert ioloop.time() == 5.0


# --- the pytest plugin ---------------------------------------------------------------


async def test_plugin_runs_async_test_on_autojump_clock(autojump_clock: VirtualTimeLoop) -> None:
    assert asyncio.get_running_loop() is autojump_clock


async def test_plugin_runs_async_test_on_mock_clock(mock_clock: VirtualTimeLoop) -> None:
    assert asyncio.get_running_loop() is mock_clock


async def test_plugin_runs_plain_async_test_on_fresh_loop() -> None:
    loop = asyncio.get_running_loop()
    assert not isinstance(loop, VirtualTimeLoop)
    assert loop.time() > 0  # the real monotonic clock


@pytest.fixture
def runner_clock(autojump_clock: VirtualTimeLoop) -> VirtualTimeLoop:
    return autojump_clock


async def test_plugin_uses_clock_requested_through_fixture(runner_clock: VirtualTimeLoop) -> None:
    assert asyncio.get_running_loop() is runner_clock


def test_plugin_closes_loops_and_cancels_leftover_tasks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import asyncio
        state = {}

        async def forever(name):
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                state[name] = "cancelled"
                raise

        async def test_plain_leaves_task():
            state["plain"] = asyncio.get_running_loop()
            asyncio.ensure_future(forever("plain-task"))

        async def test_clock_leaves_task(autojump_clock):
            state["clock"] = autojump_clock
            asyncio.ensure_future(forever("clock-task"))

        def test_sync_fixture_use(mock_clock):
            state["mock"] = mock_clock
            mock_clock.run_until_complete(asyncio.sleep(0))

        def test_check():
            assert state["plain-task"] == state["clock-task"] == "cancelled"
            assert state["plain"].is_closed()
            assert state["clock"].is_closed()
            assert state["mock"].is_closed()
        """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_plugin_rejects_both_clocks_in_async_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        async def test_both(autojump_clock, mock_clock):
            pass
        """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*requests both autojump_clock and mock_clock*request only one*"])


def test_plugin_stops_loop_left_running_on_thread(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import threading
        state = {}

        def test_leaves_loop_running(autojump_clock):
            state["loop"] = autojump_clock
            threading.Thread(target=autojump_clock.run_forever, daemon=True).start()
            while not autojump_clock.is_running():
                pass

        def test_check():
            assert state["loop"].is_closed()
        """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_plugin_reports_async_test_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import asyncio

        async def test_fails(autojump_clock):
            await asyncio.sleep(5)
            assert autojump_clock.time() == 4.0
        """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 5.0 == 4.0*"])
