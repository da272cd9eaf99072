"""Starting worker processes and authenticating their connection (driver side).

Each worker is a fresh interpreter (``subprocess.Popen``, no fork of the driver's
threads) running ``python -S -m streamz_core.runtime.worker``. ``-S`` skips ``site``
(about 20 ms); ``PYTHONPATH`` carries the directory of this ``streamz_core`` and the
driver's ``sys.path``, so the worker imports the same code as the driver (also from a
checkout that is not installed); the worker then puts the driver's own ``PYTHONPATH``
back for the processes its tasks start (``worker/boot.py``). Importing
``streamz_core.runtime`` runs no stream code. Driver and worker talk over two pipes (one
per direction) handed to the child through ``pass_fds``: nothing listens anywhere. Both sides then prove they know the
session's random authkey (HMAC-SHA256 challenges in both directions, ``_channel``);
the key reaches the child on its stdin, never on the command line or in the environment.

A worker must never outlive its driver. It leaves when its pipe from the driver reaches
EOF (``worker/core.py``); on Linux it also asks the kernel for SIGKILL when the driver dies
(``PR_SET_PDEATHSIG``), which works even while a task holds the GIL in C code. The kernel
ties that signal to the *thread* that started the child, so every worker is started by
one long-lived thread (:class:`_Spawner`), never by a short-lived helper thread.

A start can fail in two ways, told apart by :class:`StartFailed`: the interpreter cannot
start (bad executable, import error, an exit with a status before the handshake), which
retrying will not fix; or the process was killed by a signal while starting (OOM killer,
``kill -9``), which is an ordinary crash: the driver replaces it.
"""
from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._channel import Channel, authenticate

if TYPE_CHECKING:
    import subprocess

    from .._actors import ActorRec
    from .._protocol import Message
    from .._task import Task

# the directory holding the streamz_core package this driver runs
_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


class Proc:
    """The driver's view of one worker process (task worker or actor host)."""

    def __init__(self, index: int, mode: str) -> None:
        self.index = index
        self.mode = mode            # "task" or "actor"
        self.popen: subprocess.Popen[bytes] | None = None
        self.conn: Channel | None = None
        self.ready = False
        self.dead = False
        self.retiring = False
        self.extra = False
        self.out: list[Message] = []         # messages for it, sent once per IO pass
        self.inflight: dict[int, Task] = {}  # sent to it, not done: task id -> task
        self.fns: set[Any] = set()           # function keys whose pickle it has
        self.holds: Counter[int] = Counter()  # refs it holds: object id -> count
        self.blocked = 0
        self.writing = False
        self.ewma = 0.0
        self.actor: ActorRec | None = None  # the actor it hosts (mode "actor")
        self.stop_requested = False  # set at shutdown: do not start it any more
        self.cause: str | None = None  # why it died, when the driver knows better than
                                       # its exit code

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def cap(self) -> int:
        """How many tasks may be in flight on this worker (adapts to task length)."""
        if self.blocked or self.retiring or not self.ready or self.dead:
            return 0
        if self.ewma == 0.0:  # nothing known yet: do not hoard work a peer could start
            return 2
        if self.ewma > 0.005:
            return 1
        if self.ewma > 0.0005:
            return 4
        return 64

    def kill(self) -> None:
        """SIGKILL the process (its death is noticed through the connection)."""
        if self.popen is not None and self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGKILL)
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"<worker {self.index} {self.mode} pid={self.pid}>"


class StartFailed(Exception):
    """A worker process could not start: its interpreter failed, not a signal.

    The driver stops retrying after a few of these in a row; a worker killed by a signal
    while it starts raises something else (see :func:`spawn`) and is simply replaced.
    """


def spawn(proc: Proc, authkey: bytes, on_up: Callable[[Proc], None],
          on_down: Callable[[Proc, BaseException], None]) -> None:
    """Start ``proc``; later call ``on_up(proc)`` or ``on_down(proc, exc)`` (other thread).

    ``exc`` is a :class:`StartFailed` when the interpreter itself failed; any other
    exception means the process was killed by a signal while it started.
    """
    _SPAWNER.submit(lambda: _popen(proc, authkey, on_up, on_down))


def stop_starting(procs: list[Proc]) -> None:
    """Shutdown: start none of ``procs`` any more and kill those already started."""
    with _SPAWNER.lock:  # a Popen in progress finishes first, so its pid is known here
        for p in procs:
            p.stop_requested = True
    for p in procs:
        if not p.ready:
            p.kill()


class _Spawner:
    """The one long-lived thread that starts every worker process of this driver.

    PR_SET_PDEATHSIG fires when the thread that forked the child ends, so the thread
    that calls ``Popen`` must live as long as the process. The handshake, which waits
    for the child's interpreter to start, runs on a short-lived thread per worker so
    that workers start in parallel.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while a process is created
        self._start_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the spawner thread (started on first use, and again after a fork)."""
        with self._start_lock:
            if self._thread is None or self._pid != os.getpid():
                if self._pid != os.getpid():  # a forked child: the parent's lock may be
                    self.lock = threading.Lock()  # held by a thread that is not here
                self._jobs = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, args=(self._jobs,),
                                                name="rt-spawner", daemon=True)
                self._thread.start()
            self._jobs.put(job)

    @staticmethod
    def _run(jobs: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            jobs.get()()


_SPAWNER = _Spawner()


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ImportError):
        pass
    return r, w


def _close(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


_OnUp = Callable[[Proc], None]
_OnDown = Callable[[Proc, BaseException], None]


def _worker_env() -> dict[str, str]:
    """The worker's environment: ours, with the import path of this driver's code."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([_PKG_PARENT, *sys.path])
    return env


def _popen(proc: Proc, authkey: bytes, on_up: _OnUp, on_down: _OnDown) -> None:
    """On the spawner thread: create the process, then hand the handshake to a thread."""
    import subprocess

    with _SPAWNER.lock:
        if proc.stop_requested:  # the driver shuts down: start nothing more
            return
        p2c_r, p2c_w = _pipe()
        c2p_r, c2p_w = _pipe()
        try:
            proc.popen = subprocess.Popen(
                [sys.executable, "-u", "-S", "-m", "streamz_core.runtime.worker",
                 f"{p2c_r},{c2p_w}", str(os.getpid())],
                stdin=subprocess.PIPE, pass_fds=(p2c_r, c2p_w), close_fds=True,
                start_new_session=False, env=_worker_env())
        except BaseException as exc:  # no such executable, out of processes, ...
            _close(p2c_r, p2c_w, c2p_r, c2p_w)
            failed = StartFailed(f"{sys.executable!r} could not be run: "
                                 f"{type(exc).__name__}: {exc}")
            threading.Thread(target=on_down, args=(proc, failed), daemon=True).start()
            return
        _close(p2c_r, c2p_w)
    threading.Thread(target=_handshake, args=(proc, Channel(c2p_r, p2c_w), authkey,
                                              on_up, on_down),
                     name=f"rt-spawn-{proc.index}", daemon=True).start()


def _handshake(proc: Proc, conn: Channel, authkey: bytes, on_up: _OnUp,
               on_down: _OnDown) -> None:
    popen = proc.popen
    assert popen is not None and popen.stdin is not None
    try:
        popen.stdin.write(authkey)
        popen.stdin.close()
        authenticate(conn, authkey, initiator=True)
    except BaseException as exc:  # the child died, or failed to authenticate
        conn.close()
        on_down(proc, _why_not_started(proc, exc))
        return
    proc.conn = conn
    on_up(proc)


def _why_not_started(proc: Proc, exc: BaseException) -> BaseException:
    """Tell a killed child (an ordinary crash) from one that cannot start."""
    popen = proc.popen
    assert popen is not None
    try:
        code = popen.wait(2)  # its end of the pipes is closed: it has exited, or will
    except Exception:
        proc.kill()  # alive but not talking: it cannot start properly
        try:
            popen.wait(1)
        except Exception:
            pass
        return StartFailed(f"the worker process (pid {popen.pid}) did not complete the "
                           f"handshake: {type(exc).__name__}: {exc}")
    if code < 0:
        return exc  # killed by a signal (-code) while starting: replace it
    return StartFailed(f"the worker process (pid {popen.pid}) exited with status {code} "
                       f"before its handshake ({type(exc).__name__}: {exc}); its error, "
                       f"if any, is printed above")
