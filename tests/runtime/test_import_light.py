"""``import streamz_core.runtime`` runs no stream code; the package re-exports lazily."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STREAM_MODULES = ("tornado", "streamz_core.core", "streamz_core.operators",
                  "streamz_core._stream_api")


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_runtime_loads_no_stream_code():
    loaded = _run(
        "import json, sys\n"
        "import streamz_core.runtime\n"
        "import streamz_core.runtime.worker.boot, streamz_core.runtime.worker.tasks\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({STREAM_MODULES!r}))))")
    assert loaded == []


def test_the_package_still_gives_streams_with_operators_and_plugins():
    got = _run(
        "import json, sys\n"
        "import streamz_core\n"
        "before = 'streamz_core.core' in sys.modules\n"
        "source = streamz_core.Stream()\n"
        "L = source.map(lambda x: x + 1).sink_to_list()\n"
        "source.emit(1)\n"
        "from streamz_core import plugins, _stream_api\n"
        "print(json.dumps({'before': before, 'L': L, 'dir': 'Stream' in dir(streamz_core),\n"
        "                  'ops': all(hasattr(streamz_core.Stream, n) for n in\n"
        "                             ('map', 'scatter', 'timed_window', 'sink')),\n"
        "                  'names': all(hasattr(streamz_core, n) for n in streamz_core.__all__),\n"
        "                  'version': streamz_core.__version__}))")
    assert got == {"before": False, "L": [2], "dir": True, "ops": True, "names": True,
                   "version": "0.1.0"}


def test_plugins_are_registered_on_first_use(tmp_path):
    # an entry point of the group streamz_core.plugins, as an installed package gives
    dist = tmp_path / "demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[streamz_core.nodes]\nrepeat_twice = demo_plugin_mod:RepeatTwice\n")
    (tmp_path / "demo_plugin_mod.py").write_text(
        "from streamz_core.core import Stream\n"
        "class RepeatTwice(Stream):\n"
        "    def update(self, x, who=None, metadata=None):\n"
        "        self._emit(x)\n"
        "        return self._emit(x)\n")
    code = (f"import sys, json; sys.path.insert(0, {str(tmp_path)!r})\n"
            "import streamz_core\n"
            "print(json.dumps(hasattr(streamz_core.Stream, 'repeat_twice')))")
    assert _run(code) is True


def test_workers_start_as_a_module_and_keep_the_drivers_environment(runtime):
    import streamz_core.runtime as rt
    from streamz_core.runtime import _context

    @rt.remote
    def where():
        return os.environ.get("PYTHONPATH"), sys.modules["__main__"].__spec__.name

    pythonpath, main = rt.get(where.remote())
    assert main == "streamz_core.runtime.worker.__main__"  # no program in a string
    assert pythonpath == os.environ.get("PYTHONPATH")  # children of tasks see ours
    for w in _context.current().workers:
        with open(f"/proc/{w.pid}/cmdline", "rb") as f:
            assert b"\0-m\0streamz_core.runtime.worker\0" in f.read()
