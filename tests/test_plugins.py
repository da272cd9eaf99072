"""Tests for streamz_core.plugins with real installed distributions.

Each test writes a tiny package and a ``*.dist-info`` directory (METADATA and
entry_points.txt) into a temporary directory and puts it on ``sys.path``: that is an
installed distribution as far as importlib.metadata is concerned.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import uuid
import warnings

import pytest

from streamz_core import Stream, plugins

PLUGIN_MODULE = '''
from streamz_core import Stream


class double(Stream):
    def update(self, x, who=None, metadata=None):
        return self._emit(2 * x, metadata)


class from_items(Stream):
    def __init__(self, items, **kwargs):
        self.items = list(items)
        super().__init__(**kwargs)

    def start(self):
        for x in self.items:
            self._emit(x)


class into(Stream):
    def __init__(self, upstream, target, **kwargs):
        self.target = target
        super().__init__(upstream, **kwargs)

    def update(self, x, who=None, metadata=None):
        self.target.append(x)


not_a_node = 42
'''


def make_distribution(root, groups: dict[str, dict[str, str]], module_source: str = PLUGIN_MODULE):
    """Write package ``mod`` and a dist-info declaring ``groups``; return (mod, names)."""
    tag = uuid.uuid4().hex[:8]
    mod = f"szc_plugin_{tag}"
    (root / f"{mod}.py").write_text(module_source)
    info = root / f"szc_plugin_{tag}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: szc-plugin-{tag}\nVersion: 0.1\n")
    lines = []
    names = {}
    for group, entries in groups.items():
        lines.append(f"[{group}]")
        for name, target in entries.items():
            real = name.replace("TAG", tag)
            names[name] = real
            lines.append(f"{real} = {mod}:{target}")
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return mod, names


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A directory on sys.path; names added to Stream are removed afterwards."""
    before = set(vars(Stream))
    registered = dict(plugins._registered)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in set(vars(Stream)) - before:
        delattr(Stream, name)
    plugins._registered.clear()
    plugins._registered.update(registered)
    for mod in [m for m in sys.modules if m.startswith("szc_plugin_")]:
        del sys.modules[mod]


def test_load_plugins_registers_nodes_sources_and_sinks_lazily(plugin_dir):
    mod, names = make_distribution(plugin_dir, {
        "streamz_core.nodes": {"double_TAG": "double"},
        "streamz_core.sources": {"from_items_TAG": "from_items"},
        "streamz_core.sinks": {"into_TAG": "into"},
    })
    added = plugins.load_plugins(Stream)
    assert sorted(added) == sorted(names.values())
    assert mod not in sys.modules  # nothing imported until a method is called

    source = getattr(Stream, names["from_items_TAG"])([1, 2, 3])
    assert mod in sys.modules
    out: list[int] = []
    doubled = getattr(source, names["double_TAG"])()
    end = getattr(doubled, names["into_TAG"])(out)  # noqa: F841  (downstreams are weak)
    source.start()
    assert out == [2, 4, 6]
    module = sys.modules[mod]
    assert type(source) is module.from_items
    # After the first call the stub is replaced by the class itself.
    assert getattr(Stream, names["double_TAG"]).__wrapped__ is module.double


def test_load_plugins_registers_sources_as_static_methods(plugin_dir):
    _, names = make_distribution(plugin_dir, {
        "streamz_core.sources": {"from_items_TAG": "from_items"},
    })
    plugins.load_plugins(Stream)
    name = names["from_items_TAG"]
    assert isinstance(vars(Stream)[name], staticmethod)
    node = getattr(Stream(), name)("ab")  # callable on an instance too, like streamz
    assert node.items == ["a", "b"]
    assert node.upstreams == []


def test_plugin_that_is_not_a_stream_class_raises_type_error_on_first_call(plugin_dir):
    mod, names = make_distribution(plugin_dir, {"streamz_core.nodes": {"bad_TAG": "not_a_node"}})
    plugins.load_plugins(Stream)
    with pytest.raises(TypeError, match=rf"entry point '{names['bad_TAG']}' .*{mod}:not_a_node.* "
                                        r"not a Stream subclass"):
        getattr(Stream(), names["bad_TAG"])()


def test_plugin_name_clashing_with_a_method_warns_and_keeps_the_method(plugin_dir):
    map_before = Stream.map
    mod, _ = make_distribution(plugin_dir, {"streamz_core.nodes": {"map": "double"}})
    with pytest.warns(RuntimeWarning) as record:
        added = plugins.load_plugins(Stream)
    assert added == []
    message = str(record[0].message)
    assert "entry point 'map'" in message
    assert f"{mod}:double" in message
    assert "'streamz_core.nodes'" in message
    assert "clashes with the existing Stream.map" in message
    assert "rename the entry point" in message
    assert Stream.map is map_before


def test_plugin_name_clashing_with_another_plugin_names_both(plugin_dir):
    mod, names = make_distribution(plugin_dir, {
        "streamz_core.sources": {"dup_TAG": "from_items"},
        "streamz_core.sinks": {"dup_TAG": "into"},
    })
    with pytest.warns(RuntimeWarning, match=rf"'{mod}:into'.*clashes with the plugin "
                                            rf"'{mod}:from_items' from group 'streamz_core.sources'"):
        added = plugins.load_plugins(Stream)
    assert added == [names["dup_TAG"]]


def test_load_plugins_twice_registers_nothing_new_and_does_not_warn(plugin_dir):
    _, names = make_distribution(plugin_dir, {"streamz_core.nodes": {"double_TAG": "double"}})
    assert plugins.load_plugins(Stream) == [names["double_TAG"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plugins.load_plugins(Stream) == []


def test_load_plugins_defaults_to_stream(plugin_dir):
    _, names = make_distribution(plugin_dir, {"streamz_core.nodes": {"double_TAG": "double"}})
    assert plugins.load_plugins() == [names["double_TAG"]]
    assert hasattr(Stream, names["double_TAG"])


def test_load_plugins_extends_the_class_it_is_given(plugin_dir):
    class MyStream(Stream):
        pass

    _, names = make_distribution(plugin_dir, {"streamz_core.nodes": {"double_TAG": "double"}})
    plugins.load_plugins(MyStream)
    assert names["double_TAG"] in vars(MyStream)
    assert names["double_TAG"] not in vars(Stream)


def test_prefilter_sees_a_distribution_that_declares_our_groups(plugin_dir):
    assert plugins._has_plugin_metadata(str(plugin_dir)) is False
    make_distribution(plugin_dir, {"other.group": {"x": "double"}})
    make_distribution(plugin_dir, {"streamz_core.backends": {"x": "double"}})
    assert plugins._has_plugin_metadata(str(plugin_dir)) is False
    make_distribution(plugin_dir, {"streamz_core.sinks": {"into_TAG": "into"}})
    assert plugins._has_plugin_metadata(str(plugin_dir)) is True
    assert plugins._may_have_plugins() is True


def test_prefilter_defers_to_importlib_metadata_for_zip_archives(tmp_path):
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    assert plugins._has_plugin_metadata(str(archive)) is True
    assert plugins._has_plugin_metadata(str(tmp_path / "missing")) is False


def _run(code: str, pythonpath: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          check=False, capture_output=True, text=True, timeout=60)


def test_import_streamz_core_loads_installed_plugins_lazily(tmp_path):
    mod, names = make_distribution(tmp_path, {
        "streamz_core.nodes": {"double_TAG": "double", "map": "double"},
    })
    proc = _run(f"""
        import sys, warnings
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as w:
            import streamz_core
            # the package is lazy: the stream half (and the plugins' names) load on first use
            source = streamz_core.Stream()
        assert {mod!r} not in sys.modules
        L = source.{names['double_TAG']}().sink_to_list()
        source.emit(21)
        assert {mod!r} in sys.modules
        print(L, [str(x.message) for x in w])
    """, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("[42]")
    assert "entry point 'map'" in proc.stdout and "clashes" in proc.stdout


def test_import_streamz_core_without_plugins_does_not_import_importlib_metadata(tmp_path):
    proc = _run("""
        import sys, streamz_core
        print('importlib.metadata' in sys.modules)
    """, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
