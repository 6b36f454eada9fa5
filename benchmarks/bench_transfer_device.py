"""``bench_transfer.py --device cuda``: the engine's per-step cost on a GPU, variant by variant.

In one process, on the same images and the same objective as the CPU benchmark (the
PyTorch tutorial's: content ``conv4_2``, style ``conv1_1 … conv5_1``, seeded random VGG19,
timing does not depend on the weights), for each size it measures:

* ``tutorial``: the tutorial-faithful loop (``tutorial_baseline.py``: fp32, eager, L-BFGS,
  loss modules inside a copy of the network, clamp in every closure);
* the engine, one optimisation at a time: ``fp32 eager`` (Adam, the plain loop),
  ``bf16+CL eager`` (bf16 network, channels-last), ``bf16+CL+graphs`` (what
  ``stylise`` picks by itself on a GPU), ``+compile`` (``torch.compile`` inside the graph),
  ``L-BFGS bf16+CL`` (eager: see ``course_utils/accel.py`` for why L-BFGS is not graphed)
  and, last and only at ``--autotune-sizes``, ``+max-autotune`` (``torch.compile``'s
  ``max-autotune-no-cudagraphs`` mode: Triton templates timed against cuDNN per layer).

Per variant: **ms per step** in steady state (two runs of different lengths; the
difference of their wall times over the difference of their step counts, so set-up,
targets and graph recording cancel), the ratio against the tutorial, **peak GPU memory**,
**achieved TFLOP/s** (the FLOPs of one forward + input-backward step counted by
``torch.utils.flop_counter`` over the measured time), and **300 steps end to end** (wall
time of one ``stylise`` call, targets and recording included; compilation excluded and
reported separately). At 512 px it also checks that the fast path's result is equivalent
to fp32: both images after 300 Adam steps are scored by the fp32 objective.

``--device cpu --sizes 32 48`` runs the same script on a CPU (no bf16 and no graphs there:
those rows are skipped), to check the script itself before spending GPU time.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import traceback

import torch
import tutorial_baseline as tut
from torch.utils.flop_counter import FlopCounterMode

from course_utils import data, features, images, transfer

STEPS_SHORT, STEPS_LONG = 20, 120
#: timed only at ``--autotune-sizes``, after everything else of its size
AUTOTUNE = ("bf16+CL+graphs+max-autotune", {"compile": "max-autotune-no-cudagraphs"})


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _reset_peak(dev: torch.device) -> None:
    import gc

    gc.collect()  # the last run's graph and its memory pool go before the peak is reset
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def _peak_mb(dev: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None


def _wall(fn, dev) -> tuple[object, float]:
    _sync(dev)
    t0 = time.perf_counter()
    out = fn()
    _sync(dev)
    return out, time.perf_counter() - t0


def step_flops(cfg: transfer.TransferConfig, content: torch.Tensor, style: torch.Tensor) -> int:
    """FLOPs of one step of the engine's objective (forward + backward to the pixels), fp32."""
    c = cfg.replace(precision="fp32", channels_last=False, cuda_graphs=False)
    net = transfer.feature_network(c)
    dev = next(net.parameters()).device
    obj = transfer.Objective(net, content.to(dev), [style.to(dev)], [1.0], c)
    x = content.to(dev).clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        total, _ = obj(x)
        total.backward()
    return counter.get_total_flops()


def time_tutorial(cnn, content, style, dev, evals_short, evals_long) -> dict:
    # as the tutorial does: cnn_normalization_mean = torch.tensor([...]).to(device)
    mean = torch.tensor(features.IMAGENET_MEAN, device=dev)
    std = torch.tensor(features.IMAGENET_STD, device=dev)

    def run(steps):
        out, n = tut.run_style_transfer(cnn, mean, std, content, style, content.clone(), num_steps=steps,
                                        content_layers=["conv_10"],
                                        style_layers=["conv_1", "conv_3", "conv_5", "conv_9", "conv_13"])
        return n

    run(5)  # warm-up: cuDNN picks its algorithms
    _reset_peak(dev)
    n1, t1 = _wall(lambda: run(evals_short), dev)
    n2, t2 = _wall(lambda: run(evals_long), dev)
    return {"ms_per_step": 1000 * (t2 - t1) / (n2 - n1), "peak_mem_mb": _peak_mb(dev),
            "evals": (n1, n2)}


def time_engine(content, style, cfg, dev) -> dict:
    """Steady-state ms/step of ``stylise`` with ``cfg`` (two lengths), peak memory, and the
    wall time of a 300-step call."""
    first = _wall(lambda: transfer.stylise(content, style, cfg, steps=STEPS_SHORT), dev)[1]  # warm-up/compile
    _reset_peak(dev)
    _, t1 = _wall(lambda: transfer.stylise(content, style, cfg, steps=STEPS_SHORT), dev)
    _, t2 = _wall(lambda: transfer.stylise(content, style, cfg, steps=STEPS_LONG), dev)
    peak = _peak_mb(dev)
    res, t300 = _wall(lambda: transfer.stylise(content, style, cfg, steps=300), dev)
    return {"ms_per_step": 1000 * (t2 - t1) / (STEPS_LONG - STEPS_SHORT), "peak_mem_mb": peak,
            "end_to_end_300_s": t300, "first_call_s": first, "result": res}


def profile_step(cfg: transfer.TransferConfig, content: torch.Tensor, style: torch.Tensor, dev: torch.device,
                 steps: int = 3, rows: int = 18) -> str:
    """Where the time of one eager step goes (the graphed step runs the same kernels)."""
    from torch.profiler import ProfilerActivity, profile

    from course_utils import accel

    p = accel.plan(cfg.replace(cuda_graphs=False), dev)
    net = accel.prepare_network(transfer.feature_network(cfg), p)
    obj = accel.compiled(transfer.Objective(net, content.to(dev), [style.to(dev)], [1.0], cfg,
                                            accel.style_loss_for(p)), p)
    z = torch.logit(content.to(dev).clamp(1e-3, 1 - 1e-3)).requires_grad_(True)

    def one():
        z.grad = None
        total, _ = obj(torch.sigmoid(z))
        total.backward()

    for _ in range(3):
        one()
    _sync(dev)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            one()
        _sync(dev)
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def _eager_step(objective, x: torch.Tensor) -> None:
    x.grad = None
    total, _ = objective(x)
    total.backward()


def memory_probe(cfg: transfer.TransferConfig, content: torch.Tensor, style: torch.Tensor,
                 dev: torch.device) -> dict:
    """Peak memory of one eager step with cuDNN's benchmark mode on and off, per precision.

    The table's eager bf16 variant peaked far above fp32 at 256 px (1071 vs 286 MB on an
    H200) although the warm-up runs before the peak is reset. The suspect is the workspace
    of the algorithm that benchmark mode *chose* (fastest, whatever its workspace), which
    every later call allocates again; this measures it directly.
    """
    from course_utils import accel

    out = {}
    for precision in ("fp32", "bf16"):
        for bench_mode in (True, False):
            p = accel.plan(cfg.replace(precision=precision, channels_last=precision == "bf16",
                                       cuda_graphs=False), dev)
            net = accel.prepare_network(transfer.feature_network(cfg), p)
            torch.backends.cudnn.benchmark = bench_mode  # after prepare_network, which sets it
            obj = transfer.Objective(net, content.to(dev), [style.to(dev)], [1.0], cfg, accel.style_loss_for(p))
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


def run_device(args, equivalent_config, tutorial_cnn) -> int:
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(dev)
    else:
        name = platform.processor() or platform.machine()
    print(f"device: {name}; torch {torch.__version__}; sizes {args.sizes}", flush=True)
    report = {"device": name, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/bench_transfer.py --device " + args.device
                         + " --sizes " + " ".join(map(str, args.sizes)),
              "rows": [], "quality": None, "errors": []}
    variants = [
        ("fp32 eager", dict(precision="fp32", channels_last=False, cuda_graphs=False)),
        ("fp32+graphs", dict(precision="fp32", channels_last=False, cuda_graphs=True)),
        ("bf16+CL eager", dict(precision="bf16", channels_last=True, cuda_graphs=False)),
        ("bf16+CL+graphs (auto)", dict()),
        ("bf16+CL+graphs+compile", dict(compile=True)),
        ("L-BFGS bf16+CL eager", dict(optimiser="lbfgs", precision="bf16", channels_last=True)),
        ("L-BFGS bf16+CL, history 10", dict(optimiser="lbfgs", precision="bf16", channels_last=True,
                                            history_size=10)),
    ]
    for size in args.sizes:
        content = images.resize(data.content_image("chelsea"), (size, size))
        style = images.resize(data.style_image("swirl"), (size, size))
        base_cfg = equivalent_config(content, style).replace(device=str(dev), optimiser="adam", progress=False)
        flops = step_flops(base_cfg, content, style)
        print(f"\n[{size} px] one step = {flops / 1e9:.1f} GFLOP (forward + input-backward)", flush=True)
        try:
            cnn = tutorial_cnn().to(dev)
            b = time_tutorial(cnn, content.to(dev), style.to(dev), dev, STEPS_SHORT, STEPS_LONG)
            del cnn
        except Exception as exc:  # noqa: BLE001 - a benchmark reports and goes on
            traceback.print_exc()
            report["errors"].append(f"{size} tutorial: {exc!r}")
            b = {"ms_per_step": float("nan"), "peak_mem_mb": None}
        report["rows"].append({"size": size, "variant": "tutorial (fp32, L-BFGS)", "ms_per_step": b["ms_per_step"],
                               "peak_mem_mb": b["peak_mem_mb"], "tflops": flops / b["ms_per_step"] / 1e9,
                               "ratio_vs_baseline": 1.0, "note": "tutorial_baseline.py"})
        print(f"  tutorial: {b['ms_per_step']:.3f} ms/step", flush=True)
        results = {}
        at = {"size": size, "content": content, "style": style, "dev": dev, "flops": flops,
              "baseline_ms": b["ms_per_step"], "report": report, "results": results, "json": args.json}
        for label, over in variants:
            if not cuda and ("bf16" in label or "graphs" in label or "L-BFGS" in label):
                continue  # a CPU has neither: the dry run checks the rest
            if "compile" in label and size not in args.compile_sizes:
                continue
            _measure(label, base_cfg.replace(**over), at)
        if size in getattr(args, "memory_probe_sizes", ()):
            try:
                report.setdefault("memory_probe", {})[str(size)] = memory_probe(base_cfg, content, style, dev)
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                report["errors"].append(f"{size} memory probe: {exc!r}")
        if size in args.profile_sizes:
            try:
                table = profile_step(base_cfg.replace(precision="auto", channels_last=None, compile=cuda),
                                     content, style, dev)
                print(f"\n  profile of one eager step at {size} px (3 steps, compiled: {cuda}):\n{table}",
                      flush=True)
                report.setdefault("profiles", {})[str(size)] = table
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                report["errors"].append(f"{size} profile: {exc!r}")
        if size == args.quality_size and "fp32 eager" in results:
            fast_label = "bf16+CL+graphs (auto)" if cuda else "fp32 eager"
            if fast_label in results:
                report["quality"] = quality(base_cfg, content, style, results["fp32 eager"]["result"],
                                            results[fast_label]["result"], fast_label)
        _write_json(report, args.json)
        if cuda and size in getattr(args, "autotune_sizes", ()):
            # last of its size: it compiles for minutes, and a run cut short keeps all the rest
            _measure(AUTOTUNE[0], base_cfg.replace(**AUTOTUNE[1]), at)
    print_table(report)
    _write_json(report, args.json)
    if args.json:
        print("wrote", args.json)
    return 0


def _measure(label: str, cfg: transfer.TransferConfig, at: dict) -> None:
    """Time one variant at one size (``at``: that size's images, device, FLOPs, baseline and
    report), add its row and write the JSON at once, so a run cut short keeps it."""
    report, size = at["report"], at["size"]
    try:
        r = time_engine(at["content"], at["style"], cfg, at["dev"])
    except Exception as exc:  # noqa: BLE001 - a benchmark reports and goes on
        traceback.print_exc()
        report["errors"].append(f"{size} {label}: {exc!r}")
        return
    at["results"][label] = r
    used = r["result"]
    note = (f"{used.plan.describe()}, optimiser={used.config.optimiser}; "
            f"300 steps end to end {r['end_to_end_300_s']:.3f} s; first call {r['first_call_s']:.1f} s")
    ms, tflops = r["ms_per_step"], at["flops"] / r["ms_per_step"] / 1e9
    report["rows"].append({"size": size, "variant": label, "ms_per_step": ms, "peak_mem_mb": r["peak_mem_mb"],
                           "tflops": tflops, "ratio_vs_baseline": at["baseline_ms"] / ms, "note": note})
    print(f"  {label}: {ms:.3f} ms/step (×{at['baseline_ms'] / ms:.1f} vs tutorial), {tflops:.1f} TFLOP/s; {note}",
          flush=True)
    _write_json(report, at["json"])


def _write_json(report: dict, path: str | None) -> None:
    if path:
        with open(path + ".tmp", "w") as fh:
            json.dump(report, fh, indent=1)
        os.replace(path + ".tmp", path)


def quality(cfg, content, style, ref: transfer.TransferResult, fast: transfer.TransferResult, label: str) -> dict:
    """Score both 300-step results with the fp32 objective; compare losses and pixels."""
    c = cfg.replace(precision="fp32", channels_last=False, cuda_graphs=False)
    net = transfer.feature_network(c)
    dev = next(net.parameters()).device
    obj = transfer.Objective(net, content.to(dev), [style.to(dev)], [1.0], c)
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
