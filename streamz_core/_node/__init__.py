"""The parts of :class:`streamz_core.core.Stream` kept apart from its class body.

``core.py`` holds the ``Stream`` class and its protocol (wiring, emit/update/_emit); what
its methods delegate to lives here, one concern a module: ``links`` (weak downstream
links), ``binding`` (which loop a graph runs on), ``backpressure`` (what ``_emit``
returns and when a source yields), ``failures`` (error notes, dead letters),
``remote`` (refs after scatter), ``display`` (``str(node)``), ``defaults``
(``identity``, ``no_default``) and ``typevars`` (the element type for type checkers).
"""
