"""Object store: inline and shared-memory values, zero-copy numpy, spilling, freeing."""
from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

import streamz_core.runtime as rt
from streamz_core.runtime import _context

np = pytest.importorskip("numpy")

MB = 1 << 20


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """A runtime whose object store holds 8 MB before spilling."""
    spill = tmp_path_factory.mktemp("spill")
    rt.shutdown()
    rt.init(num_workers=2, object_store_memory=8 * MB, spill_dir=str(spill))
    deadline = time.monotonic() + 10
    while not all(w.ready for w in _context.current().workers):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    yield spill
    rt.shutdown()


def _table():
    return _context.current().table


def _settle():
    gc.collect()
    core = _context.current()
    core.wake()
    deadline = time.monotonic() + 5
    while core.table.decs and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.02)


def test_numpy_get_is_zero_copy_read_only_view(small_store):
    a = np.arange(1_000_000, dtype=np.float64)
    ref = rt.put(a)
    b = rt.get(ref)
    c = rt.get(ref)
    assert np.array_equal(a, b)
    assert not b.flags.writeable and not b.flags.owndata
    # b and c may be two mappings of the same file (addresses not asserted); same contents
    assert np.array_equal(b, c)
    path = _table().transportable(ref._fut().result())[1]
    assert path.startswith(_context.current().shm_dir)


def test_large_array_through_tasks(small_store):
    @rt.remote
    def total(x):
        assert not x.flags.writeable
        return float(x.sum())

    @rt.remote
    def make(n):
        return np.ones(n)
    a = np.ones(500_000)
    assert rt.get(total.remote(rt.put(a))) == 500_000.0
    assert rt.get(total.remote(a)) == 500_000.0  # large argument goes via shm
    assert rt.get(total.remote(make.remote(300_000))) == 300_000.0


def test_spills_past_memory_limit_and_reads_back(small_store):
    refs = [rt.put(np.full(MB // 8, i, dtype=np.float64)) for i in range(20)]  # 20 MB
    table = _table()
    assert table.stored_bytes() <= 8 * MB
    spilled = table.spilled_keys()
    assert len(spilled) >= 12
    assert any(os.scandir(table.spill_dir))
    for i, ref in enumerate(refs):
        arr = rt.get(ref)
        assert arr[0] == i and arr[-1] == i
    assert table.stored_bytes() <= 8 * MB

    @rt.remote
    def first(x):
        return float(x[0])
    assert rt.get([first.remote(r) for r in refs]) == [float(i) for i in range(20)]


def _files(directory):
    return sorted(e.name for e in os.scandir(directory) if e.is_file())


def _path(ref):
    return _table().transportable(ref._fut().result())[1]


def test_object_bigger_than_limit_goes_to_disk(small_store):
    big = np.arange(2 * MB, dtype=np.float64)  # 16 MB > 8 MB
    ref = rt.put(big)
    assert ref._id in _table().spilled_keys()
    assert os.path.dirname(_path(ref)) == _table().spill_dir
    assert np.array_equal(rt.get(ref), big)


def test_object_bigger_than_limit_never_enters_shared_memory(small_store):
    """Issue 7, 5a: written straight to disk, read zero-copy from there, freed at once."""
    core = _context.current()
    table = _table()

    @rt.remote
    def make(n):
        return np.arange(n, dtype=np.float64)

    @rt.remote
    def check(x):
        assert not x.flags.writeable
        return float(x[-1])

    n = 2 * MB  # 16 MB of float64: twice the limit
    refs = [rt.put(np.arange(n, dtype=np.float64)), make.remote(n)]
    for ref in refs:
        arr = rt.get(ref)
        assert arr[-1] == n - 1
        assert not arr.flags.writeable and not arr.flags.owndata  # an mmap of the disk file
        assert rt.get(check.remote(ref)) == n - 1
        assert rt.get(check.remote(arr)) == n - 1  # as a large argument too
        del arr
        assert os.path.dirname(_path(ref)) == table.spill_dir
    assert _files(core.shm_dir) == []
    assert table.stored_bytes() == 0
    del refs, ref
    _settle()
    assert _files(core.shm_dir) == [] and _files(table.spill_dir) == []


def test_six_big_objects_read_then_freed_leave_no_file(small_store):
    """Issue 7, 5a: six objects over the limit, read by rt.get and a task, then freed."""
    core = _context.current()
    table = _table()

    @rt.remote
    def head(x):
        return float(x[0])

    for i in range(6):
        ref = rt.put(np.full(12 * MB // 8, float(i)))  # 12 MB each, limit 8 MB
        assert rt.get(ref)[0] == i
        assert rt.get(head.remote(ref)) == i
        del ref
        _settle()
        assert _files(core.shm_dir) == [] and _files(table.spill_dir) == []


def test_a_return_value_that_does_not_pickle_frees_the_ones_written_before_it(small_store):
    """The first of two return values is large (written to a file); the second cannot be
    pickled: the task fails and the first value's file does not stay until shutdown."""
    import threading

    core = _context.current()
    table = _table()

    @rt.remote(num_returns=2)
    def two():
        return np.ones(MB // 8), threading.Lock()  # 1 MB: a file, not inline

    refs = two.remote()
    for ref in refs:
        with pytest.raises(rt.exceptions.SerializationError, match="return value of"):
            rt.get(ref)
    del refs, ref
    _settle()
    assert _files(core.shm_dir) == [] and _files(table.spill_dir) == []


def test_spill_files_are_private(small_store):
    """Issue 7, 5c: spill files 0600, the session directories 0700."""
    core = _context.current()
    table = _table()

    @rt.remote
    def make(n):
        return np.ones(n)
    evicted = [rt.put(np.ones(MB // 8)) for _ in range(12)]  # 12 x 1 MB: some are moved
    direct = rt.put(np.ones(2 * MB))                          # over the limit: written there
    result = make.remote(2 * MB)                              # by a worker
    rt.get(result)
    spilled = [_path(r) for r in evicted if r._id in table.spilled_keys()]
    assert spilled
    for path in [*spilled, _path(direct), _path(result)]:
        assert os.path.dirname(path) == table.spill_dir
        assert os.stat(path).st_mode & 0o777 == 0o600, path
    for path in [*_files(core.shm_dir)]:
        assert os.stat(os.path.join(core.shm_dir, path)).st_mode & 0o777 == 0o600
    for d in (core.shm_dir, table.spill_dir):
        assert os.stat(d).st_mode & 0o777 == 0o700, d


def test_reader_follows_a_file_moved_to_disk(small_store):
    """A path handed out before a spill stays readable (workers may read it late)."""
    from streamz_core.runtime import _serialization as ser
    table = _table()
    ref = rt.put(np.full(MB // 8, 7.0))
    old = table.transportable(ref._fut().result())
    assert os.path.dirname(old[1]) == _context.current().shm_dir
    others = [rt.put(np.ones(MB // 8)) for _ in range(10)]  # pushes ``ref`` to disk
    assert ref._id in table.spilled_keys() and not os.path.exists(old[1])
    assert ser.loads_value(old)[0] == 7.0
    del others


def test_object_freed_when_last_ref_dropped(small_store):
    ref = rt.put(np.zeros(MB // 8))
    oid = ref._id
    path = _table().transportable(ref._fut().result())[1]
    assert os.path.exists(path)
    del ref
    _settle()
    assert oid not in _table().futs
    assert not os.path.exists(path)


def test_ref_kept_alive_inside_other_object(small_store):
    inner = rt.put("inner-value")
    outer = rt.put([inner])
    oid = inner._id
    del inner
    _settle()
    assert oid in _table().futs
    assert rt.get(rt.get(outer)[0]) == "inner-value"
    del outer
    _settle()
    assert oid not in _table().futs


def test_worker_held_refs_are_released(small_store):
    @rt.remote
    class Holder:
        def hold(self, refs):
            self.refs = refs
            return len(refs)

        def drop(self):
            self.refs = None
            import gc
            gc.collect()
            return True
    h = Holder.remote()
    ref = rt.put("held")
    oid = ref._id
    assert rt.get(h.hold.remote([ref])) == 1
    del ref
    _settle()
    assert oid in _table().futs  # the actor still holds it
    rt.get(h.drop.remote())
    deadline = time.monotonic() + 5
    while oid in _table().futs and time.monotonic() < deadline:
        _settle()
    assert oid not in _table().futs


def test_no_bookkeeping_left_after_many_tasks(small_store):
    @rt.remote
    def ident(x):
        return x

    @rt.remote
    def nested(n):
        return sum(rt.get([ident.remote(i) for i in range(n)]))
    assert rt.get(nested.remote(50)) == sum(range(50))
    rt.get([ident.remote(i) for i in range(500)])
    _settle()
    core = _context.current()
    deadline = time.monotonic() + 5
    while (core.scheduler.tasks or any(w.holds for w in core.workers)) and time.monotonic() < deadline:
        _settle()
    assert not core.scheduler.tasks
    assert not any(w.holds for w in core.workers)
    assert not core.scheduler.waiting() and not core.objects.waiting()


def test_worker_refetches_an_argument_spilled_after_dispatch(small_store):
    from streamz_core.runtime import _serialization as ser
    from streamz_core.runtime._task import bind_args
    args = ("i", ser.pickle.dumps(((None,), {})), None, ())
    gone = ("s", os.path.join(_context.current().shm_dir, "no-such-file"), (10, (), 10), ())
    fresh = ser.dumps_value(np.arange(3), None, "x")
    a, _kw = bind_args(args, [(0, 123, gone)], refetch=lambda oid: fresh)
    assert a[0].tolist() == [0, 1, 2]


# -- a really small /dev/shm (Docker's 64 MB default) and a full disk -------------------------
# These mount tmpfs filesystems, so they need root. By hand, anywhere:
#   sudo mkdir -p /mnt/shm64 && sudo mount -t tmpfs -o size=64m,mode=1777 tmpfs /mnt/shm64
#   STREAMZ_CORE_SHM_DIR=/mnt/shm64 python your_script.py
# (or run a container with its default shm: docker run --rm -it python:3.12 ...).

@contextlib.contextmanager
def _tmpfs(path, size_mb):
    """Mount a tmpfs of ``size_mb`` MB at ``path`` (skips the test unless that works)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root (and mount) to mount a small tmpfs; see the comment above "
                    "for how to reproduce it by hand")
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=1777",
                           "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); see the comment "
                    f"above for how to reproduce it by hand")
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _run(script, tmp_path, **env):
    """Run a user script in a fresh interpreter; return what it printed as JSON."""
    file = tmp_path / "script.py"
    file.write_text(textwrap.dedent(script))
    done = subprocess.run([sys.executable, str(file)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


SMALL_SHM_SCRIPT = """
    import json, os, time
    import numpy as np
    import streamz_core.runtime as rt
    from streamz_core.runtime import _context

    rt.init(num_workers=1)
    core = _context.current()

    @rt.remote
    def make(n, v):
        return np.full(n, v)

    @rt.remote
    def ends(x):
        return [float(x[0]), float(x[-1])]

    N = 30 << 17  # 30 MB of float64: four of them do not fit in 64 MB
    refs = [rt.put(np.full(N, float(i))) for i in range(4)]
    refs += [make.remote(N, float(i)) for i in range(4, 8)]
    args = [ends.remote(np.full(N, float(i))) for i in range(8, 12)]
    values = rt.get([ends.remote(r) for r in refs]) + rt.get(args)
    stats = rt.statistics()
    out = {"limit": core.table.memory_limit, "values": values,
           "spilled": stats.spilled_objects, "in_shm": stats.store_bytes}
    del refs, args
    deadline = time.monotonic() + 10
    while rt.statistics().objects and time.monotonic() < deadline:
        time.sleep(0.01)
    out["left_in_shm"] = sorted(os.listdir(core.shm_dir))
    out["left_on_disk"] = sorted(os.listdir(core.table.spill_dir))
    print(json.dumps(out))
"""


@pytest.mark.slow  # 360 MB through a 64 MB tmpfs: about 3 s
def test_small_dev_shm_spills_instead_of_failing(tmp_path):
    """Issue 7, 5b: with a 64 MB /dev/shm, 360 MB of puts, results and arguments work."""
    with _tmpfs(tmp_path / "shm", 64) as shm:
        out, _ = _run(SMALL_SHM_SCRIPT, tmp_path, STREAMZ_CORE_SHM_DIR=shm)
        assert out["limit"] <= 32 * MB  # half of the free space, not 30 % of RAM
        assert out["values"] == [[float(i), float(i)] for i in range(12)]
        assert out["spilled"] >= 4 and out["in_shm"] <= out["limit"]
        assert out["left_in_shm"] == [] and out["left_on_disk"] == []
        assert _tree(shm) == []  # the session is gone, no partial file anywhere


DISK_FULL_SCRIPT = """
    import errno, json, os, time
    import numpy as np
    import streamz_core.runtime as rt
    from streamz_core.runtime import _context
    from streamz_core.runtime.exceptions import ObjectStoreFullError

    rt.init(num_workers=1, spill_dir=os.environ["SPILL"])
    core = _context.current()

    @rt.remote
    def make(n):
        return np.ones(n)

    @rt.remote
    def size(x):
        return x.nbytes

    big = np.ones(40 << 17)  # 40 MB: over the limit (32 MB), and the disk has 8 MB
    errors = []
    for attempt in (lambda: rt.put(big), lambda: size.remote(big),
                    lambda: rt.get(make.remote(40 << 17))):
        try:
            attempt()
        except ObjectStoreFullError as exc:
            errors.append([exc.errno == errno.ENOSPC, str(exc)])
    small = rt.get(size.remote(rt.put(np.ones(1 << 17))))  # 1 MB: still works

    # 20 MB values fit the limit, but the disk cannot take the ones pushed out of shared
    # memory: they stay there, until shared memory is full too
    held = []
    try:
        for i in range(5):
            held.append(rt.put(np.full(20 << 17, float(i))))
    except ObjectStoreFullError as exc:
        errors.append([exc.errno == errno.ENOSPC, str(exc)])
    kept = [float(rt.get(r)[0]) for r in held]
    def settle():  # wait until the driver has freed every object
        deadline = time.monotonic() + 10
        while rt.statistics().objects and time.monotonic() < deadline:
            time.sleep(0.01)

    del held
    settle()
    again = rt.get(size.remote(rt.put(np.ones(20 << 17))))  # room again once freed
    settle()
    print(json.dumps({"errors": errors, "small": small, "kept": kept, "again": again,
                      "left_in_shm": sorted(os.listdir(core.shm_dir)),
                      "left_on_disk": sorted(os.listdir(core.table.spill_dir))}))
"""


def test_full_disk_raises_a_clear_error_and_leaves_no_partial_file(tmp_path):
    """Issue 7, 5b: shared memory and spill_dir both too small: a clear error, no litter."""
    with _tmpfs(tmp_path / "shm", 64) as shm, _tmpfs(tmp_path / "spill", 8) as spill:
        out, stderr = _run(DISK_FULL_SCRIPT, tmp_path, STREAMZ_CORE_SHM_DIR=shm, SPILL=spill)
        assert len(out["errors"]) == 4
        for is_enospc, message in out["errors"]:
            assert is_enospc
            assert "cannot store the" in message
            assert spill in message and "spill_dir=" in message
            assert "object_store_memory=" in message
        put, arg, result, full = (m for _, m in out["errors"])
        assert "value given to rt.put (40.0 MB)" in put
        assert "argument (40.0 MB)" in arg and "return value of make (40.0 MB)" in result
        assert "larger than object_store_memory (32.0 MB)" in put
        assert "larger than the free shared memory" in full
        assert "cannot spill object" in stderr  # said once, when the disk first refused
        assert out["small"] == 1 << 20
        assert out["kept"] == [0.0, 1.0, 2.0] and out["again"] == 20 << 20
        assert out["left_in_shm"] == [] and out["left_on_disk"] == []
        assert _tree(spill) == [] and _tree(shm) == []
