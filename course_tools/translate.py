"""The Chinese course, built from the English one and its translation catalogs.

One gettext PO file per notebook, ``locale/zh_CN/LC_MESSAGES/<stem>.po``: one entry per
markdown cell (``msgctxt`` its id, ``msgid`` the English, ``msgstr`` the Chinese); code
cells are copied unchanged. A markdown document (``docs/teaching.md``) has one entry per
block, keyed by its English text alone.

    python -m course_tools.translate update [STEM ...]   # new/changed cells become entries to translate
    python -m course_tools.translate build  [STEM ...]   # write notebooks/zh/*.ipynb (and docs/zh/*.md)
    python -m course_tools.translate messages            # the package's hints and notice, for translators
    python -m course_tools.translate status              # what is translated: cells, words, characters

``update`` keeps a changed cell's old translation as a fuzzy hint with the old English as
``#| msgid`` (as msgmerge does); ``build`` refuses, naming the notebook and the cell id, any
entry that is stale, fuzzy, empty or missing.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LOCALE = "zh_CN"
CATALOGS = ROOT / "locale" / LOCALE / "LC_MESSAGES"
OUT_NOTEBOOKS = NOTEBOOKS / "zh"
#: Markdown documents translated block by block: English source, Chinese output.
DOCUMENTS = {"teaching": (ROOT / "docs" / "teaching.md", ROOT / "docs" / "zh" / "teaching.md")}
LANGUAGE_TAG = "zh-CN"


class TranslationError(RuntimeError):
    """The Chinese course cannot be built: some cells have no current translation."""


@dataclass(frozen=True)
class Unit:
    """A markdown cell or a document block of an English source."""

    context: str | None  # the cell id (None for a document block)
    source: str
    where: str  # "cell c004" or "block 12 (line 40)"


def english_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]*.ipynb"))


def sources() -> dict[str, Path]:
    """Every English source that has (or should have) a catalog, by stem."""
    found = {p.stem: p for p in english_notebooks()}
    found.update({stem: src for stem, (src, _) in DOCUMENTS.items()})
    return found


def _cell_source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def markdown_blocks(text: str) -> list[tuple[int, str]]:
    """A markdown document's blocks (split at blank lines outside fenced code), with the
    line number each starts on."""
    blocks: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        marker = re.match(r"^\s*(```|~~~)", line)
        if marker and fence is None:
            fence = marker.group(1)
        elif marker and line.strip().startswith(fence or "\0"):
            fence = None
        if not line.strip() and fence is None:
            if current:
                blocks.append((start, "\n".join(current)))
                current = []
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        blocks.append((start, "\n".join(current)))
    return blocks


def units(path: Path) -> list[Unit]:
    """The translatable units of an English notebook or markdown document, in order."""
    if path.suffix == ".ipynb":
        nb = read_notebook(path)
        out = []
        for cell in nb["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            if "id" not in cell:
                raise TranslationError(f"{path.name}: a markdown cell has no id; save the notebook "
                                       "with nbformat 4.5 or later so every cell has one.")
            out.append(Unit(cell["id"], _cell_source(cell), f"cell {cell['id']}"))
        return out
    return [Unit(None, block, f"block {i} (line {line})")
            for i, (line, block) in enumerate(markdown_blocks(path.read_text(encoding="utf-8")), 1)]


def catalog_path(stem: str) -> Path:
    return CATALOGS / f"{stem}.po"


#: Fixed header dates, so that a catalog's bytes depend only on its entries.
_DATE = datetime(2026, 12, 6, tzinfo=timezone.utc)


def new_catalog(stem: str) -> Catalog:
    return Catalog(locale=LOCALE, domain=stem, project="Spatial Transformers and Neural Style Transfer",
                   version="1", copyright_holder="the course's authors", charset="utf-8",
                   fuzzy=False, creation_date=_DATE, revision_date=_DATE,
                   language_team="Chinese <zh_CN>", last_translator="the course's translators")


def load_catalog(stem: str) -> Catalog:
    path = catalog_path(stem)
    if not path.exists():
        return new_catalog(stem)
    with path.open("rb") as f:
        return read_po(f, locale=LOCALE, domain=stem)


def dump_catalog(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=0, omit_header=False, sort_output=False, include_previous=True,
             ignore_obsolete=False)
    # Babel names its own version in the header; leave it out so the bytes do not depend on it.
    return re.sub(rb'"Generated-By: [^"]*"\n', b"", buf.getvalue())


def _by_context(catalog: Catalog) -> dict[str | None, list[Message]]:
    found: dict[str | None, list[Message]] = {}
    for m in catalog:
        if m.id:
            found.setdefault(m.context, []).append(m)
    return found


def update_catalog(stem: str, path: Path, old: Catalog | None = None) -> tuple[Catalog, dict[str, int]]:
    """The catalog for one English source, refreshed: current entries kept as they are, a
    changed cell's entry turned into a new one (empty if it was never translated, else fuzzy
    with the old translation and the old English as its previous msgid), entries for
    removed cells kept as obsolete, in the English order."""
    existed = old is not None or catalog_path(stem).exists()
    old = load_catalog(stem) if old is None else old
    old_by_ctx = _by_context(old)
    old_sources = [m for m in old if m.id]
    fresh = new_catalog(stem)
    counts = {"kept": 0, "new": 0, "changed": 0, "obsolete": 0}
    used: set[int] = set()
    current = units(path)
    for unit in current:
        exact = old.get(unit.source, context=unit.context)
        if exact is not None:
            fresh[unit.source] = Message(unit.source, exact.string, context=unit.context, flags=set(exact.flags),
                                         user_comments=list(exact.user_comments),
                                         previous_id=list(exact.previous_id or []))
            used.add(id(exact))
            counts["kept"] += 1
            continue
        if unit.context is not None:  # the same cell, changed
            previous = old_by_ctx.get(unit.context, [None])[0]
        else:  # a document block: the closest unused old one
            pool = {m.id: m for m in old_sources if m.context is None and id(m) not in used}
            close = difflib.get_close_matches(unit.source, list(pool), n=1, cutoff=0.6)
            previous = pool[close[0]] if close else None
        msg = Message(unit.source, "", context=unit.context)
        if previous is not None and previous.string:
            used.add(id(previous))
            msg.string = previous.string
            msg.flags.add("fuzzy")
            msg.previous_id = [previous.id]
            counts["changed"] += 1
        else:
            counts["new"] += 1
        fresh[unit.source] = msg
    keys = {(u.context, u.source) for u in current}
    for m in [*old_sources, *old.obsolete.values()]:
        if (m.context, m.id) not in keys and m.string and id(m) not in used:
            fresh.obsolete[(m.id, m.context) if m.context else m.id] = m
            counts["obsolete"] += 1
    fresh.header_comment = old.header_comment if existed else (
        f"# Chinese translation of {_name(path)}.\n"
        "# One entry per markdown cell (msgctxt = cell id); terms as in docs/glossary.md.\n"
        "# Regenerate with: python -m course_tools.translate update")
    return fresh, counts


def _name(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


def problems(stem: str, path: Path, catalog: Catalog | None = None) -> list[str]:
    """Why the Chinese version of one source cannot be built; empty when it can."""
    name = _name(path)
    if catalog is None:
        if not catalog_path(stem).exists():
            return [f"{name}: no catalog {_name(catalog_path(stem))}; "
                    "run `python -m course_tools.translate update` and translate it."]
        catalog = load_catalog(stem)
    out = []
    by_ctx = _by_context(catalog)
    for unit in units(path):
        m = catalog.get(unit.source, context=unit.context)
        if m is None:
            if unit.context is not None and by_ctx.get(unit.context):
                out.append(f"{name}: {unit.where} is stale: the English cell changed since it was "
                           "translated; run `python -m course_tools.translate update`, then revise "
                           "the fuzzy entry.")
            else:
                out.append(f"{name}: {unit.where} has no translation (run `python -m "
                           "course_tools.translate update` and translate it).")
        elif m.fuzzy:
            out.append(f"{name}: {unit.where} is fuzzy: its English changed since it was "
                       "translated; revise the msgstr and remove the fuzzy flag.")
        elif not m.string.strip():
            out.append(f"{name}: {unit.where} is not translated yet (empty msgstr).")
    return out


def relink(markdown: str) -> str:
    """Relative link and image targets one folder deeper (``../docs/x.md`` -> ``../../docs/x.md``);
    absolute URLs, anchors and ``attachment:`` references stay as they are."""
    def fix(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.I):
            return match.group(0)
        return f"{match.group(1)}../{target}{match.group(3)}"
    markdown = re.sub(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))", fix, markdown)
    return re.sub(r"((?:src|href)=\")([^\"]+)(\")", fix, markdown)


def notebook_bytes(nb: dict) -> bytes:
    """A notebook as Jupyter writes it (indent 1, non-ASCII kept, trailing newline)."""
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def output_path(stem: str) -> Path:
    if stem in DOCUMENTS:
        return DOCUMENTS[stem][1]
    return OUT_NOTEBOOKS / f"{stem}.ipynb"


def render(stem: str) -> bytes:
    """The Chinese file for one source, or TranslationError naming every cell in the way."""
    src = sources()[stem]
    issues = problems(stem, src)
    if issues:
        raise TranslationError("cannot build the Chinese version:\n  " + "\n  ".join(issues))
    catalog = load_catalog(stem)
    if src.suffix != ".ipynb":
        blocks = markdown_blocks(src.read_text(encoding="utf-8"))
        return ("\n\n".join(catalog.get(block).string for _, block in blocks) + "\n").encode("utf-8")
    nb = read_notebook(src)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = relink(catalog.get(_cell_source(cell), context=cell["id"]).string)
            cell["source"] = text.splitlines(keepends=True)
    nb["metadata"]["language"] = LANGUAGE_TAG
    return notebook_bytes(nb)


def _write(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it holds them already; whether it wrote."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def _pick(stems: list[str]) -> list[str]:
    known = sources()
    for s in stems:
        if s not in known:
            raise SystemExit(f"{s!r} is not a notebook or document of the course; "
                             f"choose from: {', '.join(known)}")
    return stems


def cmd_update(stems: list[str]) -> int:
    for stem in _pick(stems) or list(sources()):
        catalog, counts = update_catalog(stem, sources()[stem])
        path = catalog_path(stem)
        _write(path, dump_catalog(catalog))
        print(f"{_name(path)}: {counts['kept']} kept, {counts['new']} new, "
              f"{counts['changed']} changed (fuzzy), {counts['obsolete']} obsolete")
    return 0


def message_problems(catalog: Catalog) -> list[str]:
    """The package's messages (checker hints, offline notice) without a reviewed translation."""
    from course_tools import translate_messages as tm

    out = []
    for text, where in tm.extract().items():
        m = catalog.get(text)
        if m is None or not m.string.strip() or m.fuzzy:
            state = "no translation" if m is None or not m.string.strip() else "a fuzzy translation"
            out.append(f"{where[0]}: message {text[:60]!r} has {state}; run `python -m "
                       "course_tools.translate messages` and translate it in "
                       f"{_name(tm.PO)}.")
    def fields(s: str) -> list[str]:
        return sorted(re.findall(r"\{[^{}]*\}", s.replace("{{", "").replace("}}", "")))

    for m in catalog:
        if m.id and m.string and not m.fuzzy and "{" in m.id:
            if fields(m.id) != fields(m.string):
                out.append(f"{_name(tm.PO)}: {m.id[:60]!r}: the translation's fields "
                           f"{fields(m.string)} differ from the English {fields(m.id)}")
    return out


def cmd_messages() -> int:
    from course_tools import translate_messages as tm

    catalog, counts = tm.update()
    _write(tm.PO, dump_catalog(catalog))
    print(f"{_name(tm.PO)}: {counts['kept']} kept, {counts['new']} new, {counts['fuzzy']} changed "
          f"(fuzzy), {counts['obsolete']} obsolete")
    return 0


def build_messages() -> list[str]:
    """Compile the package's catalog to .mo (reviewed entries only); its problems."""
    from course_tools import translate_messages as tm

    catalog = tm.load()
    if _write(tm.MO, tm.mo_bytes(catalog)):
        print(f"wrote {_name(tm.MO)}")
    return message_problems(catalog)


def cmd_build(stems: list[str], strict: bool) -> int:
    chosen = _pick(stems) or [s for s in sources() if strict or catalog_path(s).exists()]
    failed = [] if stems else build_messages()
    for stem in chosen:
        try:
            data = render(stem)
        except TranslationError as e:
            failed.append(str(e))
            continue
        if _write(output_path(stem), data):
            print(f"wrote {_name(output_path(stem))}")
    if failed:
        print("\n".join(failed), file=sys.stderr)
        return 1
    return 0


def progress(pairs: list[tuple[str, Message | None]]) -> str:
    """One line of ``status`` for (English, its catalog entry or ``None``) pairs: how many have a
    reviewed translation, with their English words and Chinese characters."""
    done = [(english, m) for english, m in pairs if m is not None and m.string.strip() and not m.fuzzy]
    words = sum(len(english.split()) for english, _m in done)
    chars = sum(len(re.findall(r"[\u4e00-\u9fff]", m.string)) for _e, m in done)
    return f"{len(done)}/{len(pairs)} translated, {words} English words, {chars} Chinese characters"


def cmd_status() -> int:
    """What the current English sources have translated (a cell changed since, or not yet in
    its catalog, counts as untranslated)."""
    from course_tools import translate_messages as tm

    groups: dict[str, list[tuple[str, Message | None]]] = {"notebooks (markdown cells)": [],
                                                           "documents (blocks)": []}
    for stem, path in sources().items():
        catalog = load_catalog(stem)
        pairs = [(u.source, catalog.get(u.source, context=u.context)) for u in units(path)]
        print(f"{stem}: {progress(pairs)}")
        groups["documents (blocks)" if stem in DOCUMENTS else "notebooks (markdown cells)"] += pairs
    for name, pairs in groups.items():
        print(f"all {name}: {progress(pairs)}")
    messages = tm.load()
    print(f"package messages: {progress([(text, messages.get(text)) for text in tm.extract()])}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.translate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("update", help="create or refresh the catalogs from the English sources")
    up.add_argument("stems", nargs="*")
    bu = sub.add_parser("build", help="write the Chinese notebooks and documents")
    bu.add_argument("stems", nargs="*")
    bu.add_argument("--strict", action="store_true",
                    help="every source must have a catalog (default: build those that have one)")
    sub.add_parser("messages", help="refresh the package's catalog (checker hints, offline notice)")
    sub.add_parser("status", help="what is translated: cells, blocks and messages, words and characters")
    args = parser.parse_args(argv)
    if args.command == "status":
        return cmd_status()
    if args.command == "messages":
        return cmd_messages()
    if args.command == "update":
        return cmd_update(args.stems)
    return cmd_build(args.stems, args.strict)


if __name__ == "__main__":
    raise SystemExit(main())
