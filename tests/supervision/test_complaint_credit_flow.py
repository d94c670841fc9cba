"""Complaints to the supervisor (实施条例第60–62条) and credit records read as computed facts."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from core import clock
from core.accounts import Role
from core.db import db
from core.errors import DomainError
from supervision import credit
from supervision.models import ClueReview, CollusionAnalysis, CreditKind, CreditRecord
from supervision.post_award import current_result
from tests.supervision.conftest import report
from tests.supervision.opened import BidSpec, fingerprint, open_section
from trading.models import SectionState


def _post(client, url, headers, body=None):
    return client.post(url, json=body or {}, headers=headers)


def test_a_complaint_needs_an_objection_first_and_may_suspend_then_reopen_the_evaluation(app, client, factory, opened):
    section, sid = opened.section, opened.section.id
    bidder = opened.bidders[1]
    supervisor = factory.token(client, factory.user(Role.SUPERVISOR))
    tenderee = factory.token(client, opened.tenderee)
    report(opened)
    db.session.commit()
    assert _post(client, f"/api/v1/sections/{sid}/publicity", opened.agent_headers).status_code == 200
    body = {"text": "第一名业绩造假", "subject": "result"}
    first = _post(bidder.client, f"/api/v1/sections/{sid}/complaints", bidder.headers, body)
    assert first.status_code == 409 and first.get_json()["error"]["code"] == "objection_first"
    late = _post(bidder.client, f"/api/v1/sections/{sid}/complaints", bidder.headers,
                 {"text": "开标程序违法", "known_on": (clock.local(clock.now()).date() - timedelta(days=30)).isoformat()})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "complaint_late"
    objection = _post(bidder.client, f"/api/v1/sections/{sid}/objections", bidder.headers,
                      {"subject": "result", "text": "第一名业绩造假"}).get_json()["id"]
    _post(client, f"/api/v1/section-objections/{objection}/answer", tenderee, {"answer": "业绩真实"})
    filed = _post(bidder.client, f"/api/v1/sections/{sid}/complaints", bidder.headers, body)
    assert filed.status_code == 201, filed.get_json()
    complaint = filed.get_json()["id"]
    no_note = _post(client, f"/api/v1/complaints/{complaint}/handling", supervisor, {"action": "accept", "text": ""})
    assert no_note.status_code == 422
    accepted = _post(client, f"/api/v1/complaints/{complaint}/handling", supervisor,
                     {"action": "accept", "text": "符合受理条件", "suspend": True})
    assert accepted.get_json()["state"] == "accepted"
    current_result(sid).publicity_ends_at = clock.now() - timedelta(minutes=1)
    db.session.commit()
    suspended = _post(client, f"/api/v1/sections/{sid}/award", tenderee,
                      {"organisation_id": opened.bidders[2].user.organisation_id})
    assert suspended.status_code == 409 and suspended.get_json()["error"]["code"] == "suspended"
    upheld = _post(client, f"/api/v1/complaints/{complaint}/handling", supervisor,
                   {"action": "uphold", "text": "业绩证明材料与原件不符，责令重新评审", "re_evaluate": True})
    assert upheld.get_json()["state"] == "upheld"
    db.session.expire_all()
    assert section.state is SectionState.EVALUATION and current_result(sid) is None
    assert report(opened, ranked=(0, 1)).candidates[0].organisation_id == opened.bidders[0].user.organisation_id


def test_credit_records_are_computed_facts(app, client, factory, opened):
    supervisor = factory.user(Role.SUPERVISOR)
    headers = factory.token(client, supervisor)
    org = opened.bidders[2].user.organisation
    today = credit.today()
    assert credit.qualification_facts(org) == {"on_dishonest_list": False, "penalty_in_force": False, "rating": None,
                                               "on": today.isoformat()}
    bad = _post(client, "/api/v1/credit/records", headers, {"organisation_id": org.id, "kind": "rating",
                                                             "title": "年度信用评价", "authority": "市住建局",
                                                             "effective_from": today.isoformat()})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "rating"
    for body in ({"kind": "rating", "rating": "B", "title": "年度信用评价"},
                 {"kind": "dishonest", "title": "失信被执行人", "document_no": "（2026）闽09执123号"}):
        made = _post(client, "/api/v1/credit/records", headers, {"organisation_id": org.id, "authority": "宁德市中级人民法院",
                                                                 "effective_from": today.isoformat(), **body})
        assert made.status_code == 201, made.get_json()
    facts = client.get(f"/api/v1/credit/organisations/{org.id}", headers=headers).get_json()["facts"]
    assert facts["on_dishonest_list"] is True and facts["rating"] == "B"
    assert credit.dishonest_organisation_ids([org.id, opened.bidders[0].user.organisation_id]) == {org.id}
    assert not credit.is_on_dishonest_list(org, on=today - timedelta(days=1))  # not yet in force then
    # the award refuses a winner on the dishonest-entity list
    report(opened)
    db.session.commit()
    assert _post(client, f"/api/v1/sections/{opened.section.id}/publicity", opened.agent_headers).status_code == 200
    current_result(opened.section.id).publicity_ends_at = clock.now() - timedelta(minutes=1)
    db.session.commit()
    tenderee = factory.token(client, opened.tenderee)
    refused = _post(client, f"/api/v1/sections/{opened.section.id}/award", tenderee, {"organisation_id": org.id})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "dishonest"
    # revoked, the entry stays on record but no longer counts
    entry = db.session.scalar(sa.select(CreditRecord).where(CreditRecord.kind == CreditKind.DISHONEST))
    with pytest.raises(DomainError, match="理由"):
        credit.revoke(entry, supervisor, " ")
    credit.revoke(entry, supervisor, "已履行完毕，法院删除失信信息")
    db.session.commit()
    assert not credit.is_on_dishonest_list(org)
    assert _post(client, f"/api/v1/sections/{opened.section.id}/award", tenderee,
                 {"organisation_id": org.id}).status_code == 200


def test_penalised_experts_are_left_out_of_the_draw(app, factory):
    from evaluation import expert_operations as experts
    from evaluation.expert_identity import make_id_number

    supervisor = factory.user(Role.SUPERVISOR)
    expert = experts.create_expert(experts.ExpertInput(
        name="林评审", id_number=make_id_number("35090219700101123"), title="senior_engineer", region_code="350902",
        specialties=["A0401"]), actor=None)
    db.session.flush()
    credit.record(supervisor=supervisor, kind="penalty", title="评标中违规", authority="宁德市发改委",
                  effective_from=credit.today(), effective_until=credit.today() + timedelta(days=365), expert=expert)
    db.session.commit()
    assert credit.penalised_expert_ids() == {expert.id}
    assert credit.penalised_expert_ids(on=credit.today() + timedelta(days=400)) == set()


def test_a_confirmed_clue_becomes_a_record_for_every_bidder_of_its_group(app, client, factory, monkeypatch):
    shared = fingerprint("one desk")
    opened = open_section(app, factory, monkeypatch, [BidSpec("8100000.00", "甲", fingerprint=shared),
                                                      BidSpec("8300000.00", "乙", fingerprint=shared),
                                                      BidSpec("7400000.00", "丙")])
    supervisor = factory.user(Role.SUPERVISOR)
    page = app.test_client()
    factory.login(page, supervisor)
    page.post(f"/supervision/sections/{opened.section.id}/collusion/run")
    analysis = db.session.scalar(sa.select(CollusionAnalysis))
    form = {"group": "0", "kind": "penalty", "title": "串通投标", "authority": "宁德市住建局",
            "effective_from": date.today().isoformat()}
    early = page.post(f"/supervision/collusion/{analysis.id}/credit", data=form, follow_redirects=True)
    assert "核查属实后" in early.get_data(as_text=True)
    no_note = page.post(f"/supervision/collusion/{analysis.id}/review", data={"decision": "confirmed"},
                        follow_redirects=True)
    assert "核查意见" in no_note.get_data(as_text=True)
    page.post(f"/supervision/collusion/{analysis.id}/review", data={"decision": "confirmed", "note": "约谈核实属实"})
    db.session.expire_all()
    assert analysis.review is ClueReview.CONFIRMED
    page.post(f"/supervision/collusion/{analysis.id}/credit", data=form)
    records = db.session.scalars(sa.select(CreditRecord).order_by(CreditRecord.organisation_id)).all()
    assert [r.organisation_id for r in records] == sorted(b.user.organisation_id for b in opened.bidders[:2])
    assert all(r.analysis_id == analysis.id and r.kind is CreditKind.PENALTY for r in records)
