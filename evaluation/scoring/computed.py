"""Scores nobody types: objective items, evaluated prices and the price score.

They are computed once from the bid data and the opening record for the bidders that passed the
pass/fail stages, and are identical for every expert (rules.md §3). The price table keeps every
intermediate figure (base, A, K, B, deviations) because the evaluation report prints it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

import numpy as np

from .model import PRICE_ITEM_ID, BidderFacts, ItemKind, Method, SectionFacts
from .price import (Benchmark, BenchmarkParams, adjusted_price, benchmark_price,
                    lowest_price_base, price_deviation_percent, price_score_benchmark,
                    price_score_lowest_price_base, small_enterprise_price)
from .rules import read_field
from .rounding import to_decimal


@dataclass(frozen=True)
class PriceRow:
    """One bidder's line of the price computation table."""

    bidder: int
    bid_price: Decimal
    reviewed_price: Decimal
    evaluated_price: Decimal
    deduction_rate: Decimal | None
    adjustments: tuple[tuple[str, Decimal], ...]
    in_average: bool | None = None
    deviation_percent: Decimal | None = None
    score: Decimal | None = None


@dataclass(frozen=True)
class PriceTable:
    formula: str
    rows: tuple[PriceRow, ...]
    base: Decimal | None = None
    benchmark: Benchmark | None = None
    by_bidder: Mapping[int, PriceRow] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_bidder", MappingProxyType({r.bidder: r for r in self.rows}))

    def row(self, bidder: int) -> PriceRow:
        return self.by_bidder[bidder]


@dataclass(frozen=True)
class ComputedScores:
    """Computed scores of the passing bidders: ``item_scores`` is bidders × items, with NaN for
    subjective items and for bidders that did not pass."""

    passing: tuple[int, ...]
    item_scores: np.ndarray
    price_table: PriceTable

    def evaluated_price(self, bidder: int) -> Decimal:
        return self.price_table.row(bidder).evaluated_price


def price_row(method: Method, bidder: BidderFacts, index: int) -> PriceRow:
    """Bidder ``index``'s evaluated price, the price the method compares.

    Arithmetic correction first, then the small-enterprise deduction (财库〔2020〕46号) and the
    method's quantified adjustments (暂行规定第32条), both computed on the corrected price
    [inferred: the order is not stated; computing both on the same base makes it irrelevant].
    """
    reviewed = bidder.reviewed_price
    rate = method.price.deduction_rate if bidder.small_enterprise else None
    price = small_enterprise_price(reviewed, rate) if rate is not None else reviewed
    added: list[tuple[str, Decimal]] = []
    for adjustment in method.price.adjustments:
        units = to_decimal(read_field(bidder, adjustment.unit_field))
        if units < 0:
            raise ValueError(f"bidder {bidder.bidder_id}: {adjustment.unit_field} is negative")
        if adjustment.percent_per_unit is not None:
            amount = adjusted_price(reviewed, [(adjustment.percent_per_unit, units)]) - reviewed
        else:
            amount = adjusted_price(reviewed, (), [(adjustment.amount_per_unit or Decimal(0),
                                                    units)]) - reviewed
        added.append((adjustment.id, amount))
        price += amount
    return PriceRow(bidder=index, bid_price=bidder.price, reviewed_price=reviewed,
                    evaluated_price=price, deduction_rate=rate, adjustments=tuple(added))


def resolve_benchmark_params(method: Method, section: SectionFacts) -> BenchmarkParams:
    """The method's benchmark parameters, with K from the opening record when it is drawn there."""
    params = method.price.benchmark
    if params is None:
        raise ValueError(f"method {method.id} has no benchmark parameters")
    if params.k is not None:
        return params
    k = section.k_coefficient
    if k is None:
        raise ValueError(f"method {method.id} draws K at the opening; no K was recorded")
    low, high = method.price.k_range or (k, k)
    if not low <= k <= high:
        raise ValueError(f"K = {k} is outside the method's range {low}–{high}")
    return dataclasses.replace(params, k=k)


def compute_scores(method: Method, bidders: Sequence[BidderFacts], section: SectionFacts,
                   passing: Sequence[int]) -> ComputedScores:
    """Compute objective items, evaluated prices and price scores for the ``passing`` bidders."""
    passing = tuple(passing)
    for b in passing:
        if section.ceiling_price is not None and bidders[b].reviewed_price > section.ceiling_price:
            raise ValueError(f"bidder {bidders[b].bidder_id} bids {bidders[b].reviewed_price}, above the "
                             f"ceiling {section.ceiling_price}; compliance review must reject it")
    scores = np.full((len(bidders), len(method.items)), np.nan, dtype=np.float64)
    for i, item in enumerate(method.items):
        if item.kind is ItemKind.OBJECTIVE and item.rule is not None:
            for b in passing:
                scores[b, i] = float(item.rule.score(bidders[b]))
    rows = [price_row(method, bidders[b], b) for b in passing]
    table = _price_table(method, section, rows)
    if PRICE_ITEM_ID in method.item_index:
        column = method.item_index[PRICE_ITEM_ID]
        for row in table.rows:
            scores[row.bidder, column] = float(row.score) if row.score is not None else np.nan
    scores.setflags(write=False)
    return ComputedScores(passing=passing, item_scores=scores, price_table=table)


def _price_table(method: Method, section: SectionFacts, rows: list[PriceRow]) -> PriceTable:
    formula = method.price.formula
    if not rows:
        return PriceTable(formula=formula, rows=())
    prices = [r.evaluated_price for r in rows]
    if formula == "lowest_price_base":
        base = lowest_price_base(prices)
        weight = method.category("price").weight
        scored = [dataclasses.replace(r, score=price_score_lowest_price_base(
            r.evaluated_price, base, weight, method.rounding)) for r in rows]
        return PriceTable(formula=formula, rows=tuple(scored), base=base)
    if formula == "benchmark_price":
        params = resolve_benchmark_params(method, section)
        benchmark = benchmark_price(prices, params, method.rounding)
        scored = [dataclasses.replace(
            r, in_average=i in benchmark.averaged,
            deviation_percent=price_deviation_percent(r.evaluated_price, benchmark.benchmark),
            score=price_score_benchmark(r.evaluated_price, benchmark.benchmark, params,
                                        method.rounding)) for i, r in enumerate(rows)]
        return PriceTable(formula=formula, rows=tuple(scored), benchmark=benchmark)
    return PriceTable(formula=formula, rows=tuple(rows))


def fill_computed(method: Method, scores: np.ndarray, computed: ComputedScores) -> np.ndarray:
    """A copy of ``scores`` (experts × bidders × items) with every computed column written for
    every expert, so the array holds what each expert's score sheet shows."""
    filled = np.array(scores, dtype=np.float64, copy=True)
    columns = ~method.subjective_mask
    filled[:, :, columns] = computed.item_scores[np.newaxis, :, columns]
    return filled
