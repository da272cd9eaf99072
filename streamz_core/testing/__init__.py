"""Tools for testing pipelines: virtual time, its pytest fixtures, executor conformance."""

from __future__ import annotations

from .clock import VirtualTimeLoop as VirtualTimeLoop
from .executor_suite import check_executor as check_executor

__all__ = ["VirtualTimeLoop", "check_executor"]
