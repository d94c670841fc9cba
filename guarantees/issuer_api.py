"""The issuer API (/api/v1/issuer/...): what banks, insurers and guarantee companies call, signed with their key.

See docs/guarantees.md for the request signature, the nonce and timestamp rules and idempotency keys.
"""
from __future__ import annotations

import base64
import binascii
import json

import sqlalchemy as sa
from flask import g, jsonify, request, send_file

from core.api import registry
from core.db import db
from core.errors import NotFound, ValidationError
from guarantees import claims, issuers, operations
from guarantees.issuer_auth import issuer_signed, parse_json_body
from guarantees.models import Claim, Guarantee, GuaranteeState

TAG = "issuer"
SIGNED = ("Signed with the issuer's key: headers X-Bidhall-Certificate, X-Bidhall-Nonce, X-Bidhall-Timestamp, "
          "X-Bidhall-Signature; POST/PUT also Idempotency-Key. ")


def application_json(guarantee: Guarantee) -> dict:
    data = {"application_no": guarantee.application_no, "state": guarantee.state.value,
            "application": json.loads(guarantee.application_document),
            "guarantee_no": guarantee.guarantee_no, "document_hash": guarantee.document_hash,
            "verification_code": guarantee.verification_code, "terms_key": None}
    if guarantee.key_released_at is not None:
        from guarantees.verification import terms_key_of

        data["terms_key"] = terms_key_of(guarantee).hex()
    return data


def _own(column, value: str, missing: str) -> Guarantee:
    """One of this issuer's guarantees (another issuer's reads as missing)."""
    guarantee = db.session.scalar(sa.select(Guarantee).where(column == value, Guarantee.issuer_id == g.issuer.id))
    if guarantee is None:
        raise NotFound(missing)
    return guarantee


def _application(application_no: str) -> Guarantee:
    return _own(Guarantee.application_no, application_no, "没有这份保函申请 (no such application)")


def _guarantee(guarantee_no: str) -> Guarantee:
    return _own(Guarantee.guarantee_no, guarantee_no, "没有这份保函 (no such guarantee)")


def _claim(claim_id: int) -> Claim:
    claim = db.session.get(Claim, claim_id)
    if claim is None or claim.guarantee.issuer_id != g.issuer.id:
        raise NotFound("没有这项索赔 (no such claim)")
    return claim


APPLICATION_LIST = {"type": "object", "properties": {"applications": {"type": "array", "items": {"type": "object"}}}}
REASON = {"type": "object", "properties": {"reason": {"type": "string"}, "note": {"type": "string"}}}
ISSUE = {"type": "object", "required": ["document", "pdf", "pdf_sha256"], "properties": {
    "document": {"type": "object", "description": "crypto.signing document of a bidhall.guarantee.v1 payload"},
    "pdf": {"type": "string", "description": "base64 of the PDF rendering, which shows the verification code"},
    "pdf_sha256": {"type": "string"}}}


@registry.route("/issuer/applications", summary=SIGNED + "Applications waiting for this issuer "
                "(?state=applied|approved|all)", tag=TAG, response_schema=APPLICATION_LIST)
@issuer_signed
def issuer_applications():
    states = {"applied": [GuaranteeState.APPLIED], "approved": [GuaranteeState.APPROVED],
              "all": list(GuaranteeState)}.get(request.args.get("state", ""),
                                               [GuaranteeState.APPLIED, GuaranteeState.APPROVED])
    rows = db.session.scalars(sa.select(Guarantee).where(Guarantee.issuer_id == g.issuer.id,
                                                         Guarantee.state.in_(states)).order_by(Guarantee.id)).all()
    return jsonify({"applications": [application_json(r) for r in rows]})


@registry.route("/issuer/applications/<application_no>", summary=SIGNED + "One application, with its terms key "
                "once released after the opening", tag=TAG)
@issuer_signed
def issuer_application(application_no: str):
    return jsonify(application_json(_application(application_no)))


@registry.route("/issuer/applications/<application_no>/approve", "POST", summary=SIGNED + "Approve (underwrite)",
                tag=TAG, request_schema=REASON)
@issuer_signed
def issuer_approve(application_no: str):
    guarantee = _application(application_no)
    operations.approve(guarantee, g.issuer, str(parse_json_body().get("note", "")))
    return jsonify(application_json(guarantee))


@registry.route("/issuer/applications/<application_no>/reject", "POST", summary=SIGNED + "Reject, with a reason",
                tag=TAG, request_schema=REASON)
@issuer_signed
def issuer_reject(application_no: str):
    guarantee = _application(application_no)
    operations.reject(guarantee, g.issuer, str(parse_json_body().get("reason", "")))
    return jsonify(application_json(guarantee))


@registry.route("/issuer/applications/<application_no>/issue", "POST", summary=SIGNED + "Issue the guarantee: "
                "signed document plus PDF; verified at once", tag=TAG, request_schema=ISSUE)
@issuer_signed
def issuer_issue(application_no: str):
    guarantee = _application(application_no)
    body = parse_json_body()
    try:
        pdf = base64.b64decode(str(body.get("pdf", "")), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("pdf 应为 base64 (pdf must be base64)", field="pdf") from None
    document = body.get("document")
    if not isinstance(document, dict):
        raise ValidationError("document 应为签名的保函文档 (document must be the signed guarantee)", field="document")
    report = operations.issue(guarantee, g.issuer, document, pdf, str(body.get("pdf_sha256", "")))
    return jsonify(application_json(guarantee) | {"verification": report.to_json()}), 201


@registry.route("/issuer/guarantees/<guarantee_no>/status", "POST", summary=SIGNED + "Report a status change "
                "(expired)", tag=TAG, request_schema={"type": "object", "required": ["status"], "properties": {
                    "status": {"enum": ["expired"]}, "reason": {"type": "string"}}})
@issuer_signed
def issuer_status(guarantee_no: str):
    guarantee = _guarantee(guarantee_no)
    body = parse_json_body()
    operations.update_status(guarantee, g.issuer, str(body.get("status", "")), str(body.get("reason", "")))
    return jsonify(application_json(guarantee))


@registry.route("/issuer/guarantees/<guarantee_no>/surrender", "POST", summary=SIGNED + "Confirm a surrender the "
                "bidder requested (退保)", tag=TAG, request_schema=REASON)
@issuer_signed
def issuer_surrender(guarantee_no: str):
    guarantee = _guarantee(guarantee_no)
    operations.surrender(guarantee, g.issuer, str(parse_json_body().get("reason", "")))
    return jsonify(application_json(guarantee))


@registry.route("/issuer/claims/<int:claim_id>/evidence", summary=SIGNED + "Download a claim's evidence", tag=TAG)
@issuer_signed
def issuer_claim_evidence(claim_id: int):
    evidence = _claim(claim_id).evidence
    return send_file(evidence.path, as_attachment=True, download_name=evidence.filename,
                     mimetype=evidence.content_type)


@registry.route("/issuer/claims/<int:claim_id>/answer", "POST", summary=SIGNED + "Answer a claim: pay or refuse",
                tag=TAG, request_schema={"type": "object", "required": ["decision", "reason"], "properties": {
                    "decision": {"enum": ["pay", "refuse"]}, "reason": {"type": "string"}}})
@issuer_signed
def issuer_answer_claim(claim_id: int):
    claim = _claim(claim_id)
    body = parse_json_body()
    claims.answer_claim(claim, g.issuer, str(body.get("decision", "")), str(body.get("reason", "")))
    return jsonify({"claim_id": claim.id, "state": claim.state.value, "guarantee_no": claim.guarantee.guarantee_no})


@registry.route("/issuer/callback", "PUT", summary=SIGNED + "Set the URL the platform posts notices to", tag=TAG,
                request_schema={"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}})
@issuer_signed
def issuer_callback():
    profile = issuers.set_callback(g.issuer, str(parse_json_body().get("url", "")))
    return jsonify({"callback_url": profile.callback_url})


@registry.route("/issuer/dashboard", summary=SIGNED + "This issuer's figures", tag=TAG)
@issuer_signed
def issuer_dashboard():
    board = issuers.dashboard(g.issuer.id)
    return jsonify({k: (str(v) if not isinstance(v, (int, dict)) else v) for k, v in board.__dict__.items()})
