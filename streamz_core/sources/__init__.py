"""Graph starts: every source, with one lifecycle (start, stop, wait_started, wait_stopped).

- :mod:`.base`: the :class:`Source` base class and its lifecycle.
- :mod:`.polling`: ``from_iterable``, ``from_periodic``, ``from_q``, ``from_textfile``,
  ``filenames``.
- :mod:`.net`: ``from_tcp``, ``from_http_server`` (servers on the graph's loop).
- :mod:`.process`: ``from_process`` (a command's output lines).
- :mod:`._legacy`: streamz's ``sink_to_file`` and ``PeriodicCallback``.

Examples
--------
>>> import asyncio
>>> from streamz_core.sources import from_iterable
>>> async def main():
...     source = from_iterable([1, 2, 3], asynchronous=True)
...     L = source.sink_to_list()
...     source.start()
...     await source.wait_stopped()     # every source: start, stop, wait_started, wait_stopped
...     return L
>>> asyncio.run(main())
[1, 2, 3]
"""
from __future__ import annotations

from .._assembly import complete_stream_api
from ._legacy import PeriodicCallback as PeriodicCallback
from ._legacy import sink_to_file as sink_to_file
from .base import Source as Source
from .net import from_http_server as from_http_server
from .net import from_tcp as from_tcp
from .polling import filenames as filenames
from .polling import from_iterable as from_iterable
from .polling import from_periodic as from_periodic
from .polling import from_q as from_q
from .polling import from_textfile as from_textfile
from .process import from_process as from_process

__all__ = [
    "PeriodicCallback",
    "Source",
    "filenames",
    "from_http_server",
    "from_iterable",
    "from_periodic",
    "from_process",
    "from_q",
    "from_tcp",
    "from_textfile",
    "sink_to_file",
]

# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
