"""Files that hold large values: in shared memory, or on disk past the memory limit.

A session has a shared-memory directory (under ``/dev/shm``) and a spill directory on
disk. Every process of the session (driver and workers) registers both, with the session's
``object_store_memory``, through :func:`register_session`. Then:

- a value goes to shared memory when it fits: it is no larger than the limit and no larger
  than the free space of the shared-memory filesystem (Docker gives 64 MB by default);
- otherwise, or when shared memory runs out while writing (``ENOSPC``), it goes straight to
  the spill directory, never through shared memory; both kinds are read back with
  ``mmap``, so numpy arrays stay zero-copy views either way;
- a partial file is always removed; when the disk is full too,
  :class:`~.exceptions.ObjectStoreFullError` says what happened and what to change.

The driver's object store moves least recently used files from shared memory to the spill
directory under the same name (:func:`move_to_spill`: copy first, then remove). A reader
that finds the shared-memory file gone looks for the same name in the spill directory, so
a path handed out before the move stays readable until the object is freed.

Files are created ``0600``; the session directories are made by ``mkdtemp`` (``0700``).
"""
from __future__ import annotations

import errno
import mmap
import os
from typing import Any, NamedTuple

from .exceptions import ObjectStoreFullError

_OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_ALIGN = 64  # out-of-band buffers start on 64-byte boundaries (numpy likes aligned data)


class Session(NamedTuple):
    """Where one session writes its large values."""

    shm_dir: str
    spill_dir: str
    limit: int  # object_store_memory: a value larger than this never enters shared memory


_sessions: dict[str, Session] = {}


def register_session(shm_dir: str, spill_dir: str, limit: int) -> None:
    """Tell this process where the session of ``shm_dir`` spills, and its memory limit."""
    _sessions[shm_dir] = Session(shm_dir, spill_dir, limit)


def unregister_session(shm_dir: str) -> None:
    """Forget a session (at shutdown)."""
    _sessions.pop(shm_dir, None)


def session_of(path: str) -> Session | None:
    """The registered session whose shared-memory directory holds ``path``, if any."""
    return _sessions.get(os.path.dirname(path))


def free_bytes(directory: str) -> int:
    """Bytes an unprivileged process may still write to the filesystem of ``directory``."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def layout(data: bytes, bufs: list[Any]) -> tuple[tuple[tuple[int, int], ...], int]:
    """Offsets of the buffers after the pickle ``data``; return ``(spans, file_size)``."""
    spans: list[tuple[int, int]] = []
    off = len(data)
    for b in bufs:
        off += (-off) % _ALIGN
        spans.append((off, b.nbytes))
        off += b.nbytes
    return tuple(spans), off


def write_value(shm_dir: str, name: str, data: bytes, bufs: list[Any], refs: tuple[int, ...],
                what: str) -> tuple[Any, ...]:
    """Write a pickle and its buffers to one file; return the ``("s", ...)`` payload.

    ``what`` names the value in the error raised when no directory has room.
    """
    spans, size = layout(data, bufs)
    session = _sessions.get(shm_dir)
    why = ""  # why the value skips shared memory, if it does
    if session is None:  # not a registered session: shared memory only, as asked
        targets = [shm_dir]
    else:
        if size > session.limit:
            why = f"it is larger than object_store_memory ({_mb(session.limit)})"
        elif size > free_bytes(shm_dir):
            why = f"it is larger than the free shared memory ({_mb(free_bytes(shm_dir))})"
        targets = [session.spill_dir] if why else [shm_dir, session.spill_dir]
    failure: OSError | None = None
    for directory in targets:
        path = os.path.join(directory, name)
        try:
            _write_file(path, data, bufs, spans)
        except OSError as exc:
            if exc.errno not in _OUT_OF_SPACE:
                raise
            failure = exc  # shared memory full: try the disk; the disk full: report
            continue
        return ("s", path, (len(data), spans, size), refs)
    assert failure is not None
    raise _store_full(what, size, shm_dir, session, why, failure) from failure


def _write_file(path: str, data: bytes, bufs: list[Any],
                spans: tuple[tuple[int, int], ...]) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, memoryview(data))
        off = len(data)
        for b, (start, _) in zip(bufs, spans, strict=True):
            if start > off:
                os.write(fd, b"\0" * (start - off))
            _write_all(fd, memoryview(b))
            off = start + b.nbytes
    except BaseException:
        os.close(fd)
        _remove(path)  # never leave a partial file behind
        raise
    os.close(fd)


def _write_all(fd: int, view: memoryview) -> None:
    view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    while len(view):
        n = os.write(fd, view)
        view = view[n:]


def _store_full(what: str, size: int, shm_dir: str, session: Session | None, why: str,
                exc: OSError) -> ObjectStoreFullError:
    shm = f"shared memory ({shm_dir})"
    if session is None:
        where = f"{shm} ran out of space"
    else:
        spill = (f"the spill directory ({session.spill_dir}, "
                 f"{_mb(free_bytes(session.spill_dir))} free)")
        if why:
            where = f"{why}, so it went to {spill}, which ran out of space"
        else:
            where = f"{shm} ran out of space, and so did {spill}"
    return ObjectStoreFullError(
        exc.errno,
        f"cannot store the {what} ({_mb(size)}): {where}. Drop the ObjectRefs you no "
        f"longer need, free space on that disk, or start the runtime with "
        f"rt.init(spill_dir=<a directory on a disk with room>); "
        f"rt.init(object_store_memory=) sets how much shared memory the store may use")


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"


def map_file(path: str, size: int) -> mmap.mmap:
    """Map the file of a ``("s", ...)`` payload read-only (following a move to disk)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        session = session_of(path)
        if session is None:
            raise
        # the driver moved it to disk after handing out this path: same name there
        fd = os.open(os.path.join(session.spill_dir, os.path.basename(path)), os.O_RDONLY)
    try:
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)


def move_to_spill(path: str, spill_dir: str) -> str:
    """Copy a shared-memory file to ``spill_dir`` (``0600``), then remove it; return the copy.

    The copy is made by the kernel (``sendfile``) where it can, so it costs no memory in
    this process. On failure (a full disk) the partial copy is removed, the original kept,
    and the ``OSError`` raised.
    """
    dest = os.path.join(spill_dir, os.path.basename(path))
    src = os.open(path, os.O_RDONLY)
    try:
        dst = os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            _copy(src, dst, os.fstat(src).st_size)
        except BaseException:
            os.close(dst)
            _remove(dest)
            raise
        os.close(dst)
    finally:
        os.close(src)
    _remove(path)
    return dest


def _copy(src: int, dst: int, size: int) -> None:
    off = 0
    if hasattr(os, "sendfile"):
        try:
            while off < size:
                n = os.sendfile(dst, src, off, size - off)
                if n == 0:
                    break
                off += n
            return
        except OSError as exc:
            if exc.errno in _OUT_OF_SPACE or off:
                raise
            # sendfile between these files is not supported here: copy in chunks below
    os.lseek(src, off, os.SEEK_SET)
    while True:
        chunk = os.read(src, 1 << 20)
        if not chunk:
            return
        _write_all(dst, memoryview(chunk))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
