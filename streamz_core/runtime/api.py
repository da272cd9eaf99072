"""The runtime's functions: init/shutdown, get/wait/put, cancel/kill, get_actor, remote.

``runtime_context()`` and ``statistics()`` are in :mod:`streamz_core.runtime.context`.

``init`` is optional: the first remote call starts the runtime with the defaults. It is
shut down at interpreter exit (``atexit``), leaving no process or file behind.
"""
from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING, Any, Sequence

from . import _context
from . import _serialization as ser
from .actor import ActorClass, ActorHandle
from .exceptions import GetTimeoutError
from .object_ref import ObjectRef
from .remote_function import RemoteFunction

if TYPE_CHECKING:
    import asyncio

__all__ = ["init", "shutdown", "is_initialized", "remote", "get", "wait", "put", "cancel",
           "kill", "get_actor", "as_future"]

_PREFIX = "streamz-rt-"


def _default_memory(shm_root: str) -> int:
    """30 % of RAM, but at most half of the free space of the shared-memory filesystem.

    Docker gives containers a 64 MB ``/dev/shm`` whatever the RAM: a limit above its free
    space would never spill and fail with ``ENOSPC`` instead. The other half leaves room
    for results and arguments still being written when the store is at its limit.
    """
    from ._shm_files import free_bytes

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 << 30
    return max(ser.INLINE_MAX, min(max(75 << 20, int(total * 0.3)), free_bytes(shm_root) // 2))


#: Environment variable naming the directory under which sessions keep their
#: shared-memory files (default ``/dev/shm``); tests point it at a small tmpfs.
SHM_DIR_ENV = "STREAMZ_CORE_SHM_DIR"


def _shm_root() -> str:
    import tempfile

    root = os.environ.get(SHM_DIR_ENV)
    if root:
        if not os.path.isdir(root):
            raise ValueError(f"{SHM_DIR_ENV}={root!r} is not a directory; set it to an "
                             f"existing directory (a tmpfs mount) or unset it for /dev/shm")
        return root
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def _clean_stale() -> None:
    import glob
    import shutil
    import tempfile

    for root in {_shm_root(), tempfile.gettempdir()}:
        for path in glob.glob(os.path.join(root, _PREFIX + "*")):
            try:
                pid = int(os.path.basename(path)[len(_PREFIX):].split("-")[0])
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(path, ignore_errors=True)
            except (ValueError, OSError):
                pass


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
        if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 1:
            raise ValueError(f"rt.init(num_workers={num_workers!r}): num_workers must be an "
                             f"int >= 1 (or None for one per core)")
        if object_store_memory is not None and (
                not isinstance(object_store_memory, int) or isinstance(object_store_memory, bool)
                or object_store_memory < 1):
            raise ValueError(f"rt.init(object_store_memory={object_store_memory!r}): give a "
                             f"number of bytes >= 1 (or None for 30 % of RAM, at most half "
                             f"of the free shared memory)")
        import tempfile

        from ._scheduler import Driver

        shm_root = _shm_root()
        _clean_stale()  # first: dead sessions' files must not count against the free space
        if object_store_memory is None:
            object_store_memory = _default_memory(shm_root)
        tag = f"{_PREFIX}{os.getpid()}-"
        shm_dir = tempfile.mkdtemp(prefix=tag, dir=shm_root)
        if spill_dir is not None:
            os.makedirs(spill_dir, exist_ok=True)
        spill = tempfile.mkdtemp(prefix=tag, dir=spill_dir)
        core = Driver(num_workers, object_store_memory, shm_dir, spill)
        core.session_dirs = (shm_dir, spill)
        _context.set_core(core)
        if not getattr(init, "_atexit", False):
            atexit.register(shutdown)
            init._atexit = True  # type: ignore[attr-defined]


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
        if core is None or not core.is_driver:
            return
        _context.set_core(None)
        core.shutdown()
        import shutil

        for d in getattr(core, "session_dirs", ()):
            shutil.rmtree(d, ignore_errors=True)


def remote(*args: Any, **options: Any) -> Any:
    """Make a remote function (``@rt.remote``) or an actor class (on a class).

    Use it bare or with options: ``@rt.remote(num_returns=2, max_retries=0)``,
    ``@rt.remote(max_concurrency=10)``.

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


def _make(obj: Any, options: dict) -> Any:
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


def _as_refs(refs: Any, fn: str) -> list[ObjectRef]:
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


def _check_timeout(timeout: Any, fn: str) -> float | None:
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


def get(refs: ObjectRef | Sequence[ObjectRef], *, timeout: float | None = None) -> Any:
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
        timeout = _check_timeout(timeout, "get")
    if type(refs) is ObjectRef:  # fast path: one ref
        payload = refs._payload(timeout)
        if payload[0] == "e":  # raised here: the user's traceback ends at rt.get
            raise ser.error_from_payload(payload)
        return refs._core.load(payload)
    lst = _as_refs(refs, "get")
    core = lst[0]._core if lst else _context.core()
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


def _wait_count(futs: list, need: int, timeout: float | None) -> bool:
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


def wait(refs: Sequence[ObjectRef], *, num_returns: int = 1, timeout: float | None = None,
         fetch_local: bool = True) -> tuple[list[ObjectRef], list[ObjectRef]]:
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
    timeout = _check_timeout(timeout, "wait")
    lst = _as_refs(refs, "wait")
    if not isinstance(num_returns, int) or not 0 <= num_returns <= len(lst):
        raise ValueError(f"rt.wait(num_returns={num_returns!r}) must be between 0 and the "
                         f"number of refs ({len(lst)})")
    core = lst[0]._core if lst else _context.core()
    futs = core.object_futures([r._id for r in lst])
    if sum(f.done() for f in futs) < num_returns:
        with core.blocking():
            _wait_count(futs, num_returns, timeout)
    ready: list = []
    rest: list = []
    for r, f in zip(lst, futs):
        (ready if f.done() and len(ready) < num_returns else rest).append(r)
    return ready, rest


def put(value: Any) -> ObjectRef:
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
    if core.is_driver:
        core.table.new(oid)
    ref = ObjectRef(oid, core, True)
    core.put(payload, oid)
    return ref


def cancel(ref: ObjectRef, *, force: bool = False, recursive: bool = True) -> None:
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
    ref._core.cancel(ref._id, force, recursive)


def kill(actor: ActorHandle, *, no_restart: bool = True) -> None:
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


def get_actor(name: str) -> ActorHandle:
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
    if core.is_driver:
        rec = core.lookup_actor(name)
        info = None if rec is None else (rec.aid, rec.name, rec.meta)
    else:
        info = core.actor_info(name)
    if info is None:
        raise ValueError(f"no live actor is named {name!r}; create it with "
                         f"Cls.options(name={name!r}).remote() first")
    return ActorHandle(*info)


def as_future(ref: ObjectRef, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future:
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
