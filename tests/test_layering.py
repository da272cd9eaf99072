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


@pytest.mark.parametrize("path", files("runtime/**/*.py"),
                         ids=lambda p: str(p.relative_to(PACKAGE / "runtime")))
def test_runtime_imports_nothing_of_the_stream_graph(path):
    bad = {
        name for name in imports_of(path)
        if name.startswith("streamz_core") and not name.startswith("streamz_core.runtime")
        and name != "streamz_core"
    }
    assert not bad, f"{path.name} imports {sorted(bad)}; the runtime must stay usable without streams"


# The private modules that core.py was split into are part of the graph, like core.py.
CORE_PARTS = ("_node/*.py",)


@pytest.mark.parametrize(
    "path", files("core.py", *CORE_PARTS, "loop.py", "metadata.py", "operators/*.py",
                  "sources/*.py", "sinks.py", "collection.py", "batch.py"),
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


def test_internals_module_imports_only_the_standard_library():
    """``_internals`` names the private asyncio/Tornado internals; the runtime may use it, so
    it must pull in nothing of the stream graph (Tornado only inside the function that needs it)."""
    import sys

    path = PACKAGE / "_internals.py"
    tree = ast.parse(path.read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {(node.module or "").split(".")[0] for node in tree.body
            if isinstance(node, ast.ImportFrom) and not node.level}
    top.discard("__future__")
    bad = {name for name in top if name not in sys.stdlib_module_names}
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    assert not bad and not relative, f"_internals.py imports {sorted(bad)} {relative} at module level"


TIME_READS = ("time.time(", "time.monotonic(", "IOLoop.time(", "gen.sleep(", ".call_later(")


@pytest.mark.parametrize(
    "path", files("core.py", *CORE_PARTS, "loop.py", "operators/*.py", "sources/*.py", "sinks.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_time_is_read_only_through_the_loop(path):
    text = path.read_text()
    found = [t for t in TIME_READS if t in text]
    assert not found, (
        f"{path.name} uses {found}; read time with loop_time()/loop.time() and wait with "
        "loop.call_at or asyncio.sleep, so virtual time reaches it"
    )


# -- the runtime's layers ------------------------------------------------------------------
# Each module of streamz_core.runtime has a rank and imports only modules of lower rank, so
# the runtime has no import cycle (deferred imports inside functions count too; imports
# under ``if TYPE_CHECKING:`` do not run and do not count). Importing ``a.b`` also runs
# the package ``a``. A new module gets a rank here: where it sits says what it may use.
RUNTIME_RANKS = {
    # records, wire and files: no runtime imports, or only of the line above
    "exceptions": 0, "_future": 0, "_channel": 0, "_code_origin": 0, "_protocol": 0,
    "mypy_plugin": 0,
    "_shm_files": 1,
    "_serialization": 2,
    "pickling": 3, "_context": 3, "_session_dirs": 3,
    "object_ref": 4, "_object_store": 4,
    "_task": 5, "_actors": 5, "_checks": 5,
    # the worker process: knows nothing of the driver
    "worker": 6,
    "worker.common": 7,
    "worker.core": 8,
    "worker.tasks": 9, "worker.actor_host": 9,
    "worker.boot": 10,
    "worker.__main__": 11,
    # the public modules (``context`` and ``actor`` name what workers define)
    "remote_function": 13, "context": 13,
    "actor": 14,
    # the driver: its collaborators from the bottom up, then the facade
    "driver.process": 15, "driver.session": 15,
    "driver.pool": 16,
    "driver.objects": 17,
    "driver.scheduler": 18,
    "driver.actors": 19,
    "driver": 20,
    "api": 22,
    "": 30,  # streamz_core/runtime/__init__.py
}

# Upward imports that are known and waiting to be removed: (importer, imported) -> why.
RUNTIME_RANK_EXCEPTIONS: dict[tuple[str, str], str] = {}

RUNTIME = PACKAGE / "runtime"


def _runtime_name(path: pathlib.Path) -> str:
    rel = path.relative_to(RUNTIME).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _runtime_imports(path: pathlib.Path) -> set[str]:
    """Runtime modules a file imports when it runs (names as in RUNTIME_RANKS)."""
    return _runtime_imports_of(path.read_text(), _runtime_name(path), path.name == "__init__.py")


def _runtime_imports_of(source: str, me: str, is_package: bool) -> set[str]:
    tree = ast.parse(source)
    package = [p for p in (me.split(".") if is_package else me.split(".")[:-1]) if p]
    skip: set[int] = set()
    for node in ast.walk(tree):  # imports only type checkers see
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[list[str]] = []
        if isinstance(node, ast.Import):
            targets = [a.name.split(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["streamz_core", "runtime", *package[: len(package) - (node.level - 1)]]
            else:
                base = []
            base = [*base, *(node.module.split(".") if node.module else [])]
            for alias in node.names:
                sub = [*base, alias.name]
                known = ".".join(sub[2:]) in RUNTIME_RANKS and sub[:2] == ["streamz_core", "runtime"]
                targets.append(sub if known else base)
        for t in targets:
            if t[:2] != ["streamz_core", "runtime"]:
                continue
            rest = t[2:]
            for i in range(1, len(rest) + 1):  # the module and the packages it runs
                name = ".".join(rest[:i])
                if name != me and not me.startswith(name + "."):  # not its own packages
                    found.add(name)
    return found


@pytest.mark.parametrize("path", files("runtime/**/*.py"),
                         ids=lambda p: str(p.relative_to(RUNTIME)))
def test_runtime_modules_import_only_lower_ranks(path):
    me = _runtime_name(path)
    assert me in RUNTIME_RANKS, (
        f"streamz_core/runtime/{path.relative_to(RUNTIME)} has no rank: add {me!r} to "
        f"RUNTIME_RANKS in tests/test_layering.py, above everything it imports")
    bad = []
    for name in sorted(_runtime_imports(path)):
        if name not in RUNTIME_RANKS:
            bad.append(f"{name} (not a ranked runtime module)")
        elif RUNTIME_RANKS[name] >= RUNTIME_RANKS[me] and (me, name) not in RUNTIME_RANK_EXCEPTIONS:
            bad.append(f"{name} (rank {RUNTIME_RANKS[name]})")
    assert not bad, (
        f"runtime module {me!r} (rank {RUNTIME_RANKS[me]}) imports {', '.join(bad)}; a module "
        f"may import only lower ranks (an import cycle otherwise): move the shared code down, "
        f"or pass a callable in")


def test_runtime_rank_exceptions_are_still_needed():
    for (me, name), why in RUNTIME_RANK_EXCEPTIONS.items():
        path = RUNTIME / (me.replace(".", "/") + ".py")
        if not path.exists():
            path = RUNTIME / me.replace(".", "/") / "__init__.py"
        assert name in _runtime_imports(path), (
            f"{me} no longer imports {name}: remove the exception ({why})")


def test_the_rank_rule_sees_deferred_imports_and_the_packages_an_import_runs():
    source = """
from typing import TYPE_CHECKING
from .. import _serialization as ser
if TYPE_CHECKING:
    from .api import init
def later():
    from ..driver.pool import WorkerPool
"""
    assert _runtime_imports_of(source, "worker.core", False) == {
        "_serialization", "driver", "driver.pool"}
