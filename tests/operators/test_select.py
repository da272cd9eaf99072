"""Tests for streamz_core/operators/select.py: filter, remove, unique, slice."""
from __future__ import annotations

import pytest
from _modes import branch_collected

from streamz_core import Stream


def is_even(x):
    return x % 2 == 0


# --------------------------------------------------------------------- filter
async def test_filter_passes_elements_matching_predicate(mode):
    source = mode.Stream()
    L = source.filter(is_even).sink_to_list()
    await mode.emit_all(source, range(6))
    assert L == [0, 2, 4]


async def test_filter_none_predicate_passes_truthy_elements(mode):
    source = mode.Stream()
    L = source.filter(None).sink_to_list()
    await mode.emit_all(source, [0, 1, "", "a", None, [], [0], False, True])
    assert L == [1, "a", [0], True]


async def test_filter_passes_extra_arguments_to_predicate(mode):
    source = mode.Stream()
    L = source.filter(lambda x, lo, hi=10: lo <= x < hi, 2, hi=4).sink_to_list()
    await mode.emit_all(source, range(6))
    assert L == [2, 3]


async def test_filter_error_reaches_emit_caller_with_note(mode):
    source = mode.Stream()
    source.filter(lambda x: x.startswith("a"), stream_name="starts").sink_to_list()
    with pytest.raises(AttributeError) as info:
        await mode.emit(source, 5)
    assert any("starts" in n for n in info.value.__notes__)


async def test_filter_on_exception_routes_dead_letter(mode):
    source = mode.Stream()
    node = source.filter(lambda x: 10 / x > 2)
    errors = node.on_exception(ZeroDivisionError).sink_to_list()
    L = node.sink_to_list()
    await mode.emit_all(source, [1, 0, 2, 5])
    assert L == [1, 2]
    assert [e.value for e in errors] == [0]


def test_filter_rejects_non_callable_at_construction():
    with pytest.raises(TypeError) as info:
        Stream().filter(42)
    assert "filter" in str(info.value) and "42" in str(info.value)


# --------------------------------------------------------------------- remove
async def test_remove_drops_elements_matching_predicate(mode):
    source = mode.Stream()
    L = source.remove(is_even).sink_to_list()
    await mode.emit_all(source, range(6))
    assert L == [1, 3, 5]


async def test_remove_error_reaches_emit_caller_with_note(mode):
    source = mode.Stream()
    source.remove(lambda x: 1 / x, stream_name="rm").sink_to_list()
    with pytest.raises(ZeroDivisionError) as info:
        await mode.emit(source, 0)
    assert any("rm" in n for n in info.value.__notes__)


def test_remove_rejects_non_callable_at_construction():
    with pytest.raises(TypeError, match="remove"):
        Stream().remove("x")


# --------------------------------------------------------------------- unique
async def test_unique_passes_first_occurrence_only(mode):
    source = mode.Stream()
    L = source.unique().sink_to_list()
    await mode.emit_all(source, [1, 2, 1, 3, 2, 3, 4])
    assert L == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "key, elements, expected",
    [
        (len, ["a", "bb", "c", "dd", "eee"], ["a", "bb", "eee"]),
        ("id", [{"id": 1, "v": "a"}, {"id": 1, "v": "b"}, {"id": 2, "v": "c"}],
         [{"id": 1, "v": "a"}, {"id": 2, "v": "c"}]),
    ],
    ids=["callable", "item-key"],
)
async def test_unique_compares_keys(mode, key, elements, expected):
    source = mode.Stream()
    L = source.unique(key=key).sink_to_list()
    await mode.emit_all(source, elements)
    assert L == expected


@pytest.mark.parametrize("hashable", [True, False], ids=["hashable", "list"])
async def test_unique_maxsize_forgets_least_recently_seen(mode, hashable):
    source = mode.Stream()
    L = source.unique(maxsize=2, hashable=hashable).sink_to_list()
    # 1 2 -> seen {1, 2}; 1 again refreshes 1; 3 evicts 2; 2 is new again; 1 was evicted by 2
    await mode.emit_all(source, [1, 2, 1, 3, 2, 1])
    assert L == [1, 2, 3, 2, 1]


async def test_unique_hashable_false_handles_unhashable_elements(mode):
    source = mode.Stream()
    L = source.unique(hashable=False).sink_to_list()
    await mode.emit_all(source, [{"a": 1}, {"a": 1}, [1], {"a": 2}, [1]])
    assert L == [{"a": 1}, [1], {"a": 2}]


async def test_unique_unhashable_element_reaches_emit_caller(mode):
    source = mode.Stream()
    source.unique(stream_name="uniq").sink_to_list()
    with pytest.raises(TypeError):
        await mode.emit(source, {"a": 1})


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, "3"], ids=["zero", "negative", "float", "string"])
def test_unique_rejects_bad_maxsize_at_construction(maxsize):
    with pytest.raises(ValueError) as info:
        Stream().unique(maxsize=maxsize)
    assert "unique" in str(info.value) and repr(maxsize) in str(info.value)


# ---------------------------------------------------------------------- slice
@pytest.mark.parametrize(
    "args, expected",
    [
        ((None, 3), [0, 1, 2]),
        ((2,), [2, 3, 4, 5, 6, 7, 8, 9]),
        ((1, 8, 3), [1, 4, 7]),
        ((None, None, 4), [0, 4, 8]),
        ((0, 0), []),
    ],
    ids=["end", "start", "start-end-step", "step", "empty"],
)
async def test_slice_selects_positions_like_islice(mode, args, expected):
    source = mode.Stream()
    L = source.slice(*args).sink_to_list()
    await mode.emit_all(source, range(10))
    assert L == expected


async def test_slice_detaches_from_upstream_after_end(mode):
    source = mode.Stream()
    node = source.slice(0, 2)
    L = node.sink_to_list()
    await mode.emit_all(source, [1, 2])
    assert node not in source.downstreams
    await mode.emit(source, 3)
    assert L == [1, 2]


@pytest.mark.parametrize(
    "kwargs, bad",
    [({"start": -1}, "start=-1"), ({"end": -2}, "end=-2"), ({"step": 0}, "step=0"),
     ({"step": -1}, "step=-1")],
    ids=["negative-start", "negative-end", "zero-step", "negative-step"],
)
def test_slice_rejects_negative_values_at_construction(kwargs, bad):
    with pytest.raises(ValueError) as info:
        Stream().slice(**kwargs)
    assert "slice" in str(info.value) and bad in str(info.value)


@pytest.mark.parametrize(
    "build",
    [lambda s: s.filter(None), lambda s: s.remove(bool), lambda s: s.unique(maxsize=3),
     lambda s: s.slice(1, 5)],
    ids=["filter", "remove", "unique", "slice"],
)
def test_select_branch_nobody_references_is_collected(build):
    assert branch_collected(Stream(), build)


async def test_unique_key_error_reaches_emit_caller_with_note(mode):
    source = mode.Stream()
    source.unique(key="id", stream_name="uid").sink_to_list()
    with pytest.raises(KeyError) as info:
        await mode.emit(source, {"x": 1})
    assert any("uid" in n for n in info.value.__notes__)


async def test_unique_on_exception_routes_dead_letter(mode):
    source = mode.Stream()
    node = source.unique(key="id")
    errors = node.on_exception(KeyError).sink_to_list()
    L = node.sink_to_list()
    await mode.emit_all(source, [{"id": 1}, {}, {"id": 1}, {"id": 2}])
    assert L == [{"id": 1}, {"id": 2}] and [e.value for e in errors] == [{}]


def test_unique_and_slice_take_counts_of_any_integer_type():
    # issue 7, 6b: numpy integers, Fraction and Decimal equal to an int are counts.
    import decimal
    import fractions

    import numpy

    source = Stream()
    sliced = source.slice(numpy.int64(1), fractions.Fraction(7), decimal.Decimal(2)).sink_to_list()
    uniq = source.map(lambda x: x % 4).unique(maxsize=numpy.int32(2)).sink_to_list()
    for x in range(10):
        source.emit(x)
    assert sliced == [1, 3, 5]
    assert uniq == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


@pytest.mark.parametrize("value", [True, 1.5, "2"], ids=repr)
def test_unique_and_slice_reject_non_integer_counts(value):
    with pytest.raises(ValueError, match=r"unique\(maxsize="):
        Stream().unique(maxsize=value)
    with pytest.raises(ValueError, match=r"slice\(step="):
        Stream().slice(step=value)
