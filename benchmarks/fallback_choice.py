"""Which random VGG19 makes the best offline fallback?  A network-independent measurement.

For each candidate initialisation of ``course_tools.fallback`` (and ImageNet VGG19 when its
weights are here): reconstruct a photo from ``relu4_2`` alone and score ``layout`` (4×4-block
grey-level correlation with the photo) and ``cat≠coffee`` (the relative relu4_2 distance of
two photos); then synthesise textures from Gram matrices alone and score them against the
style with :func:`course_tools.fallback.scores`, which use no network (``noise`` and ``same
style, other seed`` bracket them). The table and the decision: ``benchmarks/README.md``,
notebook 03b. Usage (about 5–10 minutes on an idle 2-core CPU with the defaults)::

    python benchmarks/fallback_choice.py
    python benchmarks/fallback_choice.py --size 96 --evals 60 --styles swirl stripes
    python benchmarks/fallback_choice.py --save outputs/fallback   # also write the images
    python benchmarks/fallback_choice.py --size 32 --evals 4 --styles stripes   # a quick smoke run
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from course_tools import fallback
from course_tools.fallback import layout_correlation, scores
from course_utils import config, data, features, images, losses

STYLE_LAYERS = features.GATYS_STYLE_LAYERS


def synthesize(extractor, style: torch.Tensor, size: int, evals: int, seed: int = 0):
    targets = losses.grams(extractor(style))
    g = torch.Generator().manual_seed(seed)
    noise = (0.5 + 0.1 * torch.randn(1, 3, size, size, generator=g)).clamp(0, 1)
    x, first, per_eval = fallback.lbfgs_image(noise, lambda x: losses.style_loss(extractor(x), targets), evals)
    with torch.no_grad():
        final = float(losses.style_loss(extractor(x), targets))
    return x, first, final, per_eval


def reconstruct(extractor, photo: torch.Tensor, layer: str, evals: int, seed: int = 0):
    target = extractor(photo)[layer].detach()
    start = torch.rand(photo.shape, generator=torch.Generator().manual_seed(seed))
    return fallback.lbfgs_image(start, lambda x: losses.content_loss(extractor(x)[layer], target), evals)[0]


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
        candidates["ImageNet VGG19"] = features.FeatureExtractor(STYLE_LAYERS, weights="imagenet", device="cpu")
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
