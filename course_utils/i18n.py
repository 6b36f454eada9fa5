"""The learner's messages in the notebook's language: the studio, the widgets, the checkers'
hints, ``describe()`` lines and the offline notice.

The Chinese notebooks (``notebooks/zh/``) run the same code cells as the English ones, so the
language cannot come from a cell. It comes, in this order, from:

1. ``COURSE_LANG`` (``zh`` or ``en``), when it is set;
2. the notebook JupyterLab is running (``JPY_SESSION_NAME``): its metadata ``"language"``,
   which ``make zh`` sets to ``zh-CN``;
3. the kernel's working folder: Jupyter and nbval start a kernel in its notebook's folder,
   so a kernel started in ``notebooks/zh/`` speaks Chinese.

Otherwise English. Code marks a message with ``_()`` (:func:`localised`, imported as ``_``, as
Python's own ``gettext`` is) where it is shown, with named fields filled in afterwards::

    _("Running {steps} steps…").format(steps=total)

(:func:`N_` marks a message kept in a constant, translated later by ``_()``). The messages are
extracted with Babel (``python -m course_tools.translate messages``) into one gettext catalog,
``course_utils/locale/zh_CN/LC_MESSAGES/course_utils.po``, compiled to ``.mo`` by ``make zh``.
A message with no entry stays English.

Matplotlib draws Chinese with the first CJK font it finds (:func:`cjk_font`); figure titles
written by the notebooks' code cells stay English in both languages.
"""

from __future__ import annotations

import functools
import gettext
import json
import os
import unicodedata
from pathlib import Path

DOMAIN = "course_utils"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "zh")
#: CJK fonts tried in order: Linux (Noto, Source Han, WenQuanYi), Windows, macOS.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC",
             "Hiragino Sans GB", "Arial Unicode MS")


@functools.lru_cache(maxsize=16)
def _from_metadata(notebook: str) -> str | None:
    path = Path(notebook)
    if path.suffix != ".ipynb" or not path.is_file():
        return None
    try:
        tag = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("language", "")
    except (OSError, ValueError):
        return None
    return "zh" if str(tag).lower().startswith("zh") else "en"


def language() -> str:
    """``"zh"`` or ``"en"``: the language of the notebook this kernel runs (see the module's
    docstring for how it is found)."""
    chosen = os.environ.get("COURSE_LANG", "").strip().lower()
    if chosen:
        code = chosen.replace("_", "-").split("-")[0]
        if code not in LANGUAGES:
            raise ValueError(f"COURSE_LANG={chosen!r} is not a course language: use one of {', '.join(LANGUAGES)}.")
        return code
    session = os.environ.get("JPY_SESSION_NAME")
    found = _from_metadata(session) if session else None
    if found:
        return found
    cwd = Path.cwd()
    return "zh" if cwd.name == "zh" and cwd.parent.name == "notebooks" else "en"


@functools.cache
def catalog(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of one language (English: messages pass through)."""
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[{"zh": "zh_CN"}.get(lang, lang)])


def localised(message: str) -> str:
    """``message`` in the notebook's language (unchanged without a catalog entry); fill its
    ``{named}`` fields after translating. Modules import it as ``_``, gettext's way:
    ``from .i18n import localised as _``, then ``_("{n} steps").format(n=n)``."""
    lang = language()
    return message if lang == "en" or not message else catalog(lang).gettext(message)


def N_(message: str) -> str:
    """Mark a message for the catalog without translating it yet (constants, option labels)."""
    return message


def translate(message: str, lang: str | None = None) -> str:
    """A finished message (the offline notice, drawn as a box or on one line) in the notebook's
    language; unchanged when the catalog has no entry for it."""
    lang = language() if lang is None else lang
    if lang == "en" or not message:
        return message
    if _is_box(message):
        return _translate_box(message, lang)
    return catalog(lang).gettext(message)


# -- the offline notice's box ----------------------------------------------------------------


def width(text: str) -> int:
    """Columns ``text`` takes in a monospaced font (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _is_box(message: str) -> bool:
    lines = message.splitlines()
    return len(lines) >= 3 and lines[0].startswith("+") and lines[-1].startswith("+") and all(
        line.startswith("| ") for line in lines[1:-1])


def box_lines(message: str) -> tuple[str, list[str]]:
    """The title and the text lines of a notice drawn as a box."""
    lines = message.splitlines()
    title = lines[0].strip("+=").strip()
    return title, [line[2:].rstrip("| ").rstrip() for line in lines[1:-1]]


def _translate_box(message: str, lang: str) -> str:
    title, lines = box_lines(message)
    title = translate(title, lang)
    lines = translate("\n".join(lines), lang).splitlines()
    inner = max(max(width(line) for line in lines) + 2, width(title) + 6)
    pad = inner - width(title) - 2
    top = "+" + "=" * (pad // 2) + f" {title} " + "=" * (pad - pad // 2) + "+"
    body = ["| " + line + " " * (inner - 2 - width(line)) + " |" for line in lines]
    return "\n".join([top, *body, "+" + "=" * inner + "+"])


# -- figures ----------------------------------------------------------------------------------


_CJK_FILES = ("notosanscjk", "sourcehansans", "wqy-", "msyh", "simhei", "pingfang", "stheiti")


def cjk_font() -> str | None:
    """The first installed CJK font of :data:`CJK_FONTS`, appended to Matplotlib's font
    families as a fallback (Latin text keeps its font; a glyph it lacks comes from the CJK
    font); None if there is none."""
    import matplotlib as mpl
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed & set(CJK_FONTS):  # installed after Matplotlib cached its font list?
        for path in font_manager.findSystemFonts():
            if any(key in Path(path).name.lower() for key in _CJK_FILES):
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            families = list(mpl.rcParams["font.family"])
            if name not in families:
                mpl.rcParams["font.family"] = [*families, name]
            return name
    return None


if language() == "zh":  # a Chinese notebook: let Matplotlib draw Chinese text
    cjk_font()
