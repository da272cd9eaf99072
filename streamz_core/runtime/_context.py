"""The runtime core of this process: the driver's, or a worker's link to the driver.

The public modules (``api``, ``object_ref``, ``remote_function``, ``actor``, ``context``)
talk to the core only through the protocols below; both the driver and the core inside a
worker process conform to :class:`RuntimeCore`, and each adds its own side
(:class:`DriverCore`, :class:`WorkerSideCore`). Code that has a core and needs one side
asks :func:`as_driver` / :func:`as_worker`, not ``getattr``.

``core()`` starts the runtime on first use (in the driver); ``current()`` never starts
anything, so code that only *might* need a runtime (unpickling a ref, ``is_initialized``)
uses ``current()``.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from collections.abc import Collection

    from ._actors import ActorRec
    from ._task import Task
    from .context import RuntimeStatistics
    from .object_ref import ObjectRef

#: A serialized value or error as the object store holds it (``payload[0] == "e"``: error).
Payload = tuple[Any, ...]


class PayloadFuture(Protocol):
    """The future of one object's payload (the runtime's light ``ObjFuture``)."""

    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> Any: ...

    def add_done_callback(self, fn: Callable[[Any], Any]) -> None: ...


class RuntimeCore(Protocol):
    """What the public runtime modules call on the core, in the driver and in workers."""

    @property
    def pid(self) -> int:
        """The process the core belongs to (a forked child must not use its parent's)."""
        ...

    @property
    def is_driver(self) -> bool:
        """True in the driver; then :func:`as_driver` gives its :class:`DriverCore`."""
        ...

    @property
    def shm_dir(self) -> str:
        """The session's shared-memory directory, where large values are written."""
        ...

    def new_id(self) -> int: ...

    # ``fresh``: the caller just registered the object (a new task result or put), so a
    # worker need not tell the driver about this first ref; the driver ignores it.
    def add_ref(self, oid: int, fresh: bool) -> None: ...

    def release(self, oid: int) -> None: ...

    def object_future(self, oid: int) -> PayloadFuture: ...

    def object_futures(self, oids: list[int]) -> Sequence[PayloadFuture]: ...

    def load(self, payload: Payload) -> Any: ...

    def check_blocking_get(self) -> None: ...

    def blocking(self) -> AbstractContextManager[Any]: ...

    def register_blob(self, key: bytes, blob_fn: Callable[[], bytes]) -> None: ...

    def submit(self, task: Task) -> None: ...

    def put(self, payload: Payload, oid: int) -> None: ...

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None: ...

    def create_actor(self, rec: ActorRec, blob_fn: Callable[[], bytes]) -> None: ...

    def kill_actor(self, aid: int, no_restart: bool) -> None: ...


class ObjectTableSide(Protocol):
    """The one call the public modules make on the driver's object table."""

    def new(self, oid: int) -> Any:
        """Register the future of a result or put before its first ref is made."""
        ...


class DriverCore(RuntimeCore, Protocol):
    """The driver's core: it owns the object table, the actor names and the figures."""

    @property
    def table(self) -> ObjectTableSide: ...

    def lookup_actor(self, name: str) -> ActorRec | None: ...

    def statistics(self) -> RuntimeStatistics:
        """A snapshot for ``rt.statistics()``, taken without stopping the runtime."""
        ...

    def shutdown(self) -> None: ...


class ActorHostSide(Protocol):
    """What ``runtime_context()`` reads of the actor hosted by a worker process."""

    @property
    def aid(self) -> int: ...

    @property
    def cancelled(self) -> Collection[int]: ...


class WorkerSideCore(RuntimeCore, Protocol):
    """A worker's core: its index, its actor host (if an actor) and the driver's names."""

    @property
    def index(self) -> int: ...

    @property
    def host(self) -> ActorHostSide | None: ...

    @property
    def cancelled(self) -> Collection[int]: ...

    def actor_info(self, name: str) -> tuple[int, str | None, dict[str, Any]] | None: ...


_core: RuntimeCore | None = None
_lock = threading.RLock()
# What starts the runtime on first use: ``api.init``, installed by ``api`` when imported
# (so this module, below every public one, imports none of them)
_starter: Callable[[], object] | None = None


def set_starter(start: Callable[[], object]) -> None:
    """Install the function that :func:`core` calls when no runtime runs yet."""
    global _starter
    _starter = start


def core() -> RuntimeCore:
    """Return this process's core, starting the runtime on first use (in the driver)."""
    c = _core
    if c is not None:
        if c.pid == os.getpid():
            return c
        set_core(None)  # a forked child: its parent's runtime is not usable here
    start = _starter
    if start is None:  # only if streamz_core.runtime itself was never imported
        raise RuntimeError("no runtime is running and none can start: import "
                           "streamz_core.runtime (its api module starts it on first use)")
    start()
    c = _core
    assert c is not None, "rt.init() returned without installing a core"
    return c


def current() -> RuntimeCore | None:
    """Return this process's core or None, without starting anything."""
    c = _core
    if c is not None and c.pid != os.getpid():
        return None
    return c


def session_of(ref: ObjectRef[Any]) -> RuntimeCore | None:
    """The runtime session (the core) ``ref`` belongs to; None for a detached ref.

    A ref keeps the core it was made in, so after ``rt.shutdown()`` :func:`is_current`
    tells that its session ended, even once a new runtime has started.
    """
    return ref._core


def is_current(c: object) -> bool:
    """True if ``c`` (for example :func:`session_of` a ref) is this process's running core."""
    return c is not None and c is current()


def set_core(c: RuntimeCore | None) -> None:
    """Install (or clear with None) this process's core."""
    global _core
    _core = c


def as_driver(c: RuntimeCore) -> DriverCore | None:
    """``c`` as the driver's core, or None in a worker process."""
    # the protocols cannot be narrowed by the ``is_driver`` flag itself: the flag is the
    # contract, checked here once
    return cast("DriverCore", c) if c.is_driver else None


def as_worker(c: RuntimeCore) -> WorkerSideCore | None:
    """``c`` as a worker's core, or None in the driver."""
    return None if c.is_driver else cast("WorkerSideCore", c)
