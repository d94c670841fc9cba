"""Price patterns (投标报价呈规律性差异, 实施条例第40条(四)) and the CV / DIFFP / RD screens.

Tests (rules.md §5, thresholds seen), on prices sorted ascending:
- arithmetic: steps d_i = p_{i+1} − p_i, flagged when n ≥ 3 and σ(d)/μ(d) ≤ 0.05 (980, 1000, 1020 → CV 0);
- geometric: log ratios q_i = ln(p_{i+1}/p_i), flagged when σ(q)/μ(q) ≤ 0.02. The dispersion is taken of the
  growth rates, not of the ratios themselves: prices within a few percent of each other have ratios all
  close to 1, so the plain CV of the ratios would be tiny for any honest field;
- uniform discount off the ceiling: discounts (C − p)/C of 3 or more bids within 0.1 percentage point.

Subsets searched, besides the whole priced set:
- every group of 3 or more bids already linked by other indicators, at the published thresholds;
- every contiguous run of 3 or more of the sorted prices (all O(n²) runs, screened at once with prefix sums,
  only maximal passing runs kept), but at the strict ``run_max_cv``: among honest prices some run passes
  the 0.05 rule by chance often (three prices about one time in twenty), so inside a field only a near-exact
  ladder counts, the kind a spreadsheet produces;
- every maximal cluster of discounts (complete, by a sliding window), at the strict
  ``cluster_discount_tolerance`` for the same reason.
Non-contiguous subsets of the field are not searched beyond linked groups: n honest prices hold n³/6
triples, and no threshold separates a planted triple from the chance ones among them.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise

import numpy as np

from supervision.collusion.common import make_evidence, maximal_windows, not_contained
from supervision.collusion.model import BidEvidence, Evidence, Indicator, PriceScreens
from supervision.collusion.thresholds import CollusionThresholds


def price_screens(prices: Sequence[float]) -> PriceScreens:
    """CV, DIFFP and RD of a section's prices (population σ), None where undefined."""
    values = np.sort(np.asarray(prices, dtype=np.float64))
    count = int(values.size)
    if count < 2:
        return PriceScreens(count, None, None, None)
    mean = float(values.mean())
    cv = float(values.std() / mean) if mean > 0 else None
    diffp = float((values[1] - values[0]) / values[0]) if values[0] > 0 else None
    rd = None
    if count >= 3:
        losing_sigma = float(values[1:].std())
        if losing_sigma > 0:
            rd = float((values[1] - values[0]) / losing_sigma)
    return PriceScreens(count, cv, diffp, rd)


def _cv(steps: np.ndarray) -> float | None:
    mean = float(steps.mean()) if steps.size else 0.0
    if steps.size == 0 or mean <= 0:
        return None
    return float(steps.std() / mean)


def _patterns(prices: np.ndarray, arithmetic_max: float, geometric_max: float) -> dict[str, float]:
    """The patterns a sorted set of prices follows, with their CVs."""
    found: dict[str, float] = {}
    steps_cv = _cv(np.diff(prices))
    if steps_cv is not None and steps_cv <= arithmetic_max:
        found["arithmetic"] = steps_cv
    if prices[0] > 0:
        growth_cv = _cv(np.diff(np.log(prices)))
        if growth_cv is not None and growth_cv <= geometric_max:
            found["geometric"] = growth_cv
    return found


def _run_cvs(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CV of the steps of every run [start, end) of prices, run length ≥ 3, via prefix sums (screen only)."""
    count = steps.size + 1
    first = np.concatenate(([0.0], np.cumsum(steps)))
    second = np.concatenate(([0.0], np.cumsum(steps * steps)))
    start, end = np.triu_indices(count + 1, k=3)
    n_steps = (end - start - 1).astype(np.float64)
    total = first[end - 1] - first[start]
    mean = total / n_steps
    variance = np.maximum((second[end - 1] - second[start]) / n_steps - mean * mean, 0.0)
    cv = np.full(mean.size, np.inf)
    positive = mean > 0
    cv[positive] = np.sqrt(variance[positive]) / mean[positive]
    return start, end, cv


def _passing_runs(prices: np.ndarray, max_cv: float) -> list[tuple[int, int]]:
    """Maximal contiguous runs of sorted prices (other than the whole set) in near-exact progression."""
    if prices.size < 4:
        return []
    slack = 1.5  # the prefix-sum screen is loose; every survivor is re-checked exactly below
    start, end, arithmetic = _run_cvs(np.diff(prices))
    geometric = _run_cvs(np.diff(np.log(prices)))[2] if prices[0] > 0 else np.full(start.size, np.inf)
    screened = (np.minimum(arithmetic, geometric) <= max_cv * slack + 1e-12) & (end - start < prices.size)
    passing = [
        (s, e)
        for s, e in zip(start[screened].tolist(), end[screened].tolist())
        if _patterns(prices[s:e], max_cv, max_cv)
    ]
    return [
        (s, e) for s, e in passing if not any(o_s <= s and e <= o_e and (o_s, o_e) != (s, e) for o_s, o_e in passing)
    ]


def _priced(bids: Sequence[BidEvidence]) -> list[int]:
    return [i for i, bid in enumerate(bids) if bid.price is not None and bid.price > 0]


def price_pattern_evidence(
    bids: Sequence[BidEvidence], thresholds: CollusionThresholds, linked_groups: Sequence[Sequence[int]] = ()
) -> tuple[list[Evidence], dict[Indicator, str]]:
    """Evidence of prices in arithmetic or geometric progression, one record per distinct set of bids."""
    priced = _priced(bids)
    if len(priced) < thresholds.min_pattern_bids:
        return [], {Indicator.PRICE_PROGRESSION: f"fewer than {thresholds.min_pattern_bids} priced bids"}
    order = sorted(priced, key=lambda i: (bids[i].price, i))
    prices = np.array([float(bids[i].price) for i in order], dtype=np.float64)
    subsets: dict[tuple[int, ...], str] = {tuple(sorted(order)): "whole set"}
    priced_set = set(priced)
    for group in linked_groups:
        members = tuple(sorted(i for i in group if i in priced_set))
        if len(members) >= thresholds.min_pattern_bids:
            subsets.setdefault(members, "linked group")
    for s, e in _passing_runs(prices, thresholds.run_max_cv):
        subsets.setdefault(tuple(sorted(order[s:e])), "contiguous run")
    flagged: dict[tuple[int, ...], tuple[str, dict[str, float]]] = {}
    for members, subset in subsets.items():
        values = np.array(sorted(float(bids[i].price) for i in members), dtype=np.float64)
        if subset == "contiguous run":
            found = _patterns(values, thresholds.run_max_cv, thresholds.run_max_cv)
        else:
            found = _patterns(values, thresholds.arithmetic_max_cv, thresholds.geometric_max_cv)
        if found:
            flagged[members] = (subset, found)
    evidence = []
    for members in not_contained(list(flagged)):
        subset, found = flagged[members]
        ranked = sorted(members, key=lambda i: (bids[i].price, i))
        steps = [str(bids[b].price - bids[a].price) for a, b in pairwise(ranked)]
        names_zh = "、".join({"arithmetic": "等差", "geometric": "等比"}[p] for p in found)
        evidence.append(
            make_evidence(
                Indicator.PRICE_PROGRESSION, bids, ranked, thresholds,
                {
                    "patterns": sorted(found),
                    "cv": {p: float(v) for p, v in found.items()},
                    "prices": [str(bids[i].price) for i in ranked],
                    "steps": steps,
                    "subset": subset,
                },
                f"{len(ranked)}个报价呈{names_zh}数列（级差 {'、'.join(steps)}）",
                f"{len(ranked)} prices in {' and '.join(sorted(found))} progression (steps {', '.join(steps)})",
            )
        )
    return evidence, {}


def uniform_discount_evidence(
    bids: Sequence[BidEvidence], thresholds: CollusionThresholds, linked_groups: Sequence[Sequence[int]] = ()
) -> tuple[list[Evidence], dict[Indicator, str]]:
    """Three or more bids at (nearly) the same discount off the ceiling price."""
    rated = [i for i in _priced(bids) if bids[i].ceiling_price]
    if len(rated) < thresholds.min_pattern_bids:
        return [], {Indicator.UNIFORM_DISCOUNT: "fewer than 3 bids with both a price and a ceiling price"}
    discounts = {
        i: (bids[i].ceiling_price - bids[i].price) / bids[i].ceiling_price for i in rated  # type: ignore[operator]
    }
    order = sorted(rated, key=lambda i: (discounts[i], i))
    values = np.array([float(discounts[i]) for i in order], dtype=np.float64)
    subsets: dict[tuple[int, ...], tuple[str, float]] = {}
    candidates = [(tuple(order), "whole set")] + [
        (tuple(i for i in order if i in set(group)), "linked group") for group in linked_groups
    ]
    for members, subset in candidates:
        spread = max(discounts[i] for i in members) - min(discounts[i] for i in members) if members else 0
        if len(members) >= thresholds.min_pattern_bids and spread <= Decimal(str(thresholds.discount_tolerance)):
            subsets.setdefault(tuple(sorted(members)), (subset, thresholds.discount_tolerance))
    for s, e in maximal_windows(values, thresholds.cluster_discount_tolerance, thresholds.min_pattern_bids):
        subsets.setdefault(tuple(sorted(order[s:e])), ("cluster", thresholds.cluster_discount_tolerance))
    evidence = []
    for members in not_contained(list(subsets)):
        subset, tolerance = subsets[members]
        ranked = sorted(members, key=lambda i: (discounts[i], i))
        shown = [f"{discounts[i] * 100:.3f}%" for i in ranked]
        evidence.append(
            make_evidence(
                Indicator.UNIFORM_DISCOUNT, bids, ranked, thresholds,
                {
                    "discounts": [str(discounts[i].quantize(Decimal("0.000001"))) for i in ranked],
                    "spread": float(discounts[ranked[-1]] - discounts[ranked[0]]),
                    "tolerance": tolerance,
                    "subset": subset,
                },
                f"{len(ranked)}个报价下浮率一致（{'、'.join(shown)}）",
                f"{len(ranked)} bids at nearly the same discount ({', '.join(shown)})",
            )
        )
    return evidence, {}
