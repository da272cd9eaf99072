"""Fixtures shared by the operator tests: the run modes, metadata tracking.

They live in ``tests/_modes.py`` so that ``tests/test_sinks.py``,
``tests/test_sources.py`` and ``tests/test_metadata.py`` use the same ones (a
``tests/conftest.py`` is not an option: the streamz_core pytest plugin is loaded
through its entry point, and listing it again there breaks pytest).
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _modes import (  # noqa: E402
    destroy_sinks_fixture,  # noqa: F401
    loop_mode_fixture,  # noqa: F401
    mode_fixture,  # noqa: F401
    tracker_fixture,  # noqa: F401
    virtual_runner_fixture,  # noqa: F401
)


@pytest.fixture(autouse=True)
def _destroy_leftover_sinks(destroy_sinks):
    """Every operator test destroys the sinks it leaves pinned."""
    yield
