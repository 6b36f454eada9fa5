"""The rotation experiment of the optional notebook 02b: does an STN discover rotation?

Behind ``benchmarks/stn_accuracy.py`` and ``data/checkpoints/stn02_r_stn.pt``; notebook 02b
runs it and explains each part. Two stages (:func:`train_upright_then_stn`):

1. train a reader (:class:`course_utils.stn.DigitCNN`) on **upright** digits, plus copies
   turned by 45°…180° whose target is "cannot tell", the uniform distribution (*outlier
   exposure*, Hendrycks et al. 2019);
2. freeze the reader, put a rotation-only STN in front of it, and train only the STN on
   **R** digits with the class labels and :func:`upright_search_loss`. No angle is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from course_utils import config, geometry, stn


@dataclass(frozen=True)
class RotationRecipe:
    """Sizes and weights of the rotation experiment (``batch_size``, ``lr``, ``width`` and
    ``hidden`` as in :class:`course_utils.stn.Recipe`)."""

    n_train: int = 16_000  # R digits
    n_test: int = 2_000
    batch_size: int = 32
    lr: float = 3e-3
    width: int = 8
    hidden: int = 64
    reader_epochs: int = 2  # stage 1, at ``lr``
    stn_only_epochs: int = 12  # stage 2
    stn_only_lr: float = 5e-3
    # the localization net: telling which way up a digit on its side is takes more than finding it
    loc_channels: tuple[int, int] = (16, 32)
    loc_hidden: int = 64
    pooled: int = 4
    reader_outlier_share: float = 0.5  # turned copies, as a share of the upright digits
    outlier_min_degrees: float = 45.0
    # upright_search_loss's terms beyond the cross-entropy
    half_turn_weight: float = 1.0
    half_turn_margin: float = 0.5
    upright_prior: float = 0.3
    name: str = "full"


ROTATION_FULL = RotationRecipe()
ROTATION_FAST = RotationRecipe(n_train=2_000, n_test=500, stn_only_epochs=4, stn_only_lr=1e-2, name="fast")

#: What ``benchmarks/stn_accuracy.py --ablation`` takes away, as changes to the recipe.
ABLATIONS = {
    "no turned examples for the reader": {"reader_outlier_share": 0.0},
    "no half-turn check": {"half_turn_weight": 0.0},
    "no prior for the smaller turn": {"upright_prior": 0.0},
    "half the training digits": {"n_train": 8_000},
    "plain cross-entropy (none of the four)": {"reader_outlier_share": 0.0, "half_turn_weight": 0.0,
                                               "upright_prior": 0.0, "n_train": 8_000},
}

#: The label of a "not an upright digit" example: its target is "cannot tell".
NOT_UPRIGHT = -1


def rotation_recipe() -> RotationRecipe:
    """The recipe for this mode: ``config.pick(full=ROTATION_FULL, fast=ROTATION_FAST)``."""
    return config.pick(full=ROTATION_FULL, fast=ROTATION_FAST)


def build_rotation_model(r: RotationRecipe, seed: int = 0) -> stn.STNClassifier:
    """A seeded rotation-only STN (an STN that may also zoom and shift can lower the loss in
    other ways) in front of the reader."""
    config.seed_everything(seed)
    return stn.STNClassifier(1, 10, r.width, r.hidden, transform="rotation", loc_channels=r.loc_channels,
                             loc_hidden=r.loc_hidden, pooled=r.pooled)


def rotation_params(degrees: torch.Tensor) -> torch.Tensor:
    """The ``"rotation"`` family's parameters ``(B, 2)`` for angles ``(B,)`` (degrees,
    anticlockwise): ``(cos α - 1, sin α)``, so that ``stn.params_to_theta`` gives the rotation."""
    if not isinstance(degrees, torch.Tensor):
        raise TypeError(f"degrees must be a tensor of angles (B,), got {type(degrees).__name__}; "
                        "e.g. torch.tensor([30.0]).")
    a = torch.deg2rad(degrees)
    return torch.stack([torch.cos(a) - 1.0, torch.sin(a)], dim=-1)


def turned_outliers(upright: torch.Tensor, share: float, min_degrees: float, seed: int = 0) -> torch.Tensor:
    """``round(share · N)`` copies of random digits of ``upright`` ``(N, C, H, W)``, each turned
    by a random ``min_degrees`` … 180° either way (smaller turns still count as upright)."""
    if not 0.0 <= share or not 0.0 <= min_degrees < 180.0:
        raise ValueError(f"share must be >= 0 and min_degrees in [0, 180), got {share!r} and {min_degrees!r}.")
    gen = torch.Generator().manual_seed(seed + 1000)
    n = round(share * len(upright))
    if n == 0:
        return upright[:0].clone()
    pick = torch.randint(len(upright), (n,), generator=gen)
    size = min_degrees + (180.0 - min_degrees) * torch.rand(n, generator=gen)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    aspect = upright.shape[-1] / upright.shape[-2]
    theta = stn.params_to_theta(rotation_params(size * sign), "rotation", aspect)
    return geometry.warp(upright[pick], theta).clamp(0.0, 1.0)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy, where rows labelled :data:`NOT_UPRIGHT` count as the cross-entropy
    against the uniform distribution, ``-mean(log softmax)``: the reader learns to be unsure
    about them rather than to call them a class of their own."""
    outliers = labels == NOT_UPRIGHT
    if not outliers.any():
        return F.cross_entropy(logits, labels)
    log_p = F.log_softmax(logits, dim=1)
    picked = log_p.gather(1, labels.clamp_min(0)[:, None])[:, 0]
    return torch.where(outliers, -log_p.mean(dim=1), -picked).mean()


def upright_search_loss(model: stn.STNClassifier, images: torch.Tensor, labels: torch.Tensor,
                        r: RotationRecipe) -> torch.Tensor:
    """The loss of the rotation-only STN in front of the frozen reader, for one batch.

    Three terms, none of which uses an angle: the reader's cross-entropy on the STN's
    output; a **half-turn check** (where the output turned by 180°, a flip of both axes,
    reads the label better by more than ``r.half_turn_margin``, the STN is upside down, in
    the wrong valley of the loss, and its direction is pulled straight onto its opposite,
    weight ``r.half_turn_weight``); and a small **prior for the smaller turn**,
    ``r.upright_prior · (1 − cos α)``, which settles the 0s and 8s.
    """
    transformer = model.stn
    if transformer.transform != "rotation":
        raise ValueError(f"upright_search_loss needs a rotation-only STN, got transform {transformer.transform!r}; "
                         "build the model with stn_experiment.build_rotation_model.")
    params = transformer.localization(images)
    theta = stn.params_to_theta(params, "rotation", images.shape[-1] / images.shape[-2])
    grid = F.affine_grid(theta, list(images.shape), align_corners=transformer.align_corners)
    output = F.grid_sample(images, grid, padding_mode=transformer.padding_mode,
                           align_corners=transformer.align_corners)
    reading = F.cross_entropy(model.cnn(output), labels, reduction="none")
    with torch.no_grad():
        turned = F.cross_entropy(model.cnn(output.flip(-2, -1)), labels, reduction="none")
        upside_down = (turned < reading - r.half_turn_margin).float()
    direction = torch.stack([1.0 + params[:, 0], params[:, 1]], dim=-1)
    pull_over = (direction + direction.detach()).square().sum(dim=-1)  # towards −direction
    smaller_turn = 1.0 - theta[:, 0, 0]  # 1 − cos α
    return (reading.mean() + r.half_turn_weight * (upside_down * pull_over).mean()
            + r.upright_prior * smaller_turn.mean())


def train_upright_then_stn(model: stn.STNClassifier, upright: torch.Tensor, distorted: torch.Tensor,
                           labels: torch.Tensor, r: RotationRecipe, *, seed: int = 0,
                           progress: bool = True) -> list[float]:
    """The two stages (see the module docstring). ``upright`` and ``distorted`` are the same
    digits ``(N, 1, H, W)`` without and with their rotation; ``labels`` ``(N,)``. Returns the
    mean training loss per epoch of stage 2."""
    if not isinstance(r, RotationRecipe):
        raise TypeError(f"r must be a RotationRecipe, got {r!r}; pass stn_experiment.rotation_recipe().")
    stn.check_examples(upright, labels, "upright")
    stn.check_examples(distorted, labels, "distorted")
    outliers = turned_outliers(upright, r.reader_outlier_share, r.outlier_min_degrees, seed)
    reader_images = torch.cat([upright, outliers])
    reader_labels = torch.cat([labels, torch.full((len(outliers),), NOT_UPRIGHT, dtype=labels.dtype)])
    stage = partial(stn.Recipe, n_train=r.n_train, n_test=r.n_test, batch_size=r.batch_size, name=r.name)
    stn.train_classifier(model.cnn, reader_images, reader_labels, stage(epochs=r.reader_epochs, lr=r.lr), seed=seed,
                         progress=progress, desc="reader on upright digits",
                         loss_fn=lambda reader, x, y: classification_loss(reader(x), y))
    model.cnn.requires_grad_(False)  # freeze the reader (in evaluation mode); gradients still flow through it

    def loss_fn(_, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # the STN's loss, through the reader
        if model.stn.transform == "rotation":
            return upright_search_loss(model, x, y, r)
        return classification_loss(model(x), y)

    history = stn.train_classifier(model.stn, distorted, labels, stage(epochs=r.stn_only_epochs, lr=r.stn_only_lr),
                                   seed=seed, progress=progress, desc="STN in front of the frozen reader",
                                   loss_fn=loss_fn, max_grad_norm=1.0)
    model.eval()
    return history


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson's correlation of two ``(N,)`` tensors."""
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


def circular_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Jammalamadaka and SenGupta's circular correlation of two angle sets (degrees)."""
    a, b = torch.deg2rad(a), torch.deg2rad(b)
    da = torch.sin(a - torch.atan2(a.sin().mean(), a.cos().mean()))
    db = torch.sin(b - torch.atan2(b.sin().mean(), b.cos().mean()))
    return ((da * db).sum() / (da.square().sum() * db.square().sum()).sqrt()).item()
