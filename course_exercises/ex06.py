"""Checkers for notebook 06 (the interactive studio)."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

from course_utils.i18n import N_
from course_utils.i18n import localised as _

from ._core import CheckResult, NotAttempted, check


def check_stop_callback(fn: Callable | None, threshold: float = 0.05) -> CheckResult:
    """Exercise 1: ``fn(step, image, losses)`` returns True once ``losses["style"] < 0.05``
    (strictly below: at exactly 0.05 the run keeps going)."""

    def test(f):
        image = torch.zeros(1, 3, 8, 8)
        try:
            # "total" varies, so that a test against the total instead of the style loss shows
            answers = {s: f(0, image, {"style": s, "content": 0.5, "tv": 0.01, "total": total})
                       for s, total in ((0.5, 4.0), (0.051, 0.3), (0.05, 2.0), (0.049, 0.3), (0.001, 4.0))}
        except TypeError as exc:
            raise AssertionError(_("the callback must take three arguments, (step, image, losses) "
                                   "({error})").format(error=exc)) from None
        if all(a is None for a in answers.values()):
            raise NotAttempted
        assert not answers[0.5] and not answers[0.051], _(
            "keep going while the style loss is still at or above 0.05")
        assert not answers[0.05], _(
            "at a style loss of exactly 0.05 the run must keep going: stop only when it is below 0.05 "
            "(use <, not <=)"
        )
        assert answers[0.049] and answers[0.001], _(
            "return True once the style loss itself, losses['style'], is below 0.05 (not compared with "
            "the total)")

    return check(N_("Exercise 1 (stop callback)"), fn, test,
                 N_("the run will stop as soon as the style is close enough."))


def check_safe_name(fn: Callable[[str], str] | None) -> CheckResult:
    """Exercise 2: ``fn(name)`` makes a harmless file name out of any upload name."""
    hostile = ["../../x.png", "..\\..\\evil.exe", "/etc/passwd", "Mona Lisa.PNG", "", "....", "a" * 300,
               "名字.jpg", "con:stream", "x/../../y"]

    def test(f):
        for name in hostile:
            out = f(name)
            assert isinstance(out, str), _("return a string, got {kind} for {name!r}").format(
                kind=type(out).__name__, name=name)
            assert out, _("never return an empty name (input {name!r}); fall back to something like "
                          "'image'").format(name=name)
            assert re.fullmatch(r"[a-z0-9_-]+", out), _(
                "{out!r} (from {name!r}) has characters other than a-z, 0-9, - and _").format(out=out, name=name)
            assert len(out) <= 40, _("{out!r} is longer than 40 characters").format(out=out)
            assert ".." not in out and "/" not in out
        # a harmless name is not enough: it must still say what the file was ...
        mona = f("Mona Lisa.PNG")
        assert "mona" in mona and "lisa" in mona, _(
            "keep the readable part of the name: 'Mona Lisa.PNG' gave {got!r}; expected something "
            "like 'mona-lisa-png' (lowercase the letters, replace the rest by '-')").format(got=mona)
        # ... and different uploads must not all get the same name
        normal = ["cat.png", "dog.png", "Mona Lisa.PNG", "holiday_2024.jpg", "IMG-0042.jpeg"]
        outs = {name: f(name) for name in normal}
        for i, a in enumerate(normal):
            for b in normal[i + 1:]:
                assert outs[a] != outs[b], _(
                    "different names must give different results: {a!r} and {b!r} both gave {got!r}").format(
                        a=a, b=b, got=outs[a])

    return check(N_("Exercise 2 (safe file name)"), fn, test, N_("no upload name can choose where a file goes."))
