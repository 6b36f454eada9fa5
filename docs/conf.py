"""Sphinx configuration of the course website (``make site``; see course_tools/site.py, which
executes the notebooks first and passes ``COURSE_SITE_CACHE``, ``COURSE_SITE_NETWORK``,
``COURSE_SITE_IMAGENET`` and ``COURSE_SITE_LANG``; ``COURSE_REPO_URL`` and ``COURSE_HUB_URL`` set
the launch buttons). The source folder is the repository, so buttons name the real notebook.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_tools import site  # noqa: E402

LANG = site.LANGUAGES[os.environ.get("COURSE_SITE_LANG", "en")]
CACHE = os.environ.get("COURSE_SITE_CACHE") or str(site.CACHE_ROOT / "fast-offline")
NETWORK = os.environ.get("COURSE_SITE_NETWORK", "not recorded (build with `make site`)")
IMAGENET = os.environ.get("COURSE_SITE_IMAGENET") == "1"
REPO_URL = site.repo_url()
HUB_URL = os.environ.get("COURSE_HUB_URL", "").strip()

project = "Spatial Transformers and Neural Style Transfer"
author = "the course's authors"
copyright = "the course's authors, MIT licence"
language = LANG.code
root_doc = Path(LANG.home).with_suffix("").as_posix()

extensions = ["myst_nb"]
# Only the course's pages; everything else in the repository is not a page.
_NOTEBOOKS = [p.relative_to(ROOT).as_posix() for p in site.notebooks(LANG.code)]
include_patterns = [LANG.home, *_NOTEBOOKS, *LANG.pages, "docs/site/*.md"]
exclude_patterns = ["build", ".venv", ".git", "**/.ipynb_checkpoints", "data", "tests", "benchmarks"]

# Notebooks: executed by course_tools.site (jupyter-cache) before Sphinx runs, read back here.
nb_execution_mode = "off"
_PAGES = [LANG.home, *_NOTEBOOKS, *LANG.pages]
nb_custom_formats = {".ipynb": ["course_tools.site.read_executed",
                                {"cache_dir": CACHE, "notebook_dir": LANG.notebooks, "pages": _PAGES}, False]}
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "substitution"]
myst_substitutions = {"network": NETWORK, "repo_url": REPO_URL}
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = "空间变换与神经风格迁移" if LANG.code == "zh_CN" else project
html_static_path = ["site/_static"]
html_css_files = ["course.css"]
html_last_updated_fmt = None
_org_repo = REPO_URL.split("github.com/")[-1]
_network_note = (
    f"The pictures on this site were made with the ImageNet VGG19 weights ({NETWORK})."
    if IMAGENET
    else "The pictures on this site were made with the offline fallback network, a seeded random "
    "VGG19 (not ImageNet): run a notebook with the ImageNet weights to see the real ones."
)
if LANG.code == "zh_CN":  # the Chinese site (issue 19)
    _network_note = (
        f"本站的图由 ImageNet VGG19 权重生成（{NETWORK}）。" if IMAGENET
        else "本站的图由离线后备网络（设定了种子的随机 VGG19，不是 ImageNet）生成：用 ImageNet 权重运行笔记本，才能看到真正的效果。"
    )
html_theme_options = {
    "repository_url": REPO_URL,
    "repository_branch": site.DEFAULT_BRANCH,
    "path_to_docs": "",
    "use_download_button": True,
    "use_repository_button": True,
    "use_source_button": False,
    "announcement": _network_note,
    "launch_buttons": {
        "notebook_interface": "jupyterlab",
        "binderhub_url": "https://mybinder.org",
        "jupyterhub_url": HUB_URL,
        "colab_url": "https://colab.research.google.com",
    },
}
html_context = {"default_mode": "auto", "course_network": NETWORK}


def _add_course_toctree(app, docname, source):
    """Links to repository files that are not pages point at the repository; the home page
    (the README, plain markdown on GitHub) gets the sidebar: lessons, then teachers' pages."""
    doc_dir = (ROOT / docname).parent
    source[0] = site.link_repository_files(source[0], doc_dir, [*_PAGES, "docs/site/about.md"])
    if docname != root_doc:
        return
    lessons = "\n".join(n.removesuffix(".ipynb") for n in _NOTEBOOKS)
    teachers = "\n".join(Path(p).with_suffix("").as_posix() for p in LANG.pages)
    captions = ("课程", "教师用") if LANG.code == "zh_CN" else ("Lessons", "For teachers")
    source[0] += (
        f"\n\n```{{toctree}}\n:hidden:\n:caption: {captions[0]}\n\n{lessons}\n```\n"
        f"\n```{{toctree}}\n:hidden:\n:caption: {captions[1]}\n\n{teachers}\ndocs/site/about\n```\n"
    )


def _colab_opens_the_copy_with_its_setup_cell(app, pagename, templatename, context, doctree):
    """Colab opens ``colab/<notebook>.ipynb`` (site.write_colab_copies) from the site's branch."""
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if group.get("label") == "launch-buttons" else []:
            if button.get("text") == "Colab":
                name = Path(pagename).name + ".ipynb"
                button["url"] = (f"https://colab.research.google.com/github/{_org_repo}/blob/"
                                 f"{site.PAGES_BRANCH}/colab/{name}")


#: `make site` builds English in build/site/ and Chinese in build/site/zh/, linked page to page.
_SWITCH = os.environ.get("COURSE_SITE_SWITCH") == "1"
_SAME_PAGE = {"README": "README.zh-CN", "docs/teaching": "docs/zh/teaching"}  # English -> Chinese


def _counterpart(pagename: str) -> tuple[site.Language, str]:
    """The other language, and this page's name there (its home page if it has no such page)."""
    other = site.LANGUAGES["en" if LANG.code == "zh_CN" else "zh_CN"]
    if LANG.code == "en":
        page = _SAME_PAGE.get(pagename) or (pagename.replace("notebooks/", "notebooks/zh/", 1)
                                            if pagename.startswith("notebooks/") else pagename)
    else:
        back = {v: k for k, v in _SAME_PAGE.items()}
        page = back.get(pagename) or pagename.replace("notebooks/zh/", "notebooks/", 1)
    if page not in {Path(p).with_suffix("").as_posix() for p in (other.home, *other.pages, "docs/site/about")} \
            and not (ROOT / other.notebooks / (Path(page).name + ".ipynb")).exists():
        page = Path(other.home).with_suffix("").as_posix()
    return other, page


def _language_switch(app, pagename, templatename, context, doctree):
    """A header button to the same page in the other language."""
    if not _SWITCH:
        return
    other, page = _counterpart(pagename)
    up = "../" * (pagename.count("/") + (1 if LANG.out else 0))
    url = up + (f"{other.out}/" if other.out else "") + page + ".html"
    context.setdefault("header_buttons", []).append({
        "type": "link", "url": url, "text": "English" if other.code == "en" else "中文",
        "tooltip": "English version" if other.code == "en" else "中文版", "icon": "fas fa-language",
        "label": "language-switch-button"})


def setup(app):
    app.connect("source-read", _add_course_toctree)
    app.connect("html-page-context", _language_switch, priority=503)
    app.connect("html-page-context", _colab_opens_the_copy_with_its_setup_cell, priority=502)
