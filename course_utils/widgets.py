"""Interactive pieces of the course: the θ playground (notebook 01), the STN explorer
(notebook 02) and, from :mod:`course_utils.studio`, the style studio (notebook 06).

They draw with Pillow into an ``ipywidgets.Image``, fast enough for sliders that update
continuously, without matplotlib or ``clear_output``.
"""

from __future__ import annotations

import html

import ipywidgets as W
import torch
from PIL import Image, ImageDraw

from . import geometry, plotting
from .checks import count
from .i18n import localised as _
from .studio import (
    LAYER_PRESETS,
    MAX_UPLOAD_BYTES,
    UPLOAD_MAX_SIDE,
    StyleStudio,
    safe_name,
    style_studio,
)

_GRID_COLOUR = (230, 159, 0)  # Okabe–Ito orange
_PANEL = 256


def render_warp_panels(image: torch.Tensor, theta: torch.Tensor, *, mode: str = "bilinear",
                       padding_mode: str = "zeros", align_corners: bool = False, lines: int = 9,
                       height: int = _PANEL) -> Image.Image:
    """Input with the sampling grid drawn on it | warped output, as one PIL image."""
    h, w = image.shape[-2:]
    out = geometry.warp(image, theta, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    lines = min(count("lines", lines, 2), max(h, w, 2))  # more lines than pixels draw nothing new
    # RGB panels, so that a grey (1-channel) image gets the coloured grid too
    left, right = plotting.panel(image, height).convert("RGB"), plotting.panel(out.clamp(0, 1), height)
    # sampling positions of a coarse set of output rows/columns, in display pixels
    grid = geometry.sampling_grid(theta, (h, w), align_corners=align_corners)[0]
    pix = geometry.normalised_to_pixel(grid, (h, w), align_corners=align_corners)
    sx, sy = left.width / w, left.height / h
    draw = ImageDraw.Draw(left)
    rows = sorted({round(i * (h - 1) / (lines - 1)) for i in range(lines)})
    cols = sorted({round(i * (w - 1) / (lines - 1)) for i in range(lines)})
    for line in [pix[r, :] for r in rows] + [pix[:, c] for c in cols]:
        draw.line([((x + 0.5) * sx, (y + 0.5) * sy) for x, y in line.tolist()], fill=_GRID_COLOUR, width=2)
    canvas = Image.new("RGB", (left.width + right.width + 12, height), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + 12, 0))
    return canvas


class _Shown:
    """Shown as its ``widget`` when it is the last value of a notebook cell."""

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class ThetaPlayground(_Shown):
    """Sliders for angle, scale, shear and translation that redraw the warp live: ``theta``
    is the current θ ``(2, 3)``, ``controls`` the widgets by name (``angle``, ``scale``,
    ``shear``, ``tx``, ``ty``, ``mode``, ``padding``, ``align_corners``), ``view`` the picture.
    """

    def __init__(self, image: torch.Tensor, *, correct_aspect: bool = True):
        if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[:2] != (1, 3):
            raise ValueError("ThetaPlayground needs one RGB image of shape (1, 3, H, W), e.g. from load_image.")
        self.image = image
        h, w = image.shape[-2:]
        self.aspect = (w / h) if correct_aspect else 1.0
        slider = dict(continuous_update=True, readout_format=".2f", style={"description_width": "90px"})
        self.controls = {
            "angle": W.FloatSlider(0.0, min=-180, max=180, step=1, description=_("angle (°)"), **slider),
            "scale": W.FloatLogSlider(1.0, base=2, min=-2, max=2, step=0.05, description=_("scale"), **slider),
            "shear": W.FloatSlider(0.0, min=-1, max=1, step=0.05, description=_("shear x"), **slider),
            "tx": W.FloatSlider(0.0, min=-1, max=1, step=0.05, description=_("move x"), **slider),
            "ty": W.FloatSlider(0.0, min=-1, max=1, step=0.05, description=_("move y"), **slider),
            "mode": W.Dropdown(options=["bilinear", "nearest", "bicubic"], value="bilinear", description=_("interpolation"), style={"description_width": "90px"}),
            "padding": W.Dropdown(options=["zeros", "border", "reflection"], value="zeros", description=_("padding"), style={"description_width": "90px"}),
            "align_corners": W.Checkbox(False, description="align_corners"),
        }
        self.view = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.matrix = W.HTML()
        reset = W.Button(description=_("reset"), icon="undo", tooltip=_("back to the identity θ"))
        reset.on_click(lambda _: self.reset())
        for control in self.controls.values():
            control.observe(self._redraw, names="value")
        left = W.VBox([self.controls[k] for k in ("angle", "scale", "shear", "tx", "ty")] + [reset])
        right = W.VBox([self.controls[k] for k in ("mode", "padding", "align_corners")] + [self.matrix])
        caption = W.HTML(html.escape(_("{left}: input with the sampling grid (where each output pixel reads from) | {right}: output")).format(
            left="<b>" + html.escape(_("left")) + "</b>", right="<b>" + html.escape(_("right")) + "</b>"))
        self.widget = W.VBox([W.HBox([left, right]), caption, self.view])
        self.theta = geometry.identity_theta()
        self.frames = 0
        self._redraw()

    def reset(self) -> None:
        """Put every slider back to the identity."""
        for name, value in (("angle", 0.0), ("scale", 1.0), ("shear", 0.0), ("tx", 0.0), ("ty", 0.0)):
            self.controls[name].value = value

    def _redraw(self, *_):
        c = self.controls
        self.theta = geometry.theta_from_params(
            angle=c["angle"].value, scale=c["scale"].value, shear=c["shear"].value,
            tx=c["tx"].value, ty=c["ty"].value, aspect=self.aspect)
        panels = render_warp_panels(self.image, self.theta, mode=c["mode"].value,
                                    padding_mode=c["padding"].value, align_corners=c["align_corners"].value)
        self.view.value = plotting.png_bytes(panels)
        rows = "".join(
            "<tr>" + "".join(f"<td style='padding:0 8px;text-align:right'>{v:+.3f}</td>" for v in row) + "</tr>"
            for row in self.theta.tolist()
        )
        self.matrix.value = f"<div style='font-family:monospace'>θ =<table>{rows}</table></div>"
        self.frames += 1


def theta_playground(image: torch.Tensor, *, correct_aspect: bool = True) -> ThetaPlayground:
    """Build the θ playground of notebook 01 for ``image`` ``(1, 3, H, W)``."""
    return ThetaPlayground(image, correct_aspect=correct_aspect)


class STNExplorer(_Shown):
    """Pick a distorted digit (``controls["index"]``) and see what a trained spatial
    transformer does with it: its sampling grid and output (``view``), the classifier's
    answer and the rotation found beside the one applied (``caption``)."""

    def __init__(self, model, images: torch.Tensor, labels: torch.Tensor, params: dict, status: str = ""):
        from . import stn

        if not isinstance(getattr(model, "stn", None), stn.SpatialTransformer):
            raise TypeError(f"the explorer needs a classifier with a spatial transformer (stn.STNClassifier), got "
                            f"{type(model).__name__}; a plain DigitCNN has no θ to show.")
        self.model = model.eval()
        self.images, self.labels, self.params = images, labels, params
        with torch.no_grad():
            self.thetas = stn.transform_batch(model.stn, images)[1]
            self.predictions = stn.predict(model, images)
        self.angles = stn.rotation_degrees(self.thetas)
        self.controls = {"index": W.IntSlider(0, min=0, max=len(images) - 1, description=_("digit #"),
                                              continuous_update=True)}
        self.view = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.caption = W.HTML()
        self.controls["index"].observe(lambda _: self._redraw(), names="value")
        self.widget = W.VBox([W.HTML(f"<small>{html.escape(status)}</small>"), self.controls["index"],
                              self.view, self.caption])
        self._redraw()

    def _redraw(self) -> None:
        i = self.controls["index"].value
        digit = self.images[i : i + 1].expand(1, 3, *self.images.shape[-2:])
        self.view.value = plotting.png_bytes(render_warp_panels(digit, self.thetas[i], height=200, lines=7))
        applied = self.params.get("angle")
        # the STN undoes the distortion, so its rotation should be minus the applied one
        undo = _(" (the distortion rotated it by {angle:+.0f}°)").format(angle=float(applied[i])) if applied is not None else ""
        ok = "✅" if int(self.predictions[i]) == int(self.labels[i]) else "❌"
        self.caption.value = html.escape(_("digit {label}, classified as {predicted} {ok} · the STN rotates by {angle}{undo}")).format(
            label=int(self.labels[i]), predicted=f"<b>{int(self.predictions[i])}</b>", ok=ok,
            angle=f"<b>{float(self.angles[i]):+.0f}°</b>", undo=html.escape(undo))


def stn_explorer(model=None, *, n: int = 200, variant: str = "RTS", seed: int = 1,
                 checkpoint: str = "stn02_rts_stn") -> STNExplorer:
    """The STN explorer on ``n`` test digits of ``variant``, with ``model`` or else the one
    notebook 02 trained and committed as ``data/checkpoints/<checkpoint>.pt``."""
    from . import digits, stn

    status = _("your model")
    if model is None:
        path = stn.checkpoint_path(checkpoint)
        if not path.exists():
            raise FileNotFoundError(_("No trained STN at {path}; run notebook 02 in full mode to train and save it, "
                                      "or pass model=... .").format(path=path))
        model = stn.build_models(stn.RECIPE_FULL, "affine")["STN-CNN"]
        status = stn.load_or_train(model, checkpoint, train=lambda: None)
    images, labels, params = digits.make_digits(n, variant, seed=seed, split="test")
    return STNExplorer(model, images, labels, params, status=_("trained STN: {status}").format(status=status))


__all__ = [
    "LAYER_PRESETS", "MAX_UPLOAD_BYTES", "UPLOAD_MAX_SIDE", "STNExplorer", "StyleStudio", "ThetaPlayground",
    "render_warp_panels", "safe_name", "stn_explorer", "style_studio", "theta_playground",
]
