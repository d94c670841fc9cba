"""The known-answer vectors of docs/envelope.md, and an independent reader written from the document alone.

``independent_open`` uses only the primitives (struct, json, hashlib, blake3, cryptography's ECDH, HKDF and
AES-GCM) and the byte layout described in docs/envelope.md: it does not import ``crypto.envelope``. If it
opens the vectors, the document is precise enough for the browser's JavaScript to do the same.
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
from datetime import datetime
from pathlib import Path

import blake3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.envelope import (BidIds, combine_shares, open_envelope, read_header, seal, unwrap_content_key,
                             unwrap_share, verify_envelope)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "envelope-v1.json").read_text(encoding="utf-8"))
IDS = BidIds(**VECTORS["ids"])


def key(scalar_hex: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(scalar_hex, 16), ec.SECP256R1())


def cert(der_hex: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(bytes.fromhex(der_hex))


def shake_stream(seed: str):
    stream, position = hashlib.shake_256(seed.encode()).digest(1 << 16), 0

    def random_bytes(count: int) -> bytes:
        nonlocal position
        position += count
        return stream[position - count:position]

    return random_bytes


BIDDER = VECTORS["bidder"]
OFFICERS = VECTORS["officers"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_seal_reproduces_the_vector_byte_for_byte(vector):
    out = io.BytesIO()
    summary = seal(io.BytesIO(bytes.fromhex(vector["plaintext"])), out, ids=IDS,
                   bidder_signing_key=key(BIDDER["signing_private_key"]),
                   bidder_signing_cert=cert(BIDDER["signing_certificate"]),
                   bidder_encryption_cert=cert(BIDDER["encryption_certificate"]),
                   officers=[(o["id"], cert(o["encryption_certificate"])) for o in OFFICERS],
                   threshold=VECTORS["threshold"], chunk_size=VECTORS["chunk_size"],
                   now=datetime.fromisoformat(VECTORS["created_at"].replace("Z", "+00:00")),
                   random_bytes=shake_stream(vector["random_seed"]))
    assert out.getvalue().hex() == vector["envelope"]
    assert summary.ciphertext_digest.hex() == vector["ciphertext_digest"]
    assert hashlib.sha256(out.getvalue()).hexdigest() == vector["envelope_sha256"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_the_vector_opens_by_key_and_by_escrow(vector):
    envelope = bytes.fromhex(vector["envelope"])
    signer = cert(BIDDER["signing_certificate"])
    summary = verify_envelope(io.BytesIO(envelope), expected_ids=IDS, bidder_signing_cert=signer)
    assert summary.chunk_count == vector["chunk_count"]
    header = read_header(io.BytesIO(envelope))
    content_key = unwrap_content_key(header, key(BIDDER["encryption_private_key"]))
    assert content_key.hex() == vector["content_key"]
    shares = [unwrap_share(header, o["id"], key(o["encryption_private_key"])) for o in (OFFICERS[0], OFFICERS[2])]
    assert combine_shares(header, shares) == content_key
    out = io.BytesIO()
    open_envelope(io.BytesIO(envelope), out, content_key, expected_ids=IDS, bidder_signing_cert=signer)
    assert out.getvalue().hex() == vector["plaintext"]


# ---- an independent reader, from docs/envelope.md only ------------------------------------------------------

def hkdf32(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info).derive(ikm)


def check_p1363(public_key, message: bytes, signature: bytes) -> None:
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))


def raw_point(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def context_bytes(header: dict, purpose: str, recipient: str, officer: str, x: int) -> bytes:
    fields = {"format": "bidhall-envelope/1", "purpose": purpose, **header["ids"],
              "nonce_prefix": header["nonce_prefix"], "key_commitment": header["key_commitment"],
              "recipient": recipient, "officer": officer, "x": x}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def unwrap_ecdh(wrap: dict, private_key, context: bytes) -> bytes:
    epk = bytes.fromhex(wrap["ephemeral_key"])
    shared = private_key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk))
    kek = hkdf32(shared, b"bidhall-envelope/1 ecdh-es\x00" + epk + raw_point(private_key.public_key()))
    return AESGCM(kek).decrypt(bytes(12), bytes.fromhex(wrap["wrapped_key"]), context)


def gf256_mul(a: int, b: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        a = (a << 1) ^ (0x11B if a & 0x80 else 0)
        b >>= 1
    return result


def gf256_div(a: int, b: int) -> int:
    return next(c for c in range(256) if gf256_mul(b, c) == a)


def lagrange_at_zero(points: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(len(points[0][1]))
    for i, (xi, yi) in enumerate(points):
        weight = 1
        for m, (xm, _) in enumerate(points):
            if m != i:
                weight = gf256_mul(weight, gf256_div(xm, xi ^ xm))
        for j, byte in enumerate(yi):
            out[j] ^= gf256_mul(weight, byte)
    return bytes(out)


def independent_open(envelope: bytes, content_key: bytes) -> tuple[bytes, dict]:
    assert envelope[:8] == b"\x89BHENV\r\n"
    version, header_length = struct.unpack(">HI", envelope[8:14])
    assert version == 1
    encoded = envelope[:14 + header_length]
    header = json.loads(encoded[14:])
    signer = x509.load_der_x509_certificate(bytes.fromhex(header["signer_certificate"])).public_key()
    check_p1363(signer, b"bidhall-envelope/1 header\x00" + encoded, envelope[len(encoded):len(encoded) + 64])
    assert hkdf32(content_key, b"bidhall-envelope/1 key commitment").hex() == header["key_commitment"]
    aead = AESGCM(hkdf32(content_key, b"bidhall-envelope/1 payload key"))
    aad = hashlib.sha256(encoded).digest()
    prefix = bytes.fromhex(header["nonce_prefix"])
    offset, index, plaintext, digests = len(encoded) + 64, 0, bytearray(), []
    while True:
        tag, nonce, length = struct.unpack(">c12sI", envelope[offset:offset + 17])
        assert tag == b"C" and nonce[:7] == prefix and int.from_bytes(nonce[7:11], "big") == index
        final = length < header["chunk_size"] + 16
        assert nonce[11] == final
        record = envelope[offset:offset + 17 + length]
        digests.append(blake3.blake3(record).digest())
        plaintext += aead.decrypt(prefix + index.to_bytes(4, "big") + bytes([final]), record[17:], aad)
        offset, index = offset + 17 + length, index + 1
        if final:
            break
    tag, count, size, digest, signature = struct.unpack(">cIQ32s64s", envelope[offset:])
    assert (tag, count, size) == (b"T", index, len(plaintext))
    assert digest == blake3.blake3(b"bidhall-envelope/1 body\x00" + b"".join(digests)).digest()
    check_p1363(signer, b"bidhall-envelope/1 trailer\x00" + aad + struct.pack(">IQ", count, size) + digest,
                signature)
    return bytes(plaintext), header


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_an_independent_reader_opens_the_vector(vector):
    envelope = bytes.fromhex(vector["envelope"])
    header = json.loads(envelope[14:14 + struct.unpack(">I", envelope[10:14])[0]])
    wrap = header["bidder_key"]
    content_key = unwrap_ecdh(wrap, key(BIDDER["encryption_private_key"]),
                              context_bytes(header, "content_key", wrap["recipient"], "", 0))
    assert content_key.hex() == vector["content_key"]
    shares = []
    for officer in (OFFICERS[1], OFFICERS[2]):
        entry = next(s for s in header["escrow"]["shares"] if s["officer"] == officer["id"])
        context = context_bytes(header, "escrow_share", entry["wrap"]["recipient"], entry["officer"], entry["x"])
        shares.append((entry["x"], unwrap_ecdh(entry["wrap"], key(officer["encryption_private_key"]), context)))
    assert lagrange_at_zero(shares) == content_key
    plaintext, _ = independent_open(envelope, content_key)
    assert plaintext.hex() == vector["plaintext"]
    assert hkdf32(content_key, b"bidhall-envelope/1 payload key").hex() == vector["payload_key"]


def test_the_exact_chunk_vector_ends_with_an_empty_final_chunk():
    vector = next(v for v in VECTORS["vectors"] if v["name"] == "exact-chunk")
    assert vector["chunk_count"] == 2 and vector["final_chunk_plaintext_size"] == 0
    envelope = bytes.fromhex(vector["envelope"])
    last_frame = envelope[-109 - 33:-109]
    assert last_frame[:1] == b"C" and last_frame[12] == 1 and last_frame[13:17] == (16).to_bytes(4, "big")
