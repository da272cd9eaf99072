"""from_process: run a command and emit the lines of its standard output.

The process itself (spawn, lines, terminate -> grace -> kill -> reap) is
:class:`~streamz_core.sources._subprocess.Subprocess`; this module maps it onto the
source lifecycle of :mod:`streamz_core.sources.base`.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from typing import Any, ClassVar

from ..core import Stream
from ._subprocess import Subprocess
from .base import Source, _check_kwargs

__all__ = ["from_process"]

_NO_TEXT = ("text", "universal_newlines", "encoding", "errors")


@Stream.register_api(staticmethod)
class from_process(Source):
    """Run a command; emit each line of its standard output, as bytes.

    The process runs under the graph's loop (asyncio subprocess). Each line is
    emitted with its line ending (``with_end=True``) or without it (``b'\\n'`` or
    ``b'\\r\\n'`` removed); a last line with no line ending is emitted too (streamz
    drops it). The next line is read only once the pipeline has taken the previous
    one, so a slow pipeline slows the process down through its pipe. When the
    process closes its output and exits the source stops by itself.

    ``stop()`` sends SIGTERM, then SIGKILL after 2 seconds; in the background-thread
    mode it returns once the process has exited. In the in-loop mode, ``await
    source.wait_stopped()`` waits for that, or for the command to finish.

    Parameters
    ----------
    cmd : list of str, or str
        The program and its arguments. A string is split like a shell would
        (``shlex.split``), unless ``open_kwargs={'shell': True}`` runs it in a shell.
    open_kwargs : dict, optional
        Passed to ``subprocess.Popen`` (``cwd``, ``env``, ``shell``, ``stdin``,
        ``stderr`` ...); ``stdout`` belongs to the source.
    with_stderr : bool
        Merge standard error into the emitted lines (by default it goes where the
        parent's standard error goes).
    with_end : bool
        Keep the line ending on each emitted line.
    **kwargs
        Passed to :class:`Source`: ``start``, ``asynchronous``, ``loop``,
        ``stream_name``.

    Examples
    --------
    >>> import asyncio, sys
    >>> async def main():
    ...     cmd = [sys.executable, '-c', 'print("one"); print("two")']
    ...     source = Stream.from_process(cmd, with_end=False, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()
    ...     await source.wait_stopped()     # the command has finished
    ...     return L
    >>> asyncio.run(main())
    [b'one', b'two']

    In the background-thread mode ``start()`` returns once the process runs and
    ``stop()`` once it is gone:

    >>> from streamz_core.testing import poll_for
    >>> cmd = [sys.executable, '-u', '-c', 'import time\\nwhile True: print("tick"); time.sleep(0.01)']
    >>> source = Stream.from_process(cmd)
    >>> L = source.sink_to_list()
    >>> source.start()
    >>> _ = poll_for(lambda: L)
    >>> source.stop()
    >>> source.returncode is not None, L[0]
    (True, b'tick\\n')

    See Also
    --------
    from_tcp, from_textfile
    """

    str_list: ClassVar[list[str]] = ["cmd"]

    def __init__(self, cmd: Any, open_kwargs: dict[str, Any] | None = None, with_stderr: bool = False,
                 with_end: bool = True, **kwargs: Any):
        okw = _check_kwargs(open_kwargs, subprocess.Popen.__init__, "from_process(open_kwargs)", skip=2)
        if "stdout" in okw:
            raise ValueError(
                f"from_process(open_kwargs={okw!r}): stdout is read by the source; "
                "remove it (to also read stderr, pass with_stderr=True)"
            )
        if with_stderr and "stderr" in okw:
            raise ValueError(
                f"from_process(open_kwargs={okw!r}, with_stderr=True): with_stderr merges "
                "stderr into the emitted lines; remove stderr from open_kwargs or pass "
                "with_stderr=False"
            )
        text = [k for k in _NO_TEXT if okw.get(k)]
        if text:
            raise ValueError(
                f"from_process(open_kwargs={okw!r}): {text[0]} is not supported, the "
                "source emits bytes; decode downstream, e.g. .map(bytes.decode)"
            )
        okw.pop("bufsize", None)
        self.shell = bool(okw.pop("shell", False))
        if self.shell:
            if not isinstance(cmd, str) or not cmd.strip():
                raise TypeError(
                    f"from_process(cmd={cmd!r}, open_kwargs={{'shell': True}}): a shell "
                    "runs a command string such as 'ls -l | wc -l'"
                )
            self._argv: list[Any] = [cmd]
        elif isinstance(cmd, str):
            try:
                self._argv = shlex.split(cmd)
            except ValueError as exc:
                raise ValueError(
                    f"from_process(cmd={cmd!r}): cannot split the command ({exc}); "
                    "pass a list such as ['grep', '-n', 'a b']"
                ) from None
        elif isinstance(cmd, (list, tuple)) and all(
            isinstance(a, (str, bytes, os.PathLike)) for a in cmd
        ):
            self._argv = list(cmd)
        else:
            raise TypeError(
                f"from_process(cmd={cmd!r}): expected a list of strings such as "
                "['ping', '-c', '3', 'localhost'], or a command string"
            )
        if not self._argv:
            raise ValueError(
                f"from_process(cmd={cmd!r}): the command is empty; name a program to run"
            )
        self.cmd = cmd
        self.open_kwargs = okw
        self.with_stderr = with_stderr
        self.with_end = with_end
        self.process: Any = None  # the asyncio subprocess transport, once started
        self._proc: Subprocess | None = None
        super().__init__(**kwargs)

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return None if self.process is None else int(self.process.get_pid())

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited (negative: killed by that signal)."""
        return None if self.process is None else self.process.get_returncode()

    def _open(self) -> Any:
        return self._spawn()  # started once spawned

    async def _spawn(self) -> None:
        self.process = self._proc = None
        try:
            proc = await Subprocess.spawn(self._argv, shell=self.shell, merge_stderr=self.with_stderr,
                                          **self.open_kwargs)
        except Exception as exc:
            exc.add_note(f"raised by {self!r} starting {self._argv!r}")
            raise
        self._proc, self.process = proc, proc.transport

    async def run(self) -> None:
        proc = self._proc
        assert proc is not None
        with_end = self.with_end
        async with proc:  # leaving it: wait for the exit (terminate first after an error)
            while not self.stopped:
                try:
                    line = await proc.readline()
                except ValueError as exc:  # a line too long
                    raise ValueError(f"{self!r}: {exc}") from None
                if not line or self.stopped:  # the end of the output, or stop()
                    break
                if not with_end and line.endswith(b"\n"):
                    line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
                await self._emit_async(line)

    def _close(self) -> Any:
        proc = self._proc
        if proc is None:
            return None  # not spawned yet: closed once it is (see Source._main)
        proc.terminate()
        proc.close_output()  # what is not read yet will not be emitted
        return proc.exited
