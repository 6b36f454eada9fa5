"""`make lab LANG=zh` serves the Chinese notebooks with JupyterLab's interface in Chinese."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read().decode("utf-8"))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_lang_zh_serves_a_chinese_jupyterlab(tmp_path):
    if not (ROOT / ".venv" / ".installed").exists():
        pytest.skip("the course's .venv is not set up (make lab would install it first)")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    log = open(tmp_path / "lab.log", "w")
    # -o: never reinstall the .venv here (make test has just done it).
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "lab", "LANG=zh", f"PORT={port}"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                contents = _get(f"{base}/api/contents?token={token}")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("make lab LANG=zh exited: " + (tmp_path / "lab.log").read_text())
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start in 60 s: " + (tmp_path / "lab.log").read_text())
        names = {item["name"] for item in contents["content"]}
        assert "01_affine_grid_and_grid_sample.ipynb" in names, names  # the folder is notebooks/zh
        setting = _get(f"{base}/lab/api/settings/@jupyterlab/translation-extension:plugin?token={token}")
        assert json.loads(setting["raw"])["locale"] == "zh_CN"
        pack = _get(f"{base}/lab/api/translations/zh_CN?token={token}")
        assert pack["message"] == "", pack["message"]  # the language pack is installed
        strings = pack["data"]["jupyterlab"]
        assert strings["Edit"] == ["编辑"] and strings["Run"] == ["运行"], "the menus are not in Chinese"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
