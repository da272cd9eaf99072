"""Broker nodes against real servers: a websockets server on 127.0.0.1, a mosquitto broker.

Tests skip, naming what is missing, without the ``websockets`` or ``paho-mqtt`` package
(the ``websocket`` and ``mqtt`` extras, in ``test``) or the ``mosquitto`` binary (which
``.ci/run`` installs).
"""
from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading

import pytest
from _mosquitto import Mosquitto

from streamz_core import Stream
from streamz_core.broker_sinks import to_mqtt, to_websocket
from streamz_core.metadata import RefCounter
from streamz_core.sources.brokers import from_mqtt, from_websocket
from streamz_core.testing import async_poll_for, poll_for

needs_websockets = pytest.mark.skipif(
    importlib.util.find_spec("websockets") is None,
    reason="the websockets package is not installed (pip install 'streamz-core[websocket]')")
needs_paho = pytest.mark.skipif(
    importlib.util.find_spec("paho") is None,
    reason="the paho-mqtt package is not installed (pip install 'streamz-core[mqtt]')")

HOST = "127.0.0.1"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # as servers bind: connections just closed (TIME_WAIT) do not hold the port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def test_registered_on_stream():
    assert isinstance(Stream.from_websocket(HOST, 0), from_websocket)
    assert isinstance(Stream.from_mqtt(HOST, 1883, "t"), from_mqtt)
    s = Stream()
    for node in (s.to_websocket("ws://127.0.0.1:1"), s.to_mqtt(HOST, 1883, "t")):
        assert isinstance(node, (to_websocket, to_mqtt))
        node.destroy()  # never connected: nothing to close


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="port"):
        from_websocket(HOST, -1)
    with pytest.raises(TypeError, match="serve_kwargs"):
        from_websocket(HOST, 0, serve_kwargs=[1])
    with pytest.raises(TypeError, match="topic"):
        from_mqtt(HOST, 1883, ("a", 3))
    with pytest.raises(TypeError, match="topic"):
        from_mqtt(HOST, 1883, [])
    with pytest.raises(TypeError, match="publish takes qos"):
        to_mqtt(Stream(), HOST, 1883, "a", qso=1)
    with pytest.raises(ValueError, match="qos"):
        to_mqtt(Stream(), HOST, 1883, "a", qos=5)


# ------------------------------------------------------------------ websocket
@needs_websockets
async def test_from_websocket_in_loop():
    from websockets.asyncio.client import connect

    source = from_websocket(HOST, 0, asynchronous=True)
    L = source.sink_to_list()
    source.start()
    await source.wait_started()
    port = source.port
    async with connect(f"ws://{HOST}:{port}") as a, connect(f"ws://{HOST}:{port}") as b:
        for i in range(3):
            await a.send(f"a{i}")
            await b.send(b"b%d" % i)
        await async_poll_for(lambda: len(L) == 6)
        assert [x for x in L if isinstance(x, str)] == ["a0", "a1", "a2"]
        assert [x for x in L if isinstance(x, bytes)] == [b"b0", b"b1", b"b2"]
        source.stop()  # closes the server and both connections
        await asyncio.wait_for(a.wait_closed(), 10)
        await source.wait_stopped()
    assert source.stopped and port_is_free(port)


@needs_websockets
def test_websocket_round_trip_background_thread():
    source = from_websocket(HOST, 0)
    L = source.map(str.upper).sink_to_list()
    source.start()  # blocks until listening
    out = Stream()
    ws = out.to_websocket(f"ws://{HOST}:{source.port}")
    for x in ["a", "b", "c"]:
        out.emit(x)  # returns once sent
    poll_for(lambda: len(L) == 3)
    assert L == ["A", "B", "C"]
    ws.destroy()
    port = source.port
    source.stop()  # blocks until the port is free
    assert port_is_free(port)


@needs_websockets
async def test_to_websocket_sends_in_order_and_closes_on_destroy():
    from websockets.asyncio.server import serve

    got: list[object] = []
    closed = asyncio.Event()

    async def handler(ws):
        async for m in ws:
            got.append(m)
        closed.set()

    async with serve(handler, HOST, 0) as server:
        port = server.sockets[0].getsockname()[1]
        out = Stream(asynchronous=True)
        ref_done: list[bool] = []
        ref = RefCounter(cb=lambda: ref_done.append(True))
        sink = out.to_websocket(f"ws://{HOST}:{port}")
        for i in range(5):
            await out.emit(i.to_bytes(1, "big"), metadata=[{"ref": ref}] if i == 4 else None)
        await async_poll_for(lambda: len(got) == 5)
        assert got == [bytes([i]) for i in range(5)]
        assert ref_done == [True]  # released once sent
        sink.destroy()
        await asyncio.wait_for(closed.wait(), 10)


@needs_websockets
async def test_to_websocket_fails_once_the_server_is_gone():
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws):
        await ws.close()

    async with serve(handler, HOST, 0) as server:
        port = server.sockets[0].getsockname()[1]
        out = Stream(asynchronous=True)
        sink = out.to_websocket(f"ws://{HOST}:{port}")
        with pytest.raises(ConnectionClosed):
            for _ in range(100):
                await out.emit("x")
        sink.destroy()


# ----------------------------------------------------------------------- mqtt
@pytest.fixture
def broker():
    b = Mosquitto.start_or_skip()
    yield b
    b.stop()


def messages(source):
    return source.map(lambda m: (m.topic, m.payload, m.qos)).sink_to_list()


@needs_paho
def test_mqtt_round_trip_with_qos_and_topic_list(broker):
    source = from_mqtt(HOST, broker.port, [("a/#", 1), ("b", 0)], mqtt_kwargs={"client_id": "sub"})
    L = messages(source)
    source.start()  # returns once subscribed
    a, b = Stream(), Stream()
    sa = a.to_mqtt(HOST, broker.port, "a/x", qos=1)
    sb = b.to_mqtt(HOST, broker.port, "b", qos=1)
    a.emit(b"1")
    b.emit("2")  # str goes out as UTF-8; subscribed with QoS 0, so delivered with QoS 0
    poll_for(lambda: len(L) == 2)
    assert sorted(L) == [("a/x", b"1", 1), ("b", b"2", 0)]
    client = source.client
    source.stop()  # disconnects and joins paho's thread
    assert source.client is None and not client.is_connected()
    assert not any(t.name == "paho-mqtt-client-sub" for t in threading.enumerate())
    sa.destroy()
    sb.destroy()


@needs_paho
def test_mqtt_topic_string_and_pair(broker):
    s1 = from_mqtt(HOST, broker.port, "plain")
    s2 = from_mqtt(HOST, broker.port, ("pair", 1))
    L1, L2 = messages(s1), messages(s2)
    s1.start()
    s2.start()
    out = Stream()
    k1 = out.to_mqtt(HOST, broker.port, "plain", qos=1)
    k2 = out.to_mqtt(HOST, broker.port, "pair", qos=1, retain=False)
    out.emit(b"m")
    poll_for(lambda: L1 and L2)
    assert L1 == [("plain", b"m", 0)] and L2 == [("pair", b"m", 1)]
    for node in (k1, k2, s1, s2):
        node.destroy() if node in (k1, k2) else node.stop()


@needs_paho
def test_from_mqtt_start_raises_without_a_broker():
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    source = from_mqtt(HOST, port, "t")
    with pytest.raises(ConnectionRefusedError):
        source.start()
    assert source.stopped


@needs_paho
def test_to_mqtt_holds_metadata_until_the_broker_acks(broker):
    out = Stream()
    sink = out.to_mqtt(HOST, broker.port, "m", qos=1)
    done: list[bool] = []
    out.emit(b"x", metadata=[{"ref": RefCounter(cb=lambda: done.append(True))}])
    poll_for(lambda: done)  # released once PUBACK came (the emit waited for it)
    sink.destroy()


@needs_paho
def test_mqtt_acks_only_released_messages(broker):
    """A QoS 1 message still held downstream when the client goes is sent again."""
    session = {"client_id": "durable", "clean_session": False}
    first = from_mqtt(HOST, broker.port, ("t", 1), mqtt_kwargs=session)
    seen = messages(first)
    held = first.filter(lambda m: m.payload == b"hold").collect()  # retains its refs
    first.start()
    out = Stream()
    sink = out.to_mqtt(HOST, broker.port, "t", qos=1)
    out.emit(b"go")    # passes through: released, so acked
    out.emit(b"hold")  # held by collect: not acked
    poll_for(lambda: len(seen) == 2)
    first.stop()
    assert len(held.cache) == 1

    second = from_mqtt(HOST, broker.port, ("t", 1), mqtt_kwargs=session)
    again = messages(second)
    second.start()
    poll_for(lambda: again)  # the broker resends what was not acked
    out.emit(b"marker")
    poll_for(lambda: len(again) == 2)
    assert [p for _, p, _ in again] == [b"hold", b"marker"]  # "go" was acked: not resent
    second.stop()

    third = from_mqtt(HOST, broker.port, ("t", 1), mqtt_kwargs=session)
    last = messages(third)
    third.start()
    out.emit(b"end")
    poll_for(lambda: last)
    assert [p for _, p, _ in last] == [b"end"]  # everything before was acked
    third.stop()
    sink.destroy()
    held.flush()  # releasing refs of a stopped source's old session does nothing


@needs_paho
@pytest.mark.slow  # paho waits 1 s, then 2 s, ... before reconnecting
def test_mqtt_reconnects_after_the_broker_restarts(broker):
    source = from_mqtt(HOST, broker.port, ("r", 1),
                       mqtt_kwargs={"client_id": "restart", "clean_session": False})
    L = messages(source)
    source.start()
    out, lossy = Stream(), Stream()
    sink = out.to_mqtt(HOST, broker.port, "r", qos=1)
    sink0 = lossy.to_mqtt(HOST, broker.port, "r0", qos=0)
    out.emit(b"before")
    lossy.emit(b"qos 0")
    poll_for(lambda: L)
    broker.stop(cleanup=False)
    poll_for(lambda: not source.client.is_connected() and not sink0.client.is_connected(),
             timeout=10)
    with pytest.raises(ConnectionError, match="not published"):
        lossy.emit(b"lost")  # QoS 0 cannot wait for the broker: said, not dropped silently
    broker.start()  # same port, same persistence file
    out.emit(b"after")  # queued by paho until it has reconnected, then acked
    poll_for(lambda: len(L) == 2, timeout=30)
    assert [p for _, p, _ in L] == [b"before", b"after"]
    sink.destroy()
    sink0.destroy()
    source.stop()


@needs_paho
def test_from_mqtt_user_and_password():
    broker = Mosquitto.start_or_skip(users={"alice": "s3cret"})
    try:
        wrong = from_mqtt(HOST, broker.port, "t", user="alice", pw="nope")
        with pytest.raises(ConnectionError, match="refused the connection"):
            wrong.start()
        assert wrong.stopped and wrong.client is None
        source = from_mqtt(HOST, broker.port, ("t", 1), user="alice", pw="s3cret")
        L = messages(source)
        source.start()
        out = Stream()
        sink = out.to_mqtt(HOST, broker.port, "t", qos=1, user="alice", pw="s3cret")
        out.emit(b"hi")
        poll_for(lambda: L)
        assert L == [("t", b"hi", 1)]
        sink.destroy()
        source.stop()
    finally:
        broker.stop()
