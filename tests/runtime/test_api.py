"""Lifecycle and safety: init options, shutdown/atexit cleanup, isolation, examples."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import streamz_core.runtime as rt
from streamz_core.runtime import _context

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _pids():
    core = _context.current()
    procs = list(core.workers) + [a.proc for a in core.actors.values() if a.proc]
    return [p.pid for p in procs if p.pid]


def test_init_validates_options():
    with pytest.raises(ValueError, match=r"num_workers=0"):
        rt.init(num_workers=0)
    with pytest.raises(ValueError, match=r"object_store_memory=-1"):
        rt.init(object_store_memory=-1)


def test_init_twice_with_options_is_explained(runtime):
    rt.init()  # no options: fine
    with pytest.raises(RuntimeError, match="already running"):
        rt.init(num_workers=3)


def test_shutdown_leaves_no_process_and_no_files(pid_alive, wait_for):
    rt.shutdown()
    rt.init(num_workers=2)

    @rt.remote
    class A:
        def ping(self):
            return os.getpid()

    @rt.remote
    def f():
        return os.getpid()
    a = A.remote()
    rt.get([a.ping.remote(), f.remote(), f.remote()])
    pids = _pids()
    dirs = _context.current().session_dirs
    assert len(pids) == 3 and all(pid_alive(p) for p in pids)
    rt.shutdown()
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5)
    assert not any(os.path.exists(d) for d in dirs)
    assert not rt.is_initialized()
    # the next call starts a fresh runtime
    assert rt.get(f.remote()) != os.getpid()
    rt.shutdown()


def test_exit_without_shutdown_cleans_up(pid_alive, wait_for):
    script = textwrap.dedent("""
        import os, sys
        import streamz_core.runtime as rt
        from streamz_core.runtime import _context
        @rt.remote
        class A:
            def ping(self):
                return 1
        @rt.remote
        def f(x):
            return x
        a = A.remote()
        rt.get([a.ping.remote(), f.remote(rt.put(b"x" * 200_000))])
        core = _context.current()
        procs = list(core.workers) + [x.proc for x in core.actors.values()]
        print(" ".join(str(p.pid) for p in procs))
        print(" ".join(core.session_dirs))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    pids = [int(p) for p in lines[-2].split()]
    dirs = lines[-1].split()
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5)
    assert not any(os.path.exists(d) for d in dirs)


def test_workers_do_not_import_the_stream_core(runtime):
    @rt.remote
    def modules():
        import sys
        return sorted(m for m in sys.modules
                      if m.startswith("tornado") or m in ("streamz_core.core", "zict"))
    assert rt.get(modules.remote()) == []


def test_nothing_listens_on_a_network_interface(runtime):
    psutil = pytest.importorskip("psutil")

    @rt.remote
    class A:
        def ping(self):
            return 1
    rt.get(A.remote().ping.remote())
    for pid in [*_pids(), os.getpid()]:
        conns = psutil.Process(pid).net_connections(kind="inet")
        assert [c for c in conns if c.status == psutil.CONN_LISTEN] == []


def test_connections_are_authenticated(runtime):
    import threading

    from streamz_core.runtime._channel import AuthenticationError, Channel, authenticate
    core = _context.current()
    assert len(core.authkey) == 32
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    driver_end, intruder = Channel(r1, w2), Channel(r2, w1)
    errors = []

    def intrude():
        try:
            authenticate(intruder, b"wrong key", initiator=False)
        except AuthenticationError as exc:
            errors.append(exc)
    t = threading.Thread(target=intrude)
    t.start()
    with pytest.raises(AuthenticationError, match="session key"):
        authenticate(driver_end, core.authkey, initiator=True)
    t.join(5)
    assert errors  # neither side accepts the other
    for ch in (driver_end, intruder):
        ch.close()


def test_channel_carries_small_and_large_messages():
    import threading

    from streamz_core.runtime._channel import Channel
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    a, b = Channel(r1, w2), Channel(r2, w1)
    msgs = [b"", b"x", os.urandom(70_000), os.urandom(3_000_000), b"end"]
    t = threading.Thread(target=lambda: [b.send_bytes(m) for m in msgs])
    t.start()
    got = [bytes(a.recv_bytes()) for _ in msgs]
    t.join(5)
    assert got == msgs and not a.pending()
    a.close()
    b.close()


def test_example_runs():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "runtime_actors.py")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "squares: [0, 1, 4, 9" in out.stdout and "caught: ValueError" in out.stdout


def test_forked_child_gets_its_own_runtime(runtime):
    import multiprocessing as mp

    @rt.remote
    def one():
        return 1
    assert rt.get(one.remote()) == 1
    ctx = mp.get_context("fork")
    q = ctx.Queue()

    def child(q):
        q.put(rt.is_initialized())
    p = ctx.Process(target=child, args=(q,))
    p.start()
    p.join(10)
    assert q.get(timeout=5) is False


@pytest.mark.slow
def test_driver_killed_leaves_no_orphans(pid_alive, wait_for):
    import signal
    script = textwrap.dedent("""
        import sys, time
        import streamz_core.runtime as rt
        from streamz_core.runtime import _context
        @rt.remote
        class A:
            def ping(self):
                return 1
        @rt.remote
        def f():
            time.sleep(60)
        a = A.remote()
        rt.get(a.ping.remote())
        f.remote()
        core = _context.current()
        procs = list(core.workers) + [x.proc for x in core.actors.values()]
        print(" ".join(str(p.pid) for p in procs), flush=True)
        print(core.session_dirs[0], flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                         cwd=ROOT)
    pids = [int(x) for x in p.stdout.readline().split()]
    shm_dir = p.stdout.readline().strip()
    assert pids and all(pid_alive(x) for x in pids)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    wait_for(lambda: not any(pid_alive(x) for x in pids), timeout=10)
    # the next rt.init removes the dead session's files
    from streamz_core.runtime.api import _clean_stale
    _clean_stale()
    assert not os.path.exists(shm_dir)


def test_statistics(runtime, wait_for):
    @rt.remote
    def ident(x):
        return x
    refs = [ident.remote(i) for i in range(10)]
    rt.get(refs)
    stats = rt.statistics()
    assert stats.workers >= 1 and stats.objects >= 10
    assert stats.pending_tasks == 0
    assert rt.RuntimeStatistics._fields[0] == "workers"


def test_runtime_imports_nothing_of_the_stream_graph():
    import ast
    import sys
    pkg = os.path.join(ROOT, "streamz_core", "runtime")
    allowed_third_party = {"cloudpickle", "numpy"}
    for dirpath, _dirs, names in os.walk(pkg):
        depth = os.path.relpath(dirpath, pkg).count(os.sep) + (dirpath != pkg)
        for name in sorted(names):
            if not name.endswith(".py") or name == "mypy_plugin.py":  # loaded by mypy only
                continue
            path = os.path.join(dirpath, name)
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    if node.level:  # relative: inside streamz_core.runtime
                        assert node.level <= depth + 1, f"{path} reaches outside the runtime"
                        continue
                    mods = [node.module or ""]
                else:
                    continue
                for mod in mods:
                    top = mod.split(".")[0]
                    ok = (top in sys.stdlib_module_names or top in allowed_third_party
                          or top == "__future__" or mod.startswith("streamz_core.runtime"))
                    assert ok, f"{path} imports {mod!r}"


def test_statistics_count_unexpected_worker_deaths(runtime, wait_for):
    import signal

    @rt.remote
    def pid():
        return os.getpid()
    before = rt.statistics().worker_crashes
    os.kill(rt.get(pid.remote()), signal.SIGKILL)
    wait_for(lambda: rt.statistics().worker_crashes == before + 1)
    assert rt.get(pid.remote(), timeout=10) > 0


@pytest.mark.parametrize("timeout", ["1s", [1], True], ids=repr)
def test_get_and_wait_reject_a_timeout_that_is_not_a_number(runtime, timeout):
    # issue 7, 6c: rt.get(timeout="1s") used to fail deep inside with
    # "'>' not supported between instances of 'str' and 'float'".
    @rt.remote
    def slow():
        import time

        time.sleep(0.2)
        return 1

    ref = slow.remote()
    for call, name in ((lambda: rt.get(ref, timeout=timeout), "get"),
                       (lambda: rt.get([ref], timeout=timeout), "get"),
                       (lambda: rt.wait([ref], timeout=timeout), "wait")):
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert f"rt.{name}(timeout={timeout!r})" in message and "None" in message
    assert rt.get(ref, timeout=30) == 1


def test_get_and_wait_take_timeouts_of_any_real_number_type(runtime):
    import decimal
    import fractions

    import numpy

    ref = rt.put(1)
    for timeout in (numpy.float64(5), fractions.Fraction(5), decimal.Decimal(5), float("inf"), 0):
        assert rt.get(ref, timeout=timeout) == 1
        assert rt.wait([ref], timeout=timeout) == ([ref], [])
    with pytest.raises(ValueError, match=r"rt.get\(timeout=-1\).*>= 0"):
        rt.get(ref, timeout=-1)
