"""Distorted digits made offline, after the STN paper's distorted MNIST (notebooks 02, 02b).

The digits are *rendered* with Pillow's bundled font (MNIST needs a download), each with a
small random style, then distorted as in Jaderberg et al. (2015, section 4.1):

* ``"R"``: turned by ±90°, on 28×28; ``"RTS"``: turned ±45°, scaled ×0.7…1.2 and moved, on 42×42;
* ``"P"``: a projective distortion (corners moved at random, scaled ×0.75…1), on 28×28;
* ``"cluttered"``: moved anywhere on 60×60 among six 6×6 fragments of other digits.

Every sample keeps its true distortion parameters, so a notebook can compare what a network
learned with what was done. Pixels: float32 in [0, 1], white digit on black, ``(N, 1, S, S)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from . import geometry
from .checks import is_whole, shape_of

#: The distortions and their canvas sides in pixels.
VARIANTS: dict[str, int] = {"R": 28, "RTS": 42, "P": 28, "cluttered": 60}
#: The most pixels (n × size²) one make_digits call renders: MNIST's 60,000 digits fit even
#: cluttered (216 M px); float32 images of this many pixels take 1 GB, their grids 2 GB.
MAX_PIXELS = 2**28
VARIANT_NAMES = tuple(VARIANTS)
GLYPH = 28  # side of the clean glyph canvas, as MNIST's
FONT_SIZES = (18, 20, 22, 24, 26)
STROKES = (0, 1, 2)  # extra stroke widths ("weights") in pixels
CLUTTER_PIECES = 6
CLUTTER_SIDE = 6
#: The corners of the normalised square, in the order (-1,-1), (1,-1), (1,1), (-1,1).
CORNERS = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


class Digits(NamedTuple):
    """What :func:`make_digits` returns: ``images, labels, params = make_digits(...)``."""

    images: torch.Tensor
    labels: torch.Tensor
    params: dict[str, torch.Tensor]


@cache
def _glyph_bank() -> torch.Tensor:
    """Every clean glyph, white on a black 28×28 canvas: ``(10, len(FONT_SIZES), len(STROKES), 28, 28)``."""
    def glyph(digit: int, font_size: int, stroke: int) -> np.ndarray:
        canvas = Image.new("L", (GLYPH, GLYPH), 0)
        ImageDraw.Draw(canvas).text((GLYPH / 2, GLYPH / 2), str(digit), fill=255, anchor="mm",
                                    font=ImageFont.load_default(size=font_size),
                                    stroke_width=stroke, stroke_fill=255)
        return np.asarray(canvas, dtype=np.float32) / 255.0

    bank = [[[glyph(d, s, w) for w in STROKES] for s in FONT_SIZES] for d in range(10)]
    return torch.from_numpy(np.array(bank, dtype=np.float32))


def rst_thetas(angle: torch.Tensor, scale: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor,
               shear: torch.Tensor | None = None, aspect: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`course_utils.geometry.theta_from_params` for ``(N,)`` tensors (square images), the
    width scaled also by ``aspect``: thousands of θ ``(N, 2, 3)`` at once."""
    a = torch.deg2rad(angle)
    c, s = torch.cos(a), torch.sin(a)
    sh = torch.zeros_like(c) if shear is None else shear
    sx = scale if aspect is None else scale * aspect
    # θ = Scale⁻¹ · Shear⁻¹ · R(angle) · Translate(−t), as geometry.compose builds it.
    a00, a01 = (c - sh * s) / sx, (-s - sh * c) / sx
    a10, a11 = s / scale, c / scale
    b0 = -(a00 * tx + a01 * ty)
    b1 = -(a10 * tx + a11 * ty)
    return torch.stack([torch.stack([a00, a01, b0], -1), torch.stack([a10, a11, b1], -1)], dim=-2)


def homography_from_corners(corners: torch.Tensor) -> torch.Tensor:
    """The homographies ``(N, 3, 3)`` (``H[2, 2] = 1``) that send the output positions
    ``corners`` ``(N, 4, 2)`` of the input's :data:`CORNERS` back to them."""
    n = corners.shape[0]
    src = CORNERS.expand(n, 4, 2)
    x, y = corners[..., 0], corners[..., 1]
    u, v = src[..., 0], src[..., 1]
    zeros, ones = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], -1)
    rows_v = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], -1)
    a = torch.cat([rows_u, rows_v], dim=1).double()
    b = torch.cat([u, v], dim=1).double()
    h = torch.linalg.solve(a, b.unsqueeze(-1)).squeeze(-1)
    return torch.cat([h, torch.ones(n, 1, dtype=h.dtype)], dim=1).view(n, 3, 3).float()


def projective_grid(homography: torch.Tensor, size: int) -> torch.Tensor:
    """The sampling grid ``(N, S, S, 2)`` of homographies: each output pixel centre sent to the
    input position read there."""
    base = geometry.sampling_grid(geometry.identity_theta(), (size, size))[0]  # (S, S, 2)
    homog = torch.cat([base, torch.ones(size, size, 1)], dim=-1)  # (S, S, 3)
    mapped = torch.einsum("nij,hwj->nhwi", homography, homog)
    return mapped[..., :2] / mapped[..., 2:3]


def _sample_params(n: int, variant: str, size: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    p: dict[str, torch.Tensor] = {
        "font_size": torch.tensor(FONT_SIZES)[torch.randint(len(FONT_SIZES), (n,), generator=gen)],
        "stroke": torch.tensor(STROKES)[torch.randint(len(STROKES), (n,), generator=gen)],
        "jitter": (torch.rand(n, 2, generator=gen) - 0.5) * 3.0,  # pixels, ±1.5
        "slant": uniform(-0.25, 0.25),
        "width": uniform(0.85, 1.15),
    }
    zeros, ones = torch.zeros(n), torch.ones(n)
    if variant == "R":
        p.update(angle=uniform(-90.0, 90.0), scale=ones, tx=zeros, ty=zeros)
    elif variant == "RTS":
        # Keep the (scaled) glyph box inside the canvas: shift at most (S - 28·scale) / 2 px.
        scale = uniform(0.7, 1.2)
        room = ((size - GLYPH * scale) / size).clamp(min=0.0)  # normalised units
        p.update(angle=uniform(-45.0, 45.0), scale=scale,
                 tx=(torch.rand(n, generator=gen) * 2 - 1) * room,
                 ty=(torch.rand(n, generator=gen) * 2 - 1) * room)
    elif variant == "cluttered":
        room = max(size - GLYPH, 0) / size
        p.update(angle=zeros, scale=ones, tx=uniform(-room, room), ty=uniform(-room, room))
        k, side = CLUTTER_PIECES, CLUTTER_SIDE
        src_hi = GLYPH - 4 - side  # crop inside the glyph's inked centre region
        p["clutter"] = torch.stack([  # rows (digit, src_y, src_x, dst_y, dst_x)
            torch.randint(10, (n, k), generator=gen),
            torch.randint(4, src_hi + 1, (n, k), generator=gen),
            torch.randint(4, src_hi + 1, (n, k), generator=gen),
            torch.randint(0, size - side + 1, (n, k), generator=gen),
            torch.randint(0, size - side + 1, (n, k), generator=gen),
        ], dim=-1)
    elif variant == "P":
        scale = uniform(0.75, 1.0)
        noise = (torch.randn(n, 4, 2, generator=gen) * 0.1).clamp(-0.25, 0.25)
        p["scale"] = scale
        p["corners"] = CORNERS * scale[:, None, None] + noise
        p["homography"] = homography_from_corners(p["corners"])
    if "angle" in p:
        p["theta"] = rst_thetas(p["angle"], p["scale"], p["tx"], p["ty"])
    return p


def _check_labels_params(labels: object, params: object, keys: tuple[str, ...]) -> None:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point():
        raise ValueError(f"labels must be a (N,) tensor of digits 0…9, got {shape_of(labels)}; "
                         "e.g. torch.tensor([3, 1, 4]).")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"labels must be digits 0…9, got values from {labels.min().item()} to {labels.max().item()}.")
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be the dictionary that make_digits returned, got {type(params).__name__}.")
    for key in keys:
        value = params.get(key)
        if not isinstance(value, torch.Tensor) or len(value) != len(labels):
            got = f"{len(value)} rows" if isinstance(value, torch.Tensor) else "none"
            raise ValueError(f"params['{key}'] has {got} for {len(labels)} labels; pass the labels and params "
                             "of the same make_digits call.")


def render_glyphs(labels: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """The clean digits ``(N, 1, 28, 28)``, with their glyph, jitter, slant and width but no
    distortion: what a perfect spatial transformer would recover, up to a fixed pose."""
    _check_labels_params(labels, params, ("font_size", "stroke", "jitter", "slant", "width"))
    fs = torch.as_tensor([FONT_SIZES.index(int(s)) for s in params["font_size"]], dtype=torch.long)
    st = torch.as_tensor([STROKES.index(int(s)) for s in params["stroke"]], dtype=torch.long)
    glyphs = _glyph_bank()[labels.long(), fs, st].unsqueeze(1)
    jitter = params["jitter"] * 2.0 / GLYPH  # pixels → normalised units
    style = rst_thetas(torch.zeros(len(labels)), torch.ones(len(labels)), jitter[:, 0], jitter[:, 1],
                       shear=params["slant"], aspect=params["width"])
    return geometry.warp(glyphs, style).clamp(0.0, 1.0)


def render_digits(labels: torch.Tensor, params: dict[str, torch.Tensor], variant: str,
                  size: int | None = None) -> torch.Tensor:
    """The distorted digits ``(N, 1, S, S)`` of ``labels`` and the ``params`` of :func:`make_digits`."""
    size = _check_variant_size(variant, size)
    needs = {"P": ("homography",), "cluttered": ("theta", "clutter")}.get(variant, ("theta",))
    missing = [k for k in needs if not isinstance(params, Mapping) or k not in params]
    if missing:
        raise ValueError(f"params has no '{missing[0]}', so it was not made for variant {variant!r}; "
                         "pass the variant that make_digits was given with these params.")
    glyphs = render_glyphs(labels, params)
    extra = size - GLYPH  # centre the glyphs on a black canvas
    if extra < 0:
        glyphs = F.interpolate(glyphs, size=(size, size), mode="bilinear", antialias=True)
    else:
        glyphs = F.pad(glyphs, (extra // 2, extra - extra // 2, extra // 2, extra - extra // 2))
    if variant == "P":
        grid = projective_grid(params["homography"], size)
        out = F.grid_sample(glyphs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    else:
        out = geometry.warp(glyphs, params["theta"])
    if variant == "cluttered":
        out = _add_clutter(out, params["clutter"])
    return out.clamp(0.0, 1.0).contiguous()


def _add_clutter(images: torch.Tensor, clutter: torch.Tensor) -> torch.Tensor:
    """Paste 6×6 fragments of other (plain-style) digits, combined by maximum."""
    plain = _glyph_bank()[:, FONT_SIZES.index(22), STROKES.index(1)]  # (10, 28, 28)
    out = images.clone()
    offsets = torch.arange(CLUTTER_SIDE)
    rows_n = torch.arange(out.shape[0])[:, None, None]
    for k in range(clutter.shape[1]):  # one fragment per image at a time, all images at once
        digit, sy, sx, dy, dx = clutter[:, k].unbind(-1)
        src_r, src_c = (sy[:, None] + offsets)[:, :, None], (sx[:, None] + offsets)[:, None, :]
        dst_r, dst_c = (dy[:, None] + offsets)[:, :, None], (dx[:, None] + offsets)[:, None, :]
        patch = plain[digit[:, None, None], src_r, src_c]
        canvas = out[:, 0]
        canvas[rows_n, dst_r, dst_c] = torch.maximum(canvas[rows_n, dst_r, dst_c], patch)
    return out


def _check_variant_size(variant: str, size: int | None) -> int:
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANT_NAMES}, got {variant!r}; pick one of those names.")
    if size is None:
        return VARIANTS[variant]
    if not is_whole(size) or size < 16:
        raise ValueError(f"size must be an integer of at least 16 pixels, got {size!r}.")
    return size


def make_digits(n: int, variant: str = "RTS", seed: int = 0, *, split: str = "train",
                size: int | None = None) -> Digits:
    """``n`` distorted digits of ``variant``, the same pixels for the same arguments; ``"train"``
    and ``"test"`` use separate random streams, ``size`` is the canvas side. ``params``:

    * every variant: ``font_size``, ``stroke``, ``jitter`` (N, 2) px, ``slant``, ``width``;
    * R, RTS, cluttered: ``angle`` (degrees, anticlockwise), ``scale``, ``tx``, ``ty``
      (normalised, right/down) and ``theta`` (N, 2, 3), output → input;
    * P: ``scale``, ``corners`` (N, 4, 2), ``homography`` (N, 3, 3); cluttered: ``clutter`` (N, 6, 5).
    """
    if not is_whole(n) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples, got {n!r}.")
    if not is_whole(seed) or not 0 <= seed < 2**62:  # 2 * seed + 1 must fit torch's generator
        raise ValueError(f"seed must be a non-negative integer below 2**62, got {seed!r}.")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    size = _check_variant_size(variant, size)
    if n * size * size > MAX_PIXELS:  # refused before the canvases and grids are allocated
        raise ValueError(f"make_digits(n={n:,}) at {size}x{size} px is {n * size * size:,} pixels, more than the "
                         f"{MAX_PIXELS:,} one call makes (about 1 GB of images); ask for fewer digits, e.g. "
                         f"n={MAX_PIXELS // (size * size) // 1000 * 1000:,}.")
    # One stream per (seed, split): even numbers for training sets, odd for test sets.
    gen = torch.Generator().manual_seed(2 * seed + (split == "test"))
    labels = torch.randint(10, (n,), generator=gen)
    params = _sample_params(n, variant, size, gen)
    return Digits(render_digits(labels, params, variant, size), labels, params)

