"""Tests for streamz_core/operators/time.py: delay, rate_limit, timed_window, timed_window_unique.

All under virtual time (``loop_mode``: in the test's loop, or on a background loop
thread), asserting virtual timestamps.
"""
from __future__ import annotations

import asyncio
import datetime
import itertools
import weakref

import pytest
from _modes import Gate, branch_collected, collected

from streamz_core import Stream


def timed(mode, node):
    """Sink ``node`` into a list of (virtual time, element)."""
    out = []
    node.sink(lambda x: out.append((mode.now(), x)))
    return out


def slow_sink(mode, node, seconds, out):
    async def work(x):
        out.append((mode.now(), x))
        await asyncio.sleep(seconds)

    return node.sink(work)


# ---------------------------------------------------------------------- delay
async def test_delay_shifts_each_element_by_its_interval(loop_mode):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.delay(1))
    await loop_mode.emit(source, "a")
    await loop_mode.sleep(0.25)
    await loop_mode.emit(source, "b")
    await loop_mode.sleep(0.5)
    await loop_mode.emit(source, "c")
    assert out == []
    await loop_mode.sleep(10)
    assert out == [(1.0, "a"), (1.25, "b"), (1.75, "c")]


async def test_delay_after_idle_period_still_delays_each_element(loop_mode):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.delay(0.5))
    await loop_mode.sleep(3)
    await loop_mode.emit_all(source, [1, 2])
    await loop_mode.sleep(1)
    assert out == [(3.5, 1), (3.5, 2)]


async def test_delay_emit_does_not_block(loop_mode):
    source = loop_mode.Stream()
    L = source.delay(5).sink_to_list()
    await loop_mode.emit_all(source, range(20))
    assert loop_mode.now() == 0.0 and L == []
    await loop_mode.sleep(5)
    assert L == list(range(20))


@pytest.mark.parametrize(
    "interval", ["250ms", datetime.timedelta(milliseconds=250), 0.25],
    ids=["string", "timedelta", "seconds"],
)
async def test_delay_accepts_interval_forms(loop_mode, interval):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.delay(interval))
    await loop_mode.emit(source, 1)
    await loop_mode.sleep(1)
    assert out == [(0.25, 1)]


async def test_delay_waits_for_downstream_before_next_element(loop_mode):
    source = loop_mode.Stream()
    seen = []
    slow_sink(loop_mode, source.delay(1), 2, seen)
    await loop_mode.emit(source, 1)
    await loop_mode.sleep(0.5)
    await loop_mode.emit(source, 2)
    await loop_mode.sleep(10)
    assert seen == [(1.0, 1), (3.0, 2)]


async def test_delay_retains_metadata_until_emitted(loop_mode, tracker):
    source = loop_mode.Stream()
    L = source.delay(1).sink_to_list()
    await loop_mode.emit(source, "a", metadata=tracker.md("a"))
    await loop_mode.sleep(0.5)
    assert tracker.done == [] and tracker.counts() == {"a": 1}
    await loop_mode.sleep(0.5)
    assert L == ["a"] and tracker.done == ["a"]


async def test_delay_error_downstream_goes_to_loop_exception_handler(loop_mode):
    errors = []
    loop_mode.loop.set_exception_handler(lambda loop, context: errors.append(context))
    source = loop_mode.Stream()
    L = source.delay(1).map(lambda x: 1 / x, stream_name="inv").sink_to_list()
    await loop_mode.emit_all(source, [0, 1])  # nobody waits on a delayed element
    await loop_mode.sleep(2)
    assert L == [1.0]
    assert len(errors) == 1
    assert isinstance(errors[0]["exception"], ZeroDivisionError)
    assert "delay" in errors[0]["message"]


@pytest.mark.parametrize("interval", [-1, "later", None, True], ids=["negative", "nonsense", "none", "bool"])
def test_delay_rejects_bad_interval_at_construction(interval):
    with pytest.raises(ValueError) as info:
        Stream().delay(interval)
    message = str(info.value)
    assert "delay(interval)" in message and repr(interval) in message and "500ms" in message


# ----------------------------------------------------------------- rate_limit
async def test_rate_limit_spaces_elements(loop_mode):
    loop_mode.autojump()
    source = loop_mode.Stream()
    out = timed(loop_mode, source.rate_limit(0.5))
    await loop_mode.emit_all(source, [1, 2, 3])
    assert out == [(0.0, 1), (0.5, 2), (1.0, 3)]


async def test_rate_limit_blocks_emitter_until_slot(loop_mode):
    loop_mode.autojump()
    source = loop_mode.Stream()
    source.rate_limit("1s").sink_to_list()
    returned = []
    for x in range(3):
        await loop_mode.emit(source, x)
        returned.append(loop_mode.now())
    assert returned == [0.0, 1.0, 2.0]


async def test_rate_limit_after_idle_passes_at_once(loop_mode):
    loop_mode.autojump()
    source = loop_mode.Stream()
    out = timed(loop_mode, source.rate_limit(1))
    await loop_mode.emit(source, 1)
    await loop_mode.sleep(2.5)
    await loop_mode.emit_all(source, [2, 3])
    assert out == [(0.0, 1), (2.5, 2), (3.5, 3)]


async def test_rate_limit_zero_passes_everything_at_once(loop_mode):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.rate_limit(0))
    await loop_mode.emit_all(source, [1, 2, 3])
    assert out == [(0.0, 1), (0.0, 2), (0.0, 3)]


async def test_rate_limit_retains_metadata_while_waiting(loop_mode, tracker):
    source = loop_mode.Stream()
    L = source.rate_limit(1).sink_to_list()
    producer = loop_mode.produce(source, ["a", "b"], metadata=tracker.md)
    assert await producer.returned(1) == ["a"]
    assert tracker.done == ["a"]  # passed at once
    await loop_mode.sleep(0.5)
    assert L == ["a"] and tracker.done == ["a"]  # b waits for its slot: not done yet
    assert tracker.counts()["b"] >= 1
    await loop_mode.sleep(0.5)
    assert L == ["a", "b"] and tracker.done == ["a", "b"]
    assert await producer.returned(2) == ["a", "b"]


@pytest.mark.parametrize("interval", [-0.5, "fast", [1]], ids=["negative", "nonsense", "list"])
def test_rate_limit_rejects_bad_interval_at_construction(interval):
    with pytest.raises(ValueError) as info:
        Stream().rate_limit(interval)
    assert "rate_limit(interval)" in str(info.value) and repr(interval) in str(info.value)


# --------------------------------------------------------------- timed_window
async def test_timed_window_emits_lists_on_absolute_schedule(loop_mode):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.timed_window(1))
    await loop_mode.emit_all(source, [1, 2])
    await loop_mode.sleep(0.5)
    await loop_mode.emit(source, 3)
    await loop_mode.sleep(1)
    await loop_mode.emit(source, 4)
    await loop_mode.sleep(2)
    assert out == [(1.0, [1, 2, 3]), (2.0, [4]), (3.0, [])]


async def test_timed_window_emits_empty_lists_when_idle(loop_mode):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.timed_window("500ms"))
    await loop_mode.sleep(2)
    assert out == [(0.5, []), (1.0, []), (1.5, []), (2.0, [])]


async def test_timed_window_does_not_drift_with_slow_downstream(loop_mode):
    source = loop_mode.Stream()
    seen = []
    slow_sink(loop_mode, source.timed_window(1), 0.75, seen)
    await loop_mode.emit(source, "a")
    await loop_mode.sleep(3)
    assert [t for t, _ in seen] == [1.0, 2.0, 3.0]
    assert seen[0] == (1.0, ["a"])


async def test_timed_window_waits_for_downstream_busier_than_interval(loop_mode):
    source = loop_mode.Stream()
    seen = []
    slow_sink(loop_mode, source.timed_window(1), 1.5, seen)
    await loop_mode.sleep(5)
    # each window waits for the previous one (1.5 s); ticks that found it busy are late
    times = [t for t, _ in seen]
    assert times[0] == 1.0
    assert all(later - earlier >= 1.5 for earlier, later in itertools.pairwise(times))


async def test_timed_window_retains_metadata_until_window_emitted(loop_mode, tracker):
    source = loop_mode.Stream()
    L = source.timed_window(1).sink_to_list()
    await loop_mode.emit(source, "a", metadata=tracker.md("a"))
    await loop_mode.sleep(0.5)
    await loop_mode.emit(source, "b", metadata=tracker.md("b"))
    await loop_mode.sleep(0.25)
    assert tracker.done == [] and tracker.counts() == {"a": 1, "b": 1}
    await loop_mode.sleep(0.25)
    assert L == [["a", "b"]]
    assert sorted(tracker.done) == ["a", "b"]


async def test_timed_window_destroy_stops_timer(loop_mode):
    source = loop_mode.Stream()
    node = source.timed_window(1)
    L = node.sink_to_list()
    await loop_mode.sleep(1)
    node.destroy()
    await loop_mode.sleep(5)
    assert L == [[]]


async def test_timed_window_nobody_references_is_collected(loop_mode):
    source = loop_mode.Stream()
    node = source.timed_window(1)
    ref = weakref.ref(node)
    await loop_mode.sleep(1.5)
    del node
    assert collected(ref)
    await loop_mode.sleep(2)  # the pending timer finds nothing to call
    assert len(source.downstreams) == 0


@pytest.mark.parametrize("interval", [0, -1, "1 fortnight"], ids=["zero", "negative", "unknown-unit"])
def test_timed_window_rejects_bad_interval_at_construction(interval):
    with pytest.raises(ValueError) as info:
        Stream().timed_window(interval)
    assert "timed_window(interval)" in str(info.value) and repr(interval) in str(info.value)


# -------------------------------------------------------- timed_window_unique
@pytest.mark.parametrize(
    "keep, expected",
    [("first", [(1.0, ("a1", "b1")), (2.0, ())]), ("last", [(1.0, ("b1", "a2")), (2.0, ())])],
    ids=["keep-first", "keep-last"],
)
async def test_timed_window_unique_emits_unique_keys_per_window(loop_mode, keep, expected):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.timed_window_unique(1, key=lambda s: s[0], keep=keep))
    await loop_mode.emit_all(source, ["a1", "b1", "a2"])
    await loop_mode.sleep(2)
    assert out == expected


async def test_timed_window_unique_forgets_keys_between_windows(loop_mode):
    source = loop_mode.Stream()
    L = source.timed_window_unique(1).sink_to_list()
    await loop_mode.emit_all(source, [1, 1, 2])
    await loop_mode.sleep(1)
    await loop_mode.emit_all(source, [1, 2, 2])
    await loop_mode.sleep(1)
    assert L == [(1, 2), (1, 2)]


async def test_timed_window_unique_item_key(loop_mode):
    source = loop_mode.Stream()
    L = source.timed_window_unique(1, key="id").sink_to_list()
    await loop_mode.emit_all(source, [{"id": 1, "v": 0}, {"id": 1, "v": 1}])
    await loop_mode.sleep(1)
    assert L == [({"id": 1, "v": 0},)]


async def test_timed_window_unique_key_error_reaches_emit_caller(loop_mode):
    source = loop_mode.Stream()
    source.timed_window_unique(1, key="id", stream_name="twu").sink_to_list()
    with pytest.raises(KeyError) as info:
        await loop_mode.emit(source, {"x": 1})
    assert any("twu" in n for n in info.value.__notes__)


@pytest.mark.parametrize("keep", ["first", "last"], ids=["keep-first", "keep-last"])
async def test_timed_window_unique_releases_metadata(loop_mode, tracker, keep):
    source = loop_mode.Stream()
    L = source.timed_window_unique(1, keep=keep).sink_to_list()
    await loop_mode.emit(source, 1, metadata=tracker.md("1a"))
    await loop_mode.emit(source, 1, metadata=tracker.md("1b"))
    assert tracker.done == ["1b" if keep == "first" else "1a"]
    await loop_mode.sleep(1)
    assert L == [(1,)]
    assert sorted(tracker.done) == ["1a", "1b"]
    assert tracker.counts() == {"1a": 0, "1b": 0}


def test_timed_window_unique_rejects_bad_keep_at_construction():
    with pytest.raises(ValueError) as info:
        Stream().timed_window_unique(1, keep="random")
    assert "timed_window_unique" in str(info.value) and "'random'" in str(info.value)


@pytest.mark.parametrize(
    "build",
    [lambda s: s.delay(1), lambda s: s.rate_limit(1), lambda s: s.timed_window(1),
     lambda s: s.timed_window_unique(1)],
    ids=["delay", "rate_limit", "timed_window", "timed_window_unique"],
)
async def test_time_branch_nobody_references_is_collected(loop_mode, build):
    source = loop_mode.Stream()
    assert branch_collected(source, build)


async def test_rate_limit_downstream_error_reaches_waiting_emitter(loop_mode):
    loop_mode.autojump()
    source = loop_mode.Stream()
    L = source.rate_limit(1).map(lambda x: 1 / x, stream_name="inv").sink_to_list()
    await loop_mode.emit(source, 1)
    with pytest.raises(ZeroDivisionError) as info:
        await loop_mode.emit(source, 0)  # waits for its slot, then fails downstream
    assert loop_mode.now() == 1.0
    assert len([n for n in info.value.__notes__ if "inv" in n]) == 1
    await loop_mode.emit(source, 2)
    assert L == [1.0, 0.5]


async def test_timed_window_emit_waits_while_downstream_busy_with_last_window(loop_mode):
    source = loop_mode.Stream()
    gate = Gate(loop_mode)
    source.timed_window(1).sink(gate.work)
    await loop_mode.emit(source, "a")  # downstream idle: returns at once
    await loop_mode.sleep(1)
    assert gate.started == [["a"]]
    producer = loop_mode.produce(source, ["b"])
    assert await producer.returned(0) == []  # the window [a] is still being handled
    await gate.open(["a"])
    assert await producer.returned(1) == ["b"]
    await loop_mode.sleep(1)
    assert gate.started == [["a"], ["b"]]


async def test_timed_window_downstream_error_is_reported_and_ticking_goes_on(loop_mode):
    errors = []
    loop_mode.loop.set_exception_handler(lambda loop, context: errors.append(context))
    source = loop_mode.Stream()
    L = source.timed_window(1).map(lambda xs: 1 / len(xs), stream_name="inv").sink_to_list()
    await loop_mode.emit(source, "a")
    await loop_mode.sleep(2)  # the second window is empty: 1 / 0
    await loop_mode.emit(source, "b")
    await loop_mode.sleep(1)
    assert L == [1.0, 1.0]
    assert len(errors) == 1 and isinstance(errors[0]["exception"], ZeroDivisionError)
    assert any("inv" in n for n in errors[0]["exception"].__notes__)


async def test_rate_limit_clock_steps_are_the_intervals(autojump_clock):
    source = Stream(asynchronous=True)
    source.rate_limit(0.5).sink_to_list()
    for x in range(3):
        await source.emit(x)
    assert autojump_clock.steps == [0.5, 0.5]


async def test_delay_fires_only_when_manual_clock_reaches_deadline(mock_clock):
    source = Stream(asynchronous=True)
    L = source.delay(1).sink_to_list()
    await source.emit("a")
    mock_clock.advance(0.999)
    await mock_clock.wait_idle()
    assert L == []
    mock_clock.advance(0.001)
    await mock_clock.wait_idle()
    assert L == ["a"]


async def test_timed_window_manual_clock_ticks_on_absolute_grid(mock_clock):
    source = Stream(asynchronous=True)
    out = []
    source.timed_window(1).sink(lambda xs: out.append((mock_clock.time(), xs)))
    await mock_clock.wait_idle()
    await source.emit(1)
    for _ in range(4):
        mock_clock.advance(0.5)
        await mock_clock.wait_idle()
    assert out == [(1.0, [1]), (2.0, [])]


async def test_rate_limit_waiting_emit_also_waits_for_downstream(loop_mode):
    loop_mode.autojump()
    seen = []
    source = loop_mode.Stream()
    slow_sink(loop_mode, source.rate_limit(1), 0.25, seen)
    returned = []
    for x in range(3):
        await loop_mode.emit(source, x)
        returned.append(loop_mode.now())
    assert seen == [(0.0, 0), (1.0, 1), (2.0, 2)]
    assert returned == [0.25, 1.25, 2.25]


async def test_timed_window_destroyed_while_downstream_busy_emits_nothing_more(loop_mode):
    source = loop_mode.Stream()
    gate = Gate(loop_mode)
    node = source.timed_window(1)
    node.sink(gate.work)
    await loop_mode.sleep(1.5)  # [] at 1.0, still being handled
    await loop_mode.sleep(1)  # the tick at 2.0 waits for the gate
    node.destroy()
    await gate.open([])
    await loop_mode.sleep(3)
    assert gate.started == [[]]


# ------------------------------------------ interval range and number types (issue 7, 6a/6b)
TIME_NODES = [
    ("delay", lambda s, i: s.delay(i)),
    ("rate_limit", lambda s, i: s.rate_limit(i)),
    ("timed_window", lambda s, i: s.timed_window(i)),
    ("timed_window_unique", lambda s, i: s.timed_window_unique(i)),
    ("partition(timeout)", lambda s, i: s.partition(3, timeout=i)),
]


@pytest.mark.parametrize("name, build", TIME_NODES, ids=[n for n, _ in TIME_NODES])
@pytest.mark.parametrize("interval", [float("inf"), float("-inf"), float("nan"), 1e-300, 5e-7, "1e-300s"],
                         ids=["inf", "-inf", "nan", "1e-300", "half-us", "tiny-string"])
def test_time_nodes_reject_intervals_outside_the_valid_range(name, build, interval):
    # rate_limit(inf) used to block forever on the second element, timed_window(inf)
    # never emitted, and a period of 1e-300 span the loop at 60-90k ticks/s.
    with pytest.raises(ValueError) as info:
        build(Stream(), interval)
    message = str(info.value)
    assert name.split("(")[0] in message and repr(interval) in message
    assert "finite" in message and "1e-06" in message


@pytest.mark.parametrize("name, build", TIME_NODES, ids=[n for n, _ in TIME_NODES])
def test_time_nodes_accept_the_shortest_interval(name, build):
    node = build(Stream(), 1e-6)
    assert node is not None


def _half_second_types():
    import decimal
    import fractions

    import numpy

    return [numpy.float64(0.5), numpy.float32(0.5), fractions.Fraction(1, 2), decimal.Decimal("0.5")]


@pytest.mark.parametrize("interval", _half_second_types(), ids=lambda v: type(v).__name__)
async def test_rate_limit_takes_any_real_number_type(loop_mode, interval):
    # streamz accepts numpy numbers, Fraction and Decimal as intervals; they used to
    # be rejected here.
    loop_mode.autojump()
    source = loop_mode.Stream()
    limited = timed(loop_mode, source.rate_limit(interval))
    await loop_mode.emit_all(source, [1, 2, 3])
    assert limited == [(0.0, 1), (0.5, 2), (1.0, 3)]


@pytest.mark.parametrize("interval", _half_second_types(), ids=lambda v: type(v).__name__)
async def test_windows_and_delay_take_any_real_number_type(loop_mode, interval):
    source = loop_mode.Stream()
    windows = timed(loop_mode, source.timed_window(interval))
    unique = timed(loop_mode, source.timed_window_unique(interval))
    delayed = timed(loop_mode, source.delay(interval))
    await loop_mode.emit_all(source, [4, 5, 4])
    await loop_mode.sleep(0.6)
    assert windows[:1] == [(0.5, [4, 5, 4])]
    assert unique[:1] == [(0.5, (4, 5))]
    assert delayed == [(0.5, 4), (0.5, 5), (0.5, 4)]
