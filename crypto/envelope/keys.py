"""The envelope's key schedule and the wrapping of 32-byte secrets to encryption certificates.

Every primitive here exists in browser WebCrypto (HKDF-SHA256, ECDH P-256, AES-256-GCM, RSA-OAEP-SHA256),
because the bidder portal seals bids in the page with the same format.

- content key K: 32 random bytes per bid. It is what gets wrapped, escrowed and, at the opening, released.
- payload key = HKDF-SHA256(IKM=K, salt=empty, info="bidhall-envelope/1 payload key", 32 bytes): the
  AES-256-GCM key of the chunks.
- key commitment = HKDF-SHA256(IKM=K, salt=empty, info="bidhall-envelope/1 key commitment", 32 bytes), stored
  in the signed header. AES-GCM alone is not key-committing: a dishonest sealer could otherwise give its
  own wrap and the escrow shares two different keys that both "decrypt" the chunks to different bids.
  With the commitment, exactly one key opens the envelope, and a wrong key is recognised before any
  decryption (WrongKey, not a corrupted-chunk error).
- wrap to an ECDH P-256 certificate (ECDH-ES): fresh ephemeral key e; Z = x-coordinate of ECDH(e, R);
  KEK = HKDF-SHA256(IKM=Z, salt=empty, info="bidhall-envelope/1 ecdh-es" 0x00 | E | R, 32 bytes) with E and R
  the 65-byte uncompressed points; wrapped = AES-256-GCM(KEK, nonce = 12 zero bytes, secret, AAD = context).
  The all-zero nonce is safe because every KEK encrypts exactly one message (E is fresh per wrap).
- wrap to an RSA certificate: RSA-OAEP with SHA-256 and MGF1-SHA-256, label = context.
- context = canonical JSON naming the envelope (ids, nonce prefix, key commitment), the purpose
  (content_key or escrow_share), the recipient certificate, the officer and the share's x: a wrapped secret
  cannot be moved to another envelope, recipient or share slot.
"""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..canonical import canonical_json
from ..certificates import CertificateError, encryption_algorithm_of
from ..signing import certificate_fingerprint, public_key_id
from .errors import MalformedEnvelope, WrongKey
from .format import ECDH_ES, FORMAT, RSA_OAEP, BidIds, KeyWrap

CONTENT_KEY_SIZE = 32
PAYLOAD_KEY_INFO = b"bidhall-envelope/1 payload key"
COMMITMENT_INFO = b"bidhall-envelope/1 key commitment"
ECDH_INFO = b"bidhall-envelope/1 ecdh-es\x00"
_ZERO_NONCE = bytes(12)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

RandomBytes = Callable[[int], bytes]


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def payload_key(content_key: bytes) -> bytes:
    return hkdf(content_key, PAYLOAD_KEY_INFO)


def key_commitment(content_key: bytes) -> bytes:
    return hkdf(content_key, COMMITMENT_INFO)


def check_content_key(content_key: bytes, commitment: bytes) -> None:
    """Raise WrongKey unless ``content_key`` is the key this envelope committed to."""
    if not isinstance(content_key, bytes | bytearray) or len(content_key) != CONTENT_KEY_SIZE:
        raise WrongKey(f"a content key has {CONTENT_KEY_SIZE} bytes")
    if not hmac.compare_digest(key_commitment(bytes(content_key)), commitment):
        raise WrongKey("this key does not open this bid: it is not the key the bid was sealed with")


def wrap_context(ids: BidIds, nonce_prefix: bytes, commitment: bytes, *, purpose: str, recipient: str,
                 officer: str = "", x: int = 0) -> bytes:
    return canonical_json({
        "format": FORMAT, "purpose": purpose, "project": ids.project, "section": ids.section,
        "bidder": ids.bidder, "nonce_prefix": nonce_prefix.hex(), "key_commitment": commitment.hex(),
        "recipient": recipient, "officer": officer, "x": x})


def _raw_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _ephemeral_key(random_bytes: RandomBytes) -> ec.EllipticCurvePrivateKey:
    while True:
        scalar = int.from_bytes(random_bytes(32), "big")
        if 0 < scalar < _P256_ORDER:
            return ec.derive_private_key(scalar, ec.SECP256R1())


def _kek(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return hkdf(shared, ECDH_INFO + ephemeral + recipient)


def wrap_secret(secret: bytes, certificate: x509.Certificate, context: bytes, *,
                random_bytes: RandomBytes = secrets.token_bytes) -> KeyWrap:
    """Wrap ``secret`` so only the holder of ``certificate``'s private key can recover it."""
    public_key = certificate.public_key()
    try:
        algorithm = encryption_algorithm_of(public_key)
    except CertificateError as exc:
        raise MalformedEnvelope(f"certificate {certificate.serial_number:x} cannot receive a key: {exc}") from exc
    recipient, kid = certificate_fingerprint(certificate), public_key_id(public_key)
    if algorithm == RSA_OAEP:
        assert isinstance(public_key, rsa.RSAPublicKey)
        wrapped = public_key.encrypt(secret, _oaep(context))
        return KeyWrap(RSA_OAEP, recipient, kid, wrapped)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    ephemeral = _ephemeral_key(random_bytes)
    epk = _raw_point(ephemeral.public_key())
    kek = _kek(ephemeral.exchange(ec.ECDH(), public_key), epk, _raw_point(public_key))
    return KeyWrap(ECDH_ES, recipient, kid, AESGCM(kek).encrypt(_ZERO_NONCE, secret, context), epk)


def unwrap_secret(wrap: KeyWrap, private_key: Any, context: bytes, *, what: str) -> bytes:
    """Recover a wrapped secret with the recipient's private key, or raise WrongKey naming the mismatch."""
    if public_key_id(private_key.public_key()) != wrap.recipient_key:
        raise WrongKey(f"this private key does not belong to the encryption certificate the {what} was "
                       f"sealed to (certificate {wrap.recipient[:16]}…)")
    try:
        if wrap.algorithm == RSA_OAEP:
            secret = private_key.decrypt(wrap.wrapped, _oaep(context))
        else:
            assert wrap.ephemeral_key is not None
            ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), wrap.ephemeral_key)
            kek = _kek(private_key.exchange(ec.ECDH(), ephemeral), wrap.ephemeral_key,
                       _raw_point(private_key.public_key()))
            secret = AESGCM(kek).decrypt(_ZERO_NONCE, wrap.wrapped, context)
    except (InvalidTag, ValueError, TypeError) as exc:
        raise WrongKey(f"the {what} cannot be unwrapped: it was altered or belongs to another bid") from exc
    if len(secret) != CONTENT_KEY_SIZE:
        raise WrongKey(f"the {what} has the wrong length")
    return secret


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label)
