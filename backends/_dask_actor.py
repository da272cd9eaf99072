"""The Dask backend's batch-runner actors (``mode="actors"``), and binding their
handles to the executor's own client.

A batch goes straight to a ``_BatchRunner`` on a worker (the worker imports this module
to build it). ``_Actors`` keeps one per batch slot and sends a batch again when its
worker died; ``_bound_to`` makes the handle's calls go through the executor's client,
not through whichever client Dask considers current.
"""
from __future__ import annotations

import logging
import pickle
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from streamz_core.backends._dask_batches import _run_batch

# dask.py's logger (docs/executors.md names it): the lost-worker warning stays on it.
logger = logging.getLogger("streamz_core.backends.dask")


class _BatchRunner:
    """The actor on a worker that runs batches sent to it directly (``mode="actors"``)."""

    def run(self, packed: Any) -> list[bytes]:
        return _run_batch(packed, [])


async def _await(future: Any) -> Any:
    return await future


class _Actors:
    """One executor's batch-runner actors, one per batch slot, used in turn.

    A slot's actor is made on first use; when its worker dies the slot is emptied, so
    the batch (sent again) and later ones get a new actor.
    """

    def __init__(self, n_slots: int):
        self._slots: list[Any] = [None] * n_slots
        self._next = 0

    def __iter__(self) -> Iterator[Any]:
        """The slots' actor handles (``None`` for a slot with no actor yet)."""
        return iter(self._slots)

    def drop(self) -> None:
        """Forget every actor handle (the executor closed: no batch is sent any more)."""
        self._slots = [None] * len(self._slots)

    async def run(self, client: Any, packed: Any, retries: int,
                  on_client_loop: Callable[..., Awaitable[Any]],
                  error_if_closed: Callable[[], Exception | None]) -> list[bytes]:
        """Run the batch ``packed`` on the next slot's actor, through ``client``.

        ``on_client_loop(start, *args)`` awaits a Dask awaitable on the client's loop.
        After a lost worker the batch is sent again, up to ``retries`` times, unless
        ``error_if_closed()`` gives an error: then the loss was the client closing.
        """
        slot = self._next
        self._next = (slot + 1) % len(self._slots)
        for attempt in range(retries + 1):
            try:
                actor = self._slots[slot]
                if actor is None:
                    future = client.submit(_BatchRunner, actor=True, pure=False)
                    actor = _bound_to(client, await on_client_loop(_await, future))
                    self._slots[slot] = actor
                blobs: list[bytes] = await on_client_loop(actor.run, packed)
                return blobs
            except _ActorBindingError:  # not a lost worker: sending again cannot help
                raise
            except Exception as exc:  # the worker holding the actor died, or is unreachable
                self._slots[slot] = None
                closed = error_if_closed()
                if closed is not None:
                    raise closed from None  # nothing was lost: it was closed
                if attempt == retries:
                    exc.add_note(
                        f"the batch's worker was lost {retries + 1} times; "
                        "check the cluster, or raise DaskExecutor(retries=...)"
                    )
                    raise
                logger.warning("Dask worker lost (%r); sending the batch again", exc)
        raise AssertionError("unreachable")


class _ActorBindingError(RuntimeError):
    """Dask no longer binds an actor handle to the client it is rebuilt under."""


def _client_of(actor: Any) -> Any:
    try:
        return actor.client  # public: the client of the handle's own future
    except AttributeError:  # no client at all (the handle's future is None)
        return None


def _bound_to(client: Any, actor: Any) -> Any:
    """``actor``, as a handle whose calls go through ``client``.

    Dask binds an actor handle to the client current where the handle is built:
    ``Client.current()``, which is the latest client created unless code runs inside
    ``client.as_current()``; with ``processes=False`` the handle is even built on the
    worker. With several clients alive (a synchronous one and an asynchronous one) that
    may be another client, whose loop would never wake ours. A handle unpickled inside
    ``client.as_current()`` is rebuilt for the same actor, bound to ``client``: public
    API only (pickling, ``Client.as_current``, ``Actor.client``).

    The one assumption, that the rebuilt handle is bound to ``client``, is checked
    here and by tests/backends/test_dask_binding.py: if a Dask release breaks it, this
    raises :class:`_ActorBindingError` naming the version instead of hanging.
    """
    if _client_of(actor) is client:  # one client alive, or Dask chose ours
        return actor
    with client.as_current():
        rebuilt = pickle.loads(pickle.dumps(actor))
    if _client_of(rebuilt) is not client:
        from importlib.metadata import version

        raise _ActorBindingError(
            f"distributed {version('distributed')}: an actor handle unpickled inside "
            f"client.as_current() is bound to {_client_of(rebuilt)!r}, not to {client!r}, so "
            "DaskExecutor(mode='actors') cannot call its batch-runner actors through its own "
            "client while other clients are alive. Use DaskExecutor(mode='tasks'), keep one "
            "client alive, or use a distributed version in which this works "
            "(backends/_dask_actor.py, _bound_to)"
        )
    return rebuilt
