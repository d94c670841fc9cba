"""Bid-rigging clues from the platform's own records: planted cases are found, clean bids raise none, and the
clue list reaches supervisors only (rules.md §5; 实施条例第40条)."""
import random

import sqlalchemy as sa

from core.accounts import Role
from core.audit import AuditEvent
from core.db import db
from supervision.collusion.synthetic import rewrite_sentences
from supervision.collusion_evidence import attached_clues, build_evidence
from supervision.models import CollusionAnalysis, SupervisionWarning, WarningState
from tests.supervision.opened import BidSpec, clean_text, fingerprint, open_section


def _run(client, factory, section_id):
    supervisor = factory.user(Role.SUPERVISOR)
    headers = factory.token(client, supervisor)
    response = client.post(f"/api/v1/supervision/sections/{section_id}/collusion", headers=headers)
    assert response.status_code == 200, response.get_json()
    report = client.get(f"/api/v1/supervision/sections/{section_id}/collusion", headers=headers).get_json()
    return supervisor, headers, report


def test_planted_fingerprints_price_ladder_and_copied_text_are_found(app, client, factory, monkeypatch):
    shared = fingerprint("the same desk")
    copied = clean_text(7, 16_000)
    specs = [BidSpec("8400000.00", "王建国", technical=copied, fingerprint=shared),
             BidSpec("8600000.00", "李明", technical=rewrite_sentences(copied, random.Random(3), 0.03),
                     fingerprint=shared),
             BidSpec("8800000.00", "张伟", fingerprint=fingerprint("third")),
             BidSpec("7733000.00", "陈静")]
    opened = open_section(app, factory, monkeypatch, specs)
    a, b, c, d = opened.bidders
    evidence, bidders = build_evidence(opened.section)
    assert [e.price for e in evidence] == [8400000, 8600000, 8800000, 7733000]
    assert evidence[0].machine_ids == evidence[1].machine_ids != evidence[2].machine_ids
    assert evidence[0].upload_ip != evidence[1].upload_ip and evidence[0].project_manager == "王建国"
    assert len(evidence[0].technical_text) > 5_000 and bidders[str(a.bid_id)]["name"] == a.user.organisation.name

    _supervisor, _headers, body = _run(client, factory, opened.section.id)
    found = {(e["indicator"], tuple(e["bid_ids"])) for e in body["report"]["evidence"]}
    pair = (a.bid_id, b.bid_id)
    for indicator in ("same_machine_id", "same_mac", "same_host", "similar_technical_text"):
        assert (indicator, pair) in found, indicator
    assert body["suspected"] is True
    # the prices 840/860/880万 step by exactly 20万: the ladder links c to the pair (rules.md §5 example)
    assert ("price_progression", (a.bid_id, b.bid_id, c.bid_id)) in found
    assert body["report"]["groups"][0]["bid_ids"] == [a.bid_id, b.bid_id, c.bid_id]
    assert not any(d.bid_id in e["bid_ids"] for e in body["report"]["evidence"])
    # a red warning points the supervisors at the unreviewed clues
    warning = db.session.scalar(sa.select(SupervisionWarning).where(SupervisionWarning.point == "collusion"))
    assert warning is not None and warning.light.value == "red" and warning.state is WarningState.OPEN


def test_a_price_ladder_among_linked_bids_is_flagged(app, client, factory, monkeypatch):
    ip = "58.22.1.9"  # three bids uploaded from one address are linked; their prices step by 200,000
    specs = [BidSpec("8400000.00", "王建国", ip=ip), BidSpec("8600000.00", "李明", ip=ip),
             BidSpec("8800000.00", "张伟", ip=ip), BidSpec("7733000.00", "陈静")]
    opened = open_section(app, factory, monkeypatch, specs)
    _s, _h, body = _run(client, factory, opened.section.id)
    ladder = [e for e in body["report"]["evidence"] if e["indicator"] == "price_progression"]
    assert ladder and set(ladder[0]["bid_ids"]) == {b.bid_id for b in opened.bidders[:3]}
    assert any(e["indicator"] == "same_upload_ip" for e in body["report"]["evidence"])


def test_clean_bids_raise_no_clue(app, client, factory, monkeypatch):
    specs = [BidSpec("8650000.00", "周建国"), BidSpec("8912300.00", "吴芳"), BidSpec("7907700.00", "郑强")]
    opened = open_section(app, factory, monkeypatch, specs)
    _s, _h, body = _run(client, factory, opened.section.id)
    assert body["report"]["evidence"] == [] and body["suspected"] is False
    assert "similar_technical_text" in body["report"]["indicators_run"]
    assert db.session.scalar(sa.select(SupervisionWarning).where(SupervisionWarning.point == "collusion")) is None


def test_the_clue_list_is_for_supervisors_only_and_can_be_attached(app, client, factory, monkeypatch):
    shared = fingerprint("one machine")
    specs = [BidSpec("9100000.00", "甲", fingerprint=shared), BidSpec("9200000.00", "乙", fingerprint=shared),
             BidSpec("8300000.00", "丙")]
    opened = open_section(app, factory, monkeypatch, specs)
    supervisor, _headers, _body = _run(client, factory, opened.section.id)
    sid = opened.section.id
    for bidder in opened.bidders:
        assert bidder.client.get(f"/api/v1/supervision/sections/{sid}/collusion",
                                 headers=bidder.headers).status_code == 403
    assert client.get(f"/api/v1/supervision/sections/{sid}/collusion", headers=opened.agent_headers).status_code == 403
    page = app.test_client()
    factory.login(page, opened.bidders[0].user)
    assert page.get(f"/supervision/sections/{sid}/collusion").status_code == 403
    factory.login(page, supervisor)
    html = page.get(f"/supervision/sections/{sid}/collusion").get_data(as_text=True)
    assert "机器码相同" in html and "疑似串通投标" in html
    # the audit event names counts only, never the clues
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "collusion.analysed"))
    assert "machine" not in event.data and event.details["suspected"] is True
    assert attached_clues(sid) is None
    analysis = db.session.scalar(sa.select(CollusionAnalysis))
    assert page.post(f"/supervision/collusion/{analysis.id}/attach").status_code == 302
    attached = attached_clues(sid)
    assert attached["analysis_id"] == analysis.id and attached["report"]["evidence"]
    again = page.post(f"/supervision/collusion/{analysis.id}/attach", follow_redirects=True)
    assert "已附入评标记录" in again.get_data(as_text=True)


def test_the_analysis_waits_for_the_opening(app, client, factory):
    section = factory.project().sections[0]
    supervisor = factory.user(Role.SUPERVISOR)
    response = client.post(f"/api/v1/supervision/sections/{section.id}/collusion", headers=factory.token(client, supervisor))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "collusion_before_opening"
