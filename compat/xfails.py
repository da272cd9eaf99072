"""Deliberate differences: streamz 0.6.4 tests that streamz_core fails on purpose.

Each key is a test id as ``file::name`` (parametrized ids included, e.g.
``test_core.py::test_delay[0.01]``); each value names the entry of docs/migrating.md that
says why streamz_core differs and what a user does instead. The harness marks these tests
``xfail(strict=True)`` with that reason, so a fixed one shows up as XPASS (a failure).
Only differences the team has decided are deliberate go here; every other failure is a bug
to fix, listed by ``make compat``.
"""
from __future__ import annotations

DELIBERATE: dict[str, str] = {
    # streamz paces delay's output (one element per interval); streamz_core delays each
    # element by the interval, so all five arrive together after 0.02 s.
    "test_core.py::test_delay": "Deliberate differences, Nodes: `delay` is a true per-element delay",
    # streamz's latest holds the newest element's refs until the next one arrives.
    "test_core.py::test_latest_ref_counts": "Deliberate differences, Nodes: `latest` holds nothing it does not need",
}
