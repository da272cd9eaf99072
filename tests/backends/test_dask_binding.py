"""The Dask backend binds its actor handles to its own client, through public API only.

Dask binds an actor handle to ``Client.current()`` (the latest client created), not to the
client the actor was submitted through. backends/dask.py ``_bound_to`` rebuilds the handle
inside ``client.as_current()``; these tests fail if a Dask release breaks that assumption.
"""
# distributed ships no type hints for Client, LocalCluster and their methods.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402

from streamz_core import Stream  # noqa: E402
from streamz_core.backends.dask import DaskExecutor, _ActorBindingError, _bound_to  # noqa: E402

DISTRIBUTED = f"distributed {version('distributed')}"


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def inc(self) -> int:
        self.n += 1
        return self.n


def inc(x: int) -> int:
    return x + 1


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as c:
        yield c


def test_an_actor_submitted_through_one_of_two_clients_is_bound_to_that_client(cluster: LocalCluster) -> None:
    with Client(cluster, set_as_default=False) as ours:
        other = Client(cluster)  # created last: Dask's current client
        try:
            handle = ours.submit(Counter, actor=True, pure=False).result()
            bound = _bound_to(ours, handle)
            assert bound.client is ours, (
                f"{DISTRIBUTED}: an actor handle unpickled inside client.as_current() is bound "
                f"to {bound.client!r}, not to the client it was rebuilt under; backends/dask.py "
                "_bound_to relies on it")
            assert bound.inc().result(timeout=30) == 1
        finally:
            other.close()
        # Its calls go through our client: they still work with the other one closed.
        assert bound.inc().result(timeout=30) == 2


def test_a_handle_already_bound_to_the_client_is_kept(cluster: LocalCluster) -> None:
    with Client(cluster) as only:
        handle = only.submit(Counter, actor=True, pure=False).result()
        assert handle.client is only, f"{DISTRIBUTED}: with one client alive it is not current"
        assert _bound_to(only, handle) is handle


def test_binding_that_does_not_take_fails_loudly_naming_the_version(
        cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(cluster, set_as_default=False) as ours, Client(cluster):
        handle = ours.submit(Counter, actor=True, pure=False).result()
        # As if a Dask release no longer honoured as_current() when rebuilding a handle.
        monkeypatch.setattr(ours, "as_current", contextlib.nullcontext)
        with pytest.raises(_ActorBindingError, match=rf"^{DISTRIBUTED}: .*as_current\(\)") as info:
            _bound_to(ours, handle)
        assert "mode='tasks'" in str(info.value)


@pytest.fixture
def sync_default_client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster) as c:
        yield c


async def test_actors_mode_on_an_async_client_while_a_sync_default_client_is_alive(
        cluster: LocalCluster, sync_default_client: Client) -> None:
    """The case the binding exists for: the async client is not Dask's current one."""
    async with Client(cluster.scheduler_address, asynchronous=True, set_as_default=False) as c:
        ex = DaskExecutor(c, mode="actors", max_batches_in_flight=2)
        source = Stream(asynchronous=True)
        out: list[Any] = source.scatter(backend=ex).map(inc).buffer(4).gather().sink_to_list()
        for i in range(40):
            await source.emit(i)
        await asyncio.wait_for(source.drain(), 60)
        assert out == [i + 1 for i in range(40)]
        actors = [a for a in ex._actors if a is not None]
        assert actors and all(a.client is c for a in actors)
        ex.close()
        out.node.destroy()  # type: ignore[attr-defined]
