"""Bid-rigging (围标串标) clues for one section: indicators, evidence, pair and group scores (rules.md §5).

Pure Python and numpy; no Flask, no database. Entry point: :func:`analyze_section`.
"""
from supervision.collusion.analysis import analyze_section
from supervision.collusion.model import (
    BidEvidence,
    BidId,
    CollusionReport,
    Evidence,
    GroupScore,
    Indicator,
    Level,
    PairScore,
    PriceScreens,
)
from supervision.collusion.thresholds import DEFAULT_POINTS, CollusionThresholds

__all__ = [
    "DEFAULT_POINTS",
    "BidEvidence",
    "BidId",
    "CollusionReport",
    "CollusionThresholds",
    "Evidence",
    "GroupScore",
    "Indicator",
    "Level",
    "PairScore",
    "PriceScreens",
    "analyze_section",
]
