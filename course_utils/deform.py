"""Deformable style transfer without a keypoint network: the image and a smooth field, together.

Kim, Kolkin, Salavon & Shakhnarovich (ECCV 2020, *Deformable Style Transfer*) let the
geometry of the result move as well as its texture: next to the image ``x`` they optimise
a smooth **deformation field** and show the warped image ``W(x)``. They match keypoints
found by a network; here the pairs of points are given (notebook 05 uses fixed pairs on
the cat photo; a learner may pick their own), and everything else is the course's own
parts:

* the field is a coarse grid of control displacements, upsampled to a dense sampling grid
  (:func:`course_utils.warps.field_grid`): the grid generator (网格生成器) and sampler
  (采样器) of notebooks 01–02, with a few numbers instead of an affine θ. It starts as the
  smooth field the keypoints alone ask for (:func:`course_utils.warps.fit_field_to_points`)
  and moves with its own Adam, from the same gradient evaluation as the image's step;
* the losses are :class:`course_utils.transfer.Objective`'s, so the style settings
  (layers, weights, ``style_warps``, ``style_masks``) mean the same as in
  :func:`course_utils.transfer.stylise`.

The objective, minimised jointly over the image and the control displacements::

    content_weight · content(x)            # the image keeps the photo's content
  + style_weight   · style(W(x))           # the *warped* image carries the style
  + tv_weight      · tv(x)
  + keypoint_weight · keypoints(W)         # mean squared distance, normalised units
  + smooth_weight  · smoothness(control)   # neighbouring control points move together

The warp samples ``x`` **bicubically**. Bilinear sampling at a fractional position averages
neighbouring pixels, a blur; the optimiser then sharpens ``x`` so that the blurred ``W(x)``
still has the style's fine texture, and that costs content (measured at 64 px, 20 steps:
the content loss 1.6× that of plain transfer with bilinear sampling, 0.9–0.95× with
bicubic).

With ``transform="affine"`` the warp is the STN's own: six numbers θ, turned into a grid by
the grid generator (``F.affine_grid``), learned by the same backward pass as the image. An
affine map moves the whole picture (it can turn, scale, shear and shift, nothing local),
so three pairs of points fix it; a field can move one part and leave the rest.

Region masks (``style_masks``) are drawn on the content's frame and warped by the same
grid as the image at every step (:func:`course_utils.warps.warp_mask`), so each style stays
on its region wherever the field moves it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from . import config as course_config
from . import geometry, losses, transfer, warps
from .checks import is_whole
from .images import resize
from .transfer import TransferConfig, TransferError

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
        stopped_reason: ``"finished"``, ``"callback"`` or ``"interrupted"``.
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


def _check_points(points: Any, what: str, hw: tuple[int, int]) -> torch.Tensor:
    if not isinstance(points, torch.Tensor):
        try:
            points = torch.as_tensor(points, dtype=torch.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be (K, 2) pixel positions (x, y), got {type(points).__name__}.") from None
    points = points.detach().float().cpu()
    if points.dim() != 2 or points.shape[1] != 2 or points.shape[0] < 1:
        raise ValueError(f"{what} must have shape (K, 2), one (x, y) pixel position per point, got {tuple(points.shape)}.")
    h, w = hw
    inside = (points[:, 0] >= -0.5) & (points[:, 0] <= w - 0.5) & (points[:, 1] >= -0.5) & (points[:, 1] <= h - 0.5)
    if not torch.isfinite(points).all() or not inside.all():
        raise ValueError(f"{what} has points outside the {h}x{w} px content image; give (x, y) pixels inside it.")
    return points


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
    """Stylise ``content`` while a smooth field carries ``source_points`` onto ``target_points``.

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
        TransferError: the loss became NaN or infinite.
    """
    cfg = transfer.configured(config, **overrides)
    cfg.validate()
    for name, (allowed, instead) in _FIXED_SETTINGS.items():
        if getattr(cfg, name) != allowed:
            raise ValueError(f"deformable_stylise needs {name}={allowed!r}, got {getattr(cfg, name)!r}; {instead}.")
    for name, value in (("keypoint_weight", keypoint_weight), ("smooth_weight", smooth_weight),
                        ("field_lr", field_lr)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or (name == "field_lr" and value == 0):
            raise ValueError(f"{name}={value!r} is invalid: expected a finite number >= 0 (> 0 for field_lr).")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform={transform!r} is invalid: expected one of {TRANSFORMS}.")
    if not (isinstance(grid_size, Sequence) and len(grid_size) == 2 and all(
        is_whole(v) and v >= 2 for v in grid_size
    )):
        raise ValueError(f"grid_size={grid_size!r} is invalid: expected (rows, columns), two integers each at least 2.")
    cfg = cfg.replace(lr=cfg.resolved_lr())
    content = transfer._check_image(content, "content")
    styles, blend = transfer._prepare_styles(style, cfg)
    in_hw = tuple(content.shape[-2:])
    src = _check_points(source_points, "source_points", in_hw)
    tgt = _check_points(target_points, "target_points", in_hw)
    if src.shape != tgt.shape:
        raise ValueError(f"source_points {tuple(src.shape)} and target_points {tuple(tgt.shape)} must pair up one to one.")
    dev = torch.device(cfg.device) if cfg.device else course_config.device()
    extractor = transfer.feature_network(cfg.replace(device=str(dev)))
    out_hw = transfer._output_size(in_hw, cfg)
    to_out = torch.tensor([out_hw[1] / in_hw[1], out_hw[0] / in_hw[0]])
    src_out, tgt_out = (src + 0.5) * to_out - 0.5, (tgt + 0.5) * to_out - 0.5  # pixel centres scale

    gen = torch.Generator().manual_seed(cfg.seed)
    # Warm start: the warp that the keypoints alone ask for (a small least-squares problem,
    # no network); the joint optimisation then adjusts it with the style.
    if transform == "affine":
        control = (warps.fit_affine_to_points(src_out, tgt_out, out_hw) if keypoint_weight > 0
                   else geometry.identity_theta()[None])
    elif keypoint_weight > 0:
        control = warps.fit_field_to_points(src_out, tgt_out, out_hw, grid_size=tuple(grid_size),
                                            smooth_weight=smooth_weight / keypoint_weight)
    else:
        control = warps.zero_control(tuple(grid_size))
    control = control.to(dev).requires_grad_(True)
    history: dict[str, list[float]] = {k: [] for k in ("total", "content", "style", "tv", "keypoint", "smooth", "time", "scale")}
    bar = transfer._progress_bar(sum(cfg.steps_per_scale()), cfg.progress)
    bar.set_description("deformable stylise")
    start = time.perf_counter()
    image, best, reason, step = None, None, "finished", 0  # step: steps done, all scales
    try:
        for si, (scale, n_steps) in enumerate(zip(cfg.scales, cfg.steps_per_scale(), strict=True)):
            hw, c_s, s_s = transfer._inputs_at_scale(content, styles, out_hw, scale, cfg, dev)
            objective = transfer.Objective(extractor, c_s, s_s, blend, cfg)
            image = transfer._level_start(image, hw, cfg.init, c_s, s_s, blend, gen)
            to_s = torch.tensor([hw[1] / out_hw[1], hw[0] / out_hw[0]])
            points = ((src_out + 0.5) * to_s - 0.5).to(dev), ((tgt_out + 0.5) * to_s - 0.5).to(dev)
            best, step = _optimise_scale(objective, image.to(dev), control, transform, points, n_steps, si, cfg,
                                         keypoint_weight, smooth_weight, field_lr, history, start, step, bar)
            image = best["image"]
            with torch.no_grad():
                control.copy_(best["control"])
    except _Stop as stop:
        reason = stop.reason
        best = stop.best
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        bar.close()
    if best is None:  # interrupted before the first step: the starting point
        best = {"image": image if image is not None else resize(content, out_hw), "control": control.detach().cpu()}
    x = best["image"].detach().cpu().float()
    if tuple(x.shape[-2:]) != out_hw:
        x = F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False).clamp(0, 1)
    if reason == "interrupted":
        print(f"Interrupted after {len(history['total'])} steps: returning the best image so far "
              "(result.stopped_reason == 'interrupted').")
    ctrl = best["control"].detach().cpu().float()
    grid = _grid(ctrl, transform, out_hw)
    output = warps.warp_with_grid(x, grid, mode="bicubic").clamp(0, 1)
    return DeformableResult(
        image=output.contiguous(), unwarped=x.clamp(0, 1).contiguous(), control=ctrl, grid=grid,
        source_points=src_out, target_points=tgt_out, history=history, config=cfg,
        grid_size=tuple(grid_size), keypoint_weight=float(keypoint_weight), smooth_weight=float(smooth_weight),
        transform=transform, stopped_reason=reason, steps_done=len(history["total"]), seconds=time.perf_counter() - start,
        source=extractor.source, is_imagenet=extractor.is_imagenet,
    )


def _grid(params: torch.Tensor, transform: str, hw: tuple[int, int]) -> torch.Tensor:
    """The sampling grid ``(1, H, W, 2)`` of the warp's parameters (differentiable in them)."""
    return geometry.sampling_grid(params, hw) if transform == "affine" else warps.field_grid(params, hw)


def _smoothness(params: torch.Tensor, transform: str) -> torch.Tensor:
    """The field's smoothness penalty; an affine map is smooth by construction (0)."""
    return params.new_zeros(()) if transform == "affine" else warps.smoothness(params)


class _Stop(Exception):
    def __init__(self, reason: str, best: dict[str, torch.Tensor] | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.best = best


def _optimise_scale(
    objective: transfer.Objective,
    image: torch.Tensor,
    control: torch.Tensor,
    transform: str,
    points: tuple[torch.Tensor, torch.Tensor],
    n_steps: int,
    scale_index: int,
    cfg: TransferConfig,
    keypoint_weight: float,
    smooth_weight: float,
    field_lr: float,
    history: dict[str, list[float]],
    start: float,
    step: int,
    bar,
) -> tuple[dict[str, torch.Tensor], int]:
    """``n_steps`` joint steps on the image logits and the warp's parameters at one size."""
    hw = tuple(image.shape[-2:])
    source, target = points
    region_masks = objective.region_masks
    z = transfer._to_variable(image, "sigmoid").requires_grad_(True)
    if cfg.optimiser == "lbfgs":  # one closure (one forward + backward) per step, as in stylise
        opt = torch.optim.LBFGS([z], lr=cfg.lr, max_iter=1, history_size=cfg.history_size,
                                tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = torch.optim.Adam([z], lr=cfg.lr)
    # The field has its own Adam, stepped with the gradient of the same evaluation: its
    # keypoint term (px²) is far stiffer than the image's relative losses, and one L-BFGS
    # over both took steps sized for the field, so the image hardly moved (measured).
    field_opt = torch.optim.Adam([control], lr=field_lr)
    state: dict[str, Any] = {"best": float("inf"), "record": None, "scale": None}
    best = {"image": image.detach().cpu().clone(), "control": control.detach().cpu().clone()}

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        field_opt.zero_grad(set_to_none=True)
        x = torch.sigmoid(z)
        grid = _grid(control, transform, hw)
        warped = warps.warp_with_grid(x, grid, mode="bicubic")  # see the module docstring
        feats = objective.features(torch.cat([x, warped]))
        c = objective.content_term({k: v[:1] for k, v in feats.items()})
        masks = None
        if region_masks is not None:  # the regions move with the image: same grid, no gradient
            masks = torch.cat([warps.warp_mask(region_masks[:, r : r + 1], grid.detach())
                               for r in range(region_masks.shape[1])], dim=1)
        s = objective.style_term({k: v[1:] for k, v in feats.items()}, masks)
        tv = losses.tv_loss(x)
        kp = warps.keypoint_loss(grid, source, target) / (max(hw) / 2) ** 2  # normalised units²
        sm = _smoothness(control, transform)
        total = (cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * tv
                 + keypoint_weight * kp + smooth_weight * sm)
        value = total.item()
        if not math.isfinite(value):
            raise TransferError(f"The loss became {value} at step {step + 1}; lower lr or the weights.")
        total.backward()
        if state["scale"] is None:  # see transfer._optimise_scale: L-BFGS's absolute curvature test
            g_max = z.grad.abs().max().item()
            state["scale"] = 1.0 / g_max if cfg.optimiser == "lbfgs" and 0 < g_max < transfer._GRAD_FLOOR else 1.0
        if state["scale"] != 1.0:
            z.grad.mul_(state["scale"])
        if value < state["best"]:
            state["best"] = value
            best["image"] = x.detach().cpu().clone()
            best["control"] = control.detach().cpu().clone()
        state["record"] = {"total": value, "content": c.item(), "style": s.item(), "tv": tv.item(),
                           "keypoint": kp.item(), "smooth": sm.item()}
        state["warped"] = warped.detach()
        return total.detach() * state["scale"]

    try:
        for _ in range(n_steps):
            opt.step(closure)  # evaluates the closure once: gradients for the image and the field
            field_opt.step()
            step += 1
            rec = state["record"]
            for k, v in rec.items():
                history[k].append(v)
            history["time"].append(time.perf_counter() - start)
            history["scale"].append(scale_index)
            bar.update(1)
            if step % 10 == 0 or step == 1:
                bar.set_postfix(loss=f"{rec['total']:.4g}",
                                keypoints=f"{math.sqrt(rec['keypoint']) * max(hw) / 2:.2f}px", refresh=False)
            if cfg.callback is not None and cfg.callback(step, state["warped"].cpu(), dict(rec)) is True:
                raise _Stop("callback", best)
    except KeyboardInterrupt:
        raise _Stop("interrupted", best) from None
    return best, step


__all__ = ["TRANSFORMS", "DeformableResult", "deformable_stylise"]
