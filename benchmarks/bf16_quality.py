"""Benchmark: is a bfloat16 network good enough for style transfer, per optimiser?

For each optimiser, three seeded runs of ``transfer.stylise`` (offline network, Chelsea and
``swirl`` at N x N): float32, ``precision="bf16"``, and float32 from the content nudged by
noise of half an 8-bit grey level. A configuration **passes** when its final loss on the
float32 objective is within 2 % of float32's and the bf16 image is no further (RMS) from
float32's than the nudged run's is; one that fails belongs in
``course_utils.accel.BF16_QUALITY_FAILS``. bf16 rounds the same with or without the CPU's
bf16 units, so any CPU measures the quality (slowly without them). Usage::

    .venv/bin/python benchmarks/bf16_quality.py                       # 256 px, 300 steps, Adam and L-BFGS
    .venv/bin/python benchmarks/bf16_quality.py --size 128 --steps 100
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import fp32_objective, load_average, machine, pictures

from course_utils import transfer

NUDGE = 0.5 / 255


def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).pow(2).mean().sqrt().item()


def compare(optimiser: str, size: int, steps: int) -> dict:
    content, style = pictures(size)
    cfg = transfer.TransferConfig(weights="random", device="cpu", progress=False, optimiser=optimiser, steps=steps)
    g = torch.Generator().manual_seed(1)
    nudged_content = (content + NUDGE * torch.randn(content.shape, generator=g)).clamp(0, 1)
    runs, seconds = {}, {}
    for name, start, precision in (("fp32", content, "fp32"), ("bf16", content, "bf16"),
                                   ("nudged", nudged_content, "fp32")):
        t0 = time.perf_counter()
        runs[name] = transfer.stylise(start, style, cfg, precision=precision)
        seconds[name] = time.perf_counter() - t0
        print(f"  {optimiser} {name}: {runs[name].describe()}", flush=True)
    objective, _ = fp32_objective(cfg, content, style)
    with torch.no_grad():
        scored = {k: objective(r.image)[0].item() for k, r in runs.items()}
    gap = abs(scored["bf16"] - scored["fp32"]) / scored["fp32"]
    d_bf16, d_nudge = rms(runs["bf16"].image, runs["fp32"].image), rms(runs["nudged"].image, runs["fp32"].image)
    return {"optimiser": optimiser, "loss_fp32": scored["fp32"], "loss_bf16": scored["bf16"], "gap": gap,
            "rms_bf16": d_bf16, "rms_nudge": d_nudge, "passes": gap <= 0.02 and d_bf16 <= d_nudge,
            "seconds": seconds}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--optimisers", nargs="+", default=["adam", "lbfgs"])
    args = p.parse_args(argv)
    print(f"machine: {machine()}; {args.size} px, {args.steps} steps", flush=True)
    rows = [compare(o, args.size, args.steps) for o in args.optimisers]
    print(f"\n{'optimiser':>9} | {'loss fp32':>10} | {'loss bf16':>10} | {'gap':>6} | {'RMS bf16-fp32':>13} | "
          f"{'RMS nudge-fp32':>14} | {'s fp32/bf16':>11} | verdict")
    for r in rows:
        s = r["seconds"]
        print(f"{r['optimiser']:>9} | {r['loss_fp32']:>10.5g} | {r['loss_bf16']:>10.5g} | {100 * r['gap']:>5.2f}% | "
              f"{r['rms_bf16']:>13.5f} | {r['rms_nudge']:>14.5f} | {s['fp32']:>5.0f}/{s['bf16']:<5.0f} | "
              f"{'passes' if r['passes'] else 'FAILS'}")
    print(f"load average {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
