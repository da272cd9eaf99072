"""streamz's two pre-``Source`` helpers, kept so that code written for streamz imports them.

``sink_to_file`` writes a stream to a file it opens; ``PeriodicCallback`` is the old
name of :class:`~streamz_core.sources.polling.from_periodic`. New code uses
``sink_to_textfile`` and ``Stream.from_periodic``.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, Any

from ..core import Stream

__all__ = ["PeriodicCallback", "sink_to_file"]


def sink_to_file(filename: str, upstream: Stream, mode: str = "w", prefix: str = "",
                 suffix: str = "\n", flush: bool = False) -> IO[str]:
    """Write ``prefix + x + suffix`` for every element of ``upstream`` to ``filename``.

    Returns the open file (use it as a context manager to close it). ``flush=True``
    flushes after each element.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'out.txt')
    >>> source = Stream()
    >>> with sink_to_file(path, source) as f:
    ...     source.emit('a'); source.emit('b')
    >>> open(path).read()
    'a\\nb\\n'

    See Also
    --------
    sink_to_textfile
    """
    file = open(filename, mode=mode)  # noqa: SIM115 - returned to the caller, who closes it

    def write(text: str) -> None:
        file.write(prefix + text + suffix)
        if flush:
            file.flush()

    upstream.sink(write)
    return file


# CapWords: streamz's name for what was a class.
def PeriodicCallback(callback: Callable[..., Any], callback_time: Any,
                     asynchronous: bool = False, **kwargs: Any) -> Stream:
    """``Stream.from_periodic(callback, callback_time)``; ``kwargs`` go to ``callback``.

    Kept for code written for old streamz versions.

    Examples
    --------
    >>> import asyncio
    >>> from streamz_core.testing import async_poll_for
    >>> async def main():
    ...     source = PeriodicCallback(lambda: 'tick', 0.01, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()
    ...     await async_poll_for(lambda: len(L) >= 2)
    ...     source.stop()
    ...     return L[:2]
    >>> asyncio.run(main())
    ['tick', 'tick']
    """
    if kwargs:
        callback = functools.partial(callback, **kwargs)
    return Stream.from_periodic(callback, callback_time, asynchronous=asynchronous)
