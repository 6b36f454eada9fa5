"""course_utils.memory: the estimate of a style-transfer run's memory, and the refusal of a
run that cannot fit, in one sentence, before anything is allocated."""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path

import pytest

from course_utils import memory, transfer

GB = 2**30


def test_the_estimate_grows_as_the_sizes_and_settings_ask():
    small = memory.estimate((128, 128), (128, 128))
    double = memory.estimate((256, 256), (256, 256))
    # feature maps and optimiser vectors grow with the pixels: twice the side, four times
    assert double["features"] == pytest.approx(4 * small["features"], rel=1e-3)
    assert double["optimiser"] == 4 * small["optimiser"] and double["network"] == small["network"]
    # a deeper layer keeps more maps and more weights
    shallow = memory.estimate((256, 256), (256, 256), deepest_layer="relu2_1")
    assert shallow["features"] < double["features"] and shallow["network"] < double["network"]
    assert memory.numbers_per_pixel("relu1_1") == 64 + 64 and memory.numbers_per_pixel("relu5_1") == 610
    # L-BFGS keeps history_size pairs of image-sized vectors; Adam two moments
    lbfgs = [memory.estimate((256, 256), (256, 256), history_size=h)["optimiser"] for h in (10, 20)]
    assert lbfgs[1] - lbfgs[0] == 2 * 10 * 3 * 256 * 256 * memory.FLOAT
    assert memory.estimate((256, 256), (256, 256), optimiser="adam")["optimiser"] < lbfgs[0]
    # a batch multiplies what each image needs; a larger style only the style's part
    assert memory.estimate((256, 256), (256, 256), batch=2)["features"] == 2 * double["features"]
    big_style = memory.estimate((256, 256), (2048, 2048))
    assert big_style["style"] == 64 * double["style"] and big_style["total"] > double["total"]


def test_a_huge_size_is_refused_in_one_sentence_naming_every_figure():
    free = 16 * GB
    with pytest.raises(MemoryError) as caught:
        memory.check_fits((20000, 20000), (20000, 20000), free=free)
    message = str(caught.value)
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    match = re.fullmatch(
        r"A style transfer at 20000x20000 px \(style 20000x20000 px\) needs about ([\d,.]+) GB of memory "
        r"but only 16\.0 GB is free; the largest size that fits is about (\d+) px \(size=\d+\), or close other programs\.",
        message,
    )
    assert match, message
    assert float(match.group(1).replace(",", "")) > 1000  # a terabyte
    side = int(match.group(2))
    assert memory.estimate((side, side), (side, side))["total"] <= free < memory.estimate((side + 1, side + 1), (side + 1, side + 1))["total"]


def test_the_issues_two_runs_are_refused_by_the_transfer_settings_before_any_allocation():
    # size=20000 on a 32 px photo; style_scale=1000 at 64 px (style 64x64)
    huge_size = transfer.TransferConfig(size=20000)
    with pytest.raises(MemoryError, match=r"A style transfer at 20000x20000 px .* needs about [\d,.]+ GB"):
        memory.check_transfer((20000, 20000), [(32, 32)], huge_size)
    huge_style = transfer.TransferConfig(size=64, style_scale=1000)
    with pytest.raises(MemoryError, match=r"at 64x64 px \(style 64000x64000 px\) needs about .* lower style_scale"):
        memory.check_transfer((64, 64), [(64, 64)], huge_style)


def test_a_normal_size_passes():
    need = memory.check_fits((256, 256), (256, 256), free=4 * GB)
    assert need == memory.estimate((256, 256), (256, 256))["total"] < GB
    assert memory.check_transfer((64, 64), [(512, 512)], transfer.TransferConfig(size=64)) > 0  # this machine
    with pytest.raises(MemoryError, match="not even 16 px fits"):
        memory.check_fits((256, 256), (256, 256), free=10 * 2**20)


def test_available_memory_is_read_from_the_system():
    free = memory.available_bytes()
    assert free is not None and 0 < free <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert memory.free_bytes() == max(0, free - memory.HEADROOM) or abs(memory.free_bytes() - (free - memory.HEADROOM)) < GB


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measuring a peak needs Linux's /proc")
def test_the_estimate_covers_a_measured_peak_without_wasting_much():
    bench = runpy.run_path(str(Path(__file__).resolve().parent.parent / "benchmarks" / "memory_peak.py"))
    measured = bench["measure_peak"](192, optimiser="adam")
    estimated = memory.estimate((192, 192), (192, 192), optimiser="adam")
    expected = estimated["total"] - estimated["network"]  # the network was loaded before the peak was reset
    assert 0.6 * expected <= measured <= 1.1 * expected, (measured / 2**20, expected / 2**20)


@pytest.mark.parametrize("call", [
    lambda: memory.estimate((16,), (16, 16)),
    lambda: memory.estimate(None, (16, 16)),
    lambda: memory.check_fits((float("nan"), 16), (16, 16)),
    lambda: memory.estimate((16, 16), ()),
    lambda: memory.largest_fitting_side((0, 0), (16, 16), 10**9),
    lambda: memory.largest_fitting_side("16", (16, 16), 10**9),
])
def test_a_size_that_is_not_height_and_width_is_named(call):
    with pytest.raises(ValueError, match=r"^(out_hw|style_hw) must be \(height, width\) in pixels, two numbers >= 1"):
        call()


def test_no_style_sizes_or_no_free_figure_are_named():
    with pytest.raises(ValueError, match=r"^style_hws is empty: give one \(height, width\) per style image"):
        memory.check_transfer((16, 16), [], transfer.TransferConfig())
    with pytest.raises(ValueError, match=r"^free must be a number of bytes >= 0, got None"):
        memory.largest_fitting_side((4000, 4000), (16, 16), None)
    with pytest.raises(ValueError, match=r"^free must be a number of bytes >= 0, got 'a'"):
        memory.check_fits((4000, 4000), (4000, 4000), free="a")
