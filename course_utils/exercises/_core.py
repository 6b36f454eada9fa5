"""The machinery shared by every exercise checker."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: When this environment variable names a file, every checker verdict is appended to it as
#: one JSON line. ``python -m course_tools.classroom report`` sets it for the kernel that
#: runs a learner's notebook, so the report reads verdicts instead of parsing printed text.
LOG_ENV = "COURSE_EXERCISE_LOG"


class NotAttempted(Exception):
    """Raised inside a checker when the learner's answer is still the template."""


@dataclass(frozen=True)
class CheckResult:
    """What a checker found: ``passed`` is True only for a correct answer."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's result: :func:`check` has already printed the verdict."""


def is_template(answer: Any) -> bool:
    """True for the placeholders an unfinished exercise cell holds."""
    return answer is None or answer is Ellipsis


def _log_verdict(checker: str, name: str, status: str, message: str) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    record = {"checker": checker, "name": name, "status": status, "message": message}
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record, ensure_ascii=False) + "\n")


def check(name: str, answer: Any, test: Callable[[Any], None], success: str) -> CheckResult:
    """Run ``test(answer)``; turn a template answer into a friendly "not yet" result.

    ``test`` raises ``AssertionError`` (with a hint) when the answer is wrong and
    :class:`NotAttempted` (or ``NotImplementedError``) when it is still the template.
    """
    # The checker that called us (e.g. "ex04.check_total_loss"): how the exercise report
    # matches a verdict to the exercise it expected, whatever the display name says.
    caller = sys._getframe(1)
    checker = f"{caller.f_globals.get('__name__', '').rsplit('.', 1)[-1]}.{caller.f_code.co_name}"
    not_yet = "not attempted yet: fill in the cell above and run it again."
    if is_template(answer):
        result = CheckResult(name, False, not_yet)
    else:
        try:
            test(answer)
        except (NotAttempted, NotImplementedError):
            result = CheckResult(name, False, not_yet)
        except AssertionError as exc:
            _log_verdict(checker, name, "wrong", str(exc))
            raise AssertionError(f"{name}: not quite. {exc}") from None
        except Exception as exc:
            _log_verdict(checker, name, "error", f"{type(exc).__name__}: {exc}")
            raise
        else:
            result = CheckResult(name, True, success)
    _log_verdict(checker, name, "passed" if result.passed else "not attempted", result.message)
    print(("✅ " if result.passed else "✏️ ") + f"{result.name}: {result.message}")
    return result
