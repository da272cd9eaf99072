"""Fixtures shared by the operator tests: the run modes, metadata tracking.

They live in ``tests/_modes.py`` so that ``tests/test_sinks.py``,
``tests/test_sources.py`` and ``tests/test_metadata.py`` use the same ones (a
``tests/conftest.py`` is not an option: the streamz_core pytest plugin is loaded
through its entry point, and listing it again there breaks pytest). ``_modes`` is an
ordinary import: setup.cfg puts ``tests/`` on ``sys.path`` (pytest's ``pythonpath``)
and collects with ``--import-mode=importlib``, so this conftest and
``tests/runtime/conftest.py`` do not clash over the name ``conftest``.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from _modes import (
    destroy_sinks_fixture,  # noqa: F401
    loop_mode_fixture,  # noqa: F401
    mode_fixture,  # noqa: F401
    tracker_fixture,  # noqa: F401
    virtual_runner_fixture,  # noqa: F401
)


@pytest.fixture(autouse=True)
def _destroy_leftover_sinks(destroy_sinks: None) -> Iterator[None]:
    """Every operator test destroys the sinks it leaves pinned."""
    yield
