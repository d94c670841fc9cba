"""The named rounding rules behave as published figures need."""

from decimal import Decimal

import numpy as np
import pytest

from evaluation.scoring.rounding import Rounding, to_decimal


def test_half_up_rounds_halves_away_from_zero_despite_binary_floats():
    rule = Rounding(places=2, mode="ROUND_HALF_UP")
    # 2.675 and 1.005 are stored just below the half; 85.125 is exact. All go up.
    values = np.array([2.675, 1.005, 85.125, -2.675, 0.125 + 85.0])
    assert rule.array(values).tolist() == [2.68, 1.01, 85.13, -2.68, 85.13]


def test_half_up_on_float_sums_uses_the_intended_decimal_value():
    rule = Rounding()
    total = 0.1 + 0.2 + 59.825 - 0.3  # 59.825 with float noise
    assert rule.number(total) == 59.83


def test_round_down_truncates():
    assert Rounding(places=2, mode="ROUND_DOWN").array(np.array([59.139, -1.019])).tolist() \
        == [59.13, -1.01]


def test_nan_stays_nan():
    assert np.isnan(Rounding().array(np.array([np.nan]))[0])


def test_decimal_rounding_uses_the_named_mode():
    assert Rounding().decimal(Decimal("19.925")) == Decimal("19.93")
    assert Rounding(mode="ROUND_DOWN").decimal(Decimal("19.929")) == Decimal("19.92")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown rounding mode"):
        Rounding(mode="ROUND_CEILING")


def test_to_decimal_reads_what_a_person_wrote():
    assert to_decimal(0.97) == Decimal("0.97")
    assert to_decimal("7.5") == Decimal("7.5")
    assert to_decimal(3) == Decimal(3)
    with pytest.raises(TypeError):
        to_decimal(True)
    with pytest.raises(ValueError):
        to_decimal("seven")
    with pytest.raises(ValueError):
        to_decimal("NaN")
