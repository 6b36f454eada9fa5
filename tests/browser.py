"""Drive a real JupyterLab in headless Chromium (Debian's ``chromium`` + Python playwright).

Used by the browser tests. The notebooks are copied to a temporary folder first, so that
JupyterLab's autosave can never write outputs into the committed notebooks.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "browser"
# Render every cell (no virtual scrolling, so off-screen cells update too); no news pop-up.
_LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set COURSE_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python playwright is not installed (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, log, log_path: Path, name: str, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; raise with the server's log if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.flush()
            raise RuntimeError(f"{name} did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.5)


@contextmanager
def jupyter_lab(notebooks: list[str], tmp_path: Path, env: dict[str, str] | None = None):
    """Start JupyterLab on a free localhost port over copies of ``notebooks``.

    Yields ``(base_url, token)``; stops the server afterwards.
    """
    root = tmp_path / "notebooks"
    root.mkdir()
    for name in notebooks:
        shutil.copy(ROOT / "notebooks" / name, root / name)
    port, token = _free_port(), secrets.token_hex(16)
    server_env = {**os.environ, "COURSE_FAST": "1", "COURSE_OFFLINE": "1", **(env or {})}
    server_env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter_config")  # no user settings
    settings = tmp_path / "lab_settings"
    for plugin, values in _LAB_SETTINGS.items():
        target = settings / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    log = open(tmp_path / "jupyter.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=server_env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc, log, tmp_path / "jupyter.log", "JupyterLab", 90)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000):
    """A playwright page in Debian's headless Chromium, with no network chatter."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def open_notebook(page, base: str, token: str, name: str) -> None:
    page.goto(f"{base}/lab/tree/{name}?token={token}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    # JupyterLab may ask which kernel to start; accept its default (the notebook's python3)
    select = page.locator(".jp-Dialog .jp-mod-accept", has_text="Select")
    try:
        select.wait_for(state="visible", timeout=5_000)
        select.click()
    except Exception:  # no dialog: the kernel started by itself
        pass
    # wait for the kernel to be connected and idle before running anything
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator');"
        " return s && /Idle|idle/.test(s.getAttribute('title') || s.textContent || ''); }",
        timeout=120_000,
    )


def run_all_cells(page, timeout_s: float = 600) -> None:
    """Run → Run All Cells, then wait until every code cell has an execution count."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .map(p => p.textContent.trim()).filter(t => t !== '');  // hidden cells show none
            return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:?$/.test(t));
        }""",
        timeout=timeout_s * 1000,
    )


def error_outputs(page) -> list[str]:
    """Texts of outputs that show an exception or a widget that failed to render."""
    texts = page.eval_on_selector_all(
        ".jp-OutputArea-output", "els => els.map(e => e.innerText)"
    )
    bad = re.compile(r"Traceback \(most recent call last\)|Error displaying widget")
    return [t[:500] for t in texts if bad.search(t)]


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=False)
    return path
