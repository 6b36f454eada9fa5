"""How much memory a style-transfer run needs, and a refusal before it is asked for.

Optimising the pixels keeps VGG19's feature maps up to the deepest layer used for the
backward pass, so memory grows with the pixels; :func:`check_fits` refuses a run that cannot
fit, in one sentence, with the largest size that would (``stylise`` and the studio, notebook
06, call it). The factors below are calibrated by ``benchmarks/memory_peak.py``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from itertools import pairwise
from numbers import Real

import torch

from . import features
from .i18n import localised as _

#: Bytes in one float32 number.
FLOAT = 4
#: Share of the feature maps kept for the backward pass: the ReLUs' outputs (a
#: convolution's output is freed once its ReLU has read it).
KEPT = 0.5
#: Numbers per output pixel alive on top of those in the backward pass (gradients,
#: temporaries): about eight maps of 64 channels.
TRANSIENT = 8 * 64
#: Numbers per style pixel alive while the style's Gram targets are computed (no graph):
#: one layer's input and output in the first block.
STYLE_NUMBERS = 200
#: Bytes a run allocates whatever its size.
FIXED = 40 * 2**20
#: Memory kept free for Python, the notebook and everything else (bytes).
HEADROOM = 512 * 2**20


def _check_hw(hw: object, name: str) -> tuple[int, int]:
    """``hw`` as ``(height, width)`` in pixels, or a ValueError naming ``name``."""
    if (isinstance(hw, (str, bytes)) or not isinstance(hw, Sequence) or len(hw) != 2 or not all(
            isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and v >= 1 for v in hw)):
        raise ValueError(f"{name} must be (height, width) in pixels, two numbers >= 1, got {hw!r}; e.g. (256, 256).")
    return int(hw[0]), int(hw[1])


def _check_free(free: object) -> None:
    if not isinstance(free, Real) or isinstance(free, bool) or not free >= 0:
        raise ValueError(f"free must be a number of bytes >= 0, got {free!r}; e.g. memory.free_bytes().")


def numbers_per_pixel(deepest_layer: str = "relu5_1") -> float:
    """Feature-map numbers per input pixel that VGG19 produces up to ``deepest_layer``:
    every layer's channels divided by the square of its stride."""
    last = features.layer_index(features.check_layer_name(deepest_layer))
    names = features.LAYER_NAMES[: last + 1]
    return sum(features.channels(n) / features.stride(n) ** 2 for n in names)


def estimate(out_hw: Sequence[int], style_hw: Sequence[int], *, deepest_layer: str = "relu5_1",
             optimiser: str = "lbfgs", history_size: int = 100, scales: int = 1, batch: int = 1) -> dict[str, int]:
    """The memory (bytes) of a run whose result is ``out_hw`` (coarse to fine: its last, largest
    level) and whose style is ``style_hw`` (after ``style_scale``).

    Returns ``"network"``, ``"features"`` (maps kept for the backward pass, temporaries),
    ``"optimiser"`` (L-BFGS's ``history_size`` pairs or Adam's moments, one image per level),
    ``"style"`` (computing the targets, before the optimisation) and ``"total"``: a fixed
    part, the network and the larger of the two phases.
    """
    out_h, out_w = _check_hw(out_hw, "out_hw")
    style_h, style_w = _check_hw(style_hw, "style_hw")
    pixels = out_h * out_w * batch
    style_pixels = style_h * style_w
    image = FLOAT * 3 * pixels  # one image-sized vector
    vectors = 2 * history_size + 4 if optimiser == "lbfgs" else 4  # L-BFGS's pairs; Adam's moments
    parts = {
        "network": FLOAT * network_numbers(deepest_layer),
        "features": round(FLOAT * pixels * (KEPT * numbers_per_pixel(deepest_layer) + TRANSIENT)),
        "optimiser": image * (vectors + scales),
        "style": FLOAT * style_pixels * STYLE_NUMBERS,
    }
    # the style's targets are computed before the optimisation starts: the larger phase counts
    parts["total"] = FIXED + parts["network"] + max(parts["features"] + parts["optimiser"], parts["style"])
    return parts


def network_numbers(deepest_layer: str = "relu5_1") -> int:
    """Weights and biases of VGG19's convolutions up to ``deepest_layer``."""
    last = features.layer_index(features.check_layer_name(deepest_layer))
    names = features.LAYER_NAMES[: last + 1]
    channels = [3] + [features.channels(n) for n in names if n.startswith("conv")]
    return sum(c_out * c_in * 9 + c_out for c_in, c_out in pairwise(channels))


def available_bytes() -> int | None:
    """Memory that can be used now: Linux's ``MemAvailable``, else the free pages
    ``os.sysconf`` reports, else half of the physical memory; None if nothing says."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    for pages, half in (("SC_AVPHYS_PAGES", False), ("SC_PHYS_PAGES", True)):
        try:
            n = os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            continue
        if n > 0:
            return n // 2 if half else n
    return None


def free_bytes() -> int | None:
    """What a run may use: :func:`available_bytes` less :data:`HEADROOM` (None if unknown)."""
    total = available_bytes()
    return None if total is None else max(0, total - HEADROOM)


def _readable(n: float) -> str:
    return f"{n / 2**20:,.0f} MB" if n < 2**30 else f"{n / 2**30:,.1f} GB"


def largest_fitting_side(out_hw: Sequence[int], style_hw: Sequence[int], free: int, **settings) -> int:
    """The longest side (px) the result can have, the style scaled along with it, so that
    :func:`estimate` stays within ``free`` bytes (0 if not even 16 px fits)."""
    longest = max(_check_hw(out_hw, "out_hw"))
    _check_hw(style_hw, "style_hw")
    _check_free(free)

    def fits(side: int) -> bool:
        k = side / longest
        out = [max(1, round(v * k)) for v in out_hw]
        style = [max(1, round(v * k)) for v in style_hw]
        return estimate(out, style, **settings)["total"] <= free

    lo, hi = 0, max(longest, 16)
    while hi - lo > 1:  # bisection: fits(lo) or lo == 0, not fits(hi) or hi == longest
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return hi if fits(hi) else lo if lo >= 16 else 0


def check_fits(out_hw: Sequence[int], style_hw: Sequence[int], *, free: int | None = None, **settings) -> int:
    """The estimate (bytes) of :func:`estimate`, or a one-sentence ``MemoryError`` naming the
    size, the need, the memory ``free`` (default: :func:`free_bytes`) and the largest size that
    fits. When the free memory cannot be read, the run is allowed."""
    need = estimate(out_hw, style_hw, **settings)["total"]
    if free is not None:
        _check_free(free)
    free = free_bytes() if free is None else free
    if free is None or need <= free:
        return need
    side = largest_fitting_side(out_hw, style_hw, free, **settings)
    if side:
        fix = _("the largest size that fits is about {side} px (size={side})").format(side=side)
    elif max(style_hw) > max(out_hw):
        fix = _("not even 16 px fits with a style this large: lower style_scale")
    else:
        fix = _("not even 16 px fits")
    raise MemoryError(_(
        "A style transfer at {h}x{w} px (style {style_h}x{style_w} px) needs about {need} of memory "
        "but only {free} is free; {fix}, or close other programs.").format(
            h=out_hw[0], w=out_hw[1], style_h=style_hw[0], style_w=style_hw[1], need=_readable(need),
            free=_readable(free), fix=fix))


def check_transfer(out_hw: Sequence[int], style_hws: Sequence[Sequence[int]], config, device=None) -> int:
    """:func:`check_fits` for ``stylise``'s ``config`` before it allocates: ``style_hws`` as
    given (before ``style_scale``); on a CUDA ``device`` its free memory counts."""
    if len(style_hws) == 0:
        raise ValueError("style_hws is empty: give one (height, width) per style image, e.g. [(256, 256)].")
    longest = max(8, round(max(_check_hw(out_hw, "out_hw")) * config.style_scale))  # as the engine resizes the style
    biggest = max(style_hws, key=lambda hw: hw[0] * hw[1])
    k = longest / max(biggest)
    style_hw = (max(1, round(biggest[0] * k)), max(1, round(biggest[1] * k)))
    layers = [*config.content_layers, *config.style_layers]
    free = None
    if device is not None and torch.device(device).type == "cuda":
        free = torch.cuda.mem_get_info(torch.device(device))[0]
    return check_fits(
        tuple(out_hw), style_hw, free=free,
        deepest_layer=max(layers, key=lambda n: features.layer_index(features.check_layer_name(n))),
        optimiser=config.optimiser, history_size=config.history_size, scales=len(tuple(config.scales)),
    )
