"""Many learners on one server: N concurrent fast-mode runs of notebook 04, with and without
the thread rule (course_utils.config.cpu_budget).

    python benchmarks/classroom_load.py                # N = 1, 2, 4, 8
    python benchmarks/classroom_load.py --learners 1 2

Each learner is a fresh kernel running the whole notebook, all N started together. "rule":
each kernel gets ``CPU_LIMIT`` = cores / N, as a hub's spawner sets it; "default":
``COURSE_THREADS=0``, torch's own thread count. It prints per learner the wall time and the
kernel's peak RSS, and the throughput (notebooks per minute) of both in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "04_style_transfer_by_optimisation.ipynb"


def one_learner() -> None:
    """Run notebook 04 once in a fresh kernel; print a JSON line with its time and peak RSS."""
    import nbformat
    from notebook_times import run_measured

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # a failing checkpoint still costs its time
    seconds, rss_mb, threads = run_measured(nb, fast=True, timeout=1800, allow_errors=True)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss_mb, "threads": threads}))


def run_class(n: int, rule: bool, cores: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CPU_LIMIT", "COURSE_THREADS")}
    env.update(COURSE_FAST="1", COURSE_OFFLINE="1", MPLBACKEND="Agg")
    env.update({"CPU_LIMIT": f"{cores / n:g}"} if rule else {"COURSE_THREADS": "0"})
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--one"], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    results = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"a learner's run failed (exit {p.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    total = time.perf_counter() - start
    return {"n": n, "rule": rule, "wall_mean": statistics.mean(r["seconds"] for r in results),
            "wall_max": max(r["seconds"] for r in results), "throughput": 60 * n / total,
            "rss_max": max(r["peak_rss_mb"] for r in results), "threads": results[0]["threads"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_learner()
        return
    cores = len(os.sched_getaffinity(0))
    print(f"notebook 04, fast mode, {cores} CPUs, load average before: {os.getloadavg()[0]:.1f}")
    print("| learners | threads per kernel (default → rule) | per-learner wall, mean / max (default) | "
          "per-learner wall, mean / max (rule) | throughput, notebooks/min (default → rule) | "
          "rule ÷ default throughput | peak RSS per kernel (MB) |")
    print("|---|---|---|---|---|---|---|")
    for n in args.learners:
        default = run_class(n, False, cores)
        rule = run_class(n, True, cores)
        print(f"| {n} | {default['threads']} → {rule['threads']} | {default['wall_mean']:.0f} / "
              f"{default['wall_max']:.0f} s | {rule['wall_mean']:.0f} / {rule['wall_max']:.0f} s | "
              f"{default['throughput']:.2f} → {rule['throughput']:.2f} | "
              f"{rule['throughput'] / default['throughput']:.2f} | "
              f"{max(default['rss_max'], rule['rss_max']):.0f} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
