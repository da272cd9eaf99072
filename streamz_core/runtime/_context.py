"""The runtime core of this process: the driver's, or a worker's link to the driver."""
from __future__ import annotations

import os
import threading
from typing import Any

_core: Any = None
_lock = threading.RLock()


def core() -> Any:
    """Return this process's core, starting the runtime on first use (in the driver)."""
    c = _core
    if c is not None:
        if c.pid == os.getpid():
            return c
        set_core(None)  # a forked child: its parent's runtime is not usable here
    from . import api

    api.init()
    return _core


def current() -> Any:
    """Return this process's core or None, without starting anything."""
    if _core is not None and _core.pid != os.getpid():
        return None
    return _core


def set_core(c: Any) -> None:
    """Install (or clear with None) this process's core."""
    global _core
    _core = c
