"""Local pools as executors: ``threads`` and ``processes`` (concurrent.futures).

Refs are asyncio futures on the graph's loop. A task whose arguments include refs
waits for them on the loop, then goes to the pool with plain values, so dependent
work never blocks a pool worker.

A ``ProcessPoolExecutor`` is broken for good once one of its processes dies (kill -9,
out of memory): every later submit raises ``BrokenProcessPool``. The ``processes``
backend therefore replaces a broken pool it made and sends the calls that were in
flight again (``retries`` times each), so one lost process loses no element.

``close()`` (or the shutdown of a pool passed in) with calls in flight cancels the calls
not started yet: they all fail with one
:class:`~streamz_core.executor.ExecutorClosedError` that says how many, and later calls
are refused with one that says the executor is closed.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import os
import pickle
from collections.abc import Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from streamz_core.executor import (
    ExecutorClosedError,
    LocalValue,
    NotSerializableError,
    RemoteFailure,
    Settled,
)

logger = logging.getLogger("streamz_core.backends.threads")

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
    settles_arguments = True  # submit accepts Settled(ref) arguments
    # A pool class taking max_workers (ThreadPoolExecutor, ProcessPoolExecutor).
    _pool_class: Callable[..., concurrent.futures.Executor] = concurrent.futures.ThreadPoolExecutor

    def __init__(self, max_workers: int | None = None, pool: concurrent.futures.Executor | None = None):
        if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"{type(self).__name__}(max_workers={max_workers!r}): expected an integer >= 1")
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else self._pool_class(max_workers=max_workers)
        self._closed = False
        self._closed_error: ExecutorClosedError | None = None
        self._closed_count = 0  # elements that failed because the executor or its pool closed
        self._closed_what = ""
        # The pool's futures of calls not back yet: what close() cancels.
        self._pool_futures: set[concurrent.futures.Future[Any]] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pool!r}>"

    def is_ref(self, obj: Any) -> bool:
        return isinstance(obj, (asyncio.Future, LocalValue))

    def scatter(self, value: Any) -> Any:
        return LocalValue(value)

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self._refuse_if_closed()
        if inspect.iscoroutinefunction(func):
            func, args = _run_coroutine_function, (func, *args)
        pending = [a for a in (*args, *kwargs.values())
                   if isinstance(a.ref if isinstance(a, Settled) else a, asyncio.Future)]
        if not pending:
            args = tuple(a.ref if isinstance(a, Settled) else a for a in args)
            args = tuple(a.value if isinstance(a, LocalValue) else a for a in args)
            kwargs = {k: (v.value if isinstance(v, LocalValue) else v) for k, v in kwargs.items()}
            return self._start(func, args, kwargs)
        return asyncio.ensure_future(self._submit_after(func, args, kwargs))

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise ExecutorClosedError(
                f"{self!r} is closed: it cannot take more work; make a new executor and a new "
                "stream (close it only after source.drain())"
            )

    def _pool_submit(self, pool: concurrent.futures.Executor, func: Callable[..., Any],
                     args: tuple[Any, ...], kwargs: dict[str, Any]) -> concurrent.futures.Future[Any]:
        """``pool.submit``, remembered until done (so close() can count what it cancels)."""
        try:
            future = pool.submit(func, *args, **kwargs)
        except RuntimeError as exc:
            if self._closed or "shutdown" in str(exc):  # "cannot schedule new futures after shutdown"
                raise self._closed_now() from None
            raise
        self._pool_futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        self._pool_futures.discard(future)

    def _start(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Hand one call with plain values to the pool; return an asyncio future of it."""
        return asyncio.wrap_future(self._pool_submit(self.pool, func, args, kwargs))

    async def _submit_after(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        values = tuple([await self._settle(a.ref) if isinstance(a, Settled)
                        else await self.gather(a) if self.is_ref(a) else a for a in args])
        kw = {k: (await self.gather(v) if self.is_ref(v) else v) for k, v in kwargs.items()}
        if self._closed:  # accepted before close(), but it never reached the pool
            raise self._closed_now()
        return await self._start(func, values, kw)

    async def _settle(self, ref: Any) -> Any:
        """The value behind a ``Settled`` argument, or its failure as a RemoteFailure."""
        if not self.is_ref(ref):
            return ref
        try:
            return await self.gather(ref)
        except Exception as exc:  # noqa: BLE001 - handed to the function, which decides
            return RemoteFailure(exc)

    async def gather(self, ref: Any) -> Any:
        if isinstance(ref, LocalValue):
            return ref.value
        try:
            return await ref
        except asyncio.CancelledError:
            if not ref.cancelled():
                raise  # the caller itself is being cancelled
            # The pool cancelled the call: close(), or a shutdown(cancel_futures=True)
            # of a pool passed in. One error for every call it cancelled.
            raise self._closed_now() from None

    def _closed_now(self, element: bool = True) -> ExecutorClosedError:
        """The one error for every element that close() (or the pool's shutdown) stopped.

        Called once by each element that fails for it (``element=True``), which it counts:
        the pool's own state cannot say how many it will drop (a process pool marks the
        calls it has queued for a worker as running, yet shutdown may drop them), so the
        count is of the failures themselves. The message is kept up to date in place, and
        ``drain()`` raises it after every element has settled.
        """
        if element:
            self._closed_count += 1
        err = self._closed_error
        n = self._closed_count
        if err is None:  # what stopped them, decided by the first: close(), or the pool's owner
            self._closed_what = f"{self!r} was closed" if self._closed else f"the pool of {self!r} was shut down"
        what = self._closed_what
        message = (
            f"{what} with {n} element{'s' if n != 1 else ''} in flight (submitted, not finished); "
            "they were not processed. Close the executor only after the stream is done "
            "(source.drain() waits for it)"
        )
        if err is None:
            err = self._closed_error = ExecutorClosedError(message)
        else:
            err.args = (message,)
        self._closed = True
        return err

    def release(self, ref: Any) -> None:
        """Nothing to free: results live in this process."""

    def close(self) -> None:
        """Refuse new work; shut down the pool this executor made (not one passed in).

        Calls not started yet are cancelled and fail with one ``ExecutorClosedError``
        that says how many; calls already running finish and deliver their results.
        """
        if self._closed:
            return
        self._closed = True
        if not self._owns_pool:
            return  # the pool is yours: what it runs goes on; later submits are refused
        # Cancelled here rather than later in a process pool's manager thread; each
        # cancelled call then fails, and is counted, as it reaches gather (_closed_now).
        for f in list(self._pool_futures):
            f.cancel()  # fails for a call the pool has started: that one runs and delivers
        self._closed_now(element=False)
        self.pool.shutdown(wait=False, cancel_futures=True)


class ProcessExecutor(ThreadExecutor):
    """Run submitted work on a ``concurrent.futures.ProcessPoolExecutor``.

    Functions and values must pickle; the default pool size is the number of cores.
    A function that does not pickle (a lambda, a local function) is refused at its
    first call with :class:`~streamz_core.executor.NotSerializableError`. When a
    worker process dies, the pool this executor made is replaced and the calls in
    flight are sent again, up to ``retries`` times each (a call may so run twice);
    a pool you passed in cannot be replaced, so its calls fail with a note saying so.

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

    def __init__(self, max_workers: int | None = None, pool: concurrent.futures.Executor | None = None,
                 retries: int = 3):
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"ProcessExecutor(retries={retries!r}): expected an integer >= 0")
        super().__init__(max_workers=max_workers or os.cpu_count() or 1, pool=pool)
        self._max_workers = max_workers or os.cpu_count() or 1
        self.retries = retries
        self.pools_replaced = 0  # how often a broken pool was replaced
        self._picklable: dict[Any, None] = {}

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self._check_picklable(func)
        return super().submit(func, *args, **kwargs)

    def _check_picklable(self, func: Callable[..., Any]) -> None:
        """Refuse, at once and clearly, a function the pool could never send (it would
        fail every element later, in the pool's feeder thread)."""
        try:
            if func in self._picklable:
                return
        except TypeError:  # unhashable callable object: check every time
            pass
        try:
            pickle.dumps(func)
        except Exception as exc:  # noqa: BLE001 - pickling can raise anything
            raise NotSerializableError(
                f"scatter(backend='processes'): the function {func!r} cannot be pickled, so it "
                f"cannot be sent to a worker process ({exc}); define it at module level "
                "(not a lambda or a local function), or use backend='threads' or 'runtime'"
            ) from exc
        try:
            self._picklable[func] = None
        except TypeError:
            pass

    def _start(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
        return asyncio.ensure_future(self._run(func, args, kwargs))

    async def _run(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            pool = self.pool
            try:
                return await asyncio.wrap_future(self._pool_submit(pool, func, args, kwargs))
            except BrokenProcessPool as exc:
                if self._closed:
                    raise self._closed_now() from None
                attempt += 1
                replaced = self._replace(pool)
                if replaced and attempt <= self.retries:
                    continue
                if not replaced:
                    exc.add_note("a worker process of the pool passed to scatter(backend=pool) died, and "
                                 "that pool cannot be used any more; pass a new pool, or let "
                                 "scatter(backend='processes') make (and replace) its own")
                else:
                    exc.add_note(f"a worker process died while running this call, {attempt} times "
                                 f"(the pool was replaced each time); raise ProcessExecutor(retries=...) "
                                 "if that was bad luck, or find what kills it (memory? a crash in C code?)")
                raise

    def _replace(self, broken: concurrent.futures.Executor) -> bool:
        """Put a new pool in place of ``broken`` (once, however many calls saw it break)."""
        if not self._owns_pool:
            return False
        if self.pool is broken:
            self.pool = self._pool_class(max_workers=self._max_workers)
            self.pools_replaced += 1
            broken.shutdown(wait=False, cancel_futures=True)
            logger.warning("a worker process of %r died (killed, or out of memory); the pool was "
                           "replaced and its calls in flight are sent again", self)
        return True
