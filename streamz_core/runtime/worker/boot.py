"""Starting a worker process: die with the driver, authenticate, become a task worker or
an actor host.

The driver (``driver/process.py``) starts ``python -S -m streamz_core.runtime.worker``
with the inherited pipe ends ``FDS`` and its pid, and writes the session key on stdin
(never on the command line or in the environment). ``-S`` skips ``site``; what it would
add is on ``PYTHONPATH`` (the driver's ``sys.path``), and :class:`_SiteOnDemand` runs
``site`` on the first import nothing else can find (import hooks of editable installs).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from .. import _context
from .. import _protocol as P
from .. import _serialization as ser
from .._channel import Channel, authenticate
from .core import WorkerCore


def _die_with_driver(driver_pid: int) -> None:
    """Ask Linux for SIGKILL when the driver dies, even while a task holds the GIL."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != driver_pid:
        os._exit(0)  # the driver died before the line above


class _SiteOnDemand:
    """A last meta path finder: runs ``site`` once, then asks the finders it installed."""

    done = False

    @classmethod
    def find_spec(cls, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if cls.done:
            return None
        cls.done = True
        import site

        site.main()
        for f in list(sys.meta_path):
            if f is not cls and hasattr(f, "find_spec"):
                spec: ModuleSpec | None = f.find_spec(name, path, target)
                if spec is not None:
                    return spec
        return None


def _connect(fds: str) -> Channel:
    key = sys.stdin.buffer.read(32)
    if len(key) != 32:
        os._exit(0)  # the driver went away before it handed over the key
    r, w = (int(x) for x in fds.split(","))
    conn = Channel(r, w)
    authenticate(conn, key, initiator=False)
    return conn


def _settle(settings: dict[str, Any]) -> None:
    """Take the driver's import path and directory; give child processes its PYTHONPATH."""
    sys.path[:] = settings["sys_path"]
    pythonpath = settings.get("pythonpath")
    if pythonpath is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = pythonpath
    try:
        os.chdir(settings["cwd"])
    except OSError:
        pass


def main(fds: str, driver_pid: int) -> None:
    """The worker process: serve tasks, or host one actor, until the driver says LEAVE."""
    _die_with_driver(driver_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.meta_path.append(_SiteOnDemand)
    try:
        conn = _connect(fds)
        first = ser.loads_msgs(conn.recv_bytes())
    except (EOFError, BrokenPipeError):
        # the driver went away while this worker started (its script ended, it was
        # killed): nothing to report, nobody to report it to
        os._exit(0)
    if first[0][0] != P.INIT:
        os._exit(0)
    settings = first[0][1]
    _settle(settings)
    core = WorkerCore(conn, settings)
    _context.set_core(core)
    host = None
    if core.mode == "task":
        from .tasks import TaskHost

        host = core.tasks = TaskHost(core)
    for m in first[1:]:
        core.handlers[m[0]](m)
    threading.Thread(target=core.reader, name="rt-reader", daemon=True).start()
    try:
        if host is not None:
            host.serve()
        else:
            from .actor_host import ActorHost

            ActorHost(core, core.queue.get()).run()  # HOST_ACTOR comes first
    finally:
        core.flush()
        os._exit(0)
