"""Small helpers shared by the benchmark scripts (timing, statistics, output, machine facts)."""
from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from typing import Any


class BenchTimeout(BaseException):
    """A bench ran past its time limit (most likely a hang in the library under test).

    A BaseException, like KeyboardInterrupt, so that a library's ``except Exception``
    cannot swallow it.
    """


def measure(run_once: Callable[[], float], repeat: int, warm_up: bool = False) -> list[float]:
    """Call ``run_once`` ``repeat`` times and return the seconds each call reported.

    ``run_once`` times itself, so building a pipeline and checking its output stay
    outside the timed region. Collecting garbage first keeps one repetition's
    garbage from being charged to the next. ``warm_up`` adds an untimed first call,
    which pays for growing the process's memory pools and filling its caches.
    """
    if warm_up:
        run_once()
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(run_once())
    return times


def percentile(values: Sequence[float], q: float) -> float:
    """Return the nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``."""
    if not values:
        raise ValueError("percentile() of an empty sequence")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without float rounding surprises
    return ordered[int(rank) - 1]


def interval_errors(stamps: Sequence[float], interval: float) -> dict[str, float]:
    """Summarise how far consecutive ``stamps`` (seconds) are from ``interval``, in ms.

    ``mean_error_ms`` is the signed drift per period (mean interval minus the target).
    It depends on the first and last stamps only, so one late stamp at either end
    moves it; ``fit_error_ms`` is the slope of a least-squares line through all the
    stamps minus the target, which a single outlier barely moves. The ``*_abs_ms``
    figures are taken over the absolute per-period errors.
    """
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    if not gaps:
        raise ValueError(f"need at least two timestamps, got {len(stamps)}")
    errors = [abs(g - interval) * 1e3 for g in gaps]
    mean_gap = sum(gaps) / len(gaps)
    return {
        "n_intervals": len(gaps),
        "mean_interval_ms": mean_gap * 1e3,
        "mean_error_ms": (mean_gap - interval) * 1e3,
        "fit_error_ms": (_slope(stamps) - interval) * 1e3,
        "p50_abs_ms": percentile(errors, 50),
        "p99_abs_ms": percentile(errors, 99),
        "max_abs_ms": max(errors),
    }


def _slope(values: Sequence[float]) -> float:
    """Least-squares slope of ``values`` against their index."""
    n = len(values)
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise BenchTimeout in the main thread if the block runs longer than ``seconds``.

    A blocking emit that never returns would otherwise hang the whole run; lock waits
    are interruptible by signals on POSIX, so SIGALRM reaches the caller.
    The parent process still enforces its own timeout in case this one cannot fire.
    """
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise BenchTimeout(f"no result after {seconds:.0f} s (hang?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def emit_line(record: dict[str, Any]) -> None:
    """Print one JSON result line and flush, so a later hang cannot lose it."""
    sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stdout.flush()


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Return the JSON objects among the lines of ``text``; anything else is ignored."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


def dist_version(name: str) -> str:
    """Return the installed version of distribution ``name``, or 'not installed'."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def source_revision(repo: str) -> str:
    """The commit the benched streamz_core comes from, marked when its files differ from it."""
    try:
        head = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--",
                                "streamz_core"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not head:
        return "unknown (not a git checkout)"
    return f"{head} with uncommitted changes in streamz_core/" if dirty else head


def machine_facts() -> dict[str, Any]:
    """Facts that decide whether two runs can be compared at all."""
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        usable = os.cpu_count()
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "revision": source_revision(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        "versions": {
            name: dist_version(name)
            for name in ("streamz", "streamz-core", "tornado", "reactivex")
        },
    }
