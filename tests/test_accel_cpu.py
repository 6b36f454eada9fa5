"""precision="auto" on a CPU: bfloat16 only where the CPU has bfloat16 matrix units, fp32
where bf16 failed the quality check, and the result saying which ran and why.

The detector's input (``torch.cpu.get_capabilities()``, cpuinfo's flags) is replaced to
play CPUs with and without the units; the plan under test is the real one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from course_utils import accel, data, images, losses, objective, transfer

CPU = torch.device("cpu")
WITH_AMX = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": True, "amx_tile": True}
ZEN4 = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": False}
WITHOUT = {"avx2": True, "avx512_f": True, "avx512_bf16": False, "amx_bf16": False}


def _cfg(**kw) -> transfer.TransferConfig:
    return transfer.TransferConfig(weights="random", device="cpu", progress=False, **kw)


def _cpu(monkeypatch, caps):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)


@pytest.mark.parametrize(("caps", "dtype", "why"), [
    (WITH_AMX, torch.bfloat16, "this CPU has amx_bf16, avx512_bf16"),
    (ZEN4, torch.bfloat16, "this CPU has avx512_bf16"),
    (WITHOUT, torch.float32, "this CPU has no bfloat16 matrix units (amx_bf16 or avx512_bf16)"),
    ({}, torch.float32, "no bfloat16 matrix units"),
])
def test_auto_follows_the_cpus_bf16_units(monkeypatch, caps, dtype, why):
    _cpu(monkeypatch, caps)
    p = accel.plan(_cfg(optimiser="adam"), CPU)
    assert p.dtype == dtype and why in p.reason
    assert accel.bf16_hardware(CPU) == (dtype == torch.bfloat16, p.reason)
    assert not (p.channels_last or p.cuda_graphs or p.compile)  # the rest of the CPU plan is unchanged


def test_auto_on_this_machine_agrees_with_its_cpuinfo_flags():
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if not flags:
        pytest.skip("this CPU lists no flags in /proc/cpuinfo")
    has_units = bool(flags & {"amx_bf16", "avx512_bf16"})
    p = accel.plan(_cfg(optimiser="adam"), CPU)  # Adam: not in BF16_QUALITY_FAILS
    assert (p.dtype == torch.bfloat16) == has_units, (p.describe(), sorted(flags & {"amx_bf16", "avx512_bf16"}))


def test_a_configuration_that_failed_the_quality_check_keeps_fp32(monkeypatch):
    _cpu(monkeypatch, WITH_AMX)
    monkeypatch.setitem(accel.BF16_QUALITY_FAILS, "lbfgs", "final loss 3.1 % above fp32's")
    lbfgs = accel.plan(_cfg(optimiser="lbfgs"), CPU)
    assert lbfgs.dtype == torch.float32
    assert "quality check with lbfgs" in lbfgs.reason and "3.1 %" in lbfgs.reason
    assert accel.plan(_cfg(optimiser="adam"), CPU).dtype == torch.bfloat16  # only the failing one
    assert accel.plan(_cfg(optimiser="lbfgs", precision="bf16"), CPU).dtype == torch.bfloat16  # asked for


def test_explicit_choices_say_so(monkeypatch):
    _cpu(monkeypatch, WITHOUT)
    low = accel.plan(_cfg(precision="bf16"), CPU)
    assert low.dtype == torch.bfloat16 and "as asked" in low.reason and "emulated" in low.reason
    assert accel.plan(_cfg(precision="fp32"), CPU).reason == "as asked"
    _cpu(monkeypatch, WITH_AMX)
    assert accel.plan(_cfg(precision="bf16"), CPU).reason == "as asked"


def test_describe_names_the_precision_and_why(monkeypatch):
    _cpu(monkeypatch, WITHOUT)
    p = accel.plan(_cfg(), CPU)
    assert p.describe() == "cpu, fp32 (this CPU has no bfloat16 matrix units (amx_bf16 or avx512_bf16))"
    assert p.describe_fast() == "fp32 (this CPU has no bfloat16 matrix units (amx_bf16 or avx512_bf16))"
    _cpu(monkeypatch, WITH_AMX)
    assert accel.plan(_cfg(optimiser="adam"), CPU).describe() == "cpu, bf16 (this CPU has amx_bf16, avx512_bf16)"
    if "lbfgs" in accel.BF16_QUALITY_FAILS:  # the shipped list: auto says why L-BFGS keeps fp32
        assert accel.plan(_cfg(optimiser="lbfgs"), CPU).describe().startswith("cpu, fp32 (bf16 failed the quality check")


def test_bf16_on_a_cpu_keeps_grams_losses_and_image_in_float32(monkeypatch):
    content = images.resize(data.content_image("chelsea"), (32, 32))
    style = images.resize(data.style_image("swirl"), (32, 32))
    cfg = _cfg(optimiser="adam", steps=3, precision="bf16")
    p = accel.plan(cfg, CPU)
    net = accel.prepare_network(transfer.feature_network(cfg), p)
    assert next(net.parameters()).dtype == torch.bfloat16  # the network runs in bf16 ...
    feats = net(content)
    assert {f.dtype for f in feats.values()} == {torch.float32}  # ... its features leave in float32
    obj = objective.Objective(net, content, [style], [1.0], cfg)
    assert {g.dtype for g in obj.style_targets.values()} == {torch.float32}
    x = content.clone().requires_grad_(True)
    total, terms = obj(x)
    assert total.dtype == torch.float32 and {t.dtype for t in terms.values()} == {torch.float32}
    total.backward()
    assert x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()
    grams = []
    monkeypatch.setattr(losses, "gram_matrix", lambda f, real=losses.gram_matrix: grams.append(real(f)) or grams[-1])
    res = transfer.stylise(content, style, cfg)
    assert grams and {g.dtype for g in grams} == {torch.float32}
    assert res.plan.dtype == torch.bfloat16 and res.image.dtype == torch.float32
    assert "bf16 (as asked" in res.describe()
