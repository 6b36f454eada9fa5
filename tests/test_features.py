"""The VGG19 feature extractor: names, shapes, truncation, no in-place overwrite, freezing,
and the offline fallback network."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_tools import fallback
from course_utils import features


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def all_layers() -> features.FeatureExtractor:
    return features.FeatureExtractor(features.LAYER_NAMES, weights="random", verbose=False,
                                     device="cpu")


def test_layer_names_follow_the_paper():
    names = features.LAYER_NAMES
    assert len(names) == 16 * 2 + 5
    assert names[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert names[-3:] == ("conv5_4", "relu5_4", "pool5")
    assert features.layer_index("conv4_2") == 21  # torchvision's features[21]
    assert features.layer_index("relu5_1") == 29
    assert [features.receptive_field(n) for n in features.GATYS_STYLE_LAYERS] == [3, 10, 24, 68, 156]


def test_layer_names_are_read_from_the_modules():
    # torchvision's own builder (in-place ReLUs) gets the same names as the course's network
    from torchvision.models.vgg import cfgs, make_layers

    assert features.layer_names(make_layers(cfgs["E"])) == list(features.LAYER_NAMES)
    assert features.layer_names(features.build_vgg19_features()[:5]) == list(features.LAYER_NAMES[:5])
    assert [features.stride(n) for n in ("conv1_1", "pool1", "conv2_1", "relu5_4", "pool5")] == [1, 2, 2, 16, 32]
    assert features.receptive_field("pool1") == 6 and features.receptive_field("conv1_2") == 5


def test_extract_keeps_the_named_layers_and_stops_after_the_last():
    net = features.build_vgg19_features()
    calls: list[int] = []
    for i, m in enumerate(net):
        m.register_forward_hook(lambda mod, inp, out, i=i: calls.append(i))
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    out = features.extract(net, x, ["relu2_1", "conv1_1"])
    assert list(out) == ["relu2_1", "conv1_1"] and calls == list(range(7))
    assert torch.equal(out["conv1_1"], net[0](x))
    with pytest.raises(ValueError, match=r"\['relu3_1'\] are not among the 7 modules of net"):
        features.extract(net[:7], x, ["relu3_1"])


def test_layers_for_scale():
    assert features.layers_for_scale(3) == ["relu1_1"]
    assert features.layers_for_scale(11) == ["relu1_1", "relu2_1", "relu3_1"]
    assert features.layers_for_scale(1000) == list(features.GATYS_STYLE_LAYERS)


def test_every_layer_shape_for_a_64px_input(all_layers, image):
    out = all_layers(image)
    assert list(out) == list(features.LAYER_NAMES)
    for name, t in out.items():
        block = int(name[4] if name.startswith("pool") else name[4])
        side = 64 // 2 ** (block if name.startswith("pool") else block - 1)
        c = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}[block]
        assert tuple(t.shape) == (1, c, side, side), name
        assert features.channels(name) == c and features.stride(name) == 64 // side


def test_runs_only_up_to_the_deepest_requested_layer(image):
    fx = features.FeatureExtractor(["relu1_1", "relu2_1"], weights="random", verbose=False)
    assert fx.depth == 7 and len(fx.body) == 7
    calls: list[int] = []
    for i, m in enumerate(fx.body):
        m.register_forward_hook(lambda mod, inp, out, i=i: calls.append(i))
    fx(image)
    assert calls == list(range(7))
    deeper = features.FeatureExtractor(["relu5_1"], weights="random", verbose=False)
    assert torch.allclose(fx(image)["relu2_1"],
                          features.FeatureExtractor(["relu2_1", "relu5_1"], weights="random",
                                                    verbose=False)(image)["relu2_1"])
    assert deeper.depth == 30


def test_no_inplace_overwrite_and_normalisation(all_layers, image):
    out = all_layers(image)
    conv, relu = out["conv1_1"], out["relu1_1"]
    assert conv.min() < 0, "a stored conv output must keep its negative values"
    assert torch.equal(relu, conv.clamp_min(0))
    mean = torch.tensor(features.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(features.IMAGENET_STD).view(1, 3, 1, 1)
    manual = F.conv2d((image - mean) / std, all_layers.body[0].weight, all_layers.body[0].bias,
                      padding=1)
    assert torch.allclose(conv, manual, atol=1e-5)
    assert not any(isinstance(m, nn.ReLU) and m.inplace for m in all_layers.body)


def test_frozen_and_in_eval_mode_but_gradients_reach_the_image(image):
    fx = features.FeatureExtractor(["relu3_1"], weights="random", verbose=False)
    assert all(not p.requires_grad for p in fx.parameters())
    fx.train()
    assert not fx.training
    x = image.clone().requires_grad_(True)
    fx(x)["relu3_1"].square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in fx.parameters())


def test_fallback_is_seeded_and_says_so(capsys):
    a = features.FeatureExtractor(["conv1_1"], weights="random")
    out = capsys.readouterr().out
    assert "OFFLINE FALLBACK" in out or features.SHORT_NOTICE in out
    features.FeatureExtractor(["conv1_1"], weights="random")
    assert "NOT ImageNet" in capsys.readouterr().out  # every time, not only the first
    b = features.FeatureExtractor(["conv1_1"], weights="random", verbose=False)
    c = features.FeatureExtractor(["conv1_1"], weights="random", seed=1, verbose=False)
    assert torch.equal(a.body[0].weight, b.body[0].weight)
    assert not torch.equal(a.body[0].weight, c.body[0].weight)
    assert not a.is_imagenet and "NOT ImageNet" in a.source and "random VGG19" in a.source


def test_fallback_uses_the_measured_initialisation():
    # benchmarks/fallback_choice.py chose torchvision's VGG init: Kaiming-normal (fan-out)
    # weights and zero biases.
    assert features.FALLBACK_INIT == "kaiming"
    state = features.random_vgg19_state()
    for key in ("0", "10", "34"):
        w, b = state[f"{key}.weight"], state[f"{key}.bias"]
        expected_std = (2 / (w.shape[0] * 9)) ** 0.5
        assert abs(w.std().item() - expected_std) < 0.05 * expected_std
        assert w.abs().max() > 3 * expected_std  # normal, not uniform (bounded at 1.73 std)
        assert torch.equal(b, torch.zeros_like(b))


def test_fallback_deep_layers_tell_photos_apart():
    # The property that ruled out PyTorch's default init: at the content layer two different
    # images must give clearly different features (relative distance), as with ImageNet.
    from course_utils import losses

    fx = features.FeatureExtractor(["relu4_2"], weights="random", verbose=False, device="cpu")
    g = torch.Generator().manual_seed(0)
    a = fallback.calibration_images(1, 64, seed=1)
    b = torch.rand(1, 3, 64, 64, generator=g)
    assert losses.content_loss(fx(b)["relu4_2"], fx(a)["relu4_2"]).item() > 0.1
    weak = fallback.candidate_extractor(["relu4_2"], "torch-default")
    assert losses.content_loss(weak(b)["relu4_2"], weak(a)["relu4_2"]).item() < 0.01


def test_standardised_candidate_is_standardised_on_its_calibration_images():
    # The measured alternative "kaiming+standardise": each filter's response has mean 0 and
    # standard deviation 1 before its ReLU on the fixed seeded calibration images.
    net = features.build_vgg19_features()
    net.load_state_dict(fallback.candidate_state(0, "kaiming+standardise"))
    mean = torch.tensor(features.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(features.IMAGENET_STD).view(1, 3, 1, 1)
    x = (fallback.calibration_images() - mean) / std
    with torch.no_grad():
        for m in net[:12]:
            x = m(x)
            if isinstance(m, nn.Conv2d):
                assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-3
                assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3


def test_fallback_inits_differ():
    states = {i: fallback.candidate_state(0, i) for i in fallback.CANDIDATES}
    assert len({float(s["0.bias"].abs().sum()) for s in states.values()}) >= 3
    assert torch.equal(states["kaiming"]["0.bias"], torch.zeros(64))
    assert torch.equal(states["kaiming"]["0.weight"], features.random_vgg19_state()["0.weight"])
    with pytest.raises(ValueError, match="init must be one of"):
        fallback.candidate_state(0, "xavier")


def test_bad_names_and_inputs_give_clear_errors(all_layers):
    with pytest.raises(ValueError, match="'conv_4' would be 'conv2_2'"):
        features.FeatureExtractor(["conv_4"], weights="random", verbose=False)
    with pytest.raises(ValueError, match="did you mean 'relu3_1'"):
        features.FeatureExtractor(["relu3-1"], weights="random", verbose=False)
    with pytest.raises(ValueError, match="at least one layer"):
        features.FeatureExtractor([], weights="random", verbose=False)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        all_layers(torch.rand(3, 64, 64))
    with pytest.raises(TypeError, match="weights must be"):
        features.FeatureExtractor(["conv1_1"], weights=3)


def test_batch_images_are_independent(image):
    fx = features.FeatureExtractor(["relu2_2"], weights="random", verbose=False)
    other = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    both = fx(torch.cat([image, other]))["relu2_2"]
    assert torch.allclose(both[:1], fx(image)["relu2_2"], atol=1e-5)
    assert torch.allclose(both[1:], fx(other)["relu2_2"], atol=1e-5)


def test_more_bad_arguments_give_clear_errors(all_layers):
    with pytest.raises(TypeError, match=r"layers must be a layer name or a list of them, got None"):
        features.FeatureExtractor(None, weights="random", verbose=False)
    with pytest.raises(ValueError, match=r"device='gpu' is not a PyTorch device; use 'cpu', 'cuda' or 'mps'"):
        features.FeatureExtractor(["relu1_1"], weights="random", verbose=False, device="gpu")
    with pytest.raises(ValueError, match="seed must be an integer, got '0'"):
        features.random_vgg19_state("0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_missing_cuda_device_is_named():
    with pytest.raises(ValueError, match=r"device='cuda' is not available on this machine"):
        features.FeatureExtractor(["relu1_1"], weights="random", verbose=False, device="cuda")


def test_an_image_too_small_for_the_deepest_layer_is_named(all_layers):
    # relu5_1 follows four 2x2 poolings: 16 px is the least that leaves it one position
    fx = features.FeatureExtractor(["relu1_1", "relu5_1"], weights="random", verbose=False, device="cpu")
    assert fx(torch.rand(1, 3, 16, 20))["relu5_1"].shape[-2:] == (1, 1)
    with pytest.raises(ValueError, match=r"15x20 px are too small for layer 'relu5_1', which needs at least 16 px"):
        fx(torch.rand(1, 3, 15, 20))
    with pytest.raises(ValueError, match="'pool5', which needs at least 32 px"):
        all_layers(torch.rand(1, 3, 31, 64))
    assert all_layers(torch.rand(1, 3, 32, 32))["pool5"].shape[-2:] == (1, 1)


def test_random_state_takes_numpy_seeds_and_names_one_too_large():
    import numpy as np

    assert torch.equal(features.random_vgg19_state(np.int64(0))["0.weight"], features.random_vgg19_state(0)["0.weight"])
    with pytest.raises(ValueError, match=r"seed must be an integer that fits in 64 bits, got 18446744073709551616; e\.g\. seed=0"):
        features.random_vgg19_state(2**64)
