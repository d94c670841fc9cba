"""The evaluation over the JSON API: the room page calls it, and so can any tool (bidtool answers clarifications).

Each operation checks access, calls one operation, commits once and pushes ``evaluation_changed`` to the room.
Errors are ``{"error": {"code", "message", "field"}}``; a refused change leaves every stored score as it was.
"""
from __future__ import annotations

import tomllib

from flask import abort, jsonify, request
from flask_login import current_user

from core.accounts import Role, User
from core.api import json_body, registry
from core.db import db
from core.errors import RuleViolation, ValidationError
from core.permissions import agents_only, bidders_only, roles, signed_in
from evaluation import chair_election, media_roster
from evaluation import clarification_operations as clarifications
from evaluation import committee as committee_ops
from evaluation import price_corrections as corrections
from evaluation import ranking_operations as ranking
from evaluation import report as reports
from evaluation import review_operations as review
from evaluation import score_operations as scoring
from evaluation.evaluation_data import required_facts
from evaluation.evaluation_models import (
    Evaluation,
    EvaluationClarification,
    EvaluationState,
)
from evaluation.room_state import broadcast, state_for
from evaluation.scoring import MethodError, parse_method
from trading.views import get_section

TAG = "evaluation"
committee_only = roles(Role.EXPERT, Role.TENDEREE)


def get_evaluation(evaluation_id: int) -> Evaluation:
    evaluation = db.session.get(Evaluation, evaluation_id)
    if evaluation is None or not evaluation.can_view(current_user):
        abort(404)
    return evaluation


def _done(evaluation: Evaluation, payload: dict, status: int = 200):
    db.session.commit()
    broadcast(evaluation)
    if evaluation.state is EvaluationState.SIGNED:
        media_roster.stop_live_media(evaluation.media_room_id)
    return jsonify(payload), status


def _list(value, field: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError("应为列表 (must be a list)", field=field)
    return value


@registry.route("/evaluations/<int:evaluation_id>", summary="The evaluation room as I may see it", tag=TAG)
@signed_in
def evaluation_state_api(evaluation_id: int):
    return jsonify(state_for(get_evaluation(evaluation_id), current_user))


@registry.route("/sections/<int:section_id>/evaluation", "POST", summary="Open the evaluation (the agent)", tag=TAG,
                request_schema={"type": "object", "properties": {"representatives": {
                    "type": "array", "items": {"type": "integer"}}}})
@agents_only
def open_evaluation_api(section_id: int):
    section = get_section(section_id, manage=True)
    ids = _list(json_body().get("representatives"), "representatives")
    users = [db.session.get(User, int(i)) for i in ids if str(i).isdigit()]
    if len(users) != len(ids) or None in users:
        raise ValidationError("招标人代表无效 (unknown representative)", field="representatives")
    evaluation = committee_ops.open_evaluation(section, current_user, users)
    return _done(evaluation, {"id": evaluation.id, "state": evaluation.state.value}, 201)


@registry.route("/evaluations/<int:evaluation_id>/representatives", "POST", tag=TAG,
                summary="Name a tenderee representative in place of one who recused",
                request_schema={"type": "object", "required": ["user_id"], "properties": {"user_id": {"type": "integer"}}})
@agents_only
def designate_representative_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    user = db.session.get(User, int(json_body().get("user_id") or 0))
    if user is None:
        raise ValidationError("没有这个用户 (no such user)", field="user_id")
    member = committee_ops.designate_representative(evaluation, current_user, user)
    return _done(evaluation, {"member": member.id})


@registry.route("/evaluations/<int:evaluation_id>/bidders/<int:bidder_id>/facts", "PUT", tag=TAG,
                summary="Record the facts the method's rules read about a bidder (the agent)",
                request_schema={"type": "object", "properties": {"facts": {"type": "object"},
                                                                 "small_enterprise": {"type": "boolean"}}})
@agents_only
def record_facts_api(evaluation_id: int, bidder_id: int):
    evaluation = get_evaluation(evaluation_id)
    bidder = next((b for b in evaluation.bidders if b.id == bidder_id), None)
    if bidder is None:
        abort(404)
    body = json_body()
    facts = body.get("facts") or {}
    if not isinstance(facts, dict):
        raise ValidationError("facts 应为对象 (facts must be an object)", field="facts")
    review.record_facts(evaluation, current_user, bidder, facts, bool(body.get("small_enterprise", False)))
    return _done(evaluation, {"bidder": bidder.id, "facts": bidder.facts_dict,
                              "required": required_facts(_method(evaluation))})


def _method(evaluation: Evaluation):
    from evaluation.evaluation_data import method_of

    return method_of(evaluation)


@registry.route("/evaluations/<int:evaluation_id>/seat/challenge", "POST", tag=TAG,
                summary="A one-time nonce for signing in at the seat with a certificate")
@committee_only
def seat_challenge_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    nonce = committee_ops.seat_challenge(evaluation, current_user)
    member = committee_ops.seat_of(evaluation, current_user)
    db.session.commit()
    return jsonify({"nonce": nonce, "payload": committee_ops.seat_payload(evaluation, member, nonce)})


@registry.route("/evaluations/<int:evaluation_id>/seat", "POST", tag=TAG,
                summary="签到 at the venue seat: a signed seat document, or password plus TOTP",
                request_schema={"type": "object", "required": ["method"], "properties": {
                    "method": {"enum": ["certificate", "totp"]}, "document": {"type": "object"},
                    "certificate": {"type": "string"}, "password": {"type": "string"}, "totp": {"type": "string"}}})
@committee_only
def sign_in_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    body = json_body()
    if body.get("method") == "certificate":
        member = committee_ops.sign_in_with_certificate(evaluation, current_user, body.get("document") or {},
                                                        str(body.get("certificate", "")), request.remote_addr)
    elif body.get("method") == "totp":
        member = committee_ops.sign_in_with_totp(evaluation, current_user, str(body.get("password", "")),
                                                 str(body.get("totp", "")), request.remote_addr)
    else:
        raise ValidationError("签到方式应为 certificate 或 totp (method: certificate or totp)", field="method")
    return _done(evaluation, {"member": member.id, "status": member.status.value})


@registry.route("/evaluations/<int:evaluation_id>/declaration", "POST", tag=TAG,
                summary="Sign the recusal declaration (承诺书); a declared conflict recuses and replaces the member",
                request_schema={"type": "object", "properties": {
                    "conflict_with": {"type": "array", "items": {"type": "string"}}, "reason": {"type": "string"},
                    "document": {"type": "object"}}})
@committee_only
def declaration_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    body = json_body()
    document = body.get("document")
    member = committee_ops.declare(evaluation, current_user, conflict_with=[str(c) for c in _list(
        body.get("conflict_with"), "conflict_with")], reason=str(body.get("reason") or ""),
        document=document if isinstance(document, dict) else None)
    return _done(evaluation, {"member": member.id, "status": member.status.value,
                              "replaced_by": member.replaced_by_id})


@registry.route("/evaluations/<int:evaluation_id>/chair-votes", "POST", summary="Vote for the chair", tag=TAG,
                request_schema={"type": "object", "required": ["candidate_id"],
                                "properties": {"candidate_id": {"type": "integer"}}})
@committee_only
def chair_vote_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    try:
        candidate = int(json_body().get("candidate_id"))
    except (TypeError, ValueError):
        raise ValidationError("请选择候选人 (choose a candidate)", field="candidate_id") from None
    chair_election.vote_for_chair(evaluation, current_user, candidate)
    chair = evaluation.chair
    return _done(evaluation, {"state": evaluation.state.value, "chair": chair.id if chair else None,
                              "round": evaluation.election_round})


@registry.route("/evaluations/<int:evaluation_id>/votes", "PUT", summary="Pass/fail votes of the current stage",
                tag=TAG, request_schema={"type": "object", "required": ["votes"], "properties": {"votes": {
                    "type": "array", "items": {"type": "object", "required": ["bidder_id", "item_id", "passed"],
                                               "properties": {"bidder_id": {"type": "integer"},
                                                              "item_id": {"type": "string"},
                                                              "passed": {"type": "boolean"},
                                                              "reason": {"type": "string"}}}}}})
@committee_only
def votes_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    count = review.cast_votes(evaluation, current_user, _list(json_body().get("votes"), "votes"))
    return _done(evaluation, {"recorded": count})


@registry.route("/evaluations/<int:evaluation_id>/stage/submit", "POST", summary="I finished the current stage",
                tag=TAG)
@committee_only
def submit_stage_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    entry = review.submit_stage(evaluation, current_user)
    return _done(evaluation, {"stage": entry.stage_id, "at": entry.at.isoformat()})


@registry.route("/evaluations/<int:evaluation_id>/stage/decide", "POST", summary="The chair decides the stage",
                tag=TAG)
@committee_only
def decide_stage_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    outcome = review.decide_current_stage(evaluation, current_user)
    return _done(evaluation, {"stage": outcome.stage_id, "outcome": outcome.data, "state": evaluation.state.value})


def flag_json(flag) -> dict:
    return {"id": flag.id, "bidder_id": flag.bidder_id, "item": flag.item_id, "reason": flag.reason,
            "reason_label": flag.reason_label, "member": flag.member_id, "score": flag.score,
            "reference": flag.reference, "threshold": flag.threshold, "state": flag.state.value}


@registry.route("/evaluations/<int:evaluation_id>/scores", "PUT", summary="Enter a subjective score", tag=TAG,
                request_schema={"type": "object", "required": ["bidder_id", "item_id", "value"], "properties": {
                    "bidder_id": {"type": "integer"}, "item_id": {"type": "string"},
                    "value": {"type": ["number", "string"]}, "comment": {"type": "string"}}})
@committee_only
def score_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    body = json_body()
    bidder_id = _bidder_id(body)
    entry, flags = scoring.enter_score(evaluation, current_user, bidder_id, str(body.get("item_id", "")),
                                       body.get("value"), str(body.get("comment") or ""))
    return _done(evaluation, {"bidder_id": entry.bidder_id, "item_id": entry.item_id, "value": str(entry.value),
                              "flags": [flag_json(f) for f in flags]})


@registry.route("/evaluations/<int:evaluation_id>/flags/<int:flag_id>/confirm", "POST", tag=TAG,
                summary="Keep a flagged score and say why", request_schema={
                    "type": "object", "required": ["note"], "properties": {"note": {"type": "string"}}})
@committee_only
def confirm_flag_api(evaluation_id: int, flag_id: int):
    evaluation = get_evaluation(evaluation_id)
    flag = scoring.confirm_flag(evaluation, current_user, flag_id, str(json_body().get("note") or ""))
    return _done(evaluation, flag_json(flag))


@registry.route("/evaluations/<int:evaluation_id>/sheet", "POST", summary="Submit my score sheet", tag=TAG,
                request_schema={"type": "object", "properties": {"totals": {"type": "object"},
                                                                 "objective": {"type": "object"}}})
@committee_only
def submit_sheet_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    body = request.get_json(silent=True) or {}
    totals, objective = body.get("totals") or {}, body.get("objective") or {}
    if not isinstance(totals, dict) or not isinstance(objective, dict):
        raise ValidationError("totals 与 objective 应为对象 (totals and objective are objects)", field="totals")
    scoring.submit_sheet(evaluation, current_user, totals, objective)
    return _done(evaluation, {"submitted": True})


@registry.route("/evaluations/<int:evaluation_id>/close", "POST", tag=TAG,
                summary="The chair closes the scoring: aggregation, ranking, candidates")
@committee_only
def close_scoring_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    ranking.close_scoring(evaluation, current_user)
    return _done(evaluation, {"state": evaluation.state.value, "report_digest": evaluation.report_digest})


@registry.route("/evaluations/<int:evaluation_id>/clarifications", "POST", tag=TAG,
                summary="The chair sends a clarification question to a bidder, with a deadline",
                request_schema={"type": "object", "required": ["bidder_id", "question", "minutes"], "properties": {
                    "bidder_id": {"type": "integer"}, "question": {"type": "string"}, "minutes": {"type": "integer"}}})
@committee_only
def ask_clarification_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    body = json_body()
    bidder_id = _bidder_id(body)
    item = clarifications.ask(evaluation, current_user, bidder_id, str(body.get("question") or ""),
                              body.get("minutes"))
    return _done(evaluation, {"id": item.id, "number": item.number, "deadline": item.deadline.isoformat()}, 201)


@registry.route("/evaluations/<int:evaluation_id>/price-corrections", "POST", tag=TAG,
                summary="The chair corrects an arithmetic error in a bid price; the bidder is asked to accept it",
                request_schema={"type": "object", "required": ["bidder_id", "corrected_price", "reason", "minutes"],
                                "properties": {"bidder_id": {"type": "integer"},
                                               "corrected_price": {"type": ["string", "number"]},
                                               "reason": {"type": "string"}, "minutes": {"type": "integer"}}})
@committee_only
def propose_price_correction_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    body = json_body()
    bidder_id = _bidder_id(body)
    correction = corrections.propose(evaluation, current_user, bidder_id, body.get("corrected_price", ""),
                                     str(body.get("reason") or ""), body.get("minutes"))
    return _done(evaluation, correction_json(correction), 201)


def _bidder_id(body: dict) -> int:
    try:
        return int(body.get("bidder_id"))
    except (TypeError, ValueError):
        raise ValidationError("请选择投标人 (choose a bidder)", field="bidder_id") from None


def correction_json(correction) -> dict:
    return {"id": correction.id, "clarification_id": correction.clarification_id, "bidder_id": correction.bidder_id,
            "read_out_price": str(correction.read_out_price), "corrected_price": str(correction.corrected_price),
            "reason": correction.reason, "state": correction.state.value, "state_label": correction.state_label,
            "deadline": correction.clarification.deadline.isoformat()}


def clarification_json(item: EvaluationClarification) -> dict:
    """A correction's clarification also names the correction; its signed answer adds ``accept`` to the payload."""
    correction = corrections.correction_for(item)
    return {"id": item.id, "number": item.number, "section": item.evaluation.section.name,
            "question": item.question, "asked_at": item.asked_at.isoformat(), "deadline": item.deadline.isoformat(),
            "answer": item.answer, "answered_at": item.answered_at.isoformat() if item.answered_at else None,
            "payload": clarifications.answer_payload(item, ""),
            "price_correction": correction_json(correction) if correction else None}


@registry.route("/evaluation-clarifications", summary="Clarifications my organisation was asked", tag=TAG)
@bidders_only
def my_clarifications_api():
    return jsonify({"clarifications": [clarification_json(c) for c in
                                       clarifications.clarifications_for(current_user.organisation_id)]})


@registry.route("/evaluation-clarifications/<int:clarification_id>/answer", "POST", tag=TAG,
                summary="Answer a clarification, signed with the organisation's signing certificate",
                request_schema={"type": "object", "required": ["document", "certificate"], "properties": {
                    "document": {"type": "object"}, "certificate": {"type": "string"}}})
@bidders_only
def answer_clarification_api(clarification_id: int):
    item = db.session.get(EvaluationClarification, clarification_id)
    if item is None or not current_user.belongs_to(item.bidder.organisation_id):
        abort(404)
    body = json_body()
    clarifications.answer(item, current_user, body.get("document") or {}, str(body.get("certificate", "")))
    return _done(item.evaluation, clarification_json(item))


@registry.route("/evaluations/<int:evaluation_id>/report-signatures", "POST", tag=TAG,
                summary="Sign the report digest with my key, or refuse (with a written reason)",
                request_schema={"type": "object", "properties": {
                    "document": {"type": "object"}, "certificate": {"type": "string"}, "refuse": {"type": "boolean"},
                    "reason": {"type": "string"}}})
@committee_only
def sign_report_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    body = json_body()
    document = body.get("document")
    if isinstance(document, dict):
        document = dict(document, certificate=str(body.get("certificate", "")))
    entry = ranking.sign_report(evaluation, current_user, document=document, refuse=bool(body.get("refuse")),
                                reason=str(body.get("reason") or ""))
    return _done(evaluation, {"decision": entry.decision.value, "state": evaluation.state.value})


@registry.route("/evaluations/<int:evaluation_id>/report", "POST", tag=TAG,
                summary="Generate the signed evaluation report PDF and archive it (the agent)")
@agents_only
def generate_report_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    reports.generate_report(evaluation, current_user)
    return _done(evaluation, {"sha256": evaluation.report_sha256, "digest": evaluation.report_digest,
                              "url": f"/evaluations/{evaluation.id}/report.pdf"})


@registry.route("/evaluations/<int:evaluation_id>/publish", "POST", summary="Publish the evaluation report", tag=TAG)
@agents_only
def publish_report_api(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    reports.publish_report(evaluation, current_user)
    return _done(evaluation, {"state": evaluation.state.value})


@registry.route("/evaluation-methods/check", "POST", tag=TAG, request_content="text/plain",
                summary="Check an evaluation-method template (TOML); every problem is listed",
                request_schema={"type": "string"})
@roles(Role.AGENT, Role.ADMIN)
def check_method_api():
    text = request.get_data(as_text=True)
    try:
        method = parse_method(tomllib.loads(text), source_name="template")
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"模板不是有效的 TOML (not valid TOML): {exc}", field="template") from None
    except MethodError as exc:
        raise RuleViolation(f"评标办法模板有误 (the template is refused): {exc}", code="method_invalid",
                            field="template") from None
    return jsonify({"id": method.id, "name": method.name_zh, "formula": method.price.formula,
                    "items": len(method.items), "stages": [s.id for s in method.stages]})
