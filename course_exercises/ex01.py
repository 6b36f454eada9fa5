"""Checkers for notebook 01 (affine_grid and grid_sample); the references are
:func:`course_utils.geometry.rotation_theta` and :func:`course_utils.geometry.invert`."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_utils import geometry
from course_utils.i18n import N_
from course_utils.i18n import localised as _

from ._core import CheckResult, answered, check, same


def check_rotation_theta(fn: Callable[[float, float], torch.Tensor] | None) -> CheckResult:
    """Exercise 1: ``fn(degrees, aspect)`` returns the θ that rotates the picture
    anticlockwise by ``degrees`` about its centre, correct for the aspect ratio."""

    def test(f):
        for degrees, aspect in ((0, 1.0), (30, 1.0), (90, 1.0), (-45, 2.0), (120, 0.75)):
            got = answered(f(degrees, aspect))
            assert isinstance(got, torch.Tensor), _("return a torch.Tensor")
            assert tuple(got.shape) == (2, 3), _("θ must have shape (2, 3), got {shape}").format(
                shape=tuple(got.shape))
            want = geometry.rotation_theta(degrees, aspect=aspect)
            if aspect != 1 and degrees % 180 and same(got, geometry.rotation_theta(degrees, aspect=1 / aspect)):
                raise AssertionError(_(
                    "the aspect correction is the wrong way round: in row 0 divide -sin by the aspect, "
                    "in row 1 multiply sin by it (x is in units of W/2, y of H/2)"))
            if degrees % 180 and same(got, geometry.invert(want)):
                raise AssertionError(_(
                    "for {degrees}° you rotate the wrong way: remember θ maps output to input").format(
                        degrees=degrees))
            assert same(got, want), _("for {degrees}° and aspect {aspect} expected {want}, got {got}").format(
                degrees=degrees, aspect=aspect, want=want.tolist(), got=got.tolist()) + (
                _(" (did you scale the off-diagonal terms by the aspect?)") if aspect != 1 else "")

    return check(N_("Exercise 1 (rotation θ)"), fn, test,
                 N_("your θ rotates the right way, with the aspect correction."))


def check_invert(fn: Callable[[torch.Tensor], torch.Tensor] | None) -> CheckResult:
    """Exercise 2: ``fn(theta)`` returns the θ of the opposite motion."""

    def test(f):
        gen = torch.Generator().manual_seed(1)
        for _case in range(5):
            theta = geometry.identity_theta() + 0.3 * torch.randn(2, 3, generator=gen)
            got = answered(f(theta))
            assert isinstance(got, torch.Tensor) and tuple(got.shape) == (2, 3), _("return a (2, 3) tensor")
            assert same(geometry.compose(theta, got.float()), geometry.identity_theta()), _(
                "compose(theta, your_inverse) should be the identity [[1, 0, 0], [0, 1, 0]]; "
                "hint: append [0, 0, 1], use torch.linalg.inv, drop the last row")
        r = geometry.rotation_theta(30)
        assert same(f(r), geometry.rotation_theta(-30)), _("inverting +30° must give -30°")

    return check(N_("Exercise 2 (invert θ)"), fn, test, N_("compose(θ, inverse) is the identity."))
