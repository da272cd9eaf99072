"""Remote tracebacks show the user's file, line and source, and none of our internals.

The user's situations: a script in a real file, a function typed in ``python -c``, a
notebook cell (code compiled under a name only the driver's linecache knows) and a script
deleted while it runs. Each runs in real worker processes; the scripts in a fresh
interpreter, as the user runs them. Whatever cloudpickle version is installed (3.1.3
renames pickled code to ``"<dynamic-code>"``; CI also runs the oldest one setup.cfg allows).
"""
from __future__ import annotations

import asyncio
import linecache
import os
import pickle
import subprocess
import sys
import textwrap
import traceback
import uuid

import pytest

import streamz_core.runtime as rt
from streamz_core.runtime import _code_origin
from streamz_core.runtime import _serialization as ser
from streamz_core.runtime.exceptions import RemoteTraceback

RUNTIME_DIR = os.path.dirname(os.path.abspath(rt.__file__))
# Where a remote error may surface in the caller: the public call the user made.
PUBLIC_ENTRIES = {("api.py", "get"), ("object_ref.py", "result"),
                  ("object_ref.py", "__await__")}


def run_script(tmp_path, source: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``source`` as a script file, or with ``python -c`` when ``args`` say so."""
    source = textwrap.dedent(source)
    if args == ("-c",):
        cmd = [sys.executable, "-c", source]
    else:
        script = tmp_path / "user_script.py"
        script.write_text(source)
        cmd = [sys.executable, str(script)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)


def runtime_frames(stderr: str) -> list[str]:
    """The traceback lines that name a file of streamz_core.runtime."""
    return [line.strip() for line in stderr.splitlines()
            if line.strip().startswith(f'File "{RUNTIME_DIR}')]


SCRIPT = '''\
import streamz_core.runtime as rt


def helper(x):
    return 1 / x


@rt.remote
def boom(x):
    y = x + 1
    return helper(y - y)


rt.get(boom.remote(1))
'''


def test_script_in_a_file_shows_file_line_and_source(tmp_path):
    proc = run_script(tmp_path, SCRIPT)
    path = str(tmp_path / "user_script.py")
    assert proc.returncode == 1
    err = proc.stderr
    remote = err.split('"""')[1]
    assert f'File "{path}", line 11, in boom\n    return helper(y - y)' in remote
    assert f'File "{path}", line 5, in helper\n    return 1 / x' in remote
    assert "<dynamic-code>" not in err
    # below the remote part: the user's line, then only the rt.get they called
    frames = runtime_frames(err)
    assert len(frames) == 1, frames
    assert frames[0].startswith(f'File "{RUNTIME_DIR}/api.py"') and frames[0].endswith("in get")
    assert err.rstrip().endswith("ZeroDivisionError: division by zero")


def test_script_deleted_while_running_still_shows_its_source(tmp_path):
    # the worker cannot read the file any more: the lines came with the function
    source = SCRIPT.replace("rt.get(boom.remote(1))", textwrap.dedent("""\
        import os
        ref = boom.remote(1)
        os.remove(__file__)
        rt.get(ref)"""))
    proc = run_script(tmp_path, source)
    assert not (tmp_path / "user_script.py").exists()
    assert "line 11, in boom\n    return helper(y - y)" in proc.stderr
    assert "line 5, in helper\n    return 1 / x" in proc.stderr


def test_function_from_python_c_shows_its_line(tmp_path):
    proc = run_script(tmp_path, '''
        import streamz_core.runtime as rt
        @rt.remote
        def boom():
            raise ValueError("from -c")
        rt.get(boom.remote())
        ''', "-c")
    err = proc.stderr
    # python -c keeps no source anywhere: the same line Python itself prints locally
    assert 'File "<string>", line 5, in boom\nValueError: from -c' in err
    assert "<dynamic-code>" not in err
    assert [f.rsplit(", in ", 1)[1] for f in runtime_frames(err)] == ["get"]


@pytest.fixture
def notebook_cell():
    """Compile code as a notebook does: under a name only this linecache knows."""
    names = []

    def make(source: str, name: str | None = None) -> dict:
        name = name or f"<ipython-input-{len(names) + 1}-{uuid.uuid4().hex[:12]}>"
        source = textwrap.dedent(source)
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        names.append(name)
        ns: dict = {"rt": rt, "asyncio": asyncio}
        exec(compile(source, name, "exec"), ns)
        ns["__cell__"] = name
        return ns
    yield make
    for name in names:
        linecache.cache.pop(name, None)


CELL = '''
@rt.remote
def from_cell(x):
    values = [x, 0]
    return values[0] / values[1]

@rt.remote
class CellActor:
    def sync_method(self):
        raise KeyError("sync in the cell")

    async def async_method(self):
        await asyncio.sleep(0)
        raise LookupError("async in the cell")
'''


def remote_text(exc: BaseException) -> str:
    cause = exc.__cause__
    assert isinstance(cause, RemoteTraceback)
    return cause.tb


@pytest.mark.parametrize("style", ["ipython", "ipykernel"])
def test_notebook_cell_function_shows_the_cell(runtime, notebook_cell, style):
    # IPython names a cell <ipython-input-N-hash>; ipykernel a .py file it never writes
    name = None if style == "ipython" else f"/tmp/ipykernel_0/{uuid.uuid4().hex}.py"
    cell = notebook_cell(CELL, name)
    with pytest.raises(ZeroDivisionError) as info:
        rt.get(cell["from_cell"].remote(1))
    tb = remote_text(info.value)
    assert f'File "{cell["__cell__"]}", line 5, in from_cell\n' \
           f'    return values[0] / values[1]' in tb
    assert "<dynamic-code>" not in tb


def test_notebook_cell_actor_methods_show_the_cell(runtime, notebook_cell):
    cell = notebook_cell(CELL)
    actor = cell["CellActor"].remote()
    with pytest.raises(KeyError) as info:
        rt.get(actor.sync_method.remote())
    assert 'line 10, in sync_method\n    raise KeyError("sync in the cell")' in \
        remote_text(info.value)
    with pytest.raises(LookupError) as info2:
        rt.get(actor.async_method.remote())
    assert 'line 14, in async_method\n    raise LookupError("async in the cell")' in \
        remote_text(info2.value)
    rt.kill(actor)


def _surface_frames(exc: BaseException) -> list[tuple[str, str]]:
    """(file, function) of the caller-side frames that belong to the runtime."""
    return [(os.path.basename(f.filename), f.name)
            for f in traceback.extract_tb(exc.__traceback__)
            if f.filename.startswith(RUNTIME_DIR)]


def test_caller_side_traceback_has_at_most_the_public_call(runtime, notebook_cell):
    cell = notebook_cell(CELL)
    fail = cell["from_cell"]

    async def awaited():
        await fail.remote(1)

    async def as_future():
        await rt.as_future(fail.remote(1))

    ways = {
        "rt.get(ref)": lambda: rt.get(fail.remote(1)),
        "rt.get([refs])": lambda: rt.get([rt.put(1), fail.remote(1)]),
        "ref.result()": lambda: fail.remote(1).result(),
        "ref.future().result()": lambda: fail.remote(1).future().result(),
        "await ref": lambda: asyncio.run(awaited()),
        "await rt.as_future(ref)": lambda: asyncio.run(as_future()),
    }
    for way, call in ways.items():
        with pytest.raises(ZeroDivisionError) as info:
            call()
        frames = _surface_frames(info.value)
        assert len(frames) <= 1 and set(frames) <= PUBLIC_ENTRIES, (way, frames)
        assert "line 5, in from_cell" in remote_text(info.value), way


def test_task_calling_a_failing_task_shows_both_tracebacks(runtime, notebook_cell):
    cell = notebook_cell(CELL + '''
@rt.remote
def outer():
    return rt.get(from_cell.remote(2))
''')
    with pytest.raises(ZeroDivisionError) as info:
        rt.get(cell["outer"].remote())
    tb = remote_text(info.value)
    assert "line 18, in outer\n    return rt.get(from_cell.remote(2))" in tb
    assert "line 5, in from_cell\n    return values[0] / values[1]" in tb


def test_pickled_code_keeps_file_positions_and_source(notebook_cell):
    cell = notebook_cell(CELL)
    fn = cell["from_cell"].__wrapped__
    blob = ser.pickle_dumps(fn)
    class_blob = ser.pickle_dumps(cell["CellActor"]._cls)
    name = cell["__cell__"]
    linecache.cache.pop(name)  # as in a worker, where the cell was never compiled
    copy = pickle.loads(blob)
    assert copy.__code__.co_filename == name
    assert list(copy.__code__.co_positions()) == list(fn.__code__.co_positions())
    assert linecache.getline(name, 5) == "    return values[0] / values[1]\n"
    assert linecache.getline(name, 2) == "@rt.remote\n"
    # the class next to it brings its own span, merged into the same entry
    pickle.loads(class_blob)
    assert linecache.getline(name, 10) == '        raise KeyError("sync in the cell")\n'
    assert linecache.getline(name, 5) == "    return values[0] / values[1]\n"


def test_a_file_the_worker_can_read_is_left_to_linecache(tmp_path):
    path = tmp_path / "real.py"
    path.write_text("x = 1\ny = 2\n")
    _code_origin.remember_source(str(path), 1, ("something else\n",))
    assert linecache.getline(str(path), 1) == "x = 1\n"
    assert linecache.getline(str(path), 2) == "y = 2\n"
    linecache.cache.pop(str(path), None)
