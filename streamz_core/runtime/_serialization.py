"""The pickling boundary between the driver and the worker processes.

A value travels as a *payload*, a 4-tuple ``(kind, a, b, contained)``:

``("i", data, buffers, contained)``
    inline pickle (protocol 5) and its out-of-band buffers as bytes (small values);
``("s", path, (pickle_len, spans, nbytes), contained)``
    a file holding the pickle then each buffer, in the session's shared-memory directory
    or (past ``object_store_memory``) in its spill directory on disk; read back through
    ``mmap``, so numpy arrays come back as read-only zero-copy views;
``("e", exc_pickle_or_None, (type_name, message, traceback), ())``
    an exception raised remotely (or by the runtime);
``("z", oid, nbytes, contained)``
    driver only: the value is in the object store (memory or spilled to disk).

``contained`` lists the ids of the object refs pickled inside the value; the driver keeps
them alive as long as the value lives.
"""
from __future__ import annotations

import io
import os
import pickle
import threading
import traceback as _tb
from collections.abc import Callable
from typing import Any

import cloudpickle

from ._code_origin import CODE_DISPATCH
from ._shm_files import map_file, write_value
from .exceptions import RemoteTraceback, SerializationError, TaskError

INLINE_MAX = 100 * 1024
_SIMPLE = frozenset({type(None), bool, int, float, str, bytes, complex})
_tls = threading.local()
#: A serialized value (see the module docstring): ``(kind, a, b, contained)``.
Payload = tuple[Any, ...]


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]  # cloudpickle is untyped
    """cloudpickle, except that code pickled by value keeps its file name and source.

    Every function, lambda, method or class that cloudpickle pickles by value (defined in
    ``__main__``, a notebook cell, ``exec``...) reaches the worker with its real
    ``co_filename`` and the driver's source lines of it, so remote tracebacks show the
    user's file, line and code (see ``_code_origin``).
    """

    dispatch_table = CODE_DISPATCH


def pickle_dumps(obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None
                 ) -> bytes:
    """Pickle ``obj`` like ``cloudpickle.dumps(obj, protocol=5)``, keeping code origins.

    Examples
    --------
    >>> import pickle
    >>> pickle.loads(pickle_dumps(lambda x: x + 1))(1)
    2
    """
    with io.BytesIO() as file:
        _Pickler(file, protocol=5, buffer_callback=buffer_callback).dump(obj)
        data: bytes = file.getvalue()
        return data


def collecting() -> list[int] | None:
    """Return the list collecting ref ids during the current dumps, if any."""
    return getattr(_tls, "refs", None)


def _dumps(obj: Any, bufs: list[Any] | None) -> tuple[bytes, tuple[int, ...]]:
    prev = getattr(_tls, "refs", None)
    refs: list[int] = []
    _tls.refs = refs
    try:
        if bufs is None:
            data = pickle_dumps(obj)
        else:
            def _cb(pb: pickle.PickleBuffer) -> bool:
                try:
                    bufs.append(pb.raw())
                except BufferError:
                    return True
                return False
            data = pickle_dumps(obj, buffer_callback=_cb)
    finally:
        _tls.refs = prev
    return data, tuple(refs)


def dumps_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bytes, tuple[int, ...]]:
    """Pickle call arguments; return ``(data, contained_ref_ids)``."""
    if all(type(a) in _SIMPLE for a in args) and all(type(v) in _SIMPLE for v in kwargs.values()):
        return pickle.dumps((args, kwargs), 5), ()
    try:
        return _dumps((args, kwargs), None)
    except Exception as exc:
        for pos, value in [*enumerate(args), *kwargs.items()]:  # name the culprit
            try:
                cloudpickle.dumps(value)
            except Exception as inner:
                what = f"argument {pos!r}" if isinstance(pos, int) else f"keyword argument {pos}="
                raise _unpicklable(what, value, inner) from exc
        raise _unpicklable("arguments", (args, kwargs), exc) from exc


def _unpicklable(what: str, value: Any, exc: BaseException) -> SerializationError:
    r = repr(value)
    if len(r) > 200:
        r = r[:200] + "..."
    return SerializationError(
        f"cannot pickle the {what} {r}: {type(exc).__name__}: {exc}; pass plain data "
        f"(or objects cloudpickle can handle) and create resources such as locks, sockets "
        f"or open files inside the task or actor instead")


def dumps_value(obj: Any, shm_dir: str | None, name: str, what: str = "value") -> Payload:
    """Serialize ``obj`` to a payload; values of ``INLINE_MAX`` bytes or more go to a file.

    That file is in shared memory, or in the spill directory when the value does not fit
    there (see ``_shm_files``); ``what`` names the value in errors.
    """
    if type(obj) in _SIMPLE:
        data = pickle.dumps(obj, 5)
        if len(data) < INLINE_MAX or shm_dir is None:
            return ("i", data, None, ())
        return write_value(shm_dir, name, data, [], (), what)
    bufs: list[Any] = []
    try:
        data, refs = _dumps(obj, bufs)
    except Exception as exc:
        raise _unpicklable(what, obj, exc) from exc
    size = len(data) + sum(b.nbytes for b in bufs)
    if size < INLINE_MAX or shm_dir is None:
        return ("i", data, [bytes(b) for b in bufs] or None, refs)
    return write_value(shm_dir, name, data, bufs, refs, what)


def payload_nbytes(payload: Payload) -> int:
    """Size in bytes of the value a payload carries."""
    kind = payload[0]
    n: int = 0
    if kind == "s":
        n = payload[2][2]
    elif kind == "i":
        n = len(payload[1]) + sum(len(b) for b in payload[2] or ())
    elif kind == "z":
        n = payload[2]
    return n


def loads_value(payload: Payload) -> Any:
    """Rebuild the value of a payload; raise the remote exception of an error payload."""
    kind = payload[0]
    if kind == "i":
        if payload[2] is None:
            return pickle.loads(payload[1])
        return pickle.loads(payload[1], buffers=payload[2])
    if kind == "s":
        plen, spans, size = payload[2]
        mv = memoryview(map_file(payload[1], size))
        return pickle.loads(mv[:plen], buffers=[mv[o:o + n] for o, n in spans])
    if kind == "e":
        raise error_from_payload(payload)
    raise ValueError(f"unknown payload kind {kind!r}; this is a bug in streamz_core.runtime")


_HERE = os.path.dirname(os.path.abspath(__file__))


def error_payload(exc: BaseException) -> Payload:
    """Make an error payload from an exception caught in this process.

    The runtime's own frames at the top of the traceback are left out, so the remote
    traceback starts at the user's function.
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and \
            tb.tb_frame.f_code.co_filename.startswith(_HERE):
        tb = tb.tb_next
    tb_text = "".join(_tb.format_exception(type(exc), exc, tb))
    data: bytes | None = None
    if isinstance(exc, Exception):  # never re-raise SystemExit & co. in the caller
        try:
            data = cloudpickle.dumps(exc, protocol=5)
            pickle.loads(data)
        except Exception:
            data = None
    return ("e", data, (type(exc).__qualname__, str(exc), tb_text), ())


def system_error(exc: BaseException) -> Payload:
    """Make an error payload for an exception created by the runtime (no remote tb)."""
    return ("e", pickle.dumps(exc, 5), (type(exc).__qualname__, str(exc), ""), ())


def error_from_payload(payload: Payload) -> BaseException:
    """Rebuild the exception of an error payload with its remote traceback as cause."""
    data, (type_name, message, tb_text) = payload[1], payload[2]
    exc: BaseException | None = None
    if data is not None:
        try:
            exc = pickle.loads(data)
        except Exception:
            exc = None
    if exc is None:
        return TaskError(type_name, message, tb_text)
    if tb_text:
        exc.__cause__ = RemoteTraceback(tb_text)
    return exc


def dumps_msgs(msgs: list[Any]) -> bytes:
    """Pickle a batch of protocol messages (payloads inside are already serialized)."""
    return pickle.dumps(msgs, 5)


loads_msgs: Callable[[bytes], list[Any]] = pickle.loads
