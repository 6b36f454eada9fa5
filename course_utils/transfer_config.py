"""The settings of style transfer: :class:`TransferConfig` (``transfer.TransferConfig``).

It records what the caller asked; what the engine decided (precision, fast path, L-BFGS's
scale) is on the result. :func:`configured` is how every engine reads one with overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np
import torch

from . import accel, features
from .checks import floats, is_whole, refused_call, shape_of
from .loop import OPTIMISERS, STEP_CAP
from .objective import layer_weights


def _finite(value: Any) -> bool:
    """A finite real number (Python's or NumPy's), not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


#: Ways to keep pixels in [0, 1] (see notebook 04).
PIXEL_RANGES = ("sigmoid", "penalty", "clamp", "none")
INITS = ("content", "noise", "style")
COLOUR_MODES = (None, "luminance", "histogram")

@dataclass
class TransferConfig:
    """Every setting of :func:`course_utils.transfer.stylise`; defaults follow Gatys et al. (2016).

    Layers and weights:
        content_layers, style_layers: layer names (each weighing ``1/L``) or ``{name: weight}``.
        content_weight, style_weight, tv_weight: weights of the three (scale-free) terms.

    Optimisation:
        optimiser: ``"lbfgs"`` (one forward/backward pass per step) or ``"adam"``.
        steps: steps at each scale; an int (the same at every scale) or one per scale.
        lr: step size; ``None`` picks 1.0 for L-BFGS and 0.05 for Adam (in units of the
            optimised variable: logits for ``pixel_range="sigmoid"``, else pixels).
        history_size: L-BFGS memory (pairs of vectors kept).
        step_cap: the most one L-BFGS step may move any pixel (longer steps are shortened;
            see :mod:`course_utils.loop`); ``None`` switches the cap off.
        init: start from the ``"content"``, seeded mid-grey ``"noise"`` (uniform in
            [0.25, 0.75]) or the ``"style"`` image (stretched to the content's size).
        seed: seeds the noise; same seed, same pixels on a CPU.
        pixel_range: ``"sigmoid"`` (default), ``"penalty"``, ``"clamp"`` or ``"none"``.
        range_weight: weight of the soft penalty (``pixel_range="penalty"`` only).
        max_loss_ratio: stop with :class:`~course_utils.transfer.TransferError` if the loss
            exceeds this multiple of its first value at a scale (NaN and infinity always do).

    Images:
        size: longest side of the result in pixels; ``None`` keeps the content's size.
        scales: coarse-to-fine fractions of ``size``, ending with 1.0, e.g. ``(0.5, 1.0)``.
        style_scale: the style is resized so that its longest side is ``style_scale``
            times the result's longest side (larger → larger strokes).
        style_blend: one weight per style image (normalised to sum to 1); ``None`` = equal.
            With ``style_masks`` it weighs the regions' style losses instead.
        style_warps: ``None``, or ``(degrees, zoom)`` pairs: each style's Gram targets average
            its copies warped by :func:`course_utils.warps.warp_style` (zoom > 1 = larger
            strokes); ``[(0, 1), (45, 1), (90, 1), (135, 1)]`` makes it orientation-free.
        style_masks: ``None``, or one mask ``(1, 1, H, W)`` in [0, 1] per style image, drawn
            on the content's frame (same aspect ratio): style ``k`` is matched only inside
            mask ``k`` (Gatys et al. 2017, spatial control).
        preserve_colour: ``None``, ``"luminance"`` (luminance-only transfer) or
            ``"histogram"`` (recolour the style to the content's colour statistics).

    Running:
        weights: feature network: ``"auto"``, ``"imagenet"``, ``"random"`` or a file path
            (see :class:`course_utils.features.FeatureExtractor`).
        device: ``None`` for :func:`course_utils.config.device`, or ``"cpu"`` etc.
        precision: ``"auto"`` (a bfloat16 network where the hardware has bf16 units and the
            optimiser tolerates it, else float32; ``result.plan.reason`` says why), ``"fp32"``
            or ``"bf16"``; features, Grams, losses and the optimised variable stay float32.
        channels_last: run the network in channels-last memory format; ``None`` = on CUDA.
        cuda_graphs: replay one whole step as a CUDA graph; ``None`` = on CUDA with Adam.
        compile: ``torch.compile`` the objective (once per image size; never automatic):
            ``True`` or a mode in :data:`course_utils.accel.COMPILE_MODES`.
        progress: show a ``tqdm.auto`` progress bar.
        preview_every: in a notebook, show a live preview updated every N steps (0 = off).
        callback: ``callback(step, image, losses)`` after every step, with the image at the
            current scale and a dict of floats; return ``True`` to stop.
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
    step_cap: float | None = STEP_CAP
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
    callback: Callable[[int, torch.Tensor, dict[str, float]], bool | None] | None = field(default=None, repr=False, compare=False)

    def replace(self, **changes: Any) -> TransferConfig:
        """A copy with some settings changed; unknown names raise a ``TypeError`` with a hint."""
        names = sorted(f.name for f in dataclasses.fields(self))
        for name in changes:
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise TypeError(f"'{name}' is not a TransferConfig setting{hint}; see "
                                "help(course_utils.transfer.TransferConfig) for the list.")
        return dataclasses.replace(self, **changes)

    def steps_per_scale(self) -> tuple[int, ...]:
        """The number of steps at each scale."""
        if is_whole(self.steps):
            return (int(self.steps),) * len(self.scales)
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

        for name, choices in (("optimiser", OPTIMISERS), ("init", INITS), ("pixel_range", PIXEL_RANGES),
                              ("preserve_colour", COLOUR_MODES)):
            if getattr(self, name) not in choices:
                raise bad(name, f"one of {choices}")
        for name in ("content_weight", "style_weight", "tv_weight", "range_weight"):
            if not _finite(getattr(self, name)) or getattr(self, name) < 0:
                raise bad(name, "a finite number >= 0")
        scales = floats(self.scales)
        if not scales or any(not (0 < s <= 1) for s in scales) or scales[-1] != 1.0:
            raise bad("scales", "fractions in (0, 1] ending with 1.0, e.g. (0.5, 1.0)")
        if list(scales) != sorted(scales):
            raise bad("scales", "increasing fractions (coarse to fine)")
        if is_whole(self.steps):
            steps_ok = self.steps >= 0
        else:  # one count per scale; not a string ("3" is not 3)
            steps_ok = (isinstance(self.steps, Sequence) and not isinstance(self.steps, str)
                        and len(self.steps) == len(scales) and all(is_whole(n) and n >= 0 for n in self.steps))
        if not steps_ok:
            raise bad("steps", f"a whole number >= 0, or {len(scales)} of them (one per scale), e.g. 100")
        if self.size is not None and (not is_whole(self.size) or self.size < 16):
            raise bad("size", "None or an integer of at least 16 pixels")
        if not _finite(self.style_scale) or self.style_scale <= 0:
            raise bad("style_scale", "a finite number > 0, e.g. 1.5")
        if not is_whole(self.seed) or not 0 <= self.seed < 2**64:
            raise bad("seed", "a whole number from 0 to 2**64 - 1, e.g. 0")
        if self.lr is not None and (not _finite(self.lr) or self.lr <= 0):
            raise bad("lr", "None or a finite number > 0, e.g. 0.05")
        if not is_whole(self.history_size) or self.history_size < 1:
            raise bad("history_size", "a whole number >= 1 (pairs L-BFGS keeps), e.g. 100")
        if self.step_cap is not None and (not _finite(self.step_cap) or not 0 < self.step_cap <= 1):
            raise bad("step_cap", "None or a number in (0, 1], e.g. 0.5")
        if not isinstance(self.max_loss_ratio, Real) or isinstance(self.max_loss_ratio, bool) \
                or not self.max_loss_ratio > 1:
            raise bad("max_loss_ratio", "a number > 1")
        if not is_whole(self.preview_every) or self.preview_every < 0:
            raise bad("preview_every", "an integer >= 0 (0 switches the preview off)")
        if self.precision not in accel.PRECISIONS:
            raise bad("precision", f"one of {accel.PRECISIONS}")
        if not (isinstance(self.compile, bool) or self.compile in accel.COMPILE_MODES):
            raise bad("compile", f"True, False or one of {accel.COMPILE_MODES}")
        if self.style_blend is not None:
            blend = floats(self.style_blend)
            if blend is None or not blend or any(not math.isfinite(b) or b < 0 for b in blend):
                raise bad("style_blend", "None or one number >= 0 per style image, e.g. [0.7, 0.3]")
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
                    raise ValueError(f"TransferConfig.style_masks[{i}] has shape {shape_of(m)}: expected a mask "
                                     "(1, 1, H, W) in [0, 1]; add dimensions with mask[None, None].")
                if m.numel() == 0 or not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1 or m.sum() <= 0:
                    raise ValueError(f"TransferConfig.style_masks[{i}] must have values in [0, 1] and "
                                     "cover some pixels; an empty region has no style to match.")
        if self.callback is not None and not callable(self.callback):
            raise bad("callback", "None or a function callback(step, image, losses)")
        refused = refused_call(self.callback, 0, None, {}) if self.callback is not None else None
        if refused is not None:
            name = getattr(self.callback, "__name__", type(self.callback).__name__)
            raise ValueError(f"TransferConfig.callback must accept (step, image, losses), but {name}{refused} "
                             "does not; write it as def callback(step, image, losses): ...")
        layer_weights(self.content_layers, "content_layers")
        layer_weights(self.style_layers, "style_layers")


def configured(config: TransferConfig | None = None, **overrides: Any) -> TransferConfig:
    """``config`` (default ``TransferConfig()``) with ``overrides`` applied; anything but a
    :class:`TransferConfig` is refused with what to pass instead, and NumPy numbers (e.g.
    ``numpy.float32(1e3)``) become Python's."""
    if config is None:
        config = TransferConfig()
    elif not isinstance(config, TransferConfig):
        hint = ("build one with transfer.TransferConfig(**settings), or pass the settings as keywords"
                if isinstance(config, Mapping) else "e.g. transfer.TransferConfig(steps=100)")
        raise TypeError(f"config must be a transfer.TransferConfig, got {type(config).__name__}; {hint}.")
    config = config.replace(**overrides)
    numpy_numbers = {k: v.item() for k, v in vars(config).items() if isinstance(v, np.generic)}
    return dataclasses.replace(config, **numpy_numbers) if numpy_numbers else config


__all__ = ["COLOUR_MODES", "INITS", "OPTIMISERS", "PIXEL_RANGES", "TransferConfig", "configured"]
