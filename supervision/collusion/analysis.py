"""Run every bid-rigging indicator over one section and score the result (rules.md §5).

The analysis runs after the opening, over the bids of one section. It is pure: the caller reads the facts
into :class:`BidEvidence` records, and stores or shows the :class:`CollusionReport` (to supervisors only).
"""
from __future__ import annotations

from collections.abc import Sequence

from supervision.collusion.model import (
    BidEvidence,
    CollusionReport,
    Evidence,
    Indicator,
)
from supervision.collusion.prices import (
    price_pattern_evidence,
    price_screens,
    uniform_discount_evidence,
)
from supervision.collusion.scoring import linked_groups, score
from supervision.collusion.shared_values import (
    file_hash_evidence,
    identical_error_evidence,
    shared_value_evidence,
)
from supervision.collusion.text_similarity import similar_text_evidence
from supervision.collusion.thresholds import CollusionThresholds
from supervision.collusion.timing import upload_cluster_evidence


def analyze_section(
    bids: Sequence[BidEvidence],
    thresholds: CollusionThresholds | None = None,
    *,
    shared_text: str | None = None,
) -> CollusionReport:
    """Evidence, pair scores and group scores for one section's bids.

    ``shared_text`` is text all bidders were given (e.g. the technical requirements of the tender
    documents); it is discounted from the text comparison. Bid ids must be unique.
    """
    thresholds = thresholds or CollusionThresholds()
    ids = [bid.bid_id for bid in bids]
    if len(set(ids)) != len(ids):
        raise ValueError("bid ids must be unique within a section")
    evidence: list[Evidence] = []
    skipped: dict[Indicator, str] = {}
    for found, missing in (
        shared_value_evidence(bids, thresholds),
        file_hash_evidence(bids, thresholds),
        similar_text_evidence(bids, thresholds, shared_text),
        identical_error_evidence(bids, thresholds),
        upload_cluster_evidence(bids, thresholds),
    ):
        evidence.extend(found)
        skipped.update(missing)
    index_of = {bid_id: i for i, bid_id in enumerate(ids)}
    already_linked = linked_groups(len(bids), evidence, index_of, thresholds)
    for found, missing in (
        price_pattern_evidence(bids, thresholds, already_linked),
        uniform_discount_evidence(bids, thresholds, already_linked),
    ):
        evidence.extend(found)
        skipped.update(missing)
    pairs, groups = score(bids, evidence, thresholds)
    prices = [float(bid.price) for bid in bids if bid.price is not None and bid.price > 0]
    return CollusionReport(
        bid_ids=tuple(ids),
        evidence=tuple(evidence),
        pairs=pairs,
        groups=groups,
        screens=price_screens(prices),
        indicators_run=tuple(i for i in Indicator if i not in skipped),
        indicators_skipped=skipped,
    )
