"""How type checkers see ``Stream``: its element type and the base declaring its methods."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

__all__ = ["T", "T_co", "StreamBase"]

T = TypeVar("T")
if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVarDefault

    # Type checkers see the operator methods through this base (it declares them);
    # at run time the base is Generic and register_api attaches them.
    from .._stream_methods import StreamMethods as StreamBase

    # The element type of a stream; `default=Any` makes `Stream()` and a bare
    # `Stream` annotation mean Stream[Any], also under --strict.
    T_co = _TypeVarDefault("T_co", covariant=True, default=Any)
else:
    T_co = TypeVar("T_co", covariant=True)
    StreamBase = Generic
