"""Executor benchmarks: scatter -> map(inc) -> buffer(8) -> gather -> sink, 2,000 elements.

Side by side in one run: streamz 0.6.4 and streamz_core on the same Dask clusters
(threads in one process, and two worker processes), plus streamz_core on its built-in
runtime. Each (library, engine) pair runs in its own process with a fresh cluster.

    python benchmarks/bench_executors.py            # the table
    python benchmarks/bench_executors.py --one streamz dask-threads   # one JSON line
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

N = 2000
ENGINES = ["dask-threads", "dask-processes", "runtime"]
TARGETS = {"dask-threads": 3.0, "dask-processes": 3.0}  # x streamz, issue 4
RUNTIME_TARGET = 5000.0  # elements/s, issue 4


def inc(x):
    return x + 1


def run_one(lib: str, engine: str, n: int) -> dict:
    stream_mod = __import__(lib)
    Stream = stream_mod.Stream
    client = cluster = None
    if engine.startswith("dask"):
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2 if engine == "dask-processes" else 1,
                               threads_per_worker=1 if engine == "dask-processes" else 2,
                               processes=engine == "dask-processes", dashboard_address=None)
        client = Client(cluster)
        client.submit(inc, 1).result()  # warm up
    elif lib != "streamz_core":
        return {"error": "streamz has no built-in runtime"}
    source = Stream()
    out: list = []
    source.scatter().map(inc).buffer(8).gather().sink(out.append)
    warm = 50
    for i in range(warm):
        source.emit(i)
    while len(out) < warm:
        time.sleep(0.001)
    out.clear()
    start = time.perf_counter()
    for i in range(n):
        source.emit(i)
    deadline = time.monotonic() + 300
    while len(out) < n and time.monotonic() < deadline:
        time.sleep(0.0005)
    elapsed = time.perf_counter() - start
    ok = out == [i + 1 for i in range(n)]
    if client is not None:
        client.close()
        cluster.close()
    return {"elements_per_s": n / elapsed, "in_order": ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("LIB", "ENGINE"))
    parser.add_argument("-n", type=int, default=N)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.n)))
        return
    results: dict[tuple[str, str], dict] = {}
    for engine in ENGINES:
        for lib in ("streamz", "streamz_core"):
            if engine == "runtime" and lib == "streamz":
                continue
            proc = subprocess.run([sys.executable, __file__, "--one", lib, engine, "-n", str(args.n)],
                                  capture_output=True, text=True, timeout=600)
            try:
                results[lib, engine] = json.loads(proc.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                results[lib, engine] = {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
            print(f"  {lib:>13} {engine:<15} {results[lib, engine]}", file=sys.stderr)
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.n} elements; "
          "scatter -> map(inc) -> buffer(8) -> gather -> sink")
    print(f"{'engine':<16}{'streamz el/s':>14}{'streamz_core el/s':>19}{'speedup':>9}  target")
    for engine in ENGINES:
        ours = results.get(("streamz_core", engine), {})
        base = results.get(("streamz", engine), {})
        o = ours.get("elements_per_s")
        b = base.get("elements_per_s")
        if engine == "runtime":
            met = "met" if o and o >= RUNTIME_TARGET else "NOT met"
            print(f"{engine:<16}{'-':>14}{o or ours.get('error', '?'):>19.0f}{'':>9}  >= {RUNTIME_TARGET:.0f}/s: {met}"
                  if o else f"{engine:<16}{'-':>14}{ours.get('error')!s:>19}")
            continue
        if o and b:
            ratio = o / b
            met = "met" if ratio >= TARGETS[engine] else "NOT met"
            print(f"{engine:<16}{b:>14.0f}{o:>19.0f}{ratio:>8.1f}x  >= {TARGETS[engine]:.0f}x: {met}")
        else:
            print(f"{engine:<16}{b or base.get('error')!s:>14}{o or ours.get('error')!s:>19}")


if __name__ == "__main__":
    main()
