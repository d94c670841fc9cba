"""Supervision and the steps after the report over the JSON API (/api/v1)."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import abort, jsonify, request
from flask_login import current_user

from core.accounts import Organisation, Role
from core.api import json_body, registry
from core.clock import parse_local
from core.db import db
from core.errors import ValidationError
from core.permissions import bidders_only, public, roles, supervisors_only
from supervision import collusion_evidence as clues
from supervision import credit as credit_ops
from supervision import objections as objection_ops
from supervision import post_award as ops
from supervision import warnings as engine
from supervision.award_models import Award, Complaint, SectionObjection
from supervision.models import SupervisionWarning, WarningLight, WarningState
from supervision.ocds import release_package
from trading.models import Section
from trading.views import get_section

TAG = "supervision"
PARTIES = roles(Role.AGENT, Role.TENDEREE)
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}}


def _get(model, object_id: int):
    item = db.session.get(model, object_id)
    if item is None:
        abort(404)
    return item


def warning_json(w: SupervisionWarning) -> dict:
    return {"id": w.id, "project_id": w.project_id, "section_id": w.section_id, "point": w.point,
            "light": w.light.value, "state": w.state.value, "reason_zh": w.reason_zh, "reason_en": w.reason_en,
            "due": w.due, "raised_at": w.raised_at.isoformat(), "close_reason": w.close_reason,
            "notes": [{"author": n.author.display_name, "text": n.text, "at": n.at.isoformat()} for n in w.notes]}


def _day(value, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError("日期格式应为 YYYY-MM-DD (date as YYYY-MM-DD)", field=field) from None


@registry.route("/supervision/warnings", summary="Open (or filtered) red and yellow warnings", tag=TAG)
@supervisors_only
def warnings_api():
    query = sa.select(SupervisionWarning).order_by(SupervisionWarning.id.desc())
    state = request.args.get("state", "open")
    if state in {s.value for s in WarningState}:
        query = query.where(SupervisionWarning.state == WarningState(state))
    if request.args.get("light") in {w.value for w in WarningLight}:
        query = query.where(SupervisionWarning.light == WarningLight(request.args["light"]))
    return jsonify({"warnings": [warning_json(w) for w in db.session.scalars(query.limit(1000))]})


@registry.route("/supervision/warnings/<int:warning_id>/notes", "POST", summary="Annotate a warning", tag=TAG,
                request_schema=TEXT)
@supervisors_only
def annotate_warning_api(warning_id: int):
    warning = _get(SupervisionWarning, warning_id)
    engine.annotate(warning, current_user, str(json_body().get("text", "")))
    db.session.commit()
    return jsonify(warning_json(warning))


@registry.route("/supervision/warnings/<int:warning_id>/close", "POST", summary="Close a warning with a reason",
                tag=TAG, request_schema={"type": "object", "required": ["reason"],
                                         "properties": {"reason": {"type": "string"}}})
@supervisors_only
def close_warning_api(warning_id: int):
    warning = _get(SupervisionWarning, warning_id)
    engine.close(warning, current_user, str(json_body().get("reason", "")))
    db.session.commit()
    return jsonify(warning_json(warning))


@registry.route("/supervision/sections/<int:section_id>/points", summary="Every supervision point of a section, "
                "green included", tag=TAG)
@supervisors_only
def section_points_api(section_id: int):
    _get(Section, section_id)
    return jsonify({"points": [{"point": r.point, "light": r.light.value, "reason_zh": r.reason_zh,
                                "reason_en": r.reason_en, "due": r.due} for r in engine.section_points(section_id)]})


@registry.route("/supervision/sections/<int:section_id>/collusion", summary="The latest bid-rigging clue list "
                "(supervisors only)", tag=TAG)
@supervisors_only
def collusion_report_api(section_id: int):
    _get(Section, section_id)
    analysis = clues.latest_analysis(section_id)
    if analysis is None:
        abort(404)
    return jsonify({"id": analysis.id, "run_at": analysis.run_at.isoformat(), "suspected": analysis.suspected,
                    "review": analysis.review.value, "attached": analysis.attached_at is not None,
                    "bidders": analysis.bidder_map, "report": analysis.data})


@registry.route("/supervision/sections/<int:section_id>/collusion", "POST", summary="Run the bid-rigging analysis",
                tag=TAG)
@supervisors_only
def run_collusion_api(section_id: int):
    analysis = clues.run_analysis(_get(Section, section_id), current_user)
    db.session.commit()
    return jsonify({"id": analysis.id, "evidence": analysis.evidence_count, "suspected": analysis.suspected})


def result_json(section: Section) -> dict:
    result = ops.current_result(section.id)
    award = ops.award_of(section.id)
    shown = result is not None and (result.publicity_started_at is not None or ops.is_party(section.project, current_user))
    return {"section": section.code, "state": section.state.value,
            "publicity": None if result is None or result.publicity_started_at is None else {
                "started_at": result.publicity_started_at.isoformat(), "ends_at": result.publicity_ends_at.isoformat()},
            "candidates": [{"rank": c.rank, "organisation_id": c.organisation_id, "name": c.organisation.name,
                            "price": str(c.price), "score": c.score} for c in result.candidates] if shown else [],
            "award": None if award is None or award.notice_issued_at is None else {
                "id": award.id, "winner": award.organisation.name, "amount": str(award.amount),
                "notice_no": award.notice_no, "notice_issued_at": award.notice_issued_at.isoformat()}}


@registry.route("/sections/<int:section_id>/result", summary="Candidates in publicity and the award (public)", tag=TAG)
@public
def section_result_api(section_id: int):
    return jsonify(result_json(get_section(section_id)))


@registry.route("/sections/<int:section_id>/publicity", "POST", summary="Start the candidate publicity", tag=TAG,
                request_schema={"type": "object", "properties": {"days": {"type": "integer"}}})
@PARTIES
def start_publicity_api(section_id: int):
    section = get_section(section_id)
    ops.start_publicity(section, current_user, json_body().get("days"))
    db.session.commit()
    return jsonify(result_json(section))


@registry.route("/sections/<int:section_id>/objections", "POST", summary="Raise an objection (异议)", tag=TAG,
                request_schema={"type": "object", "required": ["subject", "text"], "properties": {
                    "subject": {"enum": ["documents", "result"]}, "text": {"type": "string"}}})
@bidders_only
def raise_section_objection_api(section_id: int):
    body = json_body()
    objection = objection_ops.raise_objection(get_section(section_id), current_user, body.get("subject"),
                                              str(body.get("text", "")))
    db.session.commit()
    return jsonify({"id": objection.id, "answer_due": objection.answer_due.isoformat()}), 201


@registry.route("/section-objections/<int:objection_id>/answer", "POST", summary="Answer an objection", tag=TAG,
                request_schema={"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}})
@PARTIES
def answer_section_objection_api(objection_id: int):
    objection = _get(SectionObjection, objection_id)
    get_section(objection.section_id)
    objection_ops.answer_objection(objection, current_user, str(json_body().get("answer", "")))
    db.session.commit()
    return jsonify({"id": objection.id, "answered_at": objection.answered_at.isoformat()})


@registry.route("/sections/<int:section_id>/complaints", "POST", summary="File a complaint (投诉) with the "
                "supervisor", tag=TAG, request_schema={"type": "object", "required": ["text"], "properties": {
                    "text": {"type": "string"}, "subject": {"enum": ["documents", "result"]},
                    "known_on": {"type": "string", "format": "date"}}})
@bidders_only
def file_complaint_api(section_id: int):
    body = json_body()
    complaint = objection_ops.file_complaint(get_section(section_id), current_user, str(body.get("text", "")),
                                             subject=body.get("subject"), known_on=_day(body.get("known_on"), "known_on"))
    db.session.commit()
    return jsonify({"id": complaint.id, "state": complaint.state.value}), 201


@registry.route("/complaints/<int:complaint_id>/handling", "POST", summary="Accept, refuse, uphold or dismiss a "
                "complaint", tag=TAG, request_schema={"type": "object", "required": ["action", "text"], "properties": {
                    "action": {"enum": ["accept", "reject", "uphold", "dismiss"]}, "text": {"type": "string"},
                    "suspend": {"type": "boolean"}, "re_evaluate": {"type": "boolean"}}})
@supervisors_only
def handle_complaint_api(complaint_id: int):
    complaint = _get(Complaint, complaint_id)
    body = json_body()
    action, text = body.get("action"), str(body.get("text", ""))
    if action in ("accept", "reject"):
        objection_ops.accept_complaint(complaint, current_user, accept=action == "accept", note=text,
                                       suspend=bool(body.get("suspend")))
    elif action in ("uphold", "dismiss"):
        objection_ops.decide_complaint(complaint, current_user, upheld=action == "uphold", decision=text,
                                       re_evaluate=bool(body.get("re_evaluate")))
    else:
        raise ValidationError("action 应为 accept、reject、uphold 或 dismiss", field="action")
    db.session.commit()
    return jsonify({"id": complaint.id, "state": complaint.state.value})


@registry.route("/sections/<int:section_id>/award", "POST", summary="Decide the award (定标, tenderee)", tag=TAG,
                request_schema={"type": "object", "required": ["organisation_id"], "properties": {
                    "organisation_id": {"type": "integer"}, "reason": {"type": "string"}}})
@roles(Role.TENDEREE)
def decide_award_api(section_id: int):
    body = json_body()
    section = get_section(section_id)
    try:
        organisation_id = int(body.get("organisation_id") or 0)
    except (TypeError, ValueError):
        raise ValidationError("organisation_id 应为整数", field="organisation_id") from None
    award = ops.decide_award(section, current_user, organisation_id, body.get("reason"))
    db.session.commit()
    return jsonify({"id": award.id, "organisation_id": award.organisation_id, "amount": str(award.amount)})


@registry.route("/awards/<int:award_id>/notice", "POST", summary="Issue the award and result notices", tag=TAG)
@PARTIES
def issue_award_notice_api(award_id: int):
    award = _get(Award, award_id)
    get_section(award.section_id)
    ops.issue_notice(award, current_user)
    db.session.commit()
    return jsonify({"id": award.id, "notice_no": award.notice_no, "notice_digest": award.notice_digest,
                    "result_digest": award.result_digest})


@registry.route("/awards/<int:award_id>/contract", "POST", summary="Record the contract", tag=TAG,
                request_schema={"type": "object", "required": ["signed_at", "amount"], "properties": {
                    "signed_at": {"type": "string", "format": "date-time"}, "amount": {"type": "string"},
                    "difference_reason": {"type": "string"}}})
@PARTIES
def record_contract_api(award_id: int):
    award = _get(Award, award_id)
    get_section(award.section_id)
    body = json_body()
    try:
        signed_at = parse_local(str(body.get("signed_at", "")))
    except ValueError as exc:
        raise ValidationError(str(exc), field="signed_at") from None
    contract = ops.record_contract(award, current_user, signed_at=signed_at, amount=body.get("amount", ""),
                                   difference_reason=body.get("difference_reason"))
    db.session.commit()
    return jsonify({"id": contract.id, "amount": str(contract.amount)}), 201


@registry.route("/credit/organisations/<int:organisation_id>", summary="An organisation's credit records and facts",
                tag=TAG)
@roles(Role.SUPERVISOR, Role.ADMIN)
def organisation_credit_api(organisation_id: int):
    _get(Organisation, organisation_id)
    return jsonify({"facts": credit_ops.qualification_facts(organisation_id), "records": [{
        "id": r.id, "kind": r.kind.value, "rating": r.rating, "title": r.title, "authority": r.authority,
        "effective_from": r.effective_from.isoformat(),
        "effective_until": r.effective_until.isoformat() if r.effective_until else None,
        "revoked": r.revoked_at is not None} for r in credit_ops.records_of(organisation_id)]})


@registry.route("/credit/records", "POST", summary="Record a penalty, a dishonest-list entry or a rating", tag=TAG,
                request_schema={"type": "object", "required": ["kind", "title", "authority", "effective_from"],
                                "properties": {"organisation_id": {"type": "integer"}, "expert_id": {"type": "integer"},
                                               "kind": {"enum": ["penalty", "dishonest", "rating"]},
                                               "rating": {"type": "string"}, "title": {"type": "string"},
                                               "authority": {"type": "string"}, "document_no": {"type": "string"},
                                               "effective_from": {"type": "string", "format": "date"},
                                               "effective_until": {"type": "string", "format": "date"}}})
@supervisors_only
def record_credit_api():
    from evaluation.experts import Expert

    body = json_body()
    organisation = db.session.get(Organisation, int(body["organisation_id"])) if body.get("organisation_id") else None
    expert = db.session.get(Expert, int(body["expert_id"])) if body.get("expert_id") else None
    start = _day(body.get("effective_from"), "effective_from")
    if start is None:
        raise ValidationError("请填写生效日期 (effective_from required)", field="effective_from")
    entry = credit_ops.record(supervisor=current_user, kind=body.get("kind"), title=str(body.get("title", "")),
                              authority=str(body.get("authority", "")), effective_from=start,
                              effective_until=_day(body.get("effective_until"), "effective_until"),
                              organisation=organisation, expert=expert, rating=body.get("rating"),
                              document_no=str(body.get("document_no", "")))
    db.session.commit()
    return jsonify({"id": entry.id}), 201


@registry.route("/ocds/release-package", summary="Every published section as an OCDS 1.1 release package", tag=TAG)
@public
def ocds_release_package_api():
    return jsonify(release_package(request.base_url))
