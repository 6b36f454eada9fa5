"""course_utils.perf: the measuring instruments of notebook 07, checked against known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import data, images, perf, transfer


# ------------------------------------------------------------------------------ timing
def test_time_call_returns_the_repeats_asked_with_positive_times():
    calls = []
    t = perf.time_call(lambda: calls.append(1), repeats=4, warmup=2)
    assert t.repeats == 4 and len(t.seconds) == 4 and len(calls) == 6
    assert all(s >= 0 for s in t.seconds) and t.median > 0 and t.best <= t.median
    assert "median of 4" in str(t)


def test_time_calls_interleaves_the_functions():
    order = []
    timings = perf.time_calls({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                              repeats=2, warmup=1)
    assert order == ["a", "b"] * 3
    assert list(timings) == ["a", "b"] and all(t.repeats == 2 for t in timings.values())
    with pytest.raises(ValueError, match="at least one function"):
        perf.time_calls({})


def test_time_call_measures_a_known_sleep():
    import time

    t = perf.time_call(lambda: time.sleep(0.02), repeats=3, warmup=0)
    assert 0.02 <= t.best < 0.5


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"repeats": 2.5}, {"warmup": -1}])
def test_time_call_rejects_bad_counts(kwargs):
    with pytest.raises(ValueError, match="must be an integer"):
        perf.time_call(lambda: None, **kwargs)


def test_time_call_rejects_a_non_function():
    with pytest.raises(TypeError, match="function of no arguments"):
        perf.time_call(3)


def test_timing_statistics():
    t = perf.Timing((0.3, 0.1, 0.2, 0.9))
    assert t.median == pytest.approx(0.25) and t.best == 0.1 and t.repeats == 4


def _fake_result(times, scales):
    return transfer.TransferResult(image=torch.zeros(1, 3, 8, 8), config=transfer.TransferConfig(),
                                   history={"time": list(times), "scale": list(scales)})


def test_step_times_are_differences_at_the_last_scale():
    r = _fake_result([1.0, 1.1, 1.2, 2.0, 2.5, 3.0, 3.5], [0, 0, 0, 1, 1, 1, 1])
    t = perf.step_times(r, skip=1)
    assert t.seconds == pytest.approx((0.5, 0.5))
    assert perf.step_times(r, skip=0).repeats == 3


def test_step_times_with_too_few_steps_says_so():
    with pytest.raises(ValueError, match="run more steps"):
        perf.step_times(_fake_result([1.0, 2.0], [0, 0]), skip=1)
    with pytest.raises(ValueError, match="no steps"):
        perf.step_times(_fake_result([], []))


# ------------------------------------------------------------------------------ FLOPs
def test_flops_of_a_known_convolution_match_the_formula():
    x, w = torch.randn(2, 3, 20, 18), torch.randn(8, 3, 5, 5)
    count = perf.count_flops(lambda: F.conv2d(x, w))
    assert count.total == perf.conv2d_flops(3, 8, 5, (16, 14), batch=2) == 2 * 2 * 3 * 8 * 25 * 16 * 14
    assert count.share("aten.convolution") == 1.0


def test_flops_of_a_matrix_product_and_the_backward_pass():
    a = torch.randn(7, 11, requires_grad=True)
    b = torch.randn(11, 5)
    assert perf.count_flops(lambda: a @ b).total == 2 * 7 * 11 * 5
    # backward of a @ b with respect to a only: one more product of the same size
    assert perf.count_flops(lambda: (a @ b).sum().backward()).total == 2 * (2 * 7 * 11 * 5)


def test_conv2d_flops_rejects_nonsense():
    with pytest.raises(ValueError, match="c_in must be an integer >= 1"):
        perf.conv2d_flops(0, 8, 3, (4, 4))
    assert perf.conv2d_flops(1, 1, (3, 1), (2, 2)) == 2 * 3 * 4


# ------------------------------------------------------------------------------ memory
def test_activation_memory_counts_saved_tensors_once_and_excludes_weights():
    w = torch.randn(16, 3, 3, 3)
    x = torch.randn(1, 3, 32, 32, requires_grad=True)

    def fn():
        y = F.conv2d(x, w, padding=1)        # saves x and w
        z = torch.relu(y)                    # saves z (its output)
        (z * z).sum().backward()             # z*z saves z again (same storage: counted once)

    mb = perf.activation_memory_mb(fn, exclude=[w])
    expected = (x.numel() + 16 * 32 * 32) * 4 / 2**20
    assert mb == pytest.approx(expected)
    assert perf.activation_memory_mb(fn) == pytest.approx(expected + w.numel() * 4 / 2**20)


def test_peak_memory_is_none_on_a_cpu():
    assert perf.peak_memory_mb(lambda: torch.ones(10), "cpu") is None


# ------------------------------------------------------------------------------ a step
@pytest.fixture(scope="module")
def pair():
    return data.content_image("chelsea", 32), data.style_image("swirl", 32)


def _layers():
    return {"content_layers": ("relu2_1",), "style_layers": ("relu1_1", "relu2_1")}


def test_step_runs_one_pass_and_scales_with_pixels(pair):
    content, style = pair
    square = images.resize(content, (32, 32))
    small = perf.Step(square, style, **_layers(), weights="random", device="cpu")
    large = perf.Step(square, style, size=64, **_layers(), weights="random", device="cpu")
    assert small.size == (32, 32) and large.size == (64, 64)
    loss = small()
    assert np.isfinite(loss) and small.variable.grad is not None
    f_small, f_large = small.flops(), large.flops()
    assert f_small.share("aten.convolution") > 0.7  # the rest: Gram matrices (aten.bmm)
    # 4x the pixels: 4x the work, and nearly 4x the memory kept for the backward pass (the
    # C×C Gram-sized tensors it also keeps do not grow with the image)
    assert f_large.total / f_small.total == pytest.approx(4, rel=1e-6)
    assert 3.5 < large.activation_mb() / small.activation_mb() <= 4.0
    assert repr(small) == "Step(size=(32, 32), device=cpu, precision=fp32)"


def test_step_matches_the_engine_objective(pair):
    content, style = pair
    step = perf.Step(content, style, size=32, **_layers(), weights="random", device="cpu")
    r = transfer.stylise(content, style, size=32, steps=1, **_layers(), weights="random",
                         device="cpu", progress=False)
    assert step() == pytest.approx(r.history["total"][0], rel=1e-5)


def test_step_in_bf16_is_close_to_fp32(pair):
    content, style = pair
    kw = dict(size=32, **_layers(), weights="random", device="cpu")
    fp32, bf16 = perf.Step(content, style, **kw)(), perf.Step(content, style, precision="bf16", **kw)()
    assert bf16 == pytest.approx(fp32, rel=0.2)


def test_step_rejects_bad_arguments(pair):
    content, style = pair
    with pytest.raises(ValueError, match="precision must be one of"):
        perf.Step(content, style, precision="fp8")
    with pytest.raises(ValueError, match="content must be one RGB image"):
        perf.Step(content[0], style)
    with pytest.raises(TypeError, match="not a TransferConfig setting"):
        perf.Step(content, style, stepz=3)


def test_profile_names_the_convolutions(pair):
    content, style = pair
    step = perf.Step(content, style, size=32, **_layers(), weights="random", device="cpu")
    prof = perf.profile(step, row_limit=8)
    assert len(prof.top) <= 8 and "Name" in prof.table
    assert all(ms >= 0 and 0 <= sh <= 1 for _, ms, sh in prof.top)
    assert prof.share("conv") > 0


# ------------------------------------------------------------------------------ fitting
def test_fit_recovers_known_coefficients():
    sides = [32, 64, 96, 128, 192]
    fit = perf.fit_quadratic(sides, [0.02 + 3e-6 * s * s for s in sides])
    assert fit.a == pytest.approx(0.02) and fit.c == pytest.approx(3e-6) and fit.b == 0
    assert fit.r2 == pytest.approx(1.0)
    assert fit.predict(256) == pytest.approx(0.02 + 3e-6 * 256**2)
    assert fit.predict([0, 10]) == pytest.approx([0.02, 0.02 + 3e-4])
    full = perf.fit_quadratic(sides, [1 + 2 * s + 0.5 * s * s for s in sides], linear_term=True)
    assert (full.a, full.b, full.c) == pytest.approx((1, 2, 0.5))


def test_fit_never_reports_a_negative_overhead_unless_asked():
    sides = [10, 20, 30, 40]
    values = [-0.5 + 0.01 * s * s for s in sides]
    clipped = perf.fit_quadratic(sides, values)
    assert clipped.a == 0 and clipped.c > 0 and 0.9 < clipped.r2 < 1
    free = perf.fit_quadratic(sides, values, nonnegative_overhead=False)
    assert (free.a, free.c) == pytest.approx((-0.5, 0.01)) and free.r2 == pytest.approx(1)


def test_fit_r2_drops_for_data_it_cannot_explain():
    sides = [10, 20, 30, 40]
    assert perf.fit_quadratic(sides, [1.0, 0.0, 1.0, 0.0]).r2 < 0.5


@pytest.mark.parametrize("sides,values,match", [
    ([1, 2], [1, 2], "at least 3 distinct"),
    ([1, 1, 2], [1, 2, 3], "at least 3 distinct"),
    ([1, 2, 3], [1, 2], "equally long"),
    ([1, 2, 3], [1, float("nan"), 3], "finite"),
])
def test_fit_rejects_bad_input(sides, values, match):
    with pytest.raises(ValueError, match=match):
        perf.fit_quadratic(sides, values)


def test_largest_side_inverts_the_fit():
    fit = perf.QuadraticFit(0.01, 0.0, 1e-5, 1.0)
    s = perf.largest_side(fit, 60.0, 300)
    assert 300 * fit.predict(s) <= 60.0 < 300 * fit.predict(s + 1)
    assert perf.largest_side(fit, 1.0, 300) == 0
    with pytest.raises(ValueError, match="without the linear term"):
        perf.largest_side(perf.QuadraticFit(0, 1, 1, 1), 1.0, 1)


# ------------------------------------------------------------------------------ sweep
def test_sweep_runs_one_result_per_value(pair):
    content, style = pair
    out = perf.sweep(content, style, None, "tv_weight", [0.0, 10.0], size=32, steps=2,
                     **_layers(), weights="random", device="cpu")
    assert list(out) == [0.0, 10.0]
    assert all(r.steps_done == 2 and r.config.tv_weight == k for k, r in out.items())
    with pytest.raises(TypeError, match="did you mean 'tv_weight'"):
        perf.sweep(content, style, None, "tv_wieght", [1.0])
    with pytest.raises(ValueError, match="at least one value"):
        perf.sweep(content, style, None, "tv_weight", [])


def test_measuring_functions_name_what_they_were_given(tmp_path):
    with pytest.raises(TypeError, match=r"time_calls needs a dict \{name: function\}, got list"):
        perf.time_calls([lambda: None])
    for measure in (perf.activation_memory_mb, perf.profile):
        with pytest.raises(TypeError, match=r"got float; pass the function itself, e\.g\. step, not step\(\)"):
            measure(1.5)
    with pytest.raises(ValueError, match="device='gpu' is not a PyTorch device"):
        perf.peak_memory_mb(lambda: None, "gpu")
    with pytest.raises(TypeError, match="step_times needs one TransferResult from stylise, got dict"):
        perf.step_times({"style_weight": None})
    fit = perf.fit_quadratic([1, 2, 3], [1.0, 4.0, 9.0])
    with pytest.raises(ValueError, match="seconds must be a positive time budget, got '60'"):
        perf.largest_side(fit, "60", 10)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_peak_memory_on_a_missing_gpu_says_so():
    with pytest.raises(ValueError, match="no usable CUDA GPU; pass config.device()"):
        perf.peak_memory_mb(lambda: None, "cuda")


def test_sweep_values_must_be_a_list(pair):
    content, style = pair
    with pytest.raises(TypeError, match=r"values must be a list of settings to try, got 1000\.0"):
        perf.sweep(content, style, None, "style_weight", 1e3)


@pytest.mark.parametrize("settings", [{"size": 100000}, {"style_scale": 10000}])
def test_a_step_that_cannot_fit_in_memory_is_refused_before_it_allocates(pair, settings):
    """Step is stylise's step: a size or style_scale that cannot fit (120 GB and 300 GB of
    resized pixels alone) gets stylise's one-sentence MemoryError before any image is made."""
    content, style = pair
    with pytest.raises(MemoryError, match=r"needs about [\d,.]+ GB of memory but only [\d,.]+ (GB|MB) is free"):
        perf.Step(content, style, weights="random", device="cpu", **settings)


def test_a_function_that_needs_arguments_is_named_before_it_is_called():
    for measure in (perf.time_call, perf.count_flops, perf.activation_memory_mb, perf.profile):
        with pytest.raises(TypeError, match=r"needs a function of no arguments, got <lambda>\(x\), which needs "
                                            r"arguments; wrap the call, e\.g\. lambda: f\(x\)"):
            measure(lambda x: 1)
    assert perf.time_call(lambda x=1: x, repeats=1).repeats == 1  # defaults are fine


def test_activation_memory_with_nothing_excluded():
    x = torch.ones(4, 4, requires_grad=True)
    assert perf.activation_memory_mb(lambda: (x * x).sum(), exclude=None) > 0
