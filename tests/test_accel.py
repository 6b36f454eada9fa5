"""The GPU fast path's pieces, checked where they can be on a CPU (graphs need CUDA)."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import accel, data, features, images, loop, losses, transfer

CPU = torch.device("cpu")


def _cfg(**kw) -> transfer.TransferConfig:
    return transfer.TransferConfig(weights="random", device="cpu", progress=False, **kw)


def test_plan_on_cpu_changes_nothing(monkeypatch):
    # on a CPU without bfloat16 matrix units (tests/test_accel_cpu.py covers one with them)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True})
    p = accel.plan(_cfg(optimiser="adam"), CPU)
    assert (p.dtype, p.channels_last, p.cuda_graphs, p.compile) == (torch.float32, False, False, False)
    assert accel.prepare_network(transfer.feature_network(_cfg()), p) is transfer.feature_network(_cfg())


def test_plan_refuses_graphs_where_they_cannot_run():
    with pytest.raises(ValueError, match="cuda_graphs=True needs a CUDA device"):
        accel.plan(_cfg(optimiser="adam", cuda_graphs=True), CPU)
    with pytest.raises(ValueError, match="precision"):
        _cfg(precision="fp16").validate()


def test_compile_takes_true_or_a_named_mode():
    assert accel.plan(_cfg(compile=True), CPU).compile_mode == "default"
    p = accel.plan(_cfg(compile="max-autotune-no-cudagraphs"), CPU)
    assert p.compile and p.compile_mode == "max-autotune-no-cudagraphs"
    assert "max-autotune" in p.describe()
    # inductor's own CUDA graphs cannot be recorded inside the engine's graph
    with pytest.raises(ValueError, match=r"TransferConfig.compile='reduce-overhead' is invalid"):
        _cfg(compile="reduce-overhead").validate()


def test_explicit_choices_are_respected():
    p = accel.plan(_cfg(precision="bf16", channels_last=True), CPU)
    assert p.dtype == torch.bfloat16 and p.channels_last and not p.cuda_graphs
    assert "bf16" in p.describe() and "channels-last" in p.describe()


def test_bf16_network_is_a_copy_and_close_to_fp32():
    fx = transfer.feature_network(_cfg())
    fast = accel.prepare_network(fx, accel.Plan(CPU, torch.bfloat16, True, False, False))
    assert fast is not fx
    assert next(fx.parameters()).dtype == torch.float32  # the shared extractor is untouched
    assert next(fast.parameters()).dtype == torch.bfloat16
    assert accel.prepare_network(fx, accel.Plan(CPU, torch.bfloat16, True, False, False)) is fast  # cached
    x = images.resize(data.content_image("chelsea"), (48, 48))
    ref, low = fx(x), fast(x)
    for name in ref:
        err = (low[name].float() - ref[name]).norm() / ref[name].norm()
        assert err < 0.05, (name, err.item())


def test_bf16_stylise_on_cpu_tracks_fp32():
    content = images.resize(data.content_image("chelsea"), (40, 40))
    style = images.resize(data.style_image("swirl"), (40, 40))
    cfg = _cfg(optimiser="adam", steps=15)
    ref = transfer.stylise(content, style, cfg, precision="fp32")
    low = transfer.stylise(content, style, cfg, precision="bf16")
    assert low.plan.dtype == torch.bfloat16 and ref.plan.dtype == torch.float32
    assert low.config.precision == "bf16" and low.config.channels_last is None  # the config is as asked
    assert low.final("style") < 0.7 * low.history["style"][0]  # it optimises
    assert abs(low.final() - ref.final()) / ref.final() < 0.1
    # bf16 moves the image no further than fp32 itself moves from a start nudged by 2e-3
    g = torch.Generator().manual_seed(1)
    nudged = transfer.stylise((content + 2e-3 * torch.randn(content.shape, generator=g)).clamp(0, 1), style, cfg,
                              precision="fp32")

    def psnr(a, b):
        return 10 * math.log10(1 / max((a - b).pow(2).mean().item(), 1e-12))

    assert psnr(low.image, ref.image) > psnr(nudged.image, ref.image) - 3


def _objective(size: int = 32):
    cfg = _cfg(optimiser="adam", lr=0.05)
    content = images.resize(data.content_image("chelsea"), (size, size)).to(CPU)
    style = images.resize(data.style_image("stripes"), (size, size)).to(CPU)
    return cfg, transfer.Objective(transfer.feature_network(cfg), content, [style], [1.0], cfg), content


def test_device_resident_adam_matches_a_plain_adam_loop():
    cfg, objective, content = _objective()
    z0 = torch.logit(content.clamp(1e-3, 1 - 1e-3))
    z = z0.clone().requires_grad_(True)
    runner = accel.GraphedAdam(z, transfer.evaluator(objective, z, "sigmoid"), 0.05, 6, use_graph=True)
    assert not runner.use_graph  # no graphs on a CPU: the same bookkeeping, eagerly
    for _ in range(6):
        assert runner.step(read=False) == []
    assert runner.terms == ("content", "style", "tv", "range")  # learnt from the first step
    recorded = [r["total"] for r in runner.read(0, 6)]

    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)
    plain = []
    for _ in range(6):
        opt.zero_grad(set_to_none=True)
        total, _ = objective(torch.sigmoid(z))
        total.backward()
        opt.step()
        plain.append(total.item())
    assert recorded == pytest.approx(plain, rel=1e-6)
    best = min(range(6), key=recorded.__getitem__)
    assert runner.best_value.item() == pytest.approx(recorded[best], rel=1e-6)
    assert all(math.isfinite(v) for v in recorded) and recorded[-1] < recorded[0]


def _run(objective, content, steps, graphed, read_every=1, callback=None):
    z = transfer.to_variable(content, "sigmoid").requires_grad_(True)
    evaluate = transfer.evaluator(objective, z, "sigmoid")
    stepper = accel.GraphedAdam(z, evaluate, 0.05, steps) if graphed else None
    recorder = loop.Recorder({}, steps, progress=False, callback=callback)
    out = loop.optimise([z], evaluate, steps, optimiser="adam", lr=0.05, on_step=recorder, stepper=stepper,
                        read_every=read_every)
    return out, recorder.history


def test_graphed_step_gives_the_same_run_as_the_plain_step():
    """The device-resident step (used on CUDA) plugged into the one loop, on a CPU."""
    _, objective, content = _objective()
    (o1, h1), (o2, h2) = _run(objective, content, 8, False), _run(objective, content, 8, True, read_every=3)
    assert o1.steps == o2.steps == 8 and o1.reason == o2.reason == "finished"
    for k in ("total", "content", "style"):
        assert h2[k] == pytest.approx(h1[k], rel=1e-5), k
    assert torch.allclose(o1.best_image, o2.best_image, atol=1e-5)


def test_graphed_step_honours_a_stopping_callback():
    _, objective, content = _objective()
    seen = []
    out, history = _run(objective, content, 10, True, callback=lambda step, image, losses: seen.append(step) or step == 3)
    assert out.reason == "callback" and out.steps == 3
    assert seen == [1, 2, 3] and len(history["total"]) == 3 and out.best_image is not None


def test_feature_extractor_runs_its_body_in_its_dtype():
    fx = features.FeatureExtractor(["relu1_1"], weights="random", device="cpu", verbose=False)
    fx.body.to(torch.bfloat16)
    out = fx(torch.rand(1, 3, 16, 16))
    assert out["relu1_1"].dtype == torch.bfloat16


def test_gram_of_channels_last_features_needs_no_copy_and_agrees():
    from course_utils import losses

    x = torch.randn(2, 8, 5, 7)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(losses.gram_matrix(cl), losses.gram_matrix(x), atol=1e-5)
    # the channels-last branch works on a view of the features (no copy of the map)
    f = cl.permute(0, 2, 3, 1).reshape(2, 35, 8)
    assert f.data_ptr() == cl.data_ptr()


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_gradient_is_exact_and_costs_one_matrix_product(channels_last):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, 5, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(accel.gram_matrix, (x,))
    assert torch.allclose(accel.gram_matrix(x), losses.gram_matrix(x))
    weights = torch.randn(2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    g = accel.gram_matrix(x)
    with FlopCounterMode(display=False) as counter:
        (g * weights).sum().backward()
    # one (C x C)·(C x N) product per image: 2·B·C²·N, half of what autograd's F @ Fᵀ costs
    assert counter.get_total_flops() == 2 * 2 * 5 * 5 * 12
    # the gradient keeps the features' layout (no copy of a channels-last feature map)
    assert x.grad.is_contiguous(memory_format=torch.channels_last) == channels_last
    f = x.detach().reshape(2, 5, 12)
    assert torch.allclose(x.grad.reshape(2, 5, 12), (weights + weights.transpose(1, 2)) @ f / 12)


def test_fast_style_loss_is_the_lessons_number_and_gradient():
    g = torch.Generator().manual_seed(0)
    targets = {"a": losses.gram_matrix(torch.rand(1, 4, 5, 6, generator=g)),
               "b": losses.gram_matrix(torch.rand(1, 3, 4, 4, generator=g))}
    weights = {"a": 0.3, "b": 0.7}
    feats = {"a": torch.rand(1, 4, 5, 6, generator=g), "b": torch.rand(1, 3, 4, 4, generator=g)}
    feats["a"] = feats["a"].contiguous(memory_format=torch.channels_last)
    outs = []
    for loss in (losses.style_loss, accel.style_loss):
        x = {k: v.clone().requires_grad_(True) for k, v in feats.items()}
        value = loss(x, targets, weights)
        value.backward()
        outs.append((value.item(), {k: v.grad for k, v in x.items()}))
    (v1, g1), (v2, g2) = outs
    assert v2 == pytest.approx(v1, rel=1e-6)
    assert all(torch.allclose(g1[k], g2[k], atol=1e-7) for k in g1)
    assert accel.style_loss_for(accel.plan(_cfg(), CPU)) is losses.style_loss  # the CPU runs the lesson's code


def test_a_channels_last_network_copy_converts_its_input_itself():
    fx = transfer.feature_network(_cfg())
    net = accel.prepare_network(fx, accel.Plan(CPU, torch.float32, True, False, False))
    seen = []
    handle = net.body[0].register_forward_pre_hook(
        lambda module, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    try:
        x = images.resize(data.content_image("chelsea"), (24, 24))  # the default layout
        out, ref = net(x), fx(x)
    finally:
        handle.remove()
    assert seen == [True]
    assert all(torch.allclose(out[k], ref[k], atol=1e-5) for k in ref)
