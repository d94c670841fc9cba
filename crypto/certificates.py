"""The platform certificate authority: dual certificates (双证书), verification, certificate login.

Every holder (organisation, expert, opening officer, guarantee issuer, the platform itself) has two
certificates from the platform CA, as Chinese CA practice does:

- a **signing certificate**: ECDSA P-256, keyUsage digitalSignature + nonRepudiation, issued from a normal
  PKCS#10 request (the request's own signature proves possession of the key);
- an **encryption certificate**: P-256 for ECDH (keyUsage keyAgreement) or RSA ≥ 2048 for RSA-OAEP (keyUsage
  keyEncipherment). In the browser a non-extractable WebCrypto key is bound to one algorithm (ECDSA *or*
  ECDH), so one key cannot do both jobs. An ECDH key cannot sign a PKCS#10 request, so the encryption
  certificate is requested with a signed document (crypto.signing) carrying the public key, signed by the
  holder's already-certified signing key: possession of the identity, not of the encryption key, is proven.
  The worst a holder can do with that is certify a key it cannot use itself.

Keys are generated on the holder's side (bidder tool or browser); the CA only ever sees public keys. The CA
keeps no database: the web layer stores serial numbers and revocations and passes ``revoked_serials`` in.

The subject is set by the CA from the platform's own record of the holder, never copied from the request:
CN = the holder's name (UTF8String, Chinese welcome), serialNumber = the unified social credit code
(统一社会信用代码) or ``user:<id>``, title = the holder's role.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .canonical import CanonicalJSONError, CryptoError, canonical_json, format_utc, parse_canonical_json, parse_utc
from .signing import (SignatureError, certificate_fingerprint, require_p256_signing_key, sign_document,
                      verify_bytes, verify_document)

SIGNING_VALIDITY = timedelta(days=730)
CLOCK_SKEW = timedelta(minutes=5)  # certificates start this much before issue, for servers whose clocks lag
CA_VALIDITY = timedelta(days=3650)
MIN_RSA_BITS = 2048
ECDH_P256 = "ECDH-P256"
RSA_OAEP = "RSA-OAEP-SHA256"
ENCRYPTION_REQUEST_TYPE = "encryption_certificate_request"
CHALLENGE_TYPE = "login_challenge"
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]{1,64}")
_ROLE = re.compile(r"[a-z][a-z_]{0,63}")


class CertificateError(CryptoError):
    """A certificate, certificate request or login challenge that cannot be accepted."""

    code = "certificate_invalid"


class WrongIssuer(CertificateError):
    code = "certificate_wrong_issuer"


class CertificateRevoked(CertificateError):
    code = "certificate_revoked"


class CertificateExpired(CertificateError):
    code = "certificate_expired"


class CertificateNotYetValid(CertificateError):
    code = "certificate_not_yet_valid"


class WrongCertificatePurpose(CertificateError):
    code = "certificate_wrong_purpose"


class InvalidCertificateRequest(CertificateError):
    code = "certificate_request_invalid"


class ChallengeExpired(CertificateError):
    code = "challenge_expired"


class ChallengeInvalid(CertificateError):
    code = "challenge_invalid"


class Purpose(StrEnum):
    """What a certificate is used for; checked against its keyUsage."""

    SIGNING = "signing"
    ENCRYPTION = "encryption"


@dataclass(frozen=True)
class Holder:
    """Who a certificate belongs to. ``identifier`` is a credit code or ``user:<id>``; ``role`` e.g. ``expert``."""

    name: str
    identifier: str
    role: str

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise CertificateError("the holder's name must have 1 to 64 characters")
        if not _PRINTABLE.fullmatch(self.identifier):
            raise CertificateError(f"identifier {self.identifier!r} must be 1–64 letters, digits or ' ()+,-./:=?'")
        if not _ROLE.fullmatch(self.role):
            raise CertificateError(f"role {self.role!r} must be lowercase letters and underscores")

    def x509_name(self) -> x509.Name:
        return x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, self.name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, self.identifier),
            x509.NameAttribute(NameOID.TITLE, self.role),
        ])


def holder_of(certificate: x509.Certificate) -> Holder:
    """Read the holder back from a certificate's subject."""
    def one(oid: x509.ObjectIdentifier) -> str:
        values = certificate.subject.get_attributes_for_oid(oid)
        if len(values) != 1:
            raise CertificateError("the certificate subject is not a bidhall holder name")
        return str(values[0].value)
    return Holder(one(NameOID.COMMON_NAME), one(NameOID.SERIAL_NUMBER), one(NameOID.TITLE))


def load_certificate(data: bytes) -> x509.Certificate:
    """Load a certificate from PEM or DER bytes."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError(f"not a certificate: {exc}") from exc


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def generate_signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def generate_encryption_key(algorithm: str = ECDH_P256, *, rsa_bits: int = 3072) -> Any:
    """A fresh encryption key: P-256 for ECDH (default) or RSA for RSA-OAEP."""
    if algorithm == ECDH_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == RSA_OAEP:
        if rsa_bits < MIN_RSA_BITS:
            raise CertificateError(f"RSA keys need at least {MIN_RSA_BITS} bits")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise CertificateError(f"unknown encryption algorithm {algorithm!r}; use {ECDH_P256} or {RSA_OAEP}")


def encryption_algorithm_of(public_key: Any) -> str:
    """Name the key-wrap algorithm a public key supports, refusing anything else."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return ECDH_P256
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise CertificateError(f"RSA keys need at least {MIN_RSA_BITS} bits; this one has "
                                   f"{public_key.key_size}")
        return RSA_OAEP
    raise CertificateError("an encryption key must be P-256 (ECDH) or RSA ≥ 2048 bits (RSA-OAEP)")


def create_signing_request(key: ec.EllipticCurvePrivateKey, name: str) -> x509.CertificateSigningRequest:
    """The holder's PKCS#10 request for a signing certificate (the CA sets the real subject)."""
    require_p256_signing_key(key)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())


def create_encryption_request(encryption_public_key: Any, signing_key: ec.EllipticCurvePrivateKey,
                              signing_certificate: x509.Certificate, *,
                              now: datetime | None = None) -> dict[str, Any]:
    """The holder's request for an encryption certificate: a document signed by its signing key.

    Payload (canonical JSON): ``type``, ``algorithm`` (ECDH-P256 | RSA-OAEP-SHA256), ``public_key`` (hex of
    the SubjectPublicKeyInfo DER, i.e. WebCrypto ``exportKey('spki')``), ``created_at`` and a random
    ``nonce``; the signature names the signing certificate (crypto.signing).
    """
    spki = encryption_public_key.public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    payload = {"type": ENCRYPTION_REQUEST_TYPE, "algorithm": encryption_algorithm_of(encryption_public_key),
               "public_key": spki.hex(), "created_at": format_utc(now or datetime.now(timezone.utc)),
               "nonce": secrets.token_hex(16)}
    return sign_document(payload, signing_key, signing_certificate)


def _now(now: datetime | None) -> datetime:
    moment = now or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        raise CertificateError("times must be timezone-aware (UTC)")
    return moment.astimezone(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class PlatformCA:
    """The platform's root CA: a self-signed ECDSA P-256 certificate and its private key.

    Store the key with crypto.keystore (password-protected PKCS#8); the web layer records every serial issued
    and every revocation.
    """

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "bidhall platform CA", *, now: datetime | None = None,
               validity: timedelta = CA_VALIDITY) -> PlatformCA:
        key = ec.generate_private_key(ec.SECP256R1())
        start = _now(now) - CLOCK_SKEW
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bidhall")])
        certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
        return cls(certificate, key)

    def issue_signing_certificate(self, request: x509.CertificateSigningRequest, holder: Holder, *,
                                  now: datetime | None = None,
                                  validity: timedelta = SIGNING_VALIDITY) -> x509.Certificate:
        """Sign a holder's PKCS#10 request for an ECDSA P-256 signing certificate."""
        if not request.is_signature_valid:
            raise InvalidCertificateRequest("the certificate request's signature is invalid: it was altered "
                                            "or not made with the key it carries")
        public_key = request.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve,
                                                                                     ec.SECP256R1):
            raise InvalidCertificateRequest("a signing certificate needs an ECDSA P-256 key")
        return self._issue(holder.x509_name(), public_key, _key_usage(signature=True), now, validity)

    def issue_encryption_certificate(self, request: Mapping[str, Any], signing_certificate: x509.Certificate,
                                     *, revoked_serials: Container[int], now: datetime | None = None,
                                     validity: timedelta = SIGNING_VALIDITY,
                                     max_request_age: timedelta = timedelta(minutes=10)) -> x509.Certificate:
        """Issue an encryption certificate from a request signed by the holder's valid signing certificate.

        The new certificate has the same subject as the signing certificate (same holder).
        """
        moment = _now(now)
        verify_certificate(signing_certificate, self.certificate, revoked_serials=revoked_serials, at=moment,
                           purpose=Purpose.SIGNING)
        try:
            payload = verify_document(request, signing_certificate)
        except SignatureError as exc:
            raise InvalidCertificateRequest(f"the encryption certificate request is not validly signed: {exc}"
                                            ) from exc
        if payload.get("type") != ENCRYPTION_REQUEST_TYPE:
            raise InvalidCertificateRequest(f"not an encryption certificate request (type "
                                            f"{payload.get('type')!r})")
        try:
            created = parse_utc(payload["created_at"])
            public_key = serialization.load_der_public_key(bytes.fromhex(payload["public_key"]))
        except (KeyError, TypeError, ValueError, CanonicalJSONError) as exc:
            raise InvalidCertificateRequest(f"the encryption certificate request is malformed: {exc}") from exc
        if not timedelta(minutes=-1) <= moment - created <= max_request_age:
            raise InvalidCertificateRequest(f"the request was made at {payload['created_at']}; requests are "
                                            f"accepted for {max_request_age} only: make a new one")
        algorithm = encryption_algorithm_of(public_key)
        if payload.get("algorithm") != algorithm:
            raise InvalidCertificateRequest(f"the request says {payload.get('algorithm')!r} but carries a "
                                            f"{algorithm} key")
        usage = _key_usage(key_agreement=algorithm == ECDH_P256, key_encipherment=algorithm == RSA_OAEP)
        return self._issue(signing_certificate.subject, public_key, usage, moment, validity)

    def _issue(self, subject: x509.Name, public_key: Any, usage: x509.KeyUsage, now: datetime | None,
               validity: timedelta) -> x509.Certificate:
        start = _now(now) - CLOCK_SKEW
        end = min(start + CLOCK_SKEW + validity, self.certificate.not_valid_after_utc)
        ca_key_id = x509.SubjectKeyIdentifier.from_public_key(self.private_key.public_key())
        return (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.certificate.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id),
                           critical=False)
            .sign(self.private_key, hashes.SHA256()))


def _key_usage(*, signature: bool = False, key_agreement: bool = False, key_encipherment: bool = False,
               cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signature or cert_sign, content_commitment=signature,
                         key_encipherment=key_encipherment, data_encipherment=False,
                         key_agreement=key_agreement, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def verify_certificate(certificate: x509.Certificate, ca_certificate: x509.Certificate, *,
                       revoked_serials: Container[int], at: datetime, purpose: Purpose) -> Holder:
    """Check issuer and signature, revocation, validity period and key usage; return the holder.

    Each failure raises its own error (WrongIssuer, CertificateRevoked, CertificateExpired,
    CertificateNotYetValid, WrongCertificatePurpose) whose message names the certificate and the problem.
    """
    label = f"certificate {certificate.serial_number:x}"
    if at.tzinfo is None:
        raise CertificateError("the verification time must be timezone-aware (UTC)")
    if certificate.issuer != ca_certificate.subject:
        raise WrongIssuer(f"{label} was issued by {certificate.issuer.rfc4514_string()}, not by the platform "
                          f"CA {ca_certificate.subject.rfc4514_string()}")
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise WrongIssuer(f"{label} does not carry a valid signature of the platform CA") from exc
    if certificate.serial_number in revoked_serials:
        raise CertificateRevoked(f"{label} of {_holder_label(certificate)} has been revoked")
    for cert, what in ((ca_certificate, "the platform CA certificate"), (certificate, label)):
        if at < cert.not_valid_before_utc:
            raise CertificateNotYetValid(f"{what} is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
        if at > cert.not_valid_after_utc:
            raise CertificateExpired(f"{what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    require_purpose(certificate, purpose)
    return holder_of(certificate)


def require_purpose(certificate: x509.Certificate, purpose: Purpose) -> None:
    """Raise WrongCertificatePurpose unless the key type and keyUsage fit ``purpose``."""
    label = f"certificate {certificate.serial_number:x}"
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise WrongCertificatePurpose(f"{label} has no key usage and cannot be used") from exc
    public_key = certificate.public_key()
    if purpose is Purpose.SIGNING:
        if not usage.digital_signature or not isinstance(public_key, ec.EllipticCurvePublicKey) or \
                not isinstance(public_key.curve, ec.SECP256R1):
            raise WrongCertificatePurpose(f"{label} is not an ECDSA P-256 signing certificate")
        return
    try:
        algorithm = encryption_algorithm_of(public_key)
    except CertificateError as exc:
        raise WrongCertificatePurpose(f"{label} is not an encryption certificate: {exc}") from exc
    if not (usage.key_agreement if algorithm == ECDH_P256 else usage.key_encipherment):
        raise WrongCertificatePurpose(f"{label} is not an encryption certificate")


def _holder_label(certificate: x509.Certificate) -> str:
    try:
        holder = holder_of(certificate)
    except CertificateError:
        return certificate.subject.rfc4514_string()
    return f"{holder.name} ({holder.identifier})"


@dataclass(frozen=True)
class Challenge:
    """A login challenge: sign ``data`` with the signing key (CA锁 or WebCrypto) to prove who you are."""

    nonce: str
    issued_at: datetime
    context: str

    @property
    def data(self) -> bytes:
        return canonical_json({"type": CHALLENGE_TYPE, "context": self.context, "nonce": self.nonce,
                               "issued_at": format_utc(self.issued_at)})


@dataclass(frozen=True)
class ChallengeResult:
    holder: Holder
    nonce: str
    certificate_fingerprint: str


def make_challenge(context: str, *, now: datetime | None = None) -> Challenge:
    """A fresh challenge for ``context`` (e.g. ``"login"`` or ``"opening:section-12"``): 256-bit nonce + time."""
    moment = now or datetime.now(timezone.utc)
    return Challenge(nonce=secrets.token_hex(32), issued_at=moment, context=context)


def verify_challenge_response(challenge: bytes, signature: bytes, certificate: x509.Certificate,
                              ca_certificate: x509.Certificate, *, context: str,
                              revoked_serials: Container[int], now: datetime,
                              max_age: timedelta = timedelta(minutes=2)) -> ChallengeResult:
    """Check a signed challenge; the signature may be DER or raw ``r || s`` (WebCrypto).

    The caller must also check that it issued ``ChallengeResult.nonce`` and that it was not used before
    (one use only): this module keeps no state.
    """
    try:
        fields = parse_canonical_json(challenge)
        if not isinstance(fields, dict) or fields.get("type") != CHALLENGE_TYPE:
            raise ChallengeInvalid("this is not a login challenge")
        issued_at, nonce = parse_utc(fields["issued_at"]), fields["nonce"]
    except (CanonicalJSONError, KeyError) as exc:
        raise ChallengeInvalid(f"the challenge is malformed: {exc}") from exc
    if fields.get("context") != context:
        raise ChallengeInvalid(f"the challenge was issued for {fields.get('context')!r}, not for {context!r}")
    age = now - issued_at
    if age < timedelta(seconds=-5) or age > max_age:
        raise ChallengeExpired(f"the challenge was issued at {fields['issued_at']} and is no longer valid; "
                               f"request a new one")
    holder = verify_certificate(certificate, ca_certificate, revoked_serials=revoked_serials, at=now,
                                purpose=Purpose.SIGNING)
    try:
        verify_bytes(certificate.public_key(), challenge, signature, accept_der=True,
                     what="challenge signature")
    except SignatureError as exc:
        raise ChallengeInvalid(f"the challenge response is not signed by {holder.name}'s signing "
                               f"certificate: {exc}") from exc
    return ChallengeResult(holder=holder, nonce=nonce, certificate_fingerprint=certificate_fingerprint(certificate))
