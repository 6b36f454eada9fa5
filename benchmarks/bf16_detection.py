"""Benchmark: how ``precision="auto"`` should tell whether this CPU computes bfloat16 fast.

Two detectors, each in ``--runs`` fresh processes (once per process, as a learner's kernel
runs it): the **capability query** ``torch.cpu.get_capabilities()`` (bf16 where it names
``amx_bf16`` or ``avx512_bf16``, as :func:`course_utils.accel.cpu_bf16_units` does) and a
**micro-benchmark**: one VGG-like 3x3 convolution (128 channels, 64x64 px, forward and
input-backward) in float32 and in bfloat16, bf16 where it is ``--margin`` times faster. It
prints each one's time inside the process and its verdicts, and the micro-benchmark's
bf16/fp32 ratio per run. Usage::

    .venv/bin/python benchmarks/bf16_detection.py            # 10 fresh processes
    .venv/bin/python benchmarks/bf16_detection.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

#: ``course_utils.accel.CPU_BF16_FLAGS``, not imported: importing the package sets the threads
FLAGS = ("amx_bf16", "avx512_bf16")


def capability_query() -> dict:
    t0 = time.perf_counter()
    caps = torch.cpu.get_capabilities()
    units = [f for f in FLAGS if caps.get(f)]
    return {"seconds": time.perf_counter() - t0, "bf16": bool(units), "units": units}


def conv_step(conv: torch.nn.Conv2d, x: torch.Tensor, repeats: int) -> float:
    """Best time of ``repeats`` forward + input-backward passes of ``conv`` on ``x`` (s)."""
    best = float("inf")
    for _ in range(repeats):
        xi = x.detach().requires_grad_(True)
        t0 = time.perf_counter()
        conv(xi).sum().backward()
        best = min(best, time.perf_counter() - t0)
    return best


def micro_benchmark(margin: float, repeats: int = 3) -> dict:
    t0 = time.perf_counter()
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1).requires_grad_(False)
    x = torch.rand(1, 128, 64, 64)
    conv_step(conv, x, 1)  # warm-up: oneDNN builds its kernels on the first call
    fp32 = conv_step(conv, x, repeats)
    low = torch.nn.Conv2d(128, 128, 3, padding=1).requires_grad_(False).to(torch.bfloat16)
    low.load_state_dict(conv.state_dict())
    xb = x.to(torch.bfloat16)
    conv_step(low, xb, 1)
    bf16 = conv_step(low, xb, repeats)
    return {"seconds": time.perf_counter() - t0, "bf16": fp32 / bf16 >= margin, "ratio": bf16 / fp32,
            "fp32_ms": 1000 * fp32, "bf16_ms": 1000 * bf16}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--margin", type=float, default=1.2, help="bf16 must be this many times faster")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:  # one fresh process's detections
        print(json.dumps({"query": capability_query(), "bench": micro_benchmark(args.margin)}))
        return 0
    caps = torch.cpu.get_capabilities()
    print(f"CPU: {caps.get('cpu_name', '?')}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; flags: " + ", ".join(f"{f}={bool(caps.get(f))}" for f in FLAGS)
          + f"; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    rows = []
    for i in range(args.runs):
        out = subprocess.run([sys.executable, __file__, "--child", "--margin", str(args.margin)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        b, q = r["bench"], r["query"]
        print(f"run {i + 1}: query {q['seconds'] * 1e3:.2f} ms -> {'bf16' if q['bf16'] else 'fp32'}; "
              f"micro-benchmark {b['seconds']:.2f} s, fp32 {b['fp32_ms']:.1f} ms, bf16 {b['bf16_ms']:.1f} ms, "
              f"bf16/fp32 {b['ratio']:.2f} -> {'bf16' if b['bf16'] else 'fp32'}", flush=True)
    ratios = [r["bench"]["ratio"] for r in rows]
    secs = [r["bench"]["seconds"] for r in rows]
    qsecs = [r["query"]["seconds"] for r in rows]
    verdicts = {"bf16" if r["bench"]["bf16"] else "fp32" for r in rows}
    print(f"\ncapability query: {statistics.median(qsecs) * 1e3:.2f} ms (median), verdicts "
          f"{sorted({'bf16' if r['query']['bf16'] else 'fp32' for r in rows})}")
    print(f"micro-benchmark: {statistics.median(secs):.2f} s (median; {min(secs):.2f}-{max(secs):.2f}), "
          f"bf16/fp32 {min(ratios):.2f}-{max(ratios):.2f} (median {statistics.median(ratios):.2f}), "
          f"verdicts {sorted(verdicts)}; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
