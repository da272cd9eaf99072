"""Checks of the arguments of ``rt.get``, ``rt.wait`` and ``rt.init``, with fix-it errors.

Callers without types pass anything, so the public functions check at run time what
their annotations promise, and say what to pass instead.
"""
from __future__ import annotations

from typing import Any

from .object_ref import ObjectRef

__all__ = ["as_refs", "check_timeout", "is_count"]


def is_count(value: object, minimum: int) -> bool:
    """True for an int (not a bool) >= ``minimum``: callers without types pass anything."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def as_refs(refs: Any, fn: str) -> list[ObjectRef[Any]]:
    if isinstance(refs, ObjectRef):
        return [refs]
    try:
        lst = list(refs)
    except TypeError:
        raise TypeError(f"rt.{fn}() takes an ObjectRef or a list of them, got "
                        f"{refs!r}; pass the refs returned by .remote() or rt.put()") from None
    for r in lst:
        if not isinstance(r, ObjectRef):
            raise TypeError(f"rt.{fn}() got {r!r}, which is not an ObjectRef; pass only the "
                            f"refs returned by .remote() or rt.put()")
    return lst


def check_timeout(timeout: Any, fn: str) -> float | None:
    """``timeout`` as float seconds (None: no limit), or a clear error naming ``fn``."""
    import decimal
    import math
    import numbers

    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (numbers.Real, decimal.Decimal)):
        raise TypeError(
            f"rt.{fn}(timeout={timeout!r}): expected a number of seconds such as 1.5 "
            f"(not a string or {type(timeout).__name__}), or None to wait without limit"
        )
    seconds = float(timeout)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(
            f"rt.{fn}(timeout={timeout!r}): expected a number of seconds >= 0, "
            "or None to wait without limit"
        )
    return None if math.isinf(seconds) else seconds
