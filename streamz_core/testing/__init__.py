"""Tools for testing pipelines: virtual time and executor checks."""
