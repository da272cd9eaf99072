"""A real mosquitto broker for the tests: a free 127.0.0.1 port, a temporary directory.

``Mosquitto.start_or_skip()`` skips the test (naming the missing binary) when Debian's
``mosquitto`` is not installed; ``.ci/run`` installs it. ``stop()`` and ``start()``
again restart the broker on the same port (with its persistence file, so that durable
sessions and their unacknowledged messages survive, as with a real deployment).
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile

from streamz_core.testing import poll_for

__all__ = ["Mosquitto"]


def _binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)),
        None,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Mosquitto:
    """One mosquitto process listening on ``127.0.0.1:port``."""

    def __init__(self, binary: str, users: dict[str, str] | None = None):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="mosquitto-")
        self.port = _free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        auth = "allow_anonymous true\n"
        if users:  # only these users, with these passwords
            passwd = os.path.join(self.dir, "passwd")
            for i, (user, pw) in enumerate(users.items()):
                subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", passwd,
                                user, pw], check=True)
            auth = f"allow_anonymous false\npassword_file {passwd}\n"
        with open(self.conf, "w") as f:
            f.write(
                f"listener {self.port} 127.0.0.1\n"
                f"{auth}"
                "persistence true\n"
                f"persistence_location {self.dir}/\n"
                "log_dest none\n"
                # Started as root, mosquitto would switch to the user 'mosquitto', which
                # cannot write its persistence file into our directory: stay who we are.
                f"user {getpass.getuser()}\n"
            )
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start_or_skip(cls, users: dict[str, str] | None = None) -> Mosquitto:
        """Start a broker, or skip the calling test if mosquitto is not installed.

        ``users``: user names and passwords the broker accepts (default: anyone).
        """
        binary = _binary()
        if binary is None or (users and shutil.which("mosquitto_passwd") is None):
            import pytest

            pytest.skip("the mosquitto binary is not installed (apt-get install mosquitto)")
        broker = cls(binary, users)
        broker.start()
        return broker

    def start(self) -> None:
        """Start (or restart) the broker on this port; return once it accepts connections."""
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {proc.returncode}: {err}")
            return _accepts(self.port)

        poll_for(up, timeout=10, message=f"mosquitto listening on port {self.port}")

    def stop(self, cleanup: bool = True) -> None:
        """Stop the broker (it saves its persistence file); ``start()`` restarts it.

        ``cleanup=False`` keeps the directory for a restart; the default removes it.
        """
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
        if cleanup:
            shutil.rmtree(self.dir, ignore_errors=True)
