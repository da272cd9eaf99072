"""``make compat``: streamz 0.6.4's own test suite, on streamz_core and on streamz itself.

Downloads the streamz 0.6.4 wheel into the cache directory (default ``build/compat``,
ignored by git), extracts ``streamz/tests/*.py`` and runs them twice, with a per-test
timeout: with ``--ours`` (streamz_core through ``streamz_core.compat``, the
``alias_plugin`` here) and with ``--theirs`` (an environment where the real streamz is
installed; its installed copy of the same tests). Prints the counts per file side by side,
then every test that does not pass on streamz_core with its error.

Exit status: 0 whatever the tests do (this is a report until the failures are fixed), unless
``--strict``: then 1 when a test that passes on streamz does not pass (or xfail) here.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = "0.6.4"
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def fetch_wheel(python: str, cache: Path) -> Path:
    """The streamz wheel in ``cache/wheel``, downloaded by pip the first time."""
    wheel_dir = cache / "wheel"
    found = sorted(wheel_dir.glob(f"streamz-{VERSION}-*.whl"))
    if not found:
        subprocess.run([python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        f"streamz=={VERSION}", "--no-deps", "--only-binary=:all:", "-d", str(wheel_dir)],
                       check=True)
        found = sorted(wheel_dir.glob(f"streamz-{VERSION}-*.whl"))
    return found[0]


def extract_tests(wheel: Path, tree: Path) -> list[str]:
    """``streamz/tests/*.py`` into ``tree``; returns the dataframe test files left out."""
    left_out = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if parts[:2] == ["streamz", "tests"] and len(parts) == 3 and name.endswith(".py"):
                (tree / name).parent.mkdir(parents=True, exist_ok=True)
                (tree / name).write_bytes(zf.read(name))
            elif name.startswith("streamz/dataframe/tests/") and name.endswith(".py") \
                    and not name.endswith("__init__.py"):
                left_out.append(parts[-1])
    # Makes the tests the package streamz.tests, so their relative imports
    # (``from ..graph import ...``) reach the alias. Never executed: ``streamz`` is
    # already streamz_core when the tests are imported.
    (tree / "streamz" / "__init__.py").write_text("")
    (tree / "pytest.ini").write_text("[pytest]\n")  # no options from the repo's setup.cfg
    return left_out


def run_pytest(python: str, tests: Path, rootdir: Path, ini: Path, xml: Path, timeout: int,
               plugin: bool) -> int:
    cmd = [python, "-m", "pytest", str(tests), "-c", str(ini), "--rootdir", str(rootdir),
           "--import-mode=importlib", "--continue-on-collection-errors", "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
           f"--timeout={timeout}", f"--junitxml={xml}", "-o", "junit_family=xunit1"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    cmd[3:3] = ["-p", "distributed_fixtures"] + (["-p", "alias_plugin"] if plugin else [])
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"  -> exit {done.returncode}: {tail[0]}", flush=True)
    return done.returncode


def _file_of(case: ET.Element) -> str:
    # From the node id (classname), not the junit "file" attribute: that names where the
    # function was defined, which for tests wrapped by gen_test is utils_test.py.
    dotted = (case.get("classname") or case.get("name") or "?").split(".")
    mods = [p for p in dotted if p.startswith(("test_", "py3_test"))]
    return (mods[0] + ".py") if mods else ".".join(dotted)


def _message(child: ET.Element) -> str:
    """One line: the message, or for collection and setup errors the exception raised."""
    lines = (child.get("message") or "").strip().splitlines()
    first = lines[0] if lines else ""
    if not first or first == "collection failure" or first.startswith("failed on setup"):
        raised = [ln[1:].strip() for ln in (child.text or "").splitlines() if ln.startswith("E ")]
        if raised:
            first = ("setup: " if first.startswith("failed on setup") else "") + raised[-1]
    return first[:200]


_RANK = {o: i for i, o in enumerate(("passed", "skipped", "xfailed", "xpassed", "failed", "error"))}


def parse(xml: Path) -> dict[str, tuple[str, str]]:
    """{test id: (outcome, first line of the message)}; a test id is ``file::name``.

    A test that passes and then errors at teardown appears twice in the XML: the worse
    outcome is kept, so each test counts once.
    """
    results: dict[str, tuple[str, str]] = {}
    if not xml.exists():
        return results
    for case in ET.parse(xml).getroot().iter("testcase"):
        fname = _file_of(case)
        outcome, message = "passed", ""
        for child in case:
            kind = child.tag
            message = _message(child)
            if kind == "failure":
                outcome = "xpassed" if "XPASS" in message else "failed"
            elif kind == "error":
                outcome = "error"
            elif kind == "skipped":
                outcome = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
            else:
                continue
            break
        test_id = f"{fname}::{case.get('name')}" if case.get("classname") else f"{fname}::<collection>"
        if test_id not in results or _RANK[outcome] > _RANK[results[test_id][0]]:
            results[test_id] = (outcome, message)
    return results


def count(results: dict[str, tuple[str, str]]) -> dict[str, collections.Counter[str]]:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for test_id, (outcome, _) in results.items():
        counts[test_id.split("::", 1)[0]][outcome] += 1
    return counts


def _fmt(c: collections.Counter[str] | None) -> str:
    if not c:
        return "not run"
    return " ".join(f"{c[o]}{o[0] if o != 'xfailed' and o != 'xpassed' else o[:2].upper()}"
                    for o in OUTCOMES if c[o]) + f" /{sum(c.values())}"


def report(ours: Path, theirs: Path | None, left_out: list[str]) -> bool:
    """Print the comparison; True when every test streamz passes passes (or xfails) here."""
    ores = parse(ours)
    tres = parse(theirs) if theirs else {}
    oc, tc = count(ores), count(tres)
    print("\nstreamz 0.6.4 tests: P passed, F failed, E errors, S skipped, XF xfailed, XP xpassed")
    print(f"{'file':<20} {'streamz_core':<32} {'streamz 0.6.4':<32}")
    for fname in sorted(set(oc) | set(tc)):
        print(f"{fname:<20} {_fmt(oc.get(fname)):<32} {_fmt(tc.get(fname)):<32}")
    total_o: collections.Counter[str] = sum(oc.values(), collections.Counter())
    total_t: collections.Counter[str] = sum(tc.values(), collections.Counter())
    print(f"{'TOTAL':<20} {_fmt(total_o):<32} {_fmt(total_t):<32}")
    for name in left_out:
        print(f"{name:<20} not collected: streamz_core has no streamz.dataframe")
    bad = {t: r for t, r in ores.items() if r[0] in ("failed", "error", "xpassed")}
    regressions = [t for t in bad if tres.get(t, ("?",))[0] == "passed"]
    print(f"\nnot passing on streamz_core: {len(bad)} "
          f"({len(regressions)} of them pass on streamz 0.6.4, marked *)")
    for test_id, (outcome, message) in sorted(bad.items()):
        star = "*" if test_id in regressions else " "
        print(f"{star} {outcome.upper():<7} {test_id}: {message}")
    theirs_bad = {t: r for t, r in tres.items() if r[0] in ("failed", "error", "xpassed")}
    if theirs:
        print(f"\nnot passing on streamz 0.6.4 itself: {len(theirs_bad)}")
    for test_id, (outcome, message) in sorted(theirs_bad.items()):
        print(f"  {outcome.upper():<7} {test_id}: {message}")
    return not regressions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", default=sys.executable, help="python with streamz_core")
    ap.add_argument("--theirs", default=None, help="python with streamz 0.6.4 installed")
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "compat"))
    ap.add_argument("--timeout", type=int, default=30, help="seconds per test")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 when a test that streamz passes does not pass here")
    args = ap.parse_args()
    cache = Path(args.cache).resolve()
    tree = cache / "tree"
    wheel = fetch_wheel(args.ours, cache)
    left_out = extract_tests(wheel, tree)
    ours_xml, theirs_xml = cache / "ours.xml", cache / "theirs.xml"
    for stale in (ours_xml, theirs_xml):
        stale.unlink(missing_ok=True)
    run_pytest(args.ours, tree / "streamz" / "tests", tree, tree / "pytest.ini", ours_xml,
               args.timeout, plugin=True)
    if args.theirs:
        # streamz's installed copy of the same files (the wheel's), run as the real package.
        where = subprocess.run([args.theirs, "-c", "import streamz, os; print(os.path.dirname(streamz.__file__))"],
                               check=True, capture_output=True, text=True).stdout.strip()
        installed = Path(where) / "tests"
        run_pytest(args.theirs, installed, installed, tree / "pytest.ini", theirs_xml,
                   args.timeout, plugin=False)
    ok = report(ours_xml, theirs_xml if args.theirs else None, left_out)
    print("\n(report only: exit 0; --strict fails on the * lines)" if not args.strict else "")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
