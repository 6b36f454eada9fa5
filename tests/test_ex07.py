"""Exercise checkers of notebook 07: right answers pass, templates are "not yet", wrong
answers fail with a hint."""

from __future__ import annotations

import math

import pytest

from course_utils.exercises import ex07


def _template(*args):
    raise NotImplementedError


def test_conv_flops_checker():
    assert ex07.check_conv_flops(ex07.reference_conv_flops).passed
    assert not ex07.check_conv_flops(None).passed
    assert not ex07.check_conv_flops(_template).passed
    assert not ex07.check_conv_flops(lambda *args: None).passed

    def macs(c_in, c_out, k, h, w):  # multiply-adds, not FLOPs
        return c_in * c_out * k * k * h * w

    def k_not_squared(c_in, c_out, k, h, w):
        return 2 * c_in * c_out * k * h * w

    def no_c_in(c_in, c_out, k, h, w):
        return 2 * c_out * k * k * h * w

    with pytest.raises(AssertionError, match="2 FLOPs"):
        ex07.check_conv_flops(macs)
    with pytest.raises(AssertionError, match="k²"):
        ex07.check_conv_flops(k_not_squared)
    with pytest.raises(AssertionError, match="FlopCounterMode counts"):
        ex07.check_conv_flops(no_c_in)


def test_largest_side_checker():
    assert ex07.check_largest_side(ex07.reference_largest_side).passed
    assert not ex07.check_largest_side(None).passed
    assert not ex07.check_largest_side(_template).passed

    def written_out(a, c, seconds, steps):
        per_step = seconds / steps - a
        return math.floor(math.sqrt(per_step / c)) if per_step > 0 else 0

    assert ex07.check_largest_side(written_out).passed

    def no_overhead(a, c, seconds, steps):
        return int(math.sqrt(seconds / steps / c))

    def whole_budget_per_step(a, c, seconds, steps):
        return int(math.sqrt(max(seconds - a, 0) / c))

    def a_float(a, c, seconds, steps):
        per_step = seconds / steps - a
        return math.sqrt(per_step / c) if per_step > 0 else 0.0

    def negative_budget_crashes(a, c, seconds, steps):
        return math.floor(math.sqrt(seconds / steps - a) / math.sqrt(c))

    with pytest.raises(AssertionError, match="overhead"):
        ex07.check_largest_side(no_overhead)
    with pytest.raises(AssertionError, match="divide it by steps"):
        ex07.check_largest_side(whole_budget_per_step)
    with pytest.raises(AssertionError, match="int"):
        ex07.check_largest_side(a_float)
    with pytest.raises(ValueError):  # math domain error: a learner's crash is not hidden
        ex07.check_largest_side(negative_budget_crashes)
