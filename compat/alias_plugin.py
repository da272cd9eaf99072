"""pytest plugin for ``make compat`` only: run streamz's tests on streamz_core.

Loaded with ``-p alias_plugin`` (``compat/`` on PYTHONPATH), so :func:`install` runs before
pytest collects anything and every ``import streamz`` in the tests gets streamz_core.
"""
from __future__ import annotations

import os

import pytest

import streamz_core.compat

streamz_core.compat.install()

from xfails import DELIBERATE  # noqa: E402  (after install(), which must come first)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the deliberate differences of xfails.DELIBERATE as strict xfails."""
    for item in items:
        test_id = os.path.basename(item.nodeid.split("::", 1)[0]) + "::" + item.nodeid.split("::", 1)[-1]
        entry = DELIBERATE.get(test_id)
        if entry is not None:
            item.add_marker(pytest.mark.xfail(
                reason=f"deliberate difference: docs/migrating.md, {entry}", strict=True))
