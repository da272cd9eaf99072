"""Run a benchmark script against another checkout of streamz_core, for before/after runs.

    .venv-bench/bin/python benchmarks/with_tree.py /tmp/old-checkout bench_core.py --lib streamz_core --only d_maps

The bench venv's editable install points at this checkout; this puts ``TREE`` first on
``sys.path`` (worker processes inherit it) and runs ``TREE/benchmarks/SCRIPT``. Run it
from a directory that holds no ``streamz_core`` folder (e.g. ``/tmp``), or the current
directory wins.
"""
import runpy
import sys

if len(sys.argv) < 3:
    raise SystemExit("usage: with_tree.py TREE SCRIPT [ARGS...]")
root, script = sys.argv[1].rstrip("/"), sys.argv[2]
sys.path.insert(0, root)
import streamz_core  # noqa: E402

if not streamz_core.__file__.startswith(root):
    raise SystemExit(f"streamz_core was imported from {streamz_core.__file__}, not {root}: "
                     "run from a directory without a streamz_core folder")
sys.argv = [f"{root}/benchmarks/{script}", *sys.argv[3:]]
sys.path.insert(0, f"{root}/benchmarks")
runpy.run_path(sys.argv[0], run_name="__main__")
