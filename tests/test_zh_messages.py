"""The learner's path in Chinese: the checkers' hints and the offline notice follow the
notebook's language (course_utils.i18n, the catalog course_utils/locale/zh_CN), and
Matplotlib draws Chinese text without missing glyphs."""

from __future__ import annotations

import json
import warnings

import pytest

from course_exercises import ex01
from course_tools import translate as tr
from course_tools import translate_messages as tm
from course_utils import features, geometry, i18n


def test_every_package_message_has_a_reviewed_translation():
    """A checker hint or notice line that is new or changed in English fails here, named by
    its file and line, until the catalog has its Chinese (`python -m course_tools.translate messages`)."""
    problems = tr.message_problems(tm.load())
    assert not problems, "\n".join(problems)


def test_the_compiled_catalog_is_the_po_file():
    assert tm.MO.read_bytes() == tm.mo_bytes(tm.load()), "run `make zh` and commit course_utils.mo"


def test_language_follows_env_then_notebook_then_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_LANG", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert i18n.language() == "en"
    monkeypatch.chdir(tr.OUT_NOTEBOOKS)  # nbval and Jupyter start a kernel in its notebook's folder
    assert i18n.language() == "zh"
    monkeypatch.chdir(tmp_path)
    zh_nb = next(tr.OUT_NOTEBOOKS.glob("*.ipynb"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(zh_nb))  # JupyterLab names the notebook it runs
    assert i18n.language() == "zh"
    monkeypatch.setenv("JPY_SESSION_NAME", str(tr.NOTEBOOKS / zh_nb.name))
    assert i18n.language() == "en"
    monkeypatch.setenv("COURSE_LANG", "zh_CN")
    assert i18n.language() == "zh"
    monkeypatch.setenv("COURSE_LANG", "fr")
    with pytest.raises(ValueError, match="COURSE_LANG='fr' is not a course language"):
        i18n.language()


def test_built_notebooks_say_they_are_chinese():
    for path in tr.OUT_NOTEBOOKS.glob("*.ipynb"):
        assert json.loads(path.read_text(encoding="utf-8"))["metadata"]["language"] == "zh-CN"


def test_a_hint_with_values_is_translated_with_its_values(monkeypatch):
    def wrong(degrees, aspect):  # the right turn, without the aspect correction
        return geometry.rotation_theta(degrees)

    monkeypatch.setenv("COURSE_LANG", "zh")
    with pytest.raises(AssertionError) as info:
        ex01.check_rotation_theta(wrong)
    assert str(info.value) == (
        "练习 1（旋转 θ）：还不太对。对于 -45° 和宽高比 2.0，应为 [[0.7071067690849304, 0.3535533845424652, 0.0], "
        "[-1.4142135381698608, 0.7071067690849304, 0.0]]，得到的是 [[0.7071067690849304, 0.7071067690849304, 0.0], "
        "[-0.7071067690849304, 0.7071067690849304, 0.0]]（你是否按宽高比缩放了非对角元素？）")
    assert i18n.translate("a message nobody wrote", "zh") == "a message nobody wrote"


def test_a_wrong_answer_gets_its_hint_in_chinese(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_LANG", "zh")
    with pytest.raises(AssertionError) as info:
        ex01.check_invert(lambda theta: theta)  # not the inverse
    assert str(info.value).startswith("练习 2（求 θ 的逆）：还不太对。compose(theta, your_inverse) 应当是恒等变换")
    ex01.check_invert(None)
    assert capsys.readouterr().out.strip() == "✏️ 练习 2（求 θ 的逆）：尚未作答：请填好上面的单元格，然后重新运行。"
    monkeypatch.setenv("COURSE_LANG", "en")
    with pytest.raises(AssertionError, match=r"^Exercise 2 \(invert θ\): not quite\. compose"):
        ex01.check_invert(lambda theta: theta)


def test_the_offline_notice_is_chinese_in_a_chinese_notebook(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_LANG", "zh")
    monkeypatch.setattr(features, "_NOTICE_SHOWN", [])
    features.FeatureExtractor(["relu1_1"], weights="random", device="cpu")
    box = capsys.readouterr().out.strip().splitlines()
    assert "离线后备网络" in box[0] and "不是】ImageNet VGG19" in box[1]
    assert len({i18n.width(line) for line in box}) == 1, "the box's lines must line up in a monospaced font"
    features.FeatureExtractor(["relu1_1"], weights="random", device="cpu")
    assert capsys.readouterr().out.startswith("[离线后备]")


def test_matplotlib_draws_a_chinese_title_without_missing_glyphs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = i18n.cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (Debian: apt-get install fonts-noto-cjk; .ci/run installs it)")
    fig, ax = plt.subplots()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ax.set_title("仿射变换与格拉姆矩阵 θ")
            ax.set_xlabel("宽度（像素）")
            fig.canvas.draw()
        missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
        assert not missing, missing
    finally:
        plt.close(fig)


def test_a_cjk_font_installed_after_matplotlib_cached_its_list_is_found(monkeypatch):
    from matplotlib import font_manager

    if i18n.cjk_font() is None:
        pytest.skip("no CJK font installed (Debian: apt-get install fonts-noto-cjk; .ci/run installs it)")
    stale = [f for f in font_manager.fontManager.ttflist if f.name not in i18n.CJK_FONTS]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    assert i18n.cjk_font() in i18n.CJK_FONTS


def test_a_memory_refusal_and_an_image_error_are_chinese_in_a_chinese_notebook(monkeypatch, tmp_path):
    from course_utils import images, memory

    monkeypatch.setenv("COURSE_LANG", "zh")
    with pytest.raises(MemoryError) as info:
        memory.check_fits((4000, 3000), (4000, 3000), free=2**30)
    assert str(info.value).startswith("4000x3000 像素的风格迁移（风格图像 4000x3000 像素）需要约 ")
    assert "能放下的最大尺寸约为 477 像素（size=477），或者关闭其他程序。" in str(info.value)
    with pytest.raises(images.ImageLoadError, match=r"^无法加载图像 '.*nope\.png'：文件不存在；请检查路径"):
        images.load_image(tmp_path / "nope.png")
    monkeypatch.setenv("COURSE_LANG", "en")
    with pytest.raises(images.ImageLoadError, match=r"^Cannot load image '.*nope\.png': the file does not exist"):
        images.load_image(tmp_path / "nope.png")
