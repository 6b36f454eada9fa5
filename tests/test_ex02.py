"""Tests for the checkers of notebook 02's exercises."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils import stn
from course_utils.exercises import ex02


def _template(*args):
    raise NotImplementedError


def test_identity_init_accepts_a_correct_answer():
    assert ex02.check_identity_init(lambda layer: stn.init_identity_(layer)).passed


def test_identity_init_template_is_not_attempted():
    assert not ex02.check_identity_init(_template).passed
    assert not ex02.check_identity_init(None).passed
    assert not ex02.check_identity_init(lambda layer: None).passed  # left the layer unchanged


def test_identity_init_rejects_the_seed_bias():
    def seed_answer(layer: nn.Linear) -> None:
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor([1.0, 0, 0, 0, 0, 1]))

    with pytest.raises(AssertionError, match="seed article"):
        ex02.check_identity_init(seed_answer)


def test_identity_init_rejects_non_zero_weights():
    def bias_only(layer: nn.Linear) -> None:
        layer.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]))

    with pytest.raises(AssertionError, match="weights"):
        ex02.check_identity_init(bias_only)


def test_rotation_scale_accepts_the_reference():
    assert ex02.check_rotation_scale_theta(ex02.reference_rotation_scale_theta).passed


def test_rotation_scale_template_is_not_attempted():
    assert not ex02.check_rotation_scale_theta(_template).passed
    assert not ex02.check_rotation_scale_theta(lambda p: None).passed


def test_rotation_scale_rejects_wrong_signs_and_scales():
    def flipped(params):  # rotation in the other direction
        return ex02.reference_rotation_scale_theta(params * torch.tensor([-1.0, 1.0]))

    with pytest.raises(AssertionError, match="sin"):
        ex02.check_rotation_scale_theta(flipped)

    def linear_scale(params):  # uses log_s as the scale itself
        a, s = params[:, 0], 1 + params[:, 1]
        z = torch.zeros_like(a)
        return torch.stack([torch.stack([s * a.cos(), -s * a.sin(), z], -1),
                            torch.stack([s * a.sin(), s * a.cos(), z], -1)], 1)

    with pytest.raises(AssertionError, match="log"):
        ex02.check_rotation_scale_theta(linear_scale)


def test_rotation_scale_rejects_a_detached_theta():
    def detached(params):
        return ex02.reference_rotation_scale_theta(params.detach())

    with pytest.raises(AssertionError, match="connected"):
        ex02.check_rotation_scale_theta(detached)


def test_reference_matches_the_stn_parametrisation():
    # The package bounds the scale smoothly (tanh); near log-scale 0 the two agree.
    params = torch.tensor([[math.radians(20.0), 0.0], [math.radians(-70.0), 0.01]])
    full = torch.cat([params, torch.zeros(2, 2)], 1)
    torch.testing.assert_close(ex02.reference_rotation_scale_theta(params),
                               stn.params_to_theta(full, "rst"), atol=1e-4, rtol=0)
