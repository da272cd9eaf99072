"""Where remote results flow: after ``scatter()``, until ``gather()``.

Between the two, elements are refs of an executor (futures), not values. A node is
marked with that executor (``Stream.executor``, inherited downstream); only nodes that
accept refs (``_accepts_remote``: map, buffer, gather, ...) may follow, and a failure
with no caller goes back to the ``scatter`` node, which raises it at its next emit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core import Stream

__all__ = ["_hand_to_scatter", "refuse_remote", "remote_error"]


def remote_error(node: Stream, executor: Any) -> TypeError:
    """The error for ``node``, which needs values, placed where refs of ``executor`` flow."""
    # A node that needs values would silently get futures (streamz #176).
    return TypeError(
        f"{type(node).__name__}() needs values, but its upstream carries remote results "
        f"of {executor!r} (after scatter()); add .gather() before it, or use map() "
        "to run the work remotely"
    )


def refuse_remote(node: Stream, stream_type: type[Stream]) -> None:
    """Unlink ``node``, half-built, from its upstreams and raise its ``_remote_error``.

    ``stream_type`` is ``Stream``: entries of ``upstreams`` that are not nodes are skipped.
    """
    for up in node.upstreams:
        if isinstance(up, stream_type):
            up._remove_downstream(node)
    raise node._remote_error(node.executor)


def _hand_to_scatter(node: Stream, exc: BaseException) -> bool:
    """Give a failure with no caller to the ``scatter`` nodes upstream of ``node``.

    They raise it at the next emit through them (operators/parallel.py); True if any did.
    """
    from ..core import Stream  # core imports this module; by the first failure it is loaded

    taken, seen, todo = False, set(), [node]
    while todo:
        n = todo.pop()
        hold = getattr(n, "_hold_failure", None)
        if hold is not None:
            taken = hold(exc) or taken
            continue
        for up in n.upstreams:
            if isinstance(up, Stream) and up.executor is not None and id(up) not in seen:
                seen.add(id(up))
                todo.append(up)
    return taken
