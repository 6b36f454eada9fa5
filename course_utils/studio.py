"""The style studio of notebook 06: pick or upload a photo and a style, set the knobs, Run,
watch, Stop, Save, compare.

The optimisation runs in a background thread (a cell that is busy cannot hear a Stop
button); every user-supplied name is escaped before it reaches HTML and made harmless by
:func:`safe_name` before it reaches a file name.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
import time
from pathlib import Path

import ipywidgets as W
import torch

from . import config, data, features, memory, plotting, transfer
from .files import atomic_path
from .i18n import N_
from .i18n import localised as _
from .images import ImageLoadError, load_image_bytes, save_image
from .warps import warp_style

#: Largest upload the studio accepts (bytes); bigger files get a clear message.
MAX_UPLOAD_BYTES = 15 * 1024 * 1024
#: Longest side an uploaded image is shrunk to when it is decoded.
UPLOAD_MAX_SIDE = 1024

#: Layer presets offered by the studio: style layers (relu names) and what they do.
#: The keys are the English labels (the dropdown shows them in the notebook's language).
LAYER_PRESETS = {
    N_("Gatys (relu1_1 … relu5_1)"): ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    N_("fine texture (relu1_1 … relu3_1)"): ("relu1_1", "relu2_1", "relu3_1"),
    N_("large structures (relu3_1 … relu5_1)"): ("relu3_1", "relu4_1", "relu5_1"),
}


def safe_name(name: str) -> str:
    """A harmless file name from any upload name: lower case, every run of characters
    other than a-z, 0-9, ``_`` and ``-`` becomes one ``-``, at most 40 characters, never
    empty (notebook 06's exercise 2)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")[:40]
    return slug or "image"


def _reserve(folder: Path, stem: str) -> tuple[Path, Path]:
    """Create ``stem[-n].png`` and ``.json`` in ``folder`` exclusively (empty, for the caller
    to replace): another studio saving at the same second gets the next ``n``."""
    for n in range(10_000):
        png = folder / (f"{stem}-{n}.png" if n else f"{stem}.png")
        try:
            os.close(os.open(png, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        try:
            os.close(os.open(png.with_suffix(".json"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            png.unlink()
            continue
        return png, png.with_suffix(".json")
    raise FileExistsError(f"{folder} already holds 10000 results named {stem}-n; choose another folder.")


class StyleStudio:
    """A small app for style transfer. Save writes into ``output_dir`` under names the studio
    makes; ``runner(content, style, callback=..., **settings)`` stylises (default
    :func:`~course_utils.transfer.stylise`); the history strip keeps ``history_size`` results.
    ``controls`` holds every control by name, ``result`` the last run's result, ``widget``
    the whole studio. The engine's callback shows each step and checks the Stop flag.
    """

    def __init__(self, output_dir=None, *, runner=None, history_size: int = 4):
        self.runner = runner or transfer.stylise
        self.output_dir = Path(output_dir) if output_dir is not None else Path.cwd() / "studio_outputs"
        self.history_size = history_size
        self.history: list[tuple[torch.Tensor, dict]] = []
        self.result = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._uploads: dict[tuple[str, str], torch.Tensor] = {}  # (which, label) → image

        photos, styles = list(data.CONTENT_IMAGES), list(data.STYLE_NAMES)
        wide = {"description_width": "110px"}
        lay = W.Layout(width="330px")
        c = self.controls = {
            "content": W.Dropdown(options=[(p, p) for p in photos], value=photos[0], description=_("content"), style=wide, layout=lay),
            "content_upload": W.FileUpload(accept="image/*", multiple=False, description=_("your photo")),
            "style": W.Dropdown(options=[(s, s) for s in styles], value=styles[0], description=_("style"), style=wide, layout=lay),
            "style_upload": W.FileUpload(accept="image/*", multiple=False, description=_("your style")),
            "size": W.IntSlider(config.pick(full=256, fast=64), min=64, max=512, step=32, description=_("output size (px)"), style=wide, layout=lay),
            "steps": W.IntSlider(config.pick(full=150, fast=10), min=5, max=500, step=5, description=_("steps"), style=wide, layout=lay),
            "optimiser": W.ToggleButtons(options=[("L-BFGS", "lbfgs"), ("Adam", "adam")], value="lbfgs", description=_("optimiser"), style={**wide, "button_width": "70px"}),
            "style_weight": W.FloatLogSlider(1e3, base=10, min=0, max=6, step=0.25, description=_("style weight"), style=wide, layout=lay),
            "content_weight": W.FloatLogSlider(1.0, base=10, min=-2, max=2, step=0.25, description=_("content weight"), style=wide, layout=lay),
            "tv_weight": W.FloatLogSlider(1.0, base=10, min=-3, max=3, step=0.25, description=_("TV weight"), style=wide, layout=lay),
            "layers": W.Dropdown(options=[(_(k), k) for k in LAYER_PRESETS], value=next(iter(LAYER_PRESETS)), description=_("style layers"), style=wide, layout=lay),
            "style_rotation": W.FloatSlider(0.0, min=-180, max=180, step=5, description=_("style rotation (°)"), style=wide, layout=lay),
            "style_zoom": W.FloatLogSlider(1.0, base=2, min=-1.5, max=1.5, step=0.25, description=_("style zoom"), style=wide, layout=lay),
            "preserve_colour": W.Dropdown(options=[(_("no"), None), (_("luminance only"), "luminance"), (_("match histogram"), "histogram")], value=None, description=_("keep colours"), style=wide, layout=lay),
            "coarse_to_fine": W.Checkbox(False, description=_("coarse-to-fine (½ size first)")),
            "seed": W.BoundedIntText(0, min=0, max=2**31 - 1, description=_("seed"), style=wide, layout=W.Layout(width="200px")),
        }
        free = memory.free_bytes()  # the size slider ends where a run would not fit in memory
        fits = 512 if free is None else memory.largest_fitting_side((512, 512), (512, 512), free)
        c["size"].max = max(64, min(fits, 512) // 32 * 32)
        self.run_button = W.Button(description=_("Run"), icon="play", button_style="success")
        self.stop_button = W.Button(description=_("Stop"), icon="stop", button_style="danger", disabled=True)
        self.save_button = W.Button(description=_("Save"), icon="save", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description=_("progress"), layout=W.Layout(width="330px"))
        self.status = W.HTML(html.escape(_("Pick a content photo and a style, then press {run}.")).format(
            run="<b>" + html.escape(_("Run")) + "</b>"))
        # Say from the start which feature network a run will use: the same cached
        # extractor stylise builds for the default layers (built once, shared with Run).
        cfg = transfer.TransferConfig(style_layers=LAYER_PRESETS[next(iter(LAYER_PRESETS))])
        try:
            shown = _(transfer.short_source(transfer.feature_network(cfg).source))
        except Exception as exc:  # e.g. a damaged weights file: Run will report it in full
            shown = _("unavailable ({reason})").format(reason=exc)
            shown = shown if len(shown) <= 200 else shown[:197] + "..."
        self.network = W.HTML(self._network_line(shown))
        self.content_view = W.Image(format="png", layout=W.Layout(width="150px"))
        self.style_view = W.Image(format="png", layout=W.Layout(width="150px"))
        self.preview = W.Image(format="png", layout=W.Layout(width="320px"))
        self.loss_plot = W.Image(format="png", layout=W.Layout(width="320px"))
        self.history_strip = W.HBox()

        # CSS classes name the parts, for the browser test and for anyone styling the studio
        for name, w in {**c, "run": self.run_button, "stop": self.stop_button, "save": self.save_button,
                        "progress": self.progress, "status": self.status, "preview": self.preview,
                        "loss-plot": self.loss_plot, "history": self.history_strip}.items():
            w.add_class(f"studio-{name.replace('_', '-')}")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.save_button.on_click(lambda _: self.save())
        c["content_upload"].observe(lambda ch: self._on_upload("content", ch), names="value")
        c["style_upload"].observe(lambda ch: self._on_upload("style", ch), names="value")
        for name in ("content", "style", "style_rotation", "style_zoom"):
            c[name].observe(lambda _: self._show_inputs(), names="value")

        basics = W.VBox([c[k] for k in ("size", "steps", "optimiser", "style_weight")])
        advanced = W.VBox([c[k] for k in ("content_weight", "tv_weight", "layers", "preserve_colour", "coarse_to_fine", "seed")])
        note = _("The style is warped (reflection padding) before its Gram targets are computed: "
                 "rotation turns the strokes, zoom scales them.")
        geometry_box = W.VBox([c["style_rotation"], c["style_zoom"], W.HTML(f"<small>{html.escape(note)}</small>")])
        tabs = W.Tab(children=[basics, advanced, geometry_box],
                     titles=(_("Basics"), _("Advanced"), _("Style geometry")))
        pickers = W.HBox([
            W.VBox([c["content"], c["content_upload"], self.content_view]),
            W.VBox([c["style"], c["style_upload"], self.style_view]),
        ])
        buttons = W.HBox([self.run_button, self.stop_button, self.save_button])
        live = W.HBox([W.VBox([_bold(_("live preview")), self.preview]),
                       W.VBox([_bold(_("losses")), self.loss_plot])])
        title = W.HTML("<h3 style='margin:0'>" + html.escape(_("Style studio")) + "</h3>")
        self.widget = W.VBox([title, self.network, pickers, tabs, buttons, self.progress, self.status, live,
                              _bold(_("history (newest first)")), self.history_strip])
        self.widget.add_class("style-studio")
        self._show_inputs()

    @staticmethod
    def _network_line(shown: str) -> str:
        return "<small>" + html.escape(_("feature network: {name}")).format(name=f"<b>{html.escape(shown)}</b>") + "</small>"

    def _image(self, which: str) -> torch.Tensor:
        name = self.controls[which].value
        if (which, name) in self._uploads:
            return self._uploads[(which, name)]
        return data.content_image(name, max_side=UPLOAD_MAX_SIDE) if which == "content" else data.style_image(name)

    def content_image(self) -> torch.Tensor:
        """The chosen content image, ``(1, 3, H, W)``."""
        return self._image("content")

    def style_image(self) -> torch.Tensor:
        """The chosen style image after the studio's rotation and zoom."""
        c = self.controls
        return warp_style(self._image("style"), c["style_rotation"].value, c["style_zoom"].value)

    def _show_inputs(self) -> None:
        self.content_view.value = plotting.png_bytes(plotting.panel(self.content_image(), 110))
        self.style_view.value = plotting.png_bytes(plotting.panel(self.style_image(), 110))

    def _on_upload(self, which: str, change) -> None:
        files = change["new"]
        if files:
            self.accept_upload(which, files[0]["name"], bytes(files[0]["content"]))

    def accept_upload(self, which: str, name: str, content: bytes) -> bool:
        """Decode an uploaded file for ``which`` ("content" or "style") without writing it to
        disk; True if accepted, else a message says why (too large, not an image)."""
        if which not in ("content", "style"):
            raise ValueError(f"which must be 'content' or 'style', got {which!r}.")
        shown = name if len(name) <= 60 else name[:57] + "..."
        if len(content) > MAX_UPLOAD_BYTES:
            self._say("⚠️ " + _("'{name}' is {size:.1f} MB, more than the {limit} MB the studio accepts; shrink it "
                               "and upload it again.").format(name=shown, size=len(content) / 2**20,
                                                              limit=MAX_UPLOAD_BYTES // 2**20), error=True)
            return False
        try:
            image = load_image_bytes(content, name=shown, max_side=UPLOAD_MAX_SIDE)
        except ImageLoadError as exc:
            self._say(f"⚠️ {exc}", error=True)
            return False
        label = f"upload: {shown}"  # the value (saved in the JSON); the dropdown shows it translated
        self._uploads[(which, label)] = image
        dropdown = self.controls[which]
        dropdown.options = [o for o in dropdown.options if o[1] != label] + [
            (_("upload: {name}").format(name=shown), label)]
        dropdown.value = label
        said = _("Using your content image '{name}' ({width}×{height} px).") if which == "content" else \
            _("Using your style image '{name}' ({width}×{height} px).")
        self._say(said.format(name=shown, width=image.shape[-1], height=image.shape[-2]))
        return True

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#D55E00" if error else "inherit"
        self.error = text if error else None
        self.status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    def settings(self) -> dict:
        """The engine settings the controls describe (what Run passes to the runner)."""
        c = self.controls
        return {
            "size": int(c["size"].value),
            "steps": int(c["steps"].value),
            "optimiser": c["optimiser"].value,
            "style_weight": float(c["style_weight"].value),
            "content_weight": float(c["content_weight"].value),
            "tv_weight": float(c["tv_weight"].value),
            "style_layers": LAYER_PRESETS[c["layers"].value],
            "preserve_colour": c["preserve_colour"].value,
            "scales": (0.5, 1.0) if c["coarse_to_fine"].value else (1.0,),
            "seed": int(c["seed"].value),
        }

    def describe_settings(self) -> dict:
        """Settings plus the inputs, as saved in the JSON beside each result."""
        c, out = self.controls, self.settings()
        out.update(style_layers=list(out["style_layers"]), scales=list(out["scales"]), content=c["content"].value,
                   style=c["style"].value, style_rotation=float(c["style_rotation"].value),
                   style_zoom=float(c["style_zoom"].value))
        return out

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, block: bool = False):
        """Start a run in a background thread (the Run button); ``block``: wait for its end."""
        if self.running:
            self._say(_("Already running: press Stop first."), error=True)
            return None
        settings = self.settings()
        snapshot = self.describe_settings()
        content, style = self.content_image(), self.style_image()
        try:
            self.memory_needed(content, style, settings)
        except MemoryError as exc:
            self._say(f"⚠️ {exc}", error=True)
            return None
        total = settings["steps"] * len(settings["scales"])
        self.progress.max, self.progress.value = max(total, 1), 0
        self._stop.clear()
        self._started.clear()
        self.run_button.disabled, self.stop_button.disabled, self.save_button.disabled = True, False, True
        self._say(_("Running {steps} steps…").format(steps=total))
        self._thread = threading.Thread(target=self._work, args=(content, style, settings, snapshot), daemon=True)
        self._thread.start()
        if block:
            self.wait()
        return self._thread

    @staticmethod
    def memory_needed(content: torch.Tensor, style: torch.Tensor, settings: dict) -> int:
        """The memory (bytes) a run with these settings needs (:func:`memory.check_fits`);
        raises ``MemoryError`` with one sentence when the machine does not have it."""

        def at(hw, longest: int) -> tuple[int, int]:
            k = longest / max(hw)
            return max(1, round(hw[0] * k)), max(1, round(hw[1] * k))

        layers = (*settings["style_layers"], features.GATYS_CONTENT_LAYER)
        return memory.check_fits(at(content.shape[-2:], settings["size"]), at(style.shape[-2:], settings["size"]),
                                 deepest_layer=max(layers, key=features.layer_index),
                                 optimiser=settings["optimiser"], scales=len(settings["scales"]))

    def wait(self, timeout: float | None = None):
        """Wait for the current run to end; returns the result (or None)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result

    def wait_until_started(self, timeout: float | None = None) -> bool:
        """Block until the running optimisation has finished at least one step; ``False`` at
        once when no run is going (none started, or one refused), instead of waiting for ever."""
        if not self.running and not self._started.is_set():  # a run sets it before its thread ends
            return False
        return self._started.wait(timeout)

    def stop(self) -> None:
        """Ask the running optimisation to stop after its current step (the Stop button)."""
        if self.running:
            self._stop.set()
            self._say(_("Stopping after this step…"))

    def _callback(self, step, image, losses) -> bool:
        self.progress.value = min(step + 1, self.progress.max)
        every = max(1, self.progress.max // 25)
        if step % every == 0 or step + 1 == self.progress.max:
            self.preview.value = plotting.png_bytes(plotting.panel(image, 240))
            for key in ("total", "style", "content", "tv"):
                self._live_history.setdefault(key, []).append(losses.get(key, float("nan")))
            self.loss_plot.value = plotting.loss_curve_png(self._live_history)
        self._started.set()
        return self._stop.is_set()

    def _work(self, content, style, settings, snapshot) -> None:
        self._live_history: dict[str, list[float]] = {}
        try:
            result = self.runner(content, style, callback=self._callback, progress=False, **settings)
        except Exception as exc:  # shown in the studio; the thread must not die silently
            result = getattr(exc, "result", None)
            self._say("⚠️ " + _("The run failed: {error}").format(error=exc), error=True)
        else:  # a "recovered" run ran every step; its warning is shown in the engine's words
            done = result.stopped_reason in ("finished", "recovered")
            verdict = (_("Done") if done else _("Stopped")) + (" ⚠️" if getattr(result, "warning", "") else "")
            self._say(_("{verdict}: {summary}").format(verdict=verdict, summary=result.describe()))
        finally:
            self._started.set()
            self.run_button.disabled, self.stop_button.disabled = False, True
        if result is not None:
            self.result = result
            self.network.value = self._network_line(_(transfer.short_source(result.source)))
            self.preview.value = plotting.png_bytes(plotting.panel(result.image, 240))
            self.loss_plot.value = plotting.loss_curve_png(result.history)
            self.save_button.disabled = False
            self._remember(result.image, snapshot)

    def _remember(self, image: torch.Tensor, snapshot: dict) -> None:
        self.history.insert(0, (image, snapshot))
        del self.history[self.history_size:]
        tiles = []
        for img, snap in self.history:
            caption = _("{style} · {steps} steps · w={weight:.0e}").format(
                style=snap["style"], steps=snap["steps"], weight=snap["style_weight"])
            if snap["style_rotation"]:
                caption += f" · {snap['style_rotation']:+.0f}°"
            tiles.append(W.VBox([W.Image(value=plotting.png_bytes(plotting.panel(img, 100)), format="png"),
                                 W.HTML(f"<small>{html.escape(caption)}</small>")]))
        self.history_strip.children = tiles

    def save(self):
        """Write the last result as ``studio-<time>-<content>-<style>[-n].png`` in ``output_dir``
        and its settings as JSON beside it, both or neither (an upload's name never chooses the
        location); ``(png_path, json_path)``, or None with the reason in the status."""
        if self.result is None:
            self._say(_("Nothing to save yet: press Run first."), error=True)
            return None
        snap = self.history[0][1] if self.history else self.describe_settings()
        content, style = ("upload" if snap[k].startswith("upload:") else safe_name(snap[k])
                          for k in ("content", "style"))
        record = {**snap, "stopped_reason": self.result.stopped_reason, "steps_done": self.result.steps_done,
                  "feature_network": self.result.source,
                  "final_losses": {k: self.result.final(k) for k in ("total", "content", "style", "tv")}}
        text = json.dumps(record, indent=2, default=str)  # before anything touches the disk
        out = self.output_dir.resolve()
        try:
            out.mkdir(parents=True, exist_ok=True)
            png, meta = _reserve(out, f"studio-{time.strftime('%Y%m%d-%H%M%S')}-{content}-{style}")
            try:
                save_image(self.result.image, png)
                with atomic_path(meta) as tmp:
                    tmp.write_text(text)
            except BaseException:
                for path in (png, meta):
                    path.unlink(missing_ok=True)
                raise
        except OSError as exc:  # no rights, a read-only or full disk, a file in the way
            self._say("⚠️ " + _("Could not save into {folder}: {error}").format(folder=out, error=exc), error=True)
            return None
        self._say(_("Saved {image} and its settings ({settings}) in {folder}.").format(
            image=png.name, settings=meta.name, folder=out))
        return png, meta

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _bold(text: str) -> W.HTML:
    return W.HTML(f"<b>{html.escape(text)}</b>")


def style_studio(output_dir=None, **kwargs) -> StyleStudio:
    """Build the style studio of notebook 06 (see :class:`StyleStudio`)."""
    return StyleStudio(output_dir, **kwargs)
