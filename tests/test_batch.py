"""Tests for streamz_core.collection (Streaming, map_partitions) and streamz_core.batch (Batch)."""
from __future__ import annotations

import asyncio
import operator
import subprocess
import sys

import pytest

from streamz_core import Batch, Stream, Streaming
from streamz_core.batch import map_partitions


def inc(x):
    return x + 1


# ------------------------------------------------------------------ Batch
def test_batch_pluck_map_sum_chain():
    a = Batch()
    b = a.pluck("x").map(inc)
    c = b.sum()
    L = c.stream.sink_to_list()
    a.emit([{"x": i, "y": 0} for i in range(4)])
    a.emit([{"x": 10}])
    assert isinstance(b, Batch)
    assert type(c) is Streaming
    assert L == [1 + 2 + 3 + 4, 10 + 11]


def test_batch_filter_then_to_stream_flattens_batches():
    a = Batch()
    L = a.filter(lambda x: x % 2 == 0).to_stream().sink_to_list()
    a.emit([1, 2, 3, 4])
    a.emit([5, 6])
    a.emit([])
    assert L == [2, 4, 6]


def test_batch_filter_emits_lists_even_for_tuple_batches():
    a = Batch(example=())
    L = a.filter(bool).stream.sink_to_list()
    a.emit((0, 1, 2))
    assert L == [[1, 2]]


def test_batch_map_passes_extra_arguments_to_the_function():
    a = Batch()
    L = a.map(lambda x, y, z=0: x * y + z, 10, z=1).stream.sink_to_list()
    a.emit([1, 2])
    assert L == [[11, 21]]


def test_batch_map_keyword_named_example_goes_to_the_function():
    a = Batch()
    L = a.map(lambda x, example: (x, example), example="e").stream.sink_to_list()
    a.emit([1])
    assert L == [[(1, "e")]]


@pytest.mark.parametrize(
    "ind, expected",
    [("name", [["Alice", "Bob"]]), (["name", "x"], [[("Alice", 1), ("Bob", 2)]])],
    ids=["one-key", "list-of-keys"],
)
def test_batch_pluck_picks_fields(ind, expected):
    a = Batch()
    L = a.pluck(ind).stream.sink_to_list()
    a.emit([{"name": "Alice", "x": 1}, {"name": "Bob", "x": 2}])
    assert L == expected


def test_batch_example_elements_decide_result_types():
    a = Batch(example=[{"x": 1.5}])
    b = a.pluck("x")
    assert b.example == [1.5]
    total = b.sum()
    assert total.example == 1.5
    assert type(a.map_partitions(len, a)) is Streaming


def test_batch_sum_keeps_a_running_total():
    a = Batch()
    L = a.sum().stream.sink_to_list()
    for batch in ([1, 2], (3,), []):
        a.emit(batch)
    assert L == [3, 6, 6]


def test_batch_accepts_lists_and_tuples_and_rejects_other_elements():
    a = Batch()
    L = a.to_stream().sink_to_list()
    a.emit([1])
    a.emit((2, 3))
    with pytest.raises(TypeError, match=r"Batch.emit\(\{4\}\): expected a list or tuple like "
                                        r"the example \[\], got set"):
        a.emit({4})
    assert L == [1, 2, 3]


def test_batch_example_must_be_a_list_or_tuple():
    with pytest.raises(TypeError, match=r"Batch\(example='abc'\): expected a list or tuple, got str"):
        Batch(example="abc")


def test_batch_map_and_filter_reject_non_callables():
    with pytest.raises(TypeError, match=r"Batch.map\(func=3\): expected a function"):
        Batch().map(3)
    with pytest.raises(TypeError, match=r"Batch.filter\(predicate='x'\)"):
        Batch().filter("x")


def test_batch_error_in_function_reaches_the_caller_naming_the_node():
    a = Batch()
    L = a.map(lambda x: 1 / x).stream.sink_to_list()
    with pytest.raises(ZeroDivisionError) as info:
        a.emit([1, 0])
    assert any("map" in note and "[1, 0]" in note for note in info.value.__notes__)
    assert L == []


def test_batch_has_no_to_dataframe_until_streaming_dataframes_exist():
    # streamz's Batch.to_dataframe needs streamz.dataframe, which is not ported yet:
    # the method is absent rather than a stub that fails when called
    assert not hasattr(Batch(), "to_dataframe")


def test_stream_to_batch_wraps_the_stream():
    source = Stream()
    batch = source.to_batch(example=["a"])
    assert isinstance(batch, Batch)
    assert batch.stream is source
    assert batch.example == ["a"]
    L = batch.map(str.upper).to_stream().sink_to_list()
    source.emit(["x", "y"])
    assert L == ["X", "Y"]


def test_batch_emit_in_the_loop_returns_an_awaitable():
    async def main():
        source = Stream(asynchronous=True)
        batch = source.to_batch()
        L = batch.to_stream().sink_to_list()
        await batch.emit([1, 2])
        return L

    assert asyncio.run(main()) == [1, 2]


# --------------------------------------------------------------- Streaming
def test_streaming_requires_an_example():
    with pytest.raises(ValueError, match=r"Streaming\(example=None\): an example element is needed"):
        Streaming()


def test_streaming_rejects_an_unknown_stream_type():
    with pytest.raises(ValueError, match=r"stream_type='batch'\): expected 'streaming' or 'updating'"):
        Streaming(example=0, stream_type="batch")


def test_streaming_rejects_a_stream_that_is_not_a_stream():
    with pytest.raises(TypeError, match=r"Streaming\(stream=\[\]\): expected a Stream node"):
        Streaming(stream=[], example=0)


def test_streaming_emit_checks_the_element_against_the_example_type():
    s = Streaming(example="text")
    L = s.stream.sink_to_list()
    s.emit("ok")
    with pytest.raises(TypeError, match=r"Streaming.emit\(3\): expected a str like the example "
                                        r"'text', got int; convert the element first"):
        s.emit(3)
    assert L == ["ok"]


def test_streaming_number_example_accepts_any_number_but_not_bool_examples():
    s = Streaming(example=0)
    L = s.stream.sink_to_list()
    s.emit(1.5)
    s.emit(2)
    assert L == [1.5, 2]
    flags = Streaming(example=True)
    with pytest.raises(TypeError, match="expected a bool"):
        flags.emit(1)


def test_streaming_verify_is_public():
    s = Streaming(example=[])
    s.verify([1])
    with pytest.raises(TypeError):
        s.verify((1,))


BINARY = [
    ("add", operator.add, 7, 2), ("sub", operator.sub, 7, 2), ("mul", operator.mul, 7, 2),
    ("truediv", operator.truediv, 7, 2), ("floordiv", operator.floordiv, 7, 2),
    ("mod", operator.mod, 7, 2), ("pow", operator.pow, 7, 2), ("lt", operator.lt, 7, 2),
    ("gt", operator.gt, 7, 2), ("le", operator.le, 2, 2), ("ge", operator.ge, 1, 2),
    ("eq", operator.eq, 2, 2), ("ne", operator.ne, 2, 2), ("and", operator.and_, 6, 3),
    ("or", operator.or_, 6, 3), ("xor", operator.xor, 6, 3), ("lshift", operator.lshift, 6, 2),
    ("rshift", operator.rshift, 6, 1),
]


@pytest.mark.parametrize("name, op, x, k", BINARY, ids=[b[0] for b in BINARY])
def test_streaming_operator_with_a_constant_maps_each_element(name, op, x, k):
    s = Streaming(example=1)
    left, right = op(s, k), op(k, s)
    L, R = left.stream.sink_to_list(), right.stream.sink_to_list()
    s.emit(x)
    assert L == [op(x, k)]
    if name not in ("lt", "gt", "le", "ge", "eq", "ne"):  # reflected comparisons swap
        assert R == [op(k, x)]
    assert isinstance(left, Streaming)


@pytest.mark.parametrize(
    "op, x, expected",
    [(operator.neg, 3, -3), (operator.abs, -3, 3), (operator.invert, 3, -4)],
    ids=["neg", "abs", "invert"],
)
def test_streaming_unary_operator_maps_each_element(op, x, expected):
    s = Streaming(example=1)
    L = op(s).stream.sink_to_list()
    s.emit(x)
    assert L == [expected]


def test_streaming_operator_between_two_collections_zips_them():
    a, b = Streaming(example=0), Streaming(example=0)
    L = (a - b).stream.sink_to_list()
    a.emit(10)
    a.emit(20)
    b.emit(1)
    b.emit(2)
    assert L == [9, 18]


def test_streaming_operator_with_itself_pairs_each_element_with_itself():
    a = Streaming(example=0)
    L = (a * a + a).stream.sink_to_list()
    a.emit(3)
    a.emit(4)
    assert L == [12, 20]


def test_streaming_operators_on_batches_combine_whole_batches():
    a = Batch()
    doubled = a + a
    assert isinstance(doubled, Batch)
    L = doubled.stream.sink_to_list()
    a.emit([1, 2])
    assert L == [[1, 2, 1, 2]]


def test_streaming_comparison_builds_a_collection_and_truth_value_is_an_error():
    a = Streaming(example=0)
    eq = a == 1
    assert isinstance(eq, Streaming)
    L = eq.stream.sink_to_list()
    a.emit(1)
    a.emit(2)
    assert L == [True, False]
    with pytest.raises(TypeError, match="truth value of a Streaming is ambiguous"):
        bool(eq)
    assert len({a, eq}) == 2  # hashable by identity


def test_streaming_current_value_is_the_last_element_emitted():
    source = Stream()
    s = Streaming(stream=source, example=0)
    doubled = s * 2
    assert s.current_value is None
    source.emit(1)  # emitting on the stream itself counts too
    s.emit(5)
    assert s.current_value == 5
    assert doubled.current_value == 10


def test_streaming_start_and_stop_reach_the_upstream_sources():
    calls = []

    class Recorder(Stream):
        def start(self):
            calls.append("start")

        def stop(self):
            calls.append("stop")

    s = Streaming(stream=Stream(Recorder()), example=0)
    s.start()
    s.stop()
    assert calls == ["start", "stop"]


def test_streaming_repr_shows_the_example():
    assert repr(Batch(example=[1])) == "Batch - elements like:\n[1]"


# ---------------------------------------------------------- map_partitions
def test_map_partitions_places_elements_in_the_slots_of_the_collections():
    a = Streaming(example="")
    L = map_partitions(str.replace, "a-b", "-", a).stream.sink_to_list()
    a.emit("+")
    assert L == ["a+b"]


def test_map_partitions_method_is_the_module_function_as_in_streamz():
    # streamz: Streaming.map_partitions = staticmethod(map_partitions)
    assert Streaming.map_partitions is map_partitions
    assert Batch().map_partitions is map_partitions


def test_map_partitions_method_form_maps_over_the_collections_passed():
    a = Batch()
    sizes = a.map_partitions(len, a)
    L = sizes.stream.sink_to_list()
    a.emit([1, 2, 3])
    assert L == [3]
    assert type(sizes) is Streaming and sizes.example == 0


def test_map_partitions_method_and_function_forms_agree():
    a, b = Streaming(example=0), Streaming(example=0)
    by_method = a.map_partitions(operator.sub, a, b).stream.sink_to_list()
    by_function = map_partitions(operator.sub, a, b).stream.sink_to_list()
    a.emit(10)
    b.emit(3)
    assert by_method == by_function == [7]


def test_map_partitions_method_form_does_not_add_its_instance():
    # as in streamz, a.map_partitions(len, b) maps over b only: a is not implied
    a, b = Batch(), Batch()
    sizes = a.map_partitions(len, b).stream.sink_to_list()
    a.emit([1])
    b.emit([1, 2])
    assert sizes == [2]
    with pytest.raises(TypeError, match=r"no Streaming collection among the arguments.*"
                                        r"batch\.map_partitions\(len, batch\)"):
        a.map_partitions(len)


@pytest.mark.parametrize("module", ["streamz_core.collection", "streamz_core.batch"])
def test_collection_modules_work_imported_on_their_own(module):
    # as `from streamz.collection import Streaming` does: the stream methods and Batch
    # are ready although nothing imported the top-level streamz_core names
    script = (
        f"from {module} import Streaming, map_partitions\n"
        "a = Streaming(example=0)\n"
        "b = map_partitions(lambda x: [x, x], a)\n"
        "L = b.to_stream().sink_to_list()\n"
        "a.emit(3)\n"
        "print(type(b).__name__, L)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Batch [3, 3]"


def test_collection_and_batch_modules_share_one_streaming_class():
    import streamz_core.batch
    import streamz_core.collection

    assert streamz_core.collection.Streaming is streamz_core.batch.Streaming is Streaming
    assert streamz_core.collection.map_partitions is streamz_core.batch.map_partitions
    assert Streaming.__module__ == "streamz_core.collection"
    assert Batch.__module__ == "streamz_core.batch"


def test_map_partitions_explicit_example_skips_the_call_on_the_example():
    calls = []

    def f(x):
        calls.append(x)
        return len(x)

    a = Batch()
    out = map_partitions(f, a, example=0, stream_type="updating")
    assert calls == []
    assert out._stream_type == "updating"
    a.emit([1])
    assert calls == [[1]]


def test_map_partitions_result_class_follows_the_example_type():
    a = Streaming(example=0)
    assert isinstance(map_partitions(lambda x: [x], a), Batch)
    assert type(map_partitions(lambda x: {x}, a)) is Streaming
    assert type(map_partitions(lambda x: [x], a, stream_type="updating")) is Streaming


def test_map_partitions_without_a_collection_is_a_type_error():
    with pytest.raises(TypeError, match="no Streaming collection among the arguments"):
        map_partitions(len, [1, 2])
    with pytest.raises(TypeError, match=r"map_partitions\(func=3\): expected a function"):
        map_partitions(3, Batch())


def test_map_partitions_error_on_the_example_says_how_to_skip_it():
    with pytest.raises(KeyError) as info:
        Batch(example=[{"y": 1}]).pluck("x")
    assert "pass example=" in info.value.__notes__[-1]


# ------------------------------------------------------ accumulate_partitions
def test_accumulate_partitions_with_returns_state_emits_the_output():
    a = Batch()
    acc = a.accumulate_partitions(lambda n, b: (n + len(b), n), start=0, returns_state=True)
    assert acc.example == 0
    L = acc.stream.sink_to_list()
    a.emit([1, 2])
    a.emit([3])
    a.emit([4])
    assert L == [0, 2, 3]


def test_accumulate_partitions_without_start_emits_the_first_element_as_is():
    a = Batch()
    acc = a.accumulate_partitions(operator.add)
    assert isinstance(acc, Batch)
    L = acc.stream.sink_to_list()
    a.emit([1])
    a.emit([2, 3])
    assert L == [[1], [1, 2, 3]]


def test_accumulate_partitions_passes_extra_arguments():
    a = Streaming(example=0)
    acc = a.accumulate_partitions(lambda s, x, k, scale=1: s + x * k * scale, 10, start=0, scale=2)
    L = acc.stream.sink_to_list()
    a.emit(1)
    a.emit(2)
    assert L == [20, 60]


def test_accumulate_partitions_checks_the_returns_state_shape_on_the_example():
    with pytest.raises(TypeError, match=r"returns_state=True\): func returned 0 on the example"):
        Streaming(example=0).accumulate_partitions(operator.add, start=0, returns_state=True)


def test_batch_runs_on_the_background_loop_thread():
    source = Stream(asynchronous=False)
    batch = source.to_batch()
    total = batch.sum()
    L = total.stream.sink_to_list()
    batch.emit([1, 2])
    batch.emit((3,))
    assert L == [3, 6]
    assert total.current_value == 6


def test_map_partitions_function_returning_none_asks_for_an_example():
    with pytest.raises(ValueError, match=r"map_partitions\('noop'\): the function returned None "
                                         r"on the example.*pass example="):
        def noop(batch):
            return None

        b = Batch()
        b.map_partitions(noop, b)
    b = Batch()
    out = b.map_partitions(print, b, example=0)
    assert type(out) is Streaming
