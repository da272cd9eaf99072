"""Unpickling a ref or an actor handle never starts a runtime (issue 8).

A ref pickled in one runtime and unpickled in a process where none runs is detached: no
worker process is spawned, and using it raises an error that says what to do.
"""
from __future__ import annotations

import json
import pathlib
import pickle
import subprocess
import sys
import textwrap

import streamz_core.runtime as rt

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: unpickles (ref, handle) from stdin, uses them, and prints
# what happened as one JSON line.
UNPICKLE = textwrap.dedent("""\
    import asyncio, json, pickle, sys
    import psutil
    import streamz_core.runtime as rt
    from streamz_core.runtime import _context

    ref, handle = pickle.loads(sys.stdin.buffer.read())
    out = {"current_after_load": _context.current() is not None,
           "children_after_load": len(psutil.Process().children(recursive=True))}

    def error(use):
        try:
            use()
        except Exception as exc:
            return [type(exc).__name__, str(exc)]
        return None

    async def awaited():
        return await ref

    out["get"] = error(lambda: rt.get(ref))
    out["get_list"] = error(lambda: rt.get([ref]))
    out["wait"] = error(lambda: rt.wait([ref]))
    out["future"] = error(lambda: ref.future())
    out["await"] = error(lambda: asyncio.run(awaited()))
    out["call"] = error(lambda: handle.ping.remote())
    out["current_after_use"] = _context.current() is not None
    out["children_after_use"] = len(psutil.Process().children(recursive=True))
    out["repickles"] = pickle.loads(pickle.dumps(ref)) == ref
    # A runtime started now did not make the object: the ref must not read its objects
    rt.init(num_workers=1)
    rt.put("an object of the new runtime")
    out["get_after_init"] = error(lambda: rt.get(ref))
    print(json.dumps(out))
""")


def test_unpickled_ref_starts_no_runtime_and_says_what_to_do(runtime):
    @rt.remote
    class Pinger:
        def ping(self):
            return "pong"

    ref = rt.put(41)
    handle = Pinger.remote()
    data = pickle.dumps((ref, handle))
    proc = subprocess.run([sys.executable, "-c", UNPICKLE], input=data, capture_output=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert out["current_after_load"] is False and out["children_after_load"] == 0
    assert out["current_after_use"] is False and out["children_after_use"] == 0
    for use in ("get", "get_list", "wait", "future", "await"):
        kind, message = out[use]
        assert kind == "ObjectLostError", (use, out[use])
        assert message.startswith(f"{ref!r} was unpickled in a process where no runtime is "
                                  f"running"), message
        assert "use it in the process that made it" in message
    kind, message = out["call"]
    assert kind == "ActorDiedError" and message.startswith(f"{handle!r} was unpickled")
    assert out["repickles"] is True
    kind, message = out["get_after_init"]
    assert kind == "ObjectLostError" and "before the runtime of this process" in message
    # the handle's actor is unaffected in the runtime that made it
    assert rt.get(handle.ping.remote()) == "pong"
    assert rt.get(ref) == 41


def test_refs_unpickled_in_a_worker_are_bound_there(runtime):
    @rt.remote
    def read(boxed):
        [inner] = boxed  # a ref nested in a list arrives as a ref, unpickled in the worker
        return rt.get(inner) + 1

    assert rt.get(read.remote([rt.put(1)])) == 2
