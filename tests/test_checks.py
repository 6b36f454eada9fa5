"""The shared argument checks (each module's own tests assert the messages they produce)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import checks


def test_is_whole_takes_any_integer_but_not_a_bool():
    assert all(checks.is_whole(v) for v in (3, np.int64(3), -1))
    assert not any(checks.is_whole(v) for v in (True, 3.0, "3", torch.tensor(3)))


def test_number_and_size():
    assert checks.number("angle", np.float32(2.5)) == 2.5
    with pytest.raises(ValueError, match=r"angle must be a number, got '45' \(str\)"):
        checks.number("angle", "45")
    with pytest.raises(ValueError, match="angle must be a finite number"):
        checks.number("angle", float("inf"))
    checks.check_size(torch.Size([4, 5]))
    with pytest.raises(ValueError, match=r"grid must be \(H, W\), two positive integers, got \(4, 0\); e\.g\. \(8, 8\)"):
        checks.check_size((4, 0), "grid", example="(8, 8)")


def test_a_size_of_more_pixels_than_an_image_can_have_is_refused_before_allocation():
    for fine in ((8000, 8000), (4096, 4096), (8192, 8192), (1, 2**26), (2160, 3840)):  # photos, grids, 4K
        checks.check_size(fine)
    with pytest.raises(ValueError, match=r"size \(100000, 100000\) is 10,000,000,000 pixels, more than the "
                                         r"67,108,864 \(8192 x 8192\) the course makes in one image; pick a smaller size"):
        checks.check_size((100000, 100000))
    with pytest.raises(ValueError, match=r"grid \(8193, 8192\) is 67,117,056 pixels.*pick a smaller grid, e\.g\. \(8, 8\)"):
        checks.check_size((np.int64(8193), 8192), "grid", example="(8, 8)")
    with pytest.raises(ValueError, match="pixels, more than"):
        checks.check_size((np.int64(2**40), np.int64(2**40)))  # their product wraps around in int64


def test_floats_reads_a_list_of_numbers_and_nothing_else():
    assert checks.floats((0.5, 1)) == [0.5, 1.0]
    assert checks.floats(torch.tensor([0.25, 1.0])) == [0.25, 1.0]
    assert checks.floats({"a": 1.0}.values()) == [1.0]
    for bad in (1.0, None, "1", b"1", {"a": 1.0}, ["a"], [None], [[1.0]], [torch.tensor([1.0, 2.0])]):
        assert checks.floats(bad) is None, bad


def test_refused_call_gives_the_signature_that_cannot_take_the_arguments():
    assert str(checks.refused_call(lambda a, b: None, 0, None, {})) == "(a, b)"
    assert checks.refused_call(lambda step, image, losses: None, 0, None, {}) is None
    assert checks.refused_call(lambda *a: None) is None
    assert checks.refused_call(print, 1, 2) is None  # a signature that can be read and takes anything
