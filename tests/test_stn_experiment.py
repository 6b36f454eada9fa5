"""Tests for course_tools.stn_experiment: the rotation experiment of notebook 02b."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from course_tools import stn_experiment as ex
from course_utils import stn


def test_upright_then_stn_trains_only_the_stn_in_stage_two():
    from course_utils.digits import make_digits, render_glyphs

    data = make_digits(96, "R", seed=1)
    upright = render_glyphs(data.labels, data.params)
    recipe = ex.RotationRecipe(n_train=96, n_test=0, batch_size=32, reader_epochs=1, stn_only_epochs=2,
                               name="test")
    reader_only = ex.build_rotation_model(recipe, seed=0)  # stage 1 alone: no STN epochs
    assert reader_only.stn.transform == "rotation"
    ex.train_upright_then_stn(reader_only, upright, data.images, data.labels, replace(recipe, stn_only_epochs=0),
                              progress=False)
    model = ex.build_rotation_model(recipe, seed=0)
    losses = ex.train_upright_then_stn(model, upright, data.images, data.labels, recipe, progress=False)
    assert len(losses) == recipe.stn_only_epochs
    assert not any(p.requires_grad for p in model.cnn.parameters())
    for key, value in model.cnn.state_dict().items():  # weights and BatchNorm statistics
        assert torch.equal(value, reader_only.cnn.state_dict()[key]), key
    assert any(not torch.equal(v, reader_only.stn.state_dict()[k]) for k, v in model.stn.state_dict().items())
    assert not model.training and not model.cnn.training and not model.stn.training


def test_bad_arguments_get_a_clear_error():
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    r = ex.RotationRecipe(n_train=4, n_test=0, batch_size=2, name="test")
    with pytest.raises(ValueError, match="distorted and labels must have the same length, got 2 and 4"):
        ex.train_upright_then_stn(ex.build_rotation_model(r), images, images[:2], labels, r, progress=False)
    with pytest.raises(TypeError, match="r must be a RotationRecipe"):
        ex.train_upright_then_stn(ex.build_rotation_model(r), images, images, labels, stn.RECIPE_FAST)
    with pytest.raises(TypeError, match=r"degrees must be a tensor of angles \(B,\), got float"):
        ex.rotation_params(30.0)


def test_committed_r_checkpoint_finds_the_rotation():
    """The shipped rotation model: its rotation follows the hidden one on fresh test digits
    (negative r: it undoes it; the issue's target is |r| >= 0.9), it turns most of them back
    to within 20 degrees, and it reads most of them."""
    from course_utils.digits import make_digits

    if not stn.checkpoint_path("stn02_r_stn").exists():
        pytest.skip("no R checkpoint committed yet")
    test = make_digits(1000, "R", seed=0, split="test")
    model = ex.build_rotation_model(ex.ROTATION_FULL)
    stn.load_or_train(model, "stn02_r_stn", train=lambda: pytest.fail("should have loaded"))
    _, thetas = stn.transform_batch(model.stn, test.images)
    predicted, applied = stn.rotation_degrees(thetas), test.params["angle"]
    r = torch.corrcoef(torch.stack([predicted, applied]))[0, 1]
    assert r <= -0.9, r
    error = (predicted + applied + 180) % 360 - 180
    assert (error.abs() <= 20).float().mean() > 0.95
    assert stn.accuracy(model, test.images, test.labels) > 0.95


def test_classification_loss_is_cross_entropy_and_uniform_for_outliers():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 10), torch.tensor([3, 1, 4, 1, 5, 9])
    torch.testing.assert_close(ex.classification_loss(logits, labels), nn.functional.cross_entropy(logits, labels))
    mixed = labels.clone()
    mixed[[1, 4]] = ex.NOT_UPRIGHT
    log_p = logits.log_softmax(1)
    expected = torch.stack([-log_p[i, mixed[i]] if mixed[i] >= 0 else -log_p[i].mean() for i in range(6)]).mean()
    torch.testing.assert_close(ex.classification_loss(logits, mixed), expected)
    # an outlier's loss is smallest, with zero gradient, when the logits say "cannot tell"
    flat = torch.zeros(1, 10, requires_grad=True)
    ex.classification_loss(flat, torch.tensor([ex.NOT_UPRIGHT])).backward()
    assert flat.grad.abs().max() < 1e-7
    assert ex.classification_loss(logits[:1], torch.tensor([ex.NOT_UPRIGHT])) > math.log(10)


def test_turned_outliers_are_turned_copies_and_seeded():
    from course_utils.digits import make_digits, render_glyphs

    data = make_digits(40, "R", seed=2)
    upright = render_glyphs(data.labels, data.params)
    a = ex.turned_outliers(upright, 0.5, 45.0, seed=1)
    assert a.shape == (20, 1, 28, 28)
    assert ex.turned_outliers(upright, 0.0, 45.0).shape == (0, 1, 28, 28)
    assert torch.equal(a, ex.turned_outliers(upright, 0.5, 45.0, seed=1))
    assert not torch.equal(a, ex.turned_outliers(upright, 0.5, 45.0, seed=2))
    # none is (close to) upright: each differs from every upright digit
    distance = (a[:, None] - upright[None]).abs().mean(dim=(-1, -2, -3))
    assert distance.min() > 0.02
    # with the smallest turn just under 180°, every copy is an upside-down digit of the set
    half = ex.turned_outliers(upright, 1.0, 179.9, seed=1)
    distance = (half[:, None] - upright.flip(-2, -1)[None]).abs().mean(dim=(-1, -2, -3))
    assert distance.min(dim=1).values.max() < 0.01
    with pytest.raises(ValueError, match="min_degrees"):
        ex.turned_outliers(upright, 0.5, 180.0)


class _TopOrBottom(nn.Module):
    """A fixed reader of two classes: 0 = "ink at the top", 1 = "ink at the bottom"."""

    def forward(self, x):
        h = x.shape[-2] // 2
        top, bottom = x[..., :h, :].mean(dim=(1, 2, 3)), x[..., h:, :].mean(dim=(1, 2, 3))
        return 20.0 * torch.stack([top - bottom, bottom - top], dim=1)


def test_upright_search_loss_pulls_an_upside_down_reading_over():
    recipe = ex.RotationRecipe(n_train=4, n_test=0, name="test")
    model = ex.build_rotation_model(recipe)
    model.cnn = _TopOrBottom()
    images = torch.zeros(4, 1, 28, 28)
    images[:, :, :10] = 1.0  # ink at the top
    reads, upside_down = torch.tensor([0, 0, 0, 0]), torch.tensor([1, 1, 0, 0])
    plain = ex.upright_search_loss(model, images, reads, recipe)
    flipped = ex.upright_search_loss(model, images, upside_down, recipe)
    # at the identity the STN's direction is (1, 0); pulling it onto (-1, 0) costs |2 d|² = 4
    ce = nn.functional.cross_entropy(_TopOrBottom()(images), upside_down)
    torch.testing.assert_close(flipped, ce + recipe.half_turn_weight * 4 * 2 / 4)
    torch.testing.assert_close(plain, nn.functional.cross_entropy(_TopOrBottom()(images), reads))
    # the pull's gradient shortens the direction along its own axis (towards turning over)
    flipped.backward()
    bias = model.stn.localization.head[-1].bias.grad
    assert bias[0] > 0 and abs(bias[1]) < 1e-6
    # the prior prefers the smaller turn: zero at the identity, 2·weight at a half turn
    with torch.no_grad():
        model.stn.localization.head[-1].bias.copy_(ex.rotation_params(torch.tensor([180.0]))[0])
    turned_over = ex.upright_search_loss(model, images, reads, recipe)
    ce_over = nn.functional.cross_entropy(_TopOrBottom()(images.flip(-2, -1)), reads)
    assert turned_over > ce_over + 2 * recipe.upright_prior - 1e-4
    with pytest.raises(ValueError, match="rotation-only"):
        ex.upright_search_loss(stn.STNClassifier(1, 10, transform="affine"), images, reads, recipe)


