"""The evaluation report: every member signs the digest or refuses, the agent generates the PDF, which states every
section, carries a PDF signature a standard validator accepts, and is archived with its hash in the audit chain."""
from __future__ import annotations

import hashlib
import io
import json

import sqlalchemy as sa
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pdfminer.high_level import extract_text
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from core.audit import AuditEvent
from core.db import db
from core.notifications import Notification
from core.pki import platform
from evaluation.evaluation_models import Evaluation
from evaluation.experts import Expert
from evaluation.media.models import MediaRoom, RoomState
from evaluation.pdf_signature import validate_pdf
from tests.evaluation import evaluation_helpers as eh

SECTIONS = ["评 标 报 告", "一、基本情况", "二、评标委员会成员", "三、开标记录摘要", "四、符合要求的投标与被否决的投标",
            "五、评标办法与评审标准", "六、各评委评分表", "七、价格计算表", "八、评分汇总与排序", "九、推荐的中标候选人",
            "十、澄清、说明、补正事项纪要", "十一、评分偏离与复核记录", "十二、评标委员会成员签字页"]


def _validate(pdf: bytes):
    ca = asn1_x509.Certificate.load(platform().ca.certificate.public_bytes(serialization.Encoding.DER))
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    # An independent validator call (not the app's wrapper), kept off Playwright's loop in a full test run.
    from evaluation.pdf_signature import _outside_any_event_loop

    return _outside_any_event_loop(lambda: validate_pdf_signature(signature, ValidationContext(trust_roots=[ca])))


def test_the_signed_report_states_everything_and_a_standard_validator_accepts_it(app, factory):
    world = eh.build(app, factory, prices=(920, 950, 980, 1000), revoked=1)
    seats = eh.seat_everyone(world)
    chair = eh.elect(world, seats)
    failing = world.bidders[3].user.organisation
    eh.pass_every_stage(world, seats, chair, fails={(failing.credit_code, "q_licence_grade"): "资质等级为三级，不满足二级要求"})
    view = eh.state(world, chair)
    first = view["bidders"][0]["id"]
    eh.api(world, chair, "POST", "/clarifications", json={"bidder_id": first, "question": "请说明工期安排的依据",
                                                          "minutes": 30})

    def values(n, bidder, item):
        if n == 4 and bidder["id"] == first and item["id"] == "t_method_statement":
            return 2
        return item["max"] - item["step"]

    for n, seat in enumerate(seats):
        for bidder in (b for b in view["bidders"] if b["failed_stage"] is None):
            for item in (i for i in view["items"] if i["kind"] == "subjective"):
                top = n == 0 and bidder["id"] == first and item["id"] == "t_quality"
                given = item["max"] if top else values(n, bidder, item)
                comment = "质量保证体系完整，通过ISO9001认证" if top else ""
                assert eh.score(world, seat, bidder["id"], item["id"], given, comment).status_code == 200
    for flag in eh.state(world, seats[4])["me"]["flags"]:
        if flag["state"] == "open":
            eh.api(world, seats[4], "POST", f"/flags/{flag['id']}/confirm", json={"note": "方案深度不足，坚持原评分"})
    for seat in seats:
        assert eh.api(world, seat, "POST", "/sheet", json={}).status_code == 200
    assert eh.api(world, chair, "POST", "/close").status_code == 200
    early = world.agent_client.post(f"/api/v1/evaluations/{world.evaluation_id}/report")
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_signed"
    closed = eh.score(world, seats[1], first, "t_quality", 2)
    assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "scoring_closed"
    # a signature with another member's key, or of another digest, is refused
    payload = eh.state(world, seats[0])["me"]["signature_payload"]
    borrowed = eh.api(world, seats[0], "POST", "/report-signatures",
                      json={"document": seats[1].sign(payload), "certificate": seats[1].certificate_pem})
    assert borrowed.status_code == 422
    other_digest = eh.api(world, seats[0], "POST", "/report-signatures", json={
        "document": seats[0].sign(dict(payload, report_digest="0" * 64)), "certificate": seats[0].certificate_pem})
    assert other_digest.status_code == 422
    for seat in seats[:3]:
        eh.sign_everyone(world, [seat])
    reason = eh.api(world, seats[3], "POST", "/report-signatures", json={"refuse": True,
                                                                         "reason": "对第二名的技术评分有保留意见"})
    assert reason.get_json()["decision"] == "refused"
    deemed = eh.api(world, seats[4], "POST", "/report-signatures", json={"refuse": True, "reason": ""}).get_json()
    assert deemed == {"decision": "deemed_agreed", "state": "signed"}
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    assert db.session.get(MediaRoom, evaluation.media_room_id).state is RoomState.CLOSED
    after = eh.score(world, seats[1], first, "t_quality", 2)
    assert after.status_code == 409 and after.get_json()["error"]["code"] == "committee_signed"

    generated = world.agent_client.post(f"/api/v1/evaluations/{world.evaluation_id}/report")
    assert generated.status_code == 200, generated.get_json()
    again = world.agent_client.post(f"/api/v1/evaluations/{world.evaluation_id}/report")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "report_exists"
    download = world.agent_client.get(f"/evaluations/{world.evaluation_id}/report.pdf")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment")
    pdf = download.data

    status = _validate(pdf)
    assert status.bottom_line and status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    tampered = bytearray(pdf)
    middle = len(pdf) // 3
    tampered[middle] = tampered[middle] ^ 0x01
    assert not _validate(bytes(tampered)).intact
    assert validate_pdf(pdf, platform().ca.certificate).ok and not validate_pdf(bytes(tampered),
                                                                                platform().ca.certificate).ok

    archived = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.report_archived"))
    assert archived.details["sha256"] == hashlib.sha256(pdf).hexdigest() == generated.get_json()["sha256"]

    text = extract_text(io.BytesIO(pdf)).replace("\n", "")
    for heading in SECTIONS:
        assert heading.replace("\n", "") in text, heading
    names = db.session.scalars(sa.select(Expert.name).where(Expert.user_id.in_([s.user.id for s in seats]))).all()
    assert names and all(name in text for name in names)
    for phrase in ("资质等级为三级，不满足二级要求", failing.name, "请说明工期安排的依据", "方案深度不足，坚持原评分",
                   "对第二名的技术评分有保留意见", "视为同意", "质量保证体系完整，通过ISO9001认证", evaluation.report_digest, "撤销（投标人原因）",
                   "59.95", "58.14", "56.19"):
        assert phrase in text, phrase
    data = json.loads(evaluation.report_data)
    # the 1000 bid failed: three valid bids, all averaged; B = 950.00 × 0.97
    assert data["price"]["average"] == "950.00" and data["price"]["benchmark"] == "921.50"
    assert [r["score"] for r in data["price"]["rows"]] == ["59.95", "58.14", "56.19"]

    # published: the tenderee is told, the parties now see the names; a bidder cannot read it
    assert world.agent_client.post(f"/api/v1/evaluations/{world.evaluation_id}/publish").status_code == 200
    assert db.session.scalar(sa.select(Notification.id).where(Notification.user_id == world.representative.user.id))
    agent_view = json.dumps(world.agent_client.get(f"/api/v1/evaluations/{world.evaluation_id}").get_json(),
                            ensure_ascii=False)
    assert all(name in agent_view for name in names)
    bidder = eh.login(app, factory, world.bidders[0].user)
    assert bidder.get(f"/evaluations/{world.evaluation_id}/report.pdf").status_code == 404


def test_the_report_page_lets_the_agent_generate_and_download(app, factory):
    world, seats, chair = eh.to_scoring(app, factory, prices=(920, 950, 980))
    eh.score_everyone(world, seats)
    eh.api(world, chair, "POST", "/close")
    page = world.agent_client.get(f"/evaluations/{world.evaluation_id}/report").get_data(as_text=True)
    assert "data-api" not in page and "全体成员签署后" in page
    eh.sign_everyone(world, seats)
    page = world.agent_client.get(f"/evaluations/{world.evaluation_id}/report").get_data(as_text=True)
    assert f'data-api="/evaluations/{world.evaluation_id}/report"' in page
