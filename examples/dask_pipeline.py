"""A pipeline whose heavy step runs on a Dask cluster, watched on the Dask dashboard.

Run: `.venv/bin/python examples/dask_pipeline.py` (needs the `dask` extra).
"""
import time

from distributed import Client, LocalCluster

from streamz_core import Stream


def slow_square(x):
    time.sleep(0.01)  # stands for real work
    return x * x


def main(n=200):
    # Worker processes; the dashboard binds to loopback only.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        source = Stream()
        remote = source.scatter(backend=client)     # elements travel with their task
        # Not client.dashboard_link: that names the machine's network address, where a
        # dashboard bound to 127.0.0.1 does not answer. This one opens as printed.
        print(f"Dask dashboard: {remote.executor.dashboard_link}", flush=True)
        results = (remote.map(slow_square)          # runs on the workers
                         .buffer(16)                # up to 16 in flight
                         .gather()                  # back here, in order
                         .sink_to_list())
        start = time.perf_counter()
        for x in range(n):
            source.emit(x)
        source.drain()                              # every element through (or its error raised)
        elapsed = time.perf_counter() - start
        print(f"{n} elements in {elapsed:.2f}s ({n / elapsed:.0f}/s); "
              f"last: {results[-3:]}; in order: {results == [x * x for x in range(n)]}")


if __name__ == "__main__":
    main()
