"""Optional dependencies: import one where a feature needs it, or say what to install."""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["require"]


def require(module: str, purpose: str, install: str) -> Any:
    """Import ``module`` for ``purpose``, or raise an ImportError saying what to install.

    Examples
    --------
    >>> require("json", "reading JSON", "nothing: it is in the standard library").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs the {module.split('.')[0]!r} Python package, which is not "
            f"installed; install it with `{install}`"
        ) from exc
