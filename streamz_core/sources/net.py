"""Server sources: from_tcp and from_http_server, listening on the graph's loop.

Each is ready only once it listens. In the background-thread mode (the default)
``start()`` blocks until the server listens and raises what went wrong, such as a port
already in use, and ``stop()`` blocks until the port is free. In the in-loop mode
(``asynchronous=True``, called on the loop's thread) the server listens before
``start()`` returns; ``await source.wait_stopped()`` waits until a stopped source has
released everything.

Servers bind ``127.0.0.1`` unless given another ``host``; ``port=0`` picks a free port,
readable as ``source.port`` once started. ``stop()`` closes the server and every
connection. Each element is emitted with the graph's backpressure: while the pipeline
is busy the source stops reading, so a slow pipeline slows the sender (through TCP flow
control) instead of filling memory.
"""
from __future__ import annotations

import re
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream, StreamBufferFullError, StreamClosedError
from tornado.tcpserver import TCPServer
from tornado.web import Application

from ..core import Stream
from ..operators._util import as_count
from ._server import _MAX_BODY, _BodyBudget, _check_host, _check_port, _PostHandler, _ServerSource
from .base import _check_kwargs

__all__ = ["from_http_server", "from_tcp"]


class _TCPServer(TCPServer):
    source: from_tcp

    def handle_stream(self, stream: IOStream, address: Any) -> Any:
        return self.source._serve(stream)


@Stream.register_api(staticmethod)
class from_tcp(_ServerSource):
    """Listen for TCP connections; emit each ``delimiter``-terminated chunk of bytes.

    Every client connection is read on the graph's loop and split on ``delimiter``;
    each chunk is emitted with the delimiter still at its end, in the order it
    arrived on its connection (chunks of different clients interleave). Bytes left
    without a delimiter when a client disconnects are dropped, as in streamz. The
    next chunk of a connection is read only once the pipeline has taken the previous
    one, so a slow pipeline slows the clients down.

    ``start()`` binds the port; see the module notes for when it returns in each
    mode. ``stop()`` closes the server and every open connection and frees the port.

    Parameters
    ----------
    port : int
        The port to listen on, 0 for a free one (a new one at each start);
        ``source.port`` gives the port in use once started.
    delimiter : bytes
        Separates the chunks; kept at the end of each emitted chunk.
    server_kwargs : dict, optional
        Passed to ``tornado.tcpserver.TCPServer`` (``ssl_options``,
        ``max_buffer_size`` (the largest chunk, 100 MB by default),
        ``read_chunk_size``).
    host : str or None
        The address to bind: ``'127.0.0.1'`` (default) accepts connections from this
        machine only; ``'0.0.0.0'`` from every IPv4 interface; ``None`` or ``''``
        from every interface.
    **kwargs
        Passed to :class:`Source`: ``start``, ``asynchronous``, ``loop``,
        ``stream_name``.

    Examples
    --------
    >>> import asyncio
    >>> from streamz_core.testing import async_poll_for, poll_for
    >>> async def main():
    ...     source = Stream.from_tcp(0, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()                  # listening once start() returns
    ...     reader, writer = await asyncio.open_connection('127.0.0.1', source.port)
    ...     writer.write(b'hello\\nwor')
    ...     writer.write(b'ld\\n')
    ...     await async_poll_for(lambda: len(L) == 2)
    ...     writer.close()
    ...     source.stop()                   # closes the connection, frees the port
    ...     return L
    >>> asyncio.run(main())
    [b'hello\\n', b'world\\n']

    In the background-thread mode, ``start()`` blocks until the server listens:

    >>> import socket
    >>> source = Stream.from_tcp(0, delimiter=b';')
    >>> L = source.sink_to_list()
    >>> source.start()
    >>> with socket.create_connection(('127.0.0.1', source.port)) as client:
    ...     client.sendall(b'a;b;')
    ...     _ = poll_for(lambda: len(L) == 2)
    >>> source.stop()
    >>> L
    [b'a;', b'b;']

    See Also
    --------
    from_http_server, from_process
    """

    def __init__(self, port: int, delimiter: bytes = b"\n", server_kwargs: dict[str, Any] | None = None,
                 host: str | None = "127.0.0.1", **kwargs: Any):
        port = _check_port(port, "from_tcp")
        host = _check_host(host, "from_tcp")
        if not isinstance(delimiter, (bytes, bytearray)):
            fix = f"; pass delimiter={delimiter.encode()!r}" if isinstance(delimiter, str) else ""
            raise TypeError(
                f"from_tcp(delimiter={delimiter!r}): expected bytes such as b'\\n'{fix}"
            )
        if not delimiter:
            raise ValueError(
                "from_tcp(delimiter=b''): the delimiter cannot be empty; pass the bytes "
                "that end each message, such as b'\\n' (the default)"
            )
        self.delimiter = bytes(delimiter)
        skw = _check_kwargs(server_kwargs, TCPServer.__init__, "from_tcp(server_kwargs)", skip=1)
        super().__init__(port, host, skw, **kwargs)

    def _make_server(self) -> TCPServer:
        server = _TCPServer(**self.server_kwargs)
        server.source = self
        return server

    async def _serve(self, stream: IOStream) -> None:
        if self.stopped:
            stream.close()
            return
        self._streams.add(stream)
        delimiter = self.delimiter
        try:
            while not self.stopped:
                chunk = await stream.read_until(delimiter)
                await self._emit_async(chunk)
        except (StreamClosedError, StreamBufferFullError) as exc:
            full = isinstance(exc, StreamBufferFullError) or isinstance(stream.error, StreamBufferFullError)
            if full and not self.stopped:
                limit = self.server_kwargs.get("max_buffer_size") or "100 MB"
                self._report(ValueError(
                    f"{self!r}: a client sent more than max_buffer_size ({limit}) "
                    f"without the delimiter {delimiter!r}, so its connection was closed; "
                    "raise server_kwargs={'max_buffer_size': ...} or check the delimiter"
                ), None)
        finally:
            self._streams.discard(stream)
            stream.close()


class _HTTPServer(HTTPServer):
    source: from_http_server

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.source._streams.add(stream)  # so that stop() can close the connection
        super().handle_stream(stream, address)


@Stream.register_api(staticmethod)
class from_http_server(_ServerSource):
    """Listen for HTTP requests; emit the body (bytes) of each POST to a matching path.

    ``path`` is a regular expression matched against the whole request path. A POST
    to a matching path is emitted, and answered ``200 OK`` as soon as the pipeline has
    taken it (so a slow pipeline slows the clients down), or ``500`` if the pipeline
    raised; other paths get ``404`` and other methods ``405``. A body larger than
    ``max_body_size`` is read and thrown away, and answered ``413 Payload Too Large``
    with a text body naming the limit (not a connection reset).

    Memory stays bounded under concurrent uploads: bodies being received or in the
    pipeline hold at most ``2 * max_body_size`` bytes together (a request reserves its
    ``Content-Length``, or ``max_body_size`` if chunked, before its body is read);
    further requests wait unread, so their senders are slowed by TCP flow control.
    One request at a time always gets through.

    ``start()`` binds the port; see the module notes for when it returns in each
    mode. ``stop()`` closes the server and every open connection and frees the port.

    Parameters
    ----------
    port : int
        The port to listen on, 0 for a free one (a new one at each start);
        ``source.port`` gives the port in use once started.
    path : str
        A regular expression for the paths to accept; the default accepts all.
    server_kwargs : dict, optional
        Passed to ``tornado.httpserver.HTTPServer`` (``ssl_options``, ``xheaders``,
        ``idle_connection_timeout``, ``body_timeout`` ...). A ``max_body_size`` given
        here is used as ``max_body_size`` below, as streamz users may pass it.
    host : str or None
        The address to bind: ``'127.0.0.1'`` (default) accepts connections from this
        machine only; ``'0.0.0.0'`` from every IPv4 interface; ``None`` or ``''``
        from every interface.
    max_body_size : int, optional
        The largest POST body accepted, in bytes; default 100 MiB (Tornado's default).
        Larger bodies are answered ``413``.
    **kwargs
        Passed to :class:`Source`: ``start``, ``asynchronous``, ``loop``,
        ``stream_name``.

    Examples
    --------
    In the background-thread mode ``start()`` returns once listening, and a POST
    gets its answer once the pipeline has taken the body:

    >>> from urllib.request import urlopen
    >>> source = Stream.from_http_server(0, path='/data')
    >>> L = source.sink_to_list()
    >>> source.start()
    >>> urlopen(f'http://127.0.0.1:{source.port}/data', data=b'{"x": 1}').status
    200
    >>> source.stop()
    >>> L
    [b'{"x": 1}']

    See Also
    --------
    from_tcp
    """

    def __init__(self, port: int, path: str = "/.*", server_kwargs: dict[str, Any] | None = None,
                 host: str | None = "127.0.0.1", max_body_size: int | None = None, **kwargs: Any):
        port = _check_port(port, "from_http_server")
        host = _check_host(host, "from_http_server")
        if not isinstance(path, str):
            raise TypeError(
                f"from_http_server(path={path!r}): expected a regular expression string "
                "such as '/data' or '/api/.*'"
            )
        try:
            re.compile(path)
        except re.error as exc:
            raise ValueError(
                f"from_http_server(path={path!r}) is not a valid regular expression "
                f"({exc}); escape literal characters, e.g. path=re.escape('/a[1]')"
            ) from None
        self.path = path
        skw = _check_kwargs(server_kwargs, HTTPServer.initialize, "from_http_server(server_kwargs)", skip=2)
        from_server_kwargs = skw.pop("max_body_size", None)  # each request sets its own
        if max_body_size is None:
            max_body_size = _MAX_BODY if from_server_kwargs is None else from_server_kwargs
        elif from_server_kwargs is not None and from_server_kwargs != max_body_size:
            raise ValueError(
                f"from_http_server(max_body_size={max_body_size!r}, server_kwargs="
                f"{{'max_body_size': {from_server_kwargs!r}}}): two different limits; "
                "pass max_body_size only"
            )
        size = as_count(max_body_size)
        if size is None or size < 1:
            raise ValueError(
                f"from_http_server(max_body_size={max_body_size!r}): expected the largest "
                "body to accept, in bytes, as an int >= 1, such as 10 * 2**20 for 10 MiB"
            )
        self.max_body_size = size
        self._budget = _BodyBudget(2 * size)
        super().__init__(port, host, skw, **kwargs)

    def _make_server(self) -> TCPServer:
        app = Application([(self.path, _PostHandler, {"source": self})])
        server = _HTTPServer(app, **self.server_kwargs)
        server.source = self
        return server

