"""Colour preservation for style transfer (Gatys et al., 2017), notebook 04; images ``(B, 3, H, W)``.

* **Luminance-only transfer** (亮度迁移): transfer the luminance Y only, then put back the
  content's chroma (I, Q of YIQ).
* **Colour-histogram matching**: give the style image the content's RGB mean and covariance.
"""

from __future__ import annotations

import torch

from .checks import number, shape_of

#: RGB → YIQ (NTSC 1953). Y is the luminance; I and Q carry the chroma.
RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)  # computed, so that a round trip is exact


def _check(image: torch.Tensor, name: str, channels: int = 3) -> None:
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != channels:
        what, fix = (("an RGB image batch of shape (B, 3, H, W) in [0, 1]", "add a batch dimension with image[None]")
                     if channels == 3 else
                     ("a luminance batch of shape (B, 1, H, W)", "take it with colour.luminance(image)"))
        raise ValueError(f"{name} must be {what}, got {shape_of(image)}; {fix}.")
    if not image.is_floating_point():
        raise ValueError(f"{name} has dtype {image.dtype}; colours need a floating-point image in [0, 1]: use "
                         f"{name}.float() / 255 for 0-255 pixels.")


def _check_same_size(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"{name_a} is {tuple(a.shape[-2:])} px but {name_b} is {tuple(b.shape[-2:])} px; "
                         "resize one of them first (images.resize).")


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB → YIQ (Y in [0, 1]; I, Q roughly in [−0.6, 0.6])."""
    _check(image, "image")
    return torch.einsum("ij,bjhw->bihw", RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` YIQ → RGB, not clipped."""
    _check(yiq, "yiq")
    return torch.einsum("ij,bjhw->bihw", YIQ_TO_RGB.to(yiq), yiq)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The luminance Y of RGB images, ``(B, 1, H, W)``."""
    return rgb_to_yiq(image)[:, :1]


def chroma(image: torch.Tensor) -> torch.Tensor:
    """The chroma (I, Q) of RGB images, ``(B, 2, H, W)``."""
    return rgb_to_yiq(image)[:, 1:]


def grey_rgb(y: torch.Tensor) -> torch.Tensor:
    """Luminance ``(B, 1, H, W)`` → a grey RGB image (R = G = B = Y)."""
    _check(y, "y", channels=1)
    return y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def match_luminance(y: torch.Tensor, reference_y: torch.Tensor) -> torch.Tensor:
    """Luminance ``y`` shifted and scaled to the mean and standard deviation of
    ``reference_y`` (Gatys et al. 2017, eq. 5); the sizes may differ."""
    for name, t in (("y", y), ("reference_y", reference_y)):
        _check(t, name, channels=1)
        if t.numel() < 2:  # the standard deviation of one value is NaN
            raise ValueError(f"{name} has {t.numel()} value{'' if t.numel() == 1 else 's'}; match_luminance needs "
                             "at least 2 to measure a spread; use a larger reference or image.")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values; match luminances with finite values.")
    mu, sd = y.mean(), y.std().clamp_min(1e-6)
    mu_r, sd_r = reference_y.mean(), reference_y.std()
    return ((y - mu) / sd * sd_r + mu_r).clamp(0, 1)


def with_chroma_of(y: torch.Tensor, colour_source: torch.Tensor) -> torch.Tensor:
    """The RGB image with luminance ``y`` ``(B, 1, H, W)`` and the chroma of
    ``colour_source`` ``(B, 3, H, W)``, clipped to [0, 1]."""
    _check(colour_source, "colour_source")
    _check(y, "y", channels=1)
    if y.shape[0] != colour_source.shape[0]:
        raise ValueError(f"y holds {y.shape[0]} images but colour_source holds {colour_source.shape[0]}; "
                         "pass one luminance per colour source.")
    _check_same_size(y, colour_source, "y", "colour_source")
    return yiq_to_rgb(torch.cat([y, chroma(colour_source)], dim=1)).clamp(0, 1)


def match_colour_histogram(source: torch.Tensor, reference: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``source`` ``(1, 3, H, W)`` so that its RGB mean and covariance are ``reference``'s:
    ``x ↦ Σ_r^{1/2} Σ_s^{−1/2} (x − μ_s) + μ_r`` (Gatys et al. 2017, section 5.1)."""
    for name, image in (("source", source), ("reference", reference)):
        _check(image, name)
        if image.shape[0] != 1:
            raise ValueError(f"{name} must be one image (batch 1), got a batch of {image.shape[0]}; "
                             f"index it, e.g. {name}[:1].")
        if image.shape[-1] * image.shape[-2] == 0:
            raise ValueError(f"{name} has no pixels (shape {tuple(image.shape)}); recolour an image with at least "
                             "one pixel.")
        if not torch.isfinite(image).all():
            raise ValueError(f"{name} contains NaN or infinite pixels; recolour an image with finite values.")
    if not number("eps", eps) >= 0:
        raise ValueError(f"eps must be a small number >= 0, got {eps!r}; e.g. eps=1e-5.")

    def stats(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        px = img[0].reshape(3, -1).double()
        mu = px.mean(dim=1, keepdim=True)
        cov = (px - mu) @ (px - mu).T / px.shape[1] + eps * torch.eye(3, dtype=torch.float64)  # a flat image too
        return mu, cov

    def sqrtm(cov: torch.Tensor, power: float) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(cov)
        return vecs @ torch.diag(vals.clamp_min(eps) ** power) @ vecs.T

    mu_s, cov_s = stats(source)
    mu_r, cov_r = stats(reference)
    a = sqrtm(cov_r, 0.5) @ sqrtm(cov_s, -0.5)
    out = a @ (source[0].reshape(3, -1).double() - mu_s) + mu_r
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)


def chroma_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of the chroma (I, Q) of two same-size RGB images."""
    _check(a, "a")
    _check(b, "b")
    _check_same_size(a, b, "a", "b")
    return (chroma(a) - chroma(b)).abs().mean().item()

