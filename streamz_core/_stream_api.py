"""The stream half of ``streamz_core``'s namespace, imported on first use of a name.

``streamz_core/__init__.py`` re-exports these names lazily (PEP 562), so that importing
``streamz_core.runtime`` (a worker process, a script that only runs tasks) loads neither
Tornado nor the operators. Importing this module registers the operator methods on
:class:`Stream` and then the installed plugins, in that order, as a plain import of the
package did before.
"""
from __future__ import annotations

from . import operators as _operators  # noqa: F401  (registers the operator methods)
from .batch import Batch as Batch
from .broker_sinks import to_mqtt as to_mqtt
from .broker_sinks import to_websocket as to_websocket
from .collection import Streaming as Streaming
from .core import DeadLetter as DeadLetter
from .core import RefCounter as RefCounter
from .core import Stream as Stream
from .core import identity as identity
from .core import logger as logger
from .core import no_default as no_default
from .graph import build_node_set as build_node_set
from .graph import create_graph as create_graph
from .graph import readable_graph as readable_graph
from .graph import to_graphviz as to_graphviz
from .graph import visualize as visualize
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
from .operators.parallel import gather as gather
from .operators.parallel import scatter as scatter
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
from .plugins import load_plugins as load_plugins
from .plugins import register_api as register_api
from .sinks import Sink as Sink
from .sinks import sink as sink
from .sinks import sink_to_list as sink_to_list
from .sinks import sink_to_textfile as sink_to_textfile
from .sources import PeriodicCallback as PeriodicCallback
from .sources import Source as Source
from .sources import filenames as filenames
from .sources import from_http_server as from_http_server
from .sources import from_iterable as from_iterable
from .sources import from_periodic as from_periodic
from .sources import from_process as from_process
from .sources import from_q as from_q
from .sources import from_tcp as from_tcp
from .sources import from_textfile as from_textfile
from .sources import sink_to_file as sink_to_file
from .sources.brokers import from_mqtt as from_mqtt
from .sources.brokers import from_websocket as from_websocket

load_plugins(Stream)
