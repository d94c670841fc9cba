"""The wire formats shared by the platform, the issuer simulator and any real issuer: no Flask here.

- **Signed requests.** An issuer signs ``canonical_json({"type", "method", "path", "body_sha256", "nonce",
  "timestamp", "certificate"})`` with its ECDSA P-256 key (crypto.signing); the headers carry the certificate
  fingerprint, nonce, timestamp and the raw ``r || s`` signature in hex. Answers echo the nonce and carry the
  platform's signature over ``{"type", "nonce", "status", "body_sha256"}``.
- **Sealed terms (密文保函).** The project, section and beneficiary are encrypted with AES-256-GCM under a
  fresh per-application key; the associated data is the application number, so sealed terms cannot be moved
  to another application. The issuer receives ``key_digest = SHA-256(key)``, so when the key is released
  after the opening it can check it is the key the terms were sealed with.
- **Documents.** A guarantee is ``crypto.signing.sign_document`` of a ``bidhall.guarantee.v1`` payload; its
  hash is SHA-256 of the canonical JSON of the whole signed document, and the verification code printed on
  the PDF is derived from that hash.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.canonical import CryptoError, canonical_json, format_utc
from crypto.signing import certificate_fingerprint, sign_bytes

APPLICATION_TYPE = "bidhall.guarantee_application.v1"
GUARANTEE_TYPE = "bidhall.guarantee.v1"
NOTICE_TYPE = "bidhall.issuer_notice.v1"
REQUEST_TYPE = "bidhall.issuer_request.v1"
RESPONSE_TYPE = "bidhall.issuer_response.v1"
TERMS_ALGORITHM = "AES-256-GCM"

HEADER_CERTIFICATE = "X-Bidhall-Certificate"
HEADER_NONCE = "X-Bidhall-Nonce"
HEADER_TIMESTAMP = "X-Bidhall-Timestamp"
HEADER_SIGNATURE = "X-Bidhall-Signature"
HEADER_IDEMPOTENCY = "Idempotency-Key"
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
IDEMPOTENCY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")
GUARANTEE_NO_PATTERN = re.compile(r"^[A-Za-z0-9-]{4,40}$")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read aloud and typed by hand


class TermsError(CryptoError):
    """Sealed terms that do not open with the key given."""

    code = "sealed_terms_invalid"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def money(value: Decimal | str) -> str:
    """Amounts travel as strings with two decimals (crypto.canonical refuses floats)."""
    return format(Decimal(str(value)).quantize(Decimal("0.01")), "f")


# -- signed requests ----------------------------------------------------------------------------------------

def request_signing_bytes(method: str, path: str, body: bytes, nonce: str, timestamp: str,
                          certificate: str) -> bytes:
    """What an issuer signs for one request; ``path`` includes the query string, exactly as sent."""
    return canonical_json({"type": REQUEST_TYPE, "method": method.upper(), "path": path,
                           "body_sha256": sha256_hex(body), "nonce": nonce, "timestamp": timestamp,
                           "certificate": certificate})


def sign_request(key, certificate, method: str, path: str, body: bytes, *, nonce: str | None = None,
                 timestamp: datetime | None = None) -> dict[str, str]:
    """The four headers of a signed issuer request."""
    nonce = nonce or secrets.token_urlsafe(24)
    stamp = format_utc(timestamp or datetime.now(timezone.utc))
    fingerprint = certificate_fingerprint(certificate)
    signature = sign_bytes(key, request_signing_bytes(method, path, body, nonce, stamp, fingerprint))
    return {HEADER_CERTIFICATE: fingerprint, HEADER_NONCE: nonce, HEADER_TIMESTAMP: stamp,
            HEADER_SIGNATURE: signature.hex()}


def response_signing_bytes(nonce: str, status: int, body: bytes) -> bytes:
    return canonical_json({"type": RESPONSE_TYPE, "nonce": nonce, "status": status, "body_sha256": sha256_hex(body)})


# -- sealed terms (cipher guarantees) ---------------------------------------------------------------------------

def new_terms_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal_terms(terms: Mapping[str, Any], key: bytes, application_no: str) -> dict[str, str]:
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, canonical_json(terms), application_no.encode())
    return {"algorithm": TERMS_ALGORITHM, "nonce": nonce.hex(), "ciphertext": ciphertext.hex(),
            "key_digest": sha256_hex(key)}


def open_terms(sealed: Mapping[str, Any], key: bytes, application_no: str) -> dict[str, Any]:
    """Decrypt sealed terms; raises :class:`TermsError` for a wrong key, a wrong application or altered bytes."""
    import json

    try:
        if sealed.get("algorithm") != TERMS_ALGORITHM:
            raise TermsError(f"unknown algorithm {sealed.get('algorithm')!r}; expected {TERMS_ALGORITHM}")
        if sealed.get("key_digest") != sha256_hex(key):
            raise TermsError("the key does not match the key digest the terms were sealed with")
        plain = AESGCM(key).decrypt(bytes.fromhex(sealed["nonce"]), bytes.fromhex(sealed["ciphertext"]),
                                    application_no.encode())
    except (InvalidTag, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TermsError("the sealed terms do not open: altered, or sealed for another application") from exc
    return json.loads(plain)


# -- documents ------------------------------------------------------------------------------------------------

def document_hash(document: Mapping[str, Any]) -> str:
    return sha256_hex(canonical_json(document))


def verification_code(document_hash_hex: str) -> str:
    """16 characters from the document hash (80 bits), grouped ``XXXX-XXXX-XXXX-XXXX`` for the PDF."""
    number = int(document_hash_hex[:20], 16)
    chars = []
    for _ in range(16):
        number, index = divmod(number, 32)
        chars.append(_CODE_ALPHABET[index])
    code = "".join(chars)
    return "-".join(code[i:i + 4] for i in range(0, 16, 4))


def normalise_code(text: str) -> str:
    raw = re.sub(r"[^A-Za-z0-9]", "", text or "").upper()
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def guarantee_payload(application: Mapping[str, Any], *, guarantee_no: str, issued_at: datetime,
                      valid_from: date, valid_until: date) -> dict[str, Any]:
    """The issuer's guarantee for a platform application, copying its parties, amount and (sealed) terms."""
    payload = {
        "type": GUARANTEE_TYPE, "guarantee_no": guarantee_no, "application_no": application["application_no"],
        "kind": application["kind"], "form": application["product"]["form"],
        "guarantor": dict(application["guarantor"]),
        "principal": {"name": application["principal"]["name"],
                      "credit_code": application["principal"]["credit_code"]},
        "amount": application["amount"], "currency": application["currency"],
        "valid_from": valid_from.isoformat(), "valid_until": valid_until.isoformat(),
        "issued_at": format_utc(issued_at),
    }
    if "sealed_terms" in application:
        payload["sealed_terms"] = dict(application["sealed_terms"])
    else:
        payload["terms"] = dict(application["terms"])
    return payload


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
