"""The three modes: no loop, in the caller's loop, on a background loop thread."""
from __future__ import annotations

import asyncio
import threading

import pytest
from tornado.ioloop import IOLoop

from streamz_core import LoopRunner, Stream, sync
from streamz_core.loop import as_asyncio_loop, as_ioloop, get_background_loop, parse_interval


def test_emit_without_loop_runs_in_caller_and_returns_none():
    source = Stream()
    seen = []
    source.sink(lambda x: seen.append(threading.get_ident()))
    assert source.emit(1) is None
    assert seen == [threading.get_ident()]
    assert source.loop is None


def test_emit_without_loop_raises_to_caller():
    source = Stream()
    source.map(lambda x: 1 / x).sink(lambda x: None)
    with pytest.raises(ZeroDivisionError):
        source.emit(0)


async def test_in_loop_emit_returns_awaitable_done_without_backpressure():
    source = Stream(asynchronous=True)
    L = source.map(lambda x: x + 1).sink_to_list()
    fut = source.emit(1)
    assert hasattr(fut, "__await__")
    await fut
    assert L == [2]
    assert as_asyncio_loop(source.loop) is asyncio.get_running_loop()


async def test_in_loop_emit_waits_for_backpressure(autojump_clock):
    source = Stream(asynchronous=True)
    done = []

    async def slow(x):
        await asyncio.sleep(5)
        done.append(x)

    source.sink(slow)
    await source.emit(1)
    assert done == [1] and autojump_clock.time() == 5.0


def test_asynchronous_true_built_outside_loop_binds_at_first_emit():
    source = Stream(asynchronous=True)
    L = source.rate_limit(0.001).sink_to_list()

    async def main():
        for x in range(3):
            await source.emit(x)
        return asyncio.get_running_loop()

    loop = asyncio.new_event_loop()
    try:
        ran_on = loop.run_until_complete(main())
    finally:
        loop.close()
    assert L == [0, 1, 2]
    assert as_asyncio_loop(source.loop) is ran_on


def test_asynchronous_true_emit_with_no_loop_running_runs_in_the_caller_as_in_streamz():
    # streamz's Fibonacci examples emit from IOLoop callbacks scheduled before start():
    # the graph binds to this thread's current loop and the element runs at once
    source = Stream(asynchronous=True)
    L = source.map(lambda x: x + 1).sink_to_list()
    assert source.emit(1) is None
    assert L == [2]


def test_background_mode_blocks_and_runs_on_loop_thread(background_clock):
    source = Stream(asynchronous=False)
    threads = []
    times = []
    source.rate_limit(1).sink(lambda x: (threads.append(threading.get_ident()), times.append(background_clock.time())))
    for x in range(3):
        assert source.emit(x) is None
    assert times == [0.0, 1.0, 2.0]
    assert set(threads) != {threading.get_ident()} and len(set(threads)) == 1


def test_background_mode_reraises_in_caller(background_clock):
    source = Stream(asynchronous=False)
    source.map(lambda x: 1 / x).sink(lambda x: None)
    with pytest.raises(ZeroDivisionError) as info:
        source.emit(0)
    assert any("map" in note for note in info.value.__notes__)
    source.emit(1)  # the graph keeps working


def test_time_node_moves_plain_graph_onto_background_loop():
    source = Stream()
    sink = source.map(str).timed_window(0.01).sink(lambda x: None)
    assert as_asyncio_loop(source.loop) is get_background_loop()
    assert source.asynchronous is False
    sink.destroy()


def test_emit_from_many_threads_is_serialized_on_the_loop(background_clock):
    source = Stream(asynchronous=False)
    total = source.accumulate(lambda acc, x: acc + x, start=0)
    L = total.sink_to_list()
    threads = [threading.Thread(target=lambda: [source.emit(1) for _ in range(200)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert L[-1] == 800 and len(L) == 800


def test_loop_accepts_plain_asyncio_loop():
    with LoopRunner() as runner:
        source = Stream(loop=runner.loop)
        L = source.map(lambda x: x * 2).sink_to_list()
        source.emit(21)
        assert L == [42]
        assert isinstance(source.loop, IOLoop)


def test_loop_accepts_tornado_ioloop():
    with LoopRunner() as runner:
        source = Stream(loop=runner.ioloop)
        L = source.sink_to_list()
        source.emit("x")
        assert L == ["x"]


def test_loop_rejects_other_objects():
    with pytest.raises(TypeError, match="asyncio event loop"):
        Stream(loop="not a loop")


def test_two_loops_in_one_graph_raise():
    with LoopRunner() as a, LoopRunner() as b:
        s1 = Stream(loop=a.loop)
        s2 = Stream(loop=b.loop)
        with pytest.raises(ValueError, match="Two different event loops"):
            s1.zip(s2)


def test_mixed_asynchronous_flags_raise():
    s1 = Stream(asynchronous=True)
    s2 = Stream(asynchronous=False)
    with pytest.raises(ValueError, match="both asynchronous and synchronous"):
        s1.union(s2)


def test_explicit_loop_spreads_to_connected_nodes():
    with LoopRunner() as runner:
        source = Stream()
        mapped = source.map(str)
        Stream(loop=runner.loop).connect(source)
        assert as_asyncio_loop(mapped.loop) is runner.loop


def test_sync_returns_result_and_raises():
    async def add(a, b):
        return a + b

    async def boom():
        raise KeyError("x")

    loop = get_background_loop()
    assert sync(loop, add, 1, 2) == 3
    with pytest.raises(KeyError):
        sync(loop, boom)


async def test_sync_from_loop_thread_refuses():
    async def nothing():
        return None

    with pytest.raises(RuntimeError, match="await the coroutine"):
        sync(asyncio.get_running_loop(), nothing)


async def test_emit_on_loop_thread_of_background_graph_returns_awaitable():
    # A sink on the loop feeding another graph on the same loop must not block.
    with LoopRunner() as runner:
        other = Stream(loop=runner.loop)
        L = other.sink_to_list()
        source = Stream(loop=runner.loop)
        results = []
        source.sink(lambda x: results.append(other.emit(x)))
        source.emit(5)
        assert L == [5]
        assert all(hasattr(r, "__await__") for r in results)


async def test_emit_asynchronous_from_other_thread_returns_future():
    with LoopRunner() as runner:
        source = Stream(loop=runner.loop)
        L = source.sink_to_list()
        fut = source.emit(1, asynchronous=True)
        await fut
        assert L == [1]


def test_as_ioloop_reuses_one_wrapper():
    loop = asyncio.new_event_loop()
    try:
        assert as_ioloop(loop) is as_ioloop(loop)
        assert as_asyncio_loop(as_ioloop(loop)) is loop
    finally:
        loop.close()


@pytest.mark.parametrize(
    "value, seconds",
    [(1, 1.0), (0.25, 0.25), ("500ms", 0.5), ("2s", 2.0), ("1min", 60.0), ("3 us", 3e-6)],
    ids=["int", "float", "ms", "s", "min", "us"],
)
def test_parse_interval_accepts_units(value, seconds):
    assert parse_interval(value) == pytest.approx(seconds)


def test_parse_interval_timedelta():
    import datetime

    assert parse_interval(datetime.timedelta(seconds=3)) == 3.0


@pytest.mark.parametrize("value", ["fast", -1, "10 parsecs", None, True], ids=str)
def test_parse_interval_rejects_bad_values(value):
    with pytest.raises(ValueError, match="where"):
        parse_interval(value, "where")


def test_loop_runner_stop_joins_thread():
    runner = LoopRunner().start()
    thread = runner._thread
    runner.stop()
    assert thread is not None and not thread.is_alive()
    assert runner.loop is not None and runner.loop.is_closed()


def test_sync_callback_timeout_raises_timeout_error():
    async def forever():
        await asyncio.sleep(3600)

    with pytest.raises(TimeoutError):
        sync(get_background_loop(), forever, callback_timeout=0.01)


def test_sink_with_tornado_coroutine_gets_a_loop(background_clock):
    from tornado import gen

    written = []

    @gen.coroutine
    def write(x):
        yield gen.sleep(1)
        written.append(x)

    source = Stream()
    source.sink(write)
    source.emit(1)
    assert written == [1] and background_clock.time() == 1.0


SCRIPT_WITH_POLLING_SOURCES = """
import tempfile, threading, time
from streamz_core import Stream
path = tempfile.mkdtemp() + "/log.txt"
open(path, "w").write("a\\n")
ticks = Stream.from_periodic(lambda: 1, 0.01)
lines = Stream.from_textfile(path, poll_interval=0.01)
got = threading.Event()
ticks.sink(lambda x: got.set())
seen = lines.sink_to_list()
ticks.start(); lines.start()
got.wait(10)
deadline = time.monotonic() + 10
while not seen and time.monotonic() < deadline:
    time.sleep(0.01)
print(seen)
"""


def test_script_ending_while_sources_poll_exits_silently(tmp_path):
    # The background loop cancels what still runs at exit, as asyncio.run does, so no
    # "Task was destroyed but it is pending!" is printed after the user's output.
    import subprocess
    import sys
    script = tmp_path / "polling.py"
    script.write_text(SCRIPT_WITH_POLLING_SOURCES)
    for _ in range(3):
        done = subprocess.run([sys.executable, str(script)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "['a\\n']\n"
        assert done.stderr == ""
