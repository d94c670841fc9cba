"""The tender operations over the JSON API (/api/v1), for the bidder tool and integrations."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, jsonify, request, send_file
from flask_login import current_user

from core.accounts import Organisation
from core.api import json_body, registry
from core.clock import parse_local
from core.db import db
from core.errors import ValidationError
from core.permissions import agents_only, public, signed_in
from trading import operations as ops
from trading.models import Clarification, Project, ProjectState, TenderDocument
from trading.views import get_project, get_section

TAG = "tendering"


def project_json(project: Project, *, detail: bool = False) -> dict:
    data = {"id": project.id, "code": project.code, "name": project.name, "type": project.type.value,
            "method": project.method.value, "budget": str(project.budget), "ceiling_price": str(project.ceiling_price),
            "region_code": project.region_code, "state": project.state.value,
            "tenderee": {"name": project.tenderee.name, "credit_code": project.tenderee.credit_code},
            "agency": {"name": project.agency.name, "credit_code": project.agency.credit_code},
            "published_at": project.published_at.isoformat() if project.published_at else None}
    if detail:
        data["notice_text"] = project.notice_text
        data["sections"] = [section_json(s) for s in project.sections]
    return data


def section_json(section) -> dict:
    return {"id": section.id, "code": section.code, "name": section.name, "state": section.state.value,
            "ceiling_price": str(section.ceiling_price), "bid_security_amount": str(section.bid_security_amount),
            "bid_validity_days": section.bid_validity_days, "evaluation_method": section.evaluation_method,
            "schedule": {k: getattr(section, k).isoformat() for k in
                         ("notice_at", "issue_start", "issue_end", "clarification_deadline", "deadline")}
                        | {"decryption_minutes": section.decryption_minutes},
            "price_form": [f.as_dict() for f in section.price_form],
            "documents": [{"id": d.id, "title": d.title, "version": d.version, "kind": d.kind.value,
                           "sha256": d.file.sha256, "size": d.file.size} for d in section.current_documents]}


PROJECT_SCHEMA = {"type": "object", "required": ["code", "name", "type", "method", "budget", "ceiling_price",
                                                  "region_code", "tenderee_credit_code"],
                  "properties": {"code": {"type": "string", "pattern": "^E\\d{19}$"}, "name": {"type": "string"},
                                 "type": {"enum": ["works", "goods", "services"]},
                                 "method": {"enum": ["open", "invited", "consultation", "inquiry"]},
                                 "budget": {"type": "string"}, "ceiling_price": {"type": "string"},
                                 "region_code": {"type": "string"}, "tenderee_credit_code": {"type": "string"},
                                 "notice_text": {"type": "string"}, "government_invested": {"type": "boolean"}}}
SCHEDULE = {"type": "object", "properties": {k: {"type": "string", "format": "date-time"} for k in
                                             ("notice_at", "issue_start", "issue_end", "clarification_deadline", "deadline")}}
SECTION_SCHEMA = {"type": "object", "required": ["number", "name", "ceiling_price", "evaluation_method", "schedule"],
                  "properties": {"number": {"type": "integer"}, "name": {"type": "string"},
                                 "ceiling_price": {"type": "string"}, "bid_security_amount": {"type": "string"},
                                 "bid_validity_days": {"type": "integer"}, "evaluation_method": {"type": "string"},
                                 "schedule": SCHEDULE, "decryption_minutes": {"type": "integer"}}}
PRICE_FORM_SCHEMA = {"type": "object", "required": ["fields"], "properties": {"fields": {"type": "array", "items": {
    "type": "object", "required": ["key", "label", "type"], "properties": {
        "key": {"type": "string"}, "label": {"type": "string"},
        "type": {"enum": ["money", "integer", "decimal", "text", "choice", "date"]},
        "required": {"type": "boolean"}, "options": {"type": "array", "items": {"type": "string"}}}}}}}
CLARIFICATION_SCHEMA = {"type": "object", "required": ["title", "body"], "properties": {
    "title": {"type": "string"}, "body": {"type": "string"}, "new_deadline": {"type": "string", "format": "date-time"},
    "no_effect_reason": {"type": "string"}}}


@registry.route("/projects", summary="Published tender notices", tag=TAG)
@public
def list_projects():
    rows = db.session.scalars(sa.select(Project).where(Project.state.in_([ProjectState.PUBLISHED, ProjectState.CLOSED]))
                              .order_by(Project.published_at.desc())).all()
    return jsonify({"projects": [project_json(p) for p in rows if p.is_open_to(current_user)]})


@registry.route("/projects/<int:project_id>", summary="A project with its sections", tag=TAG)
@public
def get_project_api(project_id: int):
    return jsonify(project_json(get_project(project_id), detail=True))


@registry.route("/sections/<int:section_id>", summary="A section: schedule, price form and current documents", tag=TAG)
@public
def get_section_api(section_id: int):
    return jsonify(section_json(get_section(section_id)))


@registry.route("/documents/<int:document_id>/content", summary="Download tender documents (the download is recorded)",
                tag=TAG)
@signed_in
def download_document_api(document_id: int):
    document = db.session.get(TenderDocument, document_id)
    if document is None:
        abort(404)
    project = get_project(document.section.project_id)
    if not project.is_published and not project.can_manage(current_user):
        abort(404)
    ops.record_download(document, current_user, request.remote_addr)
    db.session.commit()
    return send_file(document.file.path, as_attachment=True, download_name=document.file.filename,
                     mimetype=document.file.content_type)


@registry.route("/sections/<int:section_id>/downloads", summary="Who downloaded (agent, tenderee and supervisors only)",
                tag=TAG)
@signed_in
def list_downloads_api(section_id: int):
    section = get_section(section_id)
    if not section.project.can_see_downloaders(current_user):
        abort(403)
    rows = ops.downloaders(section)
    return jsonify({"count": len(rows), "downloads": [
        {"organisation": d.organisation.name if d.organisation else None,
         "credit_code": d.organisation.credit_code if d.organisation else None,
         "user": d.user.display_name, "at": d.at.isoformat()} for d in rows]})


@registry.route("/projects", "POST", summary="Create a tender project (agent)", tag=TAG, request_schema=PROJECT_SCHEMA)
@agents_only
def create_project_api():
    body = json_body()
    tenderee = db.session.scalar(sa.select(Organisation).where(
        Organisation.credit_code == str(body.get("tenderee_credit_code", "")).upper()))
    if tenderee is None:
        raise ValidationError("未找到该统一社会信用代码的招标人 (no tenderee with that credit code)",
                              field="tenderee_credit_code")
    project = ops.create_project(
        agent=current_user, tenderee=tenderee, code=str(body.get("code", "")), name=str(body.get("name", "")),
        type=str(body.get("type", "")), method=str(body.get("method", "")), budget=body.get("budget"),
        ceiling_price=body.get("ceiling_price"), region_code=str(body.get("region_code", "")),
        notice_text=str(body.get("notice_text", "")), government_invested=bool(body.get("government_invested")))
    db.session.commit()
    return jsonify(project_json(project, detail=True)), 201


def _parse_time(value, field: str):
    try:
        return parse_local(str(value or ""))
    except ValueError as exc:
        raise ValidationError(str(exc), field=field) from None


@registry.route("/projects/<int:project_id>/sections", "POST", summary="Add a section with its schedule (agent)",
                tag=TAG, request_schema=SECTION_SCHEMA)
@agents_only
def create_section_api(project_id: int):
    project = get_project(project_id, manage=True)
    body = json_body()
    schedule = body.get("schedule") or {}
    try:
        number, validity = int(body.get("number", 0)), int(body.get("bid_validity_days", 90))
        minutes = int(body.get("decryption_minutes", 30))
    except (TypeError, ValueError):
        raise ValidationError("数字字段格式不正确 (number fields must be integers)") from None
    section = ops.add_section(
        project, number=number, name=str(body.get("name", "")), ceiling_price=body.get("ceiling_price"),
        bid_security_amount=body.get("bid_security_amount", "0"), bid_validity_days=validity,
        evaluation_method=str(body.get("evaluation_method", "")),
        schedule=ops.ScheduleInput(decryption_minutes=minutes, **{
            k: _parse_time(schedule.get(k), f"schedule.{k}")
            for k in ("notice_at", "issue_start", "issue_end", "clarification_deadline", "deadline")}))
    db.session.commit()
    return jsonify(section_json(section)), 201


@registry.route("/sections/<int:section_id>/price-form", "PUT", summary="Define the price form (agent)", tag=TAG,
                request_schema=PRICE_FORM_SCHEMA)
@agents_only
def put_price_form_api(section_id: int):
    section = get_section(section_id, manage=True)
    fields = json_body().get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
        raise ValidationError("fields 应为对象数组 (fields must be an array of objects)", field="fields")
    ops.set_price_form(section, fields)
    db.session.commit()
    return jsonify(section_json(section))


@registry.route("/sections/<int:section_id>/documents", "POST", summary="Upload tender documents (agent)", tag=TAG,
                request_content="multipart/form-data",
                request_schema={"type": "object", "required": ["file"], "properties": {
                    "file": {"type": "string", "format": "binary"}, "title": {"type": "string"}}})
@agents_only
def upload_document_api(section_id: int):
    section = get_section(section_id, manage=True)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请选择文件 (a file is required)", field="file")
    document = ops.upload_document(section, uploader=current_user, title=request.form.get("title", ""),
                                   stream=upload.stream, filename=upload.filename, content_type=upload.mimetype)
    db.session.commit()
    return jsonify({"id": document.id, "version": document.version, "sha256": document.file.sha256,
                    "size": document.file.size}), 201


@registry.route("/projects/<int:project_id>/publish", "POST", summary="Publish the notice (agent)", tag=TAG)
@agents_only
def publish_api(project_id: int):
    project = get_project(project_id, manage=True)
    ops.publish(project)
    db.session.commit()
    return jsonify(project_json(project, detail=True))


@registry.route("/sections/<int:section_id>/clarifications", "POST", summary="Issue a clarification or amendment (agent)",
                tag=TAG, request_schema=CLARIFICATION_SCHEMA)
@agents_only
def clarify_api(section_id: int):
    section = get_section(section_id, manage=True)
    body = json_body()
    new_deadline = _parse_time(body["new_deadline"], "new_deadline") if body.get("new_deadline") else None
    clarification = ops.issue_clarification(
        section, agent=current_user, title=str(body.get("title", "")), body=str(body.get("body", "")),
        stream=None, filename=None, content_type=None, new_deadline=new_deadline,
        no_effect_reason=body.get("no_effect_reason"))
    db.session.commit()
    return jsonify(clarification_json(clarification)), 201


def clarification_json(c: Clarification) -> dict:
    return {"id": c.id, "number": c.number, "title": c.title, "body": c.body, "decision": c.decision.value,
            "reason": c.reason, "deadline": c.new_deadline.isoformat(), "issued_at": c.issued_at.isoformat()}
