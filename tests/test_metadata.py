"""Tests for streamz_core/metadata.py: RefCounter, retain_refs/release_refs, and metadata
flowing through the graph (each buffering node's own hold is tested with the node)."""
from __future__ import annotations

import asyncio
import threading

import pytest
from _modes import (  # the shared fixtures and helpers: tests/_modes.py
    destroy_sinks_fixture,  # noqa: F401
    loop_mode_fixture,  # noqa: F401
    mode_fixture,  # noqa: F401
    tracker_fixture,  # noqa: F401
    virtual_runner_fixture,  # noqa: F401
)
from tornado.ioloop import IOLoop

from streamz_core import RefCounter, Stream
from streamz_core.metadata import release_refs, retain_refs

pytestmark = pytest.mark.usefixtures("destroy_sinks")


class capture(Stream):
    """Records (element, metadata) and passes both on."""

    def __init__(self, upstream, **kwargs):
        self.seen = []
        super().__init__(upstream, **kwargs)

    def update(self, x, who=None, metadata=None):
        self.seen.append((x, metadata))
        return self._emit(x, metadata)


# ---------------------------------------------------------------- RefCounter
def test_refcounter_calls_back_when_last_holder_releases():
    done = []
    ref = RefCounter(cb=lambda: done.append(True))
    ref.retain()
    ref.retain(2)
    ref.release(2)
    assert done == [] and ref.count == 1
    ref.release()
    assert done == [True] and ref.count == 0


def test_refcounter_initial_count():
    done = []
    ref = RefCounter(initial=2, cb=lambda: done.append(True))
    ref.release()
    assert done == []
    ref.release()
    assert done == [True]


def test_refcounter_without_callback_only_counts():
    ref = RefCounter()
    ref.retain()
    ref.release()
    assert ref.count == 0
    assert "count=0" in repr(ref)


async def test_refcounter_schedules_callback_on_asyncio_loop():
    loop = asyncio.get_running_loop()
    done = []
    ref = RefCounter(initial=1, cb=lambda: done.append(threading.get_ident()), loop=loop)
    ref.release()
    assert done == []  # scheduled, not called
    await asyncio.sleep(0)
    assert done == [threading.get_ident()]


async def test_refcounter_schedules_callback_on_tornado_ioloop():
    done = []
    ref = RefCounter(initial=1, cb=lambda: done.append(True), loop=IOLoop.current())
    ref.release()
    assert done == []
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert done == [True]


async def test_refcounter_release_from_other_thread_runs_callback_on_loop():
    loop = asyncio.get_running_loop()
    fired = loop.create_future()
    ref = RefCounter(initial=1, cb=lambda: fired.set_result(threading.get_ident()), loop=loop)
    t = threading.Thread(target=ref.release)
    t.start()
    t.join()
    assert await fired == threading.get_ident()


def test_retain_and_release_refs_touch_only_dicts_with_ref():
    a, b = RefCounter(), RefCounter()
    md = [{"ref": a}, {"offset": 3}, {"ref": b}]
    retain_refs(md, 2)
    assert (a.count, b.count) == (2, 2)
    release_refs(md)
    assert (a.count, b.count) == (1, 1)
    retain_refs(None)
    release_refs([])


# ---------------------------------------------------- metadata through a graph
async def test_metadata_reaches_downstream_nodes(mode, tracker):
    source = mode.Stream()
    cap = capture(source.map(lambda x: x + 1))
    cap.sink_to_list()
    md = tracker.md("a")
    await mode.emit(source, 1, metadata=md)
    assert cap.seen == [(2, md)]


async def test_metadata_ref_done_once_element_passed_through(mode, tracker):
    source = mode.Stream()
    L = source.map(str).sink_to_list()
    await mode.emit(source, 1, metadata=tracker.md(1))
    assert L == ["1"] and tracker.done == [1]
    assert tracker.counts() == {1: 0}


async def test_metadata_ref_done_once_with_several_branches(mode, tracker):
    source = mode.Stream()
    a = source.map(str).sink_to_list()
    b = source.filter(bool).sink_to_list()
    await mode.emit(source, 1, metadata=tracker.md(1))
    assert a == ["1"] and b == [1]
    assert tracker.done == [1]  # once, after both branches


async def test_filter_dropping_element_releases_its_metadata(mode, tracker):
    source = mode.Stream()
    source.filter(lambda x: x > 0).sink_to_list()
    await mode.emit(source, -1, metadata=tracker.md("dropped"))
    assert tracker.done == ["dropped"]


async def test_flatten_sends_metadata_with_last_item_only(mode, tracker):
    source = mode.Stream()
    cap = capture(source.flatten())
    cap.sink_to_list()
    md = tracker.md("batch")
    await mode.emit(source, [1, 2, 3], metadata=md)
    assert cap.seen == [(1, None), (2, None), (3, md)]
    assert tracker.done == ["batch"]


async def test_metadata_failed_element_is_released(mode, tracker):
    source = mode.Stream()
    source.map(lambda x: 1 / x).sink_to_list()
    with pytest.raises(ZeroDivisionError):
        await mode.emit(source, 0, metadata=tracker.md("bad"))
    assert tracker.done == ["bad"] and tracker.counts() == {"bad": 0}


async def test_metadata_dead_letter_carries_metadata(mode, tracker):
    source = mode.Stream()
    node = source.map(lambda x: 1 / x)
    cap = capture(node.on_exception())
    cap.sink_to_list()
    node.sink_to_list()
    md = tracker.md("bad")
    await mode.emit(source, 0, metadata=md)
    assert cap.seen[0][1] == md
    assert tracker.done == ["bad"]


# Every buffering node, driven until it has let go of everything: each element's
# ref must have fired exactly once, and no count may stay above zero.
BUFFERING = {
    "buffer": (lambda s: s.buffer(2), 0),
    "delay": (lambda s: s.delay(1), 2),
    "rate_limit": (lambda s: s.rate_limit(0.5), 5),
    "partition": (lambda s: s.partition(2, timeout=1), 2),
    "partition_unique": (lambda s: s.partition_unique(1), 0),
    "sliding_window": (lambda s: s.sliding_window(2), None),
    "timed_window": (lambda s: s.timed_window(1), 2),
    "timed_window_unique": (lambda s: s.timed_window_unique(1, key=lambda x: x % 2), 2),
    "latest": (lambda s: s.latest(), 0),
    "flatten": (lambda s: s.map(lambda x: [x, x]).flatten(), 0),
}


@pytest.mark.parametrize("build, wait", list(BUFFERING.values()), ids=list(BUFFERING))
async def test_metadata_no_leak_through_buffering_node(loop_mode, tracker, build, wait):
    loop_mode.autojump()
    source = loop_mode.Stream()
    node = build(source)
    node.sink_to_list()
    for x in range(5):
        await loop_mode.emit(source, x, metadata=tracker.md(x))
    if wait is None:  # a sliding window holds the last n elements until they leave
        for x in range(5, 7):
            await loop_mode.emit(source, x)
    else:
        await loop_mode.sleep(wait)
    await loop_mode.settle()
    assert sorted(tracker.done) == list(range(5))
    assert set(tracker.counts().values()) == {0}


async def test_metadata_no_leak_through_joins(loop_mode, tracker):
    a, b = loop_mode.Stream(), loop_mode.Stream()
    zipped = a.zip(b).sink_to_list()
    for i in range(3):
        await loop_mode.emit(a, i, metadata=tracker.md(("a", i)))
    for i in range(3):
        await loop_mode.emit(b, i, metadata=tracker.md(("b", i)))
    assert len(zipped) == 3
    assert len(tracker.done) == 6 and set(tracker.counts().values()) == {0}
