"""The stored GPU benchmark that notebook 07 shows, as ``benchmarks/bench_transfer.py --device cuda``
wrote it (not measured by the notebook)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from course_utils import config as course_config

BENCH_CUDA_JSON = course_config.PROJECT_ROOT / "benchmarks" / "results" / "bench_transfer_cuda.json"
_BENCH_KEYS = {"device": str, "torch": str, "date": str, "command": str, "rows": list}
_ROW_KEYS = ("size", "variant", "ms_per_step", "peak_mem_mb", "tflops", "ratio_vs_baseline", "note")


def load_benchmark(path: str | Path = BENCH_CUDA_JSON) -> dict[str, Any] | None:
    """The stored benchmark with its schema checked (ValueError says what is missing), or
    ``None`` if no GPU run has been recorded."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        bench = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p} is not readable JSON ({exc}); rerun benchmarks/bench_transfer.py.") from None
    if not isinstance(bench, Mapping):
        raise ValueError(f"{p} must hold a JSON object with keys {sorted(_BENCH_KEYS)}.")
    for key, kind in _BENCH_KEYS.items():
        if not isinstance(bench.get(key), kind):
            raise ValueError(f"{p} lacks '{key}' (expected a {kind.__name__}); rerun benchmarks/bench_transfer.py.")
    for i, row in enumerate(bench["rows"]):
        missing = [k for k in _ROW_KEYS if not isinstance(row, Mapping) or k not in row]
        if missing:
            raise ValueError(f"{p}: row {i} lacks {missing}; rerun benchmarks/bench_transfer.py.")
    return dict(bench)


def benchmark_markdown(bench: Mapping[str, Any], path: str | Path = BENCH_CUDA_JSON) -> str:
    """A Markdown table of a stored benchmark, headed by its file, device, torch, date and command."""
    if not isinstance(bench, Mapping):
        raise ValueError(
            f"bench must be a stored benchmark from load_benchmark, got {type(bench).__name__}; "
            "load_benchmark returns None when no GPU run was recorded (run benchmarks/bench_transfer.py)."
        )

    def num(v: Any, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    p = Path(path)
    shown = p.relative_to(course_config.PROJECT_ROOT) if p.is_absolute() and p.is_relative_to(course_config.PROJECT_ROOT) else p
    lines = [
        f"**Stored benchmark figures** (not measured by this notebook) from `{shown}`: "
        f"{bench['device']}, torch {bench['torch']}, {bench['date']}, command `{bench['command']}`.",
        "",
        "| size (px) | variant | ms / step | peak memory (MB) | TFLOP/s | × vs baseline | note |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in sorted(bench["rows"], key=lambda row: row["size"]):  # stable: the file's order within a size
        lines.append(
            f"| {r['size']} | {r['variant']} | {num(r['ms_per_step'], '.3g')} | "
            f"{num(r['peak_mem_mb'], '.0f')} | {num(r['tflops'], '.3g')} | "
            f"{num(r['ratio_vs_baseline'], '.2f')} | {r['note']} |"
        )
    return "\n".join(lines)
