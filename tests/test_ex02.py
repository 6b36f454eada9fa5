"""Tests for the checkers of notebook 02's exercises."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_exercises import ex02
from course_utils import stn


def _template(*args):
    raise NotImplementedError


class _Template(stn.SpatialTransformer):
    def forward(self, x):
        raise NotImplementedError


def _forward_with(**changes):
    """A SpatialTransformer subclass whose forward is the package's with one thing changed."""

    class Variant(stn.SpatialTransformer):
        def forward(self, x):
            params = self.localization(x)
            aspect = changes.get("aspect", x.shape[-1] / x.shape[-2])
            theta = stn.params_to_theta(params, self.transform, aspect=aspect)
            if changes.get("detach"):
                theta = theta.detach()
            corners = changes.get("align_corners", self.align_corners)
            grid = F.affine_grid(theta, list(x.shape), align_corners=corners)
            output = F.grid_sample(x, grid, padding_mode=changes.get("padding_mode", self.padding_mode),
                                   align_corners=corners)
            return output if changes.get("output_only") else (output, theta)

    return Variant


def test_forward_accepts_the_package_module_and_its_own_code():
    assert ex02.check_forward(stn.SpatialTransformer).passed
    assert ex02.check_forward(_forward_with()).passed


def test_forward_template_is_not_attempted():
    assert not ex02.check_forward(_Template).passed
    assert not ex02.check_forward(None).passed


@pytest.mark.parametrize("changes, match", [
    ({"padding_mode": "zeros"}, "default zero padding"),
    ({"align_corners": True}, "align_corners=self.align_corners"),
    ({"output_only": True}, r"a pair \(output, theta\)"),
    ({"aspect": 1.0}, "aspect"),
    ({"detach": True}, "no gradient reaches the localization net"),
])
def test_forward_mistakes_are_named(changes, match):
    with pytest.raises(AssertionError, match=match):
        ex02.check_forward(_forward_with(**changes))


def test_forward_wants_the_class():
    with pytest.raises(AssertionError, match="pass the class itself"):
        ex02.check_forward(lambda x: (x, None))


def test_forward_that_returns_the_input_is_refused():
    class Lazy(stn.SpatialTransformer):
        def forward(self, x):
            params = self.localization(x)
            return x, stn.params_to_theta(params, self.transform, aspect=x.shape[-1] / x.shape[-2])

    with pytest.raises(AssertionError, match="the output is the input"):
        ex02.check_forward(Lazy)


def test_rotation_scale_accepts_the_package_function():
    assert ex02.check_rotation_scale_theta(stn.rotation_scale_theta).passed


def test_rotation_scale_template_is_not_attempted():
    assert not ex02.check_rotation_scale_theta(_template).passed
    assert not ex02.check_rotation_scale_theta(lambda p: None).passed


def test_rotation_scale_rejects_wrong_signs_and_scales():
    def flipped(params):  # rotation in the other direction
        return stn.rotation_scale_theta(params * torch.tensor([-1.0, 1.0]))

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
        return stn.rotation_scale_theta(params.detach())

    with pytest.raises(AssertionError, match="connected"):
        ex02.check_rotation_scale_theta(detached)


def test_rotation_scale_is_an_stn_family():
    params = torch.tensor([[math.radians(20.0), 0.0], [math.radians(-70.0), 0.3]])
    torch.testing.assert_close(stn.params_to_theta(params, "rotation_scale"), stn.rotation_scale_theta(params))
    module = stn.SpatialTransformer(1, "rotation_scale")
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(module(x)[0], x, atol=1e-5, rtol=0)
