"""What the server sources share: checking host and port, binding, stopping a Tornado
server, the server source base class, and the POST handler of ``from_http_server``.

Servers bind ``127.0.0.1`` unless given another ``host``; ``port=0`` picks a free port,
readable as ``source.port`` once started.
"""
from __future__ import annotations

import asyncio
import errno
import socket
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from tornado.ioloop import IOLoop
from tornado.iostream import IOStream
from tornado.tcpserver import TCPServer
from tornado.web import RequestHandler, stream_request_body

from .._internals import tcp_server_listeners
from ..core import _gather
from .base import Source

if TYPE_CHECKING:
    from .net import from_http_server

__all__: list[str] = []


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
        handlers, sockets = tcp_server_listeners(server)
        for fd, sock in list(sockets.items()):
            if sock.fileno() == -1:
                continue
            remove = handlers.pop(fd, None)
            if remove is not None:
                remove()
            else:  # unregister it from the loop before closing, or the fd number dangles
                IOLoop.current().remove_handler(sock)
            sock.close()



class _ServerSource(Source):
    """A source that listens on ``host:port`` with a Tornado server.

    ``_open`` binds (so the port is known when ``start()`` returns) and ``_close``
    stops the server and closes every connection; the run just waits for ``stop()``,
    since the server's callbacks do the work.
    """

    str_list: ClassVar[list[str]] = ["host", "port"]

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
        return [tuple(s.getsockname()[:2]) for s in self._sockets]

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
            raise
        try:
            server = self._make_server()
            server.add_sockets(sockets)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        self.server = server
        self._sockets = sockets
        self.port = sockets[0].getsockname()[1]

    async def run(self) -> None:
        await self._until_stopped()

    def _close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            _stop_server(server)
        self._sockets = []
        for stream in list(self._streams):
            stream.close()
        self._streams.clear()


# ---------------------------------------------------------- from_http_server
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
        if (self.held and self.held + n > self.limit) or self._waiters:
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
