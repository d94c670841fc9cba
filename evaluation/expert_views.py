"""Pages of the expert pool: the administrators' pool and import, venues, and the expert's own profile.

Views are thin: parse input, check access, call one operation, commit once, render.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from core.accounts import Organisation, OrgKind, Role, User
from core.db import db
from core.errors import DomainError, ValidationError
from core.permissions import admins_only, roles
from core.validators import regions
from core.views import act_and_redirect
from evaluation import expert_operations as ops
from evaluation.draw_confirmations import assignments_of, expert_of_user
from evaluation.draw_models import DrawState, Venue
from evaluation.expert_import import COLUMNS, import_experts
from evaluation.experts import EXPERT_STATES, RELATION_LABELS, Expert, ExpertSpecialty, Unavailability
from evaluation.recusal import ExpertStatus
from evaluation.specialties import specialty_choices, titles
from evaluation.venue_operations import create_venue

bp = Blueprint("experts", __name__)

ROUTES = [
    ("/experts", "pool", ["GET"]),
    ("/experts/new", "new_expert", ["GET", "POST"]),
    ("/experts/import", "import_file", ["GET", "POST"]),
    ("/experts/<int:expert_id>", "profile", ["GET"]),
    ("/experts/<int:expert_id>/status", "change_status", ["POST"]),
    ("/experts/<int:expert_id>/employer", "change_employer", ["POST"]),
    ("/experts/<int:expert_id>/specialties", "set_specialties", ["POST"]),
    ("/experts/<int:expert_id>/account", "link_account", ["POST"]),
    ("/venues", "venues", ["GET", "POST"]),
    ("/me/expert", "my_profile", ["GET"]),
    ("/me/expert/relations", "declare_relation", ["POST"]),
    ("/me/expert/availability", "add_unavailability", ["POST"]),
    ("/me/expert/availability/<int:period_id>/delete", "remove_unavailability", ["POST"]),
]
PAGE = 50
pool_readers = roles(Role.ADMIN, Role.SUPERVISOR)
experts_only = roles(Role.EXPERT)


def get_expert(expert_id: int) -> Expert:
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        abort(404)
    return expert


def pool_query(args) -> sa.Select:
    query = sa.select(Expert)
    text = (args.get("q") or "").strip()
    if text:
        query = query.where(sa.or_(Expert.name.contains(text, autoescape=True), Expert.code == text.upper()))
    if args.get("specialty"):
        query = query.where(Expert.id.in_(sa.select(ExpertSpecialty.expert_id).where(
            ExpertSpecialty.code.startswith(args["specialty"].strip().upper(), autoescape=True))))
    if args.get("region"):
        prefix = args["region"].strip()
        while len(prefix) > 2 and prefix.endswith("00"):
            prefix = prefix[:-2]
        query = query.where(Expert.region_code.startswith(prefix, autoescape=True))
    if args.get("status") in {s.value for s in ExpertStatus}:
        query = query.where(Expert.status == ExpertStatus(args["status"]))
    return query


@pool_readers
def pool():
    query = pool_query(request.args)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    page = max(1, request.args.get("page", 1, type=int))
    rows = db.session.scalars(query.order_by(Expert.code).offset((page - 1) * PAGE).limit(PAGE)).all()
    return render_template("evaluation/experts.html", experts=rows, total=total, page=page, pages=-(-total // PAGE),
                           args=request.args, specialties=specialty_choices(), statuses=EXPERT_STATES.labels)


def _expert_input(form) -> ops.ExpertInput:
    past = []
    if form.get("past_employer_name") or form.get("past_credit_code"):
        past.append(ops.PastEmploymentInput(
            form.get("past_employer_name", ""), form.get("past_credit_code", ""),
            ops.parse_date(form.get("past_end"), "past_employments[0].end"),
            ops.parse_date(form["past_start"], "past_employments[0].start") if form.get("past_start") else None))
    return ops.ExpertInput(name=form.get("name", ""), id_number=form.get("id_number", ""), title=form.get("title", ""),
                           region_code=form.get("region_code", ""), specialties=form.getlist("specialties"),
                           employer_name=form.get("employer_name", ""),
                           employer_credit_code=form.get("employer_credit_code", ""), mobile=form.get("mobile", ""),
                           past_employments=past)


@admins_only
def new_expert():
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            expert = ops.create_expert(_expert_input(request.form), actor=current_user)
            db.session.commit()
            flash(f"专家 {expert.code} 已入库 (expert added)", "success")
            return redirect(url_for("experts.profile", expert_id=expert.id))
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "_"] = exc.message
    return render_template("evaluation/expert_form.html", form=request.form, errors=errors, regions=regions(),
                           titles=titles(), specialties=specialty_choices(leaves_only=True)), (422 if errors else 200)


@admins_only
def import_file():
    report, error = None, None
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise ValidationError("请选择文件 (choose a file)", field="file")
            report = import_experts(upload.stream, upload.filename, actor=current_user,
                                    valid_rows_only=bool(request.form.get("valid_rows_only")))
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
    status = 422 if error or (report and report.rejected) else 200
    return render_template("evaluation/expert_import.html", report=report, error=error, columns=COLUMNS), status


@pool_readers
def profile(expert_id: int):
    expert = get_expert(expert_id)
    # Before the evaluation starts a draw's list is sealed, to supervisors too (they open it with their own key on
    # the draw's page): an expert's pending seats would give it away here.
    history_states = ([DrawState.COMMITTEE_REVEALED, DrawState.PUBLISHED] if current_user.is_(Role.SUPERVISOR)
                      else [DrawState.PUBLISHED])
    return render_template("evaluation/expert.html", expert=expert, history=assignments_of(expert, states=history_states),
                           statuses=EXPERT_STATES, specialties=specialty_choices(leaves_only=True),
                           can_edit=Expert.can_be_edited_by(current_user))


def _act(expert: Expert, action, success: str):
    return act_and_redirect(action, success, url_for("experts.profile", expert_id=expert.id))


@pool_readers
def change_status(expert_id: int):
    expert = get_expert(expert_id)
    return _act(expert, lambda: ops.change_status(expert, request.form.get("status", ""), actor=current_user,
                                                  reason=request.form.get("reason", "")),
                "专家状态已变更 (status changed)")


@admins_only
def change_employer(expert_id: int):
    expert = get_expert(expert_id)
    return _act(expert, lambda: ops.change_employer(
        expert, actor=current_user, employer_name=request.form.get("employer_name", ""),
        credit_code=request.form.get("employer_credit_code", ""),
        left_on=ops.parse_date(request.form.get("left_on"), "left_on")), "工作单位已变更 (employer changed)")


@admins_only
def set_specialties(expert_id: int):
    expert = get_expert(expert_id)
    return _act(expert, lambda: ops.set_specialties(expert, request.form.getlist("specialties"), actor=current_user),
                "专业已更新 (specialties updated)")


@admins_only
def link_account(expert_id: int):
    expert = get_expert(expert_id)

    def link():
        user = db.session.scalar(sa.select(User).where(User.username == request.form.get("username", "").strip()))
        if user is None:
            raise ValidationError("未找到该用户名 (no such username)", field="username")
        ops.link_user(expert, user, actor=current_user)

    return _act(expert, link, "已关联登录账号 (account linked)")


@admins_only
def venues():
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            org = db.session.get(Organisation, int(form["organisation_id"])) \
                if form.get("organisation_id", "").isdigit() else None
            create_venue(code=form.get("code", ""), name=form.get("name", ""), region_code=form.get("region_code", ""),
                         seats=form.get("seats", ""), neighbour_regions=form.get("neighbour_regions", ""),
                         organisation=org, actor=current_user)
            db.session.commit()
            flash("评标场地已添加 (venue added)", "success")
            return redirect(url_for("experts.venues"))
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "_"] = exc.message
    centres = db.session.scalars(sa.select(Organisation).where(Organisation.kind == OrgKind.TRADING_CENTRE)
                                 .order_by(Organisation.name)).all()
    return render_template("evaluation/venues.html", venues=db.session.scalars(sa.select(Venue).order_by(Venue.code)).all(),
                           centres=centres, form=form, errors=errors, regions=regions()), (422 if errors else 200)


UNLINKED = "您的账号尚未关联专家库档案，请联系平台管理员 (your account is not linked to an expert profile yet)"


@experts_only
def my_profile():
    expert = expert_of_user(current_user)
    if expert is None:
        return render_template("evaluation/my_profile.html", expert=None, unlinked=UNLINKED)
    return render_template("evaluation/my_profile.html", expert=expert, history=assignments_of(expert),
                           relation_kinds=RELATION_LABELS)


def _mine(action, success: str):
    expert = expert_of_user(current_user)
    if expert is None:
        flash(UNLINKED, "error")
        return redirect(url_for("experts.my_profile"))
    try:
        action(expert)
        db.session.commit()
        flash(success, "success")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("experts.my_profile"))


@experts_only
def declare_relation():
    form = request.form
    return _mine(lambda e: ops.declare_relation(e, actor=current_user, organisation_name=form.get("organisation_name", ""),
                                                credit_code=form.get("credit_code", ""), kind=form.get("kind", ""),
                                                note=form.get("note", "")), "已申报 (relation declared)")


@experts_only
def add_unavailability():
    form = request.form
    return _mine(lambda e: ops.add_unavailability(e, actor=current_user, start=ops.parse_date(form.get("start"), "start"),
                                                  end=ops.parse_date(form.get("end"), "end"),
                                                  reason=form.get("reason", "")), "已登记不可参加时段 (period added)")


@experts_only
def remove_unavailability(period_id: int):
    def remove(expert: Expert):
        period = db.session.get(Unavailability, period_id)
        if period is None or period.expert_id != expert.id:
            abort(404)
        ops.remove_unavailability(expert, period, actor=current_user)

    return _mine(remove, "已删除该时段 (period removed)")


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
