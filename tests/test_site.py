"""The course website in a real browser: build it once per session (``course_tools.site``,
fast mode, offline, notebooks from jupyter-cache), serve it on localhost and read every page
in headless Chromium.

Nothing leaves the machine: requests to other hosts are blocked and listed; the only one
allowed to be blocked is MathJax's CDN (the published site loads it, this machine cannot).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import nbformat
import pytest
from browser import chromium_missing_reason, chromium_page, screenshot

from course_tools import site

ROOT = Path(__file__).resolve().parent.parent
HUB = "https://hub.example.edu"
REPO = "https://github.com/example-org/st-nst"
#: External hosts a page may ask for (blocked here): MathJax from its CDN, the README's
#: Binder badge.
EXTERNAL_OK = {"cdn.jsdelivr.net", "mybinder.org"}

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The site, built once per test session into a temporary folder (the executed
    notebooks are cached in build/site-cache, so a second session only runs Sphinx).
    COURSE_SITE_DIR=build/site checks a site already built instead (the weekly workflow
    checks the full-mode site with the real weights before publishing it)."""
    given = os.environ.get("COURSE_SITE_DIR", "").strip()
    if given:
        assert (Path(given) / "build-info.json").is_file(), f"{given} is not a site built by course_tools.site"
        return Path(given).resolve()
    out = tmp_path_factory.mktemp("site") / "site"
    env = {**os.environ, "COURSE_FAST": "1", "COURSE_OFFLINE": "1", "COURSE_HUB_URL": HUB, "COURSE_REPO_URL": REPO}
    env.pop("COURSE_VGG19_WEIGHTS", None)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "course_tools.site", "build", "--out", str(out)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    info = json.loads((out / "build-info.json").read_text())
    print(f"\nsite build: {time.monotonic() - start:.0f} s ({info['execute_seconds']} s executing "
          f"or reading the cache), {info['pages']} pages")
    return out


@pytest.fixture(scope="session")
def server(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _pages(root: Path) -> list[str]:
    """Every page but index.html, which only redirects to README.html."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                  if not p.relative_to(root).as_posix().startswith("_") and p.name != "index.html")


def _notebook_pages() -> list[str]:
    return [f"notebooks/{p.stem}.html" for p in site.notebooks()]


class Blocker:
    """Route handler: local requests pass, every other host is refused and remembered."""

    def __init__(self, base: str):
        self.host = urlparse(base).netloc
        self.blocked: list[str] = []

    def __call__(self, route):
        url = route.request.url
        if urlparse(url).netloc == self.host or url.startswith("data:"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


def test_site_has_every_page_and_download(built_site):
    pages = _pages(built_site)
    for page in ["README.html", "docs/teaching.html", "docs/seed_defects.html", "docs/site/about.html",
                 *_notebook_pages()]:
        assert page in pages, f"{page} missing from the site"
    for path in site.notebooks():
        source = built_site / "_sources" / "notebooks" / path.name
        assert json.loads(source.read_text()) == json.loads(path.read_text()), f"{path.name}: download is not the notebook"
        colab = nbformat.read(built_site / "colab" / path.name, as_version=4)
        assert "colab-setup" in colab.cells[0].metadata["tags"]
    assert 'url=README.html"' in (built_site / "index.html").read_text()  # GitHub Pages opens index.html


def test_every_page_loads_cleanly_with_its_figures(built_site, server):
    """No console error, no Python traceback in an output, every figure decoded."""
    problems, blocked = [], set()
    with chromium_page() as page:
        blocker = Blocker(server)
        page.route("**/*", blocker)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"{m.text} @ {m.location.get('url', '')}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        for name in _pages(built_site):
            errors.clear()
            blocker.blocked.clear()
            page.goto(f"{server}/{name}", wait_until="load")
            blocked |= set(blocker.blocked)
            own = [e for e in errors if not any(b in e for b in blocker.blocked)
                   and "net::ERR_FAILED" not in e]
            if own:
                problems.append(f"{name}: console errors {own[:3]}")
            outputs = page.eval_on_selector_all(".cell_output", "els => els.map(e => e.innerText)")
            if any("Traceback (most recent call last)" in t for t in outputs):
                problems.append(f"{name}: an output shows a Python traceback")
            if name in _notebook_pages():
                sizes = page.evaluate(
                    """async () => Promise.all([...document.querySelectorAll('.cell_output img')].map(i => {
                        i.loading = 'eager';
                        return i.decode().then(() => [i.naturalWidth, i.naturalHeight]).catch(() => [0, 0]);
                    }))""")
                expected = _png_outputs(built_site, name)
                good = [s for s in sizes if s[0] > 0 and s[1] > 0]
                if len(good) < max(expected, 1) or len(good) != len(sizes):
                    problems.append(f"{name}: {len(good)} of {len(sizes)} figures decoded, {expected} expected")
        page.goto(f"{server}/notebooks/01_affine_grid_and_grid_sample.html", wait_until="load")
        screenshot(page, "site_notebook_01.png")
    assert not problems, "\n".join(problems)
    hosts = {urlparse(u).netloc for u in blocked}
    assert hosts <= EXTERNAL_OK, f"pages ask for other hosts: {sorted(hosts)}"


def _png_outputs(built_site: Path, page_name: str) -> int:
    """How many figures the executed notebook has (from the cache the build used)."""
    from jupyter_cache import get_cache

    path = ROOT / page_name.replace(".html", ".ipynb")
    cache = json.loads((built_site / "build-info.json").read_text())["cache"]
    _, nb = get_cache(cache).merge_match_into_notebook(nbformat.read(path, as_version=4))
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_every_internal_link_resolves(built_site):
    """Every href and src to this site names a file that exists and, with a #fragment,
    an id on that page."""
    ids: dict[Path, set[str]] = {}
    broken = []
    for page in built_site.rglob("*.html"):
        if page.relative_to(built_site).parts[0] in ("_static", "_sources"):
            continue  # the theme's template macros and the notebooks' sources, not pages
        text = page.read_text()
        for link in re.findall(r'(?:href|src)="([^"]+)"', text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("//"):
                continue  # external, mailto:, data:, javascript:
            path, fragment = urldefrag(link)
            path = path.split("?")[0]  # _static/x.css?digest=...
            target = (page.parent / path).resolve() if path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(built_site)} -> {link}")
                continue
            if fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(re.findall(r'\bid="([^"]+)"', target.read_text()))
                if fragment not in ids[target]:
                    broken.append(f"{page.relative_to(built_site)} -> {link} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


def test_search_finds_grid_sample(server):
    with chromium_page() as page:
        page.route("**/*", Blocker(server))
        page.goto(f"{server}/search.html?q=grid_sample", wait_until="load")
        page.wait_for_selector("ul.search li a", timeout=60_000)
        hrefs = page.eval_on_selector_all("ul.search li a", "els => els.map(a => a.getAttribute('href'))")
    assert any("01_affine_grid_and_grid_sample" in h for h in hrefs), hrefs


def test_launch_buttons_point_at_the_notebook(built_site, server):
    name = "00_setup_and_tour"
    info = json.loads((built_site / "build-info.json").read_text())
    repo_url, hub_url = info["repo_url"], info["hub_url"]
    with chromium_page() as page:
        page.route("**/*", Blocker(server))
        page.goto(f"{server}/notebooks/{name}.html", wait_until="load")
        links = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
        text = page.inner_text("body")
    org_repo = repo_url.split("github.com/")[1]
    repo = org_repo.split("/")[1]
    assert f"https://mybinder.org/v2/gh/{org_repo}/main?urlpath=lab/tree/notebooks/{name}.ipynb" in links
    assert (f"https://colab.research.google.com/github/{org_repo}/blob/{site.PAGES_BRANCH}/colab/{name}.ipynb"
            in links)
    hub = [u for u in links if "/hub/user-redirect/git-pull?" in u]
    if hub_url:  # nbgitpuller: clone the repository, open the notebook in JupyterLab
        assert hub and hub[0].startswith(f"{hub_url}/hub/user-redirect/git-pull?"), links
        assert f"repo={repo_url.replace(':', '%3A')}" in hub[0] or f"repo={repo_url}" in hub[0]
        assert f"urlpath=lab/tree/{repo}/notebooks/{name}.ipynb" in hub[0] and "branch=main" in hub[0]
    else:
        assert not hub
    assert any(u.endswith(f"_sources/notebooks/{name}.ipynb") for u in links)  # download
    network = "ImageNet VGG19 weights" if info["imagenet"] else "offline fallback network"
    assert network in text  # which network made the pictures


def test_widgets_are_stills_and_solutions_are_folded(server):
    with chromium_page() as page:
        page.route("**/*", Blocker(server))
        page.goto(f"{server}/notebooks/01_affine_grid_and_grid_sample.html", wait_until="load")
        stills = page.locator(".course-widget-still:has(img)")  # the θ playground, not a progress bar
        assert stills.count() >= 1
        assert site.WIDGET_NOTE in stills.first.inner_text()
        size = stills.first.locator("img").first.evaluate(
            "async i => { await i.decode(); return [i.naturalWidth, i.naturalHeight]; }")
        assert size[0] > 0 and size[1] > 0
        solutions = page.locator(".tag_solution")
        assert solutions.count() >= 1
        assert not solutions.first.locator(".cell_input").is_visible()
        assert site.SOLUTION_PROMPT in solutions.first.inner_text()
