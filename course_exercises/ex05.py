"""Checkers for notebook 05 (spatial transforms inside style transfer)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_utils import geometry, warps

from ._core import CheckResult, NotAttempted, check


def _style_case(seed: int) -> torch.Tensor:
    """A non-square test style (so a missing aspect correction shows) with an oriented pattern."""
    g = torch.Generator().manual_seed(seed)
    h, w = 24, 36
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    stripes = 0.5 + 0.4 * torch.sin(0.9 * y + 0.2 * x)
    blobs = F.interpolate(torch.rand(1, 3, 4, 6, generator=g), size=(h, w), mode="bilinear", align_corners=False)
    return (0.6 * stripes + 0.4 * blobs).clamp(0, 1)


def check_style_warp(fn: Callable[[torch.Tensor, float, float], torch.Tensor] | None) -> CheckResult:
    """Exercise 1: ``fn(style, degrees, zoom)`` turns the style ``degrees`` anticlockwise and
    magnifies it ``zoom`` times about its centre, with reflection padding: the same picture
    as :func:`course_utils.warps.warp_style`, the reference."""

    def same(a: torch.Tensor, b: torch.Tensor) -> bool:
        return a.shape == b.shape and torch.allclose(a, b, atol=1e-4)

    def test(f):
        for seed, (degrees, zoom) in enumerate(((30.0, 1.0), (-60.0, 1.5), (90.0, 0.7), (20.0, 2.0))):
            style = _style_case(seed)
            got = f(style, degrees, zoom)
            if got is None:
                raise NotAttempted
            assert isinstance(got, torch.Tensor) and got.shape == style.shape, (
                f"return the warped style with the style's shape {tuple(style.shape)}")
            got = got.float()  # a float64 answer is as right as a float32 one
            want = warps.warp_style(style, degrees, zoom)  # the package function is the answer
            if same(got, want):
                continue
            h, w = style.shape[-2:]
            if same(got, warps.warp_style(style, -degrees, zoom)):
                raise AssertionError("the style turns clockwise: rotation_theta(degrees) already gives the "
                                     "anticlockwise turn you see, do not negate the angle")
            if same(got, warps.warp_style(style, degrees, 1.0 / zoom)):
                raise AssertionError("the zoom is inverted: scale_theta(zoom) already holds 1/zoom "
                                     "(θ maps output to input), pass zoom itself")
            upside = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees, aspect=h / w))
            if h != w and same(got, geometry.warp(style, upside, padding_mode="reflection")):
                raise AssertionError("the aspect is width / height (w / h), not height / width")
            no_aspect = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees))
            if same(got, geometry.warp(style, no_aspect, padding_mode="reflection")):
                raise AssertionError("the turn shears a non-square style: pass aspect=width / height "
                                     "to rotation_theta")
            theta = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees, aspect=w / h))
            for padding in ("zeros", "border"):
                if same(got, geometry.warp(style, theta, padding_mode=padding)):
                    raise AssertionError(f"padding_mode='{padding}' puts "
                                         f"{'black corners' if padding == 'zeros' else 'smeared edges'} "
                                         "into the Gram statistics: use padding_mode='reflection'")
            raise AssertionError(
                f"for degrees={degrees}, zoom={zoom} the result differs from the expected warp; hint: "
                "theta = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees, "
                "aspect=w / h)), then geometry.warp(style, theta, padding_mode='reflection')"
            )

    return check("Exercise 1 (turn and zoom the style)", fn, test,
                 "θ turns and zooms the style about its centre, with no empty corners.")


def check_smoothness(fn: Callable[[torch.Tensor], torch.Tensor] | None) -> CheckResult:
    """Exercise 2: ``fn(control)`` for control displacements ``(B, 2, gh, gw)`` returns the
    mean squared difference between neighbouring control points along x plus along y."""

    def test(f):
        g = torch.Generator().manual_seed(5)
        control = torch.randn(1, 2, 5, 7, generator=g) * 0.1
        got = f(control)
        if got is None:
            raise NotAttempted
        assert isinstance(got, torch.Tensor) and got.dim() == 0, "return a scalar tensor (0-dim)"
        got = got.float()  # a float64 answer is as right as a float32 one
        translation = torch.full((1, 2, 5, 7), 0.3)
        assert abs(f(translation).item()) < 1e-9, (
            "a translation (every control point moved by the same amount) is perfectly smooth and must "
            "cost 0: penalise differences between neighbours, not the displacements themselves")
        rows_differ = torch.zeros(1, 2, 5, 7)
        rows_differ[:, :, 2] = 0.2  # one row moved: only differences along y see it
        cols_differ = torch.zeros(1, 2, 5, 7)
        cols_differ[..., 3] = 0.2  # one column moved: only differences along x see it
        assert f(rows_differ).item() > 0, ("moving one row of control points costs nothing: add the "
                                           "differences along y (between rows, dim -2)")
        assert f(cols_differ).item() > 0, ("moving one column of control points costs nothing: add the "
                                           "differences along x (between columns, dim -1)")
        want = warps.smoothness(control)
        dx = control[..., :, 1:] - control[..., :, :-1]
        dy = control[..., 1:, :] - control[..., :-1, :]
        if torch.isclose(got, dx.pow(2).sum() + dy.pow(2).sum(), rtol=1e-4):
            raise AssertionError("use the mean, not the sum: then the weight means the same for any grid size")
        if torch.isclose(got, dx.abs().mean() + dy.abs().mean(), rtol=1e-4):
            raise AssertionError("square the differences (.pow(2)): a smooth penalty with a gradient that "
                                 "shrinks as the field straightens")
        assert torch.isclose(got, want, rtol=1e-4, atol=1e-10), (
            f"expected {want.item():.6g}, got {got.item():.6g}; hint: dx = control[..., :, 1:] - "
            "control[..., :, :-1], dy likewise along dim -2, then dx.pow(2).mean() + dy.pow(2).mean()")
        pair = torch.cat([control, torch.randn(1, 2, 5, 7, generator=g)])  # two different fields
        assert torch.isclose(f(pair).float(), warps.smoothness(pair), rtol=1e-4, atol=1e-10), (
            "for a batch of two fields the answer is wrong: average over every sample of the batch, "
            "not only control[0]")
        c = control.clone().requires_grad_(True)
        out = f(c)
        assert out.requires_grad, "no gradient reaches the control points: do not detach or call .item()"
        out.backward()
        assert c.grad is not None and c.grad.abs().sum() > 0, "no gradient reached the control points"

    return check("Exercise 2 (the smoothness term)", fn, test,
                 "neighbours along x and y, squared and averaged: 0 for a translation, differentiable.")


__all__ = ["check_smoothness", "check_style_warp"]
