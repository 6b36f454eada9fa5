"""The learner's tools in the notebook's language: the style studio, the θ playground,
``config.describe()`` and a run's ``describe()`` speak Chinese in a Chinese notebook and
English otherwise; every message the code marks with ``_()`` has a Chinese entry."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

from course_tools import translate as tr
from course_tools import translate_messages as tm
from course_utils import config, geometry, transfer, widgets
from course_utils.widgets import StyleStudio

CJK = re.compile(r"[\u4e00-\u9fff]")


def _studio_words(studio: StyleStudio) -> dict[str, str]:
    """What a learner reads on the studio before a run: labels, buttons, tabs, status lines."""
    words = {f"control {name}": w.description for name, w in studio.controls.items()}
    words.update({f"{b} button": getattr(studio, f"{b}_button").description for b in ("run", "stop", "save")})
    words["progress"] = studio.progress.description
    words["status"] = studio.status.value
    words["network"] = studio.network.value
    tabs = next(w for w in studio.widget.children if hasattr(w, "titles"))
    words.update({f"tab {i}": t for i, t in enumerate(tabs.titles)})
    for name in ("layers", "preserve_colour"):
        words.update({f"{name} option {i}": label for i, (label, _) in enumerate(studio.controls[name].options)})
    return words


def _result(reason: str = "finished", warning: str = "") -> transfer.TransferResult:
    history = {"total": [2.0, 1.0], "style": [0.5, 0.25], "content": [1.5, 0.75], "tv": [0.1, 0.05]}
    return transfer.TransferResult(image=torch.zeros(1, 3, 8, 8), history=history, config=transfer.TransferConfig(),
                                   stopped_reason=reason, steps_done=2, seconds=1.25, warning=warning,
                                   source="offline fallback: random VGG19 (seed 0) — NOT ImageNet")


def test_the_studio_speaks_chinese_in_a_chinese_notebook(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_LANG", "zh")
    studio = StyleStudio(tmp_path)
    words = _studio_words(studio)
    english = {k: v for k, v in words.items() if not CJK.search(v)}
    assert not english, f"English left in the Chinese studio: {english}"
    assert (studio.run_button.description, studio.stop_button.description, studio.save_button.description) == (
        "运行", "停止", "保存")
    assert studio.controls["style_weight"].description == "风格权重"
    assert "离线后备网络" in studio.network.value or "ImageNet VGG19" in studio.network.value
    # the values behind the translated options stay the engine's
    studio.controls["layers"].value = "fine texture (relu1_1 … relu3_1)"
    assert studio.settings()["style_layers"] == ("relu1_1", "relu2_1", "relu3_1")
    assert studio.save() is None and studio.status.value.endswith("还没有可保存的结果：请先按运行。</span>")
    assert studio.accept_upload("content", "big.png", b"0" * (16 * 2**20)) is False
    assert "“big.png”有 16.0 MB，超过了工作室接受的 15 MB" in studio.error


def test_the_studio_stays_english_in_an_english_notebook(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_LANG", "en")
    studio = StyleStudio(tmp_path)
    words = _studio_words(studio)
    assert not {k: v for k, v in words.items() if CJK.search(v)}
    assert (studio.run_button.description, studio.controls["style_weight"].description) == ("Run", "style weight")
    assert words["tab 2"] == "Style geometry" and words["layers option 1"] == "fine texture (relu1_1 … relu3_1)"


def test_an_upload_is_named_in_the_notebooks_language_and_saved_under_its_english_value(monkeypatch, tmp_path):
    from test_widgets_studio import _png_bytes

    monkeypatch.setenv("COURSE_LANG", "zh")
    studio = StyleStudio(tmp_path)
    assert studio.accept_upload("style", "mine.png", _png_bytes())
    dropdown = studio.controls["style"]
    assert dropdown.value == "upload: mine.png" and dropdown.label == "上传：mine.png"
    assert studio.status.value.endswith("使用你的风格图像“mine.png”（40×30 像素）。</span>")


def test_describe_lines_follow_the_notebooks_language(monkeypatch):
    monkeypatch.setenv("COURSE_LANG", "zh")
    line = _result().describe()
    assert line.startswith("2 步，用时 1.2 秒（已完成）；风格 0.25，内容 0.75，全变分 0.05 | 离线后备网络"), line
    assert _result("recovered", "the loss ended above its start").describe().endswith(
        " | 警告：the loss ended above its start")
    assert re.search(r"设备：\w+ \| 模式：(快速|完整)", config.describe())
    monkeypatch.setenv("COURSE_LANG", "en")
    assert _result().describe().startswith("2 steps in 1.2 s (finished); style 0.25, content 0.75, tv 0.05 | offline")
    assert " | device: " in config.describe() and not CJK.search(config.describe())


def test_the_theta_playground_speaks_chinese_in_a_chinese_notebook(monkeypatch):
    image = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    monkeypatch.setenv("COURSE_LANG", "zh")
    zh = widgets.ThetaPlayground(image)
    assert {k: c.description for k, c in zh.controls.items() if k != "align_corners"} == {
        "angle": "角度（°）", "scale": "缩放", "shear": "x 方向剪切", "tx": "x 方向平移", "ty": "y 方向平移",
        "mode": "插值", "padding": "填充"}
    monkeypatch.setenv("COURSE_LANG", "en")
    en = widgets.ThetaPlayground(image)
    assert en.controls["angle"].description == "angle (°)"
    assert torch.equal(zh.theta, en.theta) and torch.equal(zh.theta, geometry.identity_theta())


def _literal_calls(path: Path) -> list[tuple[str, int]]:
    """Every ``_("...")`` / ``N_("...")`` with a string constant, wherever it sits (also
    inside an f-string's field, where Babel's extractor does not look)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("_", "N_") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((arg.value, node.lineno))
            elif isinstance(arg, ast.JoinedStr):
                found.append(("<an f-string: translate a template and .format() it>", node.lineno))
    return found


def test_every_marked_message_reaches_the_catalog():
    """A ``_()`` the extraction misses (inside an f-string, or given an f-string) would stay
    English in every language; this names it by file and line."""
    extracted = tm.extract()
    missed = [f"{p.relative_to(tm.ROOT)}:{line}: {text!r}" for p in sorted(tm.PACKAGE.glob("*.py")) + tm.SOURCES
              for text, line in _literal_calls(p) if text not in extracted]
    assert not missed, "\n".join(missed)
    assert {"Run", "style weight", "feature network: {name}", "finished"} <= set(extracted)


def test_a_marked_message_without_chinese_fails_naming_it():
    """The catalog check (test_zh_messages) names a `_()` message with no Chinese entry, and a
    translation that lost or renamed one of the English message's fields."""
    catalog = tm.load()
    del catalog["Saved {image} and its settings ({settings}) in {folder}."]
    catalog["Running {steps} steps…"].string = "正在运行 {step} 步……"
    problems = tr.message_problems(catalog)
    assert any(p.startswith("course_utils/studio.py:") and "'Saved {image} and its settings" in p
               and "has no translation" in p for p in problems), problems
    assert any("'Running {steps} steps…'" in p and "['{step}']" in p for p in problems), problems
    assert not tr.message_problems(tm.load())


@pytest.mark.parametrize("reason", ["finished", "callback", "interrupted", "diverged", "recovered"])
def test_every_way_a_run_ends_has_chinese(monkeypatch, reason):
    monkeypatch.setenv("COURSE_LANG", "zh")
    said = _result(reason).describe()
    assert re.search(r"（[\u4e00-\u9fff]+）", said), said


def test_a_runs_warning_and_precision_reason_follow_the_notebooks_language(monkeypatch):
    """What the engine decides is said in the notebook's language too: the loss's rise that
    came back (loop), the size it happened at (transfer), why this precision (accel)."""
    from course_utils import accel, data

    content, style = data.content_image("chelsea", 24), data.style_image("swirl", 24)
    for lang, word in (("zh", CJK.search), ("en", lambda s: not CJK.search(s))):
        monkeypatch.setenv("COURSE_LANG", lang)
        reason = accel.plan(transfer.TransferConfig(), torch.device("cpu")).reason
        assert reason and word(reason), reason
        # a run whose loss is above its start at the end: lr far too large for Adam
        r = transfer.stylise(content, style, steps=3, optimiser="adam", lr=5.0, weights="random",
                             device="cpu", progress=False, max_loss_ratio=1e9)
        assert r.warning and word(r.warning), r.warning
