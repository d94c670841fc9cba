"""After the report: publicity, objections, the award among the candidates, the notices, the contract, the close
and its archive (招标投标法第45–47条; 实施条例第54–55条)."""
import hashlib
import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from pdfminer.high_level import extract_text

from core import clock as core_clock
from core.accounts import Role
from core.audit import AuditEvent, verify_chain
from core.db import db
from core.notifications import Notification
from core.pki import platform
from crypto.signing import verify_document
from supervision.archive import verify
from supervision.models import ArchivePackage
from tests.supervision.conftest import PRICES, report
from trading.models import ProjectState, SectionState


def _post(client, url, headers, body=None):
    return client.post(url, json=body or {}, headers=headers)


def test_from_the_report_to_the_archive(app, client, factory, opened):
    section = opened.section
    sid = section.id
    lowest, second, outsider = opened.bidders[2], opened.bidders[0], opened.bidders[1]
    tenderee = factory.token(client, opened.tenderee)
    agent = opened.agent_headers
    result = report(opened)
    db.session.commit()
    # the candidates are not public before the publicity
    assert client.get(f"/api/v1/sections/{sid}/result").get_json()["candidates"] == []
    assert _post(client, f"/api/v1/sections/{sid}/publicity", agent, {"days": 2}).status_code == 422
    started = _post(client, f"/api/v1/sections/{sid}/publicity", agent)
    assert started.status_code == 200, started.get_json()
    public = client.get(f"/api/v1/sections/{sid}/result").get_json()
    assert [c["rank"] for c in public["candidates"]] == [1, 2] and public["state"] == "publicity"
    assert public["candidates"][0]["name"] == lowest.user.organisation.name
    # a bidder objects during the publicity; the award waits for the publicity and for the answer
    objection = _post(outsider.client, f"/api/v1/sections/{sid}/objections", outsider.headers,
                      {"subject": "result", "text": "第一名的项目经理业绩不符合招标文件要求"})
    assert objection.status_code == 201, objection.get_json()
    early = _post(client, f"/api/v1/sections/{sid}/award", tenderee, {"organisation_id": lowest.user.organisation_id})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "publicity_running"
    result.publicity_ends_at = core_clock.now() - timedelta(minutes=1)  # the publicity has run its days
    db.session.commit()
    late = _post(outsider.client, f"/api/v1/sections/{sid}/objections", outsider.headers,
                 {"subject": "result", "text": "再次异议"})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "objection_window_closed"
    waiting = _post(client, f"/api/v1/sections/{sid}/award", tenderee, {"organisation_id": lowest.user.organisation_id})
    assert waiting.status_code == 409 and waiting.get_json()["error"]["code"] == "objections_open"
    answered = _post(client, f"/api/v1/section-objections/{objection.get_json()['id']}/answer", tenderee,
                     {"answer": "经核查，项目经理业绩符合招标文件第3.2条要求"})
    assert answered.status_code == 200
    # the award: never to a non-candidate; other than the first only with a reason
    refused = _post(client, f"/api/v1/sections/{sid}/award", tenderee, {"organisation_id": outsider.user.organisation_id})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "not_a_candidate"
    no_reason = _post(client, f"/api/v1/sections/{sid}/award", tenderee, {"organisation_id": second.user.organisation_id})
    assert no_reason.status_code == 422 and no_reason.get_json()["error"]["field"] == "reason"
    agent_award = _post(client, f"/api/v1/sections/{sid}/award", agent, {"organisation_id": lowest.user.organisation_id})
    assert agent_award.status_code == 403  # the tenderee decides
    awarded = _post(client, f"/api/v1/sections/{sid}/award", tenderee, {"organisation_id": lowest.user.organisation_id})
    assert awarded.status_code == 200, awarded.get_json()
    award_id = awarded.get_json()["id"]
    assert awarded.get_json()["amount"] == "7907700.00"
    # no contract before the award notice
    early_contract = _post(client, f"/api/v1/awards/{award_id}/contract", tenderee,
                           {"signed_at": "2026-01-01 10:00", "amount": "7907700.00"})
    assert early_contract.status_code == 409 and early_contract.get_json()["error"]["code"] == "no_notice"
    notice = _post(client, f"/api/v1/awards/{award_id}/notice", agent)
    assert notice.status_code == 200, notice.get_json()
    from supervision.award_models import Award

    award = db.session.get(Award, award_id)
    storage = Path(app.config["STORAGE_DIR"])
    pdf = (storage / award.notice_key).read_bytes()
    text = extract_text(io.BytesIO(pdf))
    assert "中 标 通 知 书" in text and lowest.user.organisation.name in text and "7907700.00" in text
    payload = verify_document(json.loads(award.notice_signature), platform().signing_certificate)
    assert payload["pdf_sha256"] == hashlib.sha256(pdf).hexdigest() and payload["record_digest"] == award.notice_digest
    assert "中 标 结 果 通 知 书" in extract_text(io.BytesIO((storage / award.result_key).read_bytes()))
    # the notice goes to the winner; the result notice is public
    assert lowest.client.get(f"/awards/{award_id}/notice.pdf").status_code in (302, 401)  # not signed in by cookie
    winner_page = app.test_client()
    factory.login(winner_page, lowest.user)
    assert winner_page.get(f"/awards/{award_id}/notice.pdf").status_code == 200
    other_page = app.test_client()
    factory.login(other_page, outsider.user)
    assert other_page.get(f"/awards/{award_id}/notice.pdf").status_code == 404
    assert app.test_client().get(f"/awards/{award_id}/result.pdf").status_code == 200
    assert db.session.scalar(sa.select(Notification).where(Notification.user_id == outsider.user.id,
                                                           Notification.title.like("中标结果通知%")))
    # the contract: an amount differing from the award needs its reason
    award.notice_issued_at -= timedelta(minutes=5)  # the notice went out a few minutes before the signing
    db.session.commit()
    signed = core_clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    differing = _post(client, f"/api/v1/awards/{award_id}/contract", tenderee,
                      {"signed_at": signed, "amount": "7900000.00"})
    assert differing.status_code == 422 and differing.get_json()["error"]["field"] == "amount"
    contract = _post(client, f"/api/v1/awards/{award_id}/contract", tenderee,
                     {"signed_at": signed, "amount": "7900000.00", "difference_reason": "核减暂列金额7700元"})
    assert contract.status_code == 201, contract.get_json()
    page = app.test_client()
    factory.login(page, opened.tenderee)
    assert page.post(f"/awards/{award_id}/report").status_code == 302
    closed = page.post(f"/sections/{sid}/close", follow_redirects=True)
    assert "标段已归档" in closed.get_data(as_text=True)
    db.session.expire_all()
    assert section.state is SectionState.CLOSED and section.project.state is ProjectState.CLOSED
    package = db.session.scalar(sa.select(ArchivePackage))
    checked = verify(storage / package.key)
    assert checked.ok, checked.problems
    names = {f["path"] for f in checked.manifest["files"]}
    code = section.code
    for expected in (f"opening/{code}/record.pdf", f"award/{code}/award-notice.pdf", f"award/{code}/result-notice.pdf",
                     f"contract/{code}/contract.json", "audit/excerpt.jsonl", "notice/project.json"):
        assert expected in names, expected
    assert sum(1 for n in names if n.endswith("/envelope.bhe")) == 3
    assert checked.manifest["retention"]["class"] == "10y"
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"evaluation.report_received", "evaluation.publicity_started", "objection.raised", "objection.answered",
            "award.decided", "award.notice_issued", "contract.recorded", "award.report_filed", "section.closed",
            "project.closed", "archive.created"} <= actions
    assert verify_chain().ok


def test_the_report_is_checked_when_it_arrives(opened):
    import pytest

    from core.errors import DomainError
    from supervision.post_award import RankedCandidate, receive_evaluation_report

    org = opened.bidders[0].user.organisation_id
    for candidates, message in (([RankedCandidate(10_000, 1, 1)], "不是本标段的投标人"), ([], "1至3个"),
                                ([RankedCandidate(org, 2, 1)], "排序"),
                                ([RankedCandidate(org, 1, 1), RankedCandidate(org, 2, 1)], "不得重复")):
        with pytest.raises(DomainError, match=message):
            receive_evaluation_report(opened.section, candidates)
    report(opened)
    with pytest.raises(DomainError, match="已收到"):
        report(opened)


def test_the_page_walks_the_publicity_for_the_agent(app, factory, opened):
    report(opened)
    db.session.commit()
    page = app.test_client()
    factory.login(page, opened.agent)
    html = page.get(f"/sections/{opened.section.id}/result").get_data(as_text=True)
    assert "发布中标候选人公示" in html
    done = page.post(f"/sections/{opened.section.id}/publicity", data={"days": "3"}, follow_redirects=True)
    assert "中标候选人公示已发布" in done.get_data(as_text=True)
    assert opened.section.state is SectionState.PUBLICITY
    anonymous = app.test_client().get(f"/sections/{opened.section.id}/result").get_data(as_text=True)
    assert opened.bidders[2].user.organisation.name in anonymous


def test_documents_objection_window(app, client, factory):
    from datetime import timedelta

    from trading import operations as trading

    section = factory.project().sections[0]
    bidder = factory.user(Role.BIDDER)
    headers = factory.token(client, bidder)
    refused = _post(client, f"/api/v1/sections/{section.id}/objections", headers,
                    {"subject": "documents", "text": "评分标准第2.1条排斥潜在投标人"})
    assert refused.status_code == 403  # not a (potential) bidder: never downloaded the documents
    trading.record_download(section.current_documents[0], bidder, "10.1.1.1")
    db.session.commit()
    raised = _post(client, f"/api/v1/sections/{section.id}/objections", headers,
                   {"subject": "documents", "text": "评分标准第2.1条排斥潜在投标人"})
    assert raised.status_code == 201, raised.get_json()
    section.deadline = section.deadline - timedelta(days=20)  # now 5 days before the deadline
    db.session.commit()
    late = _post(client, f"/api/v1/sections/{section.id}/objections", headers, {"subject": "documents", "text": "再议"})
    assert late.status_code == 409 and "10日前" in late.get_json()["error"]["message"]


def test_a_published_evaluation_hands_over_its_candidates(opened):
    """The evaluation's fixed ranking (Evaluation.result and its evaluated bids) becomes the candidate list, once."""
    from types import SimpleNamespace

    from supervision.evaluation_bridge import receive_published

    bids = [SimpleNamespace(organisation=b.user.organisation, organisation_id=b.user.organisation_id, bid_id=b.bid_id,
                            price=Decimal(price)) for b, price in zip(opened.bidders, PRICES)]
    codes = [b.organisation.credit_code for b in bids]
    evaluation = SimpleNamespace(
        section_id=opened.section.id, section=opened.section, report_digest="cd" * 32, bidders=bids,
        result=json.dumps({"candidates": [codes[2], codes[0]], "order": [
            {"bidder": codes[2], "rank": 1, "total": "95.50"}, {"bidder": codes[0], "rank": 2, "total": "91.25"},
            {"bidder": codes[1], "rank": 3, "total": "80.00"}]}))
    received = receive_published(evaluation)
    assert [(c.rank, c.organisation_id, c.price, c.score, c.bid_id) for c in received.candidates] == [
        (1, bids[2].organisation_id, Decimal(PRICES[2]), 95.5, bids[2].bid_id),
        (2, bids[0].organisation_id, Decimal(PRICES[0]), 91.25, bids[0].bid_id)]
    assert receive_published(evaluation) is received
