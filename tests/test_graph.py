"""Tests for streamz_core.graph: walking the pipeline into networkx and drawing it."""
from __future__ import annotations

import os
import shutil
import sys
import types
from operator import add, mul

import pytest

from streamz_core import Stream
from streamz_core.graph import (
    _clean_text,
    build_node_set,
    create_graph,
    readable_graph,
    to_graphviz,
    visualize,
)

nx = pytest.importorskip("networkx")

needs_graphviz = pytest.mark.skipif(
    __import__("importlib").util.find_spec("graphviz") is None,
    reason="the graphviz Python package is not installed",
)
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot program is not installed"
)


@pytest.fixture
def pipeline():
    source1 = Stream(stream_name="source1")
    source2 = Stream(stream_name="source2")
    n1 = source1.zip(source2)
    n2 = n1.map(add)
    s = n2.sink(source1.emit)
    yield source1, source2, n1, n2, s
    s.destroy()


def test_build_node_set_walks_upstream_and_downstream(pipeline):
    source1, source2, n1, n2, s = pipeline
    assert build_node_set(n2) == {source1, source2, n1, n2, s}
    assert build_node_set(source2) == {source1, source2, n1, n2, s}


def test_build_node_set_rejects_non_stream():
    with pytest.raises(TypeError, match=r"build_node_set\(42\): expected a Stream node"):
        build_node_set(42)


def test_create_graph_adds_every_connected_node_and_edge(pipeline):
    source1, source2, n1, n2, s = pipeline
    g = nx.DiGraph()
    create_graph(n2, g)
    assert set(g.nodes) == {hash(a) for a in pipeline}
    assert set(g.edges) == {
        (hash(a), hash(b)) for a, b in [(source1, n1), (source2, n1), (n1, n2), (n2, s)]
    }


def test_create_graph_follows_cycles():
    source1, source2 = Stream(stream_name="source1"), Stream(stream_name="source2")
    n1 = source1.zip(source2)
    n2 = n1.map(add)
    n2.connect(source1)
    g = nx.DiGraph()
    create_graph(source2, g)
    assert {hash(a) for a in (source1, source2, n1, n2)} == set(g.nodes)
    assert nx.find_cycle(g)
    assert (hash(n2), hash(source1)) in g.edges


def test_create_graph_labels_and_styles_nodes_from_class_attributes(pipeline):
    source1, _, n1, n2, s = pipeline

    class tagged(Stream):
        _graphviz_shape = "box"
        _graphviz_style = "filled"
        _graphviz_fillcolor = "red"
        _graphviz_orientation = 45

    t = tagged(n2)
    g = nx.DiGraph()
    create_graph(source1, g)
    assert g.nodes[hash(source1)] == {
        "label": " source1 Stream ", "shape": "ellipse", "orientation": "0",
        "style": "rounded,filled", "fillcolor": "white",
    }
    assert g.nodes[hash(n1)]["shape"] == "triangle"
    assert g.nodes[hash(n1)]["orientation"] == "270"
    assert g.nodes[hash(n2)]["label"] == " map; add "
    assert g.nodes[hash(s)]["shape"] == "trapezium"
    assert g.nodes[hash(t)] == {
        "label": " tagged ", "shape": "box", "orientation": "45", "style": "filled",
        "fillcolor": "red",
    }


def test_create_graph_numbers_edges_of_a_node_with_several_downstreams():
    source = Stream()
    a, b = source.map(str), source.map(repr)
    c = a.map(len)
    g = nx.DiGraph()
    create_graph(source, g)
    labels = {g.edges[hash(source), hash(d)]["label"] for d in (a, b)}
    assert labels == {"0", "1"}
    assert "label" not in g.edges[hash(a), hash(c)]


def test_create_graph_source_node_numbers_upstream_slots(pipeline):
    source1, source2, n1, n2, _ = pipeline
    g = nx.DiGraph()
    create_graph(n2, g, source_node=True)
    assert g.edges[hash(source1), hash(n1)]["label"] == "0"
    assert g.edges[hash(source2), hash(n1)]["label"] == "1"
    assert "label" not in g.edges[hash(n1), hash(n2)]


def test_create_graph_draws_the_error_route_as_a_dashed_edge():
    source = Stream()
    parsed = source.map(int)
    errors = parsed.on_exception(ValueError)
    g = nx.DiGraph()
    create_graph(source, g)
    assert g.edges[hash(parsed), hash(errors)] == {"label": "errors", "style": "dashed"}


def test_create_graph_skips_collected_branches():
    import gc

    source = Stream()
    source.map(str)  # nobody keeps it
    gc.collect()
    g = nx.DiGraph()
    create_graph(source, g)
    assert list(g.nodes) == [hash(source)]


def test_readable_graph_names_nodes_by_label_with_suffixes_for_duplicates():
    source = Stream(stream_name="source")
    kept = [source.map(abs) for _ in range(3)]  # downstreams are weak: keep them
    rg = readable_graph(source)
    assert sorted(rg.nodes) == [" map; abs ", " map; abs -1", " map; abs -2", " source Stream "]
    assert rg.nodes[" source Stream "]["shape"] == "ellipse"
    assert rg.number_of_edges() == len(kept)


def test_readable_graph_accepts_a_graph_from_create_graph(pipeline):
    g = nx.DiGraph()
    create_graph(pipeline[0], g)
    rg = readable_graph(g)
    assert (" source1 Stream ", " zip ") in rg.edges
    assert (" map; add ", " sink; emit ") in rg.edges


def test_readable_graph_rejects_other_objects():
    with pytest.raises(TypeError, match="expected a Stream node or a networkx graph"):
        readable_graph([1, 2])


@pytest.mark.parametrize(
    "text, expected",
    [("JFDSM*(@&$:FFDS:;;", "JFDSM ;FFDS; "), ("<map: inc>", " map; inc "), ("a_b9", "a_b9")],
    ids=["streamz-case", "node-repr", "untouched"],
)
def test_clean_text_replaces_forbidden_characters(text, expected):
    assert _clean_text(text) == expected


def test_clean_text_takes_a_custom_pattern():
    assert _clean_text("a-b c", match="-") == "a b c"


@needs_graphviz
def test_to_graphviz_sets_graph_attributes_and_copies_attributes_as_strings(pipeline):
    dot = to_graphviz(readable_graph(pipeline[0]), rankdir="LR", nodesep=0.5)
    src = dot.source
    assert "rankdir=LR" in src and "nodesep=0.5" in src
    assert '" source1 Stream " -> " zip "' in src
    assert "shape=triangle" in src and "orientation=270" in src


@needs_graphviz
def test_to_graphviz_passes_digraph_arguments_through(pipeline):
    dot = to_graphviz(readable_graph(pipeline[0]), name="mine", graph_attr={"rankdir": "TB"})
    assert dot.name == "mine"
    assert "rankdir=TB" in dot.source


@needs_graphviz
@needs_dot
@pytest.mark.parametrize(
    "ext, magic",
    [("png", b"\x89PNG"), ("svg", b"<?xml"), ("dot", b"digraph"), ("pdf", b"%PDF"),
     ("jpg", b"\xff\xd8")],
    ids=["png", "svg", "dot", "pdf", "jpg"],
)
def test_visualize_writes_the_format_of_the_extension(tmp_path, pipeline, ext, magic):
    fn = tmp_path / f"pipeline.{ext}"
    visualize(pipeline[2], filename=str(fn), rankdir="LR")
    assert fn.read_bytes().startswith(magic)


@needs_graphviz
@needs_dot
def test_visualize_dot_output_names_nodes_and_shapes(tmp_path):
    source1, source2 = Stream(stream_name="source1"), Stream(stream_name="source2")
    n1 = source1.zip(source2)
    n2 = n1.map(add).scan(mul).map(lambda x: x + 1)
    s = n2.sink(source1.emit)
    fn = tmp_path / "p.dot"
    n1.visualize(filename=str(fn), rankdir="LR")
    text = fn.read_text()
    for word in ["rankdir", "source1", "source2", "zip", "map", "add", "accumulate",
                 "shape=trapezium", "shape=ellipse", "shape=triangle"]:
        assert word in text
    s.destroy()


@needs_graphviz
@needs_dot
def test_visualize_appends_png_to_a_name_without_extension(tmp_path, pipeline):
    visualize(pipeline[0], filename=str(tmp_path / "drawing"))
    assert (tmp_path / "drawing.png").read_bytes().startswith(b"\x89PNG")


@needs_graphviz
@needs_dot
def test_visualize_with_filename_none_writes_nothing(tmp_path, pipeline, monkeypatch):
    monkeypatch.chdir(tmp_path)
    visualize(pipeline[0], filename=None, format="svg")
    assert os.listdir(tmp_path) == []


@needs_graphviz
@needs_dot
def test_visualize_returns_the_graphviz_object_without_ipython(tmp_path, pipeline, monkeypatch):
    import graphviz

    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    result = visualize(pipeline[0], filename=str(tmp_path / "p.svg"))
    assert isinstance(result, graphviz.Digraph)
    assert "source1" in result.source


@needs_graphviz
@needs_dot
def test_visualize_returns_ipython_display_objects_when_ipython_is_there(
    tmp_path, pipeline, monkeypatch
):
    display = types.ModuleType("IPython.display")

    class Image:
        def __init__(self, data=None, format=None):
            self.data, self.format = data, format

    class SVG:
        def __init__(self, data=None):
            self.data = data

    display.Image, display.SVG = Image, SVG
    ipython = types.ModuleType("IPython")
    ipython.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)

    png = visualize(pipeline[0], filename=str(tmp_path / "p.png"))
    assert isinstance(png, Image) and png.format == "png" and png.data.startswith(b"\x89PNG")
    svg = visualize(pipeline[0], filename=str(tmp_path / "p.svg"))
    assert isinstance(svg, SVG) and b"<svg" in svg.data


@needs_graphviz
def test_visualize_without_dot_raises_import_error_saying_what_to_install(
    tmp_path, pipeline, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImportError, match=r"'dot' program.*install Graphviz"):
        visualize(pipeline[0], filename=str(tmp_path / "p.png"))
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("module", ["networkx", "graphviz"])
def test_visualize_without_a_python_package_raises_import_error_saying_what_to_install(
    tmp_path, pipeline, monkeypatch, module
):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"'{module}' Python package.*pip install {module}"):
        visualize(pipeline[0], filename=str(tmp_path / "p.png"))


def test_visualize_rejects_an_unknown_format(pipeline):
    with pytest.raises(ValueError, match=r"visualize\(format='bmp'\): unknown format"):
        visualize(pipeline[0], filename=None, format="bmp")


def test_create_graph_leaves_out_the_current_value_tracker_of_collections():
    from streamz_core import Batch

    batch = Batch()
    total = batch.sum()
    g = nx.DiGraph()
    create_graph(batch.stream, g)
    labels = sorted(attrs["label"] for attrs in g.nodes.values())
    assert labels == [" Stream ", " accumulate; _accumulate_sum "]
    assert total.current_value is None
