"""The Spatial Transformer Network (Jaderberg et al., 2015), as notebook 02 writes it.

A **localization network** (定位网络) regresses θ, a **grid generator** (网格生成器,
``F.affine_grid``) turns θ into input positions and a **sampler** (采样器, ``F.grid_sample``)
reads the input there. Then the digit classifiers, their training and checkpoints (02, 02b),
and last the input checks that the code calls.
"""

from __future__ import annotations

import math
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config, geometry
from .checks import is_whole, shape_of
from .files import atomic_path
from .i18n import localised as _

#: The transform families and how many numbers the localization net regresses for each.
TRANSFORMS: dict[str, int] = {
    "affine": 6,  # any affine map: θ row by row (the paper's main case)
    "attention": 3,  # log-scale, tx, ty: a square window that moves and zooms (the paper's)
    "rotation_scale": 2,  # angle, log-scale (notebook 02's exercise 2)
    "rotation": 2,  # a direction (1 + u, v): rotation only (notebook 02b)
}
PADDINGS = ("zeros", "border", "reflection")
MAX_LOG_SCALE = math.log(4.0)  # the attention window zooms at most ×4 either way


# ---------------------------------------------------------------- the spatial transformer


class LocalizationNet(nn.Module):
    """Image ``(B, C, H, W)`` → params ``(B, n_params)``, for any ``H, W`` (the seed hard-coded
    ``10 * 6 * 6``); ``channels=(8, 10)`` is the seed's width."""

    def __init__(self, in_channels: int, n_params: int, hidden: int = 32, pooled: int = 3,
                 channels: tuple[int, int] = (8, 10)):
        super().__init__()
        if len(channels) != 2 or min(channels) < 1 or min(hidden, pooled) < 1:
            raise ValueError(f"channels must be two positive widths and hidden, pooled positive, got "
                             f"channels={channels!r}, hidden={hidden!r}, pooled={pooled!r}.")
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
            nn.AdaptiveAvgPool2d(pooled),  # fix 1: any input size gives c2 × pooled × pooled
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * pooled * pooled, hidden),
            nn.LeakyReLU(0.1),
            nn.Linear(hidden, n_params),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def init_identity_(layer: nn.Linear, transform: str = "affine") -> nn.Linear:
    """Make the localization net's last layer output the identity transform, in place: zero
    weights and the identity as bias (the seed's ``[1, 0, 0, 0, 0, 1]`` is not)."""
    n = TRANSFORMS.get(transform, 6)
    if not isinstance(layer, nn.Linear) or layer.bias is None or layer.out_features != n:
        raise ValueError(f"init_identity_ needs the localization net's last nn.Linear with a bias and {n} outputs "
                         f"for transform {transform!r}, got {layer!r}; build it as nn.Linear(hidden, {n}).")
    with torch.no_grad():
        layer.weight.zero_()
        if transform == "affine":
            layer.bias.copy_(geometry.identity_theta().flatten())  # [1, 0, 0, 0, 1, 0]
        else:
            layer.bias.zero_()  # the other families are the identity at params = 0
    return layer


def rotation_scale_theta(params: torch.Tensor) -> torch.Tensor:
    """``(B, 2)`` (angle in radians, log-scale) → θ ``(B, 2, 3)`` = ``s · [[cos, -sin, 0], [sin, cos, 0]]``."""
    angle, s = params[:, 0], torch.exp(params[:, 1])
    c, si = s * torch.cos(angle), s * torch.sin(angle)
    zero = torch.zeros_like(c)
    return torch.stack([torch.stack([c, -si, zero], -1), torch.stack([si, c, zero], -1)], dim=1)


def params_to_theta(params: torch.Tensor, transform: str = "affine", aspect: float = 1.0) -> torch.Tensor:
    """The localization net's output ``(B, TRANSFORMS[transform])`` → θ ``(B, 2, 3)``.

    ``"attention"`` ``(p, tx, ty)``: ``[[s, 0, tx], [0, s, ty]]``, ``s`` squashed into ×1/4 … ×4.
    ``"rotation"`` ``(u, v)``: the rotation of direction ``(1 + u, v)``, which wraps nowhere;
    ``aspect`` (width / height) keeps it a rotation on a non-square image.
    """
    check_transform(transform)
    n = TRANSFORMS[transform]
    if not isinstance(params, torch.Tensor) or params.dim() != 2 or params.shape[1] != n:
        raise ValueError(f"params must have shape (B, {n}) for transform {transform!r}, got {shape_of(params)}.")
    zero = torch.zeros_like(params[:, 0])
    if transform == "affine":
        theta = params.view(-1, 2, 3)
    elif transform == "rotation_scale":
        theta = rotation_scale_theta(params)
    elif transform == "attention":
        s = torch.exp(MAX_LOG_SCALE * torch.tanh(params[:, 0] / MAX_LOG_SCALE))  # slope 1 at 0
        tx, ty = params[:, 1], params[:, 2]
        theta = torch.stack([torch.stack([s, zero, tx], -1), torch.stack([zero, s, ty], -1)], dim=1)
    else:  # "rotation"
        direction = torch.stack([1.0 + params[:, 0], params[:, 1]], dim=-1)
        c, si = (direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-6)).unbind(-1)
        theta = torch.stack([torch.stack([c, -si / aspect, zero], -1),
                             torch.stack([si * aspect, c, zero], -1)], dim=1)
    if not torch.isfinite(theta).all():  # B x 6 numbers; grid_sample's backward segfaults on a NaN θ
        raise ValueError("the localization net gave a θ with NaN or infinite values (NaN or infinite pixels in x, "
                         "or a diverged training); check the images with torch.isfinite(x).all() and lower the "
                         "learning rate.")
    return theta


class SpatialTransformer(nn.Module):
    """Localization net → grid generator → sampler: ``(B, C, H, W)`` → ``(output, θ (B, 2, 3))``,
    at first ``output == x``. ``"border"`` padding repeats the edge, the background whatever the
    normalisation (``"zeros"`` reads a grey after normalisation)."""

    def __init__(self, in_channels: int, transform: str = "affine", *, hidden: int = 32,
                 loc_channels: tuple[int, int] = (8, 10), pooled: int = 3,
                 padding_mode: str = "border", align_corners: bool = False):
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer (1 for grey, 3 for RGB), got {in_channels!r}.")
        if padding_mode not in PADDINGS:
            raise ValueError(f"padding_mode must be one of {PADDINGS}, got {padding_mode!r}.")
        check_transform(transform)
        self.in_channels, self.transform = in_channels, transform
        self.padding_mode, self.align_corners = padding_mode, align_corners
        self.localization = LocalizationNet(in_channels, TRANSFORMS[transform], hidden, pooled,
                                            loc_channels)
        init_identity_(self.localization.head[-1], transform)  # fix 2: the exact identity

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_images(x, self.in_channels, "this SpatialTransformer")
        params = self.localization(x)  # localization net
        theta = params_to_theta(params, self.transform, aspect=x.shape[-1] / x.shape[-2])
        grid = F.affine_grid(theta, list(x.shape), align_corners=self.align_corners)  # grid generator
        output = F.grid_sample(x, grid, padding_mode=self.padding_mode,  # sampler
                               align_corners=self.align_corners)
        return output, theta


# ---------------------------------------- the digit classifiers of notebook 02, and training


class DigitCNN(nn.Module):
    """A small CNN, ``(B, in_channels, H, W)`` → logits ``(B, n_classes)`` for any ``H, W``."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 8, hidden: int = 64):
        super().__init__()
        for name, value in dict(in_channels=in_channels, n_classes=n_classes, width=width, hidden=hidden).items():
            if not is_whole(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}; e.g. DigitCNN(in_channels=1, "
                                 "n_classes=10, width=8, hidden=64).")
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
            nn.AdaptiveMaxPool2d(4),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * 16, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_channels, "this DigitCNN")
        _check_dtype(x, self, "this DigitCNN")
        return self.classifier(self.features(x))


class STNClassifier(nn.Module):
    """A :class:`DigitCNN` behind a :class:`SpatialTransformer`: ``forward(x)`` gives logits,
    ``self.stn(x)`` the transformed input and θ."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 8, hidden: int = 64,
                 transform: str = "affine", *, loc_channels: tuple[int, int] = (8, 10),
                 loc_hidden: int = 32, pooled: int = 3):
        super().__init__()
        self.stn = SpatialTransformer(in_channels, transform, hidden=loc_hidden,
                                      loc_channels=loc_channels, pooled=pooled)
        self.cnn = DigitCNN(in_channels, n_classes, width, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_dtype(x, self, "this STNClassifier")  # before the transformer's convolutions
        return self.cnn(self.stn(x)[0])


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class Recipe:
    """Sizes and counts of the CNN vs STN-CNN comparison (``width``, ``hidden``: the classifier)."""

    n_train: int
    n_test: int
    epochs: int
    batch_size: int = 32
    lr: float = 3e-3
    width: int = 8
    hidden: int = 64
    name: str = "full"


RECIPE_FULL = Recipe(n_train=8_000, n_test=2_000, epochs=6, name="full")
RECIPE_FAST = Recipe(n_train=2_000, n_test=500, epochs=4, name="fast")


def recipe() -> Recipe:
    """The recipe for this mode."""
    return config.pick(full=RECIPE_FULL, fast=RECIPE_FAST)


def build_models(r: Recipe, transform: str = "affine", seed: int = 0) -> dict[str, nn.Module]:
    """The two models of the comparison, seeded: ``{"CNN": ..., "STN-CNN": ...}``, the plain
    CNN's hidden layer widened until both have the same number of parameters (within 1 %)."""
    check_recipe(r)
    config.seed_everything(seed)
    stn_cnn = STNClassifier(1, 10, r.width, r.hidden, transform=transform)
    config.seed_everything(seed)
    per_hidden = 2 * r.width * 16 + 1 + 10  # weights in, bias, weights out of one hidden unit
    fixed = count_parameters(DigitCNN(1, 10, r.width, hidden=1)) - per_hidden
    hidden = max(1, round((count_parameters(stn_cnn) - fixed) / per_hidden))
    return {"CNN": DigitCNN(1, 10, r.width, hidden), "STN-CNN": stn_cnn}


def train_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, r: Recipe, *,
                     seed: int = 0, progress: bool = True, desc: str = "training",
                     loss_fn: Callable | None = None, max_grad_norm: float | None = None) -> list[float]:
    """Train with Adam on the cross-entropy (or ``loss_fn(model, x, y)``), the learning rate
    decaying along a cosine; returns the mean training loss of each epoch."""
    check_recipe(r)
    check_examples(images, labels)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    steps = r.epochs * math.ceil(len(images) / r.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    shuffle = torch.Generator().manual_seed(seed)
    history = []
    model.train()
    with tqdm(total=steps, desc=desc, disable=not progress, leave=False) as bar:
        for _ in range(r.epochs):
            total = 0.0
            for idx in torch.randperm(len(images), generator=shuffle).split(r.batch_size):
                x, y = images[idx], labels[idx]
                loss = F.cross_entropy(model(x), y) if loss_fn is None else loss_fn(model, x, y)
                opt.zero_grad()
                loss.backward()
                if max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                opt.step()
                schedule.step()
                total += loss.item() * len(idx)
                bar.update(1)
            history.append(total / len(images))
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted classes ``(N,)`` for ``images`` ``(N, C, H, W)``, in evaluation mode."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a classifier such as stn.DigitCNN()), got "
                        f"{type(model).__name__}.")
    _check_batches(images, batch_size)
    model.eval()
    return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` classified correctly (0…1)."""
    check_examples(images, labels, n_classes=None)
    return (predict(model, images) == labels).float().mean().item()


@torch.no_grad()
def transform_batch(stn: SpatialTransformer, images: torch.Tensor, batch_size: int = 500):
    """Run an STN in evaluation mode over many images; returns ``(outputs, thetas)``."""
    if not isinstance(stn, SpatialTransformer):
        raise TypeError(f"transform_batch needs a SpatialTransformer, got {type(stn).__name__}; "
                        "for a classifier pass its transformer, e.g. model.stn.")
    _check_batches(images, batch_size)
    stn.eval()
    outs, thetas = zip(*(stn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)), strict=True)
    return torch.cat(outs), torch.cat(thetas)


def rotation_degrees(theta: torch.Tensor) -> torch.Tensor:
    """The rotation (degrees in (-180, 180], anticlockwise) nearest θ's 2×2 part, whatever the scale."""
    geometry.check_theta(theta)
    a = theta[..., :2, :2]
    return torch.rad2deg(torch.atan2(a[..., 1, 0] - a[..., 0, 1], a[..., 0, 0] + a[..., 1, 1]))


# -------------------------------------------------------------------- checkpoint-or-train


def checkpoint_path(name: str) -> Path:
    """``data/checkpoints/<name>.pt`` in the project."""
    _check_name(name)
    return config.PROJECT_ROOT / "data" / "checkpoints" / f"{name}.pt"


def _shown(path: Path) -> Path:
    return path.relative_to(config.PROJECT_ROOT) if path.is_relative_to(config.PROJECT_ROOT) else path


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A checkpoint's state_dict as float32, or a ValueError saying what is wrong with it."""
    fix = "restore it (git checkout -- data/checkpoints) or delete it to train again"
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a checkpoint file's path (a str or pathlib.Path), got {type(path).__name__}; "
                        "e.g. stn.checkpoint_path('stn02_rts_stn').")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"checkpoint {_shown(path)} does not exist; check its name (stn.checkpoint_path(name) gives "
                         "the path of a named one), or train with stn.load_or_train(model, name, train).")
    if path.is_dir():
        raise ValueError(f"checkpoint {_shown(path)} is a folder, not a file; remove it to train again.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError):  # truncated, empty, not a checkpoint
        raise ValueError(f"cannot read checkpoint {_shown(path)}: the file is damaged or not a PyTorch "
                         f"checkpoint; {fix}.") from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {_shown(path)} holds a {type(state).__name__}, not a state_dict "
                         f"(a dict of parameter name → tensor); {fix}.")
    odd = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
    if odd is not None:
        raise ValueError(f"checkpoint {_shown(path)} holds a {type(state[odd]).__name__} under {odd!r}, not a "
                         f"tensor: it is not a state_dict (parameter name → tensor); {fix}.")
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise ValueError(f"checkpoint {_shown(path)} holds NaN or infinite weights (training diverged); {fix}.")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_or_train(model: nn.Module, name: str | None, train: Callable[[], object]) -> str:
    """Load ``data/checkpoints/<name>.pt`` into ``model`` if it exists, else call ``train()``
    (``name=None`` always trains); returns a line saying which, for the notebook to print."""
    if not callable(train):
        raise TypeError(f"train must be a function that trains the model (called when there is no checkpoint), got "
                        f"{train!r}; e.g. lambda: stn.train_classifier(model, images, labels, r).")
    path = checkpoint_path(name) if name else None
    if path is not None and path.exists():
        state = read_checkpoint(path)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            detail = lines[1] if len(lines) > 1 else type(exc).__name__
            detail = detail if len(detail) <= 160 else detail[:157] + "..."
            raise ValueError(f"checkpoint {_shown(path)} does not fit this model ({detail}); build the model as "
                             "it was saved (same recipe and transform) or delete the file to train again.") from None
        model.eval()
        return _("loaded {path}").format(path=_shown(path))
    start = time.perf_counter()
    train()
    return _("trained in {seconds:.1f} s").format(seconds=time.perf_counter() - start)


def save_checkpoint(model: nn.Module, name: str) -> Path:
    """Save ``model``'s state_dict to ``data/checkpoints/<name>.pt`` in float16 (a small file)."""
    path = checkpoint_path(name)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


# ------------------- input checks: one sentence per bad input, for the code above to call


def check_transform(transform: object) -> None:
    """``transform`` must name one of :data:`TRANSFORMS`."""
    if not isinstance(transform, str) or transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {tuple(TRANSFORMS)}, got {transform!r}; "
                         "use 'affine' unless you want to restrict the STN.")


def check_images(x: object, in_channels: int, who: str = "this network") -> None:
    """``x`` must be ``(B, in_channels, H, W)``; the error says how to fix it."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        grey_batch = isinstance(x, torch.Tensor) and x.dim() == 3 and in_channels == 1 and x.shape[0] != 1
        fix = "add a channel dimension with x[:, None]" if grey_batch else "add a batch dimension with x[None]"
        raise ValueError(f"x must be a (B, {in_channels}, H, W) tensor, got {shape_of(x)}; {fix}.")
    if x.shape[1] != in_channels:
        raise ValueError(f"x has {x.shape[1]} channels but {who} was built for {in_channels}; "
                         f"build it with in_channels={x.shape[1]}.")
    if not x.is_floating_point():
        raise ValueError(f"x has dtype {x.dtype}; the network needs a floating-point image: use x.float() / 255 "
                         "for 0-255 pixels.")


def _check_dtype(x: torch.Tensor, model: nn.Module, who: str) -> None:
    dtype = next(model.parameters()).dtype
    if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != dtype and not torch.is_autocast_enabled():
        raise ValueError(f"x has dtype {x.dtype} but {who}'s weights are {dtype}; convert with x.float() "
                         f"(x.to({dtype}) in general) or the model with model.to({x.dtype}).")


def check_recipe(r: object) -> None:
    """``r`` must be a :class:`Recipe` with whole, positive counts."""
    if not isinstance(r, Recipe):
        raise TypeError(f"r must be a Recipe, got {r!r}; pass stn.recipe(), stn.RECIPE_FAST or stn.RECIPE_FULL.")
    if not isinstance(r.batch_size, int) or r.batch_size < 1 or not isinstance(r.epochs, int) or r.epochs < 0:
        raise ValueError(f"the recipe needs batch_size >= 1 and epochs >= 0 (integers), got batch_size="
                         f"{r.batch_size!r}, epochs={r.epochs!r}; fix them with dataclasses.replace(r, ...).")


def check_examples(images: object, labels: object, what: str = "images", *, n_classes: int | None = 10) -> None:
    """``images`` ``(N, C, H, W)`` and integer ``labels`` ``(N,)``, N ≥ 1, each a class
    number ``0 … n_classes - 1`` (or -1, no class, for a custom loss; ``None``: any)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        three_d = isinstance(images, torch.Tensor) and images.dim() == 3
        fix = f"add a channel dimension with {what}[:, None]" if three_d else "e.g. make_digits(...).images"
        raise ValueError(f"{what} must be an (N, C, H, W) tensor, got {shape_of(images)}; {fix}.")
    if len(images) == 0:
        raise ValueError(f"{what} is empty; pass at least one image.")
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point() or labels.is_complex():
        got = f"{tuple(labels.shape)} {labels.dtype}" if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a (N,) tensor of class indices (int64), got {got}; "
                         "convert with torch.as_tensor(labels).long().")
    if len(images) != len(labels):
        raise ValueError(f"{what} and labels must have the same length, got {len(images)} and {len(labels)}.")
    if n_classes is not None:  # cross_entropy's "Target 16 is out of bounds" otherwise, mid-training
        low, high = labels.min().item(), labels.max().item()
        if high >= n_classes or low < -1:  # -1: no class, for a loss_fn (stn_experiment's outliers)
            raise ValueError(f"labels must be class numbers 0 to {n_classes - 1} (the digit classifiers have "
                             f"{n_classes} classes), got values from {low} to {high}; number the classes from 0, "
                             "e.g. labels - 1 for labels 1 to 10.")


def _check_batches(images: object, batch_size: object) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"images must be an (N, C, H, W) tensor, got {shape_of(images)}; e.g. make_digits(...).images.")
    if len(images) == 0:
        raise ValueError("images is empty; pass at least one image.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}; e.g. batch_size=500.")


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a checkpoint name such as 'stn02_rts_stn', got {name!r}.")
    if len(name) > 200:  # a file name has at most 255 bytes on most file systems
        raise ValueError(f"name is {len(name)} characters long; use at most 200, e.g. 'stn02_rts_stn'.")
