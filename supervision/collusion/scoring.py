"""Scores per pair and per group of bids from the evidence records.

- A pair scores the points of every record naming both bids (a record for a shared MAC among three bids
  gives each of the three pairs its 30 points).
- Pairs scoring at least ``link_points`` are linked; groups are the connected components (union-find).
- A group scores the points of every record naming two or more of its bids, each record once: a trigger
  indicator is worth its points "a group" (rules.md §5), and text similarity its points per pair.
- A pair or group at or above ``alert_points`` is 'suspected' (疑似串通投标), a linked one below it 'watch'.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import combinations

from supervision.collusion.model import (
    BidEvidence,
    Evidence,
    GroupScore,
    Indicator,
    Level,
    PairScore,
)
from supervision.collusion.thresholds import CollusionThresholds


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.size = [1] * size

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return
        if self.size[root_a] < self.size[root_b]:
            root_a, root_b = root_b, root_a
        self.parent[root_b] = root_a
        self.size[root_a] += self.size[root_b]

    def components(self) -> list[list[int]]:
        groups: dict[int, list[int]] = defaultdict(list)
        for item in range(len(self.parent)):
            groups[self.find(item)].append(item)
        return sorted((members for members in groups.values() if len(members) > 1), key=lambda m: m[0])


def _level(score: float, thresholds: CollusionThresholds) -> Level | None:
    if score >= thresholds.alert_points:
        return Level.SUSPECTED
    if score >= thresholds.link_points:
        return Level.WATCH
    return None


def _positions(evidence: Sequence[Evidence], index_of: Mapping[object, int]) -> list[list[int]]:
    return [sorted(index_of[bid_id] for bid_id in record.bid_ids) for record in evidence]


def pair_totals(
    evidence: Sequence[Evidence], index_of: Mapping[object, int]
) -> dict[tuple[int, int], tuple[float, set[Indicator]]]:
    totals: dict[tuple[int, int], list] = defaultdict(lambda: [0.0, set()])
    for record, members in zip(evidence, _positions(evidence, index_of)):
        for pair in combinations(members, 2):
            totals[pair][0] += record.points
            totals[pair][1].add(record.indicator)
    return {pair: (score, indicators) for pair, (score, indicators) in totals.items()}


def linked_groups(
    count: int, evidence: Sequence[Evidence], index_of: Mapping[object, int], thresholds: CollusionThresholds
) -> list[list[int]]:
    """Groups of bid positions joined by pairs scoring at least ``link_points``."""
    links = UnionFind(count)
    for (a, b), (score, _) in pair_totals(evidence, index_of).items():
        if score >= thresholds.link_points:
            links.union(a, b)
    return links.components()


def score(
    bids: Sequence[BidEvidence], evidence: Sequence[Evidence], thresholds: CollusionThresholds
) -> tuple[tuple[PairScore, ...], tuple[GroupScore, ...]]:
    index_of = {bid.bid_id: i for i, bid in enumerate(bids)}
    totals = pair_totals(evidence, index_of)
    pairs = tuple(
        PairScore(
            (bids[a].bid_id, bids[b].bid_id),
            points,
            tuple(sorted(indicators, key=lambda i: i.value)),
            _level(points, thresholds),
        )
        for (a, b), (points, indicators) in sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    )
    positions = _positions(evidence, index_of)
    groups = []
    for members in linked_groups(len(bids), evidence, index_of, thresholds):
        member_set = set(members)
        records = [k for k, record_members in enumerate(positions) if len(member_set.intersection(record_members)) >= 2]
        total = float(sum(evidence[k].points for k in records))
        groups.append(
            GroupScore(
                bid_ids=tuple(bids[i].bid_id for i in members),
                bidder_ids=tuple(dict.fromkeys(bids[i].bidder_id for i in members)),
                score=total,
                indicators=tuple(sorted({evidence[k].indicator for k in records}, key=lambda i: i.value)),
                evidence=tuple(records),
                level=_level(total, thresholds) or Level.WATCH,
            )
        )
    groups.sort(key=lambda g: -g.score)
    return pairs, tuple(groups)
