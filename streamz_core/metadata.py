"""Metadata that travels with elements, and RefCounter: knowing when an element is done.

Metadata is a list of dicts. A dict may hold ``'ref': RefCounter``; every node that
holds an element (buffers, windows, joins) retains its refs while it holds it and
releases them when it emits or drops it, so the ref's callback fires once the element
is fully processed downstream (how a source commits offsets: at-least-once delivery).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["RefCounter", "retain_refs", "release_refs"]


class RefCounter:
    """Count the holders of one element; call ``cb`` when none is left.

    Parameters
    ----------
    initial
        Starting count.
    cb
        Called (on ``loop`` if given, else at once) when the count drops to zero or below.
    loop
        A Tornado ``IOLoop`` or an asyncio loop to schedule ``cb`` on.

    Examples
    --------
    >>> done = []
    >>> ref = RefCounter(cb=lambda: done.append(True))
    >>> ref.retain(); ref.retain(); ref.release()
    >>> done
    []
    >>> ref.release()
    >>> done
    [True]
    """

    def __init__(self, initial: int = 0, cb: Callable[[], Any] | None = None, loop: Any = None):
        self.count = initial
        self.cb = cb
        self.loop = loop

    def retain(self, n: int = 1) -> None:
        """Add ``n`` holders."""
        self.count += n

    def release(self, n: int = 1) -> None:
        """Drop ``n`` holders; fire the callback when none remain."""
        self.count -= n
        if self.count <= 0 and self.cb is not None:
            loop = self.loop
            if loop is None:
                self.cb()
            elif isinstance(loop, asyncio.AbstractEventLoop):
                loop.call_soon_threadsafe(self.cb)
            else:
                loop.add_callback(self.cb)

    def __repr__(self) -> str:
        return f"<RefCounter count={self.count}>"


def retain_refs(metadata: list[dict[str, Any]] | None, n: int = 1) -> None:
    """Retain every ``'ref'`` in ``metadata`` ``n`` times.

    Examples
    --------
    >>> ref = RefCounter()
    >>> retain_refs([{'ref': ref}, {'other': 1}], 2)
    >>> ref.count
    2
    """
    if metadata:
        for m in metadata:
            ref = m.get("ref")
            if ref is not None:
                ref.retain(n)


def release_refs(metadata: list[dict[str, Any]] | None, n: int = 1) -> None:
    """Release every ``'ref'`` in ``metadata`` ``n`` times.

    Examples
    --------
    >>> ref = RefCounter(initial=1)
    >>> release_refs([{'ref': ref}])
    >>> ref.count
    0
    """
    if metadata:
        for m in metadata:
            ref = m.get("ref")
            if ref is not None:
                ref.release(n)
