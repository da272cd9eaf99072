"""Tests for streamz_core/operators/flow.py: buffer, latest.

Downstream work is a ``Gate``: a sink whose calls finish only when the test opens
them, so "downstream is busy" is exact and needs no clock.
"""
from __future__ import annotations

import asyncio

import pytest
from _modes import Gate, branch_collected

from streamz_core import Stream


# --------------------------------------------------------------------- buffer
async def test_buffer_backpressure_starts_only_when_full(loop_mode):
    source = loop_mode.Stream()
    gate = Gate(loop_mode)
    source.buffer(2).sink(gate.work)
    producer = loop_mode.produce(source, range(5))
    # 0 is being processed, 1 and 2 wait in the buffer, the emit of 3 waits for room
    assert await producer.returned(3) == [0, 1, 2]
    assert gate.started == [0]
    await gate.open(0)
    assert await producer.returned(4) == [0, 1, 2, 3]
    assert gate.started == [0, 1]
    for x in [1, 2, 3, 4]:
        await gate.open(x)
    assert await producer.returned(5) == [0, 1, 2, 3, 4]
    assert gate.started == [0, 1, 2, 3, 4]


async def test_buffer_keeps_order_with_slow_downstream(loop_mode):
    loop_mode.autojump()
    seen = []

    async def slow(x):
        await asyncio.sleep(0.5 if x % 2 else 0.1)
        seen.append(x)

    source = loop_mode.Stream()
    source.buffer(3).sink(slow)
    await loop_mode.emit_all(source, range(8))
    await loop_mode.sleep(10)
    assert seen == list(range(8))


async def test_buffer_emit_returns_at_once_while_room(loop_mode):
    source = loop_mode.Stream()
    L = source.buffer(10).sink_to_list()
    await loop_mode.emit_all(source, range(10))
    assert loop_mode.now() == 0.0
    await loop_mode.settle()
    assert L == list(range(10))


async def test_buffer_retains_metadata_until_emitted(loop_mode, tracker):
    source = loop_mode.Stream()
    gate = Gate(loop_mode)
    source.buffer(5).sink(gate.work)
    producer = loop_mode.produce(source, ["a", "b"], metadata=tracker.md)
    assert await producer.returned(2) == ["a", "b"]
    assert gate.started == ["a"]
    assert tracker.done == []
    assert tracker.counts()["b"] == 1  # held by the buffer
    await gate.open("a")
    assert tracker.done == ["a"]  # b is now downstream, in the gate
    await gate.open("b")
    assert tracker.done == ["a", "b"]
    assert tracker.counts() == {"a": 0, "b": 0}


async def test_buffer_downstream_error_goes_to_loop_exception_handler(loop_mode):
    errors = []
    loop_mode.loop.set_exception_handler(lambda loop, context: errors.append(context))
    source = loop_mode.Stream()
    L = source.buffer(2).map(lambda x: 1 / x).sink_to_list()
    await loop_mode.emit_all(source, [0, 1])
    await loop_mode.settle()
    assert L == [1.0]
    assert len(errors) == 1 and isinstance(errors[0]["exception"], ZeroDivisionError)


def test_buffer_statistics_report_queue(virtual_runner):
    source = Stream(asynchronous=False)
    node = source.buffer(4)
    assert node.statistics() == {"queued": 0, "maxsize": 4}


@pytest.mark.parametrize("n", [0, -1, 1.5, None], ids=["zero", "negative", "float", "none"])
def test_buffer_rejects_bad_n_at_construction(n):
    with pytest.raises(ValueError) as info:
        Stream().buffer(n)
    assert "buffer" in str(info.value) and repr(n) in str(info.value)


# --------------------------------------------------------------------- latest
async def test_latest_passes_everything_when_downstream_is_idle(mode):
    source = mode.Stream()
    L = source.latest().sink_to_list()
    await mode.emit_all(source, range(4))
    assert L == [0, 1, 2, 3]


async def test_latest_drops_all_but_newest_while_downstream_busy(loop_mode):
    source = loop_mode.Stream()
    gate = Gate(loop_mode)
    source.latest().sink(gate.work)
    await loop_mode.emit_all(source, range(4))  # never blocks
    assert loop_mode.now() == 0.0
    assert gate.started == [0]
    await gate.open(0)
    assert gate.started == [0, 3]
    await loop_mode.emit(source, 4)
    await gate.open(3)
    assert gate.started == [0, 3, 4]
    await gate.open(4)
    await loop_mode.emit(source, 5)
    assert gate.started == [0, 3, 4, 5]


async def test_latest_releases_metadata_of_dropped_elements(loop_mode, tracker):
    source = loop_mode.Stream()
    gate = Gate(loop_mode)
    source.latest().sink(gate.work)
    await loop_mode.emit(source, "a", metadata=tracker.md("a"))
    await loop_mode.emit(source, "b", metadata=tracker.md("b"))
    assert tracker.done == []
    await loop_mode.emit(source, "c", metadata=tracker.md("c"))
    assert tracker.done == ["b"]  # replaced by c: dropped, so done
    assert tracker.counts()["c"] == 1  # held while it waits
    await gate.open("a")
    assert tracker.done == ["b", "a"]
    assert gate.started == ["a", "c"]
    await gate.open("c")
    assert tracker.done == ["b", "a", "c"]
    assert tracker.counts() == {"a": 0, "b": 0, "c": 0}


@pytest.mark.parametrize("build", [lambda s: s.buffer(2), lambda s: s.latest()], ids=["buffer", "latest"])
async def test_flow_branch_nobody_references_is_collected(loop_mode, build):
    source = loop_mode.Stream()
    assert branch_collected(source, build)


async def test_latest_downstream_errors_go_to_loop_exception_handler(loop_mode):
    errors = []
    loop_mode.loop.set_exception_handler(lambda loop, context: errors.append(context))

    async def fragile(x):
        await asyncio.sleep(1)
        if x < 0:
            raise ValueError(x)

    loop_mode.autojump()
    source = loop_mode.Stream()
    source.latest().sink(fragile)
    await loop_mode.emit(source, -1)  # busy for 1 s, then fails
    await loop_mode.emit(source, -2)  # pending: emitted after the failure, fails too
    await loop_mode.sleep(3)
    await loop_mode.emit(source, 3)
    await loop_mode.sleep(2)
    assert [type(e["exception"]) for e in errors] == [ValueError, ValueError]


async def test_latest_synchronous_downstream_error_reaches_emit_caller(mode):
    source = mode.Stream()
    source.latest().map(lambda x: 1 / x, stream_name="inv").sink_to_list()
    with pytest.raises(ZeroDivisionError) as info:
        await mode.emit(source, 0)
    assert any("inv" in n for n in info.value.__notes__)
