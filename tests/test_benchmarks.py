"""The GPU benchmark script runs between GPU sessions too: its CPU dry run must work, so a
lent GPU's few minutes are never lost to a broken script (benchmarks/gpu_session.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_device_benchmark_dry_run_on_cpu_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "COURSE_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-W", "ignore", "benchmarks/bench_transfer.py", "--device", "cpu", "--sizes", "16",
           "--memory-probe-sizes", "16", "--profile-sizes", "16", "--json", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["errors"] == []
    rows = {r["variant"]: r for r in report["rows"]}
    assert set(rows) == {"tutorial (fp32, L-BFGS)", "fp32 eager"}  # a CPU has no bf16 path or graphs
    assert all(r["size"] == 16 and r["ms_per_step"] > 0 for r in rows.values())
    assert rows["fp32 eager"]["ratio_vs_baseline"] > 0
    assert "300 steps end to end" in rows["fp32 eager"]["note"]
    assert len(report["memory_probe"]["16"]) == 4  # fp32/bf16 × cuDNN benchmark on/off (no figures on a CPU)
    assert "conv" in report["profiles"]["16"]
    assert not Path(str(out) + ".tmp").exists()  # written by replace, never half-written
