"""Deformable style transfer: the image and a warp of it, optimised together (notebook 05).

After Kim, Kolkin, Salavon & Shakhnarovich (ECCV 2020), with the course's own parts: the
point pairs are given, the warp ``W`` is the spatial transformer's grid generator (网格生成器)
and sampler (采样器), one affine θ or a smooth field, and :func:`deformable_stylise` minimises::

    content_weight · content(x) + style_weight · style(W(x)) + tv_weight · tv(x)
  + keypoint_weight · keypoints(W) + smooth_weight · smoothness(W)

``W`` samples ``x`` bicubically (bilinear blurs, and sharpening ``x`` back costs content);
region masks move with the image's grid.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from . import geometry, loop, losses, transfer, warps
from .checks import number
from .i18n import localised as _
from .transfer import TransferConfig

#: The warps :func:`deformable_stylise` can learn: a smooth field, or one affine θ.
TRANSFORMS = ("field", "affine")

#: Settings of :class:`~course_utils.transfer.TransferConfig` this engine needs at one value.
_FIXED_SETTINGS = {
    "preserve_colour": (None, "keep the photo's colours afterwards with colour.with_chroma_of (notebook 04)"),
    "pixel_range": ("sigmoid", "the image is always sigmoid(z), so every iterate is a valid image"),
}


@dataclass(kw_only=True)
class DeformableResult(transfer.TransferResult):
    """A :class:`~course_utils.transfer.TransferResult` whose ``image`` is the output ``W(x)``,
    with ``unwarped`` (``x``), the warp's ``control`` and ``grid`` ``(1, H, W, 2)``, the points
    ``(K, 2)`` at the output size and the warp's settings; ``history`` adds ``"keypoint"``
    (normalised units²) and ``"smooth"``."""

    unwarped: torch.Tensor
    control: torch.Tensor
    grid: torch.Tensor
    source_points: torch.Tensor
    target_points: torch.Tensor
    grid_size: tuple[int, int]
    keypoint_weight: float
    smooth_weight: float
    transform: str = "field"

    def keypoint_errors(self) -> torch.Tensor:
        """``(K,)`` pixel distances between where each target point reads from and its source point."""
        reads = warps.sample_grid_at(self.grid, self.target_points[None])[0]
        return (reads - self.source_points).norm(dim=-1)

    def min_jacobian(self) -> float:
        """The smallest Jacobian determinant of the warp: > 0 means no fold anywhere."""
        return warps.jacobian_determinant(self.grid).min().item()

    def describe(self) -> str:
        """One line: steps, time, keypoint error, folds, final losses, network."""
        err = self.keypoint_errors()
        return _("{steps} steps in {seconds:.1f} s ({reason}); keypoints within {worst:.2f} px (mean {mean:.2f}); "
                 "min Jacobian {jacobian:.2f}; style {style:.3g}, content {content:.3g} | {network}").format(
            steps=self.steps_done, seconds=self.seconds, reason=_(self.stopped_reason), worst=err.max().item(),
            mean=err.mean().item(), jacobian=self.min_jacobian(), style=self.final("style"),
            content=self.final("content"), network=_(transfer.short_source(self.source))) + (
            _(" | warning: {warning}").format(warning=self.warning) if self.warning else "")


def warp_grid(warp: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The sampling grid ``(1, H, W, 2)`` of an affine θ ``(1, 2, 3)`` or of control
    displacements ``(1, 2, gh, gw)``, differentiable in them."""
    if warp.dim() == 3:
        return geometry.sampling_grid(warp, size)
    return warps.field_grid(warp, size)


def deformable_objective(
    objective: transfer.Objective,
    image: torch.Tensor,
    warp: torch.Tensor,
    source: torch.Tensor,
    target: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The unweighted terms ``{"content", "style", "tv", "keypoint", "smooth"}`` for the image
    ``x`` ``(1, 3, H, W)``, a warp (:func:`warp_grid`) and the points ``(K, 2)`` (pixels) it
    should carry from ``source`` to ``target``; ``"keypoint"`` is in normalised units² (pixels
    ÷ half the longer side), so its weight means the same at every size."""
    grid = warp_grid(warp, image.shape[-2:])
    warped = warps.warp_with_grid(image, grid, mode="bicubic")  # W(x): gradients reach x and the grid
    feats = objective.features(torch.cat([image, warped]))  # x and W(x) in one pass
    moved = None if objective.region_masks is None else warps.warp_mask(objective.region_masks, grid.detach())
    return {
        "content": objective.content_term({k: f[:1] for k, f in feats.items()}),
        "style": objective.style_term({k: f[1:] for k, f in feats.items()}, moved),
        "tv": losses.tv_loss(image),
        "keypoint": warps.keypoint_loss(grid, source, target) / (max(image.shape[-2:]) / 2) ** 2,
        "smooth": warps.smoothness(warp) if warp.dim() == 4 else warp.new_zeros(()),
    }


def deformable_stylise(content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor],
                       source_points: torch.Tensor | Sequence[Sequence[float]],
                       target_points: torch.Tensor | Sequence[Sequence[float]],
                       config: TransferConfig | None = None, *, grid_size: tuple[int, int] = (6, 6),
                       transform: str = "field", keypoint_weight: float = 1e4, smooth_weight: float = 1e2,
                       field_lr: float = 0.002, **overrides: Any) -> DeformableResult:
    """Stylise ``content`` ``(1, 3, H, W)`` while a warp carries ``source_points`` ``(K, 2)``
    (pixels on the content) onto ``target_points``, coarse to fine.

    ``style``, ``config`` and ``**overrides`` are :func:`~course_utils.transfer.stylise`'s.
    ``transform`` is ``"field"`` (``grid_size`` control points, fewer = smoother) or
    ``"affine"`` (one θ). ``field_lr`` is Adam's step for the warp; the image uses
    ``config.optimiser``. Raises what :func:`~course_utils.transfer.stylise` raises (``MemoryError``
    before allocating a run that cannot fit, :class:`~course_utils.transfer.TransferError` on divergence).
    """
    cfg = transfer.configured(config, **overrides)
    cfg.validate()
    for name, (allowed, instead) in _FIXED_SETTINGS.items():
        if getattr(cfg, name) != allowed:
            raise ValueError(f"deformable_stylise needs {name}={allowed!r}, got {getattr(cfg, name)!r}; {instead}.")
    for name, value in (("keypoint_weight", keypoint_weight), ("smooth_weight", smooth_weight), ("field_lr", field_lr)):
        if not number(name, value) >= 0 or (name == "field_lr" and value == 0):
            raise ValueError(f"{name}={value!r} is invalid: expected a finite number >= 0 (> 0 for field_lr).")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform={transform!r} is invalid: expected one of {TRANSFORMS}.")
    content, styles, blend, out_hw, dev = transfer.run_inputs(content, style, cfg)  # refuses what cannot fit
    in_hw = tuple(content.shape[-2:])
    src, tgt = warps.point_pairs(source_points, target_points, in_hw, names=("source_points", "target_points"))
    src, tgt = _rescale(src, in_hw, out_hw), _rescale(tgt, in_hw, out_hw)
    warp = initial_warp(src, tgt, out_hw, transform, grid_size, smooth_weight / max(keypoint_weight, 1e-12),
                        fit=keypoint_weight > 0)
    extractor = transfer.feature_network(cfg.replace(device=str(dev)))
    weights = {"content": cfg.content_weight, "style": cfg.style_weight, "tv": cfg.tv_weight,
               "keypoint": keypoint_weight, "smooth": smooth_weight}
    history: dict[str, list[float]] = {k: [] for k in ("total", *weights, "time", "scale")}
    recorder = loop.Recorder(history, sum(cfg.steps_per_scale()), desc="deformable stylise",
                             progress=cfg.progress, callback=cfg.callback)

    def run_level(c_s, s_s, image, n_steps):  # the image and the warp at this size
        nonlocal warp
        objective = transfer.Objective(extractor, c_s, s_s, blend, cfg)
        hw = tuple(image.shape[-2:])
        points = _rescale(src, out_hw, hw).to(dev), _rescale(tgt, out_hw, hw).to(dev)
        out = _run_level(objective, image, warp.to(dev), points, weights, n_steps, cfg, field_lr, recorder)
        if out.best_extra is not None:  # the best evaluated image and warp
            image, warp = (t.detach().cpu() for t in out.best_extra)
        return out, image

    x, out, reason, warning = transfer.coarse_to_fine(content, styles, blend, out_hw, cfg, dev, recorder, run_level)
    params = warp.float()
    grid = warp_grid(params, out_hw)
    result = DeformableResult(
        image=warps.warp_with_grid(x, grid, mode="bicubic").clamp(0, 1).contiguous(), unwarped=x.contiguous(),
        control=params, grid=grid, source_points=src, target_points=tgt, history=history, config=cfg,
        grid_size=tuple(grid_size), keypoint_weight=float(keypoint_weight), smooth_weight=float(smooth_weight),
        transform=transform, steps_done=recorder.steps, warning=warning, stopped_reason=reason,
        seconds=time.perf_counter() - recorder.start, source=extractor.source, is_imagenet=extractor.is_imagenet,
        lr=cfg.resolved_lr(),
    )
    return transfer.finish(result, out)


def _run_level(objective: transfer.Objective, image: torch.Tensor, warp: torch.Tensor,
               points: tuple[torch.Tensor, torch.Tensor], weights: dict[str, float], n_steps: int,
               cfg: TransferConfig, field_lr: float, recorder: loop.Recorder) -> loop.Outcome:
    """``n_steps`` steps of the course's loop at one size, on the image's logits and the warp.
    The warp has its own Adam: the keypoint term is far stiffer than the image's losses, and
    one L-BFGS over both took steps sized for the warp (the image hardly moved)."""
    z = transfer.to_variable(image, "sigmoid").requires_grad_(True)
    warp = warp.detach().clone().requires_grad_(True)
    hw = tuple(image.shape[-2:])

    def evaluate() -> loop.Evaluation:
        x = torch.sigmoid(z)
        terms = deformable_objective(objective, x, warp, *points)
        total = sum(weights[k] * terms[k] for k in weights)
        with torch.no_grad():  # what a callback sees: the output W(x)
            shown = warps.warp_with_grid(x, warp_grid(warp, hw), mode="bicubic").clamp(0, 1)
        return loop.Evaluation(total, terms, shown, (x.detach(), warp.detach().clone()))

    recorder.postfix = lambda rec: {"loss": f"{rec.losses['total']:.4g}",
                                    "keypoints": f"{rec.losses['keypoint'] ** 0.5 * max(hw) / 2:.2f}px"}
    return loop.optimise([z], evaluate, n_steps, optimiser=cfg.optimiser, lr=cfg.resolved_lr(),
                         history_size=cfg.history_size, also=[torch.optim.Adam([warp], lr=field_lr)],
                         on_step=recorder, max_loss_ratio=cfg.max_loss_ratio, step_cap=cfg.step_cap)


def initial_warp(source: torch.Tensor, target: torch.Tensor, size: tuple[int, int], transform: str = "field",
                 grid_size: tuple[int, int] = (6, 6), smooth_weight: float = 0.01, *,
                 fit: bool = True) -> torch.Tensor:
    """Where the joint optimisation starts: the warp the keypoints alone ask for (a fit with
    no network), or with ``fit=False`` the identity."""
    if transform == "affine":
        return warps.fit_affine_to_points(source, target, size) if fit else geometry.identity_theta()[None]
    if fit:
        return warps.fit_field_to_points(source, target, size, grid_size=grid_size, smooth_weight=smooth_weight)
    return warps.zero_control(grid_size)


def _rescale(points: torch.Tensor, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> torch.Tensor:
    """Pixel positions ``(K, 2)`` at ``from_hw`` → the same places at ``to_hw`` (pixel centres scale)."""
    ratio = torch.tensor([to_hw[1] / from_hw[1], to_hw[0] / from_hw[0]])
    return (points + 0.5) * ratio - 0.5


__all__ = ["TRANSFORMS", "DeformableResult", "deformable_objective", "deformable_stylise", "initial_warp", "warp_grid"]
