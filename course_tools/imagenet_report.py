"""Run the course with the real ImageNet VGG19 weights and report what changed.

``make verify-imagenet`` (needs ``make weights`` or ``COURSE_VGG19_WEIGHTS``) executes every
notebook in full mode with them, errors allowed so every checkpoint is tried, and writes
``build/imagenet-report/``: ``index.html`` (times, checkpoint outcomes, each figure beside
the offline network's from the site's cache), ``report.json`` and ``summary.md``. Exit
status 1 when a checkpoint failed or a notebook did not use the weights, 2 without weights.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from course_tools import site

if TYPE_CHECKING:
    import nbformat

OUT = site.ROOT / "build" / "imagenet-report"
NO_WEIGHTS = (
    "No ImageNet VGG19 weights here: run `make weights` where there is internet (or set "
    "COURSE_VGG19_WEIGHTS to a copy of torchvision's vgg19-dcbb9e9d.pth), then run "
    "`make verify-imagenet` again."
)
FALLBACK_MARKS = ("OFFLINE FALLBACK", "[offline fallback]")


def _surely_absent(path: str | None) -> bool:
    """True when no weights can be there (no path, no COURSE_VGG19_WEIGHTS, nothing in torch's
    hub cache), decided without importing torch, which takes seconds."""
    if path or os.environ.get("COURSE_VGG19_WEIGHTS", "").strip():
        return False
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = Path(os.environ.get("TORCH_HOME") or os.path.join(cache, "torch")).expanduser()
    return not (home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth").is_file()


def find_weights(path: str | None, expected_sha256: str) -> Path:
    """The verified weights file, or SystemExit(2) with one sentence (no notebook runs)."""
    from course_utils import weights

    found = weights.locate(path)
    if found is None:
        print(NO_WEIGHTS, file=sys.stderr)
        raise SystemExit(2)
    try:
        weights.load_vgg19_state(found.path, expected_sha256, found.origin)
    except weights.WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return found.path.resolve()


def run_notebook(path: Path, env: dict[str, str], expected_sha256: str, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    """Execute one notebook in its folder with ``env``; every cell runs even after an error.
    With a hash other than torchvision's (a test's weights file), a first cell, removed
    afterwards, sets the course's expected hash."""
    import nbformat
    from nbclient import NotebookClient

    from course_utils import weights

    nb = nbformat.read(path, as_version=4)
    injected = expected_sha256 != weights.SHA256_PREFIX
    if injected:
        cell = nbformat.v4.new_code_cell(
            f"from course_utils import weights as _w\n_w.SHA256_PREFIX = {expected_sha256!r}"
        )
        nb.cells.insert(0, cell)
    client = NotebookClient(
        nb, timeout=timeout, allow_errors=True, record_timing=True, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.monotonic()
    client.execute(env=env)
    seconds = time.monotonic() - start
    if injected:
        nb.cells.pop(0)
    return nb, seconds


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def checkpoints(nb) -> list[dict]:
    """Each ``# Checkpoint`` cell: its first line and 'passed', or the error it raised."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.lstrip().startswith("# Checkpoint"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.get("execution_count") is None:
            outcome = "not run"
        elif errors:
            outcome = f"failed: {errors[0].get('ename', '')}: {errors[0].get('evalue', '')}"[:300]
        else:
            outcome = "passed"
        found.append({"cell": index, "checkpoint": cell.source.lstrip().splitlines()[0], "outcome": outcome})
    return found


def figures(nb) -> dict[int, list[str]]:
    """``{cell index: [base64 PNG, ...]}`` for every code cell that drew something."""
    out: dict[int, list[str]] = {}
    for index, cell in enumerate(nb.cells):
        pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if pngs:
            out[index] = [p if isinstance(p, str) else "".join(p) for p in pngs]
    return out


def offline_notebooks(paths: Sequence[Path], fast: bool) -> dict[str, nbformat.NotebookNode]:
    """The same notebooks executed with the offline network (the site's cache, same mode)."""
    import nbformat
    from jupyter_cache import get_cache

    env = {k: v for k, v in os.environ.items() if k != "COURSE_VGG19_WEIGHTS"}
    env.update(COURSE_FAST="1" if fast else "0", COURSE_OFFLINE="1", MPLBACKEND=site.KERNEL_MPLBACKEND)
    cache = site.cache_dir(is_imagenet=False, fast=fast)
    # a child process, so that course_utils.config reads this COURSE_FAST afresh
    code = ("import sys; from pathlib import Path; from course_tools import site; "
            f"site.execute([Path(p) for p in sys.argv[1:]], Path({str(cache)!r}))")
    subprocess.run([sys.executable, "-c", code, *map(str, paths)], check=True, cwd=site.ROOT, env=env)
    jc = get_cache(str(cache))
    return {p.name: jc.merge_match_into_notebook(nbformat.read(p, as_version=4))[1] for p in paths}


def _save_png(folder: Path, data: str) -> str:
    raw = base64.b64decode(data)
    name = hashlib.sha256(raw).hexdigest()[:16] + ".png"
    (folder / name).write_bytes(raw)
    return f"figures/{name}"


def write_report(out: Path, results: list[dict], offline: dict, meta: dict) -> None:
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    e = html.escape
    rows, sections = [], []
    lines = ["| notebook | seconds | checkpoints passed | used ImageNet |", "|---|---|---|---|"]
    failures = []
    for r in results:
        passed = f"{sum(c['outcome'] == 'passed' for c in r['checkpoints'])}/{len(r['checkpoints'])}"
        used = "yes" if r["used_imagenet"] else "NO"
        rows.append(f"<tr><td>{e(r['notebook'])}</td><td>{r['seconds']:.0f}</td><td>{passed}</td><td>{used}</td></tr>")
        lines.append(f"| {r['notebook']} | {r['seconds']:.0f} | {passed} | {used} |")
        failures += [f"- {r['notebook']}: `{c['checkpoint']}` {c['outcome']}" for c in r["checkpoints"]
                     if c["outcome"] != "passed"]
        items = "".join(
            f"<li class='{'ok' if c['outcome'] == 'passed' else 'bad'}'><code>{e(c['checkpoint'])}</code>: "
            f"{e(c['outcome'])}</li>" for c in r["checkpoints"]
        )
        pairs = []
        off_nb = offline.get(r["notebook"])
        off_figs = figures(off_nb) if off_nb is not None else {}
        for index in sorted(set(r["figures"]) | set(off_figs)):
            left = "".join(f"<img src='{_save_png(figs, d)}'>" for d in r["figures"].get(index, []))
            right = "".join(f"<img src='{_save_png(figs, d)}'>" for d in off_figs.get(index, []))
            first = r["sources"].get(index, "")
            pairs.append(f"<tr><td colspan=2><code>cell {index}: {e(first)}</code></td></tr>"
                         f"<tr><td>{left or '(no figure)'}</td><td>{right or '(no figure)'}</td></tr>")
        table = ("<table class='pairs'><tr><th>ImageNet VGG19</th><th>offline fallback</th></tr>"
                 + "".join(pairs) + "</table>") if pairs else "<p>No figures.</p>"
        sections.append(f"<h2 id='{e(r['notebook'])}'>{e(r['notebook'])}</h2><ul>{items}</ul>{table}")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>ImageNet check</title>
<style>body{{font-family:sans-serif;margin:2em}} .bad{{color:#b00}} .pairs img{{max-width:48vw}}
td{{vertical-align:top;padding:.2em .5em}}</style></head><body>
<h1>The course with the ImageNet VGG19 weights</h1>
<p>Weights: <code>{e(meta['weights'])}</code> (SHA-256 {e(meta['sha256'][:16])}…); mode: {e(meta['mode'])};
run {e(meta['date'])}; {meta['total_seconds']:.0f} s in all.</p>
<table><tr><th>notebook</th><th>seconds</th><th>checkpoints passed</th><th>used ImageNet</th></tr>
{''.join(rows)}</table>{''.join(sections)}</body></html>"""
    (out / "index.html").write_text(page)
    (out / "summary.md").write_text("\n".join(lines + failures) + "\n")
    slim = [{k: v for k, v in r.items() if k not in ("figures", "sources")} | {"figures": len(r["figures"])}
            for r in results]
    (out / "report.json").write_text(json.dumps({**meta, "notebooks": slim}, indent=2))


def verify(
    out: Path = OUT, weights_path: str | None = None, only: Sequence[str] = (), fast: bool = False,
    expected_sha256: str | None = None, timeout: int = 3600,
) -> int:
    if _surely_absent(weights_path):  # before importing torch: stop at once
        print(NO_WEIGHTS, file=sys.stderr)
        return 2
    from course_utils import weights

    expected = expected_sha256 or weights.SHA256_PREFIX
    weights_file = find_weights(weights_path, expected)
    paths = site.notebooks()
    if only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in only)]
        if not paths:
            print(f"error: no notebook starts with {', '.join(only)}; see notebooks/.", file=sys.stderr)
            return 2
    start = time.monotonic()
    env = dict(os.environ, COURSE_FAST="1" if fast else "0", COURSE_OFFLINE="1",
               MPLBACKEND=site.KERNEL_MPLBACKEND, COURSE_VGG19_WEIGHTS=str(weights_file))
    # notebooks that ran cleanly with torchvision's file are the site's too (no second run)
    handoff = None
    if expected == weights.SHA256_PREFIX:
        from jupyter_cache import get_cache
        from jupyter_cache.base import CacheBundleIn

        handoff = get_cache(str(site.cache_dir(is_imagenet=True, fast=fast)))
    results = []
    for path in paths:
        print(f"{path.name}: running with the ImageNet weights ...", flush=True)
        nb, seconds = run_notebook(path, env, expected, timeout)
        errors = sum(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
        if handoff is not None and not errors:
            handoff.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}),
                                          check_validity=False, overwrite=True)
        text = "\n".join(_text(c) for c in nb.cells)
        results.append({
            "notebook": path.name, "seconds": round(seconds, 1), "checkpoints": checkpoints(nb),
            "used_imagenet": "ImageNet VGG19 (" in text and not any(m in text for m in FALLBACK_MARKS),
            "errors": errors,
            "figures": figures(nb),
            "sources": {i: c.source.splitlines()[0][:100] if c.source else "" for i, c in enumerate(nb.cells)},
        })
    offline = offline_notebooks(paths, fast)
    meta = {
        "weights": str(weights_file), "sha256": weights.sha256_of(weights_file),
        "mode": "fast" if fast else "full", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "total_seconds": round(time.monotonic() - start, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_report(out, results, offline, meta)
    bad = [r["notebook"] for r in results
           if not r["used_imagenet"] or any(c["outcome"] != "passed" for c in r["checkpoints"])]
    print((out / "summary.md").read_text())
    print(f"report: {out / 'index.html'}" + (f"; problems in {', '.join(bad)}" if bad else "; all checkpoints passed"))
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.imagenet_report", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(OUT), help="report folder (default build/imagenet-report)")
    parser.add_argument("--weights", help="the weights file (default: the course's search order)")
    parser.add_argument("--only", nargs="*", default=[], metavar="PREFIX", help="notebooks to run, e.g. 00 04")
    parser.add_argument("--fast", action="store_true", help="fast mode (for testing this tool)")
    parser.add_argument("--expected-sha256", metavar="PREFIX",
                        help="start of the file's SHA-256 (default: torchvision's; tests pass their own)")
    args = parser.parse_args(argv)
    return verify(Path(args.out), args.weights, args.only, args.fast, args.expected_sha256)


if __name__ == "__main__":
    raise SystemExit(main())
