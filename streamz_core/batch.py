"""Batches: ``Batch``, a stream of lists or tuples worked on a batch at a time, and
``Stream.to_batch``, as in streamz.batch.

``Batch`` is a :class:`~streamz_core.collection.Streaming` collection; its operations
are :func:`~streamz_core.collection.map_partitions` over whole batches. ``Streaming``
and ``map_partitions`` live in :mod:`streamz_core.collection` and are importable from
here too, as from ``streamz.batch``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._assembly import complete_stream_api
from .collection import Streaming, _register_streaming_type, map_partitions
from .core import Stream

# Streaming and map_partitions are listed so that they stay public here, as in streamz.batch.
__all__ = ["Batch", "Streaming", "map_partitions", "to_batch"]


def _filter(seq: Any, predicate: Callable[[Any], Any]) -> list[Any]:
    return [x for x in seq if predicate(x)]


def _pluck(seq: Any, ind: Any) -> list[Any]:
    if isinstance(ind, list):
        return [tuple(x[i] for i in ind) for x in seq]
    return [x[ind] for x in seq]


def _map(seq: Any, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    return [func(x, *args, **kwargs) for x in seq]


def _accumulate_sum(total: Any, batch: Any) -> Any:
    return total + sum(batch)


class Batch(Streaming):
    """A stream of batches (lists or tuples) of elements, worked on a batch at a time.

    Handling many small elements a batch at a time keeps the per-element cost of the
    pipeline low. Operations return new batches of lists (``map``, ``filter``,
    ``pluck``) or other collections (``sum``); :meth:`to_stream` gives back a
    :class:`Stream` of single elements. ``emit`` accepts lists and tuples.

    Parameters
    ----------
    stream
        The stream the batches flow through; a new ``Stream()`` by default.
    example
        An example batch, ``[]`` by default. Operations call their function on its
        elements to learn the result types.

    Examples
    --------
    >>> batch = Batch()
    >>> L = batch.pluck('x').map(abs).to_stream().sink_to_list()
    >>> batch.emit([{'x': -1}, {'x': 2}])
    >>> L
    [1, 2]

    See Also
    --------
    Streaming, Stream.to_batch
    """

    _subtype: tuple[type, ...] = (list, tuple)

    def __init__(self, stream: Stream | None = None, example: Any = None):
        super().__init__(stream=stream, example=[] if example is None else example)

    def sum(self) -> Streaming:
        """Emit the running sum of all elements of all batches so far.

        Examples
        --------
        >>> batch = Batch()
        >>> L = batch.sum().stream.sink_to_list()
        >>> batch.emit([1, 2]); batch.emit([3, 4])
        >>> L
        [3, 10]
        """
        return self.accumulate_partitions(_accumulate_sum, start=0)

    def filter(self, predicate: Callable[[Any], Any]) -> Streaming:
        """Keep the elements of each batch for which ``predicate`` is true.

        Examples
        --------
        >>> batch = Batch()
        >>> L = batch.filter(lambda x: x % 2 == 0).stream.sink_to_list()
        >>> batch.emit([1, 2, 3, 4])
        >>> L
        [[2, 4]]
        """
        if not callable(predicate):
            raise TypeError(
                f"Batch.filter(predicate={predicate!r}): expected a function returning true "
                "for the elements to keep"
            )
        return self.map_partitions(_filter, self, predicate)

    def pluck(self, ind: Any) -> Streaming:
        """Pick ``x[ind]`` from every element (a list ``ind`` picks a tuple).

        Examples
        --------
        >>> batch = Batch()
        >>> L = batch.pluck('name').stream.sink_to_list()
        >>> batch.emit([{'name': 'Alice', 'x': 123}, {'name': 'Bob', 'x': 5}])
        >>> L
        [['Alice', 'Bob']]
        """
        return self.map_partitions(_pluck, self, ind)

    def map(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Streaming:
        """Apply ``func(x, *args, **kwargs)`` to every element of every batch.

        Examples
        --------
        >>> batch = Batch()
        >>> L = batch.map(pow, 2).stream.sink_to_list()
        >>> batch.emit([1, 2, 3])
        >>> L
        [[1, 4, 9]]
        """
        if not callable(func):
            raise TypeError(
                f"Batch.map(func={func!r}): expected a function, got {type(func).__name__}"
            )
        return self.map_partitions(_map, self, func, args, kwargs)

    def to_stream(self) -> Stream:
        """Return a :class:`Stream` of the single elements of the batches, in order.

        Examples
        --------
        >>> batch = Batch()
        >>> L = batch.to_stream().sink_to_list()
        >>> batch.emit([1, 2]); batch.emit([3])
        >>> L
        [1, 2, 3]
        """
        return self.stream.flatten()


@Stream.register_api()
def to_batch(self: Stream, **kwargs: Any) -> Batch:
    """Treat a stream of lists or tuples as a :class:`Batch`.

    Parameters
    ----------
    **kwargs
        Arguments of :class:`Batch`: ``example=``.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.to_batch().map(str.upper).to_stream().sink_to_list()
    >>> source.emit(['a', 'b'])
    >>> L
    ['A', 'B']
    """
    return Batch(stream=self, **kwargs)


_register_streaming_type(Batch._subtype, Batch)

# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
