"""Upload-time clustering (上传时间集中): several bids uploaded within a short window of each other.

A core indicator of the published set (rules.md §5): bids prepared together tend to be uploaded together,
often from one desk. Every maximal cluster of ``min_cluster_bids`` or more uploads spanning at most
``upload_window`` is one record. Uploads bunch up honestly just before the deadline too, which is why this is
worth core points only and the window is short by default.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from supervision.collusion.common import make_evidence, maximal_windows
from supervision.collusion.model import BidEvidence, Evidence, Indicator
from supervision.collusion.thresholds import CollusionThresholds


def upload_cluster_evidence(
    bids: Sequence[BidEvidence], thresholds: CollusionThresholds
) -> tuple[list[Evidence], dict[Indicator, str]]:
    timed = [i for i, bid in enumerate(bids) if bid.uploaded_at is not None]
    if len(timed) < thresholds.min_cluster_bids:
        return [], {Indicator.UPLOAD_TIME_CLUSTER: f"fewer than {thresholds.min_cluster_bids} bids with an upload time"}
    for i in timed:
        if bids[i].uploaded_at.tzinfo is None:  # type: ignore[union-attr]
            raise ValueError(f"bid {bids[i].bid_id}: upload time must be timezone-aware")
    order = sorted(timed, key=lambda i: (bids[i].uploaded_at, i))
    seconds = np.array([bids[i].uploaded_at.timestamp() for i in order], dtype=np.float64)  # type: ignore[union-attr]
    width = thresholds.upload_window.total_seconds()
    evidence = []
    for s, e in maximal_windows(seconds, width, thresholds.min_cluster_bids):
        members = order[s:e]
        if len({bids[i].bidder_id for i in members}) < thresholds.min_cluster_bids:
            continue
        span = float(seconds[e - 1] - seconds[s])
        first = bids[members[0]].uploaded_at.isoformat()  # type: ignore[union-attr]
        evidence.append(
            make_evidence(
                Indicator.UPLOAD_TIME_CLUSTER, bids, members, thresholds,
                {"first_upload": first, "span_seconds": span, "count": len(members),
                 "window_seconds": width},
                f"{len(members)}份投标文件在{span:.0f}秒内上传", f"{len(members)} bids uploaded within {span:.0f} s",
            )
        )
    return evidence, {}
