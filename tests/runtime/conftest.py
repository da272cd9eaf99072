"""Fixtures for the runtime tests: one shared runtime with two workers."""
from __future__ import annotations

import os

import pytest

import streamz_core.runtime as rt
from streamz_core.testing import poll_for as wait_for


@pytest.fixture(scope="module")
def runtime():
    """A running runtime (2 workers) shared by the tests of one module."""
    rt.shutdown()
    rt.init(num_workers=2)
    from streamz_core.runtime import _context
    wait_for(lambda: all(w.ready for w in _context.current().workers))
    yield rt
    rt.shutdown()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


@pytest.fixture(name="wait_for")
def _wait_for_fixture():
    """The public polling helper, :func:`streamz_core.testing.poll_for`."""
    return wait_for


@pytest.fixture(name="pid_alive")
def _pid_alive_fixture():
    """The :func:`pid_alive` helper."""
    return pid_alive


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: fault-injection tests that take longer (run in their own CI step)")
