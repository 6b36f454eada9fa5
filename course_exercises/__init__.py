"""The exercise checkers, one module per notebook (``ex00`` … ``ex07``).

A checker prints ✅ and returns a passing :class:`CheckResult` for a correct answer, returns a
failing one ("not attempted yet") for the untouched template so that "Run all" goes on, and
raises ``AssertionError`` with a hint for a wrong answer.
"""

from ._core import CheckResult, NotAttempted, check

__all__ = ["CheckResult", "NotAttempted", "check"]
