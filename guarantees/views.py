"""Pages of bid security for bidders, agents and tenderees: a section's security, applying, presenting a
guarantee, deposit slips, waivers, the guarantee's files, claims, and the public verification-code lookup.

Views are thin: parse input, check access, call one operation, commit once, render.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from core.accounts import Role
from core.clock import now
from core.db import db
from core.errors import DomainError
from core.permissions import agents_only, bidders_only, public, roles, signed_in
from guarantees import claims as claim_ops
from guarantees import deposits, hooks, issuers, operations, protocol
from guarantees.api import public_facts
from guarantees.checks import CHECK_LABELS
from guarantees.cli import COMMANDS
from guarantees.models import (
    CLAIM_REASON_LABELS,
    Claim,
    Guarantee,
    GuaranteeProduct,
    GuaranteeState,
    SecurityVerification,
)
from guarantees.records import DepositSlip
from guarantees.rules import premium_for, rules
from guarantees.verification import guarantee_status_for_bid
from guarantees.waivers import grant_waiver, security_requirement
from trading.models import Project
from trading.views import get_section

bp = Blueprint("guarantees", __name__, cli_group="issuer")
for _command in COMMANDS:  # `flask --app wsgi issuer simulate` and `issuer deliver`
    bp.cli.add_command(_command)
hooks.install()
tenderees_only = roles(Role.TENDEREE)


@bp.record_once
def _check_labels(state) -> None:
    """``check_label(name)`` → (Chinese, English) for every template, macros included."""
    state.app.jinja_env.globals["check_label"] = lambda name: CHECK_LABELS.get(name, (name, name))


ROUTES = [
    ("/security", "home", ["GET"]),
    ("/sections/<int:section_id>/security", "section", ["GET"]),
    ("/sections/<int:section_id>/security/apply", "apply", ["POST"]),
    ("/sections/<int:section_id>/security/present", "present", ["POST"]),
    ("/sections/<int:section_id>/security/deposit-slip", "deposit_slip", ["POST"]),
    ("/sections/<int:section_id>/security/waiver", "waive", ["POST"]),
    ("/guarantees", "mine", ["GET"]),
    ("/guarantees/<int:guarantee_id>/surrender", "request_surrender", ["POST"]),
    ("/guarantees/<int:guarantee_id>/pdf", "pdf", ["GET"]),
    ("/guarantees/<int:guarantee_id>/document", "document", ["GET"]),
    ("/guarantees/check", "check", ["GET"]),
    ("/claims", "claims", ["GET"]),
    ("/guarantees/<int:guarantee_id>/claim", "new_claim", ["GET", "POST"]),
]


def get_guarantee(guarantee_id: int) -> Guarantee:
    guarantee = db.session.get(Guarantee, guarantee_id)
    if guarantee is None or not guarantee.can_view(current_user):
        abort(404)
    return guarantee


@signed_in
def home():
    target = {Role.BIDDER: "guarantees.mine", Role.ISSUER: "issuers.queue", Role.TENDEREE: "guarantees.claims",
              Role.SUPERVISOR: "issuers.supervision", Role.ADMIN: "issuers.supervision"}.get(current_user.role)
    return redirect(url_for(target or "trading.workspace"))


def _bidder_context(section) -> dict:
    org_id = current_user.organisation_id
    guarantees = db.session.scalars(sa.select(Guarantee).where(Guarantee.section_id == section.id,
                                                               Guarantee.organisation_id == org_id)
                                    .order_by(Guarantee.id.desc())).all()
    requirement = security_requirement(section)
    products = [(p, premium_for(requirement.amount, p.premium_rate, p.minimum_premium))
                for p in issuers.active_products()] if requirement.required else []
    return {"guarantees": guarantees, "products": products,
            "slip": db.session.scalar(sa.select(DepositSlip).where(DepositSlip.section_id == section.id,
                                                                   DepositSlip.organisation_id == org_id)),
            "deposits": deposits.deposits_of(section.id, org_id),
            "status": guarantee_status_for_bid(section.id, org_id)}


def _party_context(section) -> dict:
    """The agent, the tenderee and supervisors see every bidder's verification, once the bids are opened."""
    project = section.project
    if not (project.is_run_by(current_user) or project.is_tendered_by(current_user)
            or current_user.is_(Role.SUPERVISOR, Role.ADMIN)):
        return {}
    context = {"waiver_rules": rules().waiver_rules if project.can_manage(current_user) else {}}
    if now() >= section.deadline:
        rows = db.session.scalars(sa.select(SecurityVerification).where(SecurityVerification.section_id == section.id)
                                  .order_by(SecurityVerification.id)).all()
        latest = {}
        for row in rows:
            latest[row.organisation_id] = row
        from core.accounts import Organisation

        context["verifications"] = [(db.session.get(Organisation, org_id), row, json.loads(row.report))
                                    for org_id, row in sorted(latest.items())]
    return context


def _render_section(section, *, presented=None, errors=None, status=200):
    context = {"section": section, "project": section.project, "requirement": security_requirement(section),
               "presented": presented, "errors": errors or {}, "before_deadline": now() < section.deadline}
    if current_user.is_(Role.BIDDER):
        context |= _bidder_context(section)
    context |= _party_context(section)
    return render_template("guarantees/section.html", **context), status


@signed_in
def section(section_id: int):
    return _render_section(get_section(section_id))


@bidders_only
def apply(section_id: int):
    item = get_section(section_id)
    try:
        product = db.session.get(GuaranteeProduct, int(request.form.get("product_id") or 0))
        created = operations.apply(item, current_user, product, cipher=bool(request.form.get("cipher")))
        db.session.commit()
        flash(f"保函申请 {created.application_no} 已提交出函机构 (application sent to the issuer)", "success")
    except (DomainError, ValueError) as exc:
        db.session.rollback()
        return _render_section(item, errors={getattr(exc, "field", None) or "apply": getattr(exc, "message", str(exc))},
                               status=422)
    return redirect(url_for("guarantees.section", section_id=item.id))


@bidders_only
def present(section_id: int):
    item = get_section(section_id)
    upload = request.files.get("document")
    try:
        document = json.loads(upload.read().decode("utf-8")) if upload and upload.filename else None
    except (UnicodeDecodeError, ValueError):
        document = None
    if document is None:
        return _render_section(item, errors={"document": "请选择保函文件（JSON）(choose the guarantee file, JSON)"},
                               status=422)
    report = operations.present(item, current_user, document)
    db.session.commit()
    return _render_section(item, presented=report, status=200 if report.ok else 422)


@bidders_only
def deposit_slip(section_id: int):
    item = get_section(section_id)
    try:
        deposits.issue_slip(item, current_user, request.form.get("payer_account", ""), request.form.get("payer_name", ""))
        db.session.commit()
        flash("已生成缴款信息 (deposit slip issued)", "success")
    except DomainError as exc:
        db.session.rollback()
        return _render_section(item, errors={exc.field or "deposit": exc.message}, status=422)
    return redirect(url_for("guarantees.section", section_id=item.id))


@agents_only
def waive(section_id: int):
    item = get_section(section_id, manage=True)
    try:
        grant_waiver(item, current_user, request.form.get("rule_key", ""))
        db.session.commit()
        flash("本标段已免收投标保证金 (bid security waived)", "success")
    except DomainError as exc:
        db.session.rollback()
        return _render_section(item, errors={"rule_key": exc.message}, status=422)
    return redirect(url_for("guarantees.section", section_id=item.id))


@bidders_only
def mine():
    rows = db.session.scalars(sa.select(Guarantee).where(Guarantee.organisation_id == current_user.organisation_id)
                              .order_by(Guarantee.id.desc()).limit(500)).all()
    return render_template("guarantees/mine.html", guarantees=rows)


@bidders_only
def request_surrender(guarantee_id: int):
    guarantee = get_guarantee(guarantee_id)
    if not guarantee.is_held_by(current_user):
        abort(404)
    try:
        operations.request_surrender(guarantee, current_user)
        db.session.commit()
        flash("退保申请已发送出函机构 (surrender requested)", "success")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("guarantees.section", section_id=guarantee.section_id))


@signed_in
def pdf(guarantee_id: int):
    guarantee = get_guarantee(guarantee_id)
    if guarantee.pdf_file is None:
        abort(404)
    return send_file(guarantee.pdf_file.path, as_attachment=True, download_name=guarantee.pdf_file.filename,
                     mimetype="application/pdf")


@signed_in
def document(guarantee_id: int):
    guarantee = get_guarantee(guarantee_id)
    if guarantee.document is None:
        abort(404)
    return guarantee.document, 200, {"Content-Type": "application/json; charset=utf-8",
                                     "Content-Disposition": f"attachment; filename={guarantee.guarantee_no}.json"}


@public
def check():
    code = protocol.normalise_code(request.args.get("code", ""))
    facts = None
    if code:
        guarantee = db.session.scalar(sa.select(Guarantee).where(Guarantee.verification_code == code))
        facts = public_facts(guarantee) if guarantee else {}
    return render_template("guarantees/check.html", code=code, facts=facts), (404 if facts == {} else 200)


@tenderees_only
def claims():
    in_use = db.session.scalars(
        sa.select(Guarantee).join(Guarantee.section).join(Project).where(
            Project.tenderee_id == current_user.organisation_id,
            Guarantee.state == GuaranteeState.IN_USE)
        .order_by(Guarantee.id)).all()
    filed = db.session.scalars(sa.select(Claim).where(Claim.claimant_id == current_user.organisation_id)
                               .order_by(Claim.id.desc())).all()
    return render_template("guarantees/claims.html", guarantees=[g for g in in_use if now() >= g.section.deadline],
                           claims=filed)


@tenderees_only
def new_claim(guarantee_id: int):
    guarantee = get_guarantee(guarantee_id)
    if not guarantee.section.project.is_tendered_by(current_user):
        abort(404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form, upload = request.form, request.files.get("evidence")
        try:
            claim_ops.file_claim(guarantee, current_user, reason=form.get("reason", ""), amount=form.get("amount", ""),
                                 statement=form.get("statement", ""), evidence=upload.stream if upload else None,
                                 filename=upload.filename if upload else None,
                                 content_type=upload.mimetype if upload else None)
            db.session.commit()
            flash("索赔已提交出函机构 (claim sent to the issuer)", "success")
            return redirect(url_for("guarantees.claims"))
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "_"] = exc.message
    return render_template("guarantees/claim_form.html", guarantee=guarantee, errors=errors, form=request.form,
                           reasons=CLAIM_REASON_LABELS), (422 if errors else 200)


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
