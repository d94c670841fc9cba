"""Supervisors' pages: the warning dashboard with drill-down, bid-rigging clues, complaints, credit, charts.

Clue lists are for supervisors only (never bidders): every page here but the charts is gated to supervisors.
The command-line groups (``supervision``, ``archive``, ``ocds``) ride on this blueprint (``cli_group=None``).
"""
from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    after_this_request,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from core.accounts import Organisation, OrgKind, Role
from core.db import db
from core.errors import DomainError, ValidationError
from core.permissions import roles, supervisors_only
from core.views import act_and_redirect
from supervision import collusion_evidence as clues
from supervision import credit as credit_ops
from supervision import evaluation_bridge
from supervision import objections as objection_ops
from supervision import warnings as engine
from supervision.award_models import Complaint, SectionObjection
from supervision.cli import register_commands
from supervision.dashboards import all_figures
from supervision.models import (
    CREDIT_KIND_LABELS,
    CREDIT_RATINGS,
    ArchivePackage,
    CollusionAnalysis,
    CreditRecord,
    SupervisionWarning,
    WarningLight,
    WarningState,
)
from supervision.points import POINTS, POINTS_BY_CODE
from supervision.post_award import award_of, current_result
from trading.models import Project, Section

bp = Blueprint("supervision", __name__, cli_group=None)
register_commands(bp)
evaluation_bridge.install()  # first: the warnings then see the candidates it receives
engine.install()

ROUTES = [
    ("/supervision", "warnings", ["GET"]),
    ("/supervision/warnings/<int:warning_id>", "warning", ["GET"]),
    ("/supervision/warnings/<int:warning_id>/notes", "annotate", ["POST"]),
    ("/supervision/warnings/<int:warning_id>/close", "close_warning", ["POST"]),
    ("/supervision/sections/<int:section_id>", "section", ["GET"]),
    ("/supervision/sections/<int:section_id>/collusion", "collusion", ["GET"]),
    ("/supervision/sections/<int:section_id>/collusion/run", "run_collusion", ["POST"]),
    ("/supervision/collusion/<int:analysis_id>/review", "review_clues", ["POST"]),
    ("/supervision/collusion/<int:analysis_id>/attach", "attach_clues", ["POST"]),
    ("/supervision/collusion/<int:analysis_id>/credit", "credit_from_clue", ["POST"]),
    ("/supervision/complaints/<int:complaint_id>/acceptance", "accept_complaint", ["POST"]),
    ("/supervision/complaints/<int:complaint_id>/decision", "decide_complaint", ["POST"]),
    ("/supervision/credit", "credit", ["GET", "POST"]),
    ("/supervision/credit/<int:record_id>/revoke", "revoke_credit", ["POST"]),
    ("/supervision/dashboards", "dashboards", ["GET"]),
    ("/supervision/projects/<int:project_id>/archive", "archive", ["GET"]),
]


@bp.record_once
def _periodic(state) -> None:
    every = engine.interval(state.app)
    if every > 0 and not state.app.testing:
        engine.start_background(state.app, every)


def _get(model, object_id: int):
    item = db.session.get(model, object_id)
    if item is None:
        abort(404)
    return item


@supervisors_only
def warnings():
    light, point, state = request.args.get("light"), request.args.get("point"), request.args.get("state", "open")
    query = sa.select(SupervisionWarning).order_by(SupervisionWarning.light.desc(), SupervisionWarning.raised_at.desc())
    if state in {s.value for s in WarningState}:
        query = query.where(SupervisionWarning.state == WarningState(state))
    if light in {w.value for w in WarningLight}:
        query = query.where(SupervisionWarning.light == WarningLight(light))
    if point in POINTS_BY_CODE:
        query = query.where(SupervisionWarning.point == point)
    rows = db.session.scalars(query.limit(500)).all()
    sections = {s.id: s for s in db.session.scalars(sa.select(Section).where(Section.id.in_({w.section_id for w in rows})))}
    counts = {light.value: n for light, n in db.session.execute(sa.select(SupervisionWarning.light, sa.func.count())
              .where(SupervisionWarning.state == WarningState.OPEN).group_by(SupervisionWarning.light))}
    return render_template("supervision/warnings.html", warnings=rows, sections=sections, points=POINTS,
                           points_by_code=POINTS_BY_CODE, counts=counts, selected={"light": light, "point": point,
                                                                                    "state": state})


@supervisors_only
def warning(warning_id: int):
    item = _get(SupervisionWarning, warning_id)
    return render_template("supervision/warning.html", warning=item, section=db.session.get(Section, item.section_id),
                           point=POINTS_BY_CODE.get(item.point))


@supervisors_only
def annotate(warning_id: int):
    item = _get(SupervisionWarning, warning_id)
    return act_and_redirect(lambda: engine.annotate(item, current_user, request.form.get("text", "")),
                            "批注已保存 (note saved)", url_for("supervision.warning", warning_id=item.id))


@supervisors_only
def close_warning(warning_id: int):
    item = _get(SupervisionWarning, warning_id)
    return act_and_redirect(lambda: engine.close(item, current_user, request.form.get("reason", "")),
                            "预警已关闭 (warning closed)", url_for("supervision.warning", warning_id=item.id))


@supervisors_only
def section(section_id: int):
    item = _get(Section, section_id)
    history = db.session.scalars(sa.select(SupervisionWarning).where(SupervisionWarning.section_id == item.id)
                                 .order_by(SupervisionWarning.id.desc())).all()
    results = {r.point: r for r in engine.section_points(item.id)}
    return render_template(
        "supervision/section.html", section=item, project=item.project, points=POINTS, results=results,
        history=history, analysis=clues.latest_analysis(item.id), result=current_result(item.id),
        award=award_of(item.id),
        objections=db.session.scalars(sa.select(SectionObjection).where(SectionObjection.section_id == item.id)
                                      .order_by(SectionObjection.id)).all(),
        complaints=db.session.scalars(sa.select(Complaint).where(Complaint.section_id == item.id)
                                      .order_by(Complaint.id)).all())


@supervisors_only
def collusion(section_id: int):
    item = _get(Section, section_id)
    analysis = clues.latest_analysis(item.id)
    return render_template("supervision/collusion.html", section=item, project=item.project, analysis=analysis,
                           report=analysis.data if analysis else None,
                           bidders=analysis.bidder_map if analysis else {},
                           kinds=[(k.value, v) for k, v in CREDIT_KIND_LABELS.items() if k.value != "rating"])


@supervisors_only
def run_collusion(section_id: int):
    item = _get(Section, section_id)
    return act_and_redirect(lambda: clues.run_analysis(item, current_user),
                            lambda analysis: f"分析完成：{analysis.evidence_count}条线索 (analysis done)",
                            url_for("supervision.collusion", section_id=item.id))


@supervisors_only
def review_clues(analysis_id: int):
    analysis = _get(CollusionAnalysis, analysis_id)
    return act_and_redirect(
        lambda: clues.review(analysis, current_user, request.form.get("decision", ""), request.form.get("note", "")),
        "核查结论已保存 (review saved)", url_for("supervision.collusion", section_id=analysis.section_id))


@supervisors_only
def attach_clues(analysis_id: int):
    analysis = _get(CollusionAnalysis, analysis_id)
    return act_and_redirect(lambda: clues.attach(analysis, current_user),
                            "线索清单已附入评标记录 (clue list attached to the evaluation record)",
                            url_for("supervision.collusion", section_id=analysis.section_id))


def _day(name: str, required: bool = True) -> date | None:
    text = (request.form.get(name) or "").strip()
    if not text:
        if required:
            raise ValidationError("请填写日期 (a date is required)", field=name)
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError("日期格式应为 YYYY-MM-DD (date as YYYY-MM-DD)", field=name) from None


@supervisors_only
def credit_from_clue(analysis_id: int):
    analysis = _get(CollusionAnalysis, analysis_id)
    form = request.form
    return act_and_redirect(
        lambda: credit_ops.record_from_clue(
            analysis, int(form.get("group") or -1), supervisor=current_user, kind=form.get("kind", ""),
            title=form.get("title", ""), authority=form.get("authority", ""), effective_from=_day("effective_from"),
            effective_until=_day("effective_until", False), document_no=form.get("document_no", "")),
        lambda made: f"已记入信用记录{len(made)}条 (credit records made)",
        url_for("supervision.collusion", section_id=analysis.section_id))


@supervisors_only
def accept_complaint(complaint_id: int):
    complaint = _get(Complaint, complaint_id)
    form = request.form
    return act_and_redirect(
        lambda: objection_ops.accept_complaint(complaint, current_user, accept=form.get("accept") == "yes",
                                               note=form.get("note", ""), suspend=bool(form.get("suspend"))),
        "受理决定已保存 (acceptance recorded)", url_for("supervision.section", section_id=complaint.section_id))


@supervisors_only
def decide_complaint(complaint_id: int):
    complaint = _get(Complaint, complaint_id)
    form = request.form
    return act_and_redirect(
        lambda: objection_ops.decide_complaint(complaint, current_user, upheld=form.get("upheld") == "yes",
                                               decision=form.get("decision", ""),
                                               re_evaluate=bool(form.get("re_evaluate"))),
        "处理决定已保存 (decision recorded)", url_for("supervision.section", section_id=complaint.section_id))


@supervisors_only
def credit():
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            org = db.session.get(Organisation, int(form.get("organisation_id") or 0))
            credit_ops.record(supervisor=current_user, kind=form.get("kind", ""), title=form.get("title", ""),
                              authority=form.get("authority", ""), effective_from=_day("effective_from"),
                              effective_until=_day("effective_until", False), organisation=org,
                              rating=form.get("rating") or None, document_no=form.get("document_no", ""))
            db.session.commit()
            flash("信用记录已保存 (credit record saved)", "success")
            return redirect(url_for("supervision.credit"))
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "_"] = exc.message
    records = db.session.scalars(sa.select(CreditRecord).order_by(CreditRecord.id.desc()).limit(300)).all()
    organisations = db.session.scalars(sa.select(Organisation).where(Organisation.kind == OrgKind.BIDDER)
                                       .order_by(Organisation.name)).all()
    return render_template("supervision/credit.html", records=records, organisations=organisations, form=form,
                           errors=errors, kinds=list(CREDIT_KIND_LABELS.items()), ratings=CREDIT_RATINGS,
                           today=credit_ops.today()), (422 if errors else 200)


@supervisors_only
def revoke_credit(record_id: int):
    entry = _get(CreditRecord, record_id)
    return act_and_redirect(lambda: credit_ops.revoke(entry, current_user, request.form.get("reason", "")),
                            "信用记录已撤销 (credit record revoked)", url_for("supervision.credit"))


@roles(Role.SUPERVISOR, Role.ADMIN)
def dashboards():
    return render_template("supervision/dashboards.html", figures=all_figures())


@roles(Role.SUPERVISOR, Role.ADMIN)
def archive(project_id: int):
    """The stored package of a closed project, or one assembled now for a project still running."""
    project = _get(Project, project_id)
    from supervision.archive import build

    stored = db.session.scalar(sa.select(ArchivePackage).where(ArchivePackage.project_id == project.id)
                               .order_by(ArchivePackage.id.desc()).limit(1))
    if stored is not None:
        from core.storage import storage_root

        return send_file(storage_root() / stored.key, as_attachment=True, download_name=f"{project.code}-archive.zip")
    folder = Path(tempfile.mkdtemp(prefix="bidhall-archive-"))
    built = build(project, folder / f"{project.code}-archive.zip")

    @after_this_request
    def _cleanup(response):
        built.path.unlink(missing_ok=True)
        folder.rmdir()
        return response

    return send_file(built.path, as_attachment=True, download_name=built.path.name)


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
