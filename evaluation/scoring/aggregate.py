"""Aggregating the committee's scores into each bidder's score (rules.md §3, seen-2nd).

The bidder's score in a category is the arithmetic mean of the experts' subtotals in that category,
or, when the method says so and the committee has enough members (7 by default), the mean after
dropping the highest and the lowest subtotal. Objective and price items are taken from the computed
scores, never from what is stored for an expert, so a tampered or mistyped cell cannot change a
result (the live checks report it).

Rounding (named in the method): each category score is rounded, and the total is the sum of the
rounded category scores, so the columns of the published summary add up exactly. Item means are
kept unrounded for the report's detail tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .computed import ComputedScores
from .model import Aggregation, Method


class IncompleteScores(ValueError):
    """Scores cannot be aggregated while an expert has not scored an item."""

    def __init__(self, missing: list[tuple[int, int, str]]) -> None:
        shown = ", ".join(f"expert {e} / bidder {b} / {i}" for e, b, i in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        super().__init__(f"{len(missing)} scores not entered yet: {shown}{more}")
        self.missing = missing


@dataclass(frozen=True)
class Aggregate:
    """Aggregated scores of the passing bidders, rows in ``bidders`` order.

    ``expert_subtotals`` is experts × bidders × categories (each expert's sheet, unrounded);
    ``category_scores`` bidders × categories and ``totals`` bidders, rounded by the method's rule.
    """

    bidders: tuple[int, ...]
    trimmed: bool
    item_means: np.ndarray
    expert_subtotals: np.ndarray
    category_scores: np.ndarray
    totals: np.ndarray

    def total(self, bidder: int) -> float:
        return float(self.totals[self.bidders.index(bidder)])


def is_trimmed(method: Method, n_experts: int) -> bool:
    rule = method.aggregation
    return rule.rule is Aggregation.TRIMMED_MEAN and n_experts >= rule.trim_min_experts


def _mean_over_experts(values: np.ndarray, trimmed: bool) -> np.ndarray:
    """Mean over axis 0, or the mean after dropping one highest and one lowest value."""
    n = values.shape[0]
    if not trimmed:
        return values.sum(axis=0) / n
    return (values.sum(axis=0) - values.max(axis=0) - values.min(axis=0)) / (n - 2)


def aggregate(method: Method, scores: np.ndarray, computed: ComputedScores) -> Aggregate:
    """Aggregate ``scores`` (experts × bidders × items) for ``computed.passing`` bidders.

    Raises ``IncompleteScores`` when a passing bidder lacks a subjective score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_experts = scores.shape[0]
    if scores.ndim != 3 or scores.shape[2] != len(method.items) or n_experts == 0:
        raise ValueError(f"scores must be experts × bidders × {len(method.items)} items, "
                         f"not {scores.shape}")
    passing = np.asarray(computed.passing, dtype=np.intp)
    subjective = np.flatnonzero(method.subjective_mask)
    computed_columns = np.flatnonzero(~method.subjective_mask)
    typed = _passing_rows(scores, passing)[:, :, subjective]
    holes = np.isnan(typed)
    if holes.any():
        missing = [(int(e), int(passing[b]), method.item_ids[subjective[k]])
                   for e, b, k in zip(*np.nonzero(holes))]
        raise IncompleteScores(missing)

    n_categories = len(method.categories)
    onehot = np.zeros((len(method.items), n_categories))
    onehot[np.arange(len(method.items)), method.item_category] = 1.0
    fixed = computed.item_scores[passing][:, computed_columns]
    fixed_subtotals = fixed @ onehot[computed_columns]
    typed_subtotals = typed @ onehot[subjective]
    expert_subtotals = typed_subtotals + fixed_subtotals[np.newaxis]
    trimmed = is_trimmed(method, n_experts)

    item_means = np.empty((len(passing), len(method.items)))
    item_means[:, computed_columns] = fixed
    if method.aggregation.level == "item":
        item_means[:, subjective] = _mean_over_experts(typed, trimmed)
        category_raw = item_means @ onehot
    else:
        item_means[:, subjective] = _mean_over_experts(typed, False)
        category_raw = _mean_over_experts(typed_subtotals, trimmed) + fixed_subtotals
    category_scores = method.rounding.array(category_raw)
    totals = method.rounding.array(category_scores.sum(axis=1))
    return Aggregate(bidders=tuple(int(b) for b in passing), trimmed=trimmed,
                     item_means=item_means, expert_subtotals=expert_subtotals,
                     category_scores=category_scores, totals=totals)


def _passing_rows(scores: np.ndarray, passing: np.ndarray) -> np.ndarray:
    """The passing bidders' rows; a view when every bidder passed, to avoid copying."""
    if len(passing) == scores.shape[1] and np.array_equal(passing, np.arange(scores.shape[1])):
        return scores
    return scores[:, passing]
