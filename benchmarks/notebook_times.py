"""How long each notebook, and each of its slowest cells, takes to run top to bottom, and
how much memory its kernel needs at its peak.

Each notebook runs in a fresh kernel on a temporary copy (``course_tools.classroom.run_notebook``);
the cell times are the kernel's own execution timestamps. The teacher's guide quotes them.

    python benchmarks/notebook_times.py                 # full mode, every notebook
    python benchmarks/notebook_times.py --fast 01 04    # fast mode, two notebooks
    python benchmarks/notebook_times.py --json benchmarks/results/notebook_times_full.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime
from pathlib import Path

import nbformat
import torch

from course_tools.classroom import run_notebook
from course_utils.files import atomic_path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def _shows_progress(cell) -> bool:
    """A tqdm.auto bar: a widget in a notebook, or "NN%|" text on stderr without one."""
    return any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               or (o.get("name") == "stderr" and "%|" in o.get("text", "")) for o in cell.get("outputs", []))


#: A last cell that prints the kernel's peak resident memory and its torch threads.
_PROBE = ("import resource, torch\n"
          "print('PEAK_PROBE', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, torch.get_num_threads())")


def run_measured(nb, *, fast: bool, timeout: int, allow_errors: bool = False) -> tuple[float, float, int]:
    """Run ``nb`` in a fresh kernel (cells' timestamps recorded in ``nb``); return its wall
    seconds, the kernel's peak RSS in MB and its torch thread count."""
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))
    start = time.perf_counter()
    try:
        run_notebook(nb, fast=fast, timeout=timeout, allow_errors=allow_errors)
    finally:
        probe = nb.cells.pop()
    seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in probe.get("outputs", []))
    rss_kb, threads = text.split("PEAK_PROBE")[1].split()[:2]
    return seconds, int(rss_kb) / 1024, int(threads)


def time_notebook(path: Path, *, fast: bool, timeout: int) -> dict:
    """Run one notebook; its wall time, peak memory, and each code cell's time with its first line."""
    nb = nbformat.read(path, as_version=4)
    wall, rss_mb, _ = run_measured(nb, fast=fast, timeout=timeout)
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            cells.append({"cell": index, "seconds": _seconds(cell), "first_line": first[:90],
                          "progress_bar": _shows_progress(cell)})
    return {"notebook": path.name, "wall_s": round(wall, 1), "peak_rss_mb": round(rss_mb), "cells": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="*", help="notebook numbers (00 … 07), or an optional notebook's (02b); default all")
    parser.add_argument("--fast", action="store_true", help="fast mode (COURSE_FAST=1)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--top", type=int, default=3, help="slowest cells to print per notebook")
    parser.add_argument("--json", help="write every cell's time to this file")
    args = parser.parse_args()
    paths = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if not args.numbers or p.name.split("_")[0] in args.numbers)
    mode = "fast" if args.fast else "full"
    flags = {k: os.environ.get(k, "") for k in ("COURSE_OFFLINE", "COURSE_DEVICE", "COURSE_VGG19_WEIGHTS")}
    print(f"{mode} mode; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.1f}; "
          + ", ".join(f"{k}={v!r}" for k, v in flags.items()))
    results = []
    for path in paths:
        r = time_notebook(path, fast=args.fast, timeout=args.timeout)
        results.append(r)
        timed = sorted((c for c in r["cells"] if c["seconds"] is not None), key=lambda c: -c["seconds"])
        print(f"{r['notebook']}: {r['wall_s']:.0f} s, kernel peak {r['peak_rss_mb']} MB")
        for c in timed[: args.top]:
            print(f"    cell {c['cell']:>2}: {c['seconds']:6.1f} s  {c['first_line']}")
    print(f"all: {sum(r['wall_s'] for r in results):.0f} s; load average now {os.getloadavg()[0]:.1f}")
    # The course's rule: a progress bar on anything over two seconds (imports excepted,
    # and cells that drive a widget showing its own bar above).
    silent = [(r["notebook"].split("_")[0], c) for r in results for c in r["cells"]
              if (c["seconds"] or 0) > 2 and not c["progress_bar"]]
    print("cells over 2 s without a progress bar:", "none" if not silent else "")
    for number, c in silent:
        print(f"    {number} cell {c['cell']:>2}: {c['seconds']:6.1f} s  {c['first_line']}")
    if args.json:
        out = Path(args.json)
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps({"mode": mode, "torch": torch.__version__, "environment": flags,
                                       "notebooks": results}, indent=1))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
