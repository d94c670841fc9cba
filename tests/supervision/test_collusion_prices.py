"""Price ladders, geometric progressions, uniform discounts and the CV / DIFFP / RD screens."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from supervision.collusion import BidEvidence, Indicator, Level, analyze_section
from supervision.collusion.prices import price_screens

CEILING = Decimal(1100)


def field(*prices: str, ceiling: Decimal = CEILING, **extra) -> list[BidEvidence]:
    return [
        BidEvidence(bid_id=f"B{i + 1}", bidder_id=f"S{i + 1}", price=Decimal(p), ceiling_price=ceiling, **extra)
        for i, p in enumerate(prices)
    ]


def progressions(bids):
    return analyze_section(bids).evidence_for(Indicator.PRICE_PROGRESSION)


def test_the_ladder_980_1000_1020_is_found():
    report = analyze_section(field("980", "1000", "1020"))
    [record] = report.evidence_for(Indicator.PRICE_PROGRESSION)
    assert record.bid_ids == ("B1", "B2", "B3")
    assert "arithmetic" in record.detail["patterns"] and record.detail["cv"]["arithmetic"] == 0
    assert record.detail["steps"] == ["20", "20"]
    assert "等差" in record.summary_zh
    assert report.groups[0].bid_ids == ("B1", "B2", "B3") and report.groups[0].level is Level.WATCH


def test_an_exact_ladder_is_found_inside_a_larger_field():
    bids = field("1041.37", "951.22", "1000", "1063.80", "980", "1088.01", "1020", "962.90", "1055.12")
    [record] = progressions(bids)
    assert record.bid_ids == ("B3", "B5", "B7")
    assert record.detail["subset"] == "contiguous run"


def test_a_ladder_interleaved_with_an_honest_price_is_found_when_its_bids_are_linked():
    prices = ("980", "1000", "1020", "1005.37", "1062.18", "958.40")
    assert not progressions(field(*prices))
    bids = field(*prices)
    linked = [replace(bid, upload_ip="59.61.1.20") if i < 3 else bid for i, bid in enumerate(bids)]
    [record] = progressions(linked)
    assert record.bid_ids == ("B1", "B2", "B3") and record.detail["subset"] == "linked group"
    report = analyze_section(linked)
    assert report.groups[0].score == 40 and report.groups[0].level is Level.SUSPECTED


def test_a_disguised_ladder_is_found_on_the_whole_set():
    [record] = progressions(field("9800123.45", "10000000.00", "10195432.10", ceiling=Decimal(11000000)))
    assert record.detail["subset"] == "whole set" and record.detail["cv"]["arithmetic"] < 0.05


def test_a_geometric_progression_is_found():
    [record] = progressions(field("1000", "1100", "1210", "1331", ceiling=Decimal(1500)))
    assert record.detail["patterns"] == ["geometric"]


def test_a_roughly_regular_run_inside_a_field_is_not_a_clue():
    # Steps 20, 21, 20 meet σ/μ ≤ 0.05, but inside a field only near-exact ladders count (see prices.py).
    assert progressions(field("1000", "1020", "1041", "1061"))
    assert not progressions(field("1000", "1020", "1041", "1061", "880.15", "1093.40", "905.66"))


def test_uniform_discount_on_the_whole_set():
    bids = field("1045.00", "1044.50", "1044.10")  # 5.00%, 5.05%, 5.08% off the ceiling
    [record] = analyze_section(bids).evidence_for(Indicator.UNIFORM_DISCOUNT)
    assert record.bid_ids == ("B1", "B2", "B3") and record.detail["subset"] == "whole set"
    assert record.points == 10


def test_identical_discounts_inside_a_field_are_found():
    bids = field("1045.00", "962.13", "1045.00", "1013.77", "1045.00", "938.40")
    [record] = analyze_section(bids).evidence_for(Indicator.UNIFORM_DISCOUNT)
    assert record.bid_ids == ("B1", "B3", "B5") and record.detail["subset"] == "cluster"


def test_screens_are_reported_as_figures():
    screens = price_screens([130, 100, 120, 110])
    assert screens.count == 4
    assert screens.cv == pytest.approx(11.180339887 / 115)
    assert screens.diffp == pytest.approx(0.1)
    assert screens.rd == pytest.approx(10 / 8.164965809)
    assert price_screens([100]).cv is None
    assert price_screens([100, 100, 100]).rd is None


def test_screens_carry_no_points():
    report = analyze_section(field("1000", "1003", "1070", "1099"))
    assert report.screens.count == 4 and report.screens.diffp == pytest.approx(0.003)
    assert not report.evidence
