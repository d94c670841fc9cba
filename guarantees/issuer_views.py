"""Pages for issuers (queue, decisions, products, settings, dashboard), supervisors (an overview of bid
security) and the trading centre (bank-statement import and refunds)."""
from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from core.accounts import Role
from core.db import db
from core.errors import DomainError
from core.permissions import admins_only, roles
from core.pki import Purpose, current_certificate
from guarantees import deposits, issuers, operations
from guarantees.models import (FORM_LABELS, Claim, Guarantee, GuaranteeProduct, GuaranteeState, IssuerProfile,
                               SecurityVerification)
from guarantees.records import DepositRefund, IssuerNotice, SecurityWaiver, StatementImport

bp = Blueprint("issuers", __name__)
issuers_only = roles(Role.ISSUER)
overseers = roles(Role.SUPERVISOR, Role.ADMIN)

ROUTES = [
    ("/issuer/queue", "queue", ["GET"]),
    ("/issuer/applications/<int:guarantee_id>/decide", "decide", ["POST"]),
    ("/issuer/dashboard", "dashboard", ["GET"]),
    ("/issuer/products", "products", ["GET", "POST"]),
    ("/issuer/products/<int:product_id>/active", "product_active", ["POST"]),
    ("/issuer/settings", "settings", ["GET", "POST"]),
    ("/security/supervision", "supervision", ["GET"]),
    ("/security/deposits", "deposits_page", ["GET", "POST"]),
]


def _own(guarantee_id: int) -> Guarantee:
    guarantee = db.session.get(Guarantee, guarantee_id)
    if guarantee is None or not guarantee.is_issued_by(current_user):
        abort(404)
    return guarantee


@issuers_only
def queue():
    org_id = current_user.organisation_id
    pending = db.session.scalars(sa.select(Guarantee).where(
        Guarantee.issuer_id == org_id, Guarantee.state.in_([GuaranteeState.APPLIED, GuaranteeState.APPROVED]))
        .order_by(Guarantee.id)).all()
    recent = db.session.scalars(sa.select(Guarantee).where(
        Guarantee.issuer_id == org_id, Guarantee.state.not_in([GuaranteeState.APPLIED, GuaranteeState.APPROVED]))
        .order_by(Guarantee.id.desc()).limit(100)).all()
    claims = db.session.scalars(sa.select(Claim).join(Guarantee).where(Guarantee.issuer_id == org_id)
                                .order_by(Claim.id.desc()).limit(100)).all()
    return render_template("guarantees/issuer_queue.html", pending=pending, recent=recent, claims=claims,
                           payloads={g.id: operations.application_payload(g) for g in pending})


@issuers_only
def decide(guarantee_id: int):
    guarantee = _own(guarantee_id)
    try:
        if request.form.get("decision") == "approve":
            operations.approve(guarantee, current_user.organisation, request.form.get("reason", ""), actor=current_user)
        else:
            operations.reject(guarantee, current_user.organisation, request.form.get("reason", ""), actor=current_user)
        db.session.commit()
        flash(f"{guarantee.application_no}：{guarantee.state_label}", "success")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("issuers.queue"))


@issuers_only
def dashboard():
    return render_template("guarantees/dashboard.html", board=issuers.dashboard(current_user.organisation_id),
                           title=current_user.organisation.name)


@issuers_only
def products():
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            issuers.create_product(current_user, code=form.get("code", ""), name=form.get("name", ""),
                                   form=form.get("form", ""), premium_rate=form.get("premium_rate", ""),
                                   minimum_premium=form.get("minimum_premium", "0"),
                                   min_amount=form.get("min_amount", ""), max_amount=form.get("max_amount", ""),
                                   max_validity_days=form.get("max_validity_days", ""),
                                   supports_cipher=bool(form.get("supports_cipher")))
            db.session.commit()
            flash("保函产品已发布 (product published)", "success")
            return redirect(url_for("issuers.products"))
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "_"] = exc.message
    rows = db.session.scalars(sa.select(GuaranteeProduct).where(GuaranteeProduct.issuer_id == current_user.organisation_id)
                              .order_by(GuaranteeProduct.code)).all()
    return render_template("guarantees/products.html", products=rows, form=form, errors=errors,
                           forms=[(k.value, v) for k, v in FORM_LABELS.items()]), (422 if errors else 200)


@issuers_only
def product_active(product_id: int):
    product = db.session.get(GuaranteeProduct, product_id)
    if product is None or product.issuer_id != current_user.organisation_id:
        abort(404)
    issuers.set_product_active(product, request.form.get("active") == "1", current_user)
    db.session.commit()
    return redirect(url_for("issuers.products"))


@issuers_only
def settings():
    organisation = current_user.organisation
    error = None
    if request.method == "POST":
        try:
            issuers.set_callback(organisation, request.form.get("callback_url", ""), actor=current_user)
            db.session.commit()
            flash("回调地址已保存 (callback saved)", "success")
            return redirect(url_for("issuers.settings"))
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
    notices = db.session.scalars(sa.select(IssuerNotice).where(IssuerNotice.issuer_id == organisation.id)
                                 .order_by(IssuerNotice.id.desc()).limit(50)).all()
    return render_template("guarantees/issuer_settings.html", profile=db.session.get(IssuerProfile, organisation.id),
                           certificate=current_certificate(organisation, Purpose.SIGNING), notices=notices,
                           error=error), (422 if error else 200)


@overseers
def supervision():
    verifications = db.session.scalars(sa.select(SecurityVerification).where(SecurityVerification.ok.is_(False))
                                       .order_by(SecurityVerification.id.desc()).limit(100)).all()
    waived = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(SecurityWaiver.waived_amount), 0)))
    return render_template("guarantees/supervision.html", board=issuers.dashboard(None),
                           failures=[(v, json.loads(v.report)) for v in verifications],
                           claims=db.session.scalars(sa.select(Claim).order_by(Claim.id.desc()).limit(100)).all(),
                           waivers=db.session.scalars(sa.select(SecurityWaiver).order_by(SecurityWaiver.id)).all(),
                           waived=waived)


@admins_only
def deposits_page():
    batch = None
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            batch = deposits.import_statement(upload.read() if upload else b"", upload.filename if upload else "",
                                              current_user)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
    imports = db.session.scalars(sa.select(StatementImport).order_by(StatementImport.id.desc()).limit(20)).all()
    refunds = db.session.scalars(sa.select(DepositRefund).order_by(DepositRefund.id.desc()).limit(200)).all()
    return render_template("guarantees/deposits.html", batch=batch, bad=json.loads(batch.report) if batch else [],
                           imports=imports, refunds=refunds, columns=deposits.STATEMENT_COLUMNS)


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
