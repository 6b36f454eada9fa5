"""Learners' typical answers against the checkers: a correct answer written another way
(float64, a NumPy integer) passes, and the wrong answers that a review found passing or
crashing inside a checker are refused with a hint that names the mistake."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_exercises import ex01, ex02, ex03, ex04, ex05, ex06, ex07
from course_utils import geometry, losses, stn, warps


# ----------------------------------------------------------------- right, written another way
@pytest.mark.parametrize("check, answer", [
    (ex01.check_invert, lambda t: geometry.invert(t).double()),
    (ex02.check_rotation_scale_theta, lambda p: stn.rotation_scale_theta(p.double())),
    (ex05.check_smoothness, lambda c: warps.smoothness(c.double())),
    (ex05.check_style_warp, lambda s, d, z: warps.warp_style(s, d, z).double()),
    (ex04.check_tv_loss, lambda x: losses.tv_loss(x.double())),
], ids=["invert", "rotation_scale", "smoothness", "style_warp", "tv_loss"])
def test_float64_answers_pass(check, answer):
    assert check(answer).passed


def test_style_loss_in_float64_passes():
    def style64(feats, targets, layer_weights=None):
        return losses.style_loss(feats, targets, layer_weights).double()

    assert ex04.check_style_loss(style64).passed


def test_numpy_and_tensor_integers_pass_in_notebook_03():
    from course_utils import features

    assert ex03.check_receptive_field(lambda name: np.int64(features.receptive_field(name))).passed
    assert ex03.check_receptive_field(lambda name: torch.tensor(features.receptive_field(name))).passed


def test_numpy_and_tensor_integers_pass_in_notebook_07():
    from course_utils import perf

    assert ex07.check_conv_flops(lambda *a: np.int64(perf.conv2d_flops(*a))).passed
    assert ex07.check_largest_side(lambda *a: np.int64(perf.largest_side(*a))).passed
    assert ex07.check_largest_side(lambda *a: torch.tensor(perf.largest_side(*a))).passed


# ----------------------------------------------------------------- wrong, refused with a hint
def test_stn_forward_written_another_way_passes_and_a_frozen_theta_is_refused():
    class Unpacked(stn.SpatialTransformer):  # the same steps through geometry's helpers
        def forward(self, x):
            theta = stn.params_to_theta(self.localization(x), self.transform, x.shape[-1] / x.shape[-2])
            grid = geometry.sampling_grid(theta, tuple(x.shape[-2:]), batch=len(x))
            return nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False), theta

    assert ex02.check_forward(Unpacked).passed

    class NoGrad(stn.SpatialTransformer):  # θ computed under no_grad: the STN could never learn
        def forward(self, x):
            with torch.no_grad():
                theta = stn.params_to_theta(self.localization(x), self.transform, x.shape[-1] / x.shape[-2])
            grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
            return nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False), theta

    with pytest.raises(AssertionError, match="no gradient reaches the localization net"):
        ex02.check_forward(NoGrad)


def test_rotation_scale_theta_with_the_angle_read_as_degrees():
    def degrees(params):
        return stn.rotation_scale_theta(torch.stack([torch.deg2rad(params[:, 0]), params[:, 1]], 1))

    with pytest.raises(AssertionError, match="already in radians"):
        ex02.check_rotation_scale_theta(degrees)


def test_style_loss_mistakes_are_named():
    def unweighted(feats, targets, layer_weights=None):  # forgets the layer weights
        return sum(losses.relative_error(losses.gram_matrix(feats[k]), a) for k, a in targets.items())

    def target_gram_again(feats, targets, layer_weights=None):  # Gram of the Gram target
        return sum(losses.relative_error(losses.gram_matrix(feats[k]), losses.gram_matrix(a)) for k, a in targets.items())

    with pytest.raises(AssertionError, match="multiply each layer's error by its weight"):
        ex04.check_style_loss(unweighted)
    with pytest.raises(AssertionError, match="already holds the style's Gram matrices"):
        ex04.check_style_loss(target_gram_again)


def test_tv_loss_as_a_sum_is_named():
    def summed(x):
        return (x[:, :, 1:] - x[:, :, :-1]).pow(2).sum() + (x[..., 1:] - x[..., :-1]).pow(2).sum()

    with pytest.raises(AssertionError, match="that is a sum"):
        ex04.check_tv_loss(summed)


def test_smoothness_of_the_first_field_only_is_refused():
    with pytest.raises(AssertionError, match="every sample of the batch"):
        ex05.check_smoothness(lambda control: warps.smoothness(control[:1]))


def test_stop_callback_against_the_total_or_with_one_argument_is_refused():
    with pytest.raises(AssertionError):
        ex06.check_stop_callback(lambda step, image, losses: losses["style"] < 0.05 * losses["total"])
    with pytest.raises(AssertionError, match=r"three arguments, \(step, image, losses\)"):
        ex06.check_stop_callback(lambda losses: losses["style"] < 0.05)


@pytest.mark.parametrize("answer, match", [
    (lambda ci, co, k, hw: 2 * ci * co * k * k * hw[0] * hw[1] + co * hw[0] * hw[1], "no bias"),
    (lambda ci, co, k, hw: 2 * ci * co * k * k * hw[0] * hw[1] / 1e9, "not GFLOPs"),
])
def test_conv_flops_mistakes_are_named(answer, match):
    with pytest.raises(AssertionError, match=match):
        ex07.check_conv_flops(answer)


def test_the_reference_answers_still_pass():
    assert ex02.check_rotation_scale_theta(stn.rotation_scale_theta).passed
    assert ex02.check_forward(stn.SpatialTransformer).passed
    assert ex05.check_smoothness(warps.smoothness).passed
    assert ex06.check_stop_callback(lambda step, image, losses: losses["style"] < 0.05).passed
    from course_utils import perf

    assert ex07.check_conv_flops(perf.conv2d_flops).passed


def test_a_photo_resized_by_pil_thumbnail_passes_and_bgr_is_named():
    from PIL import Image

    from course_exercises import ex00
    from course_utils import data, images

    path = data.DATA_DIR / "content" / "coffee.jpg"
    with Image.open(path) as pil:
        pil = pil.convert("RGB")
        pil.thumbnail((256, 256))  # rounds the short side up: one pixel off the course's loader
    thumb = images.from_pil(pil)
    assert thumb.shape[-2:] != data.content_image("coffee", max_side=256).shape[-2:]
    assert ex00.check_loaded_image(thumb).passed
    with pytest.raises(AssertionError, match="BGR"):
        ex00.check_loaded_image(images.load_image(path, max_side=256).flip(1))
    with pytest.raises(AssertionError, match="return three numbers"):
        ex00.check_mean_colour("red", data.style_image("swirl"))


def test_inverted_aspects_and_a_string_of_layers_are_named():
    with pytest.raises(AssertionError, match="aspect correction is the wrong way round"):
        ex01.check_rotation_theta(lambda degrees, aspect: geometry.rotation_theta(degrees, aspect=1 / aspect))

    def turn_with_h_over_w(style, degrees, zoom):
        h, w = style.shape[-2:]
        theta = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees, aspect=h / w))
        return geometry.warp(style, theta, padding_mode="reflection")

    with pytest.raises(AssertionError, match=r"width / height \(w / h\)"):
        ex05.check_style_warp(turn_with_h_over_w)
    with pytest.raises(AssertionError, match="return a list of layer names"):
        ex03.check_layers_for_scale(lambda pixels: "relu1_1")
