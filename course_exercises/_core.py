"""The machinery shared by every exercise checker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from course_utils import i18n

# A checker's verdict is feedback for the learner, nothing more: grades come from nbgrader's
# graded test cells (course_tools.classroom), which the grader restores and runs itself,
# never from anything the learner's kernel prints or writes.


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


def check(name: str, answer: Any, test: Callable[[Any], None], success: str) -> CheckResult:
    """Run ``test(answer)``; turn a template answer into a friendly "not yet" result.

    ``test`` raises ``AssertionError`` (with a hint) when the answer is wrong and
    :class:`NotAttempted` (or ``NotImplementedError``) when it is still the template.
    """
    not_yet = "not attempted yet: fill in the cell above and run it again."
    if is_template(answer):
        result = CheckResult(name, False, not_yet)
    else:
        try:
            test(answer)
        except (NotAttempted, NotImplementedError):
            result = CheckResult(name, False, not_yet)
        except AssertionError as exc:
            raise AssertionError(i18n.translate(f"{name}: not quite. {exc}")) from None
        else:
            result = CheckResult(name, True, success)
    # In the notebook's language (the hints of a notebook in notebooks/zh/ are Chinese).
    print(("✅ " if result.passed else "✏️ ") + i18n.translate(f"{result.name}: {result.message}"))
    return result
