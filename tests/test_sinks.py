"""Tests for streamz_core/sinks.py: sink, sink_to_list, sink_to_textfile."""
from __future__ import annotations

import asyncio
import gc
import io
import weakref

import pytest
from _modes import (  # the shared fixtures and helpers: tests/_modes.py
    Gate,
    collected,
    destroy_sinks_fixture,  # noqa: F401
    loop_mode_fixture,  # noqa: F401
    mode_fixture,  # noqa: F401
    tracker_fixture,  # noqa: F401
    virtual_runner_fixture,  # noqa: F401
)

from streamz_core import Stream
from streamz_core.core import _global_sinks

pytestmark = pytest.mark.usefixtures("destroy_sinks")


# ----------------------------------------------------------------------- sink
async def test_sink_calls_function_with_every_element(mode):
    source = mode.Stream()
    L = []
    s = source.sink(L.append)
    await mode.emit_all(source, [1, 2, 3])
    assert L == [1, 2, 3]
    s.destroy()


async def test_sink_passes_extra_arguments_to_function(mode):
    source = mode.Stream()
    L = []
    s = source.sink(lambda x, a, b=0: L.append((x, a, b)), "A", b="B")
    await mode.emit(source, 1)
    assert L == [(1, "A", "B")]
    s.destroy()


def test_sink_splits_stream_keyword_arguments_from_function_ones():
    source = Stream()
    L = []
    s = source.sink(lambda x, **kw: L.append((x, kw)), stream_name="out", prefix=">")
    source.emit(1)
    assert L == [(1, {"prefix": ">"})]
    assert s.name == "out"
    s.destroy()


async def test_sink_awaitable_result_is_backpressure(loop_mode):
    source = loop_mode.Stream()
    gate = Gate(loop_mode)
    source.sink(gate.work)
    producer = loop_mode.produce(source, [1, 2])
    assert await producer.returned(0) == []  # the emit of 1 waits for the sink
    assert gate.started == [1]
    await gate.open(1)
    assert await producer.returned(1) == [1]
    await gate.open(2)
    assert await producer.returned(2) == [1, 2]


async def test_sink_awaits_coroutine_function(loop_mode):
    loop_mode.autojump()
    seen = []

    async def store(x):
        await asyncio.sleep(1)
        seen.append((loop_mode.now(), x))

    source = loop_mode.Stream()
    source.sink(store)
    await loop_mode.emit_all(source, "ab")
    assert seen == [(1.0, "a"), (2.0, "b")]


async def test_sink_error_reaches_emit_caller_with_note(mode):
    def boom(x):
        raise RuntimeError(f"cannot store {x}")

    source = mode.Stream()
    s = source.sink(boom, stream_name="store")
    with pytest.raises(RuntimeError, match="cannot store 1") as info:
        await mode.emit(source, 1)
    assert len([n for n in info.value.__notes__ if "store" in n]) == 1
    s.destroy()


async def test_sink_on_exception_routes_dead_letter(mode):
    L = []

    def store(x):
        if x < 0:
            raise ValueError(x)
        L.append(x)

    source = mode.Stream()
    s = source.sink(store)
    errors = s.on_exception(ValueError).sink_to_list()
    await mode.emit_all(source, [1, -1, 2])
    assert L == [1, 2] and [e.value for e in errors] == [-1]


async def test_sink_retains_metadata_until_awaitable_done(loop_mode, tracker):
    source = loop_mode.Stream()
    gate = Gate(loop_mode)
    source.sink(gate.work)
    loop_mode.produce(source, ["a"], metadata=tracker.md)
    await loop_mode.settle()
    await loop_mode.settle()
    assert gate.started == ["a"] and tracker.done == []
    await gate.open("a")
    assert tracker.done == ["a"]


@pytest.mark.parametrize("func", [None, "print", 1], ids=["none", "string", "int"])
def test_sink_rejects_non_callable_at_construction(func):
    with pytest.raises(TypeError) as info:
        Stream().sink(func)
    assert "sink" in str(info.value) and repr(func) in str(info.value)


def test_sink_lives_until_destroyed():
    source = Stream()
    L = []
    s = source.sink(L.append)
    ref = weakref.ref(s)
    del s
    gc.collect()
    assert ref() is not None  # pinned although nobody references it
    source.emit(1)
    assert L == [1]
    ref().destroy()
    assert collected(ref)
    assert len(source.downstreams) == 0
    source.emit(2)
    assert L == [1]


def test_sink_keeps_its_pipeline_alive():
    source = Stream()
    L = []
    source.map(lambda x: x * 2).filter(bool).sink(L.append)
    gc.collect()
    source.emit(3)
    assert L == [6]
    (node,) = [s for s in _global_sinks if s.func == L.append]
    node.destroy()


def test_sink_destroy_frees_pipeline_behind_it():
    source = Stream()
    mid = source.map(lambda x: x)
    s = mid.sink(print)
    mid_ref, sink_ref = weakref.ref(mid), weakref.ref(s)
    del mid, s
    sink_ref().destroy()
    assert collected(sink_ref) and collected(mid_ref)
    assert len(source.downstreams) == 0


# --------------------------------------------------------------- sink_to_list
async def test_sink_to_list_returns_filled_list(mode):
    source = mode.Stream()
    L = source.sink_to_list()
    assert isinstance(L, list)
    await mode.emit_all(source, "abc")
    assert L == ["a", "b", "c"]


def test_sink_to_list_node_destroy_stops_and_frees_it():
    source = Stream()
    L = source.sink_to_list()
    node_ref = weakref.ref(L.node)
    source.emit(1)
    L.node.destroy()
    source.emit(2)
    assert L == [1]
    del L
    assert collected(node_ref)
    assert len(source.downstreams) == 0


def test_sink_to_list_stream_name():
    source = Stream()
    L = source.sink_to_list(stream_name="collected")
    assert L.node.name == "collected"
    L.node.destroy()


# ----------------------------------------------------------- sink_to_textfile
async def test_sink_to_textfile_writes_each_element_with_end(mode, tmp_path):
    path = tmp_path / "out.txt"
    source = mode.Stream()
    s = source.sink_to_textfile(str(path))
    await mode.emit_all(source, ["a", "b"])
    s.destroy()
    assert path.read_text() == "a\nb\n"


@pytest.mark.parametrize(
    "mode_arg, end, expected",
    [("a", "\n", "old\nx\n"), ("w", "\n", "x\n"), ("a", ";", "old\nx;")],
    ids=["append", "overwrite", "custom-end"],
)
def test_sink_to_textfile_mode_and_end(tmp_path, mode_arg, end, expected):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    source = Stream()
    s = source.sink_to_textfile(path, end=end, mode=mode_arg)
    source.emit("x")
    s.destroy()
    assert path.read_text() == expected


def test_sink_to_textfile_accepts_open_file():
    buf = io.StringIO()
    source = Stream()
    s = source.sink_to_textfile(buf)
    source.emit("line")
    assert buf.getvalue() == "line\n"
    s.destroy()


def test_sink_to_textfile_destroy_closes_file(tmp_path):
    source = Stream()
    s = source.sink_to_textfile(tmp_path / "f.txt")
    fp = s._fp
    assert not fp.closed
    s.destroy()
    assert fp.closed


def test_sink_to_textfile_rejects_bad_file_at_construction():
    with pytest.raises(TypeError) as info:
        Stream().sink_to_textfile(42)
    assert "sink_to_textfile" in str(info.value) and "42" in str(info.value)


def test_sink_to_textfile_non_string_reaches_emit_caller(tmp_path):
    source = Stream()
    s = source.sink_to_textfile(tmp_path / "f.txt", stream_name="tf")
    with pytest.raises(TypeError) as info:
        source.emit(5)
    assert any("tf" in n for n in info.value.__notes__)
    s.destroy()


async def test_sink_feeding_back_into_source_does_not_deadlock(mode):
    source = mode.Stream()
    L = source.sink_to_list()
    source.map(lambda x: x + 1).filter(lambda x: x < 4).sink(source.emit)
    await mode.emit(source, 0)
    await mode.settle()
    assert L == [0, 1, 2, 3]
