"""Sphinx configuration of the course website (``make site``; see course_tools/site.py).

The source folder is the repository itself (``sphinx-build -c docs . build/site``), so a
page's "download" and "launch" buttons name the real notebook. ``course_tools.site build``
executes the notebooks first and passes, through the environment:

* ``COURSE_SITE_CACHE``: the jupyter-cache folder that holds the executed notebooks;
* ``COURSE_SITE_NETWORK``: the sentence saying which feature network made the pictures;
* ``COURSE_SITE_LANG``: which entry of ``course_tools.site.LANGUAGES`` to build (a language
  is its notebooks' folder, its home page, its teachers' pages and Sphinx's ``language``).

Other settings: ``COURSE_REPO_URL`` (repository, for Binder/Colab/JupyterHub links),
``COURSE_HUB_URL`` (a JupyterHub with nbgitpuller; no JupyterHub button when empty).
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
html_title = project
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
    """The sidebar in course order: the lessons, then the teachers' pages (the home page is
    the README, which stays plain markdown on GitHub, so the toctree is added here). Links
    to repository files that are not pages point at the repository."""
    doc_dir = (ROOT / docname).parent
    source[0] = site.link_repository_files(source[0], doc_dir, [*_PAGES, "docs/site/about.md"])
    if docname != root_doc:
        return
    lessons = "\n".join(n.removesuffix(".ipynb") for n in _NOTEBOOKS)
    teachers = "\n".join(Path(p).with_suffix("").as_posix() for p in LANG.pages)
    source[0] += (
        f"\n\n```{{toctree}}\n:hidden:\n:caption: Lessons\n\n{lessons}\n```\n"
        f"\n```{{toctree}}\n:hidden:\n:caption: For teachers\n\n{teachers}\ndocs/site/about\n```\n"
    )


def _colab_opens_the_copy_with_its_setup_cell(app, pagename, templatename, context, doctree):
    """Colab opens ``colab/<notebook>.ipynb`` from the published site's branch: the notebook
    with the one set-up cell Colab needs (course_tools.site.write_colab_copies)."""
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if group.get("label") == "launch-buttons" else []:
            if button.get("text") == "Colab":
                name = Path(pagename).name + ".ipynb"
                button["url"] = (f"https://colab.research.google.com/github/{_org_repo}/blob/"
                                 f"{site.PAGES_BRANCH}/colab/{name}")


def setup(app):
    app.connect("source-read", _add_course_toctree)
    app.connect("html-page-context", _colab_opens_the_copy_with_its_setup_cell, priority=502)
