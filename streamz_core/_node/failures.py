"""What happens when a node fails: DeadLetter records, notes on the exception, reports.

A failure with a caller (``emit``) reaches it, noted with the node and element; one with
an error route (``on_exception``) is emitted there as a :class:`DeadLetter`; one with
neither (a timer or a task on the loop) goes to the ``scatter`` upstream, to the loop's
exception handler if it has one set, else to the ``streamz.core`` logger.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .._internals import running_loop
from .defaults import no_default
from .remote import _hand_to_scatter

if TYPE_CHECKING:
    from ..core import Stream

__all__ = ["DeadLetter", "logger"]

#: Where errors that no caller can receive are logged when the loop has no exception
#: handler of its own: streamz 0.6.4's logger, so that handlers set up for streamz
#: (on "streamz" or "streamz.core") see them.
logger = logging.getLogger("streamz.core")


class DeadLetter:
    """An element a node failed on, with the exception; emitted on its error route.

    See :meth:`Stream.on_exception`.

    Examples
    --------
    >>> from streamz_core import Stream
    >>> source = Stream()
    >>> parsed = source.map(int)
    >>> bad = parsed.on_exception(ValueError).sink_to_list()
    >>> good = parsed.sink_to_list()
    >>> for x in ["1", "x", "3"]: source.emit(x)
    >>> good, [d.value for d in bad]
    ([1, 3], ['x'])
    """

    __slots__ = ("value", "exception", "node")

    def __init__(self, value: Any, exception: BaseException, node: Stream):
        self.value = value
        self.exception = exception
        self.node = node

    def __repr__(self) -> str:
        return f"DeadLetter(value={self.value!r}, exception={self.exception!r}, node={self.node!r})"


def error_route(node: Stream, exceptions: tuple[type[BaseException], ...], stream_type: type[Stream]) -> Stream:
    """``node.on_exception(*exceptions)``: make (once) and return ``node``'s error route.

    ``stream_type`` is ``Stream``, the class of the route.
    """
    for exc in exceptions:
        if not (isinstance(exc, type) and issubclass(exc, BaseException)):
            raise TypeError(
                f"on_exception({exc!r}): expected exception classes such as ValueError"
            )
    if node._dead_letters is None:
        node._dead_letters = stream_type(stream_name=f"{node.name or type(node).__name__}.errors")
        node._dead_letters.upstreams = [node]  # keep this node alive with its route
    node._catch = exceptions or (Exception,)
    return node._dead_letters


def note_failure(node: Stream, exc: BaseException, x: Any) -> None:
    """Add a note naming ``node`` (and the element ``x``, unless it is ``no_default``)
    to ``exc``, once: the innermost node that raised it is the one worth naming."""
    if getattr(exc, "_streamz_core_noted", False):
        return
    where = f"raised in {node!r}"
    if x is not no_default:
        where += f" while processing {_short(x)}"
    try:
        exc.add_note(where)
        exc._streamz_core_noted = True  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # exceptions with __slots__
        pass


def report(node: Stream, exc: BaseException, x: Any) -> None:
    """Route ``exc`` through ``node._fail``; if it is raised, there is no caller to reach:
    hand it to the ``scatter`` upstream, or to the loop's exception handler."""
    try:
        node._fail(exc, x)
    except BaseException as e:
        if node.executor is not None and _hand_to_scatter(node, e):
            return  # between scatter() and gather(): the next emit raises it
        loop = node._aloop or running_loop()
        if loop is not None and loop.get_exception_handler() is not None:
            loop.call_exception_handler({"message": f"unhandled error in {node!r}", "exception": e})
        else:  # asyncio's default handler would log it on "asyncio"; streamz users look here
            logger.error("unhandled error in %r", node, exc_info=e)


def _short(x: Any, limit: int = 200) -> str:
    """``repr(x)``, cut to ``limit`` characters.

    Examples
    --------
    >>> _short('x' * 300, limit=10)
    "'xxxxxx..."
    """
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."
