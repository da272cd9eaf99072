"""The links of a graph: downstreams held weakly, their live view, and walking a graph.

A node holds its upstreams strongly and its downstreams weakly, as a tuple of weak
references that is replaced, never changed (``Stream._set_down``), so ``_emit`` iterates
a tuple that cannot change under it and a branch nobody references is collected.
"""
from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core import Stream

__all__ = ["_Downstreams", "walk", "weak_link"]


def weak_link(node: Stream, downstream: Stream) -> weakref.ref[Stream]:
    """A weak reference to ``downstream`` that unlinks itself from ``node`` when
    ``downstream`` is collected (the callback holds ``node`` weakly too)."""
    selfref = weakref.ref(node)

    def gone(ref: weakref.ref[Stream]) -> None:
        up = selfref()
        if up is not None:
            up._set_down(tuple(r for r in up._down if r is not ref))

    return weakref.ref(downstream, gone)


def walk(node: Stream, stream_type: type[Stream]) -> Iterator[Stream]:
    """Every node connected to ``node`` (depth-first), including error routes.

    ``stream_type`` is ``Stream``: entries of ``upstreams`` that are not nodes are skipped.

    Examples
    --------
    >>> from streamz_core import Stream
    >>> source = Stream()
    >>> a = source.map(str)
    >>> b = source.map(repr).on_exception()
    >>> len(list(walk(a, Stream)))  # a, source, the other map and its route
    4
    """
    seen = {id(node)}
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        neighbours = [*n.upstreams, *n.downstreams]
        if n._dead_letters is not None:
            neighbours.append(n._dead_letters)
        for other in neighbours:
            if isinstance(other, stream_type) and id(other) not in seen:
                seen.add(id(other))
                todo.append(other)


class _Downstreams:
    """A read-only live view of a node's downstreams (streamz exposes a weak set).

    Examples
    --------
    >>> from streamz_core import Stream
    >>> source = Stream()
    >>> a, b = source.map(str), source.map(repr)
    >>> len(source.downstreams), a in source.downstreams
    (2, True)
    >>> del a
    >>> len(source.downstreams), b in source.downstreams
    (1, True)
    """

    __slots__ = ("_node",)

    def __init__(self, node: Stream):
        self._node = node

    def __iter__(self) -> Iterator[Stream]:
        for ref in self._node._down:
            d = ref()
            if d is not None:
                yield d

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, other: object) -> bool:
        return any(d is other for d in self)

    def __repr__(self) -> str:
        return f"Downstreams({list(self)!r})"
