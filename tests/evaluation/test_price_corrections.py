"""Arithmetic correction of a bid price (算术错误修正): the chair proposes it as a clarification, the bidder accepts
or refuses it in its signed answer; accepted, the corrected price is scored; refused or unanswered, the bid is
rejected with the reason, and the report lists every correction."""
from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from pdfminer.high_level import extract_text

from core.audit import AuditEvent, verify_chain
from core.clock import now
from core.db import db
from evaluation.clarification_operations import answer_payload
from evaluation.evaluation_models import EvaluationClarification, PriceCorrection
from evaluation.price_corrections import REJECTED_STAGE, REJECTION_REASON
from tests.evaluation import evaluation_helpers as eh

GP = dict(method="gp_comprehensive_lowest_price_base", k=None, extra_form={"delivery_days": 30},
          facts={"not_dishonest_entity": True, "negative_deviations": 0, "similar_contracts": 1, "iso9001": True,
                 "iso14001": False, "iso45001": False})
PRICES = ("1000000.00", "1050000.00", "1100000.00")


def _bidder_id(world, chair, holder) -> int:
    code = holder.user.organisation.credit_code
    return next(b["id"] for b in eh.state(world, chair)["bidders"] if b["credit_code"] == code)


def _propose(world, seat, bidder_id, price, reason="分项报价合计为1,200,000.00元，总价计算有误", minutes=30):
    return eh.api(world, seat, "POST", "/price-corrections", json={
        "bidder_id": bidder_id, "corrected_price": price, "reason": reason, "minutes": minutes})


def _answer(app, factory, holder, accept, text):
    portal = eh.login(app, factory, holder.user)
    listed = portal.get("/api/v1/evaluation-clarifications").get_json()["clarifications"][0]
    assert listed["price_correction"]["state"] == "proposed"
    payload = dict(listed["payload"], answer=text, accept=accept)
    return portal, listed, portal.post(f"/api/v1/evaluation-clarifications/{listed['id']}/answer", json={
        "document": holder.sign(payload), "certificate": holder.certificate_pem})


def _actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_only_the_chair_corrects_bad_input_is_refused_and_an_accepted_correction_is_scored(app, factory):
    world, seats, chair = eh.to_scoring(app, factory, prices=PRICES, **GP)
    target = world.bidders[0]
    bidder_id = _bidder_id(world, chair, target)
    assert _propose(world, seats[1], bidder_id, "1200000.00").status_code == 403
    for price, reason, field in (("1000000.00", "总价有误", "corrected_price"), ("0", "总价有误", "corrected_price"),
                                 ("-5", "总价有误", "corrected_price"), ("1200000.00", "  ", "reason")):
        refused = _propose(world, chair, bidder_id, price, reason)
        assert refused.status_code == 422 and refused.get_json()["error"]["field"] == field, (price, reason)
        assert "(" in refused.get_json()["error"]["message"]  # Chinese first, then English
    proposed = _propose(world, chair, bidder_id, "1200000.00")
    assert proposed.status_code == 201, proposed.get_json()
    assert proposed.get_json()["read_out_price"] == "1000000.00" and proposed.get_json()["state"] == "proposed"
    second = _propose(world, chair, bidder_id, "1150000.00")
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "correction_open"
    # the clarification states the correction; the bidder's portal offers accept and refuse
    question = db.session.get(EvaluationClarification, proposed.get_json()["clarification_id"]).question
    assert "由 1000000.00 元修正为 1200000.00 元" in question and "do you accept?" in question
    page = eh.login(app, factory, target.user).get("/evaluations").get_data(as_text=True)
    assert 'data-accept="yes"' in page and 'data-accept="no"' in page
    # an answer that does not say accept or refuse is refused; then the signed acceptance
    portal = eh.login(app, factory, target.user)
    listed = portal.get("/api/v1/evaluation-clarifications").get_json()["clarifications"][0]
    silent = dict(listed["payload"], answer="收到")
    undecided = portal.post(f"/api/v1/evaluation-clarifications/{listed['id']}/answer", json={
        "document": target.sign(silent), "certificate": target.certificate_pem})
    assert undecided.status_code == 422 and undecided.get_json()["error"]["field"] == "accept"
    _, _, accepted = _answer(app, factory, target, True, "我单位接受上述算术修正。")
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["price_correction"]["state"] == "accepted"
    # 87号令第55条: price score = base / evaluated price × 30, base the lowest evaluated price (now 1,050,000.00)
    computed = eh.state(world, chair)["computed"]
    base, weight = Decimal("1050000.00"), Decimal(30)

    def by_hand(price: str) -> float:
        return float((base / Decimal(price) * weight).quantize(Decimal("0.01"), ROUND_HALF_UP))

    ids = {h.user.organisation.credit_code: _bidder_id(world, chair, h) for h in world.bidders}
    prices = dict(zip(ids.values(), ("1200000.00", "1050000.00", "1100000.00")))
    assert {i: computed[str(i)]["price"] for i in ids.values()} == {i: by_hand(p) for i, p in prices.items()}
    assert computed[str(bidder_id)]["price"] == 26.25
    # the corrected price is now the bidder's price: a further correction starts from it
    again = _propose(world, chair, bidder_id, "1190000.00", "单价乘以工程量计算有误")
    assert again.status_code == 201 and again.get_json()["read_out_price"] == "1200000.00"
    actions = _actions()
    for action in ("evaluation.price_correction_proposed", "evaluation.clarification_asked",
                   "evaluation.clarification_answered", "evaluation.price_correction_accepted"):
        assert action in actions, action
    assert actions.index("evaluation.price_correction_proposed") < actions.index("evaluation.price_correction_accepted")
    assert verify_chain().ok


def test_a_refused_correction_rejects_the_bid_and_the_report_lists_it(app, factory):
    world, seats, chair = eh.to_scoring(app, factory, prices=PRICES, **GP)
    target = world.bidders[1]
    bidder_id = _bidder_id(world, chair, target)
    assert _propose(world, chair, bidder_id, "1080000.00", "大写金额与小写金额不一致，以大写金额为准").status_code == 201
    _, _, refused = _answer(app, factory, target, False, "我单位不接受上述算术修正。")
    assert refused.status_code == 200, refused.get_json()
    view = eh.state(world, chair)
    assert next(b for b in view["bidders"] if b["id"] == bidder_id)["failed_stage"] == REJECTED_STAGE
    assert str(bidder_id) not in view["computed"]
    assert _propose(world, chair, bidder_id, "1090000.00").status_code == 422  # a rejected bid is not corrected
    eh.score_everyone(world, seats)
    closed = eh.api(world, chair, "POST", "/close")
    assert closed.status_code == 200, closed.get_json()
    eh.sign_everyone(world, seats)
    assert world.agent_client.post(f"/api/v1/evaluations/{world.evaluation_id}/report").status_code == 200
    from evaluation.evaluation_models import Evaluation

    data = json.loads(db.session.get(Evaluation, world.evaluation_id).report_data)
    rejected = data["review"]["rejected"]
    assert [r["stage"] for r in rejected] == [REJECTED_STAGE]
    assert rejected[0]["reasons"][0]["reasons"] == [REJECTION_REASON]
    ranked = [r["bidder"] for r in data["ranking"]["order"]]
    assert len(ranked) == 2 and target.user.organisation.credit_code not in ranked
    row = data["price_corrections"][0]
    assert (row["read_out_price"], row["corrected_price"], row["state"], row["answer"]) == \
        ("1050000.00", "1080000.00", "refused", "投标人不接受")
    assert row["reason"] == "大写金额与小写金额不一致，以大写金额为准"
    pdf = world.agent_client.get(f"/evaluations/{world.evaluation_id}/report.pdf").data
    text = extract_text(io.BytesIO(pdf))
    for shown in ("算术修正", "1080000.00", "不接受算术修正", "投标人不接受"):
        assert shown in text, shown
    actions = _actions()
    assert "evaluation.price_correction_refused" in actions
    refused_event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "evaluation.price_correction_refused"))
    assert json.loads(refused_event.data)["bid_rejected"] is True
    assert verify_chain().ok


def test_an_unanswered_correction_past_its_deadline_counts_as_refused(app, factory):
    world = eh.build(app, factory, prices=PRICES, **GP)
    seats = eh.seat_everyone(world)
    chair = eh.elect(world, seats)
    target = world.bidders[2]
    bidder_id = _bidder_id(world, chair, target)
    proposed = _propose(world, chair, bidder_id, "1010000.00", "分项合计有误", minutes=5)
    assert proposed.status_code == 201, proposed.get_json()
    # while the bidder may still answer, the stage is not decided
    held = eh.api(world, chair, "POST", "/stage/decide")
    assert held.status_code == 409 and held.get_json()["error"]["code"] == "correction_open"
    item = db.session.get(EvaluationClarification, proposed.get_json()["clarification_id"])
    item.deadline = now() - timedelta(seconds=1)
    db.session.commit()
    late = eh.login(app, factory, target.user).post(f"/api/v1/evaluation-clarifications/{item.id}/answer", json={
        "document": target.sign(answer_payload(item, "接受", True)), "certificate": target.certificate_pem})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "clarification_closed"
    db.session.expire_all()
    correction = db.session.scalar(sa.select(PriceCorrection).where(PriceCorrection.bidder_id == bidder_id))
    assert correction.state.value == "expired" and correction.bidder.failed_stage == REJECTED_STAGE
    eh.pass_every_stage(world, seats, chair)
    view = eh.state(world, chair)
    assert view["state"] == "scoring" and str(bidder_id) not in view["computed"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.price_correction_expired"))
    assert json.loads(event.data)["reason"] == REJECTION_REASON
    assert verify_chain().ok


def test_the_deadline_passing_unnoticed_is_settled_when_the_chair_decides(app, factory):
    world = eh.build(app, factory, prices=PRICES, **GP)
    seats = eh.seat_everyone(world)
    chair = eh.elect(world, seats)
    bidder_id = _bidder_id(world, chair, world.bidders[0])
    proposed = _propose(world, chair, bidder_id, "1010000.00", "分项合计有误", minutes=5)
    item = db.session.get(EvaluationClarification, proposed.get_json()["clarification_id"])
    item.deadline = now() - timedelta(seconds=1)
    db.session.commit()
    eh.pass_every_stage(world, seats, chair)
    view = eh.state(world, chair)
    assert next(b for b in view["bidders"] if b["id"] == bidder_id)["failed_stage"] == REJECTED_STAGE
    assert str(bidder_id) not in view["computed"]


def test_an_accepted_correction_above_the_ceiling_rejects_the_bid(app, factory):
    """The ceiling (最高投标限价, 9,000,000 here) holds the corrected price as it holds a read-out one
    (实施条例第51条(五)): the bidder accepts, and the bid leaves the scoring with that reason."""
    from evaluation.price_corrections import ABOVE_CEILING_REASON, ABOVE_CEILING_STAGE

    world, seats, chair = eh.to_scoring(app, factory, prices=PRICES, **GP)
    target = world.bidders[2]
    bidder_id = _bidder_id(world, chair, target)
    assert _propose(world, chair, bidder_id, "9100000.00", "单价乘以工程量计算有误，漏计一位").status_code == 201
    _, _, accepted = _answer(app, factory, target, True, "我单位接受上述算术修正。")
    assert accepted.status_code == 200, accepted.get_json()
    bidders = {b["id"]: b for b in eh.state(world, chair)["bidders"]}
    assert bidders[bidder_id]["failed_stage"] == ABOVE_CEILING_STAGE
    assert str(bidder_id) not in eh.state(world, chair)["computed"]
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "evaluation.price_correction_accepted")).one()
    assert json.loads(event.data)["reason"] == ABOVE_CEILING_REASON and json.loads(event.data)["bid_rejected"]
