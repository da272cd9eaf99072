"""Interleaved before/after runs of bench_core (a-d) and bench_runtime: another checkout vs this one.

    .venv-bench/bin/python benchmarks/ab_trees.py /tmp/before 4

On a noisy host one run of each tree can differ by more than the change being measured,
so the trees alternate (the order flips every round) and every round's figures are kept,
in /tmp/ab_all.json. The other tree runs through with_tree.py; one that predates the
streamz_core/backends symlink needs it first: ``ln -s ../backends OLD/streamz_core/backends``.
"""
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
CORE = ["--lib", "streamz_core", "--only", "a,b,c,d_rate_limit,d_maps", "--repeat", "5"]


def command(tree: str, script: str) -> list[str]:
    if tree == "after":
        return [PY, f"{HERE}/{script}"]
    return [PY, f"{HERE}/with_tree.py", tree, script]


def core(tree: str) -> dict[str, float]:
    out = subprocess.run([*command(tree, "bench_core.py"), *CORE],
                         capture_output=True, text=True, cwd="/tmp").stdout
    res = {}
    for line in out.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            m = d["metrics"]
            res[d["bench"]] = m.get("ns_per_node") or m.get("us_per_elem") or m.get("us_per_emit")
    return res


def runtime(tree: str) -> list[dict[str, object]]:
    path = f"/tmp/ab_rt_{os.getpid()}.json"
    subprocess.run([*command(tree, "bench_runtime.py"), "--no-ray", "--repeat", "3", "--json", path],
                   capture_output=True, text=True, cwd="/tmp")
    with open(path) as f:
        rows: list[dict[str, object]] = json.loads(f.readlines()[-1])["rows"]
    os.unlink(path)
    return rows


def main() -> None:
    old, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4
    runs: dict[str, list[dict[str, object]]] = {old: [], "after": []}
    for r in range(rounds):
        for tree in ((old, "after") if r % 2 == 0 else ("after", old)):
            runs[tree].append({"core": core(tree), "runtime": runtime(tree)})
            print(r, tree, json.dumps(runs[tree][-1]["core"]), flush=True)
    with open("/tmp/ab_all.json", "w") as f:
        json.dump(runs, f)
    for key in runs["after"][0]["core"]:  # type: ignore[union-attr]
        b = [c["core"][key] for c in runs[old]]  # type: ignore[index]
        a = [c["core"][key] for c in runs["after"]]  # type: ignore[index]
        print(f"{key:14s} best {min(b):9.3f} -> {min(a):9.3f} ({min(a) / min(b):.3f})   "
              f"median {statistics.median(b):9.3f} -> {statistics.median(a):9.3f}")


if __name__ == "__main__":
    main()
