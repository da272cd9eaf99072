"""Tests for streamz_core/operators/transform.py: map, starmap, pluck, flatten (concat)."""
from __future__ import annotations

import asyncio
import logging
import weakref

import pytest
from _modes import branch_collected, collected

from streamz_core import DeadLetter, Stream


def inc(x):
    return x + 1


def fail_on_two(x):
    if x == 2:
        raise ValueError("two is not allowed")
    return x


async def slow_double(x, delay=1.0):
    await asyncio.sleep(delay)
    return 2 * x


# ------------------------------------------------------------------------ map
async def test_map_applies_function_to_every_element(mode):
    source = mode.Stream()
    L = source.map(inc).sink_to_list()
    await mode.emit_all(source, [1, 2, 3])
    assert L == [2, 3, 4]


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [((10,), {}, [11, 12]), ((), {"b": 100}, [101, 102]), ((10,), {"c": 1000}, [1011, 1012])],
    ids=["positional", "keyword", "both"],
)
async def test_map_passes_extra_arguments_to_function(mode, args, kwargs, expected):
    def add(x, b=0, c=0):
        return x + b + c

    source = mode.Stream()
    L = source.map(add, *args, **kwargs).sink_to_list()
    await mode.emit_all(source, [1, 2])
    assert L == expected


async def test_map_stream_name_goes_to_node_not_function():
    source = Stream()
    node = source.map(lambda x, **kw: (x, kw), stream_name="named")
    L = node.sink_to_list()
    source.emit(1)
    assert L == [(1, {})]
    assert node.name == "named"
    assert "named" in repr(node)


async def test_map_awaits_coroutine_function(loop_mode):
    loop_mode.autojump()
    source = loop_mode.Stream()
    L = source.map(slow_double).sink_to_list()
    for x in [1, 2]:
        await loop_mode.emit(source, x)
    assert L == [2, 4]
    assert loop_mode.now() == 2.0  # each emit waited for its coroutine


async def test_map_awaits_coroutine_function_with_arguments(loop_mode):
    loop_mode.autojump()
    source = loop_mode.Stream()
    L = source.map(slow_double, delay=0.25).sink_to_list()
    await loop_mode.emit(source, 5)
    assert L == [10]
    assert loop_mode.now() == 0.25


async def test_map_coroutine_function_puts_sync_graph_on_a_loop(virtual_runner):
    source = Stream()
    source.map(slow_double, delay=0.0).sink_to_list()
    assert source.loop is not None  # async functions need a loop: background thread
    assert source.asynchronous is False


async def test_map_error_reaches_emit_caller_once_with_note(mode, caplog):
    source = mode.Stream()
    node = source.map(fail_on_two, stream_name="checker")
    L = node.sink_to_list()
    await mode.emit(source, 1)
    with caplog.at_level(logging.DEBUG), pytest.raises(ValueError, match="two is not allowed") as info:
        await mode.emit(source, 2)
    notes = [n for n in getattr(info.value, "__notes__", []) if "checker" in n]
    assert len(notes) == 1
    assert "2" in notes[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await mode.emit(source, 3)  # the pipeline still works
    assert L == [1, 3]


async def test_map_error_in_chain_is_noted_by_the_failing_node_only(mode):
    source = mode.Stream()
    source.map(inc, stream_name="first").map(fail_on_two, stream_name="second").sink_to_list()
    with pytest.raises(ValueError) as info:
        await mode.emit(source, 1)
    notes = info.value.__notes__
    assert len(notes) == 1 and "second" in notes[0] and "first" not in notes[0]


async def test_map_async_function_error_reaches_emit_caller(loop_mode):
    async def boom(x):
        await asyncio.sleep(0.1)
        raise KeyError(x)

    loop_mode.autojump()
    source = loop_mode.Stream()
    source.map(boom, stream_name="aboom").sink_to_list()
    with pytest.raises(KeyError) as info:
        await loop_mode.emit(source, 7)
    assert any("aboom" in n for n in info.value.__notes__)


async def test_map_on_exception_routes_dead_letter_and_continues(mode):
    source = mode.Stream()
    node = source.map(fail_on_two)
    errors = node.on_exception(ValueError).sink_to_list()
    L = node.sink_to_list()
    await mode.emit_all(source, [1, 2, 3])
    assert L == [1, 3]
    assert len(errors) == 1
    letter = errors[0]
    assert isinstance(letter, DeadLetter)
    assert letter.value == 2 and isinstance(letter.exception, ValueError) and letter.node is node


async def test_map_on_exception_lets_other_exceptions_through(mode):
    source = mode.Stream()
    node = source.map(lambda x: 1 / x)
    errors = node.on_exception(KeyError).sink_to_list()
    node.sink_to_list()
    with pytest.raises(ZeroDivisionError):
        await mode.emit(source, 0)
    assert errors == []


async def test_map_async_on_exception_routes_dead_letter(loop_mode):
    async def boom(x):
        if x == 2:
            raise ValueError(x)
        return x

    source = loop_mode.Stream()
    node = source.map(boom)
    errors = node.on_exception().sink_to_list()
    L = node.sink_to_list()
    await loop_mode.emit_all(source, [1, 2, 3])
    assert L == [1, 3]
    assert [e.value for e in errors] == [2]


@pytest.mark.parametrize("bad", [None, 3, "inc"], ids=["none", "int", "string"])
def test_map_rejects_non_callable_at_construction(bad):
    with pytest.raises(TypeError) as info:
        Stream().map(bad)
    message = str(info.value)
    assert "map" in message and repr(bad) in message and "pass the function" in message


def test_map_branch_nobody_references_is_collected():
    source = Stream()
    node = source.map(inc)
    ref = weakref.ref(node)
    del node
    assert collected(ref)
    assert len(source.downstreams) == 0


def test_map_branch_ending_in_sink_stays_alive():
    source = Stream()
    L = source.map(inc).sink_to_list()
    import gc

    gc.collect()
    source.emit(1)
    assert L == [2]
    L.node.destroy()


# -------------------------------------------------------------------- starmap
async def test_starmap_unpacks_each_element(mode):
    source = mode.Stream()
    L = source.starmap(lambda a, b: a * b).sink_to_list()
    await mode.emit_all(source, [(2, 3), (4, 5)])
    assert L == [6, 20]


async def test_starmap_appends_extra_arguments(mode):
    source = mode.Stream()
    L = source.starmap(lambda a, b, c, d=0: (a, b, c, d), 3, d=4).sink_to_list()
    await mode.emit(source, (1, 2))
    assert L == [(1, 2, 3, 4)]


async def test_starmap_awaits_coroutine_function(loop_mode):
    async def add_later(a, b):
        await asyncio.sleep(0.5)
        return a + b

    loop_mode.autojump()
    source = loop_mode.Stream()
    L = source.starmap(add_later).sink_to_list()
    await loop_mode.emit(source, (1, 2))
    assert L == [3]
    assert loop_mode.now() == 0.5


async def test_starmap_error_reaches_emit_caller_with_note(mode):
    source = mode.Stream()
    source.starmap(lambda a, b: a / b, stream_name="divide").sink_to_list()
    with pytest.raises(ZeroDivisionError) as info:
        await mode.emit(source, (1, 0))
    assert any("divide" in n for n in info.value.__notes__)


async def test_starmap_on_exception_routes_dead_letter(mode):
    source = mode.Stream()
    node = source.starmap(lambda a, b: a / b)
    errors = node.on_exception(ZeroDivisionError).sink_to_list()
    L = node.sink_to_list()
    await mode.emit_all(source, [(4, 2), (1, 0), (9, 3)])
    assert L == [2.0, 3.0]
    assert [e.value for e in errors] == [(1, 0)]


def test_starmap_rejects_non_callable_at_construction():
    with pytest.raises(TypeError, match=r"starmap\(func=5\)"):
        Stream().starmap(5)


# ---------------------------------------------------------------------- pluck
@pytest.mark.parametrize(
    "pick, elements, expected",
    [
        (0, [(1, 2), (3, 4)], [1, 3]),
        ("a", [{"a": 1, "b": 2}], [1]),
        ([0, 2], ["xyz", "abc"], [("x", "z"), ("a", "c")]),
        (["a", "b"], [{"a": 1, "b": 2, "c": 3}], [(1, 2)]),
    ],
    ids=["index", "key", "index-list", "key-list"],
)
async def test_pluck_selects_items(mode, pick, elements, expected):
    source = mode.Stream()
    L = source.pluck(pick).sink_to_list()
    await mode.emit_all(source, elements)
    assert L == expected


async def test_pluck_missing_key_reaches_emit_caller_with_note(mode):
    source = mode.Stream()
    source.pluck("z", stream_name="getz").sink_to_list()
    with pytest.raises(KeyError) as info:
        await mode.emit(source, {"a": 1})
    assert any("getz" in n for n in info.value.__notes__)


async def test_pluck_on_exception_routes_dead_letter(mode):
    source = mode.Stream()
    node = source.pluck(1)
    errors = node.on_exception(IndexError).sink_to_list()
    L = node.sink_to_list()
    await mode.emit_all(source, [(1, 2), (1,), (3, 4)])
    assert L == [2, 4]
    assert [e.value for e in errors] == [(1,)]


# -------------------------------------------------------------- flatten/concat
@pytest.mark.parametrize("method", ["flatten", "concat"], ids=["flatten", "concat"])
async def test_flatten_emits_each_item_in_order(mode, method):
    source = mode.Stream()
    L = getattr(source, method)().sink_to_list()
    await mode.emit_all(source, [[1, 2], (), (3,), range(4, 6)])
    assert L == [1, 2, 3, 4, 5]


async def test_flatten_non_iterable_reaches_emit_caller(mode):
    source = mode.Stream()
    source.flatten().sink_to_list()
    with pytest.raises(TypeError):
        await mode.emit(source, 5)


async def test_flatten_waits_for_backpressure_of_every_item(loop_mode):
    loop_mode.autojump()
    seen = []

    async def slow_sink(x):
        await asyncio.sleep(1)
        seen.append((loop_mode.now(), x))

    source = loop_mode.Stream()
    source.flatten().sink(slow_sink)
    await loop_mode.emit(source, [1, 2])
    # both items' sinks run concurrently; the emit returns once both are done
    assert sorted(seen) == [(1.0, 1), (1.0, 2)]
    assert loop_mode.now() == 1.0


@pytest.mark.parametrize("node", ["map", "starmap"], ids=["map", "starmap"])
async def test_map_async_retains_metadata_until_result_emitted(loop_mode, tracker, node):
    async def later(*xs):
        await asyncio.sleep(1)
        return xs

    source = loop_mode.Stream()
    L = getattr(source, node)(later).sink_to_list()
    producer = loop_mode.produce(source, [(1,)], metadata=lambda x: tracker.md("a"))
    await loop_mode.sleep(0.5)
    assert L == [] and tracker.done == []  # the coroutine holds the element
    await loop_mode.sleep(0.5)
    assert len(L) == 1 and tracker.done == ["a"]
    assert await producer.returned(1) == [(1,)]


@pytest.mark.parametrize(
    "build",
    [lambda s: s.map(inc), lambda s: s.map(slow_double), lambda s: s.starmap(max),
     lambda s: s.pluck(0), lambda s: s.flatten(), lambda s: s.map(inc).map(inc).flatten()],
    ids=["map", "async-map", "starmap", "pluck", "flatten", "chain"],
)
async def test_transform_branch_nobody_references_is_collected(loop_mode, build):
    source = loop_mode.Stream()
    await loop_mode.emit(source, (1, 2))
    assert branch_collected(source, build)


async def test_map_with_several_downstreams_feeds_each(mode):
    source = mode.Stream()
    node = source.map(inc)
    a, b = node.sink_to_list(), node.map(str).sink_to_list()
    await mode.emit_all(source, [1, 2])
    assert a == [2, 3] and b == ["2", "3"]


async def test_map_async_function_with_wrong_arguments_reaches_emit_caller(loop_mode):
    async def needs_two(x, y):
        return x + y

    source = loop_mode.Stream()
    source.map(needs_two, stream_name="two").sink_to_list()
    with pytest.raises(TypeError) as info:
        await loop_mode.emit(source, 1)
    assert any("two" in n for n in info.value.__notes__)


async def test_map_async_waits_for_async_downstream(loop_mode):
    loop_mode.autojump()
    seen = []

    async def store(x):
        await asyncio.sleep(1)
        seen.append((loop_mode.now(), x))

    source = loop_mode.Stream()
    source.map(slow_double, delay=0.5).sink(store)
    await loop_mode.emit(source, 1)
    assert seen == [(1.5, 2)] and loop_mode.now() == 1.5


@pytest.mark.parametrize("method", ["flatten", "concat"], ids=["flatten", "concat"])
async def test_flatten_with_several_downstreams_feeds_each(mode, method):
    source = mode.Stream()
    node = getattr(source, method)()
    a, b = node.sink_to_list(), node.map(inc).sink_to_list()
    await mode.emit_all(source, [[1, 2], [3]])
    assert a == [1, 2, 3] and b == [2, 3, 4]


async def test_flatten_with_several_downstreams_passes_backpressure(loop_mode):
    loop_mode.autojump()

    async def slow(x):
        await asyncio.sleep(x)

    source = loop_mode.Stream()
    node = source.flatten()
    node.sink(slow)
    L = node.sink_to_list()
    await loop_mode.emit(source, [1, 2])
    assert L == [1, 2] and loop_mode.now() == 2.0


async def test_map_runs_in_caller_thread_or_on_loop_thread(mode):
    import threading

    source = mode.Stream()
    L = source.map(lambda x: threading.get_ident()).sink_to_list()
    await mode.emit(source, 1)
    on_caller = L == [threading.get_ident()]
    assert on_caller is (mode.name != "thread")
