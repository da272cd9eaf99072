"""Streaming collections: ``Streaming``, a stream of whole values checked against an
example, and :func:`map_partitions`, as in streamz.collection.

A collection wraps a :class:`Stream` (``.stream``) and an example element
(``.example``). Every operation maps a function over whole elements
(:func:`map_partitions`) or accumulates over them (``accumulate_partitions``); the
function is first called on the example to learn the type of the result, which picks
the class of the new collection (a list or tuple gives a
:class:`~streamz_core.batch.Batch`, registered by :mod:`streamz_core.batch`).
Streaming dataframes (``streamz.dataframe``) are not available.
"""
from __future__ import annotations

import numbers
import operator
from collections.abc import Callable
from typing import Any

from ._assembly import complete_stream_api
from .core import Stream, no_default

__all__ = ["Streaming", "map_partitions"]

_STREAM_TYPES = ("streaming", "updating")


def _load_stream_api() -> None:
    """Register the stream methods on :class:`Stream` and ``Batch`` as the collection of
    list results, as ``import streamz`` does before ``streamz.collection`` runs.

    ``streamz_core`` loads its stream half lazily, and ``_stream_api`` imports
    ``batch``, which imports this module: hence an import at call time, not at the top.
    """
    from . import _stream_api  # noqa: F401


def _type_names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)


def _short(x: Any, limit: int = 80) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _LastValue(Stream):
    """Remembers the last element its upstream emitted (``Streaming.current_value``)."""

    _graphviz_hidden = True
    value: Any = None

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        self.value = x
        return None


class _Apply:
    """``func`` with the element(s) of the collections put in their argument slots."""

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 streams: list[Stream]):
        self.func = func
        self.args = list(args)
        self.kwargs = kwargs
        self.slots = [
            (i, next(k for k, s in enumerate(streams) if s is a.stream))
            for i, a in enumerate(args) if isinstance(a, Streaming)
        ]
        self.__name__ = getattr(func, "__name__", type(func).__name__)

    def __call__(self, values: tuple[Any, ...]) -> Any:
        args = self.args.copy()
        for i, k in self.slots:
            args[i] = values[k]
        return self.func(*args, **self.kwargs)


def map_partitions(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Streaming:
    """Apply ``func`` to whole elements of the collections among ``args``.

    The collections (:class:`Streaming` arguments) are replaced by their elements; two or
    more collections are zipped, so ``func`` sees their n-th elements together. The
    other arguments and ``kwargs`` are passed as they are. ``func`` is first called on
    the examples to get the example of the result, whose type picks the class of the
    returned collection (a list or tuple gives a :class:`~streamz_core.batch.Batch`); pass ``example=`` to
    skip that call. ``stream_type=`` ('streaming' or 'updating') is kept as metadata, as
    in streamz. ``Streaming.map_partitions`` is this same function, as in streamz: on a
    collection, ``a.map_partitions(func, a, b)`` maps over ``a`` and ``b``, and the
    collection is not passed implicitly (``a.map_partitions(len)`` is a ``TypeError``).

    Parameters
    ----------
    func
        The function to apply.
    *args
        Its arguments; collections among them are replaced by their elements.
    **kwargs
        Keyword arguments of ``func``, and ``example=``, ``stream_type=``.

    Examples
    --------
    >>> a, b = Streaming(example=0), Streaming(example=0)
    >>> L = map_partitions(max, a, b, 10).stream.sink_to_list()
    >>> a.emit(1); a.emit(20); b.emit(2); b.emit(3)
    >>> L
    [10, 20]
    >>> from streamz_core import Batch
    >>> batch = Batch()
    >>> sizes = batch.map_partitions(len, batch)
    >>> type(sizes).__name__, sizes.example
    ('Streaming', 0)
    >>> pairs = map_partitions(lambda b: [(x, x) for x in b], batch)
    >>> type(pairs).__name__
    'Batch'
    """
    example = kwargs.pop("example", None)
    stream_type = kwargs.pop("stream_type", None)
    if not callable(func):
        raise TypeError(
            f"map_partitions(func={func!r}): expected a function, got {type(func).__name__}; "
            "pass the function first, e.g. map_partitions(len, batch)"
        )
    collections = [a for a in args if isinstance(a, Streaming)]
    if not collections:
        raise TypeError(
            f"map_partitions({getattr(func, '__name__', func)!r}, ...): no Streaming collection "
            "among the arguments; pass the collection to map over, e.g. "
            "map_partitions(len, batch) (the method form is the same function, as in "
            "streamz: batch.map_partitions(len, batch))"
        )
    if stream_type is None:
        streaming = any(c._stream_type == "streaming" for c in collections)
        stream_type = "streaming" if streaming else "updating"
    if example is None:
        try:
            example = func(*[a.example if isinstance(a, Streaming) else a for a in args], **kwargs)
        except Exception as exc:
            exc.add_note(
                f"raised by map_partitions({getattr(func, '__name__', func)!r}) on the example "
                "elements, to learn the result type; fix the function or pass example="
            )
            raise
    streams: list[Stream] = []
    for c in collections:
        if not any(c.stream is s for s in streams):
            streams.append(c.stream)
    call = _Apply(func, args, kwargs, streams)
    if len(streams) == 1:
        node = streams[0].map(lambda x: call((x,)))
        node.func = call  # type: ignore[attr-defined]  # shown in repr and graph drawings
    else:
        node = streams[0].zip(*streams[1:]).map(call)
    return _collection(node, example, stream_type,
                       f"map_partitions({getattr(func, '__name__', func)!r})")


# The collection classes that a 'streaming' result becomes, by the type of its example,
# most recently registered first. Subclasses register themselves (Batch does, in batch.py)
# so that this module does not import them.
_STREAMING_TYPES: list[tuple[type | tuple[type, ...], type[Streaming]]] = []


def _register_streaming_type(
    example_type: type | tuple[type, ...], cls: type[Streaming]
) -> None:
    """Make 'streaming' results whose example is an ``example_type`` a ``cls``."""
    _STREAMING_TYPES.insert(0, (example_type, cls))


def _collection(stream: Stream, example: Any, stream_type: str, what: str = "") -> Streaming:
    if example is None:
        raise ValueError(
            f"{what}: the function returned None on the example element, so the type of "
            "the results is unknown; pass example= (an element like the results)"
        )
    if stream_type == "streaming":
        for example_type, cls in _STREAMING_TYPES:
            if isinstance(example, example_type):
                return cls(stream, example)
    return Streaming(stream, example, stream_type=stream_type)


def _binary(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[[Streaming, Any], Streaming]:
    def method(self: Streaming, other: Any) -> Streaming:
        if reflected:
            return map_partitions(op, other, self)
        return map_partitions(op, self, other)

    method.__doc__ = f"Apply ``operator.{op.__name__}`` element-wise; return a new collection."
    return method


def _unary(op: Callable[[Any], Any]) -> Callable[[Streaming], Streaming]:
    def method(self: Streaming) -> Streaming:
        return map_partitions(op, self)

    method.__doc__ = f"Apply ``operator.{op.__name__}`` element-wise; return a new collection."
    return method


class Streaming:
    """A stream of whole values, each like ``example``; the base of :class:`~streamz_core.batch.Batch`.

    ``emit`` checks each element against the example's type (for a number example, any
    number passes). Arithmetic and comparison operators (``+ - * / // % ** < > <= >=
    == !=``, unary ``-``, ``abs``, ``& | ^ ~ << >>``) build new collections with
    :func:`map_partitions`, zipping when both sides are collections. ``current_value``
    is the last element the stream emitted. Because ``==`` builds a collection, the
    truth value of a collection is an error; compare collections with ``is``.

    Parameters
    ----------
    stream
        The stream the elements flow through; a new ``Stream()`` by default.
    example
        An element like those of the stream; required.
    stream_type
        ``'streaming'`` (each element is new data) or ``'updating'`` (each element
        replaces the previous one), as in streamz.

    Examples
    --------
    >>> prices = Streaming(example=0.0)
    >>> with_tax = prices * 1.2 + 1
    >>> L = with_tax.stream.sink_to_list()
    >>> prices.emit(10.0); prices.emit(5)
    >>> L, with_tax.current_value
    ([13.0, 7.0], 7.0)
    >>> prices.emit('10')
    Traceback (most recent call last):
    ...
    TypeError: Streaming.emit('10'): expected a number like the example 0.0, got str; convert the element first or build the collection with an example of its type

    See Also
    --------
    Batch, map_partitions
    """

    _subtype: type | tuple[type, ...] | None = None
    _stream_type = "streaming"

    # As in streamz, the method is the module function itself: a.map_partitions(f, a, b)
    # is map_partitions(f, a, b), and the collections to map over are always passed.
    map_partitions = staticmethod(map_partitions)

    def __init__(self, stream: Stream | None = None, example: Any = None,
                 stream_type: str | None = None):
        _load_stream_api()
        name = type(self).__name__
        if example is None:
            raise ValueError(
                f"{name}(example=None): an example element is needed to check and derive "
                f"types; pass one, e.g. {name}(example=0)"
            )
        if stream is not None and not isinstance(stream, Stream):
            raise TypeError(
                f"{name}(stream={stream!r}): expected a Stream node, got {type(stream).__name__}; "
                "pass a Stream or leave it out to create one"
            )
        if stream_type is not None:
            if stream_type not in _STREAM_TYPES:
                raise ValueError(
                    f"{name}(stream_type={stream_type!r}): expected 'streaming' or 'updating'"
                )
            self._stream_type = stream_type
        self.example = example
        expected = self._expected_type()
        if not isinstance(example, expected):
            raise TypeError(
                f"{name}(example={_short(example)}): expected a {_type_names(expected)}, got "
                f"{type(example).__name__}; pass an example of that type"
            )
        self.stream: Stream = Stream() if stream is None else stream
        self._last = _LastValue(self.stream, stream_name="current_value")

    def _expected_type(self) -> type | tuple[type, ...]:
        if self._subtype is not None:
            return self._subtype
        example = self.example
        if isinstance(example, bool):  # a flag, not a number: only bools pass
            return bool
        if isinstance(example, numbers.Number):
            return numbers.Number
        return type(example)

    def verify(self, x: Any) -> None:
        """Raise TypeError unless ``x`` is of the example's type.

        Examples
        --------
        >>> Streaming(example=[]).verify([1, 2])
        """
        expected = self._expected_type()
        if not isinstance(x, expected):
            kind = "number" if expected is numbers.Number else _type_names(expected)
            raise TypeError(
                f"{type(self).__name__}.emit({_short(x)}): expected a {kind} like the example "
                f"{_short(self.example)}, got {type(x).__name__}; convert the element first "
                "or build the collection with an example of its type"
            )

    def emit(self, x: Any, asynchronous: bool = False, metadata: list[dict[str, Any]] | None = None) -> Any:
        """Check ``x`` against the example's type, then emit it into the stream.

        Returns what :meth:`Stream.emit` returns (an awaitable in the in-loop mode).

        Examples
        --------
        >>> s = Streaming(example=0)
        >>> L = s.stream.sink_to_list()
        >>> s.emit(1); s.emit(2.5)
        >>> L
        [1, 2.5]
        """
        self.verify(x)
        return self.stream.emit(x, asynchronous=asynchronous, metadata=metadata)

    def accumulate_partitions(self, func: Callable[..., Any], *args: Any, start: Any = no_default,
                              returns_state: bool = False, **kwargs: Any) -> Streaming:
        """Keep a state across whole elements: ``state = func(state, x, *args, **kwargs)``.

        Semantics of :class:`~streamz_core.accumulate`: without ``start`` the first
        element becomes the state and is emitted as it is; with ``returns_state=True``
        ``func`` returns ``(state, output)``. ``func`` is first called on the example to
        get the example of the result (``example=`` skips that).

        Parameters
        ----------
        func
            ``func(state, element, *args, **kwargs)``.
        start
            The initial state.
        returns_state
            ``func`` returns ``(new_state, output)``.
        *args, **kwargs
            Extra arguments of ``func``; ``example=``, ``stream_type=`` go to the result.

        Examples
        --------
        >>> b = Streaming(example=[])
        >>> counts = b.accumulate_partitions(lambda n, batch: n + len(batch), start=0)
        >>> L = counts.stream.sink_to_list()
        >>> b.emit([1, 2, 3]); b.emit([4])
        >>> L
        [3, 4]
        """
        example = kwargs.pop("example", None)
        stream_type = kwargs.pop("stream_type", self._stream_type)
        if not callable(func):
            raise TypeError(
                f"accumulate_partitions(func={func!r}): expected a function of (state, element)"
            )
        if example is None:
            first = self.example if start is no_default else start
            try:
                example = func(first, self.example, *args, **kwargs)
            except Exception as exc:
                exc.add_note(
                    f"raised by accumulate_partitions({getattr(func, '__name__', func)!r}) on the "
                    "example, to learn the result type; fix the function or pass example="
                )
                raise
            if returns_state:
                if not (isinstance(example, tuple) and len(example) == 2):
                    raise TypeError(
                        f"accumulate_partitions(returns_state=True): func returned "
                        f"{_short(example)} on the example; it must return (state, output)"
                    )
                example = example[1]
        if args:
            inner = func

            def func(state: Any, x: Any, **kw: Any) -> Any:
                return inner(state, x, *args, **kw)

            func.__name__ = getattr(inner, "__name__", "func")
        node = self.stream.accumulate(
            func, start=start, returns_state=returns_state, **kwargs
        )
        return _collection(node, example, stream_type,
                           f"accumulate_partitions({getattr(func, '__name__', func)!r})")

    @property
    def current_value(self) -> Any:
        """The last element the stream emitted, or None before the first.

        Examples
        --------
        >>> s = Streaming(example='')
        >>> s.emit('a'); s.emit('b')
        >>> s.current_value
        'b'
        """
        return self._last.value

    def start(self) -> None:
        """Start the sources upstream of the stream."""
        self.stream.start()

    def stop(self) -> None:
        """Stop the sources upstream of the stream."""
        self.stream.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__} - elements like:\n{self.example!r}"

    def __bool__(self) -> bool:
        raise TypeError(
            f"the truth value of a {type(self).__name__} is ambiguous: comparisons such as "
            "`a == b` build a new collection of element-wise results; use `a is b` to "
            "compare collections"
        )

    __hash__ = object.__hash__

    __add__ = _binary(operator.add)
    __radd__ = _binary(operator.add, reflected=True)
    __sub__ = _binary(operator.sub)
    __rsub__ = _binary(operator.sub, reflected=True)
    __mul__ = _binary(operator.mul)
    __rmul__ = _binary(operator.mul, reflected=True)
    __truediv__ = _binary(operator.truediv)
    __rtruediv__ = _binary(operator.truediv, reflected=True)
    __floordiv__ = _binary(operator.floordiv)
    __rfloordiv__ = _binary(operator.floordiv, reflected=True)
    __mod__ = _binary(operator.mod)
    __rmod__ = _binary(operator.mod, reflected=True)
    __pow__ = _binary(operator.pow)
    __rpow__ = _binary(operator.pow, reflected=True)
    __and__ = _binary(operator.and_)
    __rand__ = _binary(operator.and_, reflected=True)
    __or__ = _binary(operator.or_)
    __ror__ = _binary(operator.or_, reflected=True)
    __xor__ = _binary(operator.xor)
    __rxor__ = _binary(operator.xor, reflected=True)
    __lshift__ = _binary(operator.lshift)
    __rlshift__ = _binary(operator.lshift, reflected=True)
    __rshift__ = _binary(operator.rshift)
    __rrshift__ = _binary(operator.rshift, reflected=True)
    __lt__ = _binary(operator.lt)
    __gt__ = _binary(operator.gt)
    __le__ = _binary(operator.le)
    __ge__ = _binary(operator.ge)
    __eq__ = _binary(operator.eq)  # type: ignore[assignment]
    __ne__ = _binary(operator.ne)  # type: ignore[assignment]
    __neg__ = _unary(operator.neg)
    __abs__ = _unary(operator.abs)
    __invert__ = _unary(operator.invert)

# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
