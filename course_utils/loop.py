"""The course's one optimisation loop: an objective, the variables, the steps, a recorder.

Every engine that optimises pixels runs it: :func:`course_utils.transfer.stylise`,
deformable transfer (:mod:`course_utils.deform`, which also steps an optimiser on the
warp), the timing tools (:mod:`course_utils.perf`) and the GPU fast path
(:class:`course_utils.accel.GraphedAdam` is a ``stepper`` for it)::

    z = torch.logit(image.clamp(1e-3, 1 - 1e-3)).requires_grad_(True)

    def evaluate():
        x = torch.sigmoid(z)
        total, terms = objective(x)
        return loop.Evaluation(total, terms, x.detach())

    out = loop.optimise([z], evaluate, 100, optimiser="lbfgs", on_step=recorder)
    out.reason, out.steps, out.best_image

One step is one evaluation (one forward and backward pass) for both optimisers: L-BFGS
runs with ``max_iter=1`` and no line search, so curves and timings compare fairly. Nothing
then bounds an L-BFGS step, and on a content with little texture an early one can saturate
the sigmoids; so each L-BFGS step is shortened until no pixel moves by more than
:data:`STEP_CAP` (``benchmarks/README.md`` compares the remedies).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .i18n import localised as _

OPTIMISERS = ("lbfgs", "adam")
#: Why a run ended (``Outcome.reason``).
STOP_REASONS = ("finished", "callback", "interrupted", "diverged")
#: If the largest first gradient entry is below this, L-BFGS sees the loss rescaled.
GRAD_FLOOR = 0.1
#: The most an L-BFGS step may move any pixel (images in [0, 1]); ``None`` turns the cap off.
STEP_CAP = 0.5
#: A loss this many times its start on the way counts as a divergence the run recovered from.
RISE = 2.0


@dataclass
class Evaluation:
    """What ``evaluate()`` returns: the scalar ``loss`` (not yet backpropagated), named
    ``terms`` to record beside ``"total"``, the ``(1, 3, h, w)`` ``image`` it shows
    (detached) and any ``extra`` to keep with the best state (e.g. a warp's parameters)."""

    loss: torch.Tensor
    terms: Mapping[str, torch.Tensor]
    image: torch.Tensor
    extra: Any = None


@dataclass
class Record:
    """One step as the recorder sees it: ``{"total": …, term: …}`` as floats, and its image."""

    losses: dict[str, float]
    image: torch.Tensor


@dataclass
class Outcome:
    """How a run of :func:`optimise` ended.

    Attributes:
        reason: one of :data:`STOP_REASONS`; steps: steps completed.
        best_image, best_extra: the image and ``extra`` of the evaluation with the lowest
            loss (``None`` if no evaluation finished).
        message: for ``"diverged"``, what happened and what to do.
        loss_scale: the factor L-BFGS saw the loss multiplied by (1.0 for Adam).
        warning: one sentence when the last loss is above the first, or the loss rose
            above :data:`RISE` × the first and came back ("" otherwise).
        capped: steps that :data:`STEP_CAP` shortened.
    """

    reason: str
    steps: int
    best_image: torch.Tensor | None
    best_extra: Any = None
    message: str = ""
    loss_scale: float = 1.0
    warning: str = ""
    capped: int = 0


def lbfgs_gradient_scale(grad: torch.Tensor) -> float:
    """The factor by which L-BFGS should see the loss, fixed from the first gradient.

    PyTorch's L-BFGS keeps a curvature pair only if ``s·y > 1e-10``, an absolute threshold;
    the course's relative losses can have gradients so small that every pair is rejected.
    Returns ``1 / max|grad|`` when that is below :data:`GRAD_FLOOR`, else 1.0. L-BFGS's
    steps do not otherwise depend on the loss's scale (and Adam's never do).
    """
    g_max = grad.detach().abs().max().item()
    return 1.0 / g_max if 0 < g_max < GRAD_FLOOR else 1.0


class _NonFinite(Exception):
    def __init__(self, value: float) -> None:
        super().__init__(str(value))
        self.value = value


class ClosureStepper:
    """The plain step: ``optimiser.step(closure)``, one evaluation per step.

    ``optimiser`` is ``"lbfgs"`` (``max_iter=1``, no line search, tolerances 0 since
    PyTorch's are absolute) or ``"adam"``. ``also`` are further optimisers stepped with the
    gradients of the same evaluation (not rescaled). For L-BFGS, ``step_cap`` bounds how far a
    step moves any pixel of ``to_pixels(param)`` (``None``: never). ``best_value`` is the
    lowest loss evaluated so far and ``capped`` the number of steps the cap shortened.
    """

    def __init__(self, params: Sequence[torch.Tensor], evaluate: Callable[[], Evaluation], *,
                 optimiser: str, lr: float, history_size: int = 100,
                 also: Sequence[torch.optim.Optimizer] = (), step_cap: float | None = STEP_CAP,
                 to_pixels: Callable[[torch.Tensor], torch.Tensor] = torch.sigmoid) -> None:
        self.params, self.evaluate, self.also = list(params), evaluate, list(also)
        if optimiser == "lbfgs":
            self.optimiser = torch.optim.LBFGS(self.params, lr=lr, max_iter=1,
                                               history_size=history_size,
                                               tolerance_grad=0.0, tolerance_change=0.0)
        elif optimiser == "adam":
            self.optimiser = torch.optim.Adam(self.params, lr=lr)
        else:
            raise ValueError(f"optimiser={optimiser!r} is invalid: expected one of {OPTIMISERS}.")
        self.rescale = optimiser == "lbfgs"
        self.step_cap = step_cap if self.rescale else None
        self.to_pixels, self.capped = to_pixels, 0
        self.loss_scale = 1.0
        self._scale_fixed = False
        self.best_value = math.inf
        self._best: tuple[torch.Tensor | None, Any] = (None, None)
        self._record: Record | None = None

    def closure(self) -> torch.Tensor:
        """One forward and backward pass; returns the loss as the optimiser sees it."""
        self.optimiser.zero_grad(set_to_none=True)
        for opt in self.also:
            opt.zero_grad(set_to_none=True)
        ev = self.evaluate()
        value = ev.loss.item()
        if not math.isfinite(value):
            raise _NonFinite(value)
        ev.loss.backward()
        if self.rescale and not self._scale_fixed:  # fixed at the first evaluation
            grads = [p.grad for p in self.params if p.grad is not None]
            self.loss_scale = min(lbfgs_gradient_scale(g) for g in grads) if grads else 1.0
            self._scale_fixed = True
        if self.loss_scale != 1.0:
            for p in self.params:
                if p.grad is not None:
                    p.grad.mul_(self.loss_scale)
        if value < self.best_value:
            self.best_value, self._best = value, (ev.image, ev.extra)
        terms = {k: v.item() if isinstance(v, torch.Tensor) else float(v) for k, v in ev.terms.items()}
        self._record = Record({"total": value, **terms}, ev.image)
        return ev.loss.detach() * self.loss_scale

    def step(self, read: bool = True) -> list[Record]:
        """Take one step; return its record (the loop's ``stepper`` interface)."""
        before = [p.detach().clone() for p in self.params] if self.step_cap is not None else None
        self.optimiser.step(self.closure)
        if before is not None:
            self._cap(before)
        for opt in self.also:
            opt.step()
        return [self._record]

    @torch.no_grad()
    def _cap(self, before: list[torch.Tensor]) -> None:
        """Shorten the step just taken until no pixel moved more than ``step_cap`` (bisection
        on its length, no evaluation), and the length L-BFGS remembers with it, so that its
        next curvature pair is the step really taken."""
        after = [p.clone() for p in self.params]

        def moved(frac: float) -> float:
            return max((self.to_pixels(torch.lerp(b, a, frac)) - self.to_pixels(b)).abs().max().item()
                       for a, b in zip(after, before, strict=True))

        if moved(1.0) <= self.step_cap:
            return
        lo, hi = 0.0, 1.0
        for _step in range(20):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if moved(mid) <= self.step_cap else (lo, mid)
        for p, a, b in zip(self.params, after, before, strict=True):
            p.copy_(torch.lerp(b, a, lo))
        state = self.optimiser.state[self.params[0]]
        state["t"] = state["t"] * lo
        self.capped += 1

    def best(self) -> tuple[torch.Tensor, Any]:
        """``(image, extra)`` of the best evaluation so far."""
        return self._best


def optimise(params: Sequence[torch.Tensor], evaluate: Callable[[], Evaluation], steps: int, *,
             optimiser: str = "lbfgs", lr: float = 1.0, history_size: int = 100,
             also: Sequence[torch.optim.Optimizer] = (),
             on_step: Callable[[int, Record], Any] | None = None,
             after_step: Callable[[], None] | None = None, max_loss_ratio: float = math.inf,
             stepper: Any = None, read_every: int = 1, step_cap: float | None = STEP_CAP,
             to_pixels: Callable[[torch.Tensor], torch.Tensor] = torch.sigmoid) -> Outcome:
    """Minimise ``evaluate().loss`` over ``params`` for ``steps`` steps; never raises for a stop.

    Args:
        params, evaluate: the optimised tensors (``requires_grad=True``) and ``() -> Evaluation``.
        optimiser, lr, history_size, also, step_cap, to_pixels: see :class:`ClosureStepper`.
        on_step: ``on_step(step, record)`` after each step (typically a :class:`Recorder`);
            ``True`` (or a NumPy or one-element tensor ``True``) stops the run (``"callback"``).
        after_step: called after each step's update, e.g. to clamp pixels in place.
        max_loss_ratio: stop (``"diverged"``) when the loss exceeds this multiple of its
            first value; a NaN or infinite loss always stops the run.
        stepper: instead of a :class:`ClosureStepper`, any object with ``step(read)`` (the
            records not yet returned), ``best()`` and ``loss_scale``, e.g.
            :class:`course_utils.accel.GraphedAdam`, which reads its losses back from the
            device every ``read_every`` steps and at the end.
    """
    if stepper is None:
        stepper = ClosureStepper(params, evaluate, optimiser=optimiser, lr=lr, history_size=history_size, also=also,
                                 step_cap=step_cap, to_pixels=to_pixels)
    done, first, reason, message = 0, None, "finished", ""
    last = peak = (-math.inf, 0)  # (loss, step)
    try:
        for i in range(steps):
            try:
                records = stepper.step(read=(i + 1) % read_every == 0 or i + 1 == steps)
            except _NonFinite as bad:
                reason, message = "diverged", _diverged(bad.value, done + 1)
                break
            if after_step is not None:
                after_step()
            for rec in records:
                value = rec.losses["total"]
                first = max(value, 1e-12) if first is None else first
                if not math.isfinite(value) or value > max_loss_ratio * first:
                    reason, message = "diverged", _diverged(value, done + 1, max_loss_ratio)
                    break
                done += 1
                last, peak = (value, done), max(peak, (value, done))
                if on_step is not None and _stops(on_step(done, rec)):
                    reason = "callback"
                    break
            if reason != "finished":
                break
    except KeyboardInterrupt:
        reason = "interrupted"
    image, extra = stepper.best()
    return Outcome(reason, done, image, extra, message, stepper.loss_scale, _warning(first, last, peak),
                   getattr(stepper, "capped", 0))


def _warning(first: float | None, last: tuple[float, int], peak: tuple[float, int]) -> str:
    """One sentence when the loss ended above its start or rose above RISE × it on the way."""
    if first is None or last[1] < 2:
        return ""
    if last[0] > first:
        return _("the loss ended at {last:.3g}, above its start ({first:.3g}); the best image seen "
                 "is returned, try fewer steps, a lower lr or optimiser='adam'").format(last=last[0], first=first)
    if peak[0] > RISE * first:
        return _("the loss rose to {peak:.3g}× its start at step {step} and came back "
                 "(ended at {last:.3g}× its start); the best image seen is returned").format(
            peak=peak[0] / first, step=peak[1], last=last[0] / first)
    return ""


def _stops(answer: Any) -> bool:
    """``True``, ``numpy.bool_(True)`` or a one-element tensor ``True`` stop the run."""
    if isinstance(answer, torch.Tensor):
        return answer.numel() == 1 and answer.dtype == torch.bool and bool(answer.item())
    return answer is True or (isinstance(answer, np.bool_) and bool(answer))


def _diverged(value: float, step: int, ratio: float = math.inf) -> str:
    if math.isfinite(value):
        return (f"The loss exploded to {value:.3g} at step {step}, {ratio:g}× its first value; "
                "lower lr or use pixel_range='sigmoid'.")
    return (f"The loss became {value} at step {step}; lower lr, use pixel_range='sigmoid', "
            "or lower the style weight.")


@dataclass
class Recorder:
    """The usual ``on_step``: history, a ``tqdm.auto`` bar, an optional preview and callback.

    Appends every loss of a record to ``history[key]``, with ``"time"`` (seconds since
    ``start``) and ``"scale"`` (``scale_index``, set per pyramid level); ``steps`` counts
    the steps over every call. ``callback(step, image, losses)`` may return true to stop;
    ``preview.update(step, image, history)`` runs every ``preview_every`` steps; ``postfix``
    maps a record to the ``{name: text}`` the bar shows (default: the loss).
    """

    history: dict[str, list[float]]
    total: int
    desc: str = "stylise"
    progress: bool = True
    callback: Callable[[int, torch.Tensor, dict[str, float]], Any] | None = None
    preview: Any = None
    preview_every: int = 0
    postfix: Callable[[Record], dict[str, str]] | None = None
    scale_index: int = 0
    start: float = field(default_factory=time.perf_counter)
    steps: int = 0

    def __post_init__(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, desc=self.desc, disable=not self.progress, leave=False)

    def __call__(self, _: int, rec: Record) -> bool:
        self.steps = step = self.steps + 1
        for k, v in rec.losses.items():
            self.history.setdefault(k, []).append(v)
        self.history.setdefault("time", []).append(time.perf_counter() - self.start)
        self.history.setdefault("scale", []).append(self.scale_index)
        self.bar.update(1)
        if step % 10 == 0 or step == 1:
            shown = self.postfix(rec) if self.postfix else {"loss": f"{rec.losses['total']:.4g}"}
            self.bar.set_postfix(shown, refresh=False)
        if self.preview is not None and self.preview_every and step % self.preview_every == 0:
            self.preview.update(step, rec.image, self.history)
        return self.callback is not None and _stops(self.callback(step, rec.image, dict(rec.losses)))

    def close(self) -> None:
        """Close the progress bar."""
        self.bar.close()


__all__ = [
    "ClosureStepper", "Evaluation", "GRAD_FLOOR", "OPTIMISERS", "Outcome", "RISE", "Record",
    "Recorder", "STEP_CAP", "STOP_REASONS", "lbfgs_gradient_scale", "optimise",
]
