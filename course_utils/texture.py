"""Measure a texture's stroke orientation and scale, so that notebook 05's claims are numbers.

* :func:`orientation`: strokes run at right angles to the main eigenvector of the luminance's
  **structure tensor** ``J = Σ_p ∇I(p) ∇I(p)ᵀ``; ``coherence = (λ₁ − λ₂) / (λ₁ + λ₂)`` is 1 for
  perfect stripes, 0 with no preferred direction (Bigün & Granlund 1987).
* :func:`dominant_frequency`: the peak of the power spectrum per octave (cycles per pixel).

Angles are in degrees, anticlockwise on screen, modulo 180 (horizontal stripes: 0°).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .checks import check_size, is_whole, number, shape_of


class Orientation(NamedTuple):
    """What :func:`orientation` measures."""

    degrees: float  #: direction the strokes run in, in [0, 180), anticlockwise on screen
    coherence: float  #: 0 (no preferred direction) … 1 (perfect parallel stripes)


def _grey(image: torch.Tensor, what: str = "image") -> torch.Tensor:
    """One image ``(1, C, H, W)``, ``(C, H, W)`` or ``(H, W)``, C = 1 or 3 → ``(H, W)`` luminance."""
    if not isinstance(image, torch.Tensor) or image.dim() not in (2, 3, 4):
        raise ValueError(f"{what} must be an image tensor (1, C, H, W), (C, H, W) or (H, W), got {shape_of(image)}.")
    t = image.detach().float().cpu()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"{what} must hold one image (batch 1), got a batch of {t.shape[0]}; index it first.")
        t = t[0]
    if t.dim() == 3:
        if t.shape[0] not in (1, 3):
            raise ValueError(f"{what} must have 1 or 3 channels, got {t.shape[0]}.")
        t = t[0] if t.shape[0] == 1 else 0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2]  # YIQ's Y
    if min(t.shape) < 8:
        raise ValueError(f"{what} is {tuple(t.shape)} px; measure a texture of at least 8×8 px.")
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contains NaN or infinite pixels; measure an image with finite values.")
    return t


def structure_tensor(image: torch.Tensor, margin: int = 2) -> torch.Tensor:
    """The structure tensor ``[[gx², gx·gy], [gx·gy, gy²]]`` averaged over the image, x to the
    right and y **up**, ignoring ``margin`` pixels along each border."""
    if not is_whole(margin) or margin < 0:
        raise ValueError(f"margin must be a whole number of pixels >= 0, got {margin!r}; e.g. margin=2.")
    g = _grey(image)
    # Sobel derivatives (central difference, smoothed across): less sensitive to pixel noise.
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
    gx = F.conv2d(g[None, None], kx[None, None])[0, 0]
    gy = -F.conv2d(g[None, None], kx.t()[None, None])[0, 0]  # screen y points up
    m = max(0, margin - 1)  # the valid convolution already dropped one pixel per side
    if m:
        gx, gy = gx[m:-m, m:-m], gy[m:-m, m:-m]
    if gx.numel() == 0:
        raise ValueError(f"margin={margin} leaves no pixels of a {tuple(g.shape)} image; use a smaller margin.")
    jxx, jyy, jxy = (gx * gx).mean(), (gy * gy).mean(), (gx * gy).mean()
    return torch.stack([torch.stack([jxx, jxy]), torch.stack([jxy, jyy])])


def orientation(image: torch.Tensor, margin: int = 2) -> Orientation:
    """The strokes' dominant direction in [0, 180) and its coherence in [0, 1] (0 if flat)."""
    j = structure_tensor(image, margin).double()
    jxx, jyy, jxy = j[0, 0].item(), j[1, 1].item(), j[0, 1].item()
    energy = jxx + jyy
    if energy <= 1e-20:
        return Orientation(0.0, 0.0)
    gradient_angle = 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy))  # main eigenvector
    coherence = math.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / energy
    return Orientation((gradient_angle + 90.0) % 180.0, min(1.0, coherence))


def angle_difference(a: float, b: float, period: float = 180.0) -> float:
    """The smallest absolute difference of two orientations, in [0, period / 2] (179° and 1°: 2°)."""
    for name, value in (("a", a), ("b", b), ("period", period)):
        if isinstance(value, Orientation):
            raise ValueError(f"{name} is an Orientation, not an angle; pass its .degrees, e.g. orientation(image).degrees.")
        number(name, value)  # a clear error for '45', None or NaN
    if not period > 0:
        raise ValueError(f"period must be > 0 degrees, got {period!r}; use 180 for stroke orientations.")
    d = (a - b) % period
    return min(d, period - d)


def radial_power_spectrum(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(frequencies, power)``: the mean power of the luminance's spectrum in rings ``k / N``
    cycles per pixel, ``k = 1 … N/2`` (``N`` the shorter side), after a Hann window."""
    g = _grey(image).double()
    h, w = g.shape
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=g.dtype),
                         torch.hann_window(w, periodic=False, dtype=g.dtype))
    power = torch.fft.fft2((g - g.mean()) * window).abs().pow(2)
    fy = torch.fft.fftfreq(h, dtype=g.dtype)[:, None]
    fx = torch.fft.fftfreq(w, dtype=g.dtype)[None, :]
    n = min(h, w)
    ring = torch.round(torch.sqrt(fx**2 + fy**2) * n).long()  # ring k holds |f| ≈ k / n
    top = n // 2
    keep = (ring >= 1) & (ring <= top)
    sums = torch.zeros(top + 1, dtype=g.dtype).index_add_(0, ring[keep], power[keep])
    counts = torch.zeros(top + 1, dtype=g.dtype).index_add_(0, ring[keep], torch.ones_like(power[keep]))
    k = torch.arange(1, top + 1)
    return (k.double() / n).float(), (sums[1:] / counts[1:].clamp_min(1)).float()


def dominant_frequency(image: torch.Tensor) -> float:
    """The strokes' frequency in cycles per pixel (``1 /`` it: their period in pixels): the peak
    of the power per octave ``f²·P(f)``, flat for a photo's ``1/f²`` background (Field 1987),
    refined by a parabola through the log values."""
    freqs, power = radial_power_spectrum(image)
    if power.max() <= 0:
        raise ValueError("the image is flat (no power at any frequency); measure a texture, not a constant image.")
    per_octave = power.double() * freqs.double() ** 2
    i = int(torch.argmax(per_octave))
    if 0 < i < len(per_octave) - 1:
        a, b, c = (math.log(max(per_octave[j].item(), 1e-30)) for j in (i - 1, i, i + 1))
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
        step = (freqs[1] - freqs[0]).item()
        return freqs[i].item() + max(-0.5, min(0.5, shift)) * step
    return freqs[i].item()


def grating(size: tuple[int, int], degrees: float, frequency: float, *, phase: float = 0.0) -> torch.Tensor:
    """A sinusoidal grating ``(1, 3, H, W)`` in [0, 1], stripes at ``degrees`` with ``frequency``
    cycles per pixel: a texture with a known answer."""
    check_size(size)
    h, w = size
    for name, value in (("degrees", degrees), ("frequency", frequency), ("phase", phase)):
        number(name, value)  # a clear error for '45', None or NaN
    if not 0 < frequency <= 0.5:
        raise ValueError(f"frequency must be in (0, 0.5] cycles per pixel (Nyquist), got {frequency!r}.")
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    a = math.radians(degrees)
    # stripes along (cos a, sin a) with y up: the intensity changes along (sin a, cos a) in (x, row)
    wave = torch.sin(2 * math.pi * frequency * (x * math.sin(a) + y * math.cos(a)) + phase)
    return (0.5 + 0.5 * wave).float().expand(1, 3, h, w).contiguous()

