"""One pipeline, three ways to run it (in the caller, in your event loop, on a loop
thread), then heavy work moved off the loop onto the built-in runtime.

Run with `make demo` (or `python examples/pipeline_modes.py`).
"""
import asyncio
import time

from streamz_core import Stream


def show(label):
    start = time.perf_counter()
    return lambda x: print(f"  {label:<10} t={time.perf_counter() - start:5.2f}s  {x!r}")


def synchronous():
    print("1. No loop: emit runs the graph in the caller, like a function call")
    source = Stream()
    total = source.map(lambda x: x * x).accumulate(lambda acc, x: acc + x, start=0)
    total.sliding_window(2, return_partial=False).sink(show("squares"))
    for x in range(1, 5):
        source.emit(x)


async def in_your_loop():
    print("2. In your event loop: `await source.emit(x)` waits for backpressure")
    source = Stream(asynchronous=True)
    source.rate_limit(0.1).map(str.upper).sink(show("limited"))
    source.timed_window(0.25).sink(show("window"))
    for word in ["stream", "core", "runs", "here"]:
        await source.emit(word)
    await asyncio.sleep(0.3)


def on_a_loop_thread():
    print("3. Background loop thread: blocking emit from a script or notebook")
    source = Stream(asynchronous=False)
    source.delay(0.2).sink(show("delayed"))
    source.partition(3, timeout=0.5).sink(show("batches"))
    for x in range(5):
        source.emit(x)
    time.sleep(0.7)


def cube(x):
    return x ** 3


def on_the_runtime():
    print("4. scatter(): map runs in worker processes of the built-in runtime")
    source = Stream()
    results = source.scatter().map(cube).buffer(4).gather()
    results.sink(show("remote"))
    done = results.sink_to_list()
    for x in range(5):
        source.emit(x)
    while len(done) < 5:
        time.sleep(0.01)


if __name__ == "__main__":
    synchronous()
    asyncio.run(in_your_loop())
    on_a_loop_thread()
    on_the_runtime()
    print("done")
