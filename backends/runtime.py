"""The built-in runtime as an executor: the embedded default of ``scatter()``.

Elements travel with their task (no separate put); plain functions become remote tasks
(wrapped once per function and cached); anything with a ``.remote`` method (an actor
method, a remote function, a deployment handle) is called through it, so a stateful
model sits inside a pipeline. Refs are ``ObjectRef``s, awaitable on the stream's loop.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamz_core.runtime as rt
from streamz_core.executor import LocalValue

__all__ = ["RuntimeExecutor"]


class RuntimeExecutor:
    """Run stream work as tasks and actor calls on :mod:`streamz_core.runtime`.

    Parameters
    ----------
    **init_options
        Passed to ``rt.init`` (``num_workers``, ``object_store_memory``, ``spill_dir``)
        when the runtime is not running yet; by default it starts on first use.

    Examples
    --------
    >>> from streamz_core import Stream
    >>> source = Stream()
    >>> L = source.scatter(backend='runtime').map(abs).buffer(4).gather().sink_to_list()
    >>> for x in [-1, -2, -3]: source.emit(x)
    >>> import time; time.sleep(0.5)
    >>> L
    [1, 2, 3]
    >>> L.node.destroy()
    """

    name = "runtime"

    def __init__(self, **init_options: Any):
        if init_options:
            if rt.is_initialized():
                raise ValueError(
                    f"RuntimeExecutor({', '.join(f'{k}={v!r}' for k, v in init_options.items())}): "
                    "the runtime is already running; call rt.shutdown() first, or drop the options"
                )
            rt.init(**init_options)
        self._remote: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return "<RuntimeExecutor>"

    def is_ref(self, obj: Any) -> bool:
        return isinstance(obj, (rt.ObjectRef, LocalValue))

    def scatter(self, value: Any) -> Any:
        return LocalValue(value)  # sent with the task that uses it

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        args = tuple(a.value if isinstance(a, LocalValue) else a for a in args)
        kwargs = {k: (v.value if isinstance(v, LocalValue) else v) for k, v in kwargs.items()}
        remote_call = getattr(func, "remote", None)
        if callable(remote_call):
            return remote_call(*args, **kwargs)  # an actor method, handle or remote function
        remote = self._remote.get(func)
        if remote is None:
            remote = self._remote[func] = rt.remote(func)
        return remote.remote(*args, **kwargs)

    async def gather(self, ref: Any) -> Any:
        if isinstance(ref, LocalValue):
            return ref.value
        return await ref

    def release(self, ref: Any) -> None:
        """Nothing to do: an object is freed when its last ObjectRef is dropped."""

    def close(self) -> None:
        """Forget the wrapped functions; the runtime itself is shared and stays up."""
        self._remote.clear()
