"""Selection: filter, remove, unique, slice."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..core import Stream, identity
from ._util import check_callable, check_positive_int, get_key

__all__ = ["filter", "remove", "unique", "slice"]


@Stream.register_api()
class filter(Stream):
    """Pass only the elements for which ``predicate(x, *args, **kwargs)`` is true.

    ``predicate=None`` passes the truthy elements.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.filter(lambda x: x % 2 == 0).sink_to_list()
    >>> for x in range(5): source.emit(x)
    >>> L
    [0, 2, 4]

    See Also
    --------
    remove
    """

    def __init__(self, upstream: Stream, predicate: Any, *args: Any, **kwargs: Any):
        if predicate is None:
            predicate = bool
        check_callable(type(self).__name__, "predicate", predicate)
        stream_name = kwargs.pop("stream_name", None)
        self.predicate = predicate
        self.args = args
        self.kwargs = kwargs
        super().__init__(upstream, stream_name=stream_name)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            keep = self.predicate(x, *self.args, **self.kwargs)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        if keep:
            if metadata is None:
                node = self._only()  # inlined single-downstream _emit (hot path)
                if node is not None:
                    return node.update(x, self)
            return self._emit(x, metadata)
        return None


@Stream.register_api()
class remove(filter):
    """Drop the elements for which ``predicate(x)`` is true.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.remove(lambda x: x % 2 == 0).sink_to_list()
    >>> for x in range(5): source.emit(x)
    >>> L
    [1, 3]
    """

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            drop = self.predicate(x, *self.args, **self.kwargs)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        if not drop:
            return self._emit(x, metadata)
        return None


_MISSING = object()


@Stream.register_api()
class unique(Stream):
    """Pass each element only the first time its ``key`` is seen.

    With ``maxsize``, only the ``maxsize`` most recently seen keys are remembered
    (least recently seen forgotten first). ``hashable=False`` keeps keys in a list, for
    keys such as dicts.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.unique().sink_to_list()
    >>> for x in [1, 2, 1, 3, 2]: source.emit(x)
    >>> L
    [1, 2, 3]
    """

    def __init__(self, upstream: Stream, maxsize: int | None = None, key: Any = identity,
                 hashable: bool = True, **kwargs: Any):
        if maxsize is not None:
            maxsize = check_positive_int("unique", "maxsize", maxsize)
        self.maxsize = maxsize
        self.key = get_key(key)
        self.hashable = hashable
        self.seen: Any = OrderedDict() if hashable else []
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        try:
            y = self.key(x)
        except Exception as exc:
            return self._fail(exc, x, metadata)
        seen = self.seen
        if self.hashable:
            if y in seen:
                seen.move_to_end(y)
                return None
            seen[y] = True
            if self.maxsize is not None and len(seen) > self.maxsize:
                seen.popitem(last=False)
            return self._emit(x, metadata)
        if y in seen:
            seen.remove(y)
            seen.insert(0, y)
            return None
        seen.insert(0, y)
        if self.maxsize is not None:
            del seen[self.maxsize:]
        return self._emit(x, metadata)


@Stream.register_api()
class slice(Stream):
    """Pass elements by position, like ``itertools.islice(stream, start, end, step)``.

    After ``end`` the node detaches from its upstreams.

    Examples
    --------
    >>> source = Stream()
    >>> L = source.slice(1, 6, 2).sink_to_list()
    >>> for x in range(10): source.emit(x)
    >>> L
    [1, 3, 5]
    """

    _accepts_remote = True  # carries refs after scatter() as they are

    def __init__(self, upstream: Stream, start: int | None = None, end: int | None = None,
                 step: int | None = None, **kwargs: Any):
        if start is not None:
            start = check_positive_int("slice", "start", start, minimum=0)
        if end is not None:
            end = check_positive_int("slice", "end", end, minimum=0)
        if step is not None:
            step = check_positive_int("slice", "step", step)
        self.star = start or 0
        self.end = end
        self.step = step or 1
        self.state = 0
        super().__init__(upstream, **kwargs)

    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        i = self.state
        self.state = i + 1
        result = None
        if i >= self.star and (i - self.star) % self.step == 0 and (self.end is None or i < self.end):
            result = self._emit(x, metadata)
        if self.end is not None and self.state >= self.end:
            for up in list(self.upstreams):
                up._remove_downstream(self)
        return result
