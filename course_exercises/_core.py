"""What every checker shares: the verdict, the template test and the comparisons."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from course_utils.i18n import N_
from course_utils.i18n import localised as _

# A verdict is feedback only: grades come from nbgrader's graded test cells
# (course_tools.classroom), never from anything the learner's kernel prints or writes.


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


def answered(value: Any) -> Any:
    """``value``; :class:`NotAttempted` for a template's placeholder (``None`` or ``...``)."""
    if value is None or value is Ellipsis:
        raise NotAttempted
    return value


def same(got: torch.Tensor, want: torch.Tensor, atol: float = 1e-4, rtol: float = 1e-5) -> bool:
    """The same shape and values; a float64 answer is as right as a float32 one."""
    got, want = got.detach().float(), want.detach().float()
    return got.shape == want.shape and torch.allclose(got, want, rtol=rtol, atol=atol)


def as_number(value: Any) -> Any:
    """A NumPy scalar or a one-number tensor as the Python int or float it holds; anything
    else unchanged (for the checker's own hint)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def check(name: str, answer: Any, test: Callable[[Any], None], success: str) -> CheckResult:
    """Run ``test(answer)`` and print the verdict in the notebook's language (``name`` and
    ``success`` are messages marked ``N_()``; ``test``'s hints are already ``_()``-translated).

    ``test`` raises ``AssertionError`` (with a hint) when the answer is wrong, which goes on
    to the learner, and :class:`NotAttempted` (or ``NotImplementedError``) when it is still
    the template, which becomes a friendly "not yet" result so that "Run all" goes on.
    """
    not_yet = N_("not attempted yet: fill in the cell above and run it again.")
    try:
        test(answered(answer))
    except (NotAttempted, NotImplementedError):
        result = CheckResult(name, False, not_yet)
    except AssertionError as exc:
        raise AssertionError(_("{name}: not quite. {hint}").format(name=_(name), hint=exc)) from None
    else:
        result = CheckResult(name, True, success)
    verdict = _("{name}: {message}").format(name=_(result.name), message=_(result.message))
    print(("✅ " if result.passed else "✏️ ") + verdict)
    return result
