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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see __getattr__
    from ._stream_api import (  # noqa: I001 - the names of __all__ (so re-exported), packed
        Batch, DeadLetter, LoopRunner, PeriodicCallback, RefCounter, Sink, Source, Stream,
        Streaming, accumulate,
        buffer, build_node_set, collect, combine_latest, concat, create_graph, delay, filenames,
        filter, flatten, frequencies, from_http_server, from_iterable, from_mqtt, from_periodic,
        from_websocket, to_mqtt, to_websocket,
        from_process, from_q, from_tcp, from_textfile, gather, identity, latest, load_plugins,
        logger, map, no_default, partition, partition_unique, pluck, rate_limit, readable_graph,
        register_api, remove, scan, scatter, sink, sink_to_file, sink_to_list, sink_to_textfile,
        slice, sliding_window, starmap,
        sync, timed_window, timed_window_unique, to_graphviz, union, unique, visualize, zip,
        zip_latest,
    )

__version__ = "0.1.0"

__all__ = [
    "Batch", "DeadLetter", "LoopRunner", "PeriodicCallback", "RefCounter", "Sink", "Source",
    "Stream", "Streaming",
    "accumulate", "buffer", "build_node_set", "collect", "combine_latest", "concat",
    "create_graph", "delay", "filenames", "filter", "flatten", "frequencies",
    "from_http_server", "from_iterable", "from_mqtt", "from_periodic", "from_process", "from_q",
    "from_tcp", "from_textfile", "from_websocket", "gather", "identity", "latest", "load_plugins", "logger",
    "map", "no_default", "partition", "partition_unique", "pluck", "rate_limit",
    "readable_graph", "register_api", "remove", "scan", "scatter", "sink", "sink_to_file",
    "sink_to_list", "sink_to_textfile",
    "slice", "sliding_window", "starmap", "sync", "timed_window", "timed_window_unique",
    "to_graphviz", "union", "unique", "visualize", "zip", "zip_latest", "to_mqtt", "to_websocket",
]


def __getattr__(name: str) -> Any:
    """Import the stream half (``_stream_api``) on first use of one of its names.

    Importing ``streamz_core.runtime`` alone never gets here, so it stays light.
    """
    if name in __all__:
        from . import _stream_api

        value = getattr(_stream_api, name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
