"""Intervals: seconds, ``timedelta`` or strings such as ``"500ms"``, checked once.

Every node and source that takes a period or a delay reads it with :func:`parse_interval`
(re-exported by :mod:`streamz_core.loop`, its public home), so they all accept the same
forms and refuse the same values with the same message.
"""
from __future__ import annotations

from typing import Any

__all__ = ["MIN_INTERVAL", "parse_interval"]

_UNITS = {
    "us": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
    "ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}


# The shortest interval any node or source accepts. Loop time is a float of seconds
# since boot: after a year of uptime (3e7 s) one step of that float is 4e-9 s, so a
# deadline `now + 1e-300` (or anything below a few ns) equals `now` and a periodic
# timer fires again and again at the same instant: the busy loop seen with 1e-300.
# And one timer callback costs a few microseconds, so no period below a microsecond
# can be kept anyway. 1 us (the finest unit "us" the strings take) leaves both margins.
MIN_INTERVAL = 1e-6


def _real_seconds(value: Any) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else None."""
    import decimal
    import numbers

    if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy.bool_ too
        return None
    if isinstance(value, (numbers.Real, decimal.Decimal)):  # numpy, Fraction, Decimal
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def parse_interval(value: Any, where: str = "interval", allow_zero: bool = True) -> float:
    """Convert seconds, a ``timedelta`` or a string such as ``"500ms"`` to float seconds.

    Seconds may be any real number type (``int``, ``float``, numpy numbers,
    ``Fraction``, ``Decimal``). The result is finite and at least
    :data:`MIN_INTERVAL` (one microsecond), or zero where ``allow_zero``. Raises
    ``ValueError`` naming ``where`` (the node and parameter) for anything else.

    Examples
    --------
    >>> parse_interval("500ms"), parse_interval(2), parse_interval("1.5 min")
    (0.5, 2.0, 90.0)
    >>> import datetime, fractions
    >>> parse_interval(datetime.timedelta(milliseconds=250)), parse_interval(fractions.Fraction(1, 4))
    (0.25, 0.25)
    >>> parse_interval(float("inf"), "rate_limit(interval)")
    Traceback (most recent call last):
    ...
    ValueError: rate_limit(interval)=inf: expected a finite number of seconds from 1e-06 (1 us) up, or 0, ...
    """
    import datetime
    import math
    import re

    seconds: float | None = _real_seconds(value)
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
        if match and match.group(2).lower() in _UNITS:
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
        elif match and not match.group(2):
            seconds = float(match.group(1))
    if seconds is not None and seconds == 0 and allow_zero:
        return 0.0
    if seconds is None or not math.isfinite(seconds) or seconds < MIN_INTERVAL:
        zero = ", or 0," if allow_zero else ""
        raise ValueError(
            f"{where}={value!r}: expected a finite number of seconds from {MIN_INTERVAL:g} "
            f"(1 us) up{zero} as an int, a float or another real number, a "
            "datetime.timedelta, or a string such as '500ms', '2s' or '1min'"
        )
    return seconds
