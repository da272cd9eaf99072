"""What ``Stream._emit`` and ``emit`` hand back: backpressure awaitables and loop turns.

``_emit`` returns ``_NOTHING`` (a shared empty list) when no downstream asked for
backpressure, else a list of the awaitables the downstreams returned (gathered here);
``emit`` on the loop turns that
into one awaitable, and now and then into a future done on the loop's next turn. An
element with metadata goes out through :func:`emit_with_metadata`, which also holds its
refs across the branches.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..metadata import release_refs, retain_refs

if TYPE_CHECKING:
    from ..core import Stream

__all__ = [
    "_CLOCK_EVERY",
    "_NOTHING",
    "_YIELD_AFTER",
    "_collect",
    "_gather",
    "_set_none",
    "emit_with_metadata",
]

class _NoBackpressure(list):  # type: ignore[type-arg]  # always empty: no element type
    """The empty list ``_emit`` returns when no downstream asked for backpressure.

    One shared instance: returning it costs nothing on the hot path, where a new ``[]``
    per node and element would cost about a tenth of a map node. It is a list, as in
    streamz, so plugins may ``yield self._emit(x)`` in a Tornado coroutine (Tornado
    rejects a tuple), splat it into ``asyncio.gather`` or ``extend`` a list with it;
    ``+=`` gives a new list. Changing it in place would change every later result, so
    that raises, saying to copy it first.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "this empty list is what _emit returns when no downstream asked for "
            "backpressure, shared by every node; copy it before changing it: "
            "result = list(self._emit(x))"
        )

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __imul__ = _refuse

    # A new list, not self (so not list[Any] as list.__iadd__ promises, hence the ignore).
    def __iadd__(self, other: Any) -> Any:  # type: ignore[misc]
        return [*other]

    def __repr__(self) -> str:
        return "[]"

    def __reduce__(self) -> Any:
        return (list, ())


# Returned by _emit when no downstream asked for backpressure.
_NOTHING: list[Any] = _NoBackpressure()

# A coroutine that awaits an emit with no backpressure gets a future that is already
# done, and awaiting that does not give the loop a turn: a producer doing nothing but
# `await source.emit(x)` would starve timers (timed_window, rate_limit slots), IO and
# other tasks forever. So a node that has run for _YIELD_AFTER seconds of loop time
# without yielding hands back a future that completes on the loop's next turn instead.
# Reading the clock costs ~0.1 us, so it is read only every _CLOCK_EVERY such emits;
# the forced yield (a few us) then happens about once per millisecond: well under 1 %
# of the emit cost, and timers fire at most about a millisecond late.
_CLOCK_EVERY = 16
_YIELD_AFTER = 0.001


def _collect(result: Any, r: Any) -> Any:
    """Add one downstream's backpressure (an awaitable or a list of them) to ``result``.

    ``result`` is ``_NOTHING`` or the list this returned before; returns that list.

    Examples
    --------
    >>> first = _collect(_NOTHING, 'a')
    >>> _collect(first, ['b', 'c'])
    ['a', 'b', 'c']
    """
    if result is _NOTHING:
        result = []
    if type(r) is list or type(r) is tuple:
        result.extend(r)
    else:
        result.append(r)
    return result


def emit_with_metadata(node: Stream, x: Any, metadata: list[dict[str, Any]]) -> Any:
    """``node._emit(x, metadata)`` for non-empty ``metadata``: send ``x`` to every
    downstream, holding its refs until each branch has handled it."""
    result: Any = _NOTHING
    nodes = [n for n in (ref() for ref in node._down) if n is not None]
    # Hold the element once per branch before any branch runs, so a ref cannot
    # reach zero (and report "done") while later branches have not seen it yet.
    retain_refs(metadata, len(nodes))
    for i, down in enumerate(nodes):
        try:
            r = down.update(x, node, metadata=metadata)
        except BaseException:
            release_refs(metadata, len(nodes) - i)
            raise
        release_refs(metadata)
        if r:
            result = _collect(result, r)
    return result


def _gather(results: list[Any]) -> Any:
    """One awaitable for the backpressure awaitables that ``_emit`` collected."""
    if len(results) == 1 and isinstance(results[0], asyncio.Future):
        return results[0]
    return asyncio.gather(*results)


def _set_none(fut: asyncio.Future[None]) -> None:
    """Complete a forced loop turn (scheduled with ``call_soon`` by ``Stream._loop_turn``)."""
    if not fut.done():  # the awaiting task may have been cancelled meanwhile
        fut.set_result(None)
