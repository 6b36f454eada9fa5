"""Warps for notebook 05: turned styles, smooth deformation fields, keypoints and registration.

A **deformation field** extends one affine θ (:mod:`course_utils.geometry`) to a coarse grid
of control displacements, upsampled to one displacement per pixel and added to the identity
sampling grid; like θ, it maps **output** positions to the **input** positions read there.
Grids and displacements are in normalised units (``align_corners=False``); points are (x, y) pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import geometry
from .checks import check_size, is_whole, number, shape_of


def _check_grid(grid: object, what: str = "grid") -> None:
    if not isinstance(grid, torch.Tensor) or grid.dim() != 4 or grid.shape[-1] != 2:
        raise ValueError(f"{what} must be a sampling grid (B, H, W, 2), got {shape_of(grid)}; add a batch dimension "
                         f"with {what}[None], or turn a θ into a grid with geometry.sampling_grid(theta, size).")
    if not grid.is_floating_point():
        raise ValueError(f"{what} has dtype {grid.dtype}; a sampling grid holds normalised positions: use {what}.float().")
    # One pass over H x W x 2 numbers: a NaN grid would crash grid_sample's backward (a segfault).
    if not torch.isfinite(grid).all():
        raise ValueError(f"{what} contains NaN or infinite values (a diverged training or a division by zero "
                         "upstream); lower the learning rate or check what produced it.")


def _check_image(image: object, what: str = "image") -> None:
    if not isinstance(image, torch.Tensor) or image.dim() != 4:
        raise ValueError(f"{what} must be a (B, C, H, W) tensor, got {shape_of(image)}; "
                         f"add a batch dimension with {what}[None].")
    if not image.is_floating_point():
        raise ValueError(f"{what} has dtype {image.dtype}; warping needs a floating-point image: use "
                         f"{what}.float() / 255 for 0-255 pixels, or {what}.float() for a mask.")


def check_control(control: object) -> None:
    """Control displacements must be ``(B, 2, gh, gw)`` with at least 2×2 points."""
    if not isinstance(control, torch.Tensor) or control.dim() != 4 or control.shape[1] != 2:
        raise ValueError("control displacements must have shape (B, 2, gh, gw) (x and y per control point), "
                         f"got {shape_of(control)}.")
    if control.shape[-1] < 2 or control.shape[-2] < 2:
        raise ValueError(f"the control grid needs at least 2x2 points, got {tuple(control.shape[-2:])}.")
    if not control.is_floating_point():
        raise ValueError(f"control displacements have dtype {control.dtype}; they are normalised distances: "
                         "use control.float().")
    if not torch.isfinite(control).all():  # a few numbers; a NaN field would crash grid_sample's backward
        raise ValueError("control displacements contain NaN or infinite values (a diverged training or a division "
                         "by zero upstream); lower the learning rate or check what produced it.")


def point_pairs(source: object, target: object, size: tuple[int, int] | None = None, *,
                names: tuple[str, str] = ("source_px", "target_px")) -> tuple[torch.Tensor, torch.Tensor]:
    """Two lists of (x, y) pixel positions as float tensors ``(K, 2)`` that pair up one to
    one; with ``size`` ``(H, W)``, all on that image."""
    if size is not None:
        check_size(size)
    out = []
    for what, points in zip(names, (source, target), strict=True):
        if not isinstance(points, torch.Tensor):
            try:
                points = torch.as_tensor(points, dtype=torch.float32)
            except (TypeError, ValueError):
                raise ValueError(f"{what} must be (K, 2) pixel positions (x, y), got {type(points).__name__}.") from None
        if points.dim() != 2 or points.shape[-1] != 2 or len(points) < 1:
            raise ValueError(f"{what} must have shape (K, 2), one (x, y) pixel position per point, got "
                             f"{tuple(points.shape)}; e.g. torch.tensor([[10.0, 20.0], [30.0, 5.0]]).")
        points = points.float()
        if not torch.isfinite(points).all():
            raise ValueError(f"{what} contains NaN or infinite positions; give finite (x, y) pixel positions.")
        if size is not None:
            h, w = size
            x, y = points[..., 0], points[..., 1]
            if not (torch.isfinite(points).all() and (x >= -0.5).all() and (x <= w - 0.5).all()
                    and (y >= -0.5).all() and (y <= h - 0.5).all()):
                raise ValueError(f"{what} has points outside the {h}x{w} px image; give (x, y) pixels inside it.")
        out.append(points)
    if out[0].shape != out[1].shape:
        raise ValueError(f"{names[0]} {tuple(out[0].shape)} and {names[1]} {tuple(out[1].shape)} must pair up one "
                         "to one; give the same number of points in each.")
    return out[0], out[1]


def warp_style(style: torch.Tensor, degrees: float = 0.0, zoom: float = 1.0) -> torch.Tensor:
    """Turn (anticlockwise) and zoom a style image ``(B, 3, H, W)`` about its centre, with
    **reflection** padding so that no empty border enters its Gram statistics."""
    if degrees == 0 and zoom == 1:
        return style
    h, w = style.shape[-2:]
    theta = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees, aspect=w / h))
    return geometry.warp(style, theta, padding_mode="reflection").clamp(0, 1)


# ------------------------------------------------------------------- fields and masks
def identity_grid(size: tuple[int, int], batch: int = 1, *, device=None) -> torch.Tensor:
    """The identity sampling grid ``(B, H, W, 2)``: every output pixel reads itself."""
    check_size(size)
    if not is_whole(batch) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}.")
    return geometry.sampling_grid(geometry.identity_theta().to(device), size, batch=batch)


def zero_control(grid_size: tuple[int, int], batch: int = 1, *, requires_grad: bool = False) -> torch.Tensor:
    """Control displacements ``(B, 2, gh, gw)`` of the identity field (all zeros)."""
    if not (isinstance(grid_size, Sequence) and len(grid_size) == 2 and all(is_whole(v) and v >= 2 for v in grid_size)):
        raise ValueError(f"grid_size must be (rows, columns) of control points, two integers >= 2, got {grid_size!r}; "
                         "e.g. (6, 6).")
    if not is_whole(batch) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}.")
    return torch.zeros(batch, 2, *grid_size).requires_grad_(requires_grad)


def upsample_field(control: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Dense displacements ``(B, H, W, 2)`` from control displacements ``(B, 2, gh, gw)``:
    bicubic with the control points on the image's corners (``align_corners=True`` here only)."""
    check_control(control)
    check_size(size)
    dense = F.interpolate(control, size=tuple(size), mode="bicubic", align_corners=True)
    return dense.permute(0, 2, 3, 1)


def field_grid(control: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Sampling grid ``(B, H, W, 2)`` = identity + upsampled displacement."""
    check_control(control)
    return identity_grid(size, control.shape[0], device=control.device) + upsample_field(control, size)


def warp_with_grid(image: torch.Tensor, grid: torch.Tensor, *, mode: str = "bilinear",
                   padding_mode: str = "border") -> torch.Tensor:
    """``grid_sample`` of ``image`` ``(B, C, H, W)`` on ``grid`` ``(B, H_out, W_out, 2)`` (a
    batch of 1 serves every image), with the course's ``align_corners=False``; the grid is
    read in the image's dtype and on its device."""
    _check_image(image)
    _check_grid(grid)
    if grid.shape[0] not in (1, image.shape[0]):
        raise ValueError(f"the grid has a batch of {grid.shape[0]} but the image batch is {image.shape[0]}; "
                         "give one grid (or control) per image, or a batch of 1 for all.")
    grid = grid.to(image).expand(image.shape[0], *grid.shape[1:])
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=False)


def warp_with_field(image: torch.Tensor, control: torch.Tensor) -> torch.Tensor:
    """Warp ``image`` ``(B, C, H, W)`` with the smooth field of ``control`` ``(B, 2, gh, gw)``."""
    _check_image(image)
    return warp_with_grid(image, field_grid(control, image.shape[-2:]))


def warp_mask(mask: torch.Tensor, grid_or_theta: torch.Tensor, *, soft: bool = True) -> torch.Tensor:
    """Warp region masks ``(B, R, H, W)`` with the image's grid or θ, so that they move exactly
    with it: bilinear edges if ``soft``, else the nearest pixel (a hard 0/1 mask); 0 outside."""
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4:
        raise ValueError(f"mask must have shape (B, R, H, W), one channel per region, got {shape_of(mask)}; "
                         "add dimensions with mask[None, None].")
    if not mask.is_floating_point():
        raise ValueError(f"mask has dtype {mask.dtype}; warping needs a floating-point mask: use mask.float().")
    if not isinstance(grid_or_theta, torch.Tensor):
        raise ValueError(f"grid_or_theta must be a sampling grid (B, H, W, 2) or a θ (2, 3) tensor, got "
                         f"{type(grid_or_theta).__name__}; pass the grid or θ that warped the image.")
    mode = "bilinear" if soft else "nearest"
    if grid_or_theta.shape[-2:] == (2, 3) and grid_or_theta.dim() in (2, 3):
        return geometry.warp(mask, grid_or_theta, mode=mode, padding_mode="zeros")
    return warp_with_grid(mask, grid_or_theta, mode=mode, padding_mode="zeros")


# ------------------------------------------------------------- what a grid measures
def grid_in_pixels(grid: torch.Tensor) -> torch.Tensor:
    """A normalised grid ``(B, H, W, 2)`` → the same positions in input pixels."""
    _check_grid(grid)
    return geometry.normalised_to_pixel(grid, grid.shape[1:3])


def jacobian_determinant(grid: torch.Tensor) -> torch.Tensor:
    """The Jacobian determinant of output pixel → input pixel, ``(B, H-1, W-1)``: 1 keeps
    areas, below 1 compresses, above 1 stretches, and ≤ 0 **folds** (neighbours swap order)."""
    p = grid_in_pixels(grid)
    dx = p[:, :-1, 1:, :] - p[:, :-1, :-1, :]  # derivative along output x
    dy = p[:, 1:, :-1, :] - p[:, :-1, :-1, :]  # derivative along output y
    return dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0]


def smoothness(control: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring control displacements: 0 for a translation."""
    check_control(control)
    dx = control[..., :, 1:] - control[..., :, :-1]
    dy = control[..., 1:, :] - control[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def sample_grid_at(grid: torch.Tensor, points_px: torch.Tensor) -> torch.Tensor:
    """Where the output pixels ``points_px`` ``(B, K, 2)`` read from, in input pixels
    ``(B, K, 2)``; differentiable in the grid."""
    _check_grid(grid)
    if not isinstance(points_px, torch.Tensor) or points_px.dim() != 3 or points_px.shape[0] != grid.shape[0] \
            or points_px.shape[-1] != 2:
        raise ValueError(f"points_px must be (B, K, 2) pixel positions with the grid's batch B={grid.shape[0]}, "
                         f"got {shape_of(points_px)}; add a batch dimension with points_px[None].")
    h, w = grid.shape[1:3]
    where = geometry.pixel_to_normalised(points_px.float(), (h, w)).unsqueeze(2)  # (B, K, 1, 2)
    values = F.grid_sample(grid.permute(0, 3, 1, 2), where, mode="bilinear", padding_mode="border", align_corners=False)
    return geometry.normalised_to_pixel(values[..., 0].permute(0, 2, 1), (h, w))


def keypoint_loss(grid: torch.Tensor, source_px: torch.Tensor, target_px: torch.Tensor) -> torch.Tensor:
    """Mean squared distance (pixels²) between where each target point ``(K, 2)`` reads from
    on ``grid`` ``(1, H, W, 2)`` and its source point: 0 when the warp carries every source
    onto its target."""
    src, tgt = point_pairs(source_px, target_px)
    return (sample_grid_at(grid, tgt[None].to(grid.device)) - src.to(grid.device)).pow(2).sum(-1).mean()


def end_point_error(grid_a: torch.Tensor, grid_b: torch.Tensor, margin: int = 0) -> float:
    """Mean distance in pixels between two sampling grids, ignoring a border of ``margin`` pixels."""
    _check_grid(grid_a, "grid_a")
    _check_grid(grid_b, "grid_b")
    if grid_a.shape != grid_b.shape:
        raise ValueError(f"grid_a {tuple(grid_a.shape)} and grid_b {tuple(grid_b.shape)} must have the same shape; "
                         "build both for the same size.")
    if not is_whole(margin) or margin < 0 or 2 * margin >= min(grid_a.shape[1:3]):
        raise ValueError(f"margin={margin!r} is invalid for a {grid_a.shape[1]}x{grid_a.shape[2]} grid: expected a "
                         "whole number of pixels >= 0 that leaves some pixels; use a smaller margin.")
    d = (grid_in_pixels(grid_a) - grid_in_pixels(grid_b)).norm(dim=-1)
    if margin:
        d = d[:, margin:-margin, margin:-margin]
    return d.mean().item()


# ------------------------------------------------------ fitting a warp to point pairs
def fit_field_to_points(source_px: torch.Tensor, target_px: torch.Tensor, size: tuple[int, int], *,
                        grid_size: tuple[int, int] = (6, 6), smooth_weight: float = 0.01,
                        steps: int = 100) -> torch.Tensor:
    """Control displacements ``(1, 2, gh, gw)`` of the smooth field that carries ``source_px``
    onto ``target_px`` ``(K, 2)`` on an image of ``size``: L-BFGS on the keypoint distance in
    normalised units (independent of the size) plus ``smooth_weight`` × :func:`smoothness`."""
    source_px, target_px = point_pairs(source_px, target_px)
    check_size(size)
    control = zero_control(grid_size, requires_grad=True)
    if not is_whole(steps) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0 (L-BFGS iterations), got {steps!r}.")
    if not number("smooth_weight", smooth_weight) >= 0:  # a negative weight rewards folds: NaN in a few steps
        raise ValueError(f"smooth_weight must be a finite number >= 0, got {smooth_weight!r}; e.g. 0.01.")
    scale = max(size) / 2.0
    opt = torch.optim.LBFGS([control], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = keypoint_loss(field_grid(control, size), source_px, target_px) / scale**2
        loss = loss + smooth_weight * smoothness(control)
        loss.backward()
        return loss

    opt.step(closure)
    return control.detach()


def fit_affine_to_points(source_px: torch.Tensor, target_px: torch.Tensor, size: tuple[int, int], *,
                         prior_weight: float = 1e-4) -> torch.Tensor:
    """The affine θ ``(1, 2, 3)`` (output → input) that carries ``source_px`` onto ``target_px``
    ``(K, 2)``: least squares in normalised coordinates. Three pairs fix θ's six numbers; the
    small pull towards the identity (``prior_weight``) makes fewer still give one answer."""
    source_px, target_px = point_pairs(source_px, target_px)
    check_size(size)
    if not number("prior_weight", prior_weight) >= 0:
        raise ValueError(f"prior_weight must be a finite number >= 0, got {prior_weight!r}; e.g. 1e-4.")
    src = geometry.pixel_to_normalised(source_px.double(), size)
    tgt = geometry.pixel_to_normalised(target_px.double(), size)
    design = torch.cat([tgt, torch.ones(len(tgt), 1, dtype=torch.float64)], dim=1)  # (K, 3): output (x, y, 1)
    identity = geometry.identity_theta().double().T  # (3, 2)
    lhs = design.T @ design + prior_weight * torch.eye(3, dtype=torch.float64)
    rhs = design.T @ src + prior_weight * identity
    try:
        return torch.linalg.solve(lhs, rhs).T.float()[None]
    except torch.linalg.LinAlgError:
        raise ValueError(f"{len(tgt)} point pair(s) do not fix an affine map (fewer than 3, or all on one line) and "
                         f"prior_weight={prior_weight!r} does not either; add pairs or use a prior_weight > 0.") from None


# ----------------------------------------------------------------------- registration
def _check_registration(moving: object, fixed: object, steps: object, scales: object, lr: object) -> None:
    """Checked before any step: a NaN image would crash ``grid_sample``'s backward."""
    for what, image in (("moving", moving), ("fixed", fixed)):
        if not isinstance(image, torch.Tensor) or image.dim() != 4:
            raise ValueError(f"{what} must be a (B, C, H, W) image tensor, got {shape_of(image)}; "
                             f"add a batch dimension with {what}[None].")
        if not torch.isfinite(image).all():
            raise ValueError(f"{what} contains NaN or infinite pixels; register images with finite values.")
        if not image.is_floating_point():
            raise ValueError(f"{what} has dtype {image.dtype}; registration needs floating-point images: use "
                             f"{what}.float() / 255 for 0-255 pixels.")
    if moving.shape != fixed.shape:
        raise ValueError(f"moving {tuple(moving.shape)} and fixed {tuple(fixed.shape)} must have the same shape; "
                         "resize one of them (images.resize) or give both the same channels.")
    if not is_whole(steps) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0 (steps per scale), got {steps!r}.")
    if not (isinstance(scales, Sequence)
            and all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in scales)):
        raise ValueError(f"scales must be a list of sizes > 0 (fractions of the image), got {scales!r}; "
                         "e.g. (0.25, 0.5, 1.0).")
    if not number("lr", lr) > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}; e.g. lr=0.01.")


def _coarse_to_fine(parameter: torch.Tensor, loss_at: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    moving: torch.Tensor, fixed: torch.Tensor, *, steps: int, scales: Sequence[float], lr: float,
                    desc: str, progress: bool) -> list[float]:
    """Adam on ``parameter`` minimising ``loss_at(moving, fixed)`` resized to each scale in
    turn: small blurred copies first (a wide basin, cheap steps)."""
    def resized(image: torch.Tensor, scale: float) -> torch.Tensor:
        if scale == 1.0:
            return image
        size = [max(8, round(s * scale)) for s in image.shape[-2:]]
        return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)

    opt = torch.optim.Adam([parameter], lr=lr)
    history: list[float] = []
    with tqdm(total=steps * len(scales), desc=desc, disable=not progress) as bar:
        for scale in scales:
            m, f = resized(moving, scale), resized(fixed, scale)
            for _ in range(steps):
                loss = loss_at(m, f)
                history.append(loss.item())
                # Stop at the first non-finite loss or parameter: one step later the sampling
                # grid would be NaN, and grid_sample's backward crashes the process on it.
                if not math.isfinite(history[-1]):
                    _diverged(desc, len(history), f"the loss became {history[-1]}", lr)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if not torch.isfinite(parameter).all():
                    _diverged(desc, len(history), "its parameters became NaN or infinite", lr)
                bar.update()
    return history


def _diverged(desc: str, step: int, what: str, lr: float) -> None:
    raise ValueError(f"{desc} diverged at step {step} ({what}); lower the learning rate, e.g. lr={lr / 10:g} "
                     f"instead of {lr:g}.")


def register_affine(moving: torch.Tensor, fixed: torch.Tensor, *, steps: int = 100,
                    scales: Sequence[float] = (0.25, 0.5, 1.0), lr: float = 0.02,
                    progress: bool = True) -> tuple[torch.Tensor, list[float]]:
    """``(θ, losses)``: the θ ``(2, 3)`` with ``geometry.warp(moving, θ) ≈ fixed``, by Adam on
    θ from the identity, coarse to fine, on the mean squared pixel error."""
    _check_registration(moving, fixed, steps, scales, lr)
    theta = geometry.identity_theta().clone().requires_grad_(True)
    history = _coarse_to_fine(
        theta, lambda m, f: F.mse_loss(geometry.warp(m, theta, padding_mode="border"), f),
        moving, fixed, steps=steps, scales=scales, lr=lr, desc="affine registration", progress=progress,
    )
    return theta.detach(), history


def register_field(moving: torch.Tensor, fixed: torch.Tensor, *, grid_size: tuple[int, int] = (6, 6),
                   steps: int = 150, scales: Sequence[float] = (0.25, 0.5, 1.0), lr: float = 0.01,
                   smooth_weight: float = 0.1, progress: bool = True) -> tuple[torch.Tensor, list[float]]:
    """``(control, losses)``: the control displacements ``(1, 2, gh, gw)`` whose field warps
    ``moving`` onto ``fixed`` (pixel MSE + ``smooth_weight`` × :func:`smoothness`), coarse to fine."""
    _check_registration(moving, fixed, steps, scales, lr)
    if not number("smooth_weight", smooth_weight) >= 0:
        raise ValueError(f"smooth_weight must be a finite number >= 0, got {smooth_weight!r}; e.g. 0.1.")
    control = zero_control(grid_size, moving.shape[0], requires_grad=True)
    history = _coarse_to_fine(
        control, lambda m, f: F.mse_loss(warp_with_field(m, control), f) + smooth_weight * smoothness(control),
        moving, fixed, steps=steps, scales=scales, lr=lr, desc="field registration", progress=progress,
    )
    return control.detach(), history
