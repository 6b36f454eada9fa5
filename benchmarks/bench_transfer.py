"""Benchmark: the course engine (``course_utils.transfer``) against the PyTorch tutorial loop.

Both run in this one process, on the same images, network (the offline fallback, seeded
random VGG19) and objective: the tutorial's, which the engine is given through per-layer
weights (the script checks that the two agree on the starting image). For each size it
prints each one's ms per step, the extra resident memory a run needs (Linux ``/proc``), the
seconds each needs to reach the tutorial's final loss (the engine coarse-to-fine and
single-scale), and the engine's ms per step in fp32 against ``precision="auto"``.
``benchmarks/README.md`` says what is compared and how, with the figures. Usage::

    .venv/bin/python benchmarks/bench_transfer.py            # 128 and 256 px (~10-15 min)
    .venv/bin/python benchmarks/bench_transfer.py --quick    # 64 and 128 px, 100 steps
    .venv/bin/python benchmarks/bench_transfer.py --sizes 256 --coarse-steps 150
    .venv/bin/python benchmarks/bench_transfer.py --precision-only   # fp32 vs auto, 128 and 256 px
    python benchmarks/bench_transfer.py --device cuda          # GPU: 256, 512, 1024 px, per variant
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import time
from pathlib import Path

import torch
import tutorial_baseline as tut
from _common import fp32_objective, machine, median_step_ms, pictures
from torchvision.models.vgg import cfgs, make_layers

from course_utils import accel, features, losses, transfer

CONTENT = "conv4_2"
STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
TUTORIAL_LAYERS = {"content_layers": [tut.PAPER_TO_TUTORIAL[CONTENT]],
                   "style_layers": [tut.PAPER_TO_TUTORIAL[s] for s in STYLE]}


def memory_mb(key: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (the peak) of this process's resident set, in MB (Linux)."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return float("nan")
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith(key + ":")), float("nan"))


def reset_peak() -> float:
    """Restart the peak resident set from now (Linux: write 5 to clear_refs); the set now, MB."""
    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return memory_mb("VmRSS")


def tutorial_cnn() -> torch.nn.Sequential:
    """torchvision's ``vgg19().features`` (in-place ReLUs), with the fallback's weights."""
    cnn = make_layers(cfgs["E"])
    cnn.load_state_dict(features.random_vgg19_state())
    return cnn.eval()


def equivalent_config(content: torch.Tensor, style: torch.Tensor) -> transfer.TransferConfig:
    """A TransferConfig whose objective equals the tutorial's at this size."""
    base = transfer.TransferConfig(content_layers=(CONTENT,), style_layers=STYLE, weights="random",
                                   device="cpu", progress=False)
    fx = transfer.feature_network(base)
    with torch.no_grad():
        fc, fs = fx(content), fx(style)
    content_w = {CONTENT: fc[CONTENT].pow(2).mean().item()}
    style_w = {name: 1e6 * losses.gram_matrix(fs[name]).pow(2).sum().item() / fs[name].shape[1] ** 4
               for name in STYLE}
    return base.replace(content_layers=content_w, style_layers=style_w, content_weight=1.0,
                        style_weight=1.0, tv_weight=0.0)


def tutorial_objective(cnn, content, style, image) -> float:
    return tut.tutorial_loss(cnn, content, style, image, **TUTORIAL_LAYERS)


def run_baseline(cnn, content, style, steps: int) -> dict:
    curve: list[float] = []
    t0 = time.perf_counter()
    start_mb = reset_peak()
    out, n = tut.run_style_transfer(
        cnn, features.IMAGENET_MEAN, features.IMAGENET_STD, content, style, content.clone(),
        num_steps=steps, on_eval=lambda run, loss: curve.append(loss),
        **TUTORIAL_LAYERS)
    seconds = time.perf_counter() - t0
    return {"image": out.detach(), "evals": n, "seconds": seconds, "curve": curve,
            "ms_per_step": 1000 * seconds / n, "peak_mb": memory_mb("VmHWM") - start_mb}


def run_ours(content, style, cfg: transfer.TransferConfig, target: float, scales, steps) -> dict:
    """One ``stylise`` run that stops once its full-size loss is at or below ``target``."""
    full = tuple(content.shape[-2:])
    reached: list[float] = []
    t0 = time.perf_counter()

    def stop_at_target(step, image, losses_now):
        if tuple(image.shape[-2:]) == full and losses_now["total"] <= target:
            reached.append(time.perf_counter() - t0)
            return True
        return None

    start_mb = reset_peak()
    res = transfer.stylise(content, style, cfg, scales=scales, steps=steps, callback=stop_at_target)
    return {"result": res, "seconds": time.perf_counter() - t0, "reached_s": reached[0] if reached else None,
            "steps": res.steps_done, "peak_mb": memory_mb("VmHWM") - start_mb}


def bench_size(size: int, args) -> dict:
    content, style = pictures(size)
    cnn = tutorial_cnn()
    cfg = equivalent_config(content, style)
    obj, _ = fp32_objective(cfg, content, style)
    with torch.no_grad():
        ours0 = obj(content)[0].item()
    tut0 = tutorial_objective(cnn, content, style, content)
    print(f"\n[{size} px] objective at the content image: tutorial {tut0:.6g}, engine {ours0:.6g} "
          f"(relative difference {abs(ours0 - tut0) / tut0:.1e})", flush=True)

    base = run_baseline(cnn, content, style, args.steps)
    target = tutorial_objective(cnn, content, style, base["image"])
    print(f"  baseline: {base['evals']} evaluations in {base['seconds']:.1f} s, final loss {target:.6g}",
          flush=True)
    curve = base["curve"]
    marks = [k for k in (1, 10, 50, 100, 200, 300) if k <= len(curve)]
    rises = sum(b > 1.2 * a for a, b in zip(curve, curve[1:], strict=False))
    print("  baseline loss at evaluation " + ", ".join(f"{k}: {curve[k - 1]:.4g}" for k in marks)
          + f"; evaluations where the loss rose >20 %: {rises}", flush=True)
    out = {"size": size, "baseline": base, "target": target}
    # The engine's per-step cost at full size, measured on its own: a run that reaches the
    # target after a few full-size steps gives no usable median.
    times = transfer.stylise(content, style, cfg, steps=12).history["time"][1:]
    out["engine_ms_per_step"] = median_step_ms(times)
    print(f"  engine: {out['engine_ms_per_step']:.0f} ms per full-size step (median of {len(times) - 1})",
          flush=True)
    schedules = [("coarse-to-fine", (0.5, 1.0), (args.coarse_steps, args.max_steps))]
    if not args.no_single:
        schedules.append(("single scale", (1.0,), args.max_steps))
    for label, scales, steps in schedules:
        r = run_ours(content, style, cfg, target, scales, steps)
        check = tutorial_objective(cnn, content, style, r["result"].image)
        reached = None if r["reached_s"] is None else round(r["reached_s"], 1)
        print(f"  engine, {label}: {r['steps']} steps in {r['seconds']:.1f} s, reached the target at "
              f"{reached} s; its image scores {check:.6g} on the tutorial's objective", flush=True)
        out[label] = r
    return out


def precision_table(size: int, steps: int = 8, rounds: int = 2) -> list[dict]:
    """ms per step (median over a run's steps, the better of ``rounds`` alternating runs)
    with the network in fp32 and as ``precision="auto"`` chooses, per optimiser."""
    content, style = pictures(size)
    cfg = equivalent_config(content, style)
    rows = []
    for optimiser in ("lbfgs", "adam"):
        c = cfg.replace(optimiser=optimiser)
        best = {"fp32": float("inf"), "auto": float("inf")}
        for _ in range(rounds):
            for precision in best:
                r = transfer.stylise(content, style, c, steps=steps, precision=precision)
                best[precision] = min(best[precision], median_step_ms(r.history["time"][1:]))
        r = {"optimiser": optimiser, "fp32_ms": best["fp32"], "auto_ms": best["auto"],
             "auto": accel.plan(c, torch.device("cpu")).describe_fast(), "size": size}
        print(f"  [{size} px, {optimiser}] fp32 {r['fp32_ms']:.0f} ms/step, auto {r['auto_ms']:.0f} "
              f"ms/step ({r['fp32_ms'] / r['auto_ms']:.2f}x); auto = {r['auto']}", flush=True)
        rows.append(r)
    return rows


def print_precision_table(rows: list[dict]) -> None:
    print("\nmachine:", machine())
    print(f"\n{'size':>5} | {'optimiser':>9} | {'fp32 ms/step':>12} | {'auto ms/step':>12} | "
          f"{'fp32/auto':>9} | auto chose")
    for r in rows:
        print(f"{r['size']:>5} | {r['optimiser']:>9} | {r['fp32_ms']:>12.0f} | {r['auto_ms']:>12.0f} | "
              f"{r['fp32_ms'] / r['auto_ms']:>8.2f}x | {r['auto']}")


def print_table(rows: list[dict]) -> None:
    def t(x):
        return "not reached" if x is None else f"{x:.1f} s"

    print(f"\n{'size':>5} | {'tutorial ms/step':>16} | {'engine ms/step':>14} | {'ratio':>5} | "
          f"{'+MB tut/eng':>15} | {'tutorial time':>13} | {'engine c2f':>10} | {'engine 1-scale':>14} | speed-up")
    for r in rows:
        b, c = r["baseline"], r["coarse-to-fine"]
        single = r.get("single scale")
        speed = b["seconds"] / c["reached_s"] if c["reached_s"] else float("nan")
        print(f"{r['size']:>5} | {b['ms_per_step']:>16.0f} | {r['engine_ms_per_step']:>14.0f} | "
              f"{b['ms_per_step'] / r['engine_ms_per_step']:>5.2f} | {b['peak_mb']:>7.0f}/{c['peak_mb']:<7.0f} | "
              f"{b['seconds']:>11.1f} s | {t(c['reached_s']):>10} | "
              f"{t(single['reached_s']) if single else '-':>14} | {speed:.1f}x")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--steps", type=int, default=300, help="the tutorial's num_steps")
    p.add_argument("--coarse-steps", type=int, default=150, help="engine steps at half size")
    p.add_argument("--max-steps", type=int, default=300, help="engine's cap at full size")
    p.add_argument("--no-single", action="store_true", help="skip the engine's single-scale run")
    p.add_argument("--quick", action="store_true", help="64 and 128 px, 100 steps, no single-scale run")
    p.add_argument("--precision-only", action="store_true",
                   help="only the fp32 against precision='auto' timing (CPU), at --sizes")
    p.add_argument("--device", default=None,
                   help="'cuda': per-step cost of each engine variant on a GPU (bench_transfer_device.py); "
                        "'cpu' runs that mode on the CPU as a dry run")
    p.add_argument("--json", default=None, help="(--device) also write the figures to this JSON file")
    p.add_argument("--memory-probe-sizes", type=int, nargs="*", default=[256],
                   help="(--device) sizes at which one eager step's peak memory is measured with "
                        "cuDNN's benchmark mode on and off")
    p.add_argument("--profile-sizes", type=int, nargs="*", default=[512],
                   help="(--device) sizes at which one eager step is profiled")
    args = p.parse_args(argv)
    if args.device is not None:
        import bench_transfer_device

        if args.sizes == [128, 256]:
            args.sizes = [256, 512, 1024]
        return bench_transfer_device.run_device(args, equivalent_config, tutorial_cnn)
    if args.quick:
        args.sizes, args.steps, args.coarse_steps, args.max_steps, args.no_single = [64, 128], 100, 50, 100, True
    torch.manual_seed(0)
    print("machine:", machine())
    rows = [] if args.precision_only else [bench_size(s, args) for s in args.sizes]
    print_precision_table([r for s in args.sizes for r in precision_table(s)])
    if rows:
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
