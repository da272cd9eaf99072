"""Starting worker processes and authenticating their connection.

Each worker is a fresh interpreter (``subprocess.Popen``, no fork of the driver's
threads) started with a small bootstrap that imports ``streamz_core.runtime`` without
executing ``streamz_core/__init__.py`` (which pulls in the stream core): the parent
package is a placeholder module that loads the real ``__init__`` on first attribute
access. Driver and worker talk over two pipes (one per direction) handed to the child
through ``pass_fds``: nothing listens anywhere. Both sides then prove they know the
session's random authkey (HMAC-SHA256 challenges in both directions, ``_channel``);
the key reaches the child on its stdin, never on the command line or in the environment.
"""
from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from collections import Counter
from ._channel import Channel, authenticate
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import subprocess

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_BOOT = """\
import sys, types, pickle
data = sys.stdin.buffer.read()
sys.path[:] = pickle.loads(data[32:])
class _SiteOnDemand:
    # started with -S (no site: saves ~20 ms); the driver's sys.path is set above.
    # .pth import hooks (editable installs) are installed on the first failed import.
    done = False
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if cls.done:
            return None
        cls.done = True
        import site
        site.main()
        for f in list(sys.meta_path):
            if f is not cls and hasattr(f, 'find_spec'):
                spec = f.find_spec(name, path, target)
                if spec is not None:
                    return spec
        return None
sys.meta_path.append(_SiteOnDemand)
d = sys.argv[1]
class _LazyPackage(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        self.__class__ = types.ModuleType
        with open(self.__file__) as f:
            exec(compile(f.read(), self.__file__, 'exec'), self.__dict__)
        return getattr(self, name)
for name, path in (('streamz_core', d), ('streamz_core.runtime', d + '/runtime')):
    m = _LazyPackage(name)
    m.__path__ = [path]
    m.__file__ = path + '/__init__.py'
    m.__package__ = name
    sys.modules[name] = m
sys.modules['streamz_core'].runtime = sys.modules['streamz_core.runtime']
from streamz_core.runtime._worker import main
main(sys.argv[2], data[:32])
"""


class Proc:
    """The driver's view of one worker process (task worker or actor host)."""

    def __init__(self, index: int, mode: str) -> None:
        self.index = index
        self.mode = mode            # "task" or "actor"
        self.popen: subprocess.Popen | None = None
        self.conn: Channel | None = None
        self.ready = False
        self.dead = False
        self.retiring = False
        self.extra = False
        self.out: list = []
        self.inflight: dict[int, Any] = {}
        self.fns: set = set()
        self.holds: Counter = Counter()
        self.blocked = 0
        self.writing = False
        self.ewma = 0.0
        self.actor: Any = None

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


def spawn(proc: Proc, authkey: bytes, on_up: Callable[[Proc], None],
          on_down: Callable[[Proc, BaseException], None]) -> None:
    """Start ``proc`` on a helper thread; call ``on_up`` or ``on_down`` when known."""
    threading.Thread(target=_start, args=(proc, authkey, on_up, on_down),
                     name=f"rt-spawn-{proc.index}", daemon=True).start()


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ImportError):
        pass
    return r, w


def _start(proc: Proc, authkey: bytes, on_up: Callable, on_down: Callable) -> None:
    import subprocess

    p2c_r, p2c_w = _pipe()
    c2p_r, c2p_w = _pipe()
    conn = Channel(c2p_r, p2c_w)
    try:
        proc.popen = subprocess.Popen(
            [sys.executable, "-u", "-S", "-c", _BOOT, _PKG_DIR, f"{p2c_r},{c2p_w}"],
            stdin=subprocess.PIPE, pass_fds=(p2c_r, c2p_w), close_fds=True,
            start_new_session=False)
        os.close(p2c_r)
        os.close(c2p_w)
        p2c_r = c2p_w = -1
        assert proc.popen.stdin is not None
        proc.popen.stdin.write(authkey + pickle.dumps(list(sys.path)))
        proc.popen.stdin.close()
        authenticate(conn, authkey, initiator=True)
        proc.conn = conn
    except BaseException as exc:  # the child died or failed to authenticate
        conn.close()
        for fd in (p2c_r, c2p_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        proc.kill()
        on_down(proc, exc)
        return
    on_up(proc)


def child_connect(fds: str, authkey: bytes) -> Channel:
    """Worker side of :func:`spawn`: wrap the inherited pipes and authenticate."""
    r, w = (int(x) for x in fds.split(","))
    conn = Channel(r, w)
    authenticate(conn, authkey, initiator=False)
    return conn
