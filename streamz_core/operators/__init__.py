"""Stream operators, grouped by kind; importing this package registers them on Stream."""
from . import aggregate, combine, flow, parallel, select, time, transform  # noqa: F401
