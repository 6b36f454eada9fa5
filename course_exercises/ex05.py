"""Checkers for notebook 05 (spatial transforms inside style transfer); the references are
:func:`course_utils.warps.warp_style` and :func:`course_utils.warps.smoothness`."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_utils import geometry, warps
from course_utils.i18n import N_
from course_utils.i18n import localised as _

from ._core import CheckResult, answered, check, same


def _style_case(seed: int) -> torch.Tensor:
    """A non-square test style (so a missing aspect correction shows) with an oriented pattern."""
    g = torch.Generator().manual_seed(seed)
    h, w = 24, 36
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    stripes = 0.5 + 0.4 * torch.sin(0.9 * y + 0.2 * x)
    blobs = F.interpolate(torch.rand(1, 3, 4, 6, generator=g), size=(h, w), mode="bilinear", align_corners=False)
    return (0.6 * stripes + 0.4 * blobs).clamp(0, 1)


def _turned(style: torch.Tensor, degrees: float, zoom: float, aspect: float, padding: str = "reflection"):
    """The style turned and zoomed with this aspect and padding (the wrong answers' pictures)."""
    theta = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees, aspect=aspect))
    return geometry.warp(style, theta, padding_mode=padding)


def check_style_warp(fn: Callable[[torch.Tensor, float, float], torch.Tensor] | None) -> CheckResult:
    """Exercise 1: ``fn(style, degrees, zoom)`` turns the style ``degrees`` anticlockwise and
    magnifies it ``zoom`` times about its centre, with reflection padding."""

    def test(f):
        for seed, (degrees, zoom) in enumerate(((30.0, 1.0), (-60.0, 1.5), (90.0, 0.7), (20.0, 2.0))):
            style = _style_case(seed)
            got = answered(f(style, degrees, zoom))
            assert isinstance(got, torch.Tensor) and got.shape == style.shape, _(
                "return the warped style with the style's shape {shape}").format(shape=tuple(style.shape))
            if same(got, warps.warp_style(style, degrees, zoom)):
                continue
            h, w = style.shape[-2:]
            if same(got, warps.warp_style(style, -degrees, zoom)):
                raise AssertionError(_("the style turns clockwise: rotation_theta(degrees) already gives "
                                       "the anticlockwise turn you see, do not negate the angle"))
            if same(got, warps.warp_style(style, degrees, 1.0 / zoom)):
                raise AssertionError(_("the zoom is inverted: scale_theta(zoom) already holds 1/zoom "
                                       "(θ maps output to input), pass zoom itself"))
            if h != w and same(got, _turned(style, degrees, zoom, h / w)):
                raise AssertionError(_("the aspect is width / height (w / h), not height / width"))
            if same(got, _turned(style, degrees, zoom, 1.0)):
                raise AssertionError(_("the turn shears a non-square style: pass aspect=width / height "
                                       "to rotation_theta"))
            for padding in ("zeros", "border"):
                if same(got, _turned(style, degrees, zoom, w / h, padding)):
                    what = _("black corners") if padding == "zeros" else _("smeared edges")
                    raise AssertionError(_("padding_mode='{padding}' puts {what} into the Gram statistics: "
                                           "use padding_mode='reflection'").format(padding=padding, what=what))
            raise AssertionError(_(
                "for degrees={degrees}, zoom={zoom} the result differs from the expected warp; hint: "
                "theta = geometry.compose(geometry.scale_theta(zoom), geometry.rotation_theta(degrees, "
                "aspect=w / h)), then geometry.warp(style, theta, padding_mode='reflection')").format(
                    degrees=degrees, zoom=zoom))

    return check(N_("Exercise 1 (turn and zoom the style)"), fn, test,
                 N_("θ turns and zooms the style about its centre, with no empty corners."))


def check_smoothness(fn: Callable[[torch.Tensor], torch.Tensor] | None) -> CheckResult:
    """Exercise 2: ``fn(control)`` for control displacements ``(B, 2, gh, gw)`` returns the
    mean squared difference between neighbouring control points along x plus along y."""

    def test(f):
        g = torch.Generator().manual_seed(5)
        control = torch.randn(1, 2, 5, 7, generator=g) * 0.1
        got = answered(f(control))
        assert isinstance(got, torch.Tensor) and got.dim() == 0, _("return a scalar tensor (0-dim)")
        translation = torch.full((1, 2, 5, 7), 0.3)
        assert abs(f(translation).item()) < 1e-9, _(
            "a translation (every control point moved by the same amount) is perfectly smooth and must "
            "cost 0: penalise differences between neighbours, not the displacements themselves")
        rows_differ = torch.zeros(1, 2, 5, 7)
        rows_differ[:, :, 2] = 0.2  # one row moved: only differences along y see it
        cols_differ = torch.zeros(1, 2, 5, 7)
        cols_differ[..., 3] = 0.2  # one column moved: only differences along x see it
        assert f(rows_differ).item() > 0, _("moving one row of control points costs nothing: add the "
                                            "differences along y (between rows, dim -2)")
        assert f(cols_differ).item() > 0, _("moving one column of control points costs nothing: add the "
                                            "differences along x (between columns, dim -1)")
        want = warps.smoothness(control)
        dx = control[..., :, 1:] - control[..., :, :-1]
        dy = control[..., 1:, :] - control[..., :-1, :]
        if same(got, dx.pow(2).sum() + dy.pow(2).sum(), atol=1e-8, rtol=1e-4):
            raise AssertionError(_("use the mean, not the sum: then the weight means the same for any grid size"))
        if same(got, dx.abs().mean() + dy.abs().mean(), atol=1e-8, rtol=1e-4):
            raise AssertionError(_("square the differences (.pow(2)): a smooth penalty with a gradient that "
                                   "shrinks as the field straightens"))
        assert same(got, want, atol=1e-10, rtol=1e-4), _(
            "expected {want:.6g}, got {got:.6g}; hint: dx = control[..., :, 1:] - control[..., :, :-1], "
            "dy likewise along dim -2, then dx.pow(2).mean() + dy.pow(2).mean()").format(
                want=want.item(), got=got.item())
        pair = torch.cat([control, torch.randn(1, 2, 5, 7, generator=g)])  # two different fields
        assert same(f(pair), warps.smoothness(pair), atol=1e-10, rtol=1e-4), _(
            "for a batch of two fields the answer is wrong: average over every sample of the batch, "
            "not only control[0]")
        c = control.clone().requires_grad_(True)
        out = f(c)
        assert out.requires_grad, _("no gradient reaches the control points: do not detach or call .item()")
        out.backward()
        assert c.grad is not None and c.grad.abs().sum() > 0, _("no gradient reached the control points")

    return check(N_("Exercise 2 (the smoothness term)"), fn, test,
                 N_("neighbours along x and y, squared and averaged: 0 for a translation, differentiable."))

