"""Figures for the course: images with titles, sampling grids, loss curves.

Colours come from the Okabe–Ito palette and maps from ``cividis``/``viridis``, which stay
readable for colour-blind learners.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from PIL import Image

from .checks import count, is_whole, shape_of
from .geometry import normalised_to_pixel
from .images import to_pil

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
}
PALETTE = list(OKABE_ITO.values())
#: Sequential colour map used for feature maps and heat maps.
CMAP = "cividis"


def _to_hwc(image: torch.Tensor):
    if not isinstance(image, torch.Tensor):
        raise TypeError(
            f"image must be a torch.Tensor, got {type(image).__name__}; load a file with "
            "images.load_image(path), convert a NumPy array with torch.from_numpy(array)."
        )
    t = image.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    if t.dim() == 3 and t.shape[0] in (1, 3):
        t = t.permute(1, 2, 0)
    if t.dim() == 3 and t.shape[2] == 1:
        t = t[..., 0]
    if t.dim() not in (2, 3) or (t.dim() == 3 and t.shape[2] not in (3, 4)):
        raise ValueError(
            f"cannot draw a tensor of shape {tuple(image.shape)}: expected (1, 3, H, W), (3, H, W), "
            "(1, H, W) or (H, W); for a feature map pick one channel, e.g. feats[0, 0]."
        )
    return t.clamp(0, 1).numpy()


def show_image(image: torch.Tensor, title: str | None = None, ax=None, **imshow_kwargs):
    """Draw one image tensor (``(1, 3, H, W)``, ``(3, H, W)``, ``(1, H, W)`` or ``(H, W)``, grey
    unless ``cmap`` is given); returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    array = _to_hwc(image)
    if array.ndim == 2:
        imshow_kwargs.setdefault("cmap", "gray")
        imshow_kwargs.setdefault("vmin", 0.0)
        imshow_kwargs.setdefault("vmax", 1.0)
    ax.imshow(array, **imshow_kwargs)
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def show_images(images: Sequence[torch.Tensor] | Mapping[str, torch.Tensor], titles: Sequence[str] | None = None,
                *, ncols: int | None = None, size: float = 3.0, suptitle: str | None = None):
    """Show several images side by side (a dict gives ``{title: image}``); returns the figure."""
    if isinstance(images, Mapping):
        titles = list(images.keys())
        images = list(images.values())
    if (isinstance(images, torch.Tensor) and images.dim() < 4) or not isinstance(images, Iterable):
        raise TypeError(f"show_images needs a list of images or a {{title: image}} dict, got {shape_of(images)}; "
                        "for one image use show_image.")
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image.")
    n = len(images)
    if titles is not None and len(titles) < n:
        raise ValueError(f"titles has {len(titles)} entries for {n} images; give one title per image.")
    ncols = min(n, 5) if ncols is None else count("ncols", ncols, 1)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            show_image(images[i], titles[i] if titles else None, ax=ax)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def draw_grid(ax, grid: torch.Tensor, size: tuple[int, int], *, every: int = 4, color: str = OKABE_ITO["orange"],
              align_corners: bool = False, linewidth: float = 0.8):
    """Draw a sampling grid ``(H, W, 2)`` or ``(1, H, W, 2)`` (normalised x, y) over an axes
    that shows the *input* image of size ``size = (H, W)``: each line joins the input
    positions that one output row or column samples."""
    if not isinstance(grid, torch.Tensor) or grid.dim() not in (3, 4) or grid.shape[-1] != 2:
        raise ValueError(
            f"grid must be a sampling grid (H, W, 2) or (1, H, W, 2), got {shape_of(grid)}; "
            "make one from θ with geometry.sampling_grid(theta, size)."
        )
    if not (isinstance(size, Sequence) and len(size) == 2):
        raise ValueError(f"size must be (H, W) of the input image, got {size!r}; e.g. tuple(image.shape[-2:]).")
    if not is_whole(every) or every < 1:
        raise ValueError(f"every must be a positive integer (draw every n-th line), got {every!r}.")
    g = grid.detach().cpu().float()
    if g.dim() == 4:
        g = g[0]
    pix = normalised_to_pixel(g, size, align_corners=align_corners)
    rows, cols = pix.shape[0], pix.shape[1]
    for r in list(range(0, rows, every)) + [rows - 1]:
        ax.plot(pix[r, :, 0], pix[r, :, 1], color=color, lw=linewidth)
    for c in list(range(0, cols, every)) + [cols - 1]:
        ax.plot(pix[:, c, 0], pix[:, c, 1], color=color, lw=linewidth)
    ax.set_xlim(-0.5, size[1] - 0.5)
    ax.set_ylim(size[0] - 0.5, -0.5)
    return ax


def plot_curves(curves: Mapping[str, Sequence[float]], *, ax=None, xlabel: str = "step", ylabel: str = "loss",
                title: str | None = None, logy: bool = True, x: Mapping[str, Sequence[float]] | None = None):
    """Plot named curves (e.g. loss per step) in the colour-blind-safe palette."""
    if not isinstance(curves, Mapping):
        raise TypeError(
            f"curves must be a dict {{name: values}}, got {type(curves).__name__}; "
            "e.g. plot_curves({'loss': losses})."
        )
    if x is not None and not (isinstance(x, Mapping) and all(name in x for name in curves)):
        raise ValueError("x must be a dict with one list of x values per curve name, like curves.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for i, (name, ys) in enumerate(curves.items()):
        xs = x[name] if x is not None else range(len(ys))
        if len(xs) != len(ys):
            raise ValueError(f"curve {name!r} has {len(ys)} values but {len(xs)} x values; give one x per value.")
        ax.plot(list(xs), list(ys), label=name, color=PALETTE[i % len(PALETTE)], lw=1.6)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return ax


# ------------------------------------------------------------------ live preview of a run
class LivePreview:
    """An image and a loss curve updated in place (``ipywidgets.Image``): the output area
    is never cleared, so nbval and "Run all" see one stable output. ``frames`` counts updates."""

    def __init__(self, display: bool = True) -> None:
        import ipywidgets as W

        self.image = W.Image(format="png", layout=W.Layout(max_width="320px"))
        self.curve = W.Image(format="png", layout=W.Layout(max_width="360px"))
        self.status = W.HTML("starting…")
        self.widget = W.VBox([W.HBox([self.image, self.curve]), self.status])
        self.frames = 0
        if display and preview_possible():
            from IPython.display import display as show

            show(self.widget)

    def update(self, step: int, image: torch.Tensor, history: Mapping[str, Sequence[float]], note: str = "") -> None:
        pil = to_pil(image.detach().cpu())
        if max(pil.size) < 256:  # small images: enlarge with visible pixels
            k = max(1, 256 // max(pil.size))
            pil = pil.resize((pil.width * k, pil.height * k), 0)
        self.image.value = png_bytes(pil)
        self.curve.value = loss_curve_png(history)
        total = history["total"][-1] if history.get("total") else float("nan")
        self.status.value = f"step {step}: loss {total:.4g} {note}"
        self.frames += 1


def loss_curve_png(history: Mapping[str, Sequence[float]], width: float = 3.6, height: float = 2.4) -> bytes:
    """A small log-scale plot of the total and the terms as PNG bytes (on an Agg canvas, so
    that no pyplot figure shows)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for i, key in enumerate(("total", "style", "content", "tv")):
        ys = [v for v in history.get(key, []) if v > 0 and math.isfinite(v)]
        if ys:
            ax.plot(range(len(ys)), ys, label=key, color=PALETTE[i % len(PALETTE)], lw=1.3)
    ax.set_yscale("log")
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def preview_possible() -> bool:
    """True where a :class:`LivePreview` can be shown: in a Jupyter kernel with ``ipywidgets``."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def png_bytes(img: Image.Image) -> bytes:
    """A PIL image as PNG bytes, for an ``ipywidgets.Image``."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def panel(image: torch.Tensor, height: int = 256) -> Image.Image:
    """``image`` ``(1, 3, H, W)`` as a PIL image ``height`` pixels high (nearest-neighbour
    for a small image, so its pixels stay visible)."""
    if not is_whole(height) or not 1 <= height <= 4096:  # a display panel, not a poster
        raise ValueError(f"height must be a whole number of pixels from 1 to 4096, got {height!r}; e.g. 256.")
    pil = to_pil(image)
    if pil.width == 0 or pil.height == 0:
        raise ValueError(f"image has no pixels (its size is {pil.height}x{pil.width}); check how it was made.")
    w = max(1, round(pil.width * height / pil.height))
    return pil.resize((w, height), Image.NEAREST if pil.height < height // 4 else Image.BILINEAR)
