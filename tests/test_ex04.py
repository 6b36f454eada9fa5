"""Exercise checkers of notebook 04: the package's functions pass, templates are "not
yet", and the typical wrong answers fail with a hint that names the mistake."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_exercises import ex04
from course_utils import losses


def _template(*args):
    raise NotImplementedError


def test_the_package_functions_pass_and_templates_are_not_yet():
    assert ex04.check_style_loss(losses.style_loss).passed
    assert ex04.check_tv_loss(losses.tv_loss).passed
    for check in (ex04.check_style_loss, ex04.check_tv_loss):
        assert not check(None).passed
        assert not check(_template).passed
        assert not check(lambda *args: None).passed


def _style(per_layer, weights_default=True, over="targets"):
    """A style loss built from ``per_layer(G, A)``; the mistakes below change one thing."""

    def answer(feats, targets, layer_weights=None):
        names = targets if over == "targets" else feats
        if layer_weights is None:
            layer_weights = {k: (1 / len(targets) if weights_default else 1.0) for k in targets}
        return sum(layer_weights[k] * per_layer(losses.gram_matrix(feats[k]), targets[k]) for k in names)

    return answer


@pytest.mark.parametrize("answer, match", [
    (_style(lambda g, a: ((g - a) ** 2).sum()), "plain squared error"),
    (_style(lambda g, a: F.mse_loss(g, a)), "mean squared error"),
    (_style(lambda g, a: ((g - a) ** 2).sum() / (a ** 2).sum(), weights_default=False), "multiply each layer's error"),
    (_style(lambda g, a: ((g - a) ** 2).sum() / (a ** 2).sum(), over="feats"), "loop over target_grams"),
    (lambda feats, targets, layer_weights=None: sum(
        losses.relative_error(losses.gram_matrix(feats[k]), losses.gram_matrix(t)) for k, t in targets.items()),
     "already holds the style's Gram"),
    (lambda feats, targets, layer_weights=None: losses.style_loss(feats, targets), "layer_weights is not used"),
    (lambda feats, targets, layer_weights=None: losses.style_loss(feats, targets, layer_weights).detach(),
     "no gradient"),
], ids=["unnormalised", "mse", "no_weights", "over_feats", "gram_of_target", "ignores_weights", "detached"])
def test_style_loss_mistakes_are_named(answer, match):
    with pytest.raises(AssertionError, match=match):
        ex04.check_style_loss(answer)


def _down_across(x):
    return x[:, :, 1:, :] - x[:, :, :-1, :], x[:, :, :, 1:] - x[:, :, :, :-1]


@pytest.mark.parametrize("answer, match", [
    (lambda x: sum(d.pow(2).sum() for d in _down_across(x)), "that is a sum"),
    (lambda x: sum(d.abs().mean() for d in _down_across(x)), "square the differences"),
    (lambda x: _down_across(x)[0].pow(2).mean(), "only one direction"),
    (lambda x: sum(d.pow(2).sum() for d in _down_across(x)) / x.numel(), "each direction separately"),
    (lambda x: losses.tv_loss(x).detach(), "no gradient"),
], ids=["sum", "abs", "one_direction", "one_mean", "detached"])
def test_tv_loss_mistakes_are_named(answer, match):
    with pytest.raises(AssertionError, match=match):
        ex04.check_tv_loss(answer)


def test_a_right_answer_written_another_way_passes():
    def style64(feats, targets, layer_weights=None):
        return losses.style_loss({k: v.double() for k, v in feats.items()},
                                 {k: v.double() for k, v in targets.items()}, layer_weights)

    def tv_by_diff(x):  # torch.diff instead of slicing, in float64
        return torch.diff(x.double(), dim=2).pow(2).mean() + torch.diff(x.double(), dim=3).pow(2).mean()

    assert ex04.check_style_loss(style64).passed
    assert ex04.check_tv_loss(tv_by_diff).passed
