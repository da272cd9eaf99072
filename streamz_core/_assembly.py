"""Keeps the stream half whole however it is first imported.

``streamz_core/__init__.py`` is lazy, so that ``import streamz_core.runtime`` loads no
stream code. But streamz users also import a module of the stream half directly (``from
streamz_core.core import Stream``, ``streamz_core.sources``, ``streamz_core.sinks``), as
in streamz, where every module comes with the whole package; a plugin does the same. So
each such module calls :func:`complete_stream_api` as its last line: the outermost of
the imports under way then imports ``_stream_api``, which registers every operator,
sink and plugin method on ``Stream``. Only the outermost one: a module still running its
body (stopped at an import of another) would be half-defined for ``_stream_api``'s
imports.
"""
from __future__ import annotations

import sys

from ._internals import module_is_initializing

__all__ = ["complete_stream_api"]

_complete = False


def complete_stream_api(importer: str) -> None:
    """Import ``_stream_api`` unless done, or unless an import of the stream half other
    than ``importer`` (the module calling, in its last line) is still running."""
    global _complete
    if _complete:
        return
    for name, module in list(sys.modules.items()):
        if name != importer and name.startswith("streamz_core.") \
                and not name.startswith("streamz_core.runtime") and module_is_initializing(module):
            return  # that import finishes later and calls this again
    from . import _stream_api  # noqa: F401

    _complete = True
