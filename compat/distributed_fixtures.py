"""pytest plugin for ``make compat``, loaded in both runs (streamz_core and streamz).

streamz 0.6.4's tests import distributed's ``loop`` fixture by name, but current
distributed builds it on ``loop_in_thread`` and ``cleanup``, which the tests do not import,
so those tests error at setup with either library. Registering the two here lets them run:
an environment fix, the same for both runs, with no test changed.
"""
from __future__ import annotations

try:
    from distributed.utils_test import cleanup, loop_in_thread  # noqa: F401 (fixtures)
except ImportError:  # an older distributed without them, or none: the tests skip or error
    pass
