"""The runtime's functions: init/shutdown, get/wait/put, cancel/kill, get_actor, remote.

``runtime_context()`` and ``statistics()`` are in :mod:`streamz_core.runtime.context`.

``init`` is optional: the first remote call starts the runtime with the defaults. It is
shut down at interpreter exit (``atexit``), leaving no process or file behind.
"""
from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    ParamSpec,
    Protocol,
    TypeVar,
    Unpack,
    overload,
)

from . import _checks, _context, _session_dirs
from . import _serialization as ser

# importable from here as before (tests, and the users who set the variable)
from ._session_dirs import SHM_DIR_ENV as SHM_DIR_ENV
from ._session_dirs import clean_stale as _clean_stale
from .actor import ActorClass, ActorHandle, ActorOptions
from .exceptions import GetTimeoutError
from .object_ref import ObjectRef
from .remote_function import MultiReturnFunction, RemoteFunction, TaskOptions

if TYPE_CHECKING:
    import asyncio

    from ._context import PayloadFuture

__all__ = ["init", "shutdown", "is_initialized", "remote", "get", "wait", "put", "cancel",
           "kill", "get_actor", "as_future", "RemoteOptions", "RemoteDecorator",
           "MultiReturnDecorator"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def init(num_workers: int | None = None, object_store_memory: int | None = None,
         spill_dir: str | None = None, *, ignore_reinit_error: bool = False) -> None:
    """Start the runtime: ``num_workers`` task processes (default: one per core).

    ``object_store_memory`` (bytes; default 30 % of RAM, at most half of the free space of
    ``/dev/shm``) bounds the shared memory used by large objects; past it the least
    recently used ones spill to files in ``spill_dir`` (default: a temporary directory),
    and an object larger than the limit is written there directly. Spilled objects are
    read from disk, zero-copy through ``mmap``. Calling ``init`` is optional; the first
    ``.remote()`` call starts the runtime with the defaults.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> rt.init(ignore_reinit_error=True)
    >>> rt.is_initialized()
    True
    """
    with _context._lock:
        core = _context.current()
        if core is not None:
            if not core.is_driver or ignore_reinit_error:
                return
            if (num_workers, object_store_memory, spill_dir) == (None, None, None):
                return
            raise RuntimeError(
                "rt.init() was called with options but the runtime is already running; "
                "call rt.shutdown() first, or pass ignore_reinit_error=True")
        if num_workers is None:
            num_workers = os.cpu_count() or 1
        if not _checks.is_count(num_workers, 1):
            raise ValueError(f"rt.init(num_workers={num_workers!r}): num_workers must be an "
                             f"int >= 1 (or None for one per core)")
        if object_store_memory is not None and not _checks.is_count(object_store_memory, 1):
            raise ValueError(f"rt.init(object_store_memory={object_store_memory!r}): give a "
                             f"number of bytes >= 1 (or None for 30 % of RAM, at most half "
                             f"of the free shared memory)")
        import tempfile

        from .driver import Driver

        shm_root = _session_dirs.shm_root()
        _clean_stale()  # first: dead sessions' files must not count against the free space
        if object_store_memory is None:
            object_store_memory = _session_dirs.default_memory(shm_root)
        tag = f"{_session_dirs.PREFIX}{os.getpid()}-"
        shm_dir = tempfile.mkdtemp(prefix=tag, dir=shm_root)
        if spill_dir is not None:
            os.makedirs(spill_dir, exist_ok=True)
        spill = tempfile.mkdtemp(prefix=tag, dir=spill_dir)
        global _atexit_registered
        driver: _context.DriverCore = Driver(num_workers, object_store_memory, shm_dir,
                                             spill)
        _context.set_core(driver)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True


_atexit_registered = False
_context.set_starter(init)  # the first remote call, put or get starts the runtime


def is_initialized() -> bool:
    """Return True if the runtime is running in this process (driver or worker).

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> isinstance(rt.is_initialized(), bool)
    True
    """
    return _context.current() is not None


def shutdown() -> None:
    """Stop every worker and actor process and remove the session's files.

    Pending refs raise :class:`ObjectLostError` afterwards. The next remote call starts a
    new runtime.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> rt.shutdown()
    >>> rt.is_initialized()
    False
    """
    with _context._lock:
        core = _context.current()
        driver = None if core is None else _context.as_driver(core)
        if driver is None:
            return
        _context.set_core(None)
        driver.shutdown()  # it also removes the session's directories


class RemoteOptions(TaskOptions, ActorOptions, total=False):
    """Every option ``@rt.remote(...)`` takes (task and actor options; see their types).

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> opts: RemoteOptions = {"max_retries": 1}
    >>> @rt.remote(**opts)
    ... def two():
    ...     return 2
    >>> rt.get(two.remote())
    2
    """


class RemoteDecorator(Protocol):
    """What ``@rt.remote(...)`` returns: it makes a remote function or an actor class.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> deco: RemoteDecorator = rt.remote(max_retries=0)
    >>> rt.get(deco(abs).remote(-3))
    3
    """

    @overload  # a class is also a callable: its overload comes first and wins
    def __call__(self, obj: type[T], /) -> ActorClass[T]: ...  # type: ignore[overload-overlap]

    @overload
    def __call__(self, obj: Callable[P, R], /) -> RemoteFunction[P, R]: ...


class MultiReturnDecorator(Protocol):
    """What ``@rt.remote(num_returns=n)`` returns for ``n`` > 1 (functions only).

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> deco: MultiReturnDecorator = rt.remote(num_returns=2)
    >>> rt.get(deco(divmod).remote(7, 2))
    [3, 1]
    """

    def __call__(self, fn: Callable[P, Any], /) -> MultiReturnFunction[P]: ...


# A class is also a callable returning its instances: the class overload comes first and
# wins (mypy flags the overlap of the two, which is the point of the order)
@overload
def remote(obj: type[T], /) -> ActorClass[T]: ...  # type: ignore[overload-overlap]


@overload
def remote(obj: Callable[P, R], /) -> RemoteFunction[P, R]: ...


# num_returns=1 (a Literal) also matches the int overload below: the first match wins
@overload
def remote(  # type: ignore[overload-overlap]
        *, num_returns: Literal[1] = ..., **options: Unpack[RemoteOptions]) -> RemoteDecorator: ...


@overload
def remote(*, num_returns: int, **options: Unpack[RemoteOptions]) -> MultiReturnDecorator: ...


def remote(*args: Any, **options: Any) -> Any:
    """Make a remote function (``@rt.remote``) or an actor class (on a class).

    Use it bare or with options: ``@rt.remote(num_returns=2, max_retries=0)``,
    ``@rt.remote(max_concurrency=10)``.

    Typing: on ``def f(x: int) -> str`` it gives ``RemoteFunction[[int], str]`` (so
    ``f.remote("a")`` is a type error and ``rt.get(f.remote(1))`` is a ``str``); with
    ``num_returns=n`` for a literal ``n > 1``, a :class:`MultiReturnFunction` whose
    ``.remote`` returns a list of refs; on ``class C`` an ``ActorClass[C]`` (see
    :mod:`streamz_core.runtime.actor` for what is checked of actors).

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote(max_retries=1)
    ... def double(x):
    ...     return 2 * x
    >>> rt.get(double.remote(21))
    42
    """
    if len(args) == 1 and not options and (callable(args[0])):
        return _make(args[0], {})
    if args:
        raise TypeError(f"rt.remote takes a function or class, or only keyword options; got "
                        f"{args!r}; write @rt.remote or @rt.remote(max_retries=1)")
    return lambda obj: _make(obj, options)


def _make(obj: Any, options: dict[str, Any]) -> Any:
    import inspect

    if inspect.isclass(obj):
        return ActorClass(obj, options)
    if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
        raise ValueError(
            f"@rt.remote cannot make a task of the async function {obj.__name__!r}; put it "
            f"in an async actor (an @rt.remote class with async def methods), or make it a "
            f"plain def")
    if not callable(obj):
        raise TypeError(f"@rt.remote needs a function or a class, got {obj!r}")
    return RemoteFunction(obj, options)


def _bound_core(lst: list[ObjectRef[Any]]) -> _context.RuntimeCore:
    """The core of the refs (binding detached ones here); the current one for none."""
    if not lst:
        return _context.core()
    for r in lst:
        if r._core is None:
            r._bound()  # unpickled before a runtime ran here: bind, or say what to do
    return lst[0]._bound()


@overload
def get(refs: ObjectRef[R], *, timeout: float | None = None) -> R: ...


@overload
def get(refs: Sequence[ObjectRef[R]], *, timeout: float | None = None) -> list[R]: ...


def get(refs: ObjectRef[Any] | Sequence[ObjectRef[Any]], *,
        timeout: float | None = None) -> Any:
    """Block until the value(s) are ready and return them (a list keeps input order).

    Raises the remote exception as its original class, or :class:`GetTimeoutError`
    (a ``TimeoutError``) after ``timeout`` seconds. Inside an async actor, prefer
    ``await ref``: a blocking get stalls the actor's loop (it works, with a warning).

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> rt.get([rt.put(1), rt.put(2)])
    [1, 2]
    """
    if timeout is not None:
        timeout = _checks.check_timeout(timeout, "get")
    if type(refs) is ObjectRef:  # fast path: one ref
        payload = refs._payload(timeout)
        if payload[0] == "e":  # raised here: the user's traceback ends at rt.get
            raise ser.error_from_payload(payload)
        return refs._load(payload)
    lst = _checks.as_refs(refs, "get")
    core = _bound_core(lst)
    futs = core.object_futures([r._id for r in lst])
    core.check_blocking_get()
    if not all(f.done() for f in futs):
        with core.blocking():
            if not _wait_count(futs, len(futs), timeout):
                n = sum(not f.done() for f in futs)
                raise GetTimeoutError(
                    f"rt.get timed out after timeout={timeout!r} s with {n} of {len(futs)} "
                    f"ref(s) not ready; raise the timeout or use rt.wait(refs, timeout=...) "
                    f"to take what is ready")
    payloads = [f.result() for f in futs]
    for payload in payloads:
        if payload[0] == "e":  # raised here: the user's traceback ends at rt.get
            raise ser.error_from_payload(payload)
    values = [core.load(payload) for payload in payloads]
    return values[0] if isinstance(refs, ObjectRef) else values


def _wait_count(futs: Sequence[PayloadFuture], need: int, timeout: float | None) -> bool:
    if sum(f.done() for f in futs) >= need:
        return True
    cond = threading.Condition()
    count = [0]

    def _cb(_f: Any) -> None:
        with cond:
            count[0] += 1
            if count[0] >= need:
                cond.notify_all()

    for f in futs:
        f.add_done_callback(_cb)
    with cond:
        return cond.wait_for(lambda: count[0] >= need, timeout)


def wait(refs: Sequence[ObjectRef[R]], *, num_returns: int = 1, timeout: float | None = None,
         fetch_local: bool = True) -> tuple[list[ObjectRef[R]], list[ObjectRef[R]]]:
    """Wait until ``num_returns`` refs are ready or ``timeout`` s pass.

    Returns ``(ready, not_ready)``, both in input order; ``ready`` holds at most
    ``num_returns`` refs.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> a, b = rt.put(1), rt.put(2)
    >>> ready, rest = rt.wait([a, b], num_returns=2)
    >>> ready == [a, b], rest
    (True, [])
    """
    timeout = _checks.check_timeout(timeout, "wait")
    lst = _checks.as_refs(refs, "wait")
    if not _checks.is_count(num_returns, 0) or num_returns > len(lst):
        raise ValueError(f"rt.wait(num_returns={num_returns!r}) must be between 0 and the "
                         f"number of refs ({len(lst)})")
    core = _bound_core(lst)
    futs = core.object_futures([r._id for r in lst])
    if sum(f.done() for f in futs) < num_returns:
        with core.blocking():
            _wait_count(futs, num_returns, timeout)
    ready: list[ObjectRef[R]] = []
    rest: list[ObjectRef[R]] = []
    for r, f in zip(lst, futs, strict=True):
        (ready if f.done() and len(ready) < num_returns else rest).append(r)
    return ready, rest


def put(value: R) -> ObjectRef[R]:
    """Store ``value`` in the object store; return a ref to pass to tasks and actors.

    Large numpy arrays and other buffers go to shared memory once; every get then returns
    a read-only zero-copy view.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> ref = rt.put({"a": 1})
    >>> rt.get(ref)
    {'a': 1}
    """
    if isinstance(value, ObjectRef):
        raise TypeError(f"rt.put() got {value!r}, which is already an ObjectRef; pass it "
                        f"directly to tasks (or wrap it in a list to store the ref itself)")
    core = _context.core()
    oid = core.new_id()
    payload = ser.dumps_value(value, core.shm_dir, f"{oid:x}", what="value given to rt.put")
    driver = _context.as_driver(core)
    if driver is not None:
        driver.table.new(oid)
    ref: ObjectRef[R] = ObjectRef(oid, core, True)
    core.put(payload, oid)
    return ref


def cancel(ref: ObjectRef[Any], *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task or actor call behind ``ref``.

    Pending work is dropped; a running task gets ``KeyboardInterrupt`` (``force=True``
    kills its worker instead); a running async actor call is cancelled; a running sync
    actor call only sees ``rt.runtime_context().is_canceled()``. ``rt.get(ref)`` then
    raises :class:`TaskCancelledError`. Cancelled work is not retried. With
    ``recursive=True`` (the default) the tasks and actor calls that the cancelled task
    submitted and that are still pending or running are cancelled too.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> rt.cancel(rt.put(1))  # already done: nothing happens
    """
    if not isinstance(ref, ObjectRef):
        raise TypeError(f"rt.cancel() takes an ObjectRef, got {ref!r}")
    ref._bound().cancel(ref._id, force, recursive)


def kill(actor: ActorHandle[Any], *, no_restart: bool = True) -> None:
    """Kill an actor's process at once; with ``no_restart=False`` it may restart.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote
    ... class A:
    ...     pass
    >>> rt.kill(A.remote())
    """
    if not isinstance(actor, ActorHandle):
        raise TypeError(f"rt.kill() takes an actor handle, got {actor!r}; to stop a task use "
                        f"rt.cancel(ref, force=True)")
    _context.core().kill_actor(actor._aid, no_restart)


def get_actor(name: str) -> ActorHandle[Any]:
    """Return the handle of the live actor created with ``options(name=name)``.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> try:
    ...     rt.get_actor("no-such-actor")
    ... except ValueError as e:
    ...     print(str(e).split(";")[0])
    no live actor is named 'no-such-actor'
    """
    core = _context.core()
    driver = _context.as_driver(core)
    worker = _context.as_worker(core)
    info: tuple[int, str | None, dict[str, Any]] | None = None
    if driver is not None:
        rec = driver.lookup_actor(name)
        info = None if rec is None else (rec.aid, rec.name, rec.meta)
    elif worker is not None:
        info = worker.actor_info(name)
    if info is None:
        raise ValueError(f"no live actor is named {name!r}; create it with "
                         f"Cls.options(name={name!r}).remote() first")
    return ActorHandle(*info, core)


def as_future(ref: ObjectRef[R],
              loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[R]:
    """Return an asyncio future of ``ref``'s value on ``loop``.

    The default is the running loop, else this thread's event loop (the one
    ``asyncio.get_event_loop()`` returns), as for ``asyncio.wrap_future``.

    Examples
    --------
    >>> import asyncio
    >>> import streamz_core.runtime as rt
    >>> async def main():
    ...     return await rt.as_future(rt.put(5))
    >>> asyncio.run(main())
    5
    """
    return ref.as_future(loop)
