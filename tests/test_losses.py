"""Gram matrix and losses against references and values computed by hand."""

from __future__ import annotations

import pytest
import torch

from course_utils import losses


def test_gram_matches_einsum_for_a_batch_of_three():
    x = torch.randn(3, 6, 5, 4, generator=torch.Generator().manual_seed(0))
    ref = torch.einsum("bchw,bdhw->bcd", x, x) / (5 * 4)
    g = losses.gram_matrix(x)
    assert g.shape == (3, 6, 6)
    assert torch.allclose(g, ref, atol=1e-6)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.linalg.eigvalsh(g.double()).min() > -1e-9  # positive semi-definite


def test_gram_keeps_images_apart_and_ignores_image_size():
    a = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(1))
    b = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(2))
    both = losses.gram_matrix(torch.cat([a, b]))
    assert torch.allclose(both[0], losses.gram_matrix(a)[0])
    assert torch.allclose(both[1], losses.gram_matrix(b)[0])
    tiled = a.repeat(1, 1, 2, 3)  # the same texture on a 6x9 canvas
    assert torch.allclose(losses.gram_matrix(tiled), losses.gram_matrix(a), atol=1e-6)


def test_gram_by_hand():
    # two channels, two positions: F = [[1, 2], [3, 4]] -> F Fᵀ = [[5, 11], [11, 25]], / 2
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    assert torch.equal(losses.gram_matrix(x), torch.tensor([[[2.5, 5.5], [5.5, 12.5]]]))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        losses.gram_matrix(torch.ones(2, 3, 4))


def test_content_loss_by_hand():
    target = torch.tensor([1.0, 2.0, 2.0, 0.0]).view(1, 1, 2, 2)  # ‖t‖² = 9
    gen = torch.tensor([1.0, 2.0, 0.0, 3.0]).view(1, 1, 2, 2)  # ‖g − t‖² = 4 + 9 = 13
    assert losses.content_loss(gen, target).item() == pytest.approx(13 / 9)
    assert losses.content_loss(target, target).item() == 0.0
    # scale-free: multiplying both by 10 (a layer with larger activations) changes nothing
    assert losses.content_loss(10 * gen, 10 * target).item() == pytest.approx(13 / 9)
    # a batch of two against one target: the mean of the two
    batch = torch.cat([gen, target])
    assert losses.content_loss(batch, target).item() == pytest.approx(13 / 18)
    with pytest.raises(ValueError, match="same layer"):
        losses.content_loss(gen, torch.ones(1, 1, 3, 3))


def test_style_loss_by_hand():
    # layer a: one channel, features [1, 1] -> Gram 1; target 2 -> (1 − 2)² / 2² = 0.25
    # layer b: one channel, features [3]    -> Gram 9; target 9 -> 0
    gen = {"a": torch.tensor([1.0, 1.0]).view(1, 1, 1, 2), "b": torch.tensor([3.0]).view(1, 1, 1, 1),
           "content": torch.ones(1, 2, 1, 1)}  # a layer without a target is not a style layer
    tgt = {"a": torch.tensor([[[2.0]]]), "b": torch.tensor([[[9.0]]])}
    assert losses.style_loss(gen, tgt).item() == pytest.approx((0.25 + 0.0) / 2)
    assert losses.style_loss(gen, tgt, {"a": 4.0, "b": 1.0}).item() == pytest.approx(1.0)
    assert losses.style_loss(gen, tgt, {"a": 0.0, "b": 1.0}).item() == 0.0
    with pytest.raises(KeyError, match="b"):
        losses.style_loss({"a": gen["a"]}, tgt)


def test_relative_losses_are_gatys_losses_times_a_constant():
    """Gatys et al. (2016): content ½ Σ (F − P)², style E_l = Σ (G − A)² / (4 N² M²) with
    unnormalised Grams G = F Fᵀ of two images of M positions each. The course's losses are
    these times a constant fixed by the target (2 / ‖P‖² and 4 N² / ‖A / M‖²), as
    notebook 04 says."""
    g = torch.Generator().manual_seed(7)
    n, h, w = 5, 6, 4
    f, p = torch.rand(1, n, h, w, generator=g), torch.rand(1, n, h, w, generator=g)
    gatys_content = 0.5 * (f - p).pow(2).sum()
    assert losses.content_loss(f, p).item() == pytest.approx((2 / p.pow(2).sum() * gatys_content).item(), rel=1e-5)
    m = h * w
    big_g, big_a = f.reshape(n, m) @ f.reshape(n, m).T, p.reshape(n, m) @ p.reshape(n, m).T
    e_l = (big_g - big_a).pow(2).sum() / (4 * n**2 * m**2)
    a = losses.gram_matrix(p)  # = A / M
    assert losses.style_loss({"l": f}, {"l": a}).item() == pytest.approx((4 * n**2 / a.pow(2).sum() * e_l).item(), rel=1e-5)


def test_style_loss_is_independent_of_sizes_and_scale():
    f = torch.rand(1, 8, 6, 6, generator=torch.Generator().manual_seed(3))
    s = torch.rand(1, 8, 9, 9, generator=torch.Generator().manual_seed(4))
    base = losses.style_loss({"l": f}, losses.grams({"l": s})).item()
    bigger = losses.style_loss({"l": f.repeat(1, 1, 2, 2)}, losses.grams({"l": s.repeat(1, 1, 3, 3)}))
    assert bigger.item() == pytest.approx(base, rel=1e-5)
    assert losses.style_loss({"l": 7 * f}, losses.grams({"l": 7 * s})).item() == pytest.approx(base, rel=1e-5)


def test_style_loss_gradient_reaches_the_features():
    f = torch.rand(2, 4, 5, 5, generator=torch.Generator().manual_seed(5)).requires_grad_(True)
    t = losses.grams({"l": torch.rand(1, 4, 7, 7, generator=torch.Generator().manual_seed(6))})
    losses.style_loss({"l": f}, t).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    assert not t["l"].requires_grad


def test_tv_loss_by_hand():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    # vertical differences 2, 2 -> mean square 4; horizontal 1, 1 -> 1
    assert losses.tv_loss(x).item() == pytest.approx(5.0)
    assert losses.tv_loss(torch.full((2, 3, 8, 8), 0.7)).item() == 0.0


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: losses.grams(torch.rand(1, 3, 8, 8)), TypeError, r"grams expects a dict .* use gram_matrix\(x\)"),
        (lambda: losses.content_loss({"relu4_2": torch.rand(1, 3, 8, 8)}, torch.rand(1, 3, 8, 8)),
         TypeError, r"two feature tensors .* got dict and Tensor; pick the content layer"),
        (lambda: losses.style_loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 3)),
         TypeError, r"two dicts .* got Tensor and Tensor; pass the FeatureExtractor's output"),
        (lambda: losses.style_loss({"l": torch.rand(1, 3, 8, 8)}, {}), TypeError, r"the second not empty"),
        (lambda: losses.style_loss({"l": torch.rand(1, 3, 8, 8)}, {"l": torch.rand(1, 3, 8, 8)}),
         ValueError, r"shapes \(1, 3, 3\) and \(1, 3, 8, 8\); compute both with the same layer"),
        (lambda: losses.tv_loss([[0.0, 1.0]]), ValueError, r"tv_loss expects .* \(B, C, H, W\), got list"),
    ],
)
def test_bad_arguments_get_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
