"""A plugin distribution written for streamz, installed for real, runs on streamz_core.

The test writes a package and its ``*.dist-info`` (METADATA, entry_points.txt) into a
temporary directory on ``sys.path``: an installed distribution for importlib.metadata.
Its entry points are in streamz's groups (``streamz.sources``, ``streamz.nodes``,
``streamz.sinks``) and its classes are written the way plugins on PyPI write them:
subclasses of ``Source`` (its own ``run``, or its own ``start`` with a Tornado
coroutine that yields ``self._emit(x)``), of ``from_q`` (pushing to ``self.q``, then
``await super().run()``) and of ``Sink`` (``ensure_io_loop=True``, an ``async def
update``, a ``destroy`` that calls ``super().destroy()``).
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from streamz_core import Stream, plugins
from streamz_core.testing import async_poll_for

PLUGIN = '''
import asyncio
import queue

from tornado import gen

from {pkg} import Stream
from {pkg}.sinks import Sink
from {pkg}.sources import Source, from_q


class from_count(Source):
    """streamz.sources: counts to n, awaiting downstream as streamz plugins do."""

    def __init__(self, n, **kwargs):
        self.n = n
        super().__init__(**kwargs)

    async def run(self):
        i = 0
        while not self.stopped and i < self.n:
            await asyncio.gather(*self._emit(i))
            i += 1
        self.stopped = True


class from_callbacks(Source):
    """streamz.sources: its own start(), a Tornado coroutine yielding _emit's list."""

    def __init__(self, items, **kwargs):
        self.items = list(items)
        super().__init__(**kwargs)

    def start(self):
        if self.stopped:
            self.stopped = False
            self.started = True
            self.loop.add_callback(self.poll)

    @gen.coroutine
    def poll(self):
        for x in self.items:
            yield self._emit(x)
        self.stopped = True


class from_inbox(from_q):
    """streamz.sources: a from_q subclass fed by a callback, like from_mqtt's."""

    def __init__(self, messages, **kwargs):
        self.messages = list(messages)
        super().__init__(q=queue.Queue(), sleep_time=0.001, **kwargs)

    def _on_message(self, msg):
        self.q.put(msg.upper())

    async def run(self):
        for msg in self.messages:
            self._on_message(msg)
        await super().run()


class add_one(Stream):
    """streamz.nodes: a plain node collecting _emit's list."""

    def __init__(self, upstream, **kwargs):
        super().__init__(upstream, stream_name="add_one", **kwargs)

    def update(self, x, who=None, metadata=None):
        result = []
        result.extend(self._emit(x + 1, metadata=metadata))
        return result


class to_collector(Sink):
    """streamz.sinks: an async update and a destroy hook."""

    def __init__(self, upstream, target, **kwargs):
        self.target = target
        self.closed = False
        super().__init__(upstream, ensure_io_loop=True, **kwargs)

    async def update(self, x, who=None, metadata=None):
        await asyncio.sleep(0)
        self.target.append(x)

    def destroy(self):
        super().destroy()
        self.closed = True
'''

GROUPS = {
    "streamz.sources": ["from_count", "from_callbacks", "from_inbox"],
    "streamz.nodes": ["add_one"],
    "streamz.sinks": ["to_collector"],
}


def install_plugin(root, pkg: str) -> tuple[str, str]:
    """Write the plugin module (importing ``pkg``) and its dist-info; return (module, tag)."""
    tag = uuid.uuid4().hex[:8]
    mod = f"szc_streamz_plugin_{tag}"
    (root / f"{mod}.py").write_text(PLUGIN.format(pkg=pkg))
    info = root / f"szc_streamz_plugin_{tag}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: szc-streamz-plugin-{tag}\nVersion: 1.0\n")
    lines = []
    for group, names in GROUPS.items():
        lines.append(f"[{group}]")
        lines += [f"{name}_{tag} = {mod}:{name}" for name in names]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    (info / "RECORD").write_text("")
    return mod, tag


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin installed on sys.path and loaded; its names are removed afterwards."""
    before = set(vars(Stream))
    registered = dict(plugins._registered)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    mod, tag = install_plugin(tmp_path, "streamz_core")
    added = plugins.load_plugins(Stream)
    yield mod, tag, added
    for name in set(vars(Stream)) - before:
        delattr(Stream, name)
    plugins._registered.clear()
    plugins._registered.update(registered)
    sys.modules.pop(mod, None)


def test_streamz_groups_register_lazily(plugin):
    mod, tag, added = plugin
    assert sorted(added) == sorted(f"{n}_{tag}" for names in GROUPS.values() for n in names)
    assert mod not in sys.modules  # the entry points were read, nothing imported
    assert getattr(Stream, f"add_one_{tag}").__name__ == "stub"  # as in streamz


async def test_source_node_and_sink_from_streamz_groups_run(plugin):
    mod, tag, _ = plugin
    source = getattr(Stream, f"from_count_{tag}")(3, asynchronous=True)
    L: list[int] = []
    end = getattr(getattr(source, f"add_one_{tag}")(), f"to_collector_{tag}")(L)
    source.start()
    await async_poll_for(lambda: len(L) == 3)
    assert L == [1, 2, 3]
    module = sys.modules[mod]
    assert isinstance(end, module.to_collector)
    end.destroy()
    assert end.closed and end.upstreams == []


async def test_source_with_own_start_and_tornado_coroutine(plugin):
    _, tag, _ = plugin
    source = getattr(Stream, f"from_callbacks_{tag}")("abc", asynchronous=True)
    L = source.sink_to_list()
    source.start()
    await async_poll_for(lambda: len(L) == 3)
    assert L == ["a", "b", "c"]


async def test_from_q_subclass_pushing_to_its_queue(plugin):
    _, tag, _ = plugin
    source = getattr(Stream, f"from_inbox_{tag}")(["x", "y"], asynchronous=True)
    L = source.sink_to_list()
    source.start()
    await async_poll_for(lambda: len(L) == 2)
    source.stop()
    assert L == ["X", "Y"]


def test_plugin_importing_streamz_runs_unchanged_after_compat_install(tmp_path):
    """The same plugin, importing ``streamz``, in a fresh interpreter that opted in."""
    compat = pytest.importorskip("streamz_core.compat")
    if not hasattr(compat, "install"):
        pytest.skip("streamz_core.compat.install is not available")
    mod, tag = install_plugin(tmp_path, "streamz")
    code = textwrap.dedent(f"""
        import streamz_core.compat
        streamz_core.compat.install()
        import sys
        from streamz import Stream
        from streamz_core.testing import poll_for
        assert {mod!r} not in sys.modules
        L = []
        source = Stream.from_count_{tag}(3)
        end = source.add_one_{tag}().to_collector_{tag}(L)
        source.start()
        poll_for(lambda: len(L) == 3, timeout=10)
        q = Stream.from_inbox_{tag}(["m"])
        M = q.sink_to_list()
        q.start()
        poll_for(lambda: M, timeout=10)
        q.stop()
        end.destroy()
        print(L, M, end.closed, type(end).__module__)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[1,", "2,", "3]", "['M']", "True", mod]
