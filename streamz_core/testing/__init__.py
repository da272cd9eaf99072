"""Tools for testing pipelines: virtual time, its pytest fixtures, waits, executor conformance."""

from __future__ import annotations

from .clock import VirtualTimeLoop as VirtualTimeLoop
from .executor_suite import check_executor as check_executor
from .waiting import async_poll_for as async_poll_for
from .waiting import poll_for as poll_for

__all__ = ["VirtualTimeLoop", "async_poll_for", "check_executor", "poll_for"]
