"""Dask as an executor: ``scatter(backend="dask")`` or ``scatter(backend=client)``.

Dask costs about 2 ms of scheduling per task and ~10 ms per round trip on a small
machine, so one task per element caps a stream near a few hundred elements a second.
This backend sends elements with their work (no separate scatter round trip) and
batches: calls submitted while earlier batches are in flight go out together, run in
order, and keep each element's outcome apart (one bad element fails alone).

Two ways to run a batch. ``mode="actors"`` (the default) sends it straight to a
batch-runner actor on a worker: about 0.3 ms per round trip instead of ~10 ms, so many
more elements per second; if a worker dies, the batch is sent again to a new actor.
``mode="tasks"`` makes each batch a Dask task: the scheduler places, retries and shows
every batch on the dashboard's task stream, at the task round-trip cost.

Every call of a batch is pickled here, one by one, before it is sent (and every result
on the worker before it comes back): an element that cannot be pickled fails alone with
:class:`~streamz_core.executor.NotSerializableError`, instead of Dask failing (or
hanging) the whole batch. When the client closes with calls in flight, they all fail
with one :class:`~streamz_core.executor.ExecutorClosedError` that says how many.

Threading rules: ``submit``/``scatter``/``gather`` run on the stream's loop. When that
loop is not the client's (a synchronous client runs its own loop thread), awaiting a
Dask future is bridged onto the client's loop.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# The batch encoding and the actors have their own modules (the workers import them by
# those paths). `X as X`: still importable from here (tests/backends/test_dask_binding.py).
from streamz_core.backends._dask_actor import _ActorBindingError as _ActorBindingError
from streamz_core.backends._dask_actor import _Actors, _await
from streamz_core.backends._dask_actor import _bound_to as _bound_to
from streamz_core.backends._dask_batches import (
    _Dep,
    _Failed,
    _Here,
    _pack_calls,
    _run_batch,
    _Settle,
    _unpack_result,
)
from streamz_core.executor import ExecutorClosedError, LocalValue, Settled
from streamz_core.loop import as_asyncio_loop, parse_interval

__all__ = ["DaskExecutor"]

logger = logging.getLogger("streamz_core.backends.dask")


def _split_points(calls: list[Any], n: int) -> list[int]:
    """Where to cut waiting calls into about ``n`` batches, never between a call and one
    it reads (a chain such as map(f).map(g) stays in one batch, so actors get values)."""
    if n <= 1 or len(calls) <= 1:
        return []
    # The earliest waiting call that each call reads, directly or through its readers.
    reach = []
    for i, (_, args, kwargs, _) in enumerate(calls):
        lo = i
        for v in (*args, *kwargs.values()):
            v = v.ref if isinstance(v, Settled) else v
            if isinstance(v, DaskRef) and v.batch is None:
                lo = min(lo, v.index)
        reach.append(lo)
    suffix = len(calls)
    suffix_min = [0] * len(calls)
    for i in range(len(calls) - 1, -1, -1):
        suffix = min(suffix, reach[i])
        suffix_min[i] = suffix
    size = -(-len(calls) // n)
    points: list[int] = []
    target = size
    for p in range(1, len(calls)):
        if p >= target and suffix_min[p] >= p:  # nothing from p on reads before p
            points.append(p)
            if len(points) == n - 1:
                break
            target = p + size
    return points


class _Batch:
    """One Dask task holding several calls; its results are fetched once, eagerly."""

    __slots__ = ("future", "result", "refs_left", "failures")

    def __init__(self, future: Any, failures: dict[int, Exception] | None = None):
        self.future = future
        self.result: asyncio.Future[list[Any]] | None = None
        self.refs_left = 0
        self.failures = failures or {}  # calls that failed here, before sending

    def outcomes(self, blobs: list[Any]) -> list[Any]:
        """The batch's results as values or ``_Failed``, with the failures kept here."""
        out = [_unpack_result(b) for b in blobs]
        for i, exc in self.failures.items():
            out[i] = _Failed(exc)
        return out


class DaskRef:
    """A stream element's result: call ``index`` of a batch (``batch`` is None until sent)."""

    __slots__ = ("batch", "index", "__weakref__")

    def __init__(self, index: int):
        self.batch: _Batch | None = None
        self.index = index

    def __repr__(self) -> str:
        where = "a pending batch" if self.batch is None else getattr(self.batch.future, "key", "?")
        return f"<DaskRef {self.index} of {where}>"


class DaskExecutor:
    """Run stream work on a ``distributed.Client``, batching elements into Dask tasks.

    Parameters
    ----------
    client
        A ``distributed.Client`` (synchronous or ``asynchronous=True``); default: the
        active default client.
    mode
        ``"actors"`` (default): batches go straight to batch-runner actors on the
        workers (one per batch in flight), about 0.3 ms per round trip; a batch whose
        worker dies is sent again, up to ``retries`` times. ``"tasks"``: every batch is
        a Dask task, placed and retried by the scheduler and shown on the dashboard's
        task stream, at ~10 ms per round trip.
    max_batches_in_flight
        Batches sent before waiting for one to finish; calls submitted meanwhile wait
        and go out together as the next batch.
    max_batch_size
        Upper bound on calls per batch.
    coalesce
        While work is out, how long a new call waits for others to join its batch
        (seconds, timedelta or a string such as ``"2ms"``). Default: 0.5 ms with actors,
        2 ms with tasks, the best measured on a 2-core machine.
    retries
        With ``mode="actors"``: how often a batch is sent again after its worker died.

    Examples
    --------
    >>> from distributed import Client
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None)
    >>> from streamz_core import Stream
    >>> source = Stream()
    >>> L = source.scatter(backend=client).map(lambda x: x + 1).gather().sink_to_list()
    >>> for x in range(3): source.emit(x)
    >>> L
    [1, 2, 3]
    >>> L.node.destroy(); client.close()
    """

    name = "dask"
    settles_arguments = True  # submit accepts Settled(ref) arguments

    def __init__(self, client: Any = None, mode: str = "actors", max_batches_in_flight: int = 2,
                 max_batch_size: int = 1000, coalesce: Any = None, retries: int = 3):
        from distributed import default_client

        # Through a typed name: distributed leaves default_client unannotated.
        get_default_client: Callable[[], Any] = default_client
        if client is None:
            try:
                client = get_default_client()
            except ValueError:
                raise ValueError(
                    "scatter(backend='dask'): no Dask client is running; create one first "
                    "(from distributed import Client; client = Client()) or pass "
                    "scatter(backend=client)"
                ) from None
        if mode not in ("actors", "tasks"):
            raise ValueError(
                f"DaskExecutor(mode={mode!r}): expected 'actors' (fast: batches go straight to "
                "workers) or 'tasks' (every batch a Dask task, shown on the dashboard)"
            )
        for name, value, low in (("max_batches_in_flight", max_batches_in_flight, 1),
                                 ("max_batch_size", max_batch_size, 1), ("retries", retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"DaskExecutor({name}={value!r}): expected an integer >= {low}")
        self.mode = mode
        self.retries = retries
        self._actors = _Actors(max_batches_in_flight)
        self.client = client
        self.max_batches_in_flight = max_batches_in_flight
        self.max_batch_size = max_batch_size
        if coalesce is None:  # a fraction of the round trip: ~0.3 ms (actors), ~10 ms (tasks)
            coalesce = 0.0005 if mode == "actors" else 0.002
        self.coalesce = parse_interval(coalesce, "DaskExecutor(coalesce)")
        self._calls: list[tuple[Any, tuple[Any, ...], dict[str, Any], DaskRef]] = []
        self._flush_scheduled = False
        self._in_flight = 0
        self._closed = False
        self._unfinished = 0  # calls submitted and not back yet
        self._closed_error: ExecutorClosedError | None = None
        self._dashboard_link: str | None = None
        # A synchronous client runs (and, closing, stops) the loop our graph runs on.
        # Read here: on the client's own thread, Client.asynchronous is always True.
        self._client_owns_loop = not client.asynchronous
        link = self.dashboard_link
        if link:
            logger.info("Dask dashboard: %s", link)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The client's event loop: streams built on it await Dask futures natively."""
        return as_asyncio_loop(self.client.loop)

    @property
    def dashboard_link(self) -> str | None:
        """The address of the Dask dashboard, if it runs, as it opens from this machine.

        Dask builds its link from the scheduler's host address, but a local cluster's
        dashboard may listen on another address (``dashboard_address="127.0.0.1:0"``
        listens on loopback only): then the link names the address it listens on.
        """
        if self._dashboard_link is None:
            try:
                link = self.client.dashboard_link
            except Exception:  # noqa: BLE001 - no dashboard (bokeh missing or disabled)
                return None
            self._dashboard_link = _where_it_listens(self.client, link) if link else None
        return self._dashboard_link

    def __repr__(self) -> str:
        return f"<DaskExecutor {self.client!r} dashboard={self.dashboard_link}>"

    def closed_loop_error(self, node: Any) -> ExecutorClosedError | None:
        """The error for a blocking call into ``node``'s graph once the client closed its loop.

        A synchronous client runs the loop the graph runs on, and stops and closes it when
        it closes; ``None`` while the client is open.
        """
        if not self._client_closed():
            return None
        return ExecutorClosedError(
            f"{node!r} runs on the event loop of the Dask client {self.client!r}, which was closed "
            "(client.close() stops and closes that loop): the pipeline cannot run any more. "
            "Create a new Client and build the pipeline again; next time, call source.drain() "
            "before client.close()"
        )

    # ------------------------------------------------------------------ protocol
    def is_ref(self, obj: Any) -> bool:
        return isinstance(obj, (DaskRef, LocalValue))

    def scatter(self, value: Any) -> Any:
        return LocalValue(value)  # travels with the task that uses it: no round trip

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> DaskRef:
        if self._closed or self._client_closed():
            what = "this executor was closed" if self._closed else f"the Dask client {self.client!r} is closed"
            raise ExecutorClosedError(f"{what}: it cannot take more work; make a new client and stream")
        ref = DaskRef(len(self._calls))
        self._calls.append((func, args, kwargs, ref))
        self._unfinished += 1
        if len(self._calls) >= self.max_batch_size:
            self._flush(force=True)
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop = asyncio.get_running_loop()
            if self._in_flight:
                # Work is already out: wait a moment so the elements emitted right
                # after this one join its batch (fewer Dask tasks, less scheduling).
                loop.call_at(loop.time() + self.coalesce, self._flush)
            else:
                loop.call_soon(self._flush)
        return ref

    def _flush(self, force: bool = False) -> None:
        """Send the waiting calls, split into as many batches as there are free slots.

        Several batches let several workers run them; one batch per slot keeps Dask's
        per-task cost small. Calls stay in order, so a call's ref arguments are earlier
        calls: in the same batch (read there), in an earlier batch of this flush or a
        previous one (a Dask dependency), or already back here (sent as a value).
        """
        self._flush_scheduled = False
        calls = self._calls
        if not calls:
            return
        if self._closed or self._client_closed():
            self._fail_waiting_calls()
            return
        free = self.max_batches_in_flight - self._in_flight
        if free <= 0 and not force:
            return  # sent when an in-flight batch finishes
        if self.mode == "actors":
            waiting = self._unfinished_dependency(calls)
            if waiting is not None:  # actors get values: wait for that batch first
                self._flush_scheduled = True
                waiting.add_done_callback(lambda _: self._flush())
                return
        self._calls = []
        n_batches = max(1, min(free, len(calls)))
        bounds = [0, *_split_points(calls, n_batches), len(calls)]
        for start, stop in itertools.pairwise(bounds):
            chunk = calls[start:stop]
            deps: list[Any] = []
            encoded = []
            for func, args, kwargs, _ in chunk:
                a = tuple(self._arg(v, start, deps) for v in args)
                kw = {k: self._arg(v, start, deps) for k, v in kwargs.items()}
                encoded.append((func, a, kw))
            packed, failures = _pack_calls(encoded)
            if self.mode == "actors":
                batch = _Batch(None, failures)
                batch.result = asyncio.ensure_future(self._run_on_actor(batch, packed, len(chunk)))
            else:
                batch = _Batch(self.client.submit(_run_batch, packed, deps, pure=False), failures)
                batch.result = asyncio.ensure_future(self._fetch(batch, len(chunk)))
            for i, (_, _, _, ref) in enumerate(chunk):
                ref.batch, ref.index = batch, i
            batch.refs_left = len(chunk)
            self._in_flight += 1

    def _arg(self, v: Any, start: int, deps: list[Any]) -> Any:
        """Encode one argument of a call in the batch that begins at pending index ``start``."""
        if isinstance(v, Settled):
            return _Settle(self._arg(v.ref, start, deps))
        if isinstance(v, LocalValue):
            return v.value
        if not isinstance(v, DaskRef):
            return v
        if v.batch is None:  # in this flush, in the batch being built (earlier ones are sent)
            return _Here(v.index - start)
        result = v.batch.result
        if result is not None and result.done() and not result.cancelled() and result.exception() is None:
            out = result.result()[v.index]
            if not isinstance(out, _Failed) or self.mode == "actors":
                return out  # already back here: send the value itself (or its failure)
        for i, dep in enumerate(deps):
            if dep is v.batch.future:
                return _Dep(i, v.index)
        deps.append(v.batch.future)
        return _Dep(len(deps) - 1, v.index)

    def _unfinished_dependency(self, calls: list[Any]) -> asyncio.Future[Any] | None:
        """The result future of a sent batch that a waiting call reads and that is not back."""
        for _, args, kwargs, _ in calls:
            for v in (*args, *kwargs.values()):
                v = v.ref if isinstance(v, Settled) else v
                if isinstance(v, DaskRef) and v.batch is not None:
                    result = v.batch.result
                    if result is not None and not result.done():
                        return result
        return None

    async def _on_client_loop(self, start: Callable[..., Any], *args: Any) -> Any:
        """Await ``start(*args)`` (a Dask awaitable) on the client's loop, bridged when the
        stream runs on another loop."""
        if asyncio.get_running_loop() is self.loop:
            return await start(*args)

        async def there() -> Any:
            return await start(*args)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(there(), self.loop))

    def _client_closed(self) -> bool:
        return self.client.status in ("closing", "closed")

    def _closed_now(self) -> ExecutorClosedError:
        """The one error for every call in flight when the client (or executor) closed."""
        if self._closed_error is None:
            n = self._unfinished
            what = "the executor was closed" if self._closed and not self._client_closed() \
                else f"the Dask client {self.client!r} closed"
            err = self._closed_error = ExecutorClosedError(
                f"{what} with {n} element{'s' if n != 1 else ''} in flight (sent, not back yet); "
                "they were not processed. Keep the client open until the stream is done "
                "(source.drain() waits for it), then close it"
            )
            logger.debug("%s", err)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self.loop and self._client_owns_loop and n:
                # A synchronous client stops the loop the graph runs on when it closes, so
                # no later emit can raise this: report it once on that loop instead.
                running.call_exception_handler({"message": str(err), "exception": err})
        return self._closed_error

    def _fail_waiting_calls(self) -> None:
        """Give the calls not sent yet one batch that has already failed (closed client)."""
        calls, self._calls = self._calls, []
        err = self._closed_now()
        batch = _Batch(None)
        loop = asyncio.get_running_loop()
        batch.result = loop.create_future()
        batch.result.set_exception(err)
        batch.result.exception()  # retrieved by gather; do not log "never retrieved"
        for i, (_, _, _, ref) in enumerate(calls):
            ref.batch, ref.index = batch, i
        batch.refs_left = len(calls)

    def _batch_back(self, n_calls: int) -> None:
        self._in_flight -= 1
        self._unfinished -= n_calls
        if self._calls and not self._flush_scheduled:
            self._flush()

    async def _run_on_actor(self, batch: _Batch, packed: Any, n_calls: int) -> list[Any]:
        try:
            blobs = await self._actors.run(self.client, packed, self.retries, self._on_client_loop,
                                           self._error_if_closed)
            return batch.outcomes(blobs)
        finally:
            self._batch_back(n_calls)

    def _error_if_closed(self) -> ExecutorClosedError | None:
        """After a lost worker: the closed error if that loss was the client closing."""
        return self._closed_now() if self._closed or self._client_closed() else None

    async def _fetch(self, batch: _Batch, n_calls: int) -> list[Any]:
        try:
            # A synchronous client's futures can only be awaited on its own loop.
            return batch.outcomes(await self._on_client_loop(_await, batch.future))
        except Exception:
            if self._closed or self._client_closed():
                raise self._closed_now() from None
            raise
        finally:
            self._batch_back(n_calls)

    async def gather(self, ref: Any) -> Any:
        if isinstance(ref, LocalValue):
            return ref.value
        while ref.batch is None:  # still waiting to be sent: send it now
            if self._closed or self._client_closed():
                self._fail_waiting_calls()
                break
            self._flush(force=True)
            waiting = self._unfinished_dependency(self._calls) if ref.batch is None else None
            if waiting is not None:  # it reads a batch that is not back yet (actors)
                await asyncio.wait([waiting])
        batch = ref.batch
        assert batch is not None and batch.result is not None
        out = (await batch.result)[ref.index]
        if isinstance(out, _Failed):
            raise out.exception
        return out

    def release(self, ref: Any) -> None:
        if isinstance(ref, DaskRef) and ref.batch is not None:
            ref.batch.refs_left -= 1
            if ref.batch.refs_left <= 0 and ref.batch.result is not None and ref.batch.result.done():
                ref.batch.future = None  # the last element is back: let Dask free the batch

    def close(self) -> None:
        """Stop sending work and drop the batch-runner actors (the client is the user's).

        Calls still waiting to be sent fail with one ``ExecutorClosedError``.
        """
        self._closed = True
        self._actors.drop()


def _where_it_listens(client: Any, link: str) -> str:
    """``link`` with the host the local scheduler's dashboard actually listens on.

    Only a cluster whose scheduler runs in this process (``LocalCluster``) tells; for
    a remote scheduler, Dask's own link is kept.
    """
    scheduler = getattr(getattr(client, "cluster", None), "scheduler", None)
    server = getattr(scheduler, "http_server", None)
    host, port = getattr(server, "address", None), getattr(server, "port", None)
    if not host or host in ("0.0.0.0", "::") or not port:
        return link  # listens on every interface: Dask's host answers
    parts = urlsplit(link)
    if parts.port != port:
        return link  # a proxy URL (distributed.dashboard.link): leave it alone
    shown = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{shown}:{port}"))
