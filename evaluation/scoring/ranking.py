"""Ranking and recommended candidates (中标候选人).

Order by the method's primary key: total score descending (综合评分法, 87号令第57条; 综合评估法),
quotient descending (性价比法), or evaluated price ascending (最低评标价法, 87号令第56条;
经评审的最低投标价法). Equal keys go through the method's tie-breaks in order: lower bid price,
higher technical score, ... Totals are compared as published, i.e. rounded.

A tie left after those is 并列 (shared rank) unless the method ends with ``draw``; then the caller's
draw hook orders the tied bidders. The hook gets the tied bidder ids and returns them in drawn
order; the caller runs and records a verifiable draw. Only ties that touch the candidate places are
drawn: a shared 9th place changes nothing. A tie that straddles the last candidate place and is not
drawn is reported as ``unresolved``, and the candidates stop above it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .aggregate import Aggregate, aggregate
from .computed import ComputedScores
from .model import TECHNICAL_CATEGORY, BidderFacts, Method
from .price import cost_performance_quotient
from .rounding import Rounding, to_decimal

DrawHook = Callable[[Sequence[str]], Sequence[str]]


@dataclass(frozen=True)
class RankedBidder:
    bidder: int
    bidder_id: str
    rank: int
    evaluated_price: Decimal
    total: float | None
    technical: float | None
    quotient: Decimal | None
    decided_by: str | None  # what placed it after the bidder above; None for the first


@dataclass(frozen=True)
class Ranking:
    order: tuple[RankedBidder, ...]
    candidates: tuple[int, ...]
    unresolved: tuple[int, ...]
    draws: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (tied ids, drawn order)


@dataclass(frozen=True)
class Evaluation:
    aggregate: Aggregate
    ranking: Ranking


def _primary(method: Method) -> str:
    return {"total": "total", "quotient": "quotient",
            "evaluated_price": "evaluated_price"}[method.formula.ranks_by]


def rank(method: Method, result: Aggregate, computed: ComputedScores,
         bidders: Sequence[BidderFacts], draw: DrawHook | None = None) -> Ranking:
    """Rank the aggregated bidders and pick the candidates."""
    technical_column = (method.category_ids.index(TECHNICAL_CATEGORY)
                        if TECHNICAL_CATEGORY in method.category_ids else None)
    quotient_rounding = Rounding(places=method.price.quotient_places, mode=method.rounding.mode)
    rows: dict[int, RankedBidder] = {}
    keys: dict[int, tuple[object, ...]] = {}
    primary = _primary(method)
    for position, b in enumerate(result.bidders):
        total = float(result.totals[position])
        price = computed.evaluated_price(b)
        technical = (float(result.category_scores[position, technical_column])
                     if technical_column is not None else None)
        quotient = None
        if primary == "quotient":
            quotient = cost_performance_quotient(to_decimal(total), price,
                                                 method.price.price_unit, quotient_rounding)
        values = {"total": -total, "quotient": -(quotient or 0), "evaluated_price": price,
                  "lower_bid_price": bidders[b].reviewed_price, "lower_evaluated_price": price,
                  "higher_technical": -(technical or 0.0)}
        keys[b] = (values[primary],) + tuple(values[t] for t in method.tie_breaks if t != "draw")
        rows[b] = RankedBidder(bidder=b, bidder_id=bidders[b].bidder_id, rank=0,
                               evaluated_price=price,
                               total=None if primary == "evaluated_price" else total,
                               technical=technical, quotient=quotient, decided_by=None)
    order = sorted(result.bidders, key=lambda b: (keys[b], b))
    groups = _tied_groups(order, keys)
    draws = []
    unresolved: tuple[int, ...] = ()
    settled: list[list[int]] = []
    start = 0
    for group in groups:
        if len(group) > 1 and start < method.candidates:
            if "draw" in method.tie_breaks and draw is not None:
                group, record = _run_draw(group, bidders, draw)
                draws.append(record)
                settled.extend([b] for b in group)
                start += len(group)
                continue
            if start + len(group) > method.candidates:
                unresolved = tuple(group)
        settled.append(group)
        start += len(group)
    return _finish(method, rows, keys, settled, draws, unresolved, primary)


def _tied_groups(order: list[int], keys: dict[int, tuple[object, ...]]) -> list[list[int]]:
    groups: list[list[int]] = []
    for b in order:
        if groups and keys[groups[-1][0]] == keys[b]:
            groups[-1].append(b)
        else:
            groups.append([b])
    return groups


def _run_draw(group: list[int], bidders: Sequence[BidderFacts], draw: DrawHook
              ) -> tuple[list[int], tuple[tuple[str, ...], tuple[str, ...]]]:
    ids = tuple(bidders[b].bidder_id for b in group)
    drawn = tuple(draw(ids))
    if sorted(drawn) != sorted(ids):
        raise ValueError(f"the draw returned {drawn}, not an ordering of the tied bidders {ids}")
    by_id = {bidders[b].bidder_id: b for b in group}
    return [by_id[i] for i in drawn], (ids, drawn)


def _finish(method: Method, rows: dict[int, RankedBidder], keys: dict[int, tuple[object, ...]],
            settled: list[list[int]], draws: list, unresolved: tuple[int, ...],
            primary: str) -> Ranking:
    names = (primary,) + tuple(t for t in method.tie_breaks if t != "draw")
    drawn_ids = {i for ids, _ in draws for i in ids}
    ranked: list[RankedBidder] = []
    previous: int | None = None
    position = 1
    for group in settled:
        for b in group:
            decided_by = None
            if previous is not None:
                pairs = zip(names, keys[previous], keys[b], strict=True)
                differing = [n for n, x, y in pairs if x != y]
                if differing:
                    decided_by = differing[0]
                elif rows[b].bidder_id in drawn_ids:
                    decided_by = "draw"
                else:
                    decided_by = "tied"
            row = rows[b]
            ranked.append(RankedBidder(bidder=b, bidder_id=row.bidder_id, rank=position,
                                       evaluated_price=row.evaluated_price, total=row.total,
                                       technical=row.technical, quotient=row.quotient,
                                       decided_by=decided_by))
            previous = b
        position += len(group)
    places = [r.bidder for r in ranked]
    if unresolved:
        cut = places.index(unresolved[0])
        candidates = tuple(places[:min(cut, method.candidates)])
    else:
        candidates = tuple(places[:method.candidates])
    return Ranking(order=tuple(ranked), candidates=candidates, unresolved=unresolved,
                   draws=tuple(draws))


def evaluate(method: Method, scores, computed: ComputedScores, bidders: Sequence[BidderFacts],
             draw: DrawHook | None = None) -> Evaluation:
    """Aggregate and rank in one call: what the committee's summary table shows."""
    result = aggregate(method, scores, computed)
    return Evaluation(aggregate=result, ranking=rank(method, result, computed, bidders, draw))
