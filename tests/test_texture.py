"""course_utils.texture: orientation and scale measurements on textures with a known answer."""

from __future__ import annotations

import pytest
import torch

from course_utils import data, texture, warps


@pytest.mark.parametrize("degrees", [0.0, 20.0, 45.0, 90.0, 135.0, 170.0])
def test_orientation_of_a_grating_is_its_angle(degrees):
    found = texture.orientation(texture.grating((64, 80), degrees, 0.11))
    assert texture.angle_difference(found.degrees, degrees) < 1.0
    assert found.coherence > 0.95


def test_angle_difference_wraps_at_180():
    assert texture.angle_difference(179.0, 1.0) == pytest.approx(2.0)
    assert texture.angle_difference(10.0, 100.0) == pytest.approx(90.0)
    assert texture.angle_difference(-30.0, 150.0) == pytest.approx(0.0)


def test_noise_and_crossed_gratings_have_no_preferred_direction():
    g = torch.Generator().manual_seed(0)
    assert texture.orientation(torch.rand(1, 3, 64, 64, generator=g)).coherence < 0.1
    crossed = 0.5 * (texture.grating((64, 64), 0, 0.1) + texture.grating((64, 64), 90, 0.1))
    assert texture.orientation(crossed).coherence < 0.05
    assert texture.orientation(torch.full((1, 3, 16, 16), 0.3)) == (0.0, 0.0)


@pytest.mark.parametrize("frequency", [0.05, 0.1, 0.17, 0.3])
def test_dominant_frequency_of_a_grating(frequency):
    for degrees in (0.0, 30.0, 90.0):
        found = texture.dominant_frequency(texture.grating((96, 128), degrees, frequency))
        assert found == pytest.approx(frequency, rel=0.06, abs=0.004)


def test_twice_the_period_halves_the_frequency_despite_a_photo_behind():
    photo = data.content_image("coffee", max_side=96)
    photo = torch.nn.functional.interpolate(photo, size=(96, 96), mode="bilinear", align_corners=False)
    fine = 0.5 * photo + 0.5 * texture.grating((96, 96), 10, 0.2)
    coarse = 0.5 * photo + 0.5 * texture.grating((96, 96), 10, 0.1)
    ratio = texture.dominant_frequency(fine) / texture.dominant_frequency(coarse)
    assert 1.8 < ratio < 2.2


def test_warp_style_turns_the_stripes_style_by_the_requested_angle():
    stripes = data.style_image("stripes", 128)
    assert texture.angle_difference(texture.orientation(stripes).degrees, 0.0) < 5
    for degrees in (30.0, 45.0, 90.0):
        turned = texture.orientation(warps.warp_style(stripes, degrees))
        assert texture.angle_difference(turned.degrees, degrees) < 5


def test_radial_spectrum_shape_and_bad_input():
    freqs, power = texture.radial_power_spectrum(torch.rand(1, 3, 40, 50))
    assert freqs.shape == power.shape == (20,)
    assert freqs[0] == pytest.approx(1 / 40) and freqs[-1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="flat"):
        texture.dominant_frequency(torch.full((1, 3, 16, 16), 0.5))
    with pytest.raises(ValueError, match="batch"):
        texture.orientation(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="at least 8"):
        texture.orientation(torch.rand(1, 3, 4, 16))
    with pytest.raises(ValueError, match="frequency"):
        texture.grating((16, 16), 0, 0.7)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: texture.orientation(torch.rand(1, 3, 16, 16), margin="2"), "margin must be a whole number of pixels >= 0, got '2'"),
        (lambda: texture.orientation(torch.full((1, 3, 16, 16), float("nan"))), "image contains NaN or infinite pixels"),
        (lambda: texture.angle_difference("10", 20), r"a must be a number, got '10' \(str\)"),
        (lambda: texture.angle_difference(texture.Orientation(10.0, 0.9), 20), r"a is an Orientation, not an angle; pass its \.degrees"),
        (lambda: texture.angle_difference(10, 20, period=0), "period must be > 0"),
        (lambda: texture.grating(32, 0, 0.1), r"size must be \(H, W\), two positive integers, got 32"),
        (lambda: texture.grating((16, 16), "45", 0.1), r"degrees must be a number, got '45' \(str\)"),
        (lambda: texture.grating((16, 16), 0, "0.1"), r"frequency must be a number, got '0\.1' \(str\)"),
    ],
)
def test_bad_arguments_get_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
