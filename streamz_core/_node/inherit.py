"""Cooperative multiple inheritance: a node class that also derives from another class.

In ``class RedisSource(Source, Client)``, ``super().__init__(host=host, **kwargs)``
runs ``Source.__init__`` and ``Stream.__init__``; the keywords that neither takes
belong to ``Client.__init__``, the next class after ``Stream`` in the MRO.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core import Stream

__all__ = ["init_next_base"]


def init_next_base(node: Stream, stream_type: type[Stream], kwargs: dict[str, Any]) -> None:
    """Call the ``__init__`` after ``stream_type``'s in ``node``'s MRO with ``kwargs``.

    With no such base (only ``object`` follows), a keyword is the usual TypeError.

    Examples
    --------
    >>> from streamz_core import Stream
    >>> class Client:
    ...     def __init__(self, host):
    ...         self.host = host
    >>> class node(Stream, Client):
    ...     pass
    >>> node(host='db').host
    'db'
    """
    mro = type(node).__mro__
    after = mro[mro.index(stream_type) + 1:]
    if next((c for c in after if "__init__" in vars(c)), object) is object:
        raise TypeError(f"Stream.__init__() got an unexpected keyword argument {next(iter(kwargs))!r}")
    super(stream_type, node).__init__(**kwargs)
