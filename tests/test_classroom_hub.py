"""A real classroom, here (issue 17; `make classroom-test`): JupyterHub on localhost with a
shared-password authenticator and local-process spawner, an instructor and two students.
An nbgitpuller link clones the handout into each student's home; in headless Chromium
alice opens notebook 01, runs it, answers exercise 1 and submits with nbgrader's Assignment
List; bob submits it untouched; the instructor collects and autogrades (confined), and the
gradebook says alice's exercise 1 passed and bob's did not."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import browser
import pytest

from course_tools import classroom
from course_utils import config

HUB = Path(sys.executable).with_name("jupyterhub")
PASSWORD = "classroom"
pytestmark = [
    pytest.mark.skipif(os.environ.get("COURSE_CLASSROOM_TESTS") != "1",
                       reason="the hub classroom is `make classroom-test`'s (a few minutes)"),
    pytest.mark.skipif(not HUB.exists(), reason="JupyterHub (the classroom extra) is not installed"),
    pytest.mark.skipif(shutil.which("configurable-http-proxy") is None,
                       reason="configurable-http-proxy is not installed (.ci/run installs it from npm)"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (.ci/run installs it)"),
    pytest.mark.skipif(browser.chromium_missing_reason() is not None, reason=str(browser.chromium_missing_reason())),
]

ANSWER = '''import math


def my_rotation_theta(degrees, aspect=1.0):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return torch.tensor([[c, -s / aspect, 0.0], [s * aspect, c, 0.0]])


ex01.check_rotation_theta(my_rotation_theta)'''


@contextmanager
def local_hub(root: Path):
    ports = [browser._free_port() for _ in range(3)]
    env = dict(os.environ, CLASSROOM_HUB_ROOT=str(root), CLASSROOM_HUB_PORT=str(ports[0]),
               CLASSROOM_HUB_API_PORT=str(ports[1]), CLASSROOM_PROXY_API_PORT=str(ports[2]),
               COURSE_FAST="1", COURSE_OFFLINE="1")
    log = open(root / "hub.log", "w")
    proc = subprocess.Popen([str(HUB), "-f", str(classroom.CLASSROOM_DIR / "jupyterhub_config.py")],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{ports[0]}"
    try:
        browser.wait_for_server(f"{base}/hub/login", proc, log, root / "hub.log", "JupyterHub", 120)
        yield base
    finally:
        proc.terminate()  # the hub stops the single-user servers and its proxy
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def login(page, base: str, user: str) -> None:
    page.goto(f"{base}/hub/logout")
    page.goto(f"{base}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r".*/(hub/spawn|hub/home|user/.*)"), timeout=120_000)


def open_pulled_notebook(page, base: str, link: str) -> None:
    """Follow the nbgitpuller link: the hub starts the server, nbgitpuller clones, Lab opens 01."""
    page.goto(base + link)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=300_000)
    select = page.locator(".jp-Dialog .jp-mod-accept", has_text="Select")
    try:
        select.wait_for(state="visible", timeout=5_000)
        select.click()
    except Exception:
        pass
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator');"
        " return s && /Idle|idle/.test(s.getAttribute('title') || s.textContent || ''); }", timeout=180_000)


def submit(page, user: str) -> None:
    """Nbgrader > Assignment List > nb01 > Submit, then wait for the submission to be listed."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"Assignment List")).click()
    button = page.locator("#fetched_assignments_list button", has_text=re.compile(r"^\s*Submit\s*$")).first
    button.wait_for(state="visible", timeout=120_000)
    browser.screenshot(page, f"classroom_{user}_assignments.png")
    button.click()
    page.wait_for_selector("#submitted_assignments_list .list_item, #submitted_assignments_list li",
                           timeout=120_000)
    browser.screenshot(page, f"classroom_{user}_submitted.png")


def test_a_class_on_jupyterhub_from_handout_to_gradebook():
    build = config.PROJECT_ROOT / "build"
    build.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="test-hub-", dir=build))
    try:
        info = classroom.prepare_hub(root, ["nb01"])
        with local_hub(root) as base, browser.chromium_page() as page:
            # alice: pull, run, answer exercise 1, submit
            login(page, base, "alice")
            open_pulled_notebook(page, base, info["link"])
            pulled = root / "home" / "alice" / classroom.HUB_COURSE / "nb01"
            assert (pulled / "01_affine_grid_and_grid_sample.ipynb").is_file()
            browser.run_all_cells(page, timeout_s=600)
            cell = page.locator(".jp-CodeCell", has_text="def my_rotation_theta").first
            cell.locator(".cm-content").click()
            page.keyboard.press("Control+A")
            page.keyboard.press("Delete")
            page.keyboard.insert_text(ANSWER)
            page.keyboard.press("Shift+Enter")
            cell.locator(".jp-OutputArea-output", has_text="✅").wait_for(timeout=120_000)
            page.keyboard.press("Control+S")
            page.wait_for_timeout(2_000)
            browser.screenshot(page, "classroom_alice_answered.png")
            submit(page, "alice")
            # bob: pull and submit the notebook as handed out
            login(page, base, "bob")
            open_pulled_notebook(page, base, info["link"])
            submit(page, "bob")
        # the instructor: collect, autograde (each kernel confined), read the gradebook
        classroom._run_nbgrader(Path(info["course"]), "collect", "nb01")
        runs = classroom.autograde("nb01", info["course"], timeout=600)
        assert [r.status for r in runs] == ["ok", "ok"], [r.log for r in runs]
        scores = classroom.scores("nb01", info["course"])
        assert scores["alice"]["ex01_1_test"] == 1.0, scores
        assert scores["bob"]["ex01_1_test"] == 0.0 and scores["bob"]["ex01_2_test"] == 0.0, scores
    finally:
        shutil.rmtree(root, ignore_errors=True)
