"""Tests for streamz_core/operators/combine.py: zip, combine_latest, zip_latest, union."""
from __future__ import annotations

import asyncio
import threading

import pytest
from _modes import branch_collected

from streamz_core import Stream


# ------------------------------------------------------------------------ zip
async def test_zip_pairs_elements_in_order(mode):
    a, b = mode.Stream(), mode.Stream()
    L = a.zip(b).sink_to_list()
    await mode.emit_all(a, [1, 2, 3])
    assert L == []
    await mode.emit_all(b, "xy")
    assert L == [(1, "x"), (2, "y")]
    await mode.emit(b, "z")
    assert L == [(1, "x"), (2, "y"), (3, "z")]


async def test_zip_three_streams(mode):
    a, b, c = mode.Stream(), mode.Stream(), mode.Stream()
    L = a.zip(b, c).sink_to_list()
    await mode.emit(c, "c")
    await mode.emit(a, "a")
    await mode.emit(b, "b")
    assert L == [("a", "b", "c")]


async def test_zip_places_literals_in_every_tuple(mode):
    a, b = mode.Stream(), mode.Stream()
    L = Stream.zip(a, "lit", b, 5).sink_to_list()
    await mode.emit(a, 1)
    await mode.emit(b, 2)
    await mode.emit(b, 3)
    await mode.emit(a, 4)
    assert L == [(1, "lit", 2, 5), (4, "lit", 3, 5)]


async def test_zip_maxsize_blocks_stream_that_runs_ahead(loop_mode):
    a, b = loop_mode.Stream(), loop_mode.Stream()
    L = a.zip(b, maxsize=2).sink_to_list()
    for x in [1, 2]:
        await loop_mode.emit(a, x)
    # the third element exceeds maxsize: its emit waits until b catches up
    if loop_mode.name == "in_loop":
        pending = asyncio.ensure_future(a.emit(3))
        await loop_mode.settle()
        assert not pending.done()
        await loop_mode.emit(b, "x")
        await loop_mode.settle()
        assert pending.done()
    else:
        blocked = threading.Thread(target=a.emit, args=(3,))  # a blocking emit
        blocked.start()
        await loop_mode.settle()
        blocked.join(0.05)
        assert blocked.is_alive()
        await loop_mode.emit(b, "x")
        blocked.join(5)
        assert not blocked.is_alive()
    await loop_mode.emit_all(b, "yz")
    assert L == [(1, "x"), (2, "y"), (3, "z")]


def test_zip_without_loop_never_blocks():
    a, b = Stream(), Stream()
    L = a.zip(b, maxsize=1).sink_to_list()
    for i in range(5):
        a.emit(i)
    for i in range(5):
        b.emit(i)
    assert L == [(i, i) for i in range(5)]


async def test_zip_retains_metadata_until_tuple_is_emitted(mode, tracker):
    a, b = mode.Stream(), mode.Stream()
    L = a.zip(b).sink_to_list()
    await mode.emit(a, 1, metadata=tracker.md("a1"))
    await mode.emit(a, 2, metadata=tracker.md("a2"))
    assert tracker.done == [] and tracker.counts() == {"a1": 1, "a2": 1}
    await mode.emit(b, "x", metadata=tracker.md("bx"))
    assert L == [(1, "x")]
    assert sorted(tracker.done) == ["a1", "bx"]
    await mode.emit(b, "y")
    assert sorted(tracker.done) == ["a1", "a2", "bx"]
    assert set(tracker.counts().values()) == {0}


async def test_zip_releases_metadata_of_disconnected_upstream(mode, tracker):
    a, b = mode.Stream(), mode.Stream()
    z = a.zip(b)
    z.sink_to_list()
    await mode.emit(a, 1, metadata=tracker.md("a1"))
    a.disconnect(z)
    assert tracker.done == ["a1"]


# -------------------------------------------------------------- combine_latest
async def test_combine_latest_emits_once_all_have_values(mode):
    a, b = mode.Stream(), mode.Stream()
    L = a.combine_latest(b).sink_to_list()
    await mode.emit_all(a, [1, 2])
    assert L == []
    await mode.emit(b, "x")
    await mode.emit(a, 3)
    await mode.emit(b, "y")
    assert L == [(2, "x"), (3, "x"), (3, "y")]


@pytest.mark.parametrize("emit_on", ["stream", "index", "list"], ids=["stream", "index", "list"])
async def test_combine_latest_emit_on_limits_emitting_upstreams(mode, emit_on):
    a, b = mode.Stream(), mode.Stream()
    target = {"stream": a, "index": 0, "list": [0]}[emit_on]
    L = a.combine_latest(b, emit_on=target).sink_to_list()
    await mode.emit(a, 1)
    await mode.emit(b, "x")  # b does not trigger
    assert L == []
    await mode.emit(a, 2)
    await mode.emit(b, "y")
    await mode.emit(b, "z")
    await mode.emit(a, 3)
    assert L == [(2, "x"), (3, "z")]


@pytest.mark.parametrize(
    "emit_on, match",
    [(2, "index 2 is out of range"), ("a", "neither an upstream"), (Stream(), "neither an upstream")],
    ids=["index-out-of-range", "string", "foreign-stream"],
)
def test_combine_latest_rejects_bad_emit_on_at_construction(emit_on, match):
    a, b = Stream(), Stream()
    with pytest.raises(ValueError, match=match) as info:
        a.combine_latest(b, emit_on=emit_on)
    assert "combine_latest" in str(info.value)


def test_combine_latest_rejects_non_stream_argument_at_construction():
    with pytest.raises(TypeError, match="combine_latest"):
        Stream().combine_latest(5)


async def test_combine_latest_releases_metadata_when_value_is_replaced(mode, tracker):
    a, b = mode.Stream(), mode.Stream()
    L = a.combine_latest(b).sink_to_list()
    await mode.emit(a, 1, metadata=tracker.md("a1"))
    await mode.emit(b, "x", metadata=tracker.md("bx"))
    assert L == [(1, "x")]
    assert tracker.done == []  # both are still the latest values
    await mode.emit(a, 2, metadata=tracker.md("a2"))
    assert tracker.done == ["a1"]
    await mode.emit(b, "y")
    assert tracker.done == ["a1", "bx"]
    assert tracker.counts() == {"a1": 0, "bx": 0, "a2": 1}


# ---------------------------------------------------------------- zip_latest
async def test_zip_latest_pairs_every_lossless_element_with_latest(mode):
    a, b = mode.Stream(), mode.Stream()
    L = a.zip_latest(b).sink_to_list()
    await mode.emit_all(a, [1, 2])
    assert L == []
    await mode.emit(b, "x")
    assert L == [(1, "x"), (2, "x")]
    await mode.emit(b, "y")
    await mode.emit(b, "z")
    await mode.emit(a, 3)
    assert L == [(1, "x"), (2, "x"), (3, "z")]


async def test_zip_latest_waits_for_every_other_stream(mode):
    a, b, c = mode.Stream(), mode.Stream(), mode.Stream()
    L = a.zip_latest(b, c).sink_to_list()
    await mode.emit(a, 1)
    await mode.emit(b, "b")
    assert L == []
    await mode.emit(c, "c")
    await mode.emit(a, 2)
    assert L == [(1, "b", "c"), (2, "b", "c")]


async def test_zip_latest_releases_metadata_when_done(mode, tracker):
    a, b = mode.Stream(), mode.Stream()
    L = a.zip_latest(b).sink_to_list()
    await mode.emit(a, 1, metadata=tracker.md("a1"))
    assert tracker.done == [] and tracker.counts() == {"a1": 1}
    await mode.emit(b, "x", metadata=tracker.md("bx"))
    assert L == [(1, "x")]
    assert tracker.done == ["a1"]  # bx stays: it is the latest of b
    await mode.emit(a, 2, metadata=tracker.md("a2"))
    assert tracker.done == ["a1", "a2"]
    await mode.emit(b, "y")
    assert tracker.done == ["a1", "a2", "bx"]


# ---------------------------------------------------------------------- union
async def test_union_merges_in_arrival_order(mode):
    a, b, c = mode.Stream(), mode.Stream(), mode.Stream()
    L = a.union(b, c).sink_to_list()
    await mode.emit(a, 1)
    await mode.emit(c, 2)
    await mode.emit(b, 3)
    await mode.emit(a, 4)
    assert L == [1, 2, 3, 4]


def test_union_rejects_non_stream_argument_at_construction():
    with pytest.raises(TypeError, match="union"):
        Stream().union([1, 2])


async def test_union_passes_backpressure_of_downstream(loop_mode):
    loop_mode.autojump()

    async def slow(x):
        await asyncio.sleep(1)

    a, b = loop_mode.Stream(), loop_mode.Stream()
    a.union(b).sink(slow)
    await loop_mode.emit(a, 1)
    await loop_mode.emit(b, 2)
    assert loop_mode.now() == 2.0


@pytest.mark.parametrize(
    "build",
    [lambda a, b: a.zip(b), lambda a, b: a.combine_latest(b, emit_on=0),
     lambda a, b: a.zip_latest(b), lambda a, b: a.union(b)],
    ids=["zip", "combine_latest", "zip_latest", "union"],
)
async def test_combine_branch_nobody_references_is_collected(loop_mode, build):
    a, b = loop_mode.Stream(), loop_mode.Stream()
    assert branch_collected(a, lambda a: build(a, b))
    assert len(b.downstreams) == 0


@pytest.mark.parametrize("maxsize", [-1, "10", None, 2.5], ids=["negative", "string", "none", "float"])
def test_zip_rejects_bad_maxsize_at_construction(maxsize):
    a, b = Stream(), Stream()
    with pytest.raises(ValueError) as info:
        a.zip(b, maxsize=maxsize)
    assert "zip(maxsize=" in str(info.value) and repr(maxsize) in str(info.value)


async def test_zip_maxsize_zero_keeps_streams_in_lockstep(loop_mode):
    a, b = loop_mode.Stream(), loop_mode.Stream()
    L = a.zip(b, maxsize=0).sink_to_list()
    producer = loop_mode.produce(a, [1, 2])
    assert await producer.returned(0) == []  # 1 waits for its partner
    await loop_mode.emit(b, "x")
    assert await producer.returned(1) == [1]
    await loop_mode.emit(b, "y")
    assert await producer.returned(2) == [1, 2]
    assert L == [(1, "x"), (2, "y")]


async def test_zip_disconnect_and_connect_keep_literals_in_place(mode):
    a, b, c = mode.Stream(), mode.Stream(), mode.Stream()
    z = Stream.zip(a, "lit", b)
    L = z.sink_to_list()
    a.disconnect(z)
    await mode.emit(b, 1)
    c.connect(z)
    await mode.emit(b, 2)
    await mode.emit(c, 3)
    assert L == [("lit", 1), ("lit", 2, 3)]



def test_zip_with_itself_pairs_each_element_with_itself():
    a = Stream()
    L = a.zip(a).sink_to_list()
    a.emit(1)
    a.emit(2)
    assert L == [(1, 1), (2, 2)]


def test_union_of_stream_with_itself_emits_each_element_once():
    a = Stream()
    L = a.union(a).sink_to_list()
    a.emit(1)
    assert L == [1]


async def test_combine_latest_connect_adds_upstream_and_waits_for_it(mode):
    a, b, c = mode.Stream(), mode.Stream(), mode.Stream()
    node = a.combine_latest(b)
    L = node.sink_to_list()
    await mode.emit(a, 1)
    await mode.emit(b, 2)
    c.connect(node)
    await mode.emit(a, 3)
    assert L == [(1, 2)]  # c has sent nothing yet
    await mode.emit(c, 4)
    assert L == [(1, 2), (3, 2, 4)]


async def test_combine_latest_disconnect_drops_upstream_and_releases_its_value(mode, tracker):
    a, b = mode.Stream(), mode.Stream()
    node = a.combine_latest(b)
    L = node.sink_to_list()
    await mode.emit(a, 1)
    await mode.emit(b, 2, metadata=tracker.md("b"))
    b.disconnect(node)
    assert tracker.done == ["b"]
    await mode.emit(a, 3)
    assert L == [(1, 2), (3,)]


def test_zip_latest_rejects_a_non_stream_argument_at_the_call():
    # issue 7, 6c: zip_latest(3) used to be accepted and then never emitted.
    a = Stream()
    with pytest.raises(TypeError) as info:
        a.zip_latest(3)
    message = str(info.value)
    assert "zip_latest(3)" in message and "Stream" in message and ".map(" in message
    assert not list(a.downstreams)  # nothing half-built is left attached


def test_zip_takes_maxsize_of_any_integer_type():
    import numpy

    a, b = Stream(), Stream()
    node = a.zip(b, maxsize=numpy.int64(4))
    assert node.maxsize == 4 and type(node.maxsize) is int
