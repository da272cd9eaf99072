"""Draw a pipeline: collect every connected node into networkx, render it with graphviz.

networkx, the ``graphviz`` Python package and Graphviz's ``dot`` program are optional
dependencies: they are imported inside the functions that need them, and a missing one
raises an ImportError saying what to install.
"""
from __future__ import annotations

import os
import re
from typing import Any

from ._assembly import complete_stream_api
from ._optional import require
from .core import Stream

__all__ = ["build_node_set", "create_graph", "readable_graph", "to_graphviz", "visualize"]

_FORMATS = ("png", "pdf", "dot", "svg", "jpeg", "jpg")
_DIGRAPH_KWARGS = frozenset({
    "name", "comment", "filename", "format", "engine", "encoding", "graph_attr",
    "node_attr", "edge_attr", "body", "strict", "directory",
})


def _clean_text(text: str, match: str | None = None) -> str:
    """Make ``text`` safe as a graphviz node name.

    Each run of characters other than letters, digits, ``_`` and ``:`` becomes one
    space (``match`` replaces that pattern), then ``:`` becomes ``;`` (graphviz reads
    ``a:b`` as a port), as streamz does.

    Examples
    --------
    >>> _clean_text('<map: inc>')
    ' map; inc '
    >>> _clean_text('JFDSM*(@&$:FFDS:;;')
    'JFDSM ;FFDS; '
    """
    text = re.sub(match if match is not None else r"[^a-zA-Z0-9_:]+", " ", text)
    return text.replace(":", ";")


def _neighbours(node: Stream) -> list[Stream]:
    """The nodes wired to ``node``: upstreams, downstreams and its error route.

    Bookkeeping nodes whose class sets ``_graphviz_hidden = True`` (the tracker behind
    ``Streaming.current_value``) are left out.
    """
    out = [u for u in node.upstreams if isinstance(u, Stream)]
    out.extend(node.downstreams)
    route = getattr(node, "_dead_letters", None)
    if isinstance(route, Stream):
        out.append(route)
    return [n for n in out if not getattr(n, "_graphviz_hidden", False)]


def build_node_set(node: Stream, s: set[Stream] | None = None) -> set[Stream]:
    """Return the set of every node connected to ``node``, upstream and downstream.

    Parameters
    ----------
    node
        Any node of the pipeline.
    s
        A set to add the nodes to (and return); a new one by default.

    Examples
    --------
    >>> source = Stream()
    >>> a = source.map(str)
    >>> b = source.filter(bool)
    >>> build_node_set(a) == {source, a, b}
    True
    """
    if not isinstance(node, Stream):
        raise TypeError(
            f"build_node_set({node!r}): expected a Stream node; pass any node of the pipeline"
        )
    found = set() if s is None else s
    found.add(node)
    todo = [node]
    while todo:
        for other in _neighbours(todo.pop()):
            if other not in found:
                found.add(other)
                todo.append(other)
    return found


def create_graph(node: Stream, graph: Any, source_node: bool = False) -> None:
    """Fill a networkx directed graph with every node connected to ``node``.

    Graph nodes are keyed by ``hash(stream_node)`` and carry the graphviz attributes
    ``label`` (the cleaned ``str`` of the node), ``shape``, ``style``, ``fillcolor`` and
    ``orientation`` from the node class's ``_graphviz_*`` attributes. Edges run from
    upstream to downstream; when a node has several downstreams each edge is labelled
    with its position among them (as in streamz). With ``source_node=True`` an edge into
    a node with several upstreams is labelled instead with the upstream's position, the
    slot it fills in the tuples of ``zip`` or ``combine_latest``. An error route
    (:meth:`Stream.on_exception`) is drawn as a dashed edge labelled ``errors``.

    Parameters
    ----------
    node
        Any node of the pipeline; the graph is walked both ways from it.
    graph
        A ``networkx.DiGraph`` to fill.
    source_node
        Number the edges by upstream position.

    Examples
    --------
    >>> import networkx as nx
    >>> source = Stream(stream_name='source')
    >>> L = source.map(abs).sink_to_list()
    >>> g = nx.DiGraph()
    >>> create_graph(source, g)
    >>> sorted(attrs['label'] for attrs in g.nodes.values())
    [' map; abs ', ' sink_to_list; append ', ' source Stream ']
    >>> g.number_of_edges()
    2
    """
    nodes = build_node_set(node)
    for n in nodes:
        graph.add_node(
            hash(n),
            label=_clean_text(str(n)),
            shape=n._graphviz_shape,
            orientation=str(n._graphviz_orientation),
            style=n._graphviz_style,
            fillcolor=n._graphviz_fillcolor,
        )
    for n in nodes:
        t = hash(n)
        downstreams = [d for d in n.downstreams if d in nodes]
        for i, d in enumerate(downstreams):
            attrs = {"label": str(i)} if len(downstreams) > 1 and not source_node else {}
            graph.add_edge(t, hash(d), **attrs)
        ups = [u for u in n.upstreams if isinstance(u, Stream) and u in nodes]
        for i, u in enumerate(ups):
            if getattr(u, "_dead_letters", None) is n:
                graph.add_edge(hash(u), t, label="errors", style="dashed")
            elif source_node and len(ups) > 1:
                graph.add_edge(hash(u), t, label=str(i))
            elif not graph.has_edge(hash(u), t):
                graph.add_edge(hash(u), t)


def readable_graph(node: Any, source_node: bool = False) -> Any:
    """Return a networkx graph of the pipeline whose nodes are named by their labels.

    Two nodes with the same label get ``-1``, ``-2``... suffixes so that every name is
    unique. ``node`` is a pipeline node (the graph is built with :func:`create_graph`) or,
    as in streamz 0.6, a graph that :func:`create_graph` filled.

    Parameters
    ----------
    node
        A Stream node, or a ``networkx.DiGraph`` from :func:`create_graph`.
    source_node
        Number the edges by upstream position (see :func:`create_graph`).

    Examples
    --------
    >>> source = Stream(stream_name='source')
    >>> a, b = source.map(abs), source.map(abs)
    >>> sorted(readable_graph(source).nodes)
    [' map; abs ', ' map; abs -1', ' source Stream ']
    """
    nx = require("networkx", "readable_graph", "pip install networkx")
    if isinstance(node, Stream):
        graph = nx.DiGraph()
        create_graph(node, graph, source_node=source_node)
    elif isinstance(node, nx.Graph):
        graph = node
    else:
        raise TypeError(
            f"readable_graph({node!r}): expected a Stream node or a networkx graph "
            "filled by create_graph"
        )
    mapping: dict[Any, str] = {}
    seen: dict[str, int] = {}
    for key in graph:
        label = str(graph.nodes[key].get("label", key))
        if label in seen:
            seen[label] += 1
            mapping[key] = f"{label}-{seen[label]}"
        else:
            seen[label] = 0
            mapping[key] = label
    return nx.relabel_nodes(graph, mapping, copy=True)


def to_graphviz(graph: Any, **graph_attr: Any) -> Any:
    """Convert a networkx graph to a ``graphviz.Digraph``.

    Keyword arguments are graph attributes (``rankdir='LR'``), or, if any of them is an
    argument of ``graphviz.Digraph`` (``graph_attr``, ``node_attr``, ``engine``...),
    arguments of the Digraph itself. Node and edge attributes are copied as strings.

    Parameters
    ----------
    graph
        A networkx graph, usually from :func:`readable_graph`.
    **graph_attr
        Graph attributes, or ``graphviz.Digraph`` arguments.

    Examples
    --------
    >>> source = Stream(stream_name='source')
    >>> L = source.map(abs).sink_to_list()
    >>> dot = to_graphviz(readable_graph(source), rankdir='LR')
    >>> 'rankdir=LR' in dot.source, 'shape=trapezium' in dot.source
    (True, True)
    """
    graphviz = require("graphviz", "to_graphviz", "pip install graphviz")
    if _DIGRAPH_KWARGS.intersection(graph_attr):
        kwargs = graph_attr
    else:
        kwargs = {"graph_attr": {k: str(v) for k, v in graph_attr.items()}}
    gvz = graphviz.Digraph(**kwargs)
    for name, attrs in graph.nodes.items():
        gvz.node(str(name), **{k: str(v) for k, v in attrs.items()})
    for (a, b), attrs in graph.edges.items():
        gvz.edge(str(a), str(b), **{k: str(v) for k, v in attrs.items()})
    return gvz


def visualize(node: Stream, filename: str | None = "mystream.png", source_node: bool = False,
              **kwargs: Any) -> Any:
    """Render the pipeline around ``node`` with Graphviz's ``dot``.

    The format comes from the extension of ``filename`` (png, pdf, dot, svg, jpeg, jpg),
    else from ``format=``, else png (then ``.png`` is appended to ``filename``). The file
    is written unless ``filename`` is None. Needs networkx, the ``graphviz`` Python
    package and the ``dot`` program; a missing one raises an ImportError saying what to
    install.

    Parameters
    ----------
    node
        Any node of the pipeline.
    filename
        Where to write the drawing; None writes nothing.
    source_node
        Number the edges by upstream position (see :func:`create_graph`).
    **kwargs
        Graph attributes or ``graphviz.Digraph`` arguments (see :func:`to_graphviz`).

    Returns
    -------
    An ``IPython.display.Image`` (png, jpeg) or ``SVG`` when IPython is importable, else
    the ``graphviz.Digraph``.

    Examples
    --------
    >>> import os, tempfile
    >>> source = Stream(stream_name='source')
    >>> L = source.map(abs).sink_to_list()
    >>> path = os.path.join(tempfile.mkdtemp(), 'pipeline.svg')
    >>> _ = visualize(source, filename=path, rankdir='LR')  # doctest: +SKIP
    >>> os.path.exists(path)  # doctest: +SKIP
    True
    """
    fmt = kwargs.pop("format", None) or "png"
    if filename is not None:
        ext = os.path.splitext(filename)[1]
        if ext[1:].lower() in _FORMATS:
            fmt = ext[1:].lower()
        else:
            filename = f"{filename}.{fmt}"
    if fmt not in _FORMATS:
        raise ValueError(
            f"visualize(format={fmt!r}): unknown format; use one of {', '.join(_FORMATS)} "
            "or give filename= that ends with one of them"
        )
    graphviz = require("graphviz", "visualize", "pip install graphviz")
    gvz = to_graphviz(readable_graph(node, source_node=source_node), **kwargs)
    try:
        data = gvz.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise ImportError(
            "visualize needs the Graphviz 'dot' program, which is not on PATH; install "
            "Graphviz (apt-get install graphviz, brew install graphviz or conda install "
            "graphviz)"
        ) from exc
    if not data:
        raise RuntimeError(
            f"visualize: Graphviz produced no {fmt} output; its installation probably "
            f"lacks {fmt} support; try filename='mystream.svg'"
        )
    if filename is not None:
        with open(filename, "wb") as f:
            f.write(data)
    try:
        from IPython import display
    except ImportError:
        return gvz
    if fmt == "svg":
        return display.SVG(data=data)
    if fmt in ("png", "jpeg", "jpg"):
        return display.Image(data=data, format="jpeg" if fmt == "jpg" else fmt)
    return gvz

# Last: a Stream imported from this module alone has every operator and sink (_assembly.py).
complete_stream_api(__name__)
