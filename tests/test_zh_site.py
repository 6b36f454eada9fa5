"""The Chinese website (issue 19): `make site` builds build/site/zh/ from notebooks/zh beside the
English site, and every page links to its twin in the other language."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools import site

ROOT = Path(__file__).resolve().parent.parent


def _conf(monkeypatch, lang: str):
    monkeypatch.setenv("COURSE_SITE_LANG", lang)
    spec = importlib.util.spec_from_file_location(f"conf_{lang}", ROOT / "docs" / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("english, chinese", [
    ("README", "README.zh-CN"),
    ("notebooks/01_affine_grid_and_grid_sample", "notebooks/zh/01_affine_grid_and_grid_sample"),
    ("docs/teaching", "docs/zh/teaching"),
    ("docs/seed_defects", "docs/seed_defects"),
])
def test_each_page_has_a_twin_in_the_other_language(monkeypatch, english, chinese):
    assert _conf(monkeypatch, "en")._counterpart(english)[1] == chinese
    assert _conf(monkeypatch, "zh_CN")._counterpart(chinese)[1] == english


def test_a_page_only_in_chinese_links_to_the_english_home(monkeypatch):
    assert _conf(monkeypatch, "zh_CN")._counterpart("docs/glossary")[1] == "README"


@pytest.fixture(scope="module")
def zh_site(tmp_path_factory):
    """The Chinese site with notebook 00 only (fast mode, offline), as `make site` builds it."""
    out = tmp_path_factory.mktemp("site") / "site"
    env = {**os.environ, "COURSE_FAST": "1", "COURSE_OFFLINE": "1", "COURSE_SITE_SWITCH": "1"}
    env.pop("COURSE_VGG19_WEIGHTS", None)
    proc = subprocess.run([sys.executable, "-m", "course_tools.site", "build", "--lang", "zh_CN",
                           "--only", "00", "--out", str(out)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return out


def test_the_chinese_site_is_chinese_and_switches_to_english(zh_site):
    home = (zh_site / "zh" / "README.zh-CN.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in home and "空间变换与神经风格迁移" in home and "教师用" in home
    page = zh_site / "zh" / "notebooks" / "zh" / "00_setup_and_tour.html"
    html = page.read_text(encoding="utf-8")
    assert "环境准备与课程导览" in html
    # the checkers speak Chinese when the notebook runs in notebooks/zh
    assert "尚未作答" in html
    links = re.findall(r'<a href="([^"]+)"[^>]*btn-language-switch-button', html)
    assert links == ["../../../notebooks/00_setup_and_tour.html"]
    english_pages = {f"notebooks/{p.stem}.html" for p in site.notebooks("en")}
    assert (page.parent / links[0]).resolve().relative_to(zh_site.resolve()).as_posix() in english_pages


def test_the_colab_copy_of_a_chinese_notebook_runs_in_notebooks_zh(tmp_path):
    import json

    zh = site.write_colab_copies([ROOT / "notebooks" / "zh" / "00_setup_and_tour.ipynb"], tmp_path / "zh", "r")
    en = site.write_colab_copies([ROOT / "notebooks" / "00_setup_and_tour.ipynb"], tmp_path / "en", "r")
    first = lambda p: "".join(json.loads(p.read_text(encoding="utf-8"))["cells"][0]["source"])  # noqa: E731
    assert first(zh[0]).rstrip().splitlines()[-1] == "    %cd /content/course/notebooks/zh"
    assert first(en[0]).rstrip().splitlines()[-1] == "    %cd /content/course/notebooks"
