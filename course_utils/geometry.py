"""Affine θ, sampling grids and warping with ``F.affine_grid`` + ``F.grid_sample``.

Notebook 01 writes this module in its cells (``#@save geometry``), in this order:
coordinates, the grid and the warp, θ builders, compose and invert. θ ``(2, 3)`` or
``(B, 2, 3)`` maps each **output** position to the **input** position read there, so it is
the *inverse* of the motion you see; the builders take the motion and return that θ.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .checks import check_size, is_whole, number, shape_of

# ---------------------------------------------------------------- 1. coordinates


def pixel_to_normalised(coords: torch.Tensor, size: tuple[int, int], *, align_corners: bool = False) -> torch.Tensor:
    """Pixel (x, y) ``(…, 2)`` → normalised (x, y): -1 is the left/top, +1 the right/bottom.

    Pixel (0, 0) is the *centre* of the top-left pixel: ``-1 + 1/W`` with
    ``align_corners=False`` (±1 are the outer edges), exactly ``-1`` with ``True``.
    """
    h, w = size
    scale = torch.tensor([w, h], dtype=coords.dtype, device=coords.device)
    if align_corners:
        return coords * 2.0 / (scale - 1) - 1.0
    return (coords + 0.5) * 2.0 / scale - 1.0


def normalised_to_pixel(coords: torch.Tensor, size: tuple[int, int], *, align_corners: bool = False) -> torch.Tensor:
    """The inverse of :func:`pixel_to_normalised`: normalised (x, y) → pixel (x, y)."""
    h, w = size
    scale = torch.tensor([w, h], dtype=coords.dtype, device=coords.device)
    if align_corners:
        return (coords + 1.0) * (scale - 1) / 2.0
    return (coords + 1.0) * scale / 2.0 - 0.5


# ---------------------------------------------------------------- 2. the grid and the warp


def sampling_grid(theta: torch.Tensor, size: tuple[int, int], *, batch: int = 1,
                  align_corners: bool = False) -> torch.Tensor:
    """The grid generator: ``(batch, H, W, 2)`` input positions, one per output pixel of
    ``size``; ``[..., 0]`` is x (the column), ``[..., 1]`` is y (the row)."""
    check_theta(theta, batch)
    check_size(size)
    theta = theta.expand(batch, 2, 3)  # one θ for every image, or one per image
    return F.affine_grid(theta, [batch, 1, *size], align_corners=align_corners)


def warp(image: torch.Tensor, theta: torch.Tensor, *, size: tuple[int, int] | None = None,
         mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool = False) -> torch.Tensor:
    """The sampler: read ``image`` ``(B, C, H, W)`` or ``(C, H, W)`` on θ's grid.

    ``size`` is the output ``(H, W)`` (default: the input's); ``mode`` ``"bilinear"``,
    ``"nearest"`` or ``"bicubic"`` (the first and last pass gradients to θ);
    ``padding_mode`` what is read outside: ``"zeros"``, ``"border"`` or ``"reflection"``.
    """
    check_image(image)
    check_theta(theta)
    check_choice("mode", mode, ("bilinear", "nearest", "bicubic"))
    check_choice("padding_mode", padding_mode, ("zeros", "border", "reflection"))
    x = image if image.dim() == 4 else image[None]  # one image → a batch of one
    size = x.shape[-2:] if size is None else size
    # θ on the image's device and dtype, then one grid per image:
    grid = sampling_grid(theta.to(x), size, batch=len(x), align_corners=align_corners)
    out = F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    return out if image.dim() == 4 else out[0]


# ---------------------------------------------------------------- 3. θ builders


def identity_theta() -> torch.Tensor:
    """The identity θ ``[[1, 0, 0], [0, 1, 0]]`` (the seed's ``[1, 0, 0, 0, 0, 1]`` is not: seed defect 2)."""
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def scale_theta(sx: float, sy: float | None = None) -> torch.Tensor:
    """θ that makes the picture ``sx`` times wider and ``sy`` (default ``sx``) times taller,
    about the centre: 2 zooms in. θ holds ``1 / sx``."""
    sx = number("sx", sx)
    sy = sx if sy is None else number("sy", sy)
    if sx == 0 or sy == 0:
        raise ValueError(f"scale factors must be non-zero, got sx={sx}, sy={sy}.")
    return torch.tensor([[1.0 / sx, 0.0, 0.0], [0.0, 1.0 / sy, 0.0]])


def translation_theta(tx: float, ty: float) -> torch.Tensor:
    """θ that moves the picture by ``(tx, ty)`` normalised units (right and down; 2 = the whole image)."""
    tx, ty = number("tx", tx), number("ty", ty)
    return torch.tensor([[1.0, 0.0, -tx], [0.0, 1.0, -ty]])


def shear_theta(shx: float, shy: float = 0.0) -> torch.Tensor:
    """θ that shears the picture: (x, y) moves to (x + shx·y, y + shy·x); θ is the inverse matrix."""
    shx, shy = number("shx", shx), number("shy", shy)
    if math.isclose(shx * shy, 1.0):
        raise ValueError(f"shx * shy must not be 1 (the shear would flatten the image); got {shx}, {shy}.")
    return torch.tensor([[1.0, -shx, 0.0], [-shy, 1.0, 0.0]]) / (1.0 - shx * shy)


def rotation_theta(degrees: float, aspect: float = 1.0) -> torch.Tensor:
    """θ that turns the picture anticlockwise (on screen) about its centre.

    ``aspect`` is the image's width / height: normalised coordinates squash a non-square
    image into a square, so without it a rotation would also shear.
    """
    degrees, aspect = number("degrees", degrees), number("aspect", aspect)
    if not aspect > 0:
        raise ValueError(f"aspect must be width / height > 0, got {aspect!r}.")
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # A rotation in pixel units, written in normalised units: x counts W/2 pixels, y H/2.
    return torch.tensor([[c, -s / aspect, 0.0], [s * aspect, c, 0.0]])


def translation_theta_pixels(dx: float, dy: float, width: int, height: int) -> torch.Tensor:
    """θ that moves the picture by ``(dx, dy)`` pixels: one pixel is ``2 / width`` units."""
    width, height = number("width", width), number("height", height)
    if not (width > 0 and height > 0):
        raise ValueError(f"width and height must be positive pixel counts, got {width!r} x {height!r}.")
    return translation_theta(2.0 * number("dx", dx) / width, 2.0 * number("dy", dy) / height)


# ---------------------------------------------------------------- 4. compose and invert


def to_homogeneous(theta: torch.Tensor) -> torch.Tensor:
    """``(…, 2, 3)`` → ``(…, 3, 3)`` by appending the row ``[0, 0, 1]``."""
    check_theta(theta)
    last_row = torch.tensor([0.0, 0.0, 1.0], dtype=theta.dtype, device=theta.device)
    return torch.cat([theta, last_row.expand(*theta.shape[:-2], 1, 3)], dim=-2)


def compose(*thetas: torch.Tensor) -> torch.Tensor:
    """The θ of the first motion, then the second, …: ``warp(warp(x, a), b) ≈ warp(x, compose(a, b))``.

    θ maps output to input, so this is the product ``a @ b`` in homogeneous form.
    """
    if not thetas:
        return identity_theta()
    result = to_homogeneous(thetas[0])
    for theta in thetas[1:]:
        result = result @ to_homogeneous(theta)
    return result[..., :2, :]


def invert(theta: torch.Tensor) -> torch.Tensor:
    """The θ of the opposite motion: ``compose(theta, invert(theta))`` is the identity."""
    full = to_homogeneous(theta)
    if torch.any(torch.linalg.det(full[..., :2, :2]).abs() < 1e-8):
        raise ValueError("theta is singular (its 2x2 part has determinant 0) and cannot be inverted.")
    return torch.linalg.inv(full)[..., :2, :]


def theta_from_params(angle: float = 0.0, scale: float = 1.0, shear: float = 0.0, tx: float = 0.0,
                      ty: float = 0.0, aspect: float = 1.0) -> torch.Tensor:
    """One θ from the playground's sliders: scale, then shear, then rotate (``angle`` degrees),
    then move (normalised units)."""
    return compose(
        scale_theta(number("scale", scale)),
        shear_theta(number("shear", shear)),
        rotation_theta(number("angle", angle), aspect=aspect),
        translation_theta(tx, ty),
    )


# ---------------------------------------------------------------- input checks


def check_theta(theta: object, batch: int | None = None) -> None:
    """``theta`` must be ``(2, 3)`` or ``(B, 2, 3)``, with ``B`` 1 or ``batch``, and finite."""
    if not isinstance(theta, torch.Tensor):
        raise TypeError(f"theta must be a torch.Tensor of shape (2, 3) or (B, 2, 3), got {type(theta).__name__}.")
    if theta.dim() not in (2, 3) or theta.shape[-2:] != (2, 3):
        raise ValueError(f"theta must have shape (2, 3) or (B, 2, 3), got {tuple(theta.shape)}.")
    if batch is not None and not (is_whole(batch) and batch >= 1):
        raise ValueError(f"batch must be a positive integer (the number of images), got {batch!r}.")
    if batch is not None and theta.dim() == 3 and len(theta) not in (1, batch):
        raise ValueError(f"theta has batch {len(theta)} but the image batch is {batch}; pass one θ or one per image.")
    # θ is tiny, so this costs nothing; a NaN grid would crash grid_sample's backward (a segfault).
    if not torch.isfinite(theta).all():
        raise ValueError("theta contains NaN or infinite values (a diverged training or a division by zero "
                         "upstream); lower the learning rate or check what produced it.")


def check_image(image: object) -> None:
    """``image`` must be a floating-point tensor ``(B, C, H, W)`` or ``(C, H, W)``."""
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        raise ValueError(f"image must be a (B, C, H, W) or (C, H, W) tensor, got {shape_of(image)}.")
    if not image.is_floating_point():
        raise ValueError(f"image has dtype {image.dtype}; warp needs a floating-point image: use image.float() / 255 "
                         "for 0-255 pixels, or image.float() for a mask.")


def check_choice(name: str, value: object, options: tuple[str, ...]) -> None:
    """``value`` must be one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}.")
