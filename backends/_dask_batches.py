"""The Dask backend's batch encoding: what runs on the workers, and how calls and
outcomes are pickled to get there and back.

A batch is its functions (each pickled once) and its calls (each pickled alone), so an
element that cannot be pickled fails alone. Arguments that are results of other calls
travel as markers (``_Here``, ``_Dep``), resolved on the worker; every outcome comes
back pickled alone, a call that raised as ``_Failed``.

The workers unpickle these functions and classes by reference: they import this module
as ``streamz_core.backends._dask_batches`` (moving a name changes what they import).
"""
from __future__ import annotations

import pickle
import traceback
from typing import Any

from streamz_core.executor import NotSerializableError, RemoteFailure
from streamz_core.runtime.pickling import dumps as dumps_keeping_code_origin


class _Here:
    """An argument that is the result of an earlier call in the same batch."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class _Dep:
    """An argument that is element ``index`` of dependency batch ``dep``."""

    __slots__ = ("dep", "index")

    def __init__(self, dep: int, index: int):
        self.dep = dep
        self.index = index


class _Settle:
    """An argument (encoded) whose failure is passed to the function as a RemoteFailure."""

    __slots__ = ("arg",)

    def __init__(self, arg: Any):
        self.arg = arg


class _Failed:
    """The outcome of a call that raised (kept apart so one bad element fails alone)."""

    __slots__ = ("exception",)

    def __init__(self, exception: BaseException):
        self.exception = exception


class _Unsent:
    """Stands for a call that could not be pickled here; its failure is kept here."""

    __slots__ = ()


def _short(x: Any, limit: int = 120) -> str:
    try:
        text = repr(x)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(x).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dumps(obj: Any) -> bytes:
    """Pickle ``obj`` as Dask would: by reference where that works, else by value
    (lambdas, functions of ``__main__``, which the workers cannot import).

    By value with the runtime's pickler: code keeps its file, lines and source, so a
    remote traceback shows the user's code (cloudpickle 3.1.3 alone shows
    ``File "<dynamic-code>"``).
    """
    try:
        blob = pickle.dumps(obj, protocol=5)
    except Exception:  # noqa: BLE001 - pickling can raise anything; cloudpickle may still do it
        return dumps_keeping_code_origin(obj)
    return dumps_keeping_code_origin(obj) if b"__main__" in blob else blob


def _pack_calls(calls: list[tuple[Any, tuple[Any, ...], dict[str, Any]]]) -> tuple[Any, dict[int, Exception]]:
    """Pickle a batch call by call; return it and the failures of calls that did not pickle.

    Each function is pickled once per batch (``map(f)`` gives every call the same one).
    """
    func_index: dict[int, int] = {}
    func_blobs: list[Any] = []
    failures: dict[int, Exception] = {}
    blobs: list[Any] = []
    for i, (func, args, kwargs) in enumerate(calls):
        fi = func_index.get(id(func))
        if fi is None:
            fi = func_index[id(func)] = len(func_blobs)
            try:
                func_blobs.append(_dumps(func))
            except Exception as exc:  # noqa: BLE001 - pickling can raise anything
                func_blobs.append(NotSerializableError(
                    f"cannot pickle the function {_short(func)} to send it to the Dask workers: {exc}; "
                    "define it at module level, or make what it uses picklable"
                ))
        if isinstance(func_blobs[fi], Exception):
            failures[i] = func_blobs[fi]
            blobs.append(_Unsent())
            continue
        try:
            blobs.append(_dumps((fi, args, kwargs)))
        except Exception as exc:  # noqa: BLE001
            values = [v for v in (*args, *kwargs.values()) if not isinstance(v, (_Here, _Dep))]
            shown = _short(values[0]) if len(values) == 1 else _short(tuple(values))
            failures[i] = NotSerializableError(
                f"cannot pickle the element {shown} to send it to the Dask workers: {exc}; "
                "send something picklable (convert it first with a map() before scatter())"
            )
            blobs.append(_Unsent())
    return ([b if isinstance(b, bytes) else None for b in func_blobs], blobs), failures


def _pack_result(value: Any) -> bytes:
    """Pickle one outcome on the worker; one that does not pickle becomes its own failure."""
    try:
        return _dumps(value)
    except Exception as exc:  # noqa: BLE001
        if isinstance(value, _Failed):  # an exception that does not pickle: send its text
            text = "".join(traceback.format_exception(value.exception))
            return _dumps(_Failed(RuntimeError(f"remote exception (not picklable): {text}")))
        return _dumps(_Failed(NotSerializableError(
            f"cannot pickle the result {_short(value)} to bring it back from the Dask worker: {exc}"
        )))


def _unpack_result(blob: Any) -> Any:
    try:
        return pickle.loads(blob)
    except Exception as exc:  # noqa: BLE001 - e.g. a class this process cannot import
        return _Failed(exc)


def _value(arg: Any, results: list[Any], deps: list[list[Any]]) -> Any:
    if isinstance(arg, _Settle):
        try:
            return _value(arg.arg, results, deps)
        except Exception as exc:  # noqa: BLE001 - handed to the function, which decides
            return RemoteFailure(exc)
    if isinstance(arg, _Failed):  # an argument whose own call failed: fail the same way
        raise arg.exception
    if isinstance(arg, _Here):
        out = results[arg.index]
    elif isinstance(arg, _Dep):
        out = _unpack_result(deps[arg.dep][arg.index])
    else:
        return arg
    if isinstance(out, _Failed):
        raise out.exception
    return out


def _run_batch(packed: Any, deps: list[list[Any]]) -> list[bytes]:
    """Run on a Dask worker: every call in order, each outcome kept apart and pickled."""
    func_blobs, blobs = packed
    funcs: list[Any] = []
    for blob in func_blobs:
        try:
            funcs.append(None if blob is None else pickle.loads(blob))
        except Exception as exc:  # noqa: BLE001 - e.g. a module missing on the worker
            funcs.append(_Failed(exc))
    results: list[Any] = []
    for blob in blobs:
        if isinstance(blob, _Unsent):  # failed before sending; the driver keeps its error
            results.append(_Failed(NotSerializableError("the input of this call could not be pickled")))
            continue
        try:
            fi, args, kwargs = pickle.loads(blob)
            func = funcs[fi]
            if isinstance(func, _Failed):
                raise func.exception
            a = [_value(v, results, deps) for v in args]
            kw = {k: _value(v, results, deps) for k, v in kwargs.items()}
            results.append(func(*a, **kw))
        except Exception as exc:
            results.append(_Failed(exc))
    return [_pack_result(r) for r in results]
