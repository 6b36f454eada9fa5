"""Deformable style transfer: the image and a warp of it, optimised together (notebook 05).

Kim, Kolkin, Salavon & Shakhnarovich (ECCV 2020, *Deformable Style Transfer*) let the
geometry of the result move as well as its texture. They match points between the content
and the style with a network (NBB, neural best-buddies) and warp the image with a
thin-plate spline through those points. The course keeps the idea and uses its own parts:

* the pairs of points are **given** (notebook 05 moves the cat's eyes and nose by hand);
* the warp ``W`` is the spatial transformer's grid generator (网格生成器) and sampler
  (采样器): either the STN's own affine θ (six numbers, ``transform="affine"``) or a smooth
  field, a coarse grid of control displacements upsampled to a dense sampling grid
  (:func:`course_utils.warps.field_grid`);
* the losses are :class:`course_utils.transfer.Objective`'s, so the style settings (layers,
  weights, ``style_warps``, ``style_masks``) mean what they mean in ``stylise``.

:func:`deformable_objective` holds every term; :func:`deformable_stylise` minimises their
weighted sum over the image ``x`` and the warp's parameters::

    content_weight  · content(x)          the image keeps the photo's content
  + style_weight    · style(W(x))         the warped image carries the style
  + tv_weight       · tv(x)
  + keypoint_weight · keypoints(W)        each target point reads its source point
  + smooth_weight   · smoothness(W)       neighbouring control points move together

``W`` samples ``x`` **bicubically**: bilinear sampling at a fractional position averages
neighbouring pixels (a blur), and the optimiser then sharpens ``x`` to make up for it, at a
cost in content. Region masks are drawn on the content's frame and moved by the same grid
as the image, so each style stays on its region wherever the warp takes it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from . import geometry, loop, losses, transfer, warps
from .checks import number
from .images import resize
from .transfer import TransferConfig

#: The warps :func:`deformable_stylise` can learn: a smooth field of control displacements,
#: or one affine θ (the spatial transformer's).
TRANSFORMS = ("field", "affine")

#: Settings of :class:`~course_utils.transfer.TransferConfig` this engine needs at one value,
#: with what to do instead.
_FIXED_SETTINGS = {
    "preserve_colour": (None, "keep the photo's colours afterwards with colour.with_chroma_of (notebook 04)"),
    "pixel_range": ("sigmoid", "the image is always sigmoid(z), so every iterate is a valid image"),
}


@dataclass
class DeformableResult:
    """What :func:`deformable_stylise` returns.

    Attributes:
        image: the output ``W(x)``, ``(1, 3, H, W)`` in [0, 1] on the CPU.
        unwarped: the optimised image ``x`` before the warp (same shape).
        control: the warp's parameters: the field's control displacements ``(1, 2, gh, gw)``
            (normalised units), or θ ``(1, 2, 3)`` with ``transform="affine"``.
        grid: the sampling grid ``(1, H, W, 2)`` of the output (output → input).
        source_points, target_points: ``(K, 2)`` pixel positions (x, y) at the output size.
        history: per step, ``"total"`` (weighted), the unweighted ``"content"``, ``"style"``,
            ``"tv"``, ``"keypoint"`` (normalised units²), ``"smooth"``, and
            ``"time"`` (s) and ``"scale"`` (index into ``config.scales``).
        config: the settings used; ``transform`` the kind of warp; ``grid_size``,
            ``keypoint_weight``, ``smooth_weight`` the warp's settings.
        stopped_reason: ``"finished"``, ``"callback"`` or ``"interrupted"`` (a diverging run
            raises :class:`~course_utils.transfer.TransferError` with this result on ``.result``).
        steps_done, seconds, source, is_imagenet: as in
            :class:`~course_utils.transfer.TransferResult`.
    """

    image: torch.Tensor
    unwarped: torch.Tensor
    control: torch.Tensor
    grid: torch.Tensor
    source_points: torch.Tensor
    target_points: torch.Tensor
    history: dict[str, list[float]]
    config: TransferConfig
    grid_size: tuple[int, int]
    keypoint_weight: float
    smooth_weight: float
    transform: str = "field"
    stopped_reason: str = "finished"
    steps_done: int = 0
    seconds: float = 0.0
    source: str = ""
    is_imagenet: bool = False

    def keypoint_errors(self) -> torch.Tensor:
        """``(K,)`` distances in pixels between where each target point of the output reads
        from and its source point: 0 when the warp carries every source onto its target."""
        reads = warps.sample_grid_at(self.grid, self.target_points[None])[0]
        return (reads - self.source_points).norm(dim=-1)

    def min_jacobian(self) -> float:
        """The smallest Jacobian determinant of the field: > 0 means no fold anywhere."""
        return warps.jacobian_determinant(self.grid).min().item()

    def final(self, term: str = "total") -> float:
        """The last recorded value of a history term (``nan`` if no step was taken)."""
        values = self.history.get(term, [])
        return values[-1] if values else float("nan")

    def describe(self) -> str:
        """One line: steps, time, keypoint error, folds, final losses, network."""
        err = self.keypoint_errors()
        return (
            f"{self.steps_done} steps in {self.seconds:.1f} s ({self.stopped_reason}); keypoints within "
            f"{err.max():.2f} px (mean {err.mean():.2f}); min Jacobian {self.min_jacobian():.2f}; "
            f"style {self.final('style'):.3g}, content {self.final('content'):.3g} | "
            f"{transfer.short_source(self.source)}"
        )


def warp_grid(warp: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The sampling grid ``(1, H, W, 2)`` of a warp, differentiable in its parameters: an
    affine θ ``(1, 2, 3)`` (the STN's grid generator) or control displacements
    ``(1, 2, gh, gw)`` (a smooth field)."""
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
    """The unweighted terms of deformable style transfer, each a scalar tensor.

    Args:
        objective: the content and style targets at the image's size.
        image: ``x``, ``(1, 3, H, W)`` in [0, 1].
        warp: θ ``(1, 2, 3)`` or control displacements ``(1, 2, gh, gw)`` (see :func:`warp_grid`).
        source, target: ``(K, 2)`` pixel positions (x, y) at the image's size: the output
            should show each source point at its target.

    Returns:
        ``{"content", "style", "tv", "keypoint", "smooth"}``; ``"keypoint"`` is in
        normalised units² (pixels ÷ half the longer side), so its weight means the same at
        every size.
    """
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


def deformable_stylise(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor],
    source_points: torch.Tensor | Sequence[Sequence[float]],
    target_points: torch.Tensor | Sequence[Sequence[float]],
    config: TransferConfig | None = None,
    *,
    grid_size: tuple[int, int] = (6, 6),
    transform: str = "field",
    keypoint_weight: float = 1e4,
    smooth_weight: float = 1e2,
    field_lr: float = 0.002,
    **overrides: Any,
) -> DeformableResult:
    """Stylise ``content`` while a warp (a smooth field, or an affine θ) carries ``source_points``
    onto ``target_points``: :func:`deformable_objective`'s weighted terms, minimised by the
    course's loop (:func:`course_utils.loop.optimise`), coarse to fine.

    Args:
        content: ``(1, 3, H, W)`` in [0, 1].
        style: ``(1, 3, H_s, W_s)`` in [0, 1], or a list (blended, or one per region with
            ``style_masks``).
        source_points: ``(K, 2)`` pixel positions (x, y) on the content image.
        target_points: ``(K, 2)`` where those points should appear in the output, same units.
        config: a :class:`~course_utils.transfer.TransferConfig` (layers, weights, steps,
            scales, optimiser, size, style warps and masks); ``preserve_colour`` must be
            ``None`` and ``pixel_range`` ``"sigmoid"``.
        grid_size: control points ``(rows, columns)``, at least 2×2: fewer = smoother field.
        transform: ``"field"`` (a smooth deformation field) or ``"affine"`` (one θ, six
            numbers: the whole picture turns, scales, shears and shifts; ``grid_size`` and
            ``smooth_weight`` are then unused, an affine map being smooth by construction).
        keypoint_weight: weight of the keypoint term, the mean squared distance in normalised
            units (pixels ÷ half the longer side), so it means the same at every size.
        smooth_weight: weight of :func:`course_utils.warps.smoothness` (normalised units).
        field_lr: Adam's step for the warp's parameters, the control displacements or θ's
            entries (normalised units; 0.002 is a quarter of a pixel at 256 px). The image
            uses ``config.optimiser``.
        **overrides: settings that replace ``config``'s, e.g. ``steps=100``.

    Returns:
        A :class:`DeformableResult`; ``.image`` is the warped output.

    Raises:
        ValueError: a bad image, point list or setting (the message names it).
        TransferError: the loss became NaN, infinite or exploded (``config.max_loss_ratio``);
            ``.result`` holds the result of the best step before that.
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
    content = transfer.check_image(content, "content")
    styles, blend = transfer.prepare_styles(style, cfg)
    in_hw = tuple(content.shape[-2:])
    src, tgt = warps.point_pairs(source_points, target_points, in_hw, names=("source_points", "target_points"))
    out_hw = transfer.output_size(in_hw, cfg)
    src, tgt = _rescale(src, in_hw, out_hw), _rescale(tgt, in_hw, out_hw)
    warp = initial_warp(src, tgt, out_hw, transform, grid_size, smooth_weight / max(keypoint_weight, 1e-12),
                        fit=keypoint_weight > 0)
    dev = transfer.device_of(cfg)
    extractor = transfer.feature_network(cfg.replace(device=str(dev)))
    weights = {"content": cfg.content_weight, "style": cfg.style_weight, "tv": cfg.tv_weight,
               "keypoint": keypoint_weight, "smooth": smooth_weight}
    history: dict[str, list[float]] = {k: [] for k in ("total", *weights, "time", "scale")}
    recorder = loop.Recorder(history, sum(cfg.steps_per_scale()), desc="deformable stylise",
                             progress=cfg.progress, callback=cfg.callback)
    gen = torch.Generator().manual_seed(cfg.seed)
    image, out = None, loop.Outcome("finished", 0, None)
    try:
        for si, (scale, n_steps) in enumerate(zip(cfg.scales, cfg.steps_per_scale(), strict=True)):
            recorder.scale_index = si
            hw, c_s, s_s = transfer.inputs_at_scale(content, styles, out_hw, scale, cfg, dev)
            image = transfer.level_start(image, hw, cfg.init, c_s, s_s, blend, gen)
            objective = transfer.Objective(extractor, c_s, s_s, blend, cfg)
            points = _rescale(src, out_hw, hw).to(dev), _rescale(tgt, out_hw, hw).to(dev)
            out = _run_level(objective, image.to(dev), warp.to(dev), points, weights, n_steps, cfg, field_lr, recorder)
            if out.best_extra is not None:  # the best evaluated image and warp of this level
                image, warp = (t.detach().cpu() for t in out.best_extra)
            if out.reason != "finished":
                break
    except KeyboardInterrupt:  # while the targets were being built
        out = loop.Outcome("interrupted", recorder.steps, None)
    finally:
        recorder.close()
    x = (image if image is not None else resize(content, out_hw)).float()
    if tuple(x.shape[-2:]) != out_hw:
        x = F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False)
    x, params = x.clamp(0, 1), warp.float()
    grid = warp_grid(params, out_hw)
    result = DeformableResult(
        image=warps.warp_with_grid(x, grid, mode="bicubic").clamp(0, 1).contiguous(), unwarped=x.contiguous(),
        control=params, grid=grid, source_points=src, target_points=tgt, history=history, config=cfg,
        grid_size=tuple(grid_size), keypoint_weight=float(keypoint_weight), smooth_weight=float(smooth_weight),
        transform=transform, stopped_reason=out.reason, steps_done=recorder.steps,
        seconds=time.perf_counter() - recorder.start, source=extractor.source, is_imagenet=extractor.is_imagenet,
    )
    return transfer.finish(result, out)


def _run_level(
    objective: transfer.Objective, image: torch.Tensor, warp: torch.Tensor, points: tuple[torch.Tensor, torch.Tensor],
    weights: dict[str, float], n_steps: int, cfg: TransferConfig, field_lr: float, recorder: loop.Recorder,
) -> loop.Outcome:
    """``n_steps`` steps of the course's loop at one size, on the image's logits and the warp.

    The warp has its own Adam, stepped with the gradients of the same evaluation: the
    keypoint term is far stiffer than the image's relative losses, and one L-BFGS over both
    took steps sized for the warp, so the image hardly moved.
    """
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
                         on_step=recorder, max_loss_ratio=cfg.max_loss_ratio)


def initial_warp(
    source: torch.Tensor, target: torch.Tensor, size: tuple[int, int], transform: str = "field",
    grid_size: tuple[int, int] = (6, 6), smooth_weight: float = 0.01, *, fit: bool = True,
) -> torch.Tensor:
    """The warp the keypoints alone ask for, where the joint optimisation starts: θ
    ``(1, 2, 3)`` (:func:`course_utils.warps.fit_affine_to_points`) or control
    displacements ``(1, 2, gh, gw)`` (:func:`course_utils.warps.fit_field_to_points`),
    small least-squares problems with no network. ``fit=False``: the identity."""
    if transform == "affine":
        return warps.fit_affine_to_points(source, target, size) if fit else geometry.identity_theta()[None]
    if fit:
        return warps.fit_field_to_points(source, target, size, grid_size=grid_size, smooth_weight=smooth_weight)
    return warps.zero_control(grid_size)


def _rescale(points: torch.Tensor, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> torch.Tensor:
    """Pixel positions ``(K, 2)`` on an image of ``from_hw`` → the same places at ``to_hw``
    (pixel centres scale: ``(p + 0.5) · ratio − 0.5``)."""
    ratio = torch.tensor([to_hw[1] / from_hw[1], to_hw[0] / from_hw[0]])
    return (points + 0.5) * ratio - 0.5


__all__ = ["TRANSFORMS", "DeformableResult", "deformable_objective", "deformable_stylise", "initial_warp", "warp_grid"]
