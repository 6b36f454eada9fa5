"""The package's own messages for translators: what the code marks with ``_()`` or ``N_()``
(the studio, the widgets, ``describe()`` lines), the checkers' hints and the offline notice.

``extract()`` finds the marked messages with Babel's Python extractor (``{named}`` fields, as
the code fills them), in every module of ``course_utils`` and ``course_exercises``, and the
values shown through ``_()`` at run time (a run's ``stopped_reason``). For the checkers' hints,
which are still f-strings translated once finished (:func:`course_utils.i18n.translate`), it
reads the learner-facing strings out of ``course_exercises/*.py`` with Python's ``ast``
(what a checker raises, asserts, or passes to ``check`` as its name and its success message),
and the lines of ``features.NOTICE``. An f-string becomes a template with
numbered fields: ``f"expected {want:.3g}, got {got}"`` -> ``"expected {0}, got {1}"``; a
string constant inside a field (``" (hint)" if ... else ""``) is a message of its own. The
catalog is ``course_utils/locale/zh_CN/LC_MESSAGES/course_utils.po``, compiled to ``.mo``
(which the package reads with the standard library's gettext) by ``make zh``.
"""

from __future__ import annotations

import ast
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


def _template(node: ast.expr, extra: list[str]) -> str | None:
    """The template of a string expression (fields numbered in order), or None if it is not
    a string expression. String constants met inside fields go to ``extra``."""
    fields: list[str] = []

    def walk(n: ast.expr) -> str | None:
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            return n.value.replace("{", "{{").replace("}", "}}")
        if isinstance(n, ast.JoinedStr):
            out = ""
            for part in n.values:
                if isinstance(part, ast.Constant):
                    out += str(part.value).replace("{", "{{").replace("}", "}}")
                else:
                    out += field(part.value)
            return out
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add):
            left, right = walk(n.left), walk(n.right)
            if left is not None and right is not None:
                return left + right
            if left is not None or right is not None:
                return (left if left is not None else field(n.left)) + (
                    right if right is not None else field(n.right))
            return None
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and n.func.attr in ("rstrip", "strip") and not n.args):
            return walk(n.func.value)
        if _is_translate_call(n):  # i18n.translate(f"..."): the message inside
            return walk(n.args[0])
        return None

    def field(n: ast.expr) -> str:
        for sub in ast.walk(n):
            if isinstance(sub, (ast.Constant, ast.JoinedStr)):
                t = _template(sub, extra) if isinstance(sub, ast.JoinedStr) else (
                    sub.value if isinstance(sub.value, str) else None)
                if t and any(ch.isalpha() for ch in t) and not t.isidentifier():
                    extra.append(t if isinstance(sub, ast.JoinedStr) else t.replace("{", "{{").replace("}", "}}"))
        fields.append("")
        return "{" + str(len(fields) - 1) + "}"

    return walk(node)


def _is_translate_call(n: ast.AST) -> bool:
    return isinstance(n, ast.Call) and bool(n.args) and (
        getattr(n.func, "attr", None) == "translate" or getattr(n.func, "id", None) == "translate")


def _messages_in(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int]] = []

    def add(node: ast.expr | None, explicit: bool = False) -> None:
        """``explicit``: the code asked for a translation, so even a message of fields and
        punctuation only (``f"{name}: {message}"``) is one."""
        if node is None:
            return
        extra: list[str] = []
        t = _template(node, extra)
        for s in [t, *extra]:
            if s and (any(ch.isalpha() for ch in s) or (explicit and s is t and s.strip("{}0123456789"))):
                found.append((s, node.lineno))

    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name = getattr(node.exc.func, "id", "")
            if name == "AssertionError" and node.exc.args:
                add(node.exc.args[0])
        elif isinstance(node, ast.Assert):
            add(node.msg)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check":
            if node.args:
                add(node.args[0])
            if len(node.args) >= 4:
                add(node.args[3])
            for kw in node.keywords:
                if kw.arg in ("name", "success"):
                    add(kw.value)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "not_yet" for t in node.targets):
            add(node.value)
        elif _is_translate_call(node):
            add(node.args[0], explicit=True)
    return found


def notice_messages() -> list[str]:
    """The offline notice's title and text (its lines, one message), and the one-line notice."""
    from course_utils import features, i18n

    title, lines = i18n.box_lines(features.NOTICE)
    return [title, "\n".join(lines), features.SHORT_NOTICE]


def marked() -> dict[str, list[str]]:
    """The messages the code marks with ``_()`` or ``N_()`` -> where (``file:line``)."""
    out: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")) + SOURCES:
        for line, text, _comments, _context in extract_from_file(
                "python", path, keywords={"_": None, "N_": None}, strip_comment_tags=True):
            out.setdefault(text, []).append(f"{path.relative_to(ROOT).as_posix()}:{line}")
    from course_utils import loop

    for reason in (*loop.STOP_REASONS, "recovered"):  # _(result.stopped_reason) in describe()
        out.setdefault(reason, []).append("course_utils/loop.py (STOP_REASONS)")
    return out


def extract() -> dict[str, list[str]]:
    """Every learner-facing message -> where it comes from (``file:line``)."""
    out = marked()
    for path in SOURCES:
        for text, line in _messages_in(path):
            out.setdefault(text, []).append(f"{path.relative_to(ROOT).as_posix()}:{line}")
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
                            "# the checkers' hints and the offline notice. {name} and {0}, {1}, ... are the values\n"
                            "# the English message holds: keep each field, in any order.\n"
                            "# Refresh with: python -m course_tools.translate messages")
    return fresh, counts


def mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()
