"""The style-transfer engine: loss terms by hand, sizes, blends, colour, stopping, seeds.

Tiny images, few steps and a shallow layer set keep every test fast; the network is the
seeded offline fallback (``weights="random"``), so nothing is downloaded.
"""

from __future__ import annotations

import numpy
import pytest
import torch
from tiny_images import FAST_SETTINGS
from tiny_images import smooth_image as _img

from course_utils import colour, loop, objective, transfer

FAST = dict(FAST_SETTINGS, steps=6)


@pytest.fixture(scope="module")
def content():
    return _img(0, 24, 32)


@pytest.fixture(scope="module")
def style():
    return _img(1, 40, 28)  # another size and aspect ratio


# ----------------------------------------------------------------- the loss terms by hand
class _PixelsAsFeatures(torch.nn.Module):
    """A 'network' whose only layer is the image itself, so every term can be computed
    by hand."""

    def forward(self, x):
        return {"relu1_1": x}


def _hand_gram(img):
    c, h, w = img.shape[1:]
    f = img[0].reshape(c, h * w).tolist()
    return [[sum(f[i][p] * f[j][p] for p in range(h * w)) / (h * w) for j in range(c)] for i in range(c)]


def test_each_loss_term_matches_a_hand_computation():
    x = torch.tensor([[[[0.1, 0.4], [0.3, 0.9]], [[0.5, 0.5], [0.2, 0.0]], [[1.0, 0.7], [0.6, 0.8]]]])
    c = torch.tensor([[[[0.2, 0.4], [0.1, 0.9]], [[0.5, 0.3], [0.2, 0.1]], [[0.9, 0.7], [0.6, 0.5]]]])
    s = torch.tensor([[[[0.9, 0.1], [0.0, 0.2]], [[0.3, 0.3], [0.8, 0.6]], [[0.4, 0.2], [0.1, 0.0]]]])
    cfg = transfer.TransferConfig(content_layers=("relu1_1",), style_layers=("relu1_1",),
                                  content_weight=2.0, style_weight=10.0, tv_weight=3.0)
    obj = transfer.Objective(_PixelsAsFeatures(), c, [s], [1.0], cfg)
    total, terms = obj(x)

    xl, cl = x.flatten().tolist(), c.flatten().tolist()
    content = sum((a - b) ** 2 for a, b in zip(xl, cl, strict=True)) / sum(b * b for b in cl)
    gx, gs = _hand_gram(x), _hand_gram(s)
    style = sum((gx[i][j] - gs[i][j]) ** 2 for i in range(3) for j in range(3)) / sum(
        gs[i][j] ** 2 for i in range(3) for j in range(3))
    # TV: mean squared vertical differences (3 channels x 1 x 2) + horizontal (3 x 2 x 1)
    img = x[0].tolist()
    dv = [(img[k][1][j] - img[k][0][j]) ** 2 for k in range(3) for j in range(2)]
    dh = [(img[k][i][1] - img[k][i][0]) ** 2 for k in range(3) for i in range(2)]
    tv = sum(dv) / 6 + sum(dh) / 6

    assert terms["content"].item() == pytest.approx(content, rel=1e-5)
    assert terms["style"].item() == pytest.approx(style, rel=1e-5)
    assert terms["tv"].item() == pytest.approx(tv, rel=1e-5)
    assert terms["range"].item() == 0.0
    assert total.item() == pytest.approx(2.0 * content + 10.0 * style + 3.0 * tv, rel=1e-5)


def test_range_penalty_by_hand_and_only_in_penalty_mode():
    x = torch.full((1, 3, 2, 2), 0.5)
    x[0, 0, 0, 0], x[0, 1, 1, 1] = 1.5, -0.25
    cfg = transfer.TransferConfig(content_layers=("relu1_1",), style_layers=("relu1_1",),
                                  content_weight=0, style_weight=0, tv_weight=0)
    want = (0.5**2 + 0.25**2) / 12
    _, terms = transfer.Objective(_PixelsAsFeatures(), x, [x], [1.0], cfg)(x)
    assert terms["range"].item() == pytest.approx(want)
    total, _ = transfer.Objective(_PixelsAsFeatures(), x, [x], [1.0], cfg.replace(pixel_range="penalty", range_weight=7.0))(x)
    assert total.item() == pytest.approx(7.0 * want)


def test_blended_targets_are_the_weighted_sum_of_grams():
    a, b = _img(3, 4, 4), _img(4, 6, 5)
    cfg = transfer.TransferConfig(content_layers=("relu1_1",), style_layers=("relu1_1",))
    net = _PixelsAsFeatures()
    blend = transfer.Objective(net, a, [a, b], [0.25, 0.75], cfg).style_targets["relu1_1"]
    ga = transfer.Objective(net, a, [a], [1.0], cfg).style_targets["relu1_1"]
    gb = transfer.Objective(net, a, [b], [1.0], cfg).style_targets["relu1_1"]
    assert torch.allclose(blend, 0.25 * ga + 0.75 * gb)


# ---------------------------------------------------------------------------- the engine
def test_style_of_another_size_works_and_style_loss_falls(content, style):
    r = transfer.stylise(content, style, **{**FAST, "steps": 15})
    assert r.image.shape == content.shape
    assert 0.0 <= r.image.min() and r.image.max() <= 1.0
    assert r.stopped_reason == "finished" and r.steps_done == 15
    assert len(r.history["style"]) == 15
    assert r.history["style"][-1] < 0.5 * r.history["style"][0]
    assert "NOT ImageNet" in r.source and not r.is_imagenet
    assert r.config.lr is None and r.config.steps == 15  # the settings asked for, unchanged
    assert r.lr == 1.0 and r.loss_scales and r.plan.device.type == "cpu"  # what the engine decided


def test_one_forward_pass_per_lbfgs_step(content, style):
    net = transfer.feature_network(transfer.TransferConfig(**FAST))
    calls = []
    handle = net.register_forward_hook(lambda *a: calls.append(1))
    try:
        transfer.stylise(content, style, **FAST)
    finally:
        handle.remove()
    # content targets + style targets, then one pass per step
    assert len(calls) == 2 + FAST["steps"]


def test_blend_one_zero_equals_single_style(content, style):
    single = transfer.stylise(content, style, **FAST)
    blended = transfer.stylise(content, [style, _img(9, 20, 20)], style_blend=(1.0, 0.0), **FAST)
    assert torch.equal(single.image, blended.image)
    other = transfer.stylise(content, [style, _img(9, 20, 20)], style_blend=(0.5, 0.5), **FAST)
    assert not torch.equal(single.image, other.image)


def test_seeded_runs_are_bit_identical_on_cpu(content, style):
    a = transfer.stylise(content, style, init="noise", seed=3, **FAST)
    b = transfer.stylise(content, style, init="noise", seed=3, **FAST)
    c = transfer.stylise(content, style, init="noise", seed=4, **FAST)
    assert torch.equal(a.image, b.image)
    assert a.history["total"] == b.history["total"]
    assert not torch.equal(a.image, c.image)


def test_luminance_transfer_keeps_the_contents_chroma(content, style):
    r = transfer.stylise(content, style, preserve_colour="luminance", **FAST)
    plain = transfer.stylise(content, style, **FAST)
    assert colour.chroma_distance(r.image, content) < 0.01
    assert colour.chroma_distance(r.image, content) < 0.5 * colour.chroma_distance(plain.image, content)


def test_histogram_matching_moves_colours_towards_the_content(content):
    red = _img(5, 30, 30) * torch.tensor([1.0, 0.2, 0.1]).view(1, 3, 1, 1)
    plain = transfer.stylise(content, red, **FAST)
    kept = transfer.stylise(content, red, preserve_colour="histogram", **FAST)
    mean = lambda t: t.mean(dim=(2, 3))  # noqa: E731
    assert (mean(kept.image) - mean(content)).abs().sum() < (mean(plain.image) - mean(content)).abs().sum()


def test_interrupt_returns_the_best_image_so_far(content, style):
    def interrupt(step, image, losses):
        if step == 3:
            raise KeyboardInterrupt  # what Ctrl-C / the kernel's stop button raises

    r = transfer.stylise(content, style, callback=interrupt, **FAST)
    assert r.stopped_reason == "interrupted" and r.steps_done == 3
    assert r.image.shape == content.shape and torch.isfinite(r.image).all()
    assert len(r.history["total"]) == 3


def test_callback_can_stop_and_sees_each_step(content, style):
    seen = []

    def stop_at_two(step, image, losses):
        seen.append((step, tuple(image.shape), sorted(losses)))
        return step == 2

    r = transfer.stylise(content, style, callback=stop_at_two, **FAST)
    assert r.stopped_reason == "callback" and r.steps_done == 2
    assert [s[0] for s in seen] == [1, 2]
    assert seen[0][1] == tuple(content.shape)
    assert seen[0][2] == ["content", "range", "style", "total", "tv"]


def test_divergence_raises_with_the_best_image(content, style):
    with pytest.raises(transfer.TransferError, match="lower lr") as info:
        transfer.stylise(content, style, **{**FAST, "optimiser": "adam", "lr": 1e30,
                                            "pixel_range": "none"})
    res = info.value.result
    assert res is not None and res.stopped_reason == "diverged"
    assert res.image.shape == content.shape and torch.isfinite(res.image).all()


def test_coarse_to_fine_and_size(content, style):
    r = transfer.stylise(content, style, **{**FAST, "scales": (0.5, 1.0), "steps": (4, 3)})
    assert r.image.shape == content.shape
    assert r.history["scale"] == [0, 0, 0, 0, 1, 1, 1]
    resized = transfer.stylise(content, style, **{**FAST, "size": 16, "steps": 2})
    assert resized.image.shape == (1, 3, 12, 16)


def test_sigmoid_keeps_every_iterate_in_range(content, style):
    ranges = []
    record = lambda step, image, losses: ranges.append((image.min().item(), image.max().item()))  # noqa: E731
    transfer.stylise(content, style, callback=record, **{**FAST, "style_weight": 1e5})
    assert all(0.0 < lo and hi < 1.0 for lo, hi in ranges)


def test_settings_errors_name_the_setting(content, style):
    with pytest.raises(TypeError, match="did you mean 'optimiser'"):
        transfer.stylise(content, style, optimizer="adam")
    with pytest.raises(ValueError, match="pixel_range"):
        transfer.stylise(content, style, pixel_range="clip")
    with pytest.raises(ValueError, match="scales"):
        transfer.stylise(content, style, scales=(1.0, 0.5))
    with pytest.raises(ValueError, match="not a VGG19 layer name"):
        transfer.stylise(content, style, style_layers=("conv_4",))
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        transfer.stylise(content[0], style)
    with pytest.raises(ValueError, match="style_blend"):
        transfer.stylise(content, [style, style], style_blend=(1.0,))


def test_a_config_that_is_not_a_transferconfig_is_refused(content, style):
    """A dict of settings (even an empty one, which ``config or default`` took silently)
    is refused everywhere a config is read, with what to pass instead."""
    from course_utils import deform, perf

    for bad in ({"steps": 3}, {}):
        with pytest.raises(TypeError, match=r"got dict; build one with transfer\.TransferConfig\(\*\*settings\)"):
            transfer.stylise(content, style, bad)
        with pytest.raises(TypeError, match="config must be a transfer.TransferConfig"):
            perf.Step(content, style, bad)
        with pytest.raises(TypeError, match="config must be a transfer.TransferConfig"):
            perf.sweep(content, style, bad, "tv_weight", [0.0])
        with pytest.raises(TypeError, match="config must be a transfer.TransferConfig"):
            deform.deformable_stylise(content, style, torch.zeros(1, 2), torch.zeros(1, 2), bad)
    with pytest.raises(TypeError, match=r"got int; e\.g\. transfer\.TransferConfig\(steps=100\)"):
        transfer.feature_network(3)
    cfg = transfer.TransferConfig(steps=3)
    assert transfer.configured(cfg, tv_weight=0.5) == cfg.replace(tv_weight=0.5)
    assert transfer.configured() == transfer.TransferConfig()


def test_lbfgs_does_not_depend_on_the_scale_of_the_objective(content, style):
    # Regression: PyTorch's L-BFGS keeps a curvature pair only if s·y > 1e-10 (absolute).
    # The relative losses are means over pixels, so at 256 px their gradients were so small
    # that every pair was rejected and L-BFGS became plain gradient descent: the full-size
    # stage of the benchmark crept down by ~3e-5 per step. Shrinking every weight 1e-6-fold
    # recreates such tiny gradients at a test's size; the run must make the same progress.
    kw = dict(FAST, steps=(4, 6), scales=(0.5, 1.0), tv_weight=0.0)
    ref = transfer.stylise(content, style, **kw, content_weight=1.0, style_weight=1e3)
    tiny = transfer.stylise(content, style, **kw, content_weight=1e-6, style_weight=1e-3)
    for run in (ref, tiny):
        full = [t for t, s in zip(run.history["total"], run.history["scale"], strict=True) if s == 1]
        assert min(full) < 0.5 * full[0], "the full-size stage made no progress"
    ratio = torch.tensor(tiny.history["total"]) / torch.tensor(ref.history["total"])
    assert torch.allclose(ratio, torch.full_like(ratio, 1e-6), rtol=0.1)


# ------------------------------------------------- style warps and region masks (notebook 05)
def test_style_warps_turn_the_targets_and_their_average_is_turn_invariant():
    class _Conv(torch.nn.Module):  # a fixed oriented filter: its Gram sees which way edges run
        def forward(self, x):
            k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
            w = torch.stack([k, k.t()])[:, None].repeat(1, 3, 1, 1)
            return {"relu1_1": torch.nn.functional.conv2d(x, w, padding=1)}

    style = _img(5, 16, 16)
    turned = torch.rot90(style, 1, dims=(-2, -1)).contiguous()  # 90° anticlockwise, exactly
    cfg = transfer.TransferConfig(content_layers=("relu1_1",), style_layers=("relu1_1",))
    net = _Conv()

    def targets(image, warps_):
        return transfer.Objective(net, style, [image], [1.0], cfg.replace(style_warps=warps_)).style_targets["relu1_1"]

    assert torch.equal(targets(style, None), targets(style, [(0, 1.0)]))
    assert torch.allclose(targets(style, [(90, 1.0)]), targets(turned, None), atol=1e-5)
    assert not torch.allclose(targets(style, None), targets(turned, None), atol=1e-3)
    four = [(a, 1.0) for a in (0, 90, 180, 270)]
    assert torch.allclose(targets(style, four), targets(turned, four), atol=1e-5)


def test_region_masks_give_each_region_its_own_style():
    from course_utils import losses

    red, blue = torch.zeros(1, 3, 4, 6), torch.zeros(1, 3, 4, 6)
    red[:, 0], blue[:, 2] = 0.8, 0.6
    image = torch.cat([red[..., :3], blue[..., 3:]], dim=-1)  # red left half, blue right half
    left = torch.zeros(1, 1, 4, 6)
    left[..., :3] = 1.0
    cfg = transfer.TransferConfig(content_layers=("relu1_1",), style_layers=("relu1_1",),
                                  style_masks=[left, 1 - left])
    obj = transfer.Objective(_PixelsAsFeatures(), image, [red, blue], [0.5, 0.5], cfg)
    feats = obj.features(image)
    assert obj.style_term(feats).item() < 1e-10  # each region is exactly its style
    swapped = torch.cat([1 - left, left], dim=1)
    assert obj.style_term(feats, swapped).item() > 0.5
    # a masked Gram by hand: the mean outer product over the region's pixels only
    g = torch.Generator().manual_seed(0)
    x, soft = torch.rand(1, 3, 4, 6, generator=g), torch.rand(1, 1, 4, 6, generator=g)
    by_hand = torch.einsum("cp,dp->cd", x[0].flatten(1) * soft.flatten(), x[0].flatten(1)) / soft.sum()
    masked = objective.masked_features(x, soft)
    assert torch.allclose(losses.gram_matrix(masked)[0], by_hand, atol=1e-6)


def test_stylise_with_style_warps_and_masks(content, style):
    left = torch.zeros(1, 1, 24, 32)
    left[..., :16] = 1.0
    r = transfer.stylise(content, [style, content], style_masks=[left, 1 - left],
                         style_warps=[(0, 1.0), (90, 1.0)], **FAST)
    assert r.image.shape == content.shape and r.history["style"][-1] < r.history["style"][0]
    small = torch.nn.functional.interpolate(left, size=(12, 16))  # any size of the same aspect ratio
    assert transfer.stylise(content, [style, content], style_masks=[small, 1 - small], **{**FAST, "steps": 1})


def test_style_warps_and_masks_errors_name_the_setting(content, style):
    with pytest.raises(ValueError, match="style_warps"):
        transfer.stylise(content, style, style_warps=[(45, 0.0)])
    with pytest.raises(ValueError, match="style_warps"):
        transfer.stylise(content, style, style_warps=[45])
    with pytest.raises(ValueError, match="style_warps"):
        transfer.stylise(content, style, style_warps=[])
    mask = torch.ones(1, 1, 24, 32)
    with pytest.raises(ValueError, match="one mask per style image"):
        transfer.stylise(content, [style, style], style_masks=[mask])
    with pytest.raises(ValueError, match=r"style_masks\[0\] has shape \(24, 32\)"):
        transfer.stylise(content, style, style_masks=[mask[0, 0]])
    with pytest.raises(ValueError, match="cover some pixels"):
        transfer.stylise(content, style, style_masks=[mask * 0])
    with pytest.raises(ValueError, match="aspect ratio"):
        transfer.stylise(content, style, style_masks=[torch.ones(1, 1, 32, 32)], **FAST)


# ------------------------------------------------------------------------- the one loop
def _quadratic(a: torch.Tensor, b: torch.Tensor, scale: float = 1.0):
    """``scale · ((a − 1)² + (b − 2)²)`` as an ``evaluate()`` for loop.optimise; counts its calls."""
    calls = []

    def evaluate():
        calls.append(1)
        ta, tb = (a - 1).pow(2).sum(), (b - 2).pow(2).sum()
        return loop.Evaluation(scale * (ta + tb), {"a": ta, "b": tb}, a.detach().clone().view(1, 1, 1, -1),
                               extra=b.detach().clone())

    return evaluate, calls


def test_loop_steps_a_second_optimiser_with_the_same_evaluation():
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    evaluate, calls = _quadratic(a, b)
    seen = []
    out = loop.optimise([a], evaluate, 20, optimiser="lbfgs", lr=1.0, also=[torch.optim.Adam([b], lr=0.1)],
                        on_step=lambda step, rec: seen.append((step, set(rec.losses))))
    assert out.reason == "finished" and out.steps == 20 and len(calls) == 20  # one evaluation per step
    assert seen[0] == (1, {"total", "a", "b"}) and seen[-1][0] == 20
    assert torch.allclose(a.detach(), torch.ones(3), atol=1e-4)  # L-BFGS solved its part
    assert 0.5 < b.detach().mean() < 2.0  # Adam moved the other with the same gradients
    assert out.best_extra.shape == (2,) and 0.5 < out.best_extra.mean() <= b.detach().mean()  # kept with the best


def test_loop_rescales_what_lbfgs_sees_once_and_only_for_lbfgs():
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    evaluate, _ = _quadratic(a, b, scale=1e-6)  # largest first gradient entry 4e-6: below the floor
    out = loop.optimise([a, b], evaluate, 5, optimiser="lbfgs")
    assert out.loss_scale == pytest.approx(1 / 4e-6)
    assert out.best_extra == pytest.approx(torch.full((2,), 2.0), abs=1e-3)  # it converged
    a2, b2 = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    assert loop.optimise([a2, b2], _quadratic(a2, b2, 1e-6)[0], 2, optimiser="adam", lr=0.1).loss_scale == 1.0
    assert loop.lbfgs_gradient_scale(torch.tensor([0.5, -0.2])) == 1.0


def test_loop_refuses_a_non_finite_loss_and_keeps_the_best():
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    good, _ = _quadratic(a, b)
    n = []

    def evaluate():
        n.append(1)
        ev = good()
        return ev if len(n) < 4 else loop.Evaluation(ev.loss * float("nan"), ev.terms, ev.image)

    out = loop.optimise([a], evaluate, 10, optimiser="adam", lr=0.1)
    assert out.reason == "diverged" and out.steps == 3 and "nan" in out.message and "step 4" in out.message
    assert out.best_image is not None and torch.isfinite(out.best_image).all()


@pytest.mark.parametrize("answer", [True, numpy.bool_(True), torch.tensor(True)])
def test_loop_stops_on_a_true_answer_of_any_kind(answer):
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    out = loop.optimise([a], _quadratic(a, b)[0], 10, optimiser="adam", lr=0.1,
                        on_step=lambda step, rec: answer if step == 2 else numpy.bool_(False))
    assert out.reason == "callback" and out.steps == 2


def test_loop_returns_the_best_state_on_an_interrupt():
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    good, calls = _quadratic(a, b)

    def evaluate():
        if len(calls) == 5:
            raise KeyboardInterrupt
        return good()

    out = loop.optimise([a], evaluate, 10, optimiser="adam", lr=0.1)
    assert out.reason == "interrupted" and out.steps == 5 and out.best_image is not None


# ------------------------------------------------------------------------ hardening
@pytest.mark.parametrize("name, value, expected", [
    ("lr", float("nan"), "None or a finite number > 0"),
    ("lr", float("inf"), "None or a finite number > 0"),
    ("history_size", 0, "a whole number >= 1"),
    ("history_size", 1.5, "a whole number >= 1"),
    ("steps", 2.7, "a whole number >= 0"),
    ("steps", True, "a whole number >= 0"),
    ("steps", "3", "a whole number >= 0"),
    ("seed", True, "a whole number from 0 to 2\\*\\*64 - 1"),
    ("seed", 2**70, "a whole number from 0 to 2\\*\\*64 - 1"),
    ("style_scale", float("inf"), "a finite number > 0"),
    ("style_weight", True, "a finite number >= 0"),
])
def test_a_bad_setting_gets_one_sentence_naming_it(name, value, expected):
    with pytest.raises(ValueError, match=f"^TransferConfig.{name}=.* is invalid: expected {expected}"):
        transfer.TransferConfig(**{name: value}).validate()


def test_numpy_numbers_are_settings_like_any_other(content, style):
    cfg = transfer.TransferConfig(style_weight=numpy.float32(1e3), steps=numpy.int64(2), seed=numpy.int64(3),
                                  history_size=numpy.int32(5), lr=numpy.float64(0.5))
    cfg.validate()
    assert cfg.steps_per_scale() == (2,)
    r = transfer.stylise(content, style, cfg, **{k: v for k, v in FAST.items() if k != "steps"})
    assert r.steps_done == 2 and r.lr == 0.5
    assert type(r.config.seed) is int and type(r.config.style_weight) is float  # read as Python numbers


def test_a_numpy_or_torch_true_from_the_callback_stops_the_run(content, style):
    for answer in (numpy.bool_(True), torch.tensor(True)):
        r = transfer.stylise(content, style, **{**FAST, "callback": lambda step, image, losses, a=answer: a})
        assert r.stopped_reason == "callback" and r.steps_done == 1


@pytest.mark.parametrize("settings", [{"size": 20000}, {"size": 64, "style_scale": 1000}])
def test_a_run_that_cannot_fit_in_memory_is_refused_before_it_allocates(settings):
    """The issue's two runs (19 GB then a raw allocator error; 49 GB asked for) are refused
    with one sentence before any image or network is built (no progress bar, no step)."""
    content = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    calls = []
    with pytest.raises(MemoryError, match=r"needs about [\d,.]+ GB of memory but only [\d,.]+ GB is free"):
        transfer.stylise(content, content, steps=2, progress=False, callback=lambda *a: calls.append(a), **settings)
    assert calls == []


# ------------------------------------------------- settings of the wrong kind (fuzzer, Dec 2026)
@pytest.mark.parametrize("name, value, expected", [
    ("scales", 1.0, r"fractions in \(0, 1\] ending with 1.0"),
    ("scales", None, r"fractions in \(0, 1\] ending with 1.0"),
    ("scales", "1", r"fractions in \(0, 1\] ending with 1.0"),
    ("max_loss_ratio", None, "a number > 1"),
    ("max_loss_ratio", "a", "a number > 1"),
    ("style_blend", 1.0, "None or one number >= 0 per style image"),
    ("style_blend", ["a"], "None or one number >= 0 per style image"),
    ("style_blend", [None], "None or one number >= 0 per style image"),
    ("style_blend", [float("nan")], "None or one number >= 0 per style image"),
])
def test_a_setting_of_the_wrong_kind_gets_one_sentence_naming_it(name, value, expected):
    """A scalar or None where a list is read (or the reverse) is named like any bad value,
    not answered by a raw 'not iterable' or '>' not supported."""
    with pytest.raises(ValueError, match=f"^TransferConfig.{name}=.* is invalid: expected {expected}"):
        transfer.TransferConfig(**{name: value}).validate()


@pytest.mark.parametrize("name", ["content_layers", "style_layers"])
@pytest.mark.parametrize("value", [None, 3, {"relu1_1": "a"}, {"relu1_1": None}])
def test_layers_that_are_not_layer_names_are_named(name, value):
    with pytest.raises(ValueError, match=f"^TransferConfig.{name} must name at least one VGG19 layer"):
        transfer.TransferConfig(**{name: value}).validate()


def test_valid_blends_and_scales_of_other_kinds_still_work():
    transfer.TransferConfig(style_blend=numpy.array([1.0, 2.0]), scales=numpy.array([0.5, 1.0]), steps=2,
                            max_loss_ratio=float("inf")).validate()
    transfer.TransferConfig(style_blend=torch.tensor([0.3, 0.7]), scales=[1]).validate()


def test_a_callback_that_cannot_take_the_three_arguments_is_refused_before_the_run(content, style):
    calls = []
    with pytest.raises(ValueError, match=r"callback must accept \(step, image, losses\)"):
        transfer.stylise(content, style, **{**FAST, "callback": lambda: calls.append(1)})
    with pytest.raises(ValueError, match=r"callback must accept \(step, image, losses\)"):
        transfer.TransferConfig(callback=lambda step, image: None).validate()
    for fine in (lambda *a: None, lambda step, image, losses, extra=1: None, print):  # print: no signature check
        transfer.TransferConfig(callback=fine).validate()
    assert calls == []


def test_no_style_or_an_empty_mask_is_named(content, style):
    with pytest.raises(ValueError, match=r"^style must be one RGB image of shape \(1, 3, H, W\).*got NoneType"):
        transfer.stylise(content, None, **FAST)
    with pytest.raises(ValueError, match=r"^style must be one RGB image .*got int"):
        transfer.prepare_styles(3, transfer.TransferConfig())
    with pytest.raises(ValueError, match=r"style_masks\[0\] must have values in \[0, 1\] and cover some pixels"):
        transfer.TransferConfig(style_masks=[torch.rand(1, 1, 0, 0)]).validate()


@pytest.mark.parametrize("device, expected", [
    ("tpu", "device='tpu' is not a PyTorch device; use 'cpu', 'cuda' or 'mps'"),
    ("cuda", "device='cuda' is not available on this machine; leave it out"),
])
def test_a_device_this_machine_lacks_is_named_before_the_memory_check(device, expected, content, style):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ValueError, match=f"^{expected}"):
        transfer.device_of(transfer.TransferConfig(device=device))
    with pytest.raises(ValueError, match=f"^{expected}"):
        transfer.stylise(content, style, **{**FAST, "device": device})
