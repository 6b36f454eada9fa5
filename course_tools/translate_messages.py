"""The package's own messages for translators: what the code marks with ``_()`` or ``N_()``
(the studio, the widgets, ``describe()`` lines, the checkers' hints) and the offline notice.

``extract()`` finds the marked messages with Babel's Python extractor (``{named}`` fields, as
the code fills them), in every module of ``course_utils`` and ``course_exercises``, the values
shown through ``_()`` at run time (a run's ``stopped_reason``), and the lines of
``features.NOTICE``. The catalog is ``course_utils/locale/zh_CN/LC_MESSAGES/course_utils.po``,
compiled to ``.mo`` (which the package reads with the standard library's gettext) by ``make zh``.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "course_utils"
SOURCES = sorted((ROOT / "course_exercises").glob("*.py"))
PO = PACKAGE / "locale" / "zh_CN" / "LC_MESSAGES" / "course_utils.po"
MO = PO.with_suffix(".mo")


def notice_messages() -> list[str]:
    """The offline notice's title and text (its lines, one message), and the one-line notice."""
    from course_utils import features, i18n

    title, lines = i18n.box_lines(features.NOTICE)
    return [title, "\n".join(lines), features.SHORT_NOTICE]


def extract() -> dict[str, list[str]]:
    """Every learner-facing message -> where it comes from (``file:line``): what the code
    marks with ``_()`` or ``N_()``, the run's stop reasons and the offline notice."""
    out: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")) + SOURCES:
        for line, text, _comments, _context in extract_from_file(
                "python", path, keywords={"_": None, "N_": None}, strip_comment_tags=True):
            out.setdefault(text, []).append(f"{path.relative_to(ROOT).as_posix()}:{line}")
    from course_utils import loop

    for reason in (*loop.STOP_REASONS, "recovered"):  # _(result.stopped_reason) in describe()
        out.setdefault(reason, []).append("course_utils/loop.py (STOP_REASONS)")
    for text in notice_messages():
        out.setdefault(text, []).append("course_utils/features.py (NOTICE)")
    return out


def load() -> Catalog:
    if not PO.exists():
        return Catalog(locale="zh_CN", domain="course_utils")
    with PO.open("rb") as f:
        return read_po(f, locale="zh_CN", domain="course_utils")


def update() -> tuple[Catalog, dict[str, int]]:
    """The catalog refreshed from the sources: translations kept, new messages added empty
    (or fuzzy with the closest old translation as a hint), vanished ones made obsolete."""
    from course_tools.translate import new_catalog

    old = load()
    olds = {m.id: m for m in old if m.id}
    fresh = new_catalog("course_utils")
    counts = {"kept": 0, "new": 0, "fuzzy": 0, "obsolete": 0}
    used = set()
    for text, where in extract().items():
        m = Message(text, "", locations=[(w.split(":")[0].split(" ")[0], None) for w in where],
                    flags={"python-brace-format"} if re.search(r"\{\w*[}:!]", text) else set())
        if text in olds:
            m.string, m.flags = olds[text].string, set(olds[text].flags) | m.flags
            used.add(text)
            counts["kept"] += 1
        else:
            close = difflib.get_close_matches(text, [k for k in olds if k not in used], n=1, cutoff=0.7)
            if close and olds[close[0]].string:
                m.string, m.previous_id = olds[close[0]].string, [close[0]]
                m.flags.add("fuzzy")
                counts["fuzzy"] += 1
            else:
                counts["new"] += 1
        fresh[text] = m
    for text, m in olds.items():
        if text not in used and m.string:
            fresh.obsolete[text] = m
            counts["obsolete"] += 1
    fresh.header_comment = ("# The learner package's messages in Chinese: the studio, the widgets, describe() lines,\n"
                            "# the checkers' hints and the offline notice. {name}, {got!r}, {diff:.3f}, ... are the\n"
                            "# values the English message holds: keep each field as it is, in any order.\n"
                            "# Refresh with: python -m course_tools.translate messages")
    return fresh, counts


def mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()
