"""streamz_core: reactive streaming pipelines on an event loop, compatible with streamz.

Examples
--------
>>> from streamz_core import Stream
>>> source = Stream()
>>> L = source.map(lambda x: x * 2).sink_to_list()
>>> source.emit(21)
>>> L
[42]
"""
from __future__ import annotations

from . import operators as _operators  # noqa: F401  (registers the operator methods)
from .core import DeadLetter as DeadLetter
from .core import RefCounter as RefCounter
from .core import Stream as Stream
from .core import identity as identity
from .core import no_default as no_default
from .loop import LoopRunner as LoopRunner
from .loop import sync as sync
from .operators.aggregate import accumulate as accumulate
from .operators.aggregate import collect as collect
from .operators.aggregate import frequencies as frequencies
from .operators.aggregate import partition as partition
from .operators.aggregate import partition_unique as partition_unique
from .operators.aggregate import scan as scan
from .operators.aggregate import sliding_window as sliding_window
from .operators.combine import combine_latest as combine_latest
from .operators.combine import union as union
from .operators.combine import zip as zip
from .operators.combine import zip_latest as zip_latest
from .operators.flow import buffer as buffer
from .operators.flow import latest as latest
from .operators.select import filter as filter
from .operators.select import remove as remove
from .operators.select import slice as slice
from .operators.select import unique as unique
from .operators.time import delay as delay
from .operators.time import rate_limit as rate_limit
from .operators.time import timed_window as timed_window
from .operators.time import timed_window_unique as timed_window_unique
from .operators.transform import concat as concat
from .operators.transform import flatten as flatten
from .operators.transform import map as map
from .operators.transform import pluck as pluck
from .operators.transform import starmap as starmap
from .sinks import sink as sink
from .sinks import sink_to_list as sink_to_list
from .sinks import sink_to_textfile as sink_to_textfile
from .sources import Source as Source
from .sources import filenames as filenames
from .sources import from_iterable as from_iterable
from .sources import from_periodic as from_periodic
from .sources import from_q as from_q
from .sources import from_textfile as from_textfile

__version__ = "0.1.0"

__all__ = [
    "DeadLetter", "LoopRunner", "RefCounter", "Source", "Stream", "accumulate", "buffer",
    "collect", "combine_latest", "concat", "delay", "filenames", "filter", "flatten",
    "frequencies", "from_iterable", "from_periodic", "from_q", "from_textfile", "identity",
    "latest", "map", "no_default", "partition", "partition_unique", "pluck", "rate_limit",
    "remove", "scan", "sink", "sink_to_list", "sink_to_textfile", "slice", "sliding_window",
    "starmap", "sync", "timed_window", "timed_window_unique", "union", "unique", "zip",
    "zip_latest",
]
