"""Sample images that need no network (notebook 00 shows them).

Styles are generated below (seeded) and committed as PNGs in ``data/styles/`` (``make
styles``); content photos are CC0 / public-domain files in ``data/content/``; a few
public-domain paintings can be fetched when online (the course never needs them).
"""

from __future__ import annotations

import hashlib
import math
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from numbers import Real
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from . import config
from .checks import is_whole
from .files import atomic_path
from .images import ImageLoadError, from_pil, load_image, resize_max_side

#: Where the committed sample images live (override with ``COURSE_DATA_DIR``).
DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", config.PROJECT_ROOT / "data"))
#: Content photos shipped in ``data/content/`` (licences in ``data/README.md``).
CONTENT_IMAGES = {"chelsea": "chelsea.jpg", "coffee": "coffee.jpg", "astronaut": "astronaut.jpg"}
STYLE_SIZE = 512


# ------------------------------------- generated styles: (size, seed) -> RGB PIL image
def _rgb(palette: list[str]) -> np.ndarray:
    """Hex colours ``"#RRGGBB"`` → an ``(n, 3)`` float array of 0…255 values."""
    return np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in palette], dtype=np.float64)


def _palette_lookup(values: np.ndarray, palette: list[str]) -> np.ndarray:
    """Map values in [0, 1] to colours interpolated along ``palette`` (hex strings)."""
    colours = _rgb(palette)
    pos = np.clip(values, 0, 1) * (len(palette) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(palette) - 2)
    frac = (pos - lo)[..., None]
    return colours[lo] * (1 - frac) + colours[lo + 1] * frac


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    ax = (np.arange(size) + 0.5) / size
    return np.meshgrid(ax, ax, indexing="xy")


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth value noise in [0, 1]: a coarse random grid upsampled bicubically."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    img = Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC)
    a = np.asarray(img, dtype=np.float64)
    return (a - a.min()) / (a.max() - a.min() + 1e-12)


def _to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), mode="RGB")


#: The largest generated style, in pixels a side. The generators hold a dozen float64 arrays
#: of size x size (mosaic loops over them 180 times): at 4096 that is about 3 GB and a minute,
#: already eight times the committed 512 px styles; 100000 would ask NumPy for 75 GiB at once.
MAX_STYLE_SIZE = 4096


def _check_size_and_seed(size: object, seed: object) -> tuple[int, int]:
    """A generator's ``size`` and ``seed`` as Python ints, or a ValueError naming the one that is wrong."""
    if not is_whole(size) or not 8 <= size <= MAX_STYLE_SIZE:
        raise ValueError(f"size must be an integer from 8 to {MAX_STYLE_SIZE} pixels, got {size!r}; e.g. {STYLE_SIZE}.")
    if not is_whole(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}; e.g. seed=0.")
    return int(size), int(seed)


def swirl(size: int = STYLE_SIZE, seed: int = 0) -> Image.Image:
    """Swirling flow lines: contour bands of the stream function of a few point vortices."""
    size, seed = _check_size_and_seed(size, seed)
    rng = np.random.default_rng(seed)
    x, y = _coords(size)
    psi = np.zeros_like(x)
    for _ in range(7):
        cx, cy = rng.uniform(0.05, 0.95, 2)
        strength = rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.4)
        psi += strength * np.log(np.hypot(x - cx, y - cy) + 0.03)
    psi += 1.5 * _smooth_noise(rng, size, 5)
    bands = 0.5 + 0.5 * np.sin(9.0 * psi)
    shade = 0.65 + 0.35 * _smooth_noise(rng, size, 4)
    palette = ["#0B1D51", "#1F4E9C", "#3E8ED0", "#F2C14E", "#F7E7B4"]
    rgb = _palette_lookup(bands, palette) * shade[..., None]
    return _to_image(rgb)


def stripes(size: int = STYLE_SIZE, seed: int = 0) -> Image.Image:
    """Wavy stripes running horizontally (orientation 0°): notebook 05 rotates them."""
    size, seed = _check_size_and_seed(size, seed)
    rng = np.random.default_rng(seed)
    x, y = _coords(size)
    wobble = 0.012 * np.sin(2 * np.pi * (3 * x + rng.uniform())) + 0.01 * (_smooth_noise(rng, size, 6) - 0.5)
    period = 1.0 / 22.0
    phase = (y + wobble) / period
    bands = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
    bands = bands**1.5
    tint = _smooth_noise(rng, size, 3)
    palette = ["#2B1B17", "#8C2F1B", "#D9682B", "#F4B860", "#FBEBC5"]
    rgb = _palette_lookup(0.15 + 0.7 * bands + 0.15 * tint, palette)
    return _to_image(rgb)


def brush_strokes(size: int = STYLE_SIZE, seed: int = 0) -> Image.Image:
    """Short thick brush strokes whose direction follows a smooth angle field."""
    size, seed = _check_size_and_seed(size, seed)
    rng = np.random.default_rng(seed)
    palette = ["#264653", "#2A9D8F", "#8AB17D", "#E9C46A", "#F4A261", "#E76F51", "#FAF3E0"]
    cols = _rgb(palette)
    img = Image.new("RGB", (size, size), tuple(int(c) for c in cols[0]))
    draw = ImageDraw.Draw(img)
    angle_field = _smooth_noise(rng, size, 4) * 2 * math.pi
    colour_field = _smooth_noise(rng, size, 3)
    scale = size / 512
    for _ in range(int(2600 * scale * scale)):
        cx, cy = rng.uniform(0, size, 2)
        a = angle_field[int(cy) % size, int(cx) % size]
        length = rng.uniform(18, 42) * scale
        width = max(1, int(rng.uniform(5, 11) * scale))
        dx, dy = math.cos(a) * length / 2, math.sin(a) * length / 2
        k = colour_field[int(cy) % size, int(cx) % size] * (len(cols) - 2) + rng.normal(0, 0.8)
        base = cols[int(np.clip(round(k), 0, len(cols) - 1))]
        colour = tuple(int(c) for c in np.clip(base * rng.uniform(0.85, 1.1), 0, 255))
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=colour, width=width)
    return img.filter(ImageFilter.GaussianBlur(radius=0.6 * scale))


def mosaic(size: int = STYLE_SIZE, seed: int = 0) -> Image.Image:
    """Mosaic tiles: Voronoi cells in bright colours separated by dark grout."""
    size, seed = _check_size_and_seed(size, seed)
    rng = np.random.default_rng(seed)
    n = 180
    seeds = rng.uniform(0, size, (n, 2))
    palette = ["#0072B2", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#F5F0E6"]
    cell_colour = _rgb(palette)[rng.integers(0, len(palette), n)] * rng.uniform(0.8, 1.05, (n, 1))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    best = np.full((size, size), np.inf)
    second = np.full((size, size), np.inf)
    owner = np.zeros((size, size), dtype=int)
    for i, (sx, sy) in enumerate(seeds):
        d = np.hypot(xs - sx, ys - sy)
        closer = d < best
        second = np.where(closer, best, np.minimum(second, d))
        owner = np.where(closer, i, owner)
        best = np.where(closer, d, best)
    rgb = cell_colour[owner]
    edge = np.clip((second - best) / (2.2 * size / 512), 0, 1)[..., None]
    grout = np.array([40.0, 36.0, 34.0])
    return _to_image(rgb * edge + grout * (1 - edge))


def halftone(size: int = STYLE_SIZE, seed: int = 0) -> Image.Image:
    """Halftone dots on a rotated grid, their radius following a smooth tone field."""
    size, seed = _check_size_and_seed(size, seed)
    rng = np.random.default_rng(seed)
    x, y = _coords(size)
    tone = _smooth_noise(rng, size, 4)
    layers = [(15.0, "#00A0B0", 0.0), (75.0, "#CC2A6F", 0.33), (45.0, "#F3B61F", 0.66)]
    paper = np.array([250.0, 246.0, 236.0])
    rgb = np.broadcast_to(paper, (size, size, 3)).copy()
    pitch = 1.0 / 40.0
    for angle, hex_colour, offset in layers:
        a = math.radians(angle)
        u = (x * math.cos(a) + y * math.sin(a)) / pitch
        v = (-x * math.sin(a) + y * math.cos(a)) / pitch
        du, dv = u - np.round(u), v - np.round(v)
        dist = np.hypot(du, dv)
        local = np.clip(0.5 + 0.9 * np.sin(2 * np.pi * (tone + offset)) * 0.5, 0.05, 0.95)
        radius = 0.55 * np.sqrt(local)
        ink = np.clip((radius - dist) * 12.0, 0, 1)[..., None]
        rgb = rgb * (1 - 0.85 * ink) + _rgb([hex_colour])[0] * 0.85 * ink
    return _to_image(rgb)


#: The generated styles by name.
STYLE_GENERATORS: dict[str, Callable[[int, int], Image.Image]] = {
    "swirl": swirl, "stripes": stripes, "brush_strokes": brush_strokes, "mosaic": mosaic, "halftone": halftone,
}
STYLE_NAMES = tuple(STYLE_GENERATORS)


def _check_style(name: str) -> None:
    if not isinstance(name, str) or name not in STYLE_GENERATORS:  # a list would be unhashable
        raise ValueError(f"Unknown style {name!r}; choose one of {', '.join(STYLE_NAMES)}.")


def generate_style(name: str, size: int = STYLE_SIZE, seed: int = 0) -> torch.Tensor:
    """Generate a style image by name as a ``(1, 3, size, size)`` tensor in [0, 1]."""
    _check_style(name)
    return from_pil(STYLE_GENERATORS[name](size, seed))  # each generator checks size and seed


def style_path(name: str) -> Path:
    return DATA_DIR / "styles" / f"{name}.png"


def style_image(name: str, size: int | None = None) -> torch.Tensor:
    """A generated style (one of :data:`STYLE_NAMES`) as ``(1, 3, H, W)`` in [0, 1], from
    ``data/styles/`` when present; ``size`` shrinks its longest side (``None`` keeps 512 px)."""
    _check_style(name)
    if size is not None and not (isinstance(size, Real) and not isinstance(size, bool) and size >= 0):
        raise ValueError(f"size must be a positive number of pixels (the longest side) or None, got {size!r}; e.g. 256.")
    path = style_path(name)
    image = load_image(path) if path.exists() else generate_style(name)
    return resize_max_side(image, size) if size else image


def content_image(name: str, max_side: int | None = None) -> torch.Tensor:
    """A shipped content photo as ``(1, 3, H, W)`` in [0, 1]."""
    if not isinstance(name, str) or name not in CONTENT_IMAGES:
        raise ValueError(f"Unknown content photo {name!r}; choose one of {', '.join(CONTENT_IMAGES)}.")
    path = DATA_DIR / "content" / CONTENT_IMAGES[name]
    return load_image(path, max_side=max_side)


def sample_image(name: str, max_side: int | None = None) -> torch.Tensor:
    """Any sample image by name: a content photo or a generated style."""
    known = isinstance(name, str)  # a list would be unhashable: it gets the sentence below
    if known and name in CONTENT_IMAGES:
        return content_image(name, max_side)
    if known and name in STYLE_GENERATORS:
        return style_image(name, max_side)
    raise ValueError(f"Unknown sample image {name!r}; choose one of {', '.join(list_samples())}.")


def list_samples() -> list[str]:
    """Names accepted by :func:`sample_image`: content photos first, then styles."""
    return list(CONTENT_IMAGES) + list(STYLE_NAMES)


# ------------------------------- optional: public-domain paintings, fetched and cached
_COMMONS = "https://commons.wikimedia.org/wiki/Special:FilePath/{}?width=1024"
PAINTINGS = {
    "starry_night": "Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg",
    "great_wave": "Tsunami_by_hokusai_19th_century.jpg",
    "composition_vii": "Vassily_Kandinsky,_1913_-_Composition_7.jpg",
    "the_scream": "Edvard_Munch,_1893,_The_Scream,_oil,_tempera_and_pastel_on_cardboard,_91_x_73_cm,_National_Gallery_of_Norway.jpg",
}


def painting_path(name: str) -> Path:
    if not isinstance(name, str) or name not in PAINTINGS:
        raise ValueError(f"Unknown painting {name!r}; choose one of {', '.join(PAINTINGS)}.")
    return config.cache_dir() / "paintings" / f"{name}.jpg"


def load_painting(name: str, max_side: int | None = 512, timeout: float = 10.0) -> torch.Tensor:
    """A public-domain painting, from the cache or downloaded once when online; the download
    records its SHA-256 beside the file and later loads check it."""
    path = painting_path(name)
    if not path.exists():
        if config.OFFLINE:
            raise ImageLoadError(f"Cannot load painting '{name}': offline mode (COURSE_OFFLINE=1) forbids the "
                                 f"download; copy the image to {path} or use a generated style such as "
                                 "data.style_image('swirl').")
        _download(_COMMONS.format(PAINTINGS[name]), path, timeout)
    record = path.with_suffix(".sha256")
    if record.exists() and hashlib.sha256(path.read_bytes()).hexdigest() != record.read_text().strip():
        raise ImageLoadError(f"Cannot load '{path}': its SHA-256 no longer matches the one recorded at "
                             "download; delete the file and its .sha256 and download it again.")
    return load_image(path, max_side=max_side)


def _download(url: str, path: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "course-utils/0.1 (educational)"})
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
            load_image(tmp)  # refuse to cache something that is not an image
            digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        path.with_suffix(".sha256").write_text(digest + "\n")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ImageLoadError(f"Cannot download '{path.stem}' ({exc}); check the network, or copy the image "
                             f"to {path} by hand, or use a generated style.") from None
