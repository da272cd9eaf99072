"""The public API: streamz 0.6 names, the operator registry, __all__ and the docs agree."""
from __future__ import annotations

import importlib
import inspect
import pathlib

import pytest

import streamz_core
from streamz_core import Stream

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"

# Every node, source and sink of streamz 0.6 outside Dask, dataframes and the
# third-party connectors (kafka, mqtt, websockets).
STREAMZ_METHODS = [
    "map", "starmap", "filter", "remove", "accumulate", "scan", "slice", "partition",
    "partition_unique", "sliding_window", "timed_window", "timed_window_unique", "delay",
    "rate_limit", "buffer", "zip", "combine_latest", "zip_latest", "union", "flatten",
    "concat", "unique", "pluck", "collect", "latest", "frequencies", "sink", "sink_to_list",
    "sink_to_textfile", "to_batch", "emit", "update", "connect", "disconnect", "destroy",
    "start", "stop", "visualize", "register_api", "register_plugin_entry_point",
]
STREAMZ_SOURCES = [
    "from_iterable", "from_periodic", "from_textfile", "filenames", "from_tcp",
    "from_http_server", "from_process", "from_q",
]
OPERATOR_MODULES = ["transform", "select", "aggregate", "combine", "time", "flow", "parallel"]


@pytest.mark.parametrize("name", STREAMZ_METHODS)
def test_streamz_method_exists(name):
    assert callable(getattr(Stream, name, None)), (
        f"Stream.{name} is missing: streamz 0.6 has it, so ported pipelines would break"
    )


@pytest.mark.parametrize("name", STREAMZ_SOURCES)
def test_streamz_source_is_a_static_method(name):
    assert isinstance(inspect.getattr_static(Stream, name, None), staticmethod), (
        f"Stream.{name} should be registered with register_api(staticmethod)"
    )


def registered_operators():
    for module_name in OPERATOR_MODULES:
        module = importlib.import_module(f"streamz_core.operators.{module_name}")
        for name in module.__all__:
            yield module_name, name


@pytest.mark.parametrize("module_name, name", list(registered_operators()))
def test_operator_in_module_all_is_registered_and_exported(module_name, name):
    assert hasattr(Stream, name), (
        f"{name} is in operators/{module_name}.py __all__ but not registered: decorate it "
        "with @Stream.register_api()"
    )
    assert name in streamz_core.__all__, f"{name} should be re-exported in streamz_core/__init__.py"


@pytest.mark.parametrize("name", sorted(set(STREAMZ_METHODS[:30]) | set(STREAMZ_SOURCES)))
def test_node_has_a_row_in_the_docs_table(name):
    text = (DOCS / "nodes.md").read_text()
    assert f"`{name}`" in text, f"docs/nodes.md has no table row for `{name}`: add one"


def test_every_public_name_has_a_docstring_with_an_example():
    missing = []
    for name in streamz_core.__all__:
        obj = getattr(streamz_core, name)
        doc = inspect.getdoc(obj) or ""
        if callable(obj) and ">>>" not in doc:
            missing.append(name)
    assert not missing, f"public names without a runnable example in their docstring: {missing}"


def test_all_names_exist():
    for name in streamz_core.__all__:
        assert hasattr(streamz_core, name), f"streamz_core.__all__ lists {name!r}, which does not exist"


def test_type_checking_block_declares_every_registered_method():
    """Type checkers cannot see register_api's setattr: _stream_methods.pyi declares each method."""
    import ast

    stub = pathlib.Path(streamz_core.__file__).with_name("_stream_methods.pyi")
    tree = ast.parse(stub.read_text())
    methods_cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "StreamMethods")
    declared = {n.name for n in methods_cls.body if isinstance(n, ast.FunctionDef)}
    registered = set()
    for name in dir(Stream):
        attr = inspect.getattr_static(Stream, name)
        func = attr.__func__ if isinstance(attr, staticmethod) else attr
        if getattr(func, "__wrapped__", None) is not None and not name.startswith("_"):
            registered.add(name)
    registered -= {"register_api", "register_plugin_entry_point"}
    assert registered - declared == set(), (
        f"declare {sorted(registered - declared)} in StreamMethods in streamz_core/_stream_methods.pyi"
    )
    assert declared - registered == set(), (
        f"_stream_methods.pyi declares {sorted(declared - registered)}, which nothing registers"
    )
