"""Small helpers shared by the indicator modules: building evidence records and finding clusters on a line."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from supervision.collusion.model import BidEvidence, Evidence, Indicator
from supervision.collusion.thresholds import CollusionThresholds


def bid_label(bid: BidEvidence) -> str:
    return bid.bidder_name or str(bid.bidder_id)


def distinct_bidders(bids: Sequence[BidEvidence], members: Sequence[int]) -> int:
    return len({bids[i].bidder_id for i in members})


def make_evidence(
    indicator: Indicator,
    bids: Sequence[BidEvidence],
    members: Sequence[int],
    thresholds: CollusionThresholds,
    detail: Mapping[str, Any],
    what_zh: str,
    what_en: str,
) -> Evidence:
    """An evidence record naming the bidders involved (in input order) and what they share."""
    ordered = sorted(set(members))
    labels = [bid_label(bids[i]) for i in ordered]
    return Evidence(
        indicator=indicator,
        bid_ids=tuple(bids[i].bid_id for i in ordered),
        points=thresholds.points_for(indicator),
        detail=dict(detail),
        summary_zh=f"{'、'.join(labels)}：{indicator.title_zh}，{what_zh}",
        summary_en=f"{', '.join(labels)}: {indicator.title_en}, {what_en}",
    )


def maximal_windows(sorted_values: np.ndarray, width: float, min_size: int) -> list[tuple[int, int]]:
    """Maximal runs ``[start, end)`` of sorted values spanning at most ``width``, with ``min_size`` or more.

    Each start's window reaches as far as ``value[start] + width``; a window is maximal when no window that
    starts earlier reaches as far, so the runs returned are exactly the clusters not contained in another.
    """
    if sorted_values.size < min_size:
        return []
    ends = np.searchsorted(sorted_values, sorted_values + width, side="right")
    starts = np.arange(sorted_values.size)
    reaches_further = np.empty(sorted_values.size, dtype=bool)
    reaches_further[0] = True
    reaches_further[1:] = ends[1:] > ends[:-1]
    keep = reaches_further & (ends - starts >= min_size)
    return [(int(s), int(e)) for s, e in zip(starts[keep], ends[keep])]


def not_contained(member_sets: Sequence[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The sets not strictly inside another one: a pattern over five bids already covers its sub-runs."""
    as_sets = [frozenset(members) for members in member_sets]
    return [
        members
        for members, current in zip(member_sets, as_sets)
        if not any(current < other for other in as_sets)
    ]
