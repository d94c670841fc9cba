"""Pages after the evaluation report: the public result page with the candidate publicity, objections,
complaints, the award and its notices, the contract, and closing the section.

Thin views: parse, check access, call one operation, commit once, redirect with the outcome.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request, send_file, url_for
from flask_login import current_user

from core.accounts import Role
from core.clock import parse_local
from core.db import db
from core.errors import ValidationError
from core.permissions import bidders_only, public, roles, signed_in
from core.storage import storage_root
from core.views import act_and_redirect
from supervision import objections as objection_ops
from supervision import post_award as ops
from supervision.award_models import Award, Complaint, Contract, SectionObjection
from trading.views import get_section

bp = Blueprint("award", __name__)

ROUTES = [
    ("/sections/<int:section_id>/result", "result", ["GET"]),
    ("/sections/<int:section_id>/publicity", "start_publicity", ["POST"]),
    ("/sections/<int:section_id>/objections", "raise_objection", ["POST"]),
    ("/section-objections/<int:objection_id>/answer", "answer_objection", ["POST"]),
    ("/sections/<int:section_id>/complaints", "file_complaint", ["POST"]),
    ("/sections/<int:section_id>/award", "decide", ["POST"]),
    ("/awards/<int:award_id>/notice", "issue_notice", ["POST"]),
    ("/awards/<int:award_id>/report", "written_report", ["POST"]),
    ("/awards/<int:award_id>/contract", "contract", ["POST"]),
    ("/sections/<int:section_id>/close", "close", ["POST"]),
    ("/awards/<int:award_id>/notice.pdf", "notice_pdf", ["GET"]),
    ("/awards/<int:award_id>/result.pdf", "result_pdf", ["GET"]),
]

PARTIES = roles(Role.AGENT, Role.TENDEREE)


def _back(section_id: int) -> str:
    return url_for("award.result", section_id=section_id)


def _run(section_id: int, success: str, action):
    return act_and_redirect(action, success, _back(section_id))


def _award(award_id: int) -> Award:
    item = db.session.get(Award, award_id)
    if item is None:
        abort(404)
    get_section(item.section_id)
    return item


@public
def result(section_id: int):
    item = get_section(section_id)
    project, user = item.project, current_user
    party = ops.is_party(project, user)
    supervisor = user.is_authenticated and user.is_(Role.SUPERVISOR)
    mine = user.is_authenticated and user.is_(Role.BIDDER)
    objections = db.session.scalars(sa.select(SectionObjection).where(SectionObjection.section_id == item.id)
                                    .order_by(SectionObjection.id)).all()
    if not (party or supervisor):
        objections = [o for o in objections if mine and o.organisation_id == user.organisation_id]
    complaints = db.session.scalars(sa.select(Complaint).where(Complaint.section_id == item.id)
                                    .order_by(Complaint.id)).all()
    if not supervisor:
        complaints = [c for c in complaints if mine and c.organisation_id == user.organisation_id]
    award = ops.award_of(item.id)
    contract = db.session.scalar(sa.select(Contract).where(Contract.section_id == item.id))
    result_row = ops.current_result(item.id)
    public_candidates = result_row is not None and result_row.publicity_started_at is not None
    return render_template("supervision/result.html", section=item, project=project, result=result_row,
                           show_candidates=public_candidates or party or supervisor, award=award, contract=contract,
                           objections=objections, complaints=complaints, party=party, supervisor=supervisor,
                           tenderee=project.is_tendered_by(user) if user.is_authenticated else False,
                           is_bidder=mine and user.organisation_id in ops.bidder_ids(item))


@PARTIES
def start_publicity(section_id: int):
    item = get_section(section_id)
    return _run(item.id, "中标候选人公示已发布 (candidate publicity started)",
                lambda: ops.start_publicity(item, current_user, request.form.get("days") or None))


@bidders_only
def raise_objection(section_id: int):
    item = get_section(section_id)
    return _run(item.id, "异议已提交，招标人应在3日内答复 (objection raised)",
                lambda: objection_ops.raise_objection(item, current_user, request.form.get("subject", ""),
                                                      request.form.get("text", "")))


@PARTIES
def answer_objection(objection_id: int):
    objection = db.session.get(SectionObjection, objection_id)
    if objection is None:
        abort(404)
    get_section(objection.section_id)
    return _run(objection.section_id, "异议已答复 (objection answered)",
                lambda: objection_ops.answer_objection(objection, current_user, request.form.get("answer", "")))


@bidders_only
def file_complaint(section_id: int):
    item = get_section(section_id)

    def action():
        known = request.form.get("known_on") or None
        from datetime import date

        try:
            known_on = date.fromisoformat(known) if known else None
        except ValueError:
            raise ValidationError("日期格式应为 YYYY-MM-DD (date as YYYY-MM-DD)", field="known_on") from None
        objection_ops.file_complaint(item, current_user, request.form.get("text", ""),
                                     subject=request.form.get("subject") or None, known_on=known_on)

    return _run(item.id, "投诉已提交行政监督部门 (complaint filed)", action)


@roles(Role.TENDEREE)
def decide(section_id: int):
    item = get_section(section_id)

    def action():
        try:
            organisation_id = int(request.form.get("organisation_id") or 0)
        except ValueError:
            raise ValidationError("请选择中标人 (choose the winner)", field="organisation_id") from None
        ops.decide_award(item, current_user, organisation_id, request.form.get("reason"))

    return _run(item.id, "已定标 (award decided)", action)


@PARTIES
def issue_notice(award_id: int):
    award = _award(award_id)
    return _run(award.section_id, "中标通知书和中标结果通知书已发出 (notices issued)",
                lambda: ops.issue_notice(award, current_user))


@PARTIES
def written_report(award_id: int):
    award = _award(award_id)
    return _run(award.section_id, "书面报告已提交 (written report filed)",
                lambda: ops.file_written_report(award, current_user))


@PARTIES
def contract(award_id: int):
    award = _award(award_id)
    form = request.form

    def action():
        try:
            signed_at = parse_local(form.get("signed_at", ""))
        except ValueError as exc:
            raise ValidationError(str(exc), field="signed_at") from None
        upload = request.files.get("file")
        ops.record_contract(award, current_user, signed_at=signed_at, amount=form.get("amount", ""),
                            difference_reason=form.get("difference_reason"),
                            stream=upload.stream if upload and upload.filename else None,
                            filename=upload.filename if upload else None,
                            content_type=upload.mimetype if upload else None)

    return _run(award.section_id, "合同已登记 (contract recorded)", action)


@PARTIES
def close(section_id: int):
    item = get_section(section_id)
    return _run(item.id, "标段已归档 (section closed)", lambda: ops.close_section(item, current_user))


@signed_in
def notice_pdf(award_id: int):
    """The award notice: for the winner, the tenderee and its agent, and supervisors."""
    award = _award(award_id)
    section = get_section(award.section_id)
    user = current_user
    allowed = (ops.is_party(section.project, user) or user.is_(Role.SUPERVISOR)
               or (user.is_(Role.BIDDER) and user.organisation_id == award.organisation_id))
    if not allowed or not award.notice_key:
        abort(404)
    return send_file(storage_root() / award.notice_key, mimetype="application/pdf",
                     download_name=f"中标通知书-{section.code}.pdf")


@public
def result_pdf(award_id: int):
    """The result notice is public once issued."""
    award = _award(award_id)
    if not award.result_key:
        abort(404)
    section = get_section(award.section_id)
    return send_file(storage_root() / award.result_key, mimetype="application/pdf",
                     download_name=f"中标结果通知书-{section.code}.pdf")


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
