"""Regenerate the README's figures from the course's own code: ``make gallery``.

Each figure is made by the functions the notebooks teach, and one that uses a feature
network names it in its label. A figure is a function ``figure(out_dir, settings) -> Path``
listed in :data:`FIGURES`::

    python -m course_tools.gallery                       # all figures into docs/gallery/
    python -m course_tools.gallery --only texture_synthesis --quick --out /tmp/g   # tiny, seconds
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from course_utils import config, data, deform, digits, geometry, stn, transfer, warps
from course_utils.images import to_pil
from course_utils.widgets import render_warp_panels

GALLERY_DIR = config.PROJECT_ROOT / "docs" / "gallery"


@dataclass(frozen=True)
class GallerySettings:
    """Sizes (longest side, px) and L-BFGS steps of the figures."""

    size: int = 256  # style and deformable transfer; at 192 px the cat was hard to make out
    steps: int = 100  # style transfer (half as many again at full size) and texture
    stroke_size: int = 128  # each of the three oriented-strokes runs
    stroke_steps: int = 60  # oriented strokes and deformable transfer
    texture_size: int = 128
    n_digits: int = 8  # digits in the STN before/after figure
    weights: str = "auto"  # the feature network, as transfer.TransferConfig takes it
    seed: int = 0


DEFAULT = GallerySettings()
#: Tiny sizes and few steps: the whole gallery in seconds (tests, ``--quick``).
QUICK = GallerySettings(size=48, steps=3, stroke_size=32, stroke_steps=2, texture_size=32, n_digits=3)


def _label(img: Image.Image, text: str) -> Image.Image:
    """``img`` under a caption; the canvas widens if the caption is wider than the image."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left, top_, right, bottom = measure.multiline_textbbox((0, 0), text, spacing=3)
    top = bottom + 10
    out = Image.new("RGB", (max(img.width, right + 12), img.height + top), (255, 255, 255))
    out.paste(img, (0, top))
    ImageDraw.Draw(out).multiline_text((6, 4), text, fill=(20, 20, 20), spacing=3)
    return out


def _row(images: list[Image.Image], gap: int = 10) -> Image.Image:
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    height = max(i.height for i in images)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    x = 0
    for img in images:
        canvas.paste(img, (x, 0))
        x += img.width + gap
    return canvas


def _column(images: list[Image.Image], gap: int = 8) -> Image.Image:
    width = max(i.width for i in images)
    canvas = Image.new("RGB", (width, sum(i.height for i in images) + gap * (len(images) - 1)), "white")
    y = 0
    for img in images:
        canvas.paste(img, (0, y))
        y += img.height + gap
    return canvas


def _tile(image: torch.Tensor, height: int) -> Image.Image:
    """A tensor image as a PIL tile ``height`` px high (small images enlarged with visible pixels)."""
    pil = to_pil(image.detach().cpu())
    width = max(1, round(pil.width * height / pil.height))
    return pil.resize((width, height), Image.NEAREST if pil.height * 2 <= height else Image.BILINEAR)


def _network_line(result: transfer.TransferResult) -> str:
    return f"feature network: {transfer.short_source(result.source)}"


def _save(img: Image.Image, out_dir: Path, name: str) -> Path:
    path = Path(out_dir) / name
    img.save(path, optimize=True)
    if path.stat().st_size > 200 * 1024:  # keep the README small: 256 colours, dithered
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
            path, optimize=True)
    return path


def _stylise(content: torch.Tensor, style: torch.Tensor, s: GallerySettings, **settings) -> transfer.TransferResult:
    settings.setdefault("steps", s.steps)
    return transfer.stylise(content, style, weights=s.weights, seed=s.seed, progress=False, **settings)


def theta_playground_frames(out_dir: Path, s: GallerySettings = DEFAULT) -> Path:
    """Three frames of the θ playground (notebook 01): rotate, zoom out with reflection, shear."""
    cat = data.content_image("chelsea", max_side=240)
    h, w = cat.shape[-2:]
    frames = [
        ("rotate 30°", geometry.theta_from_params(angle=30, aspect=w / h), "zeros"),
        ("zoom out x0.6, reflection padding", geometry.theta_from_params(scale=0.6, aspect=w / h), "reflection"),
        ("shear 0.4 + move", geometry.theta_from_params(shear=0.4, tx=0.2, aspect=w / h), "border"),
    ]
    panels = [
        _label(render_warp_panels(cat, theta, padding_mode=pad, height=150), f"{name}: input + grid | output")
        for name, theta, pad in frames
    ]
    return _save(_column(panels), out_dir, "theta_playground.png")


def sample_images(out_dir: Path, s: GallerySettings = DEFAULT) -> Path:
    """The offline sample images: three photos and the generated styles."""
    tiles = [_label(to_pil(data.sample_image(n, max_side=160)), n) for n in data.list_samples()]
    return _save(_row(tiles), out_dir, "samples.png")


def stn_before_after(out_dir: Path, s: GallerySettings = DEFAULT) -> Path:
    """Distorted digits and what the trained spatial transformer of notebook 02 makes of them."""
    model = stn.build_models(stn.RECIPE_FULL, "affine", seed=s.seed)["STN-CNN"]

    def train() -> None:  # only when the committed checkpoint is missing: the fast recipe
        r = stn.RECIPE_FAST
        d = digits.make_digits(r.n_train, "RTS", seed=s.seed)
        stn.train_classifier(model, d.images, d.labels, r, seed=s.seed, desc="STN for the gallery")

    status = stn.load_or_train(model, "stn02_rts_stn", train)
    test = digits.make_digits(s.n_digits, "RTS", seed=s.seed + 1, split="test")
    outputs, _ = stn.transform_batch(model.stn, test.images)
    predicted = stn.predict(model, test.images)
    rows = []
    for title, batch in (("input: distorted digits (RTS)", test.images), ("after the STN", outputs)):
        rows.append(_label(_row([_tile(img, 84) for img in batch.clamp(0, 1)], gap=6), title))
    correct = int((predicted == test.labels).sum())
    caption = (f"STN-CNN of notebook 02 ({status}); no VGG network involved\n"
               f"classified correctly: {correct} of {len(test.labels)}")
    return _save(_label(_column(rows), caption), out_dir, "stn_before_after.png")


def texture_synthesis(out_dir: Path, s: GallerySettings = DEFAULT) -> Path:
    """Texture synthesis (notebook 03's method with the engine): from noise, style loss only."""
    style = data.style_image("swirl", s.texture_size)
    canvas = torch.full((1, 3, s.texture_size, s.texture_size), 0.5)  # only its size matters
    r = _stylise(canvas, style, s, init="noise", content_weight=0.0, tv_weight=1.0)
    tiles = [_label(_tile(style, s.texture_size), "style ('swirl')"),
             _label(_tile(r.image, s.texture_size), f"texture from noise, {r.steps_done} steps")]
    return _save(_label(_row(tiles), "texture synthesis: Gram matrices only\n" + _network_line(r)),
                 out_dir, "texture_synthesis.png")


def style_transfer(out_dir: Path, s: GallerySettings = DEFAULT) -> Path:
    """Style transfer by optimisation (notebook 04): Chelsea in a generated style."""
    content = data.content_image("chelsea", s.size)
    style = data.style_image("brush_strokes", s.size)
    r = _stylise(content, style, s, style_weight=1e3, scales=(0.5, 1.0),
                 steps=(s.steps, max(1, s.steps // 2)))
    height = content.shape[-2]
    tiles = [_label(_tile(content, height), "content (Chelsea, CC0)"),
             _label(_tile(style, height), "style ('brush_strokes')"),
             _label(_tile(r.image, height), "result")]
    return _save(_label(_row(tiles), "style transfer by optimisation\n" + _network_line(r)),
                 out_dir, "style_transfer.png")


def oriented_strokes(out_dir: Path, s: GallerySettings = DEFAULT) -> Path:
    """Stroke orientation steered by rotating the style (warps.warp_style) before its Grams."""
    content = data.content_image("chelsea", s.stroke_size)
    stripes = data.style_image("stripes", s.stroke_size)
    height = content.shape[-2]
    columns, r = [], None
    for degrees in (0, 45, 90):
        warped = warps.warp_style(stripes, degrees=degrees)
        r = _stylise(content, warped, s, style_weight=1e3, steps=s.stroke_steps)
        thumb = _tile(warped, height // 2)
        columns.append(_column([_label(thumb, f"style turned {degrees}°"), _tile(r.image, height)], gap=4))
    assert r is not None
    return _save(_label(_row(columns), "oriented strokes: the 'stripes' style rotated before its Gram targets\n"
                        + _network_line(r)), out_dir, "oriented_strokes.png")


def deformable_transfer(out_dir: Path, s: GallerySettings = DEFAULT) -> Path:
    """Deformable style transfer (notebook 05): the eyes move apart and up, the nose down,
    carried by a smooth field optimised together with the image."""
    content = data.content_image("chelsea", s.size)
    style = data.style_image("brush_strokes", s.size)
    h, w = content.shape[-2:]
    moves = (((0.38, 0.39), (0.33, 0.35)), ((0.70, 0.44), (0.76, 0.40)), ((0.58, 0.79), (0.58, 0.86)))
    xy = torch.tensor([w, h], dtype=torch.float32)
    src = torch.tensor([a for a, _ in moves]) * xy
    tgt = torch.tensor([b for _, b in moves]) * xy
    # coarse to fine, except at tiny test sizes where half size is too small for conv5_1
    settings = ({"steps": (s.stroke_steps, max(1, s.stroke_steps // 2)), "scales": (0.5, 1.0)}
                if min(h, w) >= 64 else {"steps": s.stroke_steps})
    plain = _stylise(content, style, s, **settings)
    r = deform.deformable_stylise(content, style, src, tgt, weights=s.weights, seed=s.seed, progress=False,
                                  **settings)
    marked = _tile(content, h)
    draw = ImageDraw.Draw(marked)
    for (sx, sy), (tx, ty) in zip(src.tolist(), tgt.tolist(), strict=True):
        draw.line([(sx, sy), (tx, ty)], fill=(230, 159, 0), width=2)  # Okabe-Ito orange
        draw.ellipse([tx - 2, ty - 2, tx + 2, ty + 2], fill=(230, 159, 0))
    tiles = [_label(marked, "keypoints: source -> target"), _label(_tile(plain.image, h), "plain transfer"),
             _label(_tile(r.image, h), f"deformable (max error {r.keypoint_errors().max().item():.1f} px)")]
    return _save(_label(_row(tiles), "deformable style transfer: a smooth field moves the keypoints\n"
                        + _network_line(plain)), out_dir, "deformable_transfer.png")


#: name → figure function, in README order.
FIGURES: dict[str, Callable[[Path, GallerySettings], Path]] = {
    "theta_playground": theta_playground_frames,
    "samples": sample_images,
    "stn_before_after": stn_before_after,
    "texture_synthesis": texture_synthesis,
    "style_transfer": style_transfer,
    "oriented_strokes": oriented_strokes,
    "deformable_transfer": deformable_transfer,
}


def make(out_dir: Path, settings: GallerySettings = DEFAULT, only: list[str] | None = None,
         verbose: bool = True) -> list[Path]:
    """Make the figures named in ``only`` (default: all of :data:`FIGURES`) in ``out_dir``."""
    names = list(FIGURES) if not only else only
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"no gallery figure called {unknown[0]!r}; choose from {list(FIGURES)}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        config.seed_everything(settings.seed)  # each figure alike whether made alone or with others
        start = time.perf_counter()
        path = FIGURES[name](out_dir, settings)
        paths.append(path)
        if verbose:
            print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB, {time.perf_counter() - start:.1f} s)")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.gallery", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=GALLERY_DIR, help="output folder (default docs/gallery)")
    parser.add_argument("--only", action="append", choices=list(FIGURES), help="make only this figure (repeatable)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps (a smoke test)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    make(args.out, QUICK if args.quick else DEFAULT, args.only)
    print(f"gallery done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
