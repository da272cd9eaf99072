"""Tools for testing pipelines: virtual time and its pytest fixtures."""

from __future__ import annotations

from .clock import VirtualTimeLoop as VirtualTimeLoop

__all__ = ["VirtualTimeLoop"]
