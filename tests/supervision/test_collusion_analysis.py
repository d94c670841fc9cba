"""The whole analysis of a section: clean bids raise nothing, planted cases are found and scored."""
from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from supervision.collusion import CollusionThresholds, Indicator, Level, analyze_section
from supervision.collusion.synthetic import clean_section, rewrite_sentences


@pytest.mark.parametrize("seed", range(5))
def test_a_clean_realistic_section_raises_no_clue(seed):
    bids = clean_section(10, random.Random(seed), text_bytes=16_000)
    report = analyze_section(bids)
    assert report.evidence == ()
    assert report.pairs == () and report.groups == ()
    assert not report.has_clues
    assert report.screens.count == 10 and report.screens.cv is not None


def test_planted_cases_are_each_found_and_nothing_else():
    bids = clean_section(10, random.Random(42), ceiling=Decimal(1100), text_bytes=16_000)
    bids[1] = replace(bids[1], machine_ids=bids[0].machine_ids, mac_addresses=bids[0].mac_addresses)
    bids[3] = replace(bids[3], technical_text=rewrite_sentences(bids[2].technical_text, random.Random(7), 0.05))
    bids[5] = replace(bids[5], upload_ip=bids[4].upload_ip)
    ladder = {6: "980", 7: "1000", 8: "1020"}
    others = {0: "1041.37", 1: "951.22", 2: "1063.80", 3: "1088.01", 4: "962.90", 5: "1055.12", 9: "1030.55"}
    bids = [replace(bid, price=Decimal({**ladder, **others}[i])) for i, bid in enumerate(bids)]
    report = analyze_section(bids)
    found = {(e.indicator, e.bid_ids) for e in report.evidence}
    assert found == {
        (Indicator.SAME_MACHINE_ID, ("B001", "B002")),
        (Indicator.SAME_MAC, ("B001", "B002")),
        (Indicator.SIMILAR_TECHNICAL_TEXT, ("B003", "B004")),
        (Indicator.SAME_UPLOAD_IP, ("B005", "B006")),
        (Indicator.PRICE_PROGRESSION, ("B007", "B008", "B009")),
    }
    groups = {g.bid_ids: (g.score, g.level) for g in report.groups}
    assert groups == {
        ("B001", "B002"): (60, Level.SUSPECTED),
        ("B005", "B006"): (30, Level.SUSPECTED),
        ("B003", "B004"): (10, Level.WATCH),
        ("B007", "B008", "B009"): (10, Level.WATCH),
    }
    assert all("B010" not in g.bid_ids for g in report.groups)


def test_groups_join_pairs_through_a_shared_bid():
    bids = clean_section(5, random.Random(3), text_bytes=0)
    bids[1] = replace(bids[1], mac_addresses=bids[0].mac_addresses)
    bids[2] = replace(bids[2], deposit_account=bids[1].deposit_account)
    report = analyze_section(bids)
    [group] = report.groups
    assert group.bid_ids == ("B001", "B002", "B003") and group.score == 60
    assert group.bidder_ids == ("S001", "S002", "S003")
    assert {Indicator.SAME_MAC, Indicator.SAME_DEPOSIT_ACCOUNT} == set(group.indicators)
    pairs = {p.bid_ids: p.score for p in report.pairs}
    assert pairs == {("B001", "B002"): 30, ("B002", "B003"): 30}


def test_points_and_levels_are_configurable():
    bids = clean_section(4, random.Random(4), text_bytes=0)
    bids[1] = replace(bids[1], contact_person=bids[0].contact_person)
    lenient = CollusionThresholds(points={Indicator.SAME_CONTACT: 5.0}, link_points=5, alert_points=60)
    [group] = analyze_section(bids, lenient).groups
    assert group.score == 5 and group.level is Level.WATCH
    assert analyze_section(bids, CollusionThresholds(link_points=40)).groups == ()


def test_uploads_clustered_in_a_minute_are_a_core_clue():
    bids = clean_section(6, random.Random(6), text_bytes=0)
    moment = bids[0].uploaded_at
    for i, offset in ((1, 20), (2, 45)):
        bids[i] = replace(bids[i], uploaded_at=moment + timedelta(seconds=offset))
    [record] = analyze_section(bids).evidence_for(Indicator.UPLOAD_TIME_CLUSTER)
    assert record.bid_ids == ("B001", "B002", "B003") and record.points == 10
    assert record.detail["span_seconds"] == 45
    narrow = CollusionThresholds(upload_window=timedelta(seconds=30))
    assert not analyze_section(bids, narrow).evidence_for(Indicator.UPLOAD_TIME_CLUSTER)


def test_two_uploads_together_are_not_a_cluster():
    bids = clean_section(6, random.Random(6), text_bytes=0)
    bids[1] = replace(bids[1], uploaded_at=bids[0].uploaded_at + timedelta(seconds=5))
    assert not analyze_section(bids).evidence_for(Indicator.UPLOAD_TIME_CLUSTER)


def test_the_report_serialises_to_json_for_the_evaluation_record():
    bids = clean_section(4, random.Random(9), text_bytes=0)
    bids[2] = replace(bids[2], machine_ids=bids[0].machine_ids)
    data = json.loads(json.dumps(analyze_section(bids).to_dict(), ensure_ascii=False))
    [evidence] = data["evidence"]
    assert evidence["indicator"] == "same_machine_id" and evidence["title_zh"] == "机器码相同"
    assert evidence["basis"].startswith("实施条例第40条")
    assert data["groups"][0]["level"] == "suspected"
    assert "same_download_ip" in data["indicators_skipped"]


def test_bad_input_is_refused():
    bids = clean_section(3, random.Random(1), text_bytes=0)
    with pytest.raises(ValueError):
        analyze_section([bids[0], bids[1], replace(bids[2], bid_id=bids[0].bid_id)])
    with pytest.raises(ValueError):
        analyze_section([replace(bid, uploaded_at=datetime(2026, 12, 1, 9, 0)) for bid in bids])
