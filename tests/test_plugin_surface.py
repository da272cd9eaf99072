"""What code and plugins written for streamz 0.6.4 rely on beyond the node list.

See ``docs`` and the spec of the plugin surface: top-level names, ``Sink``, every
``register_api`` form, entry points with only ``name`` and ``load()``, ``Source``
subclassing, ``_emit`` returning a list, ``combine_latest``'s internals, ``start()`` on
a downstream node, connection order, errors with no caller on streamz's logger, and an
``asynchronous=True`` graph seeded before its loop runs.
"""
from __future__ import annotations

import abc
import asyncio
import gc
import logging
import os
import weakref

import pytest
from tornado import gen

import streamz_core
from streamz_core import Sink, Source, Stream, core, sinks, sources
from streamz_core.testing import async_poll_for


# ----------------------------------------------------------------- names
@pytest.mark.parametrize("name", ["Sink", "register_api", "logger", "sink_to_file",
                                  "PeriodicCallback", "Source", "RefCounter", "from_q",
                                  "combine_latest"])
def test_streamz_top_level_name_exists(name):
    assert name in streamz_core.__all__ and hasattr(streamz_core, name)


def test_logger_is_streamz_core_logger_of_streamz():
    assert isinstance(streamz_core.logger, logging.Logger)
    assert streamz_core.logger is core.logger
    assert streamz_core.logger.name == "streamz.core"  # as in 0.6.4: under "streamz"


def test_global_sinks_is_one_set_in_core_and_sinks():
    assert sinks._global_sinks is core._global_sinks
    assert sinks.Sink is Sink
    assert sources.sink_to_file is streamz_core.sink_to_file


def test_sink_to_file_writes_and_returns_the_file(tmp_path):
    path = tmp_path / "out.txt"
    source = Stream()
    with sources.sink_to_file(str(path), source, prefix="<", suffix=">\n", flush=True) as f:
        source.emit("a")
        source.emit("b")
        assert path.read_text() == "<a>\n<b>\n"  # flushed after each element
    assert f.closed


async def test_periodic_callback_is_from_periodic_with_kwargs(autojump_clock):
    source = sources.PeriodicCallback(lambda n: n * 2, 0.5, asynchronous=True, n=21)
    L = source.sink_to_list()
    source.start()
    await asyncio.sleep(1.2)
    source.stop()
    assert type(source).__name__ == "from_periodic"
    assert L[:2] == [42, 42]


# ------------------------------------------------------------------ Sink
@pytest.mark.parametrize("make", [
    lambda s: s.sink(print), lambda s: s.sink_to_list().node,
    lambda s: s.sink_to_textfile(os.devnull),
], ids=["sink", "sink_to_list", "sink_to_textfile"])
def test_builtin_sinks_are_sinks(make):
    node = make(Stream())
    assert isinstance(node, Sink) and node in sinks._global_sinks
    node.destroy()
    assert node not in sinks._global_sinks


def test_bare_sink_is_pinned_until_destroyed_then_collected():
    source = Stream()
    node = Sink(source)
    ref = weakref.ref(node)
    assert node in sinks._global_sinks
    node.destroy()
    assert node not in sinks._global_sinks and node.upstreams == []
    del node
    assert ref() is None


def test_sink_to_textfile_closes_its_file_when_dropped(tmp_path):
    node = Stream().sink_to_textfile(str(tmp_path / "x.txt"))
    fp = node._fp
    sinks._global_sinks.remove(node)
    del node  # no cycle: closed at once, without a gc pass
    assert fp.closed


async def test_sink_subclass_with_async_update_and_destroy_hook(autojump_clock):
    events = []

    class to_slow(Sink):
        def __init__(self, upstream, **kwargs):
            super().__init__(upstream, ensure_io_loop=True, **kwargs)

        async def update(self, x, who=None, metadata=None):
            await asyncio.sleep(1)
            events.append(x)

        def destroy(self):
            super().destroy()
            events.append("destroyed")

    source = Stream(asynchronous=True)
    end = to_slow(source)
    await source.emit(1)  # the async update is the backpressure
    assert events == [1] and autojump_clock.time() == 1
    end.destroy()
    assert events == [1, "destroyed"] and end not in sinks._global_sinks


# ---------------------------------------------------------- register_api
@pytest.fixture
def restore_stream():
    before = dict(vars(Stream))
    yield
    for name in set(vars(Stream)) - set(before):
        delattr(Stream, name)
    for name, value in before.items():
        if vars(Stream).get(name) is not value:
            setattr(Stream, name, value)


class _plus(Stream):
    def __init__(self, upstream, n=1, **kwargs):
        self.n = n
        super().__init__(upstream, **kwargs)

    def update(self, x, who=None, metadata=None):
        return self._emit(x + self.n, metadata=metadata)


class _from_list(Source):
    def __init__(self, items, **kwargs):
        self.items = items
        super().__init__(**kwargs)

    async def run(self):
        for x in self.items:
            await asyncio.gather(*self._emit(x))
        self.stopped = True


@pytest.mark.parametrize("register, name", [
    (lambda: Stream.register_api()(_plus), "_plus"),
    (lambda: Stream.register_api(attribute_name="plus_named")(_plus), "plus_named"),
    (lambda: streamz_core.register_api()(_plus), "_plus"),
    (lambda: streamz_core.register_api(attribute_name="plus_fn")(_plus), "plus_fn"),
], ids=["decorator", "attribute_name", "function", "function_attribute_name"])
def test_register_api_node_forms(restore_stream, register, name):
    assert register() is _plus  # the decorator returns the class unchanged
    source = Stream()
    L = getattr(source, name)(n=2).sink_to_list()
    source.emit(1)
    assert L == [3]


@pytest.mark.parametrize("register, name", [
    (lambda: Stream.register_api(staticmethod)(_from_list), "_from_list"),
    (lambda: Stream.register_api(staticmethod, attribute_name="from_lst")(_from_list), "from_lst"),
    (lambda: Source.register_api(staticmethod, attribute_name="from_src")(_from_list), "from_src"),
], ids=["staticmethod", "staticmethod_attribute_name", "on_subclass"])
async def test_register_api_source_forms_reachable_from_stream_and_source(
        restore_stream, autojump_clock, register, name):
    try:
        register()
        source = getattr(Source, name)([1, 2], asynchronous=True)
        if name != "from_src":
            assert getattr(Stream, name) is getattr(Source, name)
        else:
            assert not hasattr(Stream, name)  # registered on the subclass only
        L = source.sink_to_list()
        source.start()
        await source.wait_stopped()
        assert L == [1, 2]
    finally:
        vars(Source).get(name) and delattr(Source, name)


def test_register_api_overrides_a_builtin(restore_stream):
    @Stream.register_api(attribute_name="map")
    class loud_map(Stream):
        def __init__(self, upstream, func, **kwargs):
            self.func = func
            super().__init__(upstream, **kwargs)

        def update(self, x, who=None, metadata=None):
            return self._emit(("loud", self.func(x)), metadata=metadata)

    source = Stream()
    L = source.map(str).sink_to_list()
    source.emit(1)
    assert L == [("loud", "1")]


def test_entry_point_needs_only_name_and_load(restore_stream):
    class node(Stream):
        pass

    class EntryPoint:  # what pkg_resources and streamz's own tests pass: no .value
        name = "ep_node_only_load"
        module_name = "somewhere"

        def load(self):
            return node

    Stream.register_plugin_entry_point(EntryPoint())
    assert Stream.ep_node_only_load.__name__ == "stub"
    assert isinstance(Stream().ep_node_only_load(), node)
    assert Stream.ep_node_only_load.__name__ == "node"
    with pytest.raises(ValueError, match="somewhere"):
        Stream.register_plugin_entry_point(EntryPoint())


# ---------------------------------------------------------- subclassing
class _WithMeta(abc.ABC):
    @abc.abstractmethod
    def connect_client(self): ...


class _Client:
    def __init__(self, host="localhost"):
        self.host = host


def test_source_mixes_with_abc_and_another_base():
    class RedisLike(Source, _Client, _WithMeta):
        def __init__(self, host, **kwargs):
            _Client.__init__(self, host)
            super().__init__(**kwargs)

        def connect_client(self):
            return self.host

    node = RedisLike("db", stream_name="redis")
    assert node.connect_client() == "db" and node.name == "redis"
    assert node.stopped and not node.started
    assert node.loop is not None  # Source ensures a loop, like streamz
    with pytest.raises(TypeError):  # abstract methods still enforced
        type("Incomplete", (Source, _WithMeta), {})()


async def test_source_started_stopped_and_loop_add_callback(autojump_clock):
    class ticks(Source):
        def start(self):
            if self.stopped:
                self.stopped = False
                self.started = True
                self.loop.add_callback(self.poll)

        @gen.coroutine
        def poll(self):
            for i in range(3):
                yield self._emit(i)  # a list: Tornado accepts it
                yield gen.moment
            self.stopped = True

    source = ticks(asynchronous=True)
    L = source.sink_to_list()
    source.start()
    await async_poll_for(lambda: source.stopped)
    assert source.started and L == [0, 1, 2]


# ------------------------------------------------------------- _emit
def test_emit_returns_a_list_on_every_path():
    source = Stream()
    assert type(source._emit(1)).__mro__[-2] is list and source._emit(1) == []
    L = source.sink_to_list()
    assert isinstance(source._emit(1), list) and source._emit(1) == []
    other = source.map(str).sink_to_list()
    assert isinstance(source._emit(2), list)
    assert isinstance(source._emit(3, metadata=[{}]), list)
    assert L == [1, 1, 2, 3] and other == ["2", "3"]


async def test_emit_list_of_awaitables_can_be_gathered_and_yielded(autojump_clock):
    source = Stream(asynchronous=True)

    async def slow(x):
        await asyncio.sleep(1)

    source.sink(slow)
    source.sink(slow)
    result = source._emit(1)
    assert isinstance(result, list) and len(result) == 2
    await asyncio.gather(*result)

    @gen.coroutine
    def tornado_style():
        yield source._emit(2)
        yield Stream()._emit(3)  # the empty one too

    await tornado_style()


def test_shared_empty_emit_result_refuses_changes_and_adds_to_new_list():
    empty = Stream()._emit(1)
    with pytest.raises(TypeError, match="copy it"):
        empty.append(1)
    result = empty
    result += [1]
    assert result == [1] and Stream()._emit(1) == []
    collected = []
    collected.extend(Stream()._emit(1))
    assert collected == [] and repr(empty) == "[]"


# ------------------------------------------------------- node internals
def test_combine_latest_internals_for_subclasses():
    class tagged_latest(streamz_core.combine_latest):
        def update(self, x, who=None, metadata=None):
            idx = self.upstreams.index(who)
            return super().update((idx, x), who, metadata)

    a, b = Stream(), Stream()
    node = tagged_latest(a, b, emit_on=a)
    L = node.sink_to_list()
    assert node.missing == {a, b} and node.emit_on == [a] and node.last == [None, None]
    b.emit("x")
    assert node.missing == {a}
    a.emit(1)
    b.emit("y")  # not an emit_on stream
    assert node.missing == set() and L == [((0, 1), (1, "x"))]
    assert node.last == [(0, 1), (1, "y")]


def test_destroy_empties_upstreams_and_start_reaches_upstream_sources():
    started = []

    class src(Source):
        def start(self):
            started.append(self)

    s1, s2 = src(), src()
    node = s1.union(s2).map(str)
    node.start()
    assert started == [s1, s2]
    node.destroy()
    assert node.upstreams == []


def test_downstreams_fire_in_connection_order():
    source = Stream()
    order = []
    nodes = [source.sink(lambda x, i=i: order.append(i)) for i in range(5)]
    extra = Stream()
    extra.sink(lambda x: order.append("late"))
    source.connect(extra)
    source.emit(0)
    assert order == [0, 1, 2, 3, 4, "late"] and len(nodes) == 5


# ---------------------------------------------------- errors, loops
async def test_error_with_no_caller_is_logged_on_streamz_logger(autojump_clock, caplog):
    a = Stream(asynchronous=True)
    b = a.delay(0.001).map(lambda x: 1 / x)  # noqa: F841
    with caplog.at_level(logging.ERROR, logger="streamz"):
        a._emit(0)
        await asyncio.sleep(0.1)
    records = [r for r in caplog.records if r.name == "streamz.core"]
    assert records and "ZeroDivisionError" in caplog.text


def test_asynchronous_graph_seeded_before_its_loop_runs(autojump_clock):
    """streamz's fib_tornado example: emit first, then start the loop."""
    asyncio.set_event_loop(autojump_clock)
    try:
        source = Stream(asynchronous=True)
        s = source.sliding_window(2).map(sum)
        L = s.sink_to_list()
        s.rate_limit(0.5).sink(source.emit)  # feedback: runs on the loop
        source.emit(0)
        source.emit(1)
        assert source.loop.asyncio_loop is autojump_clock
        autojump_clock.run_until_complete(asyncio.sleep(3))
        assert L == [0, 0, 1, 1, 1, 2, 2, 3, 4]  # what streamz 0.6.4 gives, run the same way
    finally:
        asyncio.set_event_loop(None)
        gc.collect()


async def test_buffer_queue_is_a_tornado_queue_that_tests_replace(autojump_clock):
    from tornado.queues import Queue

    source = Stream(asynchronous=True)
    node = source.buffer(2)
    assert isinstance(node.queue, Queue) and node.queue.maxsize == 2
    puts = []

    class Recording(Queue):
        def put(self, item, timeout=None):
            puts.append(item[0])
            return super().put(item, timeout)

    node.queue = Recording(maxsize=1)
    L = node.sink_to_list()
    for x in range(3):
        await source.emit(x)
    await async_poll_for(lambda: len(L) == 3)
    assert puts == [0, 1, 2] and L == [0, 1, 2]


def test_source_cooperative_multiple_inheritance_reaches_the_other_base():
    class RedisSource(Source, _Client):
        def __init__(self, host, **kwargs):
            super().__init__(host=host, **kwargs)

    node = RedisSource("db", stream_name="r")
    assert node.host == "db" and node.name == "r" and node.stopped
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        Stream(bogus=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        type("Plain", (Source, _WithMeta), {"connect_client": lambda self: None})(bogus=1)


def test_from_q_keeps_streamz_attribute_names():
    import queue

    node = Stream.from_q(queue.Queue(), sleep_time=0.5)
    assert node.sleep == 0.5 and node.q.empty()
    node.sleep = 0.25
    assert node.sleep_time == 0.25
