"""The Chinese course (notebooks/zh/, docs/zh/) is built from the English one and the catalogs
in locale/zh_CN/: regeneration gives the committed files, code cells are the English ones, and
a translation whose English changed since it was translated fails, naming the cell."""

from __future__ import annotations

import json
import re

import pytest

from course_tools import translate as tr

SOURCES = tr.sources()
NOTEBOOK_STEMS = [p.stem for p in tr.english_notebooks()]


@pytest.mark.parametrize("stem", list(SOURCES))
def test_every_translation_is_current(stem):
    """Every markdown cell (every block of a translated document) has a reviewed translation
    of its English as it is now. A failure names the notebook and the cell id."""
    issues = tr.problems(stem, SOURCES[stem])
    assert not issues, "\n".join(issues)


@pytest.mark.parametrize("stem", list(SOURCES))
def test_regeneration_gives_the_committed_file(stem):
    if tr.problems(stem, SOURCES[stem]):
        pytest.fail(f"{stem}: not buildable (see test_every_translation_is_current)")
    out = tr.output_path(stem)
    assert out.exists(), f"{out.relative_to(tr.ROOT)} is missing: run `make zh` and commit it"
    assert out.read_bytes() == tr.render(stem), (
        f"{out.relative_to(tr.ROOT)} differs from what `make zh` builds: run `make zh` and commit it")


def test_no_chinese_notebook_without_an_english_one():
    built = {p.stem for p in tr.OUT_NOTEBOOKS.glob("*.ipynb")}
    assert built <= set(NOTEBOOK_STEMS), f"orphans in notebooks/zh/: {sorted(built - set(NOTEBOOK_STEMS))}"


@pytest.mark.parametrize("stem", NOTEBOOK_STEMS)
def test_code_cells_are_the_english_ones(stem):
    zh_path = tr.OUT_NOTEBOOKS / f"{stem}.ipynb"
    if not zh_path.exists():
        pytest.fail(f"notebooks/zh/{stem}.ipynb is missing")
    en = tr.read_notebook(tr.NOTEBOOKS / f"{stem}.ipynb")
    zh = tr.read_notebook(zh_path)
    assert [(c["cell_type"], c["id"]) for c in zh["cells"]] == [(c["cell_type"], c["id"]) for c in en["cells"]]
    for a, b in zip(en["cells"], zh["cells"], strict=True):
        if a["cell_type"] == "code":
            assert a == b, f"{stem}: code cell {a['id']} differs from the English"
        else:
            assert a["metadata"] == b["metadata"]
            text = "".join(b["source"])
            assert re.search(r"[\u4e00-\u9fff]", text) or not re.search(r"[A-Za-z]{4}", text), (
                f"{stem}: markdown cell {a['id']} has no Chinese")
    assert zh["metadata"]["language"] == "zh-CN"
    assert zh["metadata"]["kernelspec"] == en["metadata"]["kernelspec"]


def _norm(found):
    return {" ".join(x.split()) for x in found}


def _code_spans(text):
    return _norm(re.findall(r"`[^`]+`", text))


def _formulas(text):
    display = re.findall(r"\$\$.+?\$\$", text, re.S)
    inline = re.findall(r"\$[^$]+\$", re.sub(r"\$\$.+?\$\$", " ", text, flags=re.S))
    return _norm(display + inline)


def _links(text):
    return set(re.findall(r"\]\(([^)\s]+)", text))


@pytest.mark.parametrize("stem", NOTEBOOK_STEMS)
def test_translation_keeps_code_spans_maths_headings_and_links(stem):
    """A translation keeps each inline code span, each $...$ formula, each link target and
    the heading levels of its English cell."""
    if not tr.catalog_path(stem).exists():
        pytest.fail(f"{stem}: no catalog")
    catalog = tr.load_catalog(stem)
    for m in catalog:
        if not m.id or not m.string:
            continue
        where = f"{stem} cell {m.context}"
        for what, found in (("code span", _code_spans), ("formula", _formulas), ("link target", _links)):
            missing = sorted(found(m.id) - found(m.string))
            assert not missing, f"{where}: {what}s missing from the translation: {missing[:3]}"
        levels = lambda s: [len(h) for h in re.findall(r"^(#+) ", s, re.M)]  # noqa: E731
        assert levels(m.string) == levels(m.id), f"{where}: heading levels differ"


def test_chinese_notebooks_links_resolve():
    for path in tr.OUT_NOTEBOOKS.glob("*.ipynb"):
        for cell in tr.read_notebook(path)["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for target in re.findall(r"\]\(([^)\s#]+)", "".join(cell["source"])):
                if re.match(r"^[a-z]+:", target):
                    continue
                assert (path.parent / target).exists(), f"{path.name} cell {cell['id']}: {target} not found"


# -- the machinery itself, on copies ------------------------------------------------------------


def _copy_with_changed_cell(tmp_path, stem, cell_id, new_text):
    nb = tr.read_notebook(tr.NOTEBOOKS / f"{stem}.ipynb")
    for cell in nb["cells"]:
        if cell["id"] == cell_id:
            cell["source"] = new_text.splitlines(keepends=True)
    path = tmp_path / f"{stem}.ipynb"
    path.write_bytes(tr.notebook_bytes(nb))
    return path


def _a_translated_stem():
    for stem in NOTEBOOK_STEMS:
        if tr.catalog_path(stem).exists() and not tr.problems(stem, SOURCES[stem]):
            return stem
    pytest.skip("no notebook is fully translated yet")


def test_a_changed_english_cell_is_named_as_stale(tmp_path):
    stem = _a_translated_stem()
    en = tr.read_notebook(tr.NOTEBOOKS / f"{stem}.ipynb")
    cell = next(c for c in en["cells"] if c["cell_type"] == "markdown")
    changed = _copy_with_changed_cell(tmp_path, stem, cell["id"], "".join(cell["source"]) + " Changed.")
    issues = tr.problems(stem, changed, tr.load_catalog(stem))
    assert len(issues) == 1 and f"cell {cell['id']} is stale" in issues[0], issues

    # `update` turns it into a fuzzy entry that keeps the old translation and the old English;
    # the build still refuses it, naming the cell, until a translator revises it.
    old = tr.load_catalog(stem)
    refreshed, counts = tr.update_catalog(stem, changed, old)
    assert counts["changed"] == 1 and counts["new"] == 0
    entry = refreshed.get("".join(cell["source"]) + " Changed.", context=cell["id"])
    assert entry.fuzzy and entry.string == old.get("".join(cell["source"]), context=cell["id"]).string
    assert entry.previous_id == ["".join(cell["source"])]
    issues = tr.problems(stem, changed, refreshed)
    assert len(issues) == 1 and f"cell {cell['id']} is fuzzy" in issues[0], issues
    assert b"#| msgid" in tr.dump_catalog(refreshed)


def test_update_keeps_a_current_catalog_and_adds_a_new_cell(tmp_path):
    stem = _a_translated_stem()
    old = tr.load_catalog(stem)
    same, counts = tr.update_catalog(stem, tr.NOTEBOOKS / f"{stem}.ipynb", old)
    assert counts["new"] == counts["changed"] == 0
    assert [(m.context, m.id, m.string) for m in same if m.id] == [(m.context, m.id, m.string) for m in old if m.id]
    nb = tr.read_notebook(tr.NOTEBOOKS / f"{stem}.ipynb")
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "added01", "metadata": {}, "source": ["A new cell."]})
    path = tmp_path / f"{stem}.ipynb"
    path.write_bytes(tr.notebook_bytes(nb))
    grown, counts = tr.update_catalog(stem, path, old)
    assert counts["new"] == 1 and grown.get("A new cell.", context="added01").string == ""
    assert tr.problems(stem, path, grown) == [f"{path.name}: cell added01 is not translated yet (empty msgstr)."]


def test_relink_moves_relative_targets_one_folder_up():
    assert tr.relink("see [d](../docs/x.md) and ![i](img/a.png)") == "see [d](../../docs/x.md) and ![i](../img/a.png)"
    assert tr.relink("[w](https://a.b/c) [a](#top)") == "[w](https://a.b/c) [a](#top)"


def test_document_blocks_keep_fenced_code_together():
    blocks = tr.markdown_blocks("# T\n\npara one\nline two\n\n```\ncode\n\nmore\n```\n\nend\n")
    assert [b for _, b in blocks] == ["# T", "para one\nline two", "```\ncode\n\nmore\n```", "end"]
    assert [n for n, _ in blocks] == [1, 3, 6, 12]


def test_build_refuses_a_notebook_without_a_catalog(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tr, "CATALOGS", tmp_path / "empty")
    stem = NOTEBOOK_STEMS[0]
    assert tr.cmd_build([stem], strict=True) == 1
    err = capsys.readouterr().err
    assert f"notebooks/{stem}.ipynb: no catalog" in err


def test_notebook_bytes_match_jupyter():
    """The English notebooks round-trip through notebook_bytes unchanged, so the Chinese ones
    are written the way Jupyter writes."""
    for path in tr.english_notebooks():
        assert tr.notebook_bytes(json.loads(path.read_text(encoding="utf-8"))) == path.read_bytes(), path.name


def test_chinese_readme_links_resolve_and_lists_every_notebook():
    text = (tr.ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s#]+)", text):
        if not re.match(r"^[a-z]+:", target):
            assert (tr.ROOT / target).exists(), f"README.zh-CN.md links to {target}, which does not exist"
    for stem in NOTEBOOK_STEMS:
        assert f"notebooks/zh/{stem}.ipynb" in text, f"README.zh-CN.md does not list {stem}"


def test_translated_documents_links_resolve():
    for _, out in tr.DOCUMENTS.values():
        if not out.exists():
            pytest.fail(f"{out.relative_to(tr.ROOT)} is missing: run `make zh`")
        for target in re.findall(r"\]\(([^)\s#]+)", out.read_text(encoding="utf-8")):
            if not re.match(r"^[a-z]+:", target):
                assert (out.parent / target).exists(), f"{out.name} links to {target}, which does not exist"


def test_chinese_markdown_has_no_stray_emphasis_markers():
    """CommonMark only closes ``**bold**`` next to CJK text when the delimiter is not wedged
    between punctuation and a letter (``零。**经过`` stays literal): render every translated
    cell and document and look for a leftover ``*``."""
    markdown_it = pytest.importorskip("markdown_it")
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    texts = [(f"{p.name} cell {c['id']}", "".join(c["source"])) for p in tr.OUT_NOTEBOOKS.glob("*.ipynb")
             for c in tr.read_notebook(p)["cells"] if c["cell_type"] == "markdown"]
    texts += [(p.name, p.read_text(encoding="utf-8")) for p in (tr.ROOT / "README.zh-CN.md", tr.ROOT / "docs" / "glossary.md")]
    texts += [(out.name, out.read_text(encoding="utf-8")) for _, out in tr.DOCUMENTS.values() if out.exists()]
    for where, text in texts:
        html = re.sub(r"<(code|pre)>.*?</\1>", "", md.render(text), flags=re.S)
        html = re.sub(r"\$[^$]*\$", "", html)
        stray = re.findall(r".{0,15}(?:\*\*|(?<![\w*])\*(?![\s*])).{0,15}", html)
        assert not stray, f"{where}: emphasis markers left as text: {stray[:3]}"


def test_glossary_has_every_chinese_term_the_english_course_gives():
    """The English notebooks and guide give key terms their Chinese name in brackets,
    "**affine transform** (仿射变换)": each such term is in docs/glossary.md."""
    glossary = (tr.ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    missing = set()
    for name, path in tr.sources().items():
        text = path.read_text(encoding="utf-8") if path.suffix == ".md" else "\n".join(
            "".join(c["source"]) for c in tr.read_notebook(path)["cells"] if c["cell_type"] == "markdown")
        missing |= {f"{term} ({name})" for term in re.findall(r"[(（]([\u4e00-\u9fff]{2,})", text)
                    if term not in glossary}
    assert not missing, f"add to docs/glossary.md: {sorted(missing)}"


def test_status_counts_every_markdown_cell_as_translated(capsys):
    assert tr.main(["status"]) == 0
    out = capsys.readouterr().out
    cells = sum(len(tr.units(path)) for stem, path in tr.sources().items() if stem not in tr.DOCUMENTS)
    assert f"all notebooks (markdown cells): {cells}/{cells} translated" in out
    stem = "04_style_transfer_by_optimisation"
    n = len(tr.units(tr.sources()[stem]))
    words = re.search(rf"^{stem}: {n}/{n} translated, (\d+) English words", out, re.M)
    assert words and int(words.group(1)) == sum(len(u.source.split()) for u in tr.units(tr.sources()[stem]))
    assert re.search(r"^package messages: (\d+)/\1 translated", out, re.M)


def test_status_counts_a_changed_english_cell_as_untranslated(tmp_path, monkeypatch, capsys):
    src = tr.sources()["06_interactive_studio"]
    nb = json.loads(src.read_text(encoding="utf-8"))
    markdown = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    markdown[1]["source"] = ["English written after the translation."]
    changed = tmp_path / src.name
    changed.write_text(json.dumps(nb), encoding="utf-8")
    monkeypatch.setattr(tr, "sources", lambda: {"06_interactive_studio": changed})
    assert tr.main(["status"]) == 0
    assert f"06_interactive_studio: {len(markdown) - 1}/{len(markdown)} translated" in capsys.readouterr().out
