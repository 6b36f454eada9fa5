"""files.atomic_path: the file appears whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from course_utils import files
from course_utils.files import atomic_path


def test_a_finished_block_renames_the_file_into_place_with_normal_rights(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target and not target.exists()
        tmp.write_text("{}")
    assert target.read_text() == "{}" and os.listdir(target.parent) == ["out.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask  # not mkstemp's private 0600


def test_a_failing_block_leaves_the_old_file_and_no_temporary_one(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("module, writer", [
    ("data", "atomic_path"), ("images", "atomic_path"), ("studio", "atomic_path"),
    ("weights", "torch.hub.download_url_to_file"),  # torch.hub's own write-then-rename
    ("../course_tools/weights_cli", "atomic_path"),
])
def test_write_then_rename_has_one_home(module, writer):
    # a hand-made copy (mkstemp + os.replace) left its temporary file behind on failure or
    # the file private (0600); these modules write through one tested helper instead
    source = (Path(files.__file__).parent / f"{module}.py").read_text()
    assert "os.replace(" not in source and "mkstemp(" not in source
    assert writer in source
