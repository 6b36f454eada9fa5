"""Exercise checkers of notebook 05: right answers pass, templates are "not yet", wrong
answers fail with a hint."""

from __future__ import annotations

import pytest

from course_exercises import ex05
from course_utils import geometry, warps


def _template(*args):
    raise NotImplementedError


def _written_out(style, degrees, zoom):
    h, w = style.shape[-2:]
    theta = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees, aspect=w / h))
    return geometry.warp(style, theta, padding_mode="reflection")


def test_style_warp_checker_accepts_the_package_function_and_the_answer_written_out():
    assert ex05.check_style_warp(warps.warp_style).passed
    assert ex05.check_style_warp(_written_out).passed  # the same θ written out, without the clamp
    assert not ex05.check_style_warp(None).passed
    assert not ex05.check_style_warp(_template).passed
    assert not ex05.check_style_warp(lambda style, degrees, zoom: None).passed


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda s, d, z: warps.warp_style(s, -d, z), "clockwise"),
        (lambda s, d, z: warps.warp_style(s, d, 1 / z), "inverted"),
        (lambda s, d, z: geometry.warp(s, geometry.compose(geometry.scale_theta(z), geometry.rotation_theta(d)),
                                       padding_mode="reflection"), "aspect"),
        (lambda s, d, z: geometry.warp(s, geometry.theta_from_params(angle=d, scale=z, aspect=s.shape[-1] / s.shape[-2])),
         "reflection"),
        (lambda s, d, z: s, "differs"),
        (lambda s, d, z: s[..., :8, :8], "shape"),
    ],
)
def test_style_warp_checker_explains_wrong_answers(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex05.check_style_warp(wrong)


def test_smoothness_checker():
    assert ex05.check_smoothness(warps.smoothness).passed
    assert not ex05.check_smoothness(None).passed
    assert not ex05.check_smoothness(_template).passed


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda c: c.pow(2).mean(), "translation"),
        (lambda c: (c[..., :, 1:] - c[..., :, :-1]).pow(2).mean(), "along y"),
        (lambda c: (c[..., 1:, :] - c[..., :-1, :]).pow(2).mean(), "along x"),
        (lambda c: (c[..., :, 1:] - c[..., :, :-1]).pow(2).sum() + (c[..., 1:, :] - c[..., :-1, :]).pow(2).sum(), "mean"),
        (lambda c: (c[..., :, 1:] - c[..., :, :-1]).abs().mean() + (c[..., 1:, :] - c[..., :-1, :]).abs().mean(), "square"),
        (lambda c: warps.smoothness(c).detach(), "gradient"),
        (lambda c: warps.smoothness(c)[None], "scalar"),
    ],
)
def test_smoothness_checker_explains_wrong_answers(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex05.check_smoothness(wrong)
