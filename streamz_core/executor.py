"""The executor protocol: how stream nodes hand work to a backend, and how backends are found.

After ``scatter``, ``map``/``starmap``/``accumulate`` submit their function to the
stream's executor instead of calling it, and elements become *refs*: the backend's
handles on results that live elsewhere. ``gather`` turns refs back into values, in
order. The graph reaches a backend only through :class:`Executor`; backends live in
``streamz_core.backends`` and are found by name through the entry-point group
``streamz_core.backends``, so a third-party package can add one.

Threading rules: every method is called on the graph's event loop thread, and
``submit``/``scatter`` must not block it.
"""
from __future__ import annotations

import sys
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Executor",
    "ExecutorClosedError",
    "LocalValue",
    "NotSerializableError",
    "RemoteFailure",
    "Settled",
    "available_backends",
    "get_executor",
    "local_value",
    "note_origin",
    "origin_of",
]

_GROUP = "streamz_core.backends"


@runtime_checkable
class Executor(Protocol):
    """What a backend implements (see ``streamz_core.testing.check_executor``).

    Refs are whatever the backend uses for a result that lives elsewhere (a Dask
    future, a runtime ObjectRef, an asyncio future over a pool's future). ``submit``
    receives refs among its arguments and must resolve them to values before calling
    ``func`` (on the backend's side, ideally without bringing them back here).

    Examples
    --------
    >>> from streamz_core.backends.threads import ThreadExecutor
    >>> isinstance(ThreadExecutor(max_workers=1), Executor)
    True
    """

    name: str

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Start ``func(*args, **kwargs)`` and return a ref to its result, at once."""
        ...

    def scatter(self, value: Any) -> Any:
        """Return a ref for a local value (may defer sending it until it is used)."""
        ...

    def gather(self, ref: Any) -> Awaitable[Any]:
        """Return an awaitable of the value behind ``ref`` (raises the remote error)."""
        ...

    def is_ref(self, obj: Any) -> bool:
        """True when ``obj`` is one of this backend's refs."""
        ...

    def release(self, ref: Any) -> None:
        """The stream no longer needs ``ref``: the backend may free its result."""
        ...

    def close(self) -> None:
        """Release what the executor started (idempotent)."""
        ...

    # Optional: ``settles_arguments = True`` when ``submit`` accepts ``Settled(ref)``
    # arguments (see :class:`Settled`); without it, a failed ref argument fails the call.


class Settled:
    """An argument of ``submit`` whose failure must not fail the call.

    A backend whose ``settles_arguments`` attribute is true accepts ``Settled(ref)``
    among the positional arguments of ``submit``: the function then receives the value
    behind ``ref``, or a :class:`RemoteFailure` if the call that made ``ref`` failed,
    instead of not running at all. ``accumulate`` uses it to keep its state when an
    upstream element fails, as a local ``accumulate`` that never sees that element.

    Examples
    --------
    >>> Settled(3).ref
    3
    """

    __slots__ = ("ref",)

    def __init__(self, ref: Any):
        self.ref = ref

    def __repr__(self) -> str:
        return f"Settled({self.ref!r})"


class RemoteFailure:
    """Given to a function in place of a :class:`Settled` argument whose call failed.

    Examples
    --------
    >>> RemoteFailure(KeyError(2)).exception
    KeyError(2)
    """

    __slots__ = ("exception",)

    def __init__(self, exception: BaseException):
        self.exception = exception

    def __reduce__(self) -> Any:
        return RemoteFailure, (self.exception,)

    def __repr__(self) -> str:
        return f"RemoteFailure({self.exception!r})"


class NotSerializableError(TypeError):
    """An element, or the function given to a node, cannot be pickled to reach the workers.

    Raised for that element alone: the others of its batch, and later ones, go on.

    Examples
    --------
    >>> issubclass(NotSerializableError, TypeError)
    True
    """


class ExecutorClosedError(RuntimeError):
    """The executor (or the cluster client behind it) closed while elements were in flight.

    One instance is raised for all of them, once, saying how many there were.

    Examples
    --------
    >>> str(ExecutorClosedError("the Dask client closed with 3 elements in flight"))
    'the Dask client closed with 3 elements in flight'
    """


# Which node submitted a ref, and with which element: lets gather() name the node and
# the element when the remote call fails, and route the failure to that node's
# on_exception(). Weak keys: a ref dropped on the way (slice, latest) leaves nothing.
_origins: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def note_origin(ref: Any, node: Any, element: Any) -> Any:
    """Remember that ``node`` made ``ref`` from ``element``; return ``ref``.

    Refs that cannot be weakly referenced are not remembered (their failures then name
    the nodes that may have made them).

    Examples
    --------
    >>> import asyncio
    >>> ref = asyncio.Future(loop=asyncio.new_event_loop())
    >>> note_origin(ref, 'node', 3) is ref, origin_of(ref)
    (True, ('node', 3))
    """
    try:
        _origins[ref] = (node, element)
    except TypeError:  # not weakly referenceable, or unhashable
        pass
    return ref


def origin_of(ref: Any) -> tuple[Any, Any] | None:
    """``(node, element)`` given to :func:`note_origin` for ``ref``, or ``None``."""
    try:
        return _origins.get(ref)
    except TypeError:
        return None


class LocalValue:
    """A scattered element that has not left this process yet.

    Backends that send an element together with the task that uses it (one round
    trip instead of two) return this from ``scatter`` and unwrap it in ``submit``.

    Examples
    --------
    >>> LocalValue(3).value
    3
    """

    __slots__ = ("value", "__weakref__")

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return f"LocalValue({self.value!r})"


def local_value(x: Any) -> Any:
    """The element itself if ``x`` is a :class:`LocalValue`, else ``x`` (for error notes).

    Examples
    --------
    >>> local_value(LocalValue(3)), local_value(4)
    (3, 4)
    """
    return x.value if isinstance(x, LocalValue) else x


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=_GROUP)}


def available_backends() -> list[str]:
    """The names of the installed backends.

    Examples
    --------
    >>> {'threads', 'processes'} <= set(available_backends())
    True
    """
    return sorted(_entry_points())


def _default_dask_client() -> Any:
    if "distributed" not in sys.modules:  # never import Dask just to look for a client
        return None
    try:
        from distributed import default_client

        # Through a typed name: distributed leaves default_client unannotated.
        get_client: Callable[[], Any] = default_client
        return get_client()
    except (ImportError, ValueError):
        return None


def _load(name: str) -> Callable[..., Executor]:
    eps = _entry_points()
    if name not in eps:
        raise ValueError(
            f"scatter(backend={name!r}): no backend of that name is installed; "
            f"installed: {', '.join(sorted(eps)) or 'none'}. Pass one of those names, "
            "an executor object, a distributed.Client or a concurrent.futures pool"
        )
    factory: Callable[..., Executor] = eps[name].load()  # an Executor class
    return factory


def get_executor(backend: Any = None, **options: Any) -> Executor:
    """Resolve ``scatter(backend=...)`` to an executor.

    An executor object is used as it is; a ``concurrent.futures`` pool is wrapped; a
    ``distributed.Client`` selects the ``dask`` backend; a name is looked up among the
    installed backends. With ``None``: the active default Dask client if there is one,
    else the built-in runtime.

    Examples
    --------
    >>> ex = get_executor('threads', max_workers=2)
    >>> ex.name
    'threads'
    >>> ex.close()
    >>> get_executor('warp-drive')
    Traceback (most recent call last):
    ...
    ValueError: scatter(backend='warp-drive'): no backend of that name is installed; ...
    """
    import concurrent.futures

    if backend is None:
        client = _default_dask_client()
        backend = client if client is not None else "runtime"
    if isinstance(backend, str):
        return _load(backend)(**options)
    if isinstance(backend, concurrent.futures.Executor):
        return _load("threads")(pool=backend, **options)
    if type(backend).__module__.startswith("distributed"):
        return _load("dask")(backend, **options)
    if isinstance(backend, Executor):
        return backend
    raise TypeError(
        f"scatter(backend={backend!r}): expected a backend name ({', '.join(available_backends())}), "
        "an executor object, a distributed.Client or a concurrent.futures pool"
    )
