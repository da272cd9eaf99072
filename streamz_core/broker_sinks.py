"""Broker sinks: to_websocket (a websocket client) and to_mqtt (an MQTT publisher).

Their client libraries are optional and imported on first use: ``pip install
streamz-core[websocket]`` (``websockets``) or ``streamz-core[mqtt]`` (``paho-mqtt``).
Both connect on the first element, as in streamz, run on the graph's loop (the
background thread's unless the graph has one) and return their delivery as
backpressure: the emit waits until the websocket has sent the message, or the broker
has acknowledged it (QoS 1 and 2) or paho has written it (QoS 0). Metadata refs are held
until then, so an MQTT-to-MQTT pipeline acknowledges its input only once its output is
delivered. Like every sink they are kept alive until ``destroy()``, which closes the
connection.
"""
from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine
from typing import Any

from ._assembly import complete_stream_api
from ._optional import require
from .core import Stream, _global_sinks
from .loop import call_blocking
from .sources.base import _check_kwargs
from .sources.brokers import _dict_or_none

__all__ = ["to_websocket", "to_mqtt"]

# The node's own keywords (not **kwargs, which goes to a subclass's other base).
_STREAM_PARAMS = frozenset(
    name for name, p in inspect.signature(Stream).parameters.items() if p.kind is not p.VAR_KEYWORD
)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _BrokerSink(Stream):
    """A sink pinned until ``destroy()``, which runs ``_disconnect`` on the graph's loop."""

    _graphviz_shape = "trapezium"

    def __init__(self, upstream: Stream, **kwargs: Any):
        kwargs["ensure_io_loop"] = True
        super().__init__(upstream, **kwargs)
        _global_sinks.add(self)

    def _hold(self, coro: Coroutine[Any, Any, None], metadata: Any) -> asyncio.Future[None]:
        fut = asyncio.ensure_future(coro)
        if metadata:
            self._retain_refs(metadata)
            fut.add_done_callback(lambda _: self._release_refs(metadata))
        return fut

    def destroy(self, streams: Any = None) -> None:
        super().destroy(streams)
        if streams is not None:
            return
        aloop = self._aloop
        if aloop is None or aloop.is_closed():
            return
        if _running_loop() is aloop:
            self._disconnect()
        elif aloop.is_running():
            call_blocking(aloop, self._disconnect)
        else:
            aloop.call_soon_threadsafe(self._disconnect)

    def _disconnect(self) -> Any:
        return None


@Stream.register_api()
class to_websocket(_BrokerSink):
    """Send every element (bytes or str) as a message to the websocket server at ``uri``.

    The connection opens with the first element and stays open; if the server closes
    it, later sends fail (the error reaches the emitter, or the ``on_exception``
    route). Messages are sent in order; each emit waits until its message is sent.

    Parameters
    ----------
    uri : str
        Such as ``'ws://127.0.0.1:8765'``; ``'wss://...'`` for TLS.
    ws_kwargs : dict, optional
        Passed to ``websockets.asyncio.client.connect``.
    **kwargs
        Passed to :class:`Stream` (``stream_name``).

    Examples
    --------
    >>> source = Stream.from_websocket('127.0.0.1', 0)
    >>> L = source.sink_to_list()
    >>> source.start()
    >>> out = Stream()
    >>> ws = out.to_websocket(f'ws://127.0.0.1:{source.port}')
    >>> out.emit('hello'); out.emit(b'bytes too')
    >>> from streamz_core.testing import poll_for
    >>> poll_for(lambda: len(L) == 2)
    True
    >>> ws.destroy(); source.stop()
    >>> L
    ['hello', b'bytes too']
    """

    def __init__(self, upstream: Stream, uri: str, ws_kwargs: dict[str, Any] | None = None,
                 **kwargs: Any):
        if not isinstance(uri, str):
            raise TypeError(f"to_websocket(uri={uri!r}): expected a URI such as 'ws://127.0.0.1:8765'")
        self.uri = uri
        self.ws_kwargs = _dict_or_none(ws_kwargs, "to_websocket(ws_kwargs)")
        self.ws: Any = None
        self._lock: asyncio.Lock | None = None
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        return self._hold(self._send(x), metadata)

    async def _send(self, x: Any) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one connection, and messages in the order emitted
            if self.ws is None:
                client = require("websockets.asyncio.client", "to_websocket", "pip install 'streamz-core[websocket]'")
                self.ws = await client.connect(self.uri, **self.ws_kwargs)
            await self.ws.send(x)

    def _disconnect(self) -> Any:
        ws, self.ws = self.ws, None
        return None if ws is None else asyncio.ensure_future(ws.close())


@Stream.register_api()
class to_mqtt(_BrokerSink):
    """Publish every element to ``topic`` on the MQTT broker at ``host:port``.

    The payload is what paho accepts: bytes, str (sent as UTF-8), int, float or None.
    The client connects with the first element and reconnects by itself if the
    connection drops; a QoS 1 or 2 message published meanwhile is sent once it is back
    (the emit waits), while a QoS 0 message cannot be and raises ``ConnectionError``.

    Parameters
    ----------
    host, port : str, int
        The broker.
    topic : str
        The topic to publish to.
    keepalive : int
        Seconds between pings when idle.
    client_kwargs : dict, optional
        Passed to the client's ``connect()``.
    user, pw : str, optional
        Username and password for the broker.
    mqtt_kwargs : dict, optional
        Passed to ``paho.mqtt.client.Client()`` (``client_id``, ``protocol``, ...).
    **publish_kwargs
        ``qos`` (0, 1 or 2), ``retain``, ``properties``: passed to ``publish()``.
        Keyword arguments of :class:`Stream` (``stream_name``) go to the node.

    Examples
    --------
    The node connects on its first element, so building it needs no broker yet
    (:class:`~streamz_core.sources.brokers.from_mqtt` shows a round trip):

    >>> out = Stream()
    >>> node = out.to_mqtt('127.0.0.1', 1883, 'demo/readings', qos=1)
    >>> type(node).__name__, node.upstream is out
    ('to_mqtt', True)
    >>> node.destroy()
    """

    def __init__(self, upstream: Stream, host: str, port: int, topic: str, keepalive: int = 60,
                 client_kwargs: dict[str, Any] | None = None, user: str | None = None,
                 pw: str | None = None, mqtt_kwargs: dict[str, Any] | None = None,
                 **publish_kwargs: Any):
        stream_kwargs = {k: publish_kwargs.pop(k) for k in list(publish_kwargs) if k in _STREAM_PARAMS}
        if not isinstance(topic, str) or not topic:
            raise TypeError(f"to_mqtt(topic={topic!r}): expected a topic name such as 'sensors/a'")
        bad = sorted(set(publish_kwargs) - {"qos", "retain", "properties"})
        if bad:
            raise TypeError(f"to_mqtt: unknown keyword argument(s) {', '.join(bad)}; publish "
                            "takes qos, retain and properties")
        if publish_kwargs.get("qos", 0) not in (0, 1, 2):
            raise ValueError(f"to_mqtt(qos={publish_kwargs['qos']!r}): expected 0, 1 or 2")
        self.host, self.port, self.topic, self.keepalive = host, port, topic, keepalive
        self.c_kw = self.client_kwargs = _dict_or_none(client_kwargs, "to_mqtt(client_kwargs)")
        self.mqtt_kwargs = _dict_or_none(mqtt_kwargs, "to_mqtt(mqtt_kwargs)")
        self.publish_kwargs = publish_kwargs
        self.user, self.pw = user, pw
        self.client: Any = None
        self._connected: asyncio.Future[None] | None = None
        # mid -> the future of its emit; mids paho confirmed before we registered them.
        self._lock = threading.Lock()
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._early: set[int] = set()
        super().__init__(upstream, **stream_kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        return self._hold(self._publish(x), metadata)

    async def _publish(self, x: Any) -> None:
        if self._connected is None:
            self._connected = asyncio.ensure_future(self._connect())
        await self._connected
        client = self.client
        if client is None:
            raise ConnectionError(f"{self!r} was destroyed")
        info = client.publish(self.topic, x, **self.publish_kwargs)
        # NO_CONN for QoS 1 and 2: queued, sent once paho has reconnected.
        qos = self.publish_kwargs.get("qos", 0)
        if info.rc and not (qos and info.rc == _NO_CONN):  # QoS 0 offline, or a full queue
            raise ConnectionError(f"{self!r}: message not published: {info.rc!r}")
        fut = asyncio.get_running_loop().create_future()
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                return
            self._waiting[info.mid] = fut
        await fut

    async def _connect(self) -> None:
        mqtt = require("paho.mqtt.client", "to_mqtt", "pip install 'streamz-core[mqtt]'")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **self.mqtt_kwargs)
        if self.user is not None:
            client.username_pw_set(self.user, self.pw)
        _check_kwargs(self.client_kwargs, client.connect, "to_mqtt(client_kwargs)", skip=3)
        aloop = asyncio.get_running_loop()
        client.on_publish = lambda c, u, mid, reason, props: self._delivered(aloop, mid)
        await aloop.run_in_executor(
            None, lambda: client.connect(self.host, self.port, self.keepalive, **self.client_kwargs))
        client.loop_start()
        self.client = client

    def _delivered(self, aloop: asyncio.AbstractEventLoop, mid: int) -> None:
        # On paho's thread: hand the delivery to the loop.
        with self._lock:
            fut = self._waiting.pop(mid, None)
            if fut is None:
                self._early.add(mid)
                return
        if not aloop.is_closed():
            aloop.call_soon_threadsafe(_finish, fut)

    def _disconnect(self) -> Any:
        client, self.client = self.client, None
        self._connected = None
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"{self!r} was destroyed before delivery"))
        if client is None:
            return None
        client.disconnect()
        return asyncio.get_running_loop().run_in_executor(None, client.loop_stop)


_NO_CONN = 4  # paho.mqtt.client.MQTT_ERR_NO_CONN (paho is imported only when used)


def _finish(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
