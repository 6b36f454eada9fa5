"""The style studio, headless: controls reach the engine, Stop stops a running
optimisation, Save stays inside its folder, bad uploads are refused clearly."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import threading
from pathlib import Path

import ipywidgets as W
import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import memory, transfer, warps, widgets
from course_utils import studio as studio_module
from course_utils.widgets import StyleStudio


def _png_bytes(w=40, h=30, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class RecordingRunner:
    """Calls the real engine and remembers what it was asked to do."""

    def __init__(self):
        self.calls = []

    def __call__(self, content, style, **settings):
        self.calls.append({"content": content, "style": style, **settings})
        return transfer.stylise(content, style, **settings)


def _small(studio: StyleStudio, steps: int = 5) -> StyleStudio:
    c = studio.controls
    c["size"].value = 64
    c["steps"].value = steps
    c["layers"].value = "fine texture (relu1_1 … relu3_1)"
    return studio


def test_controls_and_run_button_call_the_engine_with_those_settings(tmp_path):
    runner = RecordingRunner()
    studio = _small(StyleStudio(tmp_path, runner=runner))
    c = studio.controls
    c["optimiser"].value = "adam"
    c["style_weight"].value = 1e4
    c["preserve_colour"].value = "luminance"
    c["coarse_to_fine"].value = True
    c["seed"].value = 3
    c["style"].value = "stripes"
    c["style_rotation"].value = 90
    studio.run_button.click()
    result = studio.wait(timeout=300)
    assert len(runner.calls) == 1
    call = runner.calls[0]
    assert call["optimiser"] == "adam" and call["style_weight"] == 1e4 and call["seed"] == 3
    assert call["preserve_colour"] == "luminance" and call["scales"] == (0.5, 1.0)
    assert call["style_layers"] == ("relu1_1", "relu2_1", "relu3_1") and call["size"] == 64
    # the style reached the engine rotated by 90°: horizontal stripes became vertical
    s = call["style"].mean(1)[0]
    assert s.diff(dim=1).abs().mean() > 2 * s.diff(dim=0).abs().mean()
    assert result is not None and max(result.image.shape[-2:]) == 64
    assert studio.progress.value == studio.progress.max == 10  # 5 steps at each of 2 scales
    assert studio.preview.value and studio.loss_plot.value
    assert "offline fallback" in studio.network.value or "ImageNet" in studio.network.value
    assert len(studio.history_strip.children) == 1 and not studio.save_button.disabled


def test_network_line_names_the_feature_network_before_any_run(tmp_path):
    studio = StyleStudio(tmp_path)
    assert studio.result is None and studio.network.value
    expected = transfer.short_source(transfer.feature_network(
        transfer.TransferConfig(style_layers=widgets.LAYER_PRESETS[studio.controls["layers"].value])).source)
    assert expected in studio.network.value
    assert "offline fallback" in studio.network.value or "ImageNet VGG19" in studio.network.value
    # the run then uses that same (cached) network, and the line still names it
    info = transfer._extractor.cache_info()
    _small(studio, steps=5)
    studio.controls["layers"].value = next(iter(widgets.LAYER_PRESETS))  # back to the default layers
    studio.run(block=True)
    assert transfer._extractor.cache_info().misses == info.misses
    assert expected in studio.network.value


def test_stop_during_a_run_ends_it_and_keeps_an_image(tmp_path):
    studio = _small(StyleStudio(tmp_path), steps=500)
    studio.run_button.click()
    assert studio.running
    assert studio.wait_until_started(timeout=120)
    studio.stop_button.click()
    result = studio.wait(timeout=120)
    assert not studio.running
    assert result.stopped_reason == "callback" and result.steps_done < 500
    assert len(result.history["total"]) >= 1  # at least the step that saw Stop was recorded
    assert result.image.shape[:2] == (1, 3) and torch.isfinite(result.image).all()
    assert "Stopped" in studio.status.value and not studio.run_button.disabled


def test_save_writes_png_and_json_inside_the_folder_even_for_a_malicious_upload_name(tmp_path):
    out = tmp_path / "out"
    studio = _small(StyleStudio(out), steps=5)
    assert studio.accept_upload("content", "../../x.png", _png_bytes())
    assert studio.controls["content"].value.startswith("upload:")
    studio.run(block=True)
    png, meta = studio.save()
    assert png.parent == out.resolve() and meta.parent == out.resolve()
    assert "x" not in png.stem.split("-")[-2:] and png.stem.endswith("upload-swirl")
    assert not (tmp_path / "x.png").exists() and not (tmp_path.parent / "x.png").exists()
    record = json.loads(meta.read_text())
    assert record["steps"] == 5 and record["content"].startswith("upload:")
    assert "feature_network" in record and set(record["final_losses"]) == {"total", "content", "style", "tv"}
    second, _ = studio.save()
    assert second != png and second.exists()  # unique names, nothing overwritten


def test_oversized_or_broken_uploads_are_refused_with_a_message_and_nothing_written(tmp_path, monkeypatch):
    out = tmp_path / "out"
    studio = StyleStudio(out)
    before = studio.controls["content"].options
    monkeypatch.setattr(studio_module, "MAX_UPLOAD_BYTES", 1000)
    assert not studio.accept_upload("content", "huge.png", _png_bytes(200, 200))
    assert "huge.png" in studio.status.value and "MB" in studio.status.value
    assert not studio.accept_upload("style", "broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
    assert "broken.jpg" in studio.error and ("not an image" in studio.error or "damaged" in studio.error)
    assert not studio.accept_upload("style", "notes.txt", b"just some text")
    assert "not an image" in studio.error
    assert studio.controls["content"].options == before
    assert not out.exists()
    assert studio.save() is None and "Nothing to save" in studio.status.value


def test_warp_style_keeps_statistics_free_of_empty_borders():
    style = torch.rand(1, 3, 48, 64)
    turned = warps.warp_style(style, 45, 0.7)
    assert turned.shape == style.shape
    # reflection padding: no black (zero) border pixels appear in the corners
    assert turned[..., :3, :3].mean() > 0.1
    assert warps.warp_style(style) is style
    with pytest.raises(ValueError, match="content' or 'style"):
        StyleStudio.accept_upload(StyleStudio.__new__(StyleStudio), "painting", "a.png", b"")


# ----------------------------------------------------------------- hardening (issue "Hardening")
def _html_values(widget) -> list[str]:
    """The value of every ipywidgets.HTML inside ``widget`` (what JupyterLab renders as markup)."""
    found = [widget.value] if isinstance(widget, W.HTML) else []
    for child in getattr(widget, "children", ()):
        found += _html_values(child)
    return found


def _one_colour_png(rgb) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One studio after a short run (its result is shared by the saving tests)."""
    studio = _small(StyleStudio(tmp_path_factory.mktemp("first")), steps=5)
    studio.run(block=True)
    assert studio.result is not None
    return studio


def _with_result(finished: StyleStudio, folder) -> StyleStudio:
    studio = StyleStudio(folder)
    studio.result, studio.history = finished.result, list(finished.history)
    return studio


def test_an_upload_named_like_markup_is_shown_as_text_in_every_html_widget(tmp_path):
    name = "<img src=x onerror=alert(document.domain)>.png"
    studio = _small(StyleStudio(tmp_path), steps=5)
    assert studio.accept_upload("style", name, _png_bytes())
    studio.run(block=True)
    values = _html_values(studio.widget)
    assert studio.history_strip.children and len(values) > 5
    assert [v for v in values if "<img" in v] == []  # no markup from the file name
    assert any("&lt;img src=x onerror=alert(document.domain)&gt;" in v for v in values)  # shown, as text


def test_content_and_style_uploads_with_the_same_file_name_stay_apart(tmp_path):
    studio = StyleStudio(tmp_path)
    assert studio.accept_upload("content", "photo.png", _one_colour_png((255, 0, 0)))
    assert studio.accept_upload("style", "photo.png", _one_colour_png((0, 0, 255)))
    content, style = studio.content_image().mean((0, 2, 3)), studio.style_image().mean((0, 2, 3))
    assert torch.allclose(content, torch.tensor([1.0, 0.0, 0.0]), atol=0.01)  # still the red photo
    assert torch.allclose(style, torch.tensor([0.0, 0.0, 1.0]), atol=0.01)


def test_two_studios_saving_into_one_folder_in_the_same_second_keep_both_results(finished, tmp_path, monkeypatch):
    studios = [_with_result(finished, tmp_path) for _ in range(2)]
    monkeypatch.setattr(studio_module.time, "strftime", lambda fmt: "20260101-120000")  # the same second
    both_named = threading.Barrier(2, timeout=60)
    real_save = studio_module.save_image

    def save_after_both_named(image, path):  # both have chosen a name before either writes
        both_named.wait()
        return real_save(image, path)

    monkeypatch.setattr(studio_module, "save_image", save_after_both_named)
    saved: list = []
    threads = [threading.Thread(target=lambda s=s: saved.append(s.save())) for s in studios]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(saved) == 2 and None not in saved and len({png for png, _ in saved}) == 2
    assert len(pngs) == 2 and len(list(tmp_path.glob("*.json"))) == 2


def test_a_settings_file_that_cannot_be_written_leaves_neither_file(finished, tmp_path, monkeypatch):
    studio = _with_result(finished, tmp_path)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    # the disk fills while the settings are written, however they are written
    monkeypatch.setattr(studio_module.json, "dump", disk_full)
    original = Path.write_text
    monkeypatch.setattr(Path, "write_text",
                        lambda self, *a, **k: disk_full() if self.suffix == ".json" else original(self, *a, **k))
    assert studio.save() is None
    assert "Could not save" in studio.status.value and "No space left" in studio.status.value
    assert list(tmp_path.iterdir()) == []  # no PNG without its settings, no .tmp- file


def test_saving_where_no_folder_can_be_made_says_so_in_the_status(finished, tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    studio = _with_result(finished, tmp_path / "notes.txt" / "outputs")
    studio.save_button.click()  # the button's handler must not raise
    assert studio.error and "Could not save" in studio.status.value and "Done" not in studio.status.value
    assert studio.save() is None


def test_the_settings_file_gets_the_same_rights_as_the_picture(finished, tmp_path):
    png, meta = _with_result(finished, tmp_path).save()
    assert stat.S_IMODE(meta.stat().st_mode) == stat.S_IMODE(png.stat().st_mode)
    assert json.loads(meta.read_text())["steps"] == 5 and sorted(os.listdir(tmp_path)) == sorted([png.name, meta.name])


def test_the_size_control_and_run_respect_the_memory_this_machine_has(tmp_path, monkeypatch):
    need_512 = memory.estimate((512, 512), (512, 512))["total"]
    # a machine with just enough free memory for about 300 px (as memory.available_bytes reads it)
    monkeypatch.setattr(memory, "available_bytes", lambda: memory.HEADROOM + need_512 // 3)
    studio = StyleStudio(tmp_path)
    size = studio.controls["size"]
    assert 64 <= size.max < 512 and size.max % 32 == 0
    assert memory.estimate((size.max, size.max), (size.max, size.max))["total"] <= need_512 // 3
    # the free memory shrinks after the studio was built: Run refuses with the sentence, starts nothing
    size.value = size.max
    monkeypatch.setattr(memory, "available_bytes", lambda: memory.HEADROOM + memory.estimate((128, 128), (128, 128))["total"])
    assert studio.run() is None and not studio.running and studio.result is None
    assert "needs about" in studio.error and "is free; the largest size that fits is about" in studio.error
    assert not studio.run_button.disabled


def test_a_run_whose_loss_ended_above_its_start_says_so_in_the_status(tmp_path):
    def too_bold(content, style, **settings):  # the real engine, with a step size that overshoots
        return transfer.stylise(content, style, **{**settings, "optimiser": "adam", "lr": 40.0})

    studio = _small(StyleStudio(tmp_path, runner=too_bold), steps=8)
    studio.run(block=True)
    assert studio.result.stopped_reason == "recovered", studio.result.describe()
    assert "Done ⚠️" in studio.status.value and "above its start" in studio.status.value


def test_waiting_for_a_run_that_was_never_started_returns_at_once(tmp_path):
    """With no run going, wait_until_started() (no timeout) waited for ever; a run refused
    for memory left it waiting too."""
    studio = StyleStudio(tmp_path)

    def waited_for_ever(*_):
        raise AssertionError("wait_until_started() was still waiting after 30 s with no run going")

    previous = signal.signal(signal.SIGALRM, waited_for_ever)
    signal.alarm(30)  # a guard that turns a hang into a failure, not a timing
    try:
        assert studio.wait_until_started() is False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
