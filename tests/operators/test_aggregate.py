"""Tests for streamz_core/operators/aggregate.py: accumulate (scan), partition,
partition_unique, sliding_window, collect, frequencies."""
from __future__ import annotations

from operator import add

import pytest
from _modes import branch_collected

from streamz_core import Stream


def timed(mode, node):
    """Sink ``node`` into a list of (virtual time, element)."""
    out = []
    node.sink(lambda x: out.append((mode.now(), x)))
    return out


# ----------------------------------------------------------------- accumulate
async def test_accumulate_without_start_emits_first_element_as_state(mode):
    source = mode.Stream()
    L = source.accumulate(add).sink_to_list()
    await mode.emit_all(source, [1, 2, 3, 4])
    assert L == [1, 3, 6, 10]


async def test_accumulate_with_start_folds_from_it(mode):
    source = mode.Stream()
    L = source.accumulate(lambda acc, x: [*acc, x], start=[]).sink_to_list()
    await mode.emit_all(source, "ab")
    assert L == [["a"], ["a", "b"]]


async def test_accumulate_returns_state_emits_second_item(mode):
    def count_and_tag(n, x):
        return n + 1, f"{n}:{x}"

    source = mode.Stream()
    L = source.accumulate(count_and_tag, start=0, returns_state=True).sink_to_list()
    await mode.emit_all(source, "abc")
    assert L == ["0:a", "1:b", "2:c"]


@pytest.mark.parametrize(
    "returns_state, func, expected",
    [(False, add, [(1, 1), (3, 3)]), (True, lambda s, x: (s + x, -x), [(1, -1), (3, -2)])],
    ids=["plain", "returns-state"],
)
async def test_accumulate_with_state_emits_state_and_output(mode, returns_state, func, expected):
    source = mode.Stream()
    L = source.accumulate(func, start=0, returns_state=returns_state, with_state=True).sink_to_list()
    await mode.emit_all(source, [1, 2])
    assert L == expected


async def test_accumulate_passes_keyword_arguments_to_function(mode):
    source = mode.Stream()
    L = source.accumulate(lambda acc, x, scale: acc + scale * x, start=0, scale=10).sink_to_list()
    await mode.emit_all(source, [1, 2])
    assert L == [10, 30]


async def test_scan_is_accumulate(mode):
    source = mode.Stream()
    L = source.scan(add, start=100).sink_to_list()
    await mode.emit_all(source, [1, 2])
    assert L == [101, 103]


async def test_accumulate_error_keeps_state_and_reaches_emit_caller(mode):
    source = mode.Stream()
    L = source.accumulate(lambda acc, x: acc + 10 // x, start=0, stream_name="acc").sink_to_list()
    await mode.emit(source, 5)
    with pytest.raises(ZeroDivisionError) as info:
        await mode.emit(source, 0)
    assert any("acc" in n for n in info.value.__notes__)
    await mode.emit(source, 1)
    assert L == [2, 12]


async def test_accumulate_on_exception_routes_dead_letter(mode):
    source = mode.Stream()
    node = source.accumulate(lambda acc, x: acc + 10 // x, start=0)
    errors = node.on_exception().sink_to_list()
    L = node.sink_to_list()
    await mode.emit_all(source, [5, 0, 1])
    assert L == [2, 12]
    assert [e.value for e in errors] == [0]


def test_accumulate_rejects_non_callable_at_construction():
    with pytest.raises(TypeError, match="accumulate"):
        Stream().accumulate(0)


# ------------------------------------------------------------------ partition
@pytest.mark.parametrize(
    "n, expected", [(1, [(0,), (1,), (2,), (3,), (4,)]), (2, [(0, 1), (2, 3)]), (3, [(0, 1, 2)])],
    ids=["singles", "pairs", "triples"],
)
async def test_partition_emits_only_full_groups(mode, n, expected):
    source = mode.Stream()
    L = source.partition(n).sink_to_list()
    await mode.emit_all(source, range(5))
    assert L == expected


@pytest.mark.parametrize(
    "key, elements, expected",
    [
        (lambda x: x % 2, range(7), [(0, 2), (1, 3), (4, 6)]),
        ("k", [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}],
         [({"k": "a", "v": 1}, {"k": "a", "v": 3})]),
    ],
    ids=["callable", "item-key"],
)
async def test_partition_key_groups_per_key(mode, key, elements, expected):
    source = mode.Stream()
    L = source.partition(2, key=key).sink_to_list()
    await mode.emit_all(source, elements)
    assert L == expected


async def test_partition_key_error_reaches_emit_caller(mode):
    source = mode.Stream()
    source.partition(2, key="k", stream_name="bykey").sink_to_list()
    with pytest.raises(KeyError) as info:
        await mode.emit(source, {"other": 1})
    assert any("bykey" in n for n in info.value.__notes__)


async def test_partition_timeout_flushes_partial_group(loop_mode):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.partition(3, timeout=1))
    await loop_mode.emit(source, 1)
    await loop_mode.sleep(0.5)
    await loop_mode.emit(source, 2)
    await loop_mode.sleep(0.4)
    assert out == []
    await loop_mode.sleep(0.1)  # one second after the group's first element
    assert out == [(1.0, (1, 2))]
    await loop_mode.sleep(5)
    assert out == [(1.0, (1, 2))]  # no empty groups


async def test_partition_timeout_restarts_after_a_full_group(loop_mode):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.partition(2, timeout="1s"))
    await loop_mode.emit_all(source, [1, 2])  # full: emitted at once, timer cancelled
    await loop_mode.sleep(0.5)
    await loop_mode.emit(source, 3)
    await loop_mode.sleep(2)
    assert out == [(0.0, (1, 2)), (1.5, (3,))]


async def test_partition_timeout_is_per_key(loop_mode):
    source = loop_mode.Stream()
    out = timed(loop_mode, source.partition(3, timeout=1, key=lambda x: x % 2))
    await loop_mode.emit(source, 0)
    await loop_mode.sleep(0.5)
    await loop_mode.emit_all(source, [1, 2])
    await loop_mode.sleep(2)
    assert out == [(1.0, (0, 2)), (1.5, (1,))]


@pytest.mark.parametrize("n", [0, -2, 2.5, None], ids=["zero", "negative", "float", "none"])
def test_partition_rejects_bad_n_at_construction(n):
    with pytest.raises(ValueError) as info:
        Stream().partition(n)
    assert "partition" in str(info.value) and repr(n) in str(info.value)


@pytest.mark.parametrize("timeout", [0, -1, "soon"], ids=["zero", "negative", "nonsense"])
def test_partition_rejects_bad_timeout_at_construction(timeout):
    with pytest.raises(ValueError) as info:
        Stream().partition(2, timeout=timeout)
    assert "partition" in str(info.value) and repr(timeout) in str(info.value)


async def test_partition_retains_metadata_until_group_is_emitted(mode, tracker):
    source = mode.Stream()
    L = source.partition(2).sink_to_list()
    await mode.emit(source, "a", metadata=tracker.md("a"))
    assert tracker.done == [] and tracker.counts() == {"a": 1}
    await mode.emit(source, "b", metadata=tracker.md("b"))
    assert L == [("a", "b")]
    assert sorted(tracker.done) == ["a", "b"]
    assert tracker.counts() == {"a": 0, "b": 0}


async def test_partition_timeout_releases_metadata_when_flushed(loop_mode, tracker):
    source = loop_mode.Stream()
    L = source.partition(3, timeout=1).sink_to_list()
    await loop_mode.emit(source, "a", metadata=tracker.md("a"))
    await loop_mode.sleep(0.9)
    assert tracker.done == []
    await loop_mode.sleep(0.1)
    assert L == [("a",)] and tracker.done == ["a"]


# ----------------------------------------------------------- partition_unique
@pytest.mark.parametrize(
    "keep, expected",
    [("first", [(1, 2, 3), (4, 5, 6)]), ("last", [(2, 1, 3), (4, 5, 6)])],
    ids=["keep-first", "keep-last"],
)
async def test_partition_unique_groups_distinct_keys(mode, keep, expected):
    source = mode.Stream()
    L = source.partition_unique(3, keep=keep).sink_to_list()
    await mode.emit_all(source, [1, 2, 1, 3, 4, 5, 6])
    assert L == expected


@pytest.mark.parametrize(
    "keep, expected",
    [("first", [("a1", "b1")]), ("last", [("a2", "b1")])],
    ids=["keep-first", "keep-last"],
)
async def test_partition_unique_key_selects_replaced_element(mode, keep, expected):
    source = mode.Stream()
    L = source.partition_unique(2, key=lambda s: s[0], keep=keep).sink_to_list()
    await mode.emit_all(source, ["a1", "a2", "b1"])
    assert L == expected


def test_partition_unique_rejects_bad_keep_at_construction():
    with pytest.raises(ValueError) as info:
        Stream().partition_unique(2, keep="middle")
    assert "partition_unique" in str(info.value) and "'middle'" in str(info.value)


@pytest.mark.parametrize("keep", ["first", "last"], ids=["keep-first", "keep-last"])
async def test_partition_unique_releases_metadata_of_dropped_and_emitted(mode, tracker, keep):
    source = mode.Stream()
    L = source.partition_unique(2, keep=keep).sink_to_list()
    await mode.emit(source, 1, metadata=tracker.md("1a"))
    await mode.emit(source, 1, metadata=tracker.md("1b"))
    dropped = "1b" if keep == "first" else "1a"
    assert tracker.done == [dropped]  # the duplicate that lost is done at once
    await mode.emit(source, 2, metadata=tracker.md("2"))
    assert len(L) == 1
    assert sorted(tracker.done) == sorted(["1a", "1b", "2"])
    assert set(tracker.counts().values()) == {0}


# ------------------------------------------------------------- sliding_window
@pytest.mark.parametrize(
    "return_partial, expected",
    [(True, [(0,), (0, 1), (0, 1, 2), (1, 2, 3), (2, 3, 4)]), (False, [(0, 1, 2), (1, 2, 3), (2, 3, 4)])],
    ids=["partial", "full-only"],
)
async def test_sliding_window_emits_overlapping_tuples(mode, return_partial, expected):
    source = mode.Stream()
    L = source.sliding_window(3, return_partial=return_partial).sink_to_list()
    await mode.emit_all(source, range(5))
    assert L == expected


@pytest.mark.parametrize("n", [0, -1, "3"], ids=["zero", "negative", "string"])
def test_sliding_window_rejects_bad_n_at_construction(n):
    with pytest.raises(ValueError) as info:
        Stream().sliding_window(n)
    assert "sliding_window" in str(info.value) and repr(n) in str(info.value)


@pytest.mark.parametrize("return_partial", [True, False], ids=["partial", "full-only"])
async def test_sliding_window_releases_metadata_after_the_elements_last_window(mode, tracker, return_partial):
    # as streamz 0.6.4 (its test_sliding_window_ref_counts): once an element has been
    # emitted as the oldest of a full window, no later window holds it
    source = mode.Stream()
    L = source.sliding_window(2, return_partial=return_partial).sink_to_list()
    await mode.emit(source, "a", metadata=tracker.md("a"))
    assert tracker.done == []  # a is waiting for its windows
    await mode.emit(source, "b")
    assert tracker.done == ["a"]  # (a, b) was a's last window
    await mode.emit(source, "c", metadata=tracker.md("c"))
    assert tracker.done == ["a"]  # c is in (b, c) and will be in (c, d)
    await mode.emit(source, "d")
    assert tracker.done == ["a", "c"]
    await mode.emit(source, "e")
    assert L[-1] == ("d", "e")
    assert tracker.counts() == {"a": 0, "c": 0}


# -------------------------------------------------------------------- collect
async def test_collect_holds_elements_until_flush(mode):
    source, trigger = mode.Stream(), mode.Stream()
    collector = source.collect()
    trigger.sink(collector.flush)
    L = collector.sink_to_list()
    await mode.emit_all(source, [1, 2, 3])
    assert L == []
    await mode.emit(trigger, "go")
    assert L == [(1, 2, 3)]
    await mode.emit(source, 4)
    await mode.emit(trigger, "go")
    await mode.emit(trigger, "go")
    assert L == [(1, 2, 3), (4,), ()]


def test_collect_flush_without_loop_returns_none():
    source = Stream()
    collector = source.collect()
    L = collector.sink_to_list()
    source.emit(1)
    assert collector.flush() is None
    assert L == [(1,)]


async def test_collect_retains_metadata_until_flush(mode, tracker):
    source, trigger = mode.Stream(), mode.Stream()
    collector = source.collect()
    trigger.sink(collector.flush)
    L = collector.sink_to_list()
    await mode.emit(source, 1, metadata=tracker.md(1))
    await mode.emit(source, 2, metadata=tracker.md(2))
    assert tracker.done == [] and tracker.counts() == {1: 1, 2: 1}
    await mode.emit(trigger, "go")
    assert L == [(1, 2)]
    assert sorted(tracker.done) == [1, 2]
    assert tracker.counts() == {1: 0, 2: 0}


# ---------------------------------------------------------------- frequencies
async def test_frequencies_emits_running_counts(mode):
    source = mode.Stream()
    L = source.frequencies().sink_to_list()
    await mode.emit_all(source, "abca")
    assert L == [{"a": 1}, {"a": 1, "b": 1}, {"a": 1, "b": 1, "c": 1}, {"a": 2, "b": 1, "c": 1}]
    assert L[0] is not L[1]  # each emission is a snapshot


@pytest.mark.parametrize(
    "build",
    [lambda s: s.accumulate(add), lambda s: s.partition(2), lambda s: s.partition(2, timeout=1),
     lambda s: s.partition_unique(2), lambda s: s.sliding_window(2), lambda s: s.collect(),
     lambda s: s.frequencies()],
    ids=["accumulate", "partition", "partition-timeout", "partition_unique", "sliding_window",
         "collect", "frequencies"],
)
async def test_aggregate_branch_nobody_references_is_collected(loop_mode, build):
    source = loop_mode.Stream()
    assert branch_collected(source, build)


def test_accumulate_counts_every_element_emitted_from_many_threads(virtual_runner):
    import threading

    source = Stream(asynchronous=False)
    L = source.accumulate(lambda n, _: n + 1, start=0).sink_to_list()

    def produce():
        for _ in range(100):
            source.emit(1)

    threads = [threading.Thread(target=produce) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert L[-1] == 400 and L == list(range(1, 401))


@pytest.mark.parametrize(
    "build, expected",
    [(lambda s: s.accumulate(add), [1, 3, 6]),
     (lambda s: s.sliding_window(2), [(1,), (1, 2), (2, 3)]),
     (lambda s: s.partition(1), [(1,), (2,), (3,)])],
    ids=["accumulate", "sliding_window", "partition"],
)
async def test_aggregate_with_several_downstreams_feeds_each(mode, build, expected):
    source = mode.Stream()
    node = build(source)
    a, b = node.sink_to_list(), node.sink_to_list()
    await mode.emit_all(source, [1, 2, 3])
    assert a == expected and b == expected


async def test_partition_unique_key_error_reaches_emit_caller_with_note(mode):
    source = mode.Stream()
    source.partition_unique(2, key="id", stream_name="pu").sink_to_list()
    with pytest.raises(KeyError) as info:
        await mode.emit(source, {"x": 1})
    assert any("pu" in n for n in info.value.__notes__)


async def test_partition_destroy_cancels_pending_timeout(loop_mode):
    source = loop_mode.Stream()
    node = source.partition(3, timeout=1)
    L = node.sink_to_list()
    await loop_mode.emit(source, 1)
    node.destroy()
    await loop_mode.sleep(2)
    assert L == []


async def test_partition_timeout_flush_error_goes_to_loop_exception_handler(loop_mode):
    errors = []
    loop_mode.loop.set_exception_handler(lambda loop, context: errors.append(context))
    source = loop_mode.Stream()
    L = source.partition(3, timeout=1).map(lambda t: 1 / (len(t) - 1)).sink_to_list()
    await loop_mode.emit(source, "a")  # flushed alone at t=1: 1 / 0
    await loop_mode.sleep(1.5)
    await loop_mode.emit_all(source, ["b", "c"])
    await loop_mode.sleep(1)
    assert L == [1.0]
    assert len(errors) == 1 and isinstance(errors[0]["exception"], ZeroDivisionError)


# ---------------------------------------------- counts of any integer type (issue 7, 6b)
def _three_of_each_type():
    import decimal
    import fractions

    import numpy

    return [numpy.int64(3), numpy.uint8(3), fractions.Fraction(3), decimal.Decimal(3), 3.0,
            numpy.float64(3.0)]


@pytest.mark.parametrize("n", _three_of_each_type(), ids=lambda v: type(v).__name__)
def test_counts_take_any_real_number_equal_to_an_int(n):
    # streamz accepts numpy integers, Fraction(3), Decimal(3) and 3.0 as counts.
    source = Stream()
    parts = source.partition(n).sink_to_list()
    windows = source.sliding_window(n, return_partial=False).sink_to_list()
    uniques = source.partition_unique(n).sink_to_list()
    for x in range(6):
        source.emit(x)
    assert parts == [(0, 1, 2), (3, 4, 5)]
    assert windows == [(0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5)]
    assert uniques == [(0, 1, 2), (3, 4, 5)]
    assert type(source.partition(n).n) is int


@pytest.mark.parametrize("n", [True, 2.5, "3", float("nan"), float("inf")], ids=repr)
def test_counts_reject_bools_fractions_and_strings(n):
    for build in (lambda s: s.partition(n), lambda s: s.sliding_window(n),
                  lambda s: s.partition_unique(n)):
        with pytest.raises(ValueError, match="expected a whole number >= 1") as info:
            build(Stream())
        assert repr(n) in str(info.value)
