"""Polling sources: from_iterable, from_periodic, from_q, from_textfile, filenames.

Each runs one task on its graph's loop (see :mod:`streamz_core.sources.base` for the
lifecycle) and emits with the graph's backpressure: it waits for downstream before
producing the next element. The intervals are waited with ``asyncio.sleep``, so a
virtual-time loop drives them in tests.
"""
from __future__ import annotations

import asyncio
import glob
import inspect
import os
import queue as _queue
from collections.abc import Callable, Iterable
from typing import Any

from ..core import Stream
from ..loop import parse_interval
from .base import Source

__all__ = ["filenames", "from_iterable", "from_periodic", "from_q", "from_textfile"]


@Stream.register_api(staticmethod)
class from_iterable(Source):
    """Emit every item of an iterable, then stop.

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     source = Stream.from_iterable(range(3), asynchronous=True)
    ...     L = source.map(lambda x: x * 10).sink_to_list()
    ...     source.start()
    ...     await source.wait_stopped()     # after the last item
    ...     return L
    >>> asyncio.run(main())
    [0, 10, 20]
    """

    def __init__(self, iterable: Iterable[Any], **kwargs: Any):
        if not hasattr(iterable, "__iter__"):
            raise TypeError(f"from_iterable({iterable!r}): expected an iterable such as a list or generator")
        self._iterable = iterable
        super().__init__(**kwargs)

    async def run(self) -> None:
        for x in self._iterable:
            if self.stopped:
                break
            await self._emit_async(x)
        self.stopped = True


@Stream.register_api(staticmethod)
class from_periodic(Source):
    """Emit ``callback()`` every ``poll_interval`` (an ``async def`` callback is awaited).

    Examples
    --------
    >>> import asyncio, itertools
    >>> from streamz_core.testing import async_poll_for
    >>> async def main():
    ...     counter = itertools.count()
    ...     source = Stream.from_periodic(lambda: next(counter), 0.01, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()
    ...     await async_poll_for(lambda: len(L) >= 3)
    ...     source.stop()
    ...     return L[:3]
    >>> asyncio.run(main())
    [0, 1, 2]
    """

    def __init__(self, callback: Callable[[], Any], poll_interval: Any = 0.1, **kwargs: Any):
        if not callable(callback):
            raise TypeError(f"from_periodic(callback={callback!r}): expected a function to call")
        self._cb = callback
        self._poll = parse_interval(poll_interval, "from_periodic(poll_interval)", allow_zero=False)
        super().__init__(**kwargs)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self.stopped:
            value = self._cb()
            if inspect.isawaitable(value):
                value = await value
            await self._emit_async(value)
            due += self._poll
            await asyncio.sleep(max(0.0, due - loop.time()))


@Stream.register_api(staticmethod)
class from_q(Source):
    """Emit items put into a ``queue.Queue`` by any thread (polled every ``sleep_time``).

    Examples
    --------
    >>> import asyncio, queue
    >>> from streamz_core.testing import async_poll_for
    >>> async def main():
    ...     q = queue.Queue()
    ...     source = Stream.from_q(q, sleep_time=0.001, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()
    ...     q.put('a'); q.put('b')
    ...     await async_poll_for(lambda: len(L) == 2)
    ...     source.stop()
    ...     return L
    >>> asyncio.run(main())
    ['a', 'b']
    """

    def __init__(self, q: Any, sleep_time: Any = 0.01, **kwargs: Any):
        if not hasattr(q, "get_nowait"):
            raise TypeError(f"from_q(q={q!r}): expected a queue.Queue (something with get_nowait)")
        self.q = q
        self.sleep_time = parse_interval(sleep_time, "from_q(sleep_time)", allow_zero=False)
        super().__init__(**kwargs)

    # streamz's attribute for sleep_time, which subclasses of from_q read or set.
    @property
    def sleep(self) -> float:
        return self.sleep_time

    @sleep.setter
    def sleep(self, value: Any) -> None:
        self.sleep_time = parse_interval(value, "from_q.sleep", allow_zero=False)

    async def _run(self) -> None:
        try:
            x = self.q.get_nowait()
        except _queue.Empty:
            await asyncio.sleep(self.sleep_time)
            return
        await self._emit_async(x)


@Stream.register_api(staticmethod)
class from_textfile(Source):
    """Emit the lines of a text file as they are written, each with its delimiter.

    Given a path, it follows the file like ``tail -F`` across log rotation: when the
    path names a new file (rename and recreate) it finishes the old file and reads the
    new one from the start; when the file shrinks below what was read (copytruncate)
    it reads it again from the start. Rotation is noticed at the next poll after the
    data runs out; the new file is looked for every ``poll_interval`` until it exists.
    A last piece with no delimiter left in a rotated or truncated file is emitted as
    it is, without a delimiter. Given an open file, it follows truncation only (it
    cannot know which path to reopen). ``from_end=True`` skips what the file already
    holds at start.

    Examples
    --------
    >>> import asyncio, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'log.txt')
    >>> _ = open(path, 'w').write('one\\ntwo\\n')
    >>> from streamz_core.testing import async_poll_for
    >>> async def main():
    ...     source = Stream.from_textfile(path, poll_interval=0.005, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()
    ...     await async_poll_for(lambda: len(L) == 2)
    ...     source.stop()
    ...     return L
    >>> asyncio.run(main())
    ['one\\n', 'two\\n']
    """

    def __init__(self, f: Any, poll_interval: Any = 0.100, delimiter: str = "\n",
                 from_end: bool = False, **kwargs: Any):
        if not isinstance(delimiter, str) or not delimiter:
            raise ValueError(
                f"from_textfile(delimiter={delimiter!r}): expected a non-empty string "
                "that ends each record, such as '\\n' or ';'"
            )
        self.poll_interval = parse_interval(poll_interval, "from_textfile(poll_interval)", allow_zero=False)
        self._path: str | None = None  # followed across rotation when the source opened it
        if isinstance(f, (str, os.PathLike)):
            self._path = os.fspath(f)
            f = open(f)  # noqa: SIM115 - the source owns the file
        if not hasattr(f, "read"):
            raise TypeError(f"from_textfile(f={f!r}): expected a path or an open text file")
        self.file = f
        self.from_end = from_end
        self.delimiter = delimiter
        super().__init__(**kwargs)

    async def run(self) -> None:
        if self.from_end:
            self.file.seek(0, 2)
        partial = ""
        while not self.stopped:
            chunk = self.file.read()
            if not chunk:
                rest = self._follow_rotation()
                if rest is None:
                    await asyncio.sleep(self.poll_interval)
                    continue
                # The old content is finished: its lines, then its unterminated end.
                for line in self._split(partial + rest):
                    await self._emit_async(line)
                if self._partial:
                    await self._emit_async(self._partial)
                partial = ""
                continue
            lines = self._split(partial + chunk)
            partial = self._partial
            for line in lines:
                await self._emit_async(line)

    _partial = ""

    def _split(self, text: str) -> list[str]:
        """The complete records of ``text``; the unterminated rest goes to ``_partial``."""
        parts = text.split(self.delimiter)
        self._partial = parts.pop()
        return [p + self.delimiter for p in parts]

    def _follow_rotation(self) -> str | None:
        """At end of file: None if the file is still the one to read; else the text left
        in the old file, with ``self.file`` now at the start of the current content."""
        try:
            fd = self.file.fileno()
            opened = os.fstat(fd)
        except (AttributeError, OSError, ValueError):  # io.StringIO, closed: nothing to follow
            return None
        if self._path is not None:
            try:
                current = os.stat(self._path)
            except OSError:
                return None  # renamed away and not yet recreated: look again at the next poll
            if (current.st_ino, current.st_dev) != (opened.st_ino, opened.st_dev):
                rest: str = self.file.read()  # written to the old file before it was rotated
                old, self.file = self.file, open(self._path, encoding=self.file.encoding)  # noqa: SIM115
                old.close()
                return rest
        # Same file: shorter than what was read means it was truncated (copytruncate).
        if opened.st_size < os.lseek(fd, 0, os.SEEK_CUR):
            self.file.seek(0)
            return ""
        return None


@Stream.register_api(staticmethod)
class filenames(Source):
    """Emit the names of files appearing in a directory or matching a glob, sorted.

    Examples
    --------
    >>> import asyncio, os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> open(os.path.join(d, 'a.csv'), 'w').close()
    >>> from streamz_core.testing import async_poll_for
    >>> async def main():
    ...     source = Stream.filenames(os.path.join(d, '*.csv'), poll_interval=0.005, asynchronous=True)
    ...     L = source.map(os.path.basename).sink_to_list()
    ...     source.start()
    ...     await async_poll_for(lambda: L)
    ...     source.stop()
    ...     return L
    >>> asyncio.run(main())
    ['a.csv']
    """

    def __init__(self, path: str, poll_interval: Any = 0.100, **kwargs: Any):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"filenames(path={path!r}): expected a directory or a glob pattern as a "
                "string, such as 'data/' or 'data/*.csv'"
            )
        path = os.fspath(path)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if "*" not in path and os.path.isdir(path):
            path = os.path.join(path, "*")
        self.path = path
        self.seen: set[str] = set()
        self.poll_interval = parse_interval(poll_interval, "filenames(poll_interval)", allow_zero=False)
        super().__init__(**kwargs)

    async def run(self) -> None:
        while not self.stopped:
            for name in sorted(set(glob.glob(self.path)) - self.seen):
                self.seen.add(name)
                await self._emit_async(name)
            await asyncio.sleep(self.poll_interval)
