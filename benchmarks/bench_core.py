"""Stream-core benchmarks, written once against the streamz API.

Each library runs in its own process, so neither sees the other's loop thread, caches
or garbage. ``--lib streamz`` or ``--lib streamz_core`` imports ``Stream`` from that
package and runs the stream benches (a)-(e); ``--lib floor`` runs group (g): the same
functions called directly in plain Python, plus reactivex as an outside reference.

    python benchmarks/bench_core.py --lib streamz_core
    python benchmarks/bench_core.py --lib streamz --only a,b --scale 0.1

Every finished bench prints one JSON line on stdout:
``{"lib": ..., "bench": ..., "metrics": {...}}`` or ``{..., "error": "..."}``.
``benchmarks/run.py`` runs both libraries and prints them side by side.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from functools import partial
from operator import add
from time import perf_counter
from typing import Any

from _harness import BenchTimeout, emit_line, interval_errors, measure, time_limit

# Sizes from issue 2; --scale shrinks them for quick checks of the harness itself.
N_A = 200_000
N_B = 200_000
N_C = 50_000
N_D = 20_000
WINDOW_INTERVAL = 0.05
WINDOW_PERIODS = 40
RATE_INTERVAL = 0.01
RATE_EMITS = 101  # 100 intervals between back-to-back emits
WARMUP = 2_000


def inc(x: int) -> int:
    return x + 1


def even(x: int) -> bool:
    return x % 2 == 0


# --------------------------------------------------------------------------- pipelines


def chain_of_maps(Stream: Any, n_maps: int, **stream_kwargs: Any) -> tuple[Any, Any, list]:
    """Build ``Stream(**kw)`` -> n_maps x map(inc) -> sink(list.append)."""
    source = Stream(**stream_kwargs)
    node = source
    for _ in range(n_maps):
        node = node.map(inc)
    out: list = []
    sink = node.sink(out.append)
    return source, sink, out


def mixed_pipeline(Stream: Any) -> tuple[Any, Any, list]:
    """Build the (b) pipeline: stateless and stateful nodes mixed, one fan-out."""
    source = Stream()
    out: list = []
    sink = (
        source.map(inc)
        .accumulate(add, start=0)
        .filter(even)
        .sliding_window(3)
        .flatten()
        .map(inc)
        .sink(out.append)
    )
    return source, sink, out


def plain_mixed(data: list[int]) -> list[int]:
    """The (b) pipeline as plain Python; also the expected output of (b)."""
    out: list[int] = []
    append = out.append
    window: deque[int] = deque(maxlen=3)
    total = 0
    for x in data:
        total = add(total, inc(x))
        if even(total):
            window.append(total)
            for y in tuple(window):
                append(inc(y))
    return out


def emit_all(source: Any, data: list[int]) -> float:
    """Emit every element synchronously and return the elapsed seconds."""
    emit = source.emit  # bound once: we time the library, not the attribute lookup
    t0 = perf_counter()
    for x in data:
        emit(x)
    return perf_counter() - t0


def check_output(out: list, expected: list, what: str) -> str | None:
    """Return a description of the first difference, or None when ``out`` is right."""
    if out == expected:
        return None
    if len(out) != len(expected):
        return f"{what}: {len(out)} outputs, expected {len(expected)}"
    i = next((i for i, (a, b) in enumerate(zip(out, expected, strict=True)) if a != b), 0)
    return f"{what}: output[{i}] = {out[i]!r}, expected {expected[i]!r}"


def timed_sync(build: Callable[[], tuple[Any, Any, list]], data: list[int],
               expected: list, repeat: int, what: str) -> tuple[list[float], str | None]:
    """Time synchronous emits through fresh pipelines; return times and any wrong output."""
    problems: list[str] = []

    def run_once() -> float:
        source, sink, out = build()
        elapsed = emit_all(source, data)
        problem = check_output(out, expected, what)
        if problem:
            problems.append(problem)
        sink.destroy()  # streamz pins sinks globally until destroyed
        return elapsed

    source, sink, _ = build()  # warm-up: first-call costs are not what we measure
    emit_all(source, data[:WARMUP])
    sink.destroy()
    times = measure(run_once, repeat)
    return times, (problems[0] if problems else None)


def per_elem(times: list[float], n: int, scale: float) -> float:
    """Best time per element, scaled (1e6 for microseconds, 1e9 for nanoseconds)."""
    return min(times) / n * scale


def result(metrics: dict[str, Any], times: list[float], n: int,
           problem: str | None = None) -> dict[str, Any]:
    """Add the size and the raw repetition times; a wrong output travels with the figures."""
    metrics = dict(metrics, n=n, reps_s=[round(t, 4) for t in times])
    if problem:
        metrics["wrong_output"] = problem
    return metrics


# --------------------------------------------------------------------------- (a)-(e)


def bench_a(Stream: Any, repeat: int, scale: float) -> dict[str, Any]:
    """(a) sync Stream() -> 10 x map(inc) -> sink(list.append)."""
    data = list(range(int(N_A * scale)))
    expected = [x + 10 for x in data]
    times, problem = timed_sync(lambda: chain_of_maps(Stream, 10), data, expected,
                                repeat, "10 x map(inc)")
    us = per_elem(times, len(data), 1e6)
    return result({"us_per_elem": us, "ns_per_node": us * 1e3 / 10}, times, len(data),
                  problem)


def bench_b(Stream: Any, repeat: int, scale: float) -> dict[str, Any]:
    """(b) sync map -> accumulate -> filter -> sliding_window(3) -> flatten -> map -> sink."""
    data = list(range(int(N_B * scale)))
    expected = plain_mixed(data)
    times, problem = timed_sync(lambda: mixed_pipeline(Stream), data, expected,
                                repeat, "mixed pipeline")
    return result({"us_per_elem": per_elem(times, len(data), 1e6),
                   "outputs": len(expected)}, times, len(data), problem)


def bench_c(Stream: Any, repeat: int, scale: float) -> dict[str, Any]:
    """(c) Stream(asynchronous=True), ``await source.emit(x)`` through 5 maps, in asyncio.run."""
    data = list(range(int(N_C * scale)))
    expected = [x + 5 for x in data]
    problems: list[str] = []

    async def emit_awaiting(items: list[int]) -> float:
        # The pipeline is built inside the running loop, as a user's coroutine would.
        source, sink, out = chain_of_maps(Stream, 5, asynchronous=True)
        emit = source.emit
        t0 = perf_counter()
        for x in items:
            await emit(x)
        elapsed = perf_counter() - t0
        if items is data:
            problem = check_output(out, expected, "5 x map(inc), awaited")
            if problem:
                problems.append(problem)
        sink.destroy()
        return elapsed

    async def main() -> list[float]:
        await emit_awaiting(data[:WARMUP])
        times = []
        for _ in range(repeat):
            gc.collect()
            times.append(await emit_awaiting(data))
        return times

    times = asyncio.run(main())
    return result({"us_per_elem": per_elem(times, len(data), 1e6)}, times, len(data),
                  problems[0] if problems else None)


def blocking_pipeline(Stream: Any, kind: str) -> tuple[Any, Any, list, int]:
    """Build a background-thread pipeline; return it and how much it adds to x."""
    source = Stream(asynchronous=False)
    if kind == "rate_limit":
        node, added = source.rate_limit(0).map(inc), 1
    else:
        node, added = source, 5
        for _ in range(5):
            node = node.map(inc)
    out: list = []
    return source, node.sink(out.append), out, added


def bench_d(Stream: Any, repeat: int, scale: float, kind: str) -> dict[str, Any]:
    """(d) Stream(asynchronous=False): blocking ``source.emit(x)`` from the main thread."""
    data = list(range(int(N_D * scale)))
    problems: list[str] = []

    def run_once(items: list[int]) -> float:
        source, sink, out, added = blocking_pipeline(Stream, kind)
        elapsed = emit_all(source, items)
        # A blocking emit returns once the element went all the way through, so the
        # sink must already hold everything: anything else is a behaviour to report.
        problem = check_output(out, [x + added for x in items], f"blocking emit, {kind}")
        if problem:
            problems.append(problem + " when the last emit returned")
        sink.destroy()
        return elapsed

    run_once(data[: WARMUP // 4])
    times = measure(lambda: run_once(data), repeat)
    return result({"us_per_emit": per_elem(times, len(data), 1e6)}, times, len(data),
                  problems[0] if problems else None)


def bench_e_timed_window(Stream: Any, repeat: int, scale: float) -> dict[str, Any]:
    """(e) timed_window(0.05), idle, background thread: spacing of the emitted lists."""
    periods = max(5, int(WINDOW_PERIODS * min(scale, 1.0)))
    stamps: list[float] = []
    kinds: set[str] = set()

    def record(batch: Any) -> None:
        stamps.append(perf_counter())  # perf_counter is one clock for every thread
        kinds.add(type(batch).__name__)

    source = Stream(asynchronous=False)
    sink = source.timed_window(WINDOW_INTERVAL).sink(record)
    # Stay idle for the whole span, then wait for any late emission; a node that never
    # fires ends in the time limit.
    time.sleep(WINDOW_INTERVAL * (periods + 1))
    while len(stamps) < periods + 1:
        time.sleep(WINDOW_INTERVAL / 5)
    sink.destroy()
    metrics: dict[str, Any] = dict(interval_errors(stamps[: periods + 1], WINDOW_INTERVAL))
    metrics["emitted_types"] = sorted(kinds)
    problem = None if kinds == {"list"} else f"timed_window emitted {sorted(kinds)}, not lists"
    return result(metrics, [], periods, problem)


def bench_e_rate_limit(Stream: Any, repeat: int, scale: float) -> dict[str, Any]:
    """(e) rate_limit(0.01), 100 back-to-back blocking emits: spacing at the sink."""
    stamps: list[float] = []
    source = Stream(asynchronous=False)
    sink = source.rate_limit(RATE_INTERVAL).sink(lambda x: stamps.append(perf_counter()))
    for x in range(RATE_EMITS):
        source.emit(x)
    sink.destroy()
    problem = None if len(stamps) == RATE_EMITS else (
        f"{len(stamps)} of {RATE_EMITS} elements reached the sink when the last emit returned")
    return result(interval_errors(stamps, RATE_INTERVAL), [], RATE_EMITS, problem)


# --------------------------------------------------------------------------- (g) floor


class PushNode:
    """The least a push-based map node can do: call, then hand the result on."""

    __slots__ = ("func", "push_down")

    def __init__(self, func: Callable[[Any], Any], push_down: Callable[[Any], Any]):
        self.func = func
        self.push_down = push_down

    def push(self, x: Any) -> Any:
        return self.push_down(self.func(x))


def floor_calls(repeat: int, scale: float) -> dict[str, Any]:
    """(g) 10 direct inc calls per element in a loop."""
    data = list(range(int(N_A * scale)))

    def run_once() -> float:
        out: list = []
        append = out.append
        t0 = perf_counter()
        for x in data:
            append(inc(inc(inc(inc(inc(inc(inc(inc(inc(inc(x)))))))))))
        return perf_counter() - t0

    times = measure(run_once, repeat, warm_up=True)
    ns = per_elem(times, len(data), 1e9)
    return result({"ns_per_elem": ns, "ns_per_call": ns / 10}, times, len(data))


def floor_push_chain(repeat: int, scale: float) -> dict[str, Any]:
    """(g) a chain of 10 minimal Python push nodes into list.append."""
    data = list(range(int(N_A * scale)))

    def run_once() -> float:
        out: list = []
        push = out.append
        for _ in range(10):
            push = PushNode(inc, push).push
        t0 = perf_counter()
        for x in data:
            push(x)
        return perf_counter() - t0

    times = measure(run_once, repeat, warm_up=True)
    ns = per_elem(times, len(data), 1e9)
    return result({"ns_per_elem": ns, "ns_per_node": ns / 10}, times, len(data))


def floor_mixed(repeat: int, scale: float) -> dict[str, Any]:
    """(g) the (b) pipeline as a plain Python loop."""
    data = list(range(int(N_B * scale)))

    def run_once() -> float:
        t0 = perf_counter()
        plain_mixed(data)
        return perf_counter() - t0

    times = measure(run_once, repeat, warm_up=True)
    return result({"ns_per_elem": per_elem(times, len(data), 1e9)}, times, len(data))


def floor_async(repeat: int, scale: float, depth: int) -> dict[str, Any]:
    """(g) asyncio: ``depth`` chained coroutines awaited per element (depth 1 or 5)."""
    data = list(range(int(N_C * scale)))

    def stage(func: Callable[[Any], Any], then: Callable[[Any], Any]) -> Callable[[Any], Any]:
        async def step(x: Any) -> Any:
            return await then(func(x))
        return step

    async def run_once() -> float:
        out: list = []
        append = out.append

        async def last(x: Any) -> None:
            append(inc(x))

        head: Callable[[Any], Any] = last
        for _ in range(depth - 1):
            head = stage(inc, head)
        t0 = perf_counter()
        for x in data:
            await head(x)
        return perf_counter() - t0

    async def main() -> list[float]:
        await run_once()  # warm-up, as measure(warm_up=True) does for the others
        times = []
        for _ in range(repeat):
            gc.collect()
            times.append(await run_once())
        return times

    times = asyncio.run(main())
    return result({"ns_per_elem": per_elem(times, len(data), 1e9)}, times, len(data))


def reference_reactivex(repeat: int, scale: float) -> dict[str, Any]:
    """Outside reference: reactivex from_iterable -> 10 x ops.map(inc) -> list.append.

    from_iterable, not a Subject: Subject.on_next alone costs about 1 us per element
    (locking, observer copy), which would hide the per-stage cost this row is for.
    """
    import reactivex
    from reactivex import operators as ops

    data = list(range(int(N_A * scale)))

    def run_once() -> float:
        out: list = []
        chain = reactivex.from_iterable(data).pipe(*[ops.map(inc) for _ in range(10)])
        t0 = perf_counter()
        chain.subscribe(out.append)  # runs the whole iterable synchronously
        elapsed = perf_counter() - t0
        if len(out) != len(data):
            raise AssertionError(f"reactivex delivered {len(out)} of {len(data)}")
        return elapsed

    times = measure(run_once, repeat, warm_up=True)
    ns = per_elem(times, len(data), 1e9)
    return result({"ns_per_elem": ns, "ns_per_node": ns / 10}, times, len(data))


# --------------------------------------------------------------------------- driver

STREAM_BENCHES: dict[str, Callable[..., dict[str, Any]]] = {
    "a": bench_a,
    "b": bench_b,
    "c": bench_c,
    "d_rate_limit": lambda S, r, s: bench_d(S, r, s, "rate_limit"),
    "d_maps": lambda S, r, s: bench_d(S, r, s, "maps"),
    "e_rate_limit": bench_e_rate_limit,
    # Last: streamz's timed_window loop never stops, so nothing may run after it.
    "e_timed_window": bench_e_timed_window,
}

FLOOR_BENCHES: dict[str, Callable[..., dict[str, Any]]] = {
    "g_calls": floor_calls,
    "g_push_chain": floor_push_chain,
    "g_mixed": floor_mixed,
    "g_async1": lambda r, s: floor_async(r, s, 1),
    "g_async5": lambda r, s: floor_async(r, s, 5),
    "ref_reactivex": reference_reactivex,
}


def run_bench(lib: str, name: str, call: Callable[[], dict[str, Any]],
              limit: float) -> None:
    """Run one bench, turning any exception or hang into an error record."""
    gc.collect()
    record: dict[str, Any] = {"lib": lib, "bench": name}
    try:
        with time_limit(limit):
            record["metrics"] = call()
    except (Exception, BenchTimeout) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=-6)
    emit_line(record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lib", required=True,
                        help="streamz, streamz_core (any module with a Stream), or floor")
    parser.add_argument("--only", default="", help="comma-separated bench names")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; best is kept")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply element counts")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds per bench")
    args = parser.parse_args(argv)

    table = FLOOR_BENCHES if args.lib == "floor" else STREAM_BENCHES
    names = [n for n in args.only.split(",") if n] or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        parser.error(f"unknown bench {unknown} for --lib {args.lib}; choose from {list(table)}")

    if args.lib == "floor":
        for name in names:
            run_bench("floor", name, partial(table[name], args.repeat, args.scale), args.limit)
        return 0

    try:
        Stream = importlib.import_module(args.lib).Stream
    except Exception as exc:  # an import error must become an error row, not a crash
        for name in names:
            emit_line({"lib": args.lib, "bench": name,
                       "error": f"import failed: {type(exc).__name__}: {exc}"})
        return 1
    for name in names:
        run_bench(args.lib, name, partial(table[name], Stream, args.repeat, args.scale),
                  args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
