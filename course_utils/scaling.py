"""How the cost of a step grows with the image: a fitted model and the size a budget allows.

Notebook 07 times steps at several sizes (:mod:`course_utils.perf`) and fits them here::

    fit = scaling.fit_quadratic(sides, seconds_per_step)   # a + c·side²
    scaling.largest_side(fit, seconds=60, steps=300)      # the largest side that fits
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np

from . import checks


@dataclass(frozen=True)
class QuadraticFit:
    """``value ≈ a + b·side + c·side²`` fitted by least squares; ``b`` is 0 unless the linear
    term was asked for. ``r2`` is the coefficient of determination (1 = a perfect fit)."""

    a: float
    b: float
    c: float
    r2: float

    def predict(self, side: float | Sequence[float] | np.ndarray) -> float | np.ndarray:
        """The fitted value at ``side`` (a number or an array of them)."""
        s = np.asarray(side, dtype=float)
        out = self.a + self.b * s + self.c * s**2
        return float(out) if out.ndim == 0 else out

    def __str__(self) -> str:
        lin = f" {self.b:+.3g}·side" if self.b else ""
        return f"{self.a:.3g}{lin} {self.c:+.3g}·side²  (R² = {self.r2:.3f})"


def fit_quadratic(sides: Sequence[float], values: Sequence[float], *, linear_term: bool = False,
                  nonnegative_overhead: bool = True) -> QuadraticFit:
    """Fit ``values ≈ a + c·side²`` (or ``a + b·side + c·side²`` with ``linear_term=True``).

    A convolutional network's work grows with the pixels, ``side²``, plus a fixed overhead
    ``a`` (launches, Python); R² says how well that model explains the measurements. ``sides``
    needs at least 3 distinct values (4 with the linear term), ``values`` one measurement
    each. With ``nonnegative_overhead``, a two-term fit whose ``a`` comes out below 0 (noisy
    timings) sets it to 0 and refits ``c`` alone.
    """
    s = np.asarray(sides, dtype=float)
    y = np.asarray(values, dtype=float)
    if s.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"sides and values must be two equally long lists, got {s.shape} and {y.shape}.")
    need = 4 if linear_term else 3
    if len(np.unique(s)) < need:
        raise ValueError(f"fit_quadratic needs at least {need} distinct sides, got {len(np.unique(s))}.")
    if not (np.isfinite(s).all() and np.isfinite(y).all()):
        raise ValueError("sides and values must be finite numbers (no NaN or infinity).")
    columns = [np.ones_like(s), s, s**2] if linear_term else [np.ones_like(s), s**2]
    design = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    if not linear_term and nonnegative_overhead and coef[0] < 0:  # noise, not overhead
        coef = np.concatenate([[0.0], np.linalg.lstsq(design[:, 1:], y, rcond=None)[0]])
    fitted = design @ coef
    ss_res = float(((y - fitted) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
    a, b, c = (coef[0], coef[1], coef[2]) if linear_term else (coef[0], 0.0, coef[1])
    return QuadraticFit(float(a), float(b), float(c), float(r2))


def largest_side(fit: QuadraticFit, seconds: float, steps: int) -> int:
    """The largest image side (px) whose ``steps`` steps fit in ``seconds`` by ``fit``
    (a fit of seconds per step against the side, with ``b == 0``); 0 if none does."""
    if fit.b != 0:
        raise ValueError("largest_side needs a fit without the linear term (fit_quadratic(..., linear_term=False)).")
    checks.count("steps", steps, 1)
    if not (isinstance(seconds, Real) and not isinstance(seconds, bool) and math.isfinite(seconds)
            and seconds > 0):
        raise ValueError(f"seconds must be a positive time budget, got {seconds!r}; e.g. 60.")
    per_step = seconds / steps - fit.a
    if per_step <= 0 or fit.c <= 0:
        return 0
    return int(math.floor(math.sqrt(per_step / fit.c)))


__all__ = ["QuadraticFit", "fit_quadratic", "largest_side"]
