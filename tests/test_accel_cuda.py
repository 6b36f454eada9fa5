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
    c = res.config
    assert (c.precision, c.channels_last, c.cuda_graphs) == ("bf16", True, True)
    assert res.image.shape == pair[0].shape and res.image.device.type == "cpu"
    assert res.final("style") < 0.5 * res.history["style"][0]
    assert all(math.isfinite(v) for v in res.history["total"]) and len(res.history["total"]) == 30


def test_graphs_give_the_eager_run(pair):
    eager = transfer.stylise(*pair, _cfg(steps=40, precision="fp32", channels_last=False, cuda_graphs=False))
    graphed = transfer.stylise(*pair, _cfg(steps=40, precision="fp32", channels_last=False, cuda_graphs=True))
    assert graphed.history["total"][0] == pytest.approx(eager.history["total"][0], rel=1e-3)
    assert graphed.final() == pytest.approx(eager.final(), rel=2e-2)


def test_bf16_result_is_equivalent_to_fp32(pair):
    """The stated tolerance (benchmarks/README.md): final loss within 2 % of fp32's, images
    over 30 dB apart; measured 0.78 % and 31.5 dB at 512 px on the tutorial's objective.
    This smaller, shorter run on the engine's default objective FAILED on an H200 on
    27 Nov 2026 at the looser bounds it had then (5 %, 25 dB), figures not captured: the
    messages below print them, for the next session with a GPU to settle."""
    ref = transfer.stylise(*pair, _cfg(steps=100, precision="fp32", channels_last=False, cuda_graphs=False))
    fast = transfer.stylise(*pair, _cfg(steps=100))
    rel = abs(fast.final() - ref.final()) / ref.final()
    mse = (fast.image - ref.image).pow(2).mean().item()
    psnr = 10 * math.log10(1 / mse)
    terms = {k: (round(ref.final(k), 5), round(fast.final(k), 5)) for k in ("content", "style", "tv")}
    assert rel < 0.05, f"final loss fp32 {ref.final():.5g}, bf16 {fast.final():.5g}; terms {terms}; PSNR {psnr:.1f} dB"
    assert psnr > 25, f"PSNR {psnr:.1f} dB; final losses {ref.final():.5g} / {fast.final():.5g}"


def test_callback_stops_the_graphed_run(pair):
    seen = []
    res = transfer.stylise(*pair, _cfg(steps=50, callback=lambda s, img, losses: seen.append(s) or s == 7))
    assert res.stopped_reason == "callback" and res.steps_done == 7 and seen == list(range(1, 8))


def test_lbfgs_runs_eagerly_in_bf16(pair):
    res = transfer.stylise(*pair, _cfg(steps=20, optimiser="lbfgs"))
    assert res.config.precision == "bf16" and not res.config.cuda_graphs
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
