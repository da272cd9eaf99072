"""The Stream node: wiring, protocol, names, register_api, errors, lifetime."""
from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from streamz_core import DeadLetter, RefCounter, Stream
from streamz_core.core import _global_sinks


def test_upstreams_and_downstreams_are_wired():
    source = Stream()
    a = source.map(str)
    b = source.filter(None)
    assert list(source.downstreams) == [a, b]
    assert a.upstreams == [source] and a.upstream is source
    assert a in source.downstreams and len(source.downstreams) == 2


def test_upstream_property_raises_with_several_upstreams():
    a, b = Stream(), Stream()
    u = a.union(b)
    with pytest.raises(ValueError, match="upstreams"):
        _ = u.upstream


def test_emit_reaches_every_branch_in_order():
    source = Stream()
    out = []
    source.sink(lambda x: out.append(("first", x)))
    source.sink(lambda x: out.append(("second", x)))
    source.emit(1)
    assert out == [("first", 1), ("second", 1)]


def test_connect_and_disconnect():
    a, b = Stream(), Stream()
    L = b.sink_to_list()
    a.connect(b)
    a.emit(1)
    a.disconnect(b)
    a.emit(2)
    assert L == [1]
    assert b.upstreams == []


def test_connect_rejects_non_streams():
    with pytest.raises(TypeError, match="Stream node"):
        Stream().connect(print)


def test_destroy_detaches_from_upstreams():
    source = Stream()
    m = source.map(str)
    L = m.sink_to_list()
    m.destroy()
    source.emit(1)
    assert L == [] and m.upstreams == [] and len(source.downstreams) == 0


def test_unreferenced_branch_is_collected():
    source = Stream()
    source.map(str).filter(None)
    gc.collect()
    assert len(source.downstreams) == 0


def test_sink_lives_until_destroyed_and_destroy_frees_it():
    source = Stream()
    sink = source.map(str).sink(lambda x: None)
    ref = weakref.ref(sink)
    del sink
    gc.collect()
    assert ref() is not None and ref() in _global_sinks
    ref().destroy()
    gc.collect()
    assert ref() is None
    assert len(source.downstreams) == 0


def test_sink_to_list_can_be_destroyed():
    source = Stream()
    L = source.sink_to_list()
    source.emit(1)
    L.node.destroy()
    source.emit(2)
    assert L == [1]


def test_custom_streamz_style_node_keeps_working():
    class double(Stream):
        def update(self, x, who=None, metadata=None):
            return self._emit(2 * x, metadata=metadata)

    source = Stream()
    L = double(source).sink_to_list()
    source.emit(3)
    assert L == [6]


def test_register_api_attaches_method_and_returns_class():
    @Stream.register_api()
    class triple(Stream):
        def update(self, x, who=None, metadata=None):
            return self._emit(3 * x, metadata=metadata)

    try:
        source = Stream()
        node = source.triple()
        assert isinstance(node, triple)
        L = node.sink_to_list()
        source.emit(2)
        assert L == [6]
    finally:
        del Stream.triple


def test_register_api_staticmethod_for_sources():
    @Stream.register_api(staticmethod)
    class constant(Stream):
        pass

    try:
        assert isinstance(Stream.constant(), constant)
    finally:
        del Stream.constant


def test_register_api_attribute_name():
    @Stream.register_api(attribute_name="renamed_node")
    class _anything(Stream):
        pass

    try:
        assert isinstance(Stream().renamed_node(), _anything)
    finally:
        del Stream.renamed_node


@pytest.mark.parametrize(
    "build, text",
    [
        (lambda s: s.map(len), "<map: len>"),
        (lambda s: s.map(len, stream_name="sizes"), "<sizes; map: len>"),
        (lambda s: s.filter(bool), "<filter: bool>"),
        (lambda s: s.partition(3), "<partition: 3>"),
        (lambda s: s, "<Stream>"),
    ],
    ids=["map", "named", "filter", "partition", "bare"],
)
def test_repr_names_node_and_function(build, text):
    assert repr(build(Stream())) == text


def test_exception_reaches_caller_once_with_note_naming_node(caplog):
    source = Stream()
    source.map(lambda x: x).map(lambda x: 1 / x, stream_name="inverse").sink(lambda x: None)
    with pytest.raises(ZeroDivisionError) as info:
        source.emit(0)
    notes = info.value.__notes__
    assert len(notes) == 1 and "inverse" in notes[0] and "0" in notes[0]
    assert caplog.records == []  # not logged before the re-raise


def test_on_exception_routes_dead_letters_and_continues():
    source = Stream()
    parsed = source.map(int)
    errors = parsed.on_exception(ValueError).sink_to_list()
    good = parsed.sink_to_list()
    for x in ["1", "oops", "3"]:
        source.emit(x)
    assert good == [1, 3]
    assert len(errors) == 1 and isinstance(errors[0], DeadLetter)
    assert errors[0].value == "oops" and isinstance(errors[0].exception, ValueError)
    assert errors[0].node is parsed


def test_on_exception_only_catches_given_types():
    source = Stream()
    node = source.map(lambda x: {}[x])
    node.on_exception(ValueError).sink_to_list()
    with pytest.raises(KeyError):
        source.emit("missing")


def test_on_exception_rejects_non_exception_types():
    with pytest.raises(TypeError, match="exception classes"):
        Stream().map(str).on_exception("ValueError")


def test_metadata_refcounter_fires_once_after_sync_processing():
    done = []
    ref = RefCounter(cb=lambda: done.append(True))
    source = Stream()
    source.map(str).sink(lambda x: None)
    source.emit(1, metadata=[{"ref": ref}])
    assert ref.count == 0
    assert done == [True]  # fired once, when the element was fully processed


def test_metadata_flows_to_update():
    seen = []

    class spy(Stream):
        def update(self, x, who=None, metadata=None):
            seen.append(metadata)
            return self._emit(x, metadata=metadata)

    source = Stream()
    spy(source.map(str)).sink(lambda x: None)
    source.emit(1, metadata=[{"id": 7}])
    assert seen == [[{"id": 7}]]


def test_start_and_stop_reach_sources():
    calls = []

    class src(Stream):
        def start(self):
            calls.append("start")

        def stop(self):
            calls.append("stop")

    s = src()
    leaf = s.map(str)
    leaf.start()
    leaf.stop()
    assert calls == ["start", "stop"]


def test_emit_returns_none_in_sync_mode_even_with_many_branches():
    source = Stream()
    for _ in range(3):
        source.map(str).sink(lambda x: None)
    assert source.emit(1) is None


def test_no_deprecation_warnings_on_import_and_use(recwarn):
    import importlib

    import streamz_core

    importlib.reload(streamz_core.loop)
    source = Stream()
    source.map(str).sink_to_list()
    source.emit(1)
    assert [w for w in recwarn if issubclass(w.category, DeprecationWarning)] == []


# ------------------------------------------------ a producer that only awaits emit
async def test_awaiting_emit_lets_timed_window_fire_for_a_tight_producer(mock_clock):
    # issue 7, 5d: `await source.emit(x)` with no backpressure used to return a done
    # future, so a producer that only awaited emit never gave the loop a turn: the
    # window never fired and every element piled up in it.
    source = Stream(asynchronous=True)
    windows = source.timed_window(0.1).sink_to_list()
    n = 30_000
    for i in range(n):
        await source.emit(i)
        mock_clock.advance(1e-5)  # the producer's own work: 10 us of loop time per element
    assert len(windows) >= 2, "the window never fired while the producer ran"
    # Each window holds what 0.1 s brings (10,000 elements), plus the last millisecond
    # before the loop's turn: memory is bounded by the window, not by the run.
    assert max(len(w) for w in windows) <= 10_000 + 200
    mock_clock.advance(0.2)
    await mock_clock.wait_idle()
    assert [x for w in windows for x in w] == list(range(n))  # nothing lost or reordered


async def test_a_tight_source_lets_timers_fire(mock_clock):
    # The same for a source whose elements meet no backpressure (from_iterable).
    def produce():
        for i in range(30_000):
            mock_clock.advance(1e-5)
            yield i

    source = Stream.from_iterable(produce(), asynchronous=True)
    windows = source.timed_window(0.1).sink_to_list()
    source.start()
    while not source.stopped:
        await asyncio.sleep(0)
        if len(windows) >= 2:
            break
    assert len(windows) >= 2, "the window never fired while the source ran"
    assert max(len(w) for w in windows) <= 10_000 + 200


@pytest.mark.slow
def test_awaiting_emit_stays_bounded_on_a_real_loop():
    # The user's situation with a real asyncio loop: a producer that only awaits emit
    # for half a second; a window must reach the sink every 0.1 s and hold only the
    # elements of its own 0.1 s.
    async def main():
        source = Stream(asynchronous=True)
        sizes = []
        source.timed_window(0.1).sink(lambda w: sizes.append(len(w)))
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while loop.time() - start < 0.5:
            await source.emit(n)
            n += 1
        return n, sizes

    n, sizes = asyncio.run(main())
    assert len(sizes) >= 3, f"only {len(sizes)} windows in 0.5 s"
    assert max(sizes) < n / 2, "one window held most of the run"
