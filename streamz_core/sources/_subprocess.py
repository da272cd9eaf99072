"""A child process on the running loop: spawn, read lines, terminate -> grace -> kill -> reap.

:class:`Subprocess` is what :func:`~streamz_core.sources.from_process` runs. It owns
the process from spawn to reap:

- the output is read in pieces of at most ``_PIPE_LIMIT`` bytes, so the pipe pauses
  (and the process waits) while the reader is not reading;
- ``terminate()`` sends SIGTERM and SIGKILL ``_KILL_AFTER`` seconds later;
- leaving ``async with proc:`` waits for the process to exit and reaps it. After an
  error it terminates it first. When the loop is going away (cancelled) it kills it
  at once;
- a child gets SIGTERM when this process dies (Linux), and the processes still alive at
  interpreter exit are terminated (the background loop thread is a daemon and dies
  without stopping its sources).

Not thread-safe: use it on the loop thread that spawned it.
"""
from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import sys
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

__all__ = ["Subprocess"]

# Seconds a process gets between SIGTERM and SIGKILL.
_KILL_AFTER = 2.0
# Output is read in pieces of at most this size, so the pipe is paused once about
# twice this much is buffered (backpressure) ...
_PIPE_LIMIT = 2**16
# ... and a single line may grow to this size (tornado's default max_buffer_size).
_MAX_LINE = 100 * 2**20

# Processes still running, terminated at interpreter exit.
_live: weakref.WeakSet[Subprocess] = weakref.WeakSet()


class _Protocol(asyncio.SubprocessProtocol):
    """Feeds stdout into a StreamReader (which pauses the pipe when full) and resolves
    ``exited`` when the process exits, even if a child of it still holds the pipe."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.stdout = asyncio.StreamReader(limit=_PIPE_LIMIT, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.pipe: asyncio.ReadTransport | None = None
        self.output_closed = False

    def connection_made(self, transport: Any) -> None:
        self.pipe = transport.get_pipe_transport(1)
        if self.pipe is not None:
            self.stdout.set_transport(self.pipe)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if fd == 1 and not self.output_closed:
            self.stdout.feed_data(data)  # type: ignore[arg-type]  # bytes: no text mode

    def pipe_connection_lost(self, fd: int, exc: BaseException | None) -> None:
        if fd == 1 and not self.output_closed:
            if exc is None:
                self.stdout.feed_eof()
            else:
                self.stdout.set_exception(exc)  # type: ignore[arg-type]  # an OSError here

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class Subprocess:
    """A running child process whose standard output is read as lines."""

    def __init__(self, transport: asyncio.SubprocessTransport, protocol: _Protocol):
        self.transport = transport
        self._protocol = protocol
        self._kill_timer: asyncio.TimerHandle | None = None
        protocol.exited.add_done_callback(lambda _: self._cancel_kill())
        _live.add(self)

    @classmethod
    async def spawn(cls, argv: Sequence[Any], *, shell: bool = False, merge_stderr: bool = False,
                    **popen_kwargs: Any) -> Subprocess:
        """Start ``argv`` (one command string if ``shell``) with its stdout piped to us."""
        loop = asyncio.get_running_loop()
        okw = dict(popen_kwargs)
        okw["stderr"] = subprocess.STDOUT if merge_stderr else okw.get("stderr")
        okw.setdefault("stdin", None)  # inherited, as with Popen (asyncio would make a pipe)
        okw["preexec_fn"] = _die_with_parent(okw.get("preexec_fn"))
        protocol = _Protocol(loop)
        if shell:
            transport, _ = await loop.subprocess_shell(
                lambda: protocol, argv[0], stdout=subprocess.PIPE, **okw)
        else:
            transport, _ = await loop.subprocess_exec(
                lambda: protocol, *argv, stdout=subprocess.PIPE, **okw)
        return cls(transport, protocol)

    @property
    def pid(self) -> int:
        return self.transport.get_pid()

    @property
    def returncode(self) -> int | None:
        """The exit status once exited (negative: killed by that signal)."""
        return self.transport.get_returncode()

    @property
    def exited(self) -> asyncio.Future[None]:
        """Done once the process has exited (its output may still be unread)."""
        return self._protocol.exited

    async def readline(self) -> bytes:
        """The next line with its ``b'\\n'``; a last one without; ``b''`` at the end.

        A line longer than the reader's limit arrives in pieces, joined once at the end
        (adding each piece to a bytes object would copy the line so far every time).
        """
        stdout = self._protocol.stdout
        pieces: list[bytes] = []
        size = 0
        while True:
            try:
                line = await stdout.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                return b"".join(pieces) + exc.partial if pieces else exc.partial
            except asyncio.LimitOverrunError as exc:
                piece = await stdout.readexactly(exc.consumed)
                pieces.append(piece)
                size += len(piece)
                if size > _MAX_LINE:
                    raise ValueError(
                        f"a line of output is longer than {_MAX_LINE} bytes; "
                        "make the command print shorter lines"
                    ) from None
                continue
            if pieces:
                pieces.append(line)
                return b"".join(pieces)
            return line

    def close_output(self) -> None:
        """End the output now: ``readline`` returns what it has, then ``b''``.

        What the process writes afterwards is read and dropped, so that it does not
        block on a full pipe while it exits.
        """
        protocol = self._protocol
        if protocol.output_closed:
            return
        protocol.output_closed = True
        protocol.stdout.feed_eof()
        if protocol.pipe is not None and not protocol.pipe.is_closing():
            protocol.pipe.resume_reading()

    def terminate(self) -> None:
        """Send SIGTERM now, and SIGKILL ``_KILL_AFTER`` seconds later if still running."""
        if self.returncode is not None or self._kill_timer is not None:
            return
        try:
            self.transport.terminate()
        except ProcessLookupError:
            return
        loop = asyncio.get_running_loop()
        self._kill_timer = loop.call_at(loop.time() + _KILL_AFTER, self.kill)

    def kill(self) -> None:
        """Send SIGKILL if the process is still running."""
        if self.returncode is None:
            try:
                self.transport.kill()
            except ProcessLookupError:
                pass

    def _cancel_kill(self) -> None:
        if self._kill_timer is not None:
            self._kill_timer.cancel()
            self._kill_timer = None

    def close(self) -> None:
        """Reap: close the pipes (SIGKILL if still running) and forget the process."""
        self._cancel_kill()
        self.transport.close()
        _live.discard(self)

    async def wait(self) -> None:
        """Wait until the process exits; if cancelled (the loop going away), kill it first."""
        try:
            await asyncio.shield(self.exited)
        except asyncio.CancelledError:
            await self._kill_and_wait()
            raise

    async def _kill_and_wait(self) -> None:
        """SIGKILL the process and give the loop a moment to see it exit."""
        self.kill()
        try:
            await asyncio.wait_for(asyncio.shield(self.exited), 1.0)
        except (TimeoutError, asyncio.CancelledError):
            pass

    async def __aenter__(self) -> Subprocess:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                await self._kill_and_wait()  # the loop is going away: no time for a grace
            else:
                if exc_type is not None:
                    self.terminate()  # nobody reads on: do not leave it blocked on its pipe
                await self.wait()  # a process may run on after closing its output
        finally:
            self.close()


def _die_with_parent(user_preexec: Callable[[], Any] | None) -> Callable[[], Any] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux).

    Covers what atexit cannot: this process killed by SIGTERM or ``kill -9``. The kernel
    sends it when the thread that started the child ends; that is the loop's thread,
    and a loop that goes away ends the process anyway. ``user_preexec`` runs after it.
    """
    if not sys.platform.startswith("linux"):
        return user_preexec
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return user_preexec
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # this process died before the line above
            os._exit(0)
        if user_preexec is not None:
            user_preexec()

    return preexec


@atexit.register
def _terminate_live_processes() -> None:
    for proc in list(_live):
        if proc.returncode is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
