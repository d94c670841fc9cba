"""Price formulas: every worked example of rules.md §3 reproduces to the cent."""

from decimal import Decimal

import pytest

from evaluation.scoring.price import (BenchmarkParams, TrimRule, benchmark_price,
                                      bids_in_average, cost_performance_quotient,
                                      lowest_price_base, price_deviation_percent,
                                      price_score_benchmark, price_score_lowest_price_base,
                                      small_enterprise_price)
from evaluation.scoring.rounding import Rounding

D = Decimal
HALF_UP_2 = Rounding(places=2, mode="ROUND_HALF_UP")

GP_EXAMPLE = [("2288231.72", "20.00"), ("2296472.00", "19.93"), ("2299360.00", "19.90"),
              ("2311110.40", "19.80")]


@pytest.mark.parametrize(("price", "expected"), GP_EXAMPLE)
def test_lowest_price_base_reproduces_the_2016_result_notice(price, expected):
    base = lowest_price_base([D(p) for p, _ in GP_EXAMPLE])
    assert base == D("2288231.72")
    assert price_score_lowest_price_base(D(price), base, D(20), HALF_UP_2) == D(expected)


def test_small_enterprise_deduction_feeds_both_the_base_and_the_score():
    # A small enterprise bidding 1,100,000 with d = 10% is evaluated at 990,000, which becomes the
    # base: it scores the full 30, and the 1,000,000 bid scores 990/1000 × 30 = 29.70.
    small = small_enterprise_price(D("1100000"), D("0.10"))
    assert small == D("990000.00")
    base = lowest_price_base([small, D("1000000")])
    assert base == small
    assert price_score_lowest_price_base(small, base, D(30), HALF_UP_2) == D("30.00")
    assert price_score_lowest_price_base(D("1000000"), base, D(30), HALF_UP_2) == D("29.70")


def test_deduction_rate_must_be_a_fraction():
    with pytest.raises(ValueError):
        small_enterprise_price(D(100), D("1.2"))


WORKS = BenchmarkParams(k=D("0.97"), a=D("0.6"), b=D("0.3"), smax=D(60), smin=D(30))


def test_benchmark_worked_example_average_and_benchmark():
    prices = [D(p) for p in (920, 950, 980, 1000, 1050)]
    result = benchmark_price(prices, WORKS, HALF_UP_2)
    assert result.average == D("976.67")
    assert result.benchmark == D("947.37")
    assert result.trimmed == (0, 4)
    assert result.averaged == (1, 2, 3)


@pytest.mark.parametrize(("price", "expected"), [(920, "59.13"), (950, "59.83"), (980, "57.93"),
                                                 (1000, "56.67"), (1050, "53.50")])
def test_benchmark_worked_example_scores(price, expected):
    prices = [D(p) for p in (920, 950, 980, 1000, 1050)]
    benchmark = benchmark_price(prices, WORKS, HALF_UP_2).benchmark
    assert price_score_benchmark(D(price), benchmark, WORKS, HALF_UP_2) == D(expected)


def test_deviation_is_not_rounded_before_scoring():
    # Rounding d to 3.44 would give 60 − 0.6 × 3.44 = 57.94 for the 980 bid; the rule gives 57.93.
    d = price_deviation_percent(D(980), D("947.37"))
    assert d.quantize(D("0.01")) == D("3.44")
    assert price_score_benchmark(D(980), D("947.37"), WORKS, HALF_UP_2) == D("57.93")


VARIANT = BenchmarkParams(k=D(1), a=D("0.2"), b=D("0.1"), smax=D(15), smin=D(10),
                          trim=TrimRule.NONE)


def test_variant_uses_the_mean_of_all_valid_bids():
    # B = (900 + 1000 + 1100 + 1300) / 4 = 1075.
    # 900: d = −16.279% → 15 − 1.628 = 13.37;  1000: d = −6.977% → 14.30;
    # 1100: d = +2.326% → 15 − 0.465 = 14.53;  1300: d = +20.930% → 15 − 4.186 = 10.81.
    prices = [D(p) for p in (900, 1000, 1100, 1300)]
    result = benchmark_price(prices, VARIANT, HALF_UP_2)
    assert result.benchmark == D("1075.00") and result.trimmed == ()
    scores = [price_score_benchmark(p, result.benchmark, VARIANT, HALF_UP_2) for p in prices]
    assert scores == [D("13.37"), D("14.30"), D("14.53"), D("10.81")]


def test_variant_floor_is_ten_points():
    # B = 1250; the 2000 bid is 60% above: 15 − 12 = 3, floored at 10. Bids 20% below get 13.
    prices = [D(p) for p in (1000, 1000, 1000, 2000)]
    benchmark = benchmark_price(prices, VARIANT, HALF_UP_2).benchmark
    assert price_score_benchmark(D(2000), benchmark, VARIANT, HALF_UP_2) == D("10.00")
    assert price_score_benchmark(D(1000), benchmark, VARIANT, HALF_UP_2) == D("13.00")


def test_bid_at_the_benchmark_scores_smax():
    assert price_score_benchmark(D("947.37"), D("947.37"), WORKS, HALF_UP_2) == D("60.00")


@pytest.mark.parametrize(("n", "dropped_each_end"), [(2, 0), (3, 0), (4, 1), (6, 1), (7, 1),
                                                     (10, 2), (14, 2), (15, 3)])
def test_trimming_by_number_of_bids_with_the_20_percent_rule(n, dropped_each_end):
    params = BenchmarkParams(k=D(1), a=D(1), b=D(1), smax=D(60), smin=D(0),
                             trim=TrimRule.PERCENT_EACH)
    prices = [D(1000 + 10 * i) for i in range(n)]
    kept = bids_in_average(prices, params)
    assert kept == tuple(range(dropped_each_end, n - dropped_each_end))


def test_one_each_rule_keeps_three_bids_whole_and_trims_four():
    assert bids_in_average([D(1), D(2), D(3)], WORKS) == (0, 1, 2)
    assert bids_in_average([D(4), D(1), D(3), D(2)], WORKS) == (2, 3)


def test_benchmark_needs_a_drawn_k_and_a_valid_bid():
    undrawn = BenchmarkParams(k=None, a=D(1), b=D(1), smax=D(60), smin=D(0))
    with pytest.raises(ValueError, match="K"):
        benchmark_price([D(100)], undrawn, HALF_UP_2)
    with pytest.raises(ValueError, match="no valid bid"):
        benchmark_price([], WORKS, HALF_UP_2)


def test_cost_performance_quotient_is_score_per_ten_thousand_yuan():
    # 80 points for 2,000,000 yuan = 200 (10,000 yuan units) → 0.4.
    quotient = cost_performance_quotient(D(80), D(2000000), D(10000), Rounding(places=4))
    assert quotient == D("0.4000")
