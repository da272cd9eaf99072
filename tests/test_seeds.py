"""The examples of seeds/streamz-async.rst (outside Dask), as written with the import changed.

Only the loop they run on is swapped for a virtual-time one, so the half-second rate
limits take no wall time; the examples' own `time.sleep(0.1)` still really blocks.
"""
from __future__ import annotations

import time

from tornado import gen

from streamz_core import Stream
from streamz_core.loop import as_ioloop

written = []


def increment(x):
    """A blocking increment function (the seed's)."""
    time.sleep(0.1)
    return x + 1


@gen.coroutine
def write(x):
    """A non-blocking write function (the seed's), recording instead of printing."""
    yield gen.sleep(0.2)
    written.append(x)


def test_seed_within_the_event_loop_tornado_coroutine(autojump_clock):
    written.clear()

    @gen.coroutine
    def f():
        source = Stream(asynchronous=True)  # tell the stream we're working asynchronously
        source.map(increment).rate_limit(0.500).sink(write)

        for x in range(10):
            yield source.emit(x)

    as_ioloop(autojump_clock).run_sync(f)
    assert written == list(range(1, 11))
    # rate_limit spaces the ten elements 0.5 s apart; the last write takes 0.2 s
    assert autojump_clock.time() >= 4.5


def test_seed_within_the_event_loop_async_await(autojump_clock):
    written.clear()

    async def f():
        source = Stream(asynchronous=True)  # tell the stream we're working asynchronously
        source.map(increment).rate_limit(0.500).sink(write)

        for x in range(10):
            await source.emit(x)

    as_ioloop(autojump_clock).run_sync(f)
    assert written == list(range(1, 11))


def test_seed_event_loop_on_a_separate_thread(background_clock):
    written.clear()
    source = Stream(asynchronous=False)  # starts IOLoop in separate thread
    source.map(increment).rate_limit('500ms').sink(write)

    for x in range(10):
        source.emit(x)

    assert written == list(range(1, 11))
    assert background_clock.time() >= 4.5
