"""``make verify-imagenet`` (course_tools.imagenet_report): refuses at once without the
weights, keeps the hash check, and runs end to end on a weights file the test makes.

The file is torchvision's format and file name with random tensors, so its SHA-256 is not
torchvision's ``dcbb9e9d``: the test passes its hash (``--expected-sha256``), as the weights
tests do. One notebook in fast mode keeps it within the test budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from course_tools import imagenet_report
from course_utils import features

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    state = features.random_vgg19_state(seed=7)
    full = {f"features.{k}": v for k, v in state.items()}
    full["classifier.0.weight"] = torch.zeros(4, 3)  # stands in for the (ignored) classifier
    path = tmp_path_factory.mktemp("weights") / "vgg19-dcbb9e9d.pth"
    torch.save(full, path)
    return path


def _run(args: list[str], tmp_path: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch_home"), "COURSE_FAST": "1", "COURSE_OFFLINE": "1"}
    env.pop("COURSE_VGG19_WEIGHTS", None)
    return subprocess.run([sys.executable, "-m", "course_tools.imagenet_report", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_without_weights_it_stops_with_one_sentence(tmp_path):
    out = tmp_path / "report"
    result = _run(["--out", str(out)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == imagenet_report.NO_WEIGHTS
    assert imagenet_report.NO_WEIGHTS.count(". ") == 0 and "make weights" in imagenet_report.NO_WEIGHTS
    assert not out.exists() and result.stdout == ""  # no notebook ran


def test_a_file_that_is_not_torchvisions_is_refused(tmp_path, weights_file):
    result = _run(["--out", str(tmp_path / "r"), "--weights", str(weights_file)], tmp_path)
    assert result.returncode == 2
    assert "not torchvision's dcbb9e9d" in result.stderr and not (tmp_path / "r").exists()


def test_checkpoint_outcomes_are_read_from_the_outputs():
    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("# Checkpoint: fine\nassert True", execution_count=1)
    bad = nbformat.v4.new_code_cell("# Checkpoint: broken\nassert 1 == 2, 'no'", execution_count=2)
    bad.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="no", traceback=[])]
    skipped = nbformat.v4.new_code_cell("# Checkpoint: never\nassert True")
    nb.cells = [nbformat.v4.new_code_cell("x = 1", execution_count=0), ok, bad, skipped]
    found = imagenet_report.checkpoints(nb)
    assert [c["outcome"] for c in found] == ["passed", "failed: AssertionError: no", "not run"]
    assert [c["cell"] for c in found] == [1, 2, 3]


def test_end_to_end_on_a_test_weights_file(tmp_path, weights_file):
    """Notebook 00 in fast mode with the test's file: the report says it used that file as
    the ImageNet network, lists each checkpoint's outcome and time, and sets its figures
    beside the offline network's."""
    sha = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    out = tmp_path / "report"
    result = _run(["--out", str(out), "--weights", str(weights_file), "--expected-sha256", sha[:8],
                   "--fast", "--only", "00"], tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["sha256"] == sha and report["mode"] == "fast"
    [nb] = report["notebooks"]
    assert nb["notebook"] == "00_setup_and_tour.ipynb"
    assert nb["used_imagenet"] and nb["errors"] == 0 and nb["seconds"] > 0
    assert len(nb["checkpoints"]) >= 3 and all(c["outcome"] == "passed" for c in nb["checkpoints"])
    assert nb["figures"] >= 1
    page = (out / "index.html").read_text()
    assert "<th>ImageNet VGG19</th><th>offline fallback</th>" in page
    images = list((out / "figures").glob("*.png"))
    assert images and all(f"figures/{p.name}" in page for p in images)
    assert "| 00_setup_and_tour.ipynb |" in (out / "summary.md").read_text()
