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


def check_positive_int(node: str, param: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise naming the node."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{node}({param}={value!r}): expected an integer >= {minimum}"
        )
    return value


def bind_args(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    """``func`` itself when there are no extra arguments, else ``x -> func(x, *args, **kwargs)``."""
    if not args and not kwargs:
        return func
    return lambda x: func(x, *args, **kwargs)


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
        return key
    return lambda x: x[key]
