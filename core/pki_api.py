"""Certificates over the JSON API: requests, revocation, the platform's certificates, certificate sign-in.

Certificate sign-in is the CA-lock (CA锁) path: the platform issues a one-time challenge, the holder signs it
with its private key (in bidtool or the browser), and a valid, unrevoked certificate of the user's own
organisation (or of the user) signs the user in — an alternative to password plus TOTP.
"""
from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import abort, jsonify, session
from flask_login import current_user, login_user
from sqlalchemy.orm import Mapped, mapped_column

from core import audit, pki
from core.accounts import User
from core.api import json_body, registry
from core.auth import issue_token
from core.clock import now
from core.db import Base, db
from core.errors import DomainError, ValidationError
from core.permissions import public, signed_in
from crypto import certificates as x509ca
from crypto.certificates import certificate_pem

TAG = "certificates"
CHALLENGE_LIFETIME = timedelta(minutes=5)


class LoginChallenge(Base):
    """A challenge is answered once: its nonce is spent on first use, so a replay is refused."""

    __tablename__ = "login_challenges"

    nonce: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    issued_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


def certificate_json(cert: pki.Certificate) -> dict:
    return {"id": cert.id, "serial": cert.serial, "fingerprint": cert.fingerprint, "purpose": cert.purpose.value,
            "algorithm": cert.algorithm, "holder": {"name": cert.holder_name, "identifier": cert.holder_identifier,
                                                    "role": cert.holder_role},
            "not_before": cert.not_before.isoformat(), "not_after": cert.not_after.isoformat(),
            "revoked_at": cert.revoked_at.isoformat() if cert.revoked_at else None, "pem": cert.pem}


@registry.route("/platform/certificates", summary="The platform CA and the platform's signing certificate "
                "(to verify receipts and records offline)", tag=TAG)
@public
def platform_certificates():
    identity = pki.platform()
    return jsonify({"ca": certificate_pem(identity.ca.certificate).decode(),
                    "signing": certificate_pem(identity.signing_certificate).decode()})


@registry.route("/certificates/signing", "POST", summary="Have a PKCS#10 request for a signing certificate signed",
                tag=TAG, request_schema={"type": "object", "required": ["csr"], "properties": {
                    "csr": {"type": "string"}, "for_organisation": {"type": "boolean"}}})
@signed_in
def request_signing_certificate():
    body = json_body()
    cert = pki.issue_signing_certificate(current_user, str(body.get("csr", "")),
                                         for_organisation=bool(body.get("for_organisation", True)))
    db.session.commit()
    return jsonify(certificate_json(cert)), 201


@registry.route("/certificates/encryption", "POST", summary="Request an encryption certificate (request signed with "
                "the holder's signing key)", tag=TAG, request_schema={"type": "object", "required": ["request"],
                                                                        "properties": {"request": {"type": "object"},
                                                                                       "for_organisation": {"type": "boolean"}}})
@signed_in
def request_encryption_certificate():
    body = json_body()
    if not isinstance(body.get("request"), dict):
        raise ValidationError("request 应为签名的申请文档 (request must be the signed request document)", field="request")
    cert = pki.issue_encryption_certificate(current_user, body["request"],
                                            for_organisation=bool(body.get("for_organisation", True)))
    db.session.commit()
    return jsonify(certificate_json(cert)), 201


@registry.route("/certificates/mine", summary="My own and my organisation's certificates", tag=TAG)
@signed_in
def my_certificates():
    query = sa.select(pki.Certificate).where(sa.or_(
        pki.Certificate.user_id == current_user.id,
        pki.Certificate.organisation_id == current_user.organisation_id if current_user.organisation_id else sa.false()))
    return jsonify({"certificates": [certificate_json(c) for c in db.session.scalars(query.order_by(pki.Certificate.id))]})


@registry.route("/certificates/<int:certificate_id>/revoke", "POST", summary="Revoke a certificate (its holder or an "
                "admin)", tag=TAG, request_schema={"type": "object", "required": ["reason"],
                                                    "properties": {"reason": {"type": "string"}}})
@signed_in
def revoke_certificate(certificate_id: int):
    cert = db.session.get(pki.Certificate, certificate_id)
    if cert is None or not cert.can_be_revoked_by(current_user):
        abort(404)
    pki.revoke(cert, str(json_body().get("reason", "")), actor=current_user)
    db.session.commit()
    return jsonify(certificate_json(cert))


@registry.route("/certificates/revoked", summary="Serials of revoked certificates (the revocation list)", tag=TAG)
@public
def revoked_certificates():
    rows = db.session.scalars(sa.select(pki.Certificate).where(pki.Certificate.revoked_at.is_not(None))
                              .order_by(pki.Certificate.revoked_at)).all()
    return jsonify({"revoked": [{"serial": c.serial, "revoked_at": c.revoked_at.isoformat(),
                                 "reason": c.revocation_reason} for c in rows]})


@registry.route("/auth/challenge", "POST", summary="A one-time challenge for certificate sign-in", tag=TAG)
@public
def login_challenge():
    challenge = x509ca.make_challenge("login", now=now())
    db.session.add(LoginChallenge(nonce=challenge.nonce, issued_at=now()))
    db.session.commit()
    return jsonify({"challenge": base64.b64encode(challenge.data).decode(), "expires_in": 300})


SIGN_IN_SCHEMA = {"type": "object", "required": ["username", "challenge", "signature", "certificate"], "properties": {
    "username": {"type": "string"}, "challenge": {"type": "string", "description": "base64, as issued"},
    "signature": {"type": "string", "description": "base64 ECDSA P-256 SHA-256, DER or raw r||s"},
    "certificate": {"type": "string", "description": "the signing certificate, PEM"},
    "session": {"type": "boolean", "description": "sign in the browser session instead of issuing a token"}}}


class SignInRefused(DomainError):
    status = 401
    code = "certificate_sign_in_refused"


@registry.route("/auth/certificate", "POST", summary="Certificate sign-in (CA-lock): answer the challenge", tag=TAG,
                request_schema=SIGN_IN_SCHEMA)
@public
def certificate_sign_in():
    body = json_body()
    try:
        challenge = base64.b64decode(str(body.get("challenge", "")), validate=True)
        signature = base64.b64decode(str(body.get("signature", "")), validate=True)
        certificate = x509ca.load_certificate(str(body.get("certificate", "")).encode())
    except (binascii.Error, ValueError, x509ca.CertificateError):
        raise ValidationError("challenge、signature 应为 base64，certificate 应为 PEM (malformed sign-in request)") from None
    holder = pki.check_certificate(certificate, x509ca.Purpose.SIGNING)
    try:
        result = x509ca.verify_challenge_response(challenge, signature, certificate, pki.platform().ca.certificate,
                                                  context="login", revoked_serials=pki.revoked_serials(), now=now())
    except x509ca.CertificateError as exc:
        raise SignInRefused(f"证书登录失败：{exc}") from None
    spent = db.session.scalars(sa.select(LoginChallenge).where(LoginChallenge.nonce == result.nonce)
                               .with_for_update()).first()
    if spent is None or spent.used_at is not None or spent.issued_at < now() - CHALLENGE_LIFETIME:
        raise SignInRefused("该挑战已使用或不是本平台签发的，请重新获取 (challenge already used or unknown: a replay)")
    spent.used_at = now()
    user = db.session.scalar(sa.select(User).where(User.username == str(body.get("username", ""))))
    org = pki.organisation_of(holder)
    if user is None or not user.active or not (
            (org is not None and user.belongs_to(org)) or holder.identifier == f"user:{user.id}"):
        db.session.commit()
        raise SignInRefused("该证书不属于此用户或其单位 (the certificate is not this user's or its organisation's)")
    audit.record("user.login", user, actor=user, method="certificate", fingerprint=result.certificate_fingerprint)
    if body.get("session"):
        login_user(user)
        session["second_factor"] = True
        db.session.commit()
        return jsonify({"signed_in": user.username})
    token = issue_token(user, "certificate")
    db.session.commit()
    return jsonify({"token": token})
