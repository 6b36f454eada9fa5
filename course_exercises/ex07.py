"""Checkers for notebook 07 (performance and parameters); the references are
:func:`course_utils.perf.conv2d_flops` and :func:`course_utils.perf.largest_side`."""

from __future__ import annotations

from collections.abc import Callable

from course_utils import perf
from course_utils.i18n import N_
from course_utils.i18n import localised as _

from ._core import CheckResult, answered, as_number, check

# (c_in, c_out, k, (h_out, w_out)): a VGG-like layer, VGG19's first layer, a 1×1 and a 5×5
_CONV_CASES = ((64, 128, 3, (16, 12)), (3, 64, 3, (32, 32)), (16, 4, 1, (9, 7)), (2, 5, 5, (6, 11)))


def check_conv_flops(fn: Callable[[int, int, int, tuple[int, int]], int] | None) -> CheckResult:
    """Exercise 1: ``fn(c_in, c_out, k, (h_out, w_out))`` returns the FLOPs of a k×k
    convolution's forward pass (no bias, batch 1), as PyTorch's FlopCounterMode counts them."""

    def test(f):
        for c_in, c_out, k, out_hw in _CONV_CASES:
            got = as_number(answered(f(c_in, c_out, k, out_hw)))
            want = perf.conv2d_flops(c_in, c_out, k, out_hw)
            assert isinstance(got, (int, float)) and not isinstance(got, bool), _(
                "return a number, got {kind}").format(kind=type(got).__name__)
            h, w = out_hw
            if got * 2 == want:
                raise AssertionError(_("half the count: a multiply-add is 2 FLOPs (a multiply and an add)"))
            if k > 1 and got * k == want:
                raise AssertionError(_("the kernel is k×k: it contributes k², not k"))
            if got == want + c_out * h * w:
                raise AssertionError(_("the exercise's convolution has no bias: leave out the + C_out·H·W"))
            if want and got * 1e9 == want:
                raise AssertionError(_("return FLOPs, not GFLOPs (do not divide by 1e9)"))
            assert got == want, _(
                "for c_in={c_in}, c_out={c_out}, k={k}, output {h}×{w}: FlopCounterMode counts {want:,}, "
                "you return {got:,}; hint: each output value needs c_in·k·k multiply-adds").format(
                    c_in=c_in, c_out=c_out, k=k, h=h, w=w, want=want, got=got)

    return check(N_("Exercise 1 (FLOPs of a convolution)"), fn, test,
                 N_("2 · C_in · C_out · k² · H_out · W_out, as FlopCounterMode counts."))


# (a, c, seconds, steps): none lies near an integer boundary, one leaves no room at all
_BUDGET_CASES = ((0.01, 1e-5, 60.0, 300), (0.002, 4e-6, 10.0, 100), (0.05, 2e-6, 120.0, 200),
                 (0.3, 1e-5, 30.0, 300))


def check_largest_side(fn: Callable[[perf.QuadraticFit, float, int], int] | None) -> CheckResult:
    """Exercise 2: ``fn(fit, seconds, steps)`` returns the largest whole side ``s`` (px) whose
    ``steps`` steps fit in ``seconds`` when one step costs ``fit.a + fit.c·s²`` seconds (0 if none)."""

    def test(f):
        for a, c, seconds, steps in _BUDGET_CASES:
            fit = perf.QuadraticFit(a, 0.0, c, 1.0)
            got = as_number(answered(f(fit, seconds, steps)))
            want = perf.largest_side(fit, seconds, steps)
            assert isinstance(got, int) and not isinstance(got, bool), _(
                "return a whole number of pixels (an int), got {got!r}; hint: math.floor").format(got=got)
            if want > 0 and got == int((seconds / steps / c) ** 0.5):
                raise AssertionError(_("you left out the fixed overhead fit.a of every step"))
            if want > 0 and got == int(((seconds - a) / c) ** 0.5):
                raise AssertionError(_("the budget is for all the steps: divide it by steps first"))
            assert got == want, _(
                "with fit.a={a}, fit.c={c}, {seconds} s for {steps} steps the answer is {want} px, you "
                "return {got}; hint: solve steps·(a + c·s²) = seconds for s, round down, and return 0 if "
                "even the overhead does not fit").format(
                    a=a, c=c, seconds=seconds, steps=steps, want=want, got=got)

    return check(N_("Exercise 2 (the largest side in a time budget)"), fn, test,
                 N_("s = ⌊√((seconds/steps − a) / c)⌋, 0 when the overhead alone is too much."))

