"""Pages of the expert draw: the request, the ceremony, what each role may see, the experts' invitations.

Agents and tenderees see counts and the public ceremony (commitment, digests, contributions), never names;
supervisors see the exclusions, and the drawn list only as they open it themselves with their encryption key
(static/js/draw_list.js) until the evaluation starts, when the server shows it to them; experts see their own
invitations, and their committee once the evaluation starts; everyone sees the record once it is published
after the award.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from core.accounts import Organisation, OrgKind, Role
from core.clock import now, parse_local
from core.db import db
from core.errors import DomainError, ValidationError
from core.permissions import agents_only, public, roles, signed_in
from core.views import act_and_redirect
from evaluation import cli as draw_cli
from evaluation import draw_confirmations as confirmations
from evaluation import draw_operations as ops
from evaluation.draw_models import (COMMITTEE_RULE_LABELS, AssignmentStatus, Draw, DrawAssignment, DrawExclusion,
                                    DrawState, Venue)
from evaluation.draw_pool import DrawSettings, supervisory_authority_for
from evaluation.draw_records import published_in_audit
from evaluation.specialties import specialty_choices, specialty_name
from trading.models import Download, Project, Section

bp = Blueprint("draw", __name__)
bp.cli.add_command(draw_cli.verify_command)
bp.cli.add_command(draw_cli.sweep_command)

ROUTES = [
    ("/draws", "draws", ["GET"]),
    ("/sections/<int:section_id>/draws/new", "new_draw", ["GET", "POST"]),
    ("/draws/<int:draw_id>", "draw", ["GET"]),
    ("/draws/<int:draw_id>/commit", "commit", ["POST"]),
    ("/draws/<int:draw_id>/entropy", "contribute", ["POST"]),
    ("/draws/<int:draw_id>/reveal", "reveal", ["POST"]),
    ("/draws/<int:draw_id>/timeouts", "process_timeouts", ["POST"]),
    ("/draws/<int:draw_id>/recheck", "recheck", ["POST"]),
    ("/draws/<int:draw_id>/committee", "open_to_committee", ["POST"]),
    ("/draws/<int:draw_id>/publish", "publish", ["POST"]),
    ("/draws/<int:draw_id>/cancel", "cancel", ["POST"]),
    ("/draws/<int:draw_id>/record", "record", ["GET"]),
    ("/draws/<int:draw_id>/record.json", "record_json", ["GET"]),
    ("/invitations", "invitations", ["GET"]),
    ("/invitations/<int:assignment_id>/answer", "answer", ["POST"]),
]
draw_participants = roles(Role.AGENT, Role.TENDEREE, Role.SUPERVISOR, Role.ADMIN, Role.EXPERT)
conductors = roles(Role.AGENT, Role.SUPERVISOR)
contributors = roles(Role.SUPERVISOR, Role.TENDEREE)
experts_only = roles(Role.EXPERT)
CREDIT_CODES = re.compile(r"[\s,，;；]+")


def get_draw(draw_id: int, *, check=None) -> Draw:
    """Fetch a draw the current user may see; ``check`` is a further sentence such as ``Draw.can_conduct``."""
    item = db.session.get(Draw, draw_id)
    if item is None or not item.can_view(current_user):
        abort(404)
    if check is not None and not check(item, current_user):
        abort(403)
    return item


def whole_number(value, field: str, default: int | None = None) -> int:
    """A count typed in a form or sent in JSON; anything else is refused naming the field."""
    if value in (None, "") and default is not None:
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValidationError("应为整数 (a whole number is expected)", field=field) from None


#: Form fields that show their own error; any other field's error is shown at the top of the form.
FORM_FIELDS = {"quotas", "tenderee_representatives", "evaluation_at", "main_venue_id", "secondary_venues",
               "regions_allowed", "regions_excluded", "confirmation_minutes"}


def bidder_codes_from(form) -> list[str] | None:
    """The bidders named in a form: ticked organisations plus typed credit codes; None when none is named."""
    codes = [org.credit_code for org in (db.session.get(Organisation, int(i)) for i in form.getlist("bidder_ids")
                                         if str(i).isdigit()) if org is not None]
    codes += [c for c in CREDIT_CODES.split(form.get("bidder_codes", "")) if c]
    return codes or None


@draw_participants
def draws():
    user = current_user
    if user.is_(Role.EXPERT):
        return redirect(url_for("draw.invitations"))
    query = sa.select(Draw).join(Section).join(Project)
    sections = []
    if user.is_(Role.AGENT):
        query = query.where(Project.agency_id == user.organisation_id)
        sections = db.session.scalars(sa.select(Section).join(Project).where(
            Project.agency_id == user.organisation_id).order_by(Section.code)).all()
    elif user.is_(Role.TENDEREE):
        query = query.where(Project.tenderee_id == user.organisation_id)
    rows = db.session.scalars(query.order_by(Draw.id.desc()).limit(200)).all()
    return render_template("evaluation/draws.html", draws=rows, sections=sections)


def _venue_inputs(form) -> list[ops.VenueInput]:
    chosen = [("main", form.get("main_venue_id"))] + [("secondary", v) for v in form.getlist("secondary_venue_ids")]
    inputs = []
    for role, raw in chosen:
        venue = db.session.get(Venue, int(raw)) if str(raw or "").isdigit() else None
        if venue is None:
            if role == "main":
                raise ValidationError("请选择主场评标场地 (choose the main venue)", field="main_venue_id")
            continue
        field = "main_venue_id" if role == "main" else "secondary_venues"
        inputs.append(ops.VenueInput(venue, whole_number(form.get(f"seats_{venue.id}"), field, venue.seats)))
    return inputs


def _quota_inputs(form) -> list[ops.QuotaInput]:
    quotas = []
    for i in range(min(whole_number(form.get("rows"), "quotas", 0), 20)):
        specialty = form.get(f"specialty_{i}", "").strip()
        if not specialty:
            continue
        quotas.append(ops.QuotaInput(specialty, whole_number(form.get(f"count_{i}"), f"quotas[{i}].count", 0),
                                     whole_number(form.get(f"reserves_{i}"), f"quotas[{i}].reserves", 0)))
    return quotas


@agents_only
def new_draw(section_id: int):
    section = db.session.get(Section, section_id)
    if section is None or not section.project.can_view(current_user):
        abort(404)
    if not section.project.can_manage(current_user):
        abort(403)
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            try:
                evaluation_at = parse_local(form.get("evaluation_at", ""))
            except ValueError as exc:
                raise ValidationError(str(exc), field="evaluation_at") from None
            supervisor = db.session.get(Organisation, int(form["supervisor_org_id"])) \
                if form.get("supervisor_org_id", "").isdigit() else None
            created = ops.request_draw(
                section, agent=current_user, quotas=_quota_inputs(form),
                tenderee_representatives=whole_number(form.get("tenderee_representatives"),
                                                      "tenderee_representatives", 0),
                evaluation_at=evaluation_at, venues=_venue_inputs(form),
                regions_allowed=[c for c in CREDIT_CODES.split(form.get("regions_allowed", "")) if c],
                regions_excluded=[c for c in CREDIT_CODES.split(form.get("regions_excluded", "")) if c],
                water_works=bool(form.get("water_works")), complex_project=bool(form.get("complex_project")),
                confirmation_minutes=whole_number(form["confirmation_minutes"], "confirmation_minutes")
                if form.get("confirmation_minutes") else None, supervisor_org=supervisor)
            db.session.commit()
            flash("抽取申请已保存 (draw request saved)", "success")
            return redirect(url_for("draw.draw", draw_id=created.id))
        except DomainError as exc:
            db.session.rollback()
            field = (exc.field or "_").split("[")[0]
            errors[field if field in FORM_FIELDS else "_"] = exc.message
    authorities = db.session.scalars(sa.select(Organisation).where(
        Organisation.kind == OrgKind.SUPERVISORY_AUTHORITY).order_by(Organisation.name)).all()
    default_authority = supervisory_authority_for(section.project.region_code)
    return render_template(
        "evaluation/draw_form.html", section=section, form=form, errors=errors,
        venues=db.session.scalars(sa.select(Venue).where(Venue.active.is_(True)).order_by(Venue.code)).all(),
        specialties=specialty_choices(), authorities=authorities,
        default_authority=default_authority.id if default_authority else None,
        settings=DrawSettings.current()), (422 if errors else 200)


def _downloaders(section: Section) -> list[Organisation]:
    return db.session.scalars(sa.select(Organisation).where(Organisation.id.in_(
        sa.select(Download.organisation_id).where(Download.section_id == section.id))).order_by(Organisation.name)).all()


@signed_in
def draw(draw_id: int):
    item = get_draw(draw_id)
    context: dict = {"draw": item, "rule_label": COMMITTEE_RULE_LABELS.get(item.committee_rule, item.committee_rule),
                     "specialty_name": specialty_name, "now": now()}
    context["counts"] = confirmations.draw_counts(item)
    if item.can_see_exclusions(current_user):
        exclusions = db.session.scalars(sa.select(DrawExclusion).where(DrawExclusion.draw_id == item.id)
                                        .order_by(DrawExclusion.id).limit(500)).all()
        by_rule = db.session.execute(sa.select(DrawExclusion.rule, sa.func.count()).where(
            DrawExclusion.draw_id == item.id).group_by(DrawExclusion.rule)).all()
        context.update(exclusions=exclusions, exclusions_by_rule=by_rule)
    if item.can_see_names(current_user):
        context["committee"] = confirmations.committee_of(item)
        context["history"] = [(a, confirmations.assignment_expert_code(a)) for a in item.assignments]
    elif item.can_open_sealed_list(current_user):
        context["sealed_list"] = True  # opened in the page with the supervisor's key, never here
    needs_bidders = item.state is DrawState.REQUESTED or (
        item.state in (DrawState.DRAWN, DrawState.COMPLETED) and not item.bidders_known)
    if needs_bidders and item.is_run_by(current_user):
        context["downloaders"] = _downloaders(item.section)
        context["known_bidders"] = ops.section_bidder_codes(item.section)
    return render_template("evaluation/draw.html", **context)


def _act(item: Draw, action, success: str):
    return act_and_redirect(action, success, url_for("draw.draw", draw_id=item.id))


@agents_only
def commit(draw_id: int):
    item = get_draw(draw_id, check=Draw.is_run_by)
    return _act(item, lambda: ops.commit_draw(item, actor=current_user, bidders=bidder_codes_from(request.form)),
                "已承诺：种子哈希与可抽专家名单摘要已写入审计日志 (committed: published in the audit log)")


@contributors
def contribute(draw_id: int):
    item = get_draw(draw_id, check=Draw.can_contribute)
    return _act(item, lambda: ops.contribute(item, current_user, request.form.get("entropy", "")),
                "随机数已记录 (entropy recorded)")


@conductors
def reveal(draw_id: int):
    item = get_draw(draw_id, check=Draw.can_conduct)
    return _act(item, lambda: ops.reveal(item, actor=current_user),
                "抽取完成，名单已密封，已通知被抽中的专家 (drawn: the list is sealed and the experts notified)")


@conductors
def process_timeouts(draw_id: int):
    item = get_draw(draw_id, check=Draw.can_conduct)
    return _act(item, lambda: confirmations.expire_overdue(item),
                lambda n: f"已处理{n}个超时未确认的专家 ({n} time-outs replaced)")


@agents_only
def recheck(draw_id: int):
    item = get_draw(draw_id, check=Draw.is_run_by)
    return _act(item, lambda: ops.recheck_bidders(item, actor=current_user, bidders=bidder_codes_from(request.form) or []),
                lambda n: f"已按投标人名单复核，{n}名专家回避并补抽 (re-checked: {n} recused and replaced)")


@conductors
def open_to_committee(draw_id: int):
    item = get_draw(draw_id, check=Draw.can_conduct)
    return _act(item, lambda: ops.reveal_to_committee(item, actor=current_user),
                "评标开始，名单已对委员会成员启封 (the list is open to the committee)")


@conductors
def publish(draw_id: int):
    item = get_draw(draw_id, check=Draw.can_conduct)
    return _act(item, lambda: ops.publish_record(item, actor=current_user),
                "抽取记录已公开，任何人可复核 (the record is published)")


@conductors
def cancel(draw_id: int):
    item = get_draw(draw_id, check=Draw.can_conduct)
    return _act(item, lambda: ops.cancel(item, actor=current_user, reason=request.form.get("reason", "")),
                "抽取已取消 (draw cancelled)")


def _public_draw(draw_id: int) -> Draw:
    item = db.session.get(Draw, draw_id)
    if item is None or item.commitment is None:
        abort(404)
    return item


@public
def record(draw_id: int):
    item = _public_draw(draw_id)
    published = item.state is DrawState.PUBLISHED
    return render_template("evaluation/draw_record.html", draw=item, published=published,
                           committed=published_in_audit(item, "draw.committed"),
                           publication=published_in_audit(item, "draw.published") if published else None,
                           committee=confirmations.committee_of(item) if published else [])


@public
def record_json(draw_id: int):
    item = _public_draw(draw_id)
    if item.state is not DrawState.PUBLISHED:
        abort(404, description="抽取记录在定标后公开 (the record is published after the award)")
    return Response(item.record_json, mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=draw-{item.id}.json"})


@experts_only
def invitations():
    expert = confirmations.expert_of_user(current_user)
    rows = confirmations.assignments_of(expert) if expert else []
    committees = {a.draw_id: confirmations.committee_of(a.draw) for a in rows
                  if a.draw.state in (DrawState.COMMITTEE_REVEALED, DrawState.PUBLISHED)
                  and a.status is AssignmentStatus.CONFIRMED}
    return render_template("evaluation/invitations.html", expert=expert, assignments=rows, committees=committees,
                           now=now(), specialty_name=specialty_name)


@experts_only
def answer(assignment_id: int):
    assignment = db.session.get(DrawAssignment, assignment_id)
    expert = confirmations.expert_of_user(current_user)
    if assignment is None or expert is None or not confirmations.owns(assignment, expert):
        abort(404)
    accept = request.form.get("answer") == "confirm"
    try:
        outcome = confirmations.respond(assignment, expert, accept=accept, reason=request.form.get("reason"))
        db.session.commit()
        messages = {"confirmed": ("已确认参加评标 (confirmed)", "success"),
                    "declined": ("已拒绝，平台将补抽 (declined; a replacement is drawn)", "success"),
                    "timed_out": ("已超过确认时限，视为不参加 (too late: the notice timed out)", "error")}
        flash(*messages[outcome])
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("draw.invitations"))


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
