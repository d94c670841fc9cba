"""Pages of the evaluation: my evaluations (and a bidder's clarifications), opening it, the bidders' facts, the
live room, the modular review side by side with its inline viewer, and the report.

Views are thin: the room's actions go through the JSON API from the page (evaluation_room.js), the agent's
two forms post here and call one operation each.
"""
from __future__ import annotations

import json
from urllib.parse import quote

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from core.accounts import Role, User
from core.db import db
from core.errors import DomainError, ValidationError
from core.permissions import agents_only, signed_in
from evaluation import clarification_operations as clarifications
from evaluation import committee as committee_ops
from evaluation import modules as review_modules
from evaluation import price_corrections
from evaluation import review_operations as review
from evaluation.evaluation_data import method_of, required_facts
from evaluation.evaluation_models import CommitteeMember, Evaluation
from evaluation.report import report_path
from trading.models import Project, Section, SectionState
from trading.views import get_section

bp = Blueprint("evaluation", __name__)

ROUTES = [
    ("/evaluations", "evaluations", ["GET"]),
    ("/sections/<int:section_id>/evaluation/new", "open_evaluation", ["GET", "POST"]),
    ("/evaluations/<int:evaluation_id>/facts", "facts", ["GET", "POST"]),
    ("/evaluations/<int:evaluation_id>", "room", ["GET"]),
    ("/evaluations/<int:evaluation_id>/modules/<module>", "modules", ["GET"]),
    ("/evaluations/<int:evaluation_id>/bids/<int:bidder_id>/<module>/<path:path>", "module_file", ["GET"]),
    ("/evaluations/<int:evaluation_id>/report", "report", ["GET"]),
    ("/evaluations/<int:evaluation_id>/report.pdf", "report_pdf", ["GET"]),
]


def get_evaluation(evaluation_id: int) -> Evaluation:
    evaluation = db.session.get(Evaluation, evaluation_id)
    if evaluation is None or not evaluation.can_view(current_user):
        abort(404)
    return evaluation


def may_read_bids(evaluation: Evaluation) -> bool:
    """The bids' content is for the members who may act and for supervisors."""
    member = evaluation.member_for(current_user)
    return (member is not None and member.is_active) or current_user.is_(Role.SUPERVISOR)


@signed_in
def evaluations():
    """My evaluations: a member's seats; the agent's sections to evaluate; a bidder's clarifications."""
    user = current_user
    rows, sections, asked = [], [], []
    if user.is_(Role.BIDDER):
        asked = clarifications.clarifications_for(user.organisation_id)
    else:
        query = sa.select(Evaluation).order_by(Evaluation.id.desc())
        if user.is_(Role.EXPERT, Role.TENDEREE):
            query = query.join(CommitteeMember).where(CommitteeMember.user_id == user.id)
        rows = [e for e in db.session.scalars(query.limit(200)).unique() if e.can_view(user)]
    if user.is_(Role.AGENT):
        sections = db.session.scalars(sa.select(Section).join(Project).where(
            Project.agency_id == user.organisation_id, Section.state == SectionState.EVALUATION)).all()
        opened = {e.section_id for e in rows}
        sections = [s for s in sections if s.id not in opened]
    return render_template("evaluation/evaluations.html", evaluations=rows, sections=sections, asked=asked,
                           corrections=price_corrections.by_clarification([c.id for c in asked]),
                           answer_payload=clarifications.answer_payload)


@agents_only
def open_evaluation(section_id: int):
    section = get_section(section_id, manage=True)
    existing = committee_ops.evaluation_of(section)
    if existing is not None:
        return redirect(url_for("evaluation.room", evaluation_id=existing.id))
    draw = committee_ops.committee_draw(section)
    staff = db.session.scalars(sa.select(User).where(User.organisation_id == section.project.tenderee_id,
                                                     User.role == Role.TENDEREE, User.active)).all()
    error = None
    if request.method == "POST":
        chosen = [db.session.get(User, int(i)) for i in request.form.getlist("representatives") if i.isdigit()]
        try:
            evaluation = committee_ops.open_evaluation(section, current_user, [u for u in chosen if u])
            db.session.commit()
            flash("评标已开始，请录入投标人数据 (the evaluation is open: record the bidders' data)", "success")
            return redirect(url_for("evaluation.facts", evaluation_id=evaluation.id))
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
    return render_template("evaluation/evaluation_open.html", section=section, draw=draw, staff=staff,
                           error=error), (422 if error else 200)


@agents_only
def facts(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    if not evaluation.is_hosted_by(current_user):
        abort(403)
    kinds = required_facts(method_of(evaluation))
    errors: dict[int, str] = {}
    if request.method == "POST":
        bidder = next((b for b in evaluation.bidders if str(b.id) == request.form.get("bidder_id")), None)
        if bidder is None:
            abort(404)
        values = {name: request.form.get(f"fact_{name}", "") for name in kinds}
        try:
            review.record_facts(evaluation, current_user, bidder, values, request.form.get("small_enterprise") == "1")
            db.session.commit()
            from evaluation.room_state import broadcast

            broadcast(evaluation)
            flash(f"已保存：{bidder.name} (saved)", "success")
            return redirect(url_for("evaluation.facts", evaluation_id=evaluation.id))
        except DomainError as exc:
            db.session.rollback()
            errors[bidder.id] = exc.message
    return render_template("evaluation/evaluation_facts.html", evaluation=evaluation, kinds=kinds,
                           errors=errors), (422 if errors else 200)


@signed_in
def room(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    return render_template("evaluation/room.html", evaluation=evaluation, member=evaluation.member_for(current_user),
                           modules=review_modules.modules_of(evaluation) if may_read_bids(evaluation) else [],
                           hosted=evaluation.is_hosted_by(current_user))


@signed_in
def modules(evaluation_id: int, module: str):
    evaluation = get_evaluation(evaluation_id)
    if not may_read_bids(evaluation):
        abort(403)
    names = dict(review_modules.modules_of(evaluation))
    if module not in names:
        abort(404)
    return render_template("evaluation/modules.html", evaluation=evaluation, module=module, names=names,
                           columns=review_modules.side_by_side(evaluation, module))


@signed_in
def module_file(evaluation_id: int, bidder_id: int, module: str, path: str):
    """One file of a bid, inline, for the viewer; a type the browser cannot show safely is refused."""
    evaluation = get_evaluation(evaluation_id)
    if not may_read_bids(evaluation):
        abort(403)
    bid = next((b for b in evaluation.bidders if b.id == bidder_id), None)
    if bid is None:
        abort(404)
    data, entry = review_modules.read_file(evaluation, bid, module, path)
    if entry.content_type is None:
        raise ValidationError("该格式不能在线查看 (this file type has no inline viewer)", field="path", status=415)
    name = quote(entry.path.rsplit("/", 1)[-1])
    headers = {"Content-Disposition": f"inline; filename*=UTF-8''{name}", "X-Content-Type-Options": "nosniff",
               "Cache-Control": "private, no-store"}
    if entry.viewer != "pdf":  # the browser's PDF viewer does not run in a sandboxed document
        headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
    return Response(data, mimetype=entry.content_type, headers=headers)


@signed_in
def report(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    data = json.loads(evaluation.report_data) if evaluation.report_data and (
        evaluation.sees_names(current_user) or evaluation.report_key) else None
    return render_template("evaluation/report.html", evaluation=evaluation, data=data,
                           hosted=evaluation.is_hosted_by(current_user),
                           readable=evaluation.can_read_report(current_user))


@signed_in
def report_pdf(evaluation_id: int):
    evaluation = get_evaluation(evaluation_id)
    if not evaluation.can_read_report(current_user):
        abort(404)
    return send_file(report_path(evaluation.report_key), mimetype="application/pdf", as_attachment=True,
                     download_name=f"评标报告-{evaluation.section.code}.pdf")


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
