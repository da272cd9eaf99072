"""Run the stream-core benchmarks for streamz and streamz_core and print them side by side.

    python benchmarks/run.py                 # what `make bench` runs, in the bench venv
    python benchmarks/run.py --scale 0.1     # checks the harness; figures not comparable
    python benchmarks/run.py --markdown      # also print the tables as Markdown for the README

Every (library, bench) pair runs in its own subprocess of this interpreter, so a crash
or hang costs one row, not the run. Benches run in rounds that alternate the libraries
(and the matching plain-Python floor), and the best round is kept, so both libraries
are measured back to back under the same load. The speedup is streamz's time divided
by streamz_core's; the targets are those of issue 2.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from _harness import machine_facts, parse_lines
from bench_core import N_A, N_B, N_C, N_D, RATE_EMITS, WINDOW_PERIODS

HERE = Path(__file__).resolve().parent
BENCH_CORE = HERE / "bench_core.py"
LIBS = ("streamz", "streamz_core")
STREAM_BENCHES = ("a", "b", "c", "d_rate_limit", "d_maps", "e_rate_limit", "e_timed_window")
# The floor rows that go with each stream bench; they run in the same rounds.
FLOOR_OF = {
    "a": ("g_calls", "g_push_chain", "ref_reactivex"),
    "b": ("g_mixed",),
    "c": ("g_async1", "g_async5"),
}

Results = dict[tuple[str, str], dict[str, Any]]  # (lib, bench) -> record


@dataclass(frozen=True)
class Target:
    """A goal from issue 2 for the streamz_core figure of one row."""

    text: str
    min_speedup: float | None = None  # streamz time / streamz_core time
    max_value: float | None = None  # streamz_core figure, same unit as the row
    max_abs: float | None = None  # |streamz_core figure|, strictly below

    def check(self, core: float, speedup: float | None) -> str:
        failed = []
        if self.min_speedup is not None:
            if speedup is None:
                return "? (no streamz figure)"
            if speedup < self.min_speedup:
                failed.append(f"{speedup:.1f}x < {self.min_speedup:g}x")
        if self.max_value is not None and core > self.max_value:
            failed.append(f"{core:.0f} > {self.max_value:g}")
        if self.max_abs is not None and abs(core) >= self.max_abs:
            failed.append(f"|{core:.2f}| >= {self.max_abs:g}")
        return "no: " + ", ".join(failed) if failed else "yes"


@dataclass(frozen=True)
class Row:
    bench: str
    metric: str
    label: str
    target: Target | None = None
    ratio: bool = True  # False where a speedup means nothing (timing errors)


ROWS = (
    Row("a", "us_per_elem", "(a) 10 x map -> sink: us/elem"),
    Row("a", "ns_per_node", "(a) ns per map node",
        Target(">=10x and <=250 ns", min_speedup=10, max_value=250)),
    Row("b", "us_per_elem", "(b) map>acc>filter>window>flatten>map: us/in-elem",
        Target(">=10x", min_speedup=10)),
    Row("c", "us_per_elem", "(c) await emit, 5 maps: us/elem", Target(">=5x", min_speedup=5)),
    Row("d_rate_limit", "us_per_emit", "(d) blocking emit, rate_limit(0)>map: us/emit",
        Target(">=3x", min_speedup=3)),
    Row("d_maps", "us_per_emit", "(d) blocking emit, 5 maps: us/emit",
        Target(">=3x", min_speedup=3)),
    Row("e_timed_window", "mean_error_ms", "(e) timed_window(0.05) mean period err, ms",
        Target("|err| < 0.1 ms", max_abs=0.1), ratio=False),
    Row("e_timed_window", "fit_error_ms", "(e) timed_window drift, least-squares, ms",
        ratio=False),
    Row("e_timed_window", "p50_abs_ms", "(e) timed_window p50 |err|, ms", ratio=False),
    Row("e_timed_window", "p99_abs_ms", "(e) timed_window p99 |err|, ms", ratio=False),
    Row("e_rate_limit", "mean_error_ms", "(e) rate_limit(0.01) mean interval err, ms",
        Target("|err| < 0.1 ms", max_abs=0.1), ratio=False),
    Row("e_rate_limit", "p99_abs_ms", "(e) rate_limit p99 |err|, ms", ratio=False),
)

# Floor rows: (bench, metric in ns, label, compared with this stream row, factor to ns).
FLOOR_ROWS = (
    ("g_calls", "ns_per_elem", "(a) 10 inc calls in a loop: ns/elem", ("a", "us_per_elem"), 1e3),
    ("g_push_chain", "ns_per_node", "(a) minimal push-node chain: ns/node",
     ("a", "ns_per_node"), 1.0),
    ("ref_reactivex", "ns_per_node", "(a) reactivex 10 x ops.map: ns/stage",
     ("a", "ns_per_node"), 1.0),
    ("g_mixed", "ns_per_elem", "(b) plain Python equivalent: ns/elem", ("b", "us_per_elem"), 1e3),
    ("g_async1", "ns_per_elem", "(c) asyncio, 1 coroutine/elem: ns/elem",
     ("c", "us_per_elem"), 1e3),
    ("g_async5", "ns_per_elem", "(c) asyncio, 5 chained coroutines: ns/elem",
     ("c", "us_per_elem"), 1e3),
)


# --------------------------------------------------------------------------- running


def run_one(lib: str, bench: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one bench of one library in a subprocess and return its JSON record."""
    cmd = [sys.executable, str(BENCH_CORE), "--lib", lib, "--only", bench,
           "--repeat", str(args.repeat), "--scale", str(args.scale), "--limit", str(args.limit)]
    # Unbuffered, and no user site or PYTHON* surprises from the caller's shell.
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE,
                              timeout=args.limit + 30)
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = _text(exc.stdout)
        stderr = _text(exc.stderr) + f"\nkilled after {args.limit + 30:.0f} s"
        code = None
    elapsed = time.perf_counter() - started
    records = [r for r in parse_lines(stdout) if r.get("bench") == bench]
    if records:
        record = records[-1]
    else:
        # No JSON at all: the process died (segfault, hard hang, interpreter error).
        tail = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or [""]
        record = {"lib": lib, "bench": bench,
                  "error": f"no result (exit code {code}): {tail[0][:200]}"}
    if stderr.strip() and "error" not in record:
        # Warnings or log lines from a library are worth a look even when it worked.
        record["stderr_tail"] = stderr.strip().splitlines()[-3:]
    record["seconds"] = round(elapsed, 1)
    status = "error" if "error" in record else "ok"
    print(f"  {lib:>13} {bench:<15} {status:<5} {elapsed:6.1f} s", file=sys.stderr, flush=True)
    return record


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def run_all(args: argparse.Namespace) -> Results:
    """Run every bench in rounds and keep, per (library, bench), the best round.

    Within a round each library (and the floor rows that go with the bench) runs once,
    back to back, so a burst of load from elsewhere hits one round of every library
    instead of all repetitions of one. The real-clock benches (e) run once: they
    report a distribution, and each takes seconds of wall time.
    """
    results: Results = {}
    for bench in args.benches:
        jobs = [(lib, bench) for lib in args.libs]
        if args.floor:
            jobs += [("floor", floor) for floor in FLOOR_OF.get(bench, ())]
        rounds = 1 if bench.startswith("e_") else args.rounds
        samples: dict[tuple[str, str], list[dict[str, Any]]] = {job: [] for job in jobs}
        for _ in range(rounds):
            for lib, name in jobs:
                samples[(lib, name)].append(run_one(lib, name, args))
        for job, records in samples.items():
            results[job] = best_record(records)
    return results


def best_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of several rounds, or the first error: a bench that fails once is broken."""
    for n, record in enumerate(records, 1):
        if "error" in record:
            if len(records) > 1:
                record["error"] += f" (round {n} of {len(records)})"
            return record
    best = min(records, key=lambda r: min(r["metrics"]["reps_s"] or [0.0]))
    best["metrics"]["rounds_s"] = [t for r in records for t in r["metrics"]["reps_s"]]
    return best


# --------------------------------------------------------------------------- reporting


def figure(results: Results, lib: str, bench: str, metric: str) -> float | str | None:
    """A number, an error string, or None when the bench was not run."""
    record = results.get((lib, bench))
    if record is None:
        return None
    if "error" in record:
        return "error"
    return record["metrics"].get(metric, "missing")


def fmt(value: float | str | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    size = abs(value)
    digits = 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 1 else 3
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def stream_table(results: Results, libs: tuple[str, ...]) -> list[list[str]]:
    base, core = libs[0], (libs[1] if len(libs) > 1 else "")
    table = [["bench", base, core, "speedup", "target", "met"]]
    for row in ROWS:
        if not any((lib, row.bench) in results for lib in libs):
            continue  # left out with --only
        a = figure(results, base, row.bench, row.metric)
        b = figure(results, core, row.bench, row.metric) if core else None
        speedup = a / b if row.ratio and _num(a) and _num(b) and b > 0 else None
        met = ""
        if row.target and core:
            if not _num(b):
                met = "no (error)" if b == "error" else "-"
            elif _wrong(results, core, row.bench):
                met = "no (wrong output)"
            else:
                met = row.target.check(b, speedup)
        signed = row.metric in ("mean_error_ms", "fit_error_ms")
        table.append([row.label, fmt(a, signed), fmt(b, signed),
                      f"{speedup:.1f}x" if speedup else "-",
                      row.target.text if row.target else "", met])
    if not core:  # one library: nothing to compare, so no comparison columns
        table = [r[:2] for r in table]
    return table


def floor_table(results: Results, libs: tuple[str, ...]) -> list[list[str]]:
    table = [["floor (plain Python, same interpreter)", "figure"]
             + [f"{lib} / floor" for lib in libs]]
    for bench, metric, label, (row_bench, row_metric), to_ns in FLOOR_ROWS:
        if ("floor", bench) not in results:
            continue  # its stream bench was left out with --only
        floor = figure(results, "floor", bench, metric)
        cells = [label, fmt(floor)]
        for lib in libs:
            value = figure(results, lib, row_bench, row_metric)
            if _num(floor) and _num(value) and floor > 0:
                cells.append(f"{value * to_ns / floor:.1f}x")
            else:
                cells.append("-")
        table.append(cells)
    return table


def _num(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wrong(results: Results, lib: str, bench: str) -> bool:
    return "wrong_output" in results.get((lib, bench), {}).get("metrics", {})


def problems(results: Results) -> list[str]:
    """Errors and wrong outputs, one line each, for under the tables."""
    lines = []
    seen: set[tuple[str, str]] = set()
    for (lib, bench), record in results.items():
        if "error" in record:
            if (lib, record["error"]) in seen:  # an import failure fails every bench alike
                continue
            seen.add((lib, record["error"]))
            lines.append(f"{lib} {bench}: {record['error']}")
            trace = record.get("traceback", "").strip().splitlines()
            lines.extend(f"    {t}" for t in trace[-4:])
        elif "wrong_output" in record.get("metrics", {}):
            lines.append(f"{lib} {bench}: wrong output: {record['metrics']['wrong_output']}")
        if "stderr_tail" in record:
            lines.append(f"{lib} {bench} wrote to stderr (last lines):")
            lines.extend(f"    {t[:160]}" for t in record["stderr_tail"])
    return lines


def render_text(table: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) if i < 4 else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table[1:]]
    return "\n".join(lines)


def facts_lines(facts: dict[str, Any], load_after: tuple[float, ...], date: str) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
    return [
        f"date: {date}",
        f"machine: {facts['nproc']} usable cores (cpu_count {facts['cpu_count']}), "
        f"{facts['platform']}",
        "load average (1/5/15 min): before {} / after {}".format(
            " ".join(f"{x:.2f}" for x in facts["loadavg"]),
            " ".join(f"{x:.2f}" for x in load_after)),
        f"python: {facts['implementation']} {facts['python']} ({facts['executable']})",
        f"versions: {versions}; streamz_core at {facts['revision']}",
    ]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libs", default=",".join(LIBS),
                        help="comma-separated; the first is the baseline (default: %(default)s)")
    parser.add_argument("--only", default="", help="comma-separated stream benches "
                        f"(default: all of {', '.join(STREAM_BENCHES)})")
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip the plain-Python floor (g)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over the libraries, one process each; best is kept")
    parser.add_argument("--repeat", type=int, default=1,
                        help="repetitions inside each process; best is kept")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply element counts (below 1 only checks the harness)")
    parser.add_argument("--limit", type=float, default=150.0, help="seconds per bench")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument("--json", type=Path, help="write the raw records to this file")
    args = parser.parse_args(argv)
    args.libs = tuple(lib for lib in args.libs.split(",") if lib)
    args.benches = tuple(b for b in args.only.split(",") if b) or STREAM_BENCHES
    unknown = set(args.benches) - set(STREAM_BENCHES)
    if unknown:
        parser.error(f"unknown bench {sorted(unknown)}; choose from {', '.join(STREAM_BENCHES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine_facts()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join([Path(sys.executable).name, "benchmarks/run.py", *(argv or sys.argv[1:])])
    print(f"running: {command}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    results = run_all(args)
    load_after = os.getloadavg()

    tables = [stream_table(results, args.libs)]
    if args.floor:
        tables.append(floor_table(results, args.libs))
    header = facts_lines(facts, load_after, date)
    header.append(f"sizes: (a) {N_A * args.scale:,.0f} elements, (b) {N_B * args.scale:,.0f}, "
                  f"(c) {N_C * args.scale:,.0f}, (d) {N_D * args.scale:,.0f}; (e) "
                  f"{WINDOW_PERIODS} timed_window periods, {RATE_EMITS - 1} rate_limit intervals")
    header.append(f"command: {command}; best of {args.rounds} rounds x {args.repeat} "
                  f"repetition(s) per bench and library, scale {args.scale:g}; "
                  f"total {time.perf_counter() - started:.0f} s")
    if args.scale != 1.0:
        header.append("NOTE: scaled run; the figures are not comparable with the targets")

    print("\n".join(header))
    for table in tables:
        print()
        print(render_text(table))
    trouble = problems(results)
    if trouble:
        print("\nproblems and notes:")
        print("\n".join(trouble))
    if args.markdown:
        print("\n" + "\n".join(f"- {line}" for line in header))
        for table in tables:
            print()
            print(render_markdown(table))
    if args.json:
        raw = {"facts": facts, "load_after": load_after, "date": date, "command": command,
               "records": list(results.values())}
        args.json.write_text(json.dumps(raw, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
