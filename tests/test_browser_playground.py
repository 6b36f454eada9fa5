"""Notebook 01 in a real JupyterLab: runs without errors and the θ playground responds."""

from __future__ import annotations

import browser
import pytest

pytestmark = pytest.mark.skipif(browser.chromium_missing_reason() is not None,
                                reason=str(browser.chromium_missing_reason()))

NOTEBOOK = "01_affine_grid_and_grid_sample.ipynb"


def test_notebook_01_runs_and_playground_slider_changes_image(tmp_path):
    with browser.jupyter_lab([NOTEBOOK], tmp_path) as (base, token), browser.chromium_page() as page:
        browser.open_notebook(page, base, token, NOTEBOOK)
        browser.run_all_cells(page, timeout_s=600)
        assert browser.error_outputs(page) == []
        # the playground rendered its sliders and its picture
        playground = page.locator(".widget-vbox", has=page.locator(".widget-image")).last
        playground.scroll_into_view_if_needed()
        sliders = playground.locator(".widget-slider, .jupyter-widget-slider, .widget-hslider")
        assert sliders.count() >= 5
        image = playground.locator("img.widget-image, .widget-image img, img.jupyter-widget-image").first
        image.wait_for(state="visible", timeout=30_000)
        before = image.get_attribute("src")
        browser.screenshot(page, "nb01_playground_before.png")
        handle = playground.locator(".noUi-handle").first
        handle.focus()
        for _ in range(30):
            handle.press("ArrowRight")
        page.wait_for_function(
            "([el, old]) => el.getAttribute('src') !== old", arg=[image.element_handle(), before], timeout=30_000
        )
        browser.screenshot(page, "nb01_playground_after.png")
        readout = playground.locator(".widget-readout").first.inner_text()
        assert float(readout) > 0, f"the angle slider should have moved, readout {readout!r}"
