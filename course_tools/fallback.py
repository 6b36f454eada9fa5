"""Research behind the offline fallback network: the candidates, and scores that use no network.

The fallback (:func:`course_utils.features.random_vgg19_state`) is a seeded random VGG19;
``benchmarks/fallback_choice.py`` chose it among four candidates (notebook 03b tells the
story): ``"kaiming"``, torchvision's VGG initialisation, the fallback; ``"torch-default"``,
``nn.Conv2d``'s uniform initialisation, whose biases swamp the deep layers;
``"kaiming+standardise"``, each filter's response standardised before its ReLU on fixed
seeded images, layer by layer; ``"kaiming+rescale"``, the same for the scale only.
The scores use no network, so that no candidate grades itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import lru_cache

import torch
from torch import nn

from course_utils import features

#: The candidates measured, the fallback's first.
CANDIDATES = ("kaiming", "kaiming+standardise", "kaiming+rescale", "torch-default")


def calibration_images(n: int = 4, size: int = 96, seed: int = 0) -> torch.Tensor:
    """``(n, 3, size, size)`` seeded images in [0, 1] with a natural 1/f amplitude spectrum and
    correlated colour channels: what the standardised candidates are calibrated on."""
    g = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(size).abs()[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    f = torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / size)
    noise = torch.randn(n, 3, size, size, generator=g)
    grey = torch.randn(n, 1, size, size, generator=g)
    mixed = 0.6 * grey + 0.4 * noise  # channels share structure, as in photographs
    img = torch.fft.irfft2(torch.fft.rfft2(mixed) / f, s=(size, size))
    img = img - img.mean(dim=(2, 3), keepdim=True)
    img = img / img.flatten(1).std(dim=1).view(n, 1, 1, 1).clamp_min(1e-8)
    shift = torch.rand(n, 3, 1, 1, generator=g) * 0.4 + 0.3
    return (shift + 0.15 * img).clamp(0, 1)


def _standardised(state: dict[str, torch.Tensor], seed: int, keep_bias: bool) -> dict[str, torch.Tensor]:
    """``state`` with each filter's response scaled to std 1 (and, unless ``keep_bias``,
    shifted to mean 0) before its ReLU on :func:`calibration_images`, layer by layer."""
    net = features.build_vgg19_features()
    net.load_state_dict(state)
    mean = torch.tensor(features.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(features.IMAGENET_STD).view(1, 3, 1, 1)
    x = (calibration_images(seed=seed) - mean) / std
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                y = m(x)
                mu = torch.zeros(m.out_channels) if keep_bias else y.mean(dim=(0, 2, 3))
                sd = y.std(dim=(0, 2, 3)).clamp_min(1e-6)
                m.weight.data /= sd.view(-1, 1, 1, 1)
                m.bias.data = (m.bias.data - mu) / sd
            x = m(x)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@lru_cache(maxsize=2)
def _torch_default_state(seed: int) -> dict[str, torch.Tensor]:
    net = features.build_vgg19_features()
    g = torch.Generator().manual_seed(seed)
    for m in net:
        if isinstance(m, nn.Conv2d):  # what nn.Conv2d does by default: uniform, non-zero biases
            bound = 1.0 / (m.in_channels * 9) ** 0.5
            m.weight.data.uniform_(-bound, bound, generator=g)
            m.bias.data.uniform_(-bound, bound, generator=g)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def candidate_state(seed: int, init: str) -> dict[str, torch.Tensor]:
    """The VGG19 ``features`` state_dict of candidate ``init`` (one of :data:`CANDIDATES`)."""
    if init not in CANDIDATES:
        raise ValueError(f"init must be one of {CANDIDATES}, got {init!r}.")
    if init == "torch-default":
        return {k: v.clone() for k, v in _torch_default_state(seed).items()}
    if init == "kaiming":
        return features.random_vgg19_state(seed)
    return _standardised(features.random_vgg19_state(seed), seed, keep_bias=init == "kaiming+rescale")


def candidate_extractor(layers, init: str, seed: int = features.FALLBACK_SEED) -> features.FeatureExtractor:
    """A CPU ``FeatureExtractor`` for ``layers`` with candidate ``init``'s weights."""
    fx = features.FeatureExtractor(layers, weights="random", seed=seed, verbose=False, device="cpu")
    state = candidate_state(seed, init)
    fx.body.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < fx.depth})
    return fx


def lbfgs_image(x0: torch.Tensor, loss_of: Callable[[torch.Tensor], torch.Tensor],
                evals: int) -> tuple[torch.Tensor, float, float]:
    """L-BFGS on the pixels of ``x0``, clamped to [0, 1] after each step, for at least ``evals``
    evaluations of ``loss_of(x)``. Returns ``(x, first loss, seconds per evaluation)``."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=20, history_size=20, line_search_fn="strong_wolfe")
    count = [0]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_of(x)
        loss.backward()
        count[0] += 1
        return loss

    start, first = time.perf_counter(), None
    while count[0] < evals:
        loss = opt.step(closure)
        first = first if first is not None else float(loss.detach())
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach(), first, (time.perf_counter() - start) / max(count[0], 1)


def colour_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over channels of the 1-D Wasserstein distance between pixel-value distributions."""
    q = torch.linspace(0, 1, 257)
    d = 0.0
    for c in range(3):
        qa = torch.quantile(a[0, c].flatten(), q)
        qb = torch.quantile(b[0, c].flatten(), q)
        d += (qa - qb).abs().mean().item()
    return d / 3


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[0, 0] + 0.587 * x[0, 1] + 0.114 * x[0, 2]).double()


def orientation_histogram(x: torch.Tensor, bins: int = 12) -> torch.Tensor:
    """Gradient-orientation histogram of the grey image, magnitude-weighted, ``bins`` over 180°."""
    g = _grey(x)
    gx = g[1:-1, 2:] - g[1:-1, :-2]
    gy = g[2:, 1:-1] - g[:-2, 1:-1]
    mag = torch.sqrt(gx**2 + gy**2).flatten()
    ang = torch.remainder(torch.atan2(gy, gx), math.pi).flatten()
    idx = (ang / math.pi * bins).long().clamp_max(bins - 1)
    h = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, mag)
    return h / h.sum().clamp_min(1e-12)


def frequency_histogram(x: torch.Tensor) -> torch.Tensor:
    """Share of the (mean-removed) power in octave bands of spatial frequency."""
    g = _grey(x)
    g = g - g.mean()
    h, w = g.shape
    window = torch.outer(torch.hann_window(h, dtype=torch.float64), torch.hann_window(w, dtype=torch.float64))
    p = torch.fft.fft2(g * window).abs() ** 2
    fy = torch.fft.fftfreq(h, dtype=torch.float64).abs()[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64).abs()[None, :]
    f = torch.sqrt(fx**2 + fy**2)  # cycles per pixel, 0 … ~0.7
    edges = [1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0]
    out = torch.stack([p[(f > lo) & (f <= hi)].sum() for lo, hi in zip([0.0, *edges[:-1]], edges, strict=True)])
    return out / out.sum().clamp_min(1e-12)


def scores(result: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """``colour`` (1-D Wasserstein distance of pixel values, mean over R, G, B), ``orient``
    and ``freq`` (total-variation distances of the orientation and frequency histograms)
    between two ``(1, 3, H, W)`` images; all 0 for identical statistics."""
    return {
        "colour": colour_distance(result, style),
        "orient": 0.5 * (orientation_histogram(result) - orientation_histogram(style)).abs().sum().item(),
        "freq": 0.5 * (frequency_histogram(result) - frequency_histogram(style)).abs().sum().item(),
    }


def layout_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Correlation of the grey levels of two same-size images, averaged over 4x4 blocks."""
    ga = torch.nn.functional.avg_pool2d(_grey(a)[None, None], 4).flatten()
    gb = torch.nn.functional.avg_pool2d(_grey(b)[None, None], 4).flatten()
    ga, gb = ga - ga.mean(), gb - gb.mean()
    return float((ga * gb).sum() / (ga.norm() * gb.norm()).clamp_min(1e-12))
