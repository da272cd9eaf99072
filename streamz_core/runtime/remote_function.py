"""Remote functions: ``@rt.remote`` on a function, ``f.remote(*args)``, ``f.options(...)``.

The function is pickled once (cloudpickle, keeping its file name and source lines so
remote tracebacks show them) per process and shipped once per worker, then
cached there. Arguments go in ``.remote(...)``, options in ``.options(...)``, so they never
collide.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import (
    Any,
    Generic,
    Literal,
    NoReturn,
    ParamSpec,
    Protocol,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from . import _context
from . import _serialization as ser
from ._task import Task, prep_args
from .object_ref import ObjectRef

__all__ = ["RemoteFunction", "MultiReturnFunction", "TaskOptions", "RetryExceptions"]

P = ParamSpec("P")
R = TypeVar("R")

#: ``retry_exceptions=``: True, False, or the exception classes to retry on.
RetryExceptions = bool | Sequence[type[BaseException]]


class TaskOptions(TypedDict, total=False):
    """The options of a remote function besides ``num_returns`` (see RemoteFunction).

    ``num_cpus``, ``num_gpus``, ``resources`` and ``scheduling_strategy`` are accepted for
    Ray code and make no difference: each task takes one worker.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> opts: TaskOptions = {"max_retries": 0, "name": "doc-task"}
    >>> @rt.remote
    ... def one():
    ...     return 1
    >>> rt.get(one.options(**opts).remote())
    1
    """

    max_retries: int
    retry_exceptions: RetryExceptions
    name: str | None
    num_cpus: float
    num_gpus: float
    resources: dict[str, float]
    scheduling_strategy: Any


_TASK_OPTIONS = {"num_returns", *TaskOptions.__annotations__}


def check_options(kind: str, opts: dict[str, Any], allowed: set[str]) -> None:
    """Validate option names and the common values; raise with a fix-it message."""
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise TypeError(
            f"{kind}: unknown option(s) {', '.join(map(repr, unknown))}; valid options are "
            f"{', '.join(sorted(allowed))}")
    n = opts.get("num_returns", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{kind}: num_returns={n!r} must be an int >= 1")
    for key in ("max_retries", "max_restarts", "max_task_retries"):
        v = opts.get(key, 0)
        if not isinstance(v, int) or isinstance(v, bool) or v < -1:
            raise ValueError(f"{kind}: {key}={v!r} must be an int >= 0, or -1 for no limit")
    rex = opts.get("retry_exceptions", False)
    if not (isinstance(rex, bool) or (isinstance(rex, (list, tuple)) and all(
            isinstance(c, type) and issubclass(c, BaseException) for c in rex))):
        raise ValueError(f"{kind}: retry_exceptions={rex!r} must be True, False or a list "
                         f"of exception classes")


class RemoteFunction(Generic[P, R]):
    """A function that runs as a task in a worker process; made by ``@rt.remote``.

    ``f.remote(*args, **kwargs)`` returns an :class:`ObjectRef` at once (a list of
    ``num_returns`` refs if more than one). Top-level ref arguments are replaced by their
    values before the call. A task whose worker dies is retried up to ``max_retries``
    times (default 3; -1 for ever); ``retry_exceptions=True`` (or a list of classes) also
    retries on exceptions raised by the function.

    Typing: ``@rt.remote`` on ``def f(x: int) -> str`` gives ``RemoteFunction[[int], str]``,
    so ``f.remote(x)`` is checked against ``f``'s parameters and returns
    ``ObjectRef[str]``. With ``num_returns=n`` (literally ``n != 1``, in ``@rt.remote`` or
    ``.options``) the type is :class:`MultiReturnFunction`, whose ``.remote`` returns
    ``list[ObjectRef[Any]]``: the element types of the returned tuple are not tracked. A
    top-level ref argument stands for its value at run time, but a type checker sees the
    ``ObjectRef``: pass such a ref where the parameter's type allows it (or ``cast``).

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote
    ... def add(a, b):
    ...     return a + b
    >>> rt.get(add.remote(1, 2))
    3
    >>> rt.get(add.remote(add.remote(1, 2), 10))
    13
    >>> q, r = add.options(num_returns=2).remote((7,), (2,))
    >>> rt.get([q, r])
    [7, 2]
    """

    def __init__(self, fn: Callable[P, R], options: dict[str, Any] | None = None,
                 key: bytes | None = None) -> None:
        opts: dict[str, Any] = {"num_returns": 1, "max_retries": 3, "retry_exceptions": False}
        opts.update(options or {})
        check_options(f"@rt.remote function {getattr(fn, '__name__', fn)!r}", opts,
                      _TASK_OPTIONS)
        self._function = fn
        self._options = opts
        self._key = key or os.urandom(12)
        self._blob: bytes | None = None
        self._name: str = str(opts.get("name") or getattr(fn, "__qualname__", repr(fn)))
        self.__name__: str = getattr(fn, "__name__", "remote_function")
        self.__qualname__: str = getattr(fn, "__qualname__", self.__name__)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            f"remote function {self._name!r} cannot be called directly; use "
            f"{self.__name__}.remote(...) to run it as a task (or "
            f"{self.__name__}.__wrapped__(...) to call the plain function here)")

    def __repr__(self) -> str:
        return f"<RemoteFunction {self._name}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteFunction, (self._function, self._options, self._key))

    def _get_blob(self) -> bytes:
        if self._blob is None:
            self._blob = ser.pickle_dumps(self._function)
        return self._blob

    # Literal[1] also matches the int overload, which returns another type: the first
    # match wins (as typeshed does for open()'s modes)
    @overload
    def options(  # type: ignore[overload-overlap]
            self, *, num_returns: Literal[1] = ...,
            **options: Unpack[TaskOptions]) -> RemoteFunction[P, R]: ...

    @overload
    def options(self, *, num_returns: int,
                **options: Unpack[TaskOptions]) -> MultiReturnFunction[P]: ...

    def options(self, **options: Any) -> Any:
        """Return a copy with some options changed (for the next ``.remote`` calls).

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> @rt.remote
        ... def pair():
        ...     return 1, 2
        >>> a, b = pair.options(num_returns=2).remote()
        >>> rt.get(b)
        2
        """
        opts = dict(self._options)
        opts.update(options)
        rf: RemoteFunction[P, R] = RemoteFunction(self._function, opts, self._key)
        rf._blob = self._blob
        return rf

    def remote(self, *args: P.args, **kwargs: P.kwargs) -> ObjectRef[R]:
        """Submit one call as a task; return its :class:`ObjectRef` (or refs).

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> @rt.remote
        ... def square(x):
        ...     return x * x
        >>> rt.get([square.remote(i) for i in range(4)])
        [0, 1, 4, 9]
        """
        core = _context.core()
        opts = self._options
        n = opts["num_returns"]
        out_ids = [core.new_id() for _ in range(n)]
        payload, dep_pos, dep_ids, holds = prep_args(args, kwargs, core.shm_dir,
                                                     f"a{out_ids[0]:x}")
        core.register_blob(self._key, self._get_blob)
        task = Task(out_ids[0], "task", self._key, payload, dep_pos, dep_ids, out_ids, n,
                    opts["max_retries"], opts["retry_exceptions"], self._name, holds)
        driver = _context.as_driver(core)
        if driver is not None:
            for oid in out_ids:
                driver.table.new(oid)
        refs: list[ObjectRef[Any]] = [ObjectRef(oid, core, True) for oid in out_ids]
        core.submit(task)
        # typed for num_returns=1; with more, the static type is MultiReturnFunction
        return refs[0] if n == 1 else refs  # type: ignore[return-value]


class MultiReturnFunction(Protocol[P]):
    """The static type of a remote function with ``num_returns`` > 1 (see RemoteFunction).

    At run time it is a :class:`RemoteFunction`; this protocol only tells a type checker
    that ``.remote(...)`` returns a list of refs, one per returned value.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote(num_returns=2)
    ... def halves(x):
    ...     return x // 2, x - x // 2
    >>> rt.get(halves.remote(5))
    [2, 3]
    """

    def remote(self, *args: P.args, **kwargs: P.kwargs) -> list[ObjectRef[Any]]: ...

    @overload
    def options(  # type: ignore[overload-overlap]  # first match wins, as above
            self, *, num_returns: Literal[1],
            **options: Unpack[TaskOptions]) -> RemoteFunction[P, Any]: ...

    @overload
    def options(self, *, num_returns: int = ...,
                **options: Unpack[TaskOptions]) -> MultiReturnFunction[P]: ...
