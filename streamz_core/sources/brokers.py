"""Broker sources: from_websocket (a websocket server) and from_mqtt (an MQTT subscriber).

Their client libraries are optional and imported on ``start()``: ``pip install
streamz-core[websocket]`` (the ``websockets`` package) or ``streamz-core[mqtt]``
(``paho-mqtt``). Each follows the lifecycle of :class:`~streamz_core.sources.base.Source`:
``start()`` returns once the server listens or the subscription is confirmed by the
broker, and ``stop()`` once the port is free or the client has disconnected.

Threading: ``from_websocket`` runs entirely on the graph's loop. paho-mqtt runs its
network loop on its own thread (``loop_start``); messages are handed to the graph's loop
with ``call_soon_threadsafe`` and emitted there, one at a time, with backpressure.
"""
from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from .._assembly import complete_stream_api
from .._optional import require
from ..core import Stream
from ..metadata import RefCounter
from ._server import _check_host, _check_port
from .base import Source, _check_kwargs

__all__ = ["from_websocket", "from_mqtt"]


def _dict_or_none(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}={value!r}: expected a dict of keyword arguments or None")
    return dict(value)


@Stream.register_api(staticmethod)
class from_websocket(Source):
    """Listen for websocket connections; emit every message received (bytes or str).

    Messages of one connection are emitted in order, the next one read only once the
    pipeline has taken the previous one (so a slow pipeline slows the sender);
    messages of different connections interleave. A client that disconnects just ends
    its connection. ``stop()`` closes the server and every connection.

    Parameters
    ----------
    host : str or None
        The address to bind, as in streamz (which has no default): ``'127.0.0.1'`` or
        ``'localhost'`` accepts connections from this machine only, ``'0.0.0.0'``
        from every IPv4 interface, ``None`` from every interface.
    port : int
        The port, 0 for a free one; ``source.port`` gives it once started.
    serve_kwargs : dict, optional
        Passed to ``websockets.asyncio.server.serve`` (``max_size``, ``ssl``, ...).
    **kwargs
        Passed to :class:`Source`: ``start``, ``asynchronous``, ``loop``, ``stream_name``.

    Examples
    --------
    >>> import asyncio
    >>> from websockets.asyncio.client import connect
    >>> from streamz_core.testing import async_poll_for
    >>> async def main():
    ...     source = Stream.from_websocket('127.0.0.1', 0, asynchronous=True)
    ...     L = source.sink_to_list()
    ...     source.start()
    ...     await source.wait_started()         # listening
    ...     async with connect(f'ws://127.0.0.1:{source.port}') as ws:
    ...         await ws.send('hello')
    ...         await ws.send(b'world')
    ...         await async_poll_for(lambda: len(L) == 2)
    ...     source.stop()
    ...     await source.wait_stopped()         # the port is free
    ...     return L
    >>> asyncio.run(main())
    ['hello', b'world']
    """

    str_list: ClassVar[list[str]] = ["host", "port"]

    def __init__(self, host: str | None, port: int, serve_kwargs: dict[str, Any] | None = None,
                 **kwargs: Any):
        self.host = _check_host(host, "from_websocket")
        self.port = self._requested_port = _check_port(port, "from_websocket")
        self.serve_kwargs = _dict_or_none(serve_kwargs, "from_websocket(serve_kwargs)")
        self.server: Any = None
        super().__init__(**kwargs)

    def _open(self) -> Any:
        server_mod = require("websockets.asyncio.server", "from_websocket", "pip install 'streamz-core[websocket]'")
        return self._listen(server_mod)

    async def _listen(self, server_mod: Any) -> None:
        server = await server_mod.serve(self._serve, self.host, self._requested_port,
                                        **self.serve_kwargs)
        self.server = server
        if server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        if self.stopped:  # stop() came while binding
            self._close()

    async def _serve(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in ws:
                if self.stopped:
                    break
                await self._emit_async(message)
        except ConnectionClosed:
            pass  # the client went away without a closing handshake: its connection ends

    async def run(self) -> None:
        await self._until_stopped()

    def _close(self) -> Any:
        server, self.server = self.server, None
        if server is None:
            return None
        server.close()  # also closes every connection
        return server.wait_closed()


def _check_topic(topic: Any) -> Any:
    """A topic, a ``(topic, qos)`` pair, or a list of pairs, as paho's subscribe takes."""
    def pair(t: Any) -> bool:
        return (isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str)
                and t[1] in (0, 1, 2) and not isinstance(t[1], bool))

    if isinstance(topic, str) or pair(topic):
        return topic
    if isinstance(topic, list) and topic and all(pair(t) for t in topic):
        return topic
    raise TypeError(
        f"from_mqtt(topic={topic!r}): expected a topic filter such as 'sensors/#', a "
        "(topic, qos) pair such as ('sensors/#', 1), or a non-empty list of such pairs"
    )


@Stream.register_api(staticmethod)
class from_mqtt(Source):
    """Subscribe to MQTT topics; emit each ``paho.mqtt.client.MQTTMessage`` received.

    A message has ``topic``, ``payload`` (bytes), ``qos``, ``retain``, ``mid`` and
    ``timestamp``. ``start()`` connects and returns once the broker has confirmed the
    subscription; if the connection drops (the broker restarts), paho reconnects and
    the topics are subscribed again.

    **At-least-once.** A message received with QoS 1 is emitted with metadata
    ``[{'ref': RefCounter}]`` and acknowledged to the broker (PUBACK) only once every
    node downstream has released it (a window or buffer holding it delays the ack), in
    the order received. A message not acknowledged when the client disconnects is sent
    again by the broker on the next connection of a persistent session: give a
    ``client_id`` and ``clean_session=False`` in ``mqtt_kwargs``. A QoS 2 message is
    acknowledged the same way, but paho keeps no state across reconnects, so QoS 2 is
    not redelivered after one.

    Parameters
    ----------
    host, port : str, int
        The broker.
    topic : str, (str, int) or list of (str, int)
        A topic filter (QoS 0), a ``(filter, qos)`` pair, or a list of pairs.
    keepalive : int
        Seconds between pings when idle.
    client_kwargs : dict, optional
        Passed to the client's ``connect()`` (``bind_address``, ``properties``, ...).
    user, pw : str, optional
        Username and password for the broker.
    mqtt_kwargs : dict, optional
        Passed to ``paho.mqtt.client.Client()`` (``client_id``, ``clean_session``,
        ``protocol``, ``transport``); ``manual_ack`` and the callback API are set here.
    **kwargs
        Passed to :class:`Source`: ``start``, ``asynchronous``, ``loop``, ``stream_name``.

    Examples
    --------
    >>> from _mosquitto import Mosquitto        # the test suite's helper: a local broker
    >>> from streamz_core.broker_sinks import to_mqtt
    >>> from streamz_core.testing import poll_for
    >>> broker = Mosquitto.start_or_skip()
    >>> source = Stream.from_mqtt('127.0.0.1', broker.port, ('demo/#', 1))
    >>> L = source.map(lambda m: (m.topic, m.payload)).sink_to_list()
    >>> source.start()                          # subscribed once this returns
    >>> out = Stream()
    >>> sink = to_mqtt(out, '127.0.0.1', broker.port, 'demo/a', qos=1)
    >>> out.emit(b'hello')                      # returns once the broker has it
    >>> poll_for(lambda: L)
    [('demo/a', b'hello')]
    >>> sink.destroy(); source.stop(); broker.stop()
    """

    str_list: ClassVar[list[str]] = ["host", "port", "topic"]

    def __init__(self, host: str, port: int, topic: Any, keepalive: int = 60,
                 client_kwargs: dict[str, Any] | None = None, user: str | None = None,
                 pw: str | None = None, mqtt_kwargs: dict[str, Any] | None = None,
                 **kwargs: Any):
        self.host = host
        self.port = _check_port(port, "from_mqtt")
        self.topic = _check_topic(topic)
        self.keepalive = keepalive
        self.client_kwargs = _dict_or_none(client_kwargs, "from_mqtt(client_kwargs)")
        self.mqtt_kwargs = _dict_or_none(mqtt_kwargs, "from_mqtt(mqtt_kwargs)")
        self.user, self.pw = user, pw
        self.client: Any = None
        self._inbox: collections.deque[tuple[Any, int]] = collections.deque()
        # This session's messages not acked yet (mid -> qos), in arrival order, so that
        # acks go out in that order (MQTT-4.6.0-2), and those of them released already.
        self._unacked: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._released: set[int] = set()
        self._session = 0  # a new broker session makes older message ids meaningless
        self._subscribed: asyncio.Future[None] | None = None
        self._sub_mid: int | None = None
        super().__init__(**kwargs)

    # ------------------------------------------------------- paho's thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self._to_loop(self._not_subscribed, ConnectionError(
                f"{self!r}: the broker refused the connection: {reason}"))
            return
        self._to_loop(self._new_session, bool(flags.session_present))
        _, self._sub_mid = client.subscribe(self.topic)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        if mid != self._sub_mid:
            return
        failed = [r for r in reasons if r.is_failure]
        if failed:
            self._to_loop(self._not_subscribed, ConnectionError(
                f"{self!r}: the broker refused the subscription to {self.topic!r}: {failed[0]}"))
        else:
            self._to_loop(self._not_subscribed, None)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._to_loop(self._receive, msg)

    def _to_loop(self, fn: Any, arg: Any) -> None:
        aloop = self._aloop
        if aloop is not None and not aloop.is_closed():
            aloop.call_soon_threadsafe(fn, arg)

    # ------------------------------------------------------- the loop's thread
    def _new_session(self, present: bool) -> None:
        if not present:
            self._session += 1
            self._unacked.clear()  # their ids belonged to the session the broker dropped
            self._released.clear()

    def _not_subscribed(self, exc: BaseException | None) -> None:
        fut = self._subscribed
        if fut is not None and not fut.done():
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)

    def _receive(self, msg: Any) -> None:
        self._inbox.append((msg, self._session))
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _open(self) -> Any:
        mqtt = require("paho.mqtt.client", "from_mqtt", "pip install 'streamz-core[mqtt]'")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, manual_ack=True,
                             **self.mqtt_kwargs)
        if self.user is not None:
            client.username_pw_set(self.user, self.pw)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        _check_kwargs(self.client_kwargs, client.connect, "from_mqtt(client_kwargs)", skip=3)
        self.client = client
        self._subscribed = asyncio.get_running_loop().create_future()
        return self._connect(client)

    async def _connect(self, client: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: client.connect(self.host, self.port, self.keepalive,
                                         **self.client_kwargs))
        client.loop_start()
        assert self._subscribed is not None
        await self._subscribed

    async def run(self) -> None:
        aloop = asyncio.get_running_loop()
        while not self.stopped:
            if not self._inbox:
                self._wake = aloop.create_future()
                await self._wake
                continue
            msg, session = self._inbox.popleft()
            if msg.qos == 0:
                await self._emit_async(msg)
                continue
            mid = msg.mid
            if session == self._session:
                self._unacked[mid] = msg.qos
            # partial, not a lambda: the callback runs later, once mid names the next message
            ref = RefCounter(initial=1, cb=functools.partial(self._ack_released, mid, session),
                             loop=aloop)
            await self._emit_async(msg, [{"ref": ref}])
            ref.release()  # the source's own hold; downstream holders keep the count up

    def _ack_released(self, mid: int, session: int) -> None:
        client = self.client
        if session != self._session or client is None or mid not in self._unacked:
            return  # an id of another session, or stopped since: acking it would be wrong
        self._released.add(mid)
        while self._unacked:
            first = next(iter(self._unacked))
            if first not in self._released:
                break
            self._released.discard(first)
            client.ack(first, self._unacked.pop(first))

    def _close(self) -> Any:
        client, self.client = self.client, None
        fut = self._subscribed
        self._not_subscribed(ConnectionError(f"{self!r} was stopped before it subscribed"))
        if fut is not None and fut.done() and not fut.cancelled():
            fut.exception()  # retrieved: no "never retrieved" warning if nobody awaits it
        self._inbox.clear()  # not acked: the broker sends them again to a persistent session
        self._unacked.clear()
        self._released.clear()
        if client is None:
            return None
        client.disconnect()
        # loop_stop joins paho's thread: off the loop, which must keep running meanwhile.
        return asyncio.get_running_loop().run_in_executor(None, client.loop_stop)


# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
