"""Code objects that remember where they came from when pickled by value.

cloudpickle pickles a function defined in ``__main__``, a notebook cell or ``exec``'d
text by value: its code object travels to the worker. Since cloudpickle 3.1.3 the copy's
``co_filename`` is ``"<dynamic-code>"``, and in every version the worker may have no way to
read the source (a notebook cell, a deleted temporary script, a name registered in the
driver's ``linecache`` only). A remote traceback then shows neither the file nor the code.

Here a code object is pickled with :mod:`marshal`, which keeps every field the interpreter
has (file name, line table, column positions), together with the driver's source lines of
the code's own span. The worker registers those lines in its ``linecache`` when it cannot
read the file itself, so ``traceback`` renders the user's file, line and source there.
Driver and workers run the same interpreter (``sys.executable``), which marshal requires.
"""
from __future__ import annotations

import linecache
import marshal
import types
from collections import ChainMap
from collections.abc import Callable
from typing import Any

import cloudpickle

__all__ = ["CODE_DISPATCH", "reduce_code", "code_from_origin", "remember_source"]

#: (first line number, the source lines of the code's span)
Origin = tuple[int, tuple[str, ...]]

_base_table = cloudpickle.Pickler.dispatch_table
# cloudpickle's own reducer, kept for the rare code object marshal refuses (constants
# that are not marshallable, put there by hand with code.replace).
_cloudpickle_reduce_code: Callable[[types.CodeType], Any] = _base_table[types.CodeType]


def _line_span(code: types.CodeType) -> tuple[int, int]:
    """First and last source line of ``code`` and of the code nested in it."""
    first = last = code.co_firstlineno
    for _start, _end, line in code.co_lines():
        if line is not None and line > last:
            last = line
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, _line_span(const)[1])
    return first, last


def _origin(code: types.CodeType) -> Origin | None:
    """The driver's source lines of ``code``, as far as its ``linecache`` knows them."""
    lines = linecache.getlines(code.co_filename)
    if not lines:
        return None
    first, last = _line_span(code)
    span = tuple(lines[first - 1:last])
    return (first, span) if span else None


def reduce_code(code: types.CodeType) -> tuple[Any, ...]:
    """Pickle reducer of code objects: marshal bytes plus the origin of the source."""
    try:
        data = marshal.dumps(code)
    except ValueError:
        reduced: tuple[Any, ...] = _cloudpickle_reduce_code(code)
        return reduced
    return code_from_origin, (data, _origin(code))


def code_from_origin(data: bytes, origin: Origin | None) -> types.CodeType:
    """Rebuild a code object pickled by :func:`reduce_code`; make its source readable."""
    code: types.CodeType = marshal.loads(data)
    if origin is not None:
        remember_source(code.co_filename, *origin)
    return code


def remember_source(filename: str, first: int, span: tuple[str, ...]) -> None:
    """Put ``span`` (lines ``first``...) of ``filename`` in this process's linecache.

    A file this process can read itself is left to linecache as usual, so other code from
    the same file keeps its full text. Otherwise the lines are merged into a cache entry
    without modification time, the kind IPython uses for cells, which ``checkcache``
    keeps.
    """
    entry = linecache.cache.get(filename)
    if entry is None or len(entry) == 1:
        if linecache.getlines(filename):
            return  # readable here (a real file, or a module loader gave the source)
        entry = None
    elif entry[1] is not None:
        return  # read from the file by linecache itself
    end = first - 1 + len(span)
    if entry is not None and tuple(entry[2][first - 1:end]) == span:
        return  # already known (the same function arrives with every call it is in)
    lines = list(entry[2]) if entry is not None else []
    if len(lines) < end:
        lines.extend("\n" for _ in range(end - len(lines)))
    lines[first - 1:end] = span
    linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)


def _dispatch_table() -> Any:
    """cloudpickle's dispatch table with code objects reduced by :func:`reduce_code`."""
    maps = _base_table.maps if isinstance(_base_table, ChainMap) else [_base_table]
    return ChainMap({types.CodeType: reduce_code}, *maps)


CODE_DISPATCH = _dispatch_table()
