"""Shared fingerprints, IPs, accounts, people, file hashes and identical errors between bidders."""
from __future__ import annotations

import random
from dataclasses import replace

import pytest

from supervision.collusion import CollusionThresholds, Indicator, analyze_section
from supervision.collusion.synthetic import clean_section


@pytest.fixture
def section():
    return clean_section(6, random.Random(11), text_bytes=0)


def only(report, indicator):
    found = report.evidence_for(indicator)
    assert len(found) == 1, [e.summary_en for e in report.evidence]
    return found[0]


def test_identical_machine_id_is_a_trigger_for_the_group(section):
    shared = section[0].machine_ids
    section[2] = replace(section[2], machine_ids=(shared[0].lower(),))
    section[4] = replace(section[4], machine_ids=(" " + shared[0] + " ",))
    report = analyze_section(section)
    record = only(report, Indicator.SAME_MACHINE_ID)
    assert record.bid_ids == ("B001", "B003", "B005")
    assert record.points == 30
    assert report.groups[0].bid_ids == ("B001", "B003", "B005") and report.groups[0].score == 30
    assert len(report.evidence) == 1


def test_mac_addresses_match_across_notations_and_placeholders_are_ignored(section):
    section[0] = replace(section[0], mac_addresses=("00-1A-2B-3C-4D-5E", "02-00-4C-4F-4F-50"))
    section[1] = replace(section[1], mac_addresses=("00:1a:2b:3c:4d:5e",))
    section[2] = replace(section[2], mac_addresses=("02:00:4C:4F:4F:50",))  # Windows loopback adapter
    report = analyze_section(section)
    assert only(report, Indicator.SAME_MAC).bid_ids == ("B001", "B002")


def test_same_host_and_certificate(section):
    section[3] = replace(section[3], host_hashes=section[1].host_hashes, certificate_serial=section[1].certificate_serial)
    report = analyze_section(section)
    assert only(report, Indicator.SAME_HOST).bid_ids == ("B002", "B004")
    assert only(report, Indicator.SAME_CERTIFICATE).bid_ids == ("B002", "B004")
    assert report.pairs[0].score == 60


def test_same_upload_and_decryption_ip(section):
    section[1] = replace(section[1], upload_ip="::ffff:" + section[0].upload_ip)
    section[5] = replace(section[5], decryption_ip=section[4].decryption_ip)
    report = analyze_section(section)
    assert only(report, Indicator.SAME_UPLOAD_IP).bid_ids == ("B001", "B002")
    assert only(report, Indicator.SAME_DECRYPTION_IP).bid_ids == ("B005", "B006")


def test_ignored_ips_are_not_evidence(section):
    centre = "218.66.1.10"  # the trading centre's public terminals
    section = [replace(bid, upload_ip=centre) for bid in section]
    assert analyze_section(section).evidence_for(Indicator.SAME_UPLOAD_IP)
    thresholds = CollusionThresholds(ignored_ips=frozenset({centre}))
    assert not analyze_section(section, thresholds).evidence_for(Indicator.SAME_UPLOAD_IP)


def test_same_guarantee_payer_and_deposit_account(section):
    account = "6222 0212 3456 7890 123"
    section[0] = replace(section[0], guarantee_payer_account=account)
    section[3] = replace(section[3], guarantee_payer_account=account.replace(" ", ""))
    section[2] = replace(section[2], deposit_account=section[5].deposit_account)
    report = analyze_section(section)
    assert only(report, Indicator.SAME_GUARANTEE_PAYER).bid_ids == ("B001", "B004")
    assert only(report, Indicator.SAME_DEPOSIT_ACCOUNT).bid_ids == ("B003", "B006")


def test_same_contact_phone_and_project_manager(section):
    section[1] = replace(section[1], contact_person=" " + section[0].contact_person)
    section[2] = replace(section[2], contact_phone="+86 " + section[0].contact_phone)
    section[4] = replace(section[4], project_manager=section[3].project_manager)
    report = analyze_section(section)
    assert only(report, Indicator.SAME_CONTACT).bid_ids == ("B001", "B002")
    assert only(report, Indicator.SAME_CONTACT_PHONE).bid_ids == ("B001", "B003")
    assert only(report, Indicator.SAME_PROJECT_MANAGER).bid_ids == ("B004", "B005")
    assert report.groups[0].bid_ids == ("B001", "B002", "B003")


def test_identical_file_hashes_are_one_record_per_set_of_bids(section):
    copied = dict(section[0].file_hashes)
    section[1] = replace(section[1], file_hashes=copied)
    report = analyze_section(section)
    record = only(report, Indicator.SAME_FILE_HASH)
    assert record.bid_ids == ("B001", "B002")
    assert record.detail["modules"] == sorted(copied)
    assert record.points == 30


def test_three_identical_errors_trigger_but_two_do_not(section):
    shared = ("清单040101001综合单价错误", "清单040203004工程量错误", "规费费率错误")
    section[0] = replace(section[0], errors=shared + ("其他",))
    section[1] = replace(section[1], errors=shared)
    section[2] = replace(section[2], errors=shared)
    section[3] = replace(section[3], errors=shared[:2])
    report = analyze_section(section)
    record = only(report, Indicator.IDENTICAL_ERRORS)
    assert record.bid_ids == ("B001", "B002", "B003")
    assert record.detail["count"] == 3 and record.points == 30


def test_bids_of_the_same_bidder_are_not_evidence_against_each_other(section):
    section[1] = replace(section[1], bidder_id=section[0].bidder_id, machine_ids=section[0].machine_ids)
    assert not analyze_section(section).evidence_for(Indicator.SAME_MACHINE_ID)


def test_indicators_without_data_are_reported_as_skipped(section):
    section = [replace(bid, mac_addresses=(), download_ip=None) for bid in section]
    report = analyze_section(section)
    assert Indicator.SAME_MAC in report.indicators_skipped
    assert Indicator.SAME_DOWNLOAD_IP in report.indicators_skipped
    assert Indicator.SAME_MACHINE_ID in report.indicators_run
