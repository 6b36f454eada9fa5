"""Notebook 06 in a real JupyterLab: a learner uploads a photo and a style (whose file name
is markup that would run a script if it reached the page unescaped), turns the style 45°,
presses Run, watches it form, stops it and saves it."""

from __future__ import annotations

import re
import time

import browser
import pytest

pytestmark = pytest.mark.skipif(browser.chromium_missing_reason() is not None,
                                reason=str(browser.chromium_missing_reason()))

NOTEBOOK = "06_interactive_studio.ipynb"


def _progress(studio) -> float:
    style = studio.locator(".studio-progress .progress-bar").first.get_attribute("style") or ""
    m = re.search(r"width:\s*([\d.]+)%", style)
    return float(m.group(1)) if m else 0.0


def test_studio_upload_rotate_run_watch_stop_save(tmp_path):
    photo = tmp_path / "my photo.png"
    from PIL import Image

    Image.new("RGB", (90, 60), (30, 120, 200)).save(photo)
    painting = tmp_path / "<img src=x onerror=window.__studio_xss=1>.png"
    from course_utils import data

    data.STYLE_GENERATORS["swirl"](96, 0).save(painting)
    with browser.jupyter_lab([NOTEBOOK], tmp_path) as (base, token), browser.chromium_page(height=1300) as page:
        browser.open_notebook(page, base, token, NOTEBOOK)
        browser.run_all_cells(page, timeout_s=600)
        assert browser.error_outputs(page) == []
        studio = page.locator(".style-studio").first
        studio.scroll_into_view_if_needed()

        # upload one's own photo: the content dropdown switches to it
        with page.expect_file_chooser() as chooser:  # ipywidgets keeps its <input> off the page
            studio.locator(".studio-content-upload").click()
        chooser.value.set_files(str(photo))
        content = studio.locator(".studio-content select")
        page.wait_for_function("el => el.value.startsWith('upload:')", arg=content.element_handle(), timeout=30_000)
        # upload a style whose file name is markup: it must show as text, never run
        with page.expect_file_chooser() as chooser:
            studio.locator(".studio-style-upload").click()
        chooser.value.set_files(str(painting))
        style = studio.locator(".studio-style select")
        page.wait_for_function("el => el.value.startsWith('upload:')", arg=style.element_handle(), timeout=30_000)
        # turn the style 45° (the rotation slider moves in 5° steps)
        studio.locator(".p-TabBar-tab, .lm-TabBar-tab", has_text="Style geometry").click()
        handle = studio.locator(".studio-style-rotation .noUi-handle")
        readout = studio.locator(".studio-style-rotation .widget-readout")
        handle.focus()
        handle.press("Home")  # -180°, whatever the notebook's cells left
        for _ in range((180 + 45) // 5):
            handle.press("ArrowRight")
        assert float(readout.inner_text()) == 45.0
        # many steps, so that there is time to watch and to stop
        studio.locator(".lm-TabBar-tab, .p-TabBar-tab", has_text="Basics").click()
        steps = studio.locator(".studio-steps .noUi-handle")
        steps.focus()
        steps.press("End")
        browser.screenshot(page, "nb06_before_run.png")

        preview = studio.locator(".studio-preview")
        before = preview.get_attribute("src")
        studio.locator(".studio-run").click()
        # wait for this run's first frame (the notebook's own run already left a picture and a
        # full bar): only then has the bar been reset, so that "advances" means this run
        page.wait_for_function("([el, before]) => el.getAttribute('src') !== before",
                               arg=[preview.element_handle(), before])
        deadline = time.monotonic() + 120
        seen_src, seen_progress = {preview.get_attribute("src")}, [_progress(studio)]
        while time.monotonic() < deadline and (len(seen_src) < 3 or seen_progress[-1] <= seen_progress[0]):
            page.wait_for_timeout(500)
            seen_src.add(preview.get_attribute("src"))
            seen_progress.append(_progress(studio))
        browser.screenshot(page, "nb06_running.png")
        assert len(seen_src - {before}) >= 2, "the preview should change while the run advances"
        assert seen_progress[-1] > seen_progress[0], "the progress bar should advance"
        assert seen_progress[-1] < 100

        studio.locator(".studio-stop").click()
        status = studio.locator(".studio-status")
        page.wait_for_function("el => el.innerText.startsWith('Stopped')", arg=status.element_handle(), timeout=120_000)
        stopped_at = _progress(studio)
        page.wait_for_timeout(1500)
        assert _progress(studio) == stopped_at < 100, "nothing should run after Stop"
        browser.screenshot(page, "nb06_stopped.png")

        studio.locator(".studio-save").click()
        page.wait_for_function("el => el.innerText.startsWith('Saved')", arg=status.element_handle(), timeout=60_000)
        browser.screenshot(page, "nb06_saved.png")
        saved = sorted((tmp_path / "notebooks" / "studio_outputs").glob("studio-*-upload-upload*.png"))
        assert saved, "Save should write the result of the uploaded photo in the uploaded style"
        assert saved[-1].with_suffix(".json").exists()
        assert len(studio.locator(".studio-history img").all()) >= 2
        # the style's file name is in the history caption as text; its onerror never ran
        assert "<img src=x onerror=window.__studio_xss=1>.png" in studio.locator(".studio-history").inner_text()
        assert page.evaluate("() => window.__studio_xss") is None
