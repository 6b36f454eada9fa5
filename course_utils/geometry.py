"""Affine θ builders, composition, inversion and warping with ``affine_grid``/``grid_sample``.

Conventions (taught in notebook 01):

* Coordinates are **normalised**: x runs from -1 (left) to +1 (right) across the width,
  y from -1 (top) to +1 (bottom) across the height, whatever the size in pixels.
* θ is a ``(2, 3)`` or ``(B, 2, 3)`` matrix in the convention of ``F.affine_grid``: it maps
  each **output** coordinate to the **input** coordinate that is sampled there. So θ is the
  *inverse* of the motion you see. The builders below take the motion you want to see
  (rotate the picture 30° anticlockwise, make it twice as large, move it right) and return
  the θ that produces it.
* ``compose(a, b)`` is "first a, then b": ``warp(warp(x, a), b) == warp(x, compose(a, b))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .checks import number

Theta = torch.Tensor

_MODES = ("bilinear", "nearest", "bicubic")
_PADDINGS = ("zeros", "border", "reflection")


def _theta(rows: Sequence[Sequence[float]]) -> Theta:
    return torch.tensor(rows, dtype=torch.float32)


def identity_theta() -> Theta:
    """The identity θ ``[[1, 0, 0], [0, 1, 0]]`` of shape ``(2, 3)``: output = input.

    (The seed article wrote ``[1, 0, 0, 0, 0, 1]``, which is *not* the identity: seed
    defect 2 in ``docs/seed_defects.md``.)
    """
    return _theta([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def rotation_theta(degrees: float, aspect: float = 1.0) -> Theta:
    """θ that rotates the picture anticlockwise (as seen on screen) about its centre.

    Args:
        degrees: rotation angle; positive is anticlockwise.
        aspect: width / height of the image that will be warped. Normalised coordinates
            stretch a non-square image into a square, so without this correction a
            rotation would also shear it.

    Returns:
        θ of shape ``(2, 3)``.
    """
    degrees, aspect = number("degrees", degrees), number("aspect", aspect)
    if not aspect > 0:
        raise ValueError(f"aspect must be width / height > 0, got {aspect!r}.")
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    # Rotation in pixel units, then rescaled per axis: x is in units of W/2, y of H/2.
    return _theta([[c, -s / aspect, 0.0], [s * aspect, c, 0.0]])


def scale_theta(sx: float, sy: float | None = None) -> Theta:
    """θ that makes the picture ``sx`` times wider and ``sy`` times taller (about the centre).

    ``sx = 2`` zooms in (content twice as large); ``sx = 0.5`` zooms out. ``sy`` defaults to
    ``sx``. Note that θ holds ``1 / sx``: it maps output to input.
    """
    sx = number("sx", sx)
    sy = sx if sy is None else number("sy", sy)
    if sx == 0 or sy == 0:
        raise ValueError(f"scale factors must be non-zero, got sx={sx}, sy={sy}.")
    return _theta([[1.0 / sx, 0.0, 0.0], [0.0, 1.0 / sy, 0.0]])


def shear_theta(shx: float, shy: float = 0.0) -> Theta:
    """θ that shears the picture: a point (x, y) moves to (x + shx·y, y + shy·x)."""
    shx, shy = number("shx", shx), number("shy", shy)
    if math.isclose(shx * shy, 1.0):
        raise ValueError(f"shx * shy must not be 1 (the shear would flatten the image); got {shx}, {shy}.")
    return invert(_theta([[1.0, shx, 0.0], [shy, 1.0, 0.0]]))


def translation_theta(tx: float, ty: float) -> Theta:
    """θ that moves the picture by ``(tx, ty)`` in normalised units (right and down positive).

    Moving by 2 units crosses the whole image. For pixels use :func:`translation_theta_pixels`.
    """
    tx, ty = number("tx", tx), number("ty", ty)
    return _theta([[1.0, 0.0, -tx], [0.0, 1.0, -ty]])


def translation_theta_pixels(dx: float, dy: float, width: int, height: int) -> Theta:
    """θ that moves the picture by ``(dx, dy)`` pixels (right and down positive).

    With ``align_corners=False`` (the course default) the image spans 2 normalised units in
    ``width`` pixels, so one pixel is ``2 / width`` units.
    """
    width, height = number("width", width), number("height", height)
    if not (width > 0 and height > 0):
        raise ValueError(f"width and height must be positive pixel counts, got {width!r} x {height!r}.")
    return translation_theta(2.0 * number("dx", dx) / width, 2.0 * number("dy", dy) / height)


def to_homogeneous(theta: Theta) -> Theta:
    """``(…, 2, 3)`` → ``(…, 3, 3)`` by appending the row ``[0, 0, 1]``."""
    _check_theta(theta)
    bottom = torch.zeros(*theta.shape[:-2], 1, 3, dtype=theta.dtype, device=theta.device)
    bottom[..., 0, 2] = 1.0
    return torch.cat([theta, bottom], dim=-2)


def compose(*thetas: Theta) -> Theta:
    """Compose θs so that the result applies the first motion, then the second, …

    ``warp(warp(x, a), b)`` equals ``warp(x, compose(a, b))`` (up to resampling). Because θ
    maps output to input, this is the matrix product ``a @ b`` in homogeneous form.
    """
    if not thetas:
        return identity_theta()
    result = to_homogeneous(thetas[0])
    for t in thetas[1:]:
        result = result @ to_homogeneous(t)
    return result[..., :2, :]


def invert(theta: Theta) -> Theta:
    """The θ of the opposite motion: ``compose(t, invert(t))`` is the identity."""
    h = to_homogeneous(theta)
    det = torch.linalg.det(h[..., :2, :2])
    if torch.any(det.abs() < 1e-8):
        raise ValueError("theta is singular (its 2x2 part has determinant 0) and cannot be inverted.")
    return torch.linalg.inv(h)[..., :2, :]


def _check_theta(theta: Theta) -> None:
    if not isinstance(theta, torch.Tensor):
        raise TypeError(f"theta must be a torch.Tensor of shape (2, 3) or (B, 2, 3), got {type(theta).__name__}.")
    if theta.shape[-2:] != (2, 3) or theta.dim() not in (2, 3):
        raise ValueError(f"theta must have shape (2, 3) or (B, 2, 3), got {tuple(theta.shape)}.")


def _batched_theta(theta: Theta, batch: int, like: torch.Tensor) -> Theta:
    _check_theta(theta)
    t = theta.to(device=like.device, dtype=like.dtype)
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.shape[0] == 1 and batch > 1:
        t = t.expand(batch, 2, 3)
    if t.shape[0] != batch:
        raise ValueError(f"theta has batch {t.shape[0]} but the image batch is {batch}.")
    return t


def sampling_grid(
    theta: Theta, size: tuple[int, int], *, batch: int = 1, align_corners: bool = False
) -> torch.Tensor:
    """The sampling grid of ``F.affine_grid``: ``(B, H, W, 2)`` input coordinates (x, y)
    in normalised units, one per output pixel."""
    h, w = size
    t = _batched_theta(theta, batch, theta if theta.is_floating_point() else theta.float())
    return F.affine_grid(t, [t.shape[0], 1, h, w], align_corners=align_corners)


def warp(
    image: torch.Tensor,
    theta: Theta,
    *,
    size: tuple[int, int] | None = None,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> torch.Tensor:
    """Warp ``image`` with θ: ``affine_grid`` builds the grid, ``grid_sample`` samples it.

    Args:
        image: ``(B, C, H, W)`` or ``(C, H, W)``.
        theta: ``(2, 3)`` (shared by the batch) or ``(B, 2, 3)``; maps output to input.
        size: output ``(H, W)``; defaults to the input size.
        mode: ``"bilinear"``, ``"nearest"`` or ``"bicubic"``.
        padding_mode: what is sampled outside the input: ``"zeros"``, ``"border"``
            (repeat the edge) or ``"reflection"`` (mirror).
        align_corners: ``False`` means ±1 are the outer *edges* of the corner pixels;
            ``True`` means ±1 are the corner pixels' *centres*. Always say which.

    Returns:
        The warped image, ``(B, C, *size)`` (or ``(C, *size)`` for an unbatched input).
        Differentiable with respect to both ``image`` and ``theta``.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
    if padding_mode not in _PADDINGS:
        raise ValueError(f"padding_mode must be one of {_PADDINGS}, got {padding_mode!r}.")
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (B, C, H, W) or (C, H, W) tensor, got {shape}.")
    unbatched = image.dim() == 3
    x = image.unsqueeze(0) if unbatched else image
    b, c, h, w = x.shape
    out_h, out_w = size if size is not None else (h, w)
    t = _batched_theta(theta, b, x)
    grid = F.affine_grid(t, [b, c, out_h, out_w], align_corners=align_corners)
    out = F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    return out[0] if unbatched else out


def pixel_to_normalised(
    coords: torch.Tensor, size: tuple[int, int], *, align_corners: bool = False
) -> torch.Tensor:
    """Pixel coordinates ``(…, 2)`` as (x, y) → normalised coordinates.

    Pixel (0, 0) is the *centre* of the top-left pixel. With ``align_corners=False`` it maps
    to ``-1 + 1/W``; with ``True`` to exactly ``-1``.
    """
    h, w = size
    scale = torch.tensor([w, h], dtype=coords.dtype, device=coords.device)
    if align_corners:
        return coords * 2.0 / (scale - 1) - 1.0
    return (coords + 0.5) * 2.0 / scale - 1.0


def normalised_to_pixel(
    coords: torch.Tensor, size: tuple[int, int], *, align_corners: bool = False
) -> torch.Tensor:
    """The inverse of :func:`pixel_to_normalised`."""
    h, w = size
    scale = torch.tensor([w, h], dtype=coords.dtype, device=coords.device)
    if align_corners:
        return (coords + 1.0) * (scale - 1) / 2.0
    return (coords + 1.0) * scale / 2.0 - 0.5


def theta_from_params(
    angle: float = 0.0,
    scale: float = 1.0,
    shear: float = 0.0,
    tx: float = 0.0,
    ty: float = 0.0,
    aspect: float = 1.0,
) -> Theta:
    """One θ from slider-style parameters: scale, then shear, then rotate, then move.

    The θ playground uses this. ``angle`` in degrees (anticlockwise), ``tx``/``ty`` in
    normalised units.
    """
    return compose(
        scale_theta(number("scale", scale)),
        shear_theta(number("shear", shear)),
        rotation_theta(number("angle", angle), aspect=aspect),
        translation_theta(tx, ty),
    )
