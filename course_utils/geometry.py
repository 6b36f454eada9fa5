"""Affine θ, sampling grids and warping with ``F.affine_grid`` + ``F.grid_sample``.

Notebook 01 writes this module's code in its cells (``#@save geometry``); read it in the
order of the lesson:

1. **Coordinates.** ``affine_grid`` and ``grid_sample`` work in *normalised* coordinates:
   x runs from -1 (left) to +1 (right) across the width, y from -1 (top) to +1 (bottom)
   across the height, whatever the size in pixels. ``align_corners`` says whether ±1 are
   the outer edges of the corner pixels (``False``, the course's choice) or their centres.
2. **The grid and the warp.** A sampling grid ``(B, H, W, 2)`` holds, for every output
   pixel, the input position ``(x, y)`` to read: ``grid[..., 0]`` is x (the column),
   ``grid[..., 1]`` is y (the row). ``affine_grid`` makes it from θ (the grid generator),
   ``grid_sample`` reads the input there (the sampler).
3. **θ builders.** θ is a ``(2, 3)`` or ``(B, 2, 3)`` matrix that maps each **output**
   coordinate to the **input** coordinate sampled there, so it is the *inverse* of the
   motion you see. The builders take the motion you want to see (turn the picture 30°
   anticlockwise, make it twice as large, move it right) and return the θ that does it.
4. **Compose and invert.** ``compose(a, b)`` is "first a, then b":
   ``warp(warp(x, a), b) ≈ warp(x, compose(a, b))``.

The input checks live at the end of the module: each is one line in the functions above.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .checks import check_size, number

# ---------------------------------------------------------------- 1. coordinates


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
    """The inverse of :func:`pixel_to_normalised`: normalised (x, y) → pixel (x, y)."""
    h, w = size
    scale = torch.tensor([w, h], dtype=coords.dtype, device=coords.device)
    if align_corners:
        return (coords + 1.0) * (scale - 1) / 2.0
    return (coords + 1.0) * scale / 2.0 - 0.5


# ---------------------------------------------------------------- 2. the grid and the warp


def sampling_grid(
    theta: torch.Tensor, size: tuple[int, int], *, batch: int = 1, align_corners: bool = False
) -> torch.Tensor:
    """The grid generator: for each output pixel, the input position (x, y) to read.

    Args:
        theta: ``(2, 3)`` (one θ for the whole batch) or ``(B, 2, 3)``; maps output to input.
        size: output ``(H, W)`` in pixels.
        batch: how many images the grid is for.
        align_corners: as in :func:`warp`.

    Returns:
        ``(batch, H, W, 2)`` normalised input coordinates; ``[..., 0]`` is x, ``[..., 1]`` is y.
    """
    check_theta(theta, batch)
    check_size(size)
    theta = theta.expand(batch, 2, 3)  # one θ for every image, or one per image
    return F.affine_grid(theta, [batch, 1, *size], align_corners=align_corners)


def warp(
    image: torch.Tensor,
    theta: torch.Tensor,
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
        mode: ``"bilinear"``, ``"nearest"`` or ``"bicubic"``. Bilinear and bicubic pass
            gradients to θ; nearest passes none.
        padding_mode: what is sampled outside the input: ``"zeros"``, ``"border"``
            (repeat the edge) or ``"reflection"`` (mirror).
        align_corners: ``False`` means ±1 are the outer *edges* of the corner pixels;
            ``True`` means ±1 are the corner pixels' *centres*. Always say which.

    Returns:
        The warped image, ``(B, C, *size)`` (or ``(C, *size)`` for an unbatched input).
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
    """The identity θ ``[[1, 0, 0], [0, 1, 0]]`` of shape ``(2, 3)``: output = input.

    (The seed article wrote ``[1, 0, 0, 0, 0, 1]``, which is *not* the identity: seed
    defect 2 in ``docs/seed_defects.md``.)
    """
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def scale_theta(sx: float, sy: float | None = None) -> torch.Tensor:
    """θ that makes the picture ``sx`` times wider and ``sy`` times taller (about the centre).

    ``sx = 2`` zooms in (content twice as large); ``sx = 0.5`` zooms out. ``sy`` defaults to
    ``sx``. θ holds ``1 / sx``: it maps output to input.
    """
    sx = number("sx", sx)
    sy = sx if sy is None else number("sy", sy)
    if sx == 0 or sy == 0:
        raise ValueError(f"scale factors must be non-zero, got sx={sx}, sy={sy}.")
    return torch.tensor([[1.0 / sx, 0.0, 0.0], [0.0, 1.0 / sy, 0.0]])


def translation_theta(tx: float, ty: float) -> torch.Tensor:
    """θ that moves the picture by ``(tx, ty)`` in normalised units (right and down positive).

    Moving by 2 units crosses the whole image. For pixels use :func:`translation_theta_pixels`.
    """
    tx, ty = number("tx", tx), number("ty", ty)
    return torch.tensor([[1.0, 0.0, -tx], [0.0, 1.0, -ty]])


def shear_theta(shx: float, shy: float = 0.0) -> torch.Tensor:
    """θ that shears the picture: a point (x, y) moves to (x + shx·y, y + shy·x).

    θ holds the inverse of that 2×2 matrix ``[[1, shx], [shy, 1]]``.
    """
    shx, shy = number("shx", shx), number("shy", shy)
    if math.isclose(shx * shy, 1.0):
        raise ValueError(f"shx * shy must not be 1 (the shear would flatten the image); got {shx}, {shy}.")
    return torch.tensor([[1.0, -shx, 0.0], [-shy, 1.0, 0.0]]) / (1.0 - shx * shy)


def rotation_theta(degrees: float, aspect: float = 1.0) -> torch.Tensor:
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
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # A rotation in pixel units, written in normalised units: x counts W/2 pixels, y H/2.
    return torch.tensor([[c, -s / aspect, 0.0], [s * aspect, c, 0.0]])


def translation_theta_pixels(dx: float, dy: float, width: int, height: int) -> torch.Tensor:
    """θ that moves the picture by ``(dx, dy)`` pixels (right and down positive).

    With ``align_corners=False`` (the course default) the image spans 2 normalised units in
    ``width`` pixels, so one pixel is ``2 / width`` units.
    """
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
    """Compose θs so that the result applies the first motion, then the second, …

    ``warp(warp(x, a), b)`` equals ``warp(x, compose(a, b))`` (up to resampling). Because θ
    maps output to input, this is the matrix product ``a @ b`` in homogeneous form.
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


def theta_from_params(
    angle: float = 0.0,
    scale: float = 1.0,
    shear: float = 0.0,
    tx: float = 0.0,
    ty: float = 0.0,
    aspect: float = 1.0,
) -> torch.Tensor:
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


# ---------------------------------------------------------------- input checks


def check_theta(theta: object, batch: int | None = None) -> None:
    """``theta`` must be a tensor ``(2, 3)`` or ``(B, 2, 3)``, with ``B`` 1 or ``batch``
    when a batch is given."""
    if not isinstance(theta, torch.Tensor):
        raise TypeError(f"theta must be a torch.Tensor of shape (2, 3) or (B, 2, 3), got {type(theta).__name__}.")
    if theta.dim() not in (2, 3) or theta.shape[-2:] != (2, 3):
        raise ValueError(f"theta must have shape (2, 3) or (B, 2, 3), got {tuple(theta.shape)}.")
    if batch is not None and theta.dim() == 3 and len(theta) not in (1, batch):
        raise ValueError(f"theta has batch {len(theta)} but the image batch is {batch}; pass one θ or one per image.")


def check_image(image: object) -> None:
    """``image`` must be a tensor ``(B, C, H, W)`` or ``(C, H, W)``."""
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (B, C, H, W) or (C, H, W) tensor, got {shape}.")


def check_choice(name: str, value: object, options: tuple[str, ...]) -> None:
    """``value`` must be one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}.")

