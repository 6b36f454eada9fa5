"""The losses of neural style transfer (风格迁移): notebook 03 writes :func:`gram_matrix`,
notebook 04 the content (内容损失), style (风格损失) and total-variation (全变分损失) losses.

Content and style are *relative* squared errors, ``‖x − t‖² / ‖t‖²``: 0 is a perfect match,
1 what an all-zero response scores, whatever the layer's size or activation scale. Gatys et
al. (2016) write ``½ Σ (F − P)²`` and ``1 / (4 N² M²) Σ (G − A)²``; dividing by the fixed
target's norm only rescales each term by a constant (notebook 04 explains the link).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from . import checks


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """Batched, normalised Gram matrix (格拉姆矩阵): features ``(B, C, H, W)`` → ``(B, C, C)``,
    ``G[b, i, j] = (1 / HW) Σ_p F[b, i, p] F[b, j, p]``, an average that does not grow with the image."""
    checks.feature_maps(x, "gram_matrix")
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)  # one row of H·W values per channel
    return f @ f.transpose(1, 2) / (h * w)  # (B, C, C): the average over positions


def grams(features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``{layer: (B, C, H, W)}`` → ``{layer: (B, C, C)}``, detached: the style *targets*,
    computed once before the optimisation (the seed's defect 6 recomputed them every step)."""
    if not isinstance(features, Mapping):
        raise TypeError(
            f"grams expects a dict {{layer: features}} (what a FeatureExtractor returns), got "
            f"{type(features).__name__}; for one layer's features use gram_matrix(x)."
        )
    return {name: gram_matrix(f).detach() for name, f in features.items()}


def relative_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``‖x − target‖² / ‖target‖²`` per image, averaged over the batch (a scalar);
    ``target`` has ``x``'s shape or batch 1."""
    if x.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"the tensors have shapes {tuple(x.shape)} and {tuple(target.shape)}; compute both "
            "with the same layer (and, for content, the same image size)."
        )
    dims = tuple(range(1, x.dim()))  # every dimension but the batch
    err = (x - target).pow(2).sum(dims) / target.pow(2).sum(dims).clamp_min(1e-12)
    return err.mean()


def content_loss(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Content loss: the relative error of one layer's features, ``‖F − P‖² / ‖P‖²``."""
    if not (isinstance(generated, torch.Tensor) and isinstance(target, torch.Tensor)):
        raise TypeError(
            f"content_loss expects two feature tensors (B, C, H, W), got {type(generated).__name__} and "
            f"{type(target).__name__}; pick the content layer, e.g. feats['relu4_2']."
        )
    return relative_error(generated, target)


def style_loss(
    generated_feats: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Style loss ``Σ_l w_l ‖G_l − A_l‖² / ‖A_l‖²`` over the layers of ``target_grams`` (the
    style's Grams, from :func:`grams`); ``layer_weights`` default to ``1 / L`` each."""
    if not (isinstance(generated_feats, Mapping) and isinstance(target_grams, Mapping) and target_grams):
        raise TypeError(
            f"style_loss expects two dicts {{layer: tensor}}, the second not empty, got {type(generated_feats).__name__} "
            f"and {type(target_grams).__name__}; pass the FeatureExtractor's output and losses.grams(style_features)."
        )
    if layer_weights is None:
        layer_weights = {name: 1 / len(target_grams) for name in target_grams}
    loss = 0.0
    for name, target in target_grams.items():
        gram = gram_matrix(generated_feats[name])
        loss = loss + layer_weights[name] * relative_error(gram, target)
    return loss


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation (全变分损失): the mean squared difference of neighbouring pixels,
    down plus across, for ``(B, C, H, W)``; 0 for a constant image."""
    checks.feature_maps(image, "tv_loss")
    down = image[:, :, 1:, :] - image[:, :, :-1, :]  # each pixel minus the one above it
    across = image[:, :, :, 1:] - image[:, :, :, :-1]  # ... minus the one to its left
    return down.pow(2).mean() + across.pow(2).mean()


__all__ = ["content_loss", "gram_matrix", "grams", "relative_error", "style_loss", "tv_loss"]
