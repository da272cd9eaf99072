"""Where a runtime session keeps its files, and how large its store is by default.

``rt.init`` makes two private directories per session (shared memory and spill) under
the roots chosen here; the driver removes them at shutdown, its janitor if the driver
dies, and :func:`clean_stale` those left by drivers that died without either.
"""
from __future__ import annotations

import os

from . import _serialization as ser

__all__ = ["PREFIX", "SHM_DIR_ENV", "default_memory", "shm_root", "clean_stale"]

#: Session directories are named ``<prefix><driver pid>-<random>`` (as the janitor of
#: ``driver/session.py`` expects); only those are ever removed.
PREFIX = "streamz-rt-"


def default_memory(shm_root: str) -> int:
    """30 % of RAM, but at most half of the free space of the shared-memory filesystem.

    Docker gives containers a 64 MB ``/dev/shm`` whatever the RAM: a limit above its free
    space would never spill and fail with ``ENOSPC`` instead. The other half leaves room
    for results and arguments still being written when the store is at its limit.
    """
    from ._shm_files import free_bytes

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 << 30
    return max(ser.INLINE_MAX, min(max(75 << 20, int(total * 0.3)), free_bytes(shm_root) // 2))


#: Environment variable naming the directory under which sessions keep their
#: shared-memory files (default ``/dev/shm``); tests point it at a small tmpfs.
SHM_DIR_ENV = "STREAMZ_CORE_SHM_DIR"


def shm_root() -> str:
    """The directory under which a new session makes its shared-memory directory."""
    import tempfile

    root = os.environ.get(SHM_DIR_ENV)
    if root:
        if not os.path.isdir(root):
            raise ValueError(f"{SHM_DIR_ENV}={root!r} is not a directory; set it to an "
                             f"existing directory (a tmpfs mount) or unset it for /dev/shm")
        return root
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def clean_stale() -> None:
    """Remove the session directories of drivers that no longer run (kill -9, no janitor)."""
    import glob
    import shutil
    import tempfile

    for root in {shm_root(), tempfile.gettempdir()}:
        for path in glob.glob(os.path.join(root, PREFIX + "*")):
            try:
                pid = int(os.path.basename(path)[len(PREFIX):].split("-")[0])
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(path, ignore_errors=True)
            except (ValueError, OSError):
                pass
