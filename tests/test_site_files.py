"""What publishes the course, checked without building it: the Binder files (with
repo2docker's own detection, no Docker needed), the README's Binder badge, the GitHub
workflows (actionlint), and the site's notebook reader (solutions folded, widget stills)."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from course_tools import site

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


# ------------------------------------------------------------------------ Binder
def _repo2docker_buildpack(repo: Path):
    from repo2docker.app import Repo2Docker

    app = Repo2Docker()
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        for cls in app.buildpacks:
            bp = cls(app.base_image)
            if bp.detect():
                bp.platform = "linux/amd64"
                return bp, bp.render()
        bp = app.default_buildpack(app.base_image)
        bp.platform = "linux/amd64"
        return bp, bp.render()
    finally:
        os.chdir(cwd)


def test_repo2docker_builds_the_course_from_environment_yml():
    """Binder (repo2docker) picks the conda build from environment.yml, with the Python it
    names, and installs it after copying the repository (``-e .`` needs the course)."""
    bp, dockerfile = _repo2docker_buildpack(ROOT)
    assert type(bp).__name__ == "CondaBuildPack"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert bp.python_version == python.split("=")[1]
    lines = dockerfile.splitlines()
    copy_repo = next(i for i, line in enumerate(lines) if line.startswith("COPY") and " src/ " in line)
    install = next(i for i, line in enumerate(lines) if "env update" in line and "environment.yml" in line)
    assert install > copy_repo, "environment.yml's `-e .` must be installed after the repository is copied"
    # repo2docker's conventions: no binder/ folder (it would replace the root files), and a
    # postBuild or apt.txt only if present for a reason (the course needs neither)
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    assert not (ROOT / "postBuild").exists() and not (ROOT / "apt.txt").exists()
    assert bp.get_post_build_scripts() == [] and bp.get_packages() == set()  # no apt.txt packages


def test_repo2docker_check_can_fail(tmp_path):
    """The same check on a copy whose environment.yml lost its ``-e .``: the environment is
    then installed before the repository is there, which the test above would catch."""
    shutil.copy(ROOT / "environment.yml", tmp_path / "environment.yml")
    text = (tmp_path / "environment.yml").read_text().replace("      - -e .\n", "")
    (tmp_path / "environment.yml").write_text(text)
    _, dockerfile = _repo2docker_buildpack(tmp_path)
    lines = dockerfile.splitlines()
    copy_repo = next(i for i, line in enumerate(lines) if line.startswith("COPY") and " src/ " in line)
    install = next(i for i, line in enumerate(lines) if "env update" in line or "environment" in line and "RUN" in line)
    assert install < copy_repo


def test_readme_binder_badge_opens_notebook_00():
    readme = (ROOT / "README.md").read_text()
    org_repo = site.DEFAULT_REPO_URL.split("github.com/")[1]
    badge = re.search(r"\[!\[[^\]]*Binder[^\]]*\]\((https://mybinder\.org/badge[^)]*)\)\]\(([^)]+)\)", readme)
    assert badge, "README has no Binder badge"
    expected = (f"https://mybinder.org/v2/gh/{org_repo}/{site.DEFAULT_BRANCH}"
                "?urlpath=lab/tree/notebooks/00_setup_and_tour.ipynb")
    assert badge.group(2) == expected
    assert (ROOT / "notebooks" / "00_setup_and_tour.ipynb").is_file()


# ------------------------------------------------------------------------ workflows
def _actionlint() -> str:
    exe = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if exe is None:
        pytest.fail("actionlint is not installed: pip install -e '.[test]' (the site extra carries it)")
    return exe


def test_workflows_exist_for_push_and_weekly():
    names = {p.name for p in WORKFLOWS}
    assert {"test.yml", "weekly.yml"} <= names
    test = yaml.safe_load((ROOT / ".github/workflows/test.yml").read_text())
    weekly = yaml.safe_load((ROOT / ".github/workflows/weekly.yml").read_text())
    assert "push" in test[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in weekly[True] and "workflow_dispatch" in weekly[True]
    steps = " ".join(str(s.get("run", "")) for job in weekly["jobs"].values() for s in job["steps"])
    for command in ("make weights", "course_utils.weights verify", "make verify-imagenet", "make site FAST=0"):
        assert command in steps
    assert ".ci/run" in " ".join(str(s.get("run", "")) for j in test["jobs"].values() for s in j["steps"])


def test_workflows_lint_clean_with_actionlint():
    result = subprocess.run([_actionlint(), "-color=false", *map(str, WORKFLOWS)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo ${{ github.nonexistent_context_key }}\n")
    result = subprocess.run([_actionlint(), "-color=false", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "nonexistent_context_key" in result.stdout


# ------------------------------------------------------------------------ reader
def _png(colour=(200, 30, 30)) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 4), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _widget_state() -> dict:
    return {
        "box": {"state": {"_model_name": "VBoxModel", "children": ["IPY_MODEL_img", "IPY_MODEL_lab", "IPY_MODEL_bar"]}},
        "img": {"state": {"_model_name": "ImageModel", "format": "png"},
                "buffers": [{"path": ["value"], "data": _png(), "encoding": "base64"}]},
        "lab": {"state": {"_model_name": "LabelModel", "value": "<b>θ</b> & co"}},
        "bar": {"state": {"_model_name": "FloatProgressModel", "value": 3, "max": 4, "description": "steps"}},
    }


def test_still_html_shows_the_widgets_last_picture_and_escapes_text():
    out = site.still_html("box", _widget_state())
    assert f"data:image/png;base64,{_png()}" in out
    assert "&lt;b&gt;θ&lt;/b&gt; &amp; co" in out  # a label's text is escaped
    assert '<progress value="3" max="4">' in out
    assert site.WIDGET_NOTE in out
    assert site.still_html("missing", {}).count("<img") == 0  # unknown model: the note only


def test_reader_folds_solutions_and_replaces_widget_views(tmp_path):
    """read_executed takes the executed copy from jupyter-cache, folds the `solution`
    cells and turns widget views into stills."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("w = 1\nw"),
                nbformat.v4.new_code_cell("answer = 2", metadata={"tags": ["solution"]})]
    executed = nbformat.from_dict(nbformat.v4.new_notebook(**{k: v for k, v in nb.items() if k != "nbformat"}))
    executed.cells[1].outputs = [nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "box", "version_major": 2, "version_minor": 0},
                              "text/plain": "VBox()"})]
    executed.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": _widget_state()}}
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    cache = get_cache(str(tmp_path / "cache"))
    cache.cache_notebook_bundle(CacheBundleIn(executed, str(path)), check_validity=False)

    read = site.read_executed(nbformat.writes(nb), str(tmp_path / "cache"))
    data = read.cells[1].outputs[0]["data"]
    assert list(data) == ["text/html"] and site.WIDGET_NOTE in data["text/html"]
    assert {"hide-input", "hide-output"} <= set(read.cells[2].metadata["tags"])
    assert "widgets" not in read.metadata

    nb.cells[1].source = "w = 3\nw"  # not executed: a clear error, not a page without outputs
    with pytest.raises(site.SiteError, match="no executed copy"):
        site.read_executed(nbformat.writes(nb), str(tmp_path / "cache"))


def test_colab_copy_starts_with_the_setup_cell(tmp_path):
    src = ROOT / "notebooks" / "00_setup_and_tour.ipynb"
    [copy] = site.write_colab_copies([src], tmp_path, "https://github.com/o/r")
    nb = nbformat.read(copy, as_version=4)
    original = nbformat.read(src, as_version=4)
    assert "git clone --quiet --depth 1 https://github.com/o/r /content/course" in nb.cells[0].source
    assert "pip install --quiet torch==2.14.1 torchvision==0.29.1" in nb.cells[0].source  # 00 checks them
    assert [c.source for c in nb.cells[1:]] == [c.source for c in original.cells]
    assert all(c.get("outputs", []) == [] for c in nb.cells)


def test_links_to_repository_files_point_at_the_repository(monkeypatch):
    monkeypatch.setenv("COURSE_REPO_URL", "https://github.com/o/r")
    text = ("See [the guide](docs/teaching.md), [contributing](CONTRIBUTING.md#how), "
            "[data](data/README.md), [a folder](benchmarks), [web](https://x.org/a.md), "
            "![a picture](docs/gallery/samples.png) and [gone](no/such/file.md).")
    out = site.link_repository_files(text, ROOT, ["README.md", "docs/teaching.md"])
    assert "[the guide](docs/teaching.md)" in out  # a page of the site stays a page link
    assert "[contributing](https://github.com/o/r/blob/main/CONTRIBUTING.md#how)" in out
    assert "[data](https://github.com/o/r/blob/main/data/README.md)" in out
    assert "[a folder](https://github.com/o/r/tree/main/benchmarks)" in out
    assert "[web](https://x.org/a.md)" in out and "![a picture](docs/gallery/samples.png)" in out
    assert "[gone](no/such/file.md)" in out
    # from a notebook's folder, relative paths resolve from there
    assert "(https://github.com/o/r/blob/main/course_utils/losses.py)" in site.link_repository_files(
        "[losses](../course_utils/losses.py)", ROOT / "notebooks", [])
