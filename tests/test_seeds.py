"""The seed examples, as written with only the names mapped.

seeds/streamz-async.rst (outside Dask) first, then every example of ray-async-api.rst and
ray-async-actors.rst (below, each in a fresh interpreter).

In the streamz examples only the loop is swapped for a virtual-time one, so the half-second
rate limits take no wall time; the examples' own `time.sleep(0.1)` still really blocks.
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


# -- seeds/ray-async-api.rst and seeds/ray-async-actors.rst, as written ----------------------
# Each example is the seed's text with only the names mapped (`import ray` ->
# `import streamz_core.runtime as rt`, `ray.` -> `rt.`, `async_api.as_future` ->
# `rt.as_future`); the sleeps are the seed's own. Each runs as a script in a fresh
# interpreter, because how it sets up its event loop (`asyncio.get_event_loop()` in a
# thread with no loop yet, a top-level `await`) is part of the example. What a test checks
# is printed by lines appended after the example, never by changing it.

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import pytest  # noqa: E402

# How IPython runs a cell with a top-level `await` (what ray-async-actors.rst asks for):
# the whole cell is one coroutine on the session's event loop, in the main thread.
TOP_LEVEL_AWAIT_RUNNER = """\
import ast, asyncio, sys
path = sys.argv[1]
with open(path) as f:
    code = compile(f.read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
cell = eval(code, {"__name__": "__main__"})
if cell is not None:
    loop.run_until_complete(cell)
"""


def run_example(tmp_path, example: str, check: str = "", *, top_level_await: bool = False,
                preamble: str = "") -> subprocess.CompletedProcess:
    """Run ``preamble + example + check`` as ``__main__`` of a fresh interpreter."""
    script = tmp_path / "seed_example.py"
    script.write_text(textwrap.dedent(preamble) + textwrap.dedent(example)
                      + "\n" + textwrap.dedent(check))
    cmd = [sys.executable, str(script)]
    if top_level_await:
        cmd = [sys.executable, "-c", TOP_LEVEL_AWAIT_RUNNER, str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc


def checked(proc: subprocess.CompletedProcess) -> dict:
    """The JSON line the appended check printed last."""
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ray-async-api.rst, "Converting Ray objects into asyncio futures"
ASYNC_API_AS_FUTURE = """\
import asyncio
import time
import streamz_core.runtime as rt

@rt.remote
def f():
    time.sleep(1)
    return {'key1': ['value']}

rt.init()
future = rt.as_future(f.remote())
asyncio.get_event_loop().run_until_complete(future)  # {'key1': ['value']}
"""


def test_seed_async_api_as_future_before_the_loop_runs(tmp_path):
    # as_future is called with no loop running: it binds to the thread's loop, the one
    # get_event_loop() then runs (as asyncio.wrap_future does)
    proc = run_example(tmp_path, ASYNC_API_AS_FUTURE, """\
        import json
        print(json.dumps({"result": future.result(),
                          "same_loop": future.get_loop() is asyncio.get_event_loop()}))
        """)
    assert checked(proc) == {"result": {"key1": ["value"]}, "same_loop": True}
    assert proc.stderr == ""


def test_as_future_in_a_thread_without_a_loop_says_what_to_do(tmp_path):
    proc = run_example(tmp_path, """\
        import json, threading
        import streamz_core.runtime as rt
        out = []
        def worker():
            try:
                rt.as_future(rt.put(1))
            except RuntimeError as exc:
                out.append(str(exc))
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        print(json.dumps(out))
        """)
    [message] = checked(proc)
    assert message.startswith("as_future: no event loop is running or set in this thread")
    assert "pass loop=" in message and "asyncio.set_event_loop" in message


SEED_API_IMPORTS = """\
import asyncio
import time
import streamz_core.runtime as rt
"""

# ray-async-api.rst, "Example Usage", Distributed with Ray
ASYNC_API_DISTRIBUTED = """\
# Execute f in parallel.


@rt.remote
def f():
    time.sleep(1)
    return 1


rt.init()
results = rt.get([f.remote() for i in range(4)])
"""


def test_seed_async_api_distributed(tmp_path):
    proc = run_example(tmp_path, ASYNC_API_DISTRIBUTED, """\
        import json
        print(json.dumps(results))
        """, preamble=SEED_API_IMPORTS)
    assert checked(proc) == [1, 1, 1, 1]


# ray-async-api.rst, "Example Usage", Async Ray (its `from ray.experimental import
# async_api` line maps to nothing: `async_api.as_future` is `rt.as_future`)
ASYNC_API_ASYNC_RAY = """\
# Execute f asynchronously with Ray/asyncio.


@rt.remote
def f():
    time.sleep(1)
    return 1

rt.init()
loop = asyncio.get_event_loop()
tasks = [rt.as_future(f.remote())
         for i in range(4)]
results = loop.run_until_complete(
    asyncio.gather(tasks))
"""

# The same table's Async Python column, with plain asyncio and no runtime at all.
ASYNC_API_ASYNC_PYTHON = """\
# Execute f asynchronously.


async def f():
    await asyncio.sleep(1)
    return 1


loop = asyncio.get_event_loop()
tasks = [f() for i in range(4)]
results = loop.run_until_complete(
    asyncio.gather(tasks))
"""

GATHER_CHECK = """\
import json
print(json.dumps({"error": error, "results": results}))
"""


def _catching(example: str) -> str:
    """The example inside ``try`` (so the check after it can report how it ended)."""
    return ("error = None\ntry:\n" + textwrap.indent(example, "    ")
            + "except TypeError as exc:\n    error = str(exc)\n"
            + "    results = loop.run_until_complete(asyncio.gather(*tasks))\n")


def test_seed_async_api_async_ray_table_example(tmp_path):
    # The table passes the list itself to asyncio.gather; plain asyncio rejects that for
    # the table's plain-Python column too, so the refs' futures behave exactly as asyncio
    # futures do: the same TypeError, and with the list unpacked, the results.
    plain = checked(run_example(tmp_path, _catching(ASYNC_API_ASYNC_PYTHON), GATHER_CHECK,
                                preamble=SEED_API_IMPORTS))
    ours = checked(run_example(tmp_path, _catching(ASYNC_API_ASYNC_RAY), GATHER_CHECK,
                               preamble=SEED_API_IMPORTS))
    assert plain["error"] == "unhashable type: 'list'"  # asyncio.gather(list) itself
    assert ours == plain == {"error": plain["error"], "results": [1, 1, 1, 1]}


SEED_ACTORS_SESSION = """\
import asyncio
import streamz_core.runtime as rt
"""

# ray-async-actors.rst, the snippet for "ipython or a shell that supports top level await"
ASYNC_ACTORS_IPYTHON = """\
import streamz_core.runtime as rt
import asyncio
rt.init()

@rt.remote
class AsyncActor:
    # multiple invocation of this method can be running in
    # the event loop at the same time
    async def run_concurrent(self):
        print("started")
        await asyncio.sleep(2) # concurrent workload here
        print("finished")

actor = AsyncActor.remote()

# regular rt.get
rt.get([actor.run_concurrent.remote() for _ in range(4)])

# async rt.get
await actor.run_concurrent.remote()
"""


def _max_running(lines: list[str], start: str, end: str) -> int:
    running = most = 0
    for line in lines:
        running += (line == start) - (line == end)
        most = max(most, running)
    return most


@pytest.mark.slow
def test_seed_async_actors_top_level_await(tmp_path):
    proc = run_example(tmp_path, ASYNC_ACTORS_IPYTHON, top_level_await=True)
    lines = proc.stdout.split()
    assert lines.count("started") == lines.count("finished") == 5
    assert lines[:4] == ["started"] * 4  # the four calls of the get run at once
    assert _max_running(lines, "started", "finished") == 4


# ray-async-actors.rst, "ObjectRefs as asyncio.Futures": "Instead of" ...
ASYNC_ACTORS_INSTEAD_OF = """\
@rt.remote
def some_task():
    return 1

rt.get(some_task.remote())
rt.wait([some_task.remote()])
"""

# ... "you can do" (top-level await, in the session of the snippet above)
ASYNC_ACTORS_YOU_CAN_DO = """\
@rt.remote
def some_task():
    return 1

await some_task.remote()
await asyncio.wait([some_task.remote()])
"""


def test_seed_async_actors_refs_as_asyncio_futures(tmp_path):
    blocking = run_example(tmp_path, ASYNC_ACTORS_INSTEAD_OF, """\
        import json
        ready, pending = rt.wait([some_task.remote()])
        print(json.dumps([rt.get(some_task.remote()), len(ready), len(pending)]))
        """, preamble=SEED_ACTORS_SESSION)
    assert checked(blocking) == [1, 1, 0]
    awaited = run_example(tmp_path, ASYNC_ACTORS_YOU_CAN_DO, """\
        import json
        done, pending = await asyncio.wait([some_task.remote()])
        print(json.dumps([await some_task.remote(), len(done), len(pending)]))
        """, preamble=SEED_ACTORS_SESSION, top_level_await=True)
    assert checked(awaited) == [1, 1, 0]


# ray-async-actors.rst, "Async Actor"
ASYNC_ACTORS_ALL_AT_ONCE = """\
import asyncio

@rt.remote
class AsyncActor:
    async def run_task(self):
        print("started")
        await asyncio.sleep(1) # Network, I/O task here
        print("ended")

actor = AsyncActor.remote()
# All 50 tasks should start at once. After 1 second they should all finish.
# they should finish at the same time
rt.get([actor.run_task.remote() for _ in range(50)])
"""


def test_seed_async_actor_runs_fifty_calls_at_once(tmp_path):
    proc = run_example(tmp_path, ASYNC_ACTORS_ALL_AT_ONCE, preamble=SEED_ACTORS_SESSION)
    lines = proc.stdout.split()
    assert lines == ["started"] * 50 + ["ended"] * 50


# ray-async-actors.rst, max_concurrency
ASYNC_ACTORS_MAX_CONCURRENCY = """\
import asyncio

@rt.remote
class AsyncActor:
    async def run_task(self):
        print("started")
        await asyncio.sleep(1) # Network, I/O task here
        print("ended")

actor = AsyncActor.options(max_concurrency=10).remote()

# Only 10 tasks will be running concurrently. Once 10 finish, the next 10 should run.
rt.get([actor.run_task.remote() for _ in range(50)])
"""


@pytest.mark.slow
def test_seed_async_actor_max_concurrency_runs_ten_at_a_time(tmp_path):
    proc = run_example(tmp_path, ASYNC_ACTORS_MAX_CONCURRENCY, preamble=SEED_ACTORS_SESSION)
    lines = proc.stdout.split()
    assert lines.count("started") == lines.count("ended") == 50
    assert lines[:10] == ["started"] * 10
    assert _max_running(lines, "started", "ended") == 10


# ray-async-actors.rst, "Threaded Actors"
THREADED_ACTOR = """\
@rt.remote
class ThreadedActor:
    def task_1(self): print("I'm running in a thread!")
    def task_2(self): print("I'm running in another thread!")

a = ThreadedActor.options(max_concurrency=2).remote()
rt.get([a.task_1.remote(), a.task_2.remote()])
"""


def test_seed_threaded_actor(tmp_path):
    proc = run_example(tmp_path, THREADED_ACTOR, preamble=SEED_ACTORS_SESSION)
    # Two threads print at once: print writes the text and the newline apart, so their
    # lines may interleave ("...thread!I'm running...\n\n"); each message appears once.
    out = proc.stdout
    assert out.count("I'm running in a thread!") == 1
    assert out.count("I'm running in another thread!") == 1
    assert out.replace("I'm running in a thread!", "").replace(
        "I'm running in another thread!", "").strip() == ""
