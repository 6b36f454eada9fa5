"""Regenerate or check the committed style images in ``data/styles/`` (``make styles``)::

    python -m course_tools.styles regenerate   # rewrite data/styles/*.png from the generators
    python -m course_tools.styles check        # do the committed files match the generators?
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from course_utils import data
from course_utils.images import save_image


def regenerate(out_dir: Path | None = None) -> list[Path]:
    """Write every generated style as PNG (atomically) and return the paths."""
    out = Path(out_dir) if out_dir else data.DATA_DIR / "styles"
    return [save_image(data.generate_style(n), out / f"{n}.png") for n in data.STYLE_NAMES]


def compare_with_committed(name: str) -> dict[str, float]:
    """Compare a freshly generated style with the committed PNG (8-bit pixel levels)."""
    fresh = np.asarray(data.STYLE_GENERATORS[name](data.STYLE_SIZE, 0), dtype=np.int16)
    with Image.open(data.style_path(name)) as im:
        committed = np.asarray(im.convert("RGB"), dtype=np.int16)
    diff = np.abs(fresh - committed)
    return {"max_diff": float(diff.max()), "fraction_equal": float((diff == 0).mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.styles", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("regenerate", help="rewrite data/styles/*.png from the generators")
    sub.add_parser("check", help="verify that data/styles/*.png match the generators")
    if parser.parse_args(argv).command == "regenerate":
        for p in regenerate():
            print(f"wrote {p}")
        return 0
    ok = True
    for name in data.STYLE_NAMES:
        stats = compare_with_committed(name)
        good = stats["max_diff"] <= 1 and stats["fraction_equal"] >= 0.999
        ok &= good
        print(f"{name:14s} {'ok' if good else 'DIFFERS'}  {stats}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
