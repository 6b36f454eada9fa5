"""Checkers for notebook 04 (style transfer by optimisation); the references are
:func:`course_utils.losses.style_loss` and :func:`course_utils.losses.tv_loss`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from course_utils import losses
from course_utils.i18n import N_
from course_utils.i18n import localised as _

from ._core import CheckResult, answered, check, same

_close = partial(same, atol=1e-8, rtol=1e-4)  # loss values: relative agreement


def _scalar(got: object) -> torch.Tensor:
    got = answered(got)
    if not (isinstance(got, torch.Tensor) and got.dim() == 0):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else ""
        raise AssertionError(_("return a scalar tensor (0-dim), got {kind} {shape}").format(
            kind=type(got).__name__, shape=shape).rstrip())
    return got


def _style_case(seed: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Features of a generated image (two style layers and a content layer of other sizes)
    and the style's Gram targets, from a style image of another size."""
    g = torch.Generator().manual_seed(seed)
    feats = {"relu1_1": torch.rand(1, 4, 12, 10, generator=g), "relu2_1": torch.rand(1, 6, 6, 5, generator=g),
             "relu4_2": torch.rand(1, 8, 3, 2, generator=g)}
    style = {"relu1_1": torch.rand(1, 4, 9, 9, generator=g) * 2, "relu2_1": torch.rand(1, 6, 4, 5, generator=g)}
    return feats, losses.grams(style)


def check_style_loss(fn: Callable[..., torch.Tensor] | None) -> CheckResult:
    """Exercise 1: ``fn(generated_feats, target_grams, layer_weights=None)`` returns
    ``Σ_l w_l ‖G_l − A_l‖² / ‖A_l‖²`` over the layers of ``target_grams``, as
    :func:`course_utils.losses.style_loss` does."""

    def test(f):
        if not callable(f):
            raise AssertionError(_("pass the function itself, e.g. check_style_loss(my_style_loss)."))
        for seed, weights in ((0, None), (1, {"relu1_1": 0.8, "relu2_1": 0.2}), (2, {"relu1_1": 0.0, "relu2_1": 3.0})):
            feats, targets = _style_case(seed)
            try:
                got = _scalar(f(feats, targets) if weights is None else f(feats, targets, weights))
            except KeyError as exc:
                raise AssertionError(_("no layer {layer} in target_grams: loop over target_grams' layers, "
                                       "not generated_feats' (which also holds the content layer)").format(
                                           layer=exc)) from None
            except ValueError as exc:
                if "gram_matrix" in str(exc):
                    raise AssertionError(_("target_grams already holds the style's Gram matrices, computed "
                                           "once before the loop: compare gram_matrix(generated_feats[name]) "
                                           "with target_grams[name] itself")) from None
                raise
            want = losses.style_loss(feats, targets, weights)
            if _close(got, want):
                continue
            w = weights or {k: 1 / len(targets) for k in targets}
            per_layer = {k: losses.relative_error(losses.gram_matrix(feats[k]), t) for k, t in targets.items()}
            squared = {k: (losses.gram_matrix(feats[k]) - t).pow(2).sum() for k, t in targets.items()}
            if _close(got, sum(w[k] * squared[k] for k in targets)):
                raise AssertionError(_("that is the plain squared error: divide each layer's error by the "
                                       "target's squared norm, (A ** 2).sum(), so that every layer counts on "
                                       "one scale"))
            if _close(got, sum(w[k] * (squared[k] / t.numel()) for k, t in targets.items())):
                raise AssertionError(_("that is a mean squared error (F.mse_loss): divide each layer's summed "
                                       "squared error by (A ** 2).sum() instead, the target's squared norm"))
            if _close(got, sum(per_layer.values())):
                raise AssertionError(_("every layer counts fully: multiply each layer's error by its weight, "
                                       "1 / L for L layers when layer_weights is None"))
            if _close(got, sum(per_layer.values()) / len(per_layer)) and weights is not None:
                raise AssertionError(_("layer_weights is not used: multiply each layer's error by "
                                       "layer_weights[name]"))
            raise AssertionError(_(
                "with layer_weights={weights} expected {want:.6g}, got {got:.6g}; hint: for each layer of "
                "target_grams, G = gram_matrix(generated_feats[name]), then "
                "weight * ((G - A) ** 2).sum() / (A ** 2).sum(), summed over the layers").format(
                    weights=weights, want=want.item(), got=got.item()))
        feats, targets = _style_case(3)
        x = feats["relu1_1"].clone().requires_grad_(True)
        out = f({**feats, "relu1_1": x}, targets)
        assert out.requires_grad, _("no gradient reaches the features: do not detach them or call .item()")

    return check(N_("Exercise 1 (the style loss)"), fn, test,
                 N_("your style loss matches losses.style_loss, with and without layer weights."))


def check_tv_loss(fn: Callable[[torch.Tensor], torch.Tensor] | None) -> CheckResult:
    """Exercise 2: ``fn(image)`` returns the mean squared difference between vertically
    neighbouring pixels plus that between horizontally neighbouring ones, as
    :func:`course_utils.losses.tv_loss` does."""

    def test(f):
        if not callable(f):
            raise AssertionError(_("pass the function itself, e.g. check_tv_loss(my_tv_loss)."))
        g = torch.Generator().manual_seed(4)
        for image in (torch.rand(1, 3, 8, 12, generator=g), torch.rand(2, 3, 5, 4, generator=g) ** 3):
            got = _scalar(f(image))
            want = losses.tv_loss(image)
            if _close(got, want):
                continue
            down = image[:, :, 1:, :] - image[:, :, :-1, :]
            across = image[:, :, :, 1:] - image[:, :, :, :-1]
            if _close(got, down.pow(2).sum() + across.pow(2).sum()):
                raise AssertionError(_("that is a sum, which grows with the image: take the mean of each "
                                       "direction (.mean()), so one weight works at every size"))
            if _close(got, down.abs().mean() + across.abs().mean()):
                raise AssertionError(_("square the differences (.pow(2)) rather than taking their absolute value"))
            if _close(got, down.pow(2).mean()) or _close(got, across.pow(2).mean()):
                raise AssertionError(_("only one direction: add the differences down (rows) and across (columns)"))
            if _close(got, (down.pow(2).sum() + across.pow(2).sum()) / image.numel()):
                raise AssertionError(_("take the mean of each direction separately, then add the two means"))
            raise AssertionError(_(
                "expected {want:.6g}, got {got:.6g} for an image of shape {shape}; hint: "
                "down = image[:, :, 1:, :] - image[:, :, :-1, :], across likewise on the last dimension, "
                "then down.pow(2).mean() + across.pow(2).mean()").format(
                    want=want.item(), got=got.item(), shape=tuple(image.shape)))
        flat = torch.full((1, 3, 6, 6), 0.3)
        assert _close(_scalar(f(flat)), torch.tensor(0.0)), _("a flat image has no variation: expected 0")
        x = torch.rand(1, 3, 6, 7, generator=g).requires_grad_(True)
        assert f(x).requires_grad, _("no gradient reaches the image: do not detach it or call .item()")

    return check(N_("Exercise 2 (the total variation loss)"), fn, test,
                 N_("your TV loss matches losses.tv_loss on batches of several sizes."))

