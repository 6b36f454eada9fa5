"""Style transfer by optimisation (Gatys, Ecker & Bethge, 2016), on an observable engine.

Notebook 04 builds this up; later notebooks and the studio call it::

    from course_utils import data, transfer

    result = transfer.stylise(data.content_image("chelsea", 256), data.style_image("swirl"),
                              steps=200, style_weight=1e3)
    result.image        # (1, 3, H, W) in [0, 1], the content's size
    result.history      # {"total": [...], "content": [...], "style": [...], "tv": [...], ...}
    result.config       # the TransferConfig that was used

What it does, in reading order of :func:`stylise`:

1. **Targets once.** The content's features and the style's Gram matrices are computed
   once per scale, without gradients (the seed article recomputed them at every step).
   Several style images are blended by a weighted sum of their Grams.
2. **One objective, scale-free.** ``content_weight · Σ w_l content_loss_l + style_weight ·
   Σ w_l style_loss_l + tv_weight · tv_loss`` with the course's relative losses
   (:mod:`course_utils.losses`), so one set of weights works across image sizes, layers and
   both feature networks. The network runs only up to the deepest layer needed.
3. **Pixels in range without fighting the optimiser.** By default the image is
   ``sigmoid(z)`` of an unconstrained variable ``z``: every iterate is a valid image and
   L-BFGS sees one smooth function. Clamping the pixels in place between L-BFGS steps (the
   PyTorch tutorial's ``input_img.data.clamp_(0, 1)``) changes the point behind autograd's
   and the optimiser's back, so the step L-BFGS stores is not the step taken. Measured on
   the fallback network (notebook 04), the clamp's cost in loss was small (one early
   1.7–1.8× jump, final losses within 5 %); the sigmoid's own cost is a gradient scaled by
   ``x(1−x)``, which is why noise starts are mid-grey. ``pixel_range`` also offers a soft
   penalty, that clamp and nothing.
4. **Steps mean steps.** L-BFGS runs with ``max_iter=1`` and no line search: one step is
   one forward and backward pass, as for Adam, so curves and timings compare fairly.
   PyTorch's L-BFGS keeps a curvature pair only if ``s·y > 1e-10`` (absolute); the
   relative losses have tiny gradients at large sizes (largest entry ~1e-4 at 256 px), so
   when the largest first gradient entry at a scale is below ``_GRAD_FLOOR``, L-BFGS sees
   the loss scaled so that it is 1; without that it silently fell back to gradient descent.
5. **Coarse to fine.** With ``scales=(0.5, 1.0)`` the image is first optimised at half
   size (a quarter of the cost per step), upsampled, and refined at full size.
6. **Observable and interruptible.** A ``tqdm.auto`` bar, an optional live preview
   (an ``ipywidgets`` image and loss curve updated in place, no ``clear_output``), a
   ``callback(step, image, losses)`` that may return ``True`` to stop, and Ctrl-C / kernel
   interrupt return the best image so far with ``result.stopped_reason`` set.
7. **Divergence is loud.** A NaN or infinite loss, or one that grows past
   ``max_loss_ratio`` times its first value, stops the run and raises
   :class:`TransferError`; the best image so far is on the exception's ``.result``.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F

from . import accel, colour, features, losses, warps
from . import config as course_config
from .images import resize

#: Ways to keep pixels in [0, 1] (see the module docstring and notebook 04).
PIXEL_RANGES = ("sigmoid", "penalty", "clamp", "none")
OPTIMISERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")
COLOUR_MODES = (None, "luminance", "histogram")
#: Reasons a run can end (``TransferResult.stopped_reason``).
STOP_REASONS = ("finished", "callback", "interrupted", "diverged")

_LOGIT_EPS = 1e-3  # sigmoid(z) never reaches 0 or 1: start pixels at least this far inside
#: If the largest first gradient entry at a scale is below this, L-BFGS sees the loss scaled
#: so that it is 1 (see _optimise_scale: PyTorch's curvature test ``s·y > 1e-10`` is absolute).
_GRAD_FLOOR = 0.1


class TransferError(RuntimeError):
    """The optimisation diverged (NaN, infinite or exploding loss).

    ``.result`` holds a :class:`TransferResult` with the best image found before that,
    so nothing computed is lost.
    """

    def __init__(self, message: str, result: TransferResult | None = None) -> None:
        super().__init__(message)
        self.result = result


Callback = Callable[[int, torch.Tensor, dict[str, float]], "bool | None"]


@dataclass
class TransferConfig:
    """Every setting of :func:`stylise`; defaults follow Gatys et al. (2016).

    Layers and weights:
        content_layers: layer names, or ``{name: weight}`` (default weight ``1/L``).
        style_layers: layer names, or ``{name: weight}`` (default weight ``1/L``).
        content_weight, style_weight, tv_weight: weights of the three (scale-free) terms.

    Optimisation:
        optimiser: ``"lbfgs"`` (one forward/backward pass per step) or ``"adam"``.
        steps: steps at each scale; an int (the same at every scale) or one per scale.
        lr: step size; ``None`` picks 1.0 for L-BFGS and 0.05 for Adam (in units of the
            optimised variable: logits for ``pixel_range="sigmoid"``, else pixels).
        history_size: L-BFGS memory (pairs of vectors kept).
        init: start from the ``"content"``, seeded mid-grey ``"noise"`` (uniform in
            [0.25, 0.75]) or the ``"style"`` image (stretched to the content's size).
        seed: seeds the noise; same seed, same pixels on a CPU.
        pixel_range: ``"sigmoid"`` (default), ``"penalty"``, ``"clamp"`` or ``"none"``.
        range_weight: weight of the soft penalty (``pixel_range="penalty"`` only).
        max_loss_ratio: stop with :class:`TransferError` if the loss exceeds this multiple
            of its first value at a scale (NaN and infinity always stop it).

    Images:
        size: longest side of the result in pixels; ``None`` keeps the content's size.
        scales: coarse-to-fine fractions of ``size``, ending with 1.0, e.g. ``(0.5, 1.0)``.
        style_scale: the style is resized so that its longest side is ``style_scale``
            times the result's longest side (larger → larger strokes).
        style_blend: one weight per style image (normalised to sum to 1); ``None`` = equal.
            With ``style_masks`` it weighs the regions' style losses instead.
        style_warps: ``None``, or ``(degrees, zoom)`` pairs: each style's Gram targets are
            the average of the Grams of its copies warped by
            :func:`course_utils.warps.warp_style` (anticlockwise rotation, zoom > 1 =
            larger strokes, reflection padding). ``[(45, 1)]`` turns the strokes by 45°;
            ``[(0, 1), (45, 1), (90, 1), (135, 1)]`` makes the style (nearly) orientation-free.
        style_masks: ``None``, or one region mask per style image, ``(1, 1, H, W)`` in
            [0, 1] on the content's frame (any size of the content's aspect ratio): style
            ``k`` is matched only inside mask ``k``, by Grams of the features weighted by the
            mask (Gatys et al. 2017, spatial control). Masks are constants (no gradient).
        preserve_colour: ``None``, ``"luminance"`` (luminance-only transfer) or
            ``"histogram"`` (recolour the style to the content's colour statistics).

    Running:
        weights: feature network: ``"auto"``, ``"imagenet"``, ``"random"`` or a file path
            (see :class:`course_utils.features.FeatureExtractor`).
        device: ``None`` for :func:`course_utils.config.device`, or ``"cpu"`` etc.
        precision: ``"auto"`` (bfloat16 network on a GPU that supports it, else float32),
            ``"fp32"`` or ``"bf16"``; the loss and the optimised variable stay float32.
        channels_last: run the network in channels-last memory format; ``None`` = on CUDA.
        cuda_graphs: record one whole step as a CUDA graph and replay it; ``None`` = on
            CUDA with Adam (see :mod:`course_utils.accel` for why not with L-BFGS).
        compile: also ``torch.compile`` the objective, fusing the memory-bound work between
            the convolutions (10-20 s of compilation per image size, once per process;
            never automatic: see :mod:`course_utils.accel`). ``True`` or the name of a mode
            in :data:`course_utils.accel.COMPILE_MODES`.
        progress: show a ``tqdm.auto`` progress bar.
        preview_every: in a notebook, show a live preview updated every N steps (0 = off).
        callback: ``callback(step, image, losses)`` after every step; return ``True`` to
            stop. ``image`` is ``(1, 3, h, w)`` at the current scale, ``losses`` a dict of
            floats (the keys of ``TransferResult.history``).
    """

    content_layers: Sequence[str] | Mapping[str, float] = (features.GATYS_CONTENT_LAYER,)
    style_layers: Sequence[str] | Mapping[str, float] = features.GATYS_STYLE_LAYERS
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 1.0
    optimiser: str = "lbfgs"
    steps: int | Sequence[int] = 200
    lr: float | None = None
    history_size: int = 100
    init: str = "content"
    seed: int = 0
    pixel_range: str = "sigmoid"
    range_weight: float = 1e3
    max_loss_ratio: float = 1e4
    size: int | None = None
    scales: Sequence[float] = (1.0,)
    style_scale: float = 1.0
    style_blend: Sequence[float] | None = None
    style_warps: Sequence[tuple[float, float]] | None = None
    style_masks: Sequence[torch.Tensor] | None = field(default=None, repr=False, compare=False)
    preserve_colour: str | None = None
    weights: str = "auto"
    device: str | None = None
    precision: str = "auto"
    channels_last: bool | None = None
    cuda_graphs: bool | None = None
    compile: bool | str = False
    progress: bool = True
    preview_every: int = 0
    callback: Callback | None = field(default=None, repr=False, compare=False)

    def replace(self, **changes: Any) -> TransferConfig:
        """A copy with some settings changed; unknown names raise a ``TypeError`` with a hint."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    def steps_per_scale(self) -> tuple[int, ...]:
        """The number of steps at each scale."""
        if isinstance(self.steps, int):
            return (self.steps,) * len(self.scales)
        return tuple(int(s) for s in self.steps)

    def resolved_lr(self) -> float:
        """The step size in use (``lr``, or the optimiser's default)."""
        if self.lr is not None:
            return float(self.lr)
        return 1.0 if self.optimiser == "lbfgs" else 0.05

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that is out of range."""

        def bad(name: str, expected: str) -> ValueError:
            return ValueError(f"TransferConfig.{name}={getattr(self, name)!r} is invalid: expected {expected}.")

        if self.optimiser not in OPTIMISERS:
            raise bad("optimiser", f"one of {OPTIMISERS}")
        if self.init not in INITS:
            raise bad("init", f"one of {INITS}")
        if self.pixel_range not in PIXEL_RANGES:
            raise bad("pixel_range", f"one of {PIXEL_RANGES}")
        if self.preserve_colour not in COLOUR_MODES:
            raise bad("preserve_colour", f"one of {COLOUR_MODES}")
        for name in ("content_weight", "style_weight", "tv_weight", "range_weight"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise bad(name, "a finite number >= 0")
        scales = tuple(self.scales)
        if not scales or any(not (0 < s <= 1) for s in scales) or scales[-1] != 1.0:
            raise bad("scales", "fractions in (0, 1] ending with 1.0, e.g. (0.5, 1.0)")
        if list(scales) != sorted(scales):
            raise bad("scales", "increasing fractions (coarse to fine)")
        steps = self.steps_per_scale()
        if len(steps) != len(scales) or any(s < 0 for s in steps):
            raise bad("steps", f"an int >= 0 or {len(scales)} counts, one per scale")
        if self.size is not None and (not isinstance(self.size, int) or self.size < 16):
            raise bad("size", "None or an integer of at least 16 pixels")
        if not self.style_scale > 0:
            raise bad("style_scale", "a number > 0")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise bad("seed", "a non-negative integer")
        if self.resolved_lr() <= 0:
            raise bad("lr", "None or a positive number")
        if not self.max_loss_ratio > 1:
            raise bad("max_loss_ratio", "a number > 1")
        if not isinstance(self.preview_every, int) or self.preview_every < 0:
            raise bad("preview_every", "an integer >= 0 (0 switches the preview off)")
        if self.precision not in accel.PRECISIONS:
            raise bad("precision", f"one of {accel.PRECISIONS}")
        if not (isinstance(self.compile, bool) or self.compile in accel.COMPILE_MODES):
            raise bad("compile", f"True, False or one of {accel.COMPILE_MODES}")
        if self.style_warps is not None:
            pairs = list(self.style_warps) if isinstance(self.style_warps, Sequence) else []
            if not pairs or any(
                not isinstance(p, Sequence) or len(p) != 2 or not all(isinstance(v, (int, float)) for v in p)
                or not all(math.isfinite(v) for v in p) or not p[1] > 0 for p in pairs
            ):
                raise bad("style_warps", "None or a non-empty list of (degrees, zoom) pairs with zoom > 0, "
                          "e.g. [(0, 1), (90, 1)]")
        if self.style_masks is not None:
            masks = list(self.style_masks) if isinstance(self.style_masks, Sequence) else []
            if not masks:
                raise ValueError("TransferConfig.style_masks is empty: give None or one mask "
                                 "(1, 1, H, W) in [0, 1] per style image.")
            for i, m in enumerate(masks):
                if not isinstance(m, torch.Tensor) or m.dim() != 4 or m.shape[:2] != (1, 1):
                    shape = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
                    raise ValueError(f"TransferConfig.style_masks[{i}] has shape {shape}: expected a mask "
                                     "(1, 1, H, W) in [0, 1]; add dimensions with mask[None, None].")
                if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1 or m.sum() <= 0:
                    raise ValueError(f"TransferConfig.style_masks[{i}] must have values in [0, 1] and "
                                     "cover some pixels; an empty region has no style to match.")
        if self.callback is not None and not callable(self.callback):
            raise bad("callback", "None or a function callback(step, image, losses)")
        _layer_weights(self.content_layers, "content_layers")
        _layer_weights(self.style_layers, "style_layers")


@dataclass
class TransferResult:
    """What :func:`stylise` returns.

    Attributes:
        image: ``(1, 3, H, W)`` float32 in [0, 1] on the CPU, the content's size (or
            ``config.size``); the best image found at the last scale reached.
        history: per step (all scales in order), ``"total"`` (weighted objective),
            ``"content"``, ``"style"``, ``"tv"``, ``"range"`` (unweighted terms),
            ``"time"`` (seconds since the start) and ``"scale"`` (index into
            ``config.scales``). The content and style terms are the course's relative
            errors, so 0.1 means "10 % of the target's squared norm".
        config: the settings used (``lr`` filled in).
        stopped_reason: ``"finished"``, ``"callback"``, ``"interrupted"`` or ``"diverged"``.
        steps_done: steps taken, all scales together.
        seconds: wall-clock time of the optimisation.
        source: which feature network was used (ImageNet VGG19 or the offline fallback).
        is_imagenet: True for ImageNet weights.
        preview: the live preview widget, if one was shown.
    """

    image: torch.Tensor
    history: dict[str, list[float]]
    config: TransferConfig
    stopped_reason: str = "finished"
    steps_done: int = 0
    seconds: float = 0.0
    source: str = ""
    is_imagenet: bool = False
    preview: Any = field(default=None, repr=False)

    def final(self, term: str = "total") -> float:
        """The last recorded value of a history term (``nan`` if no step was taken)."""
        values = self.history.get(term, [])
        return values[-1] if values else float("nan")

    def describe(self) -> str:
        """One line: steps, time, final losses, network (notebooks print it with results)."""
        return (
            f"{self.steps_done} steps in {self.seconds:.1f} s ({self.stopped_reason}); "
            f"style {self.final('style'):.3g}, content {self.final('content'):.3g}, "
            f"tv {self.final('tv'):.3g} | {short_source(self.source)}{self._fast_path()}"
        )

    def _fast_path(self) -> str:
        c = self.config
        used = [name for name, on in (("bf16", c.precision == "bf16"), ("channels-last", c.channels_last),
                                      ("CUDA graphs", c.cuda_graphs), ("compiled", c.compile)) if on]
        return f" | {', '.join(used)}" if used else ""


def short_source(source: str) -> str:
    """``"ImageNet VGG19"`` or ``"offline fallback (random VGG19)"`` from a ``.source`` line."""
    if source.startswith("ImageNet"):
        return "ImageNet VGG19"
    return "offline fallback (random VGG19, not ImageNet)"


# ------------------------------------------------------------------------------ helpers
_FIELDS = {f.name for f in dataclasses.fields(TransferConfig)}


def _check_names(changes: Mapping[str, Any]) -> None:
    for name in changes:
        if name not in _FIELDS:
            close = difflib.get_close_matches(name, sorted(_FIELDS), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise TypeError(
                f"'{name}' is not a TransferConfig setting{hint}; see "
                "help(course_utils.transfer.TransferConfig) for the list."
            )


def configured(config: TransferConfig | None = None, **overrides: Any) -> TransferConfig:
    """``config`` (default ``TransferConfig()``) with ``overrides`` applied: how every
    function that takes a config reads it. A dict, or anything that is not a
    :class:`TransferConfig`, is refused with what to pass instead."""
    if config is None:
        config = TransferConfig()
    elif not isinstance(config, TransferConfig):
        hint = ("build one with transfer.TransferConfig(**settings), or pass the settings as keywords"
                if isinstance(config, Mapping) else "e.g. transfer.TransferConfig(steps=100)")
        raise TypeError(f"config must be a transfer.TransferConfig, got {type(config).__name__}; {hint}.")
    return config.replace(**overrides)


def _layer_weights(layers: Sequence[str] | Mapping[str, float] | str, what: str) -> dict[str, float]:
    if isinstance(layers, str):
        layers = (layers,)
    if isinstance(layers, Mapping):
        weights = {features.check_layer_name(k): float(v) for k, v in layers.items()}
    else:
        names = [features.check_layer_name(n) for n in layers]
        weights = {n: 1.0 / len(names) for n in names} if names else {}
    if not weights or any(not math.isfinite(w) or w < 0 for w in weights.values()):
        raise ValueError(
            f"TransferConfig.{what} must name at least one VGG19 layer with a weight >= 0, "
            f"got {layers!r}."
        )
    return weights


def _check_image(image: Any, what: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[:2] != (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(
            f"{what} must be one RGB image of shape (1, 3, H, W) in [0, 1], got {shape}; "
            "load it with course_utils.images.load_image or data.sample_image."
        )
    if min(image.shape[-2:]) < 8:
        raise ValueError(f"{what} is {tuple(image.shape[-2:])} px; use at least 8 px per side.")
    image = image.detach().float()
    if not torch.isfinite(image).all():
        raise ValueError(f"{what} contains NaN or infinite pixels; load the image again.")
    if image.min() < -1e-3 or image.max() > 1 + 1e-3:
        raise ValueError(
            f"{what} has values in [{image.min():.3g}, {image.max():.3g}], expected [0, 1]; "
            "divide 8-bit images by 255 and do not apply ImageNet normalisation yourself."
        )
    return image.clamp(0, 1)


def _size_at(hw: tuple[int, int], longest: int) -> tuple[int, int]:
    h, w = hw
    s = longest / max(h, w)
    return max(8, round(h * s)), max(8, round(w * s))


def _output_size(content_hw: tuple[int, int], cfg: TransferConfig) -> tuple[int, int]:
    """The result's ``(H, W)``: the content's, or with its longest side ``cfg.size``."""
    return tuple(content_hw) if cfg.size is None else _size_at(tuple(content_hw), cfg.size)


def _inputs_at_scale(
    content: torch.Tensor, styles: Sequence[torch.Tensor], out_hw: tuple[int, int], scale: float,
    cfg: TransferConfig, dev: torch.device,
) -> tuple[tuple[int, int], torch.Tensor, list[torch.Tensor]]:
    """One level of the pyramid: its size ``hw``, the content resized to it and each style
    resized so that its longest side is ``cfg.style_scale`` × the level's, on ``dev``."""
    hw = out_hw if scale == 1.0 else _size_at(out_hw, round(max(out_hw) * scale))
    c_s = (content if hw == tuple(content.shape[-2:]) else resize(content, hw)).to(dev)
    longest = max(8, round(max(hw) * cfg.style_scale))
    s_s = [resize(s, _size_at(tuple(s.shape[-2:]), longest)).to(dev) for s in styles]
    return hw, c_s, s_s


@lru_cache(maxsize=4)
def _extractor(layers: tuple[str, ...], weights: str, device: str) -> features.FeatureExtractor:
    # A frozen measuring instrument: building it once per (layers, weights, device) saves
    # the weight loading on every call; it holds no state that a run could change.
    return features.FeatureExtractor(list(layers), weights=weights, device=device, verbose=True)


def feature_network(cfg: TransferConfig | None = None) -> features.FeatureExtractor:
    """The (cached) feature extractor :func:`stylise` uses for ``cfg``'s layers and weights."""
    cfg = configured(cfg)
    names = tuple(dict.fromkeys([*_layer_weights(cfg.content_layers, "content_layers"),
                                 *_layer_weights(cfg.style_layers, "style_layers")]))
    dev = str(torch.device(cfg.device) if cfg.device else course_config.device())
    return _extractor(names, str(cfg.weights), dev)


# ------------------------------------------------------------------ pixel parametrisation
def _to_variable(image: torch.Tensor, method: str) -> torch.Tensor:
    if method == "sigmoid":
        return torch.logit(image.clamp(_LOGIT_EPS, 1 - _LOGIT_EPS))
    return image.clone()


def _to_image(variable: torch.Tensor, method: str) -> torch.Tensor:
    return torch.sigmoid(variable) if method == "sigmoid" else variable


def _range_penalty(image: torch.Tensor) -> torch.Tensor:
    # Mean squared distance outside [0, 1]: zero inside, smooth (C1) at the borders.
    return (F.relu(-image).pow(2) + F.relu(image - 1).pow(2)).mean()


# ----------------------------------------------------------------------------- preview
class LivePreview:
    """An image and a loss curve updated in place (``ipywidgets.Image``), for notebooks.

    Frames are PNG bytes assigned to ``.value`` of existing widgets, so the output area is
    never cleared (nbval and "Run all" see one stable output). ``frames`` counts updates.
    """

    def __init__(self, display: bool = True) -> None:
        import ipywidgets as W

        self.image = W.Image(format="png", layout=W.Layout(max_width="320px"))
        self.curve = W.Image(format="png", layout=W.Layout(max_width="360px"))
        self.status = W.HTML("starting…")
        self.widget = W.VBox([W.HBox([self.image, self.curve]), self.status])
        self.frames = 0
        if display and _in_notebook():
            from IPython.display import display as show

            show(self.widget)

    def update(self, step: int, image: torch.Tensor, history: Mapping[str, Sequence[float]], note: str = "") -> None:
        from .images import to_pil

        pil = to_pil(image.detach().cpu())
        if max(pil.size) < 256:  # small images: enlarge with visible pixels
            k = max(1, 256 // max(pil.size))
            pil = pil.resize((pil.width * k, pil.height * k), 0)
        buf = io.BytesIO()
        pil.save(buf, format="PNG")
        self.image.value = buf.getvalue()
        self.curve.value = loss_curve_png(history)
        total = history["total"][-1] if history.get("total") else float("nan")
        self.status.value = f"step {step}: loss {total:.4g} {note}"
        self.frames += 1


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def loss_curve_png(history: Mapping[str, Sequence[float]], width: float = 3.6, height: float = 2.4) -> bytes:
    """A small log-scale plot of the weighted total and the raw terms, as PNG bytes
    (matplotlib's Agg canvas; no pyplot figure is created, so nothing else is shown)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plotting import PALETTE

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


# ----------------------------------------------------------------------- region masks
def _masks_at(masks: Sequence[torch.Tensor], n_styles: int, hw: tuple[int, int]) -> torch.Tensor:
    """``cfg.style_masks`` resized to the content's frame ``hw``: ``(1, n_styles, h, w)``."""
    if len(masks) != n_styles:
        raise ValueError(f"TransferConfig.style_masks has {len(masks)} masks for {n_styles} style images; "
                         "give one mask per style image.")
    out = []
    for i, m in enumerate(masks):
        mh, mw = m.shape[-2:]
        if abs((mw / mh) / (hw[1] / hw[0]) - 1) > 0.05:
            raise ValueError(f"TransferConfig.style_masks[{i}] is {mh}x{mw} px but the content is {hw[0]}x{hw[1]}: "
                             "draw the mask on the content's frame (same aspect ratio).")
        m = m.detach().float().cpu()
        if (mh, mw) != tuple(hw):
            m = F.interpolate(m, size=hw, mode="bilinear", align_corners=False, antialias=(mh > hw[0]))
        if m.sum() <= 0:
            raise ValueError(f"TransferConfig.style_masks[{i}] covers no pixel at {hw[0]}x{hw[1]} px; enlarge its region.")
        out.append(m.clamp(0, 1))
    return torch.cat(out, dim=1)


def _masked_features(feat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Features ``(1, C, h', w')`` times ``sqrt(m / mean(m))`` for a mask ``(1, 1, h, w)``
    shrunk to the features' size: their Gram is ``Σ m·F·Fᵀ / Σ m``, the Gram of the region."""
    m = F.adaptive_avg_pool2d(mask.to(feat.dtype), feat.shape[-2:])
    return feat * (m / m.mean().clamp_min(1e-6)).sqrt()


# ----------------------------------------------------------------------- the objective
class Objective:
    """The weighted sum of content, style and TV losses for fixed targets at one size.

    Args:
        extractor: the feature network (must return every content and style layer).
        content: ``(1, 3, h, w)`` in [0, 1], at the size being optimised.
        styles: style images ``(1, 3, h_k, w_k)`` (any sizes), already resized.
        blend: one weight per style image, summing to 1 (with ``cfg.style_masks``, one
            weight per region).
        cfg: the settings (layers, weights, pixel range, style warps and masks).

    Calling it on an image ``(1, 3, h, w)`` returns ``(total, terms)`` where ``terms``
    holds the unweighted ``content``, ``style``, ``tv`` and ``range`` tensors. The feature
    terms are also methods (:meth:`features`, :meth:`content_term`, :meth:`style_term`) for
    objectives that measure them on different images, such as notebook 05's deformable
    transfer (content on the image, style on its warped copy).

    Attributes:
        content_targets: ``{layer: (1, C, h', w')}`` features of the content.
        style_targets: ``{layer: (1, C, C)}`` the blended Gram targets (empty with masks).
        region_targets: with ``cfg.style_masks``, one ``{layer: Gram}`` per region whose
            weight is > 0 (else empty); ``region_weights`` their weights and
            ``region_masks`` the masks ``(1, R, h, w)`` at the content's size.
    """

    def __init__(
        self,
        extractor: features.FeatureExtractor,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        blend: Sequence[float],
        cfg: TransferConfig,
    ) -> None:
        self.extractor = extractor
        self.cfg = cfg
        self.content_w = _layer_weights(cfg.content_layers, "content_layers")
        self.style_w = _layer_weights(cfg.style_layers, "style_layers")
        style_warps = [(0.0, 1.0)] if cfg.style_warps is None else [(float(d), float(z)) for d, z in cfg.style_warps]
        self.style_targets: dict[str, torch.Tensor] = {}
        self.region_targets: list[dict[str, torch.Tensor]] = []
        self.region_weights: list[float] = []
        self.region_masks: torch.Tensor | None = None
        with torch.no_grad():  # targets: once, without a graph
            feats = self._features(content)
            self.content_targets = {k: feats[k].detach() for k in self.content_w}
            grams = [self._style_grams(s, style_warps) if b > 0 else {}
                     for s, b in zip(styles, blend, strict=True)]
            if cfg.style_masks is None:
                for g, b in zip(grams, blend, strict=True):
                    for k, v in g.items():
                        self.style_targets[k] = b * v if k not in self.style_targets else self.style_targets[k] + b * v
            else:
                masks = _masks_at(cfg.style_masks, len(styles), tuple(content.shape[-2:])).to(content.device)
                keep = [i for i, b in enumerate(blend) if b > 0]
                self.region_masks = masks[:, keep]
                self.region_targets = [grams[i] for i in keep]
                self.region_weights = [blend[i] for i in keep]

    def _style_grams(self, style: torch.Tensor, style_warps: Sequence[tuple[float, float]]) -> dict[str, torch.Tensor]:
        """The style's Grams, averaged over its copies warped by ``style_warps``."""
        mean: dict[str, torch.Tensor] = {}
        for degrees, zoom in style_warps:
            g = losses.grams({k: v for k, v in self._features(warps.warp_style(style, degrees, zoom)).items()
                              if k in self.style_w})
            for k, v in g.items():
                v = v / len(style_warps)
                mean[k] = v if k not in mean else mean[k] + v
        return mean

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.cfg.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return self.extractor(image)

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{layer: (B, C, h', w')}`` for images ``(B, 3, h, w)``: every layer the terms need."""
        return self._features(image)

    def content_term(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """The unweighted content loss of features from :meth:`features` (a scalar)."""
        return sum(w * losses.content_loss(feats[k], self.content_targets[k]) for k, w in self.content_w.items())

    def style_term(self, feats: dict[str, torch.Tensor], masks: torch.Tensor | None = None) -> torch.Tensor:
        """The unweighted style loss of features from :meth:`features` (a scalar).

        With region masks (``cfg.style_masks``), each region's Gram is that of the features
        weighted by its mask (divided by the mask's mean, so it is an average over the
        region) and the regions' losses are summed with ``region_weights``. ``masks``
        ``(1, R, h, w)`` at the image's size replaces ``region_masks``, e.g. masks that a
        deformation moved (:func:`course_utils.warps.warp_mask`); no gradient flows into them.
        """
        if self.region_masks is None:
            return losses.style_loss(feats, self.style_targets, self.style_w)
        masks = self.region_masks if masks is None else masks.detach()
        if masks.dim() != 4 or masks.shape[1] != len(self.region_targets):
            raise ValueError(f"masks must have shape (1, {len(self.region_targets)}, h, w), one channel per "
                             f"region, got {tuple(masks.shape)}.")
        total = None
        for r, (targets, weight) in enumerate(zip(self.region_targets, self.region_weights, strict=True)):
            weighted = {k: _masked_features(feats[k], masks[:, r : r + 1]) for k in targets}
            term = weight * losses.style_loss(weighted, targets, self.style_w)
            total = term if total is None else total + term
        return total

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        feats = self._features(image)
        c = self.content_term(feats)
        s = self.style_term(feats)
        tv = losses.tv_loss(image)
        rng = _range_penalty(image)
        total = cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * tv
        if cfg.pixel_range == "penalty":
            total = total + cfg.range_weight * rng
        return total, {"content": c, "style": s, "tv": tv, "range": rng}


# -------------------------------------------------------------------------- the engine
def lbfgs_gradient_scale(grad: torch.Tensor) -> float:
    """The factor by which L-BFGS should see the loss, fixed from the first gradient.

    PyTorch's L-BFGS keeps a curvature pair ``(s, y)`` only if ``s·y > 1e-10``, an
    absolute threshold; with the course's relative losses the gradients can be so small
    (largest entry ~1e-4 at 256 px) that every pair is rejected and L-BFGS silently runs
    as gradient descent. Returns ``1 / max|grad|`` when that is below ``_GRAD_FLOOR``
    (so the largest entry becomes 1), else 1.0. Multiply the loss and the gradient by it:
    L-BFGS's later steps do not otherwise depend on the loss's scale.
    """
    g_max = grad.detach().abs().max().item()
    return 1.0 / g_max if 0 < g_max < _GRAD_FLOOR else 1.0


class _Stop(Exception):
    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _prepare_styles(style: torch.Tensor | Sequence[torch.Tensor], cfg: TransferConfig) -> tuple[list[torch.Tensor], list[float]]:
    styles = [style] if isinstance(style, torch.Tensor) else list(style)
    if not styles:
        raise ValueError("style is an empty list; pass one style image or several.")
    styles = [_check_image(s, f"style image {i}" if len(styles) > 1 else "style") for i, s in enumerate(styles)]
    blend = [1.0] * len(styles) if cfg.style_blend is None else [float(b) for b in cfg.style_blend]
    if len(blend) != len(styles) or any(not math.isfinite(b) or b < 0 for b in blend) or sum(blend) <= 0:
        raise ValueError(
            f"style_blend={cfg.style_blend!r} must give one weight >= 0 per style image "
            f"({len(styles)} given), not all zero."
        )
    if cfg.style_masks is not None and len(cfg.style_masks) != len(styles):
        raise ValueError(f"TransferConfig.style_masks has {len(cfg.style_masks)} masks for {len(styles)} "
                         "style images; give one mask per style image.")
    total = sum(blend)
    return styles, [b / total for b in blend]


def stylise(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor],
    config: TransferConfig | None = None,
    **overrides: Any,
) -> TransferResult:
    """Paint ``content`` in the style of ``style`` by optimising the pixels.

    Args:
        content: ``(1, 3, H, W)`` in [0, 1].
        style: ``(1, 3, H_s, W_s)`` in [0, 1] (any size and aspect ratio), or a list of
            them (blended by ``style_blend``).
        config: a :class:`TransferConfig` (default: ``TransferConfig()``).
        **overrides: settings that replace ``config``'s, e.g. ``steps=100``.

    Returns:
        A :class:`TransferResult`; ``.image`` is ``(1, 3, H, W)`` (or resized to
        ``config.size``) in [0, 1] on the CPU.

    Raises:
        ValueError: a bad image or setting (the message names it).
        TransferError: the loss became NaN, infinite or exploded; ``.result`` holds the
            best image before that.
    """
    cfg = configured(config, **overrides)
    cfg.validate()
    cfg = cfg.replace(lr=cfg.resolved_lr())
    content = _check_image(content, "content")
    styles, blend = _prepare_styles(style, cfg)
    dev = torch.device(cfg.device) if cfg.device else course_config.device()
    extractor = feature_network(cfg.replace(device=str(dev)))
    fast = accel.plan(cfg, dev)  # bf16 / channels-last / CUDA graphs on a GPU; nothing on a CPU
    cfg = cfg.replace(precision="bf16" if fast.dtype == torch.bfloat16 else "fp32",
                      channels_last=fast.channels_last, cuda_graphs=fast.cuda_graphs)
    network = accel.prepare_network(extractor, fast)

    out_hw = _output_size(content.shape[-2:], cfg)
    if cfg.preserve_colour == "histogram":
        styles = [colour.match_colour_histogram(s, content) for s in styles]
    elif cfg.preserve_colour == "luminance":
        y_c = colour.luminance(content)
        styles = [colour.grey_rgb(colour.match_luminance(colour.luminance(s), y_c)) for s in styles]
        colour_source, content = content, colour.grey_rgb(y_c)

    gen = torch.Generator().manual_seed(cfg.seed)
    history: dict[str, list[float]] = {k: [] for k in ("total", "content", "style", "tv", "range", "time", "scale")}
    steps = cfg.steps_per_scale()
    preview = LivePreview() if cfg.preview_every and _preview_possible() else None
    bar = _progress_bar(sum(steps), cfg.progress)
    start = time.perf_counter()
    image = None  # current image (1, 3, h, w) in [0, 1], CPU
    best: torch.Tensor | None = None
    # The best image of the scale being optimised, kept up to date inside the closure so
    # that an interrupt anywhere (even inside backward) can return it.
    tracker: dict[str, Any] = {"image": None, "step": 0}
    reason, message, step = "finished", "", 0
    try:
        for si, (scale, n_steps) in enumerate(zip(cfg.scales, steps, strict=True)):
            hw, c_s, s_s = _inputs_at_scale(content, styles, out_hw, scale, cfg, dev)
            objective = Objective(network, c_s, s_s, blend, cfg)
            if fast.compile:  # compiled once per image size and reused by later calls
                objective = torch.compile(objective.__call__, dynamic=False,
                                          mode=None if fast.compile_mode == "default" else fast.compile_mode)
            image = _level_start(image, hw, cfg.init, c_s, s_s, blend, gen)
            optimise = _optimise_scale_graphed if fast.cuda_graphs else _optimise_scale
            best, step = optimise(objective, image.to(dev), n_steps, si, cfg, history, start,
                                  step, bar, preview, tracker)
            image = best.detach().cpu()
            best = image
    except _Stop as stop:
        reason, message = stop.reason, stop.message
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        bar.close()
    if reason != "finished" and tracker["image"] is not None:
        best = tracker["image"]
    step = tracker["step"]
    if best is None:  # interrupted before the first step: the starting image
        best = image if image is not None else resize(content, out_hw)
    result_image = best.detach().cpu().float()
    if tuple(result_image.shape[-2:]) != out_hw:
        result_image = F.interpolate(result_image, size=out_hw, mode="bilinear", align_corners=False)
    result_image = result_image.clamp(0, 1)
    if cfg.preserve_colour == "luminance":
        result_image = colour.with_chroma_of(colour.luminance(result_image), resize(colour_source, out_hw))
    result = TransferResult(
        image=result_image.contiguous(),
        history=history,
        config=cfg,
        stopped_reason=reason,
        steps_done=step,
        seconds=time.perf_counter() - start,
        source=extractor.source,
        is_imagenet=extractor.is_imagenet,
        preview=preview.widget if preview is not None else None,
    )
    if preview is not None and history["total"]:
        preview.update(step, result.image, history, f"({reason})")
    if reason == "diverged":
        raise TransferError(message, result)
    if reason == "interrupted":
        print(f"Interrupted after {step} steps: returning the best image so far "
              "(result.stopped_reason == 'interrupted').")
    return result


def _preview_possible() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return _in_notebook()


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="stylise", disable=not enabled, leave=False)


def _initial_image(init: str, content: torch.Tensor, style: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if init == "content":
        return content.detach().cpu().clone()
    if init == "noise":
        # Mid-grey noise, uniform in [0.25, 0.75] (small noise around the mean, as in Johnson's
        # neural-style): saturated noise would start sigmoid pixels where the slope vanishes
        # (measured: 3x higher loss after 40 steps from uniform [0, 1] noise).
        return 0.25 + 0.5 * torch.rand(content.shape, generator=gen)
    return resize(style.detach().cpu(), tuple(content.shape[-2:]))


def _level_start(image: torch.Tensor | None, hw: tuple[int, int], init: str, content: torch.Tensor,
                 styles: Sequence[torch.Tensor], blend: Sequence[float], gen: torch.Generator) -> torch.Tensor:
    """The image a pyramid level starts from: the ``init`` image at the first level (from
    the most heavily blended style), else the previous level's result upsampled to ``hw``."""
    if image is None:
        return _initial_image(init, content, styles[max(range(len(blend)), key=blend.__getitem__)], gen)
    return F.interpolate(image, size=hw, mode="bilinear", align_corners=False).clamp(0, 1)


def _optimise_scale(
    objective: Objective,
    image: torch.Tensor,
    n_steps: int,
    scale_index: int,
    cfg: TransferConfig,
    history: dict[str, list[float]],
    start: float,
    step: int,
    bar,
    preview: LivePreview | None,
    tracker: dict[str, Any],
) -> tuple[torch.Tensor, int]:
    """Run ``n_steps`` steps at one size; returns (best image, global step count)."""
    method = cfg.pixel_range
    var = _to_variable(image, method).requires_grad_(True)
    if cfg.optimiser == "lbfgs":
        # max_iter=1 and no line search: one closure (one forward+backward) per step.
        # Tolerances 0: PyTorch's defaults are absolute (1e-7 on the largest gradient entry,
        # 1e-9 on the directional derivative); a scale-free loss spread over many pixels
        # can have gradients that small, and L-BFGS would then skip updates silently.
        opt = torch.optim.LBFGS([var], lr=cfg.lr, max_iter=1, history_size=cfg.history_size,
                                tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = torch.optim.Adam([var], lr=cfg.lr)
    # L-BFGS only stores a curvature pair (s, y) when s·y > 1e-10, an absolute threshold
    # fixed inside PyTorch. The relative losses are means over many pixels, so at 256 px
    # their gradients are tiny (largest entry ~1e-4), every pair was rejected, and L-BFGS
    # silently became gradient descent with step lr (a loss falling by ~3e-5 per step:
    # the 256 px "stall" of benchmarks/bench_transfer.py). So the optimiser sees the loss
    # times a constant fixed at each scale's first evaluation: if the largest gradient entry
    # is below _GRAD_FLOOR, 1 / that entry (so it becomes 1), else 1 (well-scaled objectives
    # run bit-identical to a plain L-BFGS loop). L-BFGS's steps are
    # otherwise invariant to this factor, so nothing else changes; history keeps true values.
    # (Adam is invariant to it anyway and is left alone.)
    state: dict[str, Any] = {"best": float("inf"), "first": None, "image": None, "losses": None,
                             "scale": 0.0 if cfg.optimiser == "lbfgs" else None}
    tracker["image"] = image.detach().cpu().clone()

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        img = _to_image(var, method)
        total, terms = objective(img)
        value = total.item()
        if not math.isfinite(value):
            raise _Stop("diverged", f"The loss became {value} at step {step + 1}; "
                        "lower lr, use pixel_range='sigmoid', or lower the style weight.")
        if state["first"] is None:
            state["first"] = max(value, 1e-12)
        elif value > cfg.max_loss_ratio * state["first"]:
            raise _Stop("diverged", f"The loss exploded to {value:.3g} at step {step + 1}, "
                        f"{cfg.max_loss_ratio:g}× its first value; lower lr or use "
                        "pixel_range='sigmoid'.")
        total.backward()
        if state["scale"] is not None and var.grad is not None:
            if state["scale"] == 0.0:  # first evaluation at this scale: fix the factor
                state["scale"] = lbfgs_gradient_scale(var.grad)
            var.grad.mul_(state["scale"])
            total = total.detach() * state["scale"]
        current = img.detach()
        if value < state["best"]:
            state["best"] = value
            tracker["image"] = current.clone()  # on the device: no synchronisation per step
        state["image"] = current
        state["losses"] = {"total": value, **{k: v.item() for k, v in terms.items()}}
        return total

    for _ in range(n_steps):
        opt.step(closure)
        if method == "clamp":  # the tutorial's way, kept to show why it hurts L-BFGS
            with torch.no_grad():
                var.clamp_(0, 1)
        step += 1
        tracker["step"] = step
        _record_step(state["losses"], state["image"], step, scale_index, cfg, history, start, bar, preview)
    if n_steps == 0:
        return image.detach().cpu(), step
    # the last step's update has not been evaluated; the best evaluated image is returned
    return tracker["image"], step


_TERMS = ("total", "content", "style", "tv", "range")


def _record_step(rec: dict[str, float], image: torch.Tensor, step: int, scale_index: int, cfg: TransferConfig,
                 history: dict[str, list[float]], start: float, bar, preview: LivePreview | None) -> None:
    """After a step: history, progress bar, live preview, callback (which may stop the run)."""
    for k in _TERMS:
        history[k].append(rec[k])
    history["time"].append(time.perf_counter() - start)
    history["scale"].append(scale_index)
    bar.update(1)
    if step % 10 == 0 or step == 1:
        bar.set_postfix(loss=f"{rec['total']:.4g}", refresh=False)
    if preview is not None and step % cfg.preview_every == 0:
        preview.update(step, image, history)
    if cfg.callback is not None and cfg.callback(step, image, dict(rec)) is True:
        raise _Stop("callback")


#: Without a callback, the graphed loop reads its losses back every this many steps.
_SYNC_EVERY = 50


def _optimise_scale_graphed(
    objective: Objective,
    image: torch.Tensor,
    n_steps: int,
    scale_index: int,
    cfg: TransferConfig,
    history: dict[str, list[float]],
    start: float,
    step: int,
    bar,
    preview: LivePreview | None,
    tracker: dict[str, Any],
) -> tuple[torch.Tensor, int]:
    """:func:`_optimise_scale` for Adam on a GPU: each step replays a recorded CUDA graph
    (see :mod:`course_utils.accel`), and the losses are read back in batches."""
    method = cfg.pixel_range
    var = _to_variable(image, method).requires_grad_(True)
    tracker["image"] = image.detach().cpu().clone()
    if n_steps == 0:
        return tracker["image"], step
    runner = accel.GraphedAdam(objective, var, lambda v: _to_image(v, method), cfg.lr, n_steps, _TERMS[1:])
    # A callback or preview needs the image of every step it looks at: read back that often.
    every = 1 if cfg.callback is not None else (cfg.preview_every if preview is not None else _SYNC_EVERY)
    first = None
    done = 0
    while done < n_steps:
        chunk = min(every, n_steps - done)
        for _ in range(chunk):
            runner.step()
        records = runner.read(done, done + chunk)
        if first is None:
            first = max(records[0]["total"], 1e-12)
        for i, rec in enumerate(records):
            value = rec["total"]
            if not math.isfinite(value) or value > cfg.max_loss_ratio * first:
                tracker["image"] = runner.best_image.detach().cpu().clone()
                tracker["step"] = step + i
                raise _Stop("diverged", f"The loss became {value:.3g} at step {step + i + 1}; "
                            "lower lr or the style weight.")
        tracker["image"] = runner.best_image.detach().cpu().clone()  # what an interrupt returns
        for rec in records:
            step += 1
            tracker["step"] = step
            _record_step(rec, runner.current, step, scale_index, cfg, history, start, bar, preview)
        done += chunk
    return runner.best_image.detach().cpu().clone(), step


__all__ = [
    "COLOUR_MODES",
    "INITS",
    "LivePreview",
    "OPTIMISERS",
    "Objective",
    "PIXEL_RANGES",
    "TransferConfig",
    "TransferError",
    "TransferResult",
    "feature_network",
    "lbfgs_gradient_scale",
    "loss_curve_png",
    "short_source",
    "stylise",
]
