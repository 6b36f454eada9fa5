"""Which random VGG19 makes the best offline fallback?  A network-independent measurement.

The offline fallback keeps VGG19's architecture; what can be chosen is the random
initialisation and a per-filter normalisation. This script synthesises textures from Gram
matrices alone (style layers relu1_1 … relu5_1, scale-free loss, L-BFGS from seeded noise)
with each candidate, and scores the result against the style with statistics that do not
depend on any network:

* ``colour``  — mean over R, G, B of the 1-D Wasserstein distance between pixel values;
* ``orient``  — total-variation distance between gradient-orientation histograms
  (magnitude-weighted, 12 bins over 180°): stroke and stripe directions;
* ``freq``    — total-variation distance between radially averaged power spectra in
  octave bins: the size of the structures.

All three are 0 for identical statistics. Texture statistics alone can be fooled by a
network whose deep layers carry no information about the image (then only the shallow
layers are matched, which is easy), so a second test reconstructs a photo from the
content layer ``relu4_2`` alone (L-BFGS from noise) and scores ``layout``: the correlation
between the reconstruction's and the photo's grey levels, both averaged over 4×4 pixel
blocks (1 = same layout, about 0 for noise); ``cat≠coffee`` is the relative relu4_2
distance between two different photos (near 0 means the layer cannot tell them apart). Two rows bracket them: ``noise`` (the starting
image) and ``same style, other seed`` (another sample of the same generated texture, the
best one can hope for). ImageNet VGG19 is added as a row when its weights are available.

Usage (about 5–10 minutes on a shared 2-core CPU with the defaults)::

    python benchmarks/fallback_choice.py
    python benchmarks/fallback_choice.py --size 96 --evals 60 --styles swirl stripes
    python benchmarks/fallback_choice.py --save outputs/fallback   # also write the images
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from course_utils import config, data, features, images, losses

STYLE_LAYERS = features.GATYS_STYLE_LAYERS


# --------------------------------------------------------------- statistics (no network)
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
    window = torch.hann_window(h, dtype=torch.float64)[:, None] * torch.hann_window(
        w, dtype=torch.float64
    )[None, :]
    p = torch.fft.fft2(g * window).abs() ** 2
    fy = torch.fft.fftfreq(h, dtype=torch.float64).abs()[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64).abs()[None, :]
    f = torch.sqrt(fx**2 + fy**2)  # cycles per pixel, 0 … ~0.7
    edges = [1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0]
    out = []
    for lo, hi in zip([0.0, *edges[:-1]], edges, strict=True):
        m = (f > lo) & (f <= hi)
        out.append(p[m].sum())
    out = torch.stack(out)
    return out / out.sum().clamp_min(1e-12)


def scores(result: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    return {
        "colour": colour_distance(result, style),
        "orient": 0.5 * (orientation_histogram(result) - orientation_histogram(style)).abs().sum().item(),
        "freq": 0.5 * (frequency_histogram(result) - frequency_histogram(style)).abs().sum().item(),
    }


# ------------------------------------------------------------------- texture synthesis
def synthesize(extractor, style: torch.Tensor, size: int, evals: int, seed: int = 0):
    targets = losses.grams(extractor(style))
    g = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.1 * torch.randn(1, 3, size, size, generator=g)).clamp(0, 1).requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=20, history_size=20, line_search_fn="strong_wolfe")
    count = [0]

    def closure():
        opt.zero_grad()
        loss = losses.style_loss(extractor(x), targets)
        loss.backward()
        count[0] += 1
        return loss

    start = time.perf_counter()
    first = None
    while count[0] < evals:
        loss = opt.step(closure)
        first = first if first is not None else float(loss.detach())
        with torch.no_grad():
            x.clamp_(0, 1)
    per_eval = (time.perf_counter() - start) / max(count[0], 1)
    with torch.no_grad():
        final = float(losses.style_loss(extractor(x), targets))
    return x.detach(), first, final, per_eval


def layout_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Correlation of the grey levels of two same-size images, averaged over 4x4 blocks."""
    ga = torch.nn.functional.avg_pool2d(_grey(a)[None, None], 4).flatten()
    gb = torch.nn.functional.avg_pool2d(_grey(b)[None, None], 4).flatten()
    ga, gb = ga - ga.mean(), gb - gb.mean()
    return float((ga * gb).sum() / (ga.norm() * gb.norm()).clamp_min(1e-12))


def reconstruct(extractor, photo: torch.Tensor, layer: str, evals: int, seed: int = 0):
    target = extractor(photo)[layer].detach()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(photo.shape, generator=g).requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=20, history_size=20, line_search_fn="strong_wolfe")
    count = [0]

    def closure():
        opt.zero_grad()
        loss = losses.content_loss(extractor(x)[layer], target)
        loss.backward()
        count[0] += 1
        return loss

    while count[0] < evals:
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def content_table(inits: list[str], size: int, evals: int) -> None:
    layer = features.GATYS_CONTENT_LAYER
    photo = data.sample_image("chelsea", max_side=size)
    other = images.resize(data.sample_image("coffee", max_side=size), tuple(photo.shape[-2:]))
    noise = torch.rand(photo.shape, generator=torch.Generator().manual_seed(0))
    print(f"content from {layer} alone (chelsea, {tuple(photo.shape[-2:])} px, {evals} evaluations)")
    print(f"{'network':22s} {'layout':>7s} {'cat≠coffee':>11s}")
    print(f"{'noise (start)':22s} {layout_correlation(noise, photo):7.3f}")
    for init in inits:
        fx = features.FeatureExtractor([layer], weights="random", verbose=False, device="cpu")
        state = features.random_vgg19_state(features.FALLBACK_SEED, init)
        fx.body.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < fx.depth})
        apart = losses.content_loss(fx(other)[layer], fx(photo)[layer]).item()
        rec = reconstruct(fx, photo, layer, evals)
        print(f"{init:22s} {layout_correlation(rec, photo):7.3f} {apart:11.3f}")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--evals", type=int, default=80, help="L-BFGS loss evaluations per run")
    ap.add_argument("--styles", nargs="+", default=["swirl", "stripes", "brush_strokes"])
    ap.add_argument("--inits", nargs="+", default=list(features.FALLBACK_INITS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save", help="folder to write the synthesised textures to (PNG)")
    ap.add_argument("--no-textures", action="store_true", help="only the content test")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config.seed_everything(0)
    print(config.describe())

    content_table(args.inits, args.size, args.evals)
    if args.no_textures:
        return
    candidates = {
        init: features.FeatureExtractor(STYLE_LAYERS, weights="random", verbose=False, device="cpu")
        for init in args.inits
    }
    for init, fx in candidates.items():  # the extractor builds the default init; swap in others
        state = features.random_vgg19_state(features.FALLBACK_SEED, init)
        fx.body.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < fx.depth})
    try:
        candidates["ImageNet VGG19"] = features.FeatureExtractor(
            STYLE_LAYERS, weights="imagenet", device="cpu"
        )
    except Exception as exc:  # the usual case on machines without the weights
        print(f"(no ImageNet row: {str(exc)[:90]}…)")

    header = f"{'style':14s} {'network':22s} {'colour':>7s} {'orient':>7s} {'freq':>7s} {'loss':>15s} {'s/eval':>7s}"
    print(header)
    print("-" * len(header))
    totals: dict[str, list[float]] = {}
    for name in args.styles:
        style = data.style_image(name, args.size)
        other = images.resize_max_side(data.generate_style(name, 512, seed=1), args.size)
        noise = (0.5 + 0.1 * torch.randn(1, 3, args.size, args.size,
                                          generator=torch.Generator().manual_seed(0))).clamp(0, 1)
        for label, img in (("noise (start)", noise), ("same style, other seed", other)):
            s = scores(img, style)
            print(f"{name:14s} {label:22s} {s['colour']:7.3f} {s['orient']:7.3f} {s['freq']:7.3f}")
            totals.setdefault(label, []).append(sum(s.values()))
        for label, fx in candidates.items():
            x, first, final, per_eval = synthesize(fx, style, args.size, args.evals)
            s = scores(x, style)
            totals.setdefault(label, []).append(sum(s.values()))
            print(f"{name:14s} {label:22s} {s['colour']:7.3f} {s['orient']:7.3f} {s['freq']:7.3f} "
                  f"{first:7.3f}→{final:6.3f} {per_eval:7.3f}")
            if args.save:
                images.save_image(x, Path(args.save) / f"{name}_{label.replace(' ', '_').replace('+', '-')}.png")
        if args.save:
            images.save_image(style, Path(args.save) / f"{name}_style.png")
        print()
    print("sum of the three distances, mean over styles (lower is better):")
    for label, vals in totals.items():
        print(f"  {label:22s} {sum(vals) / len(vals):.3f}")


if __name__ == "__main__":
    main()
