"""How a node shows itself: ``repr(node)``, e.g. ``<map: inc>`` or ``<name; sink: append>``."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core import Stream

__all__ = ["describe"]


def describe(node: Stream) -> str:
    """``<[name; ]Type[: parameters]>``, with the parameters named in ``node.str_list``.

    Unset, false and empty parameters are left out; callables show their name; a single
    parameter shows its value alone.

    Examples
    --------
    >>> from streamz_core import Stream
    >>> source = Stream(stream_name="numbers")
    >>> describe(source), describe(source.map(abs)), describe(source.partition(3))
    ('<numbers; Stream>', '<map: abs>', '<partition: 3>')
    """
    parts = []
    for attr in node.str_list:
        value = getattr(node, attr, None)
        if value is None or value is False or (not callable(value) and not str(value)):
            continue
        shown = getattr(value, "__name__", type(value).__name__) if callable(value) else str(value)
        parts.append((attr, shown))
    head = type(node).__name__ if not node.name else f"{node.name}; {type(node).__name__}"
    if not parts:
        return f"<{head}>"
    if len(parts) == 1:
        return f"<{head}: {parts[0][1]}>"
    return f"<{head}: " + ", ".join(f"{k}={v}" for k, v in parts) + ">"
