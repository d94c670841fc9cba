"""Live checks while the committee sits (rules.md §3, 87号令第64条 error classes).

- Deviation (评分偏离) of a subjective score from the other experts' scores on the same item for
  the same bidder. Two tests, either flags: |s − m| > k·σ, and |s − m| > f × the item's maximum, where
  m is the mean of the *other* experts' entered scores and σ their sample standard deviation
  (ddof = 1). σ is only meaningful with a few scores, so the σ test needs ``min_others_for_sigma``
  other scores (default 3, i.e. a committee of 4 or more); the maximum-fraction test needs one other
  score. When the others agree exactly σ is 0, so the σ test also needs the deviation to exceed
  ``min_deviation_steps`` item steps [inferred]. Scores not yet entered (NaN) are ignored.
- Out of range and off step: a subjective score outside the item's range or between steps.
- Inconsistent objective items: a stored objective or price score that differs from the computed one.
- Sum errors: a total on an expert's sheet that is not the sum of its items.

Each check returns ``Outlier`` records; the caller shows them to the chair and the expert and stores
the expert's confirmation or revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .computed import ComputedScores, fill_computed
from .model import Method, Outlier

TOLERANCE = 1e-9


def find_outliers(method: Method, scores: np.ndarray, computed: ComputedScores | None = None,
                  bidders: Sequence[int] | None = None) -> list[Outlier]:
    """Every flag on ``scores`` (experts × bidders × items), restricted to ``bidders`` if given:
    the passing bidders, or just the bidder an expert has scored (only those rows are examined,
    so a live check after each entry stays cheap). Ordered by expert, bidder, item, reason."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 3 or scores.shape[2] != len(method.items):
        raise ValueError(f"scores must be experts × bidders × {len(method.items)} items, "
                         f"not {scores.shape}")
    rows = (np.arange(scores.shape[1]) if bidders is None
            else np.unique(np.asarray(bidders, dtype=np.intp)))
    view = scores if bidders is None else scores[:, rows]
    found: list[tuple[int, int, int, str, float, float, float | None]] = []
    subjective = np.flatnonzero(method.subjective_mask)
    if subjective.size:
        _range_and_step(method, view, subjective, found)
        _deviations(method, view, subjective, found)
    if computed is not None:
        _objective(method, view, rows, computed, found)
    found.sort(key=lambda f: (f[0], rows[f[1]], f[2], f[3]))
    return [Outlier(expert=e, bidder=int(rows[b]), item_id=method.item_ids[i], reason=reason,
                    score=s, reference=ref, threshold=limit)
            for e, b, i, reason, s, ref, limit in found]


def _range_and_step(method, scores, subjective, found) -> None:
    block = scores[:, :, subjective]
    entered = ~np.isnan(block)
    low, high = method.minima[subjective], method.maxima[subjective]
    steps = method.steps[subjective]
    outside = entered & ((block < low - TOLERANCE) | (block > high + TOLERANCE))
    for e, b, k in zip(*np.nonzero(outside)):
        s = float(block[e, b, k])
        found.append((int(e), int(b), int(subjective[k]), "out_of_range", s,
                      float(high[k] if s > high[k] else low[k]), None))
    position = (block - low) / steps
    off = entered & ~outside & (np.abs(position - np.round(position)) > 1e-6)
    for e, b, k in zip(*np.nonzero(off)):
        found.append((int(e), int(b), int(subjective[k]), "off_step", float(block[e, b, k]),
                      float(low[k] + np.round(position[e, b, k]) * steps[k]), float(steps[k])))


def _deviations(method, scores, subjective, found) -> None:
    policy = method.outliers
    block = scores[:, :, subjective]
    entered = ~np.isnan(block)
    count = entered.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Centre on the all-experts mean first so the sums of squares do not cancel.
        centre = np.where(count > 0, np.nansum(block, axis=0) / np.maximum(count, 1), 0.0)
        x = np.where(entered, block - centre, 0.0)
        total, squares = x.sum(axis=0), (x * x).sum(axis=0)
        others = count[np.newaxis] - entered
        others_mean = (total[np.newaxis] - x) / others
        others_var = (squares[np.newaxis] - x * x - others * others_mean**2) / (others - 1)
        sigma = np.sqrt(np.maximum(others_var, 0.0))
        deviation = np.abs(x - others_mean)
    maxima, steps = method.maxima[subjective], method.steps[subjective]
    fraction_limit = policy.max_fraction * maxima
    by_fraction = entered & (others >= 1) & (deviation > fraction_limit + TOLERANCE)
    sigma_limit = policy.sigma_multiplier * sigma
    by_sigma = (entered & (others >= policy.min_others_for_sigma)
                & (deviation > sigma_limit + TOLERANCE)
                & (deviation > policy.min_deviation_steps * steps + TOLERANCE))
    reference = others_mean + centre[np.newaxis]
    for reason, flags, limit in (("deviation_max_fraction", by_fraction, None),
                                 ("deviation_sigma", by_sigma, sigma_limit)):
        for e, b, k in zip(*np.nonzero(flags)):
            threshold = float(fraction_limit[k]) if limit is None else float(limit[e, b, k])
            found.append((int(e), int(b), int(subjective[k]), reason, float(block[e, b, k]),
                          float(reference[e, b, k]), threshold))


def _objective(method, scores, rows, computed: ComputedScores, found) -> None:
    columns = np.flatnonzero(~method.subjective_mask)
    expected = computed.item_scores[rows][:, columns]
    stored = scores[:, :, columns]
    passing = np.isin(rows, np.asarray(computed.passing, dtype=np.intp))
    mask = passing[np.newaxis, :, np.newaxis] & ~np.isnan(stored)
    differs = mask & (np.isnan(expected)[np.newaxis] |
                      (np.abs(stored - expected[np.newaxis]) > TOLERANCE))
    for e, b, k in zip(*np.nonzero(differs)):
        found.append((int(e), int(b), int(columns[k]), "objective_inconsistent",
                      float(stored[e, b, k]), float(expected[b, k]), None))


def check_sums(method: Method, scores: np.ndarray, sheet_totals: np.ndarray,
               bidders: Sequence[int] | None = None,
               computed: ComputedScores | None = None) -> list[Outlier]:
    """Flag each expert's sheet total (experts × bidders) that is not the sum of its item scores,
    to within half a unit of the method's last decimal place. With ``computed``, the objective and
    price columns are taken from it, as the expert's sheet shows them."""
    scores = np.asarray(scores, dtype=np.float64)
    if computed is not None:
        scores = fill_computed(method, scores, computed)
    sums = scores.sum(axis=2)
    tolerance = 0.5 * 10.0 ** -method.rounding.places + TOLERANCE
    wrong = ~np.isnan(sheet_totals) & ~np.isnan(sums) & (np.abs(sheet_totals - sums) > tolerance)
    if bidders is not None:
        keep = np.zeros(scores.shape[1], dtype=bool)
        keep[list(bidders)] = True
        wrong &= keep[np.newaxis]
    return [Outlier(expert=int(e), bidder=int(b), item_id="total", reason="sum_error",
                    score=float(sheet_totals[e, b]), reference=float(sums[e, b]),
                    threshold=tolerance) for e, b in zip(*np.nonzero(wrong))]
