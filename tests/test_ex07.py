"""Exercise checkers of notebook 07: the course's own functions pass, templates are "not
yet", wrong answers fail with a hint."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_exercises import ex07
from course_utils import perf


def _template(*args):
    raise NotImplementedError


@pytest.mark.parametrize("c_in, c_out, k, out_hw", [(64, 128, 3, (16, 12)), (3, 64, 3, (32, 32)),
                                                    (16, 4, 1, (9, 7)), (2, 5, 5, (6, 11))])
def test_the_checkers_reference_is_what_pytorch_counts(c_in, c_out, k, out_hw):
    """The checker's reference, perf.conv2d_flops, is what FlopCounterMode counts for a real
    convolution of that output size (what the exercise promises)."""
    h, w = out_hw
    x = torch.zeros(1, c_in, h + k - 1, w + k - 1)  # no padding: out = in - k + 1
    weight = torch.zeros(c_out, c_in, k, k)
    assert perf.count_flops(lambda: F.conv2d(x, weight)).total == perf.conv2d_flops(c_in, c_out, k, out_hw)


def test_conv_flops_checker():
    assert ex07.check_conv_flops(perf.conv2d_flops).passed
    assert not ex07.check_conv_flops(None).passed
    assert not ex07.check_conv_flops(_template).passed
    assert not ex07.check_conv_flops(lambda *args: None).passed

    def written_out(c_in, c_out, k, out_hw):
        h_out, w_out = out_hw
        return 2 * c_in * c_out * k * k * h_out * w_out

    assert ex07.check_conv_flops(written_out).passed

    def macs(c_in, c_out, k, out_hw):  # multiply-adds, not FLOPs
        return c_in * c_out * k * k * out_hw[0] * out_hw[1]

    def k_not_squared(c_in, c_out, k, out_hw):
        return 2 * c_in * c_out * k * out_hw[0] * out_hw[1]

    def no_c_in(c_in, c_out, k, out_hw):
        return 2 * c_out * k * k * out_hw[0] * out_hw[1]

    with pytest.raises(AssertionError, match="2 FLOPs"):
        ex07.check_conv_flops(macs)
    with pytest.raises(AssertionError, match="k²"):
        ex07.check_conv_flops(k_not_squared)
    with pytest.raises(AssertionError, match="FlopCounterMode counts"):
        ex07.check_conv_flops(no_c_in)


def test_largest_side_checker():
    assert ex07.check_largest_side(perf.largest_side).passed
    assert not ex07.check_largest_side(None).passed
    assert not ex07.check_largest_side(_template).passed

    def written_out(fit, seconds, steps):
        per_step = seconds / steps - fit.a
        return math.floor(math.sqrt(per_step / fit.c)) if per_step > 0 else 0

    assert ex07.check_largest_side(written_out).passed

    def no_overhead(fit, seconds, steps):
        return int(math.sqrt(seconds / steps / fit.c))

    def whole_budget_per_step(fit, seconds, steps):
        return int(math.sqrt(max(seconds - fit.a, 0) / fit.c))

    def a_float(fit, seconds, steps):
        per_step = seconds / steps - fit.a
        return math.sqrt(per_step / fit.c) if per_step > 0 else 0.0

    def negative_budget_crashes(fit, seconds, steps):
        return math.floor(math.sqrt(seconds / steps - fit.a) / math.sqrt(fit.c))

    with pytest.raises(AssertionError, match="overhead"):
        ex07.check_largest_side(no_overhead)
    with pytest.raises(AssertionError, match="divide it by steps"):
        ex07.check_largest_side(whole_budget_per_step)
    with pytest.raises(AssertionError, match="int"):
        ex07.check_largest_side(a_float)
    with pytest.raises(ValueError):  # math domain error: a learner's crash is not hidden
        ex07.check_largest_side(negative_budget_crashes)
