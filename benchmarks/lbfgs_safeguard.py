"""Benchmark: which safeguard keeps the engine's L-BFGS from ruining low-texture pictures.

Runs ``transfer.stylise`` (offline network, seed 0, default settings otherwise) on photos
and on low-texture contents with each remedy below, and prints per case the best loss each
reaches in the same steps over Adam's (lower is better), with its last loss, evaluations,
steps the cap shortened and seconds. Each remedy is a step function for the same loop:
``none`` (no safeguard), ``cap`` (the engine's ``loop.STEP_CAP``; ``cap0.1`` … tighter,
``capfirst5``/``capfirst10`` only on the first steps), ``zcap1`` (the cap in logits),
``wolfe5`` (strong-Wolfe line search on the first 5 steps), ``restart`` (on a loss above
1.5 × the best, back to the best point with L-BFGS's memory cleared) and ``to_adam`` (the
same, then Adam). Usage::

    .venv/bin/python benchmarks/lbfgs_safeguard.py                 # the table (~1 h on 2 idle cores)
    .venv/bin/python benchmarks/lbfgs_safeguard.py --cases issue   # the issue's three cases
    .venv/bin/python benchmarks/lbfgs_safeguard.py --cases photos --sizes 128 256 --variants none cap
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

os.environ.setdefault("COURSE_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _common import machine  # noqa: E402

from course_utils import data, loop, transfer  # noqa: E402


def gradient(h: int, w: int) -> torch.Tensor:
    """A smooth two-colour gradient, left to right (a sky, a backdrop)."""
    t = torch.linspace(0, 1, w).view(1, 1, 1, w)
    a, b = torch.tensor([0.9, 0.5, 0.2]).view(1, 3, 1, 1), torch.tensor([0.2, 0.4, 0.9]).view(1, 3, 1, 1)
    return (a * (1 - t) + b * t).expand(1, 3, h, w).contiguous()


def logo(h: int, w: int) -> torch.Tensor:
    """Flat colours: a blue box on a pale background."""
    x = torch.tensor([0.95, 0.93, 0.88]).view(1, 3, 1, 1).expand(1, 3, h, w).clone()
    x[..., h // 4: 3 * h // 4, w // 4: 3 * w // 4] = torch.tensor([0.1, 0.2, 0.7]).view(1, 3, 1, 1)
    return x


def line_drawing(h: int, w: int) -> torch.Tensor:
    """Thin black lines (a circle, a diagonal, an upright) on white."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    ink = (((xx**2 + yy**2).sqrt() - 0.6).abs() < 0.03) | ((yy - 0.5 * xx).abs() < 0.02) | ((xx + 0.3).abs() < 0.015)
    return torch.where(ink, 0.05, 0.97).expand(1, 3, h, w).clone()


def flat(h: int, w: int) -> torch.Tensor:
    """One flat colour (a clear sky)."""
    return torch.tensor([0.55, 0.75, 0.95]).view(1, 3, 1, 1).expand(1, 3, h, w).clone()


SYNTHETIC = {"flat": flat, "logo": logo, "gradient": gradient, "lines": line_drawing}
PHOTOS = ("chelsea", "coffee", "astronaut")


def style(name: str) -> torch.Tensor:
    """``swirl`` (512 px square) or ``stripes96x80`` (another size and aspect)."""
    if name == "swirl":
        return data.style_image("swirl")
    return F.interpolate(data.style_image("stripes"), size=(96, 80), mode="bilinear", antialias=True)


def cases(which: str, size: int) -> list[tuple[str, torch.Tensor, str, int]]:
    """``(label, content, style name, steps)``: the issue's three, photos, low-texture, or all."""
    h, w = round(size * 0.75), size
    if which == "issue":
        return [("gradient 96x128", gradient(96, 128), "swirl", 30), ("logo 96x128", logo(96, 128), "swirl", 30),
                ("gradient 48x64", gradient(48, 64), "stripes96x80", 20)]
    out = []
    if which in ("photos", "all"):
        out += [(f"{p} {size}", data.content_image(p, size), s, 30) for p in PHOTOS for s in ("swirl", "stripes96x80")]
    if which in ("low", "all"):
        out += [(f"{n} {h}x{w}", f(h, w), s, 30) for n, f in SYNTHETIC.items() for s in ("swirl", "stripes96x80")]
    return out


class Counting(loop.ClosureStepper):
    """The engine's step, counting evaluations (a line search takes several per step)."""

    evaluations = 0
    shortened = 0

    def closure(self) -> torch.Tensor:
        Counting.evaluations += 1
        return super().closure()

    def step(self, read: bool = True) -> list[loop.Record]:
        n = self.capped
        records = super().step(read)
        Counting.shortened += self.capped - n
        return records


class Wolfe5(Counting):
    """Strong-Wolfe line search (PyTorch's) on the first 5 steps, none after."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.n = 0

    def step(self, read: bool = True) -> list[loop.Record]:
        self.n += 1
        if self.rescale:
            self.optimiser.param_groups[0]["line_search_fn"] = "strong_wolfe" if self.n <= 5 else None
        return super().step(read)


class ZCap1(Counting):
    """The step cap measured in logits: no ``z`` moves by more than 1."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.rescale:
            self.step_cap, self.to_pixels = 1.0, lambda z: z


class CapFirst(Counting):
    """The pixel cap on the first ``first`` steps only (the early steps are the long ones)."""

    def __init__(self, *args, first: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.n, self.cap, self.first = 0, self.step_cap, first

    def step(self, read: bool = True) -> list[loop.Record]:
        self.n += 1
        self.step_cap = self.cap if self.n <= self.first else None
        return super().step(read)


class Restart(Counting):
    """On a loss above 1.5 × the best: back to the best point; clear L-BFGS's memory
    (or, ``to_adam``, go on with Adam at lr 0.05)."""

    def __init__(self, *args, to_adam: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.to_adam, self.best_params = to_adam, None

    def closure(self) -> torch.Tensor:
        before = self.best_value
        out = super().closure()
        if self.best_value < before:
            self.best_params = [p.detach().clone() for p in self.params]
        return out

    def step(self, read: bool = True) -> list[loop.Record]:
        records = super().step(read)
        if self.rescale and self.best_params is not None and records[0].losses["total"] > 1.5 * self.best_value:
            with torch.no_grad():
                for p, b in zip(self.params, self.best_params, strict=True):
                    p.copy_(b)
            if self.to_adam:
                self.optimiser, self.rescale, self.loss_scale = torch.optim.Adam(self.params, lr=0.05), False, 1.0
                self.step_cap = None
            else:
                self.optimiser.state.clear()
        return records


#: variant -> (step function, TransferConfig overrides); the loop builds the step function
VARIANTS = {
    "none": (Counting, {"step_cap": None}),
    "cap": (Counting, {}),
    "cap0.1": (Counting, {"step_cap": 0.1}),
    "cap0.25": (Counting, {"step_cap": 0.25}),
    "cap0.5": (Counting, {"step_cap": 0.5}),
    "capfirst5": (partial(CapFirst, first=5), {}),
    "capfirst10": (partial(CapFirst, first=10), {}),
    "zcap1": (ZCap1, {}),
    "wolfe5": (Wolfe5, {"step_cap": None}),
    "restart": (Restart, {"step_cap": None}),
    "to_adam": (partial(Restart, to_adam=True), {"step_cap": None}),
}


def run(content: torch.Tensor, style_image: torch.Tensor, steps: int, variant: str = "cap",
        optimiser: str = "lbfgs") -> dict:
    """One ``stylise`` run: start, best and last loss, evaluations, seconds, reason."""
    stepper, overrides = VARIANTS[variant]
    plain, loop.ClosureStepper = loop.ClosureStepper, stepper  # the loop builds this class
    Counting.evaluations = Counting.shortened = 0
    try:
        start = time.perf_counter()
        r = transfer.stylise(content, style_image, steps=steps, optimiser=optimiser, progress=False,
                             device="cpu", max_loss_ratio=1e9, **overrides)
        seconds = time.perf_counter() - start
    finally:
        loop.ClosureStepper = plain
    h = r.history["total"]
    return {"start": h[0], "best": min(h), "last": h[-1], "evals": Counting.evaluations, "capped": Counting.shortened, "s": seconds,
            "reason": r.stopped_reason}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", choices=("issue", "photos", "low", "all"), default="all")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"# {machine()}; offline network, seed 0; STEP_CAP={loop.STEP_CAP}")
    print("# per variant: best loss / Adam's best (lower is better), then the last loss's ratio, "
          "evaluations, steps the cap shortened and seconds")
    for size in args.sizes if args.cases != "issue" else [None]:
        for label, content, style_name, steps in cases(args.cases, size or 128):
            s = style(style_name)
            adam = run(content, s, steps, "none", optimiser="adam")
            line = f"{label:18s} {style_name:13s} {steps:3d} steps  start {adam['start']:8.4g}  adam {adam['best']:8.4g} |"
            for v in args.variants:
                r = run(content, s, steps, v)
                line += f" {v} {r['best'] / adam['best']:.3g} (last {r['last'] / adam['best']:.3g}, {r['evals']} ev, {r['capped']} capped, {r['s']:.0f} s) |"
            print(line, flush=True)


if __name__ == "__main__":
    main()
