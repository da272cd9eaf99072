"""Tests for streamz_core/sources/base.py and polling.py: Source, from_iterable,
from_periodic, from_q, from_textfile, filenames.

Sources need a loop, so every test runs in the in-loop and background-thread modes,
under virtual time: polling sources are driven by ``await mode.sleep(...)``.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import queue

import pytest
from _modes import (  # the shared fixtures and helpers: tests/_modes.py
    destroy_sinks_fixture,  # noqa: F401
    loop_mode_fixture,  # noqa: F401
    mode_fixture,  # noqa: F401
    tracker_fixture,  # noqa: F401
    virtual_runner_fixture,  # noqa: F401
)

from streamz_core import Source, Stream

pytestmark = pytest.mark.usefixtures("destroy_sinks")


def timed(mode, node):
    out = []
    node.sink(lambda x: out.append((mode.now(), x)))
    return out


def capture_loop_errors(mode):
    errors = []
    mode.loop.set_exception_handler(lambda loop, context: errors.append(context))
    return errors


# ------------------------------------------------------------------- Source
async def test_source_starts_stopped(loop_mode):
    source = Stream.from_iterable([1], **loop_mode.source_kwargs)
    assert source.stopped is True and source.started is False
    L = source.sink_to_list()
    await loop_mode.sleep(1)
    assert L == []


async def test_source_subclass_runs_until_stopped(loop_mode):
    class count_to(Source):
        def __init__(self, n, **kwargs):
            self.n, self.i = n, 0
            super().__init__(**kwargs)

        async def _run(self):
            self.i += 1
            await self._emit_async(self.i)
            if self.i == self.n:
                self.stop()

    source = count_to(3, **loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    await loop_mode.sleep(1)
    assert L == [1, 2, 3] and source.stopped


async def test_source_start_propagates_from_downstream(loop_mode):
    source = Stream.from_iterable("ab", **loop_mode.source_kwargs)
    node = source.map(str.upper)
    L = node.sink_to_list()
    node.start()
    await loop_mode.settle()
    assert L == ["A", "B"]


# ------------------------------------------------------------- from_iterable
async def test_from_iterable_emits_items_then_stops(loop_mode):
    source = Stream.from_iterable(range(5), **loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    await loop_mode.settle()
    assert L == [0, 1, 2, 3, 4]
    assert source.stopped


async def test_source_start_true_starts_at_once(loop_mode):
    # A polling source, so that the sink attached after construction sees everything:
    # on a loop thread, start=True may begin before the next line of the caller runs.
    q = queue.Queue()
    source = Stream.from_q(q, sleep_time=0.1, start=True, **loop_mode.source_kwargs)
    L = source.sink_to_list()
    assert source.started and not source.stopped
    q.put("x")
    await loop_mode.sleep(0.2)
    source.stop()
    assert L == ["x"]


async def test_from_iterable_follows_downstream_backpressure(loop_mode):
    source = Stream.from_iterable([1, 2, 3], **loop_mode.source_kwargs)
    out = timed(loop_mode, source.rate_limit(0.5))
    source.start()
    await loop_mode.sleep(5)
    assert out == [(0.0, 1), (0.5, 2), (1.0, 3)]


async def test_from_iterable_stop_ends_emission(loop_mode):
    source = Stream.from_iterable(itertools.count(), **loop_mode.source_kwargs)
    L = source.rate_limit(1).sink_to_list()
    source.start()
    await loop_mode.sleep(2.5)
    source.stop()
    await loop_mode.sleep(5)
    assert L == [0, 1, 2, 3]  # 3 had its slot (3.0) reserved before the stop


async def test_from_iterable_downstream_error_is_reported_and_source_goes_on(loop_mode):
    errors = capture_loop_errors(loop_mode)
    source = Stream.from_iterable([1, 0, 2], **loop_mode.source_kwargs)
    L = source.map(lambda x: 1 / x, stream_name="inv").sink_to_list()
    source.start()
    await loop_mode.settle()
    assert L == [1.0, 0.5]
    assert len(errors) == 1 and isinstance(errors[0]["exception"], ZeroDivisionError)
    assert any("inv" in n for n in errors[0]["exception"].__notes__)


def test_from_iterable_rejects_non_iterable_at_construction(virtual_runner):
    with pytest.raises(TypeError) as info:
        Stream.from_iterable(5)
    assert "from_iterable" in str(info.value) and "5" in str(info.value)


# ------------------------------------------------------------- from_periodic
async def test_from_periodic_emits_on_absolute_schedule(loop_mode):
    counter = itertools.count()
    source = Stream.from_periodic(lambda: next(counter), 0.5, **loop_mode.source_kwargs)
    out = timed(loop_mode, source)
    source.start()
    await loop_mode.sleep(1.75)
    source.stop()
    await loop_mode.sleep(5)
    assert out == [(0.0, 0), (0.5, 1), (1.0, 2), (1.5, 3)]


async def test_from_periodic_slow_downstream_does_not_shift_schedule(loop_mode):
    counter = itertools.count()

    async def slow(x):
        await asyncio.sleep(0.3)

    source = Stream.from_periodic(lambda: next(counter), "1s", **loop_mode.source_kwargs)
    out = timed(loop_mode, source)
    source.sink(slow)
    source.start()
    await loop_mode.sleep(3.5)
    source.stop()
    assert [t for t, _ in out] == [0.0, 1.0, 2.0, 3.0]


async def test_from_periodic_awaits_coroutine_callback(loop_mode):
    async def fetch():
        await asyncio.sleep(0.1)
        return "data"

    source = Stream.from_periodic(fetch, 1, **loop_mode.source_kwargs)
    out = timed(loop_mode, source)
    source.start()
    await loop_mode.sleep(1.5)
    source.stop()
    assert out == [(0.1, "data"), (1.1, "data")]


async def test_from_periodic_callback_error_is_reported_and_stops(loop_mode):
    errors = capture_loop_errors(loop_mode)

    def broken():
        raise OSError("sensor offline")

    source = Stream.from_periodic(broken, 1, **loop_mode.source_kwargs)
    source.sink_to_list()
    source.start()
    await loop_mode.sleep(3)
    assert len(errors) == 1 and isinstance(errors[0]["exception"], OSError)
    assert source.stopped


def test_from_periodic_rejects_bad_parameters_at_construction(virtual_runner):
    with pytest.raises(TypeError, match=r"from_periodic\(callback=3\)"):
        Stream.from_periodic(3)
    with pytest.raises(ValueError) as info:
        Stream.from_periodic(list, poll_interval=0)
    assert "from_periodic(poll_interval)" in str(info.value) and "=0" in str(info.value)


# -------------------------------------------------------------------- from_q
async def test_from_q_emits_items_put_by_other_threads(loop_mode):
    q = queue.Queue()
    source = Stream.from_q(q, sleep_time=0.1, **loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    q.put("a")
    await loop_mode.sleep(0.2)
    assert L == ["a"]
    import threading

    t = threading.Thread(target=lambda: [q.put(x) for x in "bc"])
    t.start()
    t.join()
    await loop_mode.sleep(0.2)
    assert L == ["a", "b", "c"]
    source.stop()


async def test_from_q_polls_every_sleep_time(loop_mode):
    q = queue.Queue()
    source = Stream.from_q(q, sleep_time=0.25, **loop_mode.source_kwargs)
    out = timed(loop_mode, source)
    source.start()
    await loop_mode.sleep(0.1)
    q.put("x")
    await loop_mode.sleep(1)
    source.stop()
    assert out == [(0.25, "x")]


def test_from_q_rejects_non_queue_at_construction(virtual_runner):
    with pytest.raises(TypeError) as info:
        Stream.from_q([1, 2])
    assert "from_q" in str(info.value) and "[1, 2]" in str(info.value)


# ------------------------------------------------------------- from_textfile
async def test_from_textfile_emits_lines_then_tails(loop_mode, tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("one\ntwo\n")
    source = Stream.from_textfile(str(path), poll_interval=0.1, **loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    await loop_mode.sleep(0.2)
    assert L == ["one\n", "two\n"]
    with open(path, "a") as f:
        f.write("thr")
        f.flush()
        await loop_mode.sleep(0.2)
        assert L == ["one\n", "two\n"]  # a partial line waits for its delimiter
        f.write("ee\nfour\n")
    await loop_mode.sleep(0.2)
    source.stop()
    assert L == ["one\n", "two\n", "three\n", "four\n"]


async def test_from_textfile_from_end_skips_existing_content(loop_mode, tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("old\n")
    source = Stream.from_textfile(path, poll_interval=0.1, from_end=True, **loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    await loop_mode.sleep(0.2)
    with open(path, "a") as f:
        f.write("new\n")
    await loop_mode.sleep(0.2)
    source.stop()
    assert L == ["new\n"]


async def test_from_textfile_custom_delimiter(loop_mode, tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("a;b;c")
    source = Stream.from_textfile(str(path), delimiter=";", poll_interval=0.1, **loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    await loop_mode.sleep(0.2)
    source.stop()
    assert L == ["a;", "b;"]


def test_from_textfile_rejects_bad_file_at_construction(virtual_runner):
    with pytest.raises(TypeError) as info:
        Stream.from_textfile(3.5)
    assert "from_textfile" in str(info.value) and "3.5" in str(info.value)


# ----------------------------------------------------------------- filenames
@pytest.mark.parametrize("pattern", ["dir", "glob"], ids=["directory", "glob"])
async def test_filenames_emits_new_files_sorted(loop_mode, tmp_path, pattern):
    for name in ["b.csv", "a.csv", "c.txt"]:
        (tmp_path / name).write_text("")
    path = str(tmp_path) if pattern == "dir" else os.path.join(tmp_path, "*.csv")
    source = Stream.filenames(path, poll_interval=0.5, **loop_mode.source_kwargs)
    L = source.map(os.path.basename).sink_to_list()
    source.start()
    await loop_mode.sleep(0.1)
    expected = ["a.csv", "b.csv", "c.txt"] if pattern == "dir" else ["a.csv", "b.csv"]
    assert L == expected
    (tmp_path / "0.csv").write_text("")
    await loop_mode.sleep(0.1)
    assert L == expected  # not yet polled again
    await loop_mode.sleep(0.5)
    source.stop()
    assert L == [*expected, "0.csv"]


def test_filenames_rejects_bad_poll_interval_at_construction(virtual_runner, tmp_path):
    with pytest.raises(ValueError) as info:
        Stream.filenames(str(tmp_path), poll_interval="often")
    assert "filenames(poll_interval)" in str(info.value) and "'often'" in str(info.value)


@pytest.mark.parametrize("delimiter", ["", None, b"\n"], ids=["empty", "none", "bytes"])
def test_from_textfile_rejects_bad_delimiter_at_construction(virtual_runner, tmp_path, delimiter):
    path = tmp_path / "f.txt"
    path.write_text("")
    with pytest.raises(ValueError) as info:
        Stream.from_textfile(str(path), delimiter=delimiter)
    assert "from_textfile(delimiter=" in str(info.value) and repr(delimiter) in str(info.value)


def test_source_without_loop_arguments_runs_on_background_loop(virtual_runner):
    source = Stream.from_iterable([1, 2])
    assert source.asynchronous is False
    assert source.loop is not None and source.loop.asyncio_loop is virtual_runner.loop
    L = source.map(lambda x: x * 10).sink_to_list()
    source.start()
    from streamz_core import sync

    sync(virtual_runner.loop, virtual_runner.loop.wait_idle)
    assert L == [10, 20]


async def test_from_periodic_restarts_after_stop(loop_mode):
    counter = itertools.count()
    source = Stream.from_periodic(lambda: next(counter), 1, **loop_mode.source_kwargs)
    out = timed(loop_mode, source)
    source.start()
    await loop_mode.sleep(1.5)
    source.stop()
    await loop_mode.sleep(3)
    source.start()
    await loop_mode.sleep(1.5)
    source.stop()
    values = [x for _, x in out]
    assert values == [0, 1, 2, 3]
    assert [t for t, _ in out][:2] == [0.0, 1.0]


def test_source_started_before_any_loop_runs_once_started_in_loop(autojump_clock):
    source = Stream.from_iterable([1, 2], asynchronous=True)  # no loop running yet
    L = source.sink_to_list()
    source.start()
    assert L == [] and source.loop is None

    async def main():
        source.start()
        await asyncio.sleep(1)

    autojump_clock.run_until_complete(main())
    assert L == [1, 2]


def test_source_started_before_any_loop_runs_once_graph_is_bound(autojump_clock):
    source = Stream.from_iterable([1, 2], asynchronous=True)
    other = Stream(asynchronous=True)
    L = source.union(other).sink_to_list()
    source.start()

    async def main():
        await other.emit("x")  # binds the whole graph to this loop
        await asyncio.sleep(1)

    autojump_clock.run_until_complete(main())
    assert sorted(map(str, L)) == ["1", "2", "x"]


def test_source_base_without_run_produces_nothing(virtual_runner):
    source = Source()
    L = source.sink_to_list()
    source.start()
    from streamz_core import sync

    sync(virtual_runner.loop, virtual_runner.loop.wait_idle)
    assert L == [] and source.stopped


# ------------------------------------------- from_textfile across log rotation (issue 7, 6d)
def _append(path, text, mode="a"):
    with open(path, mode) as f:
        f.write(text)


async def test_from_textfile_follows_copytruncate_rotation(loop_mode, tmp_path):
    # logrotate's copytruncate: the file is copied away and truncated in place; the
    # source used to stay at its old position and go silent.
    path = tmp_path / "app.log"
    _append(path, "a1\na2\n", "w")
    source = Stream.from_textfile(str(path), poll_interval=0.1, **loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    await loop_mode.sleep(0.2)
    (tmp_path / "app.log.1").write_text(path.read_text())
    with open(path, "r+") as f:
        f.truncate(0)
    _append(path, "b1\n")
    await loop_mode.sleep(0.3)
    _append(path, "b2\n")
    await loop_mode.sleep(0.2)
    source.stop()
    assert L == ["a1\n", "a2\n", "b1\n", "b2\n"]


async def test_from_textfile_follows_rename_and_recreate(loop_mode, tmp_path):
    # logrotate's default: the file is renamed and a new one created at the path.
    # Lines written to the old file before the rename still arrive, then the new file
    # is read from its start.
    path = tmp_path / "app.log"
    _append(path, "a1\n", "w")
    source = Stream.from_textfile(path, poll_interval=0.1, **loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    await loop_mode.sleep(0.2)
    _append(path, "a2\nunterminated")
    os.rename(path, tmp_path / "app.log.1")
    await loop_mode.sleep(0.3)  # no file at the path for a while: keep the old one
    _append(path, "b1\nb2\n", "w")
    await loop_mode.sleep(0.3)
    _append(path, "b3\n")
    os.rename(path, tmp_path / "app.log.2")
    _append(path, "c1\n", "w")
    await loop_mode.sleep(0.3)
    source.stop()
    assert L == ["a1\n", "a2\n", "unterminated", "b1\n", "b2\n", "b3\n", "c1\n"]


async def test_from_textfile_open_file_follows_truncation(loop_mode, tmp_path):
    path = tmp_path / "app.log"
    _append(path, "a1\na2\n", "w")
    with open(path) as f:
        source = Stream.from_textfile(f, poll_interval=0.1, **loop_mode.source_kwargs)
        L = source.sink_to_list()
        source.start()
        await loop_mode.sleep(0.2)
        with open(path, "r+") as w:
            w.truncate(0)
        _append(path, "b\n")
        await loop_mode.sleep(0.3)
        source.stop()
    assert L == ["a1\n", "a2\n", "b\n"]


# ------------------------------------------ poll intervals and bad arguments (issue 7, 6a-6c)
SOURCES_WITH_INTERVALS = [
    ("from_periodic(poll_interval)", lambda p, i: Stream.from_periodic(lambda: 1, poll_interval=i)),
    ("from_q(sleep_time)", lambda p, i: Stream.from_q(queue.Queue(), sleep_time=i)),
    ("from_textfile(poll_interval)", lambda p, i: Stream.from_textfile(p, poll_interval=i)),
    ("filenames(poll_interval)", lambda p, i: Stream.filenames(str(p), poll_interval=i)),
]


@pytest.mark.parametrize("where, build", SOURCES_WITH_INTERVALS, ids=[w for w, _ in SOURCES_WITH_INTERVALS])
@pytest.mark.parametrize("interval", [float("inf"), 1e-300, 0], ids=["inf", "1e-300", "zero"])
def test_sources_reject_poll_intervals_outside_the_valid_range(virtual_runner, tmp_path, where, build, interval):
    path = tmp_path / "f.txt"
    path.write_text("")
    with pytest.raises(ValueError) as info:
        build(path, interval)
    assert where in str(info.value) and "1e-06" in str(info.value)


@pytest.mark.parametrize("where, build", SOURCES_WITH_INTERVALS, ids=[w for w, _ in SOURCES_WITH_INTERVALS])
def test_sources_take_poll_intervals_of_any_real_number_type(virtual_runner, tmp_path, where, build):
    import decimal
    import fractions

    import numpy

    path = tmp_path / "f.txt"
    path.write_text("")
    for interval in (numpy.float64(0.25), fractions.Fraction(1, 4), decimal.Decimal("0.25")):
        node = build(path, interval)
        seconds = next(getattr(node, a) for a in ("_poll", "sleep_time", "poll_interval") if hasattr(node, a))
        assert seconds == 0.25 and type(seconds) is float


async def test_from_periodic_with_a_decimal_interval_ticks_on_time(loop_mode):
    import decimal

    ticks = itertools.count()
    source = Stream.from_periodic(lambda: next(ticks), poll_interval=decimal.Decimal("0.5"),
                                  **loop_mode.source_kwargs)
    out = timed(loop_mode, source)
    source.start()
    await loop_mode.sleep(1.2)
    source.stop()
    assert [t for t, _ in out] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("path", [3, None, ["a", "b"]], ids=repr)
def test_filenames_rejects_a_path_that_is_not_a_string(virtual_runner, path):
    # filenames(3) used to fail with "argument of type 'int' is not iterable".
    with pytest.raises(TypeError) as info:
        Stream.filenames(path)
    message = str(info.value)
    assert f"filenames(path={path!r})" in message and "'data/*.csv'" in message


# ------------------------------------------------ one lifecycle for every source (issue 8)
ALL_SOURCES = ["from_iterable", "from_periodic", "from_q", "from_textfile", "filenames",
               "from_tcp", "from_http_server", "from_process"]


@pytest.mark.parametrize("name", ALL_SOURCES)
def test_every_source_has_the_base_lifecycle(name):
    import streamz_core.sources as sources

    cls = getattr(sources, name)
    assert issubclass(cls, Source)
    for method in ("start", "stop", "wait_started", "wait_stopped"):
        assert getattr(cls, method) is getattr(Source, method), (
            f"{name}.{method} overrides Source.{method}: implement the hooks _open, run "
            "and _close instead, so that every source has the same lifecycle"
        )


async def test_polling_source_wait_started_and_wait_stopped(loop_mode):
    source = Stream.from_iterable([1, 2, 3], **loop_mode.source_kwargs)
    L = source.sink_to_list()
    await source.wait_stopped()  # never started: returns at once
    source.start()
    await source.wait_started()
    await source.wait_stopped()
    assert L == [1, 2, 3] and source.stopped


async def test_polling_source_wait_started_before_start_says_what_to_do(loop_mode):
    source = Stream.from_q(queue.Queue(), **loop_mode.source_kwargs)
    with pytest.raises(RuntimeError, match=r"call source\.start\(\) first"):
        await source.wait_started()


async def test_source_stop_then_start_on_the_loop_goes_on_with_one_task(autojump_clock):
    counter = itertools.count()
    source = Stream.from_periodic(lambda: next(counter), 1, asynchronous=True)
    out = []
    source.sink(lambda x: out.append((autojump_clock.time(), x)))
    source.start()
    await asyncio.sleep(1.5)
    source.stop()
    source.start()  # the run asleep in its interval goes on: no second task
    await asyncio.sleep(2)
    source.stop()
    await source.wait_stopped()
    assert out == [(0.0, 0), (1.0, 1), (2.0, 2), (3.0, 3)]


def test_source_started_before_its_loop_runs_begins_when_it_runs():
    from streamz_core.testing import VirtualTimeLoop

    loop = VirtualTimeLoop(autojump=True)
    try:
        source = Stream.from_iterable([1, 2], loop=loop)
        L = source.sink_to_list()
        source.start()  # the loop does not run yet: does not block
        assert source.started and not source.stopped and L == []
        loop.run_until_complete(source.wait_stopped())
        assert L == [1, 2] and source.stopped
    finally:
        loop.close()


def test_source_stopped_before_its_loop_ran_never_starts(autojump_clock):
    source = Stream.from_iterable([1, 2], asynchronous=True)  # no loop yet
    L = source.sink_to_list()
    source.start()
    source.stop()

    async def main():
        with pytest.raises(RuntimeError, match="was stopped before it started"):
            await source.wait_started()
        await source.wait_stopped()

    autojump_clock.run_until_complete(main())
    assert L == [] and source.stopped


async def test_source_whose_run_returns_is_stopped(loop_mode):
    class once(Source):
        async def run(self):
            await self._emit_async("only")

    source = once(**loop_mode.source_kwargs)
    L = source.sink_to_list()
    source.start()
    await source.wait_stopped()
    assert L == ["only"] and source.stopped
    source.start()  # and can start again
    await source.wait_stopped()
    assert L == ["only", "only"]
