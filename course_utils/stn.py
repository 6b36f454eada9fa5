"""The Spatial Transformer Network (Jaderberg et al., 2015), for any input size and channels.

An STN has three parts (notebook 02 explains each with pictures):

1. a **localization network** (定位网络) that looks at the input and regresses the
   parameters of a transform, θ;
2. a **grid generator** (网格生成器) that turns θ into a sampling grid, one input position
   per output pixel (:func:`course_utils.geometry.sampling_grid`);
3. a **sampler** (采样器) that reads the input at those positions (:func:`sample`).

It fixes the two bugs of the seed article's module (seed defects 1–2): the localization
net ends with adaptive pooling, so it accepts any ``(B, C, H, W)``, and θ starts at the
exact identity ``[[1, 0, 0], [0, 1, 0]]``, so an untrained STN passes its input through
unchanged.

The module also holds the small digit classifiers that notebook 02 compares (a CNN, and
the same CNN behind an STN), their training loop and the recipe that sizes them.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import config, geometry
from .files import atomic_path

#: The transform families of Jaderberg et al. (2015) and how many numbers each regresses.
TRANSFORMS: dict[str, int] = {
    "affine": 6,  # any affine map: θ is regressed directly
    "rotation_scale_translation": 4,  # angle, log-scale, tx, ty
    "attention": 3,  # log-scale, tx, ty: a square crop that can move and zoom
    "rotation": 2,  # a direction (1 + u, v), normalised to (cos α, sin α): rotation only
}
_ALIASES = {"rst": "rotation_scale_translation", "similarity": "rotation_scale_translation"}
_PADDINGS = ("zeros", "border", "reflection")
#: The constrained transforms keep their scale within ×1/4 … ×4 (see :func:`params_to_theta`).
MAX_LOG_SCALE = math.log(4.0)


def _canonical(transform: str) -> str:
    name = _ALIASES.get(transform, transform)
    if name not in TRANSFORMS:
        raise ValueError(
            f"transform must be one of {tuple(TRANSFORMS)}, got {transform!r}; "
            "use 'affine' unless you want to restrict the STN."
        )
    return name


def params_to_theta(params: torch.Tensor, transform: str, aspect: float = 1.0) -> torch.Tensor:
    """Turn the localization net's output into θ of the chosen transform family.

    All-zero ``params`` give the identity for the constrained families; for ``"affine"``
    the identity is ``params = [1, 0, 0, 0, 1, 0]`` (see :func:`init_identity_`).

    Args:
        params: ``(B, TRANSFORMS[transform])``.
        transform: ``"affine"``, ``"rotation_scale_translation"``, ``"attention"`` or
            ``"rotation"``.
        aspect: width / height of the input. Normalised coordinates squash a non-square
            image into a square, so a rotation needs this to stay a rotation (as in
            :func:`course_utils.geometry.rotation_theta`).

    Returns:
        θ of shape ``(B, 2, 3)`` (output → input, normalised coordinates):

        * affine: ``[[a, b, tx], [c, d, ty]]``;
        * rotation_scale_translation, params ``(α, p, tx, ty)``:
          ``[[s cos α, -s sin α / aspect, tx], [s sin α · aspect, s cos α, ty]]``;
        * attention, params ``(p, tx, ty)``: ``[[s, 0, tx], [0, s, ty]]``;
        * rotation, params ``(u, v)``: ``(cos α, sin α) = (1 + u, v) / |(1 + u, v)|`` and
          ``[[cos α, -sin α / aspect, 0], [sin α · aspect, cos α, 0]]``. A direction instead
          of an angle: every rotation is reached with bounded outputs, and there is no
          wrap-around at ±180° for the localization net to fight;

        with the scale ``s = exp(L · tanh(p / L))``, ``L = MAX_LOG_SCALE``: ``exp(p)`` for
        small ``p``, and never beyond ×1/4 … ×4, so θ cannot run away to infinity.
    """
    transform = _canonical(transform)
    n = TRANSFORMS[transform]
    if params.dim() != 2 or params.shape[1] != n:
        raise ValueError(
            f"params must have shape (B, {n}) for transform {transform!r}, "
            f"got {tuple(params.shape)}."
        )
    if transform == "affine":
        return params.view(-1, 2, 3)
    zero = torch.zeros_like(params[:, 0])
    if transform == "attention":
        s = _bounded_scale(params[:, 0])
        row0 = torch.stack([s, zero, params[:, 1]], dim=-1)
        row1 = torch.stack([zero, s, params[:, 2]], dim=-1)
        return torch.stack([row0, row1], dim=1)
    if transform == "rotation":
        direction = torch.stack([1.0 + params[:, 0], params[:, 1]], dim=-1)
        c, si = (direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-6)).unbind(-1)
        tx = ty = zero
    else:
        angle, s = params[:, 0], _bounded_scale(params[:, 1])
        c, si = s * torch.cos(angle), s * torch.sin(angle)
        tx, ty = params[:, 2], params[:, 3]
    row0 = torch.stack([c, -si / aspect, tx], dim=-1)
    row1 = torch.stack([si * aspect, c, ty], dim=-1)
    return torch.stack([row0, row1], dim=1)


def _bounded_scale(log_scale: torch.Tensor) -> torch.Tensor:
    """``exp`` of a log-scale squashed smoothly into ±MAX_LOG_SCALE (slope 1 at 0).

    An unbounded ``exp`` lets a localization net zoom out without limit; the sampled image
    then becomes empty, its gradient vanishes, and θ can overflow to inf/NaN.
    """
    return torch.exp(MAX_LOG_SCALE * torch.tanh(log_scale / MAX_LOG_SCALE))


def init_identity_(layer: nn.Linear, transform: str = "affine") -> nn.Linear:
    """Make ``layer`` (the last layer of a localization net) output the identity transform.

    Zero weights make the output independent of the input at first; the bias then *is* the
    first θ. For ``"affine"`` that is ``[1, 0, 0, 0, 1, 0]`` (row by row: x' = x, y' = y);
    the seed article's ``[1, 0, 0, 0, 0, 1]`` is θ = [[1, 0, 0], [0, 0, 1]], which sends
    every output row to the bottom edge. The constrained families start from zeros.

    Returns:
        ``layer``, changed in place.
    """
    transform = _canonical(transform)
    n = TRANSFORMS[transform]
    if not isinstance(layer, nn.Linear) or layer.bias is None or layer.out_features != n:
        raise ValueError(
            f"init_identity_ needs the localization net's last nn.Linear with a bias and {n} outputs "
            f"for transform {transform!r}, got {layer!r}; build it as nn.Linear(hidden, {n})."
        )
    with torch.no_grad():
        layer.weight.zero_()
        if transform == "affine":
            layer.bias.copy_(geometry.identity_theta().flatten())
        else:
            layer.bias.zero_()
    return layer


def sample(
    x: torch.Tensor,
    grid: torch.Tensor,
    *,
    padding_mode: str | float = "border",
    align_corners: bool = False,
) -> torch.Tensor:
    """The sampler: read ``x`` at the grid's positions with bilinear interpolation.

    Args:
        x: ``(B, C, H, W)``.
        grid: ``(B, H_out, W_out, 2)`` normalised (x, y) input positions.
        padding_mode: what is read outside the input. ``"border"`` (default) repeats the
            edge pixel, which is the background for a centred object *whatever the
            normalisation*; ``"zeros"`` reads 0, which after mean/std normalisation is not
            black but a grey the network can exploit (it learns to zoom out into it);
            ``"reflection"`` mirrors; a number pads with that constant (e.g. the normalised
            value of black).
        align_corners: as in :func:`course_utils.geometry.warp`; say which.

    Returns:
        ``(B, C, H_out, W_out)``; differentiable with respect to ``x`` and ``grid``.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {shape}; add a batch dimension with x[None].")
    if not isinstance(grid, torch.Tensor) or grid.dim() != 4 or grid.shape[-1] != 2 or grid.shape[0] != x.shape[0]:
        shape = tuple(grid.shape) if isinstance(grid, torch.Tensor) else type(grid).__name__
        raise ValueError(
            f"grid must be a sampling grid (B, H_out, W_out, 2) with the batch of x (B={x.shape[0]}), got "
            f"{shape}; make it from θ with geometry.sampling_grid(theta, size, batch={x.shape[0]})."
        )
    if isinstance(padding_mode, (int, float)) and not isinstance(padding_mode, bool):
        fill = float(padding_mode)
        out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=align_corners)
        return out + fill
    if padding_mode not in _PADDINGS:
        raise ValueError(
            f"padding_mode must be one of {_PADDINGS} or a number, got {padding_mode!r}."
        )
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode,
                         align_corners=align_corners)


def _check_input(x: torch.Tensor, in_channels: int, what: str) -> None:
    """A clear error for input a network cannot take (instead of a matrix-size mismatch deep inside)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        grey_batch = isinstance(x, torch.Tensor) and x.dim() == 3 and in_channels == 1 and x.shape[0] != 1
        fix = "add a channel dimension with x[:, None]" if grey_batch else "add a batch dimension with x[None]"
        raise ValueError(f"x must be a (B, {in_channels}, H, W) tensor, got {shape}; {fix}.")
    if x.shape[1] != in_channels:
        raise ValueError(
            f"x has {x.shape[1]} channels but this {what} was built for {in_channels}; "
            f"build it with in_channels={x.shape[1]}."
        )


class LocalizationNet(nn.Module):
    """The localization network (定位网络): image → transform parameters.

    A 2×2 max-pool (the localization net needs *where*, not fine detail, so it looks at a
    half-size copy), two convolutions (same padding) with max-pooling, then **adaptive** average pooling to
    a fixed ``pooled × pooled`` map, so the fully connected head has the same size for every
    input size: the seed's hard-coded ``10 * 6 * 6`` is gone. ``ceil_mode`` pooling keeps
    even a 1×1 input valid. Leaky ReLUs: with plain ReLUs the units of such a small net
    sometimes all die early in training, and θ then freezes at one constant for every
    input.

    Args:
        in_channels: channels of the input (1 for digits, 3 for photos, any for features).
        n_params: numbers to regress (see :data:`TRANSFORMS`).
        hidden: width of the fully connected layer.
        pooled: side of the adaptive pooling output (keeps coarse *where* information).
        channels: output channels of the two convolutions. The default ``(8, 10)`` is the
            seed's; finding *which way up* a digit is (not only where it is) needs more.

    Shapes:
        ``(B, in_channels, H, W)`` → ``(B, n_params)``.
    """

    def __init__(
        self, in_channels: int, n_params: int, hidden: int = 32, pooled: int = 3,
        channels: tuple[int, int] = (8, 10),
    ):
        super().__init__()
        if len(channels) != 2 or min(channels) < 1 or min(hidden, pooled) < 1:
            raise ValueError(
                f"channels must be two positive widths and hidden, pooled positive, got "
                f"channels={channels!r}, hidden={hidden!r}, pooled={pooled!r}."
            )
        c1, c2 = channels
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.MaxPool2d(2, stride=2, ceil_mode=True),  # where matters, not fine detail
            nn.Conv2d(in_channels, c1, kernel_size=7, padding=3),
            nn.MaxPool2d(2, stride=2, ceil_mode=True),
            nn.LeakyReLU(0.1),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.MaxPool2d(2, stride=2, ceil_mode=True),
            nn.LeakyReLU(0.1),
            nn.AdaptiveAvgPool2d(pooled),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * pooled * pooled, hidden),
            nn.LeakyReLU(0.1),
            nn.Linear(hidden, n_params),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, "localization net")
        return self.head(self.features(x))


class SpatialTransformer(nn.Module):
    """A spatial transformer: localization net → grid generator → sampler.

    At initialisation θ is exactly the identity, so ``output`` equals ``x`` to float
    tolerance for every input size, channel count and batch size; training then moves θ
    wherever it helps the loss downstream.

    Args:
        in_channels: channels of the input.
        transform: ``"affine"`` (6 numbers), ``"rotation_scale_translation"`` (4; alias
            ``"rst"``), ``"attention"`` (scale + translation, 3) or ``"rotation"`` (2).
        hidden: width of the localization net's fully connected layer.
        loc_channels, pooled: the localization net's convolution widths and pooled side
            (see :class:`LocalizationNet`).
        padding_mode: see :func:`sample`; ``"border"`` by default.
        align_corners: used by both the grid generator and the sampler; ``False`` (the
            course default, see notebook 01).
        output_size: ``(H_out, W_out)`` of the output; defaults to the input's size.

    Shapes:
        ``forward(x)``: ``(B, C, H, W)`` → ``(output (B, C, H_out, W_out), θ (B, 2, 3))``.

    Example:
        >>> stn = SpatialTransformer(3)
        >>> x = torch.rand(2, 3, 50, 70)
        >>> out, theta = stn(x)
        >>> torch.allclose(out, x, atol=1e-5)
        True
    """

    def __init__(
        self,
        in_channels: int,
        transform: str = "affine",
        *,
        hidden: int = 32,
        loc_channels: tuple[int, int] = (8, 10),
        pooled: int = 3,
        padding_mode: str | float = "border",
        align_corners: bool = False,
        output_size: tuple[int, int] | None = None,
    ):
        super().__init__()
        if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels < 1:
            raise ValueError(
                f"in_channels must be a positive integer (1 for grey, 3 for RGB), got {in_channels!r}."
            )
        if not (isinstance(padding_mode, (int, float)) and not isinstance(padding_mode, bool)):
            if padding_mode not in _PADDINGS:
                raise ValueError(
                    f"padding_mode must be one of {_PADDINGS} or a number, got {padding_mode!r}."
                )
        if output_size is not None and (
            len(output_size) != 2 or min(output_size) < 1
        ):
            raise ValueError(f"output_size must be (H, W) with positive sides, got {output_size!r}.")
        self.transform = _canonical(transform)
        self.in_channels = in_channels
        self.padding_mode = padding_mode
        self.align_corners = bool(align_corners)
        self.output_size = None if output_size is None else tuple(int(s) for s in output_size)
        self.localization = LocalizationNet(
            in_channels, TRANSFORMS[self.transform], hidden, pooled, tuple(loc_channels)
        )
        init_identity_(self.localization.head[-1], self.transform)

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        """The localization net and the θ parametrisation: ``(B, C, H, W)`` → ``(B, 2, 3)``."""
        return self.theta_from_params(self.localization(x), x)

    def theta_from_params(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """θ ``(B, 2, 3)`` from the localization net's output ``params`` for the input ``x``
        (whose width / height keeps a rotation a rotation, see :func:`params_to_theta`)."""
        return params_to_theta(params, self.transform, x.shape[-1] / x.shape[-2])

    def grid(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The grid generator: θ ``(B, 2, 3)`` → sampling grid ``(B, H_out, W_out, 2)``."""
        size = self.output_size or tuple(x.shape[-2:])
        return geometry.sampling_grid(
            theta, size, batch=x.shape[0], align_corners=self.align_corners
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a (B, C, H, W) tensor, got {shape}; add a batch dimension with x[None].")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x has {x.shape[1]} channels but this SpatialTransformer was built for "
                f"{self.in_channels}; build it with in_channels={x.shape[1]}."
            )
        theta = self.theta(x)
        return self.resample(x, theta), theta

    def resample(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Grid generator and sampler for a given θ ``(B, 2, 3)``, with this STN's padding."""
        return sample(x, self.grid(theta, x), padding_mode=self.padding_mode,
                      align_corners=self.align_corners)

    def extra_repr(self) -> str:
        return (f"transform={self.transform!r}, padding_mode={self.padding_mode!r}, "
                f"align_corners={self.align_corners}")


# --------------------------------------------------------------------------------------
# The digit classifiers of notebook 02
# --------------------------------------------------------------------------------------


class DigitCNN(nn.Module):
    """A small CNN classifier: two conv/pool blocks, adaptive pooling, two linear layers.

    Args:
        in_channels: input channels.
        n_classes: output classes.
        width: channels of the first convolution (the second has ``2 * width``).
        hidden: width of the hidden linear layer (used to match parameter budgets).

    Shapes:
        ``(B, in_channels, H, W)`` → logits ``(B, n_classes)``, any ``H, W ≥ 1``.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 8, hidden: int = 64):
        super().__init__()
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, 2 * width, 5, padding=2),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.AdaptiveMaxPool2d(4),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * 16, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, "DigitCNN")
        return self.classifier(self.features(x))


class STNClassifier(nn.Module):
    """The same :class:`DigitCNN` with a :class:`SpatialTransformer` in front of it.

    Args:
        in_channels, n_classes, width, hidden: the :class:`DigitCNN`'s.
        transform: the STN's transform family (see :data:`TRANSFORMS`).
        loc_channels, loc_hidden, pooled: the size of the STN's localization net (see
            :class:`LocalizationNet`).

    Shapes:
        ``forward(x)``: ``(B, C, H, W)`` → logits ``(B, n_classes)``;
        ``self.stn(x)`` gives the transformed input and θ.
    """

    def __init__(
        self, in_channels: int = 1, n_classes: int = 10, width: int = 8, hidden: int = 64,
        transform: str = "affine", *, loc_channels: tuple[int, int] = (8, 10),
        loc_hidden: int = 32, pooled: int = 3,
    ):
        super().__init__()
        self.stn = SpatialTransformer(in_channels, transform, hidden=loc_hidden,
                                      loc_channels=loc_channels, pooled=pooled)
        self.cnn = DigitCNN(in_channels, n_classes, width, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(self.stn(x)[0])


def rotation_degrees(theta: torch.Tensor) -> torch.Tensor:
    """The rotation (degrees, anticlockwise as seen) that a θ applies to the picture.

    For a pure rotation this inverts :func:`course_utils.geometry.rotation_theta`; for any
    other square-image affine θ it is the angle of the nearest rotation (the polar
    decomposition of its 2×2 part), which is what a learned STN θ needs.

    Args:
        theta: ``(2, 3)`` or ``(B, 2, 3)``.

    Returns:
        Angle(s) in degrees in (-180, 180], shape ``()`` or ``(B,)``.
    """
    geometry._check_theta(theta)
    a = theta[..., :2, :2]
    return torch.rad2deg(torch.atan2(a[..., 1, 0] - a[..., 0, 1], a[..., 0, 0] + a[..., 1, 1]))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def matched_cnn(budget: int, in_channels: int = 1, n_classes: int = 10, width: int = 8) -> DigitCNN:
    """A :class:`DigitCNN` whose parameter count is as close to ``budget`` as its hidden
    width allows, so that "CNN vs STN-CNN" compares models of the same size."""
    per_hidden = 2 * width * 16 + 1 + n_classes  # weights in, bias, weights out
    fixed = count_parameters(DigitCNN(in_channels, n_classes, width, hidden=1)) - per_hidden
    hidden = max(1, round((budget - fixed) / per_hidden))
    return DigitCNN(in_channels, n_classes, width, hidden)


@dataclass(frozen=True)
class Recipe:
    """Sizes and counts for the CNN vs STN-CNN experiment (one per mode).

    Attributes:
        n_train, n_test: samples in the training and test sets.
        epochs: passes over the training set.
        batch_size: samples per step.
        lr: Adam learning rate, decayed along a cosine to zero.
        loc_lr_factor: the localization net learns at ``lr * loc_lr_factor``.
        width, hidden: size of the STN-CNN's classifier; the plain CNN is matched to it.
        reader_epochs, stn_only_epochs, stn_only_lr: the rotation experiment
            (:func:`train_upright_then_stn`): epochs of the reader on upright digits, then
            epochs and learning rate of the STN in front of the frozen reader.
        rotation_loc_channels, rotation_loc_hidden: the localization net of that experiment's
            rotation-only STN (:func:`build_rotation_model`). Telling *which way up* a digit
            lying on its side is takes more than finding where it is.
        rotation_n_train: training digits of the rotation experiment.
        reader_outlier_share, outlier_min_degrees: the reader also sees this share (of the
            upright set) of glyphs turned by ``outlier_min_degrees`` … 180°, labelled
            :data:`NOT_UPRIGHT` (see :func:`turned_outliers`).
        half_turn_weight, half_turn_margin, upright_prior: the terms of
            :func:`upright_search_loss` beyond the cross-entropy.
    """

    n_train: int
    n_test: int
    epochs: int
    batch_size: int = 32
    lr: float = 3e-3
    loc_lr_factor: float = 1.0
    width: int = 8
    hidden: int = 64
    reader_epochs: int = 2
    stn_only_epochs: int = 12
    stn_only_lr: float = 5e-3
    rotation_loc_channels: tuple[int, int] = (16, 32)
    rotation_loc_hidden: int = 64
    rotation_n_train: int = 16_000
    reader_outlier_share: float = 0.5
    outlier_min_degrees: float = 45.0
    half_turn_weight: float = 1.0
    half_turn_margin: float = 0.5
    upright_prior: float = 0.3
    name: str = "full"


#: The full-mode recipe (under two minutes for both RTS models on two CPU cores).
RECIPE_FULL = Recipe(n_train=8_000, n_test=2_000, epochs=6, name="full")
#: The fast-mode recipe (seconds; used by the tests and CI).
RECIPE_FAST = Recipe(n_train=2_000, n_test=500, epochs=4, stn_only_epochs=4, stn_only_lr=1e-2,
                     rotation_n_train=2_000, name="fast")


def recipe() -> Recipe:
    """The recipe for this mode: ``config.pick(full=RECIPE_FULL, fast=RECIPE_FAST)``."""
    return config.pick(full=RECIPE_FULL, fast=RECIPE_FAST)


def _check_recipe(r: object) -> None:
    if not isinstance(r, Recipe):
        raise TypeError(
            f"r must be a Recipe, got {r!r}; pass stn.recipe(), stn.RECIPE_FAST or stn.RECIPE_FULL."
        )


def _check_examples(images: object, labels: object, what: str = "images") -> None:
    """``images`` ``(N, C, H, W)`` and integer ``labels`` ``(N,)``, N ≥ 1, or a clear error."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        three_d = isinstance(images, torch.Tensor) and images.dim() == 3
        fix = f"add a channel dimension with {what}[:, None]" if three_d else "e.g. make_digits(...).images"
        raise ValueError(f"{what} must be an (N, C, H, W) tensor, got {shape}; {fix}.")
    if len(images) == 0:
        raise ValueError(f"{what} is empty; pass at least one image.")
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point() or labels.is_complex():
        got = f"{tuple(labels.shape)} {labels.dtype}" if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a (N,) tensor of class indices (int64), got {got}; convert with torch.as_tensor(labels).long().")
    if len(images) != len(labels):
        raise ValueError(f"{what} and labels must have the same length, got {len(images)} and {len(labels)}.")


def build_models(r: Recipe, transform: str = "affine", seed: int = 0) -> dict[str, nn.Module]:
    """The two models of the comparison, seeded: ``{"CNN": ..., "STN-CNN": ...}``.

    The STN-CNN is built first with ``r.width``/``r.hidden``; the plain CNN's hidden layer is
    then widened until both have the same number of parameters (within 1 %).
    """
    _check_recipe(r)
    config.seed_everything(seed)
    stn_cnn = STNClassifier(1, 10, r.width, r.hidden, transform=transform)
    config.seed_everything(seed)
    cnn = matched_cnn(count_parameters(stn_cnn), 1, 10, r.width)
    return {"CNN": cnn, "STN-CNN": stn_cnn}


#: The transform family of the rotation experiment (:func:`build_rotation_model`).
ROTATION_TRANSFORM = "rotation"


def build_rotation_model(r: Recipe, seed: int = 0) -> STNClassifier:
    """The model of the rotation experiment, seeded: a rotation-only STN in front of the
    :class:`DigitCNN` that will read upright digits (see :func:`train_upright_then_stn`).

    Rotation only, because that is the one thing the experiment asks about: with scale and
    translation free as well, the STN can lower the loss by zooming instead of turning.
    """
    _check_recipe(r)
    config.seed_everything(seed)
    return STNClassifier(1, 10, r.width, r.hidden, transform=ROTATION_TRANSFORM,
                         loc_channels=r.rotation_loc_channels,
                         loc_hidden=r.rotation_loc_hidden, pooled=4)


#: The label of a "not an upright digit" example: its target is the uniform distribution over
#: the classes ("I cannot tell"), a form of *outlier exposure* (Hendrycks et al., 2019).
NOT_UPRIGHT = -1


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy; rows labelled :data:`NOT_UPRIGHT` count as the cross-entropy
    against the uniform distribution, ``-mean(log softmax)``, so that the classifier learns
    to be unsure about them rather than to call them a class of their own.

    Args:
        logits: ``(B, n_classes)``; labels: ``(B,)`` int64, a class or ``NOT_UPRIGHT``.
    """
    outliers = labels == NOT_UPRIGHT
    if not outliers.any():
        return F.cross_entropy(logits, labels)
    log_p = F.log_softmax(logits, dim=1)
    picked = log_p.gather(1, labels.clamp_min(0)[:, None])[:, 0]
    return torch.where(outliers, -log_p.mean(dim=1), -picked).mean()


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    r: Recipe,
    *,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
    callback: Callable[[int, float], None] | None = None,
    max_grad_norm: float | None = None,
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> list[float]:
    """Train a classifier with Adam and cross-entropy; return the mean loss per epoch.

    Only parameters with ``requires_grad`` are trained; the BatchNorm layers of a frozen
    part (:func:`freeze_`) stay in evaluation mode. The learning rate decays along a cosine
    to zero. Shuffling is seeded, so the same seed
    (and the same model seed) gives the same weights on a CPU.

    Args:
        model: maps ``(B, C, H, W)`` to logits ``(B, n_classes)``.
        images: ``(N, C, H, W)`` in [0, 1]; labels: ``(N,)`` int64.
        r: the :class:`Recipe` (epochs, batch size, learning rate).
        seed: seeds the shuffling.
        progress: show a ``tqdm.auto`` bar.
        callback: called as ``callback(epoch, mean_loss)`` after each epoch.
        max_grad_norm: if given, clip the gradient norm to it at every step.
        loss_fn: ``loss_fn(model, images, labels)`` for one batch; defaults to
            :func:`classification_loss` of ``model(images)`` (cross-entropy, with
            :data:`NOT_UPRIGHT` rows pushed towards "cannot tell").
    """
    from tqdm.auto import tqdm

    _check_recipe(r)
    _check_examples(images, labels)
    if not isinstance(r.batch_size, int) or r.batch_size < 1 or not isinstance(r.epochs, int) or r.epochs < 0:
        raise ValueError(
            f"the recipe needs batch_size >= 1 and epochs >= 0 (integers), got batch_size={r.batch_size!r}, "
            f"epochs={r.epochs!r}; fix them with dataclasses.replace(r, ...)."
        )
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    loc = [p for n, p in trainable if "localization" in n]
    rest = [p for n, p in trainable if "localization" not in n]
    groups = [{"params": rest, "lr": r.lr}]
    if loc:
        groups.append({"params": loc, "lr": r.lr * r.loc_lr_factor})
    opt = torch.optim.Adam([g for g in groups if g["params"]])
    steps_per_epoch = math.ceil(len(images) / r.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    history = []
    model.train()
    for module in model.modules():  # a frozen part (see freeze_) keeps its BatchNorm statistics
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()
    bar = tqdm(total=r.epochs * steps_per_epoch, desc=desc, disable=not progress, leave=False)
    for epoch in range(r.epochs):
        order = torch.randperm(len(images), generator=gen)
        total = 0.0
        for start in range(0, len(images), r.batch_size):
            idx = order[start : start + r.batch_size]
            if loss_fn is None:
                loss = classification_loss(model(images[idx]), labels[idx])
            else:
                loss = loss_fn(model, images[idx], labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], max_grad_norm)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            bar.update(1)
        history.append(total / len(images))
        bar.set_postfix(loss=f"{history[-1]:.3f}")
        if callback is not None:
            callback(epoch, history[-1])
    bar.close()
    model.eval()
    return history


def freeze_(module: nn.Module) -> nn.Module:
    """Stop training ``module`` (in place): no gradients for its weights, and
    :func:`train_classifier` keeps its BatchNorm statistics fixed. Gradients still flow
    *through* it to whatever comes before (an STN)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def rotation_params(degrees: torch.Tensor) -> torch.Tensor:
    """The ``"rotation"`` family's parameters ``(B, 2)`` for given angles ``(B,)`` (degrees,
    anticlockwise): ``(cos α - 1, sin α)``, so that :func:`params_to_theta` gives the rotation."""
    if not isinstance(degrees, torch.Tensor):
        raise TypeError(
            f"degrees must be a tensor of angles (B,), got {type(degrees).__name__}; e.g. torch.tensor([30.0])."
        )
    a = torch.deg2rad(degrees)
    return torch.stack([torch.cos(a) - 1.0, torch.sin(a)], dim=-1)


def turned_outliers(
    upright: torch.Tensor, share: float, min_degrees: float, seed: int = 0
) -> torch.Tensor:
    """Copies of random upright digits turned by a random ``min_degrees`` … 180° either way:
    the examples that teach a reader what is *not* an upright digit.

    Args:
        upright: ``(N, C, H, W)`` upright digits.
        share: how many copies, as a share of ``N`` (0 gives none).
        min_degrees: the smallest turn; smaller turns still count as upright.
        seed: seeds which digits and which angles.

    Returns:
        ``(round(share * N), C, H, W)``.
    """
    if not 0.0 <= share or not 0.0 <= min_degrees < 180.0:
        raise ValueError(
            f"share must be >= 0 and min_degrees in [0, 180), got {share!r} and {min_degrees!r}."
        )
    gen = torch.Generator().manual_seed(seed + 1000)
    n = round(share * len(upright))
    if n == 0:
        return upright[:0].clone()
    pick = torch.randint(len(upright), (n,), generator=gen)
    size = min_degrees + (180.0 - min_degrees) * torch.rand(n, generator=gen)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    aspect = upright.shape[-1] / upright.shape[-2]
    theta = params_to_theta(rotation_params(size * sign), ROTATION_TRANSFORM, aspect)
    return geometry.warp(upright[pick], theta).clamp(0.0, 1.0)


def upright_search_loss(
    model: STNClassifier, images: torch.Tensor, labels: torch.Tensor, r: Recipe
) -> torch.Tensor:
    """The loss of the rotation-only STN in front of a frozen reader, for one batch.

    Three terms, none of which uses an angle label:

    * the cross-entropy of the reader on the STN's output (turn the digit so that it reads);
    * a **half-turn check**: the reader also reads the output turned by 180° (a flip of
      both axes, exact on the pixel grid). Where that reads the label better by more than
      ``r.half_turn_margin``, the STN is upside down, in the wrong valley of the loss, with
      only worse turns between it and the right one; gradient descent cannot cross over,
      so the STN's direction is pulled straight towards its opposite instead
      (weight ``r.half_turn_weight``);
    * a small **prior for the smaller turn**, ``r.upright_prior · (1 − cos α)``: for a 0 or
      an 8, upside down reads as well as upright, and only this breaks the tie.

    Args:
        model: an :class:`STNClassifier` whose STN has ``transform="rotation"``.
        images: ``(B, 1, H, W)``; labels: ``(B,)``.
        r: the :class:`Recipe` (the weights above).
    """
    transformer = model.stn
    if transformer.transform != ROTATION_TRANSFORM:
        raise ValueError(
            f"upright_search_loss needs a rotation-only STN, got transform "
            f"{transformer.transform!r}; build the model with stn.build_rotation_model."
        )
    params = transformer.localization(images)
    theta = transformer.theta_from_params(params, images)
    output = transformer.resample(images, theta)
    reading = F.cross_entropy(model.cnn(output), labels, reduction="none")
    with torch.no_grad():
        turned = F.cross_entropy(model.cnn(output.flip(-2, -1)), labels, reduction="none")
        upside_down = (turned < reading - r.half_turn_margin).float()
    direction = torch.stack([1.0 + params[:, 0], params[:, 1]], dim=-1)
    pull_over = (direction + direction.detach()).square().sum(dim=-1)  # towards −direction
    smaller_turn = 1.0 - theta[:, 0, 0]  # 1 − cos α
    return (reading.mean() + r.half_turn_weight * (upside_down * pull_over).mean()
            + r.upright_prior * smaller_turn.mean())


def train_upright_then_stn(
    model: STNClassifier,
    upright: torch.Tensor,
    distorted: torch.Tensor,
    labels: torch.Tensor,
    r: Recipe,
    *,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """The rotation-discovery experiment of notebook 02, in two stages.

    1. Train ``model.cnn`` alone for ``r.reader_epochs`` epochs on ``upright`` digits and on
       turned copies of them (:func:`turned_outliers`) labelled :data:`NOT_UPRIGHT`: a
       reader that knows upright digits, and is unsure about anything turned by 45° or more.
    2. Freeze the reader and train only the STN in front of it on the ``distorted``
       digits for ``r.stn_only_epochs`` epochs, with the class labels,
       ``lr = r.stn_only_lr`` and :func:`upright_search_loss` (for a rotation-only STN;
       plain cross-entropy for any other). Nobody gives the angles: the only way to lower
       the loss is to turn each digit back.

    Args:
        model: an :class:`STNClassifier` (any transform family; :func:`build_rotation_model`
            makes the one of notebook 02).
        upright: ``(N, 1, H, W)`` undistorted digits (e.g. :func:`digits.render_glyphs`).
        distorted: ``(N, 1, H, W)`` the same digits distorted; labels ``(N,)``.
        r: the :class:`Recipe`; its ``batch_size`` applies to both stages.

    Returns:
        The mean training loss per epoch of stage 2.
    """
    _check_recipe(r)
    _check_examples(upright, labels, "upright")
    _check_examples(distorted, labels, "distorted")
    outliers = turned_outliers(upright, r.reader_outlier_share, r.outlier_min_degrees, seed)
    reader_images = torch.cat([upright, outliers])
    reader_labels = torch.cat([labels, torch.full((len(outliers),), NOT_UPRIGHT, dtype=labels.dtype)])
    train_classifier(model.cnn, reader_images, reader_labels, replace(r, epochs=r.reader_epochs),
                     seed=seed, progress=progress, desc="reader on upright digits")
    freeze_(model.cnn)
    stage2 = replace(r, lr=r.stn_only_lr, epochs=r.stn_only_epochs)
    loss_fn = partial(upright_search_loss, r=r) if model.stn.transform == ROTATION_TRANSFORM else None
    return train_classifier(model, distorted, labels, stage2, seed=seed, progress=progress,
                            desc="STN in front of the frozen reader", max_grad_norm=1.0,
                            loss_fn=loss_fn)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted classes ``(N,)`` for ``images`` ``(N, C, H, W)``, in evaluation mode."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` classified correctly (0…1)."""
    _check_examples(images, labels)
    return (predict(model, images) == labels).float().mean().item()


@torch.no_grad()
def transform_batch(stn: SpatialTransformer, images: torch.Tensor, batch_size: int = 500):
    """Run an STN in evaluation mode over many images; returns ``(outputs, thetas)``."""
    if not isinstance(stn, SpatialTransformer):
        raise TypeError(
            f"transform_batch needs a SpatialTransformer, got {type(stn).__name__}; "
            "for a classifier pass its transformer, e.g. model.stn."
        )
    stn.eval()
    outs, thetas = zip(*(stn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)), strict=True)
    return torch.cat(outs), torch.cat(thetas)


def checkpoint_path(name: str) -> Path:
    """Where a committed checkpoint lives: ``data/checkpoints/<name>.pt`` in the project."""
    return config.PROJECT_ROOT / "data" / "checkpoints" / f"{name}.pt"


def load_or_train(
    model: nn.Module,
    name: str | None,
    train: Callable[[], object],
) -> str:
    """Checkpoint-or-train: load ``data/checkpoints/<name>.pt`` if it exists, else train.

    Args:
        model: the freshly built model (its architecture must match the checkpoint).
        name: checkpoint name, or None to always train.
        train: a function that trains ``model`` in place.

    Returns:
        ``"loaded <path>"`` or ``"trained in <seconds> s"``, for the notebook to print.
    """
    path = checkpoint_path(name) if name else None
    if path is not None and path.exists():
        shown = path.relative_to(config.PROJECT_ROOT) if path.is_relative_to(config.PROJECT_ROOT) else path
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, pickle.UnpicklingError):  # truncated, empty or not a checkpoint
            raise ValueError(
                f"cannot read checkpoint {shown}: the file is damaged or not a PyTorch checkpoint; "
                "restore it (git checkout -- data/checkpoints) or delete it to train again."
            ) from None
        try:
            model.load_state_dict({k: v.float() for k, v in state.items()})
        except RuntimeError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            detail = lines[1] if len(lines) > 1 else type(exc).__name__
            detail = detail if len(detail) <= 160 else detail[:157] + "..."
            raise ValueError(
                f"checkpoint {shown} does not fit this model ({detail}); build the model as it was "
                "saved (same recipe and transform) or delete the file to train again."
            ) from None
        model.eval()
        return f"loaded {path.relative_to(config.PROJECT_ROOT)}"
    start = time.perf_counter()
    train()
    return f"trained in {time.perf_counter() - start:.1f} s"


def save_checkpoint(model: nn.Module, name: str, half: bool = True) -> Path:
    """Save ``model``'s state_dict to ``data/checkpoints/<name>.pt`` (float16 by default,
    to keep the committed file small; :func:`load_or_train` converts back to float32)."""
    path = checkpoint_path(name)
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    # Written whole, then renamed: an interrupted save never leaves a damaged checkpoint
    # that load_or_train would later refuse.
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


__all__ = [
    "DigitCNN",
    "LocalizationNet",
    "RECIPE_FAST",
    "RECIPE_FULL",
    "Recipe",
    "STNClassifier",
    "SpatialTransformer",
    "TRANSFORMS",
    "accuracy",
    "ROTATION_TRANSFORM",
    "build_models",
    "build_rotation_model",
    "checkpoint_path",
    "count_parameters",
    "freeze_",
    "init_identity_",
    "load_or_train",
    "matched_cnn",
    "params_to_theta",
    "predict",
    "recipe",
    "rotation_degrees",
    "sample",
    "save_checkpoint",
    "train_classifier",
    "train_upright_then_stn",
    "transform_batch",
]
