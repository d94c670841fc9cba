"""The expert draw over the JSON API (/api/v1): the same operations and the same visibility as the pages.

Before the evaluation starts a supervisor of the draw reads the list only through ``/draws/<id>/sealed-list``:
the sealed list and their own wrap of its key, which they open with their encryption key in the page
(static/js/draw_list.js) or with ``bidtool draw-list``; the server opens nothing for them.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from flask import abort, jsonify
from flask_login import current_user

from core.api import json_body, registry
from core.clock import now, parse_local
from core.db import db
from core.errors import ValidationError
from core.permissions import agents_only, public, signed_in, supervisors_only
from evaluation import draw_confirmations as confirmations
from evaluation import draw_operations as ops
from evaluation.draw_models import Draw, DrawAssignment, DrawExclusion, DrawState, Venue
from evaluation.draw_records import eligible_entries, published_in_audit
from evaluation.draw_sealing import sealed_list_package
from evaluation.draw_views import conductors, contributors, experts_only, get_draw, whole_number
from evaluation.experts import Expert
from evaluation.specialties import specialties
from trading.models import Section

TAG = "expert draw"
DRAW_REQUEST = {"type": "object", "required": ["quotas", "evaluation_at", "main_venue"], "properties": {
    "quotas": {"type": "array", "items": {"type": "object", "required": ["specialty", "count"], "properties": {
        "specialty": {"type": "string"}, "count": {"type": "integer"}, "reserves": {"type": "integer"}}}},
    "tenderee_representatives": {"type": "integer"}, "evaluation_at": {"type": "string", "format": "date-time"},
    "main_venue": {"type": "object", "properties": {"code": {"type": "string"}, "seats": {"type": "integer"}}},
    "secondary_venues": {"type": "array", "items": {"type": "object", "properties": {
        "code": {"type": "string"}, "seats": {"type": "integer"}}}},
    "regions_allowed": {"type": "array", "items": {"type": "string"}},
    "regions_excluded": {"type": "array", "items": {"type": "string"}},
    "water_works": {"type": "boolean"}, "complex_project": {"type": "boolean"},
    "confirmation_minutes": {"type": "integer"}}}
BIDDERS = {"type": "object", "properties": {"bidders": {"type": "array", "items": {"type": "string"},
                                                        "description": "credit codes of the section's bidders"}}}
ENTROPY = {"type": "object", "required": ["entropy"], "properties": {"entropy": {"type": "string"}}}
REASON = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}
CODES = {"type": "object", "required": ["codes"], "properties": {"codes": {
    "type": "array", "items": {"type": "string"}, "description": "expert codes opened from the sealed list"}}}
ANSWER = {"type": "object", "required": ["answer"], "properties": {"answer": {"enum": ["confirm", "decline"]},
                                                                   "reason": {"type": "string"}}}


def draw_json(draw: Draw) -> dict:
    """The draw as the current user may see it (see Draw.can_see_names / can_see_exclusions)."""
    data = {"id": draw.id, "section": {"id": draw.section.id, "code": draw.section.code, "name": draw.section.name},
            "state": draw.state.value, "committee_rule": draw.committee_rule, "committee_size": draw.committee_size,
            "tenderee_representatives": draw.tenderee_representatives,
            "quotas": [{"specialty": q.specialty, "count": q.count, "reserves": q.reserves} for q in draw.quotas],
            "venues": [{"code": v.venue.code, "name": v.venue.name, "role": v.role.value, "seats": v.seats}
                       for v in draw.venues],
            "evaluation_at": draw.evaluation_at.isoformat(), "confirmation_minutes": draw.confirmation_minutes,
            "bidders_known": draw.bidders_known,
            "ceremony": {"commitment": draw.commitment, "request_digest": draw.request_digest,
                         "eligible_digest": draw.eligible_digest, "eligible_count": draw.eligible_count,
                         "candidate_count": draw.candidate_count, "result_commitment": draw.result_commitment,
                         "contributions": [{"contributor": c.contributor, "at": c.at, "entropy": c.entropy}
                                           for c in draw.contributions]},
            "counts": confirmations.draw_counts(draw)}
    if draw.can_see_exclusions(current_user):
        rows = db.session.scalars(sa.select(DrawExclusion).where(DrawExclusion.draw_id == draw.id)
                                  .order_by(DrawExclusion.id)).all()
        data["exclusions"] = [{"expert": x.expert_code, "rule": x.rule, "reason_zh": x.reason_zh,
                               "reason_en": x.reason_en, "stage": x.stage} for x in rows]
    if draw.can_see_names(current_user):
        data["committee"] = [{"slot": a.slot, "expert": e.code if e else None, "name": e.name if e else None,
                              "specialty": draw.quotas[a.quota].specialty, "venue": a.venue_code, "seat": a.seat,
                              "status": a.status.value} for a, e in confirmations.committee_of(draw)]
    return data


@registry.route("/specialties", summary="The specialty catalogue of the expert pool", tag=TAG)
@public
def specialties_api():
    return jsonify({"specialties": [{"code": s.code, "name": s.name, "name_en": s.name_en, "level": s.level}
                                    for s in specialties().values()]})


@registry.route("/venues", summary="Evaluation venues of the trading centres", tag=TAG)
@signed_in
def venues_api():
    rows = db.session.scalars(sa.select(Venue).where(Venue.active.is_(True)).order_by(Venue.code))
    return jsonify({"venues": [{"code": v.code, "name": v.name, "region_code": v.region_code, "seats": v.seats,
                                "near_regions": v.near_regions} for v in rows]})


def _list(body: dict, field: str) -> list:
    value = body.get(field) or []
    if not isinstance(value, list):
        raise ValidationError(f"{field} 应为列表 ({field}: a list)", field=field)
    return value


def _venue(spec, field: str) -> ops.VenueInput:
    if not isinstance(spec, dict):
        raise ValidationError("场地应为对象 {code, seats} (venue: {code, seats})", field=field)
    venue = db.session.scalar(sa.select(Venue).where(Venue.code == str(spec.get("code", ""))))
    if venue is None:
        raise ValidationError(f"未知的评标场地 {spec.get('code')!r} (unknown venue)", field=field)
    return ops.VenueInput(venue, whole_number(spec.get("seats"), field, venue.seats))


@registry.route("/sections/<int:section_id>/draws", "POST", summary="Request an expert draw for a section", tag=TAG,
                request_schema=DRAW_REQUEST)
@agents_only
def create_draw_api(section_id: int):
    section = db.session.get(Section, section_id)
    if section is None or not section.project.can_view(current_user):
        abort(404)
    if not section.project.can_manage(current_user):
        abort(403)
    body = json_body()
    try:
        evaluation_at = parse_local(str(body.get("evaluation_at", "")))
    except ValueError as exc:
        raise ValidationError(str(exc), field="evaluation_at") from None
    if not isinstance(body.get("quotas"), list) or not all(isinstance(q, dict) for q in body["quotas"]):
        raise ValidationError("quotas 应为 [{specialty, count, reserves}] (quotas: a list of objects)", field="quotas")
    quotas = [ops.QuotaInput(str(q.get("specialty", "")), whole_number(q.get("count"), f"quotas[{i}].count", 0),
                             whole_number(q.get("reserves"), f"quotas[{i}].reserves", 0))
              for i, q in enumerate(body["quotas"])]
    venues = [_venue(body.get("main_venue"), "main_venue")] + [
        _venue(v, "secondary_venues") for v in _list(body, "secondary_venues")]
    draw = ops.request_draw(section, agent=current_user, quotas=quotas,
                            tenderee_representatives=whole_number(body.get("tenderee_representatives"),
                                                                  "tenderee_representatives", 0),
                            evaluation_at=evaluation_at, venues=venues,
                            regions_allowed=[str(c) for c in _list(body, "regions_allowed")],
                            regions_excluded=[str(c) for c in _list(body, "regions_excluded")],
                            water_works=bool(body.get("water_works")), complex_project=bool(body.get("complex_project")),
                            confirmation_minutes=whole_number(body.get("confirmation_minutes"),
                                                              "confirmation_minutes", 0) or None)
    db.session.commit()
    return jsonify(draw_json(draw)), 201


@registry.route("/draws/<int:draw_id>", summary="A draw: counts for the parties, more for supervisors", tag=TAG)
@signed_in
def get_draw_api(draw_id: int):
    return jsonify(draw_json(get_draw(draw_id)))


def _done(draw: Draw, **extra):
    db.session.commit()
    return jsonify(draw_json(draw) | extra)


@registry.route("/draws/<int:draw_id>/commit", "POST", summary="Commit: freeze the eligible list, publish the "
                "commitment", tag=TAG, request_schema=BIDDERS)
@agents_only
def commit_draw_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.is_run_by)
    bidders = json_body().get("bidders")
    ops.commit_draw(draw, actor=current_user, bidders=[str(b) for b in bidders] if bidders is not None else None)
    return _done(draw)


@registry.route("/draws/<int:draw_id>/entropy", "POST", summary="Contribute entropy before the reveal", tag=TAG,
                request_schema=ENTROPY)
@contributors
def contribute_entropy_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.can_contribute)
    ops.contribute(draw, current_user, str(json_body().get("entropy", "")))
    return _done(draw)


@registry.route("/draws/<int:draw_id>/reveal", "POST", summary="Reveal: derive the seed, draw, notify", tag=TAG)
@conductors
def reveal_draw_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.can_conduct)
    ops.reveal(draw, actor=current_user)
    return _done(draw)


@registry.route("/draws/<int:draw_id>/recheck", "POST", summary="Re-check the drawn list against the bidders",
                tag=TAG, request_schema=BIDDERS)
@agents_only
def recheck_draw_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.is_run_by)
    recused = ops.recheck_bidders(draw, actor=current_user, bidders=[str(b) for b in json_body().get("bidders") or []])
    return _done(draw, recused=recused)


@registry.route("/draws/<int:draw_id>/timeouts", "POST", summary="Time out unanswered notices and replace them",
                tag=TAG)
@conductors
def draw_timeouts_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.can_conduct)
    return _done(draw, timed_out=confirmations.expire_overdue(draw))


@registry.route("/draws/<int:draw_id>/committee", "POST", summary="Open the list to the committee at sign-in",
                tag=TAG)
@conductors
def open_draw_to_committee_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.can_conduct)
    ops.reveal_to_committee(draw, actor=current_user)
    return _done(draw)


@registry.route("/draws/<int:draw_id>/publish", "POST", summary="Publish the record after the award", tag=TAG)
@conductors
def publish_draw_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.can_conduct)
    ops.publish_record(draw, actor=current_user)
    return _done(draw)


@registry.route("/draws/<int:draw_id>/cancel", "POST", summary="Cancel a draw, with the reason", tag=TAG,
                request_schema=REASON)
@conductors
def cancel_draw_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.can_conduct)
    ops.cancel(draw, actor=current_user, reason=str(json_body().get("reason", "")))
    return _done(draw)


@registry.route("/draws/<int:draw_id>/record", summary="The public record: the commitment always, the whole "
                "record (for tools/verify_draw.py) once published", tag=TAG)
@public
def draw_record_api(draw_id: int):
    draw = db.session.get(Draw, draw_id)
    if draw is None or draw.commitment is None:
        abort(404)
    committed = published_in_audit(draw, "draw.committed") or {}
    data = {"id": draw.id, "state": draw.state.value, "commitment": committed.get("commitment"),
            "request_digest": committed.get("request_digest"), "eligible_digest": committed.get("eligible_digest"),
            "record": None, "tag_key": None}
    if draw.state is DrawState.PUBLISHED:
        data["record"] = json.loads(draw.record_json)
        data["tag_key"] = (published_in_audit(draw, "draw.published") or {}).get("tag_key")
    return jsonify(data)


@registry.route("/draws/<int:draw_id>/sealed-list", summary="Supervisors of the draw: the sealed list and their "
                "wrap of its key, to open with their own encryption key", tag=TAG)
@supervisors_only
def sealed_list_api(draw_id: int):
    draw = get_draw(draw_id, check=Draw.can_open_sealed_list)
    return jsonify(sealed_list_package(draw, current_user))


MAX_CODES = 200


@registry.route("/draws/<int:draw_id>/sealed-list/experts", "POST", summary="Supervisors of the draw: the "
                "profiles (no phone) of experts they opened from the sealed list", tag=TAG, request_schema=CODES)
@supervisors_only
def sealed_list_experts_api(draw_id: int):
    """The server opens nothing here: it returns pool profiles, which supervisors may read anyway, for codes
    of this draw's eligible list (public since the commit)."""
    draw = get_draw(draw_id, check=Draw.can_open_sealed_list)
    codes = json_body().get("codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes) or len(codes) > MAX_CODES:
        raise ValidationError(f"codes 应为不超过{MAX_CODES}个专家编号的列表 (codes: a list of at most {MAX_CODES} "
                              "expert codes)", field="codes")
    eligible = {entry.id for entry in eligible_entries(draw)}
    unknown = sorted(set(codes) - eligible)
    if unknown:
        raise ValidationError(f"专家 {'、'.join(unknown[:5])} 不在本次抽取的可抽名单中 (not in this draw's eligible "
                              "list)", field="codes")
    rows = db.session.scalars(sa.select(Expert).where(Expert.code.in_(sorted(set(codes))))).all()
    return jsonify({"experts": [{"code": e.code, "name": e.name, "title": e.title, "region_code": e.region_code,
                                 "specialties": e.specialty_codes, "employer": e.employer_name}
                                for e in sorted(rows, key=lambda e: e.code)]})


def assignment_json(a: DrawAssignment) -> dict:
    draw = a.draw
    data = {"id": a.id, "draw": draw.id, "draw_state": draw.state.value, "status": a.status.value,
            "specialty": draw.quotas[a.quota].specialty, "evaluation_at": draw.evaluation_at.isoformat(),
            "venue": a.venue_code or (draw.main_venue.code if draw.main_venue else None), "seat": a.seat,
            "respond_by": a.respond_by.isoformat(), "responded_at": a.responded_at.isoformat() if a.responded_at else None}
    if a.status.value == "confirmed" and draw.state in (DrawState.COMMITTEE_REVEALED, DrawState.PUBLISHED):
        data["section"] = {"code": draw.section.code, "name": draw.section.name}
        data["committee"] = [{"name": e.name if e else None, "specialty": draw.quotas[m.quota].specialty,
                              "venue": m.venue_code, "seat": m.seat} for m, e in confirmations.committee_of(draw)]
    return data


@registry.route("/invitations", summary="My evaluation invitations (drawn seats)", tag=TAG)
@experts_only
def invitations_api():
    expert = confirmations.expert_of_user(current_user)
    return jsonify({"invitations": [assignment_json(a) for a in confirmations.assignments_of(expert)] if expert else [],
                    "now": now().isoformat()})


@registry.route("/invitations/<int:assignment_id>/answer", "POST", summary="Confirm or decline an invitation",
                tag=TAG, request_schema=ANSWER)
@experts_only
def answer_invitation_api(assignment_id: int):
    assignment = db.session.get(DrawAssignment, assignment_id)
    expert = confirmations.expert_of_user(current_user)
    if assignment is None or expert is None or not confirmations.owns(assignment, expert):
        abort(404)
    body = json_body()
    if body.get("answer") not in ("confirm", "decline"):
        raise ValidationError("answer 应为 confirm 或 decline (answer: confirm or decline)", field="answer")
    outcome = confirmations.respond(assignment, expert, accept=body["answer"] == "confirm", reason=body.get("reason"))
    db.session.commit()
    status = 409 if outcome == "timed_out" else 200
    return jsonify({"outcome": outcome, "invitation": assignment_json(assignment)}), status

