"""Benchmark: the course engine (``course_utils.transfer``) against the PyTorch tutorial loop.

Both run in this one process, on the same images, the same machine, the same feature
network (the offline fallback: seeded random VGG19, ``FeatureExtractor(weights="random")``)
and the **same objective**: the tutorial's (content ``conv4_2``, style ``conv1_1 … conv5_1``,
MSE of ``a·b·c·d``-normalised Grams, ``style_weight=1e6``, ``content_weight=1``, no TV).
The course engine uses scale-free relative losses, so it is given per-layer weights that
make its objective *equal* to the tutorial's (``‖S_l‖² / C_l⁴ · 1e6`` per style layer,
``‖F_c‖² / N`` for content); the script checks the two agree on the starting image.

For each size it prints:

* **ms per step** (one forward + backward pass) of each, at that size, and their ratio;
* **peak memory**: the extra resident memory a run needs (peak resident set minus the
  resident set at its start, reset before each run; Linux ``/proc``);
* **time to quality**: the seconds each needs to reach the tutorial objective's value
  (evaluated at full size on the same network) that the tutorial loop reaches after its
  300 "steps" (its ``run[0]`` counter: closure calls, about 320 with ``max_iter=20``).
  The engine runs coarse-to-fine (half size, then full size; sigmoid pixels, L-BFGS
  without line search) and stops as soon as its full-size loss is at or below that
  target; a single-scale run of the engine is also timed, to separate the two effects
  (no hard clamp vs. coarse-to-fine);
* **fp32 against precision="auto"**: the engine's ms per step (median) with its network in
  float32 and with what ``precision="auto"`` chooses on this CPU (bfloat16 only where the
  CPU has ``amx_bf16`` or ``avx512_bf16``, see ``course_utils.accel``), for L-BFGS and Adam,
  run alternately twice (the better median of the two counts), with the precision chosen
  and why. ``--precision-only`` runs just this part (a few minutes).

Usage::

    .venv/bin/python benchmarks/bench_transfer.py            # 128 and 256 px (~10-15 min)
    .venv/bin/python benchmarks/bench_transfer.py --quick    # 64 and 128 px, 100 steps
    .venv/bin/python benchmarks/bench_transfer.py --sizes 256 --coarse-steps 150
    .venv/bin/python benchmarks/bench_transfer.py --precision-only   # fp32 vs auto, 128 and 256 px
    python benchmarks/bench_transfer.py --device cuda          # GPU: 256, 512, 1024 px, per variant

Timings on a shared machine are noisy: both contenders run in the same process, one after
the other, and the script prints the machine and the load average it saw.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torchvision.models.vgg import cfgs, make_layers

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the baseline next to this file
import tutorial_baseline as tut  # noqa: E402

from course_utils import accel, data, features, images, losses, transfer  # noqa: E402

CONTENT = "conv4_2"
STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
MEAN, STD = features.IMAGENET_MEAN, features.IMAGENET_STD


# ------------------------------------------------------------------------------ memory
def reset_peak_rss() -> None:
    import gc

    gc.collect()
    try:  # Linux: writing 5 resets VmHWM (the peak resident set) of this process
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    _RSS_AT_RESET[0] = _status_mb("VmRSS")


def _status_mb(key: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set since the last :func:`reset_peak_rss`, minus the resident set at
    that reset: the extra memory one run needed (MB)."""
    return _status_mb("VmHWM") - _RSS_AT_RESET[0]


_RSS_AT_RESET = [0.0]


# ------------------------------------------------------------------------------ set-up
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
    style_w = {}
    for name in STYLE:
        c = fs[name].shape[1]
        style_w[name] = 1e6 * losses.gram_matrix(fs[name]).pow(2).sum().item() / c**4
    return base.replace(content_layers=content_w, style_layers=style_w, content_weight=1.0,
                        style_weight=1.0, tv_weight=0.0)


def tutorial_objective(cnn, content, style, image) -> float:
    return tut.tutorial_loss(cnn, content, style, image, [tut.PAPER_TO_TUTORIAL[CONTENT]],
                             [tut.PAPER_TO_TUTORIAL[s] for s in STYLE])


# ------------------------------------------------------------------------------- runs
def run_baseline(cnn, content, style, steps: int) -> dict:
    evals: list[tuple[float, float]] = []
    t0 = time.perf_counter()
    reset_peak_rss()
    out, n = tut.run_style_transfer(
        cnn, MEAN, STD, content, style, content.clone(), num_steps=steps,
        content_layers=[tut.PAPER_TO_TUTORIAL[CONTENT]],
        style_layers=[tut.PAPER_TO_TUTORIAL[s] for s in STYLE],
        on_eval=lambda run, loss: evals.append((time.perf_counter() - t0, loss)))
    seconds = time.perf_counter() - t0
    return {"image": out.detach(), "evals": n, "seconds": seconds, "curve": evals,
            "ms_per_step": 1000 * seconds / n, "peak_mb": peak_rss_mb()}


def run_ours(content, style, cfg: transfer.TransferConfig, target: float, scales, steps) -> dict:
    full = tuple(content.shape[-2:])
    reached: list[float] = []
    t0 = time.perf_counter()

    def stop_at_target(step, image, losses_now):
        if tuple(image.shape[-2:]) == full and losses_now["total"] <= target:
            reached.append(time.perf_counter() - t0)
            return True
        return None

    reset_peak_rss()
    res = transfer.stylise(content, style, cfg, scales=scales, steps=steps, callback=stop_at_target)
    seconds = time.perf_counter() - t0
    h = res.history
    last = len(scales) - 1
    times = [t for t, s in zip(h["time"], h["scale"], strict=True) if s == last]
    per_step = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {"result": res, "seconds": seconds, "reached_s": reached[0] if reached else None,
            "steps": res.steps_done, "ms_per_step": 1000 * statistics.median(per_step) if per_step else float("nan"),
            "peak_mb": peak_rss_mb(), "final_loss": h["total"][-1]}


def bench_size(size: int, args) -> dict:
    content = images.resize(data.content_image("chelsea"), (size, size))
    style = images.resize(data.style_image("swirl"), (size, size))
    cnn = tutorial_cnn()
    cfg = equivalent_config(content, style)
    obj = transfer.Objective(transfer.feature_network(cfg), content, [style], [1.0], cfg)
    with torch.no_grad():
        ours0 = obj(content)[0].item()
    tut0 = tutorial_objective(cnn, content, style, content)
    print(f"\n[{size} px] objective at the content image: tutorial {tut0:.6g}, engine {ours0:.6g} "
          f"(relative difference {abs(ours0 - tut0) / tut0:.1e})", flush=True)

    base = run_baseline(cnn, content, style, args.steps)
    target = tutorial_objective(cnn, content, style, base["image"])
    print(f"  baseline: {base['evals']} evaluations in {base['seconds']:.1f} s, final loss {target:.6g}",
          flush=True)
    curve = [loss for _, loss in base["curve"]]
    marks = [k for k in (1, 10, 50, 100, 200, 300) if k <= len(curve)]
    rises = sum(b > 1.2 * a for a, b in zip(curve, curve[1:], strict=False))
    print("  baseline loss at evaluation " + ", ".join(f"{k}: {curve[k - 1]:.4g}" for k in marks)
          + f"; evaluations where the loss rose >20 %: {rises}", flush=True)
    out = {"size": size, "baseline": base, "target": target}
    # The engine's per-step cost at full size, measured on its own: a run that reaches the
    # target after a few full-size steps gives no usable median.
    timing = transfer.stylise(content, style, cfg, steps=12)
    per_step = [b - a for a, b in zip(timing.history["time"][1:], timing.history["time"][2:], strict=False)]
    out["engine_ms_per_step"] = 1000 * statistics.median(per_step)
    print(f"  engine: {out['engine_ms_per_step']:.0f} ms per full-size step (median of {len(per_step)})", flush=True)
    schedules = [("coarse-to-fine", (0.5, 1.0), (args.coarse_steps, args.max_steps))]
    if not args.no_single:
        schedules.append(("single scale", (1.0,), args.max_steps))
    for label, scales, steps in schedules:
        r = run_ours(content, style, cfg, target, scales, steps)
        check = tutorial_objective(cnn, content, style, r["result"].image)
        print(f"  engine, {label}: {r['steps']} steps in {r['seconds']:.1f} s, "
              f"reached the target at {r['reached_s'] if r['reached_s'] is None else round(r['reached_s'], 1)} s; "
              f"its image scores {check:.6g} on the tutorial's objective", flush=True)
        out[label] = r
    return out


def precision_timing(content, style, cfg: transfer.TransferConfig, steps: int = 8, rounds: int = 2) -> list[dict]:
    """ms per step (median over a run's steps, the better of ``rounds`` alternating runs)
    with the network in fp32 and as ``precision="auto"`` chooses, per optimiser."""
    rows = []
    for optimiser in ("lbfgs", "adam"):
        c = cfg.replace(optimiser=optimiser)
        best = {"fp32": float("inf"), "auto": float("inf")}
        for _ in range(rounds):
            for precision in best:
                r = transfer.stylise(content, style, c, steps=steps, precision=precision)
                t = r.history["time"]
                best[precision] = min(best[precision], 1000 * statistics.median([b - a for a, b in zip(t[1:], t[2:], strict=False)]))
        rows.append({"optimiser": optimiser, "fp32_ms": best["fp32"], "auto_ms": best["auto"],
                     "auto": accel.plan(c, torch.device("cpu")).describe_fast()})
    return rows


def precision_table(size: int) -> list[dict]:
    content = images.resize(data.content_image("chelsea"), (size, size))
    style = images.resize(data.style_image("swirl"), (size, size))
    rows = precision_timing(content, style, equivalent_config(content, style))
    for r in rows:
        r["size"] = size
        print(f"  [{size} px, {r['optimiser']}] fp32 {r['fp32_ms']:.0f} ms/step, auto {r['auto_ms']:.0f} ms/step "
              f"({r['fp32_ms'] / r['auto_ms']:.2f}x); auto = {r['auto']}", flush=True)
    return rows


def print_precision_table(rows: list[dict]) -> None:
    print(f"\n{'size':>5} | {'optimiser':>9} | {'fp32 ms/step':>12} | {'auto ms/step':>12} | "
          f"{'fp32/auto':>9} | auto chose")
    for r in rows:
        print(f"{r['size']:>5} | {r['optimiser']:>9} | {r['fp32_ms']:>12.0f} | {r['auto_ms']:>12.0f} | "
              f"{r['fp32_ms'] / r['auto_ms']:>8.2f}x | {r['auto']}")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    caps = torch.cpu.get_capabilities()
    flags = ", ".join(f"{f} {'yes' if caps.get(f) else 'no'}" for f in (*accel.CPU_BF16_FLAGS, "amx_tile", "avx512_f"))
    return (f"{cpu}; {os.cpu_count()} cores; flags: {flags}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; load average {', '.join(f'{x:.1f}' for x in load)}")


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
    p.add_argument("--compile-sizes", type=int, nargs="*", default=[256, 512, 1024],
                   help="(--device) sizes at which the torch.compile variant is timed")
    p.add_argument("--autotune-sizes", type=int, nargs="*", default=[512],
                   help="(--device) sizes at which torch.compile's max-autotune mode is also timed "
                        "(minutes of compilation; the last variant of its size)")
    p.add_argument("--memory-probe-sizes", type=int, nargs="*", default=[256],
                   help="(--device) sizes at which one eager step's peak memory is measured with "
                        "cuDNN's benchmark mode on and off")
    p.add_argument("--profile-sizes", type=int, nargs="*", default=[512],
                   help="(--device) sizes at which one eager step is profiled")
    p.add_argument("--quality-size", type=int, default=512,
                   help="(--device) size at which fp32 and the fast path's results are compared")
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
    if args.precision_only:
        prec = [r for s in args.sizes for r in precision_table(s)]
        print("\nmachine:", machine())
        print_precision_table(prec)
        return 0
    rows = [bench_size(s, args) for s in args.sizes]
    prec = [r for s in args.sizes for r in precision_table(s)]
    print("\nmachine:", machine())
    print_precision_table(prec)
    print(f"\n{'size':>5} | {'tutorial ms/step':>16} | {'engine ms/step':>14} | {'ratio':>5} | "
          f"{'+MB tut/eng':>15} | {'tutorial time':>13} | {'engine c2f':>10} | {'engine 1-scale':>14} | speed-up")
    for r in rows:
        b, c = r["baseline"], r["coarse-to-fine"]
        single = r.get("single scale")

        def t(x):
            return "not reached" if x is None else f"{x:.1f} s"

        speed = b["seconds"] / c["reached_s"] if c["reached_s"] else float("nan")
        print(f"{r['size']:>5} | {b['ms_per_step']:>16.0f} | {r['engine_ms_per_step']:>14.0f} | "
              f"{b['ms_per_step'] / r['engine_ms_per_step']:>5.2f} | {b['peak_mb']:>7.0f}/{c['peak_mb']:<7.0f} | "
              f"{b['seconds']:>11.1f} s | {t(c['reached_s']):>10} | "
              f"{t(single['reached_s']) if single else '-':>14} | {speed:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
