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

The candidates and the statistics are in ``course_tools.fallback``; the measured table and
the decision are in ``benchmarks/README.md`` and notebook ``03b_choosing_the_offline_network``.

Usage (about 5–10 minutes on an idle 2-core CPU with the defaults)::

    python benchmarks/fallback_choice.py
    python benchmarks/fallback_choice.py --size 96 --evals 60 --styles swirl stripes
    python benchmarks/fallback_choice.py --save outputs/fallback   # also write the images
    python benchmarks/fallback_choice.py --size 32 --evals 4 --styles stripes   # a quick smoke run
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from course_tools import fallback
from course_tools.fallback import layout_correlation, scores
from course_utils import config, data, features, images, losses

STYLE_LAYERS = features.GATYS_STYLE_LAYERS


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
        fx = fallback.candidate_extractor([layer], init)
        apart = losses.content_loss(fx(other)[layer], fx(photo)[layer]).item()
        rec = reconstruct(fx, photo, layer, evals)
        print(f"{init:22s} {layout_correlation(rec, photo):7.3f} {apart:11.3f}")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--evals", type=int, default=80, help="L-BFGS loss evaluations per run")
    ap.add_argument("--styles", nargs="+", default=["swirl", "stripes", "brush_strokes"])
    ap.add_argument("--inits", nargs="+", default=list(fallback.CANDIDATES))
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
    candidates = {init: fallback.candidate_extractor(STYLE_LAYERS, init) for init in args.inits}
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
