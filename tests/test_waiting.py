"""Tests of streamz_core.testing.waiting: poll_for and async_poll_for."""
from __future__ import annotations

import asyncio
import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from streamz_core import Stream
from streamz_core.testing import VirtualTimeLoop, async_poll_for, poll_for


def test_poll_for_returns_the_first_true_value() -> None:
    calls: list[int] = []

    def pred() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert poll_for(pred, timeout=5, period=0.001) == 3
    assert len(calls) == 3


def test_poll_for_true_at_once_does_not_sleep() -> None:
    start = time.monotonic()
    assert poll_for(lambda: "yes", period=5) == "yes"
    assert time.monotonic() - start < 1


def test_poll_for_sees_work_of_another_thread() -> None:
    out: list[str] = []
    t = threading.Timer(0.02, out.append, ["done"])
    t.start()
    assert poll_for(lambda: out, timeout=5) == ["done"]
    t.join()


def test_poll_for_sees_results_of_a_pipeline_on_a_thread_pool() -> None:
    source = Stream()
    L: list[int] = []
    sink = source.scatter(backend="threads").map(abs).buffer(8).gather().sink(L.append)
    for x in range(-5, 0):
        source.emit(x)
    poll_for(lambda: len(L) == 5, timeout=30)
    assert L == [5, 4, 3, 2, 1]
    sink.destroy()


def test_poll_for_timeout_names_the_message_and_last_value() -> None:
    with pytest.raises(TimeoutError) as info:
        poll_for(list, timeout=0.02, message="three results")
    assert str(info.value) == (
        "poll_for: timed out after 0.02 s waiting for three results "
        "(the predicate last returned [])"
    )


def test_poll_for_timeout_names_a_lambda_by_file_and_line() -> None:
    with pytest.raises(TimeoutError, match=r"test_waiting\.py:\d+") as info:
        poll_for(lambda: False, timeout=0)
    assert "<lambda>" in str(info.value)


def test_poll_for_timeout_names_a_function() -> None:
    def results_arrived() -> bool:
        return False

    with pytest.raises(TimeoutError, match="results_arrived"):
        poll_for(results_arrived, timeout=timedelta(milliseconds=10))


def test_poll_for_timeout_is_bounded_in_real_time() -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        poll_for(lambda: False, timeout=0.05, period=1)
    # the last sleep is cut to the deadline rather than a whole period
    assert time.monotonic() - start < 0.5


def test_poll_for_lets_predicate_errors_through() -> None:
    def broken() -> bool:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        poll_for(broken)


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"timeout": -1}, ValueError, "timeout must be finite and >= 0"),
        ({"timeout": float("nan")}, ValueError, "timeout must be finite"),
        ({"timeout": "5s"}, TypeError, "timeout must be a number of seconds"),
        ({"period": 0}, ValueError, "period must be > 0"),
        ({"period": True}, TypeError, "period must be a number of seconds"),
    ],
    ids=["negative-timeout", "nan-timeout", "string-timeout", "zero-period", "bool-period"],
)
def test_poll_for_rejects_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=re.escape(text)):
        poll_for(lambda: True, **kwargs)


def test_poll_for_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="predicate must be a callable"):
        poll_for(True)  # type: ignore[arg-type]


async def test_poll_for_refuses_to_block_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="async_poll_for"):
        poll_for(lambda: True)


async def test_async_poll_for_lets_the_loop_run() -> None:
    out: list[int] = []
    asyncio.get_running_loop().call_soon(out.append, 1)
    assert await async_poll_for(lambda: out, timeout=5) == [1]


async def test_async_poll_for_advances_virtual_time(autojump_clock: VirtualTimeLoop) -> None:
    source = Stream(asynchronous=True)
    L = source.delay(120).sink_to_list()
    await source.emit("x")
    start = time.monotonic()
    await async_poll_for(lambda: L, timeout=600, period=10)
    assert L == ["x"]
    assert autojump_clock.time() == 120.0
    assert autojump_clock.steps == [10.0] * 12
    assert time.monotonic() - start < 5


async def test_async_poll_for_times_out_in_virtual_time(autojump_clock: VirtualTimeLoop) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        await async_poll_for(lambda: 0, timeout=3600, period=60, message="a miracle")
    assert autojump_clock.time() == 3600.0
    assert time.monotonic() - start < 5
    assert str(info.value) == (
        "async_poll_for: timed out after 3600 s waiting for a miracle "
        "(the predicate last returned 0)"
    )


async def test_async_poll_for_moves_a_manual_clock(mock_clock: VirtualTimeLoop) -> None:
    # a manual clock moves only through advance(): the wait advances it one period per
    # poll and lets the due timers run before polling again
    source = Stream(asynchronous=True)
    L = source.delay(1).sink_to_list()
    await source.emit("x")
    await async_poll_for(lambda: L, timeout=10, period=0.25)
    assert L == ["x"]
    assert mock_clock.time() == 1.0
    assert mock_clock.steps == [0.25] * 4


async def test_async_poll_for_times_out_on_a_manual_clock(mock_clock: VirtualTimeLoop) -> None:
    with pytest.raises(TimeoutError, match="after 2 s"):
        await async_poll_for(lambda: False, timeout=2, period=0.5)
    assert mock_clock.time() == 2.0


async def test_async_poll_for_true_at_once_leaves_a_manual_clock_alone(mock_clock: VirtualTimeLoop) -> None:
    assert await async_poll_for(lambda: 1) == 1
    assert mock_clock.steps == []


def test_async_poll_for_validates_before_waiting() -> None:
    loop = VirtualTimeLoop()
    try:
        with pytest.raises(ValueError, match="period must be > 0"):
            loop.run_until_complete(async_poll_for(lambda: True, period=0))
    finally:
        loop.close()


def test_plugin_close_loop_waits_for_a_loop_on_another_thread_to_stop() -> None:
    # the pytest plugin waits with poll_for for a loop a test left running on a thread
    from streamz_core.testing.pytest_plugin import _close_loop

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    poll_for(loop.is_running, timeout=5)
    _close_loop(loop)
    thread.join(5)
    assert loop.is_closed() and not thread.is_alive()
