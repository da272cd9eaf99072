"""streamz_core.compat: ``import streamz`` resolves to streamz_core after opting in.

Each check runs in a fresh interpreter (a subprocess): installing the alias changes
``sys.modules`` for the whole process, which must not leak into the other tests.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str, *args: str, cwd: Path | None = None, env_path: Path | None = None,
         module: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if env_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(env_path), env.get("PYTHONPATH")]))
    cmd = [sys.executable, *args] if module else [sys.executable, "-c", textwrap.dedent(code), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_alias_maps_modules_to_the_same_objects() -> None:
    out = _ok(_run("""
        import streamz_core.compat
        assert not streamz_core.compat.is_installed()
        streamz_core.compat.install()
        streamz_core.compat.install()  # a second call does nothing
        import streamz, streamz.core, streamz.sources, streamz.sinks, streamz.graph
        import streamz_core, streamz_core.core, streamz_core.sources, streamz_core.sinks
        from streamz import Stream, Source, RefCounter
        from streamz.sources import from_q
        from streamz.dask import DaskStream, scatter
        assert streamz.Stream is Stream is streamz_core.Stream
        assert streamz.core.Stream is streamz_core.core.Stream is Stream
        assert streamz.core is streamz_core.core and streamz.sinks is streamz_core.sinks
        assert from_q is streamz_core.sources.from_q and Source is streamz_core.Source
        assert RefCounter is streamz_core.RefCounter
        assert DaskStream is Stream and scatter is streamz_core.scatter
        assert streamz_core.compat.is_installed()
        source = streamz.Stream()
        L = source.map(lambda x: x + 1).sink_to_list()
        source.emit(1)
        assert isinstance(source, streamz.core.Stream) and L == [2]
        print("ok")
    """))
    assert out == "ok\n"


def test_utils_test_helpers() -> None:
    out = _ok(_run("""
        import logging, os
        import streamz_core.compat
        streamz_core.compat.install()
        from tornado import gen
        from streamz import Stream
        from streamz.utils_test import (inc, double, wait_for, await_for, gen_test, tmpfile,
                                        captured_logger, metadata)
        assert inc(1) == 2 and double(3) == 6
        with tmpfile("txt") as fn:
            assert fn.endswith(".txt") and not os.path.exists(fn)
            open(fn, "w").close()
        assert not os.path.exists(fn)
        with captured_logger("streamz", level=logging.ERROR) as log:
            logging.getLogger("streamz.core").error("boom")
        assert "boom" in log.getvalue()
        wait_for(lambda: True, 1)
        seen = []

        @gen_test(timeout=5)
        def coro():
            yield gen.sleep(0.01)
            yield await_for(lambda: True, 1)
            seen.append(1)

        coro()
        assert seen == [1]
        source = Stream()
        L = metadata(source).sink_to_list()
        source.emit(1, metadata=[{"v": 1}])
        source.emit(2)
        assert L == [[{"v": 1}]], L
        print("ok")
    """))
    assert out == "ok\n"


def test_missing_streamz_modules_and_names_say_so() -> None:
    out = _ok(_run("""
        import streamz_core.compat
        streamz_core.compat.install()
        for name in ("streamz.dataframe", "streamz.dataframe.core", "streamz.orderedweakset"):
            try:
                __import__(name)
            except ModuleNotFoundError as exc:
                assert "does not provide " + ".".join(name.split(".")[:2]) in str(exc), exc
            else:
                raise AssertionError(name)
        try:
            from streamz.core import no_such_name  # noqa: F401
        except ImportError as exc:
            assert "no_such_name" in str(exc)
        print("ok")
    """))
    assert out == "ok\n"


def _fake_real_streamz(tmp_path: Path) -> Path:
    """A package named streamz on the path, standing for the installed real one."""
    pkg = tmp_path / "site" / "streamz"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("REAL = True\n")
    return tmp_path / "site"


def test_refuses_when_the_real_streamz_is_imported(tmp_path: Path) -> None:
    done = _run("""
        import streamz
        assert streamz.REAL
        import streamz_core.compat
        try:
            streamz_core.compat.install()
        except RuntimeError as exc:
            print(exc)
        assert not streamz_core.compat.is_installed()
    """, env_path=_fake_real_streamz(tmp_path))
    out = _ok(done)
    assert "the real streamz is already imported" in out and "call install() before" in out


def test_alias_wins_over_an_installed_streamz(tmp_path: Path) -> None:
    out = _ok(_run("""
        import streamz_core.compat
        streamz_core.compat.install()
        import streamz, streamz_core
        assert not hasattr(streamz, "REAL") and streamz is streamz_core
        print("ok")
    """, env_path=_fake_real_streamz(tmp_path)))
    assert out == "ok\n"


def test_run_a_script_unchanged_with_python_m(tmp_path: Path) -> None:
    script = tmp_path / "user_script.py"
    (tmp_path / "helper_beside.py").write_text("VALUE = 7\n")
    script.write_text(textwrap.dedent("""
        import sys
        import helper_beside  # found beside the script, as with `python script.py`
        import streamz
        from streamz import Stream
        import streamz_core
        source = Stream()
        L = source.map(lambda x: x * 10).sink_to_list()
        source.emit(4)
        print(streamz.Stream is streamz_core.Stream, L, sys.argv[1:], __name__, helper_beside.VALUE)
    """))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    out = _ok(_run("", "-m", "streamz_core.compat", str(script), "a", "b", module=True, cwd=elsewhere))
    assert out == "True [40] ['a', 'b'] __main__ 7\n"
    usage = _run("", "-m", "streamz_core.compat", module=True)
    assert usage.returncode == 2 and "usage:" in usage.stdout
