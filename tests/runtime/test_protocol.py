"""The driver<->worker protocol: every message is built by one constructor and handled by
exactly one handler of the receiving side's dispatch table."""
from __future__ import annotations

import pickle

from streamz_core.runtime import _context
from streamz_core.runtime import _protocol as P
from streamz_core.runtime._shm_files import unregister_session
from streamz_core.runtime.worker.core import WorkerCore


def test_tags_are_unique_and_each_has_a_constructor():
    tags = {**P.DRIVER_TO_WORKER, **P.WORKER_TO_DRIVER}
    assert len(tags) == len(P.DRIVER_TO_WORKER) + len(P.WORKER_TO_DRIVER)
    for tag, name in tags.items():
        assert getattr(P, name) == tag
        build = getattr(P, name.lower())  # RUN_TASK -> run_task(...)
        assert callable(build), name


def test_the_driver_handles_every_worker_message(runtime):
    handlers = _context.current().pool.handlers
    assert set(handlers) == set(P.WORKER_TO_DRIVER)
    for tag, fn in handlers.items():  # grep -i <name> finds sender and handler
        assert fn.__name__ == "on_" + P.WORKER_TO_DRIVER[tag].lower()


def test_the_worker_handles_every_driver_message(tmp_path):
    settings = {"index": 1, "mode": "task", "shm_dir": str(tmp_path),
                "spill_dir": str(tmp_path), "object_store_memory": 1 << 20}
    try:
        handlers = WorkerCore(None, settings).handlers  # type: ignore[arg-type]
    finally:
        unregister_session(str(tmp_path))
    assert set(handlers) == set(P.DRIVER_TO_WORKER) - {P.INIT}  # INIT: worker/boot.py
    for tag, fn in handlers.items():
        assert fn.__name__ == "on_" + P.DRIVER_TO_WORKER[tag].lower()


def test_messages_are_plain_tuples_on_the_wire():
    # the hot path pickles one RUN_TASK and one TASK_DONE per task: no class per message
    m = P.run_task(1, ("f", 1), None, ("i", b"", None, ()), [], [1], 1, "f")
    assert type(m) is tuple and m[0] == P.RUN_TASK
    assert pickle.loads(pickle.dumps([m, P.task_done(1, [], 0.0)], 5)) == [
        m, (P.TASK_DONE, 1, [], 0.0)]
