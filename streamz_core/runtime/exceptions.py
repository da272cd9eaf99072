"""Exceptions raised by the runtime.

A remote exception re-raises in the caller as an instance of its original class, with the
remote traceback attached as its ``__cause__`` (a :class:`RemoteTraceback`). The classes
below cover what is not the user's own exception: a crashed worker, a dead actor, a
timed-out get, a cancelled task and values that cannot be pickled.
"""
from __future__ import annotations

__all__ = [
    "RuntimeBaseError",
    "TaskError",
    "RemoteTraceback",
    "WorkerCrashedError",
    "ActorDiedError",
    "GetTimeoutError",
    "TaskCancelledError",
    "SerializationError",
    "ObjectLostError",
    "ObjectStoreFullError",
]


class RuntimeBaseError(Exception):
    """Base class of every error the runtime raises itself.

    Examples
    --------
    >>> issubclass(WorkerCrashedError, RuntimeBaseError)
    True
    """


class RemoteTraceback(Exception):
    """The formatted traceback of an exception raised in another process.

    It is attached as ``__cause__`` of the re-raised exception, so Python prints the remote
    traceback above the local one.

    Examples
    --------
    >>> RemoteTraceback("Traceback ...").tb
    'Traceback ...'
    """

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


class TaskError(RuntimeBaseError):
    """A remote exception that could not be rebuilt as its original class.

    Raised when the remote exception's class cannot be pickled or re-created in the
    caller; ``type_name`` and ``traceback`` keep what is known.

    Examples
    --------
    >>> e = TaskError("MyError", "boom", "Traceback ...")
    >>> e.type_name, str(e).splitlines()[0]
    ('MyError', 'remote MyError: boom')
    """

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(f"remote {type_name}: {message}\n{traceback}")
        self.type_name = type_name
        self.message = message
        self.traceback = traceback

    def __reduce__(self) -> tuple[type[TaskError], tuple[str, str, str]]:
        return (TaskError, (self.type_name, self.message, self.traceback))


class WorkerCrashedError(RuntimeBaseError):
    """The worker process died while running the task, more often than ``max_retries``.

    Examples
    --------
    >>> isinstance(WorkerCrashedError("worker 3 died"), RuntimeBaseError)
    True
    """


class ActorDiedError(RuntimeBaseError):
    """The actor is dead: killed, exited, crashed past ``max_restarts`` or failed to start.

    Examples
    --------
    >>> str(ActorDiedError("actor 'a' was killed"))
    "actor 'a' was killed"
    """


class GetTimeoutError(RuntimeBaseError, TimeoutError):
    """``rt.get(..., timeout=)`` ran out of time; it is also a :class:`TimeoutError`.

    Examples
    --------
    >>> issubclass(GetTimeoutError, TimeoutError)
    True
    """


class TaskCancelledError(RuntimeBaseError):
    """The task or actor call was cancelled with ``rt.cancel``.

    Examples
    --------
    >>> str(TaskCancelledError("ObjectRef(0x1) was cancelled"))
    'ObjectRef(0x1) was cancelled'
    """


class SerializationError(RuntimeBaseError, TypeError):
    """An argument or a result could not be pickled (it is also a :class:`TypeError`).

    Examples
    --------
    >>> issubclass(SerializationError, TypeError)
    True
    """


class ObjectLostError(RuntimeBaseError):
    """The object was freed or the runtime shut down before it could be read.

    Also raised on reading a ref that was unpickled in a process where no runtime ran
    (such a ref starts nothing and belongs to no object store there).

    Examples
    --------
    >>> isinstance(ObjectLostError("gone"), RuntimeBaseError)
    True
    """


class ObjectStoreFullError(RuntimeBaseError, OSError):
    """A large value fitted neither in shared memory nor in ``spill_dir`` (disk full).

    It is also an :class:`OSError` with ``errno`` set (``ENOSPC`` or ``EDQUOT``); the
    message names both directories and what to change in ``rt.init``.

    Examples
    --------
    >>> import errno
    >>> e = ObjectStoreFullError(errno.ENOSPC, "the spill directory is full")
    >>> isinstance(e, OSError), e.errno == errno.ENOSPC
    (True, True)
    """
