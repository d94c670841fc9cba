"""Sealed bids over the JSON API: what to seal for, chunked resumable upload, receipts, withdrawal."""
from __future__ import annotations


import sqlalchemy as sa
from flask import abort, jsonify, request
from flask_login import current_user

from core.api import json_body, registry
from core.clock import now
from core.db import db
from core.errors import ValidationError
from core.permissions import agents_only, bidders_only
from core.pki import platform
from crypto.canonical import parse_canonical_json
from crypto.certificates import certificate_pem
from trading import bid_operations as ops
from trading.bids import Bid
from trading.views import get_section

TAG = "bids"


def _receipt_json(receipt) -> dict:
    return {"sequence": receipt.sequence, "kind": receipt.kind.value,
            "document": parse_canonical_json(receipt.document.encode())}


def bid_json(bid: Bid) -> dict:
    return {"id": bid.id, "state": bid.state.value, "size": bid.size, "submitted_at": bid.submitted_at.isoformat(),
            "ciphertext_digest": bid.ciphertext_digest, "receipts": [_receipt_json(r) for r in bid.receipts]}


@registry.route("/sections/<int:section_id>/sealing", summary="What a bid for this section is sealed for: ids, "
                "opening officers' encryption certificates, threshold, deadline", tag=TAG)
@bidders_only
def sealing_info(section_id: int):
    section = get_section(section_id)
    officers = [{"officer": officer.officer_id, "name": officer.user.display_name, "certificate": cert.pem}
                for officer, cert in ops.officer_certificates(section)]
    ids = ops.bid_ids(section, current_user.organisation_id)
    identity = platform()
    return jsonify({"ids": {"project": ids.project, "section": ids.section, "bidder": ids.bidder},
                    "officers": officers, "threshold": section.escrow_threshold,
                    "deadline": section.deadline.isoformat(), "server_time": now().isoformat(),
                    "max_chunk": ops.MAX_CHUNK,
                    "price_form": [f.as_dict() for f in section.price_form],
                    "platform_ca": certificate_pem(identity.ca.certificate).decode(),
                    "platform_signing_certificate": certificate_pem(identity.signing_certificate).decode()})


@registry.route("/sections/<int:section_id>/uploads", "POST", summary="Start a resumable upload of a sealed bid",
                tag=TAG, request_schema={"type": "object", "required": ["size"],
                                         "properties": {"size": {"type": "integer"}}})
@bidders_only
def start_upload(section_id: int):
    section = get_section(section_id)
    upload = ops.start_upload(section, current_user, json_body().get("size"), request.remote_addr)
    db.session.commit()
    return jsonify({"upload": upload.id, "offset": 0, "size": upload.size, "max_chunk": ops.MAX_CHUNK}), 201


@registry.route("/uploads/<upload_id>", summary="Where an upload stands (to resume after a dropped connection)",
                tag=TAG)
@bidders_only
def upload_status(upload_id: str):
    upload = ops.get_upload(upload_id, current_user)
    return jsonify({"upload": upload.id, "offset": upload.received, "size": upload.size, "state": upload.state.value,
                    "error": upload.error})


@registry.route("/uploads/<upload_id>/chunks", "PUT", summary="Send the bytes at ?offset=N (octet stream)", tag=TAG,
                request_content="application/octet-stream", request_schema={"type": "string", "format": "binary"})
@bidders_only
def upload_chunk(upload_id: str):
    upload = ops.get_upload(upload_id, current_user)
    if (request.content_length or 0) > ops.MAX_CHUNK:
        raise ops.UploadRefused(f"分块过大：上限 {ops.MAX_CHUNK} 字节 (chunk larger than {ops.MAX_CHUNK} bytes)",
                                status=413, code="chunk_too_large")
    try:
        offset = int(request.args.get("offset", ""))
    except ValueError:
        raise ValidationError("缺少偏移量 offset (the offset query parameter is required)", field="offset") from None
    length = request.content_length
    if length is None:
        raise ValidationError("请提供 Content-Length (the chunk needs a Content-Length)", field="body")
    size = upload.size
    received = ops.append_chunk(upload, offset, request.stream, length)  # commits as it goes (see there)
    return jsonify({"upload": upload_id, "offset": received, "size": size})


@registry.route("/uploads/<upload_id>/finalise", "POST", summary="Finish the upload: checked, stored, receipt signed",
                tag=TAG)
@bidders_only
def finalise_upload(upload_id: str):
    upload = ops.get_upload(upload_id, current_user)
    bid = ops.finalise(upload)
    db.session.commit()
    return jsonify(bid_json(bid)), 201


@registry.route("/sections/<int:section_id>/my-bids", summary="My organisation's bids for the section, with receipts",
                tag=TAG)
@bidders_only
def my_bids(section_id: int):
    section = get_section(section_id)
    bids = db.session.scalars(sa.select(Bid).where(Bid.section_id == section.id,
                                                   Bid.organisation_id == current_user.organisation_id)
                              .order_by(Bid.id)).all()
    return jsonify({"bids": [bid_json(b) for b in bids], "server_time": now().isoformat(),
                    "deadline": section.deadline.isoformat()})


@registry.route("/bids/<int:bid_id>/withdraw", "POST", summary="Withdraw a bid before the deadline (receipt)", tag=TAG)
@bidders_only
def withdraw_bid(bid_id: int):
    bid = db.session.get(Bid, bid_id)
    if bid is None or not bid.is_owned_by(current_user):
        abort(404)
    receipt = ops.withdraw(bid, current_user)
    db.session.commit()
    return jsonify(_receipt_json(receipt))


OFFICERS_SCHEMA = {"type": "object", "required": ["user_ids", "threshold"], "properties": {
    "user_ids": {"type": "array", "items": {"type": "integer"}}, "threshold": {"type": "integer"}}}


@registry.route("/sections/<int:section_id>/officers", "PUT", summary="Name the opening officers and the threshold "
                "of escrow shares (agent; before any bid)", tag=TAG, request_schema=OFFICERS_SCHEMA)
@agents_only
def set_officers(section_id: int):
    section = get_section(section_id, manage=True)
    body = json_body()
    ids, threshold = body.get("user_ids"), body.get("threshold")
    ops.set_officers(section, ids, threshold)
    db.session.commit()
    return jsonify({"officers": ids, "threshold": threshold})


