"""Gram matrices and the losses of neural style transfer (风格迁移), all scale-free.

Notebook 03 teaches them, notebook 04 puts them together:

* :func:`gram_matrix` — batched ``(B, C, H, W) → (B, C, C)``, divided by ``H·W``: the
  average outer product of the feature vectors over positions, so the same texture gives
  the same Gram at any image size (the seed article's version used one image and no
  normalisation: seed defect 4 in ``docs/seed_defects.md``).
* :func:`content_loss` and :func:`style_loss` — squared errors divided by the squared norm
  of the target, so every layer contributes on the same scale whatever its number of
  channels, its spatial size or the magnitude of its activations (which differs by orders
  of magnitude between layers, and between ImageNet and random weights). Weights such as
  "style 1e3, content 1" then mean the same thing in every notebook.
* :func:`tv_loss` — total variation, a smoothness prior on the image.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from . import checks

_EPS = 1e-12


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """Batched, normalised Gram matrix (格拉姆矩阵) of feature maps.

    ``G[b, i, j] = (1 / (H·W)) Σ_p F[b, i, p] F[b, j, p]`` where ``p`` runs over the
    ``H·W`` positions: the (uncentred) covariance of channels ``i`` and ``j``. Dividing by
    ``H·W`` makes it an average, so it does not grow with the image size.

    Args:
        x: features of shape ``(B, C, H, W)``.

    Returns:
        Tensor of shape ``(B, C, C)``, symmetric and positive semi-definite, one matrix per
        image (images in a batch are never mixed).
    """
    checks.feature_maps(x, "gram_matrix")
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)  # one row of H·W values per channel
    return f @ f.transpose(1, 2) / (h * w)  # (B, C, C): the average over positions


def grams(features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``{layer: (B, C, H, W)}`` → ``{layer: (B, C, C)}``, detached: style *targets*
    are computed once, before the optimisation (seed defect 6)."""
    if not isinstance(features, Mapping):
        raise TypeError(
            f"grams expects a dict {{layer: features}} (what a FeatureExtractor returns), got "
            f"{type(features).__name__}; for one layer's features use gram_matrix(x)."
        )
    return {name: gram_matrix(f).detach() for name, f in features.items()}


def _relative_sq_error(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image ``‖g − t‖² / ‖t‖²`` (shape ``(B,)``); a ``target`` with batch 1 is
    broadcast over ``generated``'s batch."""
    if target.shape[0] == 1 and generated.shape[0] != 1:
        target = target.expand_as(generated)
    if generated.shape != target.shape:
        raise ValueError(
            f"generated has shape {tuple(generated.shape)} but the target has "
            f"{tuple(target.shape)}; compute both with the same layer (and image size for "
            "content)."
        )
    dims = tuple(range(1, generated.dim()))
    err = (generated - target).pow(2).sum(dim=dims)
    return err / target.pow(2).sum(dim=dims).clamp_min(_EPS)


def content_loss(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Scale-free content loss: ``‖F_gen − F_target‖² / ‖F_target‖²``, averaged over the batch.

    0 means identical features; 1 is what an all-zero response would score. Independent of
    the layer's size and of the overall scale of its activations.

    Args:
        generated: features of the image being optimised, ``(B, C, H, W)``.
        target: features of the content image, ``(B, C, H, W)`` or ``(1, C, H, W)``
            (same layer and spatial size).

    Returns:
        A scalar tensor.
    """
    if not (isinstance(generated, torch.Tensor) and isinstance(target, torch.Tensor)):
        raise TypeError(
            f"content_loss expects two feature tensors (B, C, H, W), got {type(generated).__name__} "
            f"and {type(target).__name__}; pick the content layer, e.g. feats['relu4_2']."
        )
    return _relative_sq_error(generated, target.detach()).mean()


def style_loss(
    generated_feats: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Scale-free style loss over several layers.

    ``Σ_l w_l ‖G(F_gen,l) − G_target,l‖² / ‖G_target,l‖²`` with :func:`gram_matrix`,
    averaged over the batch. Because each layer's error is relative, no layer dominates
    just because its activations are large, and the generated and style images may have
    different sizes (a Gram is ``C × C`` at any size).

    Args:
        generated_feats: ``{layer: (B, C, H, W)}`` features of the image being optimised.
        target_grams: ``{layer: (B, C, C)}`` or ``(1, C, C)`` Grams of the style image
            (from :func:`grams`); every layer here must be in ``generated_feats``.
        layer_weights: ``{layer: w_l}``; default ``1 / L`` for each of the ``L`` layers
            (the loss is then the mean relative error). Layers missing here get weight 0.

    Returns:
        A scalar tensor.
    """
    if not (isinstance(generated_feats, Mapping) and isinstance(target_grams, Mapping)):
        raise TypeError(
            f"style_loss expects two dicts {{layer: tensor}}, got {type(generated_feats).__name__} and "
            f"{type(target_grams).__name__}; pass the FeatureExtractor's output and losses.grams(style_features)."
        )
    if layer_weights is not None and not isinstance(layer_weights, Mapping):
        raise TypeError(
            f"layer_weights must be a dict {{layer: weight}} or None, got {type(layer_weights).__name__}; "
            "e.g. {'relu1_1': 0.5, 'relu2_1': 0.5}."
        )
    if not target_grams:
        raise ValueError("target_grams is empty; pass at least one layer's Gram matrix.")
    missing = [k for k in target_grams if k not in generated_feats]
    if missing:
        raise ValueError(
            f"style layer '{missing[0]}' has a target Gram but no generated features; "
            "build the FeatureExtractor with every style layer."
        )
    if layer_weights is None:
        layer_weights = {k: 1.0 / len(target_grams) for k in target_grams}
    total = None
    for name, target in target_grams.items():
        w = float(layer_weights.get(name, 0.0))
        if w == 0.0:
            continue
        if target.dim() != 3:
            raise ValueError(
                f"target_grams['{name}'] has shape {tuple(target.shape)}, not a Gram matrix (B, C, C); "
                "compute the targets with losses.grams(style_features)."
            )
        term = w * _relative_sq_error(gram_matrix(generated_feats[name]), target.detach()).mean()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("every style layer has weight 0; give at least one a positive weight.")
    return total


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total-variation loss: mean squared difference between neighbouring pixels.

    ``mean((x[..., 1:, :] − x[..., :-1, :])²) + mean((x[..., :, 1:] − x[..., :, :-1])²)``;
    a mean, so it does not grow with the image size. It penalises pixel-level noise that
    the feature losses do not see.

    Args:
        image: ``(B, C, H, W)`` with ``H, W ≥ 2``.

    Returns:
        A scalar tensor (0 for a constant image).
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[-1] < 2 or image.shape[-2] < 2:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"tv_loss expects an image batch (B, C, H, W) with H, W >= 2, got {shape}.")
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


__all__ = ["content_loss", "gram_matrix", "grams", "style_loss", "tv_loss"]
