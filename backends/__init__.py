"""Executor backends, installed as ``streamz_core.backends``."""
