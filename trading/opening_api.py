"""The online opening over the JSON API (bidtool, integrations, the hall page). Each change is broadcast live."""
from __future__ import annotations

import base64
from pathlib import Path

from flask import abort, current_app, jsonify, request, send_file
from flask_login import current_user

from core.api import json_body, registry
from core.db import db
from core.errors import Forbidden, ValidationError
from core.permissions import agents_only, bidders_only, signed_in
from crypto.canonical import parse_canonical_json
from trading import opening_operations as ops
from trading import opening_readout as readout
from trading.bids import OpeningOfficer
from trading.hall_state import broadcast, may_enter, state_for
from trading.opening import BidDecryption, Objection, Opening
from trading.views import get_section

TAG = "opening"


def _settle(opening: Opening) -> Opening:
    """Apply what time alone decides (the hall opening, the window closing) before anything else happens."""
    if ops.expire_window(opening) or db.session.new or db.session.dirty:
        db.session.commit()
        broadcast(opening)
    return opening


def _hall(section_id: int) -> Opening:
    section = get_section(section_id)
    opening = ops.hall_for(section)
    if not may_enter(opening, current_user):
        raise Forbidden("您不是本标段开标的参与方 (you are not a party to this opening)")
    return _settle(opening)


def _decryption(bid_id: int) -> BidDecryption:
    decryption = db.session.scalar(db.select(BidDecryption).where(BidDecryption.bid_id == bid_id))
    if decryption is None:
        abort(404)
    opening = db.session.get(Opening, decryption.opening_id)
    if not may_enter(opening, current_user):
        abort(404)
    _settle(opening)
    return decryption


def _done(opening: Opening, payload, *, changed_for: int | None = None):
    db.session.commit()
    broadcast(opening, changed_for=changed_for)
    return jsonify(payload)


@registry.route("/sections/<int:section_id>/opening", summary="The opening hall as I may see it", tag=TAG)
@signed_in
def hall_state_api(section_id: int):
    opening = _hall(section_id)
    state = state_for(opening, current_user)
    db.session.commit()
    return jsonify(state)


@registry.route("/sections/<int:section_id>/opening/challenge", "POST", summary="A sign-in challenge for the hall",
                tag=TAG)
@bidders_only
def hall_challenge(section_id: int):
    opening = _hall(section_id)
    challenge = ops.new_sign_in_challenge(opening)
    db.session.commit()
    return jsonify({"challenge": challenge})


SIGN_IN = {"type": "object", "required": ["challenge", "signature", "certificate"], "properties": {
    "challenge": {"type": "string"}, "signature": {"type": "string"}, "certificate": {"type": "string"}}}


@registry.route("/sections/<int:section_id>/opening/sign-in", "POST", summary="签到 by certificate challenge", tag=TAG,
                request_schema=SIGN_IN)
@bidders_only
def hall_sign_in(section_id: int):
    opening = _hall(section_id)
    body = json_body()
    entry = ops.sign_in(opening, current_user, challenge=str(body.get("challenge", "")),
                        signature=str(body.get("signature", "")), certificate_pem=str(body.get("certificate", "")),
                        ip=request.remote_addr)
    return _done(opening, {"signed_in_at": entry.at.isoformat()}, changed_for=current_user.organisation_id)


@registry.route("/sections/<int:section_id>/opening/start", "POST", summary="The host starts the opening", tag=TAG)
@agents_only
def hall_start(section_id: int):
    opening = _hall(section_id)
    ops.start(opening, current_user)
    return _done(opening, state_for(opening, current_user))


@registry.route("/bids/<int:bid_id>/envelope-header", summary="The sealed bid's header (to unwrap a key or a share)",
                tag=TAG)
@signed_in
def envelope_header(bid_id: int):
    decryption = _decryption(bid_id)
    bid = decryption.bid
    officer = db.session.scalar(db.select(OpeningOfficer).where(OpeningOfficer.section_id == bid.section_id,
                                                                OpeningOfficer.user_id == current_user.id))
    if not bid.is_owned_by(current_user) and officer is None:
        abort(404)
    from crypto import envelope

    with open(Path(current_app.config["STORAGE_DIR"]) / bid.storage_key, "rb") as stream:
        header = envelope.read_header(stream)
    return jsonify({"bid": bid.id, "header": base64.b64encode(header.encoded + header.signature).decode(),
                    "officer": officer.officer_id if officer else None})


@registry.route("/bids/<int:bid_id>/decrypt", "POST", summary="Hand over the content key unwrapped on the bidder's "
                "side; the platform opens and checks the bid", tag=TAG,
                request_schema={"type": "object", "required": ["content_key"],
                                "properties": {"content_key": {"type": "string", "description": "base64, 32 bytes"}}})
@bidders_only
def decrypt_bid(bid_id: int):
    decryption = _decryption(bid_id)
    opening = db.session.get(Opening, decryption.opening_id)
    ops.decrypt(decryption, current_user, str(json_body().get("content_key", "")), request.remote_addr)
    return _done(opening, {"bid": bid_id, "state": decryption.state.value, "error": decryption.last_error},
                 changed_for=current_user.organisation_id)


@registry.route("/bids/<int:bid_id>/decryption-failure", "POST", summary="Declare that the bid cannot be decrypted",
                tag=TAG, request_schema={"type": "object", "required": ["reason"],
                                         "properties": {"reason": {"type": "string"}}})
@bidders_only
def report_decryption_failure(bid_id: int):
    decryption = _decryption(bid_id)
    opening = db.session.get(Opening, decryption.opening_id)
    ops.report_failure(decryption, current_user, str(json_body().get("reason", "")))
    return _done(opening, {"bid": bid_id, "state": decryption.state.value}, changed_for=current_user.organisation_id)


@registry.route("/bids/<int:bid_id>/ruling", "POST", summary="Rule on a failed decryption: bidder, platform or reset",
                tag=TAG, request_schema={"type": "object", "required": ["ruling", "reason"], "properties": {
                    "ruling": {"enum": ["bidder", "platform", "reset"]}, "reason": {"type": "string"}}})
@agents_only
def rule_decryption(bid_id: int):
    decryption = _decryption(bid_id)
    opening = db.session.get(Opening, decryption.opening_id)
    body = json_body()
    ops.rule(decryption, current_user, str(body.get("ruling", "")), str(body.get("reason", "")))
    return _done(opening, {"bid": bid_id, "fault": decryption.fault.value if decryption.fault else None,
                           "state": decryption.state.value})


@registry.route("/bids/<int:bid_id>/shares", "POST", summary="An opening officer releases its escrow share", tag=TAG,
                request_schema={"type": "object", "required": ["x", "y"], "properties": {
                    "x": {"type": "integer"}, "y": {"type": "string", "description": "hex"}}})
@signed_in
def release_share(bid_id: int):
    decryption = _decryption(bid_id)
    opening = db.session.get(Opening, decryption.opening_id)
    body = json_body()
    if not isinstance(body.get("x"), int):
        raise ValidationError("x 应为整数 (x must be an integer)", field="x")
    ops.release_share(decryption, current_user, body["x"], str(body.get("y", "")))
    return _done(opening, {"bid": bid_id, "state": decryption.state.value, "escrow": decryption.decrypted_by_escrow})


@registry.route("/sections/<int:section_id>/opening/read-out", "POST", summary="End decryption and read out (唱标)",
                tag=TAG)
@agents_only
def hall_read_out(section_id: int):
    opening = _hall(section_id)
    readout.finish_decryption(opening, current_user)
    return _done(opening, state_for(opening, current_user))


@registry.route("/sections/<int:section_id>/opening/objections", "POST", summary="Raise an objection (异议) on the spot",
                tag=TAG, request_schema={"type": "object", "required": ["text"],
                                         "properties": {"text": {"type": "string"}}})
@bidders_only
def hall_objection(section_id: int):
    opening = _hall(section_id)
    objection = readout.raise_objection(opening, current_user, str(json_body().get("text", "")))
    return _done(opening, {"objection": objection.id})


@registry.route("/objections/<int:objection_id>/answer", "POST", summary="The host answers an objection", tag=TAG,
                request_schema={"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}})
@agents_only
def answer_objection(objection_id: int):
    objection = db.session.get(Objection, objection_id)
    if objection is None:
        abort(404)
    opening = db.session.get(Opening, objection.opening_id)
    readout.answer_objection(objection, current_user, str(json_body().get("answer", "")))
    return _done(opening, {"objection": objection.id, "answer": objection.answer})


@registry.route("/sections/<int:section_id>/opening/confirm", "POST", summary="Confirm the opening record", tag=TAG)
@bidders_only
def hall_confirm(section_id: int):
    opening = _hall(section_id)
    readout.confirm_record(opening, current_user)
    return _done(opening, {"confirmed": True})


@registry.route("/sections/<int:section_id>/opening/close", "POST", summary="Close the opening; sign and publish the "
                "record", tag=TAG)
@agents_only
def hall_close(section_id: int):
    opening = _hall(section_id)
    readout.close(opening, current_user)
    return _done(opening, state_for(opening, current_user))


@registry.route("/sections/<int:section_id>/opening/record.pdf", summary="The signed opening record (PDF)", tag=TAG)
@signed_in
def opening_record(section_id: int):
    opening = _hall(section_id)
    if not opening.record_key:
        abort(404)
    return send_file(Path(current_app.config["STORAGE_DIR"]) / opening.record_key, mimetype="application/pdf",
                     download_name=f"开标记录-{get_section(section_id).code}.pdf")


@registry.route("/sections/<int:section_id>/opening/record-signature", summary="The platform's signature over the "
                "record's digest", tag=TAG)
@signed_in
def opening_record_signature(section_id: int):
    opening = _hall(section_id)
    if not opening.record_signature:
        abort(404)
    return jsonify(parse_canonical_json(opening.record_signature.encode()))


