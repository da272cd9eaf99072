"""Pickling that keeps where code came from, for the runtime and for executor backends.

:func:`dumps` pickles like ``cloudpickle.dumps(obj, protocol=5)``, except that code
pickled by value (a function defined in ``__main__``, a notebook cell, ``exec``'d text)
keeps its real file name, line numbers and the driver's source lines of it: a remote
traceback then shows the user's file, line and code, whatever the cloudpickle version
(3.1.3 renames such code ``"<dynamic-code>"``). The other side needs only ``pickle.loads``
and an importable ``streamz_core``.

This is an internal interface of streamz_core (the runtime and the Dask backend use it),
importable without starting anything.

Examples
--------
>>> import pickle
>>> from streamz_core.runtime.pickling import dumps
>>> pickle.loads(dumps(lambda x: x * 2))(21)
42
"""
from __future__ import annotations

from ._serialization import pickle_dumps as dumps

__all__ = ["dumps"]
