"""ECDSA P-256 signatures and signed documents: receipts (回执), records, guarantees.

Why this shape: the same signatures are made and checked in the browser (WebCrypto), in the bidder tool
and on the server, and kept for years in the archive (电子招标投标办法第40条: records are e-signed and
archived). So:

- signatures are ECDSA P-256 with SHA-256, stored as raw ``r || s`` (64 bytes, IEEE P1363), which is what
  WebCrypto produces; Python's DER is converted at the edge. We sign deterministically (RFC 6979) so test
  vectors are reproducible; verifiers accept any valid signature;
- a signed document is ``{"payload": {...}, "signature": {"algorithm", "signer", "value"}}`` where the
  signature covers the canonical JSON (crypto.canonical) of ``{"algorithm", "payload", "signer"}``: the
  signer's certificate fingerprint is inside the signed bytes, so a signature cannot be re-attributed to
  another certificate.

Checking that the signer's certificate is valid, unrevoked and issued by the platform CA is
``crypto.certificates.verify_certificate``'s job; the functions here check the mathematics and the
binding to one certificate.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .canonical import CanonicalJSONError, CryptoError, canonical_json

ALGORITHM = "ECDSA-P256-SHA256"
RAW_SIGNATURE_SIZE = 64
_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


class SignatureError(CryptoError):
    """A signature or signed document that does not check out."""

    code = "signature_invalid"


class SignatureInvalid(SignatureError):
    """The signature does not verify: the signed data was changed or another key signed it."""

    code = "signature_invalid"


class SignerMismatch(SignatureError):
    """The document names a different signing certificate from the one it is checked against."""

    code = "signer_mismatch"


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lowercase hex: how documents and envelopes name a certificate."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def public_key_id(public_key: Any) -> str:
    """SHA-256 of the public key's SubjectPublicKeyInfo DER, lowercase hex (WebCrypto ``exportKey('spki')``)."""
    spki = public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def require_p256_signing_key(key: Any, what: str = "signing key") -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or \
            not isinstance(key.curve, ec.SECP256R1):
        raise SignatureError(f"the {what} must be an ECDSA P-256 key")


def der_to_raw(signature: bytes) -> bytes:
    """Convert a DER ECDSA-Sig-Value into 64-byte ``r || s``."""
    r, s = decode_dss_signature(signature)
    if r >= 1 << 256 or s >= 1 << 256:
        raise SignatureInvalid("the DER signature's integers are too large for P-256")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_to_der(signature: bytes) -> bytes:
    """Convert 64-byte ``r || s`` (WebCrypto's format) into DER."""
    if len(signature) != RAW_SIGNATURE_SIZE:
        raise SignatureInvalid(f"a raw P-256 signature has 64 bytes, this one has {len(signature)}")
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


def sign_bytes(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Sign ``data`` with ECDSA P-256/SHA-256 and return the 64-byte raw signature."""
    require_p256_signing_key(key)
    return der_to_raw(key.sign(data, _ECDSA))


def verify_bytes(public_key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes, *,
                 accept_der: bool = False, what: str = "signature") -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` is a valid signature of ``data``.

    ``signature`` is raw ``r || s``; with ``accept_der`` a DER signature is accepted as well (the
    challenge-response login takes both, because a CA USB key's driver returns DER and WebCrypto raw).
    """
    require_p256_signing_key(public_key, "signer's key")
    candidates = []
    if accept_der:
        try:
            decode_dss_signature(signature)
            candidates.append(signature)
        except ValueError:
            pass
    if len(signature) == RAW_SIGNATURE_SIZE:
        candidates.append(raw_to_der(signature))
    if not candidates:
        raise SignatureInvalid(f"the {what} is not a P-256 signature ({len(signature)} bytes)")
    for candidate in candidates:
        try:
            public_key.verify(candidate, data, ec.ECDSA(hashes.SHA256()))
            return
        except InvalidSignature:
            continue
    raise SignatureInvalid(f"the {what} does not verify: the data was changed or another key signed it")


def _signed_bytes(payload: Mapping[str, Any], signer: str) -> bytes:
    return canonical_json({"algorithm": ALGORITHM, "payload": payload, "signer": signer})


def sign_document(payload: Mapping[str, Any], key: ec.EllipticCurvePrivateKey,
                  certificate: x509.Certificate) -> dict[str, Any]:
    """Return ``{"payload", "signature"}`` signed by ``key``, naming ``certificate`` as the signer.

    The payload should carry its own ``"type"`` (e.g. ``"bid_receipt"``) so a signature made for one kind of
    document can never be presented as another.
    """
    if certificate.public_key() != key.public_key():
        raise SignatureError("the signing key does not belong to the given certificate")
    signer = certificate_fingerprint(certificate)
    value = sign_bytes(key, _signed_bytes(payload, signer))
    return {"payload": dict(payload),
            "signature": {"algorithm": ALGORITHM, "signer": signer, "value": value.hex()}}


def verify_document(document: Mapping[str, Any], certificate: x509.Certificate) -> dict[str, Any]:
    """Check ``document``'s signature against ``certificate`` and return its payload.

    Raises :class:`SignerMismatch` when the document names another certificate and
    :class:`SignatureInvalid` when the payload or signature was altered.
    """
    try:
        payload = document["payload"]
        signature = document["signature"]
        algorithm, signer, value = signature["algorithm"], signature["signer"], signature["value"]
    except (KeyError, TypeError) as exc:
        raise SignatureError(f"not a signed document: missing {exc}") from exc
    if algorithm != ALGORITHM:
        raise SignatureError(f"unsupported signature algorithm {algorithm!r}; expected {ALGORITHM}")
    if not isinstance(payload, Mapping):
        raise SignatureError("the signed document's payload is not an object")
    expected = certificate_fingerprint(certificate)
    if signer != expected:
        raise SignerMismatch(f"the document was signed by certificate {signer!s:.16}…, "
                             f"not by the expected certificate {expected:.16}…")
    try:
        raw = bytes.fromhex(value)
        signed = _signed_bytes(payload, signer)
    except (ValueError, TypeError, CanonicalJSONError) as exc:
        raise SignatureError(f"the signed document is malformed: {exc}") from exc
    verify_bytes(certificate.public_key(), signed, raw, what="document signature")
    return dict(payload)
