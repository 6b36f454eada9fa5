"""course_utils.config's thread rule: a kernel uses the CPUs it may use, not every core."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from course_utils import config


def test_cpu_budget_is_the_least_of_affinity_quota_and_cpu_limit(tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")  # 1.5 CPUs
    assert config.cpu_budget(environ={}, cpu_max=quota, affinity=16) == 1
    quota.write_text("400000 100000\n")
    assert config.cpu_budget(environ={}, cpu_max=quota, affinity=16) == 4
    assert config.cpu_budget(environ={}, cpu_max=quota, affinity=3) == 3
    assert config.cpu_budget(environ={"CPU_LIMIT": "2"}, cpu_max=quota, affinity=16) == 2
    quota.write_text("max 100000\n")
    assert config.cpu_budget(environ={}, cpu_max=quota, affinity=16) == 16
    assert config.cpu_budget(environ={"CPU_LIMIT": "0.5"}, cpu_max=quota, affinity=16) == 1  # never 0
    assert config.cpu_budget(environ={}, cpu_max=tmp_path / "missing", affinity=6) == 6
    with pytest.raises(ValueError, match="CPU_LIMIT"):
        config.cpu_budget(environ={"CPU_LIMIT": "two"}, cpu_max=quota, affinity=16)


def test_set_threads_follows_course_threads_then_the_budget():
    before = torch.get_num_threads()
    try:
        assert config.set_threads(environ={"COURSE_THREADS": "1"}) == 1 and torch.get_num_threads() == 1
        assert config.set_threads(environ={"COURSE_THREADS": "0"}) == 1  # torch's current value, untouched
        assert config.set_threads(environ={"CPU_LIMIT": "1"}) == 1
        with pytest.raises(ValueError, match="COURSE_THREADS"):
            config.set_threads(environ={"COURSE_THREADS": "lots"})
    finally:
        torch.set_num_threads(before)


def test_a_kernel_with_cpu_limit_starts_with_that_many_threads():
    code = "import torch; import course_utils.config; print(torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env={"CPU_LIMIT": "1", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"
