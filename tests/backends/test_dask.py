"""The Dask backend against real clusters: conformance, order, faults, dashboard, seeds."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

distributed = pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402
from tornado import gen  # noqa: E402
from tornado.ioloop import IOLoop  # noqa: E402

from streamz_core import Stream  # noqa: E402
from streamz_core.backends.dask import DaskExecutor  # noqa: E402
from streamz_core.executor import ExecutorClosedError  # noqa: E402
from streamz_core.testing import check_executor, poll_for  # noqa: E402


def inc(x):
    return x + 1


def slow_inc(x):
    time.sleep(0.002)
    return x + 1


@pytest.fixture(scope="module")
def client():
    with Client(processes=False, n_workers=2, threads_per_worker=1,
                dashboard_address="127.0.0.1:0") as c:
        yield c


@pytest.mark.parametrize("mode", ["actors", "tasks"])
def test_dask_backend_conforms(client, mode):
    check_executor(lambda: DaskExecutor(client, mode=mode), n=100)


def test_tasks_mode_pipeline_in_order(client):
    source = Stream()
    ex = DaskExecutor(client, mode="tasks")
    out = source.scatter(backend=ex).map(inc).map(inc).buffer(8).gather().sink_to_list()
    for i in range(200):
        source.emit(i)
    poll_for(lambda: len(out) >= 200, timeout=60, message="200 results")
    assert out == [i + 2 for i in range(200)]
    out.node.destroy()


def test_dask_backend_rejects_unknown_mode(client):
    with pytest.raises(ValueError, match=r"mode='fast'.*'actors'.*'tasks'"):
        DaskExecutor(client, mode="fast")


def test_scatter_map_buffer_gather_in_order_on_default_client(client):
    source = Stream()
    out = source.scatter().map(inc).buffer(8).gather().sink_to_list()
    for i in range(500):
        source.emit(i)
    poll_for(lambda: len(out) >= 500, timeout=60, message="500 results")
    assert out == [i + 1 for i in range(500)]
    assert source.loop.asyncio_loop is client.loop.asyncio_loop  # the graph runs on the client's loop
    out.node.destroy()


def test_chained_remote_maps_and_accumulate(client):
    source = Stream()
    out = (source.scatter(backend=client).map(inc).map(inc).accumulate(lambda a, b: a + b)
           .buffer(4).gather().sink_to_list())
    for i in range(50):
        source.emit(i)
    expected, total = [], 0
    for i in range(50):
        total += i + 2
        expected.append(total)
    poll_for(lambda: len(out) >= 50, timeout=60, message="50 results")
    assert out == expected
    out.node.destroy()


def test_one_bad_element_fails_alone(client):
    source = Stream()
    out = source.scatter(backend=client).map(lambda x: 10 // x).gather().sink_to_list()
    source.emit(5)
    with pytest.raises(ZeroDivisionError):
        source.emit(0)
    source.emit(2)
    assert out == [2, 5]
    out.node.destroy()


def test_dashboard_link_opens_exactly_as_printed(client):
    """The dashboard listens on 127.0.0.1 only: the link we show must name that address
    (Dask's own link names the host's address, where nothing answers)."""
    ex = DaskExecutor(client)
    link = ex.dashboard_link
    assert link and f"dashboard={link}>" in repr(ex)
    assert link.startswith("http://127.0.0.1:") and link.endswith("/status")
    with urllib.request.urlopen(link, timeout=30) as resp:  # the printed URL, untouched
        assert resp.status == 200 and b"<html" in resp.read(2000).lower()


def test_dashboard_link_of_a_cluster_listening_everywhere_is_dasks(client):
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as c:
        ex = DaskExecutor(c)
        assert ex.dashboard_link == c.dashboard_link  # every interface answers Dask's host
        with urllib.request.urlopen(ex.dashboard_link, timeout=30) as resp:
            assert resp.status == 200


@pytest.mark.parametrize("mode", ["actors", "tasks"])
def test_closing_the_client_in_flight_reports_once_how_many(mode, caplog):
    c = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None,
               set_as_default=False)
    source = Stream()
    out = source.scatter(backend=DaskExecutor(c, mode=mode)).map(slow_inc).buffer(8).gather().sink_to_list()
    reports = []
    source.loop.asyncio_loop.set_exception_handler(lambda _, context: reports.append(context))
    for i in range(8):
        source.emit(i)
    c.close()  # a synchronous client stops the loop the graph runs on
    assert len(reports) == 1, reports
    err = reports[0]["exception"]
    assert isinstance(err, ExecutorClosedError) and reports[0]["message"] == str(err)
    assert "closed with" in str(err) and "elements in flight" in str(err)
    n = int(str(err).split("closed with ")[1].split()[0])
    assert 1 <= n <= 8 and len(out) + n == 8  # every element: delivered, or counted here
    assert not getattr(err, "__notes__", None)  # not one note per element
    assert "worker lost" not in caplog.text  # nothing was lost: the client was closed


@pytest.mark.parametrize("mode", ["actors", "tasks"])
async def test_closing_an_async_client_in_flight_raises_once_to_the_emitter(mode):
    c = await Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None,
                     asynchronous=True, set_as_default=False)
    reports = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: reports.append(context))
    source = Stream(asynchronous=True)
    out = source.scatter(backend=DaskExecutor(c, mode=mode)).map(slow_inc).buffer(8).gather().sink_to_list()
    for i in range(8):
        await source.emit(i)
    await c.close()
    with pytest.raises(ExecutorClosedError, match=r"closed with \d+ elements? in flight") as info:
        await asyncio.wait_for(source.drain(), 30)
    n = int(str(info.value).split("closed with ")[1].split()[0])
    assert len(out) + n == 8 and info.value.__notes__ == [
        "raised by drain(): it happened after its emit into <scatter> had returned"]
    await source.drain()  # raised once
    assert reports == []
    with pytest.raises(ExecutorClosedError, match="is closed: it cannot take more work"):
        await source.emit(9)


def test_dask_backend_without_client_says_how_to_make_one(monkeypatch):
    monkeypatch.setattr(distributed, "default_client", lambda: (_ for _ in ()).throw(ValueError("none")))
    with pytest.raises(ValueError, match="no Dask client"):
        DaskExecutor()


@pytest.mark.parametrize("bad", [0, -2, 1.5], ids=str)
def test_dask_backend_rejects_bad_batch_settings(client, bad):
    with pytest.raises(ValueError, match="max_batches_in_flight"):
        DaskExecutor(client, max_batches_in_flight=bad)


# The seed's toy functions (shortened sleeps); write records instead of printing.
written = []


@gen.coroutine
def write(x):
    yield gen.sleep(0.001)
    written.append(x)


def increment(x):
    time.sleep(0.01)
    return x + 1


def test_seed_using_dask(client):
    """seeds/streamz-async.rst, "Using Dask", with the import changed (and write recording)."""
    written.clear()
    source = Stream()
    (source.scatter()       # scatter local elements to cluster, creating a DaskStream
           .map(increment)  # map a function remotely
           .buffer(5)       # allow five futures to stay on the cluster at any time
           .gather()        # bring results back to local process
           .sink(write))    # call write locally

    for x in range(10):
        source.emit(x)
    poll_for(lambda: len(written) >= 10, timeout=60, message="10 results")
    assert written == list(range(1, 11))


def test_seed_asynchronous_dask():
    """seeds/streamz-async.rst, "Asynchronous Dask", with the import changed."""
    written.clear()
    async def f():
        client = await Client(processes=False, asynchronous=True, dashboard_address=None)
        source = Stream(asynchronous=True)
        source.scatter().map(increment).rate_limit('50ms').gather().sink(write)

        for x in range(10):
            await source.emit(x)
        await client.close()

    IOLoop().run_sync(f)
    assert written == list(range(1, 11))


@pytest.mark.slow
def test_ten_thousand_elements_exactly_once_in_order_on_worker_processes():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        source = Stream()
        out = source.scatter(backend=c).map(inc).buffer(16).gather().sink_to_list()
        for i in range(10_000):
            source.emit(i)
        poll_for(lambda: len(out) >= 10_000, timeout=240, message="10,000 results")
        assert out == [i + 1 for i in range(10_000)]
        out.node.destroy()


@pytest.mark.slow
def test_worker_killed_mid_stream_loses_nothing():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        source = Stream()
        out = source.scatter(backend=c).map(slow_inc).buffer(8).gather().sink_to_list()
        n = 600
        for i in range(n):
            source.emit(i)
            if i == 200:  # kill -9 one worker process while elements are in flight
                victim = psutil.Process(next(iter(cluster.workers.values())).process.process.pid)
                os.kill(victim.pid, signal.SIGKILL)
        poll_for(lambda: len(out) >= n, timeout=240, message=f"{n} results")
        assert out == [i + 1 for i in range(n)]
        assert not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE
        out.node.destroy()


def one(x):
    return 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["actors", "tasks"])
def test_unpicklable_element_fails_alone_on_worker_processes(mode):
    """A threading.Lock among the elements: it fails alone, naming the node and the
    element; the rest of its batch and the later elements arrive (it used to hang)."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster, set_as_default=False) as c:
        lock = threading.Lock()
        source = Stream()
        out = source.scatter(backend=DaskExecutor(c, mode=mode)).map(one).buffer(8).gather().sink_to_list()
        raised = []
        for x in [0, 1, lock, *range(3, 40)]:
            try:
                source.emit(x)
            except TypeError as exc:
                raised.append(exc)
        try:
            source.drain()
        except TypeError as exc:
            raised.append(exc)
        assert len(raised) == 1 and "cannot pickle the element" in str(raised[0]) and repr(lock) in str(raised[0])
        assert raised[0].__notes__[0] == (
            f"raised remotely in <map: one> while processing {lock!r}; collected by <gather>")
        assert out == [1] * 39
        out.node.destroy()


@pytest.mark.slow
def test_dashboard_link_printed_by_the_example_opens():
    """examples/dask_pipeline.py prints the dashboard link: open it as printed, while
    the example runs (real worker processes, the dashboard on 127.0.0.1)."""
    example = Path(__file__).resolve().parents[2] / "examples" / "dask_pipeline.py"
    proc = subprocess.Popen([sys.executable, str(example)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("Dask dashboard: http://127.0.0.1:"), line
        with urllib.request.urlopen(line.split(": ", 1)[1], timeout=30) as resp:
            assert resp.status == 200
        rest = proc.stdout.read()
        assert proc.wait(timeout=120) == 0 and "in order: True" in rest
    finally:
        proc.kill()
        proc.wait()


def test_emit_after_a_synchronous_client_closed_names_the_node_and_the_client():
    """A script's Client(processes=False) closes the loop the graph runs on; later
    blocking emits (and drain) used to raise RuntimeError("event loop ... is closed")."""
    c = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None,
               set_as_default=False)
    source = Stream()
    out = source.scatter(backend=c).map(inc).buffer(8).gather().sink_to_list()
    for i in range(3):
        source.emit(i)
    source.drain()
    c.close()
    for later in (lambda: source.emit(5), source.drain):
        with pytest.raises(ExecutorClosedError) as info:
            later()
        text = str(info.value)
        assert text.startswith("<scatter> runs on the event loop of the Dask client")
        assert "was closed" in text and "Create a new Client and build the pipeline again" in text
    assert out == [1, 2, 3]


REMOTE_TRACEBACK_SCRIPT = '''
import sys, traceback
from distributed import Client, LocalCluster
from streamz_core import Stream
from streamz_core.backends.dask import DaskExecutor

def lookup(x):
    table = {0: "a", 1: "b"}
    return table[x]  # the line the remote traceback must show

if __name__ == "__main__":
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        source = Stream()
        source.scatter(backend=DaskExecutor(client, mode=sys.argv[1])).map(lookup).gather().sink(print)
        try:
            source.emit(2)
        except KeyError as exc:
            traceback.print_exception(exc, file=sys.stdout)
'''


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["actors", "tasks"])
def test_remote_traceback_shows_the_file_line_and_source_of_a_main_function(tmp_path, mode):
    """A function of a script run as __main__ is pickled by value to real worker
    processes; with cloudpickle 3.1.3 its traceback read File "<dynamic-code>"."""
    import cloudpickle

    script = tmp_path / "pipeline.py"
    script.write_text(REMOTE_TRACEBACK_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                          timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    line = REMOTE_TRACEBACK_SCRIPT.splitlines().index(
        '    return table[x]  # the line the remote traceback must show') + 1
    assert f'File "{script}", line {line}, in lookup' in out, (cloudpickle.__version__, out)
    assert "return table[x]  # the line the remote traceback must show" in out
    assert "<dynamic-code>" not in out
    assert "raised remotely in <map: lookup> while processing 2" in out
