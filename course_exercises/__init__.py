"""Checkers for the notebooks' exercises, one module per notebook (``ex01``, ``ex02``, …).

Every checker takes the learner's answer and returns a :class:`CheckResult`:

* a correct answer prints a green tick and returns ``passed=True``;
* an answer that is still the unfinished template (``None``, ``...`` or a function that
  raises ``NotImplementedError``) prints what to do and returns ``passed=False`` without
  raising, so that "Run all" still reaches the end of the notebook;
* a wrong answer raises ``AssertionError`` with a hint, as a failing test would.
"""

from ._core import CheckResult, NotAttempted, check

__all__ = ["CheckResult", "NotAttempted", "check"]
