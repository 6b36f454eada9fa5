"""environment.yml (conda/Binder) and pyproject.toml must list the same packages."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, f"cannot parse requirement {req!r}"
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_conda_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_split(r) for r in project["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep["pip"]:
                if r.strip() != "-e .":
                    pip.update([_split(r)])
        else:
            name, spec = _split(dep.replace("=", "==", 1) if re.match(r"^[\w\-]+=[^=]", dep) else dep)
            conda[name] = spec
    conda.pop("python", None)
    conda.pop("pip", None)
    listed = {**conda, **pip}
    assert listed == wanted, "environment.yml and pyproject.toml disagree"
    assert "-e ." in [d for dep in env["dependencies"] if isinstance(dep, dict) for d in dep["pip"]]
    assert pip.get("torch") == "==2.14.1" and pip.get("torchvision") == "==0.29.1"
