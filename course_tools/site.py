"""The course as a website: run the notebooks once, then Sphinx + myst-nb + sphinx-book-theme.

``make site`` (``python -m course_tools.site build``) executes every notebook with
jupyter-cache (an unchanged notebook is not run again; fast and full mode, offline network
and ImageNet weights never share a cache), runs ``sphinx-build -c docs . build/site`` (whose
``docs/conf.py`` reads the outputs back through :func:`read_executed`) and writes
``build/site/colab/``: each notebook with the set-up cell Colab needs first.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    import nbformat

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "site"
CACHE_ROOT = ROOT / "build" / "site-cache"
#: pyproject.toml's [project.urls] Repository (the README's Binder badge is checked against
#: it); COURSE_REPO_URL overrides it.
DEFAULT_REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
DEFAULT_BRANCH = "main"
#: The branch the published site is pushed to (the Colab copies are read from it).
PAGES_BRANCH = "gh-pages"
WIDGET_NOTE = "A still picture of an interactive widget: run the notebook to use it."
SOLUTION_PROMPT = "Show the solution (try the exercise first)"
#: The kernels' matplotlib backend: figures become outputs (the tests' MPLBACKEND=Agg would not).
KERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"


@dataclass(frozen=True)
class Language:
    """One language of the site: where its pages come from."""

    code: str  # Sphinx's ``language``
    notebooks: str  # folder of the notebooks, relative to the repository
    home: str  # the page the site opens on
    pages: tuple[str, ...]  # the teachers' pages, in sidebar order
    out: str  # sub-folder of build/site ("" for the default language)


LANGUAGES = {
    "en": Language("en", "notebooks", "README.md", ("docs/teaching.md", "docs/seed_defects.md"), ""),
    # The Chinese course (issue 19): notebooks/zh and docs/zh are built by `make zh`.
    "zh_CN": Language("zh_CN", "notebooks/zh", "README.zh-CN.md",
                      ("docs/zh/teaching.md", "docs/glossary.md", "docs/seed_defects.md"), "zh"),
}


class SiteError(RuntimeError):
    """The site cannot be built (the message says which notebook or file, and what to do)."""


def repo_url() -> str:
    return os.environ.get("COURSE_REPO_URL", "").strip().rstrip("/") or DEFAULT_REPO_URL


def fast_mode() -> bool:
    from course_utils import config

    return config.FAST


def feature_network() -> tuple[str, bool]:
    """(sentence, is_imagenet): what the notebooks' ``FeatureExtractor`` will use here, asked
    with the environment the kernels inherit."""
    from course_utils import features

    fx = features.FeatureExtractor(["relu1_1"], device="cpu", verbose=False)
    return fx.source, fx.is_imagenet


def code_version() -> str:
    """A hash of course_utils and the data's names and sizes: jupyter-cache keys a notebook by
    its own code only, so a changed package must change the cache folder."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted((ROOT / "course_utils").rglob("*.py")):
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    for path in sorted((ROOT / "data").rglob("*")):
        if path.is_file():
            h.update(f"{path.relative_to(ROOT).as_posix()}:{path.stat().st_size}".encode())
    return h.hexdigest()[:12]


def cache_dir(is_imagenet: bool, fast: bool | None = None) -> Path:
    """``build/site-cache/<fast|full>-<offline|imagenet>-<code version>``."""
    mode = "fast" if (fast_mode() if fast is None else fast) else "full"
    return CACHE_ROOT / f"{mode}-{'imagenet' if is_imagenet else 'offline'}-{code_version()}"


def notebooks(lang: str = "en", only: Sequence[str] = ()) -> list[Path]:
    """The lesson notebooks in course order; ``only`` (else ``COURSE_SITE_ONLY``, comma-separated)
    keeps those whose name starts with one of its prefixes."""
    folder = ROOT / LANGUAGES[lang].notebooks
    only = only or [o for o in os.environ.get("COURSE_SITE_ONLY", "").split(",") if o.strip()]
    paths = sorted(p for p in folder.glob("*.ipynb") if re.match(r"^\d\d[a-z]?_", p.name))
    return [p for p in paths if not only or any(p.name.startswith(o.strip()) for o in only)]


def execute(paths: Sequence[Path], cache: Path, timeout: int = 1800) -> dict[str, float]:
    """Run the notebooks not cached yet; ``{notebook name: seconds}`` of the runs that made
    every notebook's outputs. Raises SiteError naming each notebook that failed."""
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    cache.mkdir(parents=True, exist_ok=True)
    jc = get_cache(str(cache))
    for path in paths:
        jc.add_nb_to_project(str(path))
    uris = [str(p) for p in paths]
    with mock.patch.dict(os.environ, MPLBACKEND=KERNEL_MPLBACKEND):  # the kernels inherit it
        result = load_executor("local-serial", jc).run_and_cache(filter_uris=uris, timeout=timeout,
                                                                 allow_errors=False)
    failed = []
    for uri in [*result.excepted, *result.errored]:
        traceback = re.sub(r"\x1b\[[0-9;]*m", "", jc.get_project_record(uri).traceback or "")
        failed.append(f"{Path(uri).name}: " + " | ".join([t for t in traceback.splitlines() if t.strip()][-2:]))
    if failed:
        raise SiteError("These notebooks failed, so the site was not built: " + "; ".join(failed))
    times = {}
    for path in paths:
        pk = jc.get_project_record(str(path)).pk
        cached = jc.get_cached_project_nb(pk)
        if cached is None:
            raise SiteError(f"{path.name} has no executed copy in {cache}; run `make site` again.")
        times[path.name] = float(cached.data.get("execution_seconds", 0.0))
    return times


def link_repository_files(markdown: str, doc_dir: Path, pages: Sequence[str]) -> str:
    """Links to repository files that are not pages of the site (``CONTRIBUTING.md``,
    ``data/README.md``, a module) point at the file in the repository instead of nowhere."""

    def fix(m: re.Match) -> str:
        target, anchor = m.group(2), m.group(3) or ""
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return m.group(0)
        path = (doc_dir / target).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            return m.group(0)
        rel = path.relative_to(ROOT).as_posix()
        if rel in pages:
            return m.group(0)
        kind = "tree" if path.is_dir() else "blob"
        return f"{m.group(1)}({repo_url()}/{kind}/{DEFAULT_BRANCH}/{rel}{anchor})"

    return re.sub(r"((?<!!)\[[^\]]*\])\(([^)#\s]+)(#[^)\s]*)?\)", fix, markdown)


def read_executed(text: str, cache_dir: str, notebook_dir: str = "notebooks",
                  pages: Sequence[str] = ()) -> nbformat.NotebookNode:
    """myst-nb's reader: the notebook with its cached outputs, ``solution`` cells folded
    behind a button, and each widget a still picture of its last state."""
    import nbformat
    from jupyter_cache import get_cache

    nb = nbformat.reads(text, as_version=4)
    try:
        _, nb = get_cache(cache_dir).merge_match_into_notebook(nb)
    except KeyError:
        title = next((c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"), "?")
        raise SiteError(
            f"The notebook '{title}' has no executed copy in {cache_dir}; run "
            "`python -m course_tools.site build` (make site), which executes it first."
        ) from None
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    models = state.get("state", {})
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = link_repository_files(cell.source, ROOT / notebook_dir, pages)
        tags = cell.metadata.get("tags", [])
        if "solution" in tags:
            cell.metadata["tags"] = [*tags, "hide-input", "hide-output"]
            cell.metadata["mystnb"] = {"code_prompt_show": SOLUTION_PROMPT}
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view is not None:
                output["data"] = {"text/html": still_html(view.get("model_id", ""), models)}
    nb.metadata.pop("widgets", None)  # nothing left for the widget JavaScript to draw
    return nb


def _image_src(model: dict) -> str | None:
    for buf in model.get("buffers", []):
        if buf.get("path") == ["value"] and buf.get("encoding") == "base64":
            fmt = re.sub(r"[^a-z0-9+]", "", str(model["state"].get("format", "png")).lower()) or "png"
            base64.b64decode(buf["data"], validate=True)  # refuse anything but base64
            return f"data:image/{fmt};base64,{buf['data']}"
    return None


def _widget_html(model_id: str, models: dict, depth: int = 0) -> str:
    model = models.get(model_id)
    if model is None or depth > 20:
        return ""
    s = model.get("state", {})
    name = s.get("_model_name", "")
    desc = html.escape(str(s.get("description", "") or ""))
    children = [c.removeprefix("IPY_MODEL_") for c in s.get("children", [])]
    if children:
        row = name in ("HBoxModel", "GridBoxModel")
        inner = "".join(_widget_html(c, models, depth + 1) for c in children)
        style = "display:flex;gap:.5em;align-items:center;flex-wrap:wrap" if row else ""
        return f'<div class="course-widget-box" style="{style}">{inner}</div>'
    if name == "ImageModel":
        src = _image_src(model)
        return f'<img class="course-widget-image" alt="widget picture" src="{src}">' if src else ""
    if name in ("FloatProgressModel", "IntProgressModel"):
        value, top = float(s.get("value", 0)), float(s.get("max", 100)) or 1.0
        return f'<span>{desc} <progress value="{value:g}" max="{top:g}"></progress></span>'
    if name in ("HTMLModel", "HTMLMathModel", "LabelModel"):
        # an HTML widget's value is HTML by design, but never run its scripts on the site
        value = str(s.get("value", ""))
        text = html.escape(value) if name == "LabelModel" else re.sub(r"(?is)<script.*?</script>", "", value)
        return f"<span>{desc} {text}</span>"
    if "value" in s and not isinstance(s["value"], (dict, list)):
        return f'<span class="course-widget-control">{desc} <code>{html.escape(str(s["value"]))}</code></span>'
    if name == "ButtonModel":
        return f"<button disabled>{desc}</button>"
    return ""


def _interactive(model_id: str, models: dict, depth: int = 0) -> bool:
    """False for a widget that only reports (a tqdm progress bar: progress, text)."""
    s = models.get(model_id, {}).get("state", {})
    children = [c.removeprefix("IPY_MODEL_") for c in s.get("children", [])]
    if children and depth < 20:
        return any(_interactive(c, models, depth + 1) for c in children)
    return s.get("_model_name") not in ("FloatProgressModel", "IntProgressModel", "HTMLModel", "LabelModel")


def still_html(model_id: str, models: dict) -> str:
    """The widget's last state as static HTML (pictures, values, progress), and for an
    interactive one (not a progress bar) a note saying to run the notebook to use it."""
    body = _widget_html(model_id, models)
    note = (f'<p class="course-widget-note"><em>{html.escape(WIDGET_NOTE)}</em></p>'
            if _interactive(model_id, models) else "")
    return f'<div class="course-widget-still">{body}{note}</div>'


def colab_setup_source(repo: str, folder: str = "notebooks") -> str:
    """The one cell Colab needs: the repository (code and sample images), the PyTorch the
    course is checked against (pyproject.toml's pins; notebook 00 checks them) and the
    course package, whose other needs Colab already has."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = " ".join(d for d in deps if re.match(r"^torch(vision)?==", d))
    return "\n".join(
        [
            "# Colab only: fetch the course and install it (run once per session).",
            "import os, sys",
            'if "google.colab" in sys.modules and not os.path.isdir("/content/course"):',
            f"    !git clone --quiet --depth 1 {repo} /content/course",
            f"    !pip install --quiet {pins}",
            "    !pip install --quiet --no-deps -e /content/course",
            'if "google.colab" in sys.modules:',
            '    sys.path.insert(0, "/content/course")',
            f"    %cd /content/course/{folder}",  # the notebook's folder: notebooks/zh speaks Chinese
        ]
    )


def write_colab_copies(paths: Sequence[Path], out: Path, repo: str) -> list[Path]:
    """Each notebook with the Colab set-up cell first (outputs stay stripped)."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        folder = path.parent.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else "notebooks"
        cell = nbformat.v4.new_code_cell(colab_setup_source(repo, folder))
        cell.metadata["tags"] = ["colab-setup"]
        nb.cells.insert(0, cell)
        target = out / path.name
        nbformat.write(nb, target)
        written.append(target)
    return written


def build(out: Path = OUT, lang: str = "en", only: Sequence[str] = ()) -> dict:
    """Execute (cached), run Sphinx, write the Colab copies; returns a summary dict."""
    start = time.monotonic()
    network, is_imagenet = feature_network()
    cache = cache_dir(is_imagenet)
    paths = notebooks(lang, only)
    if not paths:
        raise SiteError(f"No notebooks in {LANGUAGES[lang].notebooks}/; nothing to build.")
    times = execute(paths, cache)
    executed_s = time.monotonic() - start
    target = out / LANGUAGES[lang].out if LANGUAGES[lang].out else out
    env = dict(os.environ, COURSE_SITE_CACHE=str(cache), COURSE_SITE_NETWORK=network, COURSE_SITE_LANG=lang,
               COURSE_SITE_IMAGENET="1" if is_imagenet else "0", COURSE_SITE_ONLY=",".join(p.stem for p in paths))
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", "-c", str(ROOT / "docs"),
           str(ROOT), str(target), "-d", str(out.with_name(out.name + "-doctrees") / lang)]
    proc = subprocess.run(cmd, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SiteError(f"sphinx-build failed (exit {proc.returncode}); its messages are above.")
    colab = write_colab_copies(paths, target / "colab", repo_url())
    home = Path(LANGUAGES[lang].home).with_suffix(".html").as_posix()
    (target / "index.html").write_text(
        f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={home}">'
        f'<link rel="canonical" href="{home}"><a href="{home}">{html.escape(home)}</a>\n')
    (target / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ and _images/ as they are
    summary = {
        "network": network, "imagenet": is_imagenet, "fast": fast_mode(), "cache": str(cache),
        "repo_url": repo_url(), "hub_url": os.environ.get("COURSE_HUB_URL", "").strip(),
        "notebook_seconds": times, "execute_seconds": round(executed_s, 1),
        "total_seconds": round(time.monotonic() - start, 1),
        "pages": sum(1 for p in target.rglob("*.html") if "_static" not in p.relative_to(target).parts),
        "colab_copies": len(colab),
    }
    (target / "build-info.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.site", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="execute the notebooks (cached) and write build/site/")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--lang", default="en", choices=sorted(LANGUAGES))
    p.add_argument("--only", nargs="*", default=[], metavar="PREFIX", help="only these notebooks, e.g. 00 01")
    args = parser.parse_args(argv)
    try:
        summary = build(Path(args.out), args.lang, args.only)
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"site: {summary['pages']} pages in {args.out} ({summary['total_seconds']} s, "
          f"executing {summary['execute_seconds']} s); feature network: {summary['network']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
