"""Every message between the driver and a worker process, and how to find its two ends.

A message is a tuple whose first item is an int tag; the rest are its fields, in the order
of the type alias below. Each message has three names that differ only in case:
``RUN_TASK`` (the tag), ``RunTask`` (the type) and ``run_task(...)`` (the typed
constructor every send site calls). Each side has one dispatch table, built once, that
maps a tag to the method handling it, named ``on_<name>`` (the driver's in
``driver/__init__.py``, the worker's in ``worker/core.py``). So ``grep -rin run_task
streamz_core/runtime`` shows where a message is built, sent and handled.

Why tuples and not classes: the driver sends and receives one message per task, pickled
in batches. Measured on CPython 3.11 for a batch of 64 ``RunTask``-sized messages, per
message: a tuple pickles in 0.12 us and unpickles in 0.15 us; a ``NamedTuple`` takes
0.68 us and 0.34 us (its pickling runs Python code per message); a ``__slots__`` class
with ``__reduce__`` 0.38 us and 0.26 us. The type aliases keep them checked by mypy.

Messages travel in batches: a pickled ``list`` of messages per write (``dumps_msgs``).
Payloads inside them (values, errors) are already serialized (see ``_serialization``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._actors import ActorRec
    from ._task import Task

#: A serialized value or error (see ``_serialization``).
Payload = tuple[Any, ...]
#: A dependency of a task as sent to the worker: (argument position, object id, payload).
Dep = tuple[int | str, int, Payload]

# -- driver -> worker (tags 1-19) -------------------------------------------------------
INIT: Final = 1            # the first message: the worker's settings
RUN_TASK: Final = 2        # run a task (with the function's pickle the first time)
CALL: Final = 3            # call a method of the hosted actor
CANCEL: Final = 4          # cancel a task or call by id
VALUE: Final = 5           # the payload of an object the worker subscribed to
ACTOR_FOUND: Final = 6     # the answer to LOOKUP_ACTOR
HOST_ACTOR: Final = 7      # create the actor instance this process hosts
LEAVE: Final = 8           # exit now (retired worker, dropped actor, shutdown)

# -- worker -> driver (tags 20-39) ------------------------------------------------------
TASK_DONE: Final = 20      # a task or call ended: its result payloads
BLOCKED: Final = 21        # the running task waits in rt.get; the queued tasks come back
UNBLOCKED: Final = 22      # ... and is running again
RETURN_TASKS: Final = 23   # tasks the worker will not run (it is blocked)
SUBMIT: Final = 24         # a task submitted by code running in the worker
FUNCTION: Final = 25       # the pickle of a function the worker's tasks submit
SUBSCRIBE: Final = 26      # send me the values of these objects when they are ready
ADD_REF: Final = 27        # the worker holds a (new) ref to this object
RELEASE: Final = 28        # ... and no longer does
PUT: Final = 29            # rt.put in the worker
CANCEL_REQUEST: Final = 30  # rt.cancel in the worker
ACTOR_INIT_FAILED: Final = 31  # the hosted actor's __init__ raised
ACTOR_EXITING: Final = 32  # the hosted actor called rt.exit_actor()
CREATE_ACTOR: Final = 33   # an actor created by code running in the worker
LOOKUP_ACTOR: Final = 34   # rt.get_actor(name) in the worker
KILL_ACTOR: Final = 35     # rt.kill in the worker

Init = tuple[int, dict[str, Any]]
RunTask = tuple[int, int, Any, bytes | None, Payload, list[Dep], list[int], int, str]
Call = tuple[int, int, str, Payload, list[Dep], list[int], int, str]
Cancel = tuple[int, int]
Value = tuple[int, int, Payload]
ActorFound = tuple[int, int, tuple[int, str | None, dict[str, Any]] | None]
HostActor = tuple[int, int, Any, bytes, Payload, list[Dep], dict[str, Any], dict[str, Any],
                  int]
Leave = tuple[int]

TaskDone = tuple[int, int, list[Payload], float]
Blocked = tuple[int, list[int]]
Unblocked = tuple[int]
ReturnTasks = tuple[int, list[int]]
Submit = tuple[int, bytes | None, "Task"]
Function = tuple[int, Any, bytes]
Subscribe = tuple[int, list[int]]
AddRef = tuple[int, int]
Release = tuple[int, int]
Put = tuple[int, int, Payload]
CancelRequest = tuple[int, int, bool, bool]
ActorInitFailed = tuple[int, Payload]
ActorExiting = tuple[int]
CreateActor = tuple[int, bytes, "ActorRec"]
LookupActor = tuple[int, int, str]
KillActor = tuple[int, int, bool]

#: Any message (the dispatch tables take the tag from ``msg[0]``).
Message = tuple[Any, ...]


# -- constructors: the only way the runtime builds a message ------------------------------
def init(settings: dict[str, Any]) -> Init:
    return (INIT, settings)


def run_task(tid: int, key: Any, blob: bytes | None, args: Payload, deps: list[Dep],
             out_ids: list[int], nret: int, name: str) -> RunTask:
    return (RUN_TASK, tid, key, blob, args, deps, out_ids, nret, name)


def call(cid: int, method: str, args: Payload, deps: list[Dep], out_ids: list[int],
         nret: int, name: str) -> Call:
    return (CALL, cid, method, args, deps, out_ids, nret, name)


def cancel(tid: int) -> Cancel:
    return (CANCEL, tid)


def value(oid: int, payload: Payload) -> Value:
    return (VALUE, oid, payload)


def actor_found(req: int, info: tuple[int, str | None, dict[str, Any]] | None) -> ActorFound:
    return (ACTOR_FOUND, req, info)


def host_actor(aid: int, key: Any, blob: bytes, args: Payload, deps: list[Dep],
               options: dict[str, Any], meta: dict[str, Any], restarts: int) -> HostActor:
    return (HOST_ACTOR, aid, key, blob, args, deps, options, meta, restarts)


def leave() -> Leave:
    return (LEAVE,)


def task_done(tid: int, payloads: list[Payload], dt: float) -> TaskDone:
    return (TASK_DONE, tid, payloads, dt)


def blocked(tids: list[int]) -> Blocked:
    return (BLOCKED, tids)


def unblocked() -> Unblocked:
    return (UNBLOCKED,)


def return_tasks(tids: list[int]) -> ReturnTasks:
    return (RETURN_TASKS, tids)


def submit(blob: bytes | None, task: Task) -> Submit:
    return (SUBMIT, blob, task)


def function(key: Any, blob: bytes) -> Function:
    return (FUNCTION, key, blob)


def subscribe(oids: list[int]) -> Subscribe:
    return (SUBSCRIBE, oids)


def add_ref(oid: int) -> AddRef:
    return (ADD_REF, oid)


def release(oid: int) -> Release:
    return (RELEASE, oid)


def put(oid: int, payload: Payload) -> Put:
    return (PUT, oid, payload)


def cancel_request(oid: int, force: bool, recursive: bool) -> CancelRequest:
    return (CANCEL_REQUEST, oid, force, recursive)


def actor_init_failed(payload: Payload) -> ActorInitFailed:
    return (ACTOR_INIT_FAILED, payload)


def actor_exiting() -> ActorExiting:
    return (ACTOR_EXITING,)


def create_actor(blob: bytes, rec: ActorRec) -> CreateActor:
    return (CREATE_ACTOR, blob, rec)


def lookup_actor(req: int, name: str) -> LookupActor:
    return (LOOKUP_ACTOR, req, name)


def kill_actor(aid: int, no_restart: bool) -> KillActor:
    return (KILL_ACTOR, aid, no_restart)


#: Tag -> name, for error messages and for the test that checks both dispatch tables.
DRIVER_TO_WORKER: Final = {INIT: "INIT", RUN_TASK: "RUN_TASK", CALL: "CALL",
                           CANCEL: "CANCEL", VALUE: "VALUE", ACTOR_FOUND: "ACTOR_FOUND",
                           HOST_ACTOR: "HOST_ACTOR", LEAVE: "LEAVE"}
WORKER_TO_DRIVER: Final = {
    TASK_DONE: "TASK_DONE", BLOCKED: "BLOCKED", UNBLOCKED: "UNBLOCKED",
    RETURN_TASKS: "RETURN_TASKS", SUBMIT: "SUBMIT", FUNCTION: "FUNCTION",
    SUBSCRIBE: "SUBSCRIBE", ADD_REF: "ADD_REF", RELEASE: "RELEASE", PUT: "PUT",
    CANCEL_REQUEST: "CANCEL_REQUEST", ACTOR_INIT_FAILED: "ACTOR_INIT_FAILED",
    ACTOR_EXITING: "ACTOR_EXITING", CREATE_ACTOR: "CREATE_ACTOR",
    LOOKUP_ACTOR: "LOOKUP_ACTOR", KILL_ACTOR: "KILL_ACTOR"}
