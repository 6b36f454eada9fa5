"""Colour preservation helpers (Gatys et al. 2017): YIQ round trip, luminance and
histogram matching, chroma transplant."""

from __future__ import annotations

import pytest
import torch

from course_utils import colour


def _img(seed: int, h: int = 12, w: int = 10) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g) * 0.8 + 0.1


def test_yiq_round_trip_and_grey_has_no_chroma():
    x = _img(0)
    assert torch.allclose(colour.yiq_to_rgb(colour.rgb_to_yiq(x)), x, atol=1e-6)
    grey = colour.grey_rgb(colour.luminance(x))
    assert colour.chroma(grey).abs().max() < 1e-5  # R = G = B has I = Q = 0
    # hand-computed luminance of pure red, green and blue
    rgb = torch.eye(3).view(3, 3, 1, 1).permute(1, 0, 2, 3).reshape(1, 3, 1, 3)
    assert torch.allclose(colour.luminance(rgb).flatten(), torch.tensor([0.299, 0.587, 0.114]), atol=1e-6)


def test_with_chroma_of_keeps_luminance_and_takes_chroma():
    a = _img(1)
    b = 0.5 + 0.3 * (_img(2) - 0.5)  # mild colours: the result stays inside the RGB cube
    out = colour.with_chroma_of(colour.luminance(a) * 0.5 + 0.25, b)
    assert torch.allclose(colour.chroma(out), colour.chroma(b), atol=1e-5)
    assert torch.allclose(colour.luminance(out), colour.luminance(a) * 0.5 + 0.25, atol=1e-5)
    with pytest.raises(ValueError, match="resize"):
        colour.with_chroma_of(colour.luminance(a), _img(3, 6, 6))


def test_match_luminance_copies_mean_and_spread():
    y = colour.luminance(_img(4)) * 0.3
    ref = colour.luminance(_img(5, 20, 7))
    out = colour.match_luminance(y, ref)
    assert abs(out.mean().item() - ref.mean().item()) < 1e-4
    assert abs(out.std().item() - ref.std().item()) < 1e-4


def test_histogram_matching_copies_mean_and_covariance():
    style = _img(6, 16, 16) * torch.tensor([1.0, 0.3, 0.2]).view(1, 3, 1, 1)  # reddish
    content = _img(7, 9, 14) * 0.5 + 0.2
    out = colour.match_colour_histogram(style, content)
    assert out.shape == style.shape
    px_o, px_c = out[0].reshape(3, -1).double(), content[0].reshape(3, -1).double()
    assert torch.allclose(px_o.mean(1), px_c.mean(1), atol=1e-3)
    assert torch.allclose(torch.cov(px_o, correction=0), torch.cov(px_c, correction=0), atol=2e-3)
    assert colour.chroma_distance(out, style) > 0.01  # it really changed the colours


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: colour.grey_rgb(torch.rand(1, 8, 8)), r"y must be a luminance batch .* got \(1, 8, 8\); take it with colour\.luminance"),
        (lambda: colour.with_chroma_of(_img(1, 8, 8), _img(2, 8, 8)), r"y must be a luminance .* got \(1, 3, 8, 8\)"),
        (lambda: colour.with_chroma_of(colour.luminance(_img(1, 8, 8)).expand(2, -1, -1, -1), _img(2, 8, 8)),
         "y holds 2 images but colour_source holds 1"),
        (lambda: colour.match_colour_histogram(_img(1, 8, 8).expand(2, -1, -1, -1), _img(2, 8, 8)),
         r"source must be one image \(batch 1\), got a batch of 2; index it"),
        (lambda: colour.match_colour_histogram(_img(1, 8, 8) * float("nan"), _img(2, 8, 8)), "source contains NaN"),
        (lambda: colour.chroma_distance(_img(1, 8, 8), _img(2, 16, 16)), r"a is \(8, 8\) px but b is \(16, 16\) px; resize"),
    ],
)
def test_bad_arguments_get_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: colour.match_luminance(colour.luminance(_img(1)), torch.rand(1, 1, 1, 1)),
         "reference_y has 1 value; match_luminance needs at least 2 to measure a spread; use a larger reference"),
        (lambda: colour.match_luminance(colour.luminance(_img(1)), torch.rand(1, 1, 0, 0)),
         "reference_y has 0 values; match_luminance needs at least 2"),
        (lambda: colour.match_luminance(torch.rand(1, 1, 1, 1), colour.luminance(_img(1))), "y has 1 value"),
        (lambda: colour.match_luminance(None, colour.luminance(_img(1))),
         r"y must be a luminance batch of shape \(B, 1, H, W\), got NoneType"),
        (lambda: colour.match_luminance(colour.luminance(_img(1)), _img(2)),
         r"reference_y must be a luminance batch of shape \(B, 1, H, W\), got \(1, 3, 12, 10\); take it with colour\.luminance"),
        (lambda: colour.match_luminance(torch.full((1, 1, 4, 4), float("nan")), colour.luminance(_img(1))),
         "y contains NaN or infinite values; match luminances with finite values"),
        (lambda: colour.match_colour_histogram(_img(1), _img(2), eps=-1), "eps must be a small number >= 0, got -1"),
        (lambda: colour.match_colour_histogram(_img(1), _img(2), eps=float("nan")), "eps must be a finite number"),
        (lambda: colour.match_colour_histogram(torch.rand(1, 3, 0, 16), _img(2)),
         r"source has no pixels \(shape \(1, 3, 0, 16\)\); recolour an image with at least one pixel"),
        (lambda: colour.match_colour_histogram(_img(1), torch.rand(1, 3, 16, 0)), "reference has no pixels"),
        (lambda: colour.luminance((_img(1) * 255).to(torch.uint8)),
         r"image has dtype torch.uint8; colours need a floating-point image in \[0, 1\]: use image\.float\(\) / 255"),
        (lambda: colour.chroma_distance(_img(1), _img(2) > 0.5), "b has dtype torch.bool"),
    ],
)
def test_degenerate_inputs_get_a_clear_error_instead_of_nan(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_histogram_matching_still_takes_eps_zero_and_a_one_pixel_image():
    out = colour.match_colour_histogram(_img(1), _img(2), eps=0)
    assert torch.isfinite(out).all()
    assert torch.isfinite(colour.match_colour_histogram(_img(1, 1, 1), _img(2))).all()
