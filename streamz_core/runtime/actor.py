"""Actors: ``@rt.remote`` on a class, handles, methods, concurrency groups, exit_actor.

Each actor lives in its own process. Which executor runs its calls is decided once, from
the class: any ``async def`` method makes it an *async actor* (all methods on one event
loop, up to ``max_concurrency`` calls at once, default 1000); otherwise ``max_concurrency``
1 (the default) gives a *sync actor* that runs calls one at a time in submission order,
and N > 1 a *threaded actor* with a pool of N threads. ``concurrency_groups`` give named
groups their own pool or loop, chosen per method with ``@rt.method(concurrency_group=)``.

Handles are picklable: pass them to tasks and other actors. An actor lives until
``rt.kill``, ``rt.exit_actor()`` inside it, ``rt.shutdown()``, or, for an unnamed actor,
until no handle to it remains in any process and none of its calls is pending.

Typing: ``@rt.remote`` on ``class C`` gives ``ActorClass[C]``, and ``C.remote(...)`` an
``ActorHandle[C]``. Without a mypy plugin a type checker cannot turn ``C``'s methods into
remote methods, so ``handle.m`` is an ``ActorMethod[Any]``: ``handle.m.remote(...)`` is
an ``ObjectRef[Any]``, its arguments are not checked against ``C.m``, and a misspelt
method is found at run time (an ``AttributeError`` naming the methods). The constructor
arguments of ``C.remote(...)`` are not checked either. Annotate the result where you know
it (``ref: rt.ObjectRef[int] = h.m.remote()``).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    NoReturn,
    Protocol,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from . import _context
from . import _serialization as ser
from ._actors import ActorRec
from ._task import Task, prep_args
from .object_ref import ObjectRef, bind_in_worker, detached_reason
from .remote_function import check_options

if TYPE_CHECKING:
    from ._context import RuntimeCore

__all__ = ["ActorClass", "ActorHandle", "ActorMethod", "MultiReturnMethod", "ActorOptions",
           "method", "exit_actor"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
R = TypeVar("R")

class ActorOptions(TypedDict, total=False):
    """The options of an actor class, for ``@rt.remote(...)`` and ``Cls.options(...)``.

    ``num_cpus``, ``num_gpus``, ``resources``, ``namespace``, ``lifetime`` and
    ``scheduling_strategy`` are accepted for Ray code and make no difference.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> opts: ActorOptions = {"max_concurrency": 2, "max_restarts": 1}
    >>> @rt.remote
    ... class Pool:
    ...     def ping(self):
    ...         return "pong"
    >>> rt.get(Pool.options(**opts).remote().ping.remote())
    'pong'
    """

    max_concurrency: int
    concurrency_groups: dict[str, int]
    max_restarts: int
    max_task_retries: int
    name: str | None
    get_if_exists: bool
    num_cpus: float
    num_gpus: float
    resources: dict[str, float]
    namespace: str | None
    lifetime: str | None
    scheduling_strategy: Any


_ACTOR_OPTIONS = set(ActorOptions.__annotations__)


def method(*, concurrency_group: str | None = None,
           num_returns: int | None = None) -> Callable[[F], F]:
    """Set per-method options of an actor class: its concurrency group, num_returns.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote(concurrency_groups={"io": 2})
    ... class Service:
    ...     @rt.method(concurrency_group="io")
    ...     def fetch(self, x):
    ...         return x
    >>> s = Service.remote()
    >>> rt.get(s.fetch.remote(5))
    5
    """
    def deco(fn: F) -> F:
        fn.__rt_method__ = {"concurrency_group": concurrency_group,  # type: ignore[attr-defined]
                            "num_returns": num_returns}
        return fn
    return deco


def exit_actor() -> None:
    """End the current actor from inside one of its methods.

    Calls still queued, and every later call, raise :class:`ActorDiedError`; the actor
    is not restarted.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote
    ... class Once:
    ...     def stop(self):
    ...         rt.exit_actor()
    >>> a = Once.remote()
    >>> try:
    ...     rt.get(a.stop.remote())
    ... except rt.exceptions.ActorDiedError:
    ...     print("ended")
    ended
    """
    core = _context.current()
    worker = None if core is None else _context.as_worker(core)
    if worker is None or worker.host is None:
        raise RuntimeError("rt.exit_actor() was called outside an actor method; call it "
                           "inside a method of an @rt.remote class (use rt.kill(handle) "
                           "from outside)")
    from .worker.common import ActorExit
    raise ActorExit()


def _class_meta(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    import inspect

    methods: dict[str, int] = {}
    groups: dict[str, str] = {}
    is_async = False
    valid_groups = set(options.get("concurrency_groups") or {})
    for name, member in inspect.getmembers(cls):
        if name.startswith("__") and name != "__call__":
            continue
        if not callable(member):
            continue
        if inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member):
            is_async = True
        info = getattr(member, "__rt_method__", {})
        methods[name] = info.get("num_returns") or 1
        g = info.get("concurrency_group")
        if g is not None:
            if g not in valid_groups:
                raise ValueError(
                    f"{cls.__name__}.{name}: concurrency_group={g!r} is not declared; add it "
                    f"to @rt.remote(concurrency_groups={{{g!r}: N, ...}}) on the class")
            groups[name] = g
    return {"class_name": cls.__name__, "methods": methods, "method_groups": groups,
            "is_async": is_async, "max_task_retries": options.get("max_task_retries", 0)}


class ActorClass(Generic[T]):
    """An actor class made by ``@rt.remote``; ``.remote(...)`` starts an actor.

    Typed ``ActorClass[C]`` for ``@rt.remote class C``; see the module docstring for what
    a type checker can and cannot check of actors.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote
    ... class Counter:
    ...     def __init__(self, start=0):
    ...         self.n = start
    ...     def incr(self):
    ...         self.n += 1
    ...         return self.n
    >>> c = Counter.remote(10)
    >>> rt.get([c.incr.remote() for _ in range(3)])
    [11, 12, 13]
    """

    def __init__(self, cls: type[T], options: dict[str, Any] | None = None,
                 key: bytes | None = None, blob: bytes | None = None) -> None:
        opts = dict(options or {})
        check_options(f"@rt.remote class {cls.__name__!r}", opts, _ACTOR_OPTIONS)
        mc = opts.get("max_concurrency")
        if mc is not None and (not isinstance(mc, int) or mc < 1):
            raise ValueError(f"{cls.__name__}: max_concurrency={mc!r} must be an int >= 1")
        for g, n in (opts.get("concurrency_groups") or {}).items():
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"{cls.__name__}: concurrency_groups[{g!r}]={n!r} must be "
                                 f"an int >= 1")
        self._cls = cls
        self._options = opts
        self._key = key or os.urandom(12)
        self._blob = blob
        self._meta = _class_meta(cls, opts)
        self.__name__ = cls.__name__
        self.__doc__ = cls.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"actor class {self.__name__!r} cannot be instantiated directly; use "
                        f"{self.__name__}.remote(...) to start an actor")

    def __reduce__(self) -> tuple[Any, ...]:
        return (ActorClass, (self._cls, self._options, self._key))

    def _get_blob(self) -> bytes:
        if self._blob is None:
            self._blob = ser.pickle_dumps(self._cls)  # keeps the methods' file and source
        return self._blob

    def options(self, **options: Unpack[ActorOptions]) -> ActorClass[T]:
        """Return a copy with options changed (``name``, ``max_concurrency``, ...).

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> @rt.remote
        ... class A:
        ...     def ping(self):
        ...         return "pong"
        >>> a = A.options(name="doc-a", max_restarts=1).remote()
        >>> rt.get(rt.get_actor("doc-a").ping.remote())
        'pong'
        >>> rt.kill(a)
        """
        opts = dict(self._options)
        opts.update(options)
        return ActorClass(self._cls, opts, self._key, self._blob)

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle[T]:
        """Start the actor in its own process; return its handle at once.

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> @rt.remote
        ... class Box:
        ...     def __init__(self, v):
        ...         self.v = v
        ...     def get(self):
        ...         return self.v
        >>> rt.get(Box.remote(rt.put(4)).get.remote())
        4
        """
        core = _context.core()
        name = self._options.get("name")
        if name is not None and self._options.get("get_if_exists"):
            driver = _context.as_driver(core)
            worker = _context.as_worker(core)
            rec = driver.lookup_actor(name) if driver is not None else None
            if rec is not None:
                return ActorHandle(rec.aid, rec.name, rec.meta, core)
            info = worker.actor_info(name) if worker is not None else None
            if info is not None:
                return ActorHandle(*info, core)
        aid = core.new_id()
        payload, dep_pos, dep_ids, holds = prep_args(args, kwargs, core.shm_dir, f"a{aid:x}")
        task = Task(aid, "create", self._key, payload, dep_pos, dep_ids, [], 1, 0, False,
                    f"{self.__name__}.__init__", holds, actor=aid)
        opts: dict[str, Any] = {k: self._options[k] for k in ("max_concurrency", "concurrency_groups",
                                              "max_restarts", "max_task_retries")
                if k in self._options}
        rec = ActorRec(aid, name, task, opts, self._meta)
        core.create_actor(rec, self._get_blob)
        return ActorHandle(aid, name, self._meta, core)


class ActorHandle(Generic[T]):
    """A handle to a running actor: ``handle.method.remote(...)`` returns an ObjectRef.

    A handle unpickled in a process where no runtime runs starts nothing; calling a
    method through it raises :class:`~.exceptions.ActorDiedError` saying what to do
    (as for a detached :class:`~.object_ref.ObjectRef`).

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote
    ... class Echo:
    ...     def echo(self, x):
    ...         return x
    >>> h = Echo.remote()
    >>> rt.get(h.echo.remote("hi"))
    'hi'
    """

    def __init__(self, aid: int, name: str | None, meta: dict[str, Any],
                 core: RuntimeCore | None = None) -> None:
        self._aid = aid
        self._name = name
        self._meta = meta
        if core is None:
            core = _context.core()
        self._core: RuntimeCore | None = core
        core.add_ref(aid, False)

    @classmethod
    def _detached(cls, aid: int, name: str | None, meta: dict[str, Any]) -> ActorHandle[Any]:
        """A handle bound to no runtime yet (unpickled where none runs)."""
        h: ActorHandle[Any] = cls.__new__(cls)
        h._aid, h._name, h._meta, h._core = aid, name, meta, None
        return h

    def _bound(self) -> RuntimeCore:
        """This handle's core, or the error that says why it has none (as for refs)."""
        core = self._core
        if core is not None:
            return core
        from .exceptions import ActorDiedError

        return bind_in_worker(self, self._aid, lambda runtime_now: ActorDiedError(detached_reason(
            repr(self), runtime_now, "its actor cannot be called from here", "call the actor there")))

    def __del__(self) -> None:
        try:
            core = self._core
            if core is not None:
                core.release(self._aid)
        except Exception:  # interpreter shutdown
            pass

    def __getattr__(self, attr: str) -> ActorMethod[Any]:
        meta = self.__dict__.get("_meta")
        if meta is None or attr.startswith("__"):
            raise AttributeError(attr)
        if attr not in meta["methods"]:
            if attr.startswith("_"):
                raise AttributeError(attr)
            raise AttributeError(
                f"actor class {meta['class_name']!r} has no method {attr!r}; its methods are "
                f"{', '.join(sorted(meta['methods']))}")
        m: ActorMethod[Any] = ActorMethod(self, attr, meta["methods"][attr])
        self.__dict__[attr] = m
        return m

    def __reduce__(self) -> tuple[Any, ...]:
        refs = ser.collecting()  # a stored value or pending task holding the handle
        if refs is not None:     # keeps the actor alive, like an ObjectRef
            refs.append(self._aid)
        return (_rebuild_handle, (self._aid, self._name, self._meta))

    def __repr__(self) -> str:
        n = f" name={self._name!r}" if self._name else ""
        return f"<ActorHandle {self._meta['class_name']} {self._aid:#x}{n}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorHandle) and other._aid == self._aid

    def __hash__(self) -> int:
        return hash(("ActorHandle", self._aid))


def _rebuild_handle(aid: int, name: str | None, meta: dict[str, Any]) -> ActorHandle[Any]:
    # Unpickling must never start a runtime: where none runs, the handle stays detached
    core = _context.current()
    if core is None:
        return ActorHandle._detached(aid, name, meta)
    return ActorHandle(aid, name, meta, core)


class ActorMethod(Generic[R]):
    """One method of an actor handle; call ``.remote(...)`` to submit a call.

    A handle's attributes are typed ``ActorMethod[Any]`` (see the module docstring).

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote
    ... class Pair:
    ...     def two(self):
    ...         return 1, 2
    >>> a, b = Pair.remote().two.options(num_returns=2).remote()
    >>> rt.get(a)
    1
    """

    def __init__(self, handle: ActorHandle[Any], name: str, num_returns: int = 1) -> None:
        self._handle = handle
        self._name = name
        self._nret = num_returns

    @overload
    def options(self, *, num_returns: Literal[1] | None = None,
                **ignored: Any) -> ActorMethod[R]: ...

    @overload
    def options(self, *, num_returns: int, **ignored: Any) -> MultiReturnMethod: ...

    def options(self, *, num_returns: int | None = None, **ignored: Any) -> Any:
        """Return this method with another ``num_returns`` (other options are ignored).

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> @rt.remote
        ... class Two:
        ...     def both(self):
        ...         return "a", "b"
        >>> rt.get(Two.remote().both.options(num_returns=2).remote())
        ['a', 'b']
        """
        return ActorMethod(self._handle, self._name, num_returns or self._nret)

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"actor method {self._name!r} cannot be called directly; use "
                        f"handle.{self._name}.remote(...)")

    def remote(self, *args: Any, **kwargs: Any) -> ObjectRef[R]:
        """Submit the call; return its :class:`ObjectRef` (or refs) at once.

        Top-level ref arguments are replaced by their values before the call. A method
        declared with ``@rt.method(num_returns=n)`` returns ``n`` refs; a type checker
        sees one (use ``.options(num_returns=n)`` at the call to have the list typed).

        Examples
        --------
        >>> import streamz_core.runtime as rt
        >>> @rt.remote
        ... class Adder:
        ...     def add(self, a, b):
        ...         return a + b
        >>> rt.get(Adder.remote().add.remote(rt.put(1), 2))
        3
        """
        h = self._handle
        if h._core is None:
            h._bound()  # a detached handle: bind to this process's runtime, or explain
        core = _context.core()
        n = self._nret
        out_ids = [core.new_id() for _ in range(n)]
        payload, dep_pos, dep_ids, holds = prep_args(args, kwargs, core.shm_dir,
                                                     f"a{out_ids[0]:x}")
        holds.append(h._aid)  # a pending call keeps its actor alive
        task = Task(out_ids[0], "call", None, payload, dep_pos, dep_ids, out_ids, n,
                    h._meta.get("max_task_retries", 0), False,
                    f"{h._meta['class_name']}.{self._name}", holds, actor=h._aid,
                    method=self._name)
        driver = _context.as_driver(core)
        if driver is not None:
            for oid in out_ids:
                driver.table.new(oid)
        refs: list[ObjectRef[Any]] = [ObjectRef(oid, core, True) for oid in out_ids]
        core.submit(task)
        # typed for num_returns=1; with more, .options(num_returns=n) gives MultiReturnMethod
        return refs[0] if n == 1 else refs  # type: ignore[return-value]


class MultiReturnMethod(Protocol):
    """The static type of ``handle.m.options(num_returns=n)`` for ``n`` > 1.

    At run time it is an :class:`ActorMethod`; this protocol tells a type checker that
    ``.remote(...)`` returns a list of refs, one per returned value.

    Examples
    --------
    >>> import streamz_core.runtime as rt
    >>> @rt.remote
    ... class Split:
    ...     def halves(self, x):
    ...         return x // 2, x - x // 2
    >>> method: MultiReturnMethod = Split.remote().halves.options(num_returns=2)
    >>> rt.get(method.remote(5))
    [2, 3]
    """

    def remote(self, *args: Any, **kwargs: Any) -> list[ObjectRef[Any]]: ...

    def options(self, *, num_returns: int | None = None, **ignored: Any) -> Any: ...
