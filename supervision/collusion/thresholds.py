"""Configurable thresholds and points of the bid-rigging analysis.

Points follow the published indicator set quoted in rules.md §5 [seen]: trigger indicators score 30 a group,
core indicators 10 each (text similarity per pair). Price patterns and the uniform discount are not scored
there; they get core points here [inferred], because honest prices fall into a pattern by chance often
enough (three honest prices meet the arithmetic or geometric rule about one time in twenty) that they
should need corroboration.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from supervision.collusion.model import Indicator

TRIGGER_POINTS = 30.0
CORE_POINTS = 10.0

DEFAULT_POINTS: Mapping[Indicator, float] = {
    Indicator.SAME_MACHINE_ID: TRIGGER_POINTS,
    Indicator.SAME_MAC: TRIGGER_POINTS,
    Indicator.SAME_HOST: TRIGGER_POINTS,
    Indicator.SAME_CERTIFICATE: TRIGGER_POINTS,
    Indicator.SAME_FILE_HASH: TRIGGER_POINTS,
    Indicator.SIMILAR_TECHNICAL_TEXT: CORE_POINTS,
    Indicator.SAME_UPLOAD_IP: TRIGGER_POINTS,
    Indicator.SAME_DECRYPTION_IP: TRIGGER_POINTS,
    Indicator.SAME_DOWNLOAD_IP: TRIGGER_POINTS,
    Indicator.SAME_GUARANTEE_PAYER: TRIGGER_POINTS,
    Indicator.SAME_DEPOSIT_ACCOUNT: TRIGGER_POINTS,
    Indicator.SAME_CONTACT: TRIGGER_POINTS,
    Indicator.SAME_CONTACT_PHONE: TRIGGER_POINTS,
    Indicator.SAME_PROJECT_MANAGER: TRIGGER_POINTS,
    Indicator.PRICE_PROGRESSION: CORE_POINTS,
    Indicator.UNIFORM_DISCOUNT: CORE_POINTS,
    Indicator.UPLOAD_TIME_CLUSTER: CORE_POINTS,
    Indicator.IDENTICAL_ERRORS: TRIGGER_POINTS,
}

# Addresses that many unrelated machines share: all-zero / broadcast, the Windows loopback adapter
# (02-00-4C-4F-4F-50) and the tunnel-adapter placeholder (00-00-00-00-00-00-00-E0).
DEFAULT_IGNORED_MACS = frozenset({"000000000000", "FFFFFFFFFFFF", "02004C4F4F50", "00000000000000E0"})


@dataclass(frozen=True)
class CollusionThresholds:
    """Every number the analysis uses. Defaults are the published values where rules.md §5 has one."""

    # Near-duplicate technical modules: Jaccard similarity of character shingle sets.
    text_similarity: float = 0.80
    shingle_length: int = 5
    minhash_bins: int = 256
    candidate_margin: float = 0.15  # MinHash estimates this far below the threshold are still checked exactly
    min_text_chars: int = 200  # shorter technical modules are not compared
    # Price patterns (rules.md §5, thresholds seen), applied to the whole priced set and to linked groups.
    arithmetic_max_cv: float = 0.05  # σ(d)/μ(d) of sorted price steps
    geometric_max_cv: float = 0.02  # σ(q)/μ(q) of log price ratios q = ln(p_{i+1}/p_i)
    discount_tolerance: float = 0.001  # discounts off the ceiling within 0.1 percentage point
    min_pattern_bids: int = 3
    # Subsets found by searching the field itself are judged strictly [inferred]: the published values would
    # flag honest prices by chance (measured on random 10-bid fields: 2% for runs of 4+ at 0.05, 1.8% for
    # discount clusters at 0.1 pp; 41% and 100% on 200-bid fields). Inside a field only a near-exact ladder
    # (computed steps, rounding aside) or near-identical discounts count.
    run_max_cv: float = 0.0001  # contiguous runs of the sorted prices, both patterns
    cluster_discount_tolerance: float = 0.00001  # clusters of discounts within the field (0.001 pp)
    # Upload-time clustering.
    upload_window: timedelta = timedelta(seconds=60)
    min_cluster_bids: int = 3
    # Identical errors (e.g. priced-bill error signatures).
    min_identical_errors: int = 3
    # Values never treated as shared (shared by unrelated parties, e.g. the trading centre's own terminals).
    ignored_ips: frozenset[str] = frozenset()
    ignored_macs: frozenset[str] = DEFAULT_IGNORED_MACS
    ignored_values: frozenset[str] = frozenset({"", "NONE", "NULL", "UNKNOWN", "无"})
    # Scoring.
    points: Mapping[Indicator, float] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    link_points: float = 10.0  # a pair scoring at least this joins a group
    alert_points: float = 30.0  # a pair or group scoring at least this is 'suspected'

    def points_for(self, indicator: Indicator) -> float:
        return float(self.points.get(indicator, DEFAULT_POINTS[indicator]))
