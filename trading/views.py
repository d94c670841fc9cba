"""Pages of the tender: public notices, project and section pages, the agent's forms, workspaces.

Views are thin: parse input, check access, call one operation, commit once, render.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from core.accounts import Organisation, OrgKind, Role
from core.clock import parse_local
from core.db import db
from core.errors import DomainError, ValidationError
from core.notifications import Notification
from core.permissions import agents_only, public, signed_in
from core.views import act_and_redirect
from evaluation.catalogue import method_titles
from trading import operations as ops
from trading.models import (METHOD_LABELS, PRICE_FIELD_TYPE_LABELS, PROJECT_TYPE_LABELS, Clarification, Project,
                            ProjectState, ProjectType, Section, SectionState, TenderDocument)

bp = Blueprint("trading", __name__)

ROUTES = [
    ("/", "notices", ["GET"]),
    ("/projects/<int:project_id>", "project", ["GET"]),
    ("/sections/<int:section_id>", "section", ["GET"]),
    ("/documents/<int:document_id>/download", "download", ["GET"]),
    ("/workspace", "workspace", ["GET"]),
    ("/notifications", "notifications", ["GET", "POST"]),
    ("/projects/new", "new_project", ["GET", "POST"]),
    ("/projects/<int:project_id>/sections/new", "new_section", ["GET", "POST"]),
    ("/sections/<int:section_id>/documents", "upload_document", ["POST"]),
    ("/sections/<int:section_id>/price-form", "price_form", ["GET", "POST"]),
    ("/projects/<int:project_id>/invitations", "invite", ["POST"]),
    ("/projects/<int:project_id>/publish", "publish", ["POST"]),
    ("/sections/<int:section_id>/clarifications/new", "new_clarification", ["GET", "POST"]),
    ("/sections/<int:section_id>/downloads", "downloads", ["GET"]),
    ("/sections/<int:section_id>/opening", "opening_hall", ["GET"]),
]


def get_project(project_id: int, *, manage: bool = False) -> Project:
    project = db.session.get(Project, project_id)
    if project is None or not project.can_view(current_user):
        abort(404)
    if manage and not project.can_manage(current_user):
        abort(403)
    return project


def get_section(section_id: int, *, manage: bool = False) -> Section:
    section = db.session.get(Section, section_id)
    if section is None:
        abort(404)
    get_project(section.project_id, manage=manage)
    return section


@public
def notices():
    query = sa.select(Project).where(Project.state.in_([ProjectState.PUBLISHED, ProjectState.CLOSED]))
    kind = request.args.get("type")
    if kind in {t.value for t in ProjectType}:
        query = query.where(Project.type == ProjectType(kind))
    projects = [p for p in db.session.scalars(query.order_by(Project.published_at.desc())).all() if p.is_open_to(current_user)]
    return render_template("trading/notices.html", projects=projects, type_labels=PROJECT_TYPE_LABELS, selected=kind)


@public
def project(project_id: int):
    item = get_project(project_id)
    return render_template("trading/project.html", project=item, methods=method_titles(),
                           bidders=_bidder_orgs() if item.can_manage(current_user) else [])


@public
def section(section_id: int):
    item = get_section(section_id)
    clarifications = db.session.scalars(sa.select(Clarification).where(Clarification.section_id == item.id)
                                        .order_by(Clarification.number)).all()
    can_see = item.project.can_see_downloaders(current_user)
    from trading import clock_source

    hall_open = item.state is not SectionState.DRAFT and clock_source.now() >= item.deadline
    return render_template("trading/section.html", section=item, project=item.project, methods=method_titles(),
                           hall_open=hall_open,
                           clarifications=clarifications, downloads=ops.downloaders(item) if can_see else None)


@signed_in
def download(document_id: int):
    document = db.session.get(TenderDocument, document_id)
    if document is None:
        abort(404)
    project = get_project(document.section.project_id)
    if not project.is_published and not project.can_manage(current_user):
        abort(404)
    try:
        ops.record_download(document, current_user, request.remote_addr)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("trading.section", section_id=document.section_id))
    db.session.commit()
    return send_file(document.file.path, as_attachment=True, download_name=document.file.filename,
                     mimetype=document.file.content_type)


@signed_in
def workspace():
    user = current_user
    context: dict = {"unread": db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))}
    if user.is_(Role.AGENT):
        context["projects"] = db.session.scalars(sa.select(Project).where(Project.agency_id == user.organisation_id)
                                                 .order_by(Project.id.desc())).all()
    elif user.is_(Role.TENDEREE):
        context["projects"] = db.session.scalars(sa.select(Project).where(Project.tenderee_id == user.organisation_id)
                                                 .order_by(Project.id.desc())).all()
    elif user.is_(Role.SUPERVISOR, Role.ADMIN):
        context["projects"] = db.session.scalars(sa.select(Project).order_by(Project.id.desc()).limit(200)).all()
    elif user.is_(Role.BIDDER):
        from trading.models import Download

        context["downloaded"] = db.session.scalars(
            sa.select(Section).join(Download, Download.section_id == Section.id)
            .where(Download.organisation_id == user.organisation_id).distinct()).all()
    return render_template("trading/workspace.html", **context)


@signed_in
def notifications():
    if request.method == "POST":
        from core.clock import now

        for note in db.session.scalars(sa.select(Notification).where(Notification.user_id == current_user.id,
                                                                     Notification.read_at.is_(None))):
            note.read_at = now()
        db.session.commit()
        return redirect(url_for("trading.notifications"))
    rows = db.session.scalars(sa.select(Notification).where(Notification.user_id == current_user.id)
                              .order_by(Notification.id.desc()).limit(200)).all()
    return render_template("trading/notifications.html", notifications=rows)


def _tenderees() -> list[Organisation]:
    return db.session.scalars(sa.select(Organisation).where(Organisation.kind == OrgKind.TENDEREE)
                              .order_by(Organisation.name)).all()


def _bidder_orgs() -> list[Organisation]:
    return db.session.scalars(sa.select(Organisation).where(Organisation.kind == OrgKind.BIDDER)
                              .order_by(Organisation.name)).all()


@agents_only
def new_project():
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            tenderee = db.session.get(Organisation, int(form.get("tenderee_id") or 0))
            created = ops.create_project(
                agent=current_user, tenderee=tenderee, code=form.get("code", ""), name=form.get("name", ""),
                type=form.get("type", ""), method=form.get("method", ""), budget=form.get("budget", ""),
                ceiling_price=form.get("ceiling_price", ""), region_code=form.get("region_code", ""),
                notice_text=form.get("notice_text", ""), government_invested=bool(form.get("government_invested")))
            db.session.commit()
            flash("项目已创建 (project created)", "success")
            return redirect(url_for("trading.project", project_id=created.id))
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "_"] = exc.message
    from core.validators import regions

    return render_template("trading/project_form.html", form=form, errors=errors, regions=regions(),
                           tenderees=[(org.id, org.name) for org in _tenderees()],
                           types=[(k.value, v) for k, v in PROJECT_TYPE_LABELS.items()],
                           methods=[(k.value, v) for k, v in METHOD_LABELS.items()]), (422 if errors else 200)


def _schedule_from(form) -> ops.ScheduleInput:
    values = {}
    for name in ("notice_at", "issue_start", "issue_end", "clarification_deadline", "deadline"):
        try:
            values[name] = parse_local(form.get(name, ""))
        except ValueError as exc:
            raise ValidationError(str(exc), field=name) from None
    try:
        minutes = int(form.get("decryption_minutes") or 30)
    except ValueError:
        raise ValidationError("解密时限应为整数分钟 (decryption window in whole minutes)", field="decryption_minutes") from None
    return ops.ScheduleInput(decryption_minutes=minutes, **values)


@agents_only
def new_section(project_id: int):
    item = get_project(project_id, manage=True)
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            created = ops.add_section(
                item, number=int(form.get("number") or 0), name=form.get("name", ""),
                ceiling_price=form.get("ceiling_price", ""), bid_security_amount=form.get("bid_security_amount") or "0",
                bid_validity_days=int(form.get("bid_validity_days") or 0),
                evaluation_method=form.get("evaluation_method", ""), schedule=_schedule_from(form))
            db.session.commit()
            flash("标段已添加 (section added)", "success")
            return redirect(url_for("trading.price_form", section_id=created.id))
        except (DomainError, ValueError) as exc:
            db.session.rollback()
            if isinstance(exc, DomainError):
                errors[exc.field or "_"] = exc.message
            else:
                errors["_"] = "请检查数字字段 (check the number fields)"
    return render_template("trading/section_form.html", project=item, form=form, errors=errors,
                           methods=list(method_titles().items())), (422 if errors else 200)


@agents_only
def upload_document(section_id: int):
    item = get_section(section_id, manage=True)
    upload = request.files.get("file")

    def work():
        if upload is None or not upload.filename:
            raise ValidationError("请选择文件 (choose a file)", field="file")
        ops.upload_document(item, uploader=current_user, title=request.form.get("title", ""), stream=upload.stream,
                            filename=upload.filename, content_type=upload.mimetype)

    return act_and_redirect(work, "招标文件已上传 (tender documents uploaded)",
                            url_for("trading.section", section_id=item.id))


@agents_only
def price_form(section_id: int):
    item = get_section(section_id, manage=True)
    error = None
    if request.method == "POST":
        form = request.form
        fields = []
        for i in range(int(form.get("rows") or 0)):
            key = form.get(f"key_{i}", "").strip()
            if not key and not form.get(f"label_{i}", "").strip():
                continue
            fields.append({"key": key, "label": form.get(f"label_{i}", ""), "type": form.get(f"type_{i}", ""),
                           "required": bool(form.get(f"required_{i}")), "options": form.get(f"options_{i}", "")})
        try:
            ops.set_price_form(item, fields)
            db.session.commit()
            flash("开标一览表已保存 (price form saved)", "success")
            return redirect(url_for("trading.section", section_id=item.id))
        except DomainError as exc:
            db.session.rollback()
            error = exc
    rows = [f.as_dict() for f in item.price_form] or [
        {"key": "total_price", "label": "投标总价(元)", "type": "money", "required": True},
        {"key": "duration_days", "label": "工期(日历天)", "type": "integer", "required": True},
        {"key": "quality", "label": "质量标准", "type": "text", "required": True},
        {"key": "project_manager", "label": "项目经理", "type": "text", "required": True},
    ]
    return render_template("trading/price_form.html", section=item, rows=rows, error=error,
                           types=PRICE_FIELD_TYPE_LABELS), (422 if error else 200)


@agents_only
def invite(project_id: int):
    item = get_project(project_id, manage=True)

    def work():
        org = db.session.get(Organisation, int(request.form.get("organisation_id") or 0))
        if org is None:
            raise ValidationError("请选择投标人 (choose a bidder)", field="organisation_id")
        ops.invite(item, org)

    return act_and_redirect(work, "已邀请 (invited)", url_for("trading.project", project_id=item.id))


@agents_only
def publish(project_id: int):
    item = get_project(project_id, manage=True)
    return act_and_redirect(lambda: ops.publish(item), "招标公告已发布 (notice published)",
                            url_for("trading.project", project_id=item.id))


@agents_only
def new_clarification(section_id: int):
    item = get_section(section_id, manage=True)
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            new_deadline = parse_local(form["new_deadline"]) if form.get("new_deadline") else None
        except ValueError as exc:
            new_deadline, errors["new_deadline"] = None, str(exc)
        upload = request.files.get("file")
        if not errors:
            try:
                ops.issue_clarification(
                    item, agent=current_user, title=form.get("title", ""), body=form.get("body", ""),
                    stream=upload.stream if upload and upload.filename else None,
                    filename=upload.filename if upload else None, content_type=upload.mimetype if upload else None,
                    new_deadline=new_deadline, no_effect_reason=form.get("no_effect_reason"))
                db.session.commit()
                flash("澄清已发布，已通知所有下载人 (clarification issued; downloaders notified)", "success")
                return redirect(url_for("trading.section", section_id=item.id))
            except DomainError as exc:
                db.session.rollback()
                errors[exc.field or "_"] = exc.message
    return render_template("trading/clarification_form.html", section=item, form=form, errors=errors), \
        (422 if errors else 200)


@signed_in
def downloads(section_id: int):
    item = get_section(section_id)
    if not item.project.can_see_downloaders(current_user):
        abort(403)
    return render_template("trading/downloads.html", section=item, downloads=ops.downloaders(item))


@signed_in
def opening_hall(section_id: int):
    """不见面开标大厅: the page; the hall itself lives on Socket.IO and the opening API."""
    from trading import opening_operations
    from trading.bids import OpeningOfficer
    from trading.hall_state import may_enter

    item = get_section(section_id)
    try:
        opening = opening_operations.hall_for(item)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("trading.section", section_id=item.id))
    if not may_enter(opening, current_user):
        abort(403)
    officer = db.session.scalar(sa.select(OpeningOfficer).where(OpeningOfficer.section_id == item.id,
                                                                OpeningOfficer.user_id == current_user.id))
    return render_template("trading/opening_hall.html", section=item, host=item.project.can_manage(current_user),
                           officer_id=officer.officer_id if officer else None)


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)

