"""How a driver ends: a script that exits at once, SIGTERM, ``kill -9``.

Each test runs a real driver script in a subprocess, with real workers, and then looks
for what it left behind: live worker processes (found by the driver pid on their command
line), the session directories and ``from_process`` children.
"""
from __future__ import annotations

import glob
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="finds processes through /proc")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_TAGS = itertools.count()


def _run(code, env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def tagged_env():
    """Make environments with a unique tag, which every process a driver starts inherits.

    At teardown, whatever still carries one of the tags is killed (a failed test must not
    leave its driver or its workers running).
    """
    tags = []

    def make():
        tag = f"{os.getpid()}-{next(_TAGS)}"
        tags.append(tag)
        return dict(os.environ, STREAMZ_TEST_DRIVER_TAG=tag), tag

    yield make
    for tag in tags:
        for pid in _descendants(tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _descendants(tag):
    """Live (not zombie) processes that carry ``tag``: the driver, and what it started."""
    needle = f"STREAMZ_TEST_DRIVER_TAG={tag}".encode()
    found = []
    for entry in glob.glob("/proc/[0-9]*"):
        try:
            with open(entry + "/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
        except OSError:
            continue
        pid = int(os.path.basename(entry))
        if _alive(pid):
            found.append(pid)
    return found


def _session_dirs(driver_pid):
    roots = {"/dev/shm", tempfile.gettempdir()}
    return [p for r in roots for p in glob.glob(os.path.join(r, f"streamz-rt-{driver_pid}-*"))]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _assert_nothing_left(driver_pid, tag, wait_for):
    """No process the driver started is alive, and its session directories are gone."""
    wait_for(lambda: not _descendants(tag), timeout=10)
    wait_for(lambda: not _session_dirs(driver_pid), timeout=10)


# -- a script that ends while its workers start -----------------------------------------

EXIT_EARLY = [
    # the README's one-liner: the result comes from the driver, workers are still starting
    "import streamz_core.runtime as rt; print(rt.get(rt.put(1)))",
    # more workers, none of them up yet when the script ends
    "import streamz_core.runtime as rt; rt.init(num_workers=4); print(1)",
]


@pytest.mark.slow
@pytest.mark.parametrize("code", EXIT_EARLY)
def test_script_that_ends_while_workers_start_exits_silently(code, wait_for, tagged_env):
    for _ in range(8):
        env, tag = tagged_env()
        r = _run(code + "; import os; print(os.getpid())", env)
        out = r.stdout.split()
        assert (r.returncode, r.stderr, out[0]) == (0, "", "1")
        _assert_nothing_left(int(out[1]), tag, wait_for)


# -- a driver ended by a signal ------------------------------------------------------------

DRIVER = """
import os, sys, time
import streamz_core.runtime as rt
from streamz_core import Stream

{before_init}
rt.init(num_workers=2)

@rt.remote
def hog(marker):
    open(marker, "w").close()
    return sum(range(10 ** 12))   # holds the GIL in C: only the kernel can stop it

@rt.remote
def ident(x):
    return x

rt.get([ident.remote(i) for i in range(4)])   # both workers up
big = rt.put(b"x" * (8 << 20))                  # a file in the session's /dev/shm dir
refs = [hog.remote(sys.argv[1])] if "hog" in sys.argv else []
child = Stream.from_process(
    [sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"])
child.start()
print(os.getpid(), child.pid, flush=True)
while True:
    time.sleep(0.05)
"""


def _start_driver(tagged_env, tmp_path, before_init="", hog=False):
    marker = tmp_path / "hog-started"
    code = DRIVER.format(before_init=textwrap.dedent(before_init))
    argv = [sys.executable, "-c", code, str(marker)] + (["hog"] if hog else [])
    env, tag = tagged_env()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"the driver did not start: {proc.stderr.read()}")
    driver_pid, child_pid = (int(x) for x in line.split())
    assert driver_pid == proc.pid
    started = set(_descendants(tag)) - {proc.pid}
    assert child_pid in started and len(started) >= 3  # 2 workers and the child at least
    assert _session_dirs(proc.pid)
    return proc, tag, marker


@pytest.mark.slow
def test_sigterm_on_the_driver_cleans_up_like_a_normal_exit(tmp_path, wait_for, tagged_env):
    proc, tag, _ = _start_driver(tagged_env, tmp_path)
    proc.send_signal(signal.SIGTERM)  # docker stop, systemctl stop
    assert proc.wait(30) == -signal.SIGTERM  # as an unhandled SIGTERM
    # the runtime cleaned up before the process died: nothing for anybody else to do
    assert not _session_dirs(proc.pid)
    _assert_nothing_left(proc.pid, tag, wait_for)
    assert proc.stderr.read() == ""


@pytest.mark.slow
def test_a_users_sigterm_handler_is_kept_and_exiting_from_it_cleans_up(tmp_path, wait_for,
                                                                      tagged_env):
    handler = """
    import signal
    def on_term(signum, frame):
        print("user handler ran", flush=True)
        sys.exit(3)
    signal.signal(signal.SIGTERM, on_term)
    """
    proc, tag, _ = _start_driver(tagged_env, tmp_path, before_init=handler)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 3  # the user's handler decided how the program ends
    assert "user handler ran" in proc.stdout.read()
    _assert_nothing_left(proc.pid, tag, wait_for)


@pytest.mark.slow
@pytest.mark.parametrize("hog", [False, True], ids=["idle", "task-holding-the-GIL"])
def test_kill_9_of_the_driver_leaves_nothing_behind(tmp_path, wait_for, tagged_env, hog):
    proc, tag, marker = _start_driver(tagged_env, tmp_path, hog=hog)
    if hog:
        wait_for(lambda: marker.exists())
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    # workers die with it (even one stuck in C code), the janitor removes the session's
    # directories, the from_process child gets SIGTERM from the kernel
    _assert_nothing_left(proc.pid, tag, wait_for)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_from_process_children_die_with_a_driver_without_runtime(sig, wait_for, tagged_env):
    code = """
    import os, sys, time
    from streamz_core import Stream
    src = Stream.from_process([sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"])
    src.start()
    print(src.pid, flush=True)
    time.sleep(60)
    """
    env, tag = tagged_env()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    assert set(_descendants(tag)) == {proc.pid, child}
    os.kill(proc.pid, sig)
    assert proc.wait(30) == -sig
    wait_for(lambda: not _descendants(tag), timeout=10)


def test_from_process_still_runs_the_users_preexec_fn():
    """The parent-death signal is set in a preexec_fn that chains to the user's own."""
    import asyncio

    from streamz_core import Stream

    async def main():
        src = Stream.from_process(
            [sys.executable, "-c", "import os; print(os.getsid(0) == os.getpid())"],
            open_kwargs={"preexec_fn": os.setsid}, with_end=False, asynchronous=True)
        out = src.sink_to_list()
        src.start()
        await asyncio.wait_for(src.wait_stopped(), 30)
        return out

    assert asyncio.run(main()) == [b"True"]
