"""Regenerate the README's figures from the course's own code: ``make gallery``.

Each figure is made by the same functions the notebooks teach, so the README can never
show something the course cannot do. Figures that involve a feature network say which one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from . import config, data, geometry
from .widgets import render_warp_panels

GALLERY_DIR = config.PROJECT_ROOT / "docs" / "gallery"


def _label(img: Image.Image, text: str) -> Image.Image:
    out = Image.new("RGB", (img.width, img.height + 22), (255, 255, 255))
    out.paste(img, (0, 22))
    ImageDraw.Draw(out).text((6, 5), text, fill=(20, 20, 20))
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


def theta_playground_frames(out_dir: Path) -> Path:
    """Three frames of the θ playground: rotate, zoom out with reflection, shear."""
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
    canvas = Image.new("RGB", (max(p.width for p in panels), sum(p.height for p in panels) + 8 * 2), "white")
    y = 0
    for p in panels:
        canvas.paste(p, (0, y))
        y += p.height + 8
    path = out_dir / "theta_playground.png"
    canvas.save(path)
    return path


def sample_images(out_dir: Path) -> Path:
    """The offline sample images: three photos and the generated styles."""
    tiles = [
        _label(Image.fromarray((data.sample_image(n, max_side=160)[0].permute(1, 2, 0) * 255).round().byte().numpy()), n)
        for n in data.list_samples()
    ]
    path = out_dir / "samples.png"
    _row(tiles).save(path)
    return path


FIGURES = {"theta_playground": theta_playground_frames, "samples": sample_images}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.gallery", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=GALLERY_DIR, help="output folder (default docs/gallery)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for make in FIGURES.values():
        print("wrote", make(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
