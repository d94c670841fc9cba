"""The issuer API's gate: every request signed with the issuer's key, fresh, never replayed, and idempotent.

A request carries the issuer's signing-certificate fingerprint, a nonce, a timestamp and the signature over
``guarantees.protocol.request_signing_bytes`` (method, path with query, body SHA-256, nonce, timestamp,
certificate). The certificate must be one the platform CA issued to an issuer organisation and pass
``core.pki.check_certificate`` (chain, validity, revocation). The timestamp must be within
``SecurityRules.request_window_seconds`` of the server clock, and the nonce is spent on first sight (and
committed at once), so a replayed request is refused by name even if the first one failed.

State-changing requests (POST, PUT) need an ``Idempotency-Key``: the answer to the first request is kept, the
same key with the same method, path and body gets the same answer again, and the same key with anything else
is refused. The view does not commit; this gate commits the change and the kept answer together.
"""
from __future__ import annotations

import json
from datetime import timedelta
from functools import wraps

import sqlalchemy as sa
from flask import Response, current_app, g, request
from sqlalchemy.exc import IntegrityError

from core.accounts import Organisation, OrgKind
from core.clock import now
from core.db import db
from core.errors import DomainError
from core.pki import Certificate, CertificateRefused, Purpose, check_certificate, platform
from crypto import certificates as x509ca
from crypto.canonical import CanonicalJSONError, canonical_json, parse_utc
from crypto.signing import SignatureError, sign_bytes, verify_bytes
from guarantees import protocol
from guarantees.records import IdempotencyRecord, RequestNonce
from guarantees.rules import rules

#: The access rule recorded on issuer API views (tests/test_access_matrix.py reads it).
ISSUER_SIGNATURE = "issuer_signature"


class RequestRefused(DomainError):
    status = 401
    code = "request_signature_invalid"


def _refuse(code: str, message: str, status: int = 401) -> RequestRefused:
    return RequestRefused(message, code=code, status=status)


def authenticate() -> tuple[Organisation, Certificate]:
    """Check the signature headers of the current request; spend its nonce; return the issuer."""
    headers = request.headers
    fingerprint, nonce = headers.get(protocol.HEADER_CERTIFICATE, ""), headers.get(protocol.HEADER_NONCE, "")
    stamp, signature = headers.get(protocol.HEADER_TIMESTAMP, ""), headers.get(protocol.HEADER_SIGNATURE, "")
    if not (fingerprint and nonce and stamp and signature):
        raise _refuse("signature_required", "出函机构接口须签名：缺少证书、随机数、时间戳或签名请求头 (signed request "
                                            "required: certificate, nonce, timestamp and signature headers)")
    if not protocol.NONCE_PATTERN.match(nonce):
        raise _refuse("nonce_invalid", "随机数应为16–64位字母数字 (nonce: 16–64 URL-safe characters)", 400)
    try:
        moment = parse_utc(stamp)
    except CanonicalJSONError:
        raise _refuse("timestamp_invalid", "时间戳格式应为 2026-03-01T02:00:00.000Z (timestamp format)", 400) from None
    window = timedelta(seconds=rules().request_window_seconds)
    if abs(now() - moment) > window:
        raise _refuse("request_expired", f"请求时间戳 {stamp} 与服务器时间相差超过 {window.seconds} 秒 (the request "
                                         f"timestamp is outside the {window.seconds}-second window: stale or replayed)")
    row = db.session.scalar(sa.select(Certificate).where(Certificate.fingerprint == fingerprint,
                                                         Certificate.purpose == Purpose.SIGNING))
    issuer = db.session.get(Organisation, row.organisation_id) if row and row.organisation_id else None
    if row is None or issuer is None or issuer.kind is not OrgKind.ISSUER:
        raise _refuse("certificate_unknown", "签名证书不是本平台签发给出函机构的证书 (not an issuer certificate of "
                                             "this platform)")
    try:
        check_certificate(row.x509, x509ca.Purpose.SIGNING)
    except CertificateRefused as exc:
        raise _refuse(exc.code, exc.message) from None
    body = request.get_data(cache=True)
    try:
        verify_bytes(row.x509.public_key(), protocol.request_signing_bytes(
            request.method, request.full_path.rstrip("?"), body, nonce, stamp, fingerprint),
            bytes.fromhex(signature), what="request signature")
    except (SignatureError, ValueError):
        raise _refuse("request_signature_invalid", "请求签名无效：内容被改动或非该证书签署 (the request signature does "
                                                   "not verify: altered, or signed with another key)") from None
    db.session.add(RequestNonce(issuer_id=issuer.id, nonce=nonce, seen_at=now()))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _refuse("request_replayed", f"随机数 {nonce} 已使用：重放的请求被拒绝 (replayed request: this nonce was "
                                          f"already used)") from None
    return db.session.get(Organisation, issuer.id), db.session.get(Certificate, row.id)


def _request_hash() -> str:
    return protocol.sha256_hex(canonical_json({"method": request.method, "path": request.full_path.rstrip("?"),
                                               "body_sha256": protocol.sha256_hex(request.get_data(cache=True))}))


def _signed(response: Response) -> Response:
    """Echo the nonce and sign the answer with the platform's key, so the issuer knows who answered what."""
    nonce = request.headers.get(protocol.HEADER_NONCE, "")
    identity = platform()
    response.direct_passthrough = False  # a file (claim evidence) is read to be signed
    body = response.get_data()
    response.headers[protocol.HEADER_NONCE] = nonce
    response.headers[protocol.HEADER_SIGNATURE] = sign_bytes(
        identity.signing_key, protocol.response_signing_bytes(nonce, response.status_code, body)).hex()
    return response


def issuer_signed(view):
    """Gate for /api/v1/issuer/...: ``g.issuer`` is the authenticated issuer organisation."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        g.issuer, g.issuer_certificate = authenticate()
        if request.method not in ("POST", "PUT"):
            return _signed(current_app.make_response(view(*args, **kwargs)))
        key = request.headers.get(protocol.HEADER_IDEMPOTENCY, "")
        if not protocol.IDEMPOTENCY_PATTERN.match(key):
            raise _refuse("idempotency_key_required", "状态变更请求须带 Idempotency-Key 请求头（8–80位）(an "
                                                      "Idempotency-Key header of 8–80 characters is required)", 400)
        request_hash = _request_hash()
        kept = db.session.scalar(sa.select(IdempotencyRecord).where(IdempotencyRecord.issuer_id == g.issuer.id,
                                                                    IdempotencyRecord.key == key))
        if kept is not None:
            if kept.request_hash != request_hash:
                raise _refuse("idempotency_key_reused", f"幂等键 {key} 已用于另一请求 (this Idempotency-Key was used "
                                                        f"for a different request)", 409)
            response = current_app.response_class(kept.response, status=kept.status, mimetype="application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return _signed(response)
        response = current_app.make_response(view(*args, **kwargs))
        if 200 <= response.status_code < 300:
            db.session.add(IdempotencyRecord(issuer_id=g.issuer.id, key=key, request_hash=request_hash,
                                             status=response.status_code, response=response.get_data(as_text=True)))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise _refuse("idempotency_conflict", f"同一幂等键 {key} 的请求正在处理 (a request with this key is being "
                                                  f"processed)", 409) from None
        return _signed(response)

    wrapped.access_rule = ISSUER_SIGNATURE
    return wrapped


def parse_json_body() -> dict:
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        from core.errors import ValidationError

        raise ValidationError("请求体应为 JSON 对象 (the request body must be a JSON object)")
    return body
