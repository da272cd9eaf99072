"""Stream operators, grouped by kind; importing this package registers them on Stream."""
from .._assembly import complete_stream_api
from . import aggregate, combine, flow, parallel, select, time, transform  # noqa: F401

# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
