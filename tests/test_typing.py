"""The documented examples type-check as a user's script would: mypy --strict, run from a
directory outside the checkout, on the installed package (so these also fail when the
install is invisible to type checkers).

Each ```python block of a page becomes its own module. The quickstart is checked as it
is, under --strict; the other pages define helper functions without annotations, so
they are checked with those allowed (the bodies of unannotated functions are still
checked: --strict includes --check-untyped-defs).
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

from streamz_core import Stream

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

STRICT = ["--strict"]
# For pages whose examples define unannotated helpers (def increment(x): ...).
UNANNOTATED_HELPERS = [*STRICT, "--allow-untyped-defs", "--allow-incomplete-defs",
                       "--allow-untyped-calls", "--allow-untyped-decorators"]

PAGES = [
    ("quickstart.md", STRICT),
    ("lifetime.md", STRICT),
    ("modes.md", UNANNOTATED_HELPERS),
]

needs_mypy = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy is not installed (it is in the test extra)")


def python_blocks(page: str) -> list[str]:
    """The ```python blocks of a docs page, in order."""
    return re.findall(r"^```python\n(.*?)^```", (DOCS / page).read_text(), re.S | re.M)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    # One cache for the module: the first run analyses streamz_core and its
    # dependencies, the later ones reuse that.
    return tmp_path_factory.mktemp("mypy-cache")


def run_mypy(workdir: pathlib.Path, cache: pathlib.Path, sources: dict[str, str],
             flags: list[str]) -> subprocess.CompletedProcess[str]:
    """Write ``sources`` into ``workdir`` (outside the repo) and run mypy there."""
    for name, text in sources.items():
        (workdir / name).write_text(text)
    # An empty config file: no mypy.ini or pyproject.toml of the user's is picked up.
    (workdir / "mypy.ini").write_text("[mypy]\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", str(cache),
         "--no-error-summary", "--show-error-codes", *flags, *sources],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=240, check=False,
    )


@needs_mypy
@pytest.mark.parametrize(("page", "flags"), PAGES, ids=[p for p, _ in PAGES])
def test_documented_examples_type_check(page: str, flags: list[str], tmp_path: pathlib.Path,
                                        mypy_cache: pathlib.Path) -> None:
    blocks = python_blocks(page)
    assert blocks, f"docs/{page} has no ```python blocks"
    sources = {f"{page.removesuffix('.md')}_{i}.py": b for i, b in enumerate(blocks)}
    proc = run_mypy(tmp_path, mypy_cache, sources, flags)
    assert "Cannot find implementation or library stub" not in proc.stdout, (
        "mypy does not see the installed streamz_core (an editable install through an import "
        "hook?); reinstall with `make`:\n" + proc.stdout)
    assert proc.returncode == 0, f"docs/{page}, blocks in {tmp_path}:\n{proc.stdout}{proc.stderr}"


MISTAKES = '''
from streamz_core import Stream

Stream[int]().map(lambda x: x.upper())
Stream[int]().emit("one")
lengths = Stream[str]().map(len).sink_to_list()
lengths.append("not a length")
'''


@needs_mypy
def test_a_wrong_element_type_is_an_error(tmp_path: pathlib.Path, mypy_cache: pathlib.Path) -> None:
    proc = run_mypy(tmp_path, mypy_cache, {"mistakes.py": MISTAKES}, STRICT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["4", "5", "7"], proc.stdout
    assert '"int" has no attribute "upper"' in errors[0]
    assert 'incompatible type "str"; expected "int"' in errors[1]
    assert 'incompatible type "str"; expected "int"' in errors[2]


def test_generic_stream_is_the_same_class_at_run_time() -> None:
    # Stream[int] is only for type checkers: it builds a plain Stream.
    source = Stream[int]()
    assert type(source) is Stream
    out = source.map(str).sink_to_list()
    source.emit(1)
    assert out == ["1"]
    assert type(out).__name__ == "SinkList"
    out.node.destroy()


@pytest.mark.skipif(importlib.util.find_spec("pyright") is None, reason="pyright is not installed")
def test_pyright_sees_the_package_and_the_element_types(tmp_path: pathlib.Path) -> None:
    # pyright (Pylance's checker) resolves imports on its own: the quickstart under its
    # strict mode, and the mistakes of the mypy test, are what a VS Code user would see.
    sources = {f"quickstart_{i}.py": b for i, b in enumerate(python_blocks("quickstart.md"))}
    sources["mistakes.py"] = MISTAKES
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "pyrightconfig.json").write_text('{"typeCheckingMode": "strict"}')
    proc = subprocess.run(
        [sys.executable, "-m", "pyright", "--pythonpath", sys.executable],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False,
    )
    errors = [line.strip() for line in proc.stdout.splitlines() if " - error: " in line]
    assert not [e for e in errors if "quickstart_" in e], proc.stdout
    mistakes = [e for e in errors if "mistakes.py" in e]
    assert [e.split(":")[1] for e in mistakes if "is unknown" not in e] == ["4", "5", "7"], proc.stdout
