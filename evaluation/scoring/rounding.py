"""Named rounding rules for money and scores.

Evaluation methods publish scores "保留两位小数，四舍五入": two places, halves away from zero
(Decimal's ROUND_HALF_UP). Some localities truncate instead ("第三位舍去", ROUND_DOWN). The rule is
named in each method template so the report can state it, and it is applied only where the method
says: to price scores, to benchmark averages, to category subtotals and to totals.

Scores live in float64 arrays. A float such as 85.125 may be stored as 85.12499999999999, which a
naive half-up would turn into 85.12. Before rounding, values are therefore snapped to
``SNAP_PLACES`` decimals of the scaled value. This is safe because a genuine score that is not on a
rounding boundary differs from it by far more than 1e-8: scores are multiples of an item step
averaged over at most a few dozen experts.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

ROUND_HALF_UP = "ROUND_HALF_UP"
ROUND_DOWN = "ROUND_DOWN"
ROUNDING_MODES = {ROUND_HALF_UP: decimal.ROUND_HALF_UP, ROUND_DOWN: decimal.ROUND_DOWN}
SNAP_PLACES = 6


def to_decimal(value: object) -> Decimal:
    """Turn an int, str, float or Decimal into an exact Decimal of what a person would write.

    Floats go through ``repr`` (the shortest string that round-trips), so 0.97 becomes
    Decimal('0.97'), not the binary expansion. Booleans are refused: True is not a number here.
    """
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not result.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return result
    raise TypeError(f"{type(value).__name__} is not a number")


@dataclass(frozen=True)
class Rounding:
    """A rounding rule: number of decimal places and a named mode."""

    places: int = 2
    mode: str = ROUND_HALF_UP

    def __post_init__(self) -> None:
        if self.mode not in ROUNDING_MODES:
            known = ", ".join(sorted(ROUNDING_MODES))
            raise ValueError(f"unknown rounding mode {self.mode!r}; known modes: {known}")
        if not 0 <= self.places <= 6:
            raise ValueError(f"rounding places must be between 0 and 6, not {self.places}")

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.places)

    def decimal(self, value: Decimal) -> Decimal:
        """Round an exact Decimal (money, price scores) with this rule."""
        return value.quantize(self.quantum, rounding=ROUNDING_MODES[self.mode])

    def number(self, value: float) -> float:
        """Round one float score with this rule, snapping float noise first."""
        return float(self.array(np.asarray([value], dtype=np.float64))[0])

    def array(self, values: np.ndarray) -> np.ndarray:
        """Round a float64 array elementwise with this rule; NaN stays NaN.

        The result is the float nearest to the decimal result, so ``repr`` of an element prints
        the published figure (e.g. 59.13).
        """
        scale = 10.0**self.places
        scaled = np.round(np.abs(values) * scale, SNAP_PLACES)
        if self.mode == ROUND_HALF_UP:
            whole = np.floor(scaled + 0.5)
        else:
            whole = np.floor(scaled)
        return np.copysign(whole / scale, values)

    def describe(self) -> str:
        words = {ROUND_HALF_UP: "四舍五入 (halves away from zero)", ROUND_DOWN: "截尾 (truncate)"}
        return f"{self.places} decimal places, {self.mode}: {words[self.mode]}"
