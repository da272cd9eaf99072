"""Sources that own a server or a subprocess: from_tcp, from_http_server, from_process.

Each runs on its graph's loop (the shared background loop thread unless the graph has
one) and is ready only once it can receive data:

- background-thread mode (the default): ``start()`` blocks until the server listens
  (or the process runs) and raises what went wrong, such as a port already in use;
  ``stop()`` blocks until the port is free (or the process is gone);
- in-loop mode (``asynchronous=True``, called on the loop's thread): a server binds
  before ``start()`` returns, a process is spawned just after; ``await
  source.wait_started()`` waits for either and raises what went wrong, and ``await
  source.wait_stopped()`` waits until a stopped source has released everything.

Servers bind ``127.0.0.1`` unless given another ``host``; ``port=0`` picks a free port,
readable as ``source.port`` once started. ``stop()`` closes the server and every
connection. Each element is emitted with the graph's backpressure: while the pipeline
is busy the source stops reading, so a slow pipeline slows the sender (through TCP flow
control, or the pipe of the process) instead of filling memory.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import errno
import inspect
import os
import re
import shlex
import signal
import socket
import subprocess
import weakref
from asyncio import _get_running_loop
from collections.abc import Mapping
from collections.abc import Callable
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamBufferFullError, StreamClosedError
from tornado.tcpserver import TCPServer
from tornado.web import Application, RequestHandler, stream_request_body

from .core import Stream, _gather
from .loop import call_blocking
from .operators._util import as_count
from .sources import Source

__all__ = ["from_http_server", "from_process", "from_tcp"]

# Seconds a process gets between SIGTERM and SIGKILL when the source stops.
_KILL_AFTER = 2.0
# A line of process output is read in pieces of at most this size, so the pipe is
# paused once about twice this much is buffered (backpressure) ...
_PIPE_LIMIT = 2**16
# ... and a single line may grow to this size (tornado's default max_buffer_size).
_MAX_LINE = 100 * 2**20


class _OwnerSource(Source):
    """A source that opens a resource on start and releases it on stop.

    Subclasses implement ``_open`` (on the loop thread; raise, or set ``_ready`` once
    ready) and ``_close`` (on the loop thread; set ``_closed`` once released), and
    ``_stop_waits_for`` (what a blocking ``stop()`` waits for after ``_close``).
    """

    def __init__(self, **kwargs: Any):
        self._ready: concurrent.futures.Future[None] | None = None
        self._closed: concurrent.futures.Future[None] | None = None
        self._start_when_bound = False
        self._starter_waits = False
        super().__init__(**kwargs)

    def start(self) -> None:
        """Open the server (or spawn the process) on the loop.

        In the background-thread mode this returns once listening (or running) and
        raises what went wrong; on the loop's own thread a server is listening when
        this returns and a process is spawned soon after (see :meth:`wait_started`).
        """
        if not self.stopped:
            return
        previous = self._closed
        if previous is not None and not previous.done():
            raise RuntimeError(
                f"{self!r} is still shutting down after stop(); await "
                "source.wait_stopped() before calling start() again"
            )
        self.stopped = False
        self.started = True
        self._ready = concurrent.futures.Future()
        self._closed = concurrent.futures.Future()
        running = _get_running_loop()
        aloop = self._aloop
        if aloop is None:  # asynchronous=True, built outside a loop
            if running is None:
                self._start_when_bound = True  # opened once the graph gets a loop
                return
            self._set_loop(running)
            aloop = running
        try:
            if running is aloop:
                self._starter_waits = False
                self._open()
            else:
                self._starter_waits = True
                call_blocking(aloop, self._open_blocking)
        except BaseException:
            self.stopped = True
            raise

    def _open_blocking(self) -> Any:
        self._open()
        ready = self._ready
        assert ready is not None
        return None if ready.done() else asyncio.wrap_future(ready)

    def _on_loop(self) -> None:
        if self._start_when_bound and not self.stopped:
            self._start_when_bound = False
            self._call_on_loop(self._open_reporting)

    def _open_reporting(self) -> None:
        try:
            self._open()
        except Exception as exc:  # nobody called start() on this loop: log or route it
            self._report(exc)

    # Each server kind defines _open (start listening or spawn, on the loop thread) and
    # _close (stop, on the loop thread); the base class only sequences them.
    _open: Callable[[], None]
    _close: Callable[[], None]

    def _failed_to_open(self, exc: BaseException) -> None:
        self.stopped = True
        for fut in (self._ready, self._closed):
            if fut is not None and not fut.done():
                if fut is self._ready:
                    fut.set_exception(exc)
                else:
                    fut.set_result(None)

    async def wait_started(self) -> None:
        """Wait until the server listens (or the process runs); raise what went wrong.

        Awaitable from any event loop. Raises ``RuntimeError`` if :meth:`start` was
        never called.
        """
        ready = self._ready
        if ready is None:
            raise RuntimeError(
                f"{self!r} was never started; call source.start() first, then await "
                "source.wait_started()"
            )
        if self._start_when_bound and self._aloop is None:
            # asynchronous=True source started outside a loop: bind it to this one
            self._start_when_bound = False
            self._set_loop(asyncio.get_running_loop())
            self._starter_waits = True
            self._open()
        await asyncio.wrap_future(ready)

    def stop(self) -> None:
        """Stop: close the server and its connections (freeing the port), or kill the process.

        In the background-thread mode this returns once the port is free (or the
        process has exited); on the loop's own thread, await :meth:`wait_stopped`.
        """
        if self._start_when_bound:
            self._start_when_bound = False
            self.stopped = True
            self._failed_to_open(RuntimeError(f"{self!r} was stopped before it started"))
            return
        if self.stopped and not self._still_open():
            return
        self.stopped = True
        aloop = self._aloop
        if aloop is None or aloop.is_closed():
            return
        if _get_running_loop() is aloop:
            self._close()
        else:
            call_blocking(aloop, self._close_blocking)

    def _still_open(self) -> bool:
        return False

    def _close_blocking(self) -> Any:
        self._close()
        return self._stop_waits_for()

    def _stop_waits_for(self) -> Any:
        return None

    async def wait_stopped(self) -> None:
        """Wait until the source has stopped and released its server or process.

        For :func:`from_process` this also waits for a process that is still running,
        so ``await source.wait_stopped()`` waits for the command to finish. Returns at
        once if the source was never started.
        """
        closed = self._closed
        if closed is not None:
            await asyncio.wrap_future(closed)

    async def run(self) -> None:  # opened by start(), not by a polling task
        return None


# ----------------------------------------------------------------- validation
def _check_port(port: Any, where: str) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        error = ValueError if isinstance(port, int) and not isinstance(port, bool) else TypeError
        raise error(
            f"{where}(port={port!r}): expected an int from 0 to 65535; "
            "use port=0 to pick a free port, then read source.port after start()"
        )
    return int(port)


def _check_host(host: Any, where: str) -> str | None:
    if host is not None and not isinstance(host, str):
        raise TypeError(
            f"{where}(host={host!r}): expected an address such as '127.0.0.1' (the "
            "default, this machine only), '0.0.0.0' (every IPv4 interface) or None "
            "(every interface)"
        )
    return host


def _check_kwargs(kwargs: Any, target: Any, where: str, skip: int) -> dict[str, Any]:
    """Check that ``kwargs`` (a dict or None) binds to ``target``'s signature."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"{where}={kwargs!r}: expected a dict of keyword arguments or None")
    params = list(inspect.signature(target).parameters.values())[skip:]
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise TypeError(
            f"{where}={dict(kwargs)!r}: {target.__qualname__} takes no argument(s) "
            f"{', '.join(map(repr, unknown))}; valid names are {', '.join(sorted(names))}"
        )
    return dict(kwargs)


def _bind(host: str | None, port: int) -> list[socket.socket]:
    """Listening sockets for every address of ``host`` (all interfaces for None or '').

    Like ``tornado.netutil.bind_sockets``, which leaks its sockets when a bind fails
    (a ResourceWarning for every "port in use"): these are closed on any error.
    """
    sockets: list[socket.socket] = []
    bound_port = None
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                               socket.AI_PASSIVE)
    try:
        for af, socktype, proto, _, sockaddr in sorted(set(infos), key=lambda i: i[0]):
            try:
                sock = socket.socket(af, socktype, proto)
            except OSError as exc:
                if exc.errno == errno.EAFNOSUPPORT:
                    continue
                raise
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if af == socket.AF_INET6:  # one socket per family, as tornado does
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if sockaddr[1] == 0 and bound_port is not None:  # same free port for v4 and v6
                    sockaddr = (sockaddr[0], bound_port, *sockaddr[2:])
                sock.setblocking(False)
                sock.bind(sockaddr)
                sock.listen(128)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRNOTAVAIL and af == socket.AF_INET6 and host == "localhost":
                    continue  # IPv6 half-disabled (docker): serve localhost on IPv4 only
                raise
            bound_port = sock.getsockname()[1]
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _stop_server(server: TCPServer) -> None:
    """Stop listening; free the sockets even when tornado's own stop() fails."""
    try:
        server.stop()
    except KeyError:
        # Tornado 6.6's TCPServer.stop() raises KeyError from _handlers.pop(fd) when
        # a listening socket has no accept handler registered, which streamz runs
        # into (it calls stop() from another thread than the loop's, racing
        # listen()). We stop on the loop thread only, but if it happens anyway,
        # finish the job so that the port is freed.
        handlers = getattr(server, "_handlers", {})
        for fd, sock in list(getattr(server, "_sockets", {}).items()):
            if sock.fileno() == -1:
                continue
            remove = handlers.pop(fd, None)
            if remove is not None:
                remove()
            else:  # unregister it from the loop before closing, or the fd number dangles
                IOLoop.current().remove_handler(sock)
            sock.close()


class _ServerSource(_OwnerSource):
    """A source that listens on ``host:port`` with a Tornado server."""

    str_list = ["host", "port"]

    def __init__(self, port: int, host: str | None, server_kwargs: dict[str, Any], **kwargs: Any):
        self.port = port
        self.host = host
        self._requested_port = port
        self.server_kwargs = server_kwargs
        self.server: TCPServer | None = None
        self._sockets: list[Any] = []
        self._streams: weakref.WeakSet[IOStream] = weakref.WeakSet()
        super().__init__(**kwargs)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The ``(host, port)`` pairs the server listens on (empty when stopped)."""
        return [tuple(s.getsockname()[:2]) for s in self._sockets]  # type: ignore[misc]

    _make_server: Callable[[], TCPServer]  # each server kind builds its Tornado server

    def _open(self) -> None:
        try:
            sockets = _bind(self.host, self._requested_port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fix = "the port is in use: pick another port, or port=0 for a free one"
            else:
                fix = "check host= (an address of this machine, or None for all) and port="
            exc.add_note(f"raised by {self!r} binding {self.host!r} port {self._requested_port}; {fix}")
            self._failed_to_open(exc)
            raise
        try:
            server = self._make_server()
            server.add_sockets(sockets)
        except BaseException as exc:
            for sock in sockets:
                sock.close()
            self._failed_to_open(exc)
            raise
        self.server = server
        self._sockets = sockets
        self.port = sockets[0].getsockname()[1]
        assert self._ready is not None
        self._ready.set_result(None)

    def _close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            _stop_server(server)
        self._sockets = []
        for stream in list(self._streams):
            stream.close()
        self._streams.clear()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)


# ------------------------------------------------------------------ from_tcp
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
    >>> async def main():
    ...     source = Stream.from_tcp(0, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()                  # listening once start() returns
    ...     reader, writer = await asyncio.open_connection('127.0.0.1', source.port)
    ...     writer.write(b'hello\\nwor')
    ...     writer.write(b'ld\\n')
    ...     while len(L) < 2:
    ...         await asyncio.sleep(0.001)
    ...     writer.close()
    ...     source.stop()                   # closes the connection, frees the port
    ...     return L
    >>> asyncio.run(main())
    [b'hello\\n', b'world\\n']

    In the background-thread mode, ``start()`` blocks until the server listens:

    >>> import socket, time
    >>> source = Stream.from_tcp(0, delimiter=b';')
    >>> L = source.sink_to_list()
    >>> source.start()
    >>> with socket.create_connection(('127.0.0.1', source.port)) as client:
    ...     client.sendall(b'a;b;')
    ...     while len(L) < 2:
    ...         time.sleep(0.001)
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


# ---------------------------------------------------------- from_http_server
class _HTTPServer(HTTPServer):
    source: from_http_server

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.source._streams.add(stream)  # so that stop() can close the connection
        super().handle_stream(stream, address)


# The default largest POST body: Tornado's default, which streamz users had.
_MAX_BODY = 100 * 2**20


class _BodyBudget:
    """Bytes of request bodies that may be held at once (received or in the pipeline).

    A request reserves what it may hold (its Content-Length, or ``max_body_size`` for
    a chunked body) before its body is read, and gives it back once answered. Later
    requests wait unread, so their senders are slowed by TCP flow control instead of
    filling memory. One request always gets through, however large the reservation.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def reserve(self, n: int) -> None:
        if self.held and self.held + n > self.limit or self._waiters:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append((n, fut))
            try:
                await fut
            except BaseException:
                if fut.done() and not fut.cancelled():
                    self.held -= n  # granted just as we were cancelled: give it back
                    self._grant()
                else:
                    self._waiters = [w for w in self._waiters if w[1] is not fut]
                raise
            return
        self.held += n

    def release(self, n: int) -> None:
        self.held -= n
        self._grant()

    def _grant(self) -> None:
        while self._waiters:  # in arrival order, so a large body is not starved
            n, fut = self._waiters[0]
            if self.held and self.held + n > self.limit:
                return
            self._waiters.pop(0)
            if not fut.done():
                self.held += n
                fut.set_result(None)


@stream_request_body
class _PostHandler(RequestHandler):
    """Streams each POST body into a list of chunks, within the source's limits."""

    source: from_http_server
    _reserved = 0
    _refused = False

    def initialize(self, source: from_http_server) -> None:
        self.source = source
        self._chunks: list[bytes] = []
        self._size = 0

    async def prepare(self) -> None:
        if self.request.method != "POST":
            return  # answered 405 by Tornado
        limit = self.source.max_body_size
        length = self.request.headers.get("Content-Length")
        try:
            declared = int(length) if length is not None else None
        except ValueError:
            declared = None  # Tornado itself answers 400 for a bad Content-Length
        connection = self.request.connection
        if declared is not None and declared > limit:
            # Read the body and throw it away, so the client reads the answer (413)
            # instead of a connection reset in the middle of its upload.
            self._refused = True
            connection.set_max_body_size(declared)  # type: ignore[union-attr]
            return
        # A chunked body has no declared size: read on, refuse it once past the limit.
        connection.set_max_body_size(2**62 if declared is None else limit)  # type: ignore[union-attr]
        want = limit if declared is None else declared
        await self.source._budget.reserve(want)
        self._reserved = want

    def data_received(self, chunk: bytes) -> None:
        if self._refused:
            return
        self._size += len(chunk)
        if self._size > self.source.max_body_size:
            self._refused = True
            self._chunks = []
            return
        self._chunks.append(chunk)

    def on_finish(self) -> None:
        self._give_back()

    def on_connection_close(self) -> None:
        self._chunks = []
        self._give_back()

    def _give_back(self) -> None:
        if self._reserved:
            reserved, self._reserved = self._reserved, 0
            self.source._budget.release(reserved)

    async def post(self) -> None:
        source = self.source
        if self._refused:
            self.set_status(413)
            self.write(
                f"413 Payload Too Large: this server takes request bodies of at most "
                f"{source.max_body_size} bytes (from_http_server(max_body_size=...)); "
                "send smaller bodies, or raise max_body_size\n"
            )
            return
        if source.stopped:
            self.set_status(503)
            self.write("stopped")
            return
        body = b"".join(self._chunks)
        self._chunks = []
        try:
            r = source._emit(body)
            if r:
                await _gather(r)
        except Exception as exc:
            source._report(exc, body)
            self.set_status(500)
            self.write(f"{type(exc).__name__} in the pipeline")
            return
        finally:
            del body
        self.write("OK")


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


# -------------------------------------------------------------- from_process
class _ProcessProtocol(asyncio.SubprocessProtocol):
    """Feeds the process's stdout into a StreamReader (which pauses the pipe when
    full) and resolves ``exited`` when the process exits, even if a child of it
    still holds the pipe open."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.stdout = asyncio.StreamReader(limit=_PIPE_LIMIT, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        pipe = transport.get_pipe_transport(1)
        if pipe is not None:
            self.stdout.set_transport(pipe)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.stdout.feed_data(data)

    def pipe_connection_lost(self, fd: int, exc: BaseException | None) -> None:
        if fd == 1:
            if exc is None:
                self.stdout.feed_eof()
            else:
                self.stdout.set_exception(exc)  # type: ignore[arg-type]  # an OSError here

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


_NO_TEXT = ("text", "universal_newlines", "encoding", "errors")

# Processes still running, terminated at interpreter exit: the background loop
# thread is a daemon and dies without running their sources' stop().
_live_processes: weakref.WeakSet[from_process] = weakref.WeakSet()


def _die_with_parent(user_preexec: Callable[[], Any] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux).

    Covers what atexit cannot: the driver killed by SIGTERM or ``kill -9``. The kernel
    sends it when the thread that started the child ends; that is the loop's thread,
    and a loop that goes away ends the process anyway. ``user_preexec`` runs after it.
    """
    import sys

    if not sys.platform.startswith("linux"):
        return user_preexec
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return user_preexec
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # this process died before the line above
            os._exit(0)
        if user_preexec is not None:
            user_preexec()

    return preexec


@atexit.register
def _terminate_live_processes() -> None:
    for source in list(_live_processes):
        pid = source.pid
        if pid is not None and source.returncode is None:
            try:
                os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass


@Stream.register_api(staticmethod)
class from_process(_OwnerSource):
    """Run a command; emit each line of its standard output, as bytes.

    The process runs under the graph's loop (asyncio subprocess). Each line is
    emitted with its line ending (``with_end=True``) or without it (``b'\\n'`` or
    ``b'\\r\\n'`` removed); a last line with no line ending is emitted too (streamz
    drops it). The next line is read only once the pipeline has taken the previous
    one, so a slow pipeline slows the process down through its pipe. When the
    process closes its output and exits the source stops by itself.

    ``stop()`` sends SIGTERM, then SIGKILL after 2 seconds; in the background-thread
    mode it returns once the process has exited. In the in-loop mode, ``await
    source.wait_stopped()`` waits for that, or for the command to finish.

    Parameters
    ----------
    cmd : list of str, or str
        The program and its arguments. A string is split like a shell would
        (``shlex.split``), unless ``open_kwargs={'shell': True}`` runs it in a shell.
    open_kwargs : dict, optional
        Passed to ``subprocess.Popen`` (``cwd``, ``env``, ``shell``, ``stdin``,
        ``stderr`` ...); ``stdout`` belongs to the source.
    with_stderr : bool
        Merge standard error into the emitted lines (by default it goes where the
        parent's standard error goes).
    with_end : bool
        Keep the line ending on each emitted line.
    **kwargs
        Passed to :class:`Source`: ``start``, ``asynchronous``, ``loop``,
        ``stream_name``.

    Examples
    --------
    >>> import asyncio, sys
    >>> async def main():
    ...     cmd = [sys.executable, '-c', 'print("one"); print("two")']
    ...     source = Stream.from_process(cmd, with_end=False, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()
    ...     await source.wait_stopped()     # the command has finished
    ...     return L
    >>> asyncio.run(main())
    [b'one', b'two']

    In the background-thread mode ``start()`` returns once the process runs and
    ``stop()`` once it is gone:

    >>> import time
    >>> cmd = [sys.executable, '-u', '-c', 'import time\\nwhile True: print("tick"); time.sleep(0.01)']
    >>> source = Stream.from_process(cmd)
    >>> L = source.sink_to_list()
    >>> source.start()
    >>> while not L:
    ...     time.sleep(0.001)
    >>> source.stop()
    >>> source.returncode is not None, L[0]
    (True, b'tick\\n')

    See Also
    --------
    from_tcp, from_textfile
    """

    str_list = ["cmd"]

    def __init__(self, cmd: Any, open_kwargs: dict[str, Any] | None = None, with_stderr: bool = False,
                 with_end: bool = True, **kwargs: Any):
        okw = _check_kwargs(open_kwargs, subprocess.Popen.__init__, "from_process(open_kwargs)", skip=2)
        if "stdout" in okw:
            raise ValueError(
                f"from_process(open_kwargs={okw!r}): stdout is read by the source; "
                "remove it (to also read stderr, pass with_stderr=True)"
            )
        if with_stderr and "stderr" in okw:
            raise ValueError(
                f"from_process(open_kwargs={okw!r}, with_stderr=True): with_stderr merges "
                "stderr into the emitted lines; remove stderr from open_kwargs or pass "
                "with_stderr=False"
            )
        text = [k for k in _NO_TEXT if okw.get(k)]
        if text:
            raise ValueError(
                f"from_process(open_kwargs={okw!r}): {text[0]} is not supported, the "
                "source emits bytes; decode downstream, e.g. .map(bytes.decode)"
            )
        okw.pop("bufsize", None)
        self.shell = bool(okw.pop("shell", False))
        if self.shell:
            if not isinstance(cmd, str) or not cmd.strip():
                raise TypeError(
                    f"from_process(cmd={cmd!r}, open_kwargs={{'shell': True}}): a shell "
                    "runs a command string such as 'ls -l | wc -l'"
                )
            self._argv: list[Any] = [cmd]
        elif isinstance(cmd, str):
            try:
                self._argv = shlex.split(cmd)
            except ValueError as exc:
                raise ValueError(
                    f"from_process(cmd={cmd!r}): cannot split the command ({exc}); "
                    "pass a list such as ['grep', '-n', 'a b']"
                ) from None
        elif isinstance(cmd, (list, tuple)) and all(
            isinstance(a, (str, bytes, os.PathLike)) for a in cmd
        ):
            self._argv = list(cmd)
        else:
            raise TypeError(
                f"from_process(cmd={cmd!r}): expected a list of strings such as "
                "['ping', '-c', '3', 'localhost'], or a command string"
            )
        if not self._argv:
            raise ValueError(
                f"from_process(cmd={cmd!r}): the command is empty; name a program to run"
            )
        self.cmd = cmd
        self.open_kwargs = okw
        self.with_stderr = with_stderr
        self.with_end = with_end
        self.process: Any = None  # the asyncio subprocess transport, once started
        self._protocol: _ProcessProtocol | None = None
        self._in_read = False
        self._stop_requested = False
        self._kill_timer: asyncio.TimerHandle | None = None
        self._reaper: asyncio.Future[None] | None = None
        super().__init__(**kwargs)

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return None if self.process is None else self.process.get_pid()

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited (negative: killed by that signal)."""
        return None if self.process is None else self.process.get_returncode()

    def _open(self) -> None:
        self._stop_requested = False
        self._reaper = None
        self.process = self._protocol = None
        self._task = asyncio.ensure_future(self._run_process())

    def _stop_waits_for(self) -> Any:
        closed = self._closed
        return None if closed is None or closed.done() else asyncio.wrap_future(closed)

    def _still_open(self) -> bool:
        return self._closed is not None and not self._closed.done()

    async def _spawn(self) -> tuple[Any, _ProcessProtocol]:
        loop = asyncio.get_running_loop()
        okw = dict(self.open_kwargs)
        okw["stderr"] = subprocess.STDOUT if self.with_stderr else okw.get("stderr")
        okw.setdefault("stdin", None)  # inherited, as with Popen (asyncio would make a pipe)
        okw["preexec_fn"] = _die_with_parent(okw.get("preexec_fn"))
        proto = _ProcessProtocol(loop)
        if self.shell:
            transport, _ = await loop.subprocess_shell(
                lambda: proto, self._argv[0], stdout=subprocess.PIPE, **okw)
        else:
            transport, _ = await loop.subprocess_exec(
                lambda: proto, *self._argv, stdout=subprocess.PIPE, **okw)
        return transport, proto

    async def _run_process(self) -> None:
        ready, closed = self._ready, self._closed
        assert ready is not None and closed is not None
        try:
            transport, proto = await self._spawn()
        except BaseException as exc:
            if isinstance(exc, Exception):
                exc.add_note(f"raised by {self!r} starting {self._argv!r}")
            self._failed_to_open(exc)
            if isinstance(exc, Exception) and not self._starter_waits:
                self._report(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.process, self._protocol = transport, proto
        _live_processes.add(self)
        ready.set_result(None)
        try:
            if not self.stopped:
                await self._pump(proto.stdout)
        except asyncio.CancelledError:
            if not self._stop_requested:
                # Not stop() but the loop going away (asyncio.run ending): no time
                # for SIGTERM and a grace period, kill the process now.
                self.stopped = True
                try:
                    await self._kill_and_wait(transport, proto)
                finally:
                    self._reap_now(transport)
                raise
            # else stop() cancelled a read; the reaper below waits for the process
        except Exception as exc:
            self.stopped = True  # stop reading, so do not leave the process blocked on its pipe
            self._report(exc)
        if self.stopped:
            self._stop_requested = True
        self._ensure_reaper()
        if self._stop_requested:
            self._terminate()
        assert self._reaper is not None
        await asyncio.shield(self._reaper)  # a process may run on after closing stdout
        if self._closed is closed:  # not restarted meanwhile
            self.stopped = True

    async def _pump(self, stdout: asyncio.StreamReader) -> None:
        # A line longer than the reader's limit arrives in pieces: they are kept in a
        # list and joined once, so a long line costs time linear in its length (adding
        # each piece to a bytes object copied the whole line so far every time).
        pieces: list[bytes] = []
        pending = 0  # bytes in pieces
        with_end = self.with_end
        while not self.stopped:
            self._in_read = True
            try:
                line = await stdout.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                line = b"".join(pieces) + exc.partial if pieces else exc.partial
                if line:
                    await self._emit_async(line)
                return
            except asyncio.LimitOverrunError as exc:
                piece = await stdout.readexactly(exc.consumed)
                pieces.append(piece)
                pending += len(piece)
                if pending > _MAX_LINE:
                    raise ValueError(
                        f"{self!r}: a line of output is longer than {_MAX_LINE} bytes; "
                        "make the command print shorter lines"
                    ) from None
                continue
            finally:
                self._in_read = False
            if pieces:
                pieces.append(line)
                line = b"".join(pieces)
                pieces, pending = [], 0
            if not with_end:
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            await self._emit_async(line)

    def _ensure_reaper(self) -> None:
        if self._reaper is None and self.process is not None and self._protocol is not None:
            self._reaper = asyncio.ensure_future(self._reap(self.process, self._protocol))

    async def _reap(self, transport: Any, proto: _ProcessProtocol) -> None:
        try:
            await proto.exited
        except asyncio.CancelledError:  # the loop is going away
            await self._kill_and_wait(transport, proto)
            raise
        finally:
            self._reap_now(transport)

    async def _kill_and_wait(self, transport: Any, proto: _ProcessProtocol) -> None:
        """SIGKILL the process and give the loop a moment to see it exit."""
        if transport.get_returncode() is None:
            try:
                transport.kill()
            except ProcessLookupError:
                pass
        try:
            await asyncio.wait_for(asyncio.shield(proto.exited), 1.0)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass

    def _reap_now(self, transport: Any) -> None:
        if self._kill_timer is not None:
            self._kill_timer.cancel()
            self._kill_timer = None
        transport.close()  # closes the pipes; SIGKILLs the process if still alive
        _live_processes.discard(self)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def _terminate(self) -> None:
        transport = self.process
        if transport is None or transport.get_returncode() is not None or self._kill_timer is not None:
            return
        try:
            transport.terminate()
        except ProcessLookupError:
            return
        loop = asyncio.get_running_loop()
        self._kill_timer = loop.call_at(loop.time() + _KILL_AFTER, self._kill)

    def _kill(self) -> None:
        self._kill_timer = None
        transport = self.process
        if transport is not None and transport.get_returncode() is None:
            try:
                transport.kill()
            except ProcessLookupError:
                pass

    def _close(self) -> None:
        self._stop_requested = True
        if self.process is None:
            return  # still spawning: _run_process sees stopped and terminates
        self._terminate()
        self._ensure_reaper()
        task = self._task
        if self._in_read and task is not None and not task.done():
            task.cancel()  # waiting for output that no longer matters; nothing in flight
