"""The import rules of the architecture (DESIGN.md), checked on the source with ast."""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "streamz_core"


def imports_of(path: pathlib.Path) -> set[str]:
    """Absolute module names imported by a file (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    if path.name == "__init__.py":
        package = list(rel.parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def files(*globs: str) -> list[pathlib.Path]:
    out = []
    for g in globs:
        out.extend(sorted(PACKAGE.glob(g)))
    return out


@pytest.mark.parametrize("path", files("runtime/*.py"), ids=lambda p: p.name)
def test_runtime_imports_nothing_of_the_stream_graph(path):
    bad = {
        name for name in imports_of(path)
        if name.startswith("streamz_core") and not name.startswith("streamz_core.runtime")
        and name != "streamz_core"
    }
    assert not bad, f"{path.name} imports {sorted(bad)}; the runtime must stay usable without streams"


@pytest.mark.parametrize(
    "path", files("core.py", "loop.py", "metadata.py", "operators/*.py", "sources.py", "sinks.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_graph_modules_never_import_backends_or_runtime(path):
    bad = {
        name for name in imports_of(path)
        if name.startswith(("streamz_core.backends", "streamz_core.runtime", "distributed", "dask"))
    }
    assert not bad, f"{path.name} imports {sorted(bad)}; reach backends only through the executor protocol"


@pytest.mark.parametrize("path", files("operators/[a-z]*.py"), ids=lambda p: p.name)
def test_operator_modules_do_not_import_each_other(path):
    siblings = {p.stem for p in PACKAGE.glob("operators/*.py")} - {"__init__", path.stem}
    shared = {s for s in siblings if s.startswith("_")}  # private helpers are shared
    bad = {
        name for name in imports_of(path)
        if name.startswith("streamz_core.operators.")
        and name.split(".")[2] in siblings - shared
    }
    assert not bad, f"{path.name} imports {sorted(bad)}; operators compose through Stream methods"


TIME_READS = ("time.time(", "time.monotonic(", "IOLoop.time(", "gen.sleep(", ".call_later(")


@pytest.mark.parametrize(
    "path", files("core.py", "loop.py", "operators/*.py", "sources.py", "sinks.py", "servers.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_time_is_read_only_through_the_loop(path):
    text = path.read_text()
    found = [t for t in TIME_READS if t in text]
    assert not found, (
        f"{path.name} uses {found}; read time with loop_time()/loop.time() and wait with "
        "loop.call_at or asyncio.sleep, so virtual time reaches it"
    )
