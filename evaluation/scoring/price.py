"""Price formulas as pure functions over Decimal money.

Each function states the article it comes from and how sure we are of it, using the labels of
shared/rules.md (seen, seen-2nd, recalled, inferred). Money is never rounded here unless the rule
says so; scores are rounded with the method's named rule (see ``rounding.Rounding``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from .rounding import Rounding

HUNDRED = Decimal(100)


def small_enterprise_price(price: Decimal, rate: Decimal) -> Decimal:
    """Evaluated price after the small-enterprise deduction (小微企业价格扣除).

    ``eval_price = price × (1 − d)``; d is 10–20% for goods and services (2022 notice) and 3–5% for
    works (财库〔2020〕46号). The deducted price is used both for the base and for the score.
    [seen-2nd] Not rounded: the rule names no rounding for the evaluated price.
    """
    if not Decimal(0) <= rate < Decimal(1):
        raise ValueError(f"a deduction rate must be at least 0 and below 1, not {rate}")
    return price * (Decimal(1) - rate)


def adjusted_price(base_price: Decimal, percent_units: Sequence[tuple[Decimal, Decimal]] = (),
                   amount_units: Sequence[tuple[Decimal, Decimal]] = ()) -> Decimal:
    """Price adjustment for 经评审的最低投标价法 (评标委员会和评标方法暂行规定第32条). [recalled]

    The tender documents name each adjustment; for example a minor deviation that the bidder did not
    correct is quantified against it (第26条). Each ``(percent, units)`` pair adds
    ``base_price × percent / 100 × units``; each ``(amount, units)`` pair adds ``amount × units``.
    """
    total = base_price
    for percent, units in percent_units:
        total += base_price * percent / HUNDRED * units
    for amount, units in amount_units:
        total += amount * units
    return total


def lowest_price_base(evaluated_prices: Sequence[Decimal]) -> Decimal:
    """评标基准价 of the 低价优先法: the lowest evaluated price among compliant bids.

    87号令第55条 [seen-2nd]."""
    if not evaluated_prices:
        raise ValueError("no compliant bid: the lowest-price base is undefined")
    return min(evaluated_prices)


def price_score_lowest_price_base(evaluated_price: Decimal, base: Decimal, price_weight: Decimal,
                                  rounding: Rounding) -> Decimal:
    """Price score by the lowest-price base (低价优先法), 87号令第55条. [seen-2nd]

    ``score = base / price × PW``, rounded once at the end with the method's rule. Worked example
    (PW = 20, base 2,288,231.72): 2,296,472.00 scores 19.93.
    """
    if evaluated_price <= 0:
        raise ValueError(f"an evaluated price must be positive, not {evaluated_price}")
    return rounding.decimal(base * price_weight / evaluated_price)


class TrimRule(StrEnum):
    """How bids are trimmed before averaging for the benchmark price."""

    NONE = "none"
    ONE_EACH_ABOVE_THREE = "one_each_above_3"
    PERCENT_EACH = "percent_each"


@dataclass(frozen=True)
class BenchmarkParams:
    """Parameters of the works benchmark-price method (综合评估法 price part).

    ``smax`` points at the benchmark, minus ``a`` per 1% above it and ``b`` per 1% below it, never
    below ``smin``. ``k`` is the downward coefficient (下浮系数); ``None`` means it is drawn during
    the opening and must be filled in (``dataclasses.replace``) before the benchmark is computed.
    """

    k: Decimal | None
    a: Decimal
    b: Decimal
    smax: Decimal
    smin: Decimal
    trim: TrimRule = TrimRule.ONE_EACH_ABOVE_THREE
    trim_percent: Decimal = Decimal(20)
    trim_percent_min_bids: int = 7

    def __post_init__(self) -> None:
        if self.k is not None and self.k <= 0:
            raise ValueError(f"K must be positive, not {self.k}")
        if self.a < 0 or self.b < 0:
            raise ValueError("deduction points a and b must not be negative")
        if not Decimal(0) <= self.smin <= self.smax:
            raise ValueError(f"need 0 ≤ Smin ≤ Smax, got Smin={self.smin}, Smax={self.smax}")
        if not Decimal(0) < self.trim_percent < Decimal(50):
            raise ValueError(f"trim percent must be above 0 and below 50, not {self.trim_percent}")


@dataclass(frozen=True)
class Benchmark:
    """The benchmark computation, kept whole for the report's price table."""

    average: Decimal          # A, rounded with the method's rule
    k: Decimal
    benchmark: Decimal        # B = A × K, rounded with the method's rule
    averaged: tuple[int, ...]  # positions (in the input) of the bids that entered A
    trimmed: tuple[int, ...]   # positions dropped by the trimming rule


def bids_in_average(prices: Sequence[Decimal], params: BenchmarkParams) -> tuple[int, ...]:
    """Positions of the bids that enter the average A.

    From the evaluation-system template in rules.md §3 [seen]: with more than 3 valid bids drop one
    highest and one lowest; with 3, average all three. Some rules drop the top and bottom 20% when
    there are 7 or more bids; we drop ``floor(n × percent / 100)`` from each end then [inferred:
    the count is not stated], and one each for 4 to 6 bids. Fewer than 3 bids: all of them
    [inferred]. Equal prices are dropped in input order, which leaves A unchanged.
    """
    n = len(prices)
    order = sorted(range(n), key=lambda i: (prices[i], i))
    if params.trim is TrimRule.NONE or n <= 3:
        drop = 0
    elif params.trim is TrimRule.PERCENT_EACH and n >= params.trim_percent_min_bids:
        drop = int(Decimal(n) * params.trim_percent / HUNDRED)
    else:
        drop = 1
    return tuple(sorted(order[drop:n - drop]))


def benchmark_price(prices: Sequence[Decimal], params: BenchmarkParams,
                    rounding: Rounding) -> Benchmark:
    """评标基准价 of the works benchmark method. [seen in an evaluation-system template]

    ``prices`` are the valid bids: passed preliminary review and at or below the ceiling price.
    A = mean of the bids left after trimming, rounded; B = A × K, rounded. Worked example: 920, 950,
    980, 1000, 1050 → A = 976.67; K = 0.97 → B = 947.37. Rounding A and B to the published cent
    reproduces the published scores, and so does keeping them exact; we round because the report
    prints A and B and every reader must be able to recompute the scores from the printed figures.
    """
    if not prices:
        raise ValueError("no valid bid: the benchmark price is undefined")
    if params.k is None:
        raise ValueError("K has not been drawn yet: the benchmark price needs it")
    kept = bids_in_average(prices, params)
    average = rounding.decimal(sum((prices[i] for i in kept), Decimal(0)) / len(kept))
    benchmark = rounding.decimal(average * params.k)
    trimmed = tuple(i for i in range(len(prices)) if i not in kept)
    return Benchmark(average=average, k=params.k, benchmark=benchmark, averaged=kept,
                     trimmed=trimmed)


def price_deviation_percent(price: Decimal, benchmark: Decimal) -> Decimal:
    """``d_i = 100 × (P_i − B) / B``. Deliberately not rounded: rounding d to 2 places would turn
    the worked example's 57.93 (bid 980) into 57.94."""
    if benchmark <= 0:
        raise ValueError(f"a benchmark price must be positive, not {benchmark}")
    return HUNDRED * (price - benchmark) / benchmark


def price_score_benchmark(price: Decimal, benchmark: Decimal, params: BenchmarkParams,
                          rounding: Rounding) -> Decimal:
    """``S_i = Smax − a × d_i`` above B, ``Smax − b × |d_i|`` at or below, floor Smin, rounded.

    rules.md §3 [seen]. The variant (B = mean of all valid bids, 15 points at B, −0.2 per 1% above,
    −0.1 per 1% below, floor 10) is this same formula with K = 1, no trimming, Smax = 15, a = 0.2,
    b = 0.1, Smin = 10.
    """
    deviation = price_deviation_percent(price, benchmark)
    if deviation > 0:
        score = params.smax - params.a * deviation
    else:
        score = params.smax - params.b * -deviation
    return rounding.decimal(max(score, params.smin))


def cost_performance_quotient(non_price_score: Decimal, evaluated_price: Decimal,
                              price_unit: Decimal, rounding: Rounding) -> Decimal:
    """性价比法: the non-price score divided by the evaluated price. [recalled]

    财政部令第18号 (2004) 第52条: the summed score of every factor except price (technical,
    financial standing, reputation, performance record, service, responsiveness) divided by the
    bid price; the highest quotient wins. 18号令 was replaced by 87号令 in 2017, which keeps only
    最低评标价法 and 综合评分法; some non-tender procedures still use the quotient. ``price_unit``
    expresses the price in, e.g., 10,000 yuan (万元) so the quotient is readable.
    """
    if evaluated_price <= 0 or price_unit <= 0:
        raise ValueError("the evaluated price and the price unit must be positive")
    return rounding.decimal(non_price_score / (evaluated_price / price_unit))
