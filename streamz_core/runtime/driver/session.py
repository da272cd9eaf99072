"""Leaving nothing behind when the driver does not shut down normally.

Workers leave by themselves when the driver dies (pipe EOF, PR_SET_PDEATHSIG: see
``process``). The session's directories in /dev/shm cannot remove themselves: a janitor
does it if the driver dies without rt.shutdown() (kill -9, os._exit, a segfault), and a
SIGTERM handler turns `docker stop` / `systemctl stop` into a normal shutdown.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading

from .. import _context
from .._session_dirs import PREFIX

# /bin/sh waits on a pipe that only the driver holds open. A line means "shut down
# normally, the driver removes the directories"; EOF without one means the driver died.
# It ignores the signals that a terminal or a service manager sends to the whole group,
# so that it outlives the driver long enough to clean up.
_JANITOR_SCRIPT = "trap '' HUP INT TERM; read -r _ || exec rm -rf -- \"$@\""


class SessionJanitor:
    """A tiny ``/bin/sh`` process that removes the session's directories if the driver dies.

    Costs one idle shell per session (about 1 MB); :meth:`release` at a normal shutdown
    ends it. Without ``/bin/sh`` nothing is started and the next ``rt.init()`` removes
    directories left by dead drivers.
    """

    def __init__(self, dirs: tuple[str, ...]) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        # only directories this runtime created (mkdtemp with our prefix) are ever passed
        # to rm -rf
        dirs = tuple(d for d in dirs if d and os.path.basename(d).startswith(PREFIX))
        if not dirs or not os.path.exists("/bin/sh"):
            return
        try:
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", _JANITOR_SCRIPT, "streamz-rt-janitor", *dirs],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=True, start_new_session=True)
        except OSError:
            self._proc = None

    @property
    def pid(self) -> int | None:
        """The janitor's process id (None if it could not start)."""
        return None if self._proc is None else self._proc.pid

    def release(self) -> None:
        """Normal shutdown: tell the janitor the driver cleans up itself, and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"done\n")
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(1)
        except Exception:
            proc.kill()
            proc.wait()


def install_sigterm_shutdown() -> None:
    """Make SIGTERM shut the runtime down like a normal exit, then die of SIGTERM.

    Installed only from the main thread and only over the default disposition: a handler
    the program installed (or ``SIG_IGN``) is left alone, since it decides how the program
    ends, and any normal exit it takes runs ``rt.shutdown()`` through ``atexit``.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _shutdown_on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, or no SIGTERM here
        pass


def _shutdown_on_sigterm(signum: int, frame: object) -> None:
    try:
        # what rt.shutdown() does; the driver removes its session's directories itself
        with _context._lock:
            core = _context.current()
            driver = _context.as_driver(core) if core is not None else None
            if driver is not None:
                _context.set_core(None)
                driver.shutdown()
    finally:
        # exit as an unhandled SIGTERM would: same status for the parent (-15 / 143),
        # and, as then, no further atexit handler runs. Also when a handler installed
        # later chained to this one: it asked for the default behaviour.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
