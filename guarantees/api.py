"""Bid security over the JSON API for bidders (bearer token): products, applying, presenting, deposit slips,
and the public verification-code lookup."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, jsonify
from flask_login import current_user

from core.api import json_body, registry
from core.db import db
from core.permissions import bidders_only, public, signed_in
from guarantees import deposits, issuers, operations, protocol
from guarantees.models import Guarantee, GuaranteeProduct
from guarantees.records import DepositSlip
from guarantees.verification import guarantee_status_for_bid
from guarantees.waivers import security_requirement
from trading.views import get_section

TAG = "bid security"


def product_json(product: GuaranteeProduct) -> dict:
    return {"id": product.id, "code": product.code, "name": product.name, "form": product.form.value,
            "issuer": {"name": product.issuer.name, "credit_code": product.issuer.credit_code},
            "premium_rate": str(product.premium_rate), "minimum_premium": str(product.minimum_premium),
            "min_amount": str(product.min_amount), "max_amount": str(product.max_amount),
            "max_validity_days": product.max_validity_days, "supports_cipher": product.supports_cipher}


def guarantee_json(guarantee: Guarantee) -> dict:
    return {"id": guarantee.id, "application_no": guarantee.application_no, "kind": guarantee.kind.value,
            "state": guarantee.state.value, "state_label": guarantee.state_label, "amount": str(guarantee.amount),
            "premium": str(guarantee.premium), "issuer": guarantee.issuer.name, "guarantee_no": guarantee.guarantee_no,
            "valid_until": guarantee.valid_until.isoformat() if guarantee.valid_until else None,
            "verification_code": guarantee.verification_code, "decision_reason": guarantee.decision_reason}


def slip_json(slip: DepositSlip) -> dict:
    return {"sub_account": slip.sub_account, "reference": slip.reference, "payer_account": slip.payer_account,
            "payer_name": slip.payer_name}


@registry.route("/guarantee-products", summary="Guarantee products on offer", tag=TAG)
@signed_in
def guarantee_products():
    return jsonify({"products": [product_json(p) for p in issuers.active_products()]})


@registry.route("/sections/<int:section_id>/bid-security", summary="My bid security for a section: what is asked, "
                "my guarantees, my deposit slip and the last verification", tag=TAG)
@bidders_only
def my_bid_security(section_id: int):
    section = get_section(section_id)
    requirement = security_requirement(section)
    rows = db.session.scalars(sa.select(Guarantee).where(Guarantee.section_id == section.id,
                                                         Guarantee.organisation_id == current_user.organisation_id)
                              .order_by(Guarantee.id)).all()
    slip = db.session.scalar(sa.select(DepositSlip).where(DepositSlip.section_id == section.id,
                                                          DepositSlip.organisation_id == current_user.organisation_id))
    return jsonify({"required": requirement.required, "waived": requirement.waived, "amount": str(requirement.amount),
                    "description": requirement.description, "guarantees": [guarantee_json(g) for g in rows],
                    "deposit_slip": slip_json(slip) if slip else None,
                    "status": guarantee_status_for_bid(section.id, current_user.organisation_id)})


@registry.route("/sections/<int:section_id>/guarantee-applications", "POST", summary="Apply for a guarantee; the "
                "application fills itself in from the section", tag=TAG,
                request_schema={"type": "object", "required": ["product_id"], "properties": {
                    "product_id": {"type": "integer"}, "cipher": {"type": "boolean"}}})
@bidders_only
def apply_for_guarantee(section_id: int):
    section = get_section(section_id)
    body = json_body()
    product = db.session.get(GuaranteeProduct, body.get("product_id")) if isinstance(body.get("product_id"), int) else None
    guarantee = operations.apply(section, current_user, product, cipher=bool(body.get("cipher")))
    db.session.commit()
    return jsonify(guarantee_json(guarantee)), 201


@registry.route("/sections/<int:section_id>/guarantees/present", "POST", summary="Present a guarantee document for "
                "verification (验真); a failure names every failed check", tag=TAG,
                request_schema={"type": "object", "required": ["document"], "properties": {"document": {"type": "object"}}})
@bidders_only
def present_guarantee(section_id: int):
    section = get_section(section_id)
    report = operations.present(section, current_user, json_body().get("document"))
    db.session.commit()
    if not report.ok:
        raise operations.VerificationFailed(report)
    return jsonify(report.to_json())


@registry.route("/sections/<int:section_id>/deposit-slip", "POST", summary="Get the section's sub-account and my "
                "payment reference for a cash deposit", tag=TAG,
                request_schema={"type": "object", "required": ["payer_account", "payer_name"], "properties": {
                    "payer_account": {"type": "string"}, "payer_name": {"type": "string"}}})
@bidders_only
def deposit_slip(section_id: int):
    section = get_section(section_id)
    body = json_body()
    slip = deposits.issue_slip(section, current_user, str(body.get("payer_account", "")),
                               str(body.get("payer_name", "")))
    db.session.commit()
    return jsonify(slip_json(slip)), 201


@registry.route("/guarantees/check/<code>", summary="Look a guarantee up by the verification code on its PDF", tag=TAG)
@public
def check_guarantee_code(code: str):
    guarantee = db.session.scalar(sa.select(Guarantee).where(
        Guarantee.verification_code == protocol.normalise_code(code)))
    if guarantee is None:
        abort(404, description="没有此验真码的保函 (no guarantee with this verification code)")
    return jsonify(public_facts(guarantee))


def public_facts(guarantee: Guarantee) -> dict:
    """What anyone holding the PDF may confirm; a cipher guarantee's section stays hidden until the opening."""
    facts = {"guarantee_no": guarantee.guarantee_no, "issuer": guarantee.issuer.name, "kind": guarantee.kind.value,
             "state": guarantee.state.value, "state_label": guarantee.state_label, "amount": str(guarantee.amount),
             "principal": guarantee.organisation.name, "valid_from": guarantee.valid_from.isoformat(),
             "valid_until": guarantee.valid_until.isoformat(), "document_hash": guarantee.document_hash,
             "section": None}
    if not guarantee.is_cipher or guarantee.key_released_at is not None:
        facts["section"] = {"code": guarantee.section.code, "name": guarantee.section.name,
                            "project": guarantee.section.project.name}
    return facts
