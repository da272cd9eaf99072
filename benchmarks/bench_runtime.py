"""Benchmark the built-in runtime against ProcessPoolExecutor (and Ray if installed).

Run: ``python benchmarks/bench_runtime.py [--repeat N] [--workers N] [--json out.jsonl]``.
Prints one table: each workload's figure for streamz_core.runtime, the baseline measured
in the same run (ProcessPoolExecutor with the same number of workers), Ray when
``import ray`` works (skipped cleanly otherwise), and the ratios. Each cell is the median
of ``--repeat`` runs. Targets from issue 3 are shown in the last column.
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures as cf
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import streamz_core.runtime as rt

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None

N_TASKS = 5000
N_ACTOR = 10000
N_ROUND = 2000


def noop(x=None):
    return x


def _median(fn, repeat):
    vals = [fn() for _ in range(repeat)]
    return statistics.median(vals)


# -- streamz_core.runtime ---------------------------------------------------------------
_STARTUP = """
import sys, time
import streamz_core.runtime as rt
t0 = time.perf_counter()
rt.init(num_workers={w})
f = rt.remote(lambda x: x)
rt.get(f.remote(1))
print(time.perf_counter() - t0)
"""


def rt_startup(workers):
    """init -> first result, in a fresh interpreter (as a user script sees it)."""
    import subprocess
    out = subprocess.run([sys.executable, "-c", _STARTUP.format(w=workers)],
                         capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return float(out.stdout.strip().splitlines()[-1])


def rt_tasks(f):
    t0 = time.perf_counter()
    refs = [f.remote(i) for i in range(N_TASKS)]
    rt.get(refs)
    return N_TASKS / (time.perf_counter() - t0)


def rt_roundtrip(f):
    lat = []
    for i in range(N_ROUND):
        t0 = time.perf_counter()
        rt.get(f.remote(i))
        lat.append(time.perf_counter() - t0)
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6


def rt_actor_calls(a):
    t0 = time.perf_counter()
    rt.get([a.call.remote(i) for i in range(N_ACTOR)])
    return N_ACTOR / (time.perf_counter() - t0)


def rt_actor_roundtrip(a):
    lat = []
    for i in range(N_ROUND):
        t0 = time.perf_counter()
        rt.get(a.call.remote(i))
        lat.append(time.perf_counter() - t0)
    lat.sort()
    return lat[len(lat) // 2] * 1e6


def rt_async_sleep(a):
    t0 = time.perf_counter()
    rt.get([a.sleep.remote(0.1) for _ in range(1000)])
    return time.perf_counter() - t0


def rt_gather(f):
    async def main():
        t0 = time.perf_counter()
        await asyncio.gather(*[f.remote(i) for i in range(N_TASKS)])
        return N_TASKS / (time.perf_counter() - t0)
    return asyncio.run(main())


def rt_put_big(arr):
    t0 = time.perf_counter()
    ref = rt.put(arr)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    out = rt.get(ref)
    get_dt = time.perf_counter() - t1
    assert out.shape == arr.shape and not out.flags.writeable
    del out, ref
    return arr.nbytes / dt / 1e9, get_dt * 1e3


def rt_small_puts():
    t0 = time.perf_counter()
    refs = [rt.put(b"x" * 100) for _ in range(10000)]
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    rt.get(refs)
    return 10000 / dt, 10000 / (time.perf_counter() - t1)


# -- ProcessPoolExecutor ----------------------------------------------------------------
def pp_startup(workers):
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(workers) as ex:
        ex.submit(noop, 1).result()
        return time.perf_counter() - t0


def pp_tasks(ex):
    t0 = time.perf_counter()
    futs = [ex.submit(noop, i) for i in range(N_TASKS)]
    for f in futs:
        f.result()
    return N_TASKS / (time.perf_counter() - t0)


def pp_roundtrip(ex):
    lat = []
    for i in range(N_ROUND):
        t0 = time.perf_counter()
        ex.submit(noop, i).result()
        lat.append(time.perf_counter() - t0)
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6


def pp_gather(ex):
    async def main():
        t0 = time.perf_counter()
        await asyncio.gather(*[asyncio.wrap_future(ex.submit(noop, i))
                               for i in range(N_TASKS)])
        return N_TASKS / (time.perf_counter() - t0)
    return asyncio.run(main())


def asyncio_sleep_baseline():
    async def main():
        t0 = time.perf_counter()
        await asyncio.gather(*[asyncio.sleep(0.1) for _ in range(1000)])
        return time.perf_counter() - t0
    return asyncio.run(main())


# -- Ray (optional) ----------------------------------------------------------------------
def ray_rows(workers, repeat):  # pragma: no cover - only where Ray installs
    try:
        import ray
    except Exception:
        return None
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_worker_niceness", "0")
    out = {}
    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    f = ray.remote(noop)
    ray.get(f.remote(1))
    out["startup"] = time.perf_counter() - t0

    def tasks():
        t = time.perf_counter()
        ray.get([f.remote(i) for i in range(N_TASKS)])
        return N_TASKS / (time.perf_counter() - t)
    out["tasks"] = _median(tasks, repeat)
    lat = []
    for i in range(500):
        t = time.perf_counter()
        ray.get(f.remote(i))
        lat.append(time.perf_counter() - t)
    lat.sort()
    out["rt"] = lat[len(lat) // 2] * 1e6

    @ray.remote
    class A:
        def call(self, x):
            return x

        async def sleep(self, t):
            await asyncio.sleep(t)

    @ray.remote
    class B:
        async def sleep(self, t):
            await asyncio.sleep(t)
    a = A.remote()
    ray.get(a.call.remote(0))

    def actor():
        t = time.perf_counter()
        ray.get([a.call.remote(i) for i in range(N_ACTOR)])
        return N_ACTOR / (time.perf_counter() - t)
    out["actor"] = _median(actor, repeat)
    b = B.remote()
    ray.get(b.sleep.remote(0))

    def sl():
        t = time.perf_counter()
        ray.get([b.sleep.remote(0.1) for _ in range(1000)])
        return time.perf_counter() - t
    out["sleep"] = _median(sl, repeat)

    def gat():
        async def main():
            t = time.perf_counter()
            await asyncio.gather(*[f.remote(i) for i in range(N_TASKS)])
            return N_TASKS / (time.perf_counter() - t)
        return asyncio.run(main())
    out["gather"] = _median(gat, repeat)
    if np is not None:
        arr = np.random.rand(100 * 1024 * 1024 // 8)

        def put():
            t = time.perf_counter()
            ray.put(arr)
            return arr.nbytes / (time.perf_counter() - t) / 1e9
        out["put"] = _median(put, repeat)
    ray.shutdown()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", default=None, help="append the figures as one JSON line")
    p.add_argument("--no-ray", action="store_true")
    args = p.parse_args(argv)
    R, W = args.repeat, args.workers
    rows = []

    startup = _median(lambda: rt_startup(W), R)
    rt.init(num_workers=W)
    pp_start = _median(lambda: pp_startup(W), R)
    f = rt.remote(noop)

    @rt.remote
    class Actor:
        def call(self, x):
            return x

    @rt.remote
    class AsyncActor:
        async def sleep(self, t):
            await asyncio.sleep(t)

    a = Actor.remote()
    b = AsyncActor.remote()
    rt.get([a.call.remote(0), b.sleep.remote(0), f.remote(0)])
    rt_tasks(f)  # warm up
    tasks = _median(lambda: rt_tasks(f), R)
    lat = [rt_roundtrip(f) for _ in range(R)]
    rt_med = statistics.median(x[0] for x in lat)
    rt_p99 = statistics.median(x[1] for x in lat)
    actor = _median(lambda: rt_actor_calls(a), R)
    actor_rt = _median(lambda: rt_actor_roundtrip(a), R)
    sleep = _median(lambda: rt_async_sleep(b), R)
    gather = _median(lambda: rt_gather(f), R)
    if np is not None:
        arr = np.random.rand(100 * 1024 * 1024 // 8)
        puts = [rt_put_big(arr) for _ in range(R)]
        put_gbs = statistics.median(x[0] for x in puts)
        get_ms = statistics.median(x[1] for x in puts)
        t0 = time.perf_counter()
        np.copy(arr)
        copy_gbs = arr.nbytes / (time.perf_counter() - t0) / 1e9
    small = [rt_small_puts() for _ in range(R)]

    with cf.ProcessPoolExecutor(W) as ex:
        ex.submit(noop).result()
        pp_tasks(ex)
        pp_t = _median(lambda: pp_tasks(ex), R)
        pl = [pp_roundtrip(ex) for _ in range(R)]
        pp_med = statistics.median(x[0] for x in pl)
        pp_p99 = statistics.median(x[1] for x in pl)
        pp_g = _median(lambda: pp_gather(ex), R)
    base_sleep = _median(asyncio_sleep_baseline, R)
    rt.shutdown()
    ray = None if args.no_ray else ray_rows(W, R)

    def row(name, ours, base, ray_key, unit, target, higher=True):
        rv = ray.get(ray_key) if ray and ray_key else None
        rows.append((name, ours, base, rv, unit, target, higher))

    row("init -> first result", startup, pp_start, "startup", "s", "< 0.2 s", False)
    row(f"{N_TASKS} no-op tasks, submit then get", tasks, pp_t, "tasks", "tasks/s",
        ">= 10,000/s and >= pool")
    row("task round trip (median)", rt_med, pp_med, "rt", "us", "<= 150 us", False)
    row("task round trip (p99)", rt_p99, pp_p99, None, "us", "", False)
    row(f"1 actor, {N_ACTOR} calls, submit then get", actor, None, "actor", "calls/s",
        ">= 20,000/s")
    row("sequential actor call (median)", actor_rt, None, None, "us", "", False)
    row("async actor 1000 x sleep(0.1)", sleep, base_sleep, "sleep", "s", "<= 0.15 s", False)
    row(f"{N_TASKS} refs, await asyncio.gather", gather, pp_g, "gather", "tasks/s",
        ">= 6,000/s")
    if np is not None:
        row("put 100 MB float64 array", put_gbs, copy_gbs, "put", "GB/s", ">= 2 GB/s")
        row("get of that array (zero-copy view)", get_ms, None, None, "ms", "", False)
    row("put x 10,000 small objects", statistics.median(x[0] for x in small), None, None,
        "puts/s", "")
    row("get of those 10,000 refs", statistics.median(x[1] for x in small), None, None,
        "objs/s", "")

    head = (f"{'workload':40} {'streamz_core':>13} {'baseline':>11} {'ratio':>7} "
            f"{'ray':>10} {'vs ray':>7}  unit     target")
    print(f"streamz_core.runtime benchmark: {W} workers, median of {R}; baseline = "
          f"ProcessPoolExecutor({W}) (np.copy for put, asyncio.gather for sleep); "
          f"ray: {'measured' if ray else 'not installed, rows skipped'}")
    print(head)
    print("-" * len(head))
    def fmt(v):
        return "-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.3f}")

    for name, ours, base, rv, unit, target, higher in rows:
        # `ours` and `higher` bound as defaults: each row's ratio uses that row's figures.
        def ratio(other, ours=ours, higher=higher):
            if not other:
                return "-"
            r = ours / other if higher else other / ours
            return f"{r:.2f}x"
        print(f"{name:40} {fmt(ours):>13} {fmt(base):>11} {ratio(base):>7} {fmt(rv):>10} "
              f"{ratio(rv):>7}  {unit:8} {target}")
    print("ratio > 1 means streamz_core is better (faster or quicker).")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"time": time.time(), "workers": W, "rows": [
                dict(zip(("name", "ours", "baseline", "ray", "unit", "target"), r[:6], strict=True))
                for r in rows]}) + "\n")


if __name__ == "__main__":
    main()
