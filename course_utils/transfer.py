"""Style transfer by optimisation (Gatys, Ecker & Bethge, 2016): the engine.

Notebook 04 builds this up; later notebooks and the studio call it::

    result = transfer.stylise(data.content_image("chelsea", 256), data.style_image("swirl"),
                              steps=200, style_weight=1e3)
    result.image        # (1, 3, H, W) in [0, 1], the content's size
    result.history      # {"total": [...], "content": [...], "style": [...], "tv": [...], ...}
    result.config       # the TransferConfig the caller asked for

:func:`stylise` builds the targets once per scale (:class:`~course_utils.objective.Objective`),
optimises ``z`` whose image ``sigmoid(z)`` is always valid (``pixel_range``) with the course's
one loop (:func:`course_utils.loop.optimise`), coarse to fine over ``scales``, and returns the
best image seen. A diverging loss raises :class:`TransferError` carrying that image; Ctrl-C or
a callback returning ``True`` stop the run; a loss that rose far and came back ends as
``"recovered"`` with a warning. What :mod:`course_utils.accel` chose for the device (precision,
fast path) is on ``result.plan``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F

from . import accel, colour, features, loop, memory
from . import config as course_config
from .checks import shape_of
from .i18n import N_
from .i18n import localised as _
from .images import resize
from .objective import Objective, layer_weights
from .transfer_config import TransferConfig, configured

STOP_REASONS = ("finished", "recovered", "callback", "interrupted", "diverged")  # TransferResult.stopped_reason
_LOGIT_EPS = 1e-3  # sigmoid(z) never reaches 0 or 1: start pixels at least this far inside


class TransferError(RuntimeError):
    """The optimisation diverged (NaN, infinite or exploding loss); ``.result`` holds a
    :class:`TransferResult` with the best image found before that."""

    def __init__(self, message: str, result: TransferResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class TransferResult:
    """What :func:`stylise` returns.

    Attributes:
        image: ``(1, 3, H, W)`` float32 in [0, 1] on the CPU, the content's size (or
            ``config.size``): the best image found at the last scale reached.
        history: per step (all scales in order) ``"total"`` (weighted objective), the
            unweighted ``"content"``, ``"style"``, ``"tv"``, ``"range"`` (relative errors:
            0.1 is 10 % of the target's squared norm), ``"time"`` (seconds) and ``"scale"``
            (index into ``config.scales``).
        config: the settings the caller asked for (unchanged by the engine).
        stopped_reason: one of :data:`STOP_REASONS`; ``"recovered"``: all steps ran but the
            loss ended above its start or rose far above it (``warning`` says which).
        source, is_imagenet: the feature network used; preview: the live preview, if shown.
        lr: the step size used; plan: what :mod:`course_utils.accel` chose for the device;
            loss_scales: per scale, the factor L-BFGS saw the loss multiplied by.
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
    lr: float = 0.0
    plan: accel.Plan | None = None
    loss_scales: list[float] = field(default_factory=list)
    warning: str = ""

    def final(self, term: str = "total") -> float:
        """The last recorded value of a history term (``nan`` if no step was taken)."""
        values = self.history.get(term, [])
        return values[-1] if values else float("nan")

    def describe(self) -> str:
        """One line: steps, time, final losses, network (notebooks print it with results)."""
        line = _("{steps} steps in {seconds:.1f} s ({reason}); style {style:.3g}, content {content:.3g}, "
                 "tv {tv:.3g} | {network}").format(
            steps=self.steps_done, seconds=self.seconds, reason=_(self.stopped_reason), style=self.final("style"),
            content=self.final("content"), tv=self.final("tv"), network=_(short_source(self.source)))
        fast = self.plan.describe_fast() if self.plan is not None else ""
        if fast:
            line += f" | {fast}"
        if self.warning:
            line += _(" | warning: {warning}").format(warning=self.warning)
        return line


def short_source(source: str) -> str:
    """``"ImageNet VGG19"`` or ``"offline fallback (random VGG19)"`` from a ``.source`` line."""
    if source.startswith("ImageNet"):
        return N_("ImageNet VGG19")
    return N_("offline fallback (random VGG19, not ImageNet)")


# --------------------------------------------------------------------------- the inputs
def check_image(image: Any, what: str) -> torch.Tensor:
    """``image`` as float32 ``(1, 3, H, W)`` in [0, 1], or a ``ValueError`` naming ``what``."""
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[:2] != (1, 3):
        raise ValueError(
            f"{what} must be one RGB image of shape (1, 3, H, W) in [0, 1], got {shape_of(image)}; "
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


def prepare_styles(style: torch.Tensor | Sequence[torch.Tensor], cfg: TransferConfig) -> tuple[list[torch.Tensor], list[float]]:
    """The checked style images and their blend weights (from ``cfg.style_blend``), summing to 1."""
    one = isinstance(style, (torch.Tensor, str, bytes)) or not isinstance(style, Iterable)  # else a list of them
    styles = [style] if one else list(style)  # check_image names what a single non-image is
    if not styles:
        raise ValueError("style is an empty list; pass one style image or several.")
    styles = [check_image(s, f"style image {i}" if len(styles) > 1 else "style") for i, s in enumerate(styles)]
    blend = [1.0] * len(styles) if cfg.style_blend is None else [float(b) for b in cfg.style_blend]
    if len(blend) != len(styles) or any(not math.isfinite(b) or b < 0 for b in blend) or sum(blend) <= 0:
        raise ValueError(
            f"style_blend={cfg.style_blend!r} must give one weight >= 0 per style image "
            f"({len(styles)} given), not all zero."
        )
    return styles, [b / sum(blend) for b in blend]


def _size_at(hw: tuple[int, int], longest: int) -> tuple[int, int]:
    h, w = hw
    s = longest / max(h, w)
    return max(8, round(h * s)), max(8, round(w * s))


def output_size(content_hw: tuple[int, int], cfg: TransferConfig) -> tuple[int, int]:
    """The result's ``(H, W)``: the content's, or with its longest side ``cfg.size``."""
    return tuple(content_hw) if cfg.size is None else _size_at(tuple(content_hw), cfg.size)


def inputs_at_scale(
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


def level_start(image: torch.Tensor | None, hw: tuple[int, int], init: str, content: torch.Tensor,
                styles: Sequence[torch.Tensor], blend: Sequence[float], gen: torch.Generator) -> torch.Tensor:
    """The image (CPU) a pyramid level starts from: at the first level (``image`` None) the
    ``init`` image (``"content"``, mid-grey ``"noise"`` drawn from ``gen``, or the most
    heavily blended ``"style"`` stretched to the content's size), else ``image`` upsampled to ``hw``."""
    if image is not None:
        return F.interpolate(image, size=hw, mode="bilinear", align_corners=False).clamp(0, 1)
    if init == "content":
        return content.detach().cpu().clone()
    if init == "noise":
        # around mid-grey: saturated noise would start sigmoid pixels where their slope vanishes
        return 0.25 + 0.5 * torch.rand(content.shape, generator=gen)
    style = styles[max(range(len(blend)), key=blend.__getitem__)]
    return resize(style.detach().cpu(), tuple(content.shape[-2:]))


def device_of(cfg: TransferConfig) -> torch.device:
    """``cfg.device``, or :func:`course_utils.config.device` when it is ``None``; a device that
    is not one, or that this machine lacks, is refused in one sentence (before any memory check)."""
    return course_config.check_device(cfg.device) if cfg.device else course_config.device()


@lru_cache(maxsize=4)
def _extractor(layers: tuple[str, ...], weights: str, device: str) -> features.FeatureExtractor:
    # built once per (layers, weights, device): a frozen instrument that no run changes
    return features.FeatureExtractor(list(layers), weights=weights, device=device, verbose=True)


def feature_network(cfg: TransferConfig | None = None) -> features.FeatureExtractor:
    """The (cached) feature extractor :func:`stylise` uses for ``cfg``'s layers and weights."""
    cfg = configured(cfg)
    names = tuple(dict.fromkeys([*layer_weights(cfg.content_layers, "content_layers"),
                                 *layer_weights(cfg.style_layers, "style_layers")]))
    return _extractor(names, str(cfg.weights), str(device_of(cfg)))


# ------------------------------------------------------------------ pixel parametrisation
def to_variable(image: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """The optimised tensor for an image: its logits for ``"sigmoid"``, else a copy."""
    if pixel_range == "sigmoid":
        return torch.logit(image.clamp(_LOGIT_EPS, 1 - _LOGIT_EPS))
    return image.clone()


def to_image(variable: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """The image of the optimised tensor (inverse of :func:`to_variable`)."""
    return torch.sigmoid(variable) if pixel_range == "sigmoid" else variable


def evaluator(objective: Callable, variable: torch.Tensor, pixel_range: str) -> Callable[[], loop.Evaluation]:
    """``evaluate()`` for :func:`course_utils.loop.optimise`: the objective of the image of
    ``variable`` (kept as tensors, so a device-resident step can record them)."""

    def evaluate() -> loop.Evaluation:
        image = to_image(variable, pixel_range)
        total, terms = objective(image)
        shown = image.detach() if pixel_range == "sigmoid" else image.detach().clone()
        return loop.Evaluation(total, terms, shown)

    return evaluate


# ----------------------------------------------------------------------------- stylise
def run_inputs(content: Any, style: Any, cfg: TransferConfig
               ) -> tuple[torch.Tensor, list[torch.Tensor], list[float], tuple[int, int], torch.device]:
    """What every run starts from, checked: the content, the styles and their blend weights,
    the result's ``(H, W)`` and the device. A run that cannot fit in memory is refused here,
    before anything is allocated (one sentence, not a frozen machine)."""
    content = check_image(content, "content")
    styles, blend = prepare_styles(style, cfg)
    dev = device_of(cfg)
    out_hw = output_size(content.shape[-2:], cfg)
    memory.check_transfer(out_hw, [tuple(s.shape[-2:]) for s in styles], cfg, dev)
    return content, styles, blend, out_hw, dev


def stylise(content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor],
            config: TransferConfig | None = None, **overrides: Any) -> TransferResult:
    """Paint ``content`` ``(1, 3, H, W)`` in the style of ``style`` by optimising the pixels.

    ``style`` is one image ``(1, 3, H_s, W_s)`` in [0, 1] of any size, or a list of them
    (blended by ``style_blend``); ``config`` a :class:`TransferConfig` (default
    ``TransferConfig()``), whose settings ``**overrides`` replace, e.g. ``steps=100``.
    Returns a :class:`TransferResult`. Raises ``ValueError`` naming a bad image or setting,
    ``MemoryError`` for a run that cannot fit (before it allocates), and
    :class:`TransferError` (with the best image on ``.result``) when the loss diverged.
    """
    cfg = configured(config, **overrides)
    cfg.validate()
    content, styles, blend, out_hw, dev = run_inputs(content, style, cfg)
    extractor = feature_network(cfg.replace(device=str(dev)))
    fast = accel.plan(cfg, dev)  # bf16 where the hardware has the units; channels-last and CUDA graphs on a GPU
    network = accel.prepare_network(extractor, fast)
    if cfg.preserve_colour == "histogram":
        styles = [colour.match_colour_histogram(s, content) for s in styles]
    elif cfg.preserve_colour == "luminance":
        y_c = colour.luminance(content)
        styles = [colour.grey_rgb(colour.match_luminance(colour.luminance(s), y_c)) for s in styles]
        colour_source, content = content, colour.grey_rgb(y_c)

    history: dict[str, list[float]] = {k: [] for k in ("total", "content", "style", "tv", "range", "time", "scale")}
    preview = None
    if cfg.preview_every:  # in a notebook: an image and a loss curve updated in place
        from . import plotting

        preview = plotting.LivePreview() if plotting.preview_possible() else None
    recorder = loop.Recorder(history, sum(cfg.steps_per_scale()), progress=cfg.progress, callback=cfg.callback,
                             preview=preview, preview_every=cfg.preview_every)
    scales_used: list[float] = []

    def run_level(c_s, s_s, image, n_steps):  # the targets at this size, then its steps
        objective = accel.compiled(Objective(network, c_s, s_s, blend, cfg, accel.style_loss_for(fast)), fast)
        out = _run_level(objective, image, n_steps, cfg, fast, recorder)
        scales_used.append(out.loss_scale)
        return out, out.best_image

    result_image, out, reason, warning = coarse_to_fine(content, styles, blend, out_hw, cfg, dev, recorder, run_level)
    if cfg.preserve_colour == "luminance":
        result_image = colour.with_chroma_of(colour.luminance(result_image), resize(colour_source, out_hw))
    result = TransferResult(
        image=result_image.contiguous(), history=history, config=cfg, stopped_reason=reason,
        steps_done=recorder.steps, seconds=time.perf_counter() - recorder.start, source=extractor.source,
        is_imagenet=extractor.is_imagenet, preview=preview.widget if preview is not None else None,
        lr=cfg.resolved_lr(), plan=fast, loss_scales=scales_used, warning=warning,
    )
    if preview is not None and history["total"]:
        preview.update(result.steps_done, result.image, history, f"({out.reason})")
    return finish(result, out)


def coarse_to_fine(content: torch.Tensor, styles: list[torch.Tensor], blend: list[float], out_hw: tuple[int, int],
                   cfg: TransferConfig, dev: torch.device, recorder: loop.Recorder,
                   run_level: Callable) -> tuple[torch.Tensor, loop.Outcome, str, str]:
    """The pyramid :func:`stylise` and deformable transfer share. For each of ``cfg.scales``:
    the inputs at that size, the image to start from (the last level's best, upsampled), then
    ``run_level(content, styles, image, n_steps)`` optimises them and returns the level's
    :class:`~course_utils.loop.Outcome` and best image (or ``None``). Returns the image (CPU,
    ``out_hw``, in [0, 1]), the last outcome, the stop reason (``"recovered"`` if a level
    warned) and the levels' warnings in one line."""
    gen = torch.Generator().manual_seed(cfg.seed)
    image, out, warnings = None, loop.Outcome("finished", 0, None), []
    try:
        for si, (scale, n_steps) in enumerate(zip(cfg.scales, cfg.steps_per_scale(), strict=True)):
            recorder.scale_index = si
            hw, c_s, s_s = inputs_at_scale(content, styles, out_hw, scale, cfg, dev)
            image = level_start(image, hw, cfg.init, c_s, s_s, blend, gen)
            out, best = run_level(c_s, s_s, image.to(dev), n_steps)
            if out.warning:
                warnings.append(_("at {h}x{w} px, {warning}").format(h=hw[0], w=hw[1], warning=out.warning))
            if best is not None:
                image = best.detach().cpu()
            if out.reason != "finished":
                break
    except KeyboardInterrupt:  # while the targets were being built
        out = loop.Outcome("interrupted", recorder.steps, None)
    finally:
        recorder.close()
    image = (image if image is not None else resize(content, out_hw)).float()
    if tuple(image.shape[-2:]) != out_hw:
        image = F.interpolate(image, size=out_hw, mode="bilinear", align_corners=False)
    reason = "recovered" if out.reason == "finished" and warnings else out.reason
    return image.clamp(0, 1), out, reason, "; ".join(warnings)


def finish(result, out: loop.Outcome):
    """End a run the same way for every engine (``stylise``, deformable transfer): a diverged
    run raises :class:`TransferError` carrying ``result``; an interrupted one says so and
    returns the best image so far."""
    if out.reason == "diverged":
        raise TransferError(out.message, result)
    if out.reason == "interrupted":
        print(f"Interrupted after {result.steps_done} steps: returning the best image so far "
              "(result.stopped_reason == 'interrupted').")
    return result


def _run_level(objective: Callable, image: torch.Tensor, n_steps: int, cfg: TransferConfig, fast: accel.Plan,
               recorder: loop.Recorder) -> loop.Outcome:
    """``n_steps`` steps of :func:`course_utils.loop.optimise` at one size, from ``image``."""
    variable = to_variable(image, cfg.pixel_range).requires_grad_(True)
    evaluate = evaluator(objective, variable, cfg.pixel_range)

    def clamp_pixels() -> None:  # the tutorial's way, kept to show why it hurts L-BFGS
        with torch.no_grad():
            variable.clamp_(0, 1)

    stepper, read_every = None, 1
    if fast.cuda_graphs and n_steps > 0:  # the graphed Adam step (see course_utils.accel)
        stepper = accel.GraphedAdam(variable, evaluate, cfg.resolved_lr(), n_steps)
        read_every = 1 if cfg.callback is not None else (cfg.preview_every or accel.READ_EVERY)
    return loop.optimise([variable], evaluate, n_steps, optimiser=cfg.optimiser, lr=cfg.resolved_lr(),
                        history_size=cfg.history_size, on_step=recorder,
                        after_step=clamp_pixels if cfg.pixel_range == "clamp" else None,
                        max_loss_ratio=cfg.max_loss_ratio, stepper=stepper, read_every=read_every,
                        step_cap=cfg.step_cap, to_pixels=lambda v: to_image(v, cfg.pixel_range))


def sweep(content: torch.Tensor, style: torch.Tensor, config: TransferConfig | None,
          name: str, values: Sequence[Any], **overrides: Any) -> dict[Any, TransferResult]:
    """Run :func:`stylise` once per value in ``values`` of the setting ``name`` (e.g.
    ``"style_weight"``), from ``config`` with ``**overrides``; returns ``{value: result}`` in
    the order given (a list or dict value is keyed by its ``repr``)."""
    from tqdm.auto import tqdm

    base = configured(config, **overrides)
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"values must be a list of settings to try, got {values!r}; e.g. [1e2, 1e3, 1e4].")
    values = list(values)
    if not values:
        raise ValueError(f"sweep over {name!r} needs at least one value.")
    base.replace(**{name: values[0]})  # an unknown setting raises a TypeError with a hint
    out: dict[Any, TransferResult] = {}
    for v in tqdm(values, desc=f"sweep {name}", leave=False):
        key = v if isinstance(v, (int, float, str, tuple, type(None))) else repr(v)
        out[key] = stylise(content, style, base, progress=False, **{name: v})
    return out


__all__ = [
    "Objective", "STOP_REASONS", "TransferConfig", "TransferError", "TransferResult", "check_image",
    "coarse_to_fine", "configured", "device_of", "evaluator", "feature_network", "finish", "inputs_at_scale",
    "level_start", "output_size", "prepare_styles", "short_source", "stylise", "sweep", "to_image",
    "to_variable",
]
