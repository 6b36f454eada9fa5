"""Checkers for notebook 07 (performance and parameters)."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .. import perf
from ._core import CheckResult, NotAttempted, check


def reference_conv_flops(c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> int:
    """FLOPs of one convolution's forward pass (see :func:`course_utils.perf.conv2d_flops`)."""
    return perf.conv2d_flops(c_in, c_out, k, (h_out, w_out))


def _measured_conv_flops(c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> int:
    """What FlopCounterMode counts for a real convolution with that output size."""
    x = torch.zeros(1, c_in, h_out + k - 1, w_out + k - 1)  # no padding: out = in - k + 1
    w = torch.zeros(c_out, c_in, k, k)
    return perf.count_flops(lambda: F.conv2d(x, w)).total


_CONV_CASES = ((64, 128, 3, 16, 12), (3, 64, 3, 32, 32), (16, 4, 1, 9, 7), (2, 5, 5, 6, 11))


def _as_number(value: object) -> object:
    """A NumPy scalar or a one-number tensor as the Python int or float it holds; anything
    else unchanged (for the checkers' own hint)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def check_conv_flops(fn: Callable[[int, int, int, int, int], int] | None) -> CheckResult:
    """Exercise 1: ``fn(c_in, c_out, k, h_out, w_out)`` returns the FLOPs of a k×k
    convolution's forward pass (no bias, batch 1), as PyTorch's FlopCounterMode counts them."""

    def test(f):
        for case in _CONV_CASES:
            got = f(*case)
            if got is None:
                raise NotAttempted
            want = _measured_conv_flops(*case)
            got = _as_number(got)
            assert isinstance(got, (int, float)) and not isinstance(got, bool), (
                f"return a number, got {type(got).__name__}")
            c_in, c_out, k, h, w = case
            if got * 2 == want:
                raise AssertionError("half the count: a multiply-add is 2 FLOPs (a multiply and an add)")
            if k > 1 and got * k == want:
                raise AssertionError("the kernel is k×k: it contributes k², not k")
            if got == want + c_out * h * w:
                raise AssertionError("the exercise's convolution has no bias: leave out the + C_out·H·W")
            if want and got * 1e9 == want:
                raise AssertionError("return FLOPs, not GFLOPs (do not divide by 1e9)")
            assert got == want, (
                f"for c_in={c_in}, c_out={c_out}, k={k}, output {h}×{w}: FlopCounterMode counts "
                f"{want:,}, you return {got:,}; hint: each output value needs c_in·k·k multiply-adds"
            )

    return check("Exercise 1 (FLOPs of a convolution)", fn, test,
                 "2 · C_in · C_out · k² · H_out · W_out, as FlopCounterMode counts.")


def reference_largest_side(a: float, c: float, seconds: float, steps: int) -> int:
    """The largest side ``s`` (px) with ``steps · (a + c·s²) <= seconds``; 0 if none."""
    return perf.largest_side(perf.QuadraticFit(a, 0.0, c, 1.0), seconds, steps)


# (a, c, seconds, steps): none lies near an integer boundary, one leaves no room at all
_BUDGET_CASES = ((0.01, 1e-5, 60.0, 300), (0.002, 4e-6, 10.0, 100), (0.05, 2e-6, 120.0, 200),
                 (0.3, 1e-5, 30.0, 300))


def check_largest_side(fn: Callable[[float, float, float, int], int] | None) -> CheckResult:
    """Exercise 2: ``fn(a, c, seconds, steps)`` returns the largest whole side ``s`` (px) whose
    ``steps`` steps fit in ``seconds`` when one step costs ``a + c·s²`` seconds (0 if none)."""

    def test(f):
        for a, c, seconds, steps in _BUDGET_CASES:
            got = f(a, c, seconds, steps)
            if got is None:
                raise NotAttempted
            want = reference_largest_side(a, c, seconds, steps)
            got = _as_number(got)
            assert isinstance(got, int) and not isinstance(got, bool), (
                f"return a whole number of pixels (an int), got {got!r}; hint: math.floor")
            if want > 0 and got == int((seconds / steps / c) ** 0.5):
                raise AssertionError("you left out the fixed overhead a of every step")
            if want > 0 and got == int(((seconds - a) / c) ** 0.5):
                raise AssertionError("the budget is for all the steps: divide it by steps first")
            assert got == want, (
                f"with a={a}, c={c}, {seconds} s for {steps} steps the answer is {want} px, "
                f"you return {got}; hint: solve steps·(a + c·s²) = seconds for s, round down, "
                "and return 0 if even the overhead does not fit"
            )

    return check("Exercise 2 (the largest side in a time budget)", fn, test,
                 "s = ⌊√((seconds/steps − a) / c)⌋, 0 when the overhead alone is too much.")


__all__ = ["check_conv_flops", "check_largest_side", "reference_conv_flops", "reference_largest_side"]
