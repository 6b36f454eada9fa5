"""Tests for course_utils.stn: identity at initialisation, gradients, constrained θ, padding,
training and checkpoints (the rotation experiment's are in test_stn_experiment.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from course_tools import stn_experiment as ex
from course_utils import geometry, stn

SHAPES = [(1, 1, 28, 28), (4, 1, 42, 42), (2, 3, 17, 40), (3, 5, 64, 33), (2, 2, 1, 1), (5, 1, 7, 3)]


@pytest.mark.parametrize("transform", list(stn.TRANSFORMS))
@pytest.mark.parametrize("shape", SHAPES)
def test_identity_at_initialisation(shape, transform):
    torch.manual_seed(0)
    x = torch.rand(shape)
    module = stn.SpatialTransformer(shape[1], transform)
    out, theta = module(x)
    assert out.shape == x.shape
    assert theta.shape == (shape[0], 2, 3)
    torch.testing.assert_close(theta, geometry.identity_theta().expand(shape[0], 2, 3))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_identity_for_every_padding_and_alignment(align_corners, padding):
    x = torch.rand(3, 2, 23, 31)
    module = stn.SpatialTransformer(2, padding_mode=padding, align_corners=align_corners)
    out, _ = module(x)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_seed_bias_is_not_the_identity_but_ours_is():
    layer = nn.Linear(32, 6)
    stn.init_identity_(layer)
    assert torch.equal(layer.weight, torch.zeros(6, 32))
    assert layer.bias.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    # The seed's bias collapses every row onto the bottom edge: all rows of the output equal.
    x = torch.rand(1, 1, 28, 28)
    seed_theta = torch.tensor([1.0, 0, 0, 0, 0, 1]).view(1, 2, 3)
    collapsed = geometry.warp(x, seed_theta, padding_mode="border")
    assert torch.allclose(collapsed, collapsed[:, :, :1, :].expand_as(collapsed))
    assert not torch.allclose(collapsed, x, atol=1e-2)


def test_gradients_reach_the_localization_net():
    torch.manual_seed(0)
    module = stn.SpatialTransformer(1)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    x = torch.rand(4, 1, 28, 28)
    target = torch.roll(x, shifts=3, dims=-1)
    grads = []
    for _ in range(2):
        opt.zero_grad()
        out, _ = module(x)
        ((out - target) ** 2).mean().backward()
        grads.append({n: p.grad.abs().sum().item() for n, p in module.named_parameters()})
        opt.step()
    last = "localization.head.3"
    first = "localization.features.1.weight"
    # Step 1: only the zero-initialised last layer gets a gradient (its weights are zero, so
    # nothing flows further back yet) ...
    assert grads[0][f"{last}.weight"] > 0 and grads[0][f"{last}.bias"] > 0
    assert grads[0][first] == 0.0
    # ... and once that layer has moved, the gradient reaches the first convolution.
    assert grads[1][first] > 0


def _random_head_thetas(transform: str, seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """θs of a SpatialTransformer whose last layer is random (not the identity), so the
    form of its transform family shows, for a random batch of the given shape."""
    torch.manual_seed(seed)
    module = stn.SpatialTransformer(shape[1], transform)
    nn.init.normal_(module.localization.head[-1].weight, std=0.5)
    nn.init.normal_(module.localization.head[-1].bias, std=0.5)
    return module(torch.rand(*shape))[1]


def test_rotation_theta_form():
    """The rotation family: a direction (1 + u, v), normalised; a pure rotation, no shift."""
    theta = _random_head_thetas("rotation", 3, (6, 1, 28, 28))
    a = theta[:, :, :2]
    torch.testing.assert_close(a @ a.transpose(1, 2), torch.eye(2).expand(6, 2, 2))
    torch.testing.assert_close(torch.linalg.det(a), torch.ones(6))  # no scale, no flip
    assert torch.all(theta[:, :, 2] == 0)
    assert len({round(v, 4) for v in stn.rotation_degrees(theta).tolist()}) == 6
    # (u, v) = (-1, 1) is the direction (0, 1): a quarter turn; (-2, 0) is a half turn.
    quarter, half = stn.params_to_theta(torch.tensor([[-1.0, 1.0], [-2.0, 0.0]]), "rotation")
    torch.testing.assert_close(quarter, geometry.rotation_theta(90.0))
    torch.testing.assert_close(half, geometry.rotation_theta(180.0))
    # only the direction counts, and the aspect correction is that of geometry
    torch.testing.assert_close(stn.params_to_theta(torch.tensor([[2.0, 3.0]]), "rotation"),
                               stn.params_to_theta(torch.tensor([[0.0, 1.0]]), "rotation"))
    wide = stn.params_to_theta(torch.tensor([[-1.0, 1.0]]), "rotation", aspect=2.0)[0]
    torch.testing.assert_close(wide, geometry.rotation_theta(90.0, aspect=2.0))


def test_localization_net_size_is_configurable():
    small = stn.SpatialTransformer(1, "rotation")
    wide = stn.SpatialTransformer(1, "rotation", hidden=64, loc_channels=(16, 32), pooled=4)
    assert stn.count_parameters(wide) > 3 * stn.count_parameters(small)
    assert wide.localization.features[1].out_channels == 16
    assert wide.localization.head[1].in_features == 32 * 4 * 4
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(wide(x)[0], x, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="channels"):
        stn.LocalizationNet(1, 2, channels=(8, 0))


def test_attention_theta_form():
    theta = _random_head_thetas("attention", 1, (5, 3, 20, 24))
    assert torch.all(theta[:, 0, 1] == 0) and torch.all(theta[:, 1, 0] == 0)
    torch.testing.assert_close(theta[:, 0, 0], theta[:, 1, 1])
    assert (theta[:, 0, 0] > 0).all()
    assert len(set(theta[:, 0, 2].tolist())) > 1  # translations differ per sample


def test_affine_theta_is_unconstrained():
    torch.manual_seed(2)
    module = stn.SpatialTransformer(1, "affine")
    nn.init.normal_(module.localization.head[-1].weight, std=0.5)
    _, theta = module(torch.rand(4, 1, 28, 28))
    a = theta[:, :, :2]
    assert not torch.allclose(a[:, 0, 0], a[:, 1, 1])


def test_rotation_degrees_inverts_rotation_theta():
    for deg in (-170.0, -45.0, 0.0, 12.5, 90.0):
        assert stn.rotation_degrees(geometry.rotation_theta(deg)).item() == pytest.approx(deg, abs=1e-4)
    # scale and translation do not change the angle
    t = geometry.theta_from_params(angle=33.0, scale=1.7, tx=0.3, ty=-0.1)
    assert stn.rotation_degrees(t).item() == pytest.approx(33.0, abs=1e-3)


def test_border_padding_keeps_normalised_background():
    """The STN-tutorial pitfall: zero padding of a normalised image is a false grey."""
    mean, std = 0.13, 0.31
    raw = torch.zeros(1, 1, 28, 28)
    raw[..., 10:18, 12:16] = 1.0
    x = (raw - mean) / std  # background is (0 - mean) / std, not 0
    corner = (slice(None), slice(None), slice(0, 3), slice(0, 3))
    outputs = {}
    for pad in ("zeros", "border"):
        module = stn.SpatialTransformer(1, "attention", padding_mode=pad)
        with torch.no_grad():  # attention params (log-scale, tx, ty): zoom out by 2
            module.localization.head[-1].bias.copy_(torch.tensor([math.log(2.0), 0.0, 0.0]))
            outputs[pad] = module(x)[0]
    assert outputs["zeros"][corner].abs().max() < 1e-6  # 0 is a value the data never has
    torch.testing.assert_close(outputs["border"][corner], torch.full_like(outputs["border"][corner], -mean / std))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"in_channels": 0}, "in_channels"),
        ({"in_channels": 1, "transform": "projective"}, "transform"),
        ({"in_channels": 1, "padding_mode": "edge"}, "padding_mode"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stn.SpatialTransformer(**kwargs)


def test_bad_inputs():
    module = stn.SpatialTransformer(3)
    with pytest.raises(ValueError, match="channels"):
        module(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"x must be a \(B, 3, H, W\) tensor, got \(3, 28, 28\); add a batch"):
        module(torch.rand(3, 28, 28))
    with pytest.raises(ValueError, match="params"):
        stn.params_to_theta(torch.zeros(2, 5), "affine")


def test_models_share_a_parameter_budget():
    for recipe in (stn.RECIPE_FULL, stn.RECIPE_FAST):
        models = stn.build_models(recipe)
        n_cnn = stn.count_parameters(models["CNN"])
        n_stn = stn.count_parameters(models["STN-CNN"])
        assert abs(n_cnn - n_stn) / n_stn < 0.02
        # the plain CNN really is wider, not the same network with fewer parameters
        assert models["CNN"].classifier[1].out_features > recipe.hidden
    assert stn.recipe() is stn.RECIPE_FAST  # the tests run in fast mode


def test_classifiers_accept_any_size():
    for model in stn.build_models(stn.RECIPE_FAST).values():
        for size in (28, 42, 60):
            assert model(torch.rand(2, 1, size, size)).shape == (2, 10)


def test_training_is_deterministic_and_learns():
    from course_utils.digits import make_digits

    data = make_digits(192, "RTS", seed=3)
    recipe = stn.Recipe(n_train=192, n_test=0, epochs=3, batch_size=32, name="test")
    states, losses = [], []
    for _ in range(2):
        model = stn.build_models(recipe, seed=5)["STN-CNN"]
        losses.append(stn.train_classifier(model, data.images, data.labels, recipe, seed=5, progress=False))
        states.append(model.state_dict())
    assert losses[0] == losses[1]
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    assert losses[0][-1] < losses[0][0]


def test_committed_checkpoints_load_into_the_full_models():
    names = {"stn02_rts_cnn": lambda: stn.build_models(stn.RECIPE_FULL)["CNN"],
             "stn02_rts_stn": lambda: stn.build_models(stn.RECIPE_FULL)["STN-CNN"],
             "stn02_r_stn": lambda: ex.build_rotation_model(ex.ROTATION_FULL)}
    found = [n for n in names if stn.checkpoint_path(n).exists()]
    if not found:
        pytest.skip("no checkpoints committed yet")
    for name in found:
        model = names[name]()
        message = stn.load_or_train(model, name, train=lambda: pytest.fail("should have loaded"))
        assert message.startswith("loaded")
        assert stn.checkpoint_path(name).stat().st_size < 300_000


def test_load_or_train_trains_when_no_checkpoint():
    calls = []
    message = stn.load_or_train(nn.Linear(2, 2), "no_such_checkpoint", train=lambda: calls.append(1))
    assert calls == [1] and message.startswith("trained")


def test_committed_rts_checkpoints_show_the_gap():
    """The shipped full-mode models: the STN-CNN makes at most 2/3 of the CNN's errors."""
    from course_utils.digits import make_digits

    names = {"CNN": "stn02_rts_cnn", "STN-CNN": "stn02_rts_stn"}
    if not all(stn.checkpoint_path(n).exists() for n in names.values()):
        pytest.skip("no RTS checkpoints committed yet")
    test = make_digits(1000, "RTS", seed=0, split="test")
    models = stn.build_models(stn.RECIPE_FULL)
    errors = {}
    for which, name in names.items():
        stn.load_or_train(models[which], name, train=lambda: pytest.fail("should have loaded"))
        errors[which] = 1 - stn.accuracy(models[which], test.images, test.labels)
    assert errors["STN-CNN"] <= 0.67 * errors["CNN"], errors


def test_attention_scale_is_bounded():
    params = torch.zeros(3, 3)
    params[:, 0] = torch.tensor([-1e4, 0.0, 1e4])
    theta = stn.params_to_theta(params, "attention")
    assert torch.isfinite(theta).all()
    scales = torch.linalg.det(theta[:, :, :2]).sqrt()
    torch.testing.assert_close(scales, torch.tensor([0.25, 1.0, 4.0]))
    # near log-scale 0 the bound is invisible: the scale is exp(p)
    params[:, 0] = torch.tensor([-0.05, 0.0, 0.05])
    small = torch.linalg.det(stn.params_to_theta(params, "attention")[:, :, :2]).sqrt()
    torch.testing.assert_close(small, torch.tensor([-0.05, 0.0, 0.05]).exp(), atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: stn.init_identity_(nn.Linear(32, 6, bias=False)), ValueError,
         r"needs the localization net's last nn.Linear with a bias and 6 outputs .* nn\.Linear\(hidden, 6\)"),
        (lambda: stn.init_identity_(nn.Linear(32, 4)), ValueError, "6 outputs for transform 'affine'"),
        (lambda: stn.SpatialTransformer(1)(torch.rand(1, 28, 28)), ValueError,
         r"x must be a \(B, 1, H, W\) tensor, got \(1, 28, 28\); add a batch dimension"),
        (lambda: stn.params_to_theta([[1.0, 0.0]], "rotation"), ValueError,
         r"params must have shape \(B, 2\) for transform 'rotation', got list"),
        (lambda: stn.DigitCNN()(torch.rand(16, 28, 28)), ValueError,
         r"got \(16, 28, 28\); add a channel dimension with x\[:, None\]"),
        (lambda: stn.DigitCNN()(torch.rand(2, 3, 28, 28)), ValueError, "x has 3 channels but this DigitCNN was built for 1"),
        (lambda: stn.rotation_degrees(torch.zeros(2)), ValueError, r"theta must have shape \(2, 3\) or \(B, 2, 3\)"),
        (lambda: stn.build_models("fast"), TypeError, "r must be a Recipe, got 'fast'; pass stn.recipe()"),
        (lambda: stn.transform_batch(stn.STNClassifier(), torch.rand(2, 1, 28, 28)), TypeError,
         "needs a SpatialTransformer, got STNClassifier; .* model.stn"),
        (lambda: stn.accuracy(stn.DigitCNN(), torch.rand(4, 1, 28, 28), torch.tensor([1, 2])), ValueError,
         "images and labels must have the same length, got 4 and 2"),
    ],
)
def test_more_bad_arguments_get_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_train_classifier_checks_its_data_before_training():
    r = stn.Recipe(n_train=4, n_test=0, epochs=1, batch_size=2, name="test")
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"labels must be a \(N,\) tensor of class indices .*torch.float32; convert"):
        stn.train_classifier(stn.DigitCNN(), images, labels.float(), r, progress=False)
    with pytest.raises(ValueError, match=r"images must be an \(N, C, H, W\) tensor, got \(4, 28, 28\); add a channel"):
        stn.train_classifier(stn.DigitCNN(), images[:, 0], labels, r, progress=False)
    with pytest.raises(ValueError, match="batch_size >= 1"):
        stn.train_classifier(stn.DigitCNN(), images, labels, replace(r, batch_size=0), progress=False)


def test_load_or_train_names_a_checkpoint_that_does_not_fit(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"checkpoint data/checkpoints/stn02_rts_cnn\.pt does not fit this model \(size mismatch"):
        stn.load_or_train(stn.DigitCNN(width=4), "stn02_rts_cnn", train=lambda: pytest.fail("must not train"))
    monkeypatch.setattr(stn, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*broken\.pt: the file is damaged"):
        stn.load_or_train(stn.DigitCNN(), "broken", train=lambda: pytest.fail("must not train"))


def test_save_checkpoint_round_trips_and_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(stn.config, "PROJECT_ROOT", tmp_path)
    torch.manual_seed(0)
    model = stn.DigitCNN(width=4)
    path = stn.save_checkpoint(model, "tiny")
    assert path == tmp_path / "data" / "checkpoints" / "tiny.pt"
    assert [p.name for p in path.parent.iterdir()] == ["tiny.pt"]  # no temporary file left
    fresh = stn.DigitCNN(width=4)
    assert stn.load_or_train(fresh, "tiny", train=lambda: pytest.fail("must not train")) == (
        "loaded data/checkpoints/tiny.pt")
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items(), strict=True):
        torch.testing.assert_close(b, a.half().to(a.dtype) if a.is_floating_point() else a, msg=name)


@pytest.mark.parametrize("content, match", [
    ([torch.zeros(2)], r"holds a list, not a state_dict \(a dict of parameter name → tensor\)"),
    (torch.zeros(3), r"holds a Tensor, not a state_dict \(a dict of parameter name → tensor\)"),
    ({"features.0.weight": "weights"}, r"holds a str under 'features.0.weight', not a tensor: it is not a state_dict \(parameter name → tensor\)"),
])
def test_a_checkpoint_that_is_not_a_state_dict_is_refused(tmp_path, monkeypatch, content, match):
    monkeypatch.setattr(stn, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    torch.save(content, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=match + "; restore it"):
        stn.load_or_train(stn.DigitCNN(), "odd", train=lambda: pytest.fail("must not train"))


def test_a_checkpoint_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(stn, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    (tmp_path / "folder.pt").mkdir()
    with pytest.raises(ValueError, match=r"checkpoint .*folder\.pt is a folder, not a file; remove it"):
        stn.load_or_train(stn.DigitCNN(), "folder", train=lambda: pytest.fail("must not train"))


def test_a_checkpoint_full_of_nan_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(stn, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    state = stn.DigitCNN().state_dict()
    state["classifier.1.weight"] = torch.full_like(state["classifier.1.weight"], float("nan"))
    torch.save(state, tmp_path / "diverged.pt")
    model = stn.DigitCNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"holds NaN or infinite weights \(training diverged\)"):
        stn.load_or_train(model, "diverged", train=lambda: pytest.fail("must not train"))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # left as it was


def _run_child(code: str):
    """Run ``code`` in a fresh Python: a segmentation fault there fails the test instead of
    killing pytest (and a learner's Jupyter kernel)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("images, lr", [("torch.full((8, 1, 28, 28), float('nan'))", 3e-3),
                                        ("torch.rand(64, 1, 28, 28)", 1e30)])
def test_a_nan_theta_in_stn_training_is_refused_before_grid_sample_backward_crashes(images, lr):
    # NaN images, or a learning rate that makes the weights blow up, gave a NaN θ; the
    # transformer's grid_sample (border padding) then crashed in backward: a segmentation
    # fault that killed the process (a Jupyter kernel) with no message.
    child = _run_child(
        "import torch\nfrom course_utils import stn\ntorch.manual_seed(0)\n"
        f"x = {images}\ny = torch.randint(0, 10, (len(x),))\n"
        f"r = stn.Recipe(n_train=len(x), n_test=0, epochs=3, batch_size=8, lr={lr!r})\n"
        "try:\n    stn.train_classifier(stn.STNClassifier(), x, y, r, progress=False)\n"
        "except ValueError as exc:\n    print('REFUSED', exc)\n"
    )
    assert child.returncode == 0, f"the child died (return code {child.returncode}): {child.stderr[-500:]}"
    assert "REFUSED the localization net gave a θ with NaN or infinite values" in child.stdout
    assert "lower the learning rate" in child.stdout


def test_params_to_theta_refuses_non_finite_params():
    with pytest.raises(ValueError, match="the localization net gave a θ with NaN or infinite values"):
        stn.params_to_theta(torch.full((2, 6), float("nan")), "affine")
    with pytest.raises(ValueError, match="the localization net gave a θ with NaN or infinite values"):
        stn.params_to_theta(torch.full((2, 2), 1e30), "rotation_scale")


@pytest.mark.parametrize("shift, match", [(10, "got values from 10 to 19"), (-9, "got values from -9 to 0")])
def test_train_classifier_refuses_labels_outside_the_classes(shift, match):
    r = stn.Recipe(n_train=10, n_test=0, epochs=1, batch_size=5, name="test")
    labels = torch.arange(10) + shift
    with pytest.raises(ValueError, match=r"labels must be class numbers 0 to 9 \(the digit classifiers have 10 "
                                         rf"classes\), {match}; number the classes from 0"):
        stn.train_classifier(stn.DigitCNN(), torch.rand(10, 1, 28, 28), labels, r, progress=False)


def test_check_examples_takes_the_number_of_classes():
    images = torch.rand(3, 1, 8, 8)
    stn.check_examples(images, torch.tensor([0, 11, 25]), n_classes=26)
    with pytest.raises(ValueError, match="labels must be class numbers 0 to 2 .* got values from 0 to 3"):
        stn.check_examples(images, torch.tensor([0, 1, 3]), n_classes=3)


def test_read_checkpoint_accepts_a_string_path(tmp_path):
    torch.save(stn.DigitCNN(width=4).state_dict(), tmp_path / "x.pt")
    assert set(stn.read_checkpoint(str(tmp_path / "x.pt"))) == set(stn.DigitCNN(width=4).state_dict())
    with pytest.raises(TypeError, match="path must be a checkpoint file's path .* got NoneType"):
        stn.read_checkpoint(None)


@pytest.mark.parametrize("name, match", [
    ("", "name must be a checkpoint name such as 'stn02_rts_stn', got ''"),
    ("x" * 300, "name is 300 characters long; use at most 200"),
    (None, "name must be a checkpoint name such as 'stn02_rts_stn', got None"),
])
def test_save_checkpoint_refuses_a_name_that_is_no_file_name(tmp_path, monkeypatch, name, match):
    monkeypatch.setattr(stn.config, "PROJECT_ROOT", tmp_path)
    with pytest.raises(ValueError, match=match):
        stn.save_checkpoint(stn.DigitCNN(width=4), name)
    assert not (tmp_path / "data" / "checkpoints").exists() or not any((tmp_path / "data" / "checkpoints").iterdir())


def test_load_or_train_names_a_train_that_is_not_a_function(tmp_path, monkeypatch):
    monkeypatch.setattr(stn.config, "PROJECT_ROOT", tmp_path)
    with pytest.raises(TypeError, match=r"train must be a function that trains the model .* got None"):
        stn.load_or_train(stn.DigitCNN(), "no_such_checkpoint", None)
    with pytest.raises(ValueError, match="name is 300 characters long"):
        stn.load_or_train(stn.DigitCNN(), "x" * 300, lambda: None)


@pytest.mark.parametrize("call, match", [
    (lambda: stn.predict(stn.DigitCNN(), torch.rand(0, 1, 28, 28)), "images is empty; pass at least one image"),
    (lambda: stn.predict(stn.DigitCNN(), None), r"images must be an \(N, C, H, W\) tensor, got NoneType"),
    (lambda: stn.predict(stn.DigitCNN(), torch.rand(4, 1, 28, 28), batch_size=0), "batch_size must be a positive integer, got 0"),
    (lambda: stn.predict(stn.DigitCNN(), torch.rand(4, 1, 28, 28), batch_size=-1), "batch_size must be a positive integer, got -1"),
    (lambda: stn.transform_batch(stn.SpatialTransformer(1), torch.rand(0, 1, 28, 28)), "images is empty"),
    (lambda: stn.transform_batch(stn.SpatialTransformer(1), torch.rand(4, 1, 28, 28), batch_size=2.5),
     "batch_size must be a positive integer, got 2.5"),
])
def test_predict_and_transform_batch_check_their_batch(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, error, match", [
    (lambda: stn.check_transform(["affine"]), ValueError, r"transform must be one of .* got \['affine'\]"),
    (lambda: stn.DigitCNN()(torch.randint(0, 255, (2, 1, 28, 28))), ValueError,
     r"x has dtype torch.int64; the network needs a floating-point image: use x\.float\(\) / 255"),
    (lambda: stn.SpatialTransformer(1)(torch.randint(0, 255, (2, 1, 28, 28), dtype=torch.uint8)), ValueError,
     "x has dtype torch.uint8"),
    (lambda: stn.DigitCNN(n_classes=-1), ValueError, "n_classes must be a positive integer, got -1"),
    (lambda: stn.DigitCNN(in_channels="3"), ValueError, "in_channels must be a positive integer, got '3'"),
    (lambda: stn.DigitCNN(width=2.5), ValueError, "width must be a positive integer, got 2.5"),
    (lambda: stn.DigitCNN(hidden=None), ValueError, "hidden must be a positive integer, got None"),
    (lambda: stn.predict(None, torch.rand(2, 1, 28, 28)), TypeError, r"model must be a torch\.nn\.Module .* got NoneType"),
])
def test_extra_bad_arguments_get_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_read_checkpoint_names_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"checkpoint .*missing\.pt does not exist; check its name"):
        stn.read_checkpoint(str(tmp_path / "missing.pt"))


@pytest.mark.parametrize("model", [stn.DigitCNN, stn.STNClassifier])
def test_classifiers_name_images_of_another_float_dtype(model):
    # torch.from_numpy gives float64: conv2d's "Input type (double) and bias type (float)" otherwise.
    with pytest.raises(ValueError, match=r"x has dtype torch.float64 but this \w+'s weights are torch.float32; "
                                         r"convert with x\.float\(\)"):
        model()(torch.rand(2, 1, 28, 28, dtype=torch.float64))
    assert model().double()(torch.rand(2, 1, 28, 28, dtype=torch.float64)).dtype == torch.float64
