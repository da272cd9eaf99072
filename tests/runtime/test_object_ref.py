"""Refs as futures: await from any loop, asyncio.wait/gather/wait_for/as_completed."""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time

import pytest

import streamz_core.runtime as rt


@rt.remote
def slow(x, t=0.05):
    time.sleep(t)
    return x


@rt.remote
def boom():
    raise KeyError("k")


def test_await_ref_many_times(runtime):
    ref = slow.remote(3)

    async def main():
        return [await ref, await ref]
    assert asyncio.run(main()) == [3, 3]


def test_await_raises_same_error_as_get(runtime):
    ref = boom.remote()

    async def main():
        with pytest.raises(KeyError):
            await ref
    asyncio.run(main())
    with pytest.raises(KeyError):
        rt.get(ref)


def test_refs_awaited_from_two_loops_on_two_threads(runtime):
    refs = [slow.remote(i, 0.01) for i in range(50)]
    out = {}

    def run(name):
        async def main():
            return await asyncio.gather(*refs)
        out[name] = asyncio.run(main())
    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert out["a"] == out["b"] == list(range(50))


def test_asyncio_wait_on_refs(runtime):
    async def main():
        refs = [slow.remote(i, 0.01) for i in range(4)]
        done, pending = await asyncio.wait(refs)
        assert done == set(refs) and not pending
        first = slow.remote("slow", 0.5)
        fast = slow.remote("fast", 0.0)
        done, pending = await asyncio.wait([first, fast], return_when=asyncio.FIRST_COMPLETED)
        assert fast in done and first in pending
        return await first
    assert asyncio.run(main()) == "slow"


def test_gather_and_as_completed(runtime):
    async def main():
        refs = [slow.remote(i, 0.0) for i in range(20)]
        assert await asyncio.gather(*refs) == list(range(20))
        got = [await f for f in asyncio.as_completed(refs)]
        return sorted(got)
    assert asyncio.run(main()) == list(range(20))


def test_wait_for_timeout_does_not_cancel_the_task(runtime):
    async def main():
        ref = slow.remote("late", 0.3)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ref, 0.01)
        return await asyncio.wait_for(ref, 10)
    assert asyncio.run(main()) == "late"


def test_future_and_as_future(runtime):
    ref = slow.remote(7, 0.0)
    fut = ref.future()
    assert isinstance(fut, cf.Future) and fut.result(10) == 7
    assert isinstance(boom.remote().future().exception(10), KeyError)

    async def main():
        f = rt.as_future(slow.remote(8, 0.0))
        assert isinstance(f, asyncio.Future)
        return await f
    assert asyncio.run(main()) == 8


def test_seed_async_api_example(runtime):
    # ray-async-api.rst with ray. -> rt.
    @rt.remote
    def f():
        time.sleep(0.05)
        return {"key1": ["value"]}
    loop = asyncio.new_event_loop()
    try:
        future = rt.as_future(f.remote(), loop=loop)
        assert loop.run_until_complete(future) == {"key1": ["value"]}
        tasks = [rt.as_future(f.remote(), loop=loop) for i in range(4)]
        results = loop.run_until_complete(asyncio.gather(*tasks))
    finally:
        loop.close()
    assert results == [{"key1": ["value"]}] * 4
    assert rt.get([f.remote() for i in range(4)]) == [{"key1": ["value"]}] * 4


def test_tornado_coroutine_awaits_ref(runtime):
    pytest.importorskip("tornado")
    from tornado import gen
    from tornado.ioloop import IOLoop

    @gen.coroutine
    def legacy():
        value = yield slow.remote(5, 0.0)
        return value

    async def native():
        return await slow.remote(6, 0.0)
    assert IOLoop.current().run_sync(legacy) == 5
    assert IOLoop.current().run_sync(native) == 6


def test_add_done_callback_runs_on_the_callers_loop(runtime):
    async def main():
        ref = slow.remote(1, 0.01)
        fut = asyncio.get_running_loop().create_future()
        me = threading.get_ident()
        ref.add_done_callback(lambda r: fut.set_result(threading.get_ident() == me))
        return await fut
    assert asyncio.run(main()) is True


def test_blocking_get_in_a_completion_callback_is_explained(runtime):
    import queue
    out = queue.Queue()
    pending = slow.remote(1, 0.3)

    def cb(_ref):
        try:
            out.put(rt.get(pending))
        except RuntimeError as exc:
            out.put(exc)
    trigger = slow.remote(0, 0.05)
    assert not trigger.done()
    trigger.add_done_callback(cb)
    err = out.get(timeout=10)
    assert isinstance(err, RuntimeError) and "IO thread" in str(err)
    assert rt.get(pending) == 1
