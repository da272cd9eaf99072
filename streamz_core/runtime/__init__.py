"""The built-in single-machine actor/task runtime, modelled on Ray Core.

``import streamz_core.runtime as rt``; ``@rt.remote`` functions run as tasks in worker
processes and ``@rt.remote`` classes as actors in their own processes. Object refs are
awaitable from any event loop. This package imports nothing of the stream graph.

Examples
--------
>>> import streamz_core.runtime as rt
>>> @rt.remote
... def inc(x):
...     return x + 1
>>> rt.get([inc.remote(i) for i in range(3)])
[1, 2, 3]
"""
from __future__ import annotations

from . import exceptions as exceptions
from .actor import ActorClass as ActorClass
from .actor import ActorHandle as ActorHandle
from .actor import exit_actor as exit_actor
from .actor import method as method
from .api import as_future as as_future
from .api import cancel as cancel
from .api import get as get
from .api import get_actor as get_actor
from .api import init as init
from .api import is_initialized as is_initialized
from .api import kill as kill
from .api import put as put
from .api import remote as remote
from .api import shutdown as shutdown
from .api import wait as wait
from .context import RuntimeContext as RuntimeContext
from .context import RuntimeStatistics as RuntimeStatistics
from .context import runtime_context as runtime_context
from .context import statistics as statistics
from .exceptions import ActorDiedError as ActorDiedError
from .exceptions import GetTimeoutError as GetTimeoutError
from .exceptions import TaskCancelledError as TaskCancelledError
from .exceptions import WorkerCrashedError as WorkerCrashedError
from .object_ref import ObjectRef as ObjectRef
from .remote_function import RemoteFunction as RemoteFunction

__all__ = [
    "init", "shutdown", "is_initialized", "remote", "method", "get", "wait", "put",
    "cancel", "kill", "get_actor", "exit_actor", "as_future", "runtime_context",
    "RuntimeContext", "RuntimeStatistics", "statistics", "ObjectRef", "RemoteFunction", "ActorClass", "ActorHandle",
    "exceptions", "ActorDiedError", "GetTimeoutError", "TaskCancelledError",
    "WorkerCrashedError",
]
