"""Tasks, actors and awaitable refs on the built-in runtime (no cluster to start).

Run: ``python examples/runtime_actors.py``
"""
from __future__ import annotations

import asyncio
import time

import streamz_core.runtime as rt


@rt.remote
def square(x: int) -> int:
    return x * x


@rt.remote
class Counter:
    """A sync actor: calls run one at a time, in submission order."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, x: int) -> int:
        self.total += x
        return self.total


@rt.remote
class Fetcher:
    """An async actor: up to max_concurrency calls wait at once on one event loop."""

    async def fetch(self, i: int) -> str:
        await asyncio.sleep(0.1)  # network I/O here
        return f"page {i}"


@rt.remote
class Pool:
    """A threaded actor (no async methods, max_concurrency=2): a pool of 2 threads."""

    def work(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds


def main() -> None:
    rt.init(num_workers=2)

    # tasks: submit many, get them back in order; refs can be arguments of other tasks
    refs = [square.remote(i) for i in range(10)]
    print("squares:", rt.get(refs))
    print("square of a ref:", rt.get(square.remote(refs[3])))

    # a sync actor keeps state between calls
    counter = Counter.options(name="counter").remote()
    rt.get([counter.add.remote(i) for i in range(5)])
    print("total:", rt.get(rt.get_actor("counter").add.remote(0)))

    # an async actor: 100 calls of 0.1 s take about 0.1 s in total
    fetcher = Fetcher.remote()
    rt.get(fetcher.fetch.remote(-1))  # wait until its process is up
    t0 = time.perf_counter()
    pages = rt.get([fetcher.fetch.remote(i) for i in range(100)])
    print(f"{len(pages)} pages in {time.perf_counter() - t0:.2f} s")

    # a threaded actor: two 0.2 s calls run side by side
    pool = Pool.options(max_concurrency=2).remote()
    rt.get(pool.work.remote(0))
    t0 = time.perf_counter()
    rt.get([pool.work.remote(0.2), pool.work.remote(0.2)])
    print(f"two 0.2 s calls in {time.perf_counter() - t0:.2f} s")

    # refs are awaitable from any event loop, and work with asyncio.wait/gather
    async def in_a_coroutine() -> None:
        print("awaited:", await square.remote(12))
        done, _ = await asyncio.wait([square.remote(i) for i in range(3)])
        print("asyncio.wait:", sorted([await r for r in done]))
        print("gather:", await asyncio.gather(*[fetcher.fetch.remote(i) for i in range(3)]))

    asyncio.run(in_a_coroutine())

    # errors come back as the original exception class, with the remote traceback
    @rt.remote
    def fails() -> None:
        raise ValueError("bad input")

    try:
        rt.get(fails.remote())
    except ValueError as exc:
        print("caught:", repr(exc))

    rt.kill(counter)
    rt.shutdown()


if __name__ == "__main__":
    main()
