"""The platform's certificate authority as the web layer runs it: keys kept in instance/, every certificate
issued recorded, revocation checked wherever a certificate is used.

The pure cryptography (issuing, verifying, challenges) is in ``crypto.certificates``; this module stores.
Holders generate their own key pairs (in bidtool or in the browser) and send only requests: the platform
never sees a holder's private key.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.accounts import Organisation, User
from core.clock import now
from core.db import Base, IdMixin, db, enum_column, utcnow
from core.errors import DomainError, ValidationError
from crypto import certificates as x509ca
from crypto.keystore import dump_private_key, load_private_key
from crypto.signing import certificate_fingerprint


class Purpose(enum.Enum):
    SIGNING = "signing"
    ENCRYPTION = "encryption"


class Certificate(IdMixin, Base):
    """A certificate the platform CA issued (签名证书 / 加密证书)."""

    __tablename__ = "certificates"

    serial: Mapped[str] = mapped_column(sa.String(64), unique=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), unique=True)
    purpose: Mapped[Purpose] = enum_column(Purpose)
    algorithm: Mapped[str] = mapped_column(sa.String(32))
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    holder_name: Mapped[str] = mapped_column(sa.String(64))
    holder_identifier: Mapped[str] = mapped_column(sa.String(64))
    holder_role: Mapped[str] = mapped_column(sa.String(32))
    pem: Mapped[str] = mapped_column(sa.Text)
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(sa.Text)

    @property
    def x509(self) -> x509.Certificate:
        return x509ca.load_certificate(self.pem.encode())

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def can_be_revoked_by(self, user: User) -> bool:
        if user.can_administer_accounts():
            return True
        if self.user_id is not None:
            return self.user_id == user.id
        return self.organisation_id is not None and user.belongs_to(self.organisation_id)


CERTIFICATE_PROBLEMS = {
    "certificate_revoked": "证书已吊销", "certificate_expired": "证书已过期", "certificate_not_yet_valid": "证书尚未生效",
    "certificate_wrong_issuer": "证书不是本平台签发的", "certificate_wrong_purpose": "证书用途不符",
}


class CertificateRefused(DomainError):
    status = 422
    code = "certificate_refused"


# -- the CA's own keys ----------------------------------------------------------------------------

def _key_password(label: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"bidhall {label} v1".encode()
                ).derive(secret).hex()


def _pki_dir() -> Path:
    path = Path(current_app.instance_path) / "pki"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _load_or_create(name: str, create) -> tuple[x509.Certificate, object]:
    """Keys live in instance/pki/<name>/, the private key as password-protected PKCS#8.

    Created once: the pair is written to a staging folder that is renamed into place in one step, so two
    processes starting together never mix one's certificate with the other's key.
    """
    final = _pki_dir() / name
    if not final.exists():
        certificate, key = create()
        staging = _pki_dir() / f".{name}.{os.getpid()}.{id(key)}"
        staging.mkdir()
        (staging / "key.pem").write_bytes(dump_private_key(key, _key_password(name)))
        os.chmod(staging / "key.pem", 0o600)
        (staging / "certificate.pem").write_bytes(x509ca.certificate_pem(certificate))
        try:
            os.rename(staging, final)
        except OSError:  # another process won the race: use its pair
            for leftover in staging.iterdir():
                leftover.unlink()
            staging.rmdir()
    certificate = x509ca.load_certificate((final / "certificate.pem").read_bytes())
    key = load_private_key((final / "key.pem").read_bytes(), _key_password(name))
    return certificate, key


@dataclass(frozen=True)
class PlatformIdentity:
    ca: x509ca.PlatformCA
    signing_certificate: x509.Certificate
    signing_key: object


@lru_cache(maxsize=8)
def _identity(instance_path: str, secret_fingerprint: str) -> PlatformIdentity:
    def new_ca():
        ca = x509ca.PlatformCA.create("bidhall 平台根证书")
        return ca.certificate, ca.private_key

    ca_cert, ca_key = _load_or_create("platform-ca", new_ca)
    ca = x509ca.PlatformCA(ca_cert, ca_key)

    def new_signer():
        key = x509ca.generate_signing_key()
        request = x509ca.create_signing_request(key, "bidhall platform")
        return ca.issue_signing_certificate(request, x509ca.Holder("bidhall 电子交易平台", "platform", "platform")), key

    signer_cert, signer_key = _load_or_create("platform-signing", new_signer)
    return PlatformIdentity(ca, signer_cert, signer_key)


def platform() -> PlatformIdentity:
    """The platform CA and the platform's own signing identity (receipts, records)."""
    secret = current_app.config["SECRET_KEY"]
    return _identity(current_app.instance_path, hashes_of(secret))


def hashes_of(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ServiceIdentity:
    """A platform service's encryption key pair, its certificate issued by the platform CA."""

    name: str
    certificate: x509.Certificate
    private_key: object


@lru_cache(maxsize=16)
def _service(instance_path: str, secret_fingerprint: str, name: str, holder_name: str) -> ServiceIdentity:
    ca = _identity(instance_path, secret_fingerprint).ca

    def new_service_key():
        # As any holder does: a signing key certified from a PKCS#10 request signs the request for the
        # encryption certificate. Only the encryption pair is kept; the service never signs anything.
        signing_key = x509ca.generate_signing_key()
        holder = x509ca.Holder(holder_name, f"platform:{name}", "platform_service")
        signing = ca.issue_signing_certificate(x509ca.create_signing_request(signing_key, name), holder)
        key = x509ca.generate_encryption_key()
        request = x509ca.create_encryption_request(key.public_key(), signing_key, signing)
        return ca.issue_encryption_certificate(request, signing, revoked_serials=set()), key

    certificate, key = _load_or_create(name, new_service_key)
    return ServiceIdentity(name, certificate, key)


def service_identity(name: str, holder_name: str) -> ServiceIdentity:
    """The encryption identity of a named platform service (e.g. ``evaluation-service``): an ECDH P-256 pair in
    instance/pki/<name>/, the key as password-protected PKCS#8, created once, its certificate issued by the
    platform CA for encryption. Whoever lacks that folder (a database dump, a copy of the app with another
    instance/) cannot open what was wrapped to it, even knowing SECRET_KEY."""
    return _service(current_app.instance_path, hashes_of(current_app.config["SECRET_KEY"]), name, holder_name)


# -- issuing and revoking ---------------------------------------------------------------------------

def revoked_serials() -> set[int]:
    return {int(s, 16) for s in db.session.scalars(sa.select(Certificate.serial)
                                                   .where(Certificate.revoked_at.is_not(None)))}


def _holder_for(user: User, on_behalf_of_organisation: bool) -> tuple[x509ca.Holder, Organisation | None]:
    if on_behalf_of_organisation:
        org = user.organisation
        if org is None:
            raise CertificateRefused("您不属于任何单位，不能申请单位证书 (you belong to no organisation)")
        return x509ca.Holder(org.name[:64], org.credit_code, org.kind.value), org
    return x509ca.Holder(user.display_name[:64], f"user:{user.id}", user.role.value), None


def _record(certificate: x509.Certificate, purpose: Purpose, holder: x509ca.Holder, user: User,
            org: Organisation | None) -> Certificate:
    row = Certificate(
        serial=format(certificate.serial_number, "x"), fingerprint=certificate_fingerprint(certificate),
        purpose=purpose, algorithm=x509ca.encryption_algorithm_of(certificate.public_key())
        if purpose is Purpose.ENCRYPTION else "ECDSA-P256",
        organisation_id=org.id if org else None, user_id=None if org else user.id, holder_name=holder.name,
        holder_identifier=holder.identifier, holder_role=holder.role,
        pem=x509ca.certificate_pem(certificate).decode(), not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc, requested_by_id=user.id)
    db.session.add(row)
    db.session.flush()
    audit.record("certificate.issued", row, serial=row.serial, purpose=purpose.value, holder=holder.identifier,
                 fingerprint=row.fingerprint)
    return row


def issue_signing_certificate(user: User, csr_pem: str, *, for_organisation: bool) -> Certificate:
    """Sign the holder's PKCS#10 request (its key pair was generated on its side)."""
    try:
        request = x509.load_pem_x509_csr(csr_pem.encode())
    except (ValueError, TypeError):
        raise ValidationError("证书请求不是有效的 PKCS#10 PEM (not a PKCS#10 PEM request)", field="csr") from None
    holder, org = _holder_for(user, for_organisation)
    try:
        certificate = platform().ca.issue_signing_certificate(request, holder)
    except x509ca.CertificateError as exc:
        raise CertificateRefused(f"证书申请被拒绝：{exc}", field="csr") from None
    return _record(certificate, Purpose.SIGNING, holder, user, org)


def issue_encryption_certificate(user: User, request: dict, *, for_organisation: bool) -> Certificate:
    """Issue the encryption certificate from a request signed with the holder's valid signing certificate."""
    holder, org = _holder_for(user, for_organisation)
    signing = current_certificate(org or user, Purpose.SIGNING)
    if signing is None:
        raise CertificateRefused("请先申请签名证书 (request a signing certificate first)")
    try:
        certificate = platform().ca.issue_encryption_certificate(request, signing.x509,
                                                                 revoked_serials=revoked_serials())
    except x509ca.CertificateError as exc:
        raise CertificateRefused(f"证书申请被拒绝：{exc}", field="request") from None
    return _record(certificate, Purpose.ENCRYPTION, holder, user, org)


def current_certificate(holder: Organisation | User, purpose: Purpose) -> Certificate | None:
    """The newest valid, unrevoked certificate of a holder for a purpose."""
    column = Certificate.organisation_id if isinstance(holder, Organisation) else Certificate.user_id
    return db.session.scalar(sa.select(Certificate).where(
        column == holder.id, Certificate.purpose == purpose, Certificate.revoked_at.is_(None),
        Certificate.not_after > now()).order_by(Certificate.id.desc()).limit(1))


def revoke(certificate: Certificate, reason: str, *, actor: User) -> None:
    if certificate.is_revoked:
        raise CertificateRefused("证书已吊销 (already revoked)")
    if not (reason or "").strip():
        raise ValidationError("请填写吊销原因 (a reason is required)", field="reason")
    certificate.revoked_at, certificate.revocation_reason = now(), reason.strip()
    audit.record("certificate.revoked", certificate, actor=actor, serial=certificate.serial, reason=reason.strip())


def check_certificate(certificate: x509.Certificate, purpose: x509ca.Purpose) -> x509ca.Holder:
    """Verify a presented certificate against the platform CA and the revocation list, or refuse it."""
    recorded = db.session.scalar(sa.select(Certificate).where(
        Certificate.fingerprint == certificate_fingerprint(certificate)))
    if recorded is None:
        raise CertificateRefused("该证书不是本平台签发的 (not a certificate issued by this platform)")
    try:
        return x509ca.verify_certificate(certificate, platform().ca.certificate, revoked_serials=revoked_serials(),
                                         at=now(), purpose=purpose)
    except x509ca.CertificateError as exc:
        code = getattr(exc, "code", "certificate_refused")
        raise CertificateRefused(f"{CERTIFICATE_PROBLEMS.get(code, '证书不可用')}：{exc}", code=code) from None


def organisation_of(holder: x509ca.Holder) -> Organisation | None:
    if holder.identifier.startswith("user:"):
        return None
    return db.session.scalar(sa.select(Organisation).where(Organisation.credit_code == holder.identifier))


