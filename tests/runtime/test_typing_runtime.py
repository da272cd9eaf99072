"""The runtime is typed end to end: user scripts pass ``mypy --strict`` (issue 8).

The examples of docs/runtime.md and the runtime seeds (seeds/ray-async-api.rst,
seeds/ray-async-actors.rst; names mapped ``ray`` -> ``rt``) are written to a temporary
directory as a user's scripts and checked with mypy, as a user would run it. Only type
annotations were added (``--strict`` asks for them), top-level ``await`` (IPython) is
wrapped in ``async def``, and undefined names of the guide (``session``) are stubbed.
mypy ignores what a class decorator returns, so ``@rt.remote`` classes need the plugin
``streamz_core.runtime.mypy_plugin`` (enabled here as a user would, in the config file).
A second script holds deliberate mistakes and must give exactly those errors, and the
known limits (each marked ``# limit:``) are checked too, so that a change shows here.

mypy finds ``streamz_core`` as a user's would: installed (``make`` installs this checkout
in editable mode, visible to type checkers), with its ``py.typed`` marker.
"""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

PLUGIN_CONFIG = "[mypy]\nplugins = streamz_core.runtime.mypy_plugin\n"

# The driver and the worker's core both conform to what the public modules call on them
CONFORMANCE = '''\
from streamz_core.runtime._context import DriverCore, WorkerSideCore
from streamz_core.runtime.driver import Driver
from streamz_core.runtime.worker.core import WorkerCore


def driver(d: Driver) -> DriverCore:
    return d


def worker(w: WorkerCore) -> WorkerSideCore:
    return w
'''

# -- docs/runtime.md --------------------------------------------------------------------
GUIDE = '''\
import asyncio
import signal
import sys
import time
import types

import streamz_core.runtime as rt

@rt.remote
def square(x: int) -> int:
    return x * x

refs = [square.remote(i) for i in range(4)]   # ObjectRefs, returned at once
squares: list[int] = rt.get(refs)             # [0, 1, 4, 9]

# Starting and stopping
def on_term(signum: int, frame: types.FrameType | None) -> None:
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
rt.init(num_workers=1)
assert signal.getsignal(signal.SIGTERM) is on_term
rt.shutdown()
rt.init(num_workers=None, object_store_memory=None, spill_dir=None)

# Tasks
@rt.remote(num_returns=2)
def divmod_task(a: int, b: int) -> tuple[int, int]:
    return divmod(a, b)

@rt.remote
def fetch(url: str) -> bytes:
    return url.encode()

q, r = divmod_task.remote(7, 2)
flaky = fetch.options(max_retries=5, retry_exceptions=[ConnectionError])
page: bytes = rt.get(flaky.remote("http://example.com"))
quotient: int = rt.get(q)

# Getting results
ref = square.remote(3)
one: int = rt.get(ref)
some: list[int] = rt.get([ref, square.remote(4)], timeout=10)
ready, not_ready = rt.wait(refs, num_returns=1, timeout=None)
first: list[rt.ObjectRef[int]] = ready
stored = rt.put({"a": 1})
mapping: dict[str, int] = rt.get(stored)
from_thread: int = ref.future().result()
from_loop: int = asyncio.get_event_loop().run_until_complete(rt.as_future(ref))
rt.cancel(ref)
rt.cancel(ref, force=True)

# Introspection
ctx = rt.runtime_context()
where: tuple[bool, int, int, int | None, int | None, bool] = (
    ctx.is_driver, ctx.worker_index, ctx.pid, ctx.task_id, ctx.actor_id, ctx.is_canceled())
stats = rt.statistics()
crashes: int = stats.worker_crashes

# Refs as futures
@rt.remote
def f(x: int = 0) -> int:
    return x

@rt.remote
def g() -> int:
    return 2

@rt.remote
def slow() -> None:
    time.sleep(10)

async def handler() -> None:
    value: int = await f.remote(1)
    values: list[int] = await asyncio.gather(*[f.remote(i) for i in range(100)])
    try:
        await asyncio.wait_for(slow.remote(), 1.0)
    except asyncio.TimeoutError:
        ...   # the task goes on running; await the same ref again later
    for next_done in asyncio.as_completed([f.remote(i) for i in range(10)]):
        print(await next_done)

# Actors
@rt.remote
class Counter:
    def __init__(self, start: int = 0) -> None:
        self.n = start

    def incr(self) -> int:
        self.n += 1
        return self.n

c = Counter.options(name="counter", max_restarts=2, max_task_retries=1).remote(10)
counts: list[int] = rt.get([c.incr.remote() for _ in range(3)])      # [11, 12, 13]
fourteen: int = rt.get(rt.get_actor("counter").incr.remote())    # 14

@rt.remote
class Fetcher:
    async def fetch(self, url: str) -> str:
        await asyncio.sleep(0)   # the guide's `async with session.get(url)`
        return url

fetcher = Fetcher.options(max_concurrency=100).remote()

@rt.remote(concurrency_groups={"io": 2, "compute": 1})
class Service:
    @rt.method(concurrency_group="io")
    async def fetch(self, url: str) -> None: ...

    @rt.method(concurrency_group="compute")
    def crunch(self, data: bytes) -> None: ...

    def status(self) -> None: ...     # the default group (max_concurrency)

@rt.remote
class Once:
    def stop(self) -> None:
        rt.exit_actor()

rt.kill(c)
rt.kill(Once.remote(), no_restart=False)

# Errors
def helper(x: int) -> float:
    return 1 / x

@rt.remote
def boom(x: int) -> float:
    return helper(x - x)

try:
    rt.get(boom.remote(1))
except ZeroDivisionError:
    pass
except (rt.exceptions.TaskError, rt.exceptions.WorkerCrashedError,
        rt.exceptions.ActorDiedError, rt.exceptions.GetTimeoutError,
        rt.exceptions.TaskCancelledError, rt.exceptions.SerializationError,
        rt.exceptions.ObjectLostError, rt.exceptions.ObjectStoreFullError):
    pass
'''

# -- the seeds: one script per example, as test_seeds.py runs them ------------------------
SEEDS = {
    "seed_as_future.py": '''\
import asyncio
import time
import streamz_core.runtime as rt

@rt.remote
def f() -> dict[str, list[str]]:
    time.sleep(1)
    return {'key1': ['value']}

rt.init()
future = rt.as_future(f.remote())
asyncio.get_event_loop().run_until_complete(future)  # {'key1': ['value']}
''',
    "seed_distributed.py": '''\
import time
import streamz_core.runtime as rt

# Execute f in parallel.


@rt.remote
def f() -> int:
    time.sleep(1)
    return 1


rt.init()
results = rt.get([f.remote() for i in range(4)])
''',
    # the seed passes the list itself to gather: a TypeError, also for plain asyncio
    # (see test_seeds.py); here with the list unpacked, and as written in MISTAKES
    "seed_async_ray.py": '''\
import asyncio
import time
import streamz_core.runtime as rt

# Execute f asynchronously with Ray/asyncio.


@rt.remote
def f() -> int:
    time.sleep(1)
    return 1

rt.init()
loop = asyncio.get_event_loop()
tasks = [rt.as_future(f.remote())
         for i in range(4)]
results = loop.run_until_complete(
    asyncio.gather(*tasks))
''',
    "seed_async_actor_ipython.py": '''\
import streamz_core.runtime as rt
import asyncio
rt.init()

@rt.remote
class AsyncActor:
    # multiple invocation of this method can be running in
    # the event loop at the same time
    async def run_concurrent(self) -> None:
        print("started")
        await asyncio.sleep(2) # concurrent workload here
        print("finished")

actor = AsyncActor.remote()

# regular rt.get
rt.get([actor.run_concurrent.remote() for _ in range(4)])

async def cell() -> None:
    # async rt.get
    await actor.run_concurrent.remote()
''',
    "seed_instead_of.py": '''\
import streamz_core.runtime as rt

@rt.remote
def some_task() -> int:
    return 1

rt.get(some_task.remote())
rt.wait([some_task.remote()])
''',
    "seed_you_can_do.py": '''\
import streamz_core.runtime as rt

@rt.remote
def some_task() -> int:
    return 1

async def cell() -> None:
    await some_task.remote()
    # `await asyncio.wait([some_task.remote()])`: see the limits in MISTAKES
''',
    "seed_async_actor.py": '''\
import streamz_core.runtime as rt
import asyncio

@rt.remote
class AsyncActor:
    async def run_task(self) -> None:
        print("started")
        await asyncio.sleep(1) # Network, I/O task here
        print("ended")

actor = AsyncActor.remote()
# All 50 tasks should start at once. After 1 second they should all finish.
# they should finish at the same time
rt.get([actor.run_task.remote() for _ in range(50)])
''',
    "seed_max_concurrency.py": '''\
import streamz_core.runtime as rt
import asyncio

@rt.remote
class AsyncActor:
    async def run_task(self) -> None:
        print("started")
        await asyncio.sleep(1) # Network, I/O task here
        print("ended")

actor = AsyncActor.options(max_concurrency=10).remote()

# Only 10 tasks will be running concurrently. Once 10 finish, the next 10 should run.
rt.get([actor.run_task.remote() for _ in range(50)])
''',
    "seed_threaded_actor.py": '''\
import streamz_core.runtime as rt

@rt.remote
class ThreadedActor:
    def task_1(self) -> None: print("I'm running in a thread!")
    def task_2(self) -> None: print("I'm running in another thread!")

a = ThreadedActor.options(max_concurrency=2).remote()
rt.get([a.task_1.remote(), a.task_2.remote()])
''',
}

# -- mistakes that mypy must find, and the limits it cannot see past ----------------------
# Each line marked `# E: <code>` must give exactly one error of that code; no other line
# may give one.
MISTAKES = '''\
import asyncio
import streamz_core.runtime as rt

@rt.remote
def square(x: int) -> int:
    return x * x

@rt.remote(num_returns=2)
def pair() -> tuple[int, int]:
    return 1, 2

@rt.remote
class Counter:
    def incr(self) -> int:
        return 1

square.remote("x")  # E: arg-type
total = rt.get(square.remote(2)) + "s"  # E: operator
square.remote(1, 2)  # E: call-arg
square.options(max_retries="3")  # E: call-overload
square.options(max_retry=3)  # E: call-overload
pair.remote().future()  # E: attr-defined
rt.get(rt.put(1)).upper()  # E: attr-defined
ref: rt.ObjectRef[str] = square.remote(1)  # E: assignment
rt.kill(square)  # E: arg-type
# limit: an actor method's result is Any (no plugin maps Counter.incr), so no error here
Counter.options(max_concurrency=2).remote().incr.remote().future().result().upper()

async def waits() -> None:
    text: str = await square.remote(1)  # E: assignment

# the seed's own bug: asyncio.gather of a list (a TypeError at run time too)
loop = asyncio.get_event_loop()
tasks = [rt.as_future(square.remote(i)) for i in range(4)]
results = loop.run_until_complete(asyncio.gather(tasks))  # E: call-overload

async def seed_wait() -> None:
    # limit: typeshed types asyncio.wait for asyncio.Future only; refs work at run time
    await asyncio.wait([square.remote(1)])  # E: type-var
'''

# Without the plugin, mypy ignores what the class decorator returns (python/mypy#3135)
WITHOUT_PLUGIN = '''\
import streamz_core.runtime as rt

@rt.remote
class Counter:
    def incr(self) -> int:
        return 1

Counter.remote()  # E: attr-defined
Plain = rt.remote(Counter)   # the function form needs no plugin
Plain.remote().incr.remote()
'''

_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<msg>.*?)  \[(?P<code>[a-z-]+)\]$")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One mypy cache for the module: the package is analysed once, not per test."""
    return tmp_path_factory.mktemp("mypy_cache")


def _mypy(tmp_path: pathlib.Path, cache: pathlib.Path, files: dict[str, str],
          plugin: bool = True) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, int, str]]]:
    """Write ``files`` to ``tmp_path`` and run mypy --strict on them, as a user would."""
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-color-output", "--no-error-summary", "--show-error-codes",
           "--cache-dir", str(cache / ("plugin" if plugin else "plain"))]
    (tmp_path / "mypy.ini").write_text(PLUGIN_CONFIG if plugin else "[mypy]\n")
    cmd += ["--config-file", str(tmp_path / "mypy.ini")]
    proc = subprocess.run([*cmd, *files], capture_output=True, text=True, cwd=tmp_path,
                          timeout=240)
    errors = []
    for line in proc.stdout.splitlines():
        m = _ERROR.match(line)
        if m:
            errors.append((m["file"], int(m["line"]), m["code"]))
    return proc, errors


def _expected(name: str, text: str) -> list[tuple[str, int, str]]:
    return [(name, i, m.group(1)) for i, line in enumerate(text.splitlines(), 1)
            for m in [re.search(r"# E: ([a-z-]+)$", line)] if m]


def test_documented_examples_pass_mypy_strict(tmp_path, cache_dir):
    proc, errors = _mypy(tmp_path, cache_dir, {"runtime_guide.py": GUIDE, **SEEDS})
    assert proc.returncode == 0 and not errors, proc.stdout + proc.stderr


def test_mistakes_are_found_and_limits_are_known(tmp_path, cache_dir):
    proc, errors = _mypy(tmp_path, cache_dir, {"mistakes.py": MISTAKES})
    assert sorted(errors) == sorted(_expected("mistakes.py", MISTAKES)), proc.stdout
    assert "expected \"int\"" in proc.stdout  # square.remote("x") names the parameter type


@pytest.mark.parametrize("plugin", [False, True], ids=["without-plugin", "with-plugin"])
def test_actor_classes_need_the_plugin_under_mypy(tmp_path, cache_dir, plugin):
    proc, errors = _mypy(tmp_path, cache_dir, {"actors.py": WITHOUT_PLUGIN}, plugin=plugin)
    expected = _expected("actors.py", WITHOUT_PLUGIN) if not plugin else []
    assert errors == expected, proc.stdout + proc.stderr


def test_driver_and_worker_cores_conform_to_the_core_protocols(tmp_path, cache_dir):
    proc, errors = _mypy(tmp_path, cache_dir, {"conformance.py": CONFORMANCE}, plugin=False)
    assert proc.returncode == 0 and not errors, proc.stdout + proc.stderr
