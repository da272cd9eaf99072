"""Entry-point plugins: nodes, sources and sinks that other distributions add to Stream.

A distribution declares, in its metadata (``setup.cfg`` shown)::

    [options.entry_points]
    streamz_core.nodes =
        double = mypkg.nodes:double
    streamz_core.sources =
        from_kafka = mypkg.sources:from_kafka
    streamz_core.sinks =
        to_db = mypkg.sinks:to_db

and after ``import streamz_core``, ``source.double()``, ``Stream.from_kafka(...)`` and
``source.to_db(...)`` exist. Each target module is imported only when its method is
first called, so an installed plugin costs nothing until used. The groups of streamz
(``streamz.nodes``, ``streamz.sources``, ``streamz.sinks``) are read too, so a plugin
written for streamz needs no change; one declaring the same entry point in both
families is registered once.

The method attaching behind ``Stream.register_api`` and ``register_plugin_entry_point``
lives here too; those classmethods call it.
"""
from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["load_plugins", "register_api"]

T = TypeVar("T")


def _identity(x: T) -> T:
    return x

#: (entry-point group, modifier name): sources become static methods, like streamz.
_GROUPS: tuple[tuple[str, bool], ...] = (
    ("streamz_core.sources", True),
    ("streamz_core.nodes", False),
    ("streamz_core.sinks", False),
    ("streamz.sources", True),
    ("streamz.nodes", False),
    ("streamz.sinks", False),
)
# A section header of one of those groups in an entry_points.txt (an INI file).
_MARKER = re.compile(r"^\s*\[\s*streamz(?:_core)?\.(?:nodes|sources|sinks)\s*\]", re.MULTILINE)

# (id(cls), name) -> (group, value) of the entry points this module registered, so a
# second load_plugins() call does not report each plugin as clashing with itself.
_registered: dict[tuple[int, str], tuple[str, str]] = {}


def _api_registrar(cls: type, modifier: Callable[[Any], Any], attribute_name: str | None) -> Callable[[T], T]:
    """The decorator that ``Stream.register_api`` returns: attach its argument to ``cls``.

    The method is a wrapper of the node class (or function) through ``modifier``
    (``staticmethod`` for sources), named ``attribute_name`` or the node's own name;
    the decorator returns the node unchanged.
    """

    def register(func: T) -> T:
        # T is any callable here; type checkers cannot see that it has a __name__
        @functools.wraps(func)  # type: ignore[arg-type]
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)  # type: ignore[operator]

        setattr(cls, attribute_name or func.__name__, modifier(wrapped))  # type: ignore[attr-defined]
        return func

    return register


def _target(entry_point: Any) -> str:
    """What an entry point points at, for messages: ``importlib.metadata`` entry points
    have ``value``; ``pkg_resources`` ones and streamz's test doubles ``module_name``."""
    return str(getattr(entry_point, "value", None) or getattr(entry_point, "module_name", None)
               or entry_point.name)


def _register_entry_point(cls: Any, entry_point: Any, modifier: Callable[[Any], Any]) -> None:
    """``Stream.register_plugin_entry_point``: a stub method that loads ``entry_point``
    on first call, checks it is a Stream subclass and registers it in its place.

    ``entry_point`` needs only ``name`` and ``load()``. The method is named ``stub``
    until loaded, then is the node's own (as in streamz).
    """
    if hasattr(cls, entry_point.name):
        raise ValueError(
            f"Can't add {entry_point.name!r} from {_target(entry_point)!r} to {cls.__name__}: "
            "a method of that name already exists; rename the entry point"
        )

    def stub(*args: Any, **kwargs: Any) -> Any:
        from .core import Stream  # loaded: cls is Stream or a subclass of it

        node = entry_point.load()
        if not (isinstance(node, type) and issubclass(node, Stream)):
            raise TypeError(
                f"entry point {entry_point.name!r} ({_target(entry_point)}) is {node!r}, "
                "not a Stream subclass; point it at a class deriving from Stream"
            )
        current = inspect.getattr_static(cls, entry_point.name, None)
        current = getattr(current, "__func__", current)
        if getattr(current, "__wrapped__", None) is stub:  # not replaced meanwhile
            cls.register_api(modifier=modifier, attribute_name=entry_point.name)(node)
        return node(*args, **kwargs)

    _api_registrar(cls, modifier, entry_point.name)(stub)


def _has_plugin_metadata(path: str) -> bool:
    """True when a distribution under sys.path entry ``path`` may declare our groups."""
    try:
        entries = os.scandir(path or ".")
    except OSError:
        return os.path.isfile(path)  # a zip archive on sys.path: let importlib.metadata look
    with entries:
        for entry in entries:
            low = entry.name.lower()
            is_info = low.endswith((".dist-info", ".egg-info"))
            if not (is_info or (low == "egg-info" and path.lower().endswith(".egg"))):
                continue
            ep_file = os.path.join(entry.path, "entry_points.txt")
            try:
                with open(ep_file, encoding="utf-8", errors="replace") as f:
                    if _MARKER.search(f.read()):
                        return True
            except OSError:
                continue
    return False


def _may_have_plugins() -> bool:
    """A cheap scan that spares importing importlib.metadata when no plugin is installed.

    It reads only the ``entry_points.txt`` files of the distributions on ``sys.path``;
    anything it cannot judge (a zip archive on the path, a custom finder that provides
    distributions) counts as a yes, and importlib.metadata decides.
    """
    import importlib.machinery

    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and finder is not importlib.machinery.PathFinder:
            return True
    return any(_has_plugin_metadata(p) for p in sys.path if isinstance(p, str))


def _describe(ep: Any, group: str) -> str:
    dist = getattr(ep, "dist", None)
    origin = f" of distribution {dist.name!r}" if dist is not None else ""
    return f"entry point {ep.name!r} = {ep.value!r} (group {group!r}{origin})"


def _family(group: str) -> str:
    """``streamz.nodes`` and ``streamz_core.nodes`` are one family: ``nodes``."""
    return group.rpartition(".")[2]


def _register(cls: type, group: str, ep: Any, static: bool) -> bool:
    key = (id(cls), ep.name)
    previous = _registered.get(key)
    if previous is not None and previous[1] == ep.value and _family(previous[0]) == _family(group):
        return False  # registered by an earlier call, or declared in both families
    try:
        if static:
            cls.register_plugin_entry_point(ep, staticmethod)  # type: ignore[attr-defined]
        else:
            cls.register_plugin_entry_point(ep)  # type: ignore[attr-defined]
    except ValueError:
        if previous is not None:
            clash = f"the plugin {previous[1]!r} from group {previous[0]!r}"
        else:
            clash = f"the existing {cls.__name__}.{ep.name}"
        warnings.warn(
            f"streamz_core: {_describe(ep, group)} was not registered: its name clashes "
            f"with {clash}; rename the entry point in the plugin's metadata",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    _registered[key] = (group, ep.value)
    return True


def load_plugins(cls: type | None = None) -> list[str]:
    """Register the entry points of installed plugins as methods of ``cls``.

    Reads the groups ``streamz_core.nodes`` and ``streamz_core.sinks`` (methods) and
    ``streamz_core.sources`` (static methods) with ``importlib.metadata``, then
    streamz's ``streamz.nodes``, ``streamz.sinks`` and ``streamz.sources``. Each method is
    a stub that imports its target on first call, checks that it is a ``Stream``
    subclass (else TypeError) and replaces itself with it. A name that ``cls`` already
    has is skipped with a RuntimeWarning naming the entry point and the clash. Called
    once by ``import streamz_core``; calling it again registers only new plugins.

    Parameters
    ----------
    cls
        The class to extend; ``Stream`` by default.

    Returns
    -------
    The names registered by this call.

    Examples
    --------
    >>> from streamz_core import Stream
    >>> load_plugins(Stream)  # the installed plugins were registered at import
    []
    """
    if cls is None:
        from .core import Stream

        cls = Stream
    if not _may_have_plugins():
        return []
    from importlib.metadata import entry_points

    added = []
    for group, static in _GROUPS:
        try:
            eps = entry_points(group=group)
        except Exception as exc:  # noqa: BLE001  (bad metadata must not break the import)
            warnings.warn(
                f"streamz_core: could not read the entry points of group {group!r}: {exc!r}; "
                "its plugins are not available",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        for ep in eps:
            if _register(cls, group, ep, static):
                added.append(ep.name)
    return added


def register_api(modifier: Callable[[Any], Any] = _identity, attribute_name: str | None = None) -> Callable[[T], T]:
    """``Stream.register_api`` as a function: attach a node class as a method of ``Stream``.

    ``modifier=staticmethod`` for a source; ``attribute_name`` to choose the method's
    name, which may replace a built-in one (``attribute_name="map"``).

    Examples
    --------
    >>> from streamz_core import Stream
    >>> @register_api()
    ... class triple(Stream):
    ...     def update(self, x, who=None, metadata=None):
    ...         return self._emit(3 * x, metadata=metadata)
    >>> source = Stream()
    >>> L = source.triple().sink_to_list()
    >>> source.emit(2)
    >>> L
    [6]
    >>> del Stream.triple  # registered methods are class attributes
    """
    from .core import Stream

    return Stream.register_api(modifier, attribute_name)
