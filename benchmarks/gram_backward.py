"""One engine step with the fast path's Gram (one product in the backward) against autograd's.

``accel.gram_matrix`` differentiates ``G = F·Fᵀ / N`` as ``(dG + dGᵀ)·F``; autograd computes
``dG·F`` and ``dGᵀ·F`` and adds them. This times one forward + backward of the default
``TransferConfig``'s objective with each, **interleaved** in one process (a burst of load
slows both alike), and prints the medians, their ratio and how far the gradients differ.

    .venv/bin/python benchmarks/gram_backward.py                  # 128 and 256 px, 2 threads
    .venv/bin/python benchmarks/gram_backward.py --sizes 64 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import fp32_objective, pictures

from course_utils import accel, losses, transfer


def autograd_gram(x: torch.Tensor) -> torch.Tensor:
    """The textbook Gram, differentiated by autograd as a product of two different matrices."""
    f = x.flatten(2)
    return torch.bmm(f, f.transpose(1, 2)) / f.shape[-1]


def measure(size: int, repeats: int) -> dict[str, float]:
    cfg = transfer.TransferConfig(device="cpu", progress=False)
    content, style = pictures(size)
    objective, _ = fp32_objective(cfg, content, style)
    versions = {"autograd": autograd_gram, "course": accel.gram_matrix}
    plain = losses.gram_matrix

    def step(gram) -> torch.Tensor:
        losses.gram_matrix = gram  # style_loss looks the Gram up in its module on every call
        try:
            x = content.clone().requires_grad_(True)
            total, _ = objective(x)
            total.backward()
            return x.grad
        finally:
            losses.gram_matrix = plain

    grads = {name: step(g) for name, g in versions.items()}  # also the warm-up
    times: dict[str, list[float]] = {name: [] for name in versions}
    for r in range(repeats):
        order = list(versions.items()) if r % 2 == 0 else list(reversed(versions.items()))
        for name, g in order:
            t0 = time.perf_counter()
            step(g)
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) for name, t in times.items()}
    diff = ((grads["course"] - grads["autograd"]).abs().max() / grads["autograd"].abs().max()).item()
    return {"autograd_ms": 1e3 * med["autograd"], "course_ms": 1e3 * med["course"],
            "ratio": med["autograd"] / med["course"], "relative_gradient_difference": diff}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--repeats", type=int, default=12, help="timed steps of each version")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} steps each")
    print(f"{'size':>5} | {'autograd Gram ms':>16} | {'course Gram ms':>14} | {'ratio':>5} | max |Δgrad| / max |grad|")
    for size in args.sizes:
        m = measure(size, args.repeats)
        print(f"{size:>5} | {m['autograd_ms']:>16.1f} | {m['course_ms']:>14.1f} | {m['ratio']:>5.3f} | "
              f"{m['relative_gradient_difference']:.1e}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
