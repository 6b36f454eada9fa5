"""``bench_transfer.py --device cuda``: the engine's per-step cost on a GPU, variant by variant.

Same images and objective as the CPU benchmark (seeded random VGG19: timing does not depend
on the weights). For each size it times ``tutorial`` (``tutorial_baseline.py``: fp32, eager,
L-BFGS) and the engine one optimisation at a time: ``fp32 eager`` (Adam, the plain loop),
``bf16+CL eager`` (bf16 network, channels-last), ``bf16+CL+graphs`` (what ``stylise`` picks
by itself on a GPU), ``+compile``, the L-BFGS rows (eager: ``course_utils/accel.py`` says
why) and, last and only at :data:`AUTOTUNE_SIZES`, ``+max-autotune``.

Per variant: **ms per step** in steady state (the difference of the wall times of two runs
of different lengths over the difference of their step counts, so set-up and graph
recording cancel), the ratio against the tutorial, **peak GPU memory**, **TFLOP/s** (one
step's FLOPs by ``torch.utils.flop_counter`` over that time) and **300 steps end to end**.
At :data:`QUALITY_SIZE` both 300-step results are scored by the fp32 objective.
``--device cpu --sizes 32 48`` is a dry run on a CPU (without the bf16 and graph rows).
"""

from __future__ import annotations

import gc
import json
import math
import platform
import time
import traceback

import torch
import tutorial_baseline as tut
from _common import fp32_objective, pictures
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from course_utils import accel, features, transfer
from course_utils.files import atomic_path
from course_utils.objective import Objective

STEPS_SHORT, STEPS_LONG = 20, 120
COMPILE_SIZES = (256, 512, 1024)
#: max-autotune compiles for minutes: timed only here, after everything else of its size
AUTOTUNE_SIZES = (512,)
AUTOTUNE = ("bf16+CL+graphs+max-autotune", {"compile": "max-autotune-no-cudagraphs"})
QUALITY_SIZE = 512
VARIANTS = {
    "fp32 eager": dict(precision="fp32", channels_last=False, cuda_graphs=False),
    "fp32+graphs": dict(precision="fp32", channels_last=False, cuda_graphs=True),
    "bf16+CL eager": dict(precision="bf16", channels_last=True, cuda_graphs=False),
    "bf16+CL+graphs (auto)": dict(),
    "bf16+CL+graphs+compile": dict(compile=True),
    "L-BFGS bf16+CL eager": dict(optimiser="lbfgs", precision="bf16", channels_last=True),
    "L-BFGS bf16+CL, history 10": dict(optimiser="lbfgs", precision="bf16", channels_last=True,
                                       history_size=10),
}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _reset_peak(dev: torch.device) -> None:
    gc.collect()  # the last run's graph and its memory pool go before the peak is reset
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def _peak_mb(dev: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None


def _wall(dev: torch.device, fn, *args, **kwargs) -> tuple[object, float]:
    """``fn(*args, **kwargs)`` and the seconds it took, the device synchronised around it."""
    _sync(dev)
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    _sync(dev)
    return out, time.perf_counter() - t0


def _eager_step(objective, x: torch.Tensor, to_pixels=None) -> None:
    x.grad = None
    total, _ = objective(x if to_pixels is None else to_pixels(x))
    total.backward()


def step_flops(cfg: transfer.TransferConfig, content: torch.Tensor, style: torch.Tensor) -> int:
    """FLOPs of one step of the engine's objective (forward + backward to the pixels), fp32."""
    obj, dev = fp32_objective(cfg, content, style)
    x = content.to(dev).clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        _eager_step(obj, x)
    return counter.get_total_flops()


def time_tutorial(tutorial_cnn, content, style, dev) -> dict:
    cnn, content, style = tutorial_cnn().to(dev), content.to(dev), style.to(dev)
    # as the tutorial does: cnn_normalization_mean = torch.tensor([...]).to(device)
    mean = torch.tensor(features.IMAGENET_MEAN, device=dev)
    std = torch.tensor(features.IMAGENET_STD, device=dev)

    def run(steps):
        return tut.run_style_transfer(cnn, mean, std, content, style, content.clone(), num_steps=steps)[1]

    run(5)  # warm-up: cuDNN picks its algorithms
    _reset_peak(dev)
    n1, t1 = _wall(dev, run, STEPS_SHORT)
    n2, t2 = _wall(dev, run, STEPS_LONG)
    return {"ms_per_step": 1000 * (t2 - t1) / (n2 - n1), "peak_mem_mb": _peak_mb(dev)}


def time_engine(content, style, cfg, dev) -> dict:
    """Steady-state ms/step of ``stylise`` with ``cfg`` (two lengths), peak memory, and the
    wall time of a 300-step call."""
    first = _wall(dev, transfer.stylise, content, style, cfg, steps=STEPS_SHORT)[1]  # warm-up/compile
    _reset_peak(dev)
    t1 = _wall(dev, transfer.stylise, content, style, cfg, steps=STEPS_SHORT)[1]
    t2 = _wall(dev, transfer.stylise, content, style, cfg, steps=STEPS_LONG)[1]
    peak = _peak_mb(dev)
    res, t300 = _wall(dev, transfer.stylise, content, style, cfg, steps=300)
    return {"ms_per_step": 1000 * (t2 - t1) / (STEPS_LONG - STEPS_SHORT), "peak_mem_mb": peak,
            "end_to_end_300_s": t300, "first_call_s": first, "result": res}


def planned_objective(cfg: transfer.TransferConfig, p: accel.Plan, content, style, dev) -> Objective:
    """The engine's objective with its network prepared as the plan ``p`` says."""
    net = accel.prepare_network(transfer.feature_network(cfg), p)
    return Objective(net, content.to(dev), [style.to(dev)], [1.0], cfg, accel.style_loss_for(p))


def profile_step(cfg: transfer.TransferConfig, content: torch.Tensor, style: torch.Tensor, dev: torch.device,
                 steps: int = 3, rows: int = 18) -> str:
    """Where the time of one eager step goes (the graphed step runs the same kernels)."""
    p = accel.plan(cfg.replace(cuda_graphs=False), dev)
    obj = accel.compiled(planned_objective(cfg, p, content, style, dev), p)
    z = torch.logit(content.to(dev).clamp(1e-3, 1 - 1e-3)).requires_grad_(True)
    for _ in range(3):
        _eager_step(obj, z, torch.sigmoid)
    _sync(dev)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            _eager_step(obj, z, torch.sigmoid)
        _sync(dev)
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def memory_probe(cfg: transfer.TransferConfig, content: torch.Tensor, style: torch.Tensor,
                 dev: torch.device) -> dict:
    """Peak memory of one eager step with cuDNN's benchmark mode on and off, per precision
    (the workspace of the algorithm that benchmark mode chose is allocated on every call)."""
    out = {}
    for precision in ("fp32", "bf16"):
        for bench_mode in (True, False):
            p = accel.plan(cfg.replace(precision=precision, channels_last=precision == "bf16",
                                       cuda_graphs=False), dev)
            obj = planned_objective(cfg, p, content, style, dev)
            torch.backends.cudnn.benchmark = bench_mode  # after prepare_network, which sets it
            x = content.to(dev).clone().requires_grad_(True)
            for _ in range(3):
                _eager_step(obj, x)
            _sync(dev)
            _reset_peak(dev)
            base = torch.cuda.memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0
            _eager_step(obj, x)
            _sync(dev)
            peak = _peak_mb(dev)
            key = f"{precision}, cudnn.benchmark={bench_mode}"
            out[key] = None if peak is None else peak - base
            print(f"  memory probe: one eager step, {key}: "
                  f"{'-' if peak is None else f'{peak - base:.0f} MB above the {base:.0f} MB held'}", flush=True)
    torch.backends.cudnn.benchmark = True
    return out


def attempt(report: dict, what: str, fn, *args):
    """``fn(*args)``, or ``None`` after printing its error and adding it to the report's
    errors: a benchmark reports and goes on."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        report["errors"].append(f"{what}: {exc!r}")
        return None


def run_device(args, equivalent_config, tutorial_cnn) -> int:
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
    print(f"device: {name}; torch {torch.__version__}; sizes {args.sizes}", flush=True)
    report = {"device": name, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/bench_transfer.py --device " + args.device
                         + " --sizes " + " ".join(map(str, args.sizes)),
              "rows": [], "quality": None, "errors": []}
    for size in args.sizes:
        content, style = pictures(size)
        cfg = equivalent_config(content, style).replace(device=str(dev), optimiser="adam", progress=False)
        bench_size(size, content, style, cfg, tutorial_cnn, args, report)
    print_table(report)
    _write_json(report, args.json)
    if args.json:
        print("wrote", args.json)
    return 0


def bench_size(size: int, content, style, base_cfg, tutorial_cnn, args, report: dict) -> None:
    """Every row of one size; the JSON is written again after each, so a run cut short keeps it."""
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    flops = step_flops(base_cfg, content, style)
    print(f"\n[{size} px] one step = {flops / 1e9:.1f} GFLOP (forward + input-backward)", flush=True)
    b = attempt(report, f"{size} tutorial", time_tutorial, tutorial_cnn, content, style, dev)
    baseline_ms, peak = (b["ms_per_step"], b["peak_mem_mb"]) if b else (float("nan"), None)
    report["rows"].append({"size": size, "variant": "tutorial (fp32, L-BFGS)", "ms_per_step": baseline_ms,
                           "peak_mem_mb": peak, "tflops": flops / baseline_ms / 1e9,
                           "ratio_vs_baseline": 1.0, "note": "tutorial_baseline.py"})
    print(f"  tutorial: {baseline_ms:.3f} ms/step", flush=True)
    results = {}

    def measure(label: str, cfg: transfer.TransferConfig) -> None:
        r = attempt(report, f"{size} {label}", time_engine, content, style, cfg, dev)
        if r is None:
            return
        results[label] = r
        used = r["result"]
        note = (f"{used.plan.describe()}, optimiser={used.config.optimiser}; "
                f"300 steps end to end {r['end_to_end_300_s']:.3f} s; first call {r['first_call_s']:.1f} s")
        ms, tflops = r["ms_per_step"], flops / r["ms_per_step"] / 1e9
        report["rows"].append({"size": size, "variant": label, "ms_per_step": ms, "peak_mem_mb": r["peak_mem_mb"],
                               "tflops": tflops, "ratio_vs_baseline": baseline_ms / ms, "note": note})
        print(f"  {label}: {ms:.3f} ms/step (×{baseline_ms / ms:.1f} vs tutorial), {tflops:.1f} TFLOP/s; {note}",
              flush=True)
        _write_json(report, args.json)

    for label, over in VARIANTS.items():
        if not cuda and ("bf16" in label or "graphs" in label or "L-BFGS" in label):
            continue  # a CPU has neither: the dry run checks the rest
        if "compile" not in label or size in COMPILE_SIZES:
            measure(label, base_cfg.replace(**over))
    if size in args.memory_probe_sizes:
        probe = attempt(report, f"{size} memory probe", memory_probe, base_cfg, content, style, dev)
        if probe is not None:
            report.setdefault("memory_probe", {})[str(size)] = probe
    if size in args.profile_sizes:
        profiled = base_cfg.replace(precision="auto", channels_last=None, compile=cuda)
        table = attempt(report, f"{size} profile", profile_step, profiled, content, style, dev)
        if table is not None:
            print(f"\n  profile of one eager step at {size} px (3 steps, compiled: {cuda}):\n{table}", flush=True)
            report.setdefault("profiles", {})[str(size)] = table
    fast_label = "bf16+CL+graphs (auto)" if cuda else "fp32 eager"
    if size == QUALITY_SIZE and "fp32 eager" in results and fast_label in results:
        report["quality"] = quality(base_cfg, content, style, results["fp32 eager"]["result"],
                                    results[fast_label]["result"], fast_label)
    _write_json(report, args.json)
    if cuda and size in AUTOTUNE_SIZES:  # last of its size: a run cut short keeps the rest
        measure(AUTOTUNE[0], base_cfg.replace(**AUTOTUNE[1]))


def _write_json(report: dict, path: str | None) -> None:
    if path:
        with atomic_path(path) as tmp:  # whole or not at all
            tmp.write_text(json.dumps(report, indent=1))


def quality(cfg, content, style, ref: transfer.TransferResult, fast: transfer.TransferResult, label: str) -> dict:
    """Score both 300-step results with the fp32 objective; compare losses and pixels."""
    obj, dev = fp32_objective(cfg, content, style)
    with torch.no_grad():
        l_ref = obj(ref.image.to(dev))[0].item()
        l_fast = obj(fast.image.to(dev))[0].item()
        l_start = obj(content.to(dev))[0].item()
    mse = (ref.image - fast.image).pow(2).mean().item()
    q = {"variant": label, "steps": 300, "loss_start": l_start, "loss_fp32": l_ref, "loss_fast": l_fast,
         "relative_loss_difference": abs(l_fast - l_ref) / l_ref,
         "psnr_db": 10 * math.log10(1 / mse) if mse > 0 else float("inf"),
         "mean_abs_pixel_difference": (ref.image - fast.image).abs().mean().item()}
    print(f"\n  quality at {content.shape[-1]} px after 300 Adam steps (fp32 objective): start {l_start:.5g}, "
          f"fp32 {l_ref:.5g}, {label} {l_fast:.5g} (relative difference {q['relative_loss_difference']:.2%}); "
          f"images: PSNR {q['psnr_db']:.1f} dB, mean |Δ| {q['mean_abs_pixel_difference']:.4f}", flush=True)
    return q


def print_table(report: dict) -> None:
    print(f"\n{report['device']}, torch {report['torch']}")
    print(f"{'size':>5} | {'variant':<26} | {'ms/step':>8} | {'× tutorial':>10} | {'peak MB':>8} | {'TFLOP/s':>7}")
    for r in report["rows"]:
        peak = "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
        print(f"{r['size']:>5} | {r['variant']:<26} | {r['ms_per_step']:>8.3f} | {r['ratio_vs_baseline']:>10.2f} | "
              f"{peak:>8} | {r['tflops']:>7.1f}")
    for e in report["errors"]:
        print("error:", e)
