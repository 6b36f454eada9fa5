"""Tests for course_utils.digits: determinism, shapes, and that stored parameters are true."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils import digits, geometry


@pytest.mark.parametrize("variant", digits.VARIANT_NAMES)
def test_shapes_ranges_and_labels(variant):
    images, labels, params = digits.make_digits(300, variant, seed=1)
    size = digits.VARIANTS[variant]
    assert images.shape == (300, 1, size, size) and images.dtype == torch.float32
    assert labels.shape == (300,) and labels.dtype == torch.int64
    assert images.min() >= 0 and images.max() <= 1
    assert set(labels.tolist()) == set(range(10))
    for key, value in params.items():
        assert value.shape[0] == 300, key
    # every image holds a digit: some ink, and mostly background
    ink = images.flatten(1).amax(1)
    assert (ink > 0.5).all()
    assert images.mean() < 0.25


@pytest.mark.parametrize("variant", digits.VARIANT_NAMES)
def test_deterministic_by_seed_and_split(variant):
    a = digits.make_digits(64, variant, seed=7)
    b = digits.make_digits(64, variant, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    for key in a.params:
        assert torch.equal(a.params[key], b.params[key]), key
    other_seed = digits.make_digits(64, variant, seed=8)
    test_split = digits.make_digits(64, variant, seed=7, split="test")
    assert not torch.equal(a.images, other_seed.images)
    assert not torch.equal(a.images, test_split.images)


@pytest.mark.parametrize("variant", digits.VARIANT_NAMES)
def test_stored_parameters_reproduce_the_images(variant):
    images, labels, params = digits.make_digits(50, variant, seed=2)
    again = digits.render_digits(labels, params, variant)
    assert torch.equal(again, images)
    # and they matter: another angle/homography/label gives other pixels
    changed = dict(params)
    if "theta" in params:
        changed["theta"] = params["theta"].flip(0)
    else:
        changed["homography"] = params["homography"].flip(0)
    assert not torch.allclose(digits.render_digits(labels, changed, variant), images)


def _centre(glyphs: torch.Tensor, size: int) -> torch.Tensor:
    lo = (size - glyphs.shape[-1]) // 2
    return F.pad(glyphs, (lo, size - glyphs.shape[-1] - lo, lo, size - glyphs.shape[-1] - lo))


def test_rts_parameters_are_the_true_motion():
    """Rebuild each RTS image with geometry's own θ builders from the stored angle, scale
    and translation: the stored numbers, not just the stored θ, describe the distortion."""
    images, labels, params = digits.make_digits(12, "RTS", seed=4)
    clean = _centre(digits.render_glyphs(labels, params), 42)
    for i in range(12):
        theta = geometry.theta_from_params(
            angle=params["angle"][i].item(), scale=params["scale"][i].item(),
            tx=params["tx"][i].item(), ty=params["ty"][i].item(),
        )
        rebuilt = geometry.warp(clean[i : i + 1], theta).clamp(0, 1)
        torch.testing.assert_close(rebuilt, images[i : i + 1], atol=1e-4, rtol=0)
    assert params["angle"].abs().max() <= 45 and params["scale"].min() >= 0.7
    assert params["scale"].max() <= 1.2


def test_r_variant_angles_span_plus_minus_90_and_undo():
    images, labels, params = digits.make_digits(400, "R", seed=0)
    assert params["angle"].min() < -80 and params["angle"].max() > 80
    # Rotating back by the stored angle recovers the clean glyph (up to the corners lost).
    clean = digits.render_glyphs(labels[:8], {k: v[:8] for k, v in params.items()})
    for i in range(8):
        back = geometry.warp(images[i : i + 1], geometry.rotation_theta(-params["angle"][i].item()))
        wrong = geometry.warp(images[i : i + 1], geometry.rotation_theta(params["angle"][i].item()))
        err_back = (back - clean[i : i + 1]).abs().mean()
        err_wrong = (wrong - clean[i : i + 1]).abs().mean()
        assert err_back < 0.03
        if abs(params["angle"][i]) > 20:
            assert err_back < err_wrong


def test_batched_theta_matches_geometry_compose():
    angle, scale, tx, ty, shear, aspect = 30.0, 1.3, 0.1, -0.2, 0.2, 1.1
    ours = digits.rst_thetas(*(torch.tensor([v]) for v in (angle, scale, tx, ty, shear, aspect)))
    expected = geometry.compose(
        geometry.scale_theta(scale * aspect, scale), geometry.shear_theta(shear),
        geometry.rotation_theta(angle), geometry.translation_theta(tx, ty),
    )
    torch.testing.assert_close(ours[0], expected)


def test_homography_sends_corners_home():
    _, _, params = digits.make_digits(5, "P", seed=0)
    h, corners = params["homography"], params["corners"]
    src = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    mapped = torch.einsum("nij,nkj->nki", h, torch.cat([corners, torch.ones(5, 4, 1)], -1))
    torch.testing.assert_close(mapped[..., :2] / mapped[..., 2:], src.expand(5, 4, 2), atol=1e-4, rtol=0)
    # The identity homography's grid is the identity θ's grid.
    grid = digits.projective_grid(torch.eye(3).unsqueeze(0), 28)
    torch.testing.assert_close(grid, geometry.sampling_grid(geometry.identity_theta(), (28, 28)))


def test_clutter_is_added_where_stored():
    images, labels, params = digits.make_digits(20, "cluttered", seed=0)
    plain = digits.render_digits(labels, {k: v for k, v in params.items()}, "cluttered")
    assert torch.equal(plain, images)
    no_clutter = dict(params)
    no_clutter["clutter"] = params["clutter"].clone()
    no_clutter["clutter"][:, :, 3:] = 0  # all fragments in the top-left corner instead
    moved = digits.render_digits(labels, no_clutter, "cluttered")
    assert not torch.equal(moved, images)
    # each fragment is pasted by maximum at its stored destination
    i, (d, sy, sx, dy, dx) = 0, params["clutter"][0, 0].tolist()
    clean = digits.render_glyphs(torch.tensor([d]), {
        "font_size": torch.tensor([22]), "stroke": torch.tensor([1]), "jitter": torch.zeros(1, 2),
        "slant": torch.zeros(1), "width": torch.ones(1)})
    side = digits.CLUTTER_SIDE
    patch = clean[0, 0, sy : sy + side, sx : sx + side]
    region = images[i, 0, dy : dy + side, dx : dx + side]
    assert (region >= patch - 1e-6).all()


def test_custom_size():
    images, _, _ = digits.make_digits(4, "RTS", size=36)
    assert images.shape == (4, 1, 36, 36)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must"),
        ({"n": 5, "variant": "E"}, "variant"),
        ({"n": 5, "seed": -1}, "seed"),
        ({"n": 5, "split": "valid"}, "split"),
        ({"n": 5, "size": 8}, "size"),
        ({"n": 5, "variant": ["R"]}, "variant must be one of"),  # was: unhashable type: 'list'
        ({"n": 5, "seed": 2**64}, "seed must be a non-negative integer below 2"),  # was: torch's Overflow
        # refused before allocating (was an allocator error or many GB in use)
        ({"n": 10**12}, r"make_digits\(n=1,000,000,000,000\) at 42x42 px is 1,764,000,000,000,000 pixels"),
        ({"n": 100, "size": 100_000}, r"more than the 268,435,456 one call makes .* ask for fewer digits"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits.make_digits(**kwargs)


def test_render_checks_labels_and_params():
    images, labels, params = digits.make_digits(4, "RTS")
    with pytest.raises(ValueError, match=r"params has no 'homography', so it was not made for variant 'P'"):
        digits.render_digits(labels, params, "P")
    with pytest.raises(ValueError, match=r"labels must be a \(N,\) tensor of digits 0…9, got list"):
        digits.render_glyphs(labels.tolist(), params)
    with pytest.raises(ValueError, match="labels must be digits 0…9, got values from 0 to 10"):
        digits.render_glyphs(torch.tensor([0, 1, 2, 10]), params)
    with pytest.raises(ValueError, match=r"params\['font_size'\] has 4 rows for 2 labels; pass the labels and params"):
        digits.render_digits(labels[:2], params, "RTS")
    assert torch.equal(digits.render_digits(labels, params, "RTS"), images)
