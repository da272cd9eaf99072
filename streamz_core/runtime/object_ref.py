"""ObjectRef: a reference to a value computed (or stored) by the runtime.

A ref is an awaitable future that is bound to no event loop: it can be awaited any number
of times, from any asyncio or Tornado coroutine, on any thread's loop. It also speaks the
parts of the asyncio future protocol that ``asyncio.wait`` uses (``add_done_callback``,
``done``, ``result``, ``exception``), so ``asyncio.wait(refs)`` works on Python 3.11+.
``asyncio.gather``, ``wait_for`` and ``as_completed`` wrap it in a task like any other
awaitable; a ``wait_for`` timeout cancels that wrapper, never the remote work.

Thread safety: every method may be called from any thread. Completion callbacks added from
a running event loop are called on that loop (in batches, one wake-up per loop).
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from . import _context
from . import _serialization as ser
from .exceptions import GetTimeoutError, ObjectLostError

if TYPE_CHECKING:
    import asyncio
    import contextvars

    from ._context import Payload, PayloadFuture, RuntimeCore

__all__ = ["ObjectRef"]

T = TypeVar("T", covariant=True)  # a ref of an int is a ref of an object (read-only)

_Call = tuple[Callable[[Any], None], Any]
_pending: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
_plock = threading.Lock()
_bind_lock = threading.Lock()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop of this thread, or None (without importing asyncio)."""
    aio = sys.modules.get("asyncio")
    if aio is None:
        return None
    loop: asyncio.AbstractEventLoop | None = aio.events._get_running_loop()
    return loop


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    with _plock:
        items = _pending.pop(loop, ())
    for fn, arg in items:
        fn(arg)


def post(loop: asyncio.AbstractEventLoop, fn: Callable[[Any], None], arg: Any) -> None:
    """Call ``fn(arg)`` on ``loop`` soon, batching calls posted before the loop wakes."""
    with _plock:
        items = _pending.get(loop)
        if items is not None:
            items.append((fn, arg))
            return
        _pending[loop] = [(fn, arg)]
    try:
        loop.call_soon_threadsafe(_drain, loop)
    except RuntimeError:  # loop closed: nobody is waiting any more
        with _plock:
            _pending.pop(loop, None)


def _current_loop(what: str) -> asyncio.AbstractEventLoop:
    """The running loop, else this thread's event loop (``asyncio.get_event_loop()``)."""
    import asyncio

    loop = _running_loop()
    if loop is not None:
        return loop
    try:
        return asyncio.get_event_loop()
    except RuntimeError as exc:  # a thread without a loop (or Python 3.14+ outside one)
        raise RuntimeError(
            f"{what}: no event loop is running or set in this thread ({exc}); call it in a "
            f"coroutine, pass loop=..., or set one first with "
            f"asyncio.set_event_loop(asyncio.new_event_loop())") from None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ObjectRef(Generic[T]):
    """A reference to a remote value of type ``T``; await it or pass it to ``rt.get``.

    Refs are returned by ``f.remote()``, ``actor.method.remote()`` and ``rt.put``; you do
    not create them yourself. Passing a ref as a top-level argument of a remote call passes
    its value; refs nested in containers stay refs. The value is freed when no ref to it
    remains in any process.

    A ref unpickled in a process where no runtime runs is *detached*: it starts nothing,
    and reading it (``rt.get``, ``await``, ``.future()``...) raises
    :class:`~.exceptions.ObjectLostError` saying what to do. (Inside tasks and actors a
    runtime always runs, so refs unpickled there are bound to it.) A runtime started
    later in that process does not adopt it: that runtime did not make the object, and
    its own object ids start again at 1, so the ref would read another object.

    Examples
    --------
    >>> import asyncio
    >>> import streamz_core.runtime as rt
    >>> ref = rt.put([1, 2, 3])
    >>> rt.get(ref)
    [1, 2, 3]
    >>> async def main():
    ...     return await ref
    >>> asyncio.run(main())
    [1, 2, 3]
    >>> ref.future().result()
    [1, 2, 3]
    """

    __slots__ = ("_id", "_core", "_cbs", "__weakref__")

    def __init__(self, oid: int, core: RuntimeCore | None = None, fresh: bool = False) -> None:
        self._id = oid
        if core is None:
            core = _context.core()
        self._core: RuntimeCore | None = core
        self._cbs: list[list[Any]] | None = None
        core.add_ref(oid, fresh)

    @classmethod
    def _detached(cls, oid: int) -> ObjectRef[Any]:
        """A ref bound to no runtime yet (unpickled where none runs): it starts nothing."""
        ref: ObjectRef[Any] = cls.__new__(cls)
        ref._id = oid
        ref._core = None
        ref._cbs = None
        return ref

    def _bound(self) -> RuntimeCore:
        """The core this ref belongs to, or the error that says why it has none.

        A detached ref binds only to a worker's core (one session per worker process);
        never to a driver, which cannot have made an object that existed before it.
        """
        core = self._core
        if core is not None:
            return core
        return bind_in_worker(self, self._id, lambda runtime_now: ObjectLostError(detached_reason(
            repr(self), runtime_now, "its value cannot be read here", "rt.get(ref) there and send the value")))

    def __del__(self) -> None:
        try:
            core = self._core
            if core is not None:
                core.release(self._id)
        except Exception:  # interpreter shutdown
            pass

    def __reduce__(self) -> tuple[Callable[[int], ObjectRef[Any]], tuple[int]]:
        refs = ser.collecting()
        if refs is not None:
            refs.append(self._id)
        return (_rebuild_ref, (self._id,))

    def __repr__(self) -> str:
        return f"ObjectRef({self._id:#x})"

    def __hash__(self) -> int:
        return hash(("ObjectRef", self._id))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other._id == self._id

    def hex(self) -> str:
        """Return the object id as a hex string.

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> isinstance(rt.put(1).hex(), str)
        True
        """
        return f"{self._id:016x}"

    # -- blocking and concurrent.futures ------------------------------------------------
    def _fut(self) -> PayloadFuture:
        core = self._core  # inline fast path: _bound() only for a detached ref
        return (core if core is not None else self._bound()).object_future(self._id)

    def done(self) -> bool:
        """Return True once the value (or error) is available.

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> ref = rt.put(1)
        >>> ref.done()
        True
        """
        return self._fut().done()

    def cancelled(self) -> bool:
        """Return False: a ref is never in the asyncio "cancelled" state.

        ``rt.cancel`` makes the ref raise :class:`TaskCancelledError` instead.

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> rt.put(1).cancelled()
        False
        """
        return False

    def _load(self, payload: Payload) -> T:
        """The value of a (non-error) payload; a ref of type ``T`` holds a ``T``."""
        core = self._core
        value: T = (core if core is not None else self._bound()).load(payload)
        return value

    def result(self, timeout: float | None = None) -> T:
        """Block until the value is ready and return it (like ``rt.get(ref)``).

        Raises the remote exception, or :class:`GetTimeoutError` after ``timeout`` s.

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> rt.put("x").result(timeout=5)
        'x'
        """
        payload = self._payload(timeout)
        if payload[0] == "e":  # raised here, so no runtime frame sits below this one
            raise ser.error_from_payload(payload)
        return self._load(payload)

    def _payload(self, timeout: float | None = None) -> Payload:
        """Block until done; return the serialized value (also used by ``rt.get``).

        Raises :class:`GetTimeoutError` after ``timeout`` s; an error payload is returned,
        not raised, so the public caller raises it and the user's traceback ends there.
        """
        core = self._core
        if core is None:
            core = self._bound()
        fut = core.object_future(self._id)
        payload: Payload
        try:
            if fut.done():
                payload = fut.result()
            else:
                with core.blocking():
                    payload = fut.result(timeout)
        except cf.TimeoutError:
            raise GetTimeoutError(
                f"{self!r} was not ready within timeout={timeout!r} s; raise the timeout, or "
                f"use rt.wait(refs, timeout=...) to collect what is ready") from None
        core.check_blocking_get()
        return payload

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the remote exception (or None) once done.

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> rt.put(1).exception() is None
        True
        """
        payload: Payload = self._fut().result(timeout)
        if payload[0] == "e":
            return ser.error_from_payload(payload)
        return None

    def future(self) -> cf.Future[T]:
        """Return a ``concurrent.futures.Future`` of the value (usable from any thread).

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> rt.put(2).future().result()
        2
        """
        out: cf.Future[T] = cf.Future()
        fut = self._fut()

        def _done(f: PayloadFuture, ref: ObjectRef[T] = self) -> None:
            payload: Payload = f.result()
            if payload[0] == "e":  # never raised here: no runtime frames in its traceback
                out.set_exception(ser.error_from_payload(payload))
                return
            try:
                out.set_result(ref._load(payload))
            except BaseException as exc:
                out.set_exception(exc)

        fut.add_done_callback(_done)
        return out

    # -- asyncio -----------------------------------------------------------------------
    def __await__(self) -> Generator[Any, None, T]:
        core = self._core
        if core is None:
            core = self._bound()
        fut = core.object_future(self._id)
        if not fut.done():
            import asyncio

            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            fut.add_done_callback(lambda _f: post(loop, _wake, waiter))
            yield from waiter.__await__()
        payload: Payload = fut.result()
        if payload[0] == "e":  # raised here, so no runtime frame sits below this one
            raise ser.error_from_payload(payload)
        value: T = core.load(payload)
        return value

    def as_future(self, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[T]:
        """Return an asyncio future of the value, bound to ``loop``.

        The default loop is the one ``asyncio.wrap_future`` picks: the running loop, else
        this thread's event loop as ``asyncio.get_event_loop()`` returns it. So a future
        made before the loop runs completes once ``loop.run_until_complete(future)`` runs.

        Examples
        --------
        >>> import asyncio
        >>> import streamz_core.runtime as rt
        >>> async def main():
        ...     return await rt.put(3).as_future()
        >>> asyncio.run(main())
        3
        >>> loop = asyncio.new_event_loop()
        >>> loop.run_until_complete(rt.put(4).as_future(loop))
        4
        >>> loop.close()
        """
        fut = self._fut()
        target = loop if loop is not None else _current_loop("as_future")
        out: asyncio.Future[T] = target.create_future()

        def _set(_arg: Any, ref: ObjectRef[T] = self) -> None:
            if out.done():
                return
            payload: Payload = fut.result()
            if payload[0] == "e":  # never raised here: no runtime frames in its traceback
                out.set_exception(ser.error_from_payload(payload))
                return
            try:
                out.set_result(ref._load(payload))
            except BaseException as exc:
                out.set_exception(exc)

        fut.add_done_callback(lambda _f: post(target, _set, None))
        return out

    def add_done_callback(self, fn: Callable[[ObjectRef[T]], object], *,
                          context: contextvars.Context | None = None) -> None:
        """Call ``fn(ref)`` when done: on the caller's running loop if any, else at once.

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> seen = []
        >>> ref = rt.put(1)
        >>> ref.add_done_callback(seen.append)
        >>> seen == [ref]
        True
        """
        fut = self._fut()
        loop = _running_loop()
        entry: list[Any] = [fn, True]
        if self._cbs is None:
            self._cbs = []
        self._cbs.append(entry)

        def _call(ref: ObjectRef[T]) -> None:
            if entry[1]:
                entry[1] = False
                if context is not None:
                    context.run(fn, ref)
                else:
                    fn(ref)

        def _done(_f: PayloadFuture) -> None:
            if loop is None:
                _call(self)
            else:
                post(loop, _call, self)

        fut.add_done_callback(_done)

    def remove_done_callback(self, fn: Callable[[ObjectRef[T]], object]) -> int:
        """Stop a callback added with :meth:`add_done_callback`; return how many.

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> rt.put(1).remove_done_callback(print)
        0
        """
        n = 0
        for entry in self._cbs or ():
            if entry[0] == fn and entry[1]:
                entry[1] = False
                n += 1
        return n


class _Bindable(Protocol):
    _core: RuntimeCore | None


def bind_in_worker(obj: _Bindable, oid: int, error: Callable[[bool], BaseException]) -> RuntimeCore:
    """Bind the detached ref or handle ``obj`` (id ``oid``) to this worker's core, once.

    Only a worker's core: a driver cannot have made an object that existed before it.
    Elsewhere raise ``error(runtime_now)``, with ``runtime_now`` telling whether a
    runtime (another one) is running in this process.
    """
    current = _context.current()
    worker = None if current is None else _context.as_worker(current)
    if worker is None:
        raise error(current is not None)
    with _bind_lock:
        if obj._core is None:
            worker.add_ref(oid, False)
            obj._core = worker
        return obj._core


def detached_reason(what: str, runtime_now: bool, cannot: str, instead: str) -> str:
    """The message for a ref or handle unpickled where no runtime ran (what to do)."""
    where = (f"before the runtime of this process (pid {os.getpid()}) started, so it "
             f"belongs to another runtime" if runtime_now else
             f"in a process where no runtime is running (pid {os.getpid()})")
    return (f"{what} was unpickled {where}, and {cannot}; use it in the process that made "
            f"it ({instead}), or pass it to a task or actor of that runtime")


def _rebuild_ref(oid: int) -> ObjectRef[Any]:
    # Unpickling must never start a runtime: where none runs, the ref stays detached
    core = _context.current()
    if core is None:
        return ObjectRef._detached(oid)
    return ObjectRef(oid, core)
