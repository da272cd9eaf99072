"""The actor host: one actor instance inside its own worker process.

* async actor (any ``async def`` method): every method of the default group runs on one
  event loop in the main thread, at most ``max_concurrency`` (default 1000) at once;
* sync actor (``max_concurrency == 1``): calls run one at a time on the main thread in
  the order they were submitted;
* threaded actor (``max_concurrency=N``): a pool of N threads.

Each concurrency group gets its own pool (sync) or its own loop on its own thread
(async), so a blocked group never blocks another. Results are batched: a sync actor
sends them when its queue is empty, an async actor once per loop iteration.
"""
from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import _protocol as P
from .. import _serialization as ser
from .._task import bind_args
from .common import ActorExit, Interrupt, cancelled, current_task, results
from .core import WorkerCore


class _LoopGroup:
    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.limit = limit
        self.sem: asyncio.Semaphore | None = None
        self.incoming: list[P.Call] = []
        self.lock = threading.Lock()
        self.flush_scheduled = False


class ActorHost:
    """Runs the calls of one actor (see module docstring)."""

    def __init__(self, core: WorkerCore, msg: P.HostActor) -> None:
        _, self.aid, self.key, blob, args, deps, options, meta, restarts = msg
        self.core = core
        self.blob = blob
        self.args = args
        self.deps = deps
        self.options = options
        self.meta = meta
        self.restarts = restarts
        self.is_async = bool(meta.get("is_async"))
        self.method_groups: dict[str, str] = meta.get("method_groups", {})
        self.instance: Any = None
        self.running: dict[int, Any] = {}
        self.cancelled: set[int] = set()
        self.sync_groups: dict[str, ThreadPoolExecutor] = {}
        self.loop_groups: dict[str, _LoopGroup] = {}

    def run(self) -> None:
        """Create the instance and serve calls (main thread; never returns)."""
        core = self.core
        cls = pickle.loads(self.blob)
        conc = int(self.options.get("max_concurrency") or (1000 if self.is_async else 1))
        groups = dict(self.options.get("concurrency_groups") or {})
        main_loop = None
        if self.is_async:
            main_loop = asyncio.new_event_loop()
            asyncio.set_event_loop(main_loop)
            self.loop_groups[""] = _LoopGroup(main_loop, conc)
            for g, n in groups.items():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, daemon=True,
                                 name=f"rt-group-{g}").start()
                self.loop_groups[g] = _LoopGroup(loop, int(n))
        else:
            if conc > 1:
                self.sync_groups[""] = ThreadPoolExecutor(conc, "rt-actor")
            for g, n in groups.items():
                self.sync_groups[g] = ThreadPoolExecutor(int(n), f"rt-group-{g}")
        try:
            a, kw = bind_args(self.args, self.deps, core.refetch)
            self.instance = cls(*a, **kw)
        except BaseException as exc:
            core.out.append(P.actor_init_failed(ser.error_payload(exc)))
            core.flush()
            os._exit(1)
        core.set_host(self)
        if main_loop is not None:
            main_loop.run_forever()
        q = core.queue
        last = time.perf_counter()
        while True:
            self.run_sync(q.get())
            last = core.flush_after_one(last)

    # -- routing (reader thread) -------------------------------------------------------
    def _group(self, method: str) -> str:
        return self.method_groups.get(method, "")

    def dispatch(self, m: P.Call) -> None:
        g = self._group(m[2])
        if self.is_async and g in self.loop_groups:
            lg = self.loop_groups[g]
            with lg.lock:
                lg.incoming.append(m)
                if len(lg.incoming) > 1:
                    return
            lg.loop.call_soon_threadsafe(self._start_calls, lg)
        elif g in self.sync_groups:
            self.sync_groups[g].submit(self._run_and_flush, m)
        else:
            self.core.queue.put(m)

    def cancel(self, cid: int) -> None:
        self.cancelled.add(cid)
        task = self.running.get(cid)
        if isinstance(task, asyncio.Task):
            task.get_loop().call_soon_threadsafe(task.cancel)

    # -- sync calls --------------------------------------------------------------------
    def _run_and_flush(self, m: P.Call) -> None:
        self.run_sync(m)
        self.core.flush()

    def _call(self, m: P.Call) -> tuple[Any, Sequence[Any], dict[str, Any]]:
        _, _cid, method, args, deps, _out_ids, _nret, _name = m
        a, kw = bind_args(args, deps, self.core.refetch)
        return getattr(self.instance, method), a, kw

    def run_sync(self, m: P.Call) -> None:
        cid, out_ids, nret, name = m[1], m[5], m[6], m[7]
        t0 = time.perf_counter()
        token = current_task.set(cid)
        self.running[cid] = True
        try:
            if cid in self.cancelled:
                raise Interrupt()
            fn, a, kw = self._call(m)
            result = fn(*a, **kw)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            payloads = results(self.core.shm_dir, result, out_ids, nret, name)
        except ActorExit:
            self._exit()
        except Interrupt:
            payloads = cancelled(name, cid, nret)
        except BaseException as exc:
            payloads = [ser.error_payload(exc)] * nret
        finally:
            current_task.reset(token)
            self.running.pop(cid, None)
        self.cancelled.discard(cid)
        self.core.out.append(P.task_done(cid, payloads, time.perf_counter() - t0))

    def _exit(self) -> None:
        core = self.core
        core.out.append(P.actor_exiting())
        core.flush()
        os._exit(0)

    # -- async calls ---------------------------------------------------------------------
    def _start_calls(self, lg: _LoopGroup) -> None:
        with lg.lock:
            items, lg.incoming = lg.incoming, []
        if lg.sem is None:
            lg.sem = asyncio.Semaphore(lg.limit)
        loop = lg.loop
        for m in items:
            t = loop.create_task(self._run_async(m, lg))
            self.running[m[1]] = t

    async def _run_async(self, m: P.Call, lg: _LoopGroup) -> None:
        cid, out_ids, nret, name = m[1], m[5], m[6], m[7]
        t0 = time.perf_counter()
        current_task.set(cid)
        try:
            async with lg.sem:  # type: ignore[union-attr]
                if cid in self.cancelled:
                    raise asyncio.CancelledError()
                fn, a, kw = self._call(m)
                result = fn(*a, **kw)
                if inspect.isawaitable(result):
                    result = await result
            payloads = results(self.core.shm_dir, result, out_ids, nret, name)
        except ActorExit:
            self._exit()
        except asyncio.CancelledError:
            payloads = cancelled(name, cid, nret)
        except BaseException as exc:
            payloads = [ser.error_payload(exc)] * nret
        finally:
            self.running.pop(cid, None)
        self.cancelled.discard(cid)
        self.core.out.append(P.task_done(cid, payloads, time.perf_counter() - t0))
        if not lg.flush_scheduled:
            lg.flush_scheduled = True
            lg.loop.call_soon(self._flush, lg)

    def _flush(self, lg: _LoopGroup) -> None:
        lg.flush_scheduled = False
        self.core.flush()


async def _await(aw: Any) -> Any:
    return await aw
