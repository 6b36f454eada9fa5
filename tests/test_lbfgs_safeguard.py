"""The default optimiser never makes the picture worse in silence (L-BFGS's step cap).

Contents a learner may bring (flat colours, a smooth gradient, a line drawing, a photo),
styles of other sizes and aspect ratios, 30 steps of the default engine on the offline
network at 48x64 px: the returned image's loss, measured again on the objective, is below
the start and within 2x of what Adam reaches in the same steps. Without the cap, L-BFGS's
early steps saturate the sigmoids on such contents (``benchmarks/lbfgs_safeguard.py``).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_images import FAST_SETTINGS

from course_utils import data, loop, transfer
from course_utils.objective import Objective

SETTINGS = dict(weights="random", device="cpu", progress=False)  # the default layers and weights
H, W = 48, 64


def _flat_colours():  # a blue box on a pale background (a logo)
    x = torch.tensor([0.95, 0.93, 0.88]).view(1, 3, 1, 1).expand(1, 3, H, W).clone()
    x[..., H // 4: 3 * H // 4, W // 4: 3 * W // 4] = torch.tensor([0.1, 0.2, 0.7]).view(1, 3, 1, 1)
    return x


def _gradient():
    t = torch.linspace(0, 1, W).view(1, 1, 1, W)
    a, b = torch.tensor([0.9, 0.5, 0.2]).view(1, 3, 1, 1), torch.tensor([0.2, 0.4, 0.9]).view(1, 3, 1, 1)
    return (a * (1 - t) + b * t).expand(1, 3, H, W).contiguous()


def _line_drawing():
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    ink = (((xx**2 + yy**2).sqrt() - 0.6).abs() < 0.05) | ((yy - 0.5 * xx).abs() < 0.04)
    return torch.where(ink, 0.05, 0.97).expand(1, 3, H, W).clone()


def _style(name, h, w):
    return F.interpolate(data.style_image(name, 128), size=(h, w), mode="bilinear", antialias=True)


CASES = {
    "flat colours x stripes 96x80": (_flat_colours, ("stripes", 96, 80)),
    "gradient x swirl 128x128": (_gradient, ("swirl", 128, 128)),
    "gradient x stripes 96x80": (_gradient, ("stripes", 96, 80)),
    "line drawing x mosaic 60x100": (_line_drawing, ("mosaic", 60, 100)),
    "photo x swirl 128x128": (lambda: data.content_image("chelsea", W), ("swirl", 128, 128)),
}


def _loss(image, content, style, settings=SETTINGS):
    """The engine's objective for this content and style, evaluated on ``image``."""
    cfg = transfer.configured(None, **settings)
    net = transfer.feature_network(cfg)
    _, c_s, s_s = transfer.inputs_at_scale(content, [style], tuple(content.shape[-2:]), 1.0, cfg, torch.device("cpu"))
    with torch.no_grad():
        return Objective(net, c_s, s_s, [1.0], cfg)(image)[0].item()


@pytest.mark.parametrize("case", list(CASES))
def test_lbfgs_returns_an_image_better_than_its_start_and_near_adam(case):
    make, (name, h, w) = CASES[case]
    content, style = make(), _style(name, h, w)
    lbfgs = transfer.stylise(content, style, steps=30, **SETTINGS)
    adam = transfer.stylise(content, style, steps=30, optimiser="adam", **SETTINGS)
    start, got, reached = _loss(content, content, style), _loss(lbfgs.image, content, style), _loss(adam.image, content, style)
    assert got < start, f"{case}: L-BFGS returned loss {got:.4g}, start {start:.4g}"
    assert got < 2 * reached, f"{case}: L-BFGS {got:.4g}, Adam {reached:.4g} in 30 steps"
    # never worse in silence: a run whose loss rose above loop.RISE x its start says so
    # ("recovered", with a warning), and no rise is a divergence (uncapped, a gradient rose 66x and stayed)
    history = lbfgs.history["total"]
    rose = max(history) > loop.RISE * history[0]
    assert lbfgs.stopped_reason == ("recovered" if rose else "finished"), lbfgs.describe()
    assert bool(lbfgs.warning) == rose and max(history) < 3 * history[0], lbfgs.describe()


def _far_quadratic(z):
    """A loss whose minimum is far out in logit space (pixels near 1): L-BFGS's second step
    would jump there at once."""

    def evaluate():
        x = torch.sigmoid(z)
        total = (z - 8.0).pow(2).sum()
        return loop.Evaluation(total, {}, x.detach().view(1, 1, 1, -1))

    return evaluate


def _largest_pixel_move(cap):
    z = torch.zeros(16, requires_grad=True)
    seen = [torch.sigmoid(z.detach()).clone()]
    out = loop.optimise([z], _far_quadratic(z), 12, optimiser="lbfgs", step_cap=cap,
                        after_step=lambda: seen.append(torch.sigmoid(z.detach()).clone()))
    assert out.reason == "finished" and (out.capped > 0) == (cap is not None)
    return max((b - a).abs().max().item() for a, b in zip(seen, seen[1:], strict=False))


def test_the_cap_bounds_every_lbfgs_step_in_pixel_space_and_none_lifts_it():
    assert _largest_pixel_move(0.1) <= 0.1 + 1e-6 < _largest_pixel_move(None)


def test_a_loss_that_ends_above_its_start_is_reported_and_the_best_image_returned():
    content = _gradient()[..., :24, :32].contiguous()
    style = _style("stripes", 40, 28)
    r = transfer.stylise(content, style, **dict(FAST_SETTINGS, steps=15, optimiser="adam", lr=40.0))
    h = r.history["total"]
    assert h[-1] > h[0], "this setting is meant to make the loss rise"
    assert r.stopped_reason == "recovered" and "above its start" in r.warning and "warning" in r.describe()
    assert _loss(r.image, content, style, FAST_SETTINGS) <= min(h) * 1.001  # the best image seen, not the last


def test_step_cap_is_checked():
    with pytest.raises(ValueError, match="step_cap"):
        transfer.TransferConfig(step_cap=0).validate()
    with pytest.raises(ValueError, match="step_cap"):
        transfer.TransferConfig(step_cap=float("nan")).validate()
