"""Importing one module of the stream half gives the whole of it, as in streamz.

The package ``__init__`` is lazy (so that ``streamz_core.runtime`` stays light); these
check that a user or a plugin importing a single module, in a fresh interpreter, still
gets a ``Stream`` with every operator, sink and collection method (streamz_core/_assembly.py).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "streamz_core.core", "streamz_core.sinks", "streamz_core.sources", "streamz_core.sources.net",
    "streamz_core.sources.polling", "streamz_core.sources.process", "streamz_core.operators",
    "streamz_core.operators.transform", "streamz_core.operators.time", "streamz_core.graph",
    "streamz_core.collection", "streamz_core.batch",
]


@pytest.mark.parametrize("module", MODULES)
def test_one_module_imported_alone_gives_the_whole_stream_api(module, tmp_path):
    code = f"""
import {module}
from streamz_core.core import Stream
source = Stream()
L = source.map(lambda x: x + 1).sink_to_list()
source.emit(1)
assert L == [2] and source.to_batch(example=[1]).stream is not None
assert all(hasattr(Stream, name) for name in ("scatter", "timed_window", "sink_to_textfile", "visualize"))
import streamz_core
assert streamz_core.from_iterable and streamz_core.Batch
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
