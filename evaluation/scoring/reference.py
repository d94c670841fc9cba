"""A straightforward pure-Python aggregate-and-rank, loop by loop.

It exists only as a yardstick: bench/bench_scoring.py times it against the numpy path, and a test
checks that both agree on random committees. It reads the same ``Method`` and computed scores and
follows the same rules (see aggregate.py and ranking.py), written the way one would on paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from .computed import ComputedScores
from .model import TECHNICAL_CATEGORY, BidderFacts, ItemKind, Method
from .price import cost_performance_quotient
from .ranking import DrawHook
from .rounding import Rounding

SNAP = Decimal("1e-8")


def _round(method: Method, value: float) -> float:
    snapped = Decimal(repr(value)).quantize(SNAP, rounding=ROUND_HALF_EVEN)
    return float(method.rounding.decimal(snapped))


def _average(values: list[float], trimmed: bool) -> float:
    if trimmed:
        return (sum(values) - max(values) - min(values)) / (len(values) - 2)
    return sum(values) / len(values)


def reference_totals(method: Method, scores: Sequence[Sequence[Sequence[float]]],
                     computed: ComputedScores) -> dict[int, tuple[list[float], float]]:
    """Rounded category scores and total for each passing bidder, from nested lists."""
    n_experts = len(scores)
    trimmed = (method.aggregation.rule.value == "trimmed_mean"
               and n_experts >= method.aggregation.trim_min_experts)
    fixed = computed.item_scores.tolist()
    result: dict[int, tuple[list[float], float]] = {}
    for b in computed.passing:
        categories = []
        for category in method.category_ids:
            members = [i for i, item in enumerate(method.items) if item.category == category]
            typed = [i for i in members if method.items[i].kind is ItemKind.SUBJECTIVE]
            constant = sum(fixed[b][i] for i in members if i not in typed)
            if method.aggregation.level == "item":
                value = constant + sum(_average([scores[e][b][i] for e in range(n_experts)],
                                                trimmed) for i in typed)
            else:
                subtotals = [sum(scores[e][b][i] for i in typed) for e in range(n_experts)]
                value = _average(subtotals, trimmed) + constant
            categories.append(_round(method, value))
        result[b] = (categories, _round(method, sum(categories)))
    return result


def reference_rank(method: Method, scores: Sequence[Sequence[Sequence[float]]],
                   computed: ComputedScores, bidders: Sequence[BidderFacts],
                   draw: DrawHook | None = None) -> list[tuple[int, int, float]]:
    """(bidder, rank, total) in ranked order, by the same rules as ``ranking.rank``."""
    totals = reference_totals(method, scores, computed)
    technical = (method.category_ids.index(TECHNICAL_CATEGORY)
                 if TECHNICAL_CATEGORY in method.category_ids else None)
    quotient_rounding = Rounding(method.price.quotient_places, method.rounding.mode)
    keys = {}
    for b in computed.passing:
        categories, total = totals[b]
        price = computed.evaluated_price(b)
        key: list[object] = []
        if method.formula.ranks_by == "total":
            key.append(-total)
        elif method.formula.ranks_by == "quotient":
            key.append(-cost_performance_quotient(Decimal(repr(total)), price,
                                                  method.price.price_unit, quotient_rounding))
        else:
            key.append(price)
        for name in method.tie_breaks:
            if name == "lower_bid_price":
                key.append(bidders[b].reviewed_price)
            elif name == "lower_evaluated_price":
                key.append(price)
            elif name == "higher_technical":
                key.append(-categories[technical] if technical is not None else 0.0)
        keys[b] = tuple(key)
    ordered = sorted(computed.passing, key=lambda b: (keys[b], b))
    result: list[tuple[int, int, float]] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and keys[ordered[j + 1]] == keys[ordered[i]]:
            j += 1
        group = ordered[i:j + 1]
        if len(group) > 1 and i < method.candidates and "draw" in method.tie_breaks and draw:
            by_id = {bidders[b].bidder_id: b for b in group}
            for offset, bidder_id in enumerate(draw(tuple(by_id))):
                result.append((by_id[bidder_id], i + offset + 1, totals[by_id[bidder_id]][1]))
        else:
            result.extend((b, i + 1, totals[b][1]) for b in group)
        i = j + 1
    return result
