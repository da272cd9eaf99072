"""Run code and plugins written for ``import streamz`` on streamz_core, unchanged.

Opt in once, before anything imports ``streamz``::

    import streamz_core.compat
    streamz_core.compat.install()

or, without editing the program, ``python -m streamz_core.compat script.py [args]``
(``python -m streamz_core.compat -m package.module [args]`` for a module).

After :func:`install`, ``import streamz`` gives the ``streamz_core`` package itself, and
``streamz.core``, ``streamz.sources``, ``streamz.sinks``, ``streamz.batch``,
``streamz.collection``, ``streamz.graph`` and ``streamz.plugins`` are streamz_core's own
modules (the same objects, so classes are identical and ``isinstance`` holds).
``streamz.dask`` and ``streamz.utils_test`` are built here with streamz 0.6.4's names.
A streamz module that streamz_core does not provide (``streamz.dataframe``, ...) raises
``ModuleNotFoundError`` saying so; a missing name in a provided module raises the usual
``ImportError``/``AttributeError`` naming it.

Examples
--------
>>> import subprocess, sys
>>> code = ("import streamz_core.compat; streamz_core.compat.install(); "
...         "import streamz, streamz_core; print(streamz.Stream is streamz_core.Stream)")
>>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
'True\\n'
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import logging
import os
import shutil
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["install", "is_installed", "main"]

#: streamz module -> the streamz_core module that stands for it.
_ALIASES = {
    "streamz": "streamz_core",
    "streamz.core": "streamz_core.core",
    "streamz.sources": "streamz_core.sources",
    "streamz.sinks": "streamz_core.sinks",
    "streamz.batch": "streamz_core.batch",
    "streamz.collection": "streamz_core.collection",
    "streamz.graph": "streamz_core.graph",
    "streamz.plugins": "streamz_core.plugins",
}

#: streamz 0.6.4 modules that streamz_core does not provide, and what to do instead.
_MISSING = {
    "streamz.dataframe": "streaming dataframes are not provided (docs/migrating.md, 'Not provided')",
    "streamz.orderedweakset": "node.downstreams is a read-only view, not an OrderedWeakrefSet "
                              "(docs/migrating.md, 'The emit/update/_emit protocol')",
    "streamz.utils": "streamz.utils.M and methodcaller are not provided (docs/migrating.md, 'Not provided')",
    "streamz.river": "the river integration is not provided",
}


class _StreamzFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Builds ``streamz.dask``/``streamz.utils_test`` on first import; refuses missing modules."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in _BUILDERS:
            return importlib.util.spec_from_loader(fullname, self)
        base = ".".join(fullname.split(".")[:2])  # streamz.dataframe.core -> streamz.dataframe
        if base in _MISSING:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: streamz_core does not provide {base}: {_MISSING[base]}",
                name=fullname)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module object; exec_module fills it

    def exec_module(self, module: types.ModuleType) -> None:
        _BUILDERS[module.__name__](module.__dict__)


def _real_streamz_loaded() -> types.ModuleType | None:
    import streamz_core

    mod = sys.modules.get("streamz")
    return mod if mod is not None and mod is not streamz_core else None


def is_installed() -> bool:
    """True when ``import streamz`` gives streamz_core.

    Examples
    --------
    >>> is_installed() in (True, False)
    True
    """
    import streamz_core

    return sys.modules.get("streamz") is streamz_core


def install() -> types.ModuleType:
    """Make ``import streamz`` and its submodules resolve to streamz_core; return it.

    Call it before anything imports ``streamz``. If the real streamz is already
    imported, classes from both would be mixed in one process, so this raises
    ``RuntimeError`` instead. Calling it again does nothing.

    Examples
    --------
    >>> import subprocess, sys
    >>> code = ("import streamz_core.compat as c; c.install(); "
    ...         "from streamz.sources import from_q; import streamz_core.sources as s; "
    ...         "print(from_q is s.from_q)")
    >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    'True\\n'
    """
    real = _real_streamz_loaded()
    if real is not None:
        raise RuntimeError(
            "streamz_core.compat.install(): the real streamz is already imported "
            f"(from {getattr(real, '__file__', '?')}); call install() before anything "
            "imports streamz, or run the program with `python -m streamz_core.compat`")
    for alias, target in _ALIASES.items():
        sys.modules[alias] = importlib.import_module(target)
    if not any(isinstance(f, _StreamzFinder) for f in sys.meta_path):
        # First, so that an installed real streamz is never found for these names.
        sys.meta_path.insert(0, _StreamzFinder())
    return sys.modules["streamz"]


# ------------------------------------------------------------------ streamz.dask
def _build_dask(ns: dict[str, Any]) -> None:
    """``streamz.dask``: streamz_core's nodes run on Dask after ``scatter()`` already."""
    from .core import Stream
    from .operators.parallel import gather, scatter

    ns["__doc__"] = ("streamz.dask on streamz_core: DaskStream is Stream (the nodes after "
                     "scatter() submit to the executor, Dask when a client is active).")
    ns.update(DaskStream=Stream, scatter=scatter, gather=gather, Stream=Stream,
              __all__=["DaskStream", "scatter", "gather"])


# ------------------------------------------------------------ streamz.utils_test
def _inc(x: Any) -> Any:
    return x + 1


def _double(x: Any) -> Any:
    return 2 * x


@contextlib.contextmanager
def _tmpfile(extension: str = "") -> Iterator[str]:
    """A fresh temporary path that does not exist yet; removed afterwards if created."""
    suffix = "." + extension.lstrip(".") if extension else ""
    path = os.path.join(tempfile.mkdtemp(prefix="streamz-"), "tmp" + suffix)
    try:
        yield path
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


@contextlib.contextmanager
def _pristine_loop() -> Iterator[Any]:
    """A new Tornado IOLoop made current for the block, closed after it."""
    from tornado.ioloop import IOLoop

    aloop = asyncio.new_event_loop()
    asyncio.set_event_loop(aloop)
    loop = IOLoop.current()
    try:
        yield loop
    finally:
        loop.close(all_fds=True)
        asyncio.set_event_loop(None)


def _gen_test(timeout: float = 10) -> Callable[[Callable[..., Any]], Callable[[], None]]:
    """Run a (generator or async) test function as a coroutine on a pristine loop."""
    from tornado import gen

    def decorate(func: Callable[..., Any]) -> Callable[[], None]:
        def test_func() -> None:
            with _pristine_loop() as loop:
                loop.run_sync(gen.coroutine(func), timeout=timeout)
        test_func.__name__ = func.__name__
        test_func.__doc__ = func.__doc__
        return test_func
    return decorate


@contextlib.contextmanager
def _captured_logger(logger: logging.Logger | str, level: int = logging.INFO,
                     propagate: bool | None = None) -> Iterator[io.StringIO]:
    """Replace ``logger``'s handlers with one writing to the StringIO yielded."""
    log = logging.getLogger(logger) if isinstance(logger, str) else logger
    saved = (log.level, log.handlers[:], log.propagate)
    out = io.StringIO()
    log.handlers[:] = [logging.StreamHandler(out)]
    log.setLevel(level)
    if propagate is not None:
        log.propagate = propagate
    try:
        yield out
    finally:
        log.level, log.handlers[:], log.propagate = saved[0], saved[1], saved[2]


def _fail(what: str, timeout: float, fail_func: Callable[[], Any] | None) -> None:
    import pytest

    if fail_func is not None:
        fail_func()
    pytest.fail(f"condition not reached {what} {timeout} seconds")


def _wait_for(predicate: Callable[[], Any], timeout: float,
              fail_func: Callable[[], Any] | None = None, period: float = 0.001) -> None:
    """Poll ``predicate`` from this thread until true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        time.sleep(period)
        if time.monotonic() > deadline:
            _fail("within", timeout, fail_func)


async def _await_for(predicate: Callable[[], Any], timeout: float,
                     fail_func: Callable[[], Any] | None = None, period: float = 0.001) -> None:
    """:func:`_wait_for` for a coroutine: sleeps on the loop between polls."""
    deadline = time.monotonic() + timeout
    while not predicate():
        await asyncio.sleep(period)
        if time.monotonic() > deadline:
            _fail("until", timeout, fail_func)


def _build_utils_test(ns: dict[str, Any]) -> None:
    """``streamz.utils_test``: streamz 0.6.4's test helpers, written for streamz_core."""
    import pytest

    from .core import Stream

    class metadata(Stream):  # lower case: streamz's name
        """Emits the metadata list of each element that has one, instead of the element."""

        def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
            if metadata:
                return self._emit(metadata)
            return None

    @pytest.fixture
    def clean() -> None:
        """streamz stopped its background loops here; streamz_core's needs no reset."""

    ns.update(inc=_inc, double=_double, tmpfile=_tmpfile, pristine_loop=_pristine_loop,
              gen_test=_gen_test, captured_logger=_captured_logger, wait_for=_wait_for,
              await_for=_await_for, metadata=metadata, clean=clean, Stream=Stream)


_BUILDERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "streamz.dask": _build_dask,
    "streamz.utils_test": _build_utils_test,
}


def main(argv: list[str] | None = None) -> None:
    """``python -m streamz_core.compat script.py [args]`` or ``... -m module [args]``."""
    import runpy

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or (args[0] == "-m" and len(args) < 2):
        print("usage: python -m streamz_core.compat (script.py | -m module) [args...]\n"
              "Runs the program with `import streamz` resolving to streamz_core.")
        raise SystemExit(0 if args and args[0] in ("-h", "--help") else 2)
    install()
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(args)
        # As `python script.py` does: the script's folder first (here it was the cwd).
        sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    # Through the imported module, not this __main__ copy: one finder and one set of
    # builders, whichever way the program later imports streamz_core.compat.
    from streamz_core.compat import main as _main

    _main()
