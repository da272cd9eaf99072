"""The default values of node parameters: ``no_default`` (nothing given) and ``identity``."""
from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["identity", "no_default"]

T = TypeVar("T")


def identity(x: T) -> T:
    """Return ``x`` unchanged (the default key of several nodes).

    Examples
    --------
    >>> identity(3)
    3
    """
    return x


class _NoDefault:
    def __repr__(self) -> str:
        return "no_default"


#: Marks a parameter or element as not given, where ``None`` is a valid value.
no_default: Any = _NoDefault()
