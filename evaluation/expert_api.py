"""The expert pool over the JSON API (/api/v1): listing, creating, importing, status changes, venues.

The identity number is accepted on creation and never returned: only its last four characters are.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, jsonify, request
from flask_login import current_user

from core.api import json_body, registry
from core.db import db
from core.errors import ValidationError
from core.permissions import admins_only
from evaluation import expert_operations as ops
from evaluation.expert_import import import_experts
from evaluation.expert_views import PAGE, pool_query, pool_readers
from evaluation.experts import Expert
from evaluation.venue_operations import create_venue

TAG = "expert pool"
EXPERT_SCHEMA = {"type": "object", "required": ["name", "id_number", "title", "region_code", "specialties"],
                 "properties": {"name": {"type": "string"}, "id_number": {"type": "string"},
                                "title": {"type": "string"}, "region_code": {"type": "string"},
                                "specialties": {"type": "array", "items": {"type": "string"}},
                                "employer_name": {"type": "string"}, "employer_credit_code": {"type": "string"},
                                "mobile": {"type": "string"},
                                "past_employments": {"type": "array", "items": {"type": "object", "properties": {
                                    "employer_name": {"type": "string"}, "credit_code": {"type": "string"},
                                    "start": {"type": "string", "format": "date"},
                                    "end": {"type": "string", "format": "date"}}}}}}
STATUS_SCHEMA = {"type": "object", "required": ["status", "reason"], "properties": {
    "status": {"enum": ["active", "suspended", "penalised"]}, "reason": {"type": "string"}}}
VENUE_SCHEMA = {"type": "object", "required": ["code", "name", "region_code", "seats"], "properties": {
    "code": {"type": "string"}, "name": {"type": "string"}, "region_code": {"type": "string"},
    "seats": {"type": "integer"}, "neighbour_regions": {"type": "array", "items": {"type": "string"}}}}
IMPORT_SCHEMA = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"},
                                                  "valid_rows_only": {"type": "boolean"}}}


def expert_json(expert: Expert, *, detail: bool = False) -> dict:
    data = {"id": expert.id, "code": expert.code, "name": expert.name, "id_number": expert.masked_id_number,
            "title": expert.title, "region_code": expert.region_code, "specialties": expert.specialty_codes,
            "employer": {"name": expert.employer_name, "credit_code": expert.employer_credit_code},
            "status": expert.status.value}
    if detail:
        data |= {"status_reason": expert.status_reason,
                 "past_employments": [{"employer_name": p.employer_name, "credit_code": p.credit_code,
                                       "start": p.start.isoformat() if p.start else None, "end": p.end.isoformat()}
                                      for p in expert.past_employments],
                 "relations": [{"organisation_name": r.organisation_name, "credit_code": r.credit_code,
                                "kind": r.kind.value} for r in expert.relations],
                 "unavailability": [{"start": u.start.isoformat(), "end": u.end.isoformat(), "reason": u.reason}
                                    for u in expert.unavailability]}
    return data


@registry.route("/experts", summary="The expert pool, filtered (q, specialty, region, status) and paged", tag=TAG)
@pool_readers
def list_experts_api():
    query = pool_query(request.args)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    page = max(1, request.args.get("page", 1, type=int))
    rows = db.session.scalars(query.order_by(Expert.code).offset((page - 1) * PAGE).limit(PAGE)).all()
    return jsonify({"total": total, "page": page, "experts": [expert_json(e) for e in rows]})


@registry.route("/experts/<int:expert_id>", summary="One expert's profile", tag=TAG)
@pool_readers
def get_expert_api(expert_id: int):
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        abort(404)
    return jsonify(expert_json(expert, detail=True))


@registry.route("/experts", "POST", summary="Add an expert to the pool", tag=TAG, request_schema=EXPERT_SCHEMA)
@admins_only
def create_expert_api():
    body = json_body()
    try:
        past = [ops.PastEmploymentInput(str(p.get("employer_name", "")), str(p.get("credit_code", "")),
                                        ops.parse_date(p.get("end"), f"past_employments[{i}].end"),
                                        ops.parse_date(p["start"], f"past_employments[{i}].start") if p.get("start")
                                        else None)
                for i, p in enumerate(body.get("past_employments") or [])]
        specialties = [str(c) for c in body.get("specialties") or []]
    except (AttributeError, TypeError):
        raise ValidationError("请求格式不正确 (malformed request)", field="past_employments") from None
    expert = ops.create_expert(ops.ExpertInput(
        name=str(body.get("name", "")), id_number=str(body.get("id_number", "")), title=str(body.get("title", "")),
        region_code=str(body.get("region_code", "")), specialties=specialties,
        employer_name=str(body.get("employer_name", "")), employer_credit_code=str(body.get("employer_credit_code", "")),
        mobile=str(body.get("mobile", "")), past_employments=past), actor=current_user)
    db.session.commit()
    return jsonify(expert_json(expert, detail=True)), 201


@registry.route("/experts/<int:expert_id>/status", "POST", summary="Suspend, penalise or reinstate an expert",
                tag=TAG, request_schema=STATUS_SCHEMA)
@pool_readers
def expert_status_api(expert_id: int):
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        abort(404)
    body = json_body()
    ops.change_status(expert, str(body.get("status", "")), actor=current_user, reason=str(body.get("reason", "")))
    db.session.commit()
    return jsonify(expert_json(expert, detail=True))


@registry.route("/experts/import", "POST", summary="Import experts from CSV or XLSX; a report for every row", tag=TAG,
                request_schema=IMPORT_SCHEMA, request_content="multipart/form-data")
@admins_only
def import_experts_api():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请上传文件 (upload a file in the field 'file')", field="file")
    report = import_experts(upload.stream, upload.filename, actor=current_user,
                            valid_rows_only=request.form.get("valid_rows_only") in ("1", "true", "on"))
    db.session.commit()
    return jsonify(report.as_json()), (422 if report.rejected else 200)


@registry.route("/venues", "POST", summary="Add an evaluation venue", tag=TAG, request_schema=VENUE_SCHEMA)
@admins_only
def create_venue_api():
    body = json_body()
    venue = create_venue(code=str(body.get("code", "")), name=str(body.get("name", "")),
                         region_code=str(body.get("region_code", "")), seats=body.get("seats", ""),
                         neighbour_regions=" ".join(str(c) for c in body.get("neighbour_regions") or []),
                         actor=current_user)
    db.session.commit()
    return jsonify({"code": venue.code, "name": venue.name, "region_code": venue.region_code, "seats": venue.seats,
                    "near_regions": venue.near_regions}), 201
