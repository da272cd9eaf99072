"""The built-in runtime as an executor: the embedded default of ``scatter()``.

Elements travel with their task (no separate put); plain functions become remote tasks
(wrapped once per function and cached); anything with a ``.remote`` method (an actor
method, a remote function, a deployment handle) is called through it, so a stateful
model sits inside a pipeline. Refs are ``ObjectRef``s, awaitable on the stream's loop.

``rt.shutdown()`` with elements in flight loses their results: they all fail with one
:class:`~streamz_core.executor.ExecutorClosedError` that says how many, instead of one
``ObjectLostError`` per element blaming the map. The next call starts a new runtime, as
any remote call after ``rt.shutdown()`` does.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import streamz_core.runtime as rt
from streamz_core.executor import ExecutorClosedError, LocalValue, RemoteFailure, Settled
from streamz_core.runtime.exceptions import ObjectLostError

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
    >>> source.drain()  # waits for what buffer(4) still holds
    >>> L
    [1, 2, 3]
    >>> L.node.destroy()
    """

    name = "runtime"
    settles_arguments = True  # submit accepts Settled(ref) arguments

    def __init__(self, **init_options: Any):
        if init_options:
            if rt.is_initialized():
                raise ValueError(
                    f"RuntimeExecutor({', '.join(f'{k}={v!r}' for k, v in init_options.items())}): "
                    "the runtime is already running; call rt.shutdown() first, or drop the options"
                )
            rt.init(**init_options)
        self._remote: dict[Any, Any] = {}
        # Per runtime session (rt.init ... rt.shutdown): the refs submitted and not back
        # yet, and the one error their loss became. Keyed by id of the session's core.
        self._in_flight: dict[int, tuple[Any, weakref.WeakSet[Any]]] = {}
        self._lost: dict[int, ExecutorClosedError] = {}

    def __repr__(self) -> str:
        return "<RuntimeExecutor>"

    def is_ref(self, obj: Any) -> bool:
        return isinstance(obj, (rt.ObjectRef, LocalValue))

    def scatter(self, value: Any) -> Any:
        return LocalValue(value)  # sent with the task that uses it

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        settled = [i for i, a in enumerate(args) if isinstance(a, Settled)]
        if settled:
            args = tuple(a.ref if isinstance(a, Settled) else a for a in args)
            if not callable(getattr(func, "remote", None)):
                # A ref inside a list is not resolved before the task starts (only
                # top-level ones are): the task gets it and settles it itself.
                boxed = tuple([a] if i in settled and isinstance(a, rt.ObjectRef) else a
                              for i, a in enumerate(args))
                boxed = tuple(a.value if isinstance(a, LocalValue) else a for a in boxed)
                positions = tuple(i for i in settled if isinstance(args[i], rt.ObjectRef))
                return self._track(self._settling().remote(func, positions, *boxed, **kwargs))
        args = tuple(a.value if isinstance(a, LocalValue) else a for a in args)
        kwargs = {k: (v.value if isinstance(v, LocalValue) else v) for k, v in kwargs.items()}
        remote_call = getattr(func, "remote", None)
        if not callable(remote_call):  # else an actor method, handle or remote function
            remote = self._remote.get(func)
            if remote is None:
                remote = self._remote[func] = rt.remote(func)
            remote_call = remote.remote
        return self._track(remote_call(*args, **kwargs))

    def _settling(self) -> Any:
        remote = self._remote.get(_call_settled)
        if remote is None:
            remote = self._remote[_call_settled] = rt.remote(_call_settled)
        return remote

    def _track(self, ref: Any) -> Any:
        session = _session_of(ref) if isinstance(ref, rt.ObjectRef) else None
        if session is not None:
            entry = self._in_flight.get(id(session))
            if entry is None or entry[0] is not session:
                entry = self._in_flight[id(session)] = (session, weakref.WeakSet())
            entry[1].add(ref)
        return ref

    async def gather(self, ref: Any) -> Any:
        if isinstance(ref, LocalValue):
            return ref.value
        session = _session_of(ref) if isinstance(ref, rt.ObjectRef) else None
        try:
            value = await ref
        except ObjectLostError:
            if session is not None and not _is_current(session):
                raise self._shut_down(session) from None
            raise
        entry = self._in_flight.get(id(session)) if session is not None else None
        if entry is not None and entry[0] is session:
            entry[1].discard(ref)
        return value

    def _shut_down(self, session: Any) -> ExecutorClosedError:
        """The one error for every ref of ``session`` lost to its ``rt.shutdown()``."""
        key = id(session)
        err = self._lost.get(key)
        if err is None:
            entry = self._in_flight.pop(key, None)
            n = len(entry[1]) if entry is not None and entry[0] is session else 1
            err = self._lost[key] = ExecutorClosedError(
                f"the runtime was shut down (rt.shutdown()) with {n} element{'s' if n != 1 else ''} "
                "in flight; their results were lost. Call source.drain() before rt.shutdown(); "
                "the next emit starts a new runtime"
            )
            self._lost = {k: v for k, v in self._lost.items() if k == key}  # older sessions are done
        return err

    def release(self, ref: Any) -> None:
        """Nothing to do: an object is freed when its last ObjectRef is dropped."""

    def close(self) -> None:
        """Forget the wrapped functions; the runtime itself is shared and stays up."""
        self._remote.clear()


def _session_of(ref: Any) -> Any:
    """The runtime session that made ``ref`` (None for what is not a runtime ref)."""
    from streamz_core.runtime import _context

    return _context.session_of(ref) if isinstance(ref, rt.ObjectRef) else None


def _is_current(session: Any) -> bool:
    from streamz_core.runtime import _context

    return _context.is_current(session)


def _call_settled(func: Callable[..., Any], positions: tuple[int, ...], *args: Any, **kwargs: Any) -> Any:
    """Run in a worker: ``func(*args)`` with the boxed refs at ``positions`` replaced by
    their values, or by a RemoteFailure where their call failed."""
    values = list(args)
    for i in positions:
        try:
            values[i] = rt.get(args[i][0])
        except Exception as exc:  # noqa: BLE001 - handed to func, which decides
            values[i] = RemoteFailure(exc)
    return func(*values, **kwargs)
