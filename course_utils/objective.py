"""The style-transfer objective: content, style and total-variation losses for fixed targets.

The losses are notebook 04's (:mod:`course_utils.losses`); this module adds the targets
(computed once, without gradients), the layer weights, blended styles, style warps and
region masks (Gatys et al. 2017, spatial control).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from . import features, losses, warps
from .checks import floats

if TYPE_CHECKING:
    from .transfer_config import TransferConfig


def layer_weights(layers: Sequence[str] | Mapping[str, float] | str, what: str) -> dict[str, float]:
    """``{layer: weight}`` from layer names (weight ``1/L`` each) or a ``{name: weight}`` dict;
    ``what`` names the setting in the error."""
    refusal = ValueError(f"TransferConfig.{what} must name at least one VGG19 layer with a weight >= 0, "
                         f"got {layers!r}.")
    if isinstance(layers, str):
        layers = (layers,)
    if isinstance(layers, Mapping):
        names = [features.check_layer_name(k) for k in layers]
        values = floats(layers.values())
        if values is None:  # a weight that is not a number, e.g. a list
            raise refusal
        weights = dict(zip(names, values, strict=True))
    elif isinstance(layers, Iterable):
        names = [features.check_layer_name(n) for n in layers]
        weights = {n: 1.0 / len(names) for n in names} if names else {}
    else:  # None or a number
        raise refusal
    if not weights or any(not math.isfinite(w) or w < 0 for w in weights.values()):
        raise refusal
    return weights


def range_penalty(image: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the pixels outside [0, 1]: zero inside, smooth (C1) at the borders."""
    return (F.relu(-image).pow(2) + F.relu(image - 1).pow(2)).mean()


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


def masked_features(feat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Features ``(1, C, h', w')`` times ``sqrt(m / mean(m))`` for a mask ``(1, 1, h, w)``
    shrunk to the features' size: their Gram is ``Σ m·F·Fᵀ / Σ m``, the Gram of the region."""
    m = F.adaptive_avg_pool2d(mask.to(feat.dtype), feat.shape[-2:])
    return feat * (m / m.mean().clamp_min(1e-6)).sqrt()


class Objective:
    """The weighted sum of content, style and TV losses for fixed targets at one size.

    ``content`` ``(1, 3, h, w)`` is at the size being optimised, ``styles`` already resized,
    ``blend`` one weight per style (summing to 1), ``cfg`` the :class:`TransferConfig`;
    ``style_loss`` defaults to :func:`course_utils.losses.style_loss` (the GPU fast path
    passes an equal one with a faster Gram). Calling it on an image returns
    ``(total, terms)`` with the unweighted ``content``, ``style``, ``tv`` and ``range``.
    :meth:`features`, :meth:`content_term` and :meth:`style_term` measure the terms apart,
    e.g. on different images (notebook 05: content on the image, style on its warped copy).

    Attributes:
        content_targets: ``{layer: (1, C, h', w')}``; style_targets: ``{layer: (1, C, C)}``,
            the blended Grams (empty with masks).
        region_targets, region_weights, region_masks: with ``cfg.style_masks``, per region of
            weight > 0 its Grams, weight and mask (``(1, R, h, w)`` at the content's size).
    """

    def __init__(self, extractor: features.FeatureExtractor, content: torch.Tensor,
                 styles: Sequence[torch.Tensor], blend: Sequence[float], cfg: TransferConfig,
                 style_loss: Callable[..., torch.Tensor] = losses.style_loss) -> None:
        self.extractor = extractor
        self.cfg = cfg
        self.style_loss = style_loss
        self.content_w = layer_weights(cfg.content_layers, "content_layers")
        self.style_w = layer_weights(cfg.style_layers, "style_layers")
        style_warps = [(0.0, 1.0)] if cfg.style_warps is None else [(float(d), float(z)) for d, z in cfg.style_warps]
        self.style_targets: dict[str, torch.Tensor] = {}
        self.region_targets: list[dict[str, torch.Tensor]] = []
        self.region_weights: list[float] = []
        self.region_masks: torch.Tensor | None = None
        with torch.no_grad():  # targets: once, without a graph
            feats = self.features(content)
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
            g = losses.grams({k: v for k, v in self.features(warps.warp_style(style, degrees, zoom)).items()
                              if k in self.style_w})
            for k, v in g.items():
                v = v / len(style_warps)
                mean[k] = v if k not in mean else mean[k] + v
        return mean

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{layer: (B, C, h', w')}`` for images ``(B, 3, h, w)``: every layer the terms need."""
        return self.extractor(image)

    def content_term(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """The unweighted content loss of features from :meth:`features` (a scalar)."""
        return sum(w * losses.content_loss(feats[k], self.content_targets[k]) for k, w in self.content_w.items())

    def style_term(self, feats: dict[str, torch.Tensor], masks: torch.Tensor | None = None) -> torch.Tensor:
        """The unweighted style loss of features from :meth:`features` (a scalar).

        With region masks, the regions' losses (of :func:`masked_features`) are summed with
        ``region_weights``; ``masks`` ``(1, R, h, w)`` replaces ``region_masks``, e.g. masks
        that a deformation moved (no gradient flows into them).
        """
        if self.region_masks is None:
            return self.style_loss(feats, self.style_targets, self.style_w)
        masks = self.region_masks if masks is None else masks.detach()
        if masks.dim() != 4 or masks.shape[1] != len(self.region_targets):
            raise ValueError(f"masks must have shape (1, {len(self.region_targets)}, h, w), one channel per "
                             f"region, got {tuple(masks.shape)}.")
        total = None
        for r, (targets, weight) in enumerate(zip(self.region_targets, self.region_weights, strict=True)):
            weighted = {k: masked_features(feats[k], masks[:, r : r + 1]) for k in targets}
            term = weight * self.style_loss(weighted, targets, self.style_w)
            total = term if total is None else total + term
        return total

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        feats = self.features(image)
        c = self.content_term(feats)
        s = self.style_term(feats)
        tv = losses.tv_loss(image)
        rng = range_penalty(image)
        total = cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * tv
        if cfg.pixel_range == "penalty":
            total = total + cfg.range_weight * rng
        return total, {"content": c, "style": s, "tv": tv, "range": rng}


__all__ = ["Objective", "layer_weights", "masked_features", "range_penalty"]
