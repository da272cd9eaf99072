"""Helpers shared by the operator modules."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def check_callable(node: str, param: str, value: Any) -> None:
    """Raise a TypeError naming the node and parameter when ``value`` is not callable."""
    if not callable(value):
        raise TypeError(
            f"{node}({param}={value!r}): expected a function, got {type(value).__name__}; "
            f"pass the function itself, e.g. .{node}(len)"
        )


def as_count(value: Any) -> int | None:
    """``value`` as an int if it is a real number equal to an integer, else None.

    Accepts what streamz accepts as a count: ``int``, numpy integers, and any real
    number whose value is whole (``3.0``, ``numpy.float64(3)``, ``Fraction(3)``,
    ``Decimal(3)``). ``bool`` (and ``numpy.bool_``) is not a count.
    """
    import decimal
    import numbers
    import operator

    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    try:
        return operator.index(value)  # int, numpy integers, anything with __index__
    except TypeError:
        pass
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        try:
            number: Any = value  # as Any: typeshed's numbers.Real declares no __int__
            whole = int(number)
        except (ValueError, OverflowError):  # nan, inf
            return None
        return whole if whole == value else None
    return None


def check_positive_int(node: str, param: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is a whole number >= ``minimum``, else raise naming the node."""
    count = as_count(value)
    if count is None or count < minimum:
        raise ValueError(
            f"{node}({param}={value!r}): expected a whole number >= {minimum}, such as "
            f"{max(minimum, 3)} (an int, a numpy integer, or a real number with no "
            "fractional part; not a bool)"
        )
    return count


def bind_args(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    """``func`` itself when there are no extra arguments, else ``x -> func(x, *args, **kwargs)``."""
    if not args and not kwargs:
        return func
    return lambda x: func(x, *args, **kwargs)


def bind_user_function(node: Any, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Check and store a node's function and its extra arguments; True if it is async.

    Sets ``func``, ``args``, ``kwargs`` (shown in repr, used remotely), ``_call`` (the
    one-argument call of the hot path) and ``_async``.
    """
    check_callable(name, "func", func)
    node.func, node.args, node.kwargs = func, args, kwargs
    node._call = bind_args(func, args, kwargs)
    is_async = node._async = is_coroutine_function(func)
    return is_async


def is_coroutine_function(func: Any) -> bool:
    """True for ``async def`` functions and Tornado ``gen.coroutine`` functions."""
    from tornado.gen import is_coroutine_function as is_tornado_coroutine

    return (
        inspect.iscoroutinefunction(func)
        or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - an instance with an async __call__
        )
        or is_tornado_coroutine(func)
    )


def get_key(key: Any) -> Callable[[Any], Any]:
    """A key as a function: callables as they are, anything else as an item key."""
    if callable(key):
        func: Callable[[Any], Any] = key
        return func
    return lambda x: x[key]


def flat_metadata(metadatas: Any) -> list[Any]:
    """One metadata list for an element built from several (a window, a tuple)."""
    return [m for ml in metadatas if ml for m in ml]


class KeyedBuffer:
    """Elements with distinct keys, keeping the first or the newest of each key.

    Shared by partition_unique and timed_window_unique. The owning node's refs are
    retained while an element is held and released when it is replaced.
    """

    def __init__(self, node: str, key: Any, keep: str):
        if keep not in ("first", "last"):
            raise ValueError(f"{node}(keep={keep!r}): expected 'first' or 'last'")
        self.key = get_key(key)
        self.keep = keep
        self.values: dict[Any, Any] = {}
        self.metadata: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.values)

    def add(self, owner: Any, y: Any, x: Any, metadata: Any) -> None:
        """Hold ``x`` under key ``y`` (``keep="last"`` moves a repeated key to the end)."""
        if y in self.values:
            if self.keep == "first":
                return
            del self.values[y]
            owner._release_refs(self.metadata.pop(y))
        owner._retain_refs(metadata)
        self.values[y] = x
        self.metadata[y] = metadata

    def take(self) -> tuple[tuple[Any, ...], list[Any]]:
        """Everything held, as a tuple and one metadata list; the buffer starts over."""
        out = tuple(self.values.values())
        md = flat_metadata(self.metadata.values())
        self.values, self.metadata = {}, {}
        return out, md
