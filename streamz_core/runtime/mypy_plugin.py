"""A mypy plugin that gives ``@rt.remote`` classes their actor API.

mypy ignores the type a class decorator returns (python/mypy#3135), so after
``@rt.remote class Counter`` it still sees the plain class and rejects
``Counter.remote(...)``. Pyright and the function form ``Counter = rt.remote(Impl)`` need
nothing. With this plugin mypy sees ``Counter.remote(...) -> ActorHandle[Counter]`` and
``Counter.options(...) -> ActorClass[Counter]``; enable it in your mypy configuration::

    [tool.mypy]
    plugins = ["streamz_core.runtime.mypy_plugin"]

What it does not do: check the constructor arguments of ``.remote(...)``, turn the
class's methods into typed remote methods (``handle.m`` stays ``ActorMethod[Any]``), or
forbid calling ``Counter(...)`` directly (that raises ``TypeError`` at run time).

This module is loaded by mypy only; the runtime never imports it.
"""
from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import ARG_STAR, ARG_STAR2, Argument, Var
from mypy.plugin import ClassDefContext, Plugin
from mypy.plugins.common import add_method_to_class
from mypy.types import AnyType, Instance, TypeOfAny
from mypy.typevars import fill_typevars

__all__ = ["plugin"]

# where ``@rt.remote`` is defined (mypy resolves re-exports to the definition)
_REMOTE = "streamz_core.runtime.api.remote"
_ACTOR_MODULE = "streamz_core.runtime.actor"


def _star_args() -> list[Argument]:
    anything = AnyType(TypeOfAny.explicit)
    return [Argument(Var("args", anything), anything, None, ARG_STAR),
            Argument(Var("kwargs", anything), anything, None, ARG_STAR2)]


def _add_actor_api(ctx: ClassDefContext) -> bool:
    """Add ``remote`` and ``options`` classmethods typed as the runtime's ActorClass has."""
    instance = fill_typevars(ctx.cls.info)
    handle = ctx.api.named_type_or_none(f"{_ACTOR_MODULE}.ActorHandle", [instance])
    actor_class = ctx.api.named_type_or_none(f"{_ACTOR_MODULE}.ActorClass", [instance])
    if not isinstance(handle, Instance) or not isinstance(actor_class, Instance):
        return False  # the runtime's module is not analysed yet: mypy calls again
    add_method_to_class(ctx.api, ctx.cls, "remote", _star_args(), handle, is_classmethod=True)
    add_method_to_class(ctx.api, ctx.cls, "options", _star_args()[1:], actor_class,
                        is_classmethod=True)
    return True


class RemoteClassPlugin(Plugin):
    """Applies :func:`_add_actor_api` to classes decorated with ``rt.remote``."""

    def get_class_decorator_hook_2(
            self, fullname: str) -> Callable[[ClassDefContext], bool] | None:
        return _add_actor_api if fullname == _REMOTE else None


def plugin(version: str) -> type[Plugin]:
    """The entry point mypy calls (``plugins = ["streamz_core.runtime.mypy_plugin"]``)."""
    return RemoteClassPlugin
