"""A worker process of the runtime: ``python -m streamz_core.runtime.worker FDS PPID``.

The driver starts it (``driver/process.py``); ``__main__`` connects to the driver and
becomes a task worker (``tasks``) or the host of one actor (``actor_host``), as the
driver's first message says. ``core`` is the worker's link to the driver, the core that
the public modules call in this process. Importing this package does nothing: the
process imports what its role needs.
"""
