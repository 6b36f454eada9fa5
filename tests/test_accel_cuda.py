"""The GPU fast path on a real GPU: skipped where there is no CUDA (CI has none).

Run on a GPU machine with ``python -m pytest -o addopts="" tests/test_accel_cuda.py``.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import data, deform, images, transfer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SIZE = 128


@pytest.fixture(scope="module")
def pair():
    content = images.resize(data.content_image("chelsea"), (SIZE, SIZE))
    style = images.resize(data.style_image("swirl"), (SIZE, SIZE))
    return content, style


def _cfg(**kw) -> transfer.TransferConfig:
    kw.setdefault("optimiser", "adam")
    return transfer.TransferConfig(weights="random", device="cuda", progress=False, **kw)


def test_auto_plan_on_cuda_is_the_fast_path(pair):
    res = transfer.stylise(*pair, _cfg(steps=30))
    p = res.plan  # what the engine decided; the config stays as asked
    assert (p.dtype, p.channels_last, p.cuda_graphs) == (torch.bfloat16, True, True)
    assert (res.config.precision, res.config.cuda_graphs) == ("auto", None)
    assert "CUDA graphs" in res.describe()
    assert res.image.shape == pair[0].shape and res.image.device.type == "cpu"
    assert res.final("style") < 0.5 * res.history["style"][0]
    assert all(math.isfinite(v) for v in res.history["total"]) and len(res.history["total"]) == 30


def test_graphs_give_the_eager_run(pair):
    eager = transfer.stylise(*pair, _cfg(steps=40, precision="fp32", channels_last=False, cuda_graphs=False))
    graphed = transfer.stylise(*pair, _cfg(steps=40, precision="fp32", channels_last=False, cuda_graphs=True))
    assert graphed.history["total"][0] == pytest.approx(eager.history["total"][0], rel=1e-3)
    assert graphed.final() == pytest.approx(eager.final(), rel=2e-2)


def test_bf16_result_is_equivalent_to_fp32(pair):
    """bf16 reaches the same loss as fp32 (within 5 %), and moves the image no further than
    the optimisation itself moves when its start is perturbed by 2e-3 (half an 8-bit grey
    level). A fixed PSNR bound was wrong here: on an H200 on 27 Nov 2026 this run failed
    "PSNR > 25 dB"; on a CPU the same comparison gives 22.2 dB for bf16 and 21.2 dB for
    the perturbed fp32 start (losses 1.0 % and 0.5 % apart): at this size and style weight
    many images reach the same loss, so pixels differ while the result is as good."""
    content, style = pair
    fp32 = _cfg(steps=100, precision="fp32", channels_last=False, cuda_graphs=False)
    ref = transfer.stylise(content, style, fp32)
    fast = transfer.stylise(content, style, _cfg(steps=100))
    g = torch.Generator().manual_seed(1)
    nudged = transfer.stylise((content + 2e-3 * torch.randn(content.shape, generator=g)).clamp(0, 1), style, fp32)
    rel = abs(fast.final() - ref.final()) / ref.final()
    psnr = _psnr(fast.image, ref.image)
    own = _psnr(nudged.image, ref.image)
    assert rel < 0.05, f"final loss fp32 {ref.final():.5g}, bf16 {fast.final():.5g}"
    assert psnr > own - 3, f"bf16 vs fp32 {psnr:.1f} dB; fp32 vs fp32 from a nudged start {own:.1f} dB"


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / max((a - b).pow(2).mean().item(), 1e-12))


def test_callback_stops_the_graphed_run(pair):
    seen = []
    res = transfer.stylise(*pair, _cfg(steps=50, callback=lambda s, img, losses: seen.append(s) or s == 7))
    assert res.stopped_reason == "callback" and res.steps_done == 7 and seen == list(range(1, 8))


def test_lbfgs_runs_eagerly_in_bf16(pair):
    # asked for: auto keeps fp32 for an optimiser in accel.BF16_QUALITY_FAILS (L-BFGS so far)
    res = transfer.stylise(*pair, _cfg(steps=20, optimiser="lbfgs", precision="bf16"))
    assert res.plan.dtype == torch.bfloat16 and not res.plan.cuda_graphs
    assert res.final() < res.history["total"][0]


def test_warps_and_masks_on_cuda(pair):
    content, style = pair
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., : SIZE // 2] = 1
    res = transfer.stylise(content, [style, data.style_image("stripes", SIZE)],
                           _cfg(steps=20, style_warps=[(0, 1), (90, 1)], style_masks=[mask, 1 - mask]))
    assert all(math.isfinite(v) for v in res.history["total"])


def test_deformable_transfer_on_cuda(pair):
    content, style = pair
    src = torch.tensor([[40.0, 40.0], [90.0, 80.0]])
    res = deform.deformable_stylise(content, style, src, src + 4, _cfg(steps=30))
    assert res.min_jacobian() > 0
    assert res.keypoint_errors().max().item() < 3
