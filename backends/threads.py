"""Local pools as executors: ``threads`` and ``processes`` (concurrent.futures).

Refs are asyncio futures on the graph's loop. A task whose arguments include refs
waits for them on the loop, then goes to the pool with plain values, so dependent
work never blocks a pool worker.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
from collections.abc import Callable
from typing import Any

from streamz_core.executor import LocalValue

__all__ = ["ThreadExecutor", "ProcessExecutor"]


def _run_coroutine_function(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return asyncio.run(func(*args, **kwargs))


class ThreadExecutor:
    """Run submitted work on a ``concurrent.futures.ThreadPoolExecutor``.

    Parameters
    ----------
    max_workers
        Pool size (default: the pool's own default).
    pool
        An existing ``concurrent.futures`` pool to use instead (not shut down by
        :meth:`close`).

    Examples
    --------
    >>> import asyncio
    >>> ex = ThreadExecutor(max_workers=2)
    >>> async def main():
    ...     ref = ex.submit(pow, ex.scatter(2), 10)
    ...     return await ex.gather(ref)
    >>> asyncio.run(main())
    1024
    >>> ex.close()
    """

    name = "threads"
    _pool_class: type[concurrent.futures.Executor] = concurrent.futures.ThreadPoolExecutor

    def __init__(self, max_workers: int | None = None, pool: concurrent.futures.Executor | None = None):
        if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"{type(self).__name__}(max_workers={max_workers!r}): expected an integer >= 1")
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else self._pool_class(max_workers=max_workers)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pool!r}>"

    def is_ref(self, obj: Any) -> bool:
        return isinstance(obj, (asyncio.Future, LocalValue))

    def scatter(self, value: Any) -> Any:
        return LocalValue(value)

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if inspect.iscoroutinefunction(func):
            func, args = _run_coroutine_function, (func, *args)
        pending = [a for a in (*args, *kwargs.values()) if isinstance(a, asyncio.Future)]
        if not pending:
            args = tuple(a.value if isinstance(a, LocalValue) else a for a in args)
            kwargs = {k: (v.value if isinstance(v, LocalValue) else v) for k, v in kwargs.items()}
            return asyncio.wrap_future(self.pool.submit(func, *args, **kwargs))
        return asyncio.ensure_future(self._submit_after(func, args, kwargs))

    async def _submit_after(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        values = [await self.gather(a) if self.is_ref(a) else a for a in args]
        kw = {k: (await self.gather(v) if self.is_ref(v) else v) for k, v in kwargs.items()}
        return await asyncio.wrap_future(self.pool.submit(func, *values, **kw))

    async def gather(self, ref: Any) -> Any:
        if isinstance(ref, LocalValue):
            return ref.value
        return await ref

    def release(self, ref: Any) -> None:
        """Nothing to free: results live in this process."""

    def close(self) -> None:
        if self._owns_pool:
            self.pool.shutdown(wait=False, cancel_futures=True)


class ProcessExecutor(ThreadExecutor):
    """Run submitted work on a ``concurrent.futures.ProcessPoolExecutor``.

    Functions and values must pickle; the default pool size is the number of cores.

    Examples
    --------
    >>> import asyncio, operator
    >>> ex = ProcessExecutor(max_workers=1)
    >>> async def main():
    ...     return await ex.gather(ex.submit(operator.add, 1, 2))
    >>> asyncio.run(main())
    3
    >>> ex.close()
    """

    name = "processes"
    _pool_class = concurrent.futures.ProcessPoolExecutor

    def __init__(self, max_workers: int | None = None, pool: concurrent.futures.Executor | None = None):
        super().__init__(max_workers=max_workers or os.cpu_count() or 1, pool=pool)


