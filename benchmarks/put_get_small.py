"""Small-object rt.put / rt.get, one process per run (the host has per-process fast and slow modes).

    cd /tmp; for i in $(seq 10); do python /work/main/benchmarks/put_get_small.py /tmp/before; python /work/main/benchmarks/put_get_small.py; done | sort

With a checkout as argument, that tree's streamz_core is imported instead of the installed one.
"""
import sys
import time

tree = sys.argv[1] if len(sys.argv) > 1 else "installed"
if tree != "installed":
    sys.path.insert(0, tree)
import streamz_core.runtime as rt  # noqa: E402

if tree != "installed":
    assert rt.__file__.startswith(tree), rt.__file__



def main() -> None:
    rt.init(num_workers=1)
    rt.get(rt.put(1))
    best_put = best_get = best_one = float("inf")
    for _ in range(7):
        objs = list(range(10000))
        t = time.perf_counter()
        refs = [rt.put(o) for o in objs]
        best_put = min(best_put, time.perf_counter() - t)
        t = time.perf_counter()
        rt.get(refs)
        best_get = min(best_get, time.perf_counter() - t)
        t = time.perf_counter()
        for r in refs[:2000]:
            rt.get(r)
        best_one = min(best_one, time.perf_counter() - t)
        del refs
    print(f"{tree:12s} put {best_put / 1e4 * 1e6:.2f} us  get(list) {best_get / 1e4 * 1e6:.3f} us/obj  "
          f"get(one) {best_one / 2e3 * 1e6:.2f} us")
    rt.shutdown()


if __name__ == "__main__":
    main()
